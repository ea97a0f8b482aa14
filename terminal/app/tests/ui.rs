//! The terminal driven through its accessibility tree with egui_kittest, keyboard first: an operator serves a
//! resident and hands a 住民票の写し over, a different person approves it and it prints on the printer model; a
//! return reaches the operator's list with its coded reason; an IME conversion's Enter never submits. Every frame
//! also checks that each visible input has an accessible name and that no character lacks a glyph (kittest
//! panics on either).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backend_adapter::ReferenceResidentSystem;
use backend_adapter::ResidentSystem as _;
use backend_adapter::reference::{GenerationOptions, generate};
use devices::pjl::{PrinterLanguage, TraySelection, wrap_job};
use devices::usb_printer::{PrinterClassIo, UsbPrinter, UsbPrinterModel};
use egui::Key;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use madoguchi_app::ui::{TerminalApp, backend, install_theme};
use madoguchi_core::auth::{Role, hash_password};
use madoguchi_core::case::CaseState;
use madoguchi_core::certificate::CertificateProfile;
use madoguchi_core::clock::SystemClock;
use madoguchi_core::counter::Counter;
use madoguchi_core::store::{NewUser, SqliteStore, Store};

struct World {
    counter: Counter,
    residents: Arc<ReferenceResidentSystem>,
    printer: UsbPrinterModel,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("dir");
    let residents_path = dir.path().join("residents.sqlite");
    generate(&residents_path, GenerationOptions { seed: 21, households: 80 }, &|_, _| {}).await.expect("generate");
    let residents = Arc::new(ReferenceResidentSystem::open(&residents_path).await.expect("residents"));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("store.sqlite")).await.expect("store"));
    let admin = NewUser {
        login_id: "admin".into(),
        display_name: "管理者".into(),
        password_hash: hash_password("admin-password-1").expect("hash"),
        grants: vec![(Role::Admin, None)],
    };
    store.initialize(admin, "setup", jiff::Timestamp::now().as_microsecond()).await.expect("init");
    let profile = CertificateProfile::generated(madoguchi_core::sample::demo_issuer(), true).expect("profile");
    let counter = Counter::new(store, residents.clone(), Arc::new(SystemClock), profile);
    let admin = counter.login("admin", "admin-password-1", Role::Admin, "setup").await.expect("admin");
    for (login, name, role) in [("op1", "窓口 花子", Role::Operator), ("rev1", "審査 一郎", Role::Reviewer)] {
        let user = NewUser {
            login_id: login.into(),
            display_name: name.into(),
            password_hash: hash_password("a-long-password").expect("hash"),
            grants: vec![(role, None)],
        };
        counter.create_user(&admin, user).await.expect("user");
    }
    let printer = UsbPrinterModel::new("MFG:Test;MDL:CertPrinter;CMD:PJL,PDF;CLS:PRINTER;");
    World { counter, residents, printer, _dir: dir }
}

fn terminal(world: &World, station: &str, with_printer: bool) -> Harness<'static, TerminalApp> {
    let printer: Option<backend::StationPrinter> = with_printer
        .then(|| Arc::new(Mutex::new(UsbPrinter::new(Box::new(world.printer.clone()) as Box<dyn PrinterClassIo>))));
    let backend =
        backend::spawn(world.counter.clone(), station, printer, devices::config::DeviceConfig::demo(), Arc::new(|| {}));
    let app = TerminalApp::new(backend, station, None);
    Harness::builder().with_size([1180.0, 820.0]).with_context_setup(install_theme).build_ui_state(
        |ui, app: &mut TerminalApp| {
            app.logic(ui.ctx());
            app.ui(ui);
        },
        app,
    )
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
    for _ in 0..60 {
        if focused_label(harness).is_some_and(|l| l.starts_with(label)) {
            return;
        }
        harness.key_press(Key::Tab);
        harness.run();
    }
    panic!("Tab never reached {label:?}; focused: {:?}", focused_label(harness));
}

fn type_text(harness: &mut Harness<'_, TerminalApp>, text: &str) {
    harness.event(egui::Event::Text(text.to_string()));
    harness.run();
}

fn log_in(harness: &mut Harness<'_, TerminalApp>, login: &str) {
    harness.run();
    assert_eq!(focused_label(harness).as_deref(), Some("利用者ID"), "the login screen starts in the ID field");
    type_text(harness, login);
    harness.key_press(Key::Enter);
    harness.run();
    assert_eq!(focused_label(harness).as_deref(), Some("パスワード"), "Enter advances to the next field");
    type_text(harness, "a-long-password");
    tab_to(harness, "ログイン");
    harness.key_press(Key::Enter);
    wait_until(harness, "login", |app| app.session().is_some());
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

/// The operator's keyboard-only path: search, choose, check ID, hand over. Returns the new case id.
fn hand_over_by_keyboard(harness: &mut Harness<'_, TerminalApp>, reading: &str) -> i64 {
    let before = harness.state().submitted();
    assert_eq!(focused_label(harness).as_deref(), Some("氏名（カナ・漢字）"), "the search field has the focus");
    type_text(harness, reading);
    harness.key_press(Key::F2);
    wait_until(harness, "search results", |app| !app.search_results().is_empty());
    let first = harness.state().search_results()[0].name.display();
    tab_to(harness, &first);
    harness.key_press(Key::Enter);
    harness.run();
    tab_to(harness, "運転免許証");
    harness.key_press(Key::Space);
    harness.run();
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
    wait_until(&mut reviewer, "the queue", |app| app.cases().iter().any(|c| c.id == case_id));
    tab_to(&mut reviewer, &format!("案件{case_id}　"));
    reviewer.key_press(Key::Enter);
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
    wait_until(&mut reviewer, "the queue", |app| app.cases().iter().any(|c| c.id == case_id));
    tab_to(&mut reviewer, &format!("案件{case_id}　"));
    reviewer.key_press(Key::Enter);
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
