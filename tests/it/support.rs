//! Shared test fixtures: fresh SQLite files, fresh PostgreSQL databases (skipped loudly when no server is
//! configured), a small generated population and demo users.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use backend_adapter::ReferenceResidentSystem;
use backend_adapter::reference::{GenerationOptions, generate};
use devices::job::{Delivery, JobOutcome};
use devices::status::DeviceStatus;
use madoguchi_core::auth::{Role, hash_password};
use madoguchi_core::certificate::{CertificateProfile, Issuer};
use madoguchi_core::clock::FixedClock;
use madoguchi_core::counter::{Counter, Session};
use madoguchi_core::print::{CertificatePrinter, Paper};
use madoguchi_core::store::{NewUser, PgStore, SqliteStore, Store};

/// The environment variable that names an administrative PostgreSQL URL for tests (set by `.ci/run`).
pub const PG_URL_VAR: &str = "MADOGUCHI_TEST_POSTGRES_URL";

/// Raw access to the database behind a store, for tests that bypass the application.
#[derive(Clone)]
pub enum RawDb {
    /// SQLite pool.
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL pool.
    Pg(sqlx::PgPool),
}

/// Run one raw SQL statement with binds on either backend; yields `Result<u64 rows, sqlx::Error>`.
#[macro_export]
macro_rules! raw_exec {
    ($db:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        match $db {
            $crate::support::RawDb::Sqlite(pool) => sqlx::query($sql)$(.bind($bind))*.execute(pool).await.map(|r| r.rows_affected()),
            $crate::support::RawDb::Pg(pool) => sqlx::query($sql)$(.bind($bind))*.execute(pool).await.map(|r| r.rows_affected()),
        }
    };
}

/// Fetch one i64 with raw SQL on either backend.
#[macro_export]
macro_rules! raw_i64 {
    ($db:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        match $db {
            $crate::support::RawDb::Sqlite(pool) => sqlx::query_scalar::<_, i64>($sql)$(.bind($bind))*.fetch_one(pool).await,
            $crate::support::RawDb::Pg(pool) => sqlx::query_scalar::<_, i64>($sql)$(.bind($bind))*.fetch_one(pool).await,
        }
    };
}

/// A store under test with its raw database handle and whatever keeps it alive.
pub struct TestStore {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Raw handle.
    pub raw: RawDb,
    _dir: Option<tempfile::TempDir>,
    pg_cleanup: Option<(String, String)>,
}

impl TestStore {
    /// A fresh SQLite store file.
    pub async fn sqlite() -> TestStore {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.sqlite");
        let store = SqliteStore::open(&path).await.expect("open sqlite store");
        let raw = RawDb::Sqlite(store.pool().clone());
        TestStore { store: Arc::new(store), raw, _dir: Some(dir), pg_cleanup: None }
    }

    /// A fresh PostgreSQL database, or `None` (with a loud message) when no server is configured.
    pub async fn postgres(test_name: &str) -> Option<TestStore> {
        let Ok(admin_url) = std::env::var(PG_URL_VAR) else {
            eprintln!("SKIPPED {test_name} on PostgreSQL: {PG_URL_VAR} is not set (CI sets it; see .ci/run)");
            return None;
        };
        let admin = sqlx::PgPool::connect(&admin_url).await.expect("connect to the PostgreSQL admin URL");
        let name = format!("madoguchi_t_{}_{}", std::process::id(), unique_suffix());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        let url = replace_database(&admin_url, &name);
        let dir = tempfile::tempdir().expect("temp dir for the data keys");
        let store = PgStore::connect(&url, &dir.path().join("data.keys")).await.expect("open postgres store");
        let raw = RawDb::Pg(store.pool().clone());
        Some(TestStore { store: Arc::new(store), raw, _dir: Some(dir), pg_cleanup: Some((admin_url, name)) })
    }

    /// Another handle on the same database, as a second terminal (or process) would open it.
    pub async fn second_terminal(&self) -> Arc<dyn Store> {
        let dir = self._dir.as_ref().expect("a test store keeps its folder");
        match &self.pg_cleanup {
            None => Arc::new(SqliteStore::open(&dir.path().join("store.sqlite")).await.expect("open sqlite store")),
            Some((admin_url, name)) => Arc::new(
                PgStore::connect(&replace_database(admin_url, name), &dir.path().join("data.keys"))
                    .await
                    .expect("open postgres store"),
            ),
        }
    }

    /// Drop the PostgreSQL test database (call at the end of a test).
    pub async fn cleanup(self) {
        if let RawDb::Pg(pool) = &self.raw {
            pool.close().await;
        }
        if let Some((admin_url, name)) = &self.pg_cleanup
            && let Ok(admin) = sqlx::PgPool::connect(admin_url).await
        {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .execute(&admin)
                .await
                .ok();
        }
    }
}

fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    u64::from(nanos) * 1000 + COUNTER.fetch_add(1, Ordering::SeqCst)
}

/// Replace the database name in a PostgreSQL URL.
pub fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let cut = base.rfind('/').filter(|i| *i > "postgres://".len()).unwrap_or(base.len());
    let mut out = format!("{}/{database}", &base[..cut]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A small generated population in a temp dir.
pub async fn residents(dir: &Path, households: u64) -> Arc<ReferenceResidentSystem> {
    let path: PathBuf = dir.join("residents.sqlite");
    generate(&path, GenerationOptions { seed: 7, households }, &|_, _| {}).await.expect("generate population");
    Arc::new(ReferenceResidentSystem::open(&path).await.expect("open residents"))
}

/// The fixed "now" of the tests: 2026-11-20 10:00 JST.
pub fn test_clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new("2026-11-20T01:00:00Z".parse().expect("timestamp")))
}

/// Test issuer.
pub fn issuer() -> Issuer {
    Issuer { municipality: "新宿区".into(), head_title: "新宿区長".into(), head_name: "試験 太郎".into() }
}

/// Users of the tests: (login, role, password).
pub const USERS: &[(&str, Role, &str)] = &[
    ("admin", Role::Admin, "admin-password-1"),
    ("admin2", Role::Admin, "admin-password-2"),
    ("op1", Role::Operator, "operator-pass-1"),
    ("op2", Role::Operator, "operator-pass-2"),
    ("rev1", Role::Reviewer, "reviewer-pass-1"),
    ("rev2", Role::Reviewer, "reviewer-pass-2"),
    ("aud1", Role::Auditor, "auditor-pass-01"),
    ("sup1", Role::Supervisor, "supervisor-pass1"),
];

/// Initialize the store with the test users and return a counter on it.
pub async fn counter_with_users(
    store: Arc<dyn Store>,
    residents: Arc<ReferenceResidentSystem>,
    clock: Arc<FixedClock>,
) -> Counter {
    let now = clock_now(&clock);
    let new_user = |(login, role, password): &(&str, Role, &str)| NewUser {
        login_id: (*login).into(),
        display_name: format!("{login}さん"),
        password_hash: hash_password(password).expect("hash"),
        grants: vec![(*role, None)],
    };
    // The store starts with two admins; every later grant is requested by one and approved by the other.
    let admins: Vec<NewUser> = USERS[..2].iter().map(new_user).collect();
    store.initialize(&admins, "setup", now).await.expect("initialize");
    let profile = CertificateProfile::generated(issuer(), false).expect("profile");
    let counter = Counter::new(store, residents, clock, profile);
    let admin = counter.login("admin", USERS[0].2, Role::Admin, "setup").await.expect("admin login");
    for user in &USERS[2..] {
        counter.create_user(&admin, new_user(user)).await.expect("create user");
    }
    approve_pending_grants(&counter).await;
    counter
}

fn clock_now(clock: &FixedClock) -> i64 {
    use madoguchi_core::clock::Clock as _;
    clock.now_us()
}

/// Log a test user in at a station.
pub async fn login(counter: &Counter, login: &str, station: &str) -> Session {
    let (_, role, password) = USERS.iter().find(|(l, ..)| *l == login).expect("known test user");
    counter.login(login, password, *role, station).await.expect("login")
}

/// The second admin approves every pending grant request (as the ward's second admin would).
pub async fn approve_pending_grants(counter: &Counter) {
    let second = counter.login("admin2", "admin-password-2", Role::Admin, "setup").await.expect("second admin");
    for request in counter.grant_requests(&second, true).await.expect("pending grants") {
        counter.decide_grant(&second, request.id, true).await.expect("approve grant");
    }
}

/// The reference resident system served over the HTTP contract on 127.0.0.1 by the real server, and a client for
/// it. The server stops when this is dropped.
pub struct HttpServer {
    /// A client of the contract pointed at the server.
    pub client: backend_adapter::http::HttpResidentSystem,
    /// The server's base URL.
    pub url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl HttpServer {
    pub async fn start(system: ReferenceResidentSystem) -> Self {
        Self::serving(Arc::new(system)).await
    }

    /// Serve any resident system (a counting wrapper, say).
    pub async fn serving(system: Arc<dyn backend_adapter::ResidentSystem>) -> Self {
        Self::serving_at("127.0.0.1:0", system).await
    }

    /// Serve on a given address (to bring a resident system back where its clients expect it).
    pub async fn serving_at(address: &str, system: Arc<dyn backend_adapter::ResidentSystem>) -> Self {
        let listener = tokio::net::TcpListener::bind(address).await.expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(backend_adapter::http::serve(listener, system, async move {
            let _ = stopped.await;
        }));
        let config = backend_adapter::http::HttpClientConfig::new(&url).expect("url");
        let client = backend_adapter::http::HttpResidentSystem::new(config).expect("client");
        HttpServer { client, url, _stop: stop }
    }
}

/// Generate `#[tokio::test]`s running `$behaviour` on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident => $behaviour:ident;)*) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let store = $crate::support::TestStore::sqlite().await;
                    super::$behaviour(&store).await;
                    store.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(store) = $crate::support::TestStore::postgres(stringify!($name)).await else { return };
                    super::$behaviour(&store).await;
                    store.cleanup().await;
                }
            )*
        }
    };
}

/// A printer that answers as told and keeps what it received, job by job.
pub struct ScriptedPrinter {
    /// The outcomes of the next jobs, in order (then every job is delivered).
    pub next: Vec<Delivery>,
    /// (job name, bytes that reached it) per job.
    pub received: Vec<(String, Vec<u8>)>,
    /// The paper each received job was sent to.
    pub papers: Vec<Paper>,
}

impl ScriptedPrinter {
    /// A printer that answers the next jobs with `next`, then delivers every job.
    pub fn new(next: Vec<Delivery>) -> Self {
        Self { next, received: Vec::new(), papers: Vec::new() }
    }
}

impl CertificatePrinter for ScriptedPrinter {
    fn send_job(&mut self, job_name: &str, paper: Paper, pdf: &[u8]) -> JobOutcome {
        let outcome = if self.next.is_empty() { Delivery::Delivered } else { self.next.remove(0) };
        let delivered = match outcome {
            Delivery::Delivered => pdf.len(),
            Delivery::NothingSent => 0,
            _ => pdf.len() / 2,
        };
        if delivered > 0 {
            self.received.push((job_name.to_string(), pdf[..delivered].to_vec()));
            self.papers.push(paper);
        }
        let status = if outcome == Delivery::NothingSent { DeviceStatus::NoPaper } else { DeviceStatus::Ready };
        JobOutcome { delivered, status, outcome }
    }

    fn status(&mut self) -> DeviceStatus {
        DeviceStatus::Ready
    }
}

/// A PDF's text as pdftotext reads it: in layout order, or (`raw`) in content order — the mode that keeps the
/// diagonal 「見本」 mark, which layout mode drops.
pub fn pdf_text(bytes: &[u8], raw: bool) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("output.pdf");
    std::fs::write(&path, bytes).expect("write");
    let mut args = vec![path.to_str().expect("path"), "-"];
    if raw {
        args.insert(0, "-raw");
    }
    let output = std::process::Command::new("pdftotext")
        .args(args)
        .output()
        .expect("pdftotext (poppler-utils) is needed for this test; .ci/run installs it");
    assert!(output.status.success(), "pdftotext: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

/// Text without any whitespace (pdftotext breaks lines and spaces where the layout put glyphs apart).
pub fn compact(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Whether a sheet carries the 「見本」 mark (drawn diagonally: pdftotext gives one glyph a line).
pub fn has_specimen_mark(pdf: &[u8]) -> bool {
    compact(&pdf_text(pdf, true)).contains("見本")
}
