//! The counter terminal's screens. The app is a projection of state: each frame drains the back end's events
//! (`logic`), then draws (`ui`); actions leave as commands. Japanese throughout, with the embedded fonts; every input
//! has an accessible name; function keys are shown on screen; Enter in a field moves to the next field and never
//! submits (so the Enter that confirms an IME conversion cannot hand a form over).

pub mod backend;

use backend::{BackendHandle, Command, Event};
use backend_adapter::types::{PersonSummary, SearchQuery};
use egui::{Color32, Key, RichText};
use madoguchi_core::auth::Permission;
use madoguchi_core::case::{CaseState, ReturnReason};
use madoguchi_core::counter::Session;
use madoguchi_core::request::{
    CertificateKind, CertificateRequest, CounterRequest, IdentityCheck, IdentityDocument, OptionalItems, Requester,
    RequesterCategory, TaskRequest,
};
use madoguchi_core::store::{CaseRecord, CaseSummary, Output};

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
    category: RequesterCategory,
    drivers_licence: bool,
    my_number_card: bool,
    insurance: bool,
    pension: bool,
    purpose: String,
    head_and_relationship: bool,
    registry: bool,
    furigana: bool,
    copies: String,
}

impl Default for RequestForm {
    fn default() -> Self {
        Self {
            category: RequesterCategory::Self_,
            drivers_licence: false,
            my_number_card: false,
            insurance: false,
            pension: false,
            purpose: String::new(),
            head_and_relationship: false,
            registry: false,
            furigana: false,
            copies: "1".into(),
        }
    }
}

struct ReviewView {
    case: CaseRecord,
    output: Output,
    texture: Option<egui::TextureHandle>,
    image: Option<egui::ColorImage>,
    preview_error: Option<String>,
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
    search: String,
    results: Vec<PersonSummary>,
    selected: Option<PersonSummary>,
    form: RequestForm,
    cases: Vec<CaseSummary>,
    review: Option<ReviewView>,
    return_reason: ReturnReason,
    ime: ImeState,
    last_refresh: f64,
    focus_pending: bool,
    submitted: u32,
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
            search: String::new(),
            results: Vec::new(),
            selected: None,
            form: RequestForm::default(),
            cases: Vec::new(),
            review: None,
            return_reason: ReturnReason::EntryError,
            ime: ImeState::default(),
            last_refresh: 0.0,
            focus_pending: true,
            submitted: 0,
        }
    }

    /// The logged-in person, if any.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
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

    /// The search field's text.
    pub fn search_text(&self) -> &str {
        &self.search
    }

    /// The case open for review and whether its preview is shown.
    pub fn reviewing(&self) -> Option<(i64, CaseState, bool)> {
        self.review.as_ref().map(|r| (r.case.id, r.case.state, r.image.is_some()))
    }

    /// How many requests this terminal has handed to review.
    pub fn submitted(&self) -> u32 {
        self.submitted
    }

    /// Drain the back end's events and track IME composition. Never draws.
    pub fn logic(&mut self, ctx: &egui::Context) {
        self.ime.committed_this_frame = false;
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
            Event::LoggedIn(session) => {
                self.info(format!(
                    "{}さん（{}）がログインしました",
                    session.display_name,
                    session.actor.role.label_ja()
                ));
                self.session = Some(session);
                self.password.clear();
                self.focus_pending = true;
                self.backend.send(Command::Refresh);
            }
            Event::LoggedOut => {
                *self = Self::new(
                    std::mem::replace(&mut self.backend, backend::spawn_closed()),
                    &self.station,
                    self.demo.then(|| self.demo_accounts.clone()),
                );
            }
            Event::SearchResults(hits) => {
                self.info(format!("{}件見つかりました", hits.len()));
                self.results = hits;
                self.selected = None;
            }
            Event::Submitted { case_id, issue_number } => {
                self.submitted += 1;
                self.info(format!(
                    "案件{case_id}を審査へ回付しました（発行番号 第{:06}号）",
                    issue_number.unwrap_or(0)
                ));
                self.selected = None;
                self.results.clear();
                self.search.clear();
                self.form = RequestForm::default();
                self.focus_pending = true;
            }
            Event::Cases(cases) => self.cases = cases,
            Event::Review { case, output, preview } => {
                let (image, preview_error) = match preview {
                    Ok((rgba, width, height)) => {
                        (Some(egui::ColorImage::from_rgba_premultiplied([width, height], &rgba)), None)
                    }
                    Err(message) => (None, Some(message)),
                };
                let texture =
                    image.as_ref().map(|img| ctx.load_texture("preview", img.clone(), egui::TextureOptions::LINEAR));
                self.review = Some(ReviewView { case: *case, output: *output, texture, image, preview_error });
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
            Event::PrintFailed { case_id, outcome } => {
                let what = if outcome.delivered == 0 {
                    "印刷されていません。プリンターを確認してから再度交付してください".to_string()
                } else {
                    format!(
                        "印刷結果が不明です（{}バイト送信済み）。用紙を確認し、職員の判断を待ってください",
                        outcome.delivered
                    )
                };
                self.notice = Some(Notice {
                    error: true,
                    text: format!("案件{case_id}：{}（{what}）", outcome.status.label_ja()),
                });
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
                let color = if notice.error { Color32::from_rgb(0xb0, 0x10, 0x10) } else { STATUS_COLOR };
                ui.label(RichText::new(&notice.text).color(color).strong());
                ui.separator();
            }
            match self.session.as_ref().map(|s| s.actor.role) {
                None => self.login_ui(ui),
                Some(role) if role.allows(Permission::ReviewCase) => self.reviewer_ui(ui),
                Some(role) if role.allows(Permission::PrepareCase) => self.operator_ui(ui),
                Some(role) => {
                    ui.label(format!("{}の画面は準備中です。監査・管理はコマンドで行えます。", role.label_ja()));
                }
            }
        });
    }

    fn status_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if self.demo {
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
            let waiting = self.cases.iter().filter(|c| c.state == CaseState::Submitted).count();
            ui.label(format!("審査待ち：{waiting}件"));
        });
    }

    fn function_keys_ui(&mut self, ui: &mut egui::Ui) {
        let keys = match self.session.as_ref().map(|s| s.actor.role.allows(Permission::ReviewCase)) {
            None => "Tab 次の項目　Enter 決定",
            Some(true) => "F8 差戻し　F9 承認　F10 交付・印刷　F12 ログアウト",
            Some(false) => "F2 検索　F9 審査へ回付　F12 ログアウト",
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
        ui.horizontal(|ui| {
            let label = ui.label(label);
            let response =
                ui.add(egui::TextEdit::singleline(value).password(password).desired_width(260.0)).labelled_by(label.id);
            self.enter_advances(ui, &response);
            response
        })
        .inner
    }

    fn login_ui(&mut self, ui: &mut egui::Ui) {
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
        }
    }

    fn operator_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("住民票の写し　請求受付");
        let mut search = std::mem::take(&mut self.search);
        let field = self.labelled_field(ui, "氏名（カナ・漢字）", &mut search, false);
        self.search = search;
        if self.focus_pending {
            field.request_focus();
            self.focus_pending = false;
        }
        let search_pressed = ui.button("検索（F2）").clicked() || ui.input(|i| i.key_pressed(Key::F2));
        if search_pressed && !self.search.trim().is_empty() {
            let query =
                SearchQuery { name_prefix: Some(self.search.trim().to_string()), limit: 20, ..SearchQuery::default() };
            self.backend.send(Command::Search(query));
        }
        let mut chosen = None;
        for hit in &self.results {
            let text = format!("{}　{}　{}", hit.name.display(), hit.birth_date, hit.address.display());
            if ui.selectable_label(self.selected.as_ref().is_some_and(|s| s.id == hit.id), text).clicked() {
                chosen = Some(hit.clone());
            }
        }
        if chosen.is_some() {
            self.selected = chosen;
        }
        if let Some(person) = self.selected.clone() {
            ui.separator();
            self.request_form_ui(ui, &person);
        }
        ui.separator();
        ui.label(RichText::new("この窓口の案件").strong());
        for case in &self.cases {
            let reason =
                case.return_reason.as_deref().and_then(ReturnReason::parse).map(|r| format!("（{}）", r.label_ja()));
            ui.label(format!(
                "案件{}　{}　{}{}",
                case.id,
                case.kind,
                case.state.label_ja(),
                reason.unwrap_or_default()
            ));
        }
    }

    fn request_form_ui(&mut self, ui: &mut egui::Ui, person: &PersonSummary) {
        ui.label(format!("対象：{}（世帯 {}）", person.name.display(), person.household_id));
        ui.horizontal(|ui| {
            ui.label("請求者");
            for (category, label) in [
                (RequesterCategory::Self_, "本人"),
                (RequesterCategory::SameHousehold, "同一世帯"),
                (RequesterCategory::Proxy, "任意代理人"),
                (RequesterCategory::ThirdPartyIndividual, "第三者"),
            ] {
                ui.radio_value(&mut self.form.category, category, label);
            }
        });
        ui.horizontal(|ui| {
            ui.label("本人確認書類");
            ui.checkbox(&mut self.form.drivers_licence, "運転免許証");
            ui.checkbox(&mut self.form.my_number_card, "マイナンバーカード");
            ui.checkbox(&mut self.form.insurance, "資格確認書");
            ui.checkbox(&mut self.form.pension, "年金証書");
        });
        if !self.form.category.is_person_or_household() {
            let mut purpose = std::mem::take(&mut self.form.purpose);
            self.labelled_field(ui, "請求事由", &mut purpose, false);
            self.form.purpose = purpose;
        }
        ui.horizontal(|ui| {
            ui.label("記載事項");
            ui.checkbox(&mut self.form.head_and_relationship, "世帯主・続柄");
            ui.checkbox(&mut self.form.registry, "本籍・筆頭者");
            ui.checkbox(&mut self.form.furigana, "振り仮名");
        });
        let mut copies = std::mem::take(&mut self.form.copies);
        self.labelled_field(ui, "通数", &mut copies, false);
        self.form.copies = copies;
        let submit = ui.button("審査へ回付（F9）").clicked() || ui.input(|i| i.key_pressed(Key::F9));
        if submit {
            match self.build_request(person) {
                Ok(request) => self.backend.send(Command::SubmitRequest(Box::new(request))),
                Err(message) => self.notice = Some(Notice { error: true, text: message }),
            }
        }
    }

    fn build_request(&self, person: &PersonSummary) -> Result<CounterRequest, String> {
        let copies: u8 =
            self.form.copies.trim().parse().map_err(|_| "通数は1～20の数字で入力してください".to_string())?;
        let documents = [
            (self.form.drivers_licence, IdentityDocument::DriversLicence),
            (self.form.my_number_card, IdentityDocument::MyNumberCard),
            (self.form.insurance, IdentityDocument::InsuranceCertificate),
            (self.form.pension, IdentityDocument::PensionCertificate),
        ]
        .into_iter()
        .filter_map(|(checked, document)| checked.then_some(document))
        .collect();
        let request = CounterRequest {
            requester: Requester {
                category: self.form.category,
                name: person.name.display(),
                address: person.address.display(),
                corporate_number: None,
                purpose: self.form.purpose.clone(),
                identity: IdentityCheck {
                    documents,
                    letter_of_attorney: self.form.category == RequesterCategory::Proxy,
                },
            },
            task: TaskRequest::Certificate(CertificateRequest {
                kind: CertificateKind::ResidentRecordHousehold,
                household: person.household_id,
                persons: Vec::new(),
                items: OptionalItems {
                    head_and_relationship: self.form.head_and_relationship,
                    registry: self.form.registry,
                    furigana: self.form.furigana,
                    ..OptionalItems::default()
                },
                copies,
            }),
        };
        // The same rules core applies, checked here so the reasons show at once, beside the form.
        request
            .validate()
            .map_err(|errors| errors.0.iter().map(|e| e.message_ja.clone()).collect::<Vec<_>>().join("／"))?;
        Ok(request)
    }

    fn reviewer_ui(&mut self, ui: &mut egui::Ui) {
        ui.columns(2, |columns| {
            columns[0].heading("審査待ち（全窓口）");
            let mut open = None;
            for case in &self.cases {
                let label = format!("案件{}　{}　{}　{}", case.id, case.station, case.kind, case.state.label_ja());
                let selected = self.review.as_ref().is_some_and(|r| r.case.id == case.id);
                if columns[0].selectable_label(selected, label).clicked() {
                    open = Some(case.id);
                }
            }
            if let Some(case_id) = open {
                self.backend.send(Command::OpenReview(case_id));
            }
            let Some(review) = &self.review else {
                columns[1].label("案件を選んでください");
                return;
            };
            let case_id = review.case.id;
            let ui = &mut columns[1];
            ui.heading(format!("案件{case_id}　{}", review.case.state.label_ja()));
            let requester = &review.case.request.requester;
            ui.label(format!("請求者：{}（{}）", requester.name, requester.category.label_ja()));
            ui.label(format!("本人確認：{:?}", requester.identity.documents));
            ui.label(format!("出力：SHA-256 {}", hex::encode(&review.output.sha256[..8])));
            match (&review.texture, &review.preview_error) {
                (Some(texture), _) => {
                    ui.add(egui::Image::new(texture).max_width(420.0).alt_text("帳票のプレビュー"));
                }
                (None, Some(error)) => {
                    ui.label(RichText::new(error).color(Color32::RED));
                }
                _ => {}
            }
            ui.horizontal(|ui| {
                let approve = ui.button("承認（F9）").clicked() || ui.input(|i| i.key_pressed(Key::F9));
                if approve && review.case.state == CaseState::Submitted && review.image.is_some() {
                    self.backend.send(Command::Approve { case_id, sha256: review.output.sha256 });
                }
                let issue = ui.button("交付・印刷（F10）").clicked() || ui.input(|i| i.key_pressed(Key::F10));
                if issue {
                    self.backend.send(Command::Issue(case_id));
                }
            });
            ui.horizontal(|ui| {
                let label = ui.label("差戻し理由");
                egui::ComboBox::from_id_salt("return-reason")
                    .selected_text(self.return_reason.label_ja())
                    .show_ui(ui, |ui| {
                        for reason in ReturnReason::ALL {
                            ui.selectable_value(
                                &mut self.return_reason,
                                reason,
                                format!("{} {}", reason.code(), reason.label_ja()),
                            );
                        }
                    })
                    .response
                    .labelled_by(label.id);
                let send_back = ui.button("差戻し（F8）").clicked() || ui.input(|i| i.key_pressed(Key::F8));
                if send_back {
                    self.backend.send(Command::Return { case_id, reason: self.return_reason });
                }
            });
        });
        // Reopen the case after a decision so its new state shows.
        if let Some(review) = &self.review
            && let Some(summary) = self.cases.iter().find(|c| c.id == review.case.id)
            && summary.state != review.case.state
        {
            self.backend.send(Command::OpenReview(review.case.id));
        }
    }
}

impl eframe::App for TerminalApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        TerminalApp::logic(self, ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        TerminalApp::ui(self, ui);
    }
}
