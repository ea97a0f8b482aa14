//! The PostgreSQL store, shared by every terminal of a ward office. Writes serialize on the audit head row (locked
//! `FOR UPDATE`), which is also what keeps the audit chain linear across processes and machines.

use async_trait::async_trait;
use sqlx::Postgres;
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::{
    Actor, AuditFilter, AuditRow, Backend, CaseFilter, CaseRecord, CaseSummary, CaseVoid, ClaimedPrintJob, Issuance,
    NewCase, NewOutput, NewUser, OpenMode, Output, PrintEnd, PrintJobFilter, PrintJobRow, PrintJobState,
    PrintResolution, ReservedNumbers, Store, UserRecord, audit_entry_from_row, hash32, migration, store_impl,
    subject_of_case,
};
use crate::audit::{AuditEntry, AuditRecord};
use crate::auth::Role;
use crate::case::{CaseState, ReturnReason};
use crate::error::{CoreError, StoreError};
use crate::request::TaskFamily;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    keys: super::sealing::SharedKeys,
}

impl PgStore {
    /// Connect to `url` and migrate, with the store's data key file.
    pub async fn connect(url: &str, data_keys: &std::path::Path) -> Result<Self, StoreError> {
        Self::connect_with(url, OpenMode::CreateAndMigrate, Some(data_keys)).await
    }

    /// Connect to `url`, migrating only when `mode` says so. Without a data key file only a read-only opening
    /// works (offline audit verification).
    pub async fn connect_with(
        url: &str,
        mode: OpenMode,
        data_keys: Option<&std::path::Path>,
    ) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new().max_connections(8).connect(url).await?;
        if mode == OpenMode::CreateAndMigrate {
            migration(&[
                (1, "counter", include_str!("../../migrations/postgres/0001_counter.sql")),
                (2, "number reservations", include_str!("../../migrations/postgres/0002_number_reservations.sql")),
                (3, "output documents", include_str!("../../migrations/postgres/0003_output_documents.sql")),
                (
                    4,
                    "incidents and usb keys",
                    include_str!("../../migrations/postgres/0004_incidents_and_usb_keys.sql"),
                ),
                (5, "grant requests", include_str!("../../migrations/postgres/0005_grant_requests.sql")),
                (6, "sealed resident data", include_str!("../../migrations/postgres/0006_sealed_resident_data.sql")),
                (7, "seal inquiries", include_str!("../../migrations/postgres/0007_seal_inquiries.sql")),
                (8, "issuance fees", include_str!("../../migrations/postgres/0008_issuance_fees.sql")),
                (9, "paper and day close", include_str!("../../migrations/postgres/0009_paper_and_day_close.sql")),
                (10, "run mode", include_str!("../../migrations/postgres/0010_run_mode.sql")),
                (11, "print jobs", include_str!("../../migrations/postgres/0011_print_jobs.sql")),
                (12, "queue notify", include_str!("../../migrations/postgres/0012_queue_notify.sql")),
                (13, "resident outbox", include_str!("../../migrations/postgres/0013_resident_outbox.sql")),
                (
                    14,
                    "print resolutions and voids",
                    include_str!("../../migrations/postgres/0014_print_resolutions_and_voids.sql"),
                ),
                (15, "inquiry letters", include_str!("../../migrations/postgres/0015_inquiry_letters.sql")),
                (16, "move-out certificates", include_str!("../../migrations/postgres/0016_move_out_certificates.sql")),
                (17, "fee tables", include_str!("../../migrations/postgres/0017_fee_tables.sql")),
            ])
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        }
        let store = Self { pool, keys: Default::default() };
        store.attach_data_keys(data_keys, mode).await?;
        Ok(store)
    }

    /// The connection pool, for tests that must reach the database with raw SQL.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// LISTEN on the queue channel; every notification, and every reconnection, is a hint.
    async fn spawn_queue_watch(&self) -> Result<tokio::sync::watch::Receiver<u64>, StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(super::QUEUE_CHANNEL).await?;
        let (hints, receiver) = tokio::sync::watch::channel(0_u64);
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    () = hints.closed() => break,
                    next = listener.try_recv() => next,
                };
                match next {
                    Ok(Some(_)) => {}
                    // The connection was lost; the listener reconnects (and listens again) on the next call, and
                    // whatever was announced meanwhile is unknown: re-read.
                    Ok(None) => tracing::warn!("queue hints: the LISTEN connection was lost; reconnecting"),
                    Err(err) => {
                        tracing::warn!(%err, "queue hints: cannot receive; retrying");
                        tokio::time::sleep(super::QUEUE_POLL * 10).await;
                    }
                }
                hints.send_modify(|count| *count += 1);
            }
        });
        Ok(receiver)
    }
}

store_impl!(
    PgStore,
    Postgres,
    backend = Backend::Postgres,
    begin = "BEGIN ISOLATION LEVEL READ COMMITTED",
    serialize = Some("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"),
    read_head = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
    next_case_id = "SELECT nextval('case_ids')",
    claim_print_job = "SELECT id, case_id, issuance_id, letter_approval_id, attempts FROM print_jobs WHERE printer_station = $1 AND state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
    claim_outbox_entry = "SELECT id, case_id, idempotency_key, output_sha256, attempts FROM resident_outbox WHERE state IN ('pending', 'sending') AND next_attempt_at_us <= $1 ORDER BY next_attempt_at_us, id LIMIT 1 FOR UPDATE SKIP LOCKED"
);

impl PgStore {
    /// Every exported table in one repeatable-read snapshot: rows as JSON (bytea as `\x…` hex), withheld columns
    /// dropped, in the order of each table's first column.
    async fn export_snapshot(&self) -> Result<std::collections::BTreeMap<String, Vec<serde_json::Value>>, StoreError> {
        use crate::export::{EXPORT_TABLES, WITHHELD_COLUMNS};
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut *tx).await?;
        let mut tables = std::collections::BTreeMap::new();
        for table in EXPORT_TABLES {
            let first: String = sqlx::query_scalar(
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position LIMIT 1",
            )
            .bind(table)
            .fetch_one(&mut *tx)
            .await?;
            let mut json = "to_jsonb(t)".to_string();
            for (_, column) in WITHHELD_COLUMNS.iter().filter(|(t, _)| *t == table) {
                json = format!("({json} - '{column}')");
            }
            let sql = format!("SELECT {json}::text FROM {table} t ORDER BY t.{first}");
            let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *tx).await?;
            tables.insert(table.to_string(), super::rows_from_json(table, &rows)?);
        }
        tx.commit().await?;
        Ok(tables)
    }
}
