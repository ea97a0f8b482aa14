//! The store: cases, outputs, approvals, issuances, users and the audit chain, behind one interface with a SQLite
//! and a PostgreSQL implementation. Every write is one transaction that appends its audit entry; the databases'
//! own triggers refuse what must never happen (self-approval, approving other bytes, reusing an issue number,
//! editing the audit log), so the rules hold even for raw SQL.

mod postgres;
mod sealing;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::audit::{AuditEntry, AuditRecord};
use crate::auth::Role;
use crate::case::{CaseState, ReturnReason};
use crate::error::{CoreError, StoreError};
use crate::request::{CounterRequest, TaskFamily};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// Shared PostgreSQL.
    Postgres,
}

/// A person acting at a station in one role: whose name every write and read is recorded under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// User id.
    pub user_id: i64,
    /// Login id.
    pub login_id: String,
    /// Role acted in.
    pub role: Role,
    /// Station (terminal) name.
    pub station: String,
}

/// The system itself, for entries no person caused.
pub const SYSTEM_ACTOR: &str = "-";

/// A new user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Login id.
    pub login_id: String,
    /// Display name.
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Roles to grant, each with an optional expiry (µs since the epoch).
    pub grants: Vec<(Role, Option<i64>)>,
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// User id.
    pub id: i64,
    /// Login id.
    pub login_id: String,
    /// Display name.
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Consecutive failed logins.
    pub failed_logins: i64,
    /// Locked after too many failures.
    pub locked: bool,
    /// Grants: role and expiry.
    pub grants: Vec<(Role, Option<i64>)>,
}

impl UserRecord {
    /// Whether the user holds `role` at `now_us`.
    pub fn holds(&self, role: Role, now_us: i64) -> bool {
        self.grants.iter().any(|(r, until)| *r == role && until.is_none_or(|u| now_us < u))
    }
}

/// A new case, as the operator opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCase {
    /// The request.
    pub request: CounterRequest,
    /// What it concerns (`household:…`, `person:…`).
    pub subject: String,
}

/// The output under review: the exact bytes that will be printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Output id.
    pub id: i64,
    /// Case.
    pub case_id: i64,
    /// SHA-256 of `bytes`.
    pub sha256: [u8; 32],
    /// Media type.
    pub media_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The 発行番号 printed on it, if it is a certificate.
    pub issue_number: Option<i64>,
    /// The certificate content it was rendered from (JSON), for the reviewer's preview.
    pub document: Option<String>,
}

/// An output about to be handed to review.
#[derive(Debug, Clone, Copy)]
pub struct NewOutput<'a> {
    /// Media type.
    pub media_type: &'a str,
    /// The exact bytes that will be printed.
    pub bytes: &'a [u8],
    /// The 発行番号 printed on it (reserved for this case), if it is a certificate.
    pub issue_number: Option<i64>,
    /// The certificate content it was rendered from (JSON), for the preview.
    pub document: Option<&'a str>,
}

/// 発行番号 and 管理番号 reserved for an output before it is rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservedNumbers {
    /// 発行番号.
    pub issue_number: i64,
    /// 管理番号 (station and its own sequence).
    pub control_number: String,
}

/// A stored case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRecord {
    /// Case id.
    pub id: i64,
    /// Task family.
    pub family: TaskFamily,
    /// Kind within the family (certificate kind, 異動 kind, …).
    pub kind: String,
    /// State.
    pub state: CaseState,
    /// Station that opened it.
    pub station: String,
    /// Preparer's user id.
    pub preparer_id: i64,
    /// The request as taken.
    pub request: CounterRequest,
    /// Subject reference.
    pub subject: String,
    /// Current output id and its hash.
    pub current_output: Option<(i64, [u8; 32])>,
    /// Reason of the last return.
    pub return_reason: Option<ReturnReason>,
    /// Opened at (µs).
    pub created_at_us: i64,
    /// Last change (µs).
    pub updated_at_us: i64,
}

/// One line of a queue (no resident data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseSummary {
    /// Case id.
    pub id: i64,
    /// Task family name.
    pub family: String,
    /// Kind.
    pub kind: String,
    /// State.
    pub state: CaseState,
    /// Station.
    pub station: String,
    /// Preparer's user id.
    pub preparer_id: i64,
    /// Return reason code, if returned.
    pub return_reason: Option<String>,
    /// Last change (µs).
    pub updated_at_us: i64,
    /// A 転出証明書's 転出 case (the operator's list offers the certificate of a 転出 only once).
    pub move_case: Option<i64>,
}

/// Which cases to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// Only these states (all when empty).
    pub states: Vec<CaseState>,
    /// Only this station's cases.
    pub station: Option<String>,
    /// At most this many (default 200).
    pub limit: u32,
}

/// Which audit entries to list (the auditor's filters). Entries come newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this person's entries (login id).
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<crate::audit::AuditAction>,
    /// Only entries whose subject starts with this (`case:42`, `user:`).
    pub subject_prefix: Option<String>,
    /// Only entries at or after this time (µs).
    pub from_us: Option<i64>,
    /// Only entries before this time (µs).
    pub until_us: Option<i64>,
    /// At most this many (default 200).
    pub limit: u32,
}

/// Where a print job stands (`print_jobs.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintJobState {
    /// Waiting for the printer station's worker.
    Queued,
    /// Claimed: bytes may be on their way.
    Sending,
    /// Every byte reached the printer.
    Printed,
    /// The outcome is unknown: staff decide; never sent again by the queue.
    Suspect,
}

impl PrintJobState {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            PrintJobState::Queued => "queued",
            PrintJobState::Sending => "sending",
            PrintJobState::Printed => "printed",
            PrintJobState::Suspect => "suspect",
        }
    }

    /// The stored form read back.
    pub fn parse(text: &str) -> Option<PrintJobState> {
        [PrintJobState::Queued, PrintJobState::Sending, PrintJobState::Printed, PrintJobState::Suspect]
            .into_iter()
            .find(|state| state.as_str() == text)
    }

    /// 印刷待ち, 印刷中, 印刷済み, 印刷結果不明.
    pub fn label_ja(self) -> &'static str {
        match self {
            PrintJobState::Queued => "印刷待ち",
            PrintJobState::Sending => "印刷中",
            PrintJobState::Printed => "印刷済み",
            PrintJobState::Suspect => "印刷結果不明",
        }
    }
}

/// How a claimed print job ended at the printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintEnd {
    /// Every byte was delivered.
    Printed,
    /// Not one byte left the host: the job waits in the queue again.
    NothingSent,
    /// Some bytes may have left: suspect.
    Unknown,
}

/// A job a print worker has claimed: the approved bytes and the numbers printed on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedPrintJob {
    /// Job id.
    pub id: i64,
    /// The case.
    pub case_id: i64,
    /// 発行番号 (none for a 照会書).
    pub issue_number: Option<i64>,
    /// 管理番号 (none for a 照会書).
    pub control_number: Option<String>,
    /// This claim's attempt (1 for the first).
    pub attempt: i64,
    /// The approved PDF, checked against the approved SHA-256.
    pub pdf: Vec<u8>,
}

/// A print job as listed (no resident data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintJobRow {
    /// Job id.
    pub id: i64,
    /// The case.
    pub case_id: i64,
    /// The issuance it prints (none for a 照会書).
    pub issuance_id: Option<i64>,
    /// 発行番号 on the sheet (none for a 照会書).
    pub issue_number: Option<i64>,
    /// The station whose worker prints it.
    pub printer_station: String,
    /// Where it stands.
    pub state: PrintJobState,
    /// Claims so far.
    pub attempts: i64,
    /// The worker of the last claim.
    pub worker: Option<String>,
    /// Last change.
    pub updated_at_us: i64,
    /// How staff resolved it, when it was suspect.
    pub resolution: Option<PrintResolution>,
}

impl PrintJobRow {
    /// 印刷済み, 印刷結果不明, 損紙（再発行へ）… as staff read it.
    pub fn label_ja(&self) -> &'static str {
        match &self.resolution {
            Some(PrintResolution::Printed) => "印刷済み（確認）",
            Some(PrintResolution::Spoiled { .. }) => "損紙（再発行へ）",
            None => self.state.label_ja(),
        }
    }
}

/// Which print jobs to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrintJobFilter {
    /// One printer station's, or every station's.
    pub station: Option<String>,
    /// One case's, or every case's.
    pub case_id: Option<i64>,
    /// Which of those, by where they stand.
    pub only: PrintJobSelection,
}

/// Print jobs by where they stand (the store selects them; callers never re-derive it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PrintJobSelection {
    /// Every job.
    #[default]
    All,
    /// Suspect prints no one has resolved yet: for staff to check at the tray.
    AwaitingStaff,
    /// Not finished at the printer or by staff: queued, sending, or suspect and unresolved (a day does not close).
    Unsettled,
    /// Resolved by staff as spoiled.
    Spoiled,
}

impl PrintJobSelection {
    fn as_str(self) -> &'static str {
        match self {
            PrintJobSelection::All => "all",
            PrintJobSelection::AwaitingStaff => "awaiting_staff",
            PrintJobSelection::Unsettled => "unsettled",
            PrintJobSelection::Spoiled => "spoiled",
        }
    }
}

impl PrintJobFilter {
    /// Every job of `station`.
    pub fn station(station: &str) -> Self {
        PrintJobFilter { station: Some(station.to_string()), ..PrintJobFilter::default() }
    }

    /// Every job of `case_id`.
    pub fn case(case_id: i64) -> Self {
        PrintJobFilter { case_id: Some(case_id), ..PrintJobFilter::default() }
    }

    /// Every job in `selection`.
    pub fn only(selection: PrintJobSelection) -> Self {
        PrintJobFilter { only: selection, ..PrintJobFilter::default() }
    }
}

/// How staff resolved a suspect print (印刷結果不明の解消), having looked at the printer's tray.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrintResolution {
    /// The sheet came out whole: the issue stands.
    Printed,
    /// It did not, or came out wrong: the sheet is spoiled paper (損紙) for this reason, and the case goes back to its
    /// operator to be prepared again under a new 発行番号 (and approved again). The resident is not charged twice.
    Spoiled {
        /// Why (紙詰まり, 印字かすれ …).
        reason: String,
    },
}

impl PrintResolution {
    /// The stored form.
    pub fn outcome(&self) -> &'static str {
        match self {
            PrintResolution::Printed => "printed",
            PrintResolution::Spoiled { .. } => "spoiled",
        }
    }

    /// The reason ("" when printed).
    pub fn reason(&self) -> &str {
        match self {
            PrintResolution::Printed => "",
            PrintResolution::Spoiled { reason } => reason,
        }
    }

    fn from_stored(outcome: &str, reason: String) -> Option<PrintResolution> {
        match outcome {
            "printed" => Some(PrintResolution::Printed),
            "spoiled" => Some(PrintResolution::Spoiled { reason }),
            _ => None,
        }
    }
}

/// 取消 of a case as recorded: what it undid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseVoid {
    /// The case.
    pub case_id: i64,
    /// The post that took the request (where the fee is refunded).
    pub post: String,
    /// Why.
    pub reason: String,
    /// 手数料 refunded: every fee collected for the case.
    pub refund_yen: i64,
    /// Sheets of security paper taken back and voided (the issued certificate); 0 when nothing was handed out.
    pub voided_sheets: i64,
    /// The printer station whose ledger the voided sheets belong to.
    pub printer_station: Option<String>,
    /// When.
    pub decided_at_us: i64,
}

/// An issued certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuance {
    /// Row id.
    pub id: i64,
    /// Case.
    pub case_id: i64,
    /// 発行番号.
    pub issue_number: i64,
    /// 管理番号 (per station).
    pub control_number: String,
    /// Station that recorded the issue.
    pub station: String,
    /// The counter post that took the request (where the fee is collected).
    pub post: String,
    /// Sheets printed.
    pub sheets: i64,
    /// Copies.
    pub copies: i64,
    /// When (µs).
    pub issued_at_us: i64,
    /// 手数料 charged (yen).
    pub fee_yen: i64,
    /// Why less or nothing was charged (免除の理由), if so.
    pub fee_exemption: Option<String>,
}

/// The counter's storage.
#[async_trait]
pub trait Store: Send + Sync {
    /// Which database this is.
    fn backend(&self) -> Backend;

    /// Whether a first admin exists.
    async fn is_initialized(&self) -> Result<bool, StoreError>;

    /// Create the first users — at least two admins, so that every later grant can be approved by a second admin —
    /// with their grants in force. Refused if any user exists.
    async fn initialize(&self, admins: &[NewUser], station: &str, at_us: i64) -> Result<(), CoreError>;

    /// Create a user (admins only; checked by the caller and recorded here). The user's grants are *requested*:
    /// they take effect when another admin approves them ([`Store::decide_grant`]).
    async fn create_user(&self, actor: &Actor, user: NewUser, at_us: i64) -> Result<i64, CoreError>;

    /// Request a role grant (or a new expiry) for an existing user; in force only after another admin approves.
    async fn request_grant(
        &self,
        actor: &Actor,
        login_id: &str,
        role: Role,
        valid_until_us: Option<i64>,
        at_us: i64,
    ) -> Result<i64, CoreError>;

    /// Approve (the grant takes effect) or reject a pending grant request. Refused for its requester.
    async fn decide_grant(&self, actor: &Actor, request_id: i64, approve: bool, at_us: i64) -> Result<(), CoreError>;

    /// Revoke a user's grants of `role` now (taking a right away needs no second admin; it is recorded). Refused if
    /// none is in force, or if it would leave fewer than two admins.
    async fn revoke_grant(&self, actor: &Actor, login_id: &str, role: Role, at_us: i64) -> Result<(), CoreError>;

    /// Every table of the store for the return export, read in one snapshot (withheld columns left out).
    async fn export_tables(&self) -> Result<std::collections::BTreeMap<String, Vec<serde_json::Value>>, StoreError>;

    /// Record that the 照会書 of a 印鑑登録 case by 照会書 was mailed: the letter is the case's approved output
    /// `letter_output_id` and one of its print jobs came out of the printer (refused otherwise). One audit row.
    async fn record_inquiry(
        &self,
        actor: &Actor,
        case_id: i64,
        letter_output_id: i64,
        sent_on: jiff::civil::Date,
        deadline: jiff::civil::Date,
        at_us: i64,
    ) -> Result<crate::inquiry::SealInquiry, CoreError>;

    /// Decide a pending 照会 on the ward's day `today`: accept its 回答書 (refused after the deadline, the refusal
    /// recorded) or, when `accept` is false, let it expire (only after the deadline). One audit row either way.
    async fn decide_inquiry(
        &self,
        actor: &Actor,
        case_id: i64,
        today: jiff::civil::Date,
        accept: bool,
        at_us: i64,
    ) -> Result<crate::inquiry::SealInquiry, CoreError>;

    /// The 照会 of 印鑑登録 cases, by deadline (only the pending ones when `pending_only`).
    async fn inquiries(&self, pending_only: bool) -> Result<Vec<crate::inquiry::SealInquiry>, StoreError>;

    /// Every table as stored, sealed columns still sealed (what erasure scans on a shared database).
    async fn stored_tables(&self) -> Result<std::collections::BTreeMap<String, Vec<serde_json::Value>>, StoreError>;

    /// The data keys the database records (ids only; the key material is in the key file).
    async fn data_keys(&self) -> Result<Vec<DataKeyRecord>, StoreError>;

    /// Contract-end crypto-shredding: record every live data key as destroyed (one audit row), then destroy the key
    /// file. From then on the sealed resident data opens nowhere and the store accepts no new work. Returns the
    /// keys destroyed now or by an earlier, interrupted erasure.
    async fn destroy_data_keys(&self, actor: &Actor, at_us: i64) -> Result<Vec<DataKeyRecord>, CoreError>;

    /// Load the key file (creating it for a new store), check it against the keys the database records, and
    /// register a new store's keys.
    async fn attach_data_keys(&self, path: Option<&std::path::Path>, mode: OpenMode) -> Result<(), StoreError>;

    /// Rebuild the database files so freed pages and the write-ahead log keep nothing that was deleted or
    /// rewritten (SQLite: VACUUM and a truncating WAL checkpoint; PostgreSQL: VACUUM FULL of the sealed tables).
    async fn compact(&self) -> Result<(), StoreError>;

    /// Grant requests, newest first (only the undecided ones when `pending_only`).
    async fn grant_requests(&self, pending_only: bool) -> Result<Vec<GrantRequest>, StoreError>;

    /// Every user with grants and lock state, by login id (the admin's user list; no audit row: no resident data).
    async fn users(&self) -> Result<Vec<UserRecord>, StoreError>;

    /// Look up a user for login (the login attempt itself is recorded by [`Store::record_login`]).
    async fn user_by_login(&self, login_id: &str) -> Result<Option<UserRecord>, StoreError>;

    /// Record a login attempt; `lock_after` consecutive failures lock the account.
    async fn record_login(
        &self,
        login_id: &str,
        role: Option<Role>,
        success: bool,
        station: &str,
        at_us: i64,
        lock_after: i64,
    ) -> Result<(), StoreError>;

    /// Append one audit entry in its own transaction (for reads that change nothing else). It commits before the
    /// caller may show the data; if it fails, the caller must not show it.
    async fn append_audit(&self, record: &AuditRecord) -> Result<i64, StoreError>;

    /// Open a draft case.
    async fn create_case(&self, actor: &Actor, case: NewCase, at_us: i64) -> Result<i64, CoreError>;

    /// Correct the request of a returned case of the actor's post (same task family and subject; refused
    /// otherwise), with its audit row; the case stays returned until it is handed over again.
    async fn revise_case(&self, actor: &Actor, case_id: i64, case: NewCase, at_us: i64) -> Result<(), CoreError>;

    /// Reserve the 発行番号 and 管理番号 an output of this case will print (recorded; never reused), in one
    /// transaction with `reads` — the audit rows of the reads that preparing the output made — appended first.
    async fn reserve_numbers(
        &self,
        actor: &Actor,
        case_id: i64,
        reads: &[AuditRecord],
        at_us: i64,
    ) -> Result<ReservedNumbers, CoreError>;

    /// Load a case without recording the read: only for core's own preparation, which records the read (in
    /// `reserve_numbers`' `reads`, or on its own before an error) before anything taken from it leaves core.
    async fn case_unrecorded(&self, case_id: i64) -> Result<CaseRecord, CoreError>;

    /// Store the output and hand the case to review.
    async fn submit_case(
        &self,
        actor: &Actor,
        case_id: i64,
        output: NewOutput<'_>,
        at_us: i64,
    ) -> Result<Output, CoreError>;

    /// Approve the output whose SHA-256 is `output_sha256`. The print job the approval queued, if any: an approved
    /// 照会書 goes to the approving station's printer at once.
    async fn approve_case(
        &self,
        actor: &Actor,
        case_id: i64,
        output_sha256: [u8; 32],
        at_us: i64,
    ) -> Result<Option<i64>, CoreError>;

    /// Return the case with a coded reason.
    async fn return_case(&self, actor: &Actor, case_id: i64, reason: ReturnReason, at_us: i64)
    -> Result<(), CoreError>;

    /// Record the issue of the approved output under the 発行番号 and 管理番号 printed on it; `charge` gives the fee
    /// and the number of copies from the case as loaded in the issuing transaction.
    async fn issue_case(
        &self,
        actor: &Actor,
        case_id: i64,
        sheets: i64,
        charge: &(dyn for<'c> Fn(&'c CaseRecord) -> (crate::fees::Fee, i64) + Send + Sync),
        at_us: i64,
    ) -> Result<Issuance, CoreError>;

    /// The issuances recorded in `[from_us, until_us)` with the requests they answered (本人通知 data): one
    /// transaction, one audit row recorded as `actor`.
    async fn issued_requests_between(
        &self,
        actor: &Actor,
        from_us: i64,
        until_us: i64,
        at_us: i64,
    ) -> Result<Vec<(Issuance, CounterRequest)>, CoreError>;

    /// The store's run mode (本番 or 研修): the one recorded, or `mode` — recorded now, with its audit row, by the
    /// first terminal that opens the store. A store's mode never changes.
    async fn claim_run_mode(
        &self,
        mode: crate::mode::RunMode,
        station: &str,
        at_us: i64,
    ) -> Result<crate::mode::RunMode, StoreError>;

    /// Claim the oldest queued print job of `station` for `worker` (state `sending`, with its audit row, committed
    /// before the bytes are returned); `None` when nothing waits. Two workers never get the same job.
    async fn claim_print_job(
        &self,
        station: &str,
        worker: &str,
        at_us: i64,
    ) -> Result<Option<ClaimedPrintJob>, CoreError>;

    /// Record how `worker`'s claimed job ended: printed, back to the queue (nothing sent) or suspect.
    async fn finish_print_job(
        &self,
        job_id: i64,
        worker: &str,
        end: PrintEnd,
        detail: serde_json::Value,
        at_us: i64,
    ) -> Result<PrintJobState, CoreError>;

    /// Make every job of `station` left `sending` (its worker stopped mid-job) suspect; their ids.
    async fn suspect_unfinished_print_jobs(
        &self,
        station: &str,
        worker: &str,
        at_us: i64,
    ) -> Result<Vec<i64>, CoreError>;

    /// The print jobs the filter selects, oldest first.
    async fn print_jobs(&self, filter: &PrintJobFilter) -> Result<Vec<PrintJobRow>, StoreError>;

    /// Resolve a suspect print (staff, having looked at the tray), with its audit row: printed, or spoiled — then
    /// the issued case goes back to draft for its operator, in the same transaction. The case's state after.
    async fn resolve_print(
        &self,
        actor: &Actor,
        job_id: i64,
        resolution: &PrintResolution,
        at_us: i64,
    ) -> Result<CaseState, CoreError>;

    /// Void (取消) a case with its reason, in one transaction with its audit row: every fee collected for it is
    /// refunded and an issued sheet handed out is voided paper. Refused while its print is unsettled, and for an
    /// approved 異動 (its entry is on its way to the resident system).
    async fn void_case(&self, actor: &Actor, case_id: i64, reason: &str, at_us: i64) -> Result<CaseVoid, CoreError>;

    /// The voids decided in `[from_us, until_us)` (the day's cash subtracts their refunds).
    async fn voids_between(&self, from_us: i64, until_us: i64) -> Result<Vec<CaseVoid>, StoreError>;

    /// Take the next due outbox entry (pending and due, or sending with its lease run out) for `sender` at
    /// `station`: state `sending`, one more attempt, leased for `lease_us`, with its audit row, committed before the
    /// approved bytes are returned; `None` when nothing is due. Two senders never hold one entry at once.
    async fn claim_outbox_entry(
        &self,
        station: &str,
        sender: &str,
        lease_us: i64,
        at_us: i64,
    ) -> Result<Option<crate::outbox::ClaimedOutboxEntry>, CoreError>;

    /// Record how `sender`'s try of an entry ended (committed with its receipt, deferred, rejected), with its audit
    /// row. Refused when the entry is no longer this sender's (its lease ran out and another took it).
    async fn finish_outbox_entry(
        &self,
        entry_id: i64,
        station: &str,
        sender: &str,
        end: &crate::outbox::OutboxEnd,
        at_us: i64,
    ) -> Result<crate::outbox::OutboxState, CoreError>;

    /// The approved entries still on their way (pending or sending) with their case ids, opened: what a certificate
    /// of an affected household must wait for. (A rejected entry changed nothing on the resident system.)
    async fn unfinished_outbox_entries(&self) -> Result<Vec<(i64, Vec<u8>)>, CoreError>;

    /// The outbox, oldest first; only the entries not yet committed when `unfinished_only`.
    async fn outbox(&self, unfinished_only: bool) -> Result<Vec<crate::outbox::OutboxRow>, StoreError>;

    /// Hints that the queue (cases, print jobs) may have changed anywhere: the value grows with each hint, so a
    /// watcher re-reads what it shows when it changes. Hints, never data: they may come without a change (any
    /// commit on SQLite; a reconnection on PostgreSQL) but a change always brings one. PostgreSQL: LISTEN on
    /// `madoguchi_queue` (migration 0012); SQLite: `PRAGMA data_version` every 100 ms, so terminals in other
    /// processes on the machine are seen alike. The watch ends when every receiver is dropped.
    async fn watch_queue(&self) -> Result<tokio::sync::watch::Receiver<u64>, StoreError>;

    /// Record security paper received (`spoiled` false) or spoiled with its reason at a printer station.
    async fn record_paper(
        &self,
        actor: &Actor,
        station: &str,
        spoiled: bool,
        sheets: i64,
        reason: &str,
        at_us: i64,
    ) -> Result<(), CoreError>;

    /// Sheets on hand per printer station before `until_us`: received − spoiled − issued.
    async fn paper_on_hand(&self, until_us: i64) -> Result<Vec<(String, i64)>, StoreError>;

    /// The newest 手数料表 an administrator set — the one in force — if any was.
    async fn fee_table(&self) -> Result<Option<StoredFeeTable>, StoreError>;

    /// Keep a new 手数料表 (its text in the fee file's format) with its audit row, whose `detail` names the
    /// amounts before and after.
    async fn set_fee_table(
        &self,
        actor: &Actor,
        table_toml: &str,
        detail: serde_json::Value,
        at_us: i64,
    ) -> Result<StoredFeeTable, CoreError>;

    /// Record the close of a day (refused by the database if closed already or a mismatch is unexplained).
    async fn record_day_close(
        &self,
        actor: &Actor,
        close: &crate::dayclose::DayClose,
        mismatch: bool,
        at_us: i64,
    ) -> Result<(), CoreError>;

    /// The close of a day, if it was closed.
    async fn day_close(&self, day: jiff::civil::Date) -> Result<Option<crate::dayclose::DayClose>, StoreError>;

    /// The cases taken in `[from_us, until_us)` as the 日報・月報 count them (requester kinds from the sealed
    /// requests; no resident data leaves): one transaction, one read row recorded as `actor`.
    async fn report_cases(
        &self,
        actor: &Actor,
        from_us: i64,
        until_us: i64,
        at_us: i64,
    ) -> Result<Vec<crate::report::ReportCase>, CoreError>;

    /// The returns decided in `[from_us, until_us)`: reason and the login of the case's preparer.
    async fn returns_between(&self, from_us: i64, until_us: i64) -> Result<Vec<(ReturnReason, String)>, StoreError>;

    /// Security paper (received, spoiled) recorded in `[from_us, until_us)`.
    async fn paper_moved_between(&self, from_us: i64, until_us: i64) -> Result<(i64, i64), StoreError>;

    /// Issuances recorded in `[from_us, until_us)`, by 発行番号 (the day's cash, 日計).
    async fn issuances_between(&self, from_us: i64, until_us: i64) -> Result<Vec<Issuance>, StoreError>;

    /// Read a case (recorded as a read).
    async fn case(&self, actor: &Actor, case_id: i64, at_us: i64) -> Result<CaseRecord, CoreError> {
        self.case_recorded_as(actor, case_id, at_us, &|_| {
            (crate::audit::AuditAction::CaseRead, serde_json::json!({ "what": "case" }))
        })
        .await
    }

    /// Read a case and record the read, in the same transaction, as the action and detail `record_as` chooses from
    /// the case (so a decision about the case, such as a refused field, is one audit row).
    async fn case_recorded_as(
        &self,
        actor: &Actor,
        case_id: i64,
        at_us: i64,
        record_as: &(dyn for<'c> Fn(&'c CaseRecord) -> (crate::audit::AuditAction, serde_json::Value) + Send + Sync),
    ) -> Result<CaseRecord, CoreError>;

    /// Read a case with its current output for review (recorded as one read).
    async fn case_with_output(
        &self,
        actor: &Actor,
        case_id: i64,
        at_us: i64,
    ) -> Result<(CaseRecord, Output), CoreError>;

    /// List cases (no resident data).
    async fn cases(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError>;

    /// The issuances of a case.
    async fn issuances(&self, case_id: i64) -> Result<Vec<Issuance>, StoreError>;

    /// The issuance that printed this 発行番号, if any.
    async fn issuance_by_number(&self, issue_number: i64) -> Result<Option<Issuance>, StoreError>;

    /// Audit entries from `from_seq` on, in order.
    async fn audit_entries(&self, from_seq: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError>;

    /// Audit entries matching `filter`, newest first.
    async fn audit_search(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError>;

    /// How many audit entries match `filter` (its limit ignored).
    async fn audit_count(&self, filter: &AuditFilter) -> Result<i64, StoreError>;

    /// The chain head the store keeps (`audit_head`): the last entry's seq and hash.
    async fn audit_head(&self) -> Result<(i64, [u8; 32]), StoreError>;

    /// Record an incident with its audit row (`record`, whose action is the incident's) in one transaction.
    async fn record_incident(&self, record: &AuditRecord, kind: &str) -> Result<i64, StoreError>;

    /// The newest incidents first.
    async fn incidents(&self, limit: i64) -> Result<Vec<Incident>, StoreError>;

    /// Register (or with `None` remove) a user's USB key; recorded.
    async fn set_usb_key(
        &self,
        actor: &Actor,
        login_id: &str,
        key: Option<&crate::guard::UsbKey>,
        at_us: i64,
    ) -> Result<(), CoreError>;

    /// A user's registered USB key.
    async fn usb_key(&self, user_id: i64) -> Result<Option<crate::guard::UsbKey>, StoreError>;
}

/// A requested role grant and what became of it (権限変更の申請).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    /// Request id.
    pub id: i64,
    /// Whose grant.
    pub login_id: String,
    /// The role.
    pub role: Role,
    /// Expiry of the grant (µs), if any.
    pub valid_until_us: Option<i64>,
    /// The admin who asked.
    pub requested_by: String,
    /// When (µs).
    pub requested_at_us: i64,
    /// `Some(true)` approved, `Some(false)` rejected, `None` pending.
    pub approved: Option<bool>,
    /// The admin who decided.
    pub decided_by: Option<String>,
}

/// A 手数料表 kept in the store (migration 0017).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFeeTable {
    /// Row id.
    pub id: i64,
    /// The table in the fee file's format (`FeeTable::parse` reads it).
    pub table_toml: String,
    /// Login id of the administrator who set it.
    pub set_by: String,
    /// When (µs).
    pub set_at_us: i64,
}

/// An incident a terminal raised (事故: removable storage attached, USB key removed, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// Row id.
    pub id: i64,
    /// When (µs).
    pub at_us: i64,
    /// Station.
    pub station: String,
    /// Who was logged in ("-" for nobody).
    pub login_id: String,
    /// Kind (`media.attached`, `usb_key.removed`, …).
    pub kind: String,
    /// Detail as JSON (device identity, never resident data).
    pub detail: String,
}

/// A data key the database records (ids and dates only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataKeyRecord {
    /// Key id (16 hex digits).
    pub key_id: String,
    /// Which data it seals.
    pub dataset: crate::datakeys::Dataset,
    /// When it was created.
    pub created_at_us: i64,
    /// When it was destroyed (contract-end erasure).
    pub destroyed_at_us: Option<i64>,
}

/// How to open a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the database if missing and apply migrations (terminals, `init`).
    CreateAndMigrate,
    /// Open an existing database without writing to it (offline verification of a copy).
    ExistingReadOnly,
}

/// Open the store a URL names: `sqlite://PATH` or `postgres://…`, with its data key file (`data_keys`; a SQLite
/// store's defaults to the file beside it, a PostgreSQL store's must be given).
pub async fn open_store(
    url: &str,
    mode: OpenMode,
    data_keys: Option<&std::path::Path>,
) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = sqlite_path(url) {
        Ok(Arc::new(SqliteStore::open_with(path, mode, data_keys).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect_with(url, mode, data_keys).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}

/// An `issuances` row (with the case's post) as both backends return it.
type IssuanceRow = (i64, i64, i64, String, String, String, i64, i64, i64, i64, Option<String>);

/// An [`IssuanceRow`] followed by the case's sealed request.
type IssuedRequestRow = (i64, i64, i64, String, String, String, i64, i64, i64, i64, Option<String>, String);

fn issuance_from_row(row: IssuanceRow) -> Issuance {
    let (
        id,
        case_id,
        issue_number,
        control_number,
        station,
        post,
        sheets,
        copies,
        issued_at_us,
        fee_yen,
        fee_exemption,
    ) = row;
    Issuance {
        id,
        case_id,
        issue_number,
        control_number,
        station,
        post,
        sheets,
        copies,
        issued_at_us,
        fee_yen,
        fee_exemption,
    }
}

/// A `seal_inquiries` row: (case_id, sent_on, deadline, state, decided_on).
type InquiryRow = (i64, String, String, String, Option<String>);

fn inquiry_from_row(
    (case_id, sent_on, deadline, state, decided_on): InquiryRow,
) -> Result<crate::inquiry::SealInquiry, StoreError> {
    let date = |text: &str| {
        text.parse::<jiff::civil::Date>()
            .map_err(|e| StoreError::Corrupt(format!("inquiry of case {case_id}: date {text:?}: {e}")))
    };
    Ok(crate::inquiry::SealInquiry {
        case_id,
        sent_on: date(&sent_on)?,
        deadline: date(&deadline)?,
        state: crate::inquiry::InquiryState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("inquiry of case {case_id}: state {state:?}")))?,
        decided_on: decided_on.as_deref().map(date).transpose()?,
    })
}

/// The file of a `sqlite://PATH` URL.
pub fn sqlite_path(url: &str) -> Option<&std::path::Path> {
    url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).map(std::path::Path::new)
}

fn hash32(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| StoreError::Corrupt(format!("expected a 32-byte hash, found {} bytes", bytes.len())))
}

/// Rows a backend rendered as JSON text (the return export), parsed; a row that is not JSON names its table.
fn rows_from_json(table: &str, rows: &[String]) -> Result<Vec<serde_json::Value>, StoreError> {
    rows.iter().map(|row| serde_json::from_str(row).map_err(|e| StoreError::Corrupt(format!("{table}: {e}")))).collect()
}

/// An `audit_log` row as both backends return it.
type AuditRow = (i64, i64, String, String, String, String, String, String, Vec<u8>, Vec<u8>);

fn audit_entry_from_row(row: AuditRow) -> Result<AuditEntry, StoreError> {
    let (seq, at_us, station, actor, role, action, subject, detail, prev, hash) = row;
    Ok(AuditEntry {
        seq,
        at_us,
        station,
        actor,
        role,
        action,
        subject,
        detail,
        prev_hash: hash32(&prev)?,
        entry_hash: hash32(&hash)?,
    })
}

/// The PostgreSQL channel of queue hints.
const QUEUE_CHANNEL: &str = "madoguchi_queue";

/// How often the SQLite store looks for commits of other connections.
const QUEUE_POLL: std::time::Duration = std::time::Duration::from_millis(100);

pub(crate) fn subject_of_case(case_id: i64) -> String {
    format!("case:{case_id}")
}

/// The migrations of one backend, in order: (version, description, SQL).
fn migration(steps: &[(i64, &'static str, &'static str)]) -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr as _;
    sqlx::migrate::Migrator::with_migrations(
        steps
            .iter()
            .map(|(version, description, sql)| {
                sqlx::migrate::Migration::new(
                    *version,
                    (*description).into(),
                    sqlx::migrate::MigrationType::Simple,
                    sql.into_sql_str(),
                    // A migration that must run outside a transaction (SQLite's table rebuild) says so first.
                    sql.starts_with("-- no-transaction"),
                )
            })
            .collect(),
    )
}

/// A print job not settled at the printer or by staff — queued, sending, or suspect and unresolved — as SQL over the
/// job `j` and its resolution `r`: the one definition the queue listing and the void share.
macro_rules! unsettled_print_job {
    () => {
        "(j.state IN ('queued', 'sending') OR (j.state = 'suspect' AND r.id IS NULL))"
    };
}
pub(crate) use unsettled_print_job;

/// The issuances query with the case's post, for a `WHERE` clause (and extra columns after the `IssuanceRow` ones).
macro_rules! issuance_query {
    ($extra_columns:literal, $where:literal) => {
        concat!(
            "SELECT i.id, i.case_id, i.issue_number, i.control_number, i.station, c.station, i.sheets, i.copies,
                    i.issued_at_us, i.fee_yen, i.fee_exemption",
            $extra_columns,
            " FROM issuances i JOIN cases c ON c.id = i.case_id WHERE ",
            $where,
            " ORDER BY i.issue_number"
        )
    };
}
pub(crate) use issuance_query;

/// A write transaction: it holds the store's writer lock (BEGIN IMMEDIATE on SQLite, the audit head row on
/// PostgreSQL) and follows the audit chain head it appends to. Statements run on it as on its connection.
pub(crate) struct WriteTx<DB: sqlx::Database> {
    tx: sqlx::Transaction<'static, DB>,
    /// The chain head (seq, hash) as of this transaction's last append; `None` until first read.
    head: Option<(i64, [u8; 32])>,
}

impl<DB: sqlx::Database> WriteTx<DB> {
    async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl<DB: sqlx::Database> std::ops::Deref for WriteTx<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

/// The body shared by both implementations; the parameters are where the SQL dialects differ.
macro_rules! store_impl {
    ($store:ident, $db:ty, backend = $backend:expr, begin = $begin:expr, serialize = $serialize:expr, read_head = $read_head:expr, next_case_id = $next_case_id:expr, claim_print_job = $claim_print_job:expr, claim_outbox_entry = $claim_outbox_entry:expr) => {
        impl $store {
            /// Begin a write transaction that holds the store's single writer lock from its first statement, so
            /// counters read inside it (case ids, issue numbers, the audit head) cannot race another writer. On
            /// PostgreSQL the lock is the audit head row, read with it, so the chain head is known from the start.
            async fn begin_write(&self) -> Result<$crate::store::WriteTx<$db>, StoreError> {
                let mut tx = self.pool.begin_with($begin).await?;
                let head = match $serialize {
                    Some(statement) => {
                        let (seq, hash): (i64, Vec<u8>) = sqlx::query_as(statement).fetch_one(&mut *tx).await?;
                        Some((seq, hash32(&hash)?))
                    }
                    None => None,
                };
                Ok($crate::store::WriteTx { tx, head })
            }

            /// Append an audit entry inside `tx` after the chain head. The head cannot move under a write transaction
            /// (it holds the writer lock), so it is read once per transaction and followed from then on: one round
            /// trip per entry while the lock is held. The database's triggers still check each row against the head.
            async fn append_in(tx: &mut $crate::store::WriteTx<$db>, record: &AuditRecord) -> Result<i64, StoreError> {
                let (seq, hash) = match tx.head {
                    Some(head) => head,
                    None => {
                        let (seq, hash): (i64, Vec<u8>) = sqlx::query_as($read_head).fetch_one(&mut *tx.tx).await?;
                        (seq, hash32(&hash)?)
                    }
                };
                let entry = record.chain(seq, hash);
                sqlx::query(
                    "INSERT INTO audit_log (seq, at_us, station, actor, role, action, subject, detail, prev_hash, entry_hash)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(entry.seq)
                .bind(entry.at_us)
                .bind(&entry.station)
                .bind(&entry.actor)
                .bind(&entry.role)
                .bind(&entry.action)
                .bind(&entry.subject)
                .bind(&entry.detail)
                .bind(entry.prev_hash.as_slice())
                .bind(entry.entry_hash.as_slice())
                .execute(&mut *tx.tx)
                .await?;
                tx.head = Some((entry.seq, entry.entry_hash));
                Ok(entry.seq)
            }

            /// Insert a user row (its grants are put in force or requested separately).
            async fn insert_user(tx: &mut <$db as sqlx::Database>::Connection, user: &NewUser, at_us: i64) -> Result<i64, CoreError> {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO users (login_id, display_name, password_hash, created_at_us) VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(&user.login_id)
                .bind(&user.display_name)
                .bind(&user.password_hash)
                .bind(at_us)
                .fetch_one(&mut *tx)
                .await?;
                Ok(id)
            }

            /// The id of the user `login_id`, or not found.
            async fn user_id_in(tx: &mut <$db as sqlx::Database>::Connection, login_id: &str) -> Result<i64, CoreError> {
                let user_id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE login_id = $1")
                    .bind(login_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
                user_id.ok_or_else(|| CoreError::NotFound { what: "user", id: login_id.to_string() })
            }

            /// Put grants in force (initialization, or an approved request).
            async fn insert_grants(
                tx: &mut <$db as sqlx::Database>::Connection,
                user_id: i64,
                grants: &[(Role, Option<i64>)],
                granted_by: Option<i64>,
                at_us: i64,
            ) -> Result<(), StoreError> {
                for (role, until) in grants {
                    sqlx::query("INSERT INTO grants (user_id, role, valid_until_us, granted_by, created_at_us) VALUES ($1, $2, $3, $4, $5)")
                        .bind(user_id)
                        .bind(role.as_str())
                        .bind(*until)
                        .bind(granted_by)
                        .bind(at_us)
                        .execute(&mut *tx)
                        .await?;
                }
                Ok(())
            }

            #[allow(clippy::too_many_arguments)]
            async fn insert_grant_request(
                tx: &mut <$db as sqlx::Database>::Connection,
                user_id: i64,
                role: Role,
                valid_until_us: Option<i64>,
                requested_by: i64,
                at_us: i64,
                audit_seq: i64,
            ) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO grant_requests (user_id, role, valid_until_us, requested_by, requested_at_us, audit_seq)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(user_id)
                .bind(role.as_str())
                .bind(valid_until_us)
                .bind(requested_by)
                .bind(at_us)
                .bind(audit_seq)
                .fetch_one(&mut *tx)
                .await?)
            }

            /// The sealed bytes of `case_id`'s output with this SHA-256 (what was approved), for a worker to open.
            async fn sealed_output_bytes(tx: &mut <$db as sqlx::Database>::Connection, case_id: i64, sha256: &[u8]) -> Result<Vec<u8>, StoreError> {
                Ok(sqlx::query_scalar("SELECT bytes FROM outputs WHERE case_id = $1 AND sha256 = $2 ORDER BY id DESC LIMIT 1")
                    .bind(case_id)
                    .bind(sha256)
                    .fetch_one(&mut *tx)
                    .await?)
            }

            async fn load_case(keys: &$crate::store::sealing::SharedKeys, tx: &mut <$db as sqlx::Database>::Connection, case_id: i64) -> Result<CaseRecord, CoreError> {
                type Row = (i64, String, String, String, String, i64, String, String, Option<i64>, Option<Vec<u8>>, Option<String>, i64, i64);
                let row: Option<Row> = sqlx::query_as(
                    "SELECT c.id, c.family, c.kind, c.state, c.station, c.preparer_id, c.request, c.subject, c.current_output_id,
                            o.sha256, c.return_reason, c.created_at_us, c.updated_at_us
                     FROM cases c LEFT JOIN outputs o ON o.id = c.current_output_id WHERE c.id = $1",
                )
                .bind(case_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((id, family, kind, state, station, preparer_id, request, subject, output_id, output_sha256, reason, created, updated)) = row else {
                    return Err(CoreError::NotFound { what: "case", id: case_id.to_string() });
                };
                let current_output = match (output_id, output_sha256) {
                    (Some(output_id), Some(hash)) => Some((output_id, hash32(&hash)?)),
                    (None, _) => None,
                    (Some(output_id), None) => {
                        return Err(StoreError::Corrupt(format!("case {id}: its output {output_id} is missing")).into());
                    }
                };
                let family = match family.as_str() {
                    "move" => TaskFamily::Move,
                    "certificate" => TaskFamily::Certificate,
                    "seal" => TaskFamily::Seal,
                    other => return Err(StoreError::Corrupt(format!("case {id}: unknown family {other:?}")).into()),
                };
                Ok(CaseRecord {
                    id,
                    family,
                    kind,
                    state: CaseState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("case {id}: unknown state {state:?}")))?,
                    station,
                    preparer_id,
                    request: $crate::store::sealing::open_request(keys, id, &request)?,
                    subject,
                    current_output,
                    return_reason: reason.as_deref().and_then(ReturnReason::parse),
                    created_at_us: created,
                    updated_at_us: updated,
                })
            }

            fn transition(case: &CaseRecord, action: $crate::case::CaseAction) -> Result<CaseState, CoreError> {
                case.state.after(action).ok_or(CoreError::InvalidTransition { case_id: case.id, from: case.state, action })
            }

            fn record(actor: &Actor, at_us: i64, action: $crate::audit::AuditAction, subject: String, detail: serde_json::Value) -> AuditRecord {
                AuditRecord {
                    at_us,
                    station: actor.station.clone(),
                    actor: actor.login_id.clone(),
                    role: actor.role.as_str().to_string(),
                    action,
                    subject,
                    detail,
                }
            }

            async fn set_state(
                tx: &mut <$db as sqlx::Database>::Connection,
                case_id: i64,
                state: CaseState,
                audit_seq: i64,
                at_us: i64,
            ) -> Result<(), StoreError> {
                sqlx::query("UPDATE cases SET state = $1, audit_seq = $2, updated_at_us = $3 WHERE id = $4")
                    .bind(state.as_str())
                    .bind(audit_seq)
                    .bind(at_us)
                    .bind(case_id)
                    .execute(&mut *tx)
                    .await?;
                Ok(())
            }

            /// Queue the approved 照会書 of `approval_id` at `station`'s printer; the job's id.
            async fn queue_letter(
                tx: &mut <$db as sqlx::Database>::Connection,
                case_id: i64,
                approval_id: i64,
                station: &str,
                audit_seq: i64,
                at_us: i64,
            ) -> Result<i64, StoreError> {
                let job_id: i64 = sqlx::query_scalar(
                    "INSERT INTO print_jobs (letter_approval_id, case_id, printer_station, state, attempts, updated_at_us, audit_seq)
                     VALUES ($1, $2, $3, 'queued', 0, $4, $5) RETURNING id",
                )
                .bind(approval_id)
                .bind(case_id)
                .bind(station)
                .bind(at_us)
                .bind(audit_seq)
                .fetch_one(&mut *tx)
                .await?;
                Ok(job_id)
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> Backend {
                $backend
            }

            async fn is_initialized(&self) -> Result<bool, StoreError> {
                let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&self.pool).await?;
                Ok(count > 0)
            }

            async fn initialize(&self, admins: &[NewUser], station: &str, at_us: i64) -> Result<(), CoreError> {
                let admin_count = admins.iter().filter(|u| u.grants.iter().any(|(r, _)| *r == Role::Admin)).count();
                if admin_count < 2 {
                    return Err(CoreError::TooFewAdmins);
                }
                let mut tx = self.begin_write().await?;
                let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&mut *tx).await?;
                if count > 0 {
                    return Err(StoreError::Refused("the store already has users; use an admin account to add more".into()).into());
                }
                let detail = serde_json::json!({
                    "users": admins.iter().map(|u| serde_json::json!({
                        "login_id": u.login_id,
                        "grants": u.grants.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>()
                });
                let record = AuditRecord::by_system(at_us, station, "system", $crate::audit::AuditAction::StoreInitialized, "users", detail);
                Self::append_in(&mut tx, &record).await?;
                for admin in admins {
                    let id = Self::insert_user(&mut tx, admin, at_us).await?;
                    Self::insert_grants(&mut tx, id, &admin.grants, None, at_us).await?;
                }
                tx.commit().await.map_err(StoreError::from)?;
                Ok(())
            }

            async fn create_user(&self, actor: &Actor, user: NewUser, at_us: i64) -> Result<i64, CoreError> {
                let mut tx = self.begin_write().await?;
                let detail = serde_json::json!({
                    "grants": user.grants.iter().map(|(r, until)| serde_json::json!({ "role": r.as_str(), "until_us": until })).collect::<Vec<_>>()
                });
                let seq = Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::UserCreated, format!("user:{}", user.login_id), detail)).await?;
                let id = Self::insert_user(&mut tx, &user, at_us).await?;
                for (role, until) in &user.grants {
                    Self::insert_grant_request(&mut tx, id, *role, *until, actor.user_id, at_us, seq).await?;
                }
                tx.commit().await.map_err(StoreError::from)?;
                Ok(id)
            }

            async fn request_grant(
                &self,
                actor: &Actor,
                login_id: &str,
                role: Role,
                valid_until_us: Option<i64>,
                at_us: i64,
            ) -> Result<i64, CoreError> {
                let mut tx = self.begin_write().await?;
                let user_id = Self::user_id_in(&mut tx, login_id).await?;
                let detail = serde_json::json!({ "role": role.as_str(), "until_us": valid_until_us });
                let seq = Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::GrantRequested, format!("user:{login_id}"), detail)).await?;
                let id = Self::insert_grant_request(&mut tx, user_id, role, valid_until_us, actor.user_id, at_us, seq).await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(id)
            }

            async fn decide_grant(&self, actor: &Actor, request_id: i64, approve: bool, at_us: i64) -> Result<(), CoreError> {
                let mut tx = self.begin_write().await?;
                let row: Option<(i64, String, Option<i64>, i64, Option<String>, String)> = sqlx::query_as(
                    "SELECT r.user_id, r.role, r.valid_until_us, r.requested_by, r.decision, u.login_id
                     FROM grant_requests r JOIN users u ON u.id = r.user_id WHERE r.id = $1",
                )
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::from)?;
                let Some((user_id, role, until, requested_by, decision, login_id)) = row else {
                    return Err(CoreError::NotFound { what: "grant request", id: request_id.to_string() });
                };
                if decision.is_some() {
                    return Err(StoreError::Refused(format!("grant request {request_id} is already decided")).into());
                }
                if requested_by == actor.user_id {
                    return Err(CoreError::SameAdmin { request_id });
                }
                let action = if approve { $crate::audit::AuditAction::RoleGranted } else { $crate::audit::AuditAction::GrantRejected };
                let detail = serde_json::json!({ "request": request_id, "role": role, "until_us": until });
                let seq = Self::append_in(&mut tx, &Self::record(actor, at_us, action, format!("user:{login_id}"), detail)).await?;
                sqlx::query(
                    "UPDATE grant_requests SET decision = $1, decided_by = $2, decided_at_us = $3, decision_audit_seq = $4
                     WHERE id = $5",
                )
                .bind(if approve { "approved" } else { "rejected" })
                .bind(actor.user_id)
                .bind(at_us)
                .bind(seq)
                .bind(request_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
                if approve {
                    let role = Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?;
                    Self::insert_grants(&mut tx, user_id, &[(role, until)], Some(actor.user_id), at_us).await?;
                }
                tx.commit().await.map_err(StoreError::from)?;
                Ok(())
            }

            async fn revoke_grant(&self, actor: &Actor, login_id: &str, role: Role, at_us: i64) -> Result<(), CoreError> {
                let mut tx = self.begin_write().await?;
                let user_id = Self::user_id_in(&mut tx, login_id).await?;
                let in_force = "(valid_until_us IS NULL OR valid_until_us > $2)";
                if role == Role::Admin {
                    let admins: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT count(DISTINCT user_id) FROM grants WHERE role = $1 AND {in_force}"
                    )))
                    .bind(role.as_str())
                    .bind(at_us)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
                    if admins <= 2 {
                        return Err(CoreError::TooFewAdmins);
                    }
                }
                let detail = serde_json::json!({ "role": role.as_str() });
                Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::RoleRevoked, format!("user:{login_id}"), detail)).await?;
                let revoked = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE grants SET valid_until_us = $2 WHERE user_id = $3 AND role = $1 AND {in_force}"
                )))
                .bind(role.as_str())
                .bind(at_us)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?
                .rows_affected();
                if revoked == 0 {
                    return Err(CoreError::NotFound { what: "grant in force", id: format!("{login_id}/{}", role.as_str()) });
                }
                tx.commit().await.map_err(StoreError::from)?;
                Ok(())
            }

            async fn export_tables(&self) -> Result<std::collections::BTreeMap<String, Vec<serde_json::Value>>, StoreError> {
                let mut tables = self.export_snapshot().await?;
                $crate::store::sealing::unseal_export(&self.keys, &mut tables)?;
                Ok(tables)
            }

            async fn stored_tables(&self) -> Result<std::collections::BTreeMap<String, Vec<serde_json::Value>>, StoreError> {
                self.export_snapshot().await
            }

            async fn data_keys(&self) -> Result<Vec<$crate::store::DataKeyRecord>, StoreError> {
                let rows: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
                    "SELECT key_id, dataset, created_at_us, destroyed_at_us FROM data_keys ORDER BY dataset, key_id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(key_id, dataset, created_at_us, destroyed_at_us)| {
                        let dataset = $crate::datakeys::Dataset::parse(&dataset)
                            .ok_or_else(|| StoreError::Corrupt(format!("data key {key_id}: unknown dataset {dataset:?}")))?;
                        Ok($crate::store::DataKeyRecord { key_id, dataset, created_at_us, destroyed_at_us })
                    })
                    .collect()
            }

            async fn destroy_data_keys(&self, actor: &Actor, at_us: i64) -> Result<Vec<$crate::store::DataKeyRecord>, CoreError> {
                let mut tx = self.begin_write().await?;
                let live: Vec<(String, String)> =
                    sqlx::query_as("SELECT key_id, dataset FROM data_keys WHERE destroyed_at_us IS NULL ORDER BY dataset, key_id")
                        .fetch_all(&mut *tx)
                        .await?;
                if !live.is_empty() {
                    let detail = serde_json::json!({
                        "method": "crypto-shredding",
                        "keys": live.iter().map(|(id, dataset)| format!("{dataset}:{id}")).collect::<Vec<_>>(),
                    });
                    Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::DataKeysDestroyed, "store".to_string(), detail)).await?;
                    sqlx::query("UPDATE data_keys SET destroyed_at_us = $1 WHERE destroyed_at_us IS NULL")
                        .bind(at_us)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await.map_err(StoreError::from)?;
                // The database says the keys are gone before the file goes: a failure here leaves a file that the
                // next `erase` destroys, never live keys the database has forgotten.
                let mut ring = $crate::store::sealing::ring(&self.keys)?;
                ring.destroy().map_err(StoreError::from)?;
                $crate::store::sealing::replace(&self.keys, $crate::store::sealing::KeyState { ring, erased: true })?;
                Ok(self.data_keys().await?.into_iter().filter(|key| key.destroyed_at_us.is_some()).collect())
            }

            async fn record_inquiry(
                &self,
                actor: &Actor,
                case_id: i64,
                letter_output_id: i64,
                sent_on: jiff::civil::Date,
                deadline: jiff::civil::Date,
                at_us: i64,
            ) -> Result<$crate::inquiry::SealInquiry, CoreError> {
                use $crate::request::{SealRegistrationPath, TaskRequest};
                let mut tx = self.begin_write().await?;
                let case = Self::load_case(&self.keys, &mut tx, case_id).await?;
                let by_inquiry = matches!(
                    case.request.task,
                    TaskRequest::Seal { path: SealRegistrationPath::Inquiry, registration_number: None, .. }
                );
                let letter_approved = case.current_output.map(|(id, _)| id) == Some(letter_output_id);
                if !by_inquiry || case.state != CaseState::Approved || !letter_approved {
                    return Err(CoreError::NotAnInquiryCase { case_id });
                }
                let printed: Option<i64> = sqlx::query_scalar(
                    "SELECT j.id FROM print_jobs j JOIN approvals a ON a.id = j.letter_approval_id
                     LEFT JOIN print_resolutions r ON r.job_id = j.id
                     WHERE j.case_id = $1 AND a.output_id = $2 AND (j.state = 'printed' OR r.outcome = 'printed')
                     ORDER BY j.id LIMIT 1",
                )
                .bind(case_id)
                .bind(letter_output_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(letter_job) = printed else {
                    return Err(CoreError::InquiryLetterNotPrinted { case_id });
                };
                let detail = serde_json::json!({ "sent_on": sent_on.to_string(), "deadline": deadline.to_string(), "letter_job": letter_job });
                let seq = Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::SealInquirySent, subject_of_case(case_id), detail)).await?;
                sqlx::query("INSERT INTO seal_inquiries (case_id, sent_on, deadline, audit_seq, letter_job_id) VALUES ($1, $2, $3, $4, $5)")
                    .bind(case_id)
                    .bind(sent_on.to_string())
                    .bind(deadline.to_string())
                    .bind(seq)
                    .bind(letter_job)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok($crate::inquiry::SealInquiry { case_id, sent_on, deadline, state: $crate::inquiry::InquiryState::Pending, decided_on: None })
            }

            async fn decide_inquiry(
                &self,
                actor: &Actor,
                case_id: i64,
                today: jiff::civil::Date,
                accept: bool,
                at_us: i64,
            ) -> Result<$crate::inquiry::SealInquiry, CoreError> {
                use $crate::audit::AuditAction;
                use $crate::inquiry::{InquiryState, in_time};
                let mut tx = self.begin_write().await?;
                let row: Option<$crate::store::InquiryRow> =
                    sqlx::query_as("SELECT case_id, sent_on, deadline, state, decided_on FROM seal_inquiries WHERE case_id = $1")
                        .bind(case_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(row) = row else {
                    return Err(CoreError::NotFound { what: "照会 of case", id: case_id.to_string() });
                };
                let mut inquiry = $crate::store::inquiry_from_row(row)?;
                if inquiry.state != InquiryState::Pending {
                    return Err(CoreError::InquiryNotPending { case_id, state: inquiry.state });
                }
                if accept {
                    // A registration withdrawn (voided) after its 照会書 was mailed takes no 回答書.
                    let state: String = sqlx::query_scalar("SELECT state FROM cases WHERE id = $1")
                        .bind(case_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    if state == CaseState::Voided.as_str() {
                        return Err(CoreError::CaseVoided { case_id });
                    }
                }
                let on_time = in_time(inquiry.deadline, today);
                let detail = serde_json::json!({ "deadline": inquiry.deadline.to_string(), "on": today.to_string() });
                let (action, next) = match (accept, on_time) {
                    (true, true) => (AuditAction::SealAnswerAccepted, InquiryState::Answered),
                    (false, false) => (AuditAction::SealInquiryExpired, InquiryState::Expired),
                    (true, false) => {
                        Self::append_in(&mut tx, &Self::record(actor, at_us, AuditAction::SealAnswerRefused, subject_of_case(case_id), detail)).await?;
                        tx.commit().await.map_err(StoreError::from)?;
                        return Err(CoreError::AnswerPastDeadline { case_id, deadline: inquiry.deadline });
                    }
                    (false, true) => return Err(CoreError::InquiryNotPending { case_id, state: InquiryState::Pending }),
                };
                let seq = Self::append_in(&mut tx, &Self::record(actor, at_us, action, subject_of_case(case_id), detail)).await?;
                sqlx::query("UPDATE seal_inquiries SET state = $1, decided_on = $2, decision_audit_seq = $3 WHERE case_id = $4")
                    .bind(next.as_str())
                    .bind(today.to_string())
                    .bind(seq)
                    .bind(case_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await.map_err(StoreError::from)?;
                inquiry.state = next;
                inquiry.decided_on = Some(today);
                Ok(inquiry)
            }

            async fn inquiries(&self, pending_only: bool) -> Result<Vec<$crate::inquiry::SealInquiry>, StoreError> {
                let rows: Vec<$crate::store::InquiryRow> = sqlx::query_as(
                    "SELECT case_id, sent_on, deadline, state, decided_on FROM seal_inquiries
                     WHERE state = 'pending' OR NOT $1 ORDER BY deadline, case_id",
                )
                .bind(pending_only)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::store::inquiry_from_row).collect()
            }

            async fn compact(&self) -> Result<(), StoreError> {
                let statements: &[&'static str] = match $backend {
                    Backend::Sqlite => &["VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"],
                    Backend::Postgres => &["VACUUM FULL cases", "VACUUM FULL outputs"],
                };
                for statement in statements {
                    sqlx::query(*statement).execute(&self.pool).await?;
                }
                Ok(())
            }

            async fn attach_data_keys(&self, path: Option<&std::path::Path>, mode: OpenMode) -> Result<(), StoreError> {
                use $crate::datakeys::{DataKeyError, DataKeyRing};
                let recorded = match self.data_keys().await {
                    Ok(recorded) => recorded,
                    // A read-only copy of a store older than sealing has no data_keys table.
                    Err(_) if mode == OpenMode::ExistingReadOnly => Vec::new(),
                    Err(err) => return Err(err),
                };
                let erased = recorded.iter().any(|key| key.destroyed_at_us.is_some());
                let loaded = match path {
                    Some(path) => DataKeyRing::load(path)?,
                    None => None,
                };
                let ring = match loaded {
                    Some(ring) => ring,
                    None if erased || mode == OpenMode::ExistingReadOnly => DataKeyRing::empty(),
                    None => {
                        let path = path.ok_or(DataKeyError::NotConfigured)?;
                        if !recorded.is_empty() {
                            let ids: Vec<&str> = recorded.iter().map(|key| key.key_id.as_str()).collect();
                            return Err(DataKeyError::File {
                                path: path.to_path_buf(),
                                reason: format!("missing, but the store's resident data is sealed under keys {}", ids.join(", ")),
                            }
                            .into());
                        }
                        DataKeyRing::create(path)?
                    }
                };
                if !erased && mode == OpenMode::CreateAndMigrate {
                    let mut in_file: Vec<String> = ring.key_ids().into_iter().map(|(_, id)| id).collect();
                    in_file.sort();
                    if recorded.is_empty() {
                        let now = jiff::Timestamp::now().as_microsecond();
                        for (dataset, key_id) in ring.key_ids() {
                            sqlx::query(
                                "INSERT INTO data_keys (key_id, dataset, created_at_us) VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING",
                            )
                            .bind(key_id)
                            .bind(dataset.as_str())
                            .bind(now)
                            .execute(&self.pool)
                            .await?;
                        }
                    }
                    let mut live: Vec<String> = self.data_keys().await?.into_iter().map(|key| key.key_id).collect();
                    live.sort();
                    if live != in_file {
                        return Err(DataKeyError::Mismatch {
                            path: ring.path().map(std::path::Path::to_path_buf).unwrap_or_default(),
                            in_file: in_file.join(", "),
                            recorded: live.join(", "),
                        }
                        .into());
                    }
                }
                $crate::store::sealing::replace(&self.keys, $crate::store::sealing::KeyState { ring, erased })
            }

            async fn grant_requests(&self, pending_only: bool) -> Result<Vec<$crate::store::GrantRequest>, StoreError> {
                type Row = (i64, String, String, Option<i64>, String, i64, Option<String>, Option<String>);
                let rows: Vec<Row> = sqlx::query_as(
                    "SELECT r.id, u.login_id, r.role, r.valid_until_us, a.login_id, r.requested_at_us, r.decision, d.login_id
                     FROM grant_requests r
                     JOIN users u ON u.id = r.user_id
                     JOIN users a ON a.id = r.requested_by
                     LEFT JOIN users d ON d.id = r.decided_by
                     WHERE ($1 = 0 OR r.decision IS NULL)
                     ORDER BY r.id DESC",
                )
                .bind(i64::from(pending_only))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(id, login_id, role, valid_until_us, requested_by, requested_at_us, decision, decided_by)| {
                        Ok($crate::store::GrantRequest {
                            id,
                            login_id,
                            role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
                            valid_until_us,
                            requested_by,
                            requested_at_us,
                            approved: decision.map(|d| d == "approved"),
                            decided_by,
                        })
                    })
                    .collect()
            }

            async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
                let logins: Vec<(String,)> = sqlx::query_as("SELECT login_id FROM users ORDER BY login_id")
                    .fetch_all(&self.pool)
                    .await?;
                let mut users = Vec::with_capacity(logins.len());
                for (login_id,) in logins {
                    if let Some(user) = self.user_by_login(&login_id).await? {
                        users.push(user);
                    }
                }
                Ok(users)
            }

            async fn user_by_login(&self, login_id: &str) -> Result<Option<UserRecord>, StoreError> {
                let row: Option<(i64, String, String, String, i64, i64)> = sqlx::query_as(
                    "SELECT id, login_id, display_name, password_hash, failed_logins, locked FROM users WHERE login_id = $1",
                )
                .bind(login_id)
                .fetch_optional(&self.pool)
                .await?;
                let Some((id, login_id, display_name, password_hash, failed_logins, locked)) = row else { return Ok(None) };
                let grants: Vec<(String, Option<i64>)> =
                    sqlx::query_as("SELECT role, valid_until_us FROM grants WHERE user_id = $1 ORDER BY id")
                        .bind(id)
                        .fetch_all(&self.pool)
                        .await?;
                let grants = grants
                    .into_iter()
                    .map(|(role, until)| {
                        Role::parse(&role).map(|r| (r, until)).ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Some(UserRecord { id, login_id, display_name, password_hash, failed_logins, locked: locked != 0, grants }))
            }

            async fn record_login(
                &self,
                login_id: &str,
                role: Option<Role>,
                success: bool,
                station: &str,
                at_us: i64,
                lock_after: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                let action = if success { $crate::audit::AuditAction::LoginSucceeded } else { $crate::audit::AuditAction::LoginFailed };
                let record = AuditRecord {
                    at_us,
                    station: station.to_string(),
                    actor: login_id.to_string(),
                    role: role.map_or("-", Role::as_str).to_string(),
                    action,
                    subject: format!("user:{login_id}"),
                    detail: serde_json::json!({}),
                };
                Self::append_in(&mut tx, &record).await?;
                if success {
                    sqlx::query("UPDATE users SET failed_logins = 0 WHERE login_id = $1").bind(login_id).execute(&mut *tx).await?;
                } else {
                    sqlx::query(
                        "UPDATE users SET failed_logins = failed_logins + 1,
                                          locked = CASE WHEN failed_logins + 1 >= $2 THEN 1 ELSE locked END
                         WHERE login_id = $1",
                    )
                    .bind(login_id)
                    .bind(lock_after)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn append_audit(&self, record: &AuditRecord) -> Result<i64, StoreError> {
                let mut tx = self.begin_write().await?;
                let seq = Self::append_in(&mut tx, record).await?;
                tx.commit().await?;
                Ok(seq)
            }

            async fn create_case(&self, actor: &Actor, case: NewCase, at_us: i64) -> Result<i64, CoreError> {
                let mut tx = self.begin_write().await?;
                let case_id: i64 = sqlx::query_scalar($next_case_id).fetch_one(&mut *tx).await?;
                let family = case.request.task.family();
                let kind = $crate::store::case_kind(&case.request);
                let detail = serde_json::json!({
                    "family": family.as_str(),
                    "kind": kind,
                    "requester": format!("{:?}", case.request.requester.category),
                    "subject": case.subject,
                });
                let seq = Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::CaseCreated, subject_of_case(case_id), detail)).await?;
                let request = $crate::store::sealing::seal_request(&self.keys, case_id, &case.request)?;
                sqlx::query(
                    "INSERT INTO cases (id, family, kind, state, station, preparer_id, request, subject, created_at_us, updated_at_us, audit_seq)
                     VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $8, $8, $9)",
                )
                .bind(case_id)
                .bind(family.as_str())
                .bind(kind)
                .bind(&actor.station)
                .bind(actor.user_id)
                .bind(request)
                .bind(&case.subject)
                .bind(at_us)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(case_id)
            }

            async fn revise_case(&self, actor: &Actor, case_id: i64, case: NewCase, at_us: i64) -> Result<(), CoreError> {
                let mut tx = self.begin_write().await?;
                let current = Self::load_case(&self.keys, &mut tx, case_id).await?;
                if current.state != CaseState::Returned
                    || current.station != actor.station
                    || current.family != case.request.task.family()
                    || current.subject != case.subject
                {
                    return Err(CoreError::NotRevisable { case_id });
                }
                let kind = $crate::store::case_kind(&case.request);
                let detail = serde_json::json!({
                    "kind": kind,
                    "was": current.kind,
                    "return_reason": current.return_reason.map(|reason| reason.code()),
                });
                let seq = Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::CaseRevised, subject_of_case(case_id), detail)).await?;
                let request = $crate::store::sealing::seal_request(&self.keys, case_id, &case.request)?;
                sqlx::query("UPDATE cases SET request = $1, kind = $2, audit_seq = $3, updated_at_us = $4 WHERE id = $5")
                    .bind(request)
                    .bind(kind)
                    .bind(seq)
                    .bind(at_us)
                    .bind(case_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(())
            }

            async fn reserve_numbers(
                &self,
                actor: &Actor,
                case_id: i64,
                reads: &[AuditRecord],
                at_us: i64,
            ) -> Result<ReservedNumbers, CoreError> {
                let mut tx = self.begin_write().await?;
                for read in reads {
                    Self::append_in(&mut tx, read).await?;
                }
                let case = Self::load_case(&self.keys, &mut tx, case_id).await?;
                Self::transition(&case, $crate::case::CaseAction::Submit)?;
                // Both counters in one round trip: the writer lock is held while they are read.
                let (issue_number, station_count): (i64, i64) = sqlx::query_as(
                    "SELECT (SELECT coalesce(max(issue_number), 0) + 1 FROM number_reservations),
                            (SELECT count(*) FROM number_reservations WHERE station = $1)",
                )
                .bind(&actor.station)
                .fetch_one(&mut *tx)
                .await?;
                let control_number = format!("{}-{:06}", actor.station, station_count + 1);
                let detail = serde_json::json!({ "issue_number": issue_number, "control_number": control_number });
                let seq = Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::NumbersReserved, subject_of_case(case_id), detail)).await?;
                sqlx::query(
                    "INSERT INTO number_reservations (issue_number, control_number, station, case_id, reserved_at_us, audit_seq)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(issue_number)
                .bind(&control_number)
                .bind(&actor.station)
                .bind(case_id)
                .bind(at_us)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(ReservedNumbers { issue_number, control_number })
            }

            async fn case_unrecorded(&self, case_id: i64) -> Result<CaseRecord, CoreError> {
                let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
                let case = Self::load_case(&self.keys, &mut tx, case_id).await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(case)
            }

            async fn submit_case(&self, actor: &Actor, case_id: i64, output: NewOutput<'_>, at_us: i64) -> Result<Output, CoreError> {
                let NewOutput { media_type, bytes, issue_number, document } = output;
                let mut tx = self.begin_write().await?;
                let case = Self::load_case(&self.keys, &mut tx, case_id).await?;
                let next = Self::transition(&case, $crate::case::CaseAction::Submit)?;
                let sha256: [u8; 32] = {
                    use sha2::Digest as _;
                    sha2::Sha256::digest(bytes).into()
                };
                let (sealed_bytes, sealed_document) = $crate::store::sealing::seal_output(&self.keys, case_id, &sha256, bytes, document)?;
                let detail = serde_json::json!({ "sha256": hex::encode(sha256), "media_type": media_type, "bytes": bytes.len(), "issue_number": issue_number });
                let seq = Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::CaseSubmitted, subject_of_case(case_id), detail)).await?;
                let output_id: i64 = sqlx::query_scalar(
                    "INSERT INTO outputs (case_id, sha256, media_type, bytes, created_by, created_at_us, audit_seq, issue_number, document)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                )
                .bind(case_id)
                .bind(sha256.as_slice())
                .bind(media_type)
                .bind(sealed_bytes)
                .bind(actor.user_id)
                .bind(at_us)
                .bind(seq)
                .bind(issue_number)
                .bind(sealed_document)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE cases SET state = $1, current_output_id = $2, return_reason = NULL, audit_seq = $3, updated_at_us = $4 WHERE id = $5",
                )
                .bind(next.as_str())
                .bind(output_id)
                .bind(seq)
                .bind(at_us)
                .bind(case_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(Output {
                    id: output_id,
                    case_id,
                    sha256,
                    media_type: media_type.to_string(),
                    bytes: bytes.to_vec(),
                    issue_number,
                    document: document.map(str::to_string),
                })
            }

            async fn approve_case(&self, actor: &Actor, case_id: i64, output_sha256: [u8; 32], at_us: i64) -> Result<Option<i64>, CoreError> {
                let mut tx = self.begin_write().await?;
                let case = Self::load_case(&self.keys, &mut tx, case_id).await?;
                let next = Self::transition(&case, $crate::case::CaseAction::Approve)?;
                if case.preparer_id == actor.user_id {
                    return Err(CoreError::SelfApproval { case_id });
                }
                let Some((output_id, current_hash)) = case.current_output else {
                    return Err(CoreError::OutputMismatch { case_id });
                };
                if current_hash != output_sha256 {
                    return Err(CoreError::OutputMismatch { case_id });
                }
                let detail = serde_json::json!({ "output_id": output_id, "sha256": hex::encode(output_sha256) });
                let seq = Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::CaseApproved, subject_of_case(case_id), detail)).await?;
                let approval_id: i64 = sqlx::query_scalar(
                    "INSERT INTO approvals (case_id, output_id, approver_id, output_sha256, decided_at_us, audit_seq)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(case_id)
                .bind(output_id)
                .bind(actor.user_id)
                .bind(output_sha256.as_slice())
                .bind(at_us)
                .bind(seq)
                .fetch_one(&mut *tx)
                .await?;
                // An approved 異動 entry goes to the resident system's outbox in the same transaction: an approval
                // is never lost between the two, and the entry is due at once.
                if case.family == $crate::request::TaskFamily::Move {
                    sqlx::query(
                        "INSERT INTO resident_outbox (case_id, approval_id, kind, idempotency_key, output_sha256, state, attempts,
                                                      next_attempt_at_us, updated_at_us, audit_seq)
                         VALUES ($1, $2, 'move', $3, $4, 'pending', 0, $5, $5, $6)",
                    )
                    .bind(case_id)
                    .bind(approval_id)
                    .bind($crate::outbox::idempotency_key(case_id))
                    .bind(output_sha256.as_slice())
                    .bind(at_us)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                }
                // An approved 照会書 goes to the approving station's print queue in the same transaction; it is
                // a letter, so the job prints the approval's bytes and no issuance.
                let mut queued = None;
                if case.family == $crate::request::TaskFamily::Seal {
                    let media_type: String = sqlx::query_scalar("SELECT media_type FROM outputs WHERE id = $1")
                        .bind(output_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    if media_type == $crate::inquiry::INQUIRY_LETTER_MEDIA_TYPE {
                        queued = Some(Self::queue_letter(&mut tx, case_id, approval_id, &actor.station, seq, at_us).await?);
                    }
                }
                Self::set_state(&mut tx, case_id, next, seq, at_us).await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(queued)
            }

            async fn return_case(&self, actor: &Actor, case_id: i64, reason: ReturnReason, at_us: i64) -> Result<(), CoreError> {
                let mut tx = self.begin_write().await?;
                let case = Self::load_case(&self.keys, &mut tx, case_id).await?;
                let next = Self::transition(&case, $crate::case::CaseAction::Return)?;
                let Some((output_id, _)) = case.current_output else {
                    return Err(CoreError::OutputMismatch { case_id });
                };
                let detail = serde_json::json!({ "reason": reason.code(), "output_id": output_id });
                let seq = Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::CaseReturned, subject_of_case(case_id), detail)).await?;
                sqlx::query(
                    "INSERT INTO returns (case_id, output_id, reviewer_id, reason_code, decided_at_us, audit_seq) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(case_id)
                .bind(output_id)
                .bind(actor.user_id)
                .bind(reason.code())
                .bind(at_us)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE cases SET state = $1, return_reason = $2, audit_seq = $3, updated_at_us = $4 WHERE id = $5")
                    .bind(next.as_str())
                    .bind(reason.code())
                    .bind(seq)
                    .bind(at_us)
                    .bind(case_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(())
            }

            async fn issue_case(
                &self,
                actor: &Actor,
                case_id: i64,
                sheets: i64,
                charge: &(dyn for<'c> Fn(&'c CaseRecord) -> ($crate::fees::Fee, i64) + Send + Sync),
                at_us: i64,
            ) -> Result<Issuance, CoreError> {
                let mut tx = self.begin_write().await?;
                let case = Self::load_case(&self.keys, &mut tx, case_id).await?;
                let next = Self::transition(&case, $crate::case::CaseAction::Issue)?;
                let (fee, copies) = charge(&case);
                let fee = &fee;
                let Some((output_id, sha256)) = case.current_output else {
                    return Err(CoreError::OutputMismatch { case_id });
                };
                // The approval of these bytes and the numbers they carry, in one round trip under the writer lock.
                let found: Option<(Option<i64>, Option<i64>, Option<String>)> = sqlx::query_as(
                    "SELECT (SELECT a.id FROM approvals a WHERE a.case_id = $1 AND a.output_id = $2 ORDER BY a.id DESC LIMIT 1),
                            r.issue_number, r.control_number
                     FROM outputs o LEFT JOIN number_reservations r ON r.issue_number = o.issue_number WHERE o.id = $2",
                )
                .bind(case_id)
                .bind(output_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((Some(approval_id), numbers_issue, numbers_control)) = found else {
                    return Err(CoreError::OutputMismatch { case_id });
                };
                let (Some(issue_number), Some(control_number)) = (numbers_issue, numbers_control) else {
                    return Err(StoreError::Refused(format!("the output of case {case_id} carries no issue number")).into());
                };
                let detail = serde_json::json!({
                    "issue_number": issue_number,
                    "control_number": control_number,
                    "sha256": hex::encode(sha256),
                    "sheets": sheets,
                    "copies": copies,
                    "fee_yen": fee.yen,
                    "fee_exemption": fee.exemption,
                });
                let seq = Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::CaseIssued, subject_of_case(case_id), detail)).await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO issuances (case_id, approval_id, issue_number, control_number, station, output_sha256, sheets, copies,
                                            issued_by, issued_at_us, audit_seq, fee_yen, fee_exemption)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                )
                .bind(case_id)
                .bind(approval_id)
                .bind(issue_number)
                .bind(&control_number)
                .bind(&actor.station)
                .bind(sha256.as_slice())
                .bind(sheets)
                .bind(copies)
                .bind(actor.user_id)
                .bind(at_us)
                .bind(seq)
                .bind(fee.yen)
                .bind(fee.exemption.as_deref())
                .fetch_one(&mut *tx)
                .await?;
                // The sheet goes to the queue of the issuing station's printer in the same transaction.
                sqlx::query(
                    "INSERT INTO print_jobs (issuance_id, case_id, printer_station, state, attempts, updated_at_us, audit_seq)
                     VALUES ($1, $2, $3, 'queued', 0, $4, $5)",
                )
                .bind(id)
                .bind(case_id)
                .bind(&actor.station)
                .bind(at_us)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
                Self::set_state(&mut tx, case_id, next, seq, at_us).await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(Issuance {
                    id,
                    case_id,
                    issue_number,
                    control_number,
                    station: actor.station.clone(),
                    post: case.station.clone(),
                    sheets,
                    copies,
                    issued_at_us: at_us,
                    fee_yen: fee.yen,
                    fee_exemption: fee.exemption.clone(),
                })
            }

            async fn case_recorded_as(
                &self,
                actor: &Actor,
                case_id: i64,
                at_us: i64,
                record_as: &(dyn for<'c> Fn(&'c CaseRecord) -> ($crate::audit::AuditAction, serde_json::Value) + Send + Sync),
            ) -> Result<CaseRecord, CoreError> {
                let mut tx = self.begin_write().await?;
                let case = Self::load_case(&self.keys, &mut tx, case_id).await?;
                let (action, detail) = record_as(&case);
                Self::append_in(&mut tx, &Self::record(actor, at_us, action, subject_of_case(case_id), detail)).await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(case)
            }

            async fn case_with_output(&self, actor: &Actor, case_id: i64, at_us: i64) -> Result<(CaseRecord, Output), CoreError> {
                let mut tx = self.begin_write().await?;
                let case = Self::load_case(&self.keys, &mut tx, case_id).await?;
                let Some((output_id, _)) = case.current_output else {
                    return Err(CoreError::NotFound { what: "output of case", id: case_id.to_string() });
                };
                let (sha, media_type, bytes, issue_number, document): (Vec<u8>, String, Vec<u8>, Option<i64>, Option<String>) =
                    sqlx::query_as("SELECT sha256, media_type, bytes, issue_number, document FROM outputs WHERE id = $1")
                        .bind(output_id)
                        .fetch_one(&mut *tx)
                        .await?;
                Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::CaseRead, subject_of_case(case_id), serde_json::json!({ "what": "case and output", "output_id": output_id }))).await?;
                tx.commit().await.map_err(StoreError::from)?;
                let sha256 = hash32(&sha)?;
                let (bytes, document) = $crate::store::sealing::open_output(&self.keys, case_id, &sha256, bytes, document)?;
                Ok((case, Output { id: output_id, case_id, sha256, media_type, bytes, issue_number, document }))
            }

            async fn cases(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError> {
                let limit = if filter.limit == 0 { 200 } else { i64::from(filter.limit) };
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, family, kind, state, station, preparer_id, return_reason, updated_at_us, subject FROM cases WHERE 1 = 1",
                );
                if let Some(station) = &filter.station {
                    query.push(" AND station = ").push_bind(station.clone());
                }
                if !filter.states.is_empty() {
                    query.push(" AND state IN (");
                    let mut states = query.separated(", ");
                    for state in &filter.states {
                        states.push_bind(state.as_str());
                    }
                    query.push(")");
                }
                query.push(" ORDER BY updated_at_us DESC, id DESC LIMIT ").push_bind(limit);
                let rows: Vec<(i64, String, String, String, String, i64, Option<String>, i64, String)> =
                    query.build_query_as().fetch_all(&self.pool).await?;
                rows.into_iter()
                    .map(|(id, family, kind, state, station, preparer_id, return_reason, updated_at_us, subject)| {
                        let state = CaseState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("case {id}: unknown state")))?;
                        let move_case = subject.strip_prefix("move-out-of-case:").and_then(|n| n.parse().ok());
                        Ok(CaseSummary { id, family, kind, state, station, preparer_id, return_reason, updated_at_us, move_case })
                    })
                    .collect()
            }

            async fn issuance_by_number(&self, issue_number: i64) -> Result<Option<Issuance>, StoreError> {
                let row: Option<$crate::store::IssuanceRow> =
                    sqlx::query_as($crate::store::issuance_query!("", "i.issue_number = $1"))
                        .bind(issue_number)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map($crate::store::issuance_from_row))
            }

            async fn issuances(&self, case_id: i64) -> Result<Vec<Issuance>, StoreError> {
                let rows: Vec<$crate::store::IssuanceRow> =
                    sqlx::query_as($crate::store::issuance_query!("", "i.case_id = $1"))
                .bind(case_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::store::issuance_from_row).collect())
            }

            async fn issued_requests_between(
                &self,
                actor: &Actor,
                from_us: i64,
                until_us: i64,
                at_us: i64,
            ) -> Result<Vec<(Issuance, $crate::request::CounterRequest)>, CoreError> {
                let mut tx = self.begin_write().await?;
                let rows: Vec<$crate::store::IssuedRequestRow> = sqlx::query_as($crate::store::issuance_query!(
                    ", c.request",
                    "i.issued_at_us >= $1 AND i.issued_at_us < $2"
                ))
                .bind(from_us)
                .bind(until_us)
                .fetch_all(&mut *tx)
                .await?;
                let detail = serde_json::json!({ "what": "issued requests (本人通知)", "from_us": from_us, "until_us": until_us, "rows": rows.len() });
                Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::CaseRead, "issuances".to_string(), detail)).await?;
                let mut issued = Vec::with_capacity(rows.len());
                for (id, case_id, issue_number, control_number, station, post, sheets, copies, issued_at, fee, exemption, stored) in rows {
                    let row = (id, case_id, issue_number, control_number, station, post, sheets, copies, issued_at, fee, exemption);
                    let issuance = $crate::store::issuance_from_row(row);
                    let request = $crate::store::sealing::open_request(&self.keys, issuance.case_id, &stored)?;
                    issued.push((issuance, request));
                }
                tx.commit().await.map_err(StoreError::from)?;
                Ok(issued)
            }

            async fn report_cases(
                &self,
                actor: &Actor,
                from_us: i64,
                until_us: i64,
                at_us: i64,
            ) -> Result<Vec<$crate::report::ReportCase>, CoreError> {
                let mut tx = self.begin_write().await?;
                let rows: Vec<(i64, String, String, i64, String, Option<i64>, Option<i64>)> = sqlx::query_as(
                    "SELECT c.id, c.station, u.login_id, c.created_at_us, c.request,
                            (SELECT min(o.created_at_us) FROM outputs o WHERE o.case_id = c.id),
                            (SELECT min(a.decided_at_us) FROM approvals a WHERE a.case_id = c.id)
                     FROM cases c JOIN users u ON u.id = c.preparer_id
                     WHERE c.created_at_us >= $1 AND c.created_at_us < $2 ORDER BY c.id",
                )
                .bind(from_us)
                .bind(until_us)
                .fetch_all(&mut *tx)
                .await?;
                let detail = serde_json::json!({ "what": "report (日報・月報)", "from_us": from_us, "until_us": until_us, "rows": rows.len() });
                Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::CaseRead, "cases".to_string(), detail)).await?;
                let mut cases = Vec::with_capacity(rows.len());
                for (case_id, post, preparer, created_at_us, stored, submitted_at_us, approved_at_us) in rows {
                    let request = $crate::store::sealing::open_request(&self.keys, case_id, &stored)?;
                    let certificate = request.task.certificate().map(|(kind, _)| kind);
                    cases.push($crate::report::ReportCase {
                        case_id,
                        family: request.task.family(),
                        post,
                        preparer,
                        certificate,
                        requester: request.requester.category,
                        created_at_us,
                        submitted_at_us,
                        approved_at_us,
                    });
                }
                tx.commit().await.map_err(StoreError::from)?;
                Ok(cases)
            }

            async fn returns_between(&self, from_us: i64, until_us: i64) -> Result<Vec<(ReturnReason, String)>, StoreError> {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT r.reason_code, u.login_id FROM returns r JOIN cases c ON c.id = r.case_id JOIN users u ON u.id = c.preparer_id
                     WHERE r.decided_at_us >= $1 AND r.decided_at_us < $2 ORDER BY r.id",
                )
                .bind(from_us)
                .bind(until_us)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(code, preparer)| {
                        let reason = ReturnReason::parse(&code).ok_or_else(|| StoreError::Corrupt(format!("return reason {code:?}")))?;
                        Ok((reason, preparer))
                    })
                    .collect()
            }

            async fn paper_moved_between(&self, from_us: i64, until_us: i64) -> Result<(i64, i64), StoreError> {
                Ok(sqlx::query_as(
                    "SELECT CAST(coalesce(sum(CASE kind WHEN 'received' THEN sheets ELSE 0 END), 0) AS BIGINT),
                            CAST(coalesce(sum(CASE kind WHEN 'spoiled' THEN sheets ELSE 0 END), 0) AS BIGINT)
                     FROM paper_movements WHERE at_us >= $1 AND at_us < $2",
                )
                .bind(from_us)
                .bind(until_us)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn claim_run_mode(
                &self,
                mode: $crate::mode::RunMode,
                station: &str,
                at_us: i64,
            ) -> Result<$crate::mode::RunMode, StoreError> {
                let mut tx = self.begin_write().await?;
                let recorded: Option<String> = sqlx::query_scalar("SELECT mode FROM run_mode WHERE id = 1").fetch_optional(&mut *tx).await?;
                if let Some(recorded) = recorded {
                    return $crate::mode::RunMode::parse(&recorded)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown run mode {recorded:?}")));
                }
                let detail = serde_json::json!({ "mode": mode.as_str() });
                let record = AuditRecord::by_system(at_us, station, "system", $crate::audit::AuditAction::RunModeSet, "store", detail);
                let seq = Self::append_in(&mut tx, &record).await?;
                sqlx::query("INSERT INTO run_mode (id, mode, set_at_us, audit_seq) VALUES (1, $1, $2, $3)")
                    .bind(mode.as_str())
                    .bind(at_us)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(mode)
            }

            async fn claim_print_job(&self, station: &str, worker: &str, at_us: i64) -> Result<Option<ClaimedPrintJob>, CoreError> {
                // Workers poll: look before taking the write lock, so an empty queue costs one read.
                let queued: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM print_jobs WHERE printer_station = $1 AND state = 'queued' LIMIT 1")
                        .bind(station)
                        .fetch_optional(&self.pool)
                        .await?;
                if queued.is_none() {
                    return Ok(None);
                }
                let mut tx = self.begin_write().await?;
                let job: Option<(i64, i64, Option<i64>, Option<i64>, i64)> = sqlx::query_as($claim_print_job).bind(station).fetch_optional(&mut *tx).await?;
                let Some((job_id, case_id, issuance_id, letter_approval_id, attempts)) = job else {
                    return Ok(None);
                };
                // A certificate prints the issued bytes under its numbers; a 照会書 the approved bytes.
                let (numbers, sha): (Option<(i64, String)>, Vec<u8>) = match (issuance_id, letter_approval_id) {
                    (Some(issuance_id), _) => {
                        let (issue_number, control_number, sha): (i64, String, Vec<u8>) =
                            sqlx::query_as("SELECT issue_number, control_number, output_sha256 FROM issuances WHERE id = $1")
                                .bind(issuance_id)
                                .fetch_one(&mut *tx)
                                .await?;
                        (Some((issue_number, control_number)), sha)
                    }
                    (None, Some(approval_id)) => {
                        let sha: Vec<u8> = sqlx::query_scalar("SELECT output_sha256 FROM approvals WHERE id = $1")
                            .bind(approval_id)
                            .fetch_one(&mut *tx)
                            .await?;
                        (None, sha)
                    }
                    (None, None) => return Err(StoreError::Corrupt(format!("print job {job_id} prints nothing")).into()),
                };
                let (issue_number, control_number) = numbers.unzip();
                let sha256 = hash32(&sha)?;
                let bytes = Self::sealed_output_bytes(&mut tx, case_id, &sha).await?;
                let attempt = attempts + 1;
                let detail = serde_json::json!({ "job": job_id, "worker": worker, "attempt": attempt, "issue_number": issue_number, "control_number": control_number });
                let record = AuditRecord::by_system(at_us, station, "print-worker", $crate::audit::AuditAction::PrintClaimed, &subject_of_case(case_id), detail);
                let seq = Self::append_in(&mut tx, &record).await?;
                sqlx::query("UPDATE print_jobs SET state = 'sending', attempts = $2, worker = $3, updated_at_us = $4, audit_seq = $5 WHERE id = $1")
                    .bind(job_id)
                    .bind(attempt)
                    .bind(worker)
                    .bind(at_us)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                // Opened before the commit: a key or hash problem leaves the job queued, not claimed.
                let (pdf, _) = $crate::store::sealing::open_output(&self.keys, case_id, &sha256, bytes, None)?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(Some(ClaimedPrintJob { id: job_id, case_id, issue_number, control_number, attempt, pdf }))
            }

            async fn finish_print_job(
                &self,
                job_id: i64,
                worker: &str,
                end: PrintEnd,
                detail: serde_json::Value,
                at_us: i64,
            ) -> Result<PrintJobState, CoreError> {
                let mut tx = self.begin_write().await?;
                let row: Option<(i64, String, String, Option<String>)> =
                    sqlx::query_as("SELECT case_id, printer_station, state, worker FROM print_jobs WHERE id = $1")
                        .bind(job_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some((case_id, station, state, claimed_by)) = row else {
                    return Err(CoreError::NotFound { what: "print job", id: job_id.to_string() });
                };
                if state != PrintJobState::Sending.as_str() || claimed_by.as_deref() != Some(worker) {
                    return Err(StoreError::Refused(format!("print job {job_id} is {state}, not being sent by {worker}")).into());
                }
                let (action, next) = match end {
                    PrintEnd::Printed => ($crate::audit::AuditAction::PrintPrinted, PrintJobState::Printed),
                    PrintEnd::NothingSent => ($crate::audit::AuditAction::PrintRequeued, PrintJobState::Queued),
                    PrintEnd::Unknown => ($crate::audit::AuditAction::PrintSuspect, PrintJobState::Suspect),
                };
                let detail = serde_json::json!({ "job": job_id, "worker": worker, "printer": detail });
                let record = AuditRecord::by_system(at_us, &station, "print-worker", action, &subject_of_case(case_id), detail);
                let seq = Self::append_in(&mut tx, &record).await?;
                sqlx::query("UPDATE print_jobs SET state = $2, updated_at_us = $3, audit_seq = $4 WHERE id = $1")
                    .bind(job_id)
                    .bind(next.as_str())
                    .bind(at_us)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(next)
            }

            async fn suspect_unfinished_print_jobs(&self, station: &str, worker: &str, at_us: i64) -> Result<Vec<i64>, CoreError> {
                let mut tx = self.begin_write().await?;
                let jobs: Vec<(i64, i64, Option<String>)> = sqlx::query_as(
                    "SELECT id, case_id, worker FROM print_jobs WHERE printer_station = $1 AND state = 'sending' ORDER BY id",
                )
                .bind(station)
                .fetch_all(&mut *tx)
                .await?;
                for (job_id, case_id, claimed_by) in &jobs {
                    let detail = serde_json::json!({
                        "job": job_id,
                        "worker": claimed_by,
                        "found_by": worker,
                        "reason": "the job was claimed but its outcome was never recorded",
                    });
                    let record = AuditRecord::by_system(at_us, station, "print-worker", $crate::audit::AuditAction::PrintSuspect, &subject_of_case(*case_id), detail);
                    let seq = Self::append_in(&mut tx, &record).await?;
                    sqlx::query("UPDATE print_jobs SET state = 'suspect', updated_at_us = $2, audit_seq = $3 WHERE id = $1")
                        .bind(job_id)
                        .bind(at_us)
                        .bind(seq)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await.map_err(StoreError::from)?;
                Ok(jobs.into_iter().map(|(id, ..)| id).collect())
            }

            async fn watch_queue(&self) -> Result<tokio::sync::watch::Receiver<u64>, StoreError> {
                self.spawn_queue_watch().await
            }

            async fn claim_outbox_entry(&self, station: &str, sender: &str, lease_us: i64, at_us: i64) -> Result<Option<$crate::outbox::ClaimedOutboxEntry>, CoreError> {
                // Every terminal polls the outbox: look before taking the write lock (on PostgreSQL the audit head),
                // so an empty outbox costs one read.
                let due: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM resident_outbox WHERE state IN ('pending', 'sending') AND next_attempt_at_us <= $1 LIMIT 1",
                )
                .bind(at_us)
                .fetch_optional(&self.pool)
                .await?;
                if due.is_none() {
                    return Ok(None);
                }
                let mut tx = self.begin_write().await?;
                let entry: Option<(i64, i64, String, Vec<u8>, i64)> = sqlx::query_as($claim_outbox_entry).bind(at_us).fetch_optional(&mut *tx).await?;
                let Some((entry_id, case_id, key, sha, attempts)) = entry else {
                    return Ok(None);
                };
                let sha256 = hash32(&sha)?;
                let bytes = Self::sealed_output_bytes(&mut tx, case_id, &sha).await?;
                let attempt = attempts + 1;
                let detail = serde_json::json!({ "entry": entry_id, "idempotency_key": key, "sender": sender, "attempt": attempt });
                let record = AuditRecord::by_system(at_us, station, "outbox-sender", $crate::audit::AuditAction::OutboxSending, &subject_of_case(case_id), detail);
                let seq = Self::append_in(&mut tx, &record).await?;
                sqlx::query("UPDATE resident_outbox SET state = 'sending', attempts = $2, sender = $3, next_attempt_at_us = $4, updated_at_us = $5, audit_seq = $6 WHERE id = $1")
                    .bind(entry_id)
                    .bind(attempt)
                    .bind(sender)
                    .bind(at_us.saturating_add(lease_us))
                    .bind(at_us)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                // Opened before the commit: a key or hash problem leaves the entry where it was.
                let (bytes, _) = $crate::store::sealing::open_output(&self.keys, case_id, &sha256, bytes, None)?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(Some($crate::outbox::ClaimedOutboxEntry { id: entry_id, case_id, attempt, bytes }))
            }

            async fn finish_outbox_entry(
                &self,
                entry_id: i64,
                station: &str,
                sender: &str,
                end: &$crate::outbox::OutboxEnd,
                at_us: i64,
            ) -> Result<$crate::outbox::OutboxState, CoreError> {
                use $crate::outbox::{OutboxEnd, OutboxState};
                let mut tx = self.begin_write().await?;
                let row: Option<(i64, String, Option<String>, i64, i64)> =
                    sqlx::query_as("SELECT case_id, state, sender, attempts, next_attempt_at_us FROM resident_outbox WHERE id = $1")
                        .bind(entry_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some((case_id, state, holder, attempts, next_attempt_at_us)) = row else {
                    return Err(CoreError::NotFound { what: "outbox entry", id: entry_id.to_string() });
                };
                if state != OutboxState::Sending.as_str() || holder.as_deref() != Some(sender) {
                    return Err(StoreError::Refused(format!("outbox entry {entry_id} is {state}, not being sent by {sender}")).into());
                }
                let (action, next, next_at, error, error_ja, receipt, detail) = match end {
                    OutboxEnd::Committed(receipt) => {
                        let text = serde_json::to_string(receipt).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        let detail = serde_json::json!({ "entry": entry_id, "sender": sender, "attempt": attempts, "receipt": receipt });
                        ($crate::audit::AuditAction::OutboxCommitted, OutboxState::Committed, next_attempt_at_us, None, None, Some(text), detail)
                    }
                    OutboxEnd::Deferred { error, error_ja, retry_at_us } => {
                        let detail = serde_json::json!({ "entry": entry_id, "sender": sender, "attempt": attempts, "error": error, "retry_at_us": retry_at_us });
                        ($crate::audit::AuditAction::OutboxDeferred, OutboxState::Pending, *retry_at_us, Some(error.as_str()), Some(error_ja.as_str()), None, detail)
                    }
                    OutboxEnd::Rejected { reason, reason_ja } => {
                        let detail = serde_json::json!({ "entry": entry_id, "sender": sender, "attempt": attempts, "reason": reason, "reason_ja": reason_ja });
                        ($crate::audit::AuditAction::OutboxRejected, OutboxState::Rejected, next_attempt_at_us, Some(reason.as_str()), Some(reason_ja.as_str()), None, detail)
                    }
                };
                let record = AuditRecord::by_system(at_us, station, "outbox-sender", action, &subject_of_case(case_id), detail);
                let seq = Self::append_in(&mut tx, &record).await?;
                sqlx::query(
                    "UPDATE resident_outbox SET state = $2, next_attempt_at_us = $3, last_error = $4, last_error_ja = $5, receipt = $6,
                            updated_at_us = $7, audit_seq = $8 WHERE id = $1",
                )
                .bind(entry_id)
                .bind(next.as_str())
                .bind(next_at)
                .bind(error)
                .bind(error_ja)
                .bind(receipt)
                .bind(at_us)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(next)
            }

            async fn unfinished_outbox_entries(&self) -> Result<Vec<(i64, Vec<u8>)>, CoreError> {
                let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = sqlx::query_as(
                    "SELECT o.case_id, o.output_sha256, p.bytes FROM resident_outbox o
                     JOIN approvals a ON a.id = o.approval_id JOIN outputs p ON p.id = a.output_id
                     WHERE o.state IN ('pending', 'sending') ORDER BY o.id",
                )
                .fetch_all(&self.pool)
                .await?;
                let mut entries = Vec::with_capacity(rows.len());
                for (case_id, sha, bytes) in rows {
                    let sha256 = hash32(&sha)?;
                    let (bytes, _) = $crate::store::sealing::open_output(&self.keys, case_id, &sha256, bytes, None)?;
                    entries.push((case_id, bytes));
                }
                Ok(entries)
            }

            async fn outbox(&self, unfinished_only: bool) -> Result<Vec<$crate::outbox::OutboxRow>, StoreError> {
                use $crate::outbox::{OutboxRow, OutboxState};
                let rows: Vec<(i64, i64, String, String, i64, i64, Option<String>, Option<String>, i64)> = sqlx::query_as(
                    "SELECT id, case_id, idempotency_key, state, attempts, next_attempt_at_us, last_error_ja, receipt, updated_at_us
                     FROM resident_outbox WHERE $1 = 0 OR state <> 'committed' ORDER BY id",
                )
                .bind(i64::from(unfinished_only))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(id, case_id, idempotency_key, state, attempts, next_attempt_at_us, last_error_ja, receipt, updated_at_us)| {
                        let state = OutboxState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("outbox entry {id} is in state {state:?}")))?;
                        let receipt = receipt
                            .map(|text| serde_json::from_str(&text))
                            .transpose()
                            .map_err(|e| StoreError::Corrupt(format!("outbox entry {id} has an unreadable receipt: {e}")))?;
                        Ok(OutboxRow { id, case_id, idempotency_key, state, attempts, next_attempt_at_us, last_error_ja, receipt, updated_at_us })
                    })
                    .collect()
            }

            async fn print_jobs(&self, filter: &PrintJobFilter) -> Result<Vec<PrintJobRow>, StoreError> {
                type Row = (i64, i64, Option<i64>, Option<i64>, String, String, i64, Option<String>, i64, Option<String>, Option<String>);
                let rows: Vec<Row> = sqlx::query_as(concat!(
                    "SELECT j.id, j.case_id, j.issuance_id, i.issue_number, j.printer_station, j.state, j.attempts, j.worker,
                            j.updated_at_us, r.outcome, r.reason
                     FROM print_jobs j LEFT JOIN issuances i ON i.id = j.issuance_id LEFT JOIN print_resolutions r ON r.job_id = j.id
                     WHERE ($1 IS NULL OR j.printer_station = $1) AND ($2 IS NULL OR j.case_id = $2)
                       AND ($3 = 'all'
                            OR ($3 = 'awaiting_staff' AND j.state = 'suspect' AND r.id IS NULL)
                            OR ($3 = 'unsettled' AND ",
                    $crate::store::unsettled_print_job!(),
                    ")
                            OR ($3 = 'spoiled' AND r.outcome = 'spoiled'))
                     ORDER BY j.id",
                ))
                .bind(filter.station.as_deref())
                .bind(filter.case_id)
                .bind(filter.only.as_str())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(id, case_id, issuance_id, issue_number, printer_station, state, attempts, worker, updated_at_us, outcome, reason)| {
                        let state = PrintJobState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("print job {id} is in state {state:?}")))?;
                        let resolution = match outcome {
                            Some(outcome) => Some(
                                PrintResolution::from_stored(&outcome, reason.unwrap_or_default())
                                    .ok_or_else(|| StoreError::Corrupt(format!("print job {id} was resolved as {outcome:?}")))?,
                            ),
                            None => None,
                        };
                        Ok(PrintJobRow { id, case_id, issuance_id, issue_number, printer_station, state, attempts, worker, updated_at_us, resolution })
                    })
                    .collect()
            }

            async fn resolve_print(
                &self,
                actor: &Actor,
                job_id: i64,
                resolution: &PrintResolution,
                at_us: i64,
            ) -> Result<CaseState, CoreError> {
                let mut tx = self.begin_write().await?;
                let job: Option<(i64, String, Option<i64>, Option<i64>, i64)> = sqlx::query_as(
                    "SELECT j.case_id, j.state, i.issue_number, j.letter_approval_id,
                            (SELECT count(*) FROM print_resolutions r WHERE r.job_id = j.id)
                     FROM print_jobs j LEFT JOIN issuances i ON i.id = j.issuance_id WHERE j.id = $1",
                )
                .bind(job_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((case_id, state, issue_number, letter_approval_id, resolved)) = job else {
                    return Err(CoreError::NotFound { what: "print job", id: job_id.to_string() });
                };
                if state != PrintJobState::Suspect.as_str() || resolved > 0 {
                    return Err(CoreError::NotASuspectPrint { job_id });
                }
                let detail = serde_json::json!({
                    "job_id": job_id,
                    "issue_number": issue_number,
                    "outcome": resolution.outcome(),
                    "reason": resolution.reason(),
                });
                let seq = Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::PrintResolved, subject_of_case(case_id), detail)).await?;
                sqlx::query(
                    "INSERT INTO print_resolutions (job_id, case_id, outcome, reason, decided_by, decided_at_us, audit_seq)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(job_id)
                .bind(case_id)
                .bind(resolution.outcome())
                .bind(resolution.reason())
                .bind(actor.user_id)
                .bind(at_us)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
                let case = Self::load_case(&self.keys, &mut tx, case_id).await?;
                let state = match (resolution, letter_approval_id) {
                    (PrintResolution::Printed, _) => case.state,
                    // A spoiled 照会書 is printed again from the same approved bytes: it carries no number.
                    (PrintResolution::Spoiled { .. }, Some(approval_id)) => {
                        let station: String = sqlx::query_scalar("SELECT printer_station FROM print_jobs WHERE id = $1")
                            .bind(job_id)
                            .fetch_one(&mut *tx)
                            .await?;
                        Self::queue_letter(&mut tx, case_id, approval_id, &station, seq, at_us).await?;
                        case.state
                    }
                    (PrintResolution::Spoiled { .. }, None) => {
                        let next = Self::transition(&case, $crate::case::CaseAction::Spoil)?;
                        Self::set_state(&mut tx, case_id, next, seq, at_us).await?;
                        next
                    }
                };
                tx.commit().await.map_err(StoreError::from)?;
                Ok(state)
            }

            async fn void_case(&self, actor: &Actor, case_id: i64, reason: &str, at_us: i64) -> Result<CaseVoid, CoreError> {
                let mut tx = self.begin_write().await?;
                let case = Self::load_case(&self.keys, &mut tx, case_id).await?;
                let next = Self::transition(&case, $crate::case::CaseAction::Void)?;
                if case.family == $crate::request::TaskFamily::Move && case.state == CaseState::Approved {
                    return Err(CoreError::EntryOnItsWay { case_id });
                }
                // An approved 照会書 still on its way to the printer is not voided under it.
                if case.state == CaseState::Approved {
                    let unsettled: Vec<i64> = sqlx::query_scalar(concat!(
                        "SELECT j.id FROM print_jobs j LEFT JOIN print_resolutions r ON r.job_id = j.id
                         WHERE j.case_id = $1 AND ",
                        $crate::store::unsettled_print_job!(),
                        " ORDER BY j.id",
                    ))
                    .bind(case_id)
                    .fetch_all(&mut *tx)
                    .await?;
                    if !unsettled.is_empty() {
                        return Err(CoreError::PrintsUnsettled { jobs: unsettled });
                    }
                }
                // The latest print of the case decides what was handed out: a printed sheet (or one staff saw come
                // out) is taken back and voided; a print not settled yet cannot be undone from here.
                let (mut voided_sheets, mut printer_station) = (0_i64, None::<String>);
                if case.state == CaseState::Issued {
                    let last: Option<(i64, String, String, i64, Option<String>)> = sqlx::query_as(
                        "SELECT j.id, j.state, j.printer_station, i.sheets, r.outcome
                         FROM print_jobs j JOIN issuances i ON i.id = j.issuance_id LEFT JOIN print_resolutions r ON r.job_id = j.id
                         WHERE j.case_id = $1 ORDER BY j.id DESC LIMIT 1",
                    )
                    .bind(case_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some((job_id, state, station, sheets, outcome)) = last {
                        let handed_out = state == PrintJobState::Printed.as_str() || outcome.as_deref() == Some("printed");
                        if !handed_out && outcome.is_none() {
                            return Err(CoreError::PrintsUnsettled { jobs: vec![job_id] });
                        }
                        if handed_out {
                            (voided_sheets, printer_station) = (sheets, Some(station));
                        }
                    }
                }
                let refund_yen: i64 = sqlx::query_scalar("SELECT CAST(coalesce(sum(fee_yen), 0) AS BIGINT) FROM issuances WHERE case_id = $1")
                    .bind(case_id)
                    .fetch_one(&mut *tx)
                    .await?;
                let detail = serde_json::json!({
                    "reason": reason,
                    "from": case.state.as_str(),
                    "refund_yen": refund_yen,
                    "voided_sheets": voided_sheets,
                    "printer_station": printer_station,
                });
                let seq = Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::CaseVoided, subject_of_case(case_id), detail)).await?;
                sqlx::query(
                    "INSERT INTO case_voids (case_id, post, reason, refund_yen, voided_sheets, printer_station, decided_by, decided_at_us, audit_seq)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(case_id)
                .bind(&case.station)
                .bind(reason)
                .bind(refund_yen)
                .bind(voided_sheets)
                .bind(printer_station.as_deref())
                .bind(actor.user_id)
                .bind(at_us)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
                Self::set_state(&mut tx, case_id, next, seq, at_us).await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(CaseVoid {
                    case_id,
                    post: case.station,
                    reason: reason.to_string(),
                    refund_yen,
                    voided_sheets,
                    printer_station,
                    decided_at_us: at_us,
                })
            }

            async fn voids_between(&self, from_us: i64, until_us: i64) -> Result<Vec<CaseVoid>, StoreError> {
                let rows: Vec<(i64, String, String, i64, i64, Option<String>, i64)> = sqlx::query_as(
                    "SELECT case_id, post, reason, refund_yen, voided_sheets, printer_station, decided_at_us FROM case_voids
                     WHERE decided_at_us >= $1 AND decided_at_us < $2 ORDER BY id",
                )
                .bind(from_us)
                .bind(until_us)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(case_id, post, reason, refund_yen, voided_sheets, printer_station, decided_at_us)| CaseVoid {
                        case_id,
                        post,
                        reason,
                        refund_yen,
                        voided_sheets,
                        printer_station,
                        decided_at_us,
                    })
                    .collect())
            }

            async fn record_paper(
                &self,
                actor: &Actor,
                station: &str,
                spoiled: bool,
                sheets: i64,
                reason: &str,
                at_us: i64,
            ) -> Result<(), CoreError> {
                let kind = if spoiled { "spoiled" } else { "received" };
                let mut tx = self.begin_write().await?;
                let detail = serde_json::json!({ "kind": kind, "sheets": sheets, "reason": reason });
                let seq = Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::PaperRecorded, format!("printer:{station}"), detail)).await?;
                sqlx::query("INSERT INTO paper_movements (station, kind, sheets, reason, at_us, audit_seq) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(station)
                    .bind(kind)
                    .bind(sheets)
                    .bind(reason)
                    .bind(at_us)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(())
            }

            async fn fee_table(&self) -> Result<Option<$crate::store::StoredFeeTable>, StoreError> {
                let row: Option<(i64, String, String, i64)> = sqlx::query_as(
                    "SELECT f.id, f.table_toml, u.login_id, f.set_at_us FROM fee_tables f JOIN users u ON u.id = f.set_by
                     ORDER BY f.id DESC LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(id, table_toml, set_by, set_at_us)| $crate::store::StoredFeeTable { id, table_toml, set_by, set_at_us }))
            }

            async fn set_fee_table(
                &self,
                actor: &Actor,
                table_toml: &str,
                detail: serde_json::Value,
                at_us: i64,
            ) -> Result<$crate::store::StoredFeeTable, CoreError> {
                let mut tx = self.begin_write().await?;
                let seq = Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::FeesSet, "fees".to_string(), detail)).await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO fee_tables (table_toml, set_by, set_at_us, audit_seq) VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(table_toml)
                .bind(actor.user_id)
                .bind(at_us)
                .bind(seq)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok($crate::store::StoredFeeTable { id, table_toml: table_toml.to_string(), set_by: actor.login_id.clone(), set_at_us: at_us })
            }

            async fn paper_on_hand(&self, until_us: i64) -> Result<Vec<(String, i64)>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT station, CAST(sum(delta) AS BIGINT) FROM (
                         SELECT station, CASE kind WHEN 'received' THEN sheets ELSE -sheets END AS delta
                         FROM paper_movements WHERE at_us < $1
                         UNION ALL
                         SELECT station, -sheets FROM issuances WHERE issued_at_us < $1
                     ) m GROUP BY station ORDER BY station",
                )
                .bind(until_us)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn record_day_close(
                &self,
                actor: &Actor,
                close: &$crate::dayclose::DayClose,
                mismatch: bool,
                at_us: i64,
            ) -> Result<(), CoreError> {
                let json = |figures: &$crate::dayclose::DayFigures| serde_json::to_string(figures).map_err(|e| StoreError::Corrupt(e.to_string()));
                let (expected, counted) = (json(&close.expected)?, json(&close.counted)?);
                let mut tx = self.begin_write().await?;
                let detail = serde_json::json!({
                    "day": close.day.to_string(), "mismatch": mismatch, "explanation": close.explanation,
                    "expected": close.expected, "counted": close.counted,
                });
                let seq = Self::append_in(&mut tx, &Self::record(actor, at_us, $crate::audit::AuditAction::DayClosed, format!("day:{}", close.day), detail)).await?;
                sqlx::query(
                    "INSERT INTO day_closes (day, expected, counted, mismatch, explanation, closed_by, closed_at_us, audit_seq)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(close.day.to_string())
                .bind(expected)
                .bind(counted)
                .bind(i64::from(mismatch))
                .bind(close.explanation.as_deref())
                .bind(actor.user_id)
                .bind(at_us)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(())
            }

            async fn day_close(&self, day: jiff::civil::Date) -> Result<Option<$crate::dayclose::DayClose>, StoreError> {
                let row: Option<(String, String, Option<String>, String)> = sqlx::query_as(
                    "SELECT d.expected, d.counted, d.explanation, u.login_id FROM day_closes d JOIN users u ON u.id = d.closed_by
                     WHERE d.day = $1",
                )
                .bind(day.to_string())
                .fetch_optional(&self.pool)
                .await?;
                let Some((expected, counted, explanation, closed_by)) = row else { return Ok(None) };
                let parse = |text: &str| serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("close of {day}: {e}")));
                Ok(Some($crate::dayclose::DayClose { day, expected: parse(&expected)?, counted: parse(&counted)?, explanation, closed_by }))
            }

            async fn issuances_between(&self, from_us: i64, until_us: i64) -> Result<Vec<Issuance>, StoreError> {
                let rows: Vec<$crate::store::IssuanceRow> = sqlx::query_as($crate::store::issuance_query!(
                    "",
                    "i.issued_at_us >= $1 AND i.issued_at_us < $2"
                ))
                .bind(from_us)
                .bind(until_us)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::store::issuance_from_row).collect())
            }

            async fn audit_entries(&self, from_seq: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
                let rows: Vec<AuditRow> = sqlx::query_as(
                    "SELECT seq, at_us, station, actor, role, action, subject, detail, prev_hash, entry_hash FROM audit_log
                     WHERE seq >= $1 ORDER BY seq LIMIT $2",
                )
                .bind(from_seq)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(audit_entry_from_row).collect()
            }

            async fn record_incident(&self, record: &AuditRecord, kind: &str) -> Result<i64, StoreError> {
                let mut tx = self.begin_write().await?;
                let seq = Self::append_in(&mut tx, record).await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO incidents (at_us, station, login_id, kind, detail, audit_seq)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(record.at_us)
                .bind(&record.station)
                .bind(&record.actor)
                .bind(kind)
                .bind(record.detail.to_string())
                .bind(seq)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn incidents(&self, limit: i64) -> Result<Vec<$crate::store::Incident>, StoreError> {
                let rows: Vec<(i64, i64, String, String, String, String)> = sqlx::query_as(
                    "SELECT id, at_us, station, login_id, kind, detail FROM incidents ORDER BY id DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, at_us, station, login_id, kind, detail)| $crate::store::Incident { id, at_us, station, login_id, kind, detail })
                    .collect())
            }

            async fn set_usb_key(
                &self,
                actor: &Actor,
                login_id: &str,
                key: Option<&$crate::guard::UsbKey>,
                at_us: i64,
            ) -> Result<(), CoreError> {
                let mut tx = self.begin_write().await?;
                let user_id = Self::user_id_in(&mut tx, login_id).await?;
                let detail = serde_json::json!({ "key": key.map(ToString::to_string) });
                let seq = Self::append_in(
                    &mut tx,
                    &Self::record(actor, at_us, $crate::audit::AuditAction::UsbKeyRegistered, format!("user:{login_id}"), detail),
                )
                .await?;
                sqlx::query("DELETE FROM user_keys WHERE user_id = $1").bind(user_id).execute(&mut *tx).await.map_err(StoreError::from)?;
                if let Some(key) = key {
                    sqlx::query("INSERT INTO user_keys (user_id, vendor_id, product_id, serial, audit_seq) VALUES ($1, $2, $3, $4, $5)")
                        .bind(user_id)
                        .bind(i64::from(key.vendor_id))
                        .bind(i64::from(key.product_id))
                        .bind(&key.serial)
                        .bind(seq)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from)?;
                }
                tx.commit().await.map_err(StoreError::from)?;
                Ok(())
            }

            async fn usb_key(&self, user_id: i64) -> Result<Option<$crate::guard::UsbKey>, StoreError> {
                let row: Option<(i64, i64, String)> =
                    sqlx::query_as("SELECT vendor_id, product_id, serial FROM user_keys WHERE user_id = $1")
                        .bind(user_id)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(|(vendor_id, product_id, serial)| {
                    Ok($crate::guard::UsbKey {
                        vendor_id: u16::try_from(vendor_id).map_err(|_| StoreError::Corrupt(format!("vendor id {vendor_id}")))?,
                        product_id: u16::try_from(product_id).map_err(|_| StoreError::Corrupt(format!("product id {product_id}")))?,
                        serial,
                    })
                })
                .transpose()
            }

            async fn audit_head(&self) -> Result<(i64, [u8; 32]), StoreError> {
                let (seq, hash): (i64, Vec<u8>) =
                    sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&self.pool).await?;
                Ok((seq, hash32(&hash)?))
            }

            async fn audit_search(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
                let limit = if filter.limit == 0 { 200 } else { i64::from(filter.limit) };
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT seq, at_us, station, actor, role, action, subject, detail, prev_hash, entry_hash FROM audit_log WHERE 1 = 1",
                );
                $crate::store::push_audit_filter(&mut query, filter);
                query.push(" ORDER BY seq DESC LIMIT ").push_bind(limit);
                let rows: Vec<AuditRow> = query.build_query_as().fetch_all(&self.pool).await?;
                rows.into_iter().map(audit_entry_from_row).collect()
            }

            async fn audit_count(&self, filter: &AuditFilter) -> Result<i64, StoreError> {
                let mut query = sqlx::QueryBuilder::<$db>::new("SELECT count(*) FROM audit_log WHERE 1 = 1");
                $crate::store::push_audit_filter(&mut query, filter);
                Ok(query.build_query_scalar().fetch_one(&self.pool).await?)
            }
        }
    };
}

/// The auditor's filter as SQL conditions (both backends speak this subset alike); the limit is the caller's.
pub(crate) fn push_audit_filter<DB: sqlx::Database>(query: &mut sqlx::QueryBuilder<DB>, filter: &AuditFilter)
where
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'static str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    if let Some(actor) = &filter.actor {
        query.push(" AND actor = ").push_bind(actor.clone());
    }
    if let Some(action) = filter.action {
        query.push(" AND action = ").push_bind(action.as_str());
    }
    if let Some(prefix) = &filter.subject_prefix {
        // A prefix match without LIKE, so '%' and '_' in the filter mean themselves.
        query.push(" AND substr(subject, 1, length(").push_bind(prefix.clone()).push(")) = ").push_bind(prefix.clone());
    }
    if let Some(from) = filter.from_us {
        query.push(" AND at_us >= ").push_bind(from);
    }
    if let Some(until) = filter.until_us {
        query.push(" AND at_us < ").push_bind(until);
    }
}

pub(crate) use store_impl;

/// The kind recorded for a case: the certificate kind or the 異動 kind.
pub(crate) fn case_kind(request: &CounterRequest) -> &'static str {
    use crate::request::TaskRequest;
    use backend_adapter::types::MoveEntry;
    match &request.task {
        TaskRequest::Certificate(c) => c.kind.as_str(),
        TaskRequest::Move { entry, special_card_procedure, .. } => match entry {
            MoveEntry::MoveIn { .. } => "move-in",
            // 特例転出 prints nothing; a paper 転出 ends in its 転出証明書.
            MoveEntry::MoveOut { .. } if *special_card_procedure => "move-out-card",
            MoveEntry::MoveOut { .. } => "move-out",
            MoveEntry::MoveWithin { .. } => "move-within",
            MoveEntry::HouseholdChange { .. } => "household-change",
        },
        TaskRequest::Seal { registration_number: Some(_), .. } => "seal-certificate",
        TaskRequest::Seal { .. } => "seal-registration",
    }
}

/// Verify the whole audit chain of a store, page by page. The outer error is a failure to read; the inner one
/// names the first bad row.
pub async fn verify_audit_chain(
    store: &dyn Store,
) -> Result<Result<crate::audit::VerifiedChain, crate::audit::ChainError>, StoreError> {
    const PAGE: i64 = 10_000;
    // The head is read first: entries appended while the chain is read only make the chain longer than it.
    let (head_seq, head_hash) = store.audit_head().await?;
    let mut verifier = crate::audit::ChainVerifier::default();
    let mut next = 1;
    loop {
        let page = store.audit_entries(next, PAGE).await?;
        let Some(last) = page.last() else { break };
        next = last.seq + 1;
        for entry in &page {
            if let Err(err) = verifier.push(entry) {
                return Ok(Err(err));
            }
            if entry.seq == head_seq && entry.entry_hash != head_hash {
                return Ok(Err(crate::audit::ChainError::HeadMismatch { head_seq, entries: entry.seq }));
            }
        }
        if i64::try_from(page.len()).unwrap_or(0) < PAGE {
            break;
        }
    }
    let verified = verifier.finish();
    if verified.entries < head_seq {
        return Ok(Err(crate::audit::ChainError::HeadMismatch { head_seq, entries: verified.entries }));
    }
    Ok(Ok(verified))
}

/// Why a store failed verification against a signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditVerifyError {
    /// The chain itself is broken.
    #[error(transparent)]
    Chain(#[from] crate::audit::ChainError),
    /// The chain verifies but does not contain the signed checkpoint (or the checkpoint is not genuine).
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
}

impl AuditVerifyError {
    /// The message for an auditor's screen.
    pub fn message_ja(&self) -> String {
        match self {
            AuditVerifyError::Chain(err) => err.message_ja(),
            AuditVerifyError::Checkpoint(err) => err.message_ja(),
        }
    }
}

/// Verify the chain and then that it still contains each signed checkpoint: the signature verifies with the ward's
/// key, and the entry at the checkpoint's size has the signed hash. This is what catches a truncated or wholly
/// rewritten log, which a chain alone cannot.
pub async fn verify_audit_against_checkpoints(
    store: &dyn Store,
    checkpoints: &[crate::checkpoint::Checkpoint],
    key: &crate::checkpoint::WardPublicKey,
) -> Result<Result<crate::audit::VerifiedChain, AuditVerifyError>, StoreError> {
    for checkpoint in checkpoints {
        if let Err(err) = checkpoint.verify(key) {
            return Ok(Err(err.into()));
        }
    }
    let verified = match verify_audit_chain(store).await? {
        Ok(verified) => verified,
        Err(err) => return Ok(Err(err.into())),
    };
    for checkpoint in checkpoints {
        let at_size = if checkpoint.size == 0 {
            None
        } else {
            store
                .audit_entries(checkpoint.size, 1)
                .await?
                .first()
                .filter(|e| e.seq == checkpoint.size)
                .map(|e| e.entry_hash)
        };
        if let Err(err) = checkpoint.check_prefix(verified.entries, at_size) {
            return Ok(Err(err.into()));
        }
    }
    Ok(Ok(verified))
}

/// Sign a checkpoint of the store's chain with the ward's key and record the signing in the chain. The chain is
/// verified first: a broken chain is never signed. The checkpoint covers the chain as verified; its own audit row
/// comes after it (and is covered by the next checkpoint).
pub async fn sign_audit_checkpoint(
    store: &dyn Store,
    key: &crate::checkpoint::WardSigningKey,
    origin: &str,
    station: &str,
    at_us: i64,
) -> Result<Result<crate::checkpoint::Checkpoint, AuditVerifyError>, StoreError> {
    let verified = match verify_audit_chain(store).await? {
        Ok(verified) => verified,
        Err(err) => return Ok(Err(err.into())),
    };
    let checkpoint = match key.sign(origin, verified.entries, verified.head, at_us) {
        Ok(checkpoint) => checkpoint,
        Err(err) => return Ok(Err(err.into())),
    };
    let detail = serde_json::json!({
        "size": checkpoint.size,
        "head": hex::encode(checkpoint.head),
        "key": checkpoint.key_id,
        "checkpoint": checkpoint.to_text(),
    });
    let record = AuditRecord::by_system(
        at_us,
        station,
        "ward-key",
        crate::audit::AuditAction::CheckpointSigned,
        "audit_log",
        detail,
    );
    store.append_audit(&record).await?;
    Ok(Ok(checkpoint))
}
