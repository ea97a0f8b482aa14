//! The terminal's back end: a thread with its own tokio runtime that owns the counter and the station's printer.
//! The UI sends commands and draws the events that come back; nothing the UI thread does ever waits on the store,
//! the resident system or a device.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, PoisonError};
use std::thread;
use std::time::Duration;

use backend_adapter::types::{PersonSummary, SearchQuery};
use devices::config::DeviceConfig;
use devices::job::JobOutcome;
use devices::status::DeviceStatus;
use devices::usb::{UsbEnumerator, WatcherThread, spawn_watcher};
use madoguchi_core::audit::AuditEntry;
use madoguchi_core::auth::{Permission, Role, hash_password};
use madoguchi_core::case::{CaseState, ReturnReason};
use madoguchi_core::counter::{Counter, Session};
use madoguchi_core::guard::{LockReason, TerminalGuard};
use madoguchi_core::mode::RunMode;
use madoguchi_core::render::raster;
use madoguchi_core::request::CounterRequest;
use madoguchi_core::store::{
    AuditFilter, CaseFilter, CaseRecord, CaseSummary, GrantRequest, Incident, NewUser, Output, PrintJobState,
    UserRecord,
};

use crate::device_check::{self, DeviceRole};

/// The 券面事項入力補助用 PIN the administrator's card-reader test sends: the virtual card's. A real card's PIN is
/// the holder's and is never stored; testing a real reader is done with `madoguchi devices test --pin`.
const SIMULATOR_CARD_PIN: &str = "1234";

/// A station and its devices, as the administrator's screen lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationRow {
    /// Station name.
    pub name: String,
    /// Each device and how it is configured (「なし」 when absent).
    pub devices: Vec<(DeviceRole, String)>,
}

/// The certificate profile as the administrator's screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSummary {
    /// 市区町村名.
    pub municipality: String,
    /// 首長の職名.
    pub head_title: String,
    /// 首長の氏名.
    pub head_name: String,
    /// Every sheet carries 「見本」.
    pub specimen: bool,
    /// 手数料 per copy of each certificate, from the table in force.
    pub fees: Vec<(madoguchi_core::request::CertificateKind, i64)>,
    /// Who set that table on screen, and when (µs); `None`: the terminal's configured table.
    pub fees_set: Option<(String, i64)>,
}

/// The 券面事項 the operator's search is filled from: name and birth date only (the 個人番号 never leaves the back
/// end, and the address is not needed to find the record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardFace {
    /// 氏名 as on the card.
    pub name: String,
    /// 生年月日.
    pub birth_date: jiff::civil::Date,
}

/// A card PIN on its way to the reader: never printed.
#[derive(Clone)]
pub struct CardPin(pub String);

impl std::fmt::Debug for CardPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardPin(****)")
    }
}

/// What the UI asks for.
#[derive(Debug, Clone)]
pub enum Command {
    /// Read the マイナンバーカード on this station's reader with its PIN, to fill the resident search.
    ReadCard(CardPin),
    /// Put this card on the simulated reader (demo and tests; a real reader holds whatever card is inserted).
    PlaceSimulatedCard(Box<devices::mynumber::CardAttributes>),
    /// Read the 印鑑登録証 swiped through this station's reader (for a 印鑑登録証明書).
    ReadSealCard,
    /// The 登録番号 the simulated 印鑑登録証 reader swipes (demo and tests).
    PlaceSimulatedSealCard(String),
    /// Log in with ID and password.
    Login {
        /// Login id.
        login_id: String,
        /// Password (dropped after use).
        password: String,
    },
    /// Log out (the next person logs in again).
    Logout,
    /// Search residents.
    Search(SearchQuery),
    /// List a household's members for a 異動 (recorded as a read).
    LoadHousehold(backend_adapter::types::HouseholdId),
    /// Open a 住民票の写し request and hand it to review.
    SubmitRequest(Box<CounterRequest>),
    /// Prepare a draft case of this post again and hand it to review (a case whose sheet was spoiled, or whose
    /// preparation failed earlier): a new 発行番号.
    Reprepare(i64),
    /// Load a case returned to this post, to correct its request.
    OpenForRevision(i64),
    /// Hand over again a returned case with its corrected request.
    ReviseRequest {
        /// Case.
        case_id: i64,
        /// The corrected request.
        request: Box<CounterRequest>,
    },
    /// Open the 転出証明書 of an approved paper 転出 and hand it to review.
    MoveOutCertificate(i64),
    /// Record that the printed 照会書 of a 印鑑登録 case was mailed today.
    SendInquiry(i64),
    /// Accept the 回答書 of a pending 照会 today (refused after its deadline).
    AcceptAnswer(i64),
    /// Reload the case list of the role (own post's cases, or the review queue).
    Refresh,
    /// Open a case for review.
    OpenReview(i64),
    /// Approve the output with this hash.
    Approve {
        /// Case.
        case_id: i64,
        /// SHA-256 of the output the reviewer saw.
        sha256: [u8; 32],
    },
    /// Return with a coded reason.
    Return {
        /// Case.
        case_id: i64,
        /// Reason.
        reason: ReturnReason,
    },
    /// Print the approved output and record the issue.
    Issue(i64),
    /// Print what waits in this station's queue (after the printer was made ready).
    ResumePrinting,
    /// Settle a suspect print after looking at the tray: it came out whole, or it is spoiled for the reason given
    /// (staff).
    ResolvePrint {
        /// The print job.
        job_id: i64,
        /// Its case.
        case_id: i64,
        /// `Some(reason)`: spoiled; `None`: printed.
        spoiled_reason: Option<String>,
    },
    /// Open, for review, the case whose certificate carries this 発行番号 (a sheet brought back; staff).
    OpenIssued(i64),
    /// 取消 a case, with the reason (staff).
    VoidCase {
        /// Case.
        case_id: i64,
        /// Why.
        reason: String,
    },
    /// The stations and their devices, and the certificate profile (administrators).
    ListStations,
    /// Users and grants (administrators).
    ListUsers,
    /// Register a user with one role grant (administrators).
    CreateUser {
        /// Login id.
        login_id: String,
        /// Display name.
        display_name: String,
        /// Initial password (hashed here, then dropped).
        password: String,
        /// The role granted.
        role: Role,
        /// Grant expiry (µs), if any.
        until_us: Option<i64>,
    },
    /// Approve or reject a pending grant request (administrators other than its requester).
    DecideGrant {
        /// The request.
        request_id: i64,
        /// Whose grant (for the message).
        login_id: String,
        /// Approve (the grant takes effect) or reject.
        approve: bool,
    },
    /// Set the ward's 手数料表: yen per copy of every certificate kind (administrators).
    SetFees(Vec<(madoguchi_core::request::CertificateKind, i64)>),
    /// Revoke a user's grant of a role at once (administrators).
    RevokeGrant {
        /// Whose.
        login_id: String,
        /// Which role.
        role: Role,
    },
    /// Register a user's USB key (administrators).
    RegisterUsbKey {
        /// Whose.
        login_id: String,
        /// The key.
        key: madoguchi_core::guard::UsbKey,
    },
    /// Test one device of a station (administrators).
    CheckDevice {
        /// Station.
        station: String,
        /// Which device.
        role: DeviceRole,
    },
    /// Read the audit log through a filter (auditors).
    AuditLog(AuditFilter),
    /// Verify the audit chain (auditors).
    VerifyAudit,
    /// Today's 日報 and the close status (supervisors).
    DayStatus,
    /// This month's 月報 so far, from its first day to today (supervisors).
    MonthReport,
    /// Close today with what was counted (supervisors); a mismatch needs the explanation.
    CloseDay {
        /// Cash per post and sheets per printer, as counted.
        counted: madoguchi_core::dayclose::DayFigures,
        /// Why the count differs from the records (empty when it does not).
        explanation: String,
    },
    /// The person at the terminal did something (keys, mouse): postpones the idle lock.
    Activity,
}

/// What comes back.
#[derive(Debug, Clone)]
pub enum Event {
    /// Logged in; today at the ward by the counter's clock.
    LoggedIn {
        /// The session.
        session: Session,
        /// The 届出日 of a 異動 taken today.
        today: jiff::civil::Date,
    },
    /// The members of a household, for a 異動.
    Household(super::moves::LoadedHousehold),
    /// Logged out.
    LoggedOut,
    /// Search hits.
    SearchResults(Vec<PersonSummary>),
    /// A request was handed to review.
    Submitted {
        /// Case.
        case_id: i64,
        /// 発行番号 printed on the output.
        issue_number: Option<i64>,
        /// Handed over from the request form (which is then cleared), not from the post's list (which leaves a
        /// form being filled alone).
        from_form: bool,
    },
    /// The role's case list.
    Cases(Vec<CaseSummary>),
    /// Suspect prints awaiting staff.
    PrintsToCheck(Vec<madoguchi_core::store::PrintJobRow>),
    /// The 照会 of 印鑑登録 cases (the operator's post list shows where each stands).
    Inquiries(Vec<madoguchi_core::inquiry::SealInquiry>),
    /// A 照会 was recorded as mailed, or its 回答書 accepted.
    InquiryChanged(madoguchi_core::inquiry::SealInquiry),
    /// A suspect print was settled; the case's state afterwards (draft when spoiled).
    PrintResolved {
        /// Case.
        case_id: i64,
        /// Its state now.
        state: CaseState,
    },
    /// A case was voided.
    Voided(Box<madoguchi_core::store::CaseVoid>),
    /// The 異動 entries approved but not yet committed to the resident system (staff).
    Outbox(Vec<madoguchi_core::outbox::OutboxRow>),
    /// A case opened for review, with what the reviewer judges.
    Review {
        /// The case.
        case: Box<CaseRecord>,
        /// Its output.
        output: Box<Output>,
        /// The output as the reviewer sees it, or why it cannot be shown.
        preview: Result<ReviewPreview, String>,
    },
    /// Approved.
    Approved(i64),
    /// Returned.
    Returned(i64),
    /// Printed and issued.
    Issued {
        /// Case.
        case_id: i64,
        /// 発行番号.
        issue_number: i64,
        /// 管理番号.
        control_number: String,
    },
    /// A returned case of this post, with its request, to correct.
    Revising(Box<CaseRecord>),
    /// A マイナンバーカード was read (and the read recorded): its 券面事項 without the 個人番号.
    CardRead(CardFace),
    /// A 印鑑登録証 was swiped: its 登録番号.
    SealCardRead(String),
    /// A 照会書 came out of the printer (a letter: nothing is issued).
    LetterPrinted(i64),
    /// The printer did not take the job.
    PrintFailed {
        /// Case.
        case_id: i64,
        /// Whether the outcome is unknown (the job is suspect and will not be sent again) rather than nothing sent
        /// (the job waits in the queue).
        suspect: bool,
        /// What happened.
        outcome: JobOutcome,
    },
    /// The station printer's status.
    PrinterStatus(DeviceStatus),
    /// The stations and their devices.
    Stations(Vec<StationRow>),
    /// The certificate profile.
    Profile(ProfileSummary),
    /// Users and grants (no password hashes).
    Users(Vec<UserRecord>),
    /// Pending grant requests (administrators), newest first.
    GrantRequests(Vec<GrantRequest>),
    /// A grant request was decided: (login id, approved).
    GrantDecided(String, bool),
    /// A grant was revoked.
    GrantRevoked(String, Role),
    /// A USB key was registered for the user.
    UsbKeyRegistered(String),
    /// A user was registered.
    UserCreated(String),
    /// The 手数料表 was set; the profile as it now stands.
    FeesSet(ProfileSummary),
    /// A device test finished.
    DeviceChecked {
        /// Station.
        station: String,
        /// Device.
        role: DeviceRole,
        /// What happened, or why it failed.
        outcome: Result<String, String>,
    },
    /// Audit entries, newest first.
    AuditEntries(Vec<AuditEntry>),
    /// The chain verification: what verified, or the first bad row (Japanese).
    AuditVerified(Result<String, String>),
    /// Today's 日報, the posts and printer stations to count, and the close if done (supervisors).
    DayStatus {
        /// Today's report.
        report: Box<madoguchi_core::report::PeriodReport>,
        /// Posts with fees today.
        posts: Vec<String>,
        /// Printer stations with security paper.
        printers: Vec<String>,
        /// Today's close, if done.
        closed: Option<madoguchi_core::dayclose::DayClose>,
    },
    /// Today was closed.
    DayClosed(Box<madoguchi_core::dayclose::DayClose>),
    /// This month's 月報 so far.
    MonthReport(Box<madoguchi_core::report::PeriodReport>),
    /// An operation failed: the Japanese message for the screen.
    Failed(String),
    /// The newest incidents (administrators), newest first.
    Incidents(Vec<Incident>),
    /// The terminal locked itself (USB key removed, removable storage attached): the session is gone; the Japanese
    /// message says why and what to do.
    Locked(String),
}

/// The UI's end of the back end.
#[derive(Debug)]
pub struct BackendHandle {
    commands: tokio::sync::mpsc::UnboundedSender<Command>,
    events: Receiver<Event>,
    run_mode: RunMode,
}

impl BackendHandle {
    /// Send a command (never blocks).
    pub fn send(&self, command: Command) {
        // A closed back end has already reported why; the command is dropped.
        self.commands.send(command).ok();
    }

    /// The next event, if one is waiting.
    pub fn try_recv(&self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// 本番 or 研修: the counter's mode, fixed when it was wired.
    pub fn run_mode(&self) -> RunMode {
        self.run_mode
    }
}

/// The station's certificate printer as the back end uses it.
pub type StationPrinter = madoguchi_core::print::SharedPrinter;

struct Worker {
    counter: Counter,
    station: String,
    printer: Option<StationPrinter>,
    devices: Arc<DeviceConfig>,
    session: Option<Session>,
    events: Sender<Event>,
    repaint: Arc<dyn Fn() + Send + Sync>,
    /// The USB bus watcher (none: no device is ever seen, so a user with a registered key cannot log in).
    bus: Option<WatcherThread>,
    guard: TerminalGuard,
    /// The card the simulated reader holds.
    simulated_card: devices::mynumber::CardAttributes,
    /// The 登録番号 on the 印鑑登録証 the simulated reader swipes.
    simulated_seal_card: String,
}

/// A card's 生年月日 as stored (「19770815」).
fn card_birth_date(raw: &str) -> Option<jiff::civil::Date> {
    let digits = raw.trim();
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    jiff::civil::Date::strptime("%Y%m%d", digits).ok()
}

/// A core error as the UI shows it, logged once here in English.
fn ja(e: madoguchi_core::error::CoreError) -> String {
    tracing::warn!("{e}");
    e.message_ja()
}

impl Worker {
    fn emit(&self, event: Event) {
        self.events.send(event).ok();
        (self.repaint)();
    }

    fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The issuer and the 手数料表 in force, as the administrator's screen shows them.
    fn profile_summary(&self, fees: madoguchi_core::counter::FeesInForce) -> ProfileSummary {
        let issuer = &self.counter.profile().issuer;
        ProfileSummary {
            municipality: issuer.municipality.clone(),
            head_title: issuer.head_title.clone(),
            head_name: issuer.head_name.clone(),
            specimen: self.counter.profile().specimen,
            fees: fees.table.amounts(),
            fees_set: fees.set,
        }
    }

    async fn handle(&mut self, command: Command) {
        let result = self.dispatch(command).await;
        if let Err(message) = result {
            self.emit(Event::Failed(message));
        }
    }

    async fn dispatch(&mut self, command: Command) -> Result<(), String> {
        match command {
            Command::Login { login_id, password } => {
                let session = self.counter.login_any_role(&login_id, &password, &self.station).await.map_err(ja)?;
                // The bus as it is now: the second factor and removable storage are checked on the latest reading.
                self.drain_bus().await;
                self.counter.start_guarded_session(&session, &mut self.guard).await.map_err(ja)?;
                self.session = Some(session.clone());
                self.emit(Event::LoggedIn { session, today: self.counter.today() });
            }
            Command::Activity => self.guard.activity(self.counter.now_us()),
            Command::DayStatus => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let today = self.counter.today();
                let report = self.counter.period_report(&session, today, today).await.map_err(ja)?;
                let posts = self
                    .counter
                    .daily_cash(&session, today)
                    .await
                    .map_err(ja)?
                    .into_iter()
                    .map(|c| c.station)
                    .collect();
                let printers = self
                    .counter
                    .paper_on_hand(&session, today)
                    .await
                    .map_err(ja)?
                    .into_iter()
                    .map(|(s, _)| s)
                    .collect();
                let closed = self.counter.day_close(&session, today).await.map_err(ja)?;
                self.emit(Event::DayStatus { report: Box::new(report), posts, printers, closed });
            }
            Command::MonthReport => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let today = self.counter.today();
                let report = self.counter.period_report(&session, today.first_of_month(), today).await.map_err(ja)?;
                self.emit(Event::MonthReport(Box::new(report)));
            }
            Command::CloseDay { counted, explanation } => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let today = self.counter.today();
                let closed = self.counter.close_day(&session, today, counted, Some(&explanation)).await.map_err(ja)?;
                self.emit(Event::DayClosed(Box::new(closed)));
            }
            Command::Logout => {
                self.session = None;
                self.guard.end_session();
                self.emit(Event::LoggedOut);
            }
            Command::Search(query) => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let hits = self.counter.search_residents(&session, &query).await.map_err(ja)?;
                self.emit(Event::SearchResults(hits));
            }
            Command::LoadHousehold(household) => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let members = self.counter.household_members(&session, household).await.map_err(ja)?;
                self.emit(Event::Household(super::moves::LoadedHousehold { id: household, members }));
            }
            Command::SubmitRequest(request) => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let case_id = self.counter.open_case(&session, *request).await.map_err(ja)?;
                let output = self.counter.prepare_and_submit(&session, case_id).await.map_err(ja)?;
                self.emit(Event::Submitted { case_id, issue_number: output.issue_number, from_form: true });
                self.refresh().await?;
            }
            Command::OpenForRevision(case_id) => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let case = self.counter.case_for_revision(&session, case_id).await.map_err(ja)?;
                self.emit(Event::Revising(Box::new(case)));
            }
            Command::ReviseRequest { case_id, request } => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let output = self.counter.revise_and_submit(&session, case_id, *request).await.map_err(ja)?;
                self.emit(Event::Submitted { case_id, issue_number: output.issue_number, from_form: true });
                self.refresh().await?;
            }
            Command::MoveOutCertificate(move_case) => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let (case_id, output) =
                    self.counter.open_move_out_certificate(&session, move_case).await.map_err(ja)?;
                self.emit(Event::Submitted { case_id, issue_number: output.issue_number, from_form: false });
                self.refresh().await?;
            }
            Command::SendInquiry(case_id) => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let inquiry = self.counter.send_inquiry(&session, case_id).await.map_err(ja)?;
                self.emit(Event::InquiryChanged(inquiry));
                self.refresh().await?;
            }
            Command::AcceptAnswer(case_id) => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let inquiry = self.counter.accept_answer(&session, case_id).await.map_err(ja)?;
                self.emit(Event::InquiryChanged(inquiry));
                self.refresh().await?;
            }
            Command::Reprepare(case_id) => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let output = self.counter.prepare_and_submit(&session, case_id).await.map_err(ja)?;
                self.emit(Event::Submitted { case_id, issue_number: output.issue_number, from_form: false });
                self.refresh().await?;
            }
            Command::Refresh => self.refresh().await?,
            Command::OpenIssued(issue_number) => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let case_id = self.counter.case_of_issue_number(&session, issue_number).await.map_err(ja)?;
                self.open_review(case_id).await?;
            }
            Command::OpenReview(case_id) => self.open_review(case_id).await?,
            Command::Approve { case_id, sha256 } => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let queued = self.counter.approve(&session, case_id, sha256).await.map_err(ja)?;
                self.emit(Event::Approved(case_id));
                // An approved 照会書 was queued at this station's printer by the approval itself: print it now.
                if let (Some(_), Some(printer)) = (queued, self.printer.clone()) {
                    self.print_queue(&session, &printer).await?;
                }
                self.refresh().await?;
            }
            Command::Return { case_id, reason } => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                self.counter.return_case(&session, case_id, reason).await.map_err(ja)?;
                self.emit(Event::Returned(case_id));
                self.refresh().await?;
            }
            Command::Issue(case_id) => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let printer = self.printer.clone().ok_or("この端末には証明書プリンターが設定されていません")?;
                // The issuance and its print job are one transaction; the station's worker then prints the queue
                // (this case, and any job an earlier attempt left waiting) — a sheet whose outcome is unknown is
                // never sent again.
                self.counter.issue(&session, case_id, 1).await.map_err(ja)?;
                self.print_queue(&session, &printer).await?;
            }
            Command::PlaceSimulatedCard(card) => self.simulated_card = *card,
            Command::PlaceSimulatedSealCard(number) => self.simulated_seal_card = number,
            Command::ReadSealCard => {
                self.session().ok_or("ログインしてください")?;
                let reader = self.devices.station(&self.station).ok().and_then(|devices| devices.seal_reader.clone());
                let simulated = self.simulated_seal_card.clone();
                let read = tokio::task::spawn_blocking(move || device_check::read_seal_card(&reader, &simulated))
                    .await
                    .map_err(|e| format!("印鑑登録証を読み取れませんでした（{e}）"))?;
                let number = read.map_err(|(english, japanese)| {
                    tracing::warn!(station = %self.station, "the 印鑑登録証 was not read: {english}");
                    japanese
                })?;
                self.emit(Event::SealCardRead(number));
            }
            Command::ReadCard(pin) => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let reader = self.devices.station(&self.station).ok().and_then(|devices| devices.card_reader.clone());
                let simulated = self.simulated_card.clone();
                let read = tokio::task::spawn_blocking(move || device_check::read_card(&reader, &pin.0, &simulated))
                    .await
                    .map_err(|e| format!("カードを読み取れませんでした（{e}）"))?;
                let card = read.map_err(|(english, japanese)| {
                    tracing::warn!(station = %self.station, "the My Number card was not read: {english}");
                    japanese
                })?;
                let birth_date = card_birth_date(&card.birth_date_raw).ok_or_else(|| {
                    tracing::warn!(station = %self.station, "the card's birth date is not YYYYMMDD");
                    "カードの生年月日を読み取れません。手入力で検索してください".to_string()
                })?;
                // Audited before anything read is used; the 個人番号 goes no further than this function.
                self.counter.record_card_read(&session).await.map_err(ja)?;
                self.emit(Event::CardRead(CardFace { name: card.name, birth_date }));
            }
            Command::ResumePrinting => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let printer = self.printer.clone().ok_or("この端末には証明書プリンターが設定されていません")?;
                self.print_queue(&session, &printer).await?;
            }
            Command::ResolvePrint { job_id, case_id, spoiled_reason } => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let resolution = match spoiled_reason {
                    Some(reason) => madoguchi_core::store::PrintResolution::Spoiled { reason },
                    None => madoguchi_core::store::PrintResolution::Printed,
                };
                let state = self.counter.resolve_print(&session, job_id, resolution).await.map_err(ja)?;
                self.emit(Event::PrintResolved { case_id, state });
                self.refresh().await?;
            }
            Command::VoidCase { case_id, reason } => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let void = self.counter.void_case(&session, case_id, &reason).await.map_err(ja)?;
                self.emit(Event::Voided(Box::new(void)));
                self.refresh().await?;
            }
            Command::ListStations => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                self.counter.check_permission(&session, Permission::ManageStations).await.map_err(ja)?;
                let rows = self
                    .devices
                    .stations
                    .iter()
                    .map(|station| StationRow {
                        name: station.name.clone(),
                        devices: DeviceRole::ALL
                            .into_iter()
                            .map(|role| (role, device_check::describe(&self.devices, &station.name, role)))
                            .collect(),
                    })
                    .collect();
                self.emit(Event::Stations(rows));
                let fees = self.counter.fees_in_force().await.map_err(ja)?;
                self.emit(Event::Profile(self.profile_summary(fees)));
            }
            Command::SetFees(amounts) => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let fees = self.counter.set_fee_table(&session, &amounts).await.map_err(ja)?;
                self.emit(Event::FeesSet(self.profile_summary(fees)));
            }
            Command::ListUsers => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let users = self.counter.users(&session).await.map_err(ja)?;
                self.emit(Event::Users(users));
                let requests = self.counter.grant_requests(&session, true).await.map_err(ja)?;
                self.emit(Event::GrantRequests(requests));
            }
            Command::RegisterUsbKey { login_id, key } => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                self.counter.register_usb_key(&session, &login_id, Some(&key)).await.map_err(ja)?;
                self.emit(Event::UsbKeyRegistered(login_id));
            }
            Command::RevokeGrant { login_id, role } => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                self.counter.revoke_grant(&session, &login_id, role).await.map_err(ja)?;
                self.emit(Event::GrantRevoked(login_id, role));
            }
            Command::DecideGrant { request_id, login_id, approve } => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                self.counter.decide_grant(&session, request_id, approve).await.map_err(ja)?;
                self.emit(Event::GrantDecided(login_id, approve));
            }
            Command::CreateUser { login_id, display_name, password, role, until_us } => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let password_hash = hash_password(&password).map_err(|e| {
                    tracing::warn!("new user {login_id}: {e}");
                    "このパスワードは使えません（12文字以上にしてください）".to_string()
                })?;
                let user =
                    NewUser { login_id: login_id.clone(), display_name, password_hash, grants: vec![(role, until_us)] };
                self.counter.create_user(&session, user).await.map_err(ja)?;
                tracing::info!(login_id, role = role.as_str(), "user created");
                self.emit(Event::UserCreated(login_id));
            }
            Command::CheckDevice { station, role } => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                self.counter.check_permission(&session, Permission::ManageStations).await.map_err(ja)?;
                let devices = self.devices.clone();
                let name = station.clone();
                let outcome = tokio::task::spawn_blocking(move || {
                    device_check::check_device(&devices, &name, role, SIMULATOR_CARD_PIN)
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
                match &outcome {
                    Ok(line) => tracing::info!(station, device = role.label_en(), "device test passed: {line}"),
                    Err(err) => tracing::warn!(station, device = role.label_en(), "device test failed: {err}"),
                }
                self.emit(Event::DeviceChecked { station, role, outcome });
            }
            Command::AuditLog(filter) => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let entries = self.counter.audit_log(&session, &filter).await.map_err(ja)?;
                self.emit(Event::AuditEntries(entries));
            }
            Command::VerifyAudit => {
                let session = self.session().ok_or("ログインしてください")?.clone();
                let result = match self.counter.verify_audit(&session).await {
                    Ok(Ok(verified)) => Ok(format!(
                        "監査ログは改ざんされていません（{}件、先頭ハッシュ {}）",
                        verified.entries,
                        hex::encode(&verified.head[..8])
                    )),
                    Ok(Err(broken)) => {
                        tracing::error!("audit chain broken at seq {}: {broken}", broken.seq());
                        Err(format!(
                            "監査ログの{}番目の記録で改ざんを検出しました：{}",
                            broken.seq(),
                            broken.message_ja()
                        ))
                    }
                    Err(err) => Err(ja(err)),
                };
                self.emit(Event::AuditVerified(result));
            }
        }
        Ok(())
    }

    /// Take what the bus watcher saw since the last call; lock at once when the guard says so.
    async fn drain_bus(&mut self) {
        let Some(bus) = &self.bus else { return };
        let events: Vec<_> = bus.events.try_iter().collect();
        for event in events {
            match event {
                Ok(event) => {
                    if let Some(reason) = self.guard.observe(&event) {
                        self.lock(reason).await;
                    }
                }
                Err(err) => tracing::warn!("reading the USB bus: {err}"),
            }
        }
    }

    /// Lock: the session ends before anything else, then the lock (and incident) is recorded and shown.
    async fn lock(&mut self, reason: LockReason) {
        let session = self.session.take();
        self.guard.end_session();
        tracing::warn!(station = %self.station, "terminal locked: {reason}");
        let mut message = reason.message_ja();
        if let Err(err) = self.counter.record_lock(session.as_ref(), &self.station, &reason).await {
            tracing::error!("recording the lock failed: {err}");
            message.push_str("（記録に失敗しました。システム管理者に連絡してください）");
        }
        self.emit(Event::Locked(message));
    }

    /// Print this station's queue until it is empty or a job does not print (the printer is not ready, or the
    /// outcome is unknown: that job is suspect and the queue stops for staff).
    async fn print_queue(&mut self, session: &Session, printer: &StationPrinter) -> Result<(), String> {
        let worker = self.counter.print_worker(&session.actor.station, &format!("terminal:{}", self.station));
        while let Some(report) = worker.print_next(printer).await.map_err(ja)? {
            if report.state == PrintJobState::Printed {
                match (report.issue_number, report.control_number) {
                    (Some(issue_number), Some(control_number)) => {
                        self.emit(Event::Issued { case_id: report.case_id, issue_number, control_number });
                    }
                    _ => self.emit(Event::LetterPrinted(report.case_id)),
                }
            } else {
                self.emit(Event::PrintFailed {
                    case_id: report.case_id,
                    suspect: report.state == PrintJobState::Suspect,
                    outcome: report.outcome,
                });
                break;
            }
        }
        self.refresh().await
    }

    /// Open a case for review: the case, its exact output and what the reviewer judges it by (a rendered sheet or
    /// the 異動 entry's lines).
    async fn open_review(&mut self, case_id: i64) -> Result<(), String> {
        let session = self.session().ok_or("ログインしてください")?.clone();
        let (case, output) = self.counter.review(&session, case_id).await.map_err(ja)?;
        let preview = if output.media_type == madoguchi_core::outbox::MOVE_ENTRY_MEDIA_TYPE {
            // A 異動 case's output is its entry: the reviewer reads the entry itself, from the exact bytes.
            madoguchi_core::outbox::entry_lines_ja(case_id, &output.bytes).map(ReviewPreview::Entry).map_err(|err| {
                tracing::error!(case = case_id, %err, "the entry under review cannot be read");
                "届出内容を読み取れません。システム管理者に連絡してください".to_string()
            })
        } else {
            self.counter.preview_pages(&output).map_err(|e| e.message_ja()).and_then(|pages| {
                let page = pages.first().ok_or_else(|| "帳票がありません".to_string())?;
                let pixmap = raster::render_page(page, 72.0).map_err(|e| e.to_string())?;
                let (width, height) = (pixmap.width() as usize, pixmap.height() as usize);
                Ok(ReviewPreview::Sheet(pixmap.take(), width, height))
            })
        };
        self.emit(Event::Review { case: Box::new(case), output: Box::new(output), preview });
        Ok(())
    }

    async fn refresh(&mut self) -> Result<(), String> {
        let Some(session) = self.session().cloned() else { return Ok(()) };
        let role = session.actor.role;
        if role.has_queue() {
            let filter = if role.allows(Permission::ReadQueue) {
                // The whole live queue: staff must see every case handed over, however many.
                CaseFilter { states: vec![CaseState::Submitted, CaseState::Approved], station: None, limit: 5_000 }
            } else {
                // An operator's post list (core limits it to the post whatever the filter says).
                CaseFilter { states: Vec::new(), station: Some(session.actor.station.clone()), limit: 50 }
            };
            let cases = self.counter.queue(&session, &filter).await.map_err(|e| {
                tracing::warn!("listing cases: {e}");
                "案件の一覧を読めません。しばらくして画面が更新されない場合は管理者に連絡してください".to_string()
            })?;
            self.emit(Event::Cases(cases));
        }
        if role.allows(Permission::PrepareCase) {
            let inquiries = self.counter.inquiries(&session, false).await.map_err(|e| {
                tracing::warn!("listing inquiries: {e}");
                e.message_ja()
            })?;
            self.emit(Event::Inquiries(inquiries));
        }
        if role.allows(Permission::ReadQueue) {
            let outbox = self.counter.outbox(&session, true).await.map_err(|e| {
                tracing::warn!("listing the outbox: {e}");
                e.message_ja()
            })?;
            self.emit(Event::Outbox(outbox));
        }
        if role.allows(Permission::ReviewCase) {
            use madoguchi_core::store::{PrintJobFilter, PrintJobSelection};
            let awaiting = PrintJobFilter::only(PrintJobSelection::AwaitingStaff);
            let jobs = self.counter.print_jobs(&session, &awaiting).await.map_err(|e| {
                tracing::warn!("listing suspect prints: {e}");
                e.message_ja()
            })?;
            self.emit(Event::PrintsToCheck(jobs));
        }
        if role.allows(Permission::ManageUsers) {
            // Incidents reach the administrators within a refresh, whichever terminal raised them.
            let incidents = self.counter.incidents(&session, 200).await.map_err(|e| {
                tracing::warn!("listing incidents: {e}");
                e.message_ja()
            })?;
            self.emit(Event::Incidents(incidents));
        }
        if let Some(printer) = self.printer.clone() {
            let status =
                tokio::task::spawn_blocking(move || printer.lock().unwrap_or_else(PoisonError::into_inner).status())
                    .await
                    .unwrap_or_else(|e| DeviceStatus::Error(e.to_string()));
            self.emit(Event::PrinterStatus(status));
        }
        Ok(())
    }
}

/// How often the back end takes the bus watcher's events (the watcher itself reads the bus every
/// [`BUS_POLL_INTERVAL`]), together well under the one second a removed key may take to lock the terminal; and how
/// often it checks the idle limit.
const BUS_DRAIN_INTERVAL: Duration = Duration::from_millis(100);

/// How often the bus watcher reads the bus when no hot-plug hint wakes it.
pub const BUS_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Watch `bus` for the terminal (a simulated bus in the demo and tests, libusb's on a counter PC).
pub fn watch_bus<E: UsbEnumerator + 'static>(bus: E) -> WatcherThread {
    spawn_watcher(bus, BUS_POLL_INTERVAL, None)
}

/// Start the back end for `station`. `repaint` is called after every event (the UI's `request_repaint`); `bus`
/// reports USB arrivals and removals (the second factor and removable-storage lock); `idle_lock` is the ward's
/// idle limit (`SecurityPolicy::idle_lock`).
pub fn spawn(
    counter: Counter,
    station: &str,
    printer: Option<StationPrinter>,
    devices: DeviceConfig,
    bus: Option<WatcherThread>,
    idle_lock: Duration,
    repaint: Arc<dyn Fn() + Send + Sync>,
) -> BackendHandle {
    let (commands, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Command>();
    let (events_tx, events) = channel();
    let station = station.to_string();
    let run_mode = counter.run_mode();
    thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(err) => {
                events_tx.send(Event::Failed(format!("処理を開始できません（{err}）"))).ok();
                return;
            }
        };
        let guard = TerminalGuard::new(idle_lock, counter.now_us());
        let mut worker = Worker {
            counter,
            station,
            printer,
            devices: Arc::new(devices),
            session: None,
            events: events_tx,
            repaint,
            bus,
            guard,
            simulated_card: device_check::sample_card_attributes(),
            simulated_seal_card: device_check::SAMPLE_SEAL_CARD.to_string(),
        };
        runtime.block_on(async move {
            if worker.printer.is_some() {
                // Jobs this station's worker left mid-send (the terminal stopped) become suspect, never resent.
                let print_worker =
                    worker.counter.print_worker(&worker.station, &format!("terminal:{}", worker.station));
                if let Err(err) = print_worker.recover().await {
                    tracing::error!(%err, "the print queue could not be checked at start");
                }
            }
            let mut bus_ticks = tokio::time::interval(BUS_DRAIN_INTERVAL);
            // Another terminal's hand-over or decision reaches this screen at once; the UI's periodic refresh
            // stays as the safety net.
            let mut hints = match worker.counter.store().watch_queue().await {
                Ok(hints) => Some(hints),
                Err(err) => {
                    tracing::warn!(%err, "queue hints unavailable; the screen refreshes every few seconds");
                    None
                }
            };
            // Every terminal sends the outbox's due 異動 entries to the resident system (any number of senders
            // may run: claims are leases and the idempotency key makes a resend harmless), on the same hints.
            tokio::spawn(send_outbox(
                worker
                    .counter
                    .outbox_sender(&worker.station, &format!("terminal:{}:{}", worker.station, std::process::id())),
                hints.clone(),
            ));
            loop {
                tokio::select! {
                    command = receiver.recv() => match command {
                        Some(command) => worker.handle(command).await,
                        None => break,
                    },
                    () = next_hint(&mut hints) => worker.handle(Command::Refresh).await,
                    _ = bus_ticks.tick() => {
                        worker.drain_bus().await;
                        if let Some(reason) = worker.guard.tick(worker.counter.now_us()) {
                            worker.lock(reason).await;
                        }
                    }
                }
            }
        });
    });
    BackendHandle { commands, events, run_mode }
}

/// What the reviewer sees of an output.
#[derive(Debug, Clone)]
pub enum ReviewPreview {
    /// The first sheet of a certificate (RGBA, width, height), rendered from the exact bytes.
    Sheet(Vec<u8>, usize, usize),
    /// A 異動 entry, line by line: what the resident system will be sent.
    Entry(Vec<String>),
}

/// How often the outbox sender looks for due entries when no queue hint wakes it (a deferred entry becomes due
/// with time, not with a change).
const OUTBOX_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Send the outbox's due entries until the terminal stops: on every queue hint and every second.
async fn send_outbox(
    sender: madoguchi_core::outbox::OutboxSender,
    mut hints: Option<tokio::sync::watch::Receiver<u64>>,
) {
    loop {
        if let Err(err) = sender.send_due().await {
            tracing::warn!(%err, "the outbox could not be sent; trying again");
        }
        tokio::select! {
            () = next_hint(&mut hints) => {}
            () = tokio::time::sleep(OUTBOX_POLL_INTERVAL) => {}
        }
    }
}

/// The next queue hint; never, once the watch has ended (it is dropped then) or when there is none.
async fn next_hint(hints: &mut Option<tokio::sync::watch::Receiver<u64>>) {
    if let Some(watch) = hints.as_mut() {
        if watch.changed().await.is_ok() {
            return;
        }
        *hints = None;
    }
    std::future::pending().await
}

/// A back end that is already closed: a terminal that has logged out replaces its handle with a fresh one.
pub fn spawn_closed() -> BackendHandle {
    let (commands, _) = tokio::sync::mpsc::unbounded_channel();
    let (_, events) = channel();
    BackendHandle { commands, events, run_mode: RunMode::Live }
}

#[cfg(test)]
mod tests {
    use super::card_birth_date;

    #[test]
    fn a_cards_birth_date_is_read_as_yyyymmdd_and_nothing_else() {
        assert_eq!(card_birth_date("19770815"), Some(jiff::civil::date(1977, 8, 15)));
        assert_eq!(card_birth_date("19770230"), None, "no such day");
        assert_eq!(card_birth_date("1977-08-15"), None);
        assert_eq!(card_birth_date("S52.8.15"), None);
        assert_eq!(card_birth_date(""), None);
    }
}
