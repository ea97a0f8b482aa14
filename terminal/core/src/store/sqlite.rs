//! The embedded SQLite store: one file in WAL mode with `synchronous=FULL`, every write under `BEGIN IMMEDIATE`,
//! so an acknowledged write survives a crash and concurrent processes on one machine never see a half-done case.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Sqlite;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::{
    Actor, AuditFilter, AuditRow, Backend, CaseFilter, CaseRecord, CaseSummary, CaseVoid, ClaimedPrintJob, Issuance,
    NewCase, NewOutput, NewUser, OpenMode, Output, PrintEnd, PrintJobFilter, PrintJobRow, PrintJobState,
    PrintResolution, ReservedNumbers, Store, UserRecord, audit_entry_from_row, hash32, migration, store_impl,
    subject_of_case,
};
use crate::audit::{AuditEntry, AuditRecord};
use crate::auth::Role;
use crate::case::{CaseState, ReturnReason};
use crate::datakeys::DataKeyRing;
use crate::error::{CoreError, StoreError};
use crate::request::TaskFamily;

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    keys: super::sealing::SharedKeys,
}

impl SqliteStore {
    /// Open (creating and migrating if needed) the store file at `path`, its data keys in the file beside it.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, OpenMode::CreateAndMigrate, None).await
    }

    /// Open the store file at `path` as `mode` says, with its data key file (`None`: the file beside it).
    pub async fn open_with(path: &Path, mode: OpenMode, data_keys: Option<&Path>) -> Result<Self, StoreError> {
        let read_only = mode == OpenMode::ExistingReadOnly;
        if read_only && !path.exists() {
            return Err(StoreError::Database(format!("{} does not exist", path.display())));
        }
        let mut options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(!read_only)
            .read_only(read_only)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        if !read_only {
            options = options.journal_mode(SqliteJournalMode::Wal).synchronous(SqliteSynchronous::Full);
        }
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        if !read_only {
            migration(&[
                (1, "counter", include_str!("../../migrations/sqlite/0001_counter.sql")),
                (2, "number reservations", include_str!("../../migrations/sqlite/0002_number_reservations.sql")),
                (3, "output documents", include_str!("../../migrations/sqlite/0003_output_documents.sql")),
                (4, "incidents and usb keys", include_str!("../../migrations/sqlite/0004_incidents_and_usb_keys.sql")),
                (5, "grant requests", include_str!("../../migrations/sqlite/0005_grant_requests.sql")),
                (6, "sealed resident data", include_str!("../../migrations/sqlite/0006_sealed_resident_data.sql")),
                (7, "seal inquiries", include_str!("../../migrations/sqlite/0007_seal_inquiries.sql")),
                (8, "issuance fees", include_str!("../../migrations/sqlite/0008_issuance_fees.sql")),
                (9, "paper and day close", include_str!("../../migrations/sqlite/0009_paper_and_day_close.sql")),
                (10, "run mode", include_str!("../../migrations/sqlite/0010_run_mode.sql")),
                (11, "print jobs", include_str!("../../migrations/sqlite/0011_print_jobs.sql")),
                (13, "resident outbox", include_str!("../../migrations/sqlite/0013_resident_outbox.sql")),
                (
                    14,
                    "print resolutions and voids",
                    include_str!("../../migrations/sqlite/0014_print_resolutions_and_voids.sql"),
                ),
                (15, "inquiry letters", include_str!("../../migrations/sqlite/0015_inquiry_letters.sql")),
                (16, "move-out certificates", include_str!("../../migrations/sqlite/0016_move_out_certificates.sql")),
                (17, "fee tables", include_str!("../../migrations/sqlite/0017_fee_tables.sql")),
            ])
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        }
        let store = Self { pool, keys: Default::default() };
        let key_file = data_keys.map_or_else(|| DataKeyRing::path_beside(path), Path::to_path_buf);
        store.attach_data_keys(Some(&key_file), mode).await?;
        Ok(store)
    }

    /// The connection pool, for tests that must reach the database with raw SQL.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Watch `PRAGMA data_version` on a connection of its own: it changes whenever another connection — of this
    /// process or another one on the machine — commits, which is a hint to re-read the queue.
    async fn spawn_queue_watch(&self) -> Result<tokio::sync::watch::Receiver<u64>, StoreError> {
        let mut connection = self.pool.acquire().await?.detach();
        let mut seen: i64 = sqlx::query_scalar("PRAGMA data_version").fetch_one(&mut connection).await?;
        let (hints, receiver) = tokio::sync::watch::channel(0_u64);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = hints.closed() => break,
                    () = tokio::time::sleep(super::QUEUE_POLL) => {}
                }
                match sqlx::query_scalar::<_, i64>("PRAGMA data_version").fetch_one(&mut connection).await {
                    Ok(version) if version != seen => {
                        seen = version;
                        hints.send_modify(|count| *count += 1);
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(%err, "queue hints: cannot read the data version"),
                }
            }
        });
        Ok(receiver)
    }
}

store_impl!(
    SqliteStore,
    Sqlite,
    backend = Backend::Sqlite,
    begin = "BEGIN IMMEDIATE",
    serialize = None::<&'static str>,
    read_head = "SELECT seq, hash FROM audit_head WHERE id = 1",
    next_case_id = "SELECT coalesce(max(id), 0) + 1 FROM cases",
    claim_print_job = "SELECT id, case_id, issuance_id, letter_approval_id, attempts FROM print_jobs WHERE printer_station = $1 AND state = 'queued' ORDER BY id LIMIT 1",
    claim_outbox_entry = "SELECT id, case_id, idempotency_key, output_sha256, attempts FROM resident_outbox WHERE state IN ('pending', 'sending') AND next_attempt_at_us <= $1 ORDER BY next_attempt_at_us, id LIMIT 1"
);

impl SqliteStore {
    /// Every exported table in one read snapshot: rows as JSON objects (BLOBs as hex), withheld columns left out, in
    /// rowid order.
    async fn export_snapshot(&self) -> Result<std::collections::BTreeMap<String, Vec<serde_json::Value>>, StoreError> {
        use crate::export::{EXPORT_TABLES, WITHHELD_COLUMNS};
        let mut tx = self.pool.begin().await?;
        let mut tables = std::collections::BTreeMap::new();
        for table in EXPORT_TABLES {
            let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                .bind(table)
                .fetch_all(&mut *tx)
                .await?;
            let fields: Vec<String> = columns
                .iter()
                .filter(|column| !WITHHELD_COLUMNS.contains(&(table, column.as_str())))
                .map(|column| {
                    format!("'{column}', CASE WHEN typeof({column}) = 'blob' THEN hex({column}) ELSE {column} END")
                })
                .collect();
            let sql = format!("SELECT json_object({}) FROM {table} ORDER BY rowid", fields.join(", "));
            let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *tx).await?;
            tables.insert(table.to_string(), super::rows_from_json(table, &rows)?);
        }
        tx.commit().await?;
        Ok(tables)
    }
}
