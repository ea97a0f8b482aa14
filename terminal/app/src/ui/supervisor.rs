//! The supervisor's home: today's 日報 at a glance (cases per post as bars, issues, fees, paper) and the day's close
//! (日計): the supervisor types the cash counted at each post and the sheets left at each printer without seeing the
//! expected figures; a mismatch comes back line by line and the close waits for the explanation. The month so far
//! (月報) opens below with the same totals and charts as its PDF.

use std::collections::BTreeMap;

use egui::RichText;
use madoguchi_core::dayclose::{DayClose, DayFigures};
use madoguchi_core::report::PeriodReport;

use super::TerminalApp;
use super::backend::Command;

/// The supervisor's screen state.
#[derive(Debug, Default)]
pub(super) struct SupervisorState {
    pub(super) report: Option<PeriodReport>,
    /// This month's 月報 so far, once asked for.
    pub(super) month: Option<PeriodReport>,
    /// Posts and printer stations to count, as the records name them.
    pub(super) posts: Vec<String>,
    pub(super) printers: Vec<String>,
    pub(super) cash: BTreeMap<String, String>,
    pub(super) paper: BTreeMap<String, String>,
    pub(super) explanation: String,
    pub(super) closed: Option<DayClose>,
}

/// A count typed by staff: a whole number of yen or sheets.
fn count(text: &str) -> Result<i64, &'static str> {
    let normalized: String = text.trim().chars().filter(|c| *c != ',').collect();
    match normalized.parse::<i64>() {
        Ok(value) if value >= 0 => Ok(value),
        _ if normalized.is_empty() => Err("数えた数を入力してください"),
        _ => Err("0以上の整数で入力してください"),
    }
}

impl SupervisorState {
    /// The counted figures, or `None` while a field is wrong.
    fn counted(&self) -> Option<DayFigures> {
        let read = |names: &[String], typed: &BTreeMap<String, String>| {
            names
                .iter()
                .map(|name| count(typed.get(name).map_or("", String::as_str)).ok().map(|value| (name.clone(), value)))
                .collect::<Option<Vec<_>>>()
        };
        Some(DayFigures { cash: read(&self.posts, &self.cash)?, paper: read(&self.printers, &self.paper)? })
    }
}

/// A titled bar chart of (label, count) rows.
fn bar_chart(ui: &mut egui::Ui, title: &str, rows: &[(String, i64)]) {
    ui.label(RichText::new(title).strong());
    if rows.is_empty() {
        ui.label("該当なし");
    }
    let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    for (label, count) in rows {
        ui.horizontal(|ui| {
            ui.label(format!("{label:<8}"));
            let width = 300.0 * *count as f32 / max as f32;
            let (rect, _) = ui.allocate_exact_size(egui::vec2(width.max(1.0), 14.0), egui::Sense::hover());
            ui.painter().rect_filled(rect, 2.0, super::STATUS_COLOR);
            ui.label(format!("{count}件"));
        });
    }
}

impl TerminalApp {
    pub(super) fn supervisor_ui(&mut self, ui: &mut egui::Ui) {
        // The month's charts run longer than the window.
        egui::ScrollArea::vertical().id_salt("supervisor").auto_shrink([false, false]).show(ui, |ui| {
            self.supervisor_body(ui);
        });
    }

    fn supervisor_body(&mut self, ui: &mut egui::Ui) {
        ui.heading("本日の日報・日計");
        ui.horizontal(|ui| {
            if ui.button("日報を更新").clicked() {
                self.backend.send(Command::DayStatus);
            }
            if ui.button("今月の月報").clicked() {
                self.backend.send(Command::MonthReport);
            }
        });
        let mut state = std::mem::take(&mut self.supervisor);
        if let Some(report) = &state.report {
            ui.label(format!(
                "交付 {}件（{}通）　手数料 {}円（免除 {}件）　取消 {}件（還付 {}円）　用紙 交付 {}枚・損紙 {}枚・取消 {}枚",
                report.issued,
                report.copies,
                report.fees_yen,
                report.exempt,
                report.voids,
                report.refunds_yen,
                report.paper_issued,
                report.paper_spoiled,
                report.paper_voided
            ));
            bar_chart(ui, "窓口別の受付件数", &report.by_post);
            // On a training terminal these are the trainees' results.
            let heading = if self.backend.run_mode() == madoguchi_core::mode::RunMode::Training {
                "研修生の成績（職員別）"
            } else {
                "職員別の処理状況"
            };
            ui.label(RichText::new(heading).strong());
            for operator in &report.by_operator {
                ui.label(format!("{}：{}", operator.login_id, operator.describe_ja()));
            }
        }
        ui.separator();
        match &state.closed {
            Some(closed) => {
                ui.label(format!("本日は {} が締めました。", closed.closed_by));
                if let Some(explanation) = &closed.explanation {
                    ui.label(format!("差異の理由：{explanation}"));
                }
            }
            None => {
                ui.label(RichText::new("日計の締め（数えた実数を入力）").strong());
                for post in state.posts.clone() {
                    let value = state.cash.entry(post.clone()).or_default();
                    let error = count(value).err().filter(|_| !value.is_empty());
                    self.checked_field(ui, &format!("現金（{post}）"), value, false, error);
                }
                for printer in state.printers.clone() {
                    let value = state.paper.entry(printer.clone()).or_default();
                    let error = count(value).err().filter(|_| !value.is_empty());
                    self.checked_field(ui, &format!("用紙残数（{printer}）"), value, false, error);
                }
                self.checked_field(ui, "差異の理由", &mut state.explanation, false, None);
                let counted = state.counted();
                if ui.add_enabled(counted.is_some(), egui::Button::new("日計を締める")).clicked()
                    && let Some(counted) = counted
                {
                    self.backend.send(Command::CloseDay { counted, explanation: state.explanation.clone() });
                }
            }
        }
        if let Some(month) = &state.month {
            ui.separator();
            ui.heading(format!(
                "月報（{}〜{}）",
                madoguchi_core::wareki::date_label(month.from),
                madoguchi_core::wareki::date_label(month.until)
            ));
            for (label, value) in month.totals() {
                ui.label(format!("{label}：{value}"));
            }
            for (title, rows) in month.charts() {
                bar_chart(ui, title, &rows);
            }
        }
        self.supervisor = state;
        ui.separator();
        ui.heading("審査状況（閲覧のみ）");
        for case in &self.cases {
            ui.label(format!(
                "案件{}　{}　{}　{}",
                case.id,
                case.station,
                super::kind_label(&case.kind),
                case.state.label_ja()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_are_whole_non_negative_numbers() {
        assert_eq!(count("1,200"), Ok(1200));
        assert_eq!(count(" 0 "), Ok(0));
        assert!(count("").is_err());
        assert!(count("-5").is_err());
        assert!(count("12.5").is_err());
    }
}
