//! The administrator's home: the stations and their devices with a test button each, the users with their role
//! grants and expiry (and a form to register one), and the certificate templates with the issuer they print. Nothing
//! here needs a configuration file edited by hand.

use std::collections::{HashMap, HashSet};

use egui::RichText;
use madoguchi_core::auth::{MIN_PASSWORD_CHARS, Role};
use madoguchi_core::request::CertificateKind;
use madoguchi_core::store::UserRecord;

use super::backend::{Command, StationRow};
use super::{Notice, TerminalApp, field_message, local_time};
use crate::device_check::DeviceRole;

/// Which part of the administrator's screen is open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum AdminTab {
    /// 端末と機器.
    #[default]
    Stations,
    /// 利用者と権限.
    Users,
    /// 帳票.
    Templates,
    /// 事故記録.
    Incidents,
}

/// The form that registers a user.
#[derive(Debug, Clone)]
pub(super) struct NewUserForm {
    pub(super) login_id: String,
    pub(super) display_name: String,
    pub(super) password: String,
    pub(super) role: Role,
    /// 有効期限 (和暦 or 西暦; empty for none): the grant ends at the end of that day.
    pub(super) valid_until: String,
}

impl Default for NewUserForm {
    fn default() -> Self {
        Self {
            login_id: String::new(),
            display_name: String::new(),
            password: String::new(),
            role: Role::Operator,
            valid_until: String::new(),
        }
    }
}

/// The checked form: the command to send, or a message per field.
#[derive(Debug, Default)]
struct CheckedUser {
    login_id: Option<String>,
    display_name: Option<String>,
    password: Option<String>,
    valid_until: Option<String>,
    until_us: Option<i64>,
}

impl CheckedUser {
    fn is_ok(&self) -> bool {
        self.login_id.is_none() && self.display_name.is_none() && self.password.is_none() && self.valid_until.is_none()
    }
}

/// An amount of the 手数料表 as typed: yen in half- or full-width digits, 0 (free) to the table's ceiling.
fn check_fee(text: &str) -> Result<i64, String> {
    let digits: String = text.trim().chars().map(super::operator::half_width_digit).collect();
    if digits.is_empty() {
        return Err("金額を入力してください（無料の場合は0）".to_string());
    }
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err("金額は数字だけで入力してください（円・カンマは不要）".to_string());
    }
    let max = madoguchi_core::fees::MAX_FEE_YEN;
    match digits.parse::<i64>() {
        Ok(yen) if yen <= max => Ok(yen),
        _ => Err(format!("0〜{max}円の範囲で入力してください")),
    }
}

/// The Japanese name of an incident kind.
fn incident_label(kind: &str) -> &str {
    match kind {
        "media.attached" => "外部記憶媒体の接続",
        "usb_key.removed" => "USBキーの取り外し",
        "lookup.after_hours" => "時間外の住民検索",
        "lookups.without_case" => "案件のない大量検索",
        "login.repeated_failures" => "ログイン失敗の繰り返し（ロック）",
        other => other,
    }
}

fn japan() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::fixed(jiff::tz::offset(9))
}

impl NewUserForm {
    fn check(&self, now_us: i64, existing: &[UserRecord]) -> CheckedUser {
        let mut checked = CheckedUser::default();
        let login = self.login_id.trim();
        if login.is_empty() {
            checked.login_id = Some("利用者IDを入力してください".into());
        } else if !login.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) || login.len() > 32
        {
            checked.login_id = Some("利用者IDは半角英数字と - _ . の32文字以内です".into());
        } else if existing.iter().any(|u| u.login_id == login) {
            checked.login_id = Some("この利用者IDは登録済みです".into());
        }
        if self.display_name.trim().is_empty() {
            checked.display_name = Some("氏名を入力してください".into());
        }
        if self.password.chars().count() < MIN_PASSWORD_CHARS {
            checked.password = Some(format!("パスワードは{MIN_PASSWORD_CHARS}文字以上にしてください"));
        }
        if !self.valid_until.trim().is_empty() {
            match madoguchi_core::wareki::parse_date(&self.valid_until) {
                Err(err) => checked.valid_until = Some(err.message_ja()),
                Ok(date) => {
                    let end = date
                        .tomorrow()
                        .ok()
                        .and_then(|next| next.to_zoned(japan()).ok())
                        .map(|zoned| zoned.timestamp().as_microsecond());
                    match end {
                        Some(end) if end > now_us => checked.until_us = Some(end),
                        Some(_) => checked.valid_until = Some("有効期限が過ぎた日付です".into()),
                        None => checked.valid_until = Some("有効期限の日付を扱えません".into()),
                    }
                }
            }
        }
        checked
    }
}

/// The administrator's screen state.
#[derive(Debug, Default)]
pub(super) struct AdminState {
    pub(super) tab: AdminTab,
    pub(super) stations: Vec<StationRow>,
    pub(super) users: Vec<UserRecord>,
    pub(super) new_user: NewUserForm,
    pub(super) checks: HashMap<(String, DeviceRole), Result<String, String>>,
    pub(super) running: HashSet<(String, DeviceRole)>,
    pub(super) profile: Option<super::backend::ProfileSummary>,
    pub(super) incidents: Vec<madoguchi_core::store::Incident>,
    pub(super) grant_requests: Vec<madoguchi_core::store::GrantRequest>,
    /// USBキーの登録: whose key, and the key as VVVV:PPPP:SERIAL.
    pub(super) key_login: String,
    pub(super) key_text: String,
    /// 手数料表の変更: the amount typed for each kind of `CertificateKind::ALL`, in its order.
    pub(super) fee_drafts: Vec<String>,
}

impl TerminalApp {
    pub(super) fn admin_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            for (tab, label) in
                [(AdminTab::Stations, "端末と機器"), (AdminTab::Users, "利用者と権限"), (AdminTab::Templates, "帳票")]
            {
                ui.selectable_value(&mut self.admin.tab, tab, label);
            }
            let incidents = match self.admin.incidents.len() {
                0 => "事故記録".to_string(),
                n => format!("事故記録（{n}件）"),
            };
            let label = if self.admin.incidents.is_empty() {
                RichText::new(incidents)
            } else {
                RichText::new(incidents).color(super::ERROR_COLOR).strong()
            };
            ui.selectable_value(&mut self.admin.tab, AdminTab::Incidents, label);
        });
        ui.separator();
        egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| match self.admin.tab {
            AdminTab::Stations => self.stations_ui(ui),
            AdminTab::Users => self.users_ui(ui),
            AdminTab::Templates => self.templates_ui(ui),
            AdminTab::Incidents => self.incidents_ui(ui),
        });
    }

    fn stations_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("端末と機器");
        if self.admin.stations.is_empty() {
            ui.label("端末の設定を読み込んでいます…");
        }
        let mut test = None;
        for station in &self.admin.stations {
            ui.label(RichText::new(format!("端末 {}", station.name)).strong());
            egui::Grid::new(("devices", &station.name)).num_columns(4).striped(true).show(ui, |ui| {
                for (role, description) in &station.devices {
                    ui.label(role.label_ja());
                    ui.label(description);
                    let key = (station.name.clone(), *role);
                    let running = self.admin.running.contains(&key);
                    let button = egui::Button::new(format!("{}をテスト（{}）", role.label_ja(), station.name));
                    if ui.add_enabled(!running && description != "なし", button).clicked() {
                        test = Some(key.clone());
                    }
                    match (running, self.admin.checks.get(&key)) {
                        (true, _) => {
                            ui.horizontal(|ui| {
                                ui.spinner();
                                ui.label("テスト中…");
                            });
                        }
                        (false, Some(Ok(line))) => {
                            ui.label(RichText::new(format!("正常：{line}")).color(super::STATUS_COLOR));
                        }
                        (false, Some(Err(line))) => {
                            ui.label(RichText::new(format!("異常：{line}")).color(super::ERROR_COLOR));
                        }
                        (false, None) => {
                            ui.label("未テスト");
                        }
                    }
                    ui.end_row();
                }
            });
            ui.add_space(8.0);
        }
        if let Some((station, role)) = test {
            self.admin.running.insert((station.clone(), role));
            self.backend.send(Command::CheckDevice { station, role });
        }
    }

    /// 事故記録: what the terminals locked for (removable storage, a USB key pulled), newest first.
    fn incidents_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("事故記録");
        if self.admin.incidents.is_empty() {
            ui.label("記録された事故はありません");
            return;
        }
        egui::Grid::new("incidents").num_columns(5).striped(true).show(ui, |ui| {
            for header in ["日時", "端末", "利用者", "種類", "詳細"] {
                ui.label(RichText::new(header).strong());
            }
            ui.end_row();
            for incident in &self.admin.incidents {
                ui.label(super::local_time(incident.at_us));
                ui.label(&incident.station);
                ui.label(if incident.login_id == "-" {
                    "（ログインなし）"
                } else {
                    incident.login_id.as_str()
                });
                ui.label(incident_label(&incident.kind));
                ui.label(&incident.detail);
                ui.end_row();
            }
        });
    }

    fn users_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("利用者と権限");
        let now_us = jiff::Timestamp::now().as_microsecond();
        let mut revoke = None;
        egui::Grid::new("users").num_columns(5).striped(true).show(ui, |ui| {
            for header in ["利用者ID", "氏名", "権限（有効期限）", "状態", "権限の取消"] {
                ui.label(RichText::new(header).strong());
            }
            ui.end_row();
            for user in &self.admin.users {
                ui.label(&user.login_id);
                ui.label(&user.display_name);
                let grants: Vec<String> = user
                    .grants
                    .iter()
                    .map(|(role, until)| match until {
                        None => format!("{}（無期限）", role.label_ja()),
                        Some(until) if *until <= now_us => {
                            format!("{}（{}で失効）", role.label_ja(), local_time(*until))
                        }
                        Some(until) => format!("{}（{}まで）", role.label_ja(), local_time(*until)),
                    })
                    .collect();
                ui.label(grants.join("、"));
                ui.label(if user.locked { "ロック中" } else { "有効" });
                ui.horizontal(|ui| {
                    for (role, until) in &user.grants {
                        if until.is_none_or(|until| until > now_us) {
                            let button = egui::Button::new(format!("取消（{}：{}）", user.login_id, role.label_ja()));
                            if ui.add(button).clicked() {
                                revoke = Some((user.login_id.clone(), *role));
                            }
                        }
                    }
                });
                ui.end_row();
            }
        });
        if let Some((login_id, role)) = revoke {
            self.backend.send(Command::RevokeGrant { login_id, role });
        }
        self.grant_requests_ui(ui);
        ui.separator();
        ui.label(RichText::new("利用者の登録（権限は別の管理者の承認で有効になります）").strong());
        let checked = self.admin.new_user.check(now_us, &self.admin.users);
        let mut form = std::mem::take(&mut self.admin.new_user);
        self.checked_field(ui, "新しい利用者ID", &mut form.login_id, false, checked.login_id.as_deref());
        self.checked_field(ui, "氏名", &mut form.display_name, false, checked.display_name.as_deref());
        self.checked_field(ui, "初期パスワード", &mut form.password, true, checked.password.as_deref());
        ui.horizontal(|ui| {
            let label = super::field_label(ui, "権限");
            egui::ComboBox::from_id_salt("new-user-role")
                .selected_text(form.role.label_ja())
                .show_ui(ui, |ui| {
                    for role in Role::ALL {
                        ui.selectable_value(&mut form.role, role, role.label_ja());
                    }
                })
                .response
                .labelled_by(label.id);
        });
        self.checked_field(
            ui,
            "有効期限（空欄は無期限）",
            &mut form.valid_until,
            false,
            checked.valid_until.as_deref(),
        );
        let ready = checked.is_ok();
        if ui.add_enabled(ready, egui::Button::new("登録")).clicked() {
            self.backend.send(Command::CreateUser {
                login_id: form.login_id.trim().to_string(),
                display_name: form.display_name.trim().to_string(),
                password: form.password.clone(),
                role: form.role,
                until_us: checked.until_us,
            });
        }
        if !ready && !form.login_id.is_empty() {
            field_message(ui, Some("入力に誤りがあるため登録できません"));
        }
        self.admin.new_user = form;
        self.usb_key_ui(ui);
    }

    /// 手数料表の変更: one amount per certificate kind, each checked beside its field as it is typed; saving is
    /// possible only when every amount is right and something changed.
    fn fees_form_ui(&mut self, ui: &mut egui::Ui, in_force: &[(CertificateKind, i64)]) {
        if in_force.is_empty() {
            return;
        }
        ui.separator();
        ui.label(RichText::new("手数料表の変更（1通あたりの金額、円）").strong());
        let mut drafts = std::mem::take(&mut self.admin.fee_drafts);
        drafts.resize(CertificateKind::ALL.len(), String::new());
        let mut amounts = Vec::new();
        for (kind, draft) in CertificateKind::ALL.into_iter().zip(drafts.iter_mut()) {
            let checked = check_fee(draft);
            let error = checked.as_ref().err().map(String::as_str);
            self.checked_field(ui, &format!("{}の手数料（円）", kind.template_ja()), draft, false, error);
            if let Ok(yen) = checked {
                amounts.push((kind, yen));
            }
        }
        self.admin.fee_drafts = drafts;
        let complete = amounts.len() == CertificateKind::ALL.len();
        let changed = complete && amounts != in_force;
        if ui.add_enabled(changed, egui::Button::new("手数料表を保存")).clicked() {
            self.backend.send(Command::SetFees(amounts));
        }
        if !complete {
            field_message(ui, Some("入力に誤りがあるため保存できません"));
        }
    }

    /// The 手数料表 in force, as the form's starting amounts.
    pub(super) fn reset_fee_drafts(&mut self) {
        let fees = self.admin.profile.as_ref().map(|profile| profile.fees.as_slice()).unwrap_or_default();
        self.admin.fee_drafts = CertificateKind::ALL
            .into_iter()
            .map(|kind| fees.iter().find(|(k, _)| *k == kind).map(|(_, yen)| yen.to_string()).unwrap_or_default())
            .collect();
    }

    /// USBキーの登録: the second factor a user must have attached to log in and stay logged in.
    fn usb_key_ui(&mut self, ui: &mut egui::Ui) {
        ui.separator();
        ui.label(RichText::new("USBキーの登録（ログインとログイン中に必要）").strong());
        let mut login = std::mem::take(&mut self.admin.key_login);
        let mut key = std::mem::take(&mut self.admin.key_text);
        let login_error = (!login.is_empty() && !self.admin.users.iter().any(|u| u.login_id == login.trim()))
            .then_some("登録されていない利用者IDです");
        let parsed = madoguchi_core::guard::UsbKey::parse(&key);
        let key_error = match (&parsed, key.is_empty()) {
            (Err(err), false) => Some(err.message_ja()),
            _ => None,
        };
        self.checked_field(ui, "USBキーの利用者ID", &mut login, false, login_error);
        self.checked_field(ui, "USBキー（ベンダーID:製品ID:シリアル番号）", &mut key, false, key_error.as_deref());
        let ready = login_error.is_none() && !login.is_empty() && parsed.is_ok();
        if ui.add_enabled(ready, egui::Button::new("USBキーを登録")).clicked()
            && let Ok(parsed) = parsed
        {
            self.backend.send(Command::RegisterUsbKey { login_id: login.trim().to_string(), key: parsed });
        }
        self.admin.key_login = login;
        self.admin.key_text = key;
    }

    /// 承認待ちの権限申請: a grant is in force only once an admin other than its requester approves it.
    fn grant_requests_ui(&mut self, ui: &mut egui::Ui) {
        ui.separator();
        ui.label(RichText::new("承認待ちの権限申請").strong());
        if self.admin.grant_requests.is_empty() {
            ui.label("承認待ちの申請はありません");
            return;
        }
        let me = self.session.as_ref().map(|s| s.actor.login_id.clone()).unwrap_or_default();
        let mut decision = None;
        egui::Grid::new("grant-requests").num_columns(4).striped(true).show(ui, |ui| {
            for request in &self.admin.grant_requests {
                ui.label(&request.login_id);
                let until = request
                    .valid_until_us
                    .map_or_else(|| "無期限".to_string(), |until| format!("{}まで", local_time(until)));
                ui.label(format!("{}（{until}）", request.role.label_ja()));
                ui.label(format!("申請：{}", request.requested_by));
                let own = request.requested_by == me;
                ui.horizontal(|ui| {
                    let approve = egui::Button::new(format!("承認（{}）", request.login_id));
                    if ui.add_enabled(!own, approve).clicked() {
                        decision = Some((request.id, request.login_id.clone(), true));
                    }
                    let reject = egui::Button::new(format!("却下（{}）", request.login_id));
                    if ui.add_enabled(!own, reject).clicked() {
                        decision = Some((request.id, request.login_id.clone(), false));
                    }
                    if own {
                        ui.label("ご自身の申請は別の管理者が承認します");
                    }
                });
                ui.end_row();
            }
        });
        if let Some((request_id, login_id, approve)) = decision {
            self.backend.send(Command::DecideGrant { request_id, login_id, approve });
        }
    }

    fn templates_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("帳票と手数料");
        match &self.admin.profile {
            Some(profile) => {
                ui.label(format!("発行者：{}　{}　{}", profile.municipality, profile.head_title, profile.head_name));
                ui.label(if profile.specimen {
                    "すべての帳票に「見本」を印字します（デモ・研修）"
                } else {
                    "本番の帳票です（「見本」は印字しません）"
                });
            }
            None => {
                ui.label("発行者の設定を読み込んでいます…");
            }
        }
        let fees = self.admin.profile.as_ref().map(|profile| profile.fees.clone()).unwrap_or_default();
        let fees_set = self.admin.profile.as_ref().and_then(|profile| profile.fees_set.clone());
        egui::Grid::new("templates").num_columns(3).striped(true).show(ui, |ui| {
            ui.label(RichText::new("様式").strong());
            ui.label(RichText::new("表題").strong());
            ui.label(RichText::new("手数料（1通）").strong());
            ui.end_row();
            for kind in CertificateKind::ALL {
                ui.label(kind.template_ja());
                ui.label(kind.title_ja());
                ui.label(match fees.iter().find(|(k, _)| *k == kind) {
                    Some((_, 0)) => "無料".to_string(),
                    Some((_, yen)) => format!("{yen}円"),
                    None => "―".to_string(),
                });
                ui.end_row();
            }
        });
        ui.label(match &fees_set {
            Some((login_id, at_us)) => {
                format!("手数料表：{login_id} が {} に設定（この端末を含む全端末に適用）", local_time(*at_us))
            }
            None => {
                "手数料表：端末の設定（手数料表ファイル --fees、なければデモの表）。下の欄で変更できます".to_string()
            }
        });
        ui.label("公用請求は免除されます。変更は次の交付から適用され、交付済みの手数料は変わりません");
        self.fees_form_ui(ui, &fees);
        if ui.button("一覧を再読み込み").clicked() {
            self.notice = Some(Notice {
                error: false, text: "端末・利用者・帳票の設定を読み込み直します".into()
            });
            self.backend.send(Command::ListStations);
            self.backend.send(Command::ListUsers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_fee_is_yen_in_digits_within_the_ceiling() {
        assert_eq!(check_fee(" 350 "), Ok(350));
        assert_eq!(check_fee("３５０"), Ok(350));
        assert_eq!(check_fee("0"), Ok(0));
        for wrong in ["", "-5", "300円", "3,000", "1e3", "10001", "99999999999999999999"] {
            let err = check_fee(wrong).expect_err(wrong);
            assert!(!err.is_empty() && !err.is_ascii(), "{wrong}: a Japanese reason, got {err}");
        }
    }

    #[test]
    fn the_new_user_form_names_each_wrong_field() {
        let now = jiff::Timestamp::now().as_microsecond();
        let form = NewUserForm {
            login_id: "山田".into(),
            display_name: " ".into(),
            password: "short".into(),
            valid_until: "令和2年2月30日".into(),
            ..NewUserForm::default()
        };
        let checked = form.check(now, &[]);
        assert!(checked.login_id.is_some() && checked.display_name.is_some() && checked.password.is_some());
        assert!(checked.valid_until.is_some());
        assert!(!checked.is_ok());

        let form = NewUserForm {
            login_id: "op9".into(),
            display_name: "窓口 次郎".into(),
            password: "a-long-password".into(),
            valid_until: "2000-01-01".into(),
            ..NewUserForm::default()
        };
        assert_eq!(form.check(now, &[]).valid_until.as_deref(), Some("有効期限が過ぎた日付です"));

        let form = NewUserForm { valid_until: "2999-03-31".into(), ..form };
        let checked = form.check(now, &[]);
        assert!(checked.is_ok(), "{checked:?}");
        let end = jiff::Timestamp::from_microsecond(checked.until_us.expect("until")).expect("ts");
        assert_eq!(end.to_zoned(japan()).strftime("%Y-%m-%d %H:%M").to_string(), "2999-04-01 00:00");
    }
}
