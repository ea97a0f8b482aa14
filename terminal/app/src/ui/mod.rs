//! The counter terminal's screens. The app is a projection of state: each frame drains the back end's events
//! (`logic`), then draws (`ui`); actions leave as commands. Japanese throughout, with the embedded fonts; every input
//! has an accessible name; function keys are shown on screen; Enter in a field moves to the next field and never
//! submits (so the Enter that confirms an IME conversion cannot hand a form over). One home per role: the operator's
//! intake (`operator`), the reviewer's queue (`reviewer`), the administrator's stations and users (`admin`) and the
//! auditor's log (`auditor`).

mod admin;
mod auditor;
pub mod backend;
mod moves;
mod operator;
mod reviewer;
mod supervisor;

use backend::{BackendHandle, Command, Event};
use backend_adapter::postal::PostalArea;
use backend_adapter::types::PersonSummary;
use devices::status::DeviceStatus;
use egui::{Color32, Key, RichText};
use madoguchi_core::auth::{Permission, Role};
use madoguchi_core::case::{CaseState, ReturnReason};
use madoguchi_core::counter::Session;
use madoguchi_core::request::RequesterCategory;
use madoguchi_core::store::{CaseRecord, CaseSummary, Output};

use crate::device_check;

/// Install the embedded fonts: BIZ UDGothic for the UI, IPAmj明朝 behind it for MJ characters.
pub fn install_fonts(ctx: &egui::Context) {
    use egui::{FontData, FontDefinitions, FontFamily};
    let mut fonts = FontDefinitions::default();
    fonts.font_data.insert("bizud".into(), std::sync::Arc::new(FontData::from_static(madoguchi_fonts::UD_GOTHIC)));
    fonts.font_data.insert("ipamj".into(), std::sync::Arc::new(FontData::from_static(madoguchi_fonts::IPAMJ_MINCHO)));
    for family in [FontFamily::Proportional, FontFamily::Monospace] {
        let list = fonts.families.entry(family).or_default();
        list.insert(0, "bizud".into());
        list.insert(1, "ipamj".into());
    }
    ctx.set_fonts(fonts);
}

/// The terminal's look: the embedded fonts, a light theme and text large enough to read across a counter.
pub fn install_theme(ctx: &egui::Context) {
    install_fonts(ctx);
    ctx.set_theme(egui::Theme::Light);
    ctx.all_styles_mut(|style| {
        for font in style.text_styles.values_mut() {
            font.size = (font.size * 1.35).round();
        }
        style.spacing.item_spacing = egui::vec2(10.0, 8.0);
    });
}

/// A message shown above the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// An error (red) or information.
    pub error: bool,
    /// Japanese text.
    pub text: String,
}

/// The operator's request form (住民票の写し).
#[derive(Debug, Clone)]
struct RequestForm {
    task: operator::FormTask,
    category: RequesterCategory,
    /// 請求者の氏名・住所, when the requester is not the resident chosen (代理人, 第三者; 同一世帯: the name).
    requester_name: String,
    requester_address: String,
    drivers_licence: bool,
    my_number_card: bool,
    passport: bool,
    residence_card: bool,
    insurance: bool,
    pension: bool,
    /// 職務上請求書 (八士業) and 公用請求書 (公用).
    professional_form: bool,
    official_form: bool,
    /// 委任状 presented (任意代理人).
    letter_of_attorney: bool,
    /// 法人番号 of a corporation asking.
    corporate_number: String,
    /// Which of the 八士業 asks.
    profession: madoguchi_core::request::LicensedProfession,
    purpose: String,
    head_and_relationship: bool,
    registry: bool,
    furigana: bool,
    former_family_name: bool,
    previous_address: bool,
    copies: String,
    /// 手数料免除 asked, and why (the reviewer checks it).
    fee_exempt: bool,
    exemption_reason: String,
    /// 住民異動 (転居, 転出, 世帯変更, 転入).
    moves: moves::MoveForm,
    /// 印鑑登録証明書: the 登録番号 read from (or typed off) the 印鑑登録証.
    registration_number: String,
}

impl Default for RequestForm {
    fn default() -> Self {
        Self {
            task: operator::FormTask::default(),
            category: RequesterCategory::Self_,
            requester_name: String::new(),
            requester_address: String::new(),
            drivers_licence: false,
            my_number_card: false,
            passport: false,
            residence_card: false,
            insurance: false,
            pension: false,
            professional_form: false,
            official_form: false,
            letter_of_attorney: false,
            corporate_number: String::new(),
            profession: madoguchi_core::request::LicensedProfession::AdministrativeScrivener,
            purpose: String::new(),
            head_and_relationship: false,
            registry: false,
            furigana: false,
            former_family_name: false,
            previous_address: false,
            copies: "1".into(),
            fee_exempt: false,
            exemption_reason: String::new(),
            moves: moves::MoveForm::default(),
            registration_number: String::new(),
        }
    }
}

/// The operator's search criteria (any combination; at least one).
#[derive(Debug, Clone, Default)]
struct SearchForm {
    name: String,
    birth_date: String,
    postal_code: String,
    address: String,
    /// The address the postal code filled in, so a later postal code may replace it but a typed address is kept.
    address_from_postal: Option<String>,
}

struct ReviewView {
    case: CaseRecord,
    output: Output,
    texture: Option<egui::TextureHandle>,
    image: Option<egui::ColorImage>,
    preview_error: Option<String>,
    /// A 異動 entry under review, line by line (what the resident system will be sent).
    entry_lines: Option<Vec<String>>,
}

/// IME composition as seen in the input events: while a conversion is being composed, and in the frame its text is
/// committed, Enter belongs to the IME.
#[derive(Debug, Default)]
struct ImeState {
    composing: bool,
    committed_this_frame: bool,
}

/// The terminal.
pub struct TerminalApp {
    backend: BackendHandle,
    demo: bool,
    station: String,
    demo_accounts: Vec<(String, String, String)>,
    login_id: String,
    password: String,
    session: Option<Session>,
    notice: Option<Notice>,
    search: SearchForm,
    postal_areas: Vec<PostalArea>,
    results: Vec<PersonSummary>,
    selected: Option<PersonSummary>,
    form: RequestForm,
    cases: Vec<CaseSummary>,
    /// 異動 entries approved but not yet in the resident system (staff).
    outbox: Vec<madoguchi_core::outbox::OutboxRow>,
    review: Option<ReviewView>,
    return_reason: ReturnReason,
    /// Suspect prints no one has resolved yet (staff).
    prints_to_check: Vec<madoguchi_core::store::PrintJobRow>,
    /// The 照会 of 印鑑登録 cases, for the operator's post list.
    inquiries: Vec<madoguchi_core::inquiry::SealInquiry>,
    /// The マイナンバーカード's PIN as typed by the resident (cleared once sent).
    card_pin: String,
    /// The returned case whose request the form is correcting, and why it was returned.
    revising: Option<(i64, String)>,
    /// A 転入届 into a new household is being taken (nobody to search for).
    new_arrival: bool,
    /// The chosen person's household members, for a 異動, and the household last asked for.
    household: Option<moves::LoadedHousehold>,
    household_requested: Option<backend_adapter::types::HouseholdId>,
    /// Today at the ward by the counter's clock (the 届出日 of a 異動), from the back end at login.
    today: Option<jiff::civil::Date>,
    /// The reason staff type for a spoiled print or a void.
    staff_reason: String,
    /// The 発行番号 of a sheet brought back to the counter, as typed.
    issued_lookup: String,
    printer_status: Option<DeviceStatus>,
    admin: admin::AdminState,
    auditor: auditor::AuditorState,
    supervisor: supervisor::SupervisorState,
    ime: ImeState,
    last_refresh: f64,
    /// When (UI time) the back end last heard of input: the idle lock's clock.
    last_activity_sent: Option<f64>,
    focus_pending: bool,
    /// Move the focus to the request form's first field (after a person is chosen).
    focus_form: bool,
    submitted: u32,
    login_shown: bool,
}

impl std::fmt::Debug for TerminalApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalApp")
            .field("station", &self.station)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

const STATUS_COLOR: Color32 = Color32::from_rgb(0x1d, 0x4e, 0x89);
const ERROR_COLOR: Color32 = Color32::from_rgb(0xb0, 0x10, 0x10);

impl TerminalApp {
    /// A terminal at `station` talking to `backend`. In demo mode the demo accounts are listed on the login screen.
    pub fn new(backend: BackendHandle, station: &str, demo_accounts: Option<Vec<(String, String, String)>>) -> Self {
        Self {
            backend,
            demo: demo_accounts.is_some(),
            station: station.to_string(),
            demo_accounts: demo_accounts.unwrap_or_default(),
            login_id: String::new(),
            password: String::new(),
            session: None,
            notice: None,
            search: SearchForm::default(),
            postal_areas: backend_adapter::postal::shinjuku_areas(),
            results: Vec::new(),
            selected: None,
            form: RequestForm::default(),
            cases: Vec::new(),
            outbox: Vec::new(),
            review: None,
            return_reason: ReturnReason::EntryError,
            prints_to_check: Vec::new(),
            inquiries: Vec::new(),
            card_pin: String::new(),
            revising: None,
            new_arrival: false,
            household: None,
            household_requested: None,
            today: None,
            staff_reason: String::new(),
            issued_lookup: String::new(),
            printer_status: None,
            admin: admin::AdminState::default(),
            auditor: auditor::AuditorState::default(),
            supervisor: supervisor::SupervisorState::default(),
            ime: ImeState::default(),
            last_refresh: 0.0,
            last_activity_sent: None,
            focus_pending: true,
            focus_form: false,
            submitted: 0,
            login_shown: false,
        }
    }

    /// The logged-in person, if any.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// Back to the login screen with nothing of the last person left.
    fn reset_to_login(&mut self) {
        let postal_areas = std::mem::take(&mut self.postal_areas);
        *self = Self::new(
            std::mem::replace(&mut self.backend, backend::spawn_closed()),
            &self.station,
            self.demo.then(|| self.demo_accounts.clone()),
        );
        // The postal data outlives the person: nothing of theirs is in it.
        self.postal_areas = postal_areas;
    }

    /// The current notice.
    pub fn notice(&self) -> Option<&Notice> {
        self.notice.as_ref()
    }

    /// The case list the screen shows.
    pub fn cases(&self) -> &[CaseSummary] {
        &self.cases
    }

    /// The last search hits.
    pub fn search_results(&self) -> &[PersonSummary] {
        &self.results
    }

    /// The name search field's text.
    pub fn search_text(&self) -> &str {
        &self.search.name
    }

    /// The stations the administrator's screen lists.
    pub fn listed_stations(&self) -> Vec<&str> {
        self.admin.stations.iter().map(|s| s.name.as_str()).collect()
    }

    /// The users the administrator's screen lists (login ids).
    pub fn listed_users(&self) -> Vec<&str> {
        self.admin.users.iter().map(|u| u.login_id.as_str()).collect()
    }

    /// The grants in force the administrator's user list shows for `login_id`.
    pub fn listed_grants(&self, login_id: &str) -> Vec<(Role, Option<i64>)> {
        self.admin.users.iter().find(|u| u.login_id == login_id).map(|u| u.grants.clone()).unwrap_or_default()
    }

    /// The pending grant requests the administrator's screen lists (login ids).
    pub fn pending_grants(&self) -> Vec<&str> {
        self.admin.grant_requests.iter().map(|r| r.login_id.as_str()).collect()
    }

    /// The incidents the administrator's screen lists, newest first.
    pub fn incidents(&self) -> &[madoguchi_core::store::Incident] {
        &self.admin.incidents
    }

    /// The device check results the administrator's screen shows: (station, device, passed).
    pub fn device_checks(&self) -> Vec<(String, device_check::DeviceRole, bool)> {
        self.admin.checks.iter().map(|((station, role), result)| (station.clone(), *role, result.is_ok())).collect()
    }

    /// The audit entries the auditor's screen lists (seq, action).
    pub fn audit_rows(&self) -> Vec<(i64, String)> {
        self.auditor.entries.iter().map(|e| (e.seq, e.action.clone())).collect()
    }

    /// The last chain verification shown on the auditor's screen.
    pub fn audit_verification(&self) -> Option<&Result<String, String>> {
        self.auditor.verification.as_ref()
    }

    /// Today's 日報 on the supervisor's screen, once loaded.
    pub fn day_report(&self) -> Option<&madoguchi_core::report::PeriodReport> {
        self.supervisor.report.as_ref()
    }

    /// This month's 月報 as the supervisor last loaded it.
    pub fn month_report(&self) -> Option<&madoguchi_core::report::PeriodReport> {
        self.supervisor.month.as_ref()
    }

    /// Today's close, once done (supervisor's screen).
    pub fn day_closed(&self) -> Option<&madoguchi_core::dayclose::DayClose> {
        self.supervisor.closed.as_ref()
    }

    /// The station printer's last known status.
    pub fn printer_status(&self) -> Option<&DeviceStatus> {
        self.printer_status.as_ref()
    }

    /// The case open for review and whether its preview is shown.
    pub fn reviewing(&self) -> Option<(i64, CaseState, bool)> {
        self.review.as_ref().map(|r| (r.case.id, r.case.state, r.image.is_some()))
    }

    /// The suspect prints the reviewer is asked to check.
    pub fn prints_to_check(&self) -> &[madoguchi_core::store::PrintJobRow] {
        &self.prints_to_check
    }

    /// How many requests this terminal has handed to review.
    pub fn submitted(&self) -> u32 {
        self.submitted
    }

    /// Drain the back end's events and track IME composition. Never draws.
    pub fn logic(&mut self, ctx: &egui::Context) {
        self.ime.committed_this_frame = false;
        if self.session.is_some() {
            // 複写の禁止: nothing on a logged-in screen reaches the clipboard; the request is dropped before any
            // widget sees it (and `ui` drops any copy a widget makes by other means).
            let blocked = ctx.input_mut(|input| {
                let before = input.events.len();
                input.events.retain(|event| !matches!(event, egui::Event::Copy | egui::Event::Cut));
                before - input.events.len()
            });
            if blocked > 0 {
                tracing::info!("a copy to the clipboard was refused");
                self.notice = Some(Notice {
                    error: true,
                    text: "画面の内容はコピーできません（個人情報の持ち出し防止のため）".to_string(),
                });
            }
        }
        ctx.input(|input| {
            for event in &input.events {
                if let egui::Event::Ime(ime) = event {
                    match ime {
                        egui::ImeEvent::Preedit { text, .. } => self.ime.composing = !text.is_empty(),
                        egui::ImeEvent::Commit(_) => {
                            self.ime.composing = false;
                            self.ime.committed_this_frame = true;
                        }
                        _ => {}
                    }
                }
            }
        });
        while let Some(event) = self.backend.try_recv() {
            self.apply(ctx, event);
        }
        // The case list is refreshed every few seconds: other terminals change it.
        let now = ctx.input(|i| i.time);
        // Any input postpones the idle lock; the back end hears of it at most once a second.
        let touched = ctx.input(|i| !i.events.is_empty());
        if self.session.is_some() && touched && self.last_activity_sent.is_none_or(|sent| now - sent >= 1.0) {
            self.last_activity_sent = Some(now);
            self.backend.send(Command::Activity);
        }
        if self.session.is_some() && now - self.last_refresh > 2.0 {
            self.last_refresh = now;
            self.backend.send(Command::Refresh);
        }
        ctx.request_repaint_after(std::time::Duration::from_secs(2));
    }

    fn info(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice { error: false, text: text.into() });
    }

    fn apply(&mut self, ctx: &egui::Context, event: Event) {
        match event {
            Event::LoggedIn { session, today } => {
                self.today = Some(today);
                self.info(format!(
                    "{}さん（{}）がログインしました",
                    session.display_name,
                    session.actor.role.label_ja()
                ));
                let role = session.actor.role;
                self.session = Some(session);
                self.password.clear();
                self.focus_pending = true;
                self.backend.send(Command::Refresh);
                if role.allows(Permission::ManageStations) {
                    self.backend.send(Command::ListStations);
                }
                if role.allows(Permission::ManageUsers) {
                    self.backend.send(Command::ListUsers);
                }
                if role.allows(Permission::ReadAudit) {
                    self.backend.send(Command::AuditLog(self.auditor.filter()));
                }
                if role.allows(Permission::CloseDay) {
                    self.backend.send(Command::DayStatus);
                }
                tracing::info!(role = role.as_str(), "logged in");
            }
            Event::LoggedOut => self.reset_to_login(),
            Event::Locked(message) => {
                // Everything the person had on screen goes with the session; only the reason stays.
                self.reset_to_login();
                self.notice = Some(Notice { error: true, text: message });
                tracing::warn!("terminal locked");
            }
            Event::Household(household) => {
                if let Some(chosen) = self.selected.as_ref().filter(|p| p.household_id == household.id) {
                    self.form.moves.start_on(&household, Some(chosen.id));
                }
                self.household = Some(household);
            }
            Event::SearchResults(hits) => {
                self.info(format!("{}件見つかりました", hits.len()));
                self.results = hits;
                self.selected = None;
            }
            Event::Submitted { case_id, issue_number, from_form } => {
                self.submitted += 1;
                self.info(match issue_number {
                    Some(number) => format!("案件{case_id}を審査へ回付しました（発行番号 第{number:06}号）"),
                    None => format!("案件{case_id}を審査へ回付しました"),
                });
                // A hand-over from the form starts the next resident afresh; one from the post's list leaves a form
                // being filled as it is.
                if from_form {
                    self.revising = None;
                    self.selected = None;
                    self.results.clear();
                    self.search = SearchForm::default();
                    self.form = RequestForm::default();
                    self.new_arrival = false;
                    // The entry may change the household once approved: its members are read again when needed.
                    self.household = None;
                    self.household_requested = None;
                    self.focus_pending = true;
                }
            }
            Event::Cases(cases) => self.cases = cases,
            Event::Outbox(outbox) => self.outbox = outbox,
            Event::Review { case, output, preview } => {
                let (image, entry_lines, preview_error) = match preview {
                    Ok(backend::ReviewPreview::Sheet(rgba, width, height)) => {
                        (Some(egui::ColorImage::from_rgba_premultiplied([width, height], &rgba)), None, None)
                    }
                    Ok(backend::ReviewPreview::Entry(lines)) => (None, Some(lines), None),
                    Err(message) => (None, None, Some(message)),
                };
                let texture =
                    image.as_ref().map(|img| ctx.load_texture("preview", img.clone(), egui::TextureOptions::LINEAR));
                self.review =
                    Some(ReviewView { case: *case, output: *output, texture, image, preview_error, entry_lines });
            }
            Event::PrintsToCheck(jobs) => self.prints_to_check = jobs,
            Event::Inquiries(inquiries) => self.inquiries = inquiries,
            Event::Revising(case) => {
                let reason = case.return_reason.map(|r| r.label_ja().to_string()).unwrap_or_default();
                self.form = operator::form_of(&case.request);
                self.search = SearchForm { name: case.request.requester.name.clone(), ..SearchForm::default() };
                self.selected = None;
                self.info(format!(
                    "案件{}を修正します。対象の住民を選び直してください（差戻し理由：{reason}）",
                    case.id
                ));
                self.revising = Some((case.id, reason));
                self.backend.send(Command::Search(backend_adapter::types::SearchQuery {
                    name_prefix: Some(case.request.requester.name.clone()),
                    limit: 20,
                    ..backend_adapter::types::SearchQuery::default()
                }));
            }
            Event::CardRead(face) => {
                // The card fills the search (name and birth date) and counts as the identity document checked.
                self.search = SearchForm {
                    name: face.name.clone(),
                    birth_date: face.birth_date.to_string(),
                    ..SearchForm::default()
                };
                self.form.my_number_card = true;
                self.info("マイナンバーカードを読み取りました。該当する住民を選んでください".to_string());
                self.backend.send(Command::Search(backend_adapter::types::SearchQuery {
                    name_prefix: Some(face.name),
                    birth_date: Some(face.birth_date),
                    limit: 20,
                    ..backend_adapter::types::SearchQuery::default()
                }));
            }
            Event::SealCardRead(number) => {
                self.form.registration_number = number;
                self.info("印鑑登録証を読み取りました。登録者と対象の住民が同じか確認してください".to_string());
            }
            Event::InquiryChanged(inquiry) => {
                use madoguchi_core::inquiry::InquiryState;
                use madoguchi_core::wareki::date_label;
                self.info(match inquiry.state {
                    InquiryState::Pending => format!(
                        "案件{}の照会書の発送を記録しました（回答期限 {}）",
                        inquiry.case_id,
                        date_label(inquiry.deadline)
                    ),
                    InquiryState::Answered => {
                        format!("案件{}の回答書を受理しました。印鑑登録を進めてください", inquiry.case_id)
                    }
                    InquiryState::Expired => format!("案件{}の照会は期限切れです", inquiry.case_id),
                });
            }
            Event::PrintResolved { case_id, state } => {
                self.staff_reason.clear();
                self.info(if state == CaseState::Draft {
                    format!("案件{case_id}の用紙を損紙として記録しました。窓口で作成し直し、再審査してください（新しい発行番号）")
                } else {
                    format!("案件{case_id}の印刷を確認しました（交付済）")
                });
            }
            Event::Voided(void) => {
                self.staff_reason.clear();
                self.info(format!(
                    "案件{}を取り消しました（還付 {}円、取消用紙 {}枚）",
                    void.case_id, void.refund_yen, void.voided_sheets
                ));
                self.review = None;
            }
            Event::Approved(case_id) => self.info(format!("案件{case_id}を承認しました。交付・印刷できます")),
            Event::Returned(case_id) => {
                self.info(format!("案件{case_id}を差し戻しました"));
                self.review = None;
            }
            Event::Issued { case_id, issue_number, control_number } => {
                self.info(format!(
                    "案件{case_id}を交付しました（発行番号 第{issue_number:06}号、管理番号 {control_number}）"
                ));
                self.review = None;
            }
            Event::LetterPrinted(case_id) => {
                self.info(format!("案件{case_id}の照会書を印刷しました。封入して発送してください"));
                self.review = None;
            }
            Event::PrintFailed { case_id, suspect, outcome } => {
                let what = if suspect {
                    format!(
                        "印刷結果が不明です（{}バイト送信済み）。自動では再印刷しません。用紙を確認し、職員の判断を待ってください",
                        outcome.delivered
                    )
                } else {
                    "印刷されていません。印刷待ちに戻しました。プリンターを確認してから F10 で印刷を再開してください"
                        .to_string()
                };
                self.notice = Some(Notice {
                    error: true,
                    text: format!("案件{case_id}：{}（{what}）", outcome.status.label_ja()),
                });
            }
            Event::PrinterStatus(status) => self.printer_status = Some(status),
            Event::Stations(stations) => self.admin.stations = stations,
            Event::Profile(profile) => {
                self.admin.profile = Some(profile);
                self.reset_fee_drafts();
            }
            Event::FeesSet(profile) => {
                self.admin.profile = Some(profile);
                self.reset_fee_drafts();
                self.info("手数料表を保存しました。全端末で次の交付から適用されます".to_string());
            }
            Event::Users(users) => self.admin.users = users,
            Event::Incidents(incidents) => self.admin.incidents = incidents,
            Event::GrantRequests(requests) => self.admin.grant_requests = requests,
            Event::UsbKeyRegistered(login_id) => {
                self.info(format!("{login_id} のUSBキーを登録しました（次回のログインから必要です）"));
                self.admin.key_login.clear();
                self.admin.key_text.clear();
            }
            Event::GrantRevoked(login_id, role) => {
                self.info(format!("{login_id} の{}の権限を取り消しました", role.label_ja()));
                self.backend.send(Command::ListUsers);
            }
            Event::GrantDecided(login_id, approved) => {
                self.info(if approved {
                    format!("{login_id} の権限を承認しました（有効になりました）")
                } else {
                    format!("{login_id} の権限申請を却下しました")
                });
                self.backend.send(Command::ListUsers);
            }
            Event::UserCreated(login_id) => {
                self.info(format!("利用者 {login_id} を登録しました（権限は別の管理者の承認後に有効）"));
                self.admin.new_user = admin::NewUserForm::default();
                self.backend.send(Command::ListUsers);
            }
            Event::DeviceChecked { station, role, outcome } => {
                let text = match &outcome {
                    Ok(_) => format!("{station} の{}：正常です", role.label_ja()),
                    Err(_) => format!("{station} の{}：異常があります（詳細を確認してください）", role.label_ja()),
                };
                self.notice = Some(Notice { error: outcome.is_err(), text });
                self.admin.running.remove(&(station.clone(), role));
                self.admin.checks.insert((station, role), outcome);
            }
            Event::AuditEntries(entries) => {
                self.info(format!("監査ログ {}件を表示しています", entries.len()));
                self.auditor.entries = entries;
            }
            Event::AuditVerified(result) => {
                self.notice = Some(match &result {
                    Ok(text) => Notice { error: false, text: text.clone() },
                    Err(text) => Notice { error: true, text: text.clone() },
                });
                self.auditor.verifying = false;
                self.auditor.verification = Some(result);
            }
            Event::DayStatus { report, posts, printers, closed } => {
                self.supervisor.report = Some(*report);
                self.supervisor.posts = posts;
                self.supervisor.printers = printers;
                self.supervisor.closed = closed;
            }
            Event::MonthReport(report) => self.supervisor.month = Some(*report),
            Event::DayClosed(closed) => {
                self.info(match &closed.explanation {
                    Some(_) => "本日の日計を締めました（差異の理由を記録しました）".to_string(),
                    None => "本日の日計を締めました（記録と一致）".to_string(),
                });
                self.supervisor.closed = Some(*closed);
            }
            Event::Failed(message) => self.notice = Some(Notice { error: true, text: message }),
        }
    }

    /// Draw the terminal.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        egui::Panel::top("status").show(ui, |ui| self.status_bar_ui(ui));
        egui::Panel::bottom("keys").show(ui, |ui| self.function_keys_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(notice) = &self.notice {
                let color = if notice.error { ERROR_COLOR } else { STATUS_COLOR };
                ui.label(RichText::new(&notice.text).color(color).strong());
                ui.separator();
            }
            match self.session.as_ref().map(|s| s.actor.role) {
                None => self.login_ui(ui),
                Some(role) if role.allows(Permission::ReviewCase) => self.reviewer_ui(ui),
                Some(role) if role.allows(Permission::PrepareCase) => self.operator_ui(ui),
                Some(role) if role.allows(Permission::ManageUsers) => self.admin_ui(ui),
                Some(role) if role.allows(Permission::ReadAudit) => self.auditor_ui(ui),
                Some(Role::Supervisor) | Some(_) => self.supervisor_ui(ui),
            }
        });
        if self.session.is_some() {
            ui.ctx().output_mut(|output| {
                output.commands.retain(|command| !matches!(command, egui::OutputCommand::CopyText(_)));
            });
            self.watermark(ui.ctx());
        }
    }

    /// The user's ID and station, faint and tiled over the whole screen: a photo of the screen names who showed it.
    fn watermark(&self, ctx: &egui::Context) {
        let Some(session) = &self.session else { return };
        let text = format!("{}  {}", session.actor.login_id, session.actor.station);
        let painter = ctx.layer_painter(egui::LayerId::new(egui::Order::Foreground, egui::Id::unique("watermark")));
        let color = egui::Color32::from_rgba_unmultiplied(80, 80, 80, 20);
        let galley = painter.layout_no_wrap(text, egui::FontId::proportional(22.0), color);
        let rect = ctx.content_rect();
        let (step_x, step_y) = (galley.size().x + 160.0, 150.0);
        let mut row = 0;
        let mut y = rect.top() + 60.0;
        while y < rect.bottom() {
            let mut x = rect.left() + if row % 2 == 0 { 20.0 } else { step_x / 2.0 };
            while x < rect.right() {
                painter.add(egui::epaint::TextShape::new(egui::pos2(x, y), galley.clone(), color).with_angle(-0.3));
                x += step_x;
            }
            y += step_y;
            row += 1;
        }
    }

    fn status_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if self.backend.run_mode() == madoguchi_core::mode::RunMode::Training {
                ui.label(
                    RichText::new(" 研修モード（見本印刷） ")
                        .background_color(Color32::from_rgb(0xff, 0xd5, 0x4f))
                        .strong(),
                );
            } else if self.demo {
                ui.label(
                    RichText::new(" デモ（見本印刷） ").background_color(Color32::from_rgb(0xff, 0xd5, 0x4f)).strong(),
                );
            }
            ui.label(format!("窓口：{}", self.station));
            match &self.session {
                Some(session) => {
                    ui.label(format!("利用者：{}（{}）", session.display_name, session.actor.role.label_ja()));
                }
                None => {
                    ui.label("利用者：未ログイン");
                }
            }
            // Only roles with a queue see its length (administrators and auditors get no case list).
            let has_queue = self.session.as_ref().is_some_and(|session| session.actor.role.has_queue());
            if has_queue {
                let waiting = self.cases.iter().filter(|c| c.state == CaseState::Submitted).count();
                ui.label(format!("審査待ち：{waiting}件"));
            }
            outbox_status_ui(ui, &self.outbox);
            match &self.printer_status {
                Some(status) => {
                    let text = format!("プリンター：{}", status.label_ja());
                    if status.is_ready() {
                        ui.label(text);
                    } else {
                        ui.label(RichText::new(text).color(ERROR_COLOR).strong());
                    }
                }
                None => {
                    ui.label("プリンター：なし");
                }
            }
        });
    }

    fn function_keys_ui(&mut self, ui: &mut egui::Ui) {
        let keys = match self.session.as_ref().map(|s| s.actor.role) {
            None => "Tab 次の項目　Enter 決定",
            Some(role) if role.allows(Permission::ReviewCase) => {
                "F7 取消　F8 差戻し　F9 承認　F10 交付・印刷　F12 ログアウト"
            }
            Some(role) if role.allows(Permission::PrepareCase) => {
                "F2 検索　F3 マイナンバーカード読取　F4 転入届（新しい世帯）　F5 印鑑登録証読取　F9 審査へ回付　F12 ログアウト"
            }
            Some(role) if role.allows(Permission::ReadAudit) => "F2 検索　F5 チェーン検証　F12 ログアウト",
            Some(_) => "Tab 次の項目　F12 ログアウト",
        };
        ui.label(keys);
        if self.session.is_some() && ui.input(|i| i.key_pressed(Key::F12)) {
            self.backend.send(Command::Logout);
        }
    }

    /// Enter in a single-line field moves to the next field, unless the IME owns it.
    fn enter_advances(&self, ui: &egui::Ui, response: &egui::Response) {
        if response.lost_focus()
            && ui.input(|i| i.key_pressed(Key::Enter))
            && !self.ime.composing
            && !self.ime.committed_this_frame
        {
            ui.memory_mut(|m| m.move_focus(egui::FocusDirection::Next));
        }
    }

    fn labelled_field(&mut self, ui: &mut egui::Ui, label: &str, value: &mut String, password: bool) -> egui::Response {
        self.checked_field(ui, label, value, password, None)
    }

    /// A labelled single-line field with its validation message beside it (red), if any.
    fn checked_field(
        &mut self,
        ui: &mut egui::Ui,
        label: &str,
        value: &mut String,
        password: bool,
        error: Option<&str>,
    ) -> egui::Response {
        ui.horizontal(|ui| {
            let label = field_label(ui, label);
            let response =
                ui.add(egui::TextEdit::singleline(value).password(password).desired_width(260.0)).labelled_by(label.id);
            self.enter_advances(ui, &response);
            field_message(ui, error);
            response
        })
        .inner
    }

    /// A supervisor has no counter screen yet: the queue is read-only for them.
    fn login_ui(&mut self, ui: &mut egui::Ui) {
        if !self.login_shown {
            // Start-up time is measured to this line (benches/terminal.rs).
            tracing::info!("login screen shown");
            self.login_shown = true;
        }
        ui.heading("ログイン");
        let mut login_id = std::mem::take(&mut self.login_id);
        let id_field = self.labelled_field(ui, "利用者ID", &mut login_id, false);
        self.login_id = login_id;
        let mut password = std::mem::take(&mut self.password);
        self.labelled_field(ui, "パスワード", &mut password, true);
        self.password = password;
        if self.focus_pending {
            id_field.request_focus();
            self.focus_pending = false;
        }
        if ui.button("ログイン").clicked() {
            self.backend
                .send(Command::Login { login_id: self.login_id.trim().to_string(), password: self.password.clone() });
        }
        if self.demo {
            ui.add_space(12.0);
            ui.label(RichText::new("デモ用アカウント（デモモードでのみ表示）").strong());
            for (id, password, role) in &self.demo_accounts {
                ui.label(format!("{id}　/　{password}　（{role}）"));
            }
            ui.label(format!("模擬マイナンバーカードの暗証番号：{}", crate::device_check::SIMULATED_CARD_PIN));
        }
    }
}

/// The outbox on the status bar: 異動 entries waiting for the resident system (with why, while it cannot be
/// reached) and, in red, those it refused — so staff see at once that the record is not yet changed.
fn outbox_status_ui(ui: &mut egui::Ui, outbox: &[madoguchi_core::outbox::OutboxRow]) {
    use madoguchi_core::outbox::OutboxState;
    let refused = outbox.iter().filter(|row| row.state == OutboxState::Rejected).count();
    let waiting = outbox.len() - refused;
    if waiting > 0 {
        let retrying = outbox.iter().any(|row| row.state != OutboxState::Rejected && row.last_error_ja.is_some());
        let waiting = format!("{}：{waiting}件", OutboxState::Pending.label_ja());
        let text = if retrying { format!("{waiting}（接続できないため再試行中）") } else { waiting };
        let label = RichText::new(text);
        ui.label(if retrying { label.color(ERROR_COLOR) } else { label });
    }
    if refused > 0 {
        let text = format!("{}：{refused}件", OutboxState::Rejected.label_ja());
        ui.label(RichText::new(text).color(ERROR_COLOR).strong());
    }
}

/// A case's kind as staff call it (the stored name when it is not a certificate kind this build knows).
fn kind_label(kind: &str) -> &str {
    match kind {
        "seal-registration" => "印鑑登録",
        "move-in" => "転入",
        "move-out" => "転出",
        "move-out-card" => "特例転出",
        "move-within" => "転居",
        "household-change" => "世帯変更",
        _ => madoguchi_core::request::CertificateKind::parse(kind).map_or(kind, |k| k.template_ja()),
    }
}

/// A field's label in the form's label column (left-aligned, one width, so the fields line up).
fn field_label(ui: &mut egui::Ui, text: &str) -> egui::Response {
    ui.allocate_ui_with_layout(egui::vec2(220.0, 24.0), egui::Layout::left_to_right(egui::Align::Center), |ui| {
        ui.set_min_width(220.0);
        ui.label(text)
    })
    .inner
}

/// A field's validation message, shown beside it.
fn field_message(ui: &mut egui::Ui, error: Option<&str>) {
    if let Some(error) = error {
        ui.label(RichText::new(error).color(ERROR_COLOR));
    }
}

/// A date and time in Japan for the screens (2026-11-21 09:30:05).
fn local_time(at_us: i64) -> String {
    jiff::Timestamp::from_microsecond(at_us)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(9))).strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| at_us.to_string())
}

impl eframe::App for TerminalApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        TerminalApp::logic(self, ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        TerminalApp::ui(self, ui);
    }
}
