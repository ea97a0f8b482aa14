//! The `madoguchi` binary end to end: generate residents and initialize a store with the CLI, take a 住民票の写し
//! request through review to issue with the core, then `madoguchi audit verify` — which must pass, and must fail
//! naming the row after any one byte of any audit row is changed, a row is deleted or rows are swapped; with the
//! ward's signed checkpoint it must also catch a truncated or wholly recomputed log. Runs on SQLite and, when
//! configured, PostgreSQL.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use backend_adapter::ReferenceResidentSystem;
use backend_adapter::ResidentSystem as _;
use madoguchi_core::auth::{Role, hash_password};
use madoguchi_core::certificate::{CertificateProfile, Issuer};
use madoguchi_core::clock::SystemClock;
use madoguchi_core::counter::Counter;
use madoguchi_core::request::IdentityDocument;
use madoguchi_core::store::{NewUser, OpenMode, open_store};

const PG_URL_VAR: &str = "MADOGUCHI_TEST_POSTGRES_URL";

/// The data key file of a PostgreSQL test database (the CLI needs one; SQLite keeps its own beside the file).
fn pg_data_keys(database: &str) -> Option<std::path::PathBuf> {
    let name = database.strip_prefix("postgres://")?.rsplit('/').next()?;
    Some(std::env::temp_dir().join(format!("{name}.keys")))
}

fn madoguchi(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_madoguchi"));
    command.args(args);
    if let Some(keys) = args.windows(2).find(|pair| pair[0] == "--database").and_then(|pair| pg_data_keys(pair[1])) {
        command.env("MADOGUCHI_DATA_KEYS", keys);
    }
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().expect("run madoguchi")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A counter on a store `madoguchi init` made (admins admin/admin2), with `users` (password "a-long-password")
/// created by one admin and approved by the other.
async fn counter_with_users(
    store: Arc<dyn madoguchi_core::store::Store>,
    residents: Arc<ReferenceResidentSystem>,
    users: &[(&str, Role)],
) -> Counter {
    let issuer = Issuer {
        municipality: "新宿区".into(), head_title: "新宿区長".into(), head_name: "試験 太郎".into()
    };
    let profile = CertificateProfile::generated(issuer, false).expect("profile");
    let counter = Counter::new(store, residents, Arc::new(SystemClock), profile);
    let admin = counter.login("admin", "first-admin-pass", Role::Admin, "admin-pc").await.expect("admin login");
    for (login, role) in users {
        let user = NewUser {
            login_id: (*login).into(),
            display_name: (*login).into(),
            password_hash: hash_password("a-long-password").expect("hash"),
            grants: vec![(*role, None)],
        };
        counter.create_user(&admin, user).await.expect("create user");
    }
    let second = counter.login("admin2", "second-admin-pass", Role::Admin, "admin-pc").await.expect("second admin");
    for request in counter.grant_requests(&second, true).await.expect("pending") {
        counter.decide_grant(&second, request.id, true).await.expect("approve");
    }
    counter
}

/// Generate residents and initialize the store through the CLI, then run one case to issue through the core.
async fn issued_case(dir: &Path, database: &str) -> i64 {
    issued_case_for(dir, database, "請求 太郎").await
}

/// [`issued_case`] with the requester's name given (a canary for the erasure test).
async fn issued_case_for(dir: &Path, database: &str, requester_name: &str) -> i64 {
    let residents_path = dir.join("residents.sqlite");
    let residents_arg = residents_path.to_str().expect("utf-8 path");
    let out = madoguchi(&["residents", "generate", "--out", residents_arg, "--seed", "5", "--households", "60"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("60 households"), "{}", text(&out));

    let out = madoguchi(
        &["init", "--database", database],
        &[("MADOGUCHI_ADMIN_PASSWORD", "first-admin-pass"), ("MADOGUCHI_SECOND_ADMIN_PASSWORD", "second-admin-pass")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = madoguchi(&["init", "--database", database], &[]);
    assert!(out.status.success() && text(&out).contains("already has users"), "init is idempotent: {}", text(&out));

    let store =
        open_store(database, OpenMode::CreateAndMigrate, pg_data_keys(database).as_deref()).await.expect("open store");
    let residents = Arc::new(ReferenceResidentSystem::open(&residents_path).await.expect("residents"));
    let counter =
        counter_with_users(store, residents.clone(), &[("op1", Role::Operator), ("rev1", Role::Reviewer)]).await;
    let operator = counter.login("op1", "a-long-password", Role::Operator, "post-1").await.expect("operator");
    let reviewer = counter.login("rev1", "a-long-password", Role::Reviewer, "review-1").await.expect("reviewer");

    let mut household = None;
    for id in residents.household_ids(0, 60).await.expect("ids") {
        if residents.household(id).await.expect("household").members.iter().all(|m| !m.support_measure) {
            household = Some(id);
            break;
        }
    }
    let household = household.expect("an ordinary household");
    let request = madoguchi_core::sample::own_household_copy_request(
        household,
        requester_name,
        "東京都新宿区",
        IdentityDocument::MyNumberCard,
    );
    let case_id = counter.open_case(&operator, request).await.expect("open");
    counter.prepare_and_submit(&operator, case_id).await.expect("submit");
    let (_, output) = counter.review(&reviewer, case_id).await.expect("review");
    counter.approve(&reviewer, case_id, output.sha256).await.expect("approve");
    let issuance = counter.issue(&reviewer, case_id, 1).await.expect("issue");
    assert_eq!(issuance.issue_number, 1);
    case_id
}

/// The fields of an audit row; every row gets one of them changed, and over the rows every field is changed.
const FIELDS: &[&str] =
    &["station", "actor", "role", "action", "subject", "detail", "prev_hash", "entry_hash", "at_us"];

/// A field's stored value.
#[derive(Clone)]
enum Value {
    Text(String),
    Bytes(Vec<u8>),
    Int(i64),
}

impl Value {
    /// The same value with one bit of its first byte flipped (text stays ASCII, so stays valid UTF-8).
    fn with_one_byte_changed(&self) -> Value {
        match self {
            Value::Text(text) => {
                let mut bytes = text.clone().into_bytes();
                bytes[0] ^= 0x01;
                Value::Text(String::from_utf8(bytes).expect("ASCII first byte"))
            }
            Value::Bytes(bytes) => {
                let mut bytes = bytes.clone();
                bytes[0] ^= 0x01;
                Value::Bytes(bytes)
            }
            Value::Int(value) => Value::Int(value ^ 1),
        }
    }
}

macro_rules! on_pool {
    ($raw:expr, |$pool:ident| $body:expr) => {
        match $raw {
            Raw::Sqlite($pool) => $body,
            Raw::Pg($pool) => $body,
        }
    };
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Raw {
    async fn seqs(&self) -> Vec<i64> {
        on_pool!(self, |pool| sqlx::query_scalar("SELECT seq FROM audit_log ORDER BY seq").fetch_all(pool).await)
            .expect("seqs")
    }

    async fn read(&self, seq: i64, field: &str) -> Value {
        let sql = format!("SELECT {field} FROM audit_log WHERE seq = $1");
        if field == "at_us" {
            Value::Int(
                on_pool!(self, |pool| sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(seq).fetch_one(pool).await)
                    .expect("read"),
            )
        } else if field.ends_with("_hash") {
            Value::Bytes(
                on_pool!(self, |pool| sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(seq).fetch_one(pool).await)
                    .expect("read"),
            )
        } else {
            Value::Text(
                on_pool!(self, |pool| sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(seq).fetch_one(pool).await)
                    .expect("read"),
            )
        }
    }

    async fn write(&self, seq: i64, field: &str, value: &Value) {
        let sql = format!("UPDATE audit_log SET {field} = $1 WHERE seq = $2");
        let rows = match value {
            Value::Text(text) => on_pool!(self, |pool| sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(text)
                .bind(seq)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())),
            Value::Bytes(bytes) => on_pool!(self, |pool| sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(bytes)
                .bind(seq)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())),
            Value::Int(int) => on_pool!(self, |pool| sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(int)
                .bind(seq)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())),
        }
        .expect("write audit field");
        assert_eq!(rows, 1);
    }
}

async fn verify_detects_every_single_byte_change(database: &str, raw: Raw) {
    let out = madoguchi(&["audit", "verify", "--database", database], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("audit chain verified"), "{}", text(&out));
    let seqs = raw.seqs().await;
    assert!(seqs.len() >= 10, "the flow wrote its audit rows: {}", seqs.len());
    for (index, seq) in seqs.iter().enumerate() {
        let field = FIELDS[index % FIELDS.len()];
        let original = raw.read(*seq, field).await;
        raw.write(*seq, field, &original.with_one_byte_changed()).await;
        let out = madoguchi(&["audit", "verify", "--database", database], &[]);
        assert_eq!(out.status.code(), Some(1), "changing {field} of row {seq} must break the chain: {}", text(&out));
        assert!(text(&out).contains(&format!("seq {seq}")), "the first bad row is named: {}", text(&out));
        raw.write(*seq, field, &original).await;
    }
    let out = madoguchi(&["audit", "verify", "--database", database], &[]);
    assert!(out.status.success(), "restored rows verify again: {}", text(&out));
}

/// Every column of an audit row, as stored.
#[derive(Clone, Debug)]
struct AuditRow {
    seq: i64,
    at_us: i64,
    texts: [String; 6],
    prev_hash: Vec<u8>,
    entry_hash: Vec<u8>,
}

const TEXT_COLUMNS: [&str; 6] = ["station", "actor", "role", "action", "subject", "detail"];

impl AuditRow {
    /// Recompute this row's hash after `prev_hash`, as an attacker who knows the algorithm would.
    fn rehashed(&self, prev_hash: &[u8]) -> AuditRow {
        let prev: [u8; 32] = prev_hash.try_into().expect("32 bytes");
        let [station, actor, role, action, subject, detail] = &self.texts;
        let hash = madoguchi_core::audit::entry_hash(
            self.seq, self.at_us, station, actor, role, action, subject, detail, &prev,
        );
        AuditRow { prev_hash: prev.to_vec(), entry_hash: hash.to_vec(), ..self.clone() }
    }
}

impl Raw {
    async fn row(&self, seq: i64) -> AuditRow {
        let mut texts: [String; 6] = Default::default();
        for (text, column) in texts.iter_mut().zip(TEXT_COLUMNS) {
            let Value::Text(value) = self.read(seq, column).await else { unreachable!("text column") };
            *text = value;
        }
        let Value::Int(at_us) = self.read(seq, "at_us").await else { unreachable!("int column") };
        let Value::Bytes(prev_hash) = self.read(seq, "prev_hash").await else { unreachable!("bytes") };
        let Value::Bytes(entry_hash) = self.read(seq, "entry_hash").await else { unreachable!("bytes") };
        AuditRow { seq, at_us, texts, prev_hash, entry_hash }
    }

    /// Overwrite every column but `seq` of row `seq` with `row`'s.
    async fn overwrite(&self, seq: i64, row: &AuditRow) {
        for (column, text) in TEXT_COLUMNS.iter().zip(&row.texts) {
            self.write(seq, column, &Value::Text(text.clone())).await;
        }
        self.write(seq, "at_us", &Value::Int(row.at_us)).await;
        self.write(seq, "prev_hash", &Value::Bytes(row.prev_hash.clone())).await;
        self.write(seq, "entry_hash", &Value::Bytes(row.entry_hash.clone())).await;
    }

    async fn delete(&self, seq: i64) {
        on_pool!(self, |pool| sqlx::query("DELETE FROM audit_log WHERE seq = $1")
            .bind(seq)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .expect("delete audit row");
    }

    async fn insert(&self, row: &AuditRow) {
        let [station, actor, role, action, subject, detail] = &row.texts;
        on_pool!(self, |pool| sqlx::query(
            "INSERT INTO audit_log (seq, at_us, station, actor, role, action, subject, detail, prev_hash, entry_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )
        .bind(row.seq)
        .bind(row.at_us)
        .bind(station)
        .bind(actor)
        .bind(role)
        .bind(action)
        .bind(subject)
        .bind(detail)
        .bind(&row.prev_hash)
        .bind(&row.entry_hash)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .expect("insert audit row");
    }

    async fn set_head(&self, seq: i64, hash: &[u8]) {
        on_pool!(self, |pool| sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(hash)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .expect("set head");
    }
}

fn verify_cli(database: &str, checkpoint: Option<(&Path, &Path)>) -> Output {
    let mut args = vec!["audit", "verify", "--database", database];
    if let Some((file, key)) = checkpoint {
        args.extend(["--checkpoint", file.to_str().expect("utf-8"), "--public-key", key.to_str().expect("utf-8")]);
    }
    madoguchi(&args, &[])
}

fn assert_broken(out: &Output, expected: &str, what: &str) {
    assert_eq!(out.status.code(), Some(1), "{what} must be detected: {}", text(out));
    assert!(text(out).contains(expected), "{what}: expected {expected:?} in {}", text(out));
}

/// The ward's key files and a checkpoint signed with them through the CLI.
struct WardCheckpoint {
    secret: std::path::PathBuf,
    public: std::path::PathBuf,
    checkpoint: std::path::PathBuf,
    signed: String,
}

fn sign_ward_checkpoint(database: &str, dir: &Path) -> WardCheckpoint {
    let secret = dir.join("ward.key");
    let public = dir.join("ward.pub");
    let out = madoguchi(
        &[
            "audit",
            "keygen",
            "--secret-out",
            secret.to_str().expect("utf-8"),
            "--public-out",
            public.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let checkpoint = dir.join("checkpoint-1.txt");
    let out = madoguchi(
        &[
            "audit",
            "checkpoint",
            "--database",
            database,
            "--key",
            secret.to_str().expect("utf-8"),
            "--origin",
            "新宿区 戸籍住民課",
            "--out",
            checkpoint.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let signed = std::fs::read_to_string(&checkpoint).expect("checkpoint file");
    WardCheckpoint { secret, public, checkpoint, signed }
}

/// Deleted, reordered, truncated and rewritten history, each detected by `madoguchi audit verify`; the last two only
/// against the ward's signed checkpoint, which is why the ward keeps one.
async fn verify_detects_deletion_reordering_truncation_and_rewrites(
    database: &str,
    raw: Raw,
    dir: &Path,
    ward: &WardCheckpoint,
) {
    let WardCheckpoint { secret, public, checkpoint, signed } = ward;
    let seqs = raw.seqs().await;
    let size = i64::try_from(seqs.len()).expect("count") - 1;
    assert!(
        signed.contains(&format!("size: {size}\n")),
        "the checkpoint covers the chain before its own row: {signed}"
    );
    let with_checkpoint = Some((checkpoint.as_path(), public.as_path()));
    let out = verify_cli(database, None);
    assert!(
        text(&out).contains("not protected"),
        "without a checkpoint the verifier says what it cannot see: {}",
        text(&out)
    );
    let out = verify_cli(database, with_checkpoint);
    assert!(out.status.success() && text(&out).contains("signed history is intact"), "{}", text(&out));

    // A deleted row in the middle.
    let third = raw.row(3).await;
    raw.delete(3).await;
    assert_broken(&verify_cli(database, None), "seq 4: expected seq 3", "a deleted row");
    raw.insert(&third).await;

    // Two rows swapped.
    let (fourth, fifth) = (raw.row(4).await, raw.row(5).await);
    raw.overwrite(4, &fifth).await;
    raw.overwrite(5, &fourth).await;
    assert_broken(&verify_cli(database, None), "seq 4", "reordered rows");
    raw.overwrite(4, &fourth).await;
    raw.overwrite(5, &fifth).await;

    // The last row deleted, the head left alone.
    let last_seq = *seqs.last().expect("rows");
    let last = raw.row(last_seq).await;
    raw.delete(last_seq).await;
    assert_broken(&verify_cli(database, None), "audit head", "a deleted last row");

    // Truncated below the checkpoint with the head rewound: the chain alone cannot tell, the checkpoint can.
    let below = raw.row(size).await;
    raw.delete(size).await;
    let new_last = raw.row(size - 1).await;
    raw.set_head(size - 1, &new_last.entry_hash).await;
    let out = verify_cli(database, None);
    assert!(out.status.success(), "a consistent truncation passes the chain check alone: {}", text(&out));
    assert_broken(&verify_cli(database, with_checkpoint), "signed rows were removed", "a truncated log");
    raw.insert(&below).await;
    raw.insert(&last).await;
    raw.set_head(last_seq, &last.entry_hash).await;
    assert!(verify_cli(database, with_checkpoint).status.success(), "restored");

    // One row edited and every later hash recomputed: a consistent forgery, caught by the checkpoint.
    let originals: Vec<AuditRow> = {
        let mut rows = Vec::new();
        for seq in &seqs {
            rows.push(raw.row(*seq).await);
        }
        rows
    };
    let mut prev = originals[0].prev_hash.clone();
    for (index, row) in originals.iter().enumerate() {
        let mut forged = row.clone();
        if index == 1 {
            forged.texts[1] = "someone-else".into();
        }
        let forged = forged.rehashed(&prev);
        prev = forged.entry_hash.clone();
        raw.overwrite(row.seq, &forged).await;
    }
    raw.set_head(last_seq, &prev).await;
    let out = verify_cli(database, None);
    assert!(out.status.success(), "a recomputed chain passes the chain check alone: {}", text(&out));
    assert_broken(&verify_cli(database, with_checkpoint), "rewritten", "a rewritten history");
    for row in &originals {
        raw.overwrite(row.seq, row).await;
    }
    raw.set_head(last_seq, &last.entry_hash).await;

    // A forged checkpoint, and a checkpoint checked with another key.
    let forged = dir.join("forged.txt");
    std::fs::write(&forged, signed.replace(&format!("size: {size}\n"), &format!("size: {}\n", size - 1)))
        .expect("write");
    assert_broken(&verify_cli(database, Some((&forged, public))), "signature does not verify", "a forged checkpoint");
    let (other_secret, other_public) = (dir.join("other.key"), dir.join("other.pub"));
    let out = madoguchi(
        &[
            "audit",
            "keygen",
            "--secret-out",
            other_secret.to_str().expect("utf-8"),
            "--public-out",
            other_public.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_broken(
        &verify_cli(database, Some((checkpoint, &other_public))),
        "not by the given public key",
        "another key",
    );
    let out = madoguchi(
        &[
            "audit",
            "keygen",
            "--secret-out",
            secret.to_str().expect("utf-8"),
            "--public-out",
            dir.join("x.pub").to_str().expect("utf-8"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "a key file is never overwritten: {}", text(&out));
    assert!(verify_cli(database, with_checkpoint).status.success(), "everything restored verifies");
}

/// The return export: admins only, encrypted (no plaintext of the request in the file), opened with the passphrase
/// printed once and checked against its manifest; a wrong passphrase or an altered manifest is refused.
fn export_round_trip(database: &str, dir: &Path) {
    let out = dir.join("return.age");
    let out_arg = out.to_str().expect("utf-8");
    let refused = madoguchi(
        &["export", "create", "--database", database, "--admin", "op1", "--out", out_arg],
        &[("MADOGUCHI_ADMIN_PASSWORD", "a-long-password")],
    );
    assert_eq!(refused.status.code(), Some(2), "an operator cannot export: {}", text(&refused));
    assert!(!out.exists(), "nothing was written");
    let created = madoguchi(
        &["export", "create", "--database", database, "--out", out_arg],
        &[("MADOGUCHI_ADMIN_PASSWORD", "first-admin-pass")],
    );
    assert!(created.status.success(), "{}", text(&created));
    let stdout = String::from_utf8_lossy(&created.stdout).into_owned();
    let passphrase = stdout
        .lines()
        .find_map(|line| line.split("separately from the file): ").nth(1))
        .expect("the passphrase is shown once")
        .trim()
        .to_string();
    let sealed = std::fs::read(&out).expect("export file");
    let canary = "請求 太郎".as_bytes();
    assert!(!sealed.windows(canary.len()).any(|w| w == canary), "the export is never in clear");
    let bundle = madoguchi_core::export::ExportBundle::open(&sealed, &passphrase).expect("opens");
    assert!(bundle.tables["cases"].iter().any(|row| row.to_string().contains("請求 太郎")), "the cases are in it");
    assert!(bundle.tables["users"].iter().all(|row| row.get("password_hash").is_none()), "no password hashes");
    assert!(
        bundle.tables["audit_log"].iter().any(|row| row.to_string().contains("data.exported")),
        "the export carries its own audit row"
    );

    let manifest = dir.join("return.age.manifest.txt");
    let verify = |passphrase: &str| {
        madoguchi(&["export", "verify", "--file", out_arg], &[("MADOGUCHI_EXPORT_PASSPHRASE", passphrase)])
    };
    let ok = verify(&passphrase);
    assert!(ok.status.success() && text(&ok).contains("every table matches the manifest"), "{}", text(&ok));
    let wrong = verify("not-the-passphrase");
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(text(&wrong).contains("passphrase does not open"), "{}", text(&wrong));
    let original = std::fs::read_to_string(&manifest).expect("manifest");
    let line = original.lines().find(|l| l.starts_with("table cases ")).expect("cases line").to_string();
    let altered = line.replacen("rows ", "rows 9", 1);
    std::fs::write(&manifest, original.replace(&line, &altered)).expect("alter manifest");
    let mismatch = verify(&passphrase);
    assert_eq!(mismatch.status.code(), Some(1), "{}", text(&mismatch));
    assert!(text(&mismatch).contains("table cases does not match"), "{}", text(&mismatch));
    let again = madoguchi(
        &["export", "create", "--database", database, "--out", out_arg],
        &[("MADOGUCHI_ADMIN_PASSWORD", "first-admin-pass")],
    );
    assert_eq!(again.status.code(), Some(2), "an export is never written over a file: {}", text(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_return_export_is_encrypted_admin_only_and_matches_its_manifest_on_sqlite_and_postgres() {
    let dir = tempfile::tempdir().expect("dir");
    let database = format!("sqlite://{}", dir.path().join("store.sqlite").display());
    issued_case(dir.path(), &database).await;
    export_round_trip(&database, dir.path());
    let Some(pg) = PgTestDatabase::create("madoguchi_export", "the PostgreSQL half of the export test").await else {
        return;
    };
    let pg_dir = tempfile::tempdir().expect("dir");
    issued_case(pg_dir.path(), &pg.url).await;
    export_round_trip(&pg.url, pg_dir.path());
    pg.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_request_to_issue_then_audit_verify_detects_any_changed_byte() {
    let dir = tempfile::tempdir().expect("dir");
    let database = format!("sqlite://{}", dir.path().join("store.sqlite").display());
    issued_case(dir.path(), &database).await;
    // An attacker with file access can drop the triggers that guard the log; the chain and the checkpoint must
    // still give them away. Foreign keys off too, as such an attacker would.
    let options: sqlx::sqlite::SqliteConnectOptions = database.parse().expect("url");
    let pool = sqlx::SqlitePool::connect_with(options.foreign_keys(false)).await.expect("raw");
    sqlx::query("DROP TRIGGER audit_log_no_update").execute(&pool).await.expect("drop trigger");
    verify_detects_every_single_byte_change(&database, Raw::Sqlite(pool.clone())).await;
    let ward = sign_ward_checkpoint(&database, dir.path());
    for trigger in
        ["audit_log_no_delete", "audit_log_extends_head", "audit_log_advances_head", "audit_head_follows_chain"]
    {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER {trigger}"))).execute(&pool).await.expect("drop trigger");
    }
    verify_detects_deletion_reordering_truncation_and_rewrites(&database, Raw::Sqlite(pool.clone()), dir.path(), &ward)
        .await;
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_request_to_issue_then_audit_verify_detects_any_changed_byte() {
    let Some(pg) = PgTestDatabase::create("madoguchi_cli", "postgres CLI end-to-end test").await else { return };
    let database = pg.url.clone();
    let dir = tempfile::tempdir().expect("dir");
    issued_case(dir.path(), &database).await;
    // A superuser session in replica mode fires no triggers and checks no foreign keys: the strongest insider.
    let options: sqlx::postgres::PgConnectOptions = database.parse().expect("url");
    let pool =
        sqlx::PgPool::connect_with(options.options([("session_replication_role", "replica")])).await.expect("raw");
    verify_detects_every_single_byte_change(&database, Raw::Pg(pool.clone())).await;
    let ward = sign_ward_checkpoint(&database, dir.path());
    verify_detects_deletion_reordering_truncation_and_rewrites(&database, Raw::Pg(pool.clone()), dir.path(), &ward)
        .await;
    pool.close().await;
    pg.drop().await;
}

/// A fresh PostgreSQL database for one test, dropped at its end (skipped loudly when no server is configured).
struct PgTestDatabase {
    admin: sqlx::PgPool,
    name: String,
    url: String,
}

impl PgTestDatabase {
    async fn create(prefix: &str, test: &str) -> Option<PgTestDatabase> {
        let Ok(admin_url) = std::env::var(PG_URL_VAR) else {
            eprintln!("SKIPPED {test}: {PG_URL_VAR} is not set (CI sets it; see .ci/run)");
            return None;
        };
        let admin = sqlx::PgPool::connect(&admin_url).await.expect("admin");
        let name = format!("{prefix}_{}", std::process::id());
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
            .execute(&admin)
            .await
            .expect("drop");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.expect("create");
        let cut = admin_url.rfind('/').expect("url has a database");
        let url = format!("{}/{name}", &admin_url[..cut]);
        Some(PgTestDatabase { admin, name, url })
    }

    async fn drop(self) {
        if let Some(keys) = pg_data_keys(&self.url) {
            std::fs::remove_file(keys).ok();
        }
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&self.admin).await.ok();
    }
}

#[test]
fn devices_test_reads_a_card_a_seal_card_and_prints_a_test_page_on_the_simulators() {
    let out = madoguchi(&["devices", "test", "--station", "post-1"], &[]);
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("card reader: OK") && report.contains("葛\\u{e0102}西"), "{report}");
    assert!(report.contains("individual_number: \"************\""), "the 個人番号 is masked: {report}");
    assert!(report.contains("seal reader: OK") && report.contains("******45"), "{report}");
    assert!(report.contains("printer: OK") && report.contains("Delivered"), "{report}");

    let out = madoguchi(&["devices", "test", "--station", "post-1", "--pin", "9999"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("2 tries left") && text(&out).contains("あと2回"), "{}", text(&out));

    let out = madoguchi(&["devices", "list"], &[]);
    assert!(out.status.success() && text(&out).contains("station review-1"), "{}", text(&out));
}

#[test]
fn a_bad_device_configuration_is_refused_naming_the_key_and_nothing_runs() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("devices.toml");
    std::fs::write(&path, "[[station]]\nname = \"post-1\"\ncolour = \"red\"\n").expect("write");
    let out = madoguchi(&["devices", "list", "--config", path.to_str().expect("path")], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("unknown field `colour`"), "{}", text(&out));
    let out = madoguchi(&["devices", "test", "--station", "post-9"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no station named \"post-9\""), "{}", text(&out));
}

/// Contract end: `madoguchi erase` writes the return export (it opens with the passphrase shown once and matches
/// its manifest, and holds the canary), destroys the data keys with two admins, and afterwards the canary planted
/// in resident data is found in no file of the data folder — store, WAL, anything else — nor, on PostgreSQL, in
/// any stored row; the deletion report PDF parses and names the destroyed keys and the clean scan.
fn erase_round_trip(database: &str, data_dir: &Path, out_dir: &Path, canary: &str) {
    let out_arg = out_dir.to_str().expect("utf-8");
    let passwords =
        [("MADOGUCHI_ADMIN_PASSWORD", "first-admin-pass"), ("MADOGUCHI_SECOND_ADMIN_PASSWORD", "second-admin-pass")];
    let unconfirmed =
        madoguchi(&["erase", "--database", database, "--out-dir", out_arg, "--confirm", "yes"], &passwords);
    assert_eq!(unconfirmed.status.code(), Some(2), "{}", text(&unconfirmed));
    assert!(text(&unconfirmed).contains("--confirm ERASE"), "{}", text(&unconfirmed));
    let same_admin = madoguchi(
        &["erase", "--database", database, "--out-dir", out_arg, "--second-admin", "admin", "--confirm", "ERASE"],
        &[("MADOGUCHI_ADMIN_PASSWORD", "first-admin-pass"), ("MADOGUCHI_SECOND_ADMIN_PASSWORD", "first-admin-pass")],
    );
    assert_eq!(same_admin.status.code(), Some(2), "{}", text(&same_admin));
    assert!(text(&same_admin).contains("second, different admin"), "{}", text(&same_admin));
    std::fs::remove_dir_all(out_dir).ok();

    let erased = madoguchi(&["erase", "--database", database, "--out-dir", out_arg, "--confirm", "ERASE"], &passwords);
    let report = text(&erased);
    assert!(erased.status.success(), "{report}");
    assert!(report.contains("none found"), "{report}");
    let passphrase = String::from_utf8_lossy(&erased.stdout)
        .lines()
        .find_map(|line| line.split("separately from the file): ").nth(1).map(|p| p.trim().to_string()))
        .expect("the passphrase is shown once");

    // The canary is nowhere in the data folder.
    let mut scanned = 0;
    let mut folders = vec![data_dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).expect("read");
            assert!(
                !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
                "the canary is still in {}",
                path.display()
            );
            assert!(!path.to_string_lossy().ends_with(".keys"), "the key file is gone: {}", path.display());
            scanned += 1;
        }
    }
    assert!(scanned >= 1, "the data folder was scanned");

    // The return export opens with the passphrase, matches its manifest and holds the canary.
    let export = out_dir.join("return-export.age");
    let verify = madoguchi(
        &["export", "verify", "--file", export.to_str().expect("utf-8")],
        &[("MADOGUCHI_EXPORT_PASSPHRASE", passphrase.as_str())],
    );
    assert!(verify.status.success() && text(&verify).contains("every table matches the manifest"), "{}", text(&verify));
    let bundle = madoguchi_core::export::ExportBundle::open(&std::fs::read(&export).expect("export"), &passphrase)
        .expect("opens");
    assert!(bundle.tables["cases"].iter().any(|row| row.to_string().contains(canary)), "the export returns the data");

    // The deletion report parses and says what was done.
    let pdf = out_dir.join("deletion-report.pdf");
    let pdftotext = Command::new("pdftotext").args(["-layout", pdf.to_str().expect("utf-8"), "-"]).output();
    match pdftotext {
        Ok(out) if out.status.success() => {
            let content = String::from_utf8_lossy(&out.stdout);
            for expected in
                ["データ消去報告書", "完了：残存データなし", "暗号化消去", "case_requests", "outputs", "検出なし"]
            {
                assert!(content.contains(expected), "the report shows {expected}: {content}");
            }
            assert!(!content.contains(canary), "the report names no resident value");
        }
        _ => panic!("pdftotext (poppler-utils) is needed to check the deletion report; .ci/run installs it"),
    }
    let hash_line = std::fs::read_to_string(out_dir.join("deletion-report.pdf.sha256")).expect("hash file");
    let actual = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(std::fs::read(&pdf).expect("pdf")))
    };
    assert!(hash_line.starts_with(&actual), "the report's hash is recorded beside it");

    // The store still verifies for the auditor, takes no new work, and a second erasure writes no new files.
    let verified = madoguchi(&["audit", "verify", "--database", database], &[]);
    assert!(verified.status.success(), "{}", text(&verified));
    let again = madoguchi(&["erase", "--database", database, "--out-dir", out_arg, "--confirm", "ERASE"], &passwords);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_erase_a_canary_in_resident_data_is_nowhere_in_the_data_folder_and_the_export_matches_its_manifest() {
    const CANARY: &str = "消去検体カナリア";
    let residents_dir = tempfile::tempdir().expect("dir");
    let data_dir = tempfile::tempdir().expect("dir");
    let out_dir = tempfile::tempdir().expect("dir");
    let database = format!("sqlite://{}", data_dir.path().join("store.sqlite").display());
    issued_case_for(residents_dir.path(), &database, CANARY).await;
    assert!(data_dir.path().join("store.sqlite.keys").exists(), "the data keys sit beside the store");
    erase_round_trip(&database, data_dir.path(), &out_dir.path().join("return"), CANARY);

    let Some(pg) = PgTestDatabase::create("madoguchi_erase", "the PostgreSQL half of the erasure test").await else {
        return;
    };
    let pg_data = tempfile::tempdir().expect("dir");
    let pg_residents = tempfile::tempdir().expect("dir");
    issued_case_for(pg_residents.path(), &pg.url, CANARY).await;
    let keys = pg_data_keys(&pg.url).expect("key path");
    assert!(keys.exists(), "the PostgreSQL store's data keys are in their file");
    // The terminal's data folder for a shared store holds its key file; scan that folder.
    let local_keys = pg_data.path().join("data.keys");
    std::fs::copy(&keys, &local_keys).expect("copy keys");
    std::fs::remove_file(&keys).expect("move keys");
    let out = out_dir.path().join("pg-return");
    let out_arg = out.to_str().expect("utf-8");
    let scan = pg_data.path().to_str().expect("utf-8");
    // Local copies the terminal kept (a printed job, a note): named with --remove, overwritten and removed.
    let copies = [pg_data.path().join("job-1.txt"), pg_data.path().join("job-2.txt")];
    for copy in &copies {
        std::fs::write(copy, format!("printed for {CANARY}")).expect("copy");
    }
    let erased = madoguchi(
        &[
            "erase",
            "--remove",
            copies[0].to_str().expect("utf-8"),
            copies[1].to_str().expect("utf-8"),
            "--database",
            &pg.url,
            "--out-dir",
            out_arg,
            "--scan",
            scan,
            "--confirm",
            "ERASE",
            "--data-keys",
            local_keys.to_str().expect("utf-8"),
        ],
        &[("MADOGUCHI_ADMIN_PASSWORD", "first-admin-pass"), ("MADOGUCHI_SECOND_ADMIN_PASSWORD", "second-admin-pass")],
    );
    assert!(erased.status.success() && text(&erased).contains("none found"), "{}", text(&erased));
    assert!(!local_keys.exists(), "the key file was destroyed");
    assert!(copies.iter().all(|copy| !copy.exists()), "the named copies were removed");
    let options: sqlx::postgres::PgConnectOptions = pg.url.parse().expect("url");
    let pool = sqlx::PgPool::connect_with(options).await.expect("raw");
    let requests: Vec<String> = sqlx::query_scalar("SELECT request FROM cases").fetch_all(&pool).await.expect("rows");
    assert!(!requests.is_empty() && requests.iter().all(|r| !r.contains(CANARY)), "no request is in the clear");
    pool.close().await;
    pg.drop().await;
}

#[test]
fn a_bad_security_policy_stops_the_terminal_before_anything_starts_and_names_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    let demo_dir = dir.path().join("demo");
    for (policy, expected) in [
        ("idle_lock_minutes = 45\n", "idle_lock_minutes: 45 is outside 1–30 minutes"),
        ("[opening_hours]\nopens = \"17:00\"\ncloses = \"09:00\"\ndays = [\"mon\"]\n", "opening_hours.closes"),
        ("idle_lock = 5\n", "unknown field"),
    ] {
        let file = dir.path().join("policy.toml");
        std::fs::write(&file, policy).expect("policy");
        let out = madoguchi(
            &["terminal", "--policy", file.to_str().expect("utf-8"), "--data-dir", demo_dir.to_str().expect("utf-8")],
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(expected), "{policy}: {}", text(&out));
        assert!(!demo_dir.exists(), "nothing was set up");
    }
}

#[test]
fn a_fee_table_with_a_gap_or_a_negative_amount_stops_the_terminal_before_anything_starts() {
    let dir = tempfile::tempdir().expect("dir");
    let demo_dir = dir.path().join("demo");
    let complete = "juminhyo-setai = 300\njuminhyo-kojin = 300\nkisai-jiko = 300\ntenshutsu = 0\n";
    for (table, expected) in [
        (format!("[certificates]\n{complete}"), "certificates.inkan is missing"),
        (format!("[certificates]\n{complete}inkan = -300\n"), "certificates.inkan = -300 is outside"),
    ] {
        let file = dir.path().join("fees.toml");
        std::fs::write(&file, &table).expect("fees");
        let out = madoguchi(
            &["terminal", "--fees", file.to_str().expect("utf-8"), "--data-dir", demo_dir.to_str().expect("utf-8")],
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(expected), "{table}: {}", text(&out));
        assert!(!demo_dir.exists(), "nothing was set up");
    }
}

/// 本人通知 data leaves only encrypted, for admins: the file opens with the passphrase shown once and is the CSV
/// (here with no notifiable issue: the one case was the person's own request); a bad date is refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notice_data_is_exported_encrypted_by_an_admin_only() {
    let dir = tempfile::tempdir().expect("dir");
    let database = format!("sqlite://{}", dir.path().join("store.sqlite").display());
    issued_case(dir.path(), &database).await;
    let out = dir.path().join("notices.csv.age");
    let out_arg = out.to_str().expect("utf-8");
    let export = |admin: &str, password: &str, from: &str| {
        madoguchi(
            &[
                "notices",
                "export",
                "--database",
                &database,
                "--from",
                from,
                "--until",
                "令和9年1月1日",
                "--admin",
                admin,
                "--out",
                out_arg,
            ],
            &[("MADOGUCHI_ADMIN_PASSWORD", password)],
        )
    };
    let refused = export("op1", "a-long-password", "2026-01-01");
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let bad_date = export("admin", "first-admin-pass", "2026-13-01");
    assert!(text(&bad_date).contains("--from"), "{}", text(&bad_date));
    assert!(!out.exists());
    let done = export("admin", "first-admin-pass", "R8.1.1");
    assert!(done.status.success(), "{}", text(&done));
    let passphrase = String::from_utf8_lossy(&done.stdout)
        .lines()
        .find_map(|line| line.split("separately from the file): ").nth(1).map(|p| p.trim().to_string()))
        .expect("passphrase shown once");
    let sealed = std::fs::read(&out).expect("file");
    assert!(sealed.starts_with(b"age-encryption.org/v1"), "age file");
    let csv =
        String::from_utf8(madoguchi_core::export::open_bytes(&sealed, &passphrase).expect("opens")).expect("utf-8");
    assert!(csv.starts_with("交付年月日,証明書の種別,通数,交付請求者の種別"), "{csv}");
    assert_eq!(csv.lines().count(), 1, "the person's own request is not notified: {csv}");
    assert!(madoguchi_core::export::open_bytes(&sealed, "wrong").is_err());
}

/// The 日報 from the CLI: a PDF whose text shows the day's issue and fee, and the same figures in the CSV.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_report_is_written_as_pdf_and_csv() {
    let dir = tempfile::tempdir().expect("dir");
    let database = format!("sqlite://{}", dir.path().join("store.sqlite").display());
    issued_case(dir.path(), &database).await;
    let today =
        jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::get("Asia/Tokyo").expect("tz")).date().to_string();
    let report = |user: &str, pdf: &Path, extra: &[&str]| {
        let pdf = pdf.to_str().expect("utf-8");
        let mut args = vec!["report", "--database", &database, "--user", user, "--from", &today, "--pdf", pdf];
        args.extend_from_slice(extra);
        madoguchi(&args, &[("MADOGUCHI_PASSWORD", "a-long-password")])
    };
    let pdf_text = |pdf: &Path| {
        let out = Command::new("pdftotext").args([pdf.to_str().expect("utf-8"), "-"]).output().expect("pdftotext");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (pdf, csv) = (dir.path().join("daily.pdf"), dir.path().join("daily.csv"));
    let out = report("rev1", &pdf, &["--csv", csv.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", text(&out));
    let daily = pdf_text(&pdf);
    assert!(daily.contains("日報") && daily.contains("1件（1通）") && daily.contains("300円"), "{daily}");
    let csv_text = std::fs::read_to_string(&csv).expect("csv");
    assert!(
        csv_text.contains("合計,交付件数,1件（1通）") && csv_text.contains("窓口別の受付件数,post-1,1"),
        "{csv_text}"
    );
    let operator = report("op1", &dir.path().join("x.pdf"), &[]);
    assert_eq!(operator.status.code(), Some(2), "an operator gets no report: {}", text(&operator));

    // With the ward's checkpoint: checked against the ward's public key and this store, then printed.
    let ward = sign_ward_checkpoint(&database, dir.path());
    let head = ward.signed.lines().find_map(|line| line.strip_prefix("head: ")).expect("head line").to_string();
    let checkpoint = ward.checkpoint.to_str().expect("utf-8");
    let anchored = dir.path().join("anchored.pdf");
    let out =
        report("rev1", &anchored, &["--checkpoint", checkpoint, "--public-key", ward.public.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", text(&out));
    let anchored_text = pdf_text(&anchored);
    assert!(anchored_text.contains("監査ログのチェックポイント") && anchored_text.contains(&head), "{anchored_text}");
    let other = tempfile::tempdir().expect("dir");
    let foreign = sign_ward_checkpoint(&database, other.path());
    let refused_pdf = dir.path().join("refused.pdf");
    let refused = report(
        "rev1",
        &refused_pdf,
        &["--checkpoint", checkpoint, "--public-key", foreign.public.to_str().expect("utf-8")],
    );
    assert_eq!(refused.status.code(), Some(2), "a checkpoint under another key is refused: {}", text(&refused));
    assert!(!refused_pdf.exists());
}

/// The scan is not a formality: a copy of resident data left in the data folder makes `erase` say it is incomplete,
/// name the file (never the value) and exit 1, and the deletion report says so too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_left_in_the_data_folder_makes_the_erasure_incomplete() {
    const CANARY: &str = "残存検体カナリア";
    let (residents_dir, data_dir, out_dir) =
        (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let database = format!("sqlite://{}", data_dir.path().join("store.sqlite").display());
    issued_case_for(residents_dir.path(), &database, CANARY).await;
    std::fs::create_dir(data_dir.path().join("spool")).expect("spool");
    std::fs::write(data_dir.path().join("spool").join("job.txt"), format!("請求者 {CANARY}")).expect("leftover");
    let out = out_dir.path().join("return");
    let erased = madoguchi(
        &["erase", "--database", &database, "--out-dir", out.to_str().expect("utf-8"), "--confirm", "ERASE"],
        &[("MADOGUCHI_ADMIN_PASSWORD", "first-admin-pass"), ("MADOGUCHI_SECOND_ADMIN_PASSWORD", "second-admin-pass")],
    );
    assert_eq!(erased.status.code(), Some(1), "{}", text(&erased));
    let report = text(&erased);
    assert!(report.contains("erasure INCOMPLETE") && report.contains("job.txt (1 hits)"), "{report}");
    assert!(!report.contains(CANARY), "the value itself is never printed");
    let pdf = out.join("deletion-report.pdf");
    let content = Command::new("pdftotext").args([pdf.to_str().expect("utf-8"), "-"]).output().expect("pdftotext");
    let content = String::from_utf8_lossy(&content.stdout);
    assert!(content.contains("不完全") && content.contains("検出 1 件"), "{content}");
}

/// `madoguchi resident-system serve` with the address it printed; killed when dropped.
struct ServedResidents {
    child: std::process::Child,
    url: String,
}

impl Drop for ServedResidents {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_residents(database: &str) -> ServedResidents {
    use std::io::BufRead as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args(["resident-system", "serve", "--listen", "127.0.0.1:0", "--database", database])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start the server");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).expect("the server's first line");
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    ServedResidents { child, url }
}

#[tokio::test]
async fn the_reference_resident_system_is_served_over_its_http_contract() {
    use backend_adapter::http::{HttpClientConfig, HttpResidentSystem};
    let dir = tempfile::tempdir().expect("dir");
    let residents_path = dir.path().join("residents.sqlite");
    let residents_arg = residents_path.to_str().expect("utf-8 path");
    let out = madoguchi(&["resident-system", "generate", "--out", residents_arg, "--households", "60"], &[]);
    assert!(out.status.success(), "{}", text(&out));

    let served = serve_residents(&format!("sqlite:{residents_arg}"));
    let client = HttpResidentSystem::new(HttpClientConfig::new(&served.url).expect("url")).expect("client");
    client.health().await.expect("the server answers its health check");
    let direct = ReferenceResidentSystem::open(&residents_path).await.expect("residents");
    let query =
        backend_adapter::types::SearchQuery { name_prefix: Some("ヤ".into()), limit: 20, ..Default::default() };
    let over_http = client.search(&query).await.expect("search over HTTP");
    assert!(!over_http.is_empty());
    assert_eq!(over_http, direct.search(&query).await.expect("search"), "the same answer as the store itself");
    let household = client.household(over_http[0].household_id).await.expect("household over HTTP");
    assert_eq!(household, direct.household(over_http[0].household_id).await.expect("household"));
    drop(served);

    let missing = dir.path().join("no-such.sqlite");
    let out = madoguchi(
        &["resident-system", "serve", "--listen", "127.0.0.1:0", "--database", missing.to_str().expect("utf-8")],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no-such.sqlite"), "the error names the store: {}", text(&out));
}

#[test]
fn the_demo_terminal_trains_and_refuses_a_live_resident_system_before_anything_starts() {
    // A live resident system's address: bound, so a connection attempt would be seen, never accepted.
    let live = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    live.set_nonblocking(true).expect("non-blocking");
    let url = format!("http://{}", live.local_addr().expect("address"));
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("demo");
    let data_arg = data.to_str().expect("utf-8 path");
    for (args, envs) in [
        (vec!["demo", "--data-dir", data_arg, "--resident-system", &url], vec![]),
        (vec!["terminal", "--data-dir", data_arg, "--resident-system", &url], vec![]),
        (vec!["demo", "--data-dir", data_arg], vec![("MADOGUCHI_RESIDENT_SYSTEM", url.as_str())]),
        (vec!["terminal", "--data-dir", data_arg], vec![("MADOGUCHI_RESIDENT_SYSTEM", url.as_str())]),
    ] {
        let out = madoguchi(&args, &envs);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("training mode uses only the embedded reference resident system")
                && text(&out).contains(&url),
            "{args:?}: the reason, naming the refused adapter: {}",
            text(&out)
        );
        assert!(!data.exists(), "{args:?}: nothing was created");
    }
    match live.accept() {
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the training terminal contacted the live resident system: {other:?}"),
    }
}

/// The multi-process test's child processes: this test binary run again with this variable naming the role.
const COUNTER_ROLE_VAR: &str = "MADOGUCHI_TEST_COUNTER_ROLE";
const MULTI_PROCESS_TEST: &str =
    "three_operator_processes_and_a_reviewer_share_one_postgres_queue_and_one_worker_prints_each_case_exactly_once";
const CASES_PER_OPERATOR: usize = 100;

/// One counter process: `operator N` hands over CASES_PER_OPERATOR 住民票の写し at post-N; `reviewer` approves and
/// issues everything submitted until 3 × CASES_PER_OPERATOR are issued. Store, keys and residents come from the
/// environment.
async fn counter_process(role: &str) {
    let database = std::env::var("MADOGUCHI_TEST_DATABASE").expect("database");
    let keys = std::env::var("MADOGUCHI_DATA_KEYS").expect("keys");
    let residents_path = std::env::var("MADOGUCHI_TEST_RESIDENTS").expect("residents");
    let store = open_store(&database, OpenMode::CreateAndMigrate, Some(Path::new(&keys))).await.expect("store");
    let residents = Arc::new(ReferenceResidentSystem::open(Path::new(&residents_path)).await.expect("residents"));
    let issuer = Issuer {
        municipality: "新宿区".into(), head_title: "新宿区長".into(), head_name: "試験 太郎".into()
    };
    let profile = CertificateProfile::generated(issuer, false).expect("profile");
    let counter = Counter::new(store, residents.clone(), Arc::new(SystemClock), profile);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(900);
    match role.split_once(' ') {
        Some(("operator", post)) => {
            let session =
                counter.login(&format!("op{post}"), "a-long-password", Role::Operator, &format!("post-{post}")).await;
            let session = session.expect("operator login");
            let mut households = Vec::new();
            for id in residents.household_ids(0, 60).await.expect("ids") {
                if residents.household(id).await.expect("household").members.iter().all(|m| !m.support_measure) {
                    households.push(id);
                }
            }
            for i in 0..CASES_PER_OPERATOR {
                let household = households[(i * 3 + post.len()) % households.len()];
                let request = madoguchi_core::sample::own_household_copy_request(
                    household,
                    "請求 太郎",
                    "東京都新宿区西新宿二丁目8番1号",
                    IdentityDocument::DriversLicence,
                );
                let case_id = counter.open_case(&session, request).await.expect("open");
                counter.prepare_and_submit(&session, case_id).await.expect("hand over");
            }
        }
        Some(("reviewer", total)) => {
            let total: usize = total.parse().expect("total");
            let session = counter.login("rev1", "a-long-password", Role::Reviewer, "review-1").await.expect("login");
            let filter = madoguchi_core::store::CaseFilter {
                states: vec![madoguchi_core::case::CaseState::Submitted],
                station: None,
                limit: 1000,
            };
            let mut issued = 0;
            while issued < total {
                assert!(std::time::Instant::now() < deadline, "the reviewer issued only {issued} of {total}");
                let waiting = counter.queue(&session, &filter).await.expect("queue");
                if waiting.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
                for case in waiting {
                    let (_, output) = counter.review(&session, case.id).await.expect("review");
                    counter.approve(&session, case.id, output.sha256).await.expect("approve");
                    counter.issue(&session, case.id, 1).await.expect("issue");
                    issued += 1;
                }
            }
        }
        _ => panic!("unknown counter role {role:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_operator_processes_and_a_reviewer_share_one_postgres_queue_and_one_worker_prints_each_case_exactly_once()
{
    if let Ok(role) = std::env::var(COUNTER_ROLE_VAR) {
        counter_process(&role).await;
        return;
    }
    let Some(db) = PgTestDatabase::create("madoguchi_multi", MULTI_PROCESS_TEST).await else { return };
    let dir = tempfile::tempdir().expect("dir");
    let residents_path = dir.path().join("residents.sqlite");
    let residents_arg = residents_path.to_str().expect("utf-8 path");
    let out =
        madoguchi(&["resident-system", "generate", "--out", residents_arg, "--seed", "5", "--households", "60"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let admins =
        [("MADOGUCHI_ADMIN_PASSWORD", "first-admin-pass"), ("MADOGUCHI_SECOND_ADMIN_PASSWORD", "second-admin-pass")];
    let out = madoguchi(&["init", "--database", &db.url], &admins);
    assert!(out.status.success(), "{}", text(&out));
    let keys = pg_data_keys(&db.url).expect("keys path");
    let store = open_store(&db.url, OpenMode::CreateAndMigrate, Some(&keys)).await.expect("store");
    let residents = Arc::new(ReferenceResidentSystem::open(&residents_path).await.expect("residents"));
    let users = [("op1", Role::Operator), ("op2", Role::Operator), ("op3", Role::Operator), ("rev1", Role::Reviewer)];
    let counter = counter_with_users(store.clone(), residents, &users).await;

    // The print worker of the review station, its simulated printer keeping every job as a file.
    let spool = dir.path().join("spool");
    let mut worker = Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args(["worker", "--station", "review-1", "--database", &db.url, "--spool", spool.to_str().expect("utf-8")])
        .env("MADOGUCHI_DATA_KEYS", &keys)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start the worker");
    let total = 3 * CASES_PER_OPERATOR;
    let roles =
        ["operator 1".to_string(), "operator 2".to_string(), "operator 3".to_string(), format!("reviewer {total}")];
    let counters: Vec<(String, std::process::Child)> = roles
        .iter()
        .map(|role| {
            let child = Command::new(std::env::current_exe().expect("this test binary"))
                .args(["--exact", MULTI_PROCESS_TEST, "--nocapture", "--test-threads", "1"])
                .env(COUNTER_ROLE_VAR, role)
                .env("MADOGUCHI_TEST_DATABASE", &db.url)
                .env("MADOGUCHI_DATA_KEYS", &keys)
                .env("MADOGUCHI_TEST_RESIDENTS", &residents_path)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start a counter process");
            (role.clone(), child)
        })
        .collect();
    for (role, child) in counters {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{role}: {}", text(&out));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let jobs = loop {
        let jobs = store.print_jobs(&madoguchi_core::store::PrintJobFilter::station("review-1")).await.expect("jobs");
        let printed = jobs.iter().filter(|job| job.state == madoguchi_core::store::PrintJobState::Printed).count();
        if printed == total || std::time::Instant::now() > deadline {
            break jobs;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    worker.kill().ok();
    worker.wait().ok();

    assert_eq!(jobs.len(), total, "one job per issued case");
    assert!(
        jobs.iter().all(|job| job.state == madoguchi_core::store::PrintJobState::Printed && job.attempts == 1),
        "every job printed on its one attempt: {:?}",
        jobs.iter()
            .filter(|job| job.attempts != 1 || job.state != madoguchi_core::store::PrintJobState::Printed)
            .collect::<Vec<_>>()
    );
    let cases = store
        .cases(&madoguchi_core::store::CaseFilter { states: Vec::new(), station: None, limit: 1000 })
        .await
        .expect("cases");
    assert_eq!(cases.len(), total);
    for post in ["post-1", "post-2", "post-3"] {
        assert_eq!(cases.iter().filter(|case| case.station == post).count(), CASES_PER_OPERATOR, "{post}");
    }
    // Each printed job is exactly one issuance's approved bytes, received once by the printer.
    let mut spooled: Vec<String> = std::fs::read_dir(&spool)
        .expect("spool")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    spooled.sort();
    assert_eq!(spooled.len(), total, "the printer received {} jobs for {total} cases", spooled.len());
    let reviewer = counter.login("rev1", "a-long-password", Role::Reviewer, "check").await.expect("login");
    let tray = devices::pjl::TraySelection::new("TRAY2", 1, 0).expect("tray");
    let mut issue_numbers = std::collections::BTreeSet::new();
    for case in &cases {
        let issuances = store.issuances(case.id).await.expect("issuances");
        assert_eq!(issuances.len(), 1, "case {} issued once", case.id);
        let name = madoguchi_core::print::job_name(case.id, Some(issuances[0].issue_number));
        assert!(issue_numbers.insert(issuances[0].issue_number), "発行番号 {} twice", issuances[0].issue_number);
        let received = std::fs::read(spool.join(format!("{name}.1.pjl"))).expect("the job's one spool file");
        let (_, output) = counter.review(&reviewer, case.id).await.expect("output");
        let expected =
            devices::pjl::wrap_job(&name, devices::pjl::PrinterLanguage::PdfInPjl, &tray, &output.bytes).expect("job");
        assert!(received == expected, "case {}: the printer received other bytes than approved", case.id);
    }
    let out = madoguchi(&["audit", "verify", "--database", &db.url], &[]);
    assert!(out.status.success(), "the audit chain verifies: {}", text(&out));
    db.drop().await;
}
