//! The terminal's speed and memory, each beside a baseline measured in the same run:
//! - CPU time per frame of the reviewer's screen with 500 cases in the queue (target P99 ≤ 4 ms), beside the login
//!   screen's frame;
//! - process start to the login screen on a display (target ≤ 1 s), beside `madoguchi --version`;
//! - resident set size after login with the fonts loaded (target ≤ 150 MB), beside the same process at its login
//!   screen.
//!
//! `cargo bench -p madoguchi --bench terminal`. The second and third need Xvfb and xdotool; without them that part
//! says SKIPPED.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use backend_adapter::ReferenceResidentSystem;
use backend_adapter::ResidentSystem as _;
use backend_adapter::reference::{GenerationOptions, generate};
use cpu_time::ThreadTime;
use egui_kittest::Harness;
use madoguchi_app::ui::{TerminalApp, backend, install_theme};
use madoguchi_core::auth::{Role, hash_password};
use madoguchi_core::certificate::CertificateProfile;
use madoguchi_core::clock::SystemClock;
use madoguchi_core::counter::Counter;
use madoguchi_core::request::IdentityDocument;
use madoguchi_core::store::{NewUser, SqliteStore, Store};

const QUEUED_CASES: usize = 500;
const FRAMES: usize = 400;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn summary(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (percentile(&values, 0.5), percentile(&values, 0.99))
}

/// CPU time of this thread for each of `FRAMES` frames (logic and layout of the whole screen).
fn frame_times(harness: &mut Harness<'_, TerminalApp>) -> Vec<f64> {
    for _ in 0..20 {
        harness.step();
    }
    (0..FRAMES)
        .map(|_| {
            let start = ThreadTime::now();
            harness.step();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

fn terminal(counter: &Counter, station: &str) -> Harness<'static, TerminalApp> {
    let backend = backend::spawn(
        counter.clone(),
        station,
        None,
        devices::config::DeviceConfig::demo(),
        None,
        madoguchi_core::guard::DEFAULT_IDLE_LIMIT,
        Arc::new(|| {}),
    );
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

fn wait_until(harness: &mut Harness<'_, TerminalApp>, done: impl Fn(&TerminalApp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(harness.state()) {
        assert!(Instant::now() < deadline, "timed out; notice: {:?}", harness.state().notice());
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn log_in(harness: &mut Harness<'_, TerminalApp>, login: &str) {
    harness.step();
    harness.event(egui::Event::Text(login.to_string()));
    harness.key_press(egui::Key::Enter);
    harness.step();
    harness.event(egui::Event::Text("a-long-password".to_string()));
    harness.key_press(egui::Key::Enter);
    harness.step();
    harness.key_press(egui::Key::Enter);
    wait_until(harness, |app| app.session().is_some());
}

async fn reviewer_frames() {
    let dir = tempfile::tempdir().expect("dir");
    let residents_path = dir.path().join("residents.sqlite");
    generate(&residents_path, GenerationOptions { seed: 5, households: 200 }, &|_, _| {}).await.expect("generate");
    let residents = Arc::new(ReferenceResidentSystem::open(&residents_path).await.expect("residents"));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("store.sqlite")).await.expect("store"));
    let admins: Vec<NewUser> = ["admin", "admin2"]
        .into_iter()
        .map(|login| NewUser {
            login_id: login.into(),
            display_name: "管理者".into(),
            password_hash: hash_password("admin-password-1").expect("hash"),
            grants: vec![(Role::Admin, None)],
        })
        .collect();
    store.initialize(&admins, "setup", jiff::Timestamp::now().as_microsecond()).await.expect("init");
    let profile = CertificateProfile::generated(madoguchi_core::sample::demo_issuer(), true).expect("profile");
    let counter = Counter::new(store, residents.clone(), Arc::new(SystemClock), profile);
    let admin = counter.login("admin", "admin-password-1", Role::Admin, "setup").await.expect("admin");
    for (login, role) in [("op1", Role::Operator), ("rev1", Role::Reviewer)] {
        let user = NewUser {
            login_id: login.into(),
            display_name: "試験 利用者".into(),
            password_hash: hash_password("a-long-password").expect("hash"),
            grants: vec![(role, None)],
        };
        counter.create_user(&admin, user).await.expect("user");
    }
    let second = counter.login("admin2", "admin-password-1", Role::Admin, "setup").await.expect("second admin");
    for request in counter.grant_requests(&second, true).await.expect("pending") {
        counter.decide_grant(&second, request.id, true).await.expect("approve");
    }
    let operator = counter.login("op1", "a-long-password", Role::Operator, "post-1").await.expect("operator");
    let mut households = Vec::new();
    for id in residents.household_ids(0, 200).await.expect("ids") {
        if residents.household(id).await.expect("household").members.iter().all(|m| !m.support_measure) {
            households.push(id);
        }
    }
    eprint!("queueing {QUEUED_CASES} cases…");
    for i in 0..QUEUED_CASES {
        let request = madoguchi_core::sample::own_household_copy_request(
            households[i % households.len()],
            "請求 太郎",
            "東京都新宿区西新宿二丁目8番1号",
            IdentityDocument::DriversLicence,
        );
        let case_id = counter.open_case(&operator, request).await.expect("case");
        counter.prepare_and_submit(&operator, case_id).await.expect("submit");
    }
    eprintln!(" done");

    let mut login = terminal(&counter, "review-1");
    let (base_p50, base_p99) = summary(frame_times(&mut login));

    let mut reviewer = terminal(&counter, "review-1");
    log_in(&mut reviewer, "rev1");
    wait_until(&mut reviewer, |app| app.cases().len() >= QUEUED_CASES);
    let (p50, p99) = summary(frame_times(&mut reviewer));
    println!(
        "reviewer frame, {} cases queued: CPU P50 {p50:.3} ms, P99 {p99:.3} ms (target P99 ≤ 4 ms) | baseline login \
         screen frame: P50 {base_p50:.3} ms, P99 {base_p99:.3} ms | ratio P99 {:.2}×",
        reviewer.state().cases().len(),
        p99 / base_p99
    );
}

fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn have(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success())
}

/// Start the terminal on an Xvfb display: time to the login screen, then RSS there and after a login.
fn startup_and_memory() {
    if !have("Xvfb") || !have("xdotool") {
        println!("SKIPPED start-up and memory: Xvfb and xdotool are needed (apt-get install xvfb xdotool)");
        return;
    }
    let binary = env!("CARGO_BIN_EXE_madoguchi");
    let data = tempfile::tempdir().expect("dir");
    let display = ":96";
    let mut xvfb = Command::new("Xvfb")
        .args([display, "-screen", "0", "1180x820x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb");
    std::thread::sleep(Duration::from_secs(1));
    // First run: the demo generates its population (not part of a start-up).
    let status = Command::new(binary)
        .args(["demo", "--data-dir"])
        .arg(data.path())
        .stdout(Stdio::null())
        .status()
        .expect("demo");
    assert!(status.success());

    let mut version_ms = Vec::new();
    let mut startup_ms = Vec::new();
    let mut login_rss = 0;
    let mut after_login_rss = 0;
    for round in 0..5 {
        let start = Instant::now();
        let out = Command::new(binary).arg("--version").output().expect("version");
        assert!(out.status.success());
        version_ms.push(start.elapsed().as_secs_f64() * 1000.0);

        let start = Instant::now();
        let mut child = Command::new(binary)
            .args(["terminal", "--station", "review-1", "--data-dir"])
            .arg(data.path())
            .env("DISPLAY", display)
            .env("MADOGUCHI_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("terminal");
        let (lines_tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let wait_for = |what: &str| loop {
            let line = lines.recv_timeout(Duration::from_secs(30)).expect("the terminal kept running");
            if line.contains(what) {
                return;
            }
        };
        wait_for("login screen shown");
        startup_ms.push(start.elapsed().as_secs_f64() * 1000.0);
        if round == 0 {
            std::thread::sleep(Duration::from_millis(500));
            login_rss = resident_kib(child.id()).unwrap_or(0);
            let xdo = |args: &[&str]| {
                let status = Command::new("xdotool")
                    .args(args)
                    .env("DISPLAY", display)
                    .stdout(Stdio::null())
                    .status()
                    .expect("xdotool");
                assert!(status.success(), "xdotool {args:?}");
            };
            xdo(&["search", "--sync", "--name", "madoguchi"]);
            xdo(&["search", "--name", "madoguchi", "windowfocus", "--sync"]);
            xdo(&["type", "--delay", "30", "reviewer1"]);
            xdo(&["key", "Return"]);
            xdo(&["type", "--delay", "30", "demo-reviewer-1"]);
            xdo(&["key", "Return", "Return"]);
            wait_for("logged in");
            std::thread::sleep(Duration::from_secs(2));
            after_login_rss = resident_kib(child.id()).unwrap_or(0);
        }
        child.kill().ok();
        child.wait().ok();
    }
    xvfb.kill().ok();
    xvfb.wait().ok();
    let (version_p50, _) = summary(version_ms);
    let (startup_p50, _) = summary(startup_ms.clone());
    let worst = startup_ms.iter().copied().fold(0.0, f64::max);
    println!(
        "start to login screen: P50 {startup_p50:.0} ms, worst of 5 {worst:.0} ms (target ≤ 1000 ms) | baseline \
         `madoguchi --version`: {version_p50:.1} ms | ratio {:.1}×",
        startup_p50 / version_p50
    );
    println!(
        "resident set after login (reviewer screen, fonts loaded): {:.1} MiB = {:.1} MB (target ≤ 150 MB) | baseline \
         at the login screen: {:.1} MiB | ratio {:.2}×",
        after_login_rss as f64 / 1024.0,
        after_login_rss as f64 * 1024.0 / 1e6,
        login_rss as f64 / 1024.0,
        after_login_rss as f64 / login_rss.max(1) as f64
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(reviewer_frames());
    startup_and_memory();
}
