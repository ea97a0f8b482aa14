//! Crash trials (issue 6, Must-show 2): a counter process (handing over, approving and issuing cases as fast as it
//! can) and the print worker (`madoguchi worker`, printing to the simulator, which keeps each job it receives as a
//! file) run against one store and are killed with SIGKILL at seeded random moments, in a seeded order; a fresh
//! worker then recovers and drains the queue, and the invariants are checked after every trial:
//! - the audit chain verifies;
//! - no approval or issuance the counter process saw committed is lost;
//! - no 発行番号 is issued twice, and every issuance has exactly one print job;
//! - no job is left `sending`; every job reached the printer at most once (one spool file at most);
//! - every spool file is a job of exactly one issuance, and every printed job's file is exactly its approved bytes.
//!
//! `MADOGUCHI_CRASH_TRIALS` (default 100 per backend; CI runs the default on SQLite and PostgreSQL: 200) and
//! `MADOGUCHI_CRASH_SEED` (default: from the clock; always printed) set the run:
//! `MADOGUCHI_CRASH_TRIALS=2000 MADOGUCHI_CRASH_SEED=7 cargo test -p madoguchi --test crash -- --nocapture`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use backend_adapter::ReferenceResidentSystem;
use backend_adapter::ResidentSystem as _;
use madoguchi_core::auth::{Role, hash_password};
use madoguchi_core::certificate::{CertificateProfile, Issuer};
use madoguchi_core::clock::SystemClock;
use madoguchi_core::counter::Counter;
use madoguchi_core::request::IdentityDocument;
use madoguchi_core::store::{NewUser, OpenMode, PrintJobState, Store, open_store, verify_audit_chain};
use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

const PG_URL_VAR: &str = "MADOGUCHI_TEST_POSTGRES_URL";
const ROLE_VAR: &str = "MADOGUCHI_CRASH_ROLE";
const TEST_NAME: &str = "kill_nine_trials_keep_every_invariant";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

async fn counter_on(database: &str, keys: &Path, residents: &Path) -> Counter {
    let store = open_store(database, OpenMode::CreateAndMigrate, Some(keys)).await.expect("store");
    let residents = Arc::new(ReferenceResidentSystem::open(residents).await.expect("residents"));
    let issuer = Issuer {
        municipality: "新宿区".into(), head_title: "新宿区長".into(), head_name: "試験 太郎".into()
    };
    let profile = CertificateProfile::generated(issuer, false).expect("profile");
    Counter::new(store, residents, Arc::new(SystemClock), profile)
}

/// The counter process: cases from request to issue, forever (until killed), each acknowledged step appended to
/// the journal file and synced before the next begins.
async fn churn() {
    let residents_path = PathBuf::from(env("MADOGUCHI_CRASH_RESIDENTS"));
    let counter =
        counter_on(&env("MADOGUCHI_CRASH_DATABASE"), Path::new(&env("MADOGUCHI_DATA_KEYS")), &residents_path).await;
    let residents = ReferenceResidentSystem::open(&residents_path).await.expect("residents");
    let mut journal =
        std::fs::OpenOptions::new().append(true).create(true).open(env("MADOGUCHI_CRASH_JOURNAL")).expect("journal");
    let mut note = |line: String| {
        journal.write_all(line.as_bytes()).expect("journal write");
        journal.sync_all().expect("journal sync");
    };
    let operator = counter.login("op1", "a-long-password", Role::Operator, "post-1").await.expect("operator");
    let reviewer = counter.login("rev1", "a-long-password", Role::Reviewer, "review-1").await.expect("reviewer");
    let mut households = Vec::new();
    for id in residents.household_ids(0, 40).await.expect("ids") {
        if residents.household(id).await.expect("household").members.iter().all(|m| !m.support_measure) {
            households.push(id);
        }
    }
    for household in households.iter().cycle() {
        let request = madoguchi_core::sample::own_household_copy_request(
            *household,
            "請求 太郎",
            "東京都新宿区西新宿二丁目8番1号",
            IdentityDocument::DriversLicence,
        );
        let case_id = counter.open_case(&operator, request).await.expect("open");
        counter.prepare_and_submit(&operator, case_id).await.expect("hand over");
        let (_, output) = counter.review(&reviewer, case_id).await.expect("review");
        counter.approve(&reviewer, case_id, output.sha256).await.expect("approve");
        note(format!("approved {case_id}\n"));
        let issuance = counter.issue(&reviewer, case_id, 1).await.expect("issue");
        note(format!("issued {case_id} {}\n", issuance.issue_number));
    }
}

/// Where the trials of one backend run.
struct Site {
    label: &'static str,
    database: String,
    keys: PathBuf,
    residents: PathBuf,
    spool: PathBuf,
    journal: PathBuf,
    raw: Raw,
    store: Arc<dyn Store>,
    counter: Counter,
    /// Printed jobs whose file was already compared with the approved bytes.
    checked: BTreeSet<i64>,
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Raw {
    async fn scalar(&self, sql: &str) -> i64 {
        let safe = || sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Raw::Sqlite(pool) => sqlx::query_scalar::<_, i64>(safe()).fetch_one(pool).await,
            Raw::Pg(pool) => sqlx::query_scalar::<_, i64>(safe()).fetch_one(pool).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    async fn issuances(&self) -> Vec<(i64, i64)> {
        let sql = "SELECT case_id, issue_number FROM issuances ORDER BY id";
        match self {
            Raw::Sqlite(pool) => sqlx::query_as::<_, (i64, i64)>(sql).fetch_all(pool).await,
            Raw::Pg(pool) => sqlx::query_as::<_, (i64, i64)>(sql).fetch_all(pool).await,
        }
        .expect("issuances")
    }
}

fn madoguchi(site: &Site, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_madoguchi"));
    command.args(args).env("MADOGUCHI_DATA_KEYS", &site.keys);
    command
}

/// A store with the counter's users, a population, a spool folder and a journal, under `dir`.
async fn site(label: &'static str, database: String, dir: &Path, raw: Raw) -> Site {
    let keys = dir.join("data.keys");
    let residents = dir.join("residents.sqlite");
    backend_adapter::reference::generate(
        &residents,
        backend_adapter::reference::GenerationOptions { seed: 3, households: 40 },
        &|_, _| {},
    )
    .await
    .expect("population");
    let store = open_store(&database, OpenMode::CreateAndMigrate, Some(&keys)).await.expect("store");
    let new_user = |login: &str, role: Role| NewUser {
        login_id: login.into(),
        display_name: login.into(),
        password_hash: hash_password("a-long-password").expect("hash"),
        grants: vec![(role, None)],
    };
    let admins = [new_user("admin", Role::Admin), new_user("admin2", Role::Admin)];
    store.initialize(&admins, "setup", jiff::Timestamp::now().as_microsecond()).await.expect("initialize");
    let counter = counter_on(&database, &keys, &residents).await;
    let admin = counter.login("admin", "a-long-password", Role::Admin, "setup").await.expect("admin");
    for (login, role) in [("op1", Role::Operator), ("rev1", Role::Reviewer)] {
        counter.create_user(&admin, new_user(login, role)).await.expect("user");
    }
    let second = counter.login("admin2", "a-long-password", Role::Admin, "setup").await.expect("second admin");
    for request in counter.grant_requests(&second, true).await.expect("pending") {
        counter.decide_grant(&second, request.id, true).await.expect("approve grant");
    }
    Site {
        label,
        database,
        keys,
        residents,
        spool: dir.join("spool"),
        journal: dir.join("journal.txt"),
        raw,
        store,
        counter,
        checked: BTreeSet::new(),
    }
}

fn spawn_churn(site: &Site) -> Child {
    Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads", "1"])
        .env(ROLE_VAR, "churn")
        .env("MADOGUCHI_CRASH_DATABASE", &site.database)
        .env("MADOGUCHI_DATA_KEYS", &site.keys)
        .env("MADOGUCHI_CRASH_RESIDENTS", &site.residents)
        .env("MADOGUCHI_CRASH_JOURNAL", &site.journal)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the counter process")
}

fn worker_args<'a>(site: &'a Site, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["worker", "--station", "review-1", "--database", &site.database];
    // A sheet takes 40 ms, so kills land mid-print as well as between jobs.
    args.extend(["--spool", site.spool.to_str().expect("utf-8 path"), "--sheet-ms", "40", "--poll-ms", "20"]);
    args.extend(extra);
    args
}

/// One trial: both processes run, both die by SIGKILL at seeded moments in a seeded order, a fresh worker
/// recovers and drains, the invariants are checked.
async fn trial(site: &mut Site, rng: &mut ChaCha8Rng) -> Result<(), String> {
    let mut churn = spawn_churn(site);
    let mut worker =
        madoguchi(site, &worker_args(site, &[])).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("worker");
    let first = Duration::from_millis(rng.random_range(30..700));
    let second = Duration::from_millis(rng.random_range(0..200));
    let worker_first = rng.random_range(0..2) == 0;
    tokio::time::sleep(first).await;
    let (a, b) = if worker_first { (&mut worker, &mut churn) } else { (&mut churn, &mut worker) };
    a.kill().ok();
    tokio::time::sleep(second).await;
    b.kill().ok();
    churn.wait().ok();
    worker.wait().ok();

    let out = madoguchi(site, &worker_args(site, &["--until-idle"])).output().expect("recovery worker");
    if !out.status.success() {
        return Err(format!("the recovery worker failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    check(site).await
}

async fn check(site: &mut Site) -> Result<(), String> {
    match verify_audit_chain(site.store.as_ref()).await {
        Ok(Ok(_)) => {}
        other => return Err(format!("the audit chain does not verify: {other:?}")),
    }
    let issuances = site.raw.issuances().await;
    let issued: BTreeMap<i64, i64> = issuances.iter().copied().collect();
    if site.raw.scalar("SELECT count(*) - count(DISTINCT issue_number) FROM issuances").await != 0 {
        return Err("a 発行番号 was issued twice".into());
    }
    let journal = std::fs::read_to_string(&site.journal).unwrap_or_default();
    // Only whole lines: a line the kill cut short was never acknowledged.
    let complete = &journal[..journal.rfind('\n').map_or(0, |end| end + 1)];
    for line in complete.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["approved", case] => {
                let case: i64 = case.parse().map_err(|_| format!("journal line {line:?}"))?;
                let sql = format!("SELECT count(*) FROM approvals WHERE case_id = {case}");
                if site.raw.scalar(&sql).await == 0 {
                    return Err(format!("the acknowledged approval of case {case} is lost"));
                }
            }
            ["issued", case, number] => {
                let case: i64 = case.parse().map_err(|_| format!("journal line {line:?}"))?;
                if issued.get(&case).map(ToString::to_string).as_deref() != Some(*number) {
                    return Err(format!("the acknowledged issuance of case {case} (発行番号 {number}) is lost"));
                }
            }
            _ => return Err(format!("journal line {line:?}")),
        }
    }
    let jobs = site.store.print_jobs(&Default::default()).await.map_err(|e| e.to_string())?;
    if jobs.len() != issuances.len() {
        return Err(format!("{} issuances but {} print jobs", issuances.len(), jobs.len()));
    }
    if let Some(job) = jobs.iter().find(|job| job.state == PrintJobState::Sending) {
        return Err(format!("job {} is still sending after recovery", job.id));
    }
    let job_of_case: BTreeMap<i64, &madoguchi_core::store::PrintJobRow> =
        jobs.iter().map(|job| (job.case_id, job)).collect();
    let mut files: BTreeMap<String, u32> = BTreeMap::new();
    for entry in std::fs::read_dir(&site.spool).map_err(|e| e.to_string())? {
        let name = entry.map_err(|e| e.to_string())?.file_name().to_string_lossy().into_owned();
        let (job_name, copy) = name
            .strip_suffix(".pjl")
            .and_then(|stem| stem.rsplit_once('.'))
            .ok_or_else(|| format!("unexpected spool file {name}"))?;
        if copy != "1" {
            return Err(format!("job {job_name} reached the printer more than once ({name})"));
        }
        *files.entry(job_name.to_string()).or_default() += 1;
        // C{case}-N{issue}: exactly one issuance, whose job is printed or suspect (never queued again).
        let (case, number) = job_name
            .strip_prefix('C')
            .and_then(|rest| rest.split_once("-N"))
            .and_then(|(case, number)| Some((case.parse::<i64>().ok()?, number.parse::<i64>().ok()?)))
            .ok_or_else(|| format!("unexpected job name {job_name}"))?;
        if issued.get(&case) != Some(&number) {
            return Err(format!("the printer received {job_name}, which matches no issuance"));
        }
        match job_of_case.get(&case).map(|job| job.state) {
            Some(PrintJobState::Printed | PrintJobState::Suspect) => {}
            other => return Err(format!("{job_name} reached the printer but its job is {other:?}")),
        }
    }
    let reviewer =
        site.counter.login("rev1", "a-long-password", Role::Reviewer, "check").await.map_err(|e| e.to_string())?;
    let tray = devices::pjl::TraySelection::new("TRAY2", 1, 0).map_err(|e| e.to_string())?;
    for job in jobs.iter().filter(|job| job.state == PrintJobState::Printed) {
        let number = issued[&job.case_id];
        let name = madoguchi_core::print::job_name(job.case_id, Some(number));
        if !files.contains_key(&name) {
            return Err(format!("job {} is recorded printed but the printer never received {name}", job.id));
        }
        if site.checked.insert(job.id) {
            let (_, output) = site.counter.review(&reviewer, job.case_id).await.map_err(|e| e.to_string())?;
            let expected = devices::pjl::wrap_job(&name, devices::pjl::PrinterLanguage::PdfInPjl, &tray, &output.bytes)
                .map_err(|e| e.to_string())?;
            let received = std::fs::read(site.spool.join(format!("{name}.1.pjl"))).map_err(|e| e.to_string())?;
            if received != expected {
                return Err(format!("the printer received other bytes for {name} than were approved"));
            }
        }
    }
    Ok(())
}

async fn run_trials(site: &mut Site, trials: u64, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for number in 1..=trials {
        if let Err(violation) = trial(site, &mut rng).await {
            panic!(
                "{}: trial {number} of {trials} (MADOGUCHI_CRASH_SEED={seed}) broke an invariant: {violation}",
                site.label
            );
        }
    }
    let jobs = site.store.print_jobs(&Default::default()).await.expect("jobs");
    let suspect = jobs.iter().filter(|job| job.state == PrintJobState::Suspect).count();
    println!(
        "{}: {trials} kill -9 trials, seed {seed}: {} cases issued, {} printed, {suspect} suspect (left for staff), 0 violations",
        site.label,
        jobs.len(),
        jobs.iter().filter(|job| job.state == PrintJobState::Printed).count(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_trials_keep_every_invariant() {
    if std::env::var(ROLE_VAR).is_ok() {
        churn().await;
        return;
    }
    let trials: u64 = std::env::var("MADOGUCHI_CRASH_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let seed: u64 = std::env::var("MADOGUCHI_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| jiff::Timestamp::now().as_microsecond().unsigned_abs());
    println!("crash trials: {trials} per backend, seed {seed} (repeat with MADOGUCHI_CRASH_SEED={seed})");

    let dir = tempfile::tempdir().expect("dir");
    let sqlite_dir = dir.path().join("sqlite");
    std::fs::create_dir_all(&sqlite_dir).expect("dir");
    let path = sqlite_dir.join("store.sqlite");
    let database = format!("sqlite://{}", path.display());
    let store =
        open_store(&database, OpenMode::CreateAndMigrate, Some(&sqlite_dir.join("data.keys"))).await.expect("store");
    drop(store);
    let raw = Raw::Sqlite(sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.expect("raw"));
    let mut sqlite = site("SQLite", database, &sqlite_dir, raw).await;
    run_trials(&mut sqlite, trials, seed).await;

    let Ok(admin_url) = std::env::var(PG_URL_VAR) else {
        eprintln!("SKIPPED crash trials on PostgreSQL: {PG_URL_VAR} is not set (CI sets it; see .ci/run)");
        return;
    };
    let admin = sqlx::PgPool::connect(&admin_url).await.expect("admin");
    let name = format!("madoguchi_crash_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&admin).await.ok();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.expect("create");
    let cut = admin_url.rfind('/').expect("a database in the URL");
    let url = format!("{}/{name}", &admin_url[..cut]);
    let pg_dir = dir.path().join("postgres");
    std::fs::create_dir_all(&pg_dir).expect("dir");
    let raw = Raw::Pg(sqlx::PgPool::connect(&url).await.expect("raw"));
    let mut postgres = site("PostgreSQL", url, &pg_dir, raw).await;
    run_trials(&mut postgres, trials, seed.wrapping_add(1)).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&admin).await.ok();
}
