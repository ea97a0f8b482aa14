//! The terminal driven through its accessibility tree with egui_kittest, keyboard first: an operator serves a
//! resident and hands a 住民票の写し over, a different person approves it and it prints on the printer model; a
//! return reaches the operator's list with its coded reason; an IME conversion's Enter never submits. Every frame
//! also checks that each visible input has an accessible name and that no character lacks a glyph (kittest
//! panics on either).

use std::sync::Arc;
use std::time::{Duration, Instant};

use backend_adapter::ReferenceResidentSystem;
use backend_adapter::ResidentSystem as _;
use backend_adapter::reference::{GenerationOptions, generate};
use devices::pjl::{PrinterLanguage, TraySelection, wrap_job};
use devices::usb_printer::UsbPrinterModel;
use egui::Key;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use madoguchi_app::ui::{TerminalApp, backend, install_theme};
use madoguchi_core::audit::AuditEntry;
use madoguchi_core::auth::{Role, hash_password};
use madoguchi_core::case::CaseState;
use madoguchi_core::certificate::CertificateProfile;
use madoguchi_core::clock::{Clock as _, FixedClock};
use madoguchi_core::counter::Counter;
use madoguchi_core::store::{NewUser, SqliteStore, Store};

/// The tests' "now" (2026-11-20 10:00 JST), so that screens and snapshots show the same dates every run.
fn fixed_clock() -> FixedClock {
    FixedClock::new("2026-11-20T01:00:00Z".parse().expect("timestamp"))
}

struct World {
    counter: Counter,
    store_path: std::path::PathBuf,
    residents: Arc<ReferenceResidentSystem>,
    printer: UsbPrinterModel,
    /// The terminals' USB bus (USB keys, removable storage).
    bus: devices::usb::SimulatedBus,
    /// The counter's clock (moved by the idle-lock test).
    clock: Arc<FixedClock>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("dir");
    let residents_path = dir.path().join("residents.sqlite");
    generate(&residents_path, GenerationOptions { seed: 21, households: 80 }, &|_, _| {}).await.expect("generate");
    let residents = Arc::new(ReferenceResidentSystem::open(&residents_path).await.expect("residents"));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("store.sqlite")).await.expect("store"));
    let new_user = |login: &str, name: &str, role: Role, password: &str| NewUser {
        login_id: login.into(),
        display_name: name.into(),
        password_hash: hash_password(password).expect("hash"),
        grants: vec![(role, None)],
    };
    // Two admins from the start (adm1 and adm2 use the UI); every later grant needs the other one's approval.
    let admins = [
        new_user("admin", "管理者", Role::Admin, "admin-password-1"),
        new_user("adm1", "管理 二郎", Role::Admin, "a-long-password"),
        new_user("adm2", "管理 三郎", Role::Admin, "a-long-password"),
    ];
    store.initialize(&admins, "setup", fixed_clock().now_us()).await.expect("init");
    let profile = CertificateProfile::generated(madoguchi_core::sample::demo_issuer(), true).expect("profile");
    let clock = Arc::new(fixed_clock());
    let counter = Counter::new(store, residents.clone(), clock.clone(), profile);
    let admin = counter.login("admin", "admin-password-1", Role::Admin, "setup").await.expect("admin");
    for (login, name, role) in [
        ("op1", "窓口 花子", Role::Operator),
        ("rev1", "審査 一郎", Role::Reviewer),
        ("aud1", "監査 三子", Role::Auditor),
    ] {
        counter.create_user(&admin, new_user(login, name, role, "a-long-password")).await.expect("user");
    }
    let second = counter.login("adm1", "a-long-password", Role::Admin, "setup").await.expect("second admin");
    for request in counter.grant_requests(&second, true).await.expect("pending") {
        counter.decide_grant(&second, request.id, true).await.expect("approve");
    }
    let printer = UsbPrinterModel::new("MFG:Test;MDL:CertPrinter;CMD:PJL,PDF;CLS:PRINTER;");
    let store_path = dir.path().join("store.sqlite");
    World { counter, store_path, residents, printer, bus: devices::usb::SimulatedBus::default(), clock, _dir: dir }
}

fn terminal(world: &World, station: &str, with_printer: bool) -> Harness<'static, TerminalApp> {
    terminal_with_idle_lock(world, station, with_printer, madoguchi_core::guard::DEFAULT_IDLE_LIMIT)
}

fn terminal_with_idle_lock(
    world: &World,
    station: &str,
    with_printer: bool,
    idle_lock: Duration,
) -> Harness<'static, TerminalApp> {
    terminal_holding(world, station, with_printer, idle_lock, None)
}

/// A terminal whose simulated card reader holds `card` (else the devices' sample card).
fn terminal_holding(
    world: &World,
    station: &str,
    with_printer: bool,
    idle_lock: Duration,
    card: Option<devices::mynumber::CardAttributes>,
) -> Harness<'static, TerminalApp> {
    let placed = card.map(|card| backend::Command::PlaceSimulatedCard(Box::new(card)));
    terminal_given(world, station, with_printer, idle_lock, placed.into_iter().collect())
}

/// A terminal whose back end is first sent `setup` (cards on the simulated readers).
fn terminal_given(
    world: &World,
    station: &str,
    with_printer: bool,
    idle_lock: Duration,
    setup: Vec<backend::Command>,
) -> Harness<'static, TerminalApp> {
    let printer = with_printer.then(|| station_printer(world));
    let backend = backend::spawn(
        world.counter.clone(),
        station,
        printer,
        devices::config::DeviceConfig::demo(),
        Some(backend::watch_bus(world.bus.clone())),
        idle_lock,
        Arc::new(|| {}),
    );
    for command in setup {
        backend.send(command);
    }
    let app = TerminalApp::new(backend, station, None);
    Harness::builder()
        .with_size([1180.0, 820.0])
        .with_theme(egui::Theme::Light)
        .with_context_setup(install_theme)
        .build_ui_state(
            |ui, app: &mut TerminalApp| {
                app.logic(ui.ctx());
                app.ui(ui);
            },
            app,
        )
}

/// The world's printer model as a station's certificate printer (what a reviewer's terminal drives).
fn station_printer(world: &World) -> backend::StationPrinter {
    madoguchi_app::printing::UsbCertificatePrinter::pdf_in_pjl(Box::new(world.printer.clone()))
        .expect("printer")
        .shared()
}

impl World {
    /// rev1 at review-1, logged in through the counter.
    async fn staff(&self) -> madoguchi_core::counter::Session {
        self.counter.login("rev1", "a-long-password", Role::Reviewer, "review-1").await.expect("rev1")
    }

    /// op1 at post-1, logged in through the counter.
    async fn operator(&self) -> madoguchi_core::counter::Session {
        self.counter.login("op1", "a-long-password", Role::Operator, "post-1").await.expect("op1")
    }

    /// The audit entries of `action` the store holds (read by aud1).
    async fn audit_entries(&self, action: madoguchi_core::audit::AuditAction) -> Vec<AuditEntry> {
        let auditor = self.counter.login("aud1", "a-long-password", Role::Auditor, "audit").await.expect("aud1");
        let filter = madoguchi_core::store::AuditFilter { action: Some(action), limit: 100, ..Default::default() };
        self.counter.audit_log(&auditor, &filter).await.expect("audit")
    }
}

/// A 住民票の写し request for an ordinary household's own copy, by its ID shown on a driver's licence.
async fn copy_request(world: &World) -> madoguchi_core::request::CounterRequest {
    let (_, household) = ordinary_reading(world).await;
    madoguchi_core::sample::own_household_copy_request(
        backend_adapter::types::HouseholdId(household),
        "請求 太郎",
        "東京都新宿区",
        madoguchi_core::request::IdentityDocument::DriversLicence,
    )
}

/// A 住民票の写し of an ordinary household handed over by op1 at post-1, approved and issued (its job queued) by
/// rev1 at review-1: the case, its output and the issuance.
async fn issued_case(world: &World) -> (i64, madoguchi_core::store::Output, madoguchi_core::store::Issuance) {
    let operator = world.operator().await;
    let staff = world.staff().await;
    let case_id = world.counter.open_case(&operator, copy_request(world).await).await.expect("open");
    let output = world.counter.prepare_and_submit(&operator, case_id).await.expect("hand over");
    world.counter.approve(&staff, case_id, output.sha256).await.expect("approve");
    let issued = world.counter.issue(&staff, case_id, 1).await.expect("issue");
    (case_id, output, issued)
}

/// Step the UI until `done` holds (the back end answers on its own thread).
fn wait_until(harness: &mut Harness<'_, TerminalApp>, what: &str, done: impl Fn(&TerminalApp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(harness.state()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}; notice: {:?}", harness.state().notice());
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    harness.run();
}

/// The accessible label of the focused widget.
fn focused_label(harness: &Harness<'_, TerminalApp>) -> Option<String> {
    harness.query_by(|node| node.is_focused()).and_then(|node| node.accesskit_node().label())
}

/// Press Tab until the focused widget's label starts with `label` (keyboard navigation only).
fn tab_to(harness: &mut Harness<'_, TerminalApp>, label: &str) {
    for _ in 0..120 {
        if focused_label(harness).is_some_and(|l| l.starts_with(label)) {
            return;
        }
        harness.key_press(Key::Tab);
        harness.run();
    }
    panic!("Tab never reached {label:?}; focused: {:?}", focused_label(harness));
}

/// Tab to the list row or button `label` and press Enter on it (keyboard only).
fn choose(harness: &mut Harness<'_, TerminalApp>, label: &str) {
    tab_to(harness, label);
    harness.key_press(Key::Enter);
    harness.run();
}

/// Tab to the checkbox or radio button `label` and press Space on it (keyboard only). A widget labelled exactly
/// `label` wins over one whose label merely starts with it (「マイナンバーカード」 vs its F3 button).
fn tick(harness: &mut Harness<'_, TerminalApp>, label: &str) {
    if harness.query_by_label(label).is_some() {
        for _ in 0..120 {
            if focused_label(harness).as_deref() == Some(label) {
                break;
            }
            harness.key_press(Key::Tab);
            harness.run();
        }
        assert_eq!(focused_label(harness).as_deref(), Some(label), "Tab never reached {label:?}");
    } else {
        tab_to(harness, label);
    }
    harness.key_press(Key::Space);
    harness.run();
}

/// Whether the checkbox `label` is ticked, as the accessibility tree says.
fn is_ticked(harness: &Harness<'_, TerminalApp>, label: &str) -> bool {
    harness
        .query_by_label(label)
        .is_some_and(|node| node.accesskit_node().toggled() == Some(egui::accesskit::Toggled::True))
}

/// Post 1's operator, logged in, with F4's 転入 form for a new household open (nobody searched).
fn new_arrival_form(world: &World) -> Harness<'static, TerminalApp> {
    let mut post = terminal(world, "post-1", false);
    log_in(&mut post, "op1");
    post.key_press(Key::F4);
    post.run();
    wait_for_text(&mut post, "転入届（新しい世帯）");
    post
}

/// Tab to each field `label` in turn and type its `text` (keyboard only).
fn fill(harness: &mut Harness<'_, TerminalApp>, fields: &[(&str, &str)]) {
    for (label, text) in fields {
        tab_to(harness, label);
        type_text(harness, text);
    }
}

fn type_text(harness: &mut Harness<'_, TerminalApp>, text: &str) {
    harness.event(egui::Event::Text(text.to_string()));
    harness.run();
}

fn log_in(harness: &mut Harness<'_, TerminalApp>, login: &str) {
    submit_login(harness, login);
    wait_until(harness, "login", |app| app.session().is_some());
}

/// Type the ID and password and press ログイン, without waiting for the answer.
fn submit_login(harness: &mut Harness<'_, TerminalApp>, login: &str) {
    harness.run();
    assert_eq!(focused_label(harness).as_deref(), Some("利用者ID"), "the login screen starts in the ID field");
    type_text(harness, login);
    harness.key_press(Key::Enter);
    harness.run();
    assert_eq!(focused_label(harness).as_deref(), Some("パスワード"), "Enter advances to the next field");
    type_text(harness, "a-long-password");
    tab_to(harness, "ログイン");
    harness.key_press(Key::Enter);
}

/// A family-name reading of an ordinary (not 支援措置) household, and its household id.
async fn ordinary_reading(world: &World) -> (String, i64) {
    for id in world.residents.household_ids(0, 80).await.expect("ids") {
        let household = world.residents.household(id).await.expect("household");
        let head = &household.members[0];
        if household.members.iter().all(|m| !m.support_measure)
            && let Some(kana) = &head.name.family_kana
        {
            return (format!("{kana}{}", head.name.given_kana.clone().unwrap_or_default()), id.0);
        }
    }
    panic!("no ordinary household");
}

/// Search by name from the operator's first field and choose the first hit, by keyboard.
fn choose_first_hit(harness: &mut Harness<'_, TerminalApp>, reading: &str) {
    assert_eq!(focused_label(harness).as_deref(), Some("氏名（カナ・漢字）"), "the search field has the focus");
    type_text(harness, reading);
    harness.key_press(Key::F2);
    wait_until(harness, "search results", |app| !app.search_results().is_empty());
    let first = harness.state().search_results()[0].name.display();
    choose(harness, &first);
}

/// Open a case from the reviewer's queue, by keyboard.
fn open_in_review(harness: &mut Harness<'_, TerminalApp>, case_id: i64) {
    wait_until(harness, "the queue", |app| app.cases().iter().any(|c| c.id == case_id));
    tab_to(harness, &format!("案件{case_id}　"));
    harness.key_press(Key::Enter);
}

/// The operator's keyboard-only path: search, choose, check ID, hand over. Returns the new case id.
fn hand_over_by_keyboard(harness: &mut Harness<'_, TerminalApp>, reading: &str) -> i64 {
    choose_first_hit(harness, reading);
    tab_to(harness, "運転免許証");
    harness.key_press(Key::Space);
    harness.run();
    hand_over(harness)
}

/// Hand the post's form over with F9 and return the new case.
fn hand_over(harness: &mut Harness<'_, TerminalApp>) -> i64 {
    let before = harness.state().submitted();
    harness.key_press(Key::F9);
    wait_until(harness, "hand-over", |app| app.submitted() > before);
    wait_until(harness, "the case in the post's list", |app| {
        app.cases().iter().any(|c| c.state == CaseState::Submitted)
    });
    harness.state().cases().iter().filter(|c| c.state == CaseState::Submitted).map(|c| c.id).max().expect("case")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_hands_over_by_keyboard_a_reviewer_approves_and_the_printer_receives_the_job() {
    let world = world().await;
    let (reading, _) = ordinary_reading(&world).await;
    let mut operator = terminal(&world, "post-1", false);
    log_in(&mut operator, "op1");
    let case_id = hand_over_by_keyboard(&mut operator, &reading);

    let mut reviewer = terminal(&world, "review-1", true);
    log_in(&mut reviewer, "rev1");
    open_in_review(&mut reviewer, case_id);
    wait_until(&mut reviewer, "the preview", |app| {
        app.reviewing().is_some_and(|(id, _, preview)| id == case_id && preview)
    });
    assert!(reviewer.query_by_label("帳票のプレビュー").is_some(), "the exact preview is on screen");
    reviewer.key_press(Key::F9);
    wait_until(&mut reviewer, "approval", |app| {
        app.reviewing().is_some_and(|(_, state, _)| state == CaseState::Approved)
    });
    reviewer.key_press(Key::F10);
    wait_until(&mut reviewer, "issue", |app| app.notice().is_some_and(|n| n.text.contains("交付しました")));

    // The printer model received exactly the approved PDF in its PJL job with the security-paper tray.
    let session = world.counter.login("rev1", "a-long-password", Role::Reviewer, "check").await.expect("login");
    let (_, output) = world.counter.review(&session, case_id).await.expect("output");
    let tray = TraySelection::new("TRAY2", 1, 0).expect("tray");
    let expected = wrap_job(
        &format!("C{case_id}-N{}", output.issue_number.expect("number")),
        PrinterLanguage::PdfInPjl,
        &tray,
        &output.bytes,
    )
    .expect("job");
    assert_eq!(world.printer.received(), expected, "the printer received the approved bytes, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_with_its_coded_reason_reaches_the_operators_list() {
    let world = world().await;
    let (reading, _) = ordinary_reading(&world).await;
    let mut operator = terminal(&world, "post-2", false);
    log_in(&mut operator, "op1");
    let case_id = hand_over_by_keyboard(&mut operator, &reading);

    let mut reviewer = terminal(&world, "review-1", false);
    log_in(&mut reviewer, "rev1");
    open_in_review(&mut reviewer, case_id);
    wait_until(&mut reviewer, "the case", |app| app.reviewing().is_some_and(|(id, _, _)| id == case_id));
    reviewer.key_press(Key::F8);
    wait_until(&mut reviewer, "the return", |app| app.notice().is_some_and(|n| n.text.contains("差し戻しました")));

    wait_until(&mut operator, "the returned case", |app| {
        app.cases().iter().any(|c| c.id == case_id && c.state == CaseState::Returned)
    });
    let line = format!("案件{case_id}　");
    operator.run();
    let shown = operator
        .query_all_by(move |node| {
            let text = node.label().or_else(|| node.value()).unwrap_or_default();
            text.contains(&line)
        })
        .filter_map(|node| node.accesskit_node().label().or_else(|| node.accesskit_node().value()))
        .collect::<Vec<_>>();
    assert!(shown.iter().any(|l| l.contains("差戻し（入力内容の誤り）")), "{shown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ime_conversion_lands_in_the_kana_field_and_its_enter_does_not_submit() {
    let world = world().await;
    let mut operator = terminal(&world, "post-3", false);
    log_in(&mut operator, "op1");
    assert_eq!(focused_label(&operator).as_deref(), Some("氏名（カナ・漢字）"));
    operator
        .event(egui::Event::Ime(egui::ImeEvent::Preedit { text: "やまだ".into(), active_range_chars: Some(0..3) }));
    operator.run();
    operator.key_press(Key::Enter);
    operator.event(egui::Event::Ime(egui::ImeEvent::Commit("やまだ".into())));
    operator.run();
    operator.key_press(Key::Enter);
    operator.run();
    assert_eq!(operator.state().search_text(), "やまだ", "the committed text is in the field");
    for _ in 0..20 {
        operator.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(operator.state().search_results().is_empty(), "no search was submitted by the confirming Enter");
    assert_eq!(operator.state().submitted(), 0);
}

/// Every label and value on screen, joined (what a screen reader would read).
fn screen_text(harness: &Harness<'_, TerminalApp>) -> String {
    harness
        .query_all_by(|_| true)
        .filter_map(|node| node.accesskit_node().label().or_else(|| node.accesskit_node().value()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_checks_each_field_as_it_is_typed_and_a_postal_code_fills_the_address() {
    let world = world().await;
    let mut operator = terminal(&world, "post-1", false);
    log_in(&mut operator, "op1");
    tab_to(&mut operator, "生年月日");
    type_text(&mut operator, "令和2年2月30日");
    assert!(
        screen_text(&operator).contains("令和2年2月30日は存在しない日付です"),
        "the reason is shown beside the field: {}",
        screen_text(&operator)
    );
    operator.key_press(Key::F2);
    operator.run();
    assert!(operator.state().notice().is_some_and(|n| n.error), "a search with a wrong field is not sent");
    for _ in 0.."令和2年2月30日".chars().count() {
        operator.key_press(Key::Backspace);
    }
    operator.run();
    assert!(!screen_text(&operator).contains("存在しない日付"));

    // A household's postal code that names one 町域: typing it fills the address, and the search finds them.
    let areas = backend_adapter::postal::shinjuku_areas();
    let mut target = None;
    for id in world.residents.household_ids(0, 80).await.expect("ids") {
        let household = world.residents.household(id).await.expect("household");
        let address = &household.address;
        if household.members.iter().all(|m| !m.support_measure)
            && backend_adapter::postal::lookup(&areas, &address.postal_code).len() == 1
        {
            target = Some((
                address.postal_code.clone(),
                backend_adapter::postal::lookup(&areas, &address.postal_code)[0].town.clone(),
                id,
            ));
            break;
        }
    }
    let (code, town, household) = target.expect("a household with an unambiguous postal code");
    tab_to(&mut operator, "郵便番号");
    type_text(&mut operator, &format!("{}-{}", &code[..3], &code[3..5]));
    assert!(screen_text(&operator).contains("郵便番号は7桁の数字で入力してください"));
    type_text(&mut operator, &code[5..]);
    let text = screen_text(&operator);
    assert!(!text.contains("7桁"), "{text}");
    assert!(text.lines().any(|l| l == town), "the postal code filled the address field with {town}: {text}");
    operator.key_press(Key::F2);
    wait_until(&mut operator, "search by address", |app| !app.search_results().is_empty());
    let hits = operator.state().search_results();
    assert!(hits.iter().any(|p| p.household_id == household), "the household is found");
    assert!(hits.iter().all(|p| p.address.town.starts_with(&town) || p.support_measure), "every hit lives in {town}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_errors_shows_them_beside_the_fields_and_cannot_be_handed_over() {
    let world = world().await;
    let (reading, _) = ordinary_reading(&world).await;
    let mut operator = terminal(&world, "post-1", false);
    log_in(&mut operator, "op1");
    choose_first_hit(&mut operator, &reading);
    tick(&mut operator, "第三者");
    tab_to(&mut operator, "通数");
    operator.key_press(Key::Backspace);
    type_text(&mut operator, "x");
    let text = screen_text(&operator);
    assert!(text.contains("通数は1～20の数字で入力してください"), "{text}");
    assert!(text.contains("請求事由"), "the purpose field appears for a third party: {text}");
    operator.key_press(Key::F9);
    operator.run();
    for _ in 0..10 {
        operator.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(operator.state().submitted(), 0, "a form with errors is not handed over");
    assert!(operator.state().notice().is_some_and(|n| n.error && n.text.contains("項目の横")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_changes_a_fee_on_screen_and_the_table_is_in_force_for_the_store() {
    use madoguchi_core::request::CertificateKind;
    let world = world().await;
    let mut admin = terminal(&world, "admin-pc", false);
    log_in(&mut admin, "adm1");
    tab_to(&mut admin, "帳票");
    admin.key_press(Key::Enter);
    wait_for_text(&mut admin, "手数料表の変更");
    assert!(screen_text(&admin).contains("手数料表：端末の設定"), "{}", screen_text(&admin));
    let field = "住民票の写し（世帯連記式）の手数料（円）";
    tab_to(&mut admin, field);
    for _ in 0.."300".len() {
        admin.key_press(Key::Backspace);
    }
    // A wrong amount is named beside its field, and the table cannot be saved.
    type_text(&mut admin, "300円");
    let text = screen_text(&admin);
    assert!(text.contains("金額は数字だけで入力してください"), "{text}");
    assert!(text.contains("入力に誤りがあるため保存できません"), "{text}");
    let save = admin.query_by_label("手数料表を保存").expect("the save button");
    assert!(save.accesskit_node().is_disabled(), "a table with a wrong amount cannot be saved");
    admin.key_press(Key::Backspace);
    // Full-width digits as an IME gives them are taken.
    for _ in 0..3 {
        admin.key_press(Key::Backspace);
    }
    type_text(&mut admin, "３５０");
    assert!(!screen_text(&admin).contains("入力に誤り"), "{}", screen_text(&admin));
    tab_to(&mut admin, "手数料表を保存");
    admin.key_press(Key::Enter);
    wait_until(&mut admin, "the saved table", |app| {
        app.notice().is_some_and(|n| !n.error && n.text.contains("手数料表を保存しました"))
    });
    let text = screen_text(&admin);
    assert!(text.contains("手数料表：adm1 が"), "who set it is shown: {text}");
    assert!(text.contains("350円"), "the table in force shows the new amount: {text}");
    let fees = world.counter.fees_in_force().await.expect("fees in force");
    assert_eq!(fees.table.per_copy(CertificateKind::ResidentRecordHousehold), 350);
    assert_eq!(fees.table.per_copy(CertificateKind::MoveOutCertificate), 0, "the other amounts are unchanged");
    let set = world.audit_entries(madoguchi_core::audit::AuditAction::FeesSet).await;
    assert_eq!(set.len(), 1, "one audit row for the change");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_tests_a_stations_devices_and_registers_a_user_with_an_expiring_grant() {
    let world = world().await;
    let mut admin = terminal(&world, "admin-pc", false);
    log_in(&mut admin, "adm1");
    wait_until(&mut admin, "the stations", |app| app.listed_stations().contains(&"post-1"));
    tab_to(&mut admin, "証明書プリンターをテスト（post-1）");
    admin.key_press(Key::Enter);
    // The spinner keeps the screen repainting while a test runs: wait it out before moving on.
    wait_until(&mut admin, "the printer check", |app| app.device_checks().len() == 1);
    tab_to(&mut admin, "マイナンバーカード読取機をテスト（post-1）");
    admin.key_press(Key::Enter);
    wait_until(&mut admin, "two device checks", |app| app.device_checks().len() == 2);
    let checks = admin.state().device_checks();
    assert!(checks.iter().all(|(station, _, passed)| station == "post-1" && *passed), "{checks:?}");
    let text = screen_text(&admin);
    assert!(text.contains("正常：test page"), "{text}");
    assert!(text.contains("************"), "the card's 個人番号 is masked on screen: {text}");

    // The ward's fee table beside each certificate's template (the demo table: ¥300, 転出証明書 free).
    tab_to(&mut admin, "帳票");
    admin.key_press(Key::Enter);
    wait_for_text(&mut admin, "手数料（1通）");
    let text = screen_text(&admin);
    assert!(text.contains("300円") && text.contains("無料"), "{text}");

    tab_to(&mut admin, "利用者と権限");
    admin.key_press(Key::Enter);
    wait_until(&mut admin, "the user list", |app| app.listed_users().contains(&"op1"));
    tab_to(&mut admin, "新しい利用者ID");
    type_text(&mut admin, "op9");
    admin.key_press(Key::Enter);
    type_text(&mut admin, "窓口 九郎");
    admin.key_press(Key::Enter);
    type_text(&mut admin, "short");
    assert!(screen_text(&admin).contains("パスワードは12文字以上にしてください"));
    type_text(&mut admin, "-but-now-long");
    tab_to(&mut admin, "有効期限");
    type_text(&mut admin, "平成12年1月1日");
    assert!(screen_text(&admin).contains("有効期限が過ぎた日付です"), "{}", screen_text(&admin));
    for _ in 0.."平成12年1月1日".chars().count() {
        admin.key_press(Key::Backspace);
    }
    type_text(&mut admin, "2999-03-31");
    tab_to(&mut admin, "登録");
    admin.key_press(Key::Enter);
    wait_until(&mut admin, "the new user's pending grant", |app| app.pending_grants().contains(&"op9"));
    assert!(
        admin.query_by_label("承認（op9）").is_some_and(|b| b.accesskit_node().is_disabled()),
        "not by its requester"
    );
    let err = world.counter.login("op9", "short-but-now-long", Role::Operator, "post-1").await.expect_err("pending");
    assert!(matches!(err, madoguchi_core::error::CoreError::NoGrant { .. }), "{err:?}");
    admin.key_press(Key::F12);
    wait_until(&mut admin, "logout", |app| app.session().is_none());

    // A second admin approves it: only then is the grant in force.
    log_in(&mut admin, "adm2");
    tab_to(&mut admin, "利用者と権限");
    admin.key_press(Key::Enter);
    wait_until(&mut admin, "the pending grant", |app| app.pending_grants().contains(&"op9"));
    tab_to(&mut admin, "承認（op9）");
    admin.key_press(Key::Enter);
    wait_until(&mut admin, "the approval", |app| app.pending_grants().is_empty());
    wait_until(&mut admin, "the grant in the user list", |app| !app.listed_grants("op9").is_empty());
    assert!(screen_text(&admin).contains("入力オペレーター（2999-04-01 00:00:00まで）"), "{}", screen_text(&admin));
    let session = world.counter.login("op9", "short-but-now-long", Role::Operator, "post-1").await.expect("login");
    assert_eq!(session.display_name, "窓口 九郎");

    // Taking the right away is immediate and needs no second admin.
    tab_to(&mut admin, "取消（op9：入力オペレーター）");
    admin.key_press(Key::Enter);
    wait_until(&mut admin, "the revocation", |app| {
        app.listed_grants("op9").iter().all(|(_, until)| until.is_some_and(|u| u <= world.clock.now_us()))
    });
    let err = world.counter.login("op9", "short-but-now-long", Role::Operator, "post-1").await.expect_err("revoked");
    assert!(matches!(err, madoguchi_core::error::CoreError::NoGrant { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_filters_the_log_and_the_chain_check_names_a_tampered_row() {
    let world = world().await;
    let mut operator = terminal(&world, "post-1", false);
    log_in(&mut operator, "op1");
    let mut auditor = terminal(&world, "audit-pc", false);
    log_in(&mut auditor, "aud1");
    wait_until(&mut auditor, "the log", |app| !app.audit_rows().is_empty());
    assert!(auditor.state().audit_rows().iter().any(|(_, action)| action == "login.succeeded"));

    type_text(&mut auditor, "op1");
    auditor.key_press(Key::F2);
    wait_until(&mut auditor, "the filtered log", |app| {
        app.notice().is_some_and(|n| n.text.contains("監査ログ"))
            && app.audit_rows().iter().all(|(_, a)| a != "audit.read")
    });

    auditor.key_press(Key::F5);
    wait_until(&mut auditor, "verification", |app| app.audit_verification().is_some());
    assert!(matches!(auditor.state().audit_verification(), Some(Ok(text)) if text.contains("改ざんされていません")));

    // Change one byte of one row behind the store's back.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", world.store_path.display())).await.expect("raw");
    sqlx::query("DROP TRIGGER IF EXISTS audit_log_no_update").execute(&pool).await.expect("drop trigger");
    sqlx::query("UPDATE audit_log SET station = 'post-X' WHERE seq = 3").execute(&pool).await.expect("tamper");
    pool.close().await;
    auditor.key_press(Key::F5);
    wait_until(&mut auditor, "the second verification", |app| matches!(app.audit_verification(), Some(Err(_))));
    let Some(Err(text)) = auditor.state().audit_verification() else { unreachable!() };
    assert!(text.contains("3番目の記録で改ざんを検出しました"), "{text}");
}

/// The main screens, rendered (wgpu on the CPU adapter) and compared with the committed images in
/// `tests/snapshots/`. `UPDATE_SNAPSHOTS=1 cargo test -p madoguchi --test ui` rewrites them after a deliberate change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_screens_match_their_snapshots() {
    let world = world().await;
    let (reading, _) = ordinary_reading(&world).await;
    let mut results = egui_kittest::SnapshotResults::new();

    let mut operator = terminal(&world, "post-1", false);
    operator.run();
    results.add(operator.try_snapshot("login"));
    log_in(&mut operator, "op1");
    choose_first_hit(&mut operator, &reading);
    tick(&mut operator, "運転免許証");
    results.add(operator.try_snapshot("operator"));
    operator.key_press(Key::F9);
    wait_until(&mut operator, "hand-over", |app| app.submitted() == 1);
    let case_id = operator.state().cases().iter().map(|c| c.id).max().expect("case");

    let mut reviewer = terminal(&world, "review-1", true);
    log_in(&mut reviewer, "rev1");
    open_in_review(&mut reviewer, case_id);
    wait_until(&mut reviewer, "the preview", |app| app.reviewing().is_some_and(|(_, _, preview)| preview));
    wait_until(&mut reviewer, "the printer status", |app| app.printer_status().is_some());
    results.add(reviewer.try_snapshot("reviewer"));

    let mut admin = terminal(&world, "admin-pc", false);
    log_in(&mut admin, "adm1");
    wait_until(&mut admin, "the stations", |app| app.listed_stations().len() == 4);
    results.add(admin.try_snapshot("admin"));

    let mut auditor = terminal(&world, "audit-pc", false);
    log_in(&mut auditor, "aud1");
    wait_until(&mut auditor, "the log", |app| !app.audit_rows().is_empty());
    results.add(auditor.try_snapshot("auditor"));
}

fn notice_contains(app: &TerminalApp, text: &str) -> bool {
    app.notice().is_some_and(|notice| notice.text.contains(text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulling_the_usb_key_or_plugging_in_a_stick_locks_the_terminal_and_records_an_incident() {
    use devices::usb::{UsbDeviceInfo, class};
    use madoguchi_core::guard::UsbKey;
    let world = world().await;
    let admin = world.counter.login("admin", "admin-password-1", Role::Admin, "setup").await.expect("admin");
    // An administrator registers op1's key on the 利用者と権限 tab; a malformed key is refused beside the field.
    let mut harness = terminal(&world, "admin-pc", false);
    log_in(&mut harness, "adm1");
    tab_to(&mut harness, "利用者と権限");
    harness.key_press(Key::Enter);
    wait_until(&mut harness, "the user list", |app| app.listed_users().contains(&"op1"));
    tab_to(&mut harness, "USBキーの利用者ID");
    type_text(&mut harness, "op1");
    harness.key_press(Key::Enter);
    type_text(&mut harness, "1050:407:OP1-KEY");
    assert!(screen_text(&harness).contains("USBキーは「ベンダーID:製品ID:シリアル番号」"), "{}", screen_text(&harness));
    for _ in 0.."1050:407:OP1-KEY".chars().count() {
        harness.key_press(Key::Backspace);
    }
    type_text(&mut harness, "1050:0407:OP1-KEY");
    tab_to(&mut harness, "USBキーを登録");
    harness.key_press(Key::Enter);
    wait_until(&mut harness, "the key registration", |app| {
        app.notice().is_some_and(|n| n.text.contains("USBキーを登録しました"))
    });
    drop(harness);
    let key = UsbKey::parse("1050:0407:OP1-KEY").expect("key");
    let users = world.counter.users(&admin).await.expect("users");
    let op1 = users.iter().find(|u| u.login_id == "op1").expect("op1").id;
    assert_eq!(world.counter.store().usb_key(op1).await.expect("key row"), Some(key), "the key the admin typed");
    let key_device = UsbDeviceInfo {
        bus: 1,
        address: 5,
        vendor_id: 0x1050,
        product_id: 0x0407,
        serial: Some("OP1-KEY".into()),
        classes: vec![class::HID],
    };

    // The password alone is not enough.
    let mut harness = terminal(&world, "post-1", false);
    submit_login(&mut harness, "op1");
    wait_until(&mut harness, "the second-factor refusal", |app| notice_contains(app, "USBキーが接続されていません"));
    assert!(harness.state().session().is_none());
    drop(harness);

    // With the key: logged in; the key pulled: locked, back at the login screen, with the reason.
    world.bus.attach(key_device.clone());
    let mut harness = terminal(&world, "post-1", false);
    log_in(&mut harness, "op1");
    world.bus.detach(0x1050, 0x0407, Some("OP1-KEY"));
    wait_until(&mut harness, "the lock", |app| app.session().is_none());
    assert!(notice_contains(harness.state(), "USBキーが取り外された"), "{:?}", harness.state().notice());
    assert!(screen_text(&harness).contains("USBキーが取り外された"), "the lock screen says why");
    assert!(harness.query_by_label("利用者ID").is_some(), "back at the login screen");
    drop(harness);

    // A USB stick arrives during a session: locked, and recorded as an incident.
    world.bus.attach(key_device);
    let mut harness = terminal(&world, "post-1", false);
    log_in(&mut harness, "op1");
    world.bus.attach(UsbDeviceInfo {
        bus: 1,
        address: 6,
        vendor_id: 0x0781,
        product_id: 0x5583,
        serial: Some("STICK-1".into()),
        classes: vec![class::MASS_STORAGE],
    });
    wait_until(&mut harness, "the media lock", |app| app.session().is_none());
    assert!(notice_contains(harness.state(), "外部記憶媒体"), "{:?}", harness.state().notice());

    drop(harness);
    world.bus.detach(0x0781, 0x5583, Some("STICK-1"));

    // The administrators see both at their next refresh, on the 事故記録 tab.
    let mut harness = terminal(&world, "admin-pc", false);
    log_in(&mut harness, "adm1");
    wait_until(&mut harness, "the incident list", |app| app.incidents().len() == 2);
    harness.get_by_label("事故記録（2件）").click();
    harness.run();
    let screen = screen_text(&harness);
    assert!(screen.contains("外部記憶媒体の接続") && screen.contains("USBキーの取り外し"), "{screen}");

    let incidents = world.counter.incidents(&admin, 10).await.expect("incidents");
    let kinds: Vec<&str> = incidents.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(kinds, ["media.attached", "usb_key.removed"]);
    assert!(incidents.iter().all(|i| i.login_id == "op1" && i.station == "post-1"), "{incidents:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_idle_minutes_lock_the_terminal_and_input_postpones_the_lock() {
    let world = world().await;
    let mut harness = terminal(&world, "post-1", false);
    log_in(&mut harness, "op1");
    let minute = Duration::from_secs(60);
    world.clock.advance(4 * minute);
    type_text(&mut harness, "ヤ"); // input: the idle clock starts again
    // Let the back end hear of it before the clock moves on.
    for _ in 0..20 {
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    world.clock.advance(4 * minute);
    for _ in 0..25 {
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(harness.state().session().is_some(), "8 minutes after login but 4 after the last input: still open");
    world.clock.advance(minute + Duration::from_secs(1));
    wait_until(&mut harness, "the idle lock", |app| app.session().is_none());
    assert!(notice_contains(harness.state(), "一定時間操作がなかった"), "{:?}", harness.state().notice());
    let admin = world.counter.login("admin", "admin-password-1", Role::Admin, "setup").await.expect("admin");
    assert!(world.counter.incidents(&admin, 10).await.expect("incidents").is_empty(), "an idle lock is no incident");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wards_policy_file_sets_the_idle_lock() {
    let world = world().await;
    let file = world._dir.path().join("policy.toml");
    std::fs::write(&file, "idle_lock_minutes = 2\n").expect("policy");
    let policy = madoguchi_core::policy::SecurityPolicy::load(&file).expect("valid policy");
    let mut harness = terminal_with_idle_lock(&world, "post-1", false, policy.idle_lock);
    log_in(&mut harness, "op1");
    world.clock.advance(Duration::from_secs(110));
    for _ in 0..25 {
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(harness.state().session().is_some(), "1 min 50 s idle: still open under a 2-minute policy");
    world.clock.advance(Duration::from_secs(11));
    wait_until(&mut harness, "the 2-minute idle lock", |app| app.session().is_none());
    assert!(notice_contains(harness.state(), "一定時間操作がなかった"), "{:?}", harness.state().notice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_on_a_logged_in_screen_reaches_the_clipboard() {
    let copied = |harness: &Harness<'_, TerminalApp>| {
        harness.output().platform_output.commands.iter().any(|c| matches!(c, egui::OutputCommand::CopyText(_)))
    };
    let world = world().await;
    let mut harness = terminal(&world, "post-1", false);
    // Control: on the login screen, selecting the typed ID and copying it does reach the clipboard.
    harness.run();
    type_text(&mut harness, "op1");
    harness.key_press_modifiers(egui::Modifiers::COMMAND, Key::A);
    harness.event(egui::Event::Copy);
    harness.step();
    assert!(copied(&harness), "the control copy must reach the clipboard, or this test proves nothing");
    let mut harness = terminal(&world, "post-1", false);
    log_in(&mut harness, "op1");
    let (reading, _) = ordinary_reading(&world).await;
    // A resident's name in the search field, all selected, then Ctrl+C and Ctrl+X.
    assert_eq!(focused_label(&harness).as_deref(), Some("氏名（カナ・漢字）"));
    type_text(&mut harness, &reading);
    harness.key_press_modifiers(egui::Modifiers::COMMAND, Key::A);
    for event in [egui::Event::Copy, egui::Event::Cut] {
        harness.event(event);
        harness.step();
        assert!(!copied(&harness), "nothing may be copied out of a logged-in screen");
    }
    harness.run();
    assert!(notice_contains(harness.state(), "コピーできません"), "{:?}", harness.state().notice());
    assert!(screen_text(&harness).contains(&reading), "a refused cut changes nothing");
}

/// A supervisor sees today's figures with the bars of cases per post, types the counts blind, and the close of a
/// day with a missing ¥300 is refused until the explanation is typed; then it is closed with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_sees_todays_figures_and_the_close_waits_for_the_explanation_of_a_mismatch() {
    let world = world().await;
    add_supervisor(&world).await;
    let (case_id, ..) = issued_case(&world).await;
    // The sheet prints (a day with a print still queued or unknown does not close).
    let printer = station_printer(&world);
    let printed = world.counter.print_worker("review-1", "test").print_next(&printer).await.expect("print");
    assert!(printed.is_some_and(|report| report.case_id == case_id));
    let sup = world.counter.login("sup1", "a-long-password", Role::Supervisor, "sup-pc").await.expect("sup1");
    world.counter.receive_paper(&sup, "review-1", 10).await.expect("paper");

    let mut harness = terminal(&world, "sup-pc", false);
    log_in(&mut harness, "sup1");
    wait_until(&mut harness, "today's report", |app| app.day_report().is_some());
    let report = harness.state().day_report().expect("report").clone();
    assert_eq!((report.issued, report.fees_yen), (1, 300));
    assert!(screen_text(&harness).contains("交付 1件（1通）"), "{}", screen_text(&harness));

    fill(&mut harness, &[("現金（post-1）", "0"), ("用紙残数（review-1）", "9")]);
    tab_to(&mut harness, "日計を締める");
    harness.key_press(Key::Enter);
    wait_until(&mut harness, "the refusal", |app| notice_contains(app, "記録と実数が合いません"));
    assert!(notice_contains(harness.state(), "現金（post-1）：記録 300、実数 0"), "{:?}", harness.state().notice());
    assert!(harness.state().day_closed().is_none());

    tab_to(&mut harness, "差異の理由");
    type_text(&mut harness, "釣銭の渡し誤り（申告済み）");
    tab_to(&mut harness, "日計を締める");
    harness.key_press(Key::Enter);
    wait_until(&mut harness, "the close", |app| app.day_closed().is_some());
    let closed = harness.state().day_closed().expect("closed").clone();
    assert_eq!(closed.explanation.as_deref(), Some("釣銭の渡し誤り（申告済み）"));
    assert!(notice_contains(harness.state(), "差異の理由を記録しました"));

    // The month so far opens on the same screen with the 月報's totals and charts.
    tab_to(&mut harness, "今月の月報");
    harness.key_press(Key::Enter);
    wait_until(&mut harness, "the month", |app| app.month_report().is_some());
    let month = harness.state().month_report().expect("month").clone();
    assert_eq!((month.from, month.until), (jiff::civil::date(2026, 11, 1), jiff::civil::date(2026, 11, 20)));
    assert_eq!((month.issued, month.fees_yen), (1, 300));
    let screen = screen_text(&harness);
    for text in ["月報（令和8年11月1日〜令和8年11月20日）", "交付件数：1件（1通）", "職員別の受付件数", "op1"]
    {
        assert!(screen.contains(text), "「{text}」 on the screen:\n{screen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_training_terminal_says_so_on_every_screen_and_a_live_one_does_not() {
    use madoguchi_core::mode::{ResidentSystemSetting, RunMode, counter_for_mode};
    let mut world = world().await;
    let live = world.counter.clone();
    let reference = ResidentSystemSetting::Reference(world._dir.path().join("residents.sqlite"));
    let profile = CertificateProfile::generated(madoguchi_core::sample::demo_issuer(), false).expect("profile");
    world.counter =
        counter_for_mode(RunMode::Training, live.store().clone(), &reference, world.clock.clone(), profile, "post-1")
            .await
            .expect("a training counter");
    let banner = "研修モード（見本印刷）";
    for login in ["op1", "rev1", "aud1", "adm1"] {
        let mut harness = terminal(&world, "post-1", false);
        harness.run();
        assert!(screen_text(&harness).contains(banner), "the login screen says 研修");
        log_in(&mut harness, login);
        harness.run();
        assert!(screen_text(&harness).contains(banner), "{login}'s screen says 研修");
    }
    world.counter = live;
    let mut harness = terminal(&world, "post-1", false);
    log_in(&mut harness, "op1");
    harness.run();
    assert!(!screen_text(&harness).contains("研修"), "a live terminal shows no training banner");
}

/// A paper 異動 notified by the household's first member, with the マイナンバーカード shown.
fn own_move_request(
    household: &backend_adapter::types::Household,
    entry: backend_adapter::types::MoveEntry,
) -> madoguchi_core::request::CounterRequest {
    use madoguchi_core::request::{
        CounterRequest, IdentityCheck, IdentityDocument, Requester, RequesterCategory, TaskRequest,
    };
    CounterRequest {
        requester: Requester {
            category: RequesterCategory::Self_,
            name: household.members[0].name.display(),
            address: household.address.display(),
            corporate_number: None,
            purpose: String::new(),
            identity: IdentityCheck { documents: vec![IdentityDocument::MyNumberCard], letter_of_attorney: false },
        },
        task: TaskRequest::Move { entry, special_card_procedure: false, card_move_out_planned_on: None },
        fee_exemption: None,
    }
}

/// Step the UI until the screen shows `text`.
fn wait_for_text(harness: &mut Harness<'_, TerminalApp>, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !screen_text(harness).contains(text) {
        assert!(Instant::now() < deadline, "timed out waiting for 「{text}」 on:\n{}", screen_text(harness));
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_reads_a_move_entry_approves_it_and_sees_it_wait_while_the_resident_system_is_down() {
    use backend_adapter::types::MoveEntry;
    let mut world = world().await;
    let household =
        world.residents.household(world.residents.household_ids(0, 1).await.expect("ids")[0]).await.expect("household");
    // This counter's resident system cannot be reached.
    let live = world.counter.clone();
    world.counter = Counter::new(
        live.store().clone(),
        Arc::new(backend_adapter::Disconnected),
        world.clock.clone(),
        live.profile().clone(),
    );
    let operator = world.counter.login("op1", "a-long-password", Role::Operator, "post-1").await.expect("login");
    let request = own_move_request(
        &household,
        MoveEntry::MoveWithin {
            persons: vec![household.head],
            new_address: household.address.clone(),
            moved_on: jiff::civil::date(2026, 11, 15),
            notified_on: jiff::civil::date(2026, 11, 20),
        },
    );
    let case_id = world.counter.open_case(&operator, request).await.expect("open");
    world.counter.prepare_and_submit(&operator, case_id).await.expect("hand over");

    let mut reviewer = terminal(&world, "review-1", false);
    log_in(&mut reviewer, "rev1");
    open_in_review(&mut reviewer, case_id);
    wait_until(&mut reviewer, "the entry", |app| app.reviewing().is_some_and(|(id, ..)| id == case_id));
    wait_for_text(&mut reviewer, "住民記録システムへ送る届出内容");
    let screen = screen_text(&reviewer);
    assert!(
        screen.contains("転居") && screen.contains(&format!("対象者（宛名番号）：{}", household.head.0)),
        "{screen}"
    );
    assert!(screen.contains("転居日：令和8年11月15日"), "{screen}");
    reviewer.key_press(Key::F9);
    wait_until(&mut reviewer, "approval", |app| {
        app.reviewing().is_some_and(|(_, state, _)| state == CaseState::Approved)
    });
    // The terminal's sender tries at once, cannot connect, and the status bar says so on every screen.
    wait_for_text(&mut reviewer, "住民記録へ送信待ち：1件（接続できないため再試行中）");
    let waiting = world.counter.store().outbox(true).await.expect("outbox");
    assert_eq!(waiting.len(), 1);
    assert!(waiting[0].attempts >= 1, "the sender tried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_settles_a_suspect_print_as_spoiled_and_voids_a_withdrawn_case_with_its_reason() {
    use madoguchi_core::store::{PrintJobFilter, PrintResolution};
    let world = world().await;
    let operator = world.counter.login("op1", "a-long-password", Role::Operator, "post-1").await.expect("login");
    let staff = world.staff().await;
    // Case A: issued; the worker that took its job died mid-send. Case B: handed over, then withdrawn.
    let (lost, output, _) = issued_case(&world).await;
    world.counter.store().claim_print_job("review-1", "a-dead-worker", world.clock.now_us()).await.expect("claim");
    let withdrawn = world.counter.open_case(&operator, copy_request(&world).await).await.expect("open");
    world.counter.prepare_and_submit(&operator, withdrawn).await.expect("hand over");

    // The reviewer's terminal finds the half-sent job at start and asks staff to look at the tray.
    let mut reviewer = terminal(&world, "review-1", true);
    log_in(&mut reviewer, "rev1");
    wait_until(&mut reviewer, "the suspect print", |app| app.prints_to_check().iter().any(|j| j.case_id == lost));
    wait_for_text(&mut reviewer, "印刷結果不明：プリンターのトレイを確認してください");
    assert!(world.printer.received().is_empty(), "a suspect job is never sent again by itself");
    tab_to(&mut reviewer, "損紙・取消の理由");
    type_text(&mut reviewer, "紙詰まりで印字が途切れた");
    reviewer.get_by_label(&format!("損紙・作成し直し（案件{lost}）")).click();
    reviewer.run();
    wait_until(&mut reviewer, "the spoil", |app| {
        app.notice().is_some_and(|n| n.text.contains("損紙として記録しました"))
    });
    wait_until(&mut reviewer, "the list to clear", |app| app.prints_to_check().is_empty());
    let jobs = world.counter.store().print_jobs(&PrintJobFilter::case(lost)).await.expect("jobs");
    assert_eq!(jobs[0].resolution, Some(PrintResolution::Spoiled { reason: "紙詰まりで印字が途切れた".into() }));
    let case = world.counter.store().case(&staff.actor, lost, 0).await.expect("case");
    assert_eq!(case.state, CaseState::Draft, "back to its post for a new number");
    // At the post, the operator makes it again: a new 発行番号, back in the review queue.
    let mut post = terminal(&world, "post-1", false);
    log_in(&mut post, "op1");
    wait_until(&mut post, "the post's list", |app| app.cases().iter().any(|c| c.id == lost));
    post.get_by_label(&format!("作成し直して回付（案件{lost}）")).click();
    post.run();
    wait_until(&mut post, "the new hand-over", |app| {
        app.cases().iter().any(|c| c.id == lost && c.state == CaseState::Submitted)
    });
    let (_, again) = world.counter.review(&staff, lost).await.expect("the new output");
    assert_ne!(again.issue_number, output.issue_number, "a new 発行番号 on the new sheet");

    // A void needs its reason: refused with the reason shown, then done with F7.
    open_in_review(&mut reviewer, withdrawn);
    wait_until(&mut reviewer, "the case", |app| app.reviewing().is_some_and(|(id, ..)| id == withdrawn));
    reviewer.key_press(Key::F7);
    wait_until(&mut reviewer, "the refusal", |app| {
        app.notice().is_some_and(|n| n.text.contains("理由を入力してください"))
    });
    tab_to(&mut reviewer, "損紙・取消の理由");
    type_text(&mut reviewer, "請求者が取り下げた");
    reviewer.key_press(Key::F7);
    wait_until(&mut reviewer, "the void", |app| app.notice().is_some_and(|n| n.text.contains("取り消しました")));
    let case = world.counter.store().case(&staff.actor, withdrawn, 0).await.expect("case");
    assert_eq!(case.state, CaseState::Voided);
    assert!(!reviewer.state().cases().iter().any(|c| c.id == withdrawn), "gone from the queue");
}

/// Register the supervisor sup1 (its grant approved by a second admin).
async fn add_supervisor(world: &World) {
    let admin = world.counter.login("admin", "admin-password-1", Role::Admin, "setup").await.expect("admin");
    let supervisor = NewUser {
        login_id: "sup1".into(),
        display_name: "責任 者".into(),
        password_hash: hash_password("a-long-password").expect("hash"),
        grants: vec![(Role::Supervisor, None)],
    };
    world.counter.create_user(&admin, supervisor).await.expect("supervisor");
    let second = world.counter.login("adm1", "a-long-password", Role::Admin, "setup").await.expect("second admin");
    for request in world.counter.grant_requests(&second, true).await.expect("pending") {
        world.counter.decide_grant(&second, request.id, true).await.expect("approve");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_on_a_training_terminal_sees_each_trainees_results() {
    use madoguchi_core::case::ReturnReason;
    use madoguchi_core::mode::{ResidentSystemSetting, RunMode, counter_for_mode};
    let mut world = world().await;
    add_supervisor(&world).await;
    let reference = ResidentSystemSetting::Reference(world._dir.path().join("residents.sqlite"));
    let profile = CertificateProfile::generated(madoguchi_core::sample::demo_issuer(), false).expect("profile");
    world.counter = counter_for_mode(
        RunMode::Training,
        world.counter.store().clone(),
        &reference,
        world.clock.clone(),
        profile,
        "post-1",
    )
    .await
    .expect("a training counter");
    // The trainee op1 hands a case over, has it returned for an entry error, and hands it over again.
    let trainee = world.operator().await;
    let staff = world.staff().await;
    let case_id = world.counter.open_case(&trainee, copy_request(&world).await).await.expect("open");
    world.counter.prepare_and_submit(&trainee, case_id).await.expect("hand over");
    world.counter.return_case(&staff, case_id, ReturnReason::EntryError).await.expect("return");
    let output = world.counter.prepare_and_submit(&trainee, case_id).await.expect("hand over again");
    world.counter.approve(&staff, case_id, output.sha256).await.expect("approve");

    let mut harness = terminal(&world, "sup-pc", false);
    log_in(&mut harness, "sup1");
    wait_for_text(&mut harness, "研修生の成績（職員別）");
    wait_for_text(&mut harness, "op1：受付 1件・審査依頼 1件・承認 1件・差戻し 1件");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_brought_back_is_found_by_its_issue_number_and_voided_with_its_fee_refunded() {
    let world = world().await;
    let (case_id, _, issued) = issued_case(&world).await;
    let printer = station_printer(&world);
    world.counter.print_worker("review-1", "test").print_next(&printer).await.expect("print").expect("printed");

    let mut reviewer = terminal(&world, "review-1", true);
    log_in(&mut reviewer, "rev1");
    // A number that was never issued is refused with the reason; a wrong character is flagged as it is typed.
    tab_to(&mut reviewer, "返納された証明書の発行番号");
    type_text(&mut reviewer, "12x");
    assert!(screen_text(&reviewer).contains("発行番号は数字で入力してください"), "{}", screen_text(&reviewer));
    for _ in 0..3 {
        reviewer.key_press(Key::Backspace);
    }
    type_text(&mut reviewer, "999999");
    reviewer.key_press(Key::Enter);
    wait_until(&mut reviewer, "the refusal", |app| notice_contains(app, "発行番号（999999）が見つかりません"));

    tab_to(&mut reviewer, "返納された証明書の発行番号");
    for _ in 0..6 {
        reviewer.key_press(Key::Backspace);
    }
    type_text(&mut reviewer, &format!("第{:06}号", issued.issue_number));
    reviewer.key_press(Key::Enter);
    wait_until(&mut reviewer, "the issued case", |app| {
        app.reviewing().is_some_and(|(id, state, _)| id == case_id && state == CaseState::Issued)
    });
    tab_to(&mut reviewer, "損紙・取消の理由");
    type_text(&mut reviewer, "請求内容の誤りにより返納");
    reviewer.key_press(Key::F7);
    wait_until(&mut reviewer, "the void", |app| notice_contains(app, "取り消しました（還付 300円、取消用紙 1枚）"));
    let case = world.counter.store().case(&world.staff().await.actor, case_id, 0).await.expect("case");
    assert_eq!(case.state, CaseState::Voided);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_approves_an_inquiry_letter_and_it_prints_at_once_on_plain_paper() {
    use madoguchi_core::request::{SealRegistrationPath, TaskRequest};
    let world = world().await;
    let (_, household) = ordinary_reading(&world).await;
    let registrant =
        world.residents.household(backend_adapter::types::HouseholdId(household)).await.expect("household").members[0]
            .id;
    let mut request = copy_request(&world).await;
    request.task =
        TaskRequest::Seal { person: registrant, path: SealRegistrationPath::Inquiry, registration_number: None };
    let operator = world.operator().await;
    let case_id = world.counter.open_case(&operator, request).await.expect("open");
    let output = world.counter.prepare_and_submit(&operator, case_id).await.expect("the letter");

    let mut reviewer = terminal(&world, "review-1", true);
    log_in(&mut reviewer, "rev1");
    open_in_review(&mut reviewer, case_id);
    wait_until(&mut reviewer, "the letter's preview", |app| {
        app.reviewing().is_some_and(|(id, _, preview)| id == case_id && preview)
    });
    reviewer.key_press(Key::F9);
    wait_until(&mut reviewer, "the letter printed", |app| {
        app.notice().is_some_and(|n| n.text.contains("照会書を印刷しました"))
    });
    // The approval queued it and the terminal printed it on the plain-paper tray: no 発行番号, nothing issued.
    let tray = TraySelection::new("TRAY1", 4, 3).expect("plain tray");
    let expected =
        wrap_job(&format!("C{case_id}-INQUIRY"), PrinterLanguage::PdfInPjl, &tray, &output.bytes).expect("job");
    assert_eq!(world.printer.received(), expected, "the printer received the approved letter, once, on plain paper");
    assert!(world.counter.store().issuances(case_id).await.expect("issuances").is_empty());
    // The queue after a fresh login: another post's certificate waits; the approved, printed letter does not.
    let waiting = world.counter.open_case(&operator, copy_request(&world).await).await.expect("open");
    world.counter.prepare_and_submit(&operator, waiting).await.expect("hand over");
    reviewer.key_press(Key::F12);
    wait_until(&mut reviewer, "logout", |app| app.session().is_none());
    log_in(&mut reviewer, "rev1");
    wait_for_text(&mut reviewer, &format!("案件{waiting}　post-1"));
    assert!(
        !screen_text(&reviewer).contains(&format!("案件{case_id}　post-1")),
        "an approved, printed letter does not wait in the review queue:\n{}",
        screen_text(&reviewer)
    );
    let staff = world.staff().await;
    let inquiry = world.counter.send_inquiry(&operator, case_id).await.expect("mailed");
    assert_eq!(inquiry.deadline, jiff::civil::date(2026, 12, 20), "the ward's 30 days, as printed");
    assert_eq!(world.counter.inquiries(&staff, true).await.expect("pending").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_takes_a_seal_registration_by_inquiry_records_the_letter_mailed_and_accepts_the_answer() {
    let world = world().await;
    let (reading, _) = ordinary_reading(&world).await;
    let mut post = terminal(&world, "post-1", false);
    log_in(&mut post, "op1");
    let before = post.state().submitted();
    choose_first_hit(&mut post, &reading);
    assert_eq!(focused_label(&post).as_deref(), Some("住民票の写し（世帯）"), "the form starts at its task");
    tick(&mut post, "印鑑登録（照会書）");
    wait_for_text(&mut post, "照会書兼回答書を登録者の住所へ郵送します");
    assert!(post.query_by_label("通数").is_none(), "a seal registration has no copies or items");
    tick(&mut post, "運転免許証");
    post.key_press(Key::F9);
    wait_until(&mut post, "hand-over", |app| app.submitted() > before);
    wait_until(&mut post, "the case in the post's list", |app| {
        app.cases().iter().any(|c| c.kind == "seal-registration" && c.state == CaseState::Submitted)
    });
    let case_id = post.state().cases().iter().find(|c| c.kind == "seal-registration").map(|c| c.id).expect("case");
    wait_for_text(&mut post, &format!("案件{case_id}　印鑑登録　"));

    // Review approves the letter and the review station prints it.
    let staff = world.staff().await;
    let (_, letter) = world.counter.review(&staff, case_id).await.expect("the letter");
    assert_eq!(letter.media_type, madoguchi_core::inquiry::INQUIRY_LETTER_MEDIA_TYPE);
    world.counter.approve(&staff, case_id, letter.sha256).await.expect("approve");
    let printed = world.counter.print_worker("review-1", "w").print_next(&station_printer(&world)).await;
    assert_eq!(printed.expect("print").expect("the letter").state, madoguchi_core::store::PrintJobState::Printed);

    // The post records it mailed, then accepts the 回答書.
    wait_for_text(&mut post, &format!("照会書の発送を記録（案件{case_id}）"));
    post.get_by_label(&format!("照会書の発送を記録（案件{case_id}）")).click();
    wait_until(&mut post, "mailed", |app| app.notice().is_some_and(|n| n.text.contains("発送を記録しました")));
    assert!(
        post.state().notice().is_some_and(|n| n.text.contains("回答期限 令和8年12月20日")),
        "{:?}",
        post.state().notice()
    );
    wait_for_text(&mut post, "照会：回答待ち（回答期限 令和8年12月20日）");
    post.get_by_label(&format!("回答書を受理（案件{case_id}）")).click();
    wait_until(&mut post, "answer", |app| app.notice().is_some_and(|n| n.text.contains("回答書を受理しました")));
    let inquiries = world.counter.inquiries(&staff, false).await.expect("inquiries");
    assert_eq!(inquiries[0].state, madoguchi_core::inquiry::InquiryState::Answered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_hands_over_a_certificate_of_items_for_the_chosen_person_by_keyboard() {
    use madoguchi_core::request::{CertificateKind, TaskRequest};
    let world = world().await;
    let (reading, _) = ordinary_reading(&world).await;
    let mut post = terminal(&world, "post-1", false);
    log_in(&mut post, "op1");
    let before = post.state().submitted();
    choose_first_hit(&mut post, &reading);
    let chosen = post.state().search_results()[0].clone();
    tick(&mut post, "記載事項証明書");
    tick(&mut post, "運転免許証");
    tick(&mut post, "旧氏");
    post.key_press(Key::F9);
    wait_until(&mut post, "hand-over", |app| app.submitted() > before);
    let case_id = {
        wait_until(&mut post, "the case in the post's list", |app| {
            app.cases().iter().any(|c| c.kind == CertificateKind::ResidentRecordItems.as_str())
        });
        post.state().cases()[0].id
    };
    let staff = world.staff().await;
    let (case, output) = world.counter.review(&staff, case_id).await.expect("review");
    let TaskRequest::Certificate(certificate) = &case.request.task else { panic!("{:?}", case.request.task) };
    assert_eq!(certificate.kind, CertificateKind::ResidentRecordItems);
    assert_eq!(certificate.persons, vec![chosen.id], "the chosen person only");
    assert!(certificate.items.former_family_name, "the item asked for");
    assert!(output.issue_number.is_some(), "a certificate takes its 発行番号");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_reads_a_residents_my_number_card_and_the_search_finds_them_without_the_number_on_screen() {
    let world = world().await;
    let (_, household) = ordinary_reading(&world).await;
    let household = world.residents.household(backend_adapter::types::HouseholdId(household)).await.expect("household");
    let resident = household.members[0].clone();
    let card = madoguchi_app::device_check::simulated_card_of(&resident, &household);
    let idle = madoguchi_core::guard::DEFAULT_IDLE_LIMIT;
    let mut post = terminal_holding(&world, "post-1", false, idle, Some(card));
    log_in(&mut post, "op1");

    // A wrong PIN: the card's own answer, in Japanese, and nothing filled in.
    tab_to(&mut post, "カードの暗証番号（4桁）");
    type_text(&mut post, "9999");
    post.key_press(Key::F3);
    wait_until(&mut post, "the refusal", |app| app.notice().is_some_and(|n| n.error));
    assert!(post.state().notice().is_some_and(|n| n.text.contains("暗証番号")), "{:?}", post.state().notice());
    assert!(post.state().search_results().is_empty());

    tab_to(&mut post, "カードの暗証番号（4桁）");
    type_text(&mut post, madoguchi_app::device_check::SIMULATED_CARD_PIN);
    post.key_press(Key::F3);
    wait_until(&mut post, "the card's resident found", |app| {
        app.search_results().iter().any(|hit| hit.id == resident.id)
    });
    let screen = screen_text(&post);
    assert!(!screen.contains(resident.individual_number.as_str()), "the 個人番号 never reaches the screen");
    assert!(screen.contains(&resident.birth_date.to_string()), "the birth date fills the search: {screen}");
    // Choosing the resident: the card counts as the identity document checked.
    let name = post.state().search_results().iter().find(|hit| hit.id == resident.id).expect("hit").name.display();
    choose(&mut post, &name);
    wait_for_text(&mut post, "対象：");
    assert!(is_ticked(&post, "マイナンバーカード"), "the card is ticked as the identity document");
    let reads = world.audit_entries(madoguchi_core::audit::AuditAction::CardRead).await;
    assert_eq!(reads.len(), 1, "the successful read is recorded once; the refused PIN read nothing");
    assert!(!reads[0].detail.contains(resident.individual_number.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_case_is_corrected_at_its_post_and_handed_over_again_under_a_new_number() {
    use madoguchi_core::case::ReturnReason;
    use madoguchi_core::request::TaskRequest;
    let world = world().await;
    let (reading, _) = ordinary_reading(&world).await;
    let mut post = terminal(&world, "post-1", false);
    log_in(&mut post, "op1");
    let case_id = hand_over_by_keyboard(&mut post, &reading);
    let staff = world.staff().await;
    let (_, first) = world.counter.review(&staff, case_id).await.expect("review");
    world.counter.return_case(&staff, case_id, ReturnReason::WrongItems).await.expect("return");

    // The post opens it from its list: the form comes back filled, the resident is chosen again.
    wait_for_text(&mut post, &format!("修正して再回付（案件{case_id}）"));
    post.get_by_label(&format!("修正して再回付（案件{case_id}）")).click();
    wait_for_text(&mut post, &format!("案件{case_id}を修正中（差戻し理由：記載事項の選択誤り）"));
    wait_until(&mut post, "the resident's name searched", |app| !app.search_results().is_empty());
    let first_hit = post.state().search_results()[0].name.display();
    choose(&mut post, &first_hit);
    assert!(is_ticked(&post, "運転免許証"), "the identity documents come back as recorded");
    tick(&mut post, "世帯主・続柄");
    let before = post.state().submitted();
    post.key_press(Key::F9);
    wait_until(&mut post, "the corrected hand-over", |app| app.submitted() > before);

    let (case, second) = world.counter.review(&staff, case_id).await.expect("review again");
    assert_eq!(case.state, CaseState::Submitted);
    let TaskRequest::Certificate(certificate) = &case.request.task else { panic!("{:?}", case.request.task) };
    assert!(certificate.items.head_and_relationship, "the correction is what review sees now");
    assert_ne!(second.sha256, first.sha256);
    assert!(second.issue_number > first.issue_number, "a new 発行番号");
    assert_eq!(world.audit_entries(madoguchi_core::audit::AuditAction::CaseRevised).await.len(), 1);
    // Only a returned case is corrected: a second correction now is refused with the reason.
    let operator = world.operator().await;
    let err = world.counter.case_for_revision(&operator, case_id).await.expect_err("not returned now");
    assert!(err.message_ja().contains("差し戻された案件"), "{}", err.message_ja());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_gives_their_own_name_address_and_purpose_and_review_sees_them() {
    use madoguchi_core::request::RequesterCategory;
    let world = world().await;
    let (reading, _) = ordinary_reading(&world).await;
    let mut post = terminal(&world, "post-1", false);
    log_in(&mut post, "op1");
    let before = post.state().submitted();
    choose_first_hit(&mut post, &reading);
    tick(&mut post, "第三者");
    // The requester is not the resident: their own name and address are asked for, beside the fields.
    wait_for_text(&mut post, "請求者の氏名を入力してください");
    assert!(screen_text(&post).contains("請求者の住所を入力してください"), "{}", screen_text(&post));
    fill(&mut post, &[("請求者の氏名", "債権 回収"), ("請求者の住所", "東京都千代田区丸の内一丁目1番1号")]);
    tick(&mut post, "運転免許証");
    tab_to(&mut post, "請求事由");
    type_text(&mut post, "債権回収のため（契約書あり）");
    post.key_press(Key::F9);
    wait_until(&mut post, "hand-over", |app| app.submitted() > before);
    let case_id = post.state().cases().iter().map(|c| c.id).max().expect("case");
    let staff = world.staff().await;
    let (case, _) = world.counter.review(&staff, case_id).await.expect("review");
    let requester = &case.request.requester;
    assert_eq!(requester.category, RequesterCategory::ThirdPartyIndividual);
    assert_eq!(
        (requester.name.as_str(), requester.address.as_str()),
        ("債権 回収", "東京都千代田区丸の内一丁目1番1号")
    );
    assert_eq!(requester.purpose, "債権回収のため（契約書あり）");
}

/// Approve a handed-over case as rev1 (another person) through the counter, and wait until the terminals' outbox
/// sender has committed its entry to the resident system.
async fn approve_and_commit(world: &World, case_id: i64) {
    let staff = world.staff().await;
    let (_, output) = world.counter.review(&staff, case_id).await.expect("review");
    world.counter.approve(&staff, case_id, output.sha256).await.expect("approve");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !world.counter.store().outbox(true).await.expect("outbox").is_empty() {
        assert!(Instant::now() < deadline, "the entry of case {case_id} never reached the resident system");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The 異動 entry a case hands over.
async fn move_entry_of(world: &World, case_id: i64) -> (backend_adapter::types::MoveEntry, bool) {
    let staff = world.staff().await;
    let (case, _) = world.counter.review(&staff, case_id).await.expect("review");
    match case.request.task {
        madoguchi_core::request::TaskRequest::Move { entry, special_card_procedure, .. } => {
            (entry, special_card_procedure)
        }
        other => panic!("not a move: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_takes_a_move_within_the_ward_by_keyboard_and_once_approved_the_resident_system_has_it() {
    use backend_adapter::types::MoveEntry;
    let world = world().await;
    let (reading, household_id) = ordinary_reading(&world).await;
    let mut post = terminal(&world, "post-1", false);
    log_in(&mut post, "op1");
    choose_first_hit(&mut post, &reading);
    let chosen = post.state().search_results()[0].clone();
    tick(&mut post, "転居");
    // The household's members are listed (a recorded read) with the chosen person ticked as moving.
    wait_for_text(&mut post, "転居する人");
    let household = world.residents.household(backend_adapter::types::HouseholdId(household_id)).await.expect("hh");
    let chosen_member = household.members.iter().find(|m| m.id == chosen.id).expect("member");
    let chosen_label = format!("{}（{}）", chosen_member.name.display(), chosen_member.relationship);
    assert!(is_ticked(&post, &chosen_label), "the chosen person moves: {}", screen_text(&post));
    assert!(screen_text(&post).contains("届出日：令和8年11月20日"), "{}", screen_text(&post));
    let reads = world.audit_entries(madoguchi_core::audit::AuditAction::ResidentRead).await;
    assert!(
        reads.iter().any(|e| e.subject == format!("household:{}", backend_adapter::types::HouseholdId(household_id))),
        "the member list is a read: {:?}",
        reads.iter().map(|e| (&e.subject, &e.action)).collect::<Vec<_>>()
    );

    tick(&mut post, "運転免許証");
    // A date more than 14 days back is taken, with the reviewer told it is late; an address outside the ward is not.
    fill(&mut post, &[("転居年月日", "R8.10.1"), ("新しい住所の郵便番号", "100-0001")]);
    post.run();
    let screen = screen_text(&post);
    assert!(screen.contains("区内の郵便番号（7桁）を入力してください"), "{screen}");
    let before = post.state().submitted();
    post.key_press(Key::F9);
    post.run();
    assert_eq!(post.state().submitted(), before, "an address outside the ward is not handed over");
    assert!(post.state().notice().is_some_and(|n| n.error), "the operator is told why");

    // The right postal code fills the 町域; the 番地 is typed.
    tab_to(&mut post, "新しい住所の郵便番号");
    post.key_press_modifiers(egui::Modifiers::COMMAND, Key::A);
    type_text(&mut post, "160-0023");
    tab_to(&mut post, "番地・号");
    type_text(&mut post, "二丁目8番1号");
    post.run();
    let screen = screen_text(&post);
    assert!(screen.contains("届出期間（14日）を36日過ぎています"), "{screen}");
    let case_id = hand_over(&mut post);

    let (entry, special) = move_entry_of(&world, case_id).await;
    assert!(!special);
    let MoveEntry::MoveWithin { persons, new_address, moved_on, notified_on } = entry else { panic!("{entry:?}") };
    assert_eq!(persons, vec![chosen.id], "only the person ticked");
    assert_eq!(
        (new_address.prefecture.as_str(), new_address.city.as_str(), new_address.town.as_str()),
        ("東京都", "新宿区", "西新宿")
    );
    assert_eq!(new_address.block, "二丁目8番1号");
    assert_eq!((moved_on, notified_on), (jiff::civil::date(2026, 10, 1), jiff::civil::date(2026, 11, 20)));
    // The reviewer is told the notice is late.
    let mut reviewer = terminal(&world, "review-1", false);
    log_in(&mut reviewer, "rev1");
    open_in_review(&mut reviewer, case_id);
    wait_for_text(&mut reviewer, "届出期間を36日過ぎた届出です");

    approve_and_commit(&world, case_id).await;
    let moved = world.residents.person(chosen.id).await.expect("person");
    let now = world.residents.household(moved.household_id).await.expect("household");
    assert_eq!(now.address.display(), "東京都新宿区西新宿二丁目8番1号", "the resident system has the new address");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_out_by_card_needs_the_card_and_a_household_change_names_one_head() {
    use backend_adapter::types::MoveEntry;
    let world = world().await;
    // A household of two or more, to change its head.
    let mut found = None;
    for id in world.residents.household_ids(0, 80).await.expect("ids") {
        let household = world.residents.household(id).await.expect("household");
        if household.members.len() >= 2
            && household.members.iter().all(|m| !m.support_measure)
            && household.members[0].name.family_kana.is_some()
        {
            found = Some(household);
            break;
        }
    }
    let household = found.expect("a household of two");
    let head = &household.members[0];
    let second = &household.members[1];
    let reading = format!(
        "{}{}",
        head.name.family_kana.clone().unwrap_or_default(),
        head.name.given_kana.clone().unwrap_or_default()
    );
    let mut post = terminal(&world, "post-1", false);
    log_in(&mut post, "op1");
    choose_first_hit(&mut post, &reading);
    tick(&mut post, "転出");
    wait_for_text(&mut post, "転出する人");
    tick(&mut post, "運転免許証");
    fill(&mut post, &[("転出予定年月日", "令和8年12月10日"), ("転出先", "大阪府大阪市北区中之島一丁目3番")]);
    tick(&mut post, "特例転出");
    let screen = screen_text(&post);
    assert!(screen.contains("特例転出にはマイナンバーカードの提示が必要です"), "{screen}");
    let before = post.state().submitted();
    post.key_press(Key::F9);
    post.run();
    assert_eq!(post.state().submitted(), before, "no card, no 特例転出");
    tick(&mut post, "マイナンバーカード");
    assert!(!screen_text(&post).contains("特例転出にはマイナンバーカードの提示が必要です"));
    let case_id = hand_over(&mut post);
    let (entry, special) = move_entry_of(&world, case_id).await;
    assert!(special, "特例転出");
    let MoveEntry::MoveOut { persons, destination, planned_on, .. } = entry else { panic!("{entry:?}") };
    assert_eq!(persons, vec![head.id]);
    assert_eq!(destination, "大阪府大阪市北区中之島一丁目3番");
    assert_eq!(planned_on, jiff::civil::date(2026, 12, 10));

    // 世帯変更 of the same household: the second member becomes head; the former head's 続柄 must change too.
    choose_first_hit(&mut post, &reading);
    tick(&mut post, "世帯変更");
    wait_for_text(&mut post, "新しい世帯主を選び");
    tick(&mut post, "運転免許証");
    tick(&mut post, &format!("世帯主にする：{}", second.name.display()));
    let screen = screen_text(&post);
    assert!(screen.contains("世帯主は1人です"), "two heads are refused: {screen}");
    tab_to(&mut post, &format!("{}の続柄", head.name.display()));
    post.key_press_modifiers(egui::Modifiers::COMMAND, Key::A);
    type_text(&mut post, "夫");
    post.run();
    assert!(!screen_text(&post).contains("世帯主は1人です"), "{}", screen_text(&post));
    let case_id = hand_over(&mut post);
    let (entry, _) = move_entry_of(&world, case_id).await;
    let MoveEntry::HouseholdChange { household: changed, new_head, relationships, .. } = entry else {
        panic!("{entry:?}")
    };
    assert_eq!((changed, new_head), (household.id, second.id));
    let of = |id| relationships.iter().find(|c| c.person == id).map(|c| c.relationship.clone());
    assert_eq!(of(second.id).as_deref(), Some("世帯主"));
    assert_eq!(of(head.id).as_deref(), Some("夫"));
    approve_and_commit(&world, case_id).await;
    let now = world.residents.household(household.id).await.expect("household");
    assert_eq!(now.head, second.id, "the resident system has the new head");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_arrival_moves_in_to_a_new_household_without_a_search() {
    use backend_adapter::types::{MoveEntry, SearchQuery};
    let world = world().await;
    let mut post = new_arrival_form(&world);
    assert_eq!(focused_label(&post).as_deref(), Some("1人目の氏"), "F4 starts at the first newcomer's name");
    fill(
        &mut post,
        &[
            ("1人目の氏", "転入"),
            ("1人目の名", "花子"),
            ("1人目の氏のフリガナ", "てんにゅう"),
            ("1人目の名のフリガナ", "はなこ"),
            ("1人目の生年月日", "平成2年4月1日"),
        ],
    );
    tick(&mut post, "1人目：女");
    fill(
        &mut post,
        &[
            ("1人目の本籍", "大阪府大阪市北区中之島一丁目3番"),
            ("1人目の筆頭者", "転入 花子"),
            ("転入年月日", "R8.11.16"),
            ("新しい住所の郵便番号", "1600023"),
            ("番地・号", "二丁目8番1号"),
            ("方書", "都庁ハイツ101"),
            ("転入前の住所", "大阪府大阪市北区中之島一丁目3番"),
        ],
    );
    tick(&mut post, "マイナンバーカード");
    tick(&mut post, "特例転入");
    // 特例転入 rests on the 転出証明書情報: its 転出予定年月日 is required and at most 30 days back.
    let planned = "転出予定年月日（転出証明書情報）";
    wait_for_text(&mut post, "転出証明書情報の転出予定年月日を入力してください");
    tab_to(&mut post, planned);
    type_text(&mut post, "R8.10.1");
    wait_for_text(&mut post, "特例転入は転出予定年月日から30日以内に限ります");
    post.key_press(Key::F9);
    post.run();
    assert_eq!(post.state().submitted(), 0, "not handed over past the 30 days");
    post.key_press_modifiers(egui::Modifiers::COMMAND, Key::A);
    type_text(&mut post, "R8.11.10");
    assert!(!screen_text(&post).contains("30日以内"), "{}", screen_text(&post));
    let case_id = hand_over(&mut post);
    let (entry, special) = move_entry_of(&world, case_id).await;
    assert!(special, "特例転入");
    let (case, _) = world.counter.review(&world.staff().await, case_id).await.expect("review");
    let madoguchi_core::request::TaskRequest::Move { card_move_out_planned_on, .. } = case.request.task else {
        panic!("a 異動")
    };
    assert_eq!(card_move_out_planned_on, Some(jiff::civil::date(2026, 11, 10)));
    let MoveEntry::MoveIn { persons, address, household, .. } = entry else { panic!("{entry:?}") };
    assert_eq!(household, backend_adapter::types::HouseholdTarget::New);
    assert_eq!(persons.len(), 1);
    assert_eq!(persons[0].name.family_kana.as_deref(), Some("テンニュウ"), "フリガナ typed in hiragana is katakana");
    assert_eq!(persons[0].relationship, "世帯主", "a new household's first person is its head");
    assert_eq!(persons[0].sex, backend_adapter::types::Sex::Female);
    assert_eq!(address.building.as_deref(), Some("都庁ハイツ101"));
    let staff = world.staff().await;
    let (case, _) = world.counter.review(&staff, case_id).await.expect("review");
    assert_eq!(case.request.requester.name, "転入\u{3000}花子", "the new arrival asks for themselves");

    approve_and_commit(&world, case_id).await;
    let hits = world
        .residents
        .search(&SearchQuery {
            name_prefix: Some("テンニュウハナコ".into()), limit: 5, ..SearchQuery::default()
        })
        .await
        .expect("search");
    assert_eq!(hits.len(), 1, "the resident system has the new arrival");
    assert_eq!(hits[0].address.display(), "東京都新宿区西新宿二丁目8番1号\u{3000}都庁ハイツ101");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_needs_the_letter_of_attorney_and_a_corporation_its_checked_corporate_number() {
    use madoguchi_core::request::RequesterCategory;
    let world = world().await;
    let (reading, _) = ordinary_reading(&world).await;
    let mut post = terminal(&world, "post-1", false);
    log_in(&mut post, "op1");
    choose_first_hit(&mut post, &reading);
    tick(&mut post, "任意代理人");
    fill(&mut post, &[("請求者の氏名", "代理 次郎"), ("請求者の住所", "東京都新宿区西新宿二丁目8番1号")]);
    tick(&mut post, "運転免許証");
    wait_for_text(&mut post, "任意代理人の請求には委任状が必要です");
    let before = post.state().submitted();
    post.key_press(Key::F9);
    post.run();
    assert_eq!(post.state().submitted(), before, "no 委任状, no hand-over");
    tick(&mut post, "委任状");
    assert!(!screen_text(&post).contains("委任状が必要です"), "{}", screen_text(&post));

    // The same requester as a corporation: its 法人番号 is checked digit by digit.
    tick(&mut post, "法人");
    wait_for_text(&mut post, "法人の請求では法人番号が必要です");
    tab_to(&mut post, "法人番号（13桁）");
    type_text(&mut post, "7000012050003");
    wait_for_text(&mut post, "検査用数字が一致しません");
    post.key_press_modifiers(egui::Modifiers::COMMAND, Key::A);
    type_text(&mut post, "7000012050002");
    tab_to(&mut post, "請求事由");
    type_text(&mut post, "契約者の住所確認のため");
    post.run();
    let screen = screen_text(&post);
    assert!(!screen.contains("法人番号が正しくありません") && !screen.contains("法人番号が必要です"), "{screen}");
    let case_id = hand_over(&mut post);
    let staff = world.staff().await;
    let (case, _) = world.counter.review(&staff, case_id).await.expect("review");
    let requester = &case.request.requester;
    assert_eq!(requester.category, RequesterCategory::ThirdPartyCorporation);
    assert_eq!(requester.corporate_number.as_deref(), Some("7000012050002"));
    assert!(!requester.identity.letter_of_attorney, "a corporation's request records no 委任状");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_post_opens_the_move_out_certificate_of_a_committed_paper_move_out_once() {
    use backend_adapter::types::MoveEntry;
    use madoguchi_core::request::CertificateKind;
    let world = world().await;
    let (_, household_id) = ordinary_reading(&world).await;
    let household = world.residents.household(backend_adapter::types::HouseholdId(household_id)).await.expect("hh");
    let operator = world.operator().await;
    let request = own_move_request(
        &household,
        MoveEntry::MoveOut {
            persons: vec![household.head],
            destination: "大阪府大阪市北区中之島一丁目3番".into(),
            planned_on: jiff::civil::date(2026, 12, 1),
            notified_on: jiff::civil::date(2026, 11, 20),
        },
    );
    let move_case = world.counter.open_case(&operator, request).await.expect("open");
    world.counter.prepare_and_submit(&operator, move_case).await.expect("hand over");

    let mut post = terminal(&world, "post-1", false);
    log_in(&mut post, "op1");
    approve_and_commit(&world, move_case).await;
    let button = format!("転出証明書を作成して回付（案件{move_case}）");
    wait_for_text(&mut post, &button);
    // The operator has started on the next resident: the list's hand-over leaves that alone.
    type_text(&mut post, "ヤマダ");
    let before = post.state().submitted();
    choose(&mut post, &button);
    wait_until(&mut post, "hand-over", |app| app.submitted() > before);
    let search = post.query_by_label("氏名（カナ・漢字）").and_then(|node| node.accesskit_node().value());
    assert_eq!(search.as_deref(), Some("ヤマダ"), "the search being typed is kept");
    wait_until(&mut post, "the certificate in the post's list", |app| {
        app.cases().iter().any(|c| c.move_case == Some(move_case))
    });
    post.run();
    assert!(!screen_text(&post).contains(&button), "a 転出 has one certificate: {}", screen_text(&post));
    let certificate = post.state().cases().iter().find(|c| c.move_case == Some(move_case)).expect("case").clone();
    assert_eq!(certificate.kind, CertificateKind::MoveOutCertificate.as_str());
    assert_eq!(certificate.state, CaseState::Submitted, "handed over to review");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_reads_the_seal_card_with_f5_and_hands_over_a_seal_certificate() {
    use madoguchi_core::request::TaskRequest;
    let world = world().await;
    let number = world.residents.seal_numbers(1).await.expect("seals").remove(0);
    let seal = world.residents.seal_by_number(&number).await.expect("seal");
    let registrant = world.residents.person(seal.person_id).await.expect("person");
    let reading = format!(
        "{}{}",
        registrant.name.family_kana.clone().unwrap_or_default(),
        registrant.name.given_kana.clone().unwrap_or_default()
    );
    let seal_card = vec![backend::Command::PlaceSimulatedSealCard(number.clone())];
    let mut post = terminal_given(&world, "post-1", false, madoguchi_core::guard::DEFAULT_IDLE_LIMIT, seal_card);
    log_in(&mut post, "op1");
    choose_first_hit(&mut post, &reading);
    let chosen = post.state().search_results()[0].clone();
    assert_eq!(chosen.id, registrant.id, "the registrant is found by name");
    tick(&mut post, "印鑑登録証明書");
    tick(&mut post, "運転免許証");
    // No card yet: the number is asked for beside its field and nothing is handed over.
    wait_for_text(&mut post, "登録番号は印鑑登録証から読み取るか、数字で入力してください");
    post.key_press(Key::F5);
    wait_until(&mut post, "the card", |app| {
        app.notice().is_some_and(|n| n.text.contains("印鑑登録証を読み取りました"))
    });
    assert!(!screen_text(&post).contains("登録番号は印鑑登録証から"), "{}", screen_text(&post));
    let case_id = hand_over(&mut post);
    let staff = world.staff().await;
    let (case, output) = world.counter.review(&staff, case_id).await.expect("review");
    let TaskRequest::Seal { person, registration_number, .. } = &case.request.task else { panic!("{case:?}") };
    assert_eq!((*person, registration_number.as_deref()), (registrant.id, Some(number.as_str())));
    assert!(output.issue_number.is_some(), "a 印鑑登録証明書 takes its 発行番号");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_resident_moves_in_with_the_items_of_the_residence_card() {
    use backend_adapter::types::{MoveEntry, Registry};
    let world = world().await;
    let mut post = new_arrival_form(&world);
    tick(&mut post, "1人目：外国人住民");
    fill(
        &mut post,
        &[
            ("1人目の生年月日", "1995-07-14"),
            ("1人目の氏名（アルファベット）", "NGUYEN VAN AN"),
            ("1人目の国籍・地域", "ベトナム"),
            ("1人目の在留資格", "技術・人文知識・国際業務"),
            ("1人目の在留期間満了日", "2026-10-31"),
            ("1人目の在留カード番号", "ab1234567cd"),
            ("1人目の通称（任意）", "グエン　アン"),
            ("転入年月日", "R8.11.18"),
            ("新しい住所の郵便番号", "1600023"),
            ("番地・号", "二丁目8番1号"),
            ("転入前の住所", "大阪府大阪市北区中之島一丁目3番"),
        ],
    );
    tick(&mut post, "在留カード");
    post.run();
    let screen = screen_text(&post);
    assert!(screen.contains("在留カード番号は英字2桁・数字8桁・英字2桁です"), "{screen}");
    assert!(screen.contains("在留期間が転入年月日より前に満了しています"), "{screen}");
    for (label, text) in [("1人目の在留期間満了日", "2029-10-31"), ("1人目の在留カード番号", "ab12345678cd")]
    {
        tab_to(&mut post, label);
        post.key_press_modifiers(egui::Modifiers::COMMAND, Key::A);
        type_text(&mut post, text);
    }
    let case_id = hand_over(&mut post);
    let (entry, _) = move_entry_of(&world, case_id).await;
    let MoveEntry::MoveIn { persons, .. } = entry else { panic!("{entry:?}") };
    assert_eq!(persons[0].name.alphabet.as_deref(), Some("NGUYEN VAN AN"));
    assert_eq!(persons[0].name.common_name.as_deref(), Some("グエン　アン"), "the 通称 asked for");
    assert_eq!(
        persons[0].registry,
        Registry::Foreign {
            nationality: "ベトナム".into(),
            residence_status: "技術・人文知識・国際業務".into(),
            residence_expires_on: jiff::civil::date(2029, 10, 31),
            residence_card_number: "AB12345678CD".into(),
        },
        "the card number is kept in capitals"
    );
    approve_and_commit(&world, case_id).await;
    let hits = world
        .residents
        .search(&backend_adapter::types::SearchQuery {
            name_prefix: Some("NGUYEN".into()),
            limit: 5,
            ..backend_adapter::types::SearchQuery::default()
        })
        .await
        .expect("search");
    assert!(hits.iter().any(|h| h.name.display() == "NGUYEN VAN AN"), "the resident system has them: {hits:?}");
}
