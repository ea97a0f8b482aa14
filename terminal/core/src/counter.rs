//! The counter's operations as people perform them: log in, search residents, open and hand over a case, review,
//! issue. Every call checks the caller's role and live grant here in core (not only in the UI), reads of resident
//! data are recorded in the audit chain before the data is handed back, and a 支援措置 flag stops a request cold.

use std::sync::Arc;

use backend_adapter::ResidentSystem;
use backend_adapter::types::{Household, HouseholdId, PersonId, PersonSummary, Registry, SearchQuery};
use sha2::{Digest as _, Sha256};

use crate::anomaly::{self, AnomalyPolicy};
use crate::audit::{AuditAction, AuditEntry, AuditRecord, ChainError, VerifiedChain};
use crate::auth::{Permission, Role, verify_password};
use crate::case::{CaseState, ReturnReason};
use crate::certificate::{CertificateDocument, CertificateProfile, PDF_MEDIA_TYPE};
use crate::clock::Clock;
use crate::error::{CoreError, FieldError, StoreError, ValidationErrors};
use crate::export::ExportBundle;
use crate::guard::{LockReason, TerminalGuard, UsbKey};
use crate::inquiry::{INQUIRY_LETTER_MEDIA_TYPE, InquiryLetter, SealInquiry};
use crate::request::{CertificateKind, CounterRequest, ProtectedField, SealRegistrationPath, TaskRequest};
use crate::store::{
    Actor, AuditFilter, CaseFilter, CaseRecord, CaseSummary, CaseVoid, DataKeyRecord, GrantRequest, Incident, Issuance,
    NewCase, NewOutput, NewUser, Output, PrintJobFilter, PrintJobRow, PrintJobSelection, PrintResolution,
    ReservedNumbers, SYSTEM_ACTOR, Store, UserRecord,
};

/// Consecutive failed logins that lock an account.
pub const LOCK_AFTER_FAILURES: i64 = 5;

/// What an operator sees in place of a protected address.
pub const PROTECTED_ADDRESS: &str = "（支援措置対象のため表示できません）";

/// What an output's preview is laid out from: a certificate with its reserved numbers, or a 照会書.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum PreviewSource {
    Certificate {
        document: Box<CertificateDocument>,
        numbers: ReservedNumbers,
        /// The registered 印影 on a 印鑑登録証明書, as read from the 印鑑登録原票 when the sheet was made.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seal_impression_hex: Option<String>,
    },
    InquiryLetter {
        letter: crate::inquiry::InquiryLetter,
    },
}

impl PreviewSource {
    /// The pages as `profile` lays them out.
    fn pages(&self, profile: &CertificateProfile) -> Result<Vec<crate::render::Page>, CoreError> {
        match self {
            PreviewSource::Certificate { document, numbers, seal_impression_hex } => {
                let impression = seal_impression_hex
                    .as_deref()
                    .map(hex::decode)
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(format!("the stored 印影 is not hex: {e}")))?;
                profile.pages(document, impression.map(Arc::new), numbers)
            }
            PreviewSource::InquiryLetter { letter } => profile.letter_pages(letter),
        }
    }
}

/// A member of a household as the operator sees it for a 異動: who, born when, and their 続柄.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdMember {
    /// 宛名番号.
    pub id: PersonId,
    /// 氏名 as displayed.
    pub name: String,
    /// 生年月日.
    pub birth_date: jiff::civil::Date,
    /// 続柄.
    pub relationship: String,
}

/// A logged-in person acting in one role at one station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who, in which role, where.
    pub actor: Actor,
    /// Display name.
    pub display_name: String,
}

/// The 手数料表 a counter charges by, and who set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeesInForce {
    /// The amounts.
    pub table: crate::fees::FeeTable,
    /// The administrator (login id) who set it on screen and when (µs); `None`: the terminal's configured table.
    pub set: Option<(String, i64)>,
}

/// The day's cash (日計) of one counter post.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StationCash {
    /// The post that took the requests (where the fees are collected).
    pub station: String,
    /// Certificates issued.
    pub issues: i64,
    /// Copies issued.
    pub copies: i64,
    /// 手数料 due (yen).
    pub fees_yen: i64,
    /// Issues exempt from the fee.
    pub exempt: i64,
    /// Cases voided (取消) that day.
    pub voids: i64,
    /// 手数料 refunded on those voids (yen).
    pub refunds_yen: i64,
}

impl StationCash {
    /// What the post's till should hold from the day: fees less refunds.
    pub fn net_yen(&self) -> i64 {
        self.fees_yen - self.refunds_yen
    }
}

/// The counter: store, resident system and clock wired together.
#[derive(Clone)]
pub struct Counter {
    store: Arc<dyn Store>,
    residents: Arc<dyn ResidentSystem>,
    clock: Arc<dyn Clock>,
    profile: CertificateProfile,
    anomaly: AnomalyPolicy,
    /// Days a 回答書 may take (the ward's 印鑑条例).
    inquiry_days: u16,
    /// The ward's 手数料 table.
    fees: crate::fees::FeeTable,
    /// 本番 or 研修 (set by [`crate::mode::counter_for_mode`]).
    run_mode: crate::mode::RunMode,
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({:?})", self.backend())
    }
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counter").field("store", &self.store).field("clock", &self.clock).finish_non_exhaustive()
    }
}

/// Whose record a request is about: the household of a certificate, the person of a seal matter.
fn case_subject(request: &CounterRequest) -> String {
    match &request.task {
        // A 転出証明書 names its 転出: the store keeps one standing certificate case per 転出 (migration 0016).
        TaskRequest::Certificate(certificate) => match certificate.move_case {
            Some(move_case) => format!("move-out-of-case:{move_case}"),
            None => format!("household:{}", certificate.household),
        },
        TaskRequest::Seal { person, .. } => format!("person:{person}"),
        TaskRequest::Move { .. } => "move".to_string(),
    }
}

/// The PDF of `pages` and the preview source stored beside it (what review lays out again to check the bytes).
fn rendered(pages: &[crate::render::Page], source: &PreviewSource) -> Result<(Vec<u8>, String), CoreError> {
    let pdf = crate::render::pdf::render_pdf(pages).map_err(|e| CoreError::Render(e.to_string()))?;
    let source = serde_json::to_string(source).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok((pdf, source))
}

/// Run CPU-bound work (laying out and rendering a certificate: milliseconds) on the blocking pool, so the async
/// workers keep serving the store's round trips — a terminal holding the store's write lock must not wait behind
/// another case's rendering.
async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CoreError> + Send + 'static,
) -> Result<T, CoreError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| CoreError::Render(format!("the rendering task failed: {e}")))?
}

/// The first µs of a ward day (Asia/Tokyo).
fn ward_day_start(day: jiff::civil::Date) -> Result<i64, StoreError> {
    day.to_zoned(crate::clock::ward_zone()).map(|z| z.timestamp().as_microsecond()).map_err(corrupt)
}

fn corrupt(err: jiff::Error) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

fn digest_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl Counter {
    /// Wire a counter.
    pub fn new(
        store: Arc<dyn Store>,
        residents: Arc<dyn ResidentSystem>,
        clock: Arc<dyn Clock>,
        profile: CertificateProfile,
    ) -> Self {
        Self {
            store,
            residents,
            clock,
            profile,
            anomaly: AnomalyPolicy::default(),
            inquiry_days: crate::inquiry::DEFAULT_INQUIRY_DAYS,
            fees: crate::fees::FeeTable::demo(),
            run_mode: crate::mode::RunMode::Live,
        }
    }

    /// Mark the counter as running in `mode` (the screens show a 研修 banner). Only
    /// [`crate::mode::counter_for_mode`] sets training, after it has chosen the resident system and the profile.
    pub(crate) fn with_run_mode(mut self, mode: crate::mode::RunMode) -> Self {
        self.run_mode = mode;
        self
    }

    /// 本番 or 研修.
    pub fn run_mode(&self) -> crate::mode::RunMode {
        self.run_mode
    }

    /// A sender of the resident system's outbox on this counter's store, resident system and clock, running at
    /// `station`; `sender` names it in the journal.
    pub fn outbox_sender(&self, station: &str, sender: &str) -> crate::outbox::OutboxSender {
        crate::outbox::OutboxSender::new(
            self.store.clone(),
            self.residents.clone(),
            self.clock.clone(),
            station,
            sender,
        )
    }

    /// The outbox to the resident system as staff see it (the entries not yet committed when `unfinished_only`).
    pub async fn outbox(
        &self,
        session: &Session,
        unfinished_only: bool,
    ) -> Result<Vec<crate::outbox::OutboxRow>, CoreError> {
        self.authorize(session, Permission::ReadQueue).await?;
        Ok(self.store.outbox(unfinished_only).await?)
    }

    /// The print worker of `station`'s printer on this counter's store and clock; `worker` names it in the journal.
    pub fn print_worker(&self, station: &str, worker: &str) -> crate::print::PrintWorker {
        crate::print::PrintWorker::new(self.store.clone(), self.clock.clone(), station, worker)
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The certificate profile outputs are rendered with (issuer, 公印, 見本).
    pub fn profile(&self) -> &CertificateProfile {
        &self.profile
    }

    /// Log in with ID and password in a role at a station. Every attempt is recorded.
    pub async fn login(&self, login_id: &str, password: &str, role: Role, station: &str) -> Result<Session, CoreError> {
        let now = self.clock.now_us();
        let user = self.store.user_by_login(login_id).await?;
        let Some(user) = user else {
            self.store.record_login(login_id, Some(role), false, station, now, LOCK_AFTER_FAILURES).await?;
            return Err(CoreError::LoginFailed);
        };
        if user.locked {
            self.store.record_login(login_id, Some(role), false, station, now, LOCK_AFTER_FAILURES).await?;
            return Err(CoreError::AccountLocked);
        }
        let matches = verify_password(password, &user.password_hash)
            .map_err(|e| StoreError::Corrupt(format!("password hash of {login_id}: {e}")))?;
        if !matches {
            self.store.record_login(login_id, Some(role), false, station, now, LOCK_AFTER_FAILURES).await?;
            if user.failed_logins + 1 >= LOCK_AFTER_FAILURES {
                let detail = serde_json::json!({ "login_id": login_id, "failures": user.failed_logins + 1 });
                self.raise_incident(None, station, anomaly::kind::REPEATED_FAILED_LOGINS, detail).await?;
            }
            return Err(CoreError::LoginFailed);
        }
        if !user.holds(role, now) {
            self.store.record_login(login_id, Some(role), false, station, now, LOCK_AFTER_FAILURES).await?;
            return Err(CoreError::NoGrant { login_id: login_id.to_string(), role });
        }
        self.store.record_login(login_id, Some(role), true, station, now, LOCK_AFTER_FAILURES).await?;
        Ok(Session {
            actor: Actor { user_id: user.id, login_id: user.login_id, role, station: station.to_string() },
            display_name: user.display_name,
        })
    }

    /// Log in with ID and password in the first role the user holds a valid grant for (a terminal where each
    /// person has one role). The attempt is recorded like any login.
    pub async fn login_any_role(&self, login_id: &str, password: &str, station: &str) -> Result<Session, CoreError> {
        let now = self.clock.now_us();
        let role = self
            .store
            .user_by_login(login_id)
            .await?
            .and_then(|user| Role::ALL.into_iter().find(|role| user.holds(*role, now)))
            .unwrap_or(Role::Operator);
        self.login(login_id, password, role, station).await
    }

    /// The same counter with another 異常検知 policy (opening hours, lookup threshold).
    pub fn with_anomaly_policy(mut self, policy: AnomalyPolicy) -> Self {
        self.anomaly = policy;
        self
    }

    /// The same counter with the ward's 手数料 table.
    pub fn with_fee_table(mut self, fees: crate::fees::FeeTable) -> Self {
        self.fees = fees;
        self
    }

    /// The day's cash (日計) per counter post: what was issued on the ward's day `date` and the fees it should have
    /// brought in (staff and supervisors).
    pub async fn daily_cash(&self, session: &Session, date: jiff::civil::Date) -> Result<Vec<StationCash>, CoreError> {
        self.authorize(session, Permission::ReadQueue).await?;
        self.cash_of_day(date).await
    }

    async fn cash_of_day(&self, date: jiff::civil::Date) -> Result<Vec<StationCash>, CoreError> {
        let next = date.tomorrow().map_err(corrupt)?;
        let (from_us, until_us) = (ward_day_start(date)?, ward_day_start(next)?);
        let issuances = self.store.issuances_between(from_us, until_us).await?;
        let voids = self.store.voids_between(from_us, until_us).await?;
        // By post, in post order.
        let mut stations = std::collections::BTreeMap::new();
        fn entry_of<'a>(
            stations: &'a mut std::collections::BTreeMap<String, StationCash>,
            post: &str,
        ) -> &'a mut StationCash {
            stations
                .entry(post.to_string())
                .or_insert_with(|| StationCash { station: post.to_string(), ..StationCash::default() })
        }
        for issuance in &issuances {
            let entry = entry_of(&mut stations, &issuance.post);
            entry.issues += 1;
            entry.copies += issuance.copies;
            entry.fees_yen += issuance.fee_yen;
            if issuance.fee_exemption.is_some() {
                entry.exempt += 1;
            }
        }
        for void in &voids {
            let entry = entry_of(&mut stations, &void.post);
            entry.voids += 1;
            entry.refunds_yen += void.refund_yen;
        }
        Ok(stations.into_values().collect())
    }

    /// Record security paper (改ざん防止用紙) received at a printer station (supervisors).
    pub async fn receive_paper(&self, session: &Session, station: &str, sheets: i64) -> Result<(), CoreError> {
        let now = self.authorize(session, Permission::CloseDay).await?;
        Self::check_paper(station, sheets)?;
        self.store.record_paper(&session.actor, station, false, sheets, "", now).await
    }

    /// Record sheets spoiled (書き損じ・損紙) at a printer station, with the reason (supervisors).
    pub async fn spoil_paper(
        &self,
        session: &Session,
        station: &str,
        sheets: i64,
        reason: &str,
    ) -> Result<(), CoreError> {
        let now = self.authorize(session, Permission::CloseDay).await?;
        Self::check_paper(station, sheets)?;
        if reason.trim().is_empty() {
            return Err(CoreError::Validation(ValidationErrors(vec![FieldError::new(
                "paper.reason",
                "spoiled sheets need their reason",
                "損紙の理由を入力してください",
            )])));
        }
        self.store.record_paper(&session.actor, station, true, sheets, reason.trim(), now).await
    }

    fn check_paper(station: &str, sheets: i64) -> Result<(), CoreError> {
        let mut errors = ValidationErrors::default();
        if station.trim().is_empty() {
            errors.push(FieldError::new(
                "paper.station",
                "the printer station is missing",
                "プリンタの窓口を選んでください",
            ));
        }
        if !(1..=100_000).contains(&sheets) {
            errors.push(FieldError::new(
                "paper.sheets",
                "sheets must be 1–100000",
                "枚数は1〜100000で入力してください",
            ));
        }
        errors.into_result().map_err(CoreError::Validation)
    }

    /// Sheets on hand per printer station at the end of the ward day `day` (supervisors).
    pub async fn paper_on_hand(
        &self,
        session: &Session,
        day: jiff::civil::Date,
    ) -> Result<Vec<(String, i64)>, CoreError> {
        self.authorize(session, Permission::CloseDay).await?;
        Ok(self.store.paper_on_hand(ward_day_start(day.tomorrow().map_err(corrupt)?)?).await?)
    }

    /// The close of a ward day, if it was closed (supervisors).
    pub async fn day_close(
        &self,
        session: &Session,
        day: jiff::civil::Date,
    ) -> Result<Option<crate::dayclose::DayClose>, CoreError> {
        self.authorize(session, Permission::CloseDay).await?;
        Ok(self.store.day_close(day).await?)
    }

    /// Today at the ward, by the counter's clock.
    pub fn today(&self) -> jiff::civil::Date {
        self.clock.today()
    }

    /// Close the business day: the fees per post and the sheets on hand per printer station that the records
    /// expect, against what staff counted. A mismatch is refused (nothing recorded) unless `explanation` says why;
    /// then it is closed with the explanation (supervisors). A day closes once.
    pub async fn close_day(
        &self,
        session: &Session,
        day: jiff::civil::Date,
        counted: crate::dayclose::DayFigures,
        explanation: Option<&str>,
    ) -> Result<crate::dayclose::DayClose, CoreError> {
        use crate::dayclose::{DayClose, DayFigures, discrepancies};
        let now = self.authorize(session, Permission::CloseDay).await?;
        if self.store.day_close(day).await?.is_some() {
            return Err(CoreError::DayAlreadyClosed { day });
        }
        // A print not settled leaves the day's paper and issues unknown: staff settle it first.
        let day_issuances = self
            .store
            .issuances_between(ward_day_start(day)?, ward_day_start(day.tomorrow().map_err(corrupt)?)?)
            .await?;
        let unsettled: Vec<i64> = self
            .store
            .print_jobs(&PrintJobFilter::only(PrintJobSelection::Unsettled))
            .await?
            .into_iter()
            .filter(|job| day_issuances.iter().any(|issuance| Some(issuance.id) == job.issuance_id))
            .map(|job| job.id)
            .collect();
        if !unsettled.is_empty() {
            return Err(CoreError::PrintsUnsettled { jobs: unsettled });
        }
        let cash = self.cash_of_day(day).await?.into_iter().map(|s| (s.station.clone(), s.net_yen())).collect();
        let paper = self.store.paper_on_hand(ward_day_start(day.tomorrow().map_err(corrupt)?)?).await?;
        let expected = DayFigures { cash, paper }.normalized();
        let counted = counted.normalized();
        let lines: Vec<String> = discrepancies(&expected, &counted).iter().map(|d| d.describe_ja()).collect();
        let explanation = explanation.map(str::trim).filter(|text| !text.is_empty()).map(str::to_string);
        if !lines.is_empty() && explanation.is_none() {
            return Err(CoreError::CloseMismatch { lines });
        }
        let close = DayClose { day, expected, counted, explanation, closed_by: session.actor.login_id.clone() };
        self.store.record_day_close(&session.actor, &close, !lines.is_empty(), now).await?;
        // The day is over: a 照会 whose deadline passed before it can no longer be answered.
        self.expire_overdue(&session.actor, day, now).await?;
        Ok(close)
    }

    /// The 日報 (one day) or 月報 (`from..=until`): cases taken per post, family, certificate and requester kind,
    /// returns by reason, processing and review-wait times, issues, fees and paper (staff and supervisors; one read
    /// row).
    pub async fn period_report(
        &self,
        session: &Session,
        from: jiff::civil::Date,
        until: jiff::civil::Date,
    ) -> Result<crate::report::PeriodReport, CoreError> {
        let now = self.authorize(session, Permission::ReadQueue).await?;
        let (from_us, until_us) = (ward_day_start(from)?, ward_day_start(until.tomorrow().map_err(corrupt)?)?);
        let cases = self.store.report_cases(&session.actor, from_us, until_us, now).await?;
        let returns = self.store.returns_between(from_us, until_us).await?;
        let issuances = self.store.issuances_between(from_us, until_us).await?;
        let paper_moved = self.store.paper_moved_between(from_us, until_us).await?;
        let voids = self.store.voids_between(from_us, until_us).await?;
        let spoiled_issuances: Vec<i64> = self
            .store
            .print_jobs(&PrintJobFilter::only(PrintJobSelection::Spoiled))
            .await?
            .into_iter()
            // A spoiled 照会書 is plain paper: only certificates count.
            .filter_map(|job| job.issuance_id)
            .collect();
        Ok(crate::report::PeriodReport::from_records(&crate::report::PeriodRecords {
            days: (from, until),
            cases: &cases,
            returns: &returns,
            issuances: &issuances,
            paper_moved,
            voids: &voids,
            spoiled_issuances: &spoiled_issuances,
        }))
    }

    /// The 本人通知 data of the ward's days `from..=until`: every issue to a 代理人 or 第三者 with its date,
    /// certificate, copies and requester kind (admins, for the encrypted hand-over; one audit row).
    pub async fn notice_records(
        &self,
        session: &Session,
        from: jiff::civil::Date,
        until: jiff::civil::Date,
    ) -> Result<Vec<crate::notice::NoticeRecord>, CoreError> {
        let now = self.authorize(session, Permission::ExportData).await?;
        let (from_us, until_us) = (ward_day_start(from)?, ward_day_start(until.tomorrow().map_err(corrupt)?)?);
        let issued = self.store.issued_requests_between(&session.actor, from_us, until_us, now).await?;
        Ok(crate::notice::notice_records(&issued))
    }

    /// The same counter with the ward's 回答書 deadline (days after the 照会書 is sent; its 印鑑条例 says 14–30).
    pub fn with_inquiry_days(mut self, days: u16) -> Self {
        self.inquiry_days = days;
        self
    }

    /// Record that the 照会書 of a 印鑑登録 by 照会書 was mailed today. Only the letter that was approved and came out
    /// of the printer can be mailed, and the 照会 keeps the deadline printed on it; a letter whose deadline has
    /// passed is not mailed (the registration is applied for again).
    pub async fn send_inquiry(&self, session: &Session, case_id: i64) -> Result<SealInquiry, CoreError> {
        let now = self.authorize(session, Permission::PrepareCase).await?;
        let (_, output) = self.store.case_with_output(&session.actor, case_id, now).await?;
        let source = output.document.as_deref().map(serde_json::from_str::<PreviewSource>);
        let letter = match source {
            Some(Ok(PreviewSource::InquiryLetter { letter })) if output.media_type == INQUIRY_LETTER_MEDIA_TYPE => {
                letter
            }
            _ => return Err(CoreError::NotAnInquiryCase { case_id }),
        };
        let today = self.clock.today();
        if !crate::inquiry::in_time(letter.deadline, today) {
            return Err(CoreError::InquiryLetterOutdated { case_id, deadline: letter.deadline });
        }
        self.store.record_inquiry(&session.actor, case_id, output.id, today, letter.deadline, now).await
    }

    /// Accept the 回答書 of a pending 照会 today; after its deadline it is refused (and the refusal recorded).
    pub async fn accept_answer(&self, session: &Session, case_id: i64) -> Result<SealInquiry, CoreError> {
        let now = self.authorize(session, Permission::PrepareCase).await?;
        self.store.decide_inquiry(&session.actor, case_id, self.clock.today(), true, now).await
    }

    /// Let every pending 照会 whose deadline has passed expire (staff, e.g. at the day's close). Returns them.
    pub async fn expire_inquiries(&self, session: &Session) -> Result<Vec<SealInquiry>, CoreError> {
        let now = self.authorize(session, Permission::ReadQueue).await?;
        self.expire_overdue(&session.actor, self.clock.today(), now).await
    }

    /// Expire every pending 照会 whose deadline is before `day` (one audit row each).
    async fn expire_overdue(
        &self,
        actor: &Actor,
        day: jiff::civil::Date,
        now: i64,
    ) -> Result<Vec<SealInquiry>, CoreError> {
        let mut expired = Vec::new();
        for inquiry in self.store.inquiries(true).await? {
            if !crate::inquiry::in_time(inquiry.deadline, day) {
                expired.push(self.store.decide_inquiry(actor, inquiry.case_id, day, false, now).await?);
            }
        }
        Ok(expired)
    }

    /// The 照会 of 印鑑登録 cases by deadline (operators and staff).
    pub async fn inquiries(&self, session: &Session, pending_only: bool) -> Result<Vec<SealInquiry>, CoreError> {
        self.authorize_any(session, [Permission::ReadQueue, Permission::PrepareCase]).await?;
        Ok(self.store.inquiries(pending_only).await?)
    }

    /// Record that the 券面事項 of a resident's マイナンバーカード were read at this post (operators), before what was
    /// read is used: the read is audited or it is not used (its 個人番号 is never kept or shown).
    pub async fn record_card_read(&self, session: &Session) -> Result<(), CoreError> {
        let now = self.authorize(session, Permission::PrepareCase).await?;
        let record = Self::audit_record(
            session,
            now,
            AuditAction::CardRead,
            "card:mynumber".to_string(),
            serde_json::json!({ "read": "基本4情報", "individual_number": "discarded" }),
        );
        self.store.append_audit(&record).await?;
        Ok(())
    }

    /// The 手数料表 in force: the newest one an administrator set in the store (shared by every terminal on it),
    /// or, while none was, the table this terminal was configured with. No resident data: not audited.
    pub async fn fees_in_force(&self) -> Result<FeesInForce, CoreError> {
        match self.store.fee_table().await? {
            Some(stored) => Ok(FeesInForce {
                table: crate::fees::FeeTable::parse(&stored.table_toml)?,
                set: Some((stored.set_by, stored.set_at_us)),
            }),
            None => Ok(FeesInForce { table: self.fees.clone(), set: None }),
        }
    }

    /// Set the ward's 手数料表 on screen (administrators): every amount is checked before anything is kept, the
    /// table is kept in the store with its audit row naming the amounts before and after, and every terminal on
    /// the store charges by it from the next issue. Issues already recorded keep the fee they were charged.
    pub async fn set_fee_table(
        &self,
        session: &Session,
        amounts: &[(CertificateKind, i64)],
    ) -> Result<FeesInForce, CoreError> {
        let now = self.authorize(session, Permission::SetFees).await?;
        let table = crate::fees::FeeTable::from_amounts(amounts)?;
        let before = self.fees_in_force().await?.table;
        let as_json = |table: &crate::fees::FeeTable| -> serde_json::Map<String, serde_json::Value> {
            table.amounts().into_iter().map(|(kind, yen)| (kind.as_str().to_string(), yen.into())).collect()
        };
        let detail = serde_json::json!({ "before": as_json(&before), "after": as_json(&table) });
        let stored = self.store.set_fee_table(&session.actor, &table.to_toml(), detail, now).await?;
        Ok(FeesInForce { table, set: Some((stored.set_by, stored.set_at_us)) })
    }

    /// The counter's clock, in µs since the epoch.
    pub fn now_us(&self) -> i64 {
        self.clock.now_us()
    }

    /// Refuse unless the session's role allows `permission` and its grant is still valid now: for work that does not
    /// go through the counter itself (the administrator's device tests) but must obey the same grants.
    pub async fn check_permission(&self, session: &Session, permission: Permission) -> Result<(), CoreError> {
        self.authorize(session, permission).await.map(|_| ())
    }

    /// Check the session's role allows `permission` and its grant is still valid now.
    /// [`Counter::authorize`] for a call that either of two permissions allows (refused naming the second).
    async fn authorize_any(&self, session: &Session, permissions: [Permission; 2]) -> Result<i64, CoreError> {
        let allowed = permissions.into_iter().find(|p| session.actor.role.allows(*p)).unwrap_or(permissions[1]);
        self.authorize(session, allowed).await
    }

    async fn authorize(&self, session: &Session, permission: Permission) -> Result<i64, CoreError> {
        let role = session.actor.role;
        if !role.allows(permission) {
            return Err(CoreError::Forbidden { role, permission });
        }
        let now = self.clock.now_us();
        let user = self.store.user_by_login(&session.actor.login_id).await?;
        match user {
            Some(user) if user.id == session.actor.user_id && !user.locked && user.holds(role, now) => Ok(now),
            Some(user) if user.locked => Err(CoreError::AccountLocked),
            _ => Err(CoreError::NoGrant { login_id: session.actor.login_id.clone(), role }),
        }
    }

    fn audit_record(
        session: &Session,
        at_us: i64,
        action: AuditAction,
        subject: String,
        detail: serde_json::Value,
    ) -> AuditRecord {
        AuditRecord {
            at_us,
            station: session.actor.station.clone(),
            actor: session.actor.login_id.clone(),
            role: session.actor.role.as_str().to_string(),
            action,
            subject,
            detail,
        }
    }

    /// Create a user (admins only). Its grants are requested, in force once another admin approves them.
    pub async fn create_user(&self, session: &Session, user: NewUser) -> Result<i64, CoreError> {
        let now = self.authorize(session, Permission::ManageUsers).await?;
        self.store.create_user(&session.actor, user, now).await
    }

    /// The queue (no resident data, so no audit row): staff and supervisors see every post's cases through any
    /// filter; an operator sees only the cases of the post they are logged in at, whatever the filter says.
    pub async fn queue(&self, session: &Session, filter: &CaseFilter) -> Result<Vec<CaseSummary>, CoreError> {
        let filter = if session.actor.role.allows(Permission::ReadQueue) {
            self.authorize(session, Permission::ReadQueue).await?;
            filter.clone()
        } else if session.actor.role.allows(Permission::PrepareCase) {
            self.authorize(session, Permission::PrepareCase).await?;
            CaseFilter { station: Some(session.actor.station.clone()), ..filter.clone() }
        } else {
            return Err(CoreError::Forbidden { role: session.actor.role, permission: Permission::ReadQueue });
        };
        Ok(self.store.cases(&filter).await?)
    }

    /// Register, or with `None` remove, a user's USB key (admins only; recorded).
    pub async fn register_usb_key(
        &self,
        session: &Session,
        login_id: &str,
        key: Option<&UsbKey>,
    ) -> Result<(), CoreError> {
        let now = self.authorize(session, Permission::ManageUsers).await?;
        self.store.set_usb_key(&session.actor, login_id, key, now).await
    }

    /// Start the terminal session of a logged-in user: the user's registered USB key must be attached, and no
    /// removable storage. A refusal is recorded (an incident when storage is attached) and the session must not be
    /// used.
    pub async fn start_guarded_session(&self, session: &Session, guard: &mut TerminalGuard) -> Result<(), CoreError> {
        let key = self.store.usb_key(session.actor.user_id).await?;
        match guard.start_session(key, self.clock.now_us()) {
            Ok(()) => Ok(()),
            Err(reason) => {
                self.record_lock(Some(session), &session.actor.station, &reason).await?;
                Err(CoreError::TerminalLocked(reason))
            }
        }
    }

    /// Record that the terminal at `station` locked, and the incident if the reason is one. No permission is
    /// needed: a terminal reports what happened to it, whoever was logged in (`None`: nobody).
    pub async fn record_lock(
        &self,
        session: Option<&Session>,
        station: &str,
        reason: &LockReason,
    ) -> Result<(), CoreError> {
        match reason.incident_kind() {
            Some(kind) => {
                let detail = serde_json::json!({ "locked": true, "device": reason.detail() });
                self.raise_incident(session, station, kind, detail).await
            }
            None => {
                let (actor, role) = Self::actor_of(session);
                let record = AuditRecord {
                    at_us: self.clock.now_us(),
                    station: station.to_string(),
                    actor,
                    role,
                    action: AuditAction::TerminalLocked,
                    subject: format!("station:{station}"),
                    detail: reason.detail(),
                };
                self.store.append_audit(&record).await?;
                Ok(())
            }
        }
    }

    fn actor_of(session: Option<&Session>) -> (String, String) {
        session.map_or((SYSTEM_ACTOR.to_string(), "-".to_string()), |s| {
            (s.actor.login_id.clone(), s.actor.role.as_str().to_string())
        })
    }

    /// Record an incident of `kind` (with its audit row) for the administrators.
    async fn raise_incident(
        &self,
        session: Option<&Session>,
        station: &str,
        kind: &str,
        detail: serde_json::Value,
    ) -> Result<(), CoreError> {
        let (actor, role) = Self::actor_of(session);
        tracing::warn!(kind, station, actor = %actor, "incident recorded");
        let record = AuditRecord {
            at_us: self.clock.now_us(),
            station: station.to_string(),
            actor,
            role,
            action: AuditAction::IncidentRecorded,
            subject: format!("station:{station}"),
            detail: serde_json::json!({ "kind": kind, "detail": detail }),
        };
        self.store.record_incident(&record, kind).await?;
        Ok(())
    }

    /// 異常検知 after a recorded lookup: outside opening hours, or one lookup too many without a case in the window.
    /// Each is raised at most once per person and window. A failure to record the alert fails the lookup.
    async fn check_lookup(&self, session: &Session, now: i64) -> Result<(), CoreError> {
        let since = self.anomaly.window_start(now);
        let login = Some(session.actor.login_id.clone());
        let already = self
            .store
            .audit_search(&AuditFilter {
                actor: login.clone(),
                action: Some(AuditAction::IncidentRecorded),
                from_us: Some(since),
                limit: 1000,
                ..AuditFilter::default()
            })
            .await?;
        let raised = |kind: &str| already.iter().any(|e| e.detail.contains(&format!("\"kind\":\"{kind}\"")));
        let station = session.actor.station.as_str();
        if !self.anomaly.is_open(now) && !raised(anomaly::kind::AFTER_HOURS) {
            let detail = serde_json::json!({ "at_us": now });
            self.raise_incident(Some(session), station, anomaly::kind::AFTER_HOURS, detail).await?;
        }
        if raised(anomaly::kind::LOOKUPS_WITHOUT_CASE) {
            return Ok(());
        }
        let window = |action| AuditFilter {
            actor: login.clone(),
            action: Some(action),
            from_us: Some(since),
            ..AuditFilter::default()
        };
        let lookups = self.store.audit_count(&window(AuditAction::ResidentSearched)).await?;
        if lookups > i64::try_from(self.anomaly.lookups_without_case).unwrap_or(i64::MAX)
            && self.store.audit_count(&window(AuditAction::CaseCreated)).await? == 0
        {
            let detail = serde_json::json!({ "lookups": lookups, "window_minutes": self.anomaly.window_minutes });
            self.raise_incident(Some(session), station, anomaly::kind::LOOKUPS_WITHOUT_CASE, detail).await?;
        }
        Ok(())
    }

    /// The newest incidents (admins and auditors).
    pub async fn incidents(&self, session: &Session, limit: i64) -> Result<Vec<Incident>, CoreError> {
        self.authorize_any(session, [Permission::ManageUsers, Permission::ReadAudit]).await?;
        Ok(self.store.incidents(limit).await?)
    }

    /// Request a role grant, or a new expiry, for an existing user (admins only). It takes effect when another admin
    /// approves it.
    pub async fn request_grant(
        &self,
        session: &Session,
        login_id: &str,
        role: Role,
        valid_until_us: Option<i64>,
    ) -> Result<i64, CoreError> {
        let now = self.authorize(session, Permission::ManageUsers).await?;
        self.store.request_grant(&session.actor, login_id, role, valid_until_us, now).await
    }

    /// Approve or reject a pending grant request (admins only, never the requester).
    pub async fn decide_grant(&self, session: &Session, request_id: i64, approve: bool) -> Result<(), CoreError> {
        let now = self.authorize(session, Permission::ManageUsers).await?;
        self.store.decide_grant(&session.actor, request_id, approve, now).await
    }

    /// Revoke a user's grant of `role` at once (admins only; recorded). The next call of that user in that role is
    /// refused.
    pub async fn revoke_grant(&self, session: &Session, login_id: &str, role: Role) -> Result<(), CoreError> {
        let now = self.authorize(session, Permission::ManageUsers).await?;
        self.store.revoke_grant(&session.actor, login_id, role, now).await
    }

    /// The return export of the whole store (admins only). The export is recorded before anything is read, so the
    /// bundle carries its own audit row; the caller seals it ([`ExportBundle::seal`]) — it never leaves in clear.
    pub async fn export(&self, session: &Session) -> Result<ExportBundle, CoreError> {
        let now = self.authorize(session, Permission::ExportData).await?;
        let record = Self::audit_record(
            session,
            now,
            AuditAction::DataExported,
            "store".to_string(),
            serde_json::json!({ "tables": crate::export::EXPORT_TABLES.len() }),
        );
        self.store.append_audit(&record).await?;
        Ok(ExportBundle::new(now, self.store.export_tables().await?))
    }

    /// Contract-end erasure (データ消去): destroy the data keys that seal the resident data (crypto-shredding, one
    /// audit row naming them), then rebuild the database files so freed pages and the WAL keep nothing old. Two
    /// different admins take part: `session` erases, `witness` confirms. Make the return export first.
    pub async fn erase(&self, session: &Session, witness: &Session) -> Result<Vec<DataKeyRecord>, CoreError> {
        let now = self.authorize(session, Permission::ExportData).await?;
        self.authorize(witness, Permission::ExportData).await?;
        if witness.actor.user_id == session.actor.user_id {
            return Err(CoreError::ErasureNeedsSecondAdmin);
        }
        let destroyed = self.store.destroy_data_keys(&session.actor, now).await?;
        self.store.compact().await?;
        Ok(destroyed)
    }

    /// Grant requests, newest first (admins only).
    pub async fn grant_requests(&self, session: &Session, pending_only: bool) -> Result<Vec<GrantRequest>, CoreError> {
        self.authorize(session, Permission::ManageUsers).await?;
        Ok(self.store.grant_requests(pending_only).await?)
    }

    /// Every user with grants and lock state (admins only). Password hashes are not returned.
    pub async fn users(&self, session: &Session) -> Result<Vec<UserRecord>, CoreError> {
        self.authorize(session, Permission::ManageUsers).await?;
        let mut users = self.store.users().await?;
        for user in &mut users {
            user.password_hash.clear();
        }
        Ok(users)
    }

    /// The audit log through the auditor's filters, newest first. The read itself is recorded first, with the
    /// filter it used.
    pub async fn audit_log(&self, session: &Session, filter: &AuditFilter) -> Result<Vec<AuditEntry>, CoreError> {
        let now = self.authorize(session, Permission::ReadAudit).await?;
        let detail = serde_json::json!({
            "actor": filter.actor,
            "action": filter.action.map(AuditAction::as_str),
            "subject_prefix": filter.subject_prefix,
            "from_us": filter.from_us,
            "until_us": filter.until_us,
            "limit": filter.limit,
        });
        self.store
            .append_audit(&Self::audit_record(session, now, AuditAction::AuditRead, "audit_log".to_string(), detail))
            .await?;
        Ok(self.store.audit_search(filter).await?)
    }

    /// Verify the whole audit chain (auditors only): the count and head when it holds, or the first bad row.
    pub async fn verify_audit(&self, session: &Session) -> Result<Result<VerifiedChain, ChainError>, CoreError> {
        self.authorize(session, Permission::ReadAudit).await?;
        Ok(crate::store::verify_audit_chain(self.store.as_ref()).await?)
    }

    /// Search residents. The search is recorded (with a digest of the query, not the query) before the hits are
    /// returned; persons under 支援措置 come back without their address.
    pub async fn search_residents(
        &self,
        session: &Session,
        query: &SearchQuery,
    ) -> Result<Vec<PersonSummary>, CoreError> {
        let now = self.authorize(session, Permission::PrepareCase).await?;
        let mut hits = self.residents.search(query).await?;
        let query_text = serde_json::to_string(query).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let detail = serde_json::json!({ "query_sha256": digest_hex(&query_text), "hits": hits.len() });
        self.store
            .append_audit(&Self::audit_record(
                session,
                now,
                AuditAction::ResidentSearched,
                "residents".to_string(),
                detail,
            ))
            .await?;
        self.check_lookup(session, now).await?;
        for hit in hits.iter_mut().filter(|h| h.support_measure) {
            hit.address.town = PROTECTED_ADDRESS.to_string();
            hit.address.block = String::new();
            hit.address.building = None;
            hit.address.postal_code = String::new();
        }
        Ok(hits)
    }

    /// One protected field (個人番号, 住民票コード, 本籍・筆頭者) of a person in the case's household, for the operator
    /// who prepares that case, and only when the case's certificate shows the field (after the third-party rule).
    /// Field-level visibility is decided here, not in the UI: any other call is refused with
    /// [`CoreError::FieldNotNeeded`]. Granted or refused, the call is one audit row, written before anything returns.
    pub async fn person_field(
        &self,
        session: &Session,
        case_id: i64,
        person: PersonId,
        field: ProtectedField,
    ) -> Result<String, CoreError> {
        let now = self.authorize(session, Permission::PrepareCase).await?;
        let user_id = session.actor.user_id;
        let needed = move |case: &CaseRecord| match &case.request.task {
            TaskRequest::Certificate(certificate) => {
                case.preparer_id == user_id
                    && (certificate.persons.is_empty() || certificate.persons.contains(&person))
                    && field.needed_by(case.request.effective_items(certificate.items))
            }
            _ => false,
        };
        let case = self
            .store
            .case_recorded_as(&session.actor, case_id, now, &|case| {
                let action = if needed(case) { AuditAction::FieldRead } else { AuditAction::FieldRefused };
                (action, serde_json::json!({ "person": person.0, "field": field.as_str() }))
            })
            .await?;
        let TaskRequest::Certificate(certificate) = &case.request.task else {
            return Err(CoreError::FieldNotNeeded { case_id, field });
        };
        if !needed(&case) {
            return Err(CoreError::FieldNotNeeded { case_id, field });
        }
        let household = self.residents.household(certificate.household).await?;
        if household.members.iter().any(|m| m.support_measure) {
            return Err(CoreError::SupportMeasure);
        }
        let member = household
            .members
            .iter()
            .find(|m| m.id == person)
            .ok_or_else(|| CoreError::NotFound { what: "person in the case's household", id: person.to_string() })?;
        Ok(match field {
            ProtectedField::IndividualNumber => member.individual_number.as_str().to_string(),
            ProtectedField::ResidentCode => member.resident_code.as_str().to_string(),
            ProtectedField::Registry => match &member.registry {
                Registry::Japanese { honseki, head_of_family_register } => {
                    format!("{honseki}　筆頭者 {head_of_family_register}")
                }
                Registry::Foreign { nationality, .. } => nationality.clone(),
            },
        })
    }

    /// The members of a household, for the operator choosing who moves in a 異動 (転居, 転出, 世帯変更, a 転入 into it):
    /// name, birth date and 続柄 — nothing else leaves core. The read is recorded before anything returns; a
    /// household under 支援措置 is refused (staff take such a 届出).
    pub async fn household_members(
        &self,
        session: &Session,
        household: HouseholdId,
    ) -> Result<Vec<HouseholdMember>, CoreError> {
        let now = self.authorize(session, Permission::PrepareCase).await?;
        let found = self.residents.household(household).await?;
        let protected = found.members.iter().any(|m| m.support_measure);
        self.store
            .append_audit(&Self::audit_record(
                session,
                now,
                if protected { AuditAction::RequestRefused } else { AuditAction::ResidentRead },
                format!("household:{household}"),
                serde_json::json!({ "what": "members for a 異動", "members": found.members.len() }),
            ))
            .await?;
        self.check_lookup(session, now).await?;
        if protected {
            return Err(CoreError::SupportMeasure);
        }
        Ok(found
            .members
            .into_iter()
            .filter(|m| m.status == backend_adapter::types::ResidentStatus::Active)
            .map(|m| HouseholdMember {
                id: m.id,
                name: m.name.display(),
                birth_date: m.birth_date,
                relationship: m.relationship,
            })
            .collect())
    }

    /// 転出証明書: open the certificate case of an approved paper 転出 and hand it to review. The requester is the
    /// 転出's; the persons and household are those of its entry; the certificate is prepared only from the resident
    /// system's record once the entry is committed there ([`CoreError::AwaitingResidentSystem`] until then), and it
    /// certifies exactly the 転出先 and 転出予定日 the resident system holds. One standing certificate case per 転出.
    pub async fn open_move_out_certificate(
        &self,
        session: &Session,
        move_case: i64,
    ) -> Result<(i64, Output), CoreError> {
        let now = self.authorize(session, Permission::PrepareCase).await?;
        let moved = self
            .store
            .case_recorded_as(&session.actor, move_case, now, &|_| {
                (AuditAction::CaseRead, serde_json::json!({ "what": "転出 for its 転出証明書" }))
            })
            .await?;
        let (persons, recorded) = match &moved.request.task {
            TaskRequest::Move {
                entry: backend_adapter::types::MoveEntry::MoveOut { persons, destination, planned_on, .. },
                special_card_procedure: false,
                ..
            } if moved.state == CaseState::Approved => (
                persons.clone(),
                backend_adapter::types::ResidentStatus::MovedOut {
                    destination: destination.clone(),
                    planned_on: *planned_on,
                },
            ),
            _ => return Err(CoreError::NoMoveOutCertificate { case_id: move_case }),
        };
        // Nothing is opened before the 転出 is in the resident system as approved.
        if self.store.unfinished_outbox_entries().await?.iter().any(|(pending, _)| *pending == move_case) {
            return Err(CoreError::AwaitingResidentSystem { case_id: move_case, pending_case: move_case });
        }
        let first = persons.first().copied().ok_or(CoreError::NoMoveOutCertificate { case_id: move_case })?;
        let person = self.residents.person(first).await?;
        self.store
            .append_audit(&Self::audit_record(
                session,
                now,
                AuditAction::ResidentRead,
                format!("person:{first}"),
                serde_json::json!({ "case": move_case, "what": "転出 as recorded, for its 転出証明書" }),
            ))
            .await?;
        if person.status != recorded {
            return Err(CoreError::MoveOutNotRecorded { move_case });
        }
        let household = person.household_id;
        let request = CounterRequest {
            requester: moved.request.requester.clone(),
            task: TaskRequest::Certificate(crate::request::CertificateRequest {
                kind: crate::request::CertificateKind::MoveOutCertificate,
                household,
                persons,
                items: crate::certificate::MOVE_OUT_ITEMS,
                copies: 1,
                move_case: Some(move_case),
            }),
            fee_exemption: None,
        };
        request.validate_on(self.clock.today()).map_err(CoreError::Validation)?;
        let subject = case_subject(&request);
        let case_id = match self.store.create_case(&session.actor, NewCase { request, subject }, now).await {
            // The only constraint a new case can break is the one standing certificate of a 転出.
            Err(CoreError::Store(StoreError::Refused(_))) => {
                return Err(CoreError::MoveOutCertificateExists { move_case });
            }
            other => other?,
        };
        let output = self.prepare_and_submit(session, case_id).await?;
        Ok((case_id, output))
    }

    /// Take a request and open a draft case. The request is validated first; nothing is stored if it is invalid.
    pub async fn open_case(&self, session: &Session, request: CounterRequest) -> Result<i64, CoreError> {
        let now = self.authorize(session, Permission::PrepareCase).await?;
        request.validate_on(self.clock.today()).map_err(CoreError::Validation)?;
        let subject = case_subject(&request);
        self.store.create_case(&session.actor, NewCase { request, subject }, now).await
    }

    /// A case returned to this post, with its request, for the operator to correct (one read row).
    pub async fn case_for_revision(&self, session: &Session, case_id: i64) -> Result<CaseRecord, CoreError> {
        let now = self.authorize(session, Permission::PrepareCase).await?;
        let case = self.store.case(&session.actor, case_id, now).await?;
        if case.state != CaseState::Returned || case.station != session.actor.station {
            return Err(CoreError::NotRevisable { case_id });
        }
        Ok(case)
    }

    /// Correct the request of a case returned to this post and hand it over again: the request is validated, must
    /// keep the case's task family and household or person (anything else is a new case), replaces the old one with
    /// its audit row, and the output is prepared anew — under a new 発行番号 — for a new approval.
    pub async fn revise_and_submit(
        &self,
        session: &Session,
        case_id: i64,
        request: CounterRequest,
    ) -> Result<Output, CoreError> {
        let now = self.authorize(session, Permission::PrepareCase).await?;
        request.validate_on(self.clock.today()).map_err(CoreError::Validation)?;
        let subject = case_subject(&request);
        self.store.revise_case(&session.actor, case_id, NewCase { request, subject }, now).await?;
        self.prepare_and_submit(session, case_id).await
    }

    /// Prepare the output of a certificate case from the resident record and hand it to review: lay it out (a
    /// refusal names the item and stores nothing), reserve its 発行番号 and 管理番号, render the PDF that will be
    /// printed, and submit exactly those bytes.
    ///
    /// A 異動 case's output is its entry for the resident system (JSON, [`crate::outbox::MOVE_ENTRY_MEDIA_TYPE`]):
    /// the reviewer approves those bytes, and the approval puts them in the outbox.
    pub async fn prepare_and_submit(&self, session: &Session, case_id: i64) -> Result<Output, CoreError> {
        let now = self.authorize(session, Permission::PrepareCase).await?;
        // The case is loaded here only to find what to prepare; its read is recorded with the household read and
        // the number reservation, in one transaction, before anything taken from either leaves core — and on its
        // own before an error that could carry resident data is returned.
        let case = self.store.case_unrecorded(case_id).await?;
        let case_read = Self::audit_record(
            session,
            now,
            AuditAction::CaseRead,
            crate::store::subject_of_case(case_id),
            serde_json::json!({ "what": "case" }),
        );
        let certificate = match &case.request.task {
            TaskRequest::Certificate(certificate) => certificate,
            TaskRequest::Move { entry, .. } => {
                self.store.append_audit(&case_read).await?;
                let bytes = crate::outbox::submission_bytes(case_id, entry)?;
                let output = NewOutput {
                    media_type: crate::outbox::MOVE_ENTRY_MEDIA_TYPE,
                    bytes: &bytes,
                    issue_number: None,
                    document: None,
                };
                return self.store.submit_case(&session.actor, case_id, output, now).await;
            }
            TaskRequest::Seal { person, path: SealRegistrationPath::Inquiry, registration_number: None } => {
                return self.prepare_inquiry_letter(session, case_id, *person, &case_read, now).await;
            }
            TaskRequest::Seal { person, registration_number: Some(number), .. } => {
                return self.prepare_seal_certificate(session, case_id, *person, number, case_read, now).await;
            }
            TaskRequest::Seal { .. } => {
                self.store.append_audit(&case_read).await?;
                return Err(CoreError::NotFound {
                    what: "certificate or 異動 request of case",
                    id: case_id.to_string(),
                });
            }
        };
        let household = self.residents.household(certificate.household).await;
        let household = match household {
            Ok(household) => household,
            Err(err) => {
                self.store.append_audit(&case_read).await?;
                return Err(err.into());
            }
        };
        let protected = household.members.iter().any(|m| m.support_measure);
        let household_read = Self::audit_record(
            session,
            now,
            if protected { AuditAction::RequestRefused } else { AuditAction::ResidentRead },
            format!("household:{}", certificate.household),
            serde_json::json!({ "case": case_id, "members": household.members.len(), "support_measure": protected }),
        );
        let reads = [case_read, household_read];
        let prepared = self.document_for(session, case_id, &case, certificate, &household, protected).await;
        let document = match prepared {
            Ok(document) => document,
            Err(err) => return self.refused_after(&reads, err).await,
        };
        self.render_and_submit(session, case_id, &reads, document, None, now).await
    }

    /// Reserve the certificate's numbers (recording `reads` with them), render the PDF that will be printed — with
    /// the registered 印影 on a 印鑑登録証明書 — and submit exactly those bytes.
    async fn render_and_submit(
        &self,
        session: &Session,
        case_id: i64,
        reads: &[AuditRecord],
        document: CertificateDocument,
        seal_impression: Option<Vec<u8>>,
        now: i64,
    ) -> Result<Output, CoreError> {
        let numbers = self.store.reserve_numbers(&session.actor, case_id, reads, now).await?;
        let profile = self.profile.clone();
        let reserved = numbers.clone();
        let (pdf, source) = off_the_runtime(move || {
            let source = PreviewSource::Certificate {
                document: Box::new(document),
                numbers: reserved,
                seal_impression_hex: seal_impression.map(hex::encode),
            };
            rendered(&source.pages(&profile)?, &source)
        })
        .await?;
        self.store
            .submit_case(
                &session.actor,
                case_id,
                NewOutput {
                    media_type: PDF_MEDIA_TYPE,
                    bytes: &pdf,
                    issue_number: Some(numbers.issue_number),
                    document: Some(&source),
                },
                now,
            )
            .await
    }

    /// Prepare the 印鑑登録証明書 of the registration named by the 印鑑登録証 presented: the 印鑑登録原票 and the
    /// registrant's record are read (one audit row with the case read, written with the numbers — or on its own
    /// before a refusal returns), the card must name a live registration of the chosen resident, and the sheet
    /// carries the registered 印影.
    async fn prepare_seal_certificate(
        &self,
        session: &Session,
        case_id: i64,
        person: PersonId,
        registration_number: &str,
        case_read: AuditRecord,
        now: i64,
    ) -> Result<Output, CoreError> {
        let looked_up = async {
            let seal = self.residents.seal_by_number(registration_number).await?;
            let record = self.residents.person(seal.person_id).await?;
            let household = self.residents.household(record.household_id).await?;
            Ok::<_, CoreError>((seal, record, household))
        }
        .await;
        let (seal, record, household) = match looked_up {
            Ok(found) => found,
            Err(err) => return self.refused_after(std::slice::from_ref(&case_read), err).await,
        };
        let protected = household.members.iter().any(|m| m.support_measure);
        let seal_read = Self::audit_record(
            session,
            now,
            if protected { AuditAction::RequestRefused } else { AuditAction::ResidentRead },
            format!("person:{}", seal.person_id),
            serde_json::json!({ "case": case_id, "what": "印鑑登録原票", "support_measure": protected }),
        );
        let reads = [case_read, seal_read];
        let checked = if protected {
            Err(CoreError::SupportMeasure)
        } else if seal.person_id != person {
            Err(CoreError::SealCardRefused(crate::error::SealCardProblem::OtherPerson))
        } else if seal.abolished_on.is_some() {
            Err(CoreError::SealCardRefused(crate::error::SealCardProblem::Abolished))
        } else if record.status != backend_adapter::types::ResidentStatus::Active {
            Err(CoreError::SealCardRefused(crate::error::SealCardProblem::NotResident))
        } else {
            self.await_committed(case_id, &household).await
        };
        let prepared = checked.and_then(|()| {
            CertificateDocument::seal_certificate(
                &record,
                &household.address,
                &seal,
                &self.profile.issuer,
                self.clock.today(),
                1,
            )
            .map_err(|e| CoreError::Store(StoreError::Corrupt(e.to_string())))
        });
        let document = match prepared {
            Ok(document) => document,
            Err(err) => return self.refused_after(&reads, err).await,
        };
        self.render_and_submit(session, case_id, &reads, document, Some(seal.impression_png), now).await
    }

    /// Prepare the 照会書兼回答書 of a 印鑑登録 by 照会書 from the registrant's record and hand it to review. The
    /// letter is an output like a certificate — approved by another person by its SHA-256, printed by the station's
    /// worker — but it is never issued: no 発行番号, no fee, plain paper. Its deadline is the ward's days after today.
    async fn prepare_inquiry_letter(
        &self,
        session: &Session,
        case_id: i64,
        person: PersonId,
        case_read: &AuditRecord,
        now: i64,
    ) -> Result<Output, CoreError> {
        self.store.append_audit(case_read).await?;
        let registrant = self.residents.person(person).await?;
        let household = self.residents.household(registrant.household_id).await?;
        let person_read = Self::audit_record(
            session,
            now,
            AuditAction::ResidentRead,
            format!("person:{person}"),
            serde_json::json!({ "case": case_id, "for": "inquiry letter" }),
        );
        self.store.append_audit(&person_read).await?;
        let today = self.clock.today();
        let letter =
            InquiryLetter::new(case_id, &registrant, &household, &self.profile.issuer, today, self.inquiry_days)
                .ok_or(CoreError::NotAnInquiryCase { case_id })?;
        let profile = self.profile.clone();
        let (pdf, source) = off_the_runtime(move || {
            let pages = profile.letter_pages(&letter)?;
            rendered(&pages, &PreviewSource::InquiryLetter { letter })
        })
        .await?;
        let output = NewOutput {
            media_type: INQUIRY_LETTER_MEDIA_TYPE,
            bytes: &pdf,
            issue_number: None,
            document: Some(&source),
        };
        self.store.submit_case(&session.actor, case_id, output, now).await
    }

    /// The certificate document of a case, checked to lay out (with placeholder numbers of the same width, before
    /// a number is spent); refused under 支援措置 and while an approved 異動 of the household is on its way.
    async fn document_for(
        &self,
        session: &Session,
        case_id: i64,
        case: &CaseRecord,
        certificate: &crate::request::CertificateRequest,
        household: &Household,
        protected: bool,
    ) -> Result<CertificateDocument, CoreError> {
        if protected {
            return Err(CoreError::SupportMeasure);
        }
        self.await_committed(case_id, household).await?;
        let document = match certificate.move_case {
            Some(move_case) => self.move_out_document(move_case, household).await?,
            None => CertificateDocument::resident_record(
                household,
                certificate,
                case.request.effective_items(certificate.items),
                &self.profile.issuer,
                self.clock.today(),
            )
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        };
        let placeholder =
            ReservedNumbers { issue_number: 0, control_number: format!("{}-{:06}", session.actor.station, 0) };
        let profile = self.profile.clone();
        off_the_runtime(move || profile.pages(&document, None, &placeholder).map(|_| document)).await
    }

    /// Record the reads a refused preparation made (each on its own: no number is reserved) and return the refusal.
    async fn refused_after<T>(&self, reads: &[AuditRecord], refusal: CoreError) -> Result<T, CoreError> {
        for read in reads {
            self.store.append_audit(read).await?;
        }
        Err(refusal)
    }

    /// A certificate shows the household as the resident system holds it: refused while an approved 異動 of the
    /// household waits in the outbox.
    async fn await_committed(&self, case_id: i64, household: &Household) -> Result<(), CoreError> {
        for (pending_case, bytes) in self.store.unfinished_outbox_entries().await? {
            let pending = crate::outbox::parse_submission(pending_case, &bytes)?;
            if crate::outbox::touches(&pending.entry, household) {
                return Err(CoreError::AwaitingResidentSystem { case_id, pending_case });
            }
        }
        Ok(())
    }

    /// The 転出証明書 of `move_case` from the resident system's record: each person of the approved entry must be
    /// recorded there as moved out to the 転出先 on the 転出予定日 the entry gave.
    async fn move_out_document(&self, move_case: i64, household: &Household) -> Result<CertificateDocument, CoreError> {
        use backend_adapter::types::{MoveEntry, ResidentStatus};
        let moved = self.store.case_unrecorded(move_case).await?;
        let TaskRequest::Move {
            entry: MoveEntry::MoveOut { persons, destination, planned_on, notified_on },
            special_card_procedure: false,
            ..
        } = &moved.request.task
        else {
            return Err(CoreError::NoMoveOutCertificate { case_id: move_case });
        };
        let recorded = ResidentStatus::MovedOut { destination: destination.clone(), planned_on: *planned_on };
        let held = persons.iter().all(|id| household.members.iter().any(|m| m.id == *id && m.status == recorded));
        if !held {
            return Err(CoreError::MoveOutNotRecorded { move_case });
        }
        CertificateDocument::move_out(
            household,
            persons,
            destination,
            *planned_on,
            *notified_on,
            &self.profile.issuer,
            self.clock.today(),
        )
        .map_err(|e| CoreError::Store(StoreError::Corrupt(e.to_string())))
    }

    /// The case and its exact output, for the reviewer's side-by-side view (recorded as one read).
    pub async fn review(&self, session: &Session, case_id: i64) -> Result<(CaseRecord, Output), CoreError> {
        let now = self.authorize(session, Permission::ReviewCase).await?;
        self.store.case_with_output(&session.actor, case_id, now).await
    }

    /// The pages of an output for the on-screen preview, laid out from the document it was rendered from. They are
    /// returned only if rendering them reproduces the output's SHA-256, so the preview shows exactly the bytes under
    /// review; preview pages carry 「見本」 in addition.
    pub fn preview_pages(&self, output: &Output) -> Result<Vec<crate::render::Page>, CoreError> {
        let Some(source) = output.document.as_deref() else {
            return Err(CoreError::Render("the output has no certificate document to preview".to_string()));
        };
        let source: PreviewSource = serde_json::from_str(source).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let pages = source.pages(&self.profile)?;
        let pdf = crate::render::pdf::render_pdf(&pages).map_err(|e| CoreError::Render(e.to_string()))?;
        if <[u8; 32]>::from(Sha256::digest(&pdf)) != output.sha256 {
            return Err(CoreError::OutputMismatch { case_id: output.case_id });
        }
        let mut preview = self.profile.clone();
        preview.specimen = true;
        source.pages(&preview)
    }

    /// Approve the output the reviewer saw, named by its SHA-256. The print job the approval queued, if any (an
    /// approved 照会書 goes to this station's printer at once).
    pub async fn approve(
        &self,
        session: &Session,
        case_id: i64,
        output_sha256: [u8; 32],
    ) -> Result<Option<i64>, CoreError> {
        let now = self.authorize(session, Permission::ReviewCase).await?;
        self.store.approve_case(&session.actor, case_id, output_sha256, now).await
    }

    /// Return a case with a coded reason.
    pub async fn return_case(&self, session: &Session, case_id: i64, reason: ReturnReason) -> Result<(), CoreError> {
        let now = self.authorize(session, Permission::ReviewCase).await?;
        self.store.return_case(&session.actor, case_id, reason, now).await
    }

    /// Record the issue of an approved certificate. The fee is worked out from the case as the issuing transaction
    /// reads it (one transaction: the store's write lock is taken once per issue).
    pub async fn issue(&self, session: &Session, case_id: i64, sheets: i64) -> Result<Issuance, CoreError> {
        let now = self.authorize(session, Permission::IssueCertificate).await?;
        // A certificate issued again after its sheet was spoiled is not charged again: the fee was collected with
        // the spoiled issue (and a void refunds every fee of the case).
        let spoiled_prints = PrintJobFilter { only: PrintJobSelection::Spoiled, ..PrintJobFilter::case(case_id) };
        let spoiled = self.store.print_jobs(&spoiled_prints).await?.into_iter().rev().find_map(|job| job.issue_number);
        let fees = &self.fees_in_force().await?.table;
        let charge = |case: &CaseRecord| match (case.request.task.certificate(), spoiled) {
            (Some((_, copies)), Some(spoiled_number)) => {
                let exemption = format!("損紙の再交付（発行番号{spoiled_number}で徴収済み）");
                (crate::fees::Fee { yen: 0, exemption: Some(exemption) }, copies)
            }
            (Some((kind, copies)), None) => {
                let request = &case.request;
                (fees.fee(kind, copies, request.requester.category, request.fee_exemption.as_deref()), copies)
            }
            (None, _) => (crate::fees::Fee { yen: 0, exemption: None }, 1),
        };
        self.store.issue_case(&session.actor, case_id, sheets, &charge, now).await
    }

    /// The case whose certificate carries this 発行番号 — a sheet brought back to the counter (staff).
    pub async fn case_of_issue_number(&self, session: &Session, issue_number: i64) -> Result<i64, CoreError> {
        self.authorize(session, Permission::ReviewCase).await?;
        match self.store.issuance_by_number(issue_number).await? {
            Some(issuance) => Ok(issuance.case_id),
            None => Err(CoreError::NotFound { what: "発行番号", id: issue_number.to_string() }),
        }
    }

    /// The print jobs the filter selects, with staff's resolutions (staff).
    pub async fn print_jobs(&self, session: &Session, filter: &PrintJobFilter) -> Result<Vec<PrintJobRow>, CoreError> {
        self.authorize(session, Permission::ReadQueue).await?;
        Ok(self.store.print_jobs(filter).await?)
    }

    /// Resolve a suspect print after looking at the printer's tray (staff): it came out whole, or it is spoiled
    /// (with the reason) and the case goes back to its operator for a new 発行番号 and a new approval. The case's
    /// state afterwards.
    pub async fn resolve_print(
        &self,
        session: &Session,
        job_id: i64,
        resolution: PrintResolution,
    ) -> Result<CaseState, CoreError> {
        let now = self.authorize(session, Permission::ReviewCase).await?;
        let resolution = match resolution {
            PrintResolution::Spoiled { reason } if reason.trim().is_empty() => return Err(CoreError::ReasonRequired),
            PrintResolution::Spoiled { reason } => PrintResolution::Spoiled { reason: reason.trim().to_string() },
            PrintResolution::Printed => PrintResolution::Printed,
        };
        self.store.resolve_print(&session.actor, job_id, &resolution, now).await
    }

    /// 取消 (staff): a case withdrawn before issue, or an issued certificate taken back — every fee collected for
    /// the case is refunded and the sheet handed out is voided paper. The reason is required.
    pub async fn void_case(&self, session: &Session, case_id: i64, reason: &str) -> Result<CaseVoid, CoreError> {
        let now = self.authorize(session, Permission::ReviewCase).await?;
        if reason.trim().is_empty() {
            return Err(CoreError::ReasonRequired);
        }
        self.store.void_case(&session.actor, case_id, reason.trim(), now).await
    }
}
