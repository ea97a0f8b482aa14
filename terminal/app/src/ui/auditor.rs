//! The auditor's home: the audit log through filters (person, action, subject, period), newest first, and a button
//! that verifies the whole hash chain and names the first bad row. Reading the log is itself recorded.

use egui::{Key, RichText};
use madoguchi_core::audit::{AuditAction, AuditEntry};
use madoguchi_core::store::AuditFilter;

use super::backend::Command;
use super::{Notice, TerminalApp, local_time};

/// The auditor's screen state.
#[derive(Debug, Default)]
pub(super) struct AuditorState {
    pub(super) actor: String,
    pub(super) action: Option<AuditAction>,
    pub(super) subject: String,
    pub(super) from: String,
    pub(super) until: String,
    pub(super) entries: Vec<AuditEntry>,
    pub(super) verification: Option<Result<String, String>>,
    pub(super) verifying: bool,
}

/// The start of a day in Japan, in µs.
fn day_start_us(date: jiff::civil::Date) -> Option<i64> {
    date.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(9))).ok().map(|z| z.timestamp().as_microsecond())
}

/// A period bound typed in 和暦 or 西暦: the start of that day (or of the next day, for the end of a period).
fn period_bound(text: &str, end: bool) -> Result<Option<i64>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let date = madoguchi_core::wareki::parse_date(text).map_err(|e| e.message_ja())?;
    let date = if end { date.tomorrow().map_err(|_| "日付を扱えません".to_string())? } else { date };
    day_start_us(date).map(Some).ok_or_else(|| "日付を扱えません".to_string())
}

impl AuditorState {
    /// The filter the screen's fields describe (fields in error are left out; they are shown beside the field).
    pub(super) fn filter(&self) -> AuditFilter {
        let text = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        AuditFilter {
            actor: text(&self.actor),
            action: self.action,
            subject_prefix: text(&self.subject),
            from_us: period_bound(&self.from, false).ok().flatten(),
            until_us: period_bound(&self.until, true).ok().flatten(),
            limit: 500,
        }
    }
}

impl TerminalApp {
    pub(super) fn auditor_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("監査ログ");
        let from_error = period_bound(&self.auditor.from, false).err();
        let until_error = period_bound(&self.auditor.until, true).err();
        let mut state = std::mem::take(&mut self.auditor);
        let actor = self.checked_field(ui, "利用者ID", &mut state.actor, false, None);
        ui.horizontal(|ui| {
            let label = super::field_label(ui, "操作");
            egui::ComboBox::from_id_salt("audit-action")
                .selected_text(state.action.map_or("すべて", AuditAction::label_ja))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut state.action, None, "すべて");
                    for action in AuditAction::ALL {
                        ui.selectable_value(&mut state.action, Some(action), action.label_ja());
                    }
                })
                .response
                .labelled_by(label.id);
        });
        self.checked_field(ui, "対象（前方一致）", &mut state.subject, false, None);
        self.checked_field(ui, "期間（開始日）", &mut state.from, false, from_error.as_deref());
        self.checked_field(ui, "期間（終了日）", &mut state.until, false, until_error.as_deref());
        self.auditor = state;
        if self.focus_pending {
            actor.request_focus();
            self.focus_pending = false;
        }
        ui.horizontal(|ui| {
            let search = ui.button("検索（F2）").clicked() || ui.input(|i| i.key_pressed(Key::F2));
            if search {
                if from_error.is_some() || until_error.is_some() {
                    self.notice = Some(Notice { error: true, text: "期間の日付を直してください".into() });
                } else {
                    self.backend.send(Command::AuditLog(self.auditor.filter()));
                }
            }
            let verify = ui.add_enabled(!self.auditor.verifying, egui::Button::new("チェーン検証（F5）")).clicked()
                || ui.input(|i| i.key_pressed(Key::F5));
            if verify && !self.auditor.verifying {
                self.auditor.verifying = true;
                self.backend.send(Command::VerifyAudit);
            }
            if self.auditor.verifying {
                ui.spinner();
                ui.label("検証中…");
            }
        });
        match &self.auditor.verification {
            Some(Ok(text)) => {
                ui.label(RichText::new(text).color(super::STATUS_COLOR).strong());
            }
            Some(Err(text)) => {
                ui.label(RichText::new(text).color(super::ERROR_COLOR).strong());
            }
            None => {}
        }
        ui.separator();
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + ui.spacing().item_spacing.y;
        let entries = &self.auditor.entries;
        egui::ScrollArea::both().id_salt("audit").auto_shrink([false, false]).show_rows(
            ui,
            row_height,
            entries.len(),
            |ui, rows| {
                for entry in &entries[rows] {
                    let action = match AuditAction::parse(&entry.action) {
                        Some(action) => action.label_ja(),
                        None => entry.action.as_str(),
                    };
                    ui.label(format!(
                        "{:>6}　{}　{}　{}（{}）　{}　{}",
                        entry.seq,
                        local_time(entry.at_us),
                        entry.station,
                        entry.actor,
                        entry.role,
                        action,
                        entry.subject
                    ));
                }
            },
        );
    }
}
