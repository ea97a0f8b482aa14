//! The outbox to the resident system. An approved 異動 entry must reach the ward's resident system exactly once even
//! when that system is down, slow or answers garbage, and even when the terminal sending it dies. So the approval
//! writes the entry into the store's outbox in its own transaction, and a sender — every terminal's back end runs
//! one — commits it afterwards under the case's idempotency key (a resend after a lost reply changes
//! nothing on the resident system), retrying with backoff while the system is unreachable. A refusal is never
//! resent: it waits for staff with the resident system's reason.

use std::sync::Arc;
use std::time::Duration;

use backend_adapter::types::{Household, HouseholdTarget, MoveEntry, MoveReceipt, MoveSubmission, PersonId, Registry};
use backend_adapter::{ResidentSystem, ResidentSystemError};
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, duration_us};
use crate::error::{CoreError, StoreError};
use crate::store::Store;

/// The media type of a 異動 case's output: the entry as JSON, exactly the bytes the reviewer approves and the
/// sender sends.
pub const MOVE_ENTRY_MEDIA_TYPE: &str = "application/vnd.madoguchi.move-entry+json";

/// The idempotency key of a case's entry: the same case never applies twice on the resident system.
pub fn idempotency_key(case_id: i64) -> String {
    format!("madoguchi-case-{case_id}")
}

/// The output bytes of a 異動 case: its submission as JSON.
pub fn submission_bytes(case_id: i64, entry: &MoveEntry) -> Result<Vec<u8>, StoreError> {
    let submission = MoveSubmission { idempotency_key: idempotency_key(case_id), entry: entry.clone() };
    serde_json::to_vec_pretty(&submission).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Read approved output bytes back as the submission of `case_id`; anything else is refused.
pub fn parse_submission(case_id: i64, bytes: &[u8]) -> Result<MoveSubmission, StoreError> {
    let submission: MoveSubmission = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("the approved entry of case {case_id} is not a 異動 entry: {e}")))?;
    if submission.idempotency_key != idempotency_key(case_id) {
        return Err(StoreError::Corrupt(format!(
            "the approved entry of case {case_id} carries the key {:?}",
            submission.idempotency_key
        )));
    }
    Ok(submission)
}

/// The entry of `case_id`'s approved output as the reviewer reads it, line by line in Japanese: what will be sent.
pub fn entry_lines_ja(case_id: i64, bytes: &[u8]) -> Result<Vec<String>, StoreError> {
    use crate::wareki::date_label;
    let submission = parse_submission(case_id, bytes)?;
    let persons = |persons: &[PersonId]| {
        let ids: Vec<String> = persons.iter().map(|p| p.0.to_string()).collect();
        format!("対象者（宛名番号）：{}", ids.join("、"))
    };
    let lines = match &submission.entry {
        MoveEntry::MoveIn { persons: newcomers, address, household, moved_on, notified_on, previous_address } => {
            let mut lines = vec![
                match household {
                    HouseholdTarget::New => "転入（新しい世帯）".to_string(),
                    HouseholdTarget::Existing(id) => format!("転入（世帯番号{}へ）", id.0),
                },
                format!("住所：{}", address.display()),
                format!("転入前の住所：{previous_address}"),
                format!("転入日：{}　届出日：{}", date_label(*moved_on), date_label(*notified_on)),
            ];
            // Every item sent is on the reviewer's screen: name and reading, birth date, sex, 続柄, and 本籍・筆頭者 or
            // the 在留カード's items.
            for person in newcomers {
                let kana = person.name.display_kana().map(|kana| format!("（{kana}）")).unwrap_or_default();
                let common =
                    person.name.common_name.as_ref().map(|name| format!("（通称 {name}）")).unwrap_or_default();
                lines.push(format!(
                    "{}{kana}{common}　{}生　{}　続柄：{}",
                    person.name.display(),
                    date_label(person.birth_date),
                    person.sex.label_ja(),
                    person.relationship
                ));
                lines.push(match &person.registry {
                    Registry::Japanese { honseki, head_of_family_register } => {
                        format!("　本籍：{honseki}　筆頭者：{head_of_family_register}")
                    }
                    Registry::Foreign { nationality, residence_status, residence_expires_on, residence_card_number } => {
                        format!(
                            "　国籍・地域：{nationality}　在留資格：{residence_status}　在留期間満了日：{}　在留カード番号：{residence_card_number}",
                            date_label(*residence_expires_on)
                        )
                    }
                });
            }
            lines
        }
        MoveEntry::MoveOut { persons: ids, destination, planned_on, notified_on } => vec![
            "転出".to_string(),
            persons(ids),
            format!("転出先：{destination}"),
            format!("転出予定日：{}　届出日：{}", date_label(*planned_on), date_label(*notified_on)),
        ],
        MoveEntry::MoveWithin { persons: ids, new_address, moved_on, notified_on } => vec![
            "転居".to_string(),
            persons(ids),
            format!("新しい住所：{}", new_address.display()),
            format!("転居日：{}　届出日：{}", date_label(*moved_on), date_label(*notified_on)),
        ],
        MoveEntry::HouseholdChange { household, new_head, relationships, changed_on } => {
            let mut lines = vec![
                format!("世帯変更（世帯番号{}）", household.0),
                format!("新しい世帯主（宛名番号）：{}", new_head.0),
                format!("変更日：{}", date_label(*changed_on)),
            ];
            for change in relationships {
                lines.push(format!("宛名番号{}の続柄：{}", change.person.0, change.relationship));
            }
            lines
        }
    };
    Ok(lines)
}

/// Whether a 異動 entry changes `household`: a certificate of it must wait until the entry is committed.
pub fn touches(entry: &MoveEntry, household: &Household) -> bool {
    let member = |person: &PersonId| household.members.iter().any(|m| m.id == *person);
    match entry {
        MoveEntry::MoveIn { household: target, .. } => *target == HouseholdTarget::Existing(household.id),
        MoveEntry::MoveOut { persons, .. } | MoveEntry::MoveWithin { persons, .. } => persons.iter().any(member),
        MoveEntry::HouseholdChange { household: changed, .. } => *changed == household.id,
    }
}

/// Where an outbox entry stands (`resident_outbox.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutboxState {
    /// Waiting for its (next) try.
    Pending,
    /// A sender has it (a lease: taken again if the sender dies).
    Sending,
    /// The resident system applied it; its receipt is recorded.
    Committed,
    /// The resident system refused it; staff decide. Never resent.
    Rejected,
}

impl OutboxState {
    const ALL: [OutboxState; 4] =
        [OutboxState::Pending, OutboxState::Sending, OutboxState::Committed, OutboxState::Rejected];

    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sending => "sending",
            OutboxState::Committed => "committed",
            OutboxState::Rejected => "rejected",
        }
    }

    /// The stored form read back.
    pub fn parse(text: &str) -> Option<OutboxState> {
        OutboxState::ALL.into_iter().find(|state| state.as_str() == text)
    }

    /// 送信待ち, 送信中, 住民記録に反映済み, 受付拒否.
    pub fn label_ja(self) -> &'static str {
        match self {
            OutboxState::Pending => "住民記録へ送信待ち",
            OutboxState::Sending => "住民記録へ送信中",
            OutboxState::Committed => "住民記録に反映済み",
            OutboxState::Rejected => "住民記録が受付拒否",
        }
    }
}

/// How a sender's try ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxEnd {
    /// Applied; the receipt.
    Committed(MoveReceipt),
    /// Not reached or not understood: try again at `retry_at_us`.
    Deferred {
        /// English reason (logs, audit).
        error: String,
        /// Japanese reason (screens).
        error_ja: String,
        /// The next try.
        retry_at_us: i64,
    },
    /// Refused by the resident system: staff decide.
    Rejected {
        /// English reason.
        reason: String,
        /// Japanese reason.
        reason_ja: String,
    },
}

/// An entry a sender has taken: the approved submission, checked against the approved SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedOutboxEntry {
    /// Outbox row id.
    pub id: i64,
    /// The case.
    pub case_id: i64,
    /// This try (1 for the first).
    pub attempt: i64,
    /// The approved output bytes (the submission as JSON).
    pub bytes: Vec<u8>,
}

/// An outbox entry as listed (no resident data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRow {
    /// Row id.
    pub id: i64,
    /// The case.
    pub case_id: i64,
    /// The idempotency key sent with it.
    pub idempotency_key: String,
    /// Where it stands.
    pub state: OutboxState,
    /// Tries so far.
    pub attempts: i64,
    /// When it is tried next (pending) or its lease ends (sending).
    pub next_attempt_at_us: i64,
    /// Why the last try did not commit (Japanese, for staff).
    pub last_error_ja: Option<String>,
    /// The resident system's receipt, once committed.
    pub receipt: Option<MoveReceipt>,
    /// Last change.
    pub updated_at_us: i64,
}

/// What one try of the sender did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReport {
    /// The case.
    pub case_id: i64,
    /// The try.
    pub attempt: i64,
    /// Where the entry stands now.
    pub state: OutboxState,
}

/// Waits between tries while the resident system is unreachable: doubling from `first` up to `longest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// After the first failed try.
    pub first: Duration,
    /// Never longer than this.
    pub longest: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { first: Duration::from_secs(2), longest: Duration::from_secs(300) }
    }
}

impl Backoff {
    /// The wait after the `attempt`-th failed try.
    pub fn after(self, attempt: i64) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.first.saturating_mul(2_u32.saturating_pow(doublings)).min(self.longest)
    }
}

/// The sender of the outbox. Any number may run against one store: a claim is a lease taken in a committed
/// transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL), and the idempotency key makes a resend harmless.
pub struct OutboxSender {
    store: Arc<dyn Store>,
    residents: Arc<dyn ResidentSystem>,
    clock: Arc<dyn Clock>,
    station: String,
    sender: String,
    backoff: Backoff,
}

impl std::fmt::Debug for OutboxSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxSender").field("station", &self.station).field("sender", &self.sender).finish()
    }
}

/// How long a sender's claim holds before another sender may take the entry (longer than any call may take).
pub const LEASE: Duration = Duration::from_secs(60);

impl OutboxSender {
    /// The sender `sender` (a name unique to this process, for the journal) running at `station`.
    pub fn new(
        store: Arc<dyn Store>,
        residents: Arc<dyn ResidentSystem>,
        clock: Arc<dyn Clock>,
        station: &str,
        sender: &str,
    ) -> Self {
        Self {
            store,
            residents,
            clock,
            station: station.to_string(),
            sender: sender.to_string(),
            backoff: Backoff::default(),
        }
    }

    /// Use other waits between tries.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Try the next due entry, if any: claim it, send it, record how it ended.
    pub async fn send_next(&self) -> Result<Option<SendReport>, CoreError> {
        let now = self.clock.now_us();
        let claimed = self.store.claim_outbox_entry(&self.station, &self.sender, duration_us(LEASE), now).await?;
        let Some(entry) = claimed else {
            return Ok(None);
        };
        let end = match parse_submission(entry.case_id, &entry.bytes) {
            Ok(submission) => self.end_of(self.residents.submit_move(&submission).await, entry.attempt),
            // Approved bytes that are not an entry cannot become one by waiting: staff decide.
            Err(err) => OutboxEnd::Rejected {
                reason: err.to_string(),
                reason_ja: "承認された異動の内容を読み取れません。システム管理者に連絡してください".to_string(),
            },
        };
        match &end {
            OutboxEnd::Committed(receipt) => {
                tracing::info!(case = entry.case_id, attempt = entry.attempt, affected = ?receipt.affected, "異動 entry committed to the resident system")
            }
            OutboxEnd::Deferred { error, retry_at_us, .. } => {
                tracing::warn!(case = entry.case_id, attempt = entry.attempt, %error, retry_at_us, "異動 entry deferred: the resident system did not take it")
            }
            OutboxEnd::Rejected { reason, .. } => {
                tracing::error!(case = entry.case_id, attempt = entry.attempt, %reason, "異動 entry refused by the resident system; staff must decide")
            }
        }
        let state =
            self.store.finish_outbox_entry(entry.id, &self.station, &self.sender, &end, self.clock.now_us()).await?;
        Ok(Some(SendReport { case_id: entry.case_id, attempt: entry.attempt, state }))
    }

    /// Try every due entry once; stop early when the resident system is unreachable (the rest wait for the next
    /// pass). What was done.
    pub async fn send_due(&self) -> Result<Vec<SendReport>, CoreError> {
        let mut reports = Vec::new();
        while let Some(report) = self.send_next().await? {
            let unreachable = report.state == OutboxState::Pending;
            reports.push(report);
            if unreachable {
                break;
            }
        }
        Ok(reports)
    }

    fn end_of(&self, result: Result<MoveReceipt, ResidentSystemError>, attempt: i64) -> OutboxEnd {
        match result {
            Ok(receipt) => OutboxEnd::Committed(receipt),
            Err(err @ (ResidentSystemError::Unavailable(_) | ResidentSystemError::InvalidResponse(_))) => {
                OutboxEnd::Deferred {
                    error: err.to_string(),
                    error_ja: err.message_ja(),
                    retry_at_us: self.clock.now_us().saturating_add(duration_us(self.backoff.after(attempt))),
                }
            }
            Err(err) => OutboxEnd::Rejected { reason: err.to_string(), reason_ja: err.message_ja() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_and_stops_at_its_longest_wait() {
        let backoff = Backoff { first: Duration::from_secs(2), longest: Duration::from_secs(60) };
        let waits: Vec<u64> = (1..=7).map(|attempt| backoff.after(attempt).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff.after(i64::MAX), Duration::from_secs(60));
    }

    #[test]
    fn an_entry_is_read_back_only_under_its_own_cases_key() {
        let entry = MoveEntry::HouseholdChange {
            household: backend_adapter::types::HouseholdId(7),
            new_head: backend_adapter::types::PersonId(8),
            relationships: Vec::new(),
            changed_on: jiff::civil::date(2026, 12, 4),
        };
        let bytes = submission_bytes(41, &entry).expect("serializes");
        assert_eq!(parse_submission(41, &bytes).expect("its own case").entry, entry);
        let err = parse_submission(42, &bytes).expect_err("another case's key");
        assert!(err.to_string().contains("madoguchi-case-41"), "{err}");
        assert!(parse_submission(41, b"{\"not\":\"an entry\"}").is_err());
        let lines = entry_lines_ja(41, &bytes).expect("lines");
        assert_eq!(lines, ["世帯変更（世帯番号7）", "新しい世帯主（宛名番号）：8", "変更日：令和8年12月4日"]);
    }

    #[test]
    fn the_reviewer_reads_every_item_of_a_newcomer() {
        use backend_adapter::types::{Address, Name, NewPerson, Sex};
        let person = |registry| NewPerson {
            name: Name {
                family: String::new(),
                given: String::new(),
                family_kana: None,
                given_kana: None,
                former_family: None,
                former_family_kana: None,
                common_name: Some("グエン　アン".into()),
                alphabet: Some("NGUYEN VAN AN".into()),
            },
            birth_date: jiff::civil::date(1995, 7, 14),
            sex: Sex::Male,
            relationship: "世帯主".into(),
            resident_code: None,
            individual_number: None,
            registry,
        };
        let entry = MoveEntry::MoveIn {
            persons: vec![
                person(Registry::Foreign {
                    nationality: "ベトナム".into(),
                    residence_status: "留学".into(),
                    residence_expires_on: jiff::civil::date(2028, 3, 31),
                    residence_card_number: "AB12345678CD".into(),
                }),
                person(Registry::Japanese {
                    honseki: "大阪府大阪市北区".into(),
                    head_of_family_register: "山田　花子".into(),
                }),
            ],
            address: Address {
                postal_code: "1600023".into(),
                prefecture: "東京都".into(),
                city: "新宿区".into(),
                town: "西新宿".into(),
                block: "二丁目8番1号".into(),
                building: None,
            },
            household: HouseholdTarget::New,
            moved_on: jiff::civil::date(2026, 12, 1),
            notified_on: jiff::civil::date(2026, 12, 4),
            previous_address: "大阪府大阪市北区".into(),
        };
        let lines = entry_lines_ja(5, &submission_bytes(5, &entry).expect("serializes")).expect("lines");
        assert_eq!(lines[4], "NGUYEN VAN AN（通称 グエン　アン）　平成7年7月14日生　男　続柄：世帯主");
        assert_eq!(
            lines[5],
            "　国籍・地域：ベトナム　在留資格：留学　在留期間満了日：令和10年3月31日　在留カード番号：AB12345678CD"
        );
        assert_eq!(lines[7], "　本籍：大阪府大阪市北区　筆頭者：山田　花子");
    }

    #[test]
    fn every_state_reads_back() {
        for state in OutboxState::ALL {
            assert_eq!(OutboxState::parse(state.as_str()), Some(state));
        }
        assert_eq!(OutboxState::parse("sent"), None);
    }
}
