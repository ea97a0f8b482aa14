//! The audit chain's format and its verifier. Every state change and every read of resident data is one entry;
//! each entry's hash covers its fields and the previous entry's hash, so an edited, deleted or reordered row breaks
//! the chain at that row. The store writes entries in the same transaction as the change they record; this module
//! only defines the bytes that are hashed, so the verifier can run offline on a copy of the store.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Domain separator of the entry hash; a new layout gets a new tag.
const ENTRY_HASH_TAG: &[u8] = b"madoguchi-audit-v1";

/// The hash before the first entry.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// What an audit entry records. The string form is what is stored and hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AuditAction {
    /// The store was created and its first admin registered.
    StoreInitialized,
    /// A user account was created.
    UserCreated,
    /// A role was granted (another admin approved the request).
    RoleGranted,
    /// A login succeeded.
    LoginSucceeded,
    /// A login failed (unknown id or wrong password).
    LoginFailed,
    /// Residents were searched (the query's digest is in the detail, not the query).
    ResidentSearched,
    /// A household's or a person's record was read from the resident system.
    ResidentRead,
    /// The 券面事項 (基本4情報) of a resident's マイナンバーカード were read at the counter to find the record; the
    /// card's 個人番号 is discarded unread by anyone.
    CardRead,
    /// A request was refused before a case existed (for example 支援措置).
    RequestRefused,
    /// A case was opened as a draft.
    CaseCreated,
    /// The request of a returned case was corrected by its post (it is then prepared and handed over again).
    CaseRevised,
    /// 発行番号 and 管理番号 were reserved for an output.
    NumbersReserved,
    /// A case's output was handed to review.
    CaseSubmitted,
    /// A reviewer approved the exact output bytes.
    CaseApproved,
    /// A reviewer returned the case with a coded reason.
    CaseReturned,
    /// A certificate was issued with a 発行番号.
    CaseIssued,
    /// A case or its output was read.
    CaseRead,
    /// A protected field (個人番号, 住民票コード, 本籍) of a person was shown for a case that needs it.
    FieldRead,
    /// A protected field was asked for by a case that does not need it, and refused.
    FieldRefused,
    /// The audit log itself was read.
    AuditRead,
    /// The ward signed a checkpoint of the chain (the signed text is in the detail).
    CheckpointSigned,
    /// A user's USB key was registered or removed.
    UsbKeyRegistered,
    /// A terminal locked itself (USB key removed, removable storage attached, idle); incidents have a row too.
    TerminalLocked,
    /// An incident was recorded (removable storage, USB key removed, …).
    IncidentRecorded,
    /// An admin requested a role grant; it takes effect when another admin approves.
    GrantRequested,
    /// Another admin rejected a grant request.
    GrantRejected,
    /// An admin revoked a user's grant (in force until that moment).
    RoleRevoked,
    /// The store was exported (encrypted) for the ward.
    DataExported,
    /// Contract end: the data keys were destroyed (crypto-shredding of the sealed resident data).
    DataKeysDestroyed,
    /// 照会書 sent for a 印鑑登録 (照会書・回答書方式).
    SealInquirySent,
    /// 回答書 accepted by its deadline.
    SealAnswerAccepted,
    /// 回答書 refused: it came after the deadline.
    SealAnswerRefused,
    /// A 照会 expired unanswered.
    SealInquiryExpired,
    /// Security paper received or spoiled at a printer station.
    PaperRecorded,
    /// The business day was closed (with the explanation of any mismatch).
    DayClosed,
    /// The store's run mode (本番 or 研修) set by its first terminal.
    RunModeSet,
    /// A print worker claimed a job (the approved bytes are read for the printer).
    PrintClaimed,
    /// Every byte of a job reached the printer.
    PrintPrinted,
    /// Nothing of a job was sent (the printer was not ready); it waits in the queue again.
    PrintRequeued,
    /// A job's outcome is unknown (bytes left, or the worker stopped mid-job): staff must decide; never resent.
    PrintSuspect,
    /// An outbox entry (an approved 異動 entry) is being sent to the resident system.
    OutboxSending,
    /// The resident system committed an outbox entry (its receipt recorded).
    OutboxCommitted,
    /// The resident system could not be reached or answered garbage; the entry waits for its next try.
    OutboxDeferred,
    /// The resident system refused an outbox entry; staff must deal with it. Never resent.
    OutboxRejected,
    /// Staff resolved a suspect print: the sheet came out whole, or it is spoiled and the case is prepared again
    /// under a new 発行番号.
    PrintResolved,
    /// 取消: a case withdrawn before issue, or an issued certificate taken back with its fee refunded.
    CaseVoided,
    /// An administrator set the ward's 手数料表 (the amounts before and after in the detail).
    FeesSet,
}

impl AuditAction {
    /// Every action, in the order the auditor's filter lists them.
    pub const ALL: [AuditAction; 47] = [
        AuditAction::StoreInitialized,
        AuditAction::UserCreated,
        AuditAction::RoleGranted,
        AuditAction::LoginSucceeded,
        AuditAction::LoginFailed,
        AuditAction::ResidentSearched,
        AuditAction::ResidentRead,
        AuditAction::CardRead,
        AuditAction::RequestRefused,
        AuditAction::CaseCreated,
        AuditAction::CaseRevised,
        AuditAction::NumbersReserved,
        AuditAction::CaseSubmitted,
        AuditAction::CaseApproved,
        AuditAction::CaseReturned,
        AuditAction::CaseIssued,
        AuditAction::CaseRead,
        AuditAction::FieldRead,
        AuditAction::FieldRefused,
        AuditAction::AuditRead,
        AuditAction::CheckpointSigned,
        AuditAction::UsbKeyRegistered,
        AuditAction::TerminalLocked,
        AuditAction::IncidentRecorded,
        AuditAction::GrantRequested,
        AuditAction::GrantRejected,
        AuditAction::RoleRevoked,
        AuditAction::DataExported,
        AuditAction::DataKeysDestroyed,
        AuditAction::SealInquirySent,
        AuditAction::SealAnswerAccepted,
        AuditAction::SealAnswerRefused,
        AuditAction::SealInquiryExpired,
        AuditAction::PaperRecorded,
        AuditAction::DayClosed,
        AuditAction::RunModeSet,
        AuditAction::PrintClaimed,
        AuditAction::PrintPrinted,
        AuditAction::PrintRequeued,
        AuditAction::PrintSuspect,
        AuditAction::OutboxSending,
        AuditAction::OutboxCommitted,
        AuditAction::OutboxDeferred,
        AuditAction::OutboxRejected,
        AuditAction::PrintResolved,
        AuditAction::CaseVoided,
        AuditAction::FeesSet,
    ];

    /// 操作の種類 as the auditor's screen shows it.
    pub fn label_ja(self) -> &'static str {
        match self {
            AuditAction::StoreInitialized => "初期設定",
            AuditAction::UserCreated => "利用者登録",
            AuditAction::RoleGranted => "権限付与",
            AuditAction::LoginSucceeded => "ログイン",
            AuditAction::LoginFailed => "ログイン失敗",
            AuditAction::ResidentSearched => "住民検索",
            AuditAction::ResidentRead => "住民情報参照",
            AuditAction::CardRead => "マイナンバーカード読取",
            AuditAction::RequestRefused => "請求拒否",
            AuditAction::CaseCreated => "案件作成",
            AuditAction::CaseRevised => "案件修正",
            AuditAction::NumbersReserved => "番号採番",
            AuditAction::CaseSubmitted => "審査回付",
            AuditAction::CaseApproved => "承認",
            AuditAction::CaseReturned => "差戻し",
            AuditAction::CaseIssued => "交付",
            AuditAction::CaseRead => "案件参照",
            AuditAction::FieldRead => "個人番号等の参照",
            AuditAction::FieldRefused => "個人番号等の参照拒否",
            AuditAction::AuditRead => "監査ログ閲覧",
            AuditAction::CheckpointSigned => "チェックポイント署名",
            AuditAction::UsbKeyRegistered => "USBキー登録",
            AuditAction::TerminalLocked => "端末ロック",
            AuditAction::IncidentRecorded => "事故記録",
            AuditAction::GrantRequested => "権限付与の申請",
            AuditAction::GrantRejected => "権限付与の却下",
            AuditAction::RoleRevoked => "権限の取消",
            AuditAction::DataExported => "データの書出し",
            AuditAction::DataKeysDestroyed => "データの消去（鍵の破棄）",
            AuditAction::SealInquirySent => "照会書の発送",
            AuditAction::SealAnswerAccepted => "回答書の受理",
            AuditAction::SealAnswerRefused => "回答書の受理拒否（期限後）",
            AuditAction::SealInquiryExpired => "照会の期限切れ",
            AuditAction::PaperRecorded => "用紙の受払",
            AuditAction::DayClosed => "日計の締め",
            AuditAction::RunModeSet => "運用区分の設定",
            AuditAction::PrintClaimed => "印刷開始",
            AuditAction::PrintPrinted => "印刷完了",
            AuditAction::PrintRequeued => "印刷待ちに戻す",
            AuditAction::PrintSuspect => "印刷結果不明",
            AuditAction::OutboxSending => "住民記録へ送信",
            AuditAction::OutboxCommitted => "住民記録へ反映",
            AuditAction::OutboxDeferred => "住民記録へ送信保留",
            AuditAction::OutboxRejected => "住民記録が受付拒否",
            AuditAction::PrintResolved => "印刷結果不明の解消",
            AuditAction::CaseVoided => "取消",
            AuditAction::FeesSet => "手数料表の設定",
        }
    }

    /// Parse a stored name.
    pub fn parse(text: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|action| action.as_str() == text)
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::StoreInitialized => "store.initialized",
            AuditAction::UserCreated => "user.created",
            AuditAction::RoleGranted => "role.granted",
            AuditAction::LoginSucceeded => "login.succeeded",
            AuditAction::LoginFailed => "login.failed",
            AuditAction::ResidentSearched => "resident.searched",
            AuditAction::ResidentRead => "resident.read",
            AuditAction::CardRead => "card.read",
            AuditAction::RequestRefused => "request.refused",
            AuditAction::CaseCreated => "case.created",
            AuditAction::CaseRevised => "case.revised",
            AuditAction::NumbersReserved => "numbers.reserved",
            AuditAction::CaseSubmitted => "case.submitted",
            AuditAction::CaseApproved => "case.approved",
            AuditAction::CaseReturned => "case.returned",
            AuditAction::CaseIssued => "case.issued",
            AuditAction::CaseRead => "case.read",
            AuditAction::FieldRead => "resident.field_read",
            AuditAction::FieldRefused => "resident.field_refused",
            AuditAction::AuditRead => "audit.read",
            AuditAction::CheckpointSigned => "audit.checkpoint",
            AuditAction::UsbKeyRegistered => "user.usb_key",
            AuditAction::TerminalLocked => "terminal.locked",
            AuditAction::IncidentRecorded => "incident.recorded",
            AuditAction::GrantRequested => "grant.requested",
            AuditAction::GrantRejected => "grant.rejected",
            AuditAction::RoleRevoked => "role.revoked",
            AuditAction::DataExported => "data.exported",
            AuditAction::DataKeysDestroyed => "data.keys_destroyed",
            AuditAction::SealInquirySent => "seal.inquiry_sent",
            AuditAction::SealAnswerAccepted => "seal.answer_accepted",
            AuditAction::SealAnswerRefused => "seal.answer_refused",
            AuditAction::SealInquiryExpired => "seal.inquiry_expired",
            AuditAction::PaperRecorded => "paper.recorded",
            AuditAction::DayClosed => "day.closed",
            AuditAction::RunModeSet => "store.run_mode_set",
            AuditAction::PrintClaimed => "print.claimed",
            AuditAction::PrintPrinted => "print.printed",
            AuditAction::PrintRequeued => "print.requeued",
            AuditAction::PrintSuspect => "print.suspect",
            AuditAction::OutboxSending => "outbox.sending",
            AuditAction::OutboxCommitted => "outbox.committed",
            AuditAction::OutboxDeferred => "outbox.deferred",
            AuditAction::OutboxRejected => "outbox.rejected",
            AuditAction::PrintResolved => "print.resolved",
            AuditAction::CaseVoided => "case.voided",
            AuditAction::FeesSet => "fees.set",
        }
    }
}

/// One stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the chain, from 1 without gaps.
    pub seq: i64,
    /// When, in microseconds since the Unix epoch (UTC).
    pub at_us: i64,
    /// The station (terminal) it happened at.
    pub station: String,
    /// Login id of the acting person ("-" for the system).
    pub actor: String,
    /// The role the person acted in.
    pub role: String,
    /// [`AuditAction::as_str`].
    pub action: String,
    /// What it concerned: `case:42`, `household:0000000012`, `user:admin`, …
    pub subject: String,
    /// Details as canonical JSON (ids, digests and reasons, never resident names).
    pub detail: String,
    /// The previous entry's hash.
    pub prev_hash: [u8; 32],
    /// This entry's hash.
    pub entry_hash: [u8; 32],
}

/// The fields of an entry before it is chained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When, in microseconds since the Unix epoch.
    pub at_us: i64,
    /// Station.
    pub station: String,
    /// Login id of the actor.
    pub actor: String,
    /// Role acted in.
    pub role: String,
    /// Action.
    pub action: AuditAction,
    /// Subject reference.
    pub subject: String,
    /// Canonical JSON detail.
    pub detail: serde_json::Value,
}

impl AuditRecord {
    /// An entry made by madoguchi itself rather than a logged-in person (store set-up, the store's run mode, the
    /// ward key's checkpoint), acting as `role` at `station`.
    pub fn by_system(
        at_us: i64,
        station: &str,
        role: &str,
        action: AuditAction,
        subject: &str,
        detail: serde_json::Value,
    ) -> AuditRecord {
        AuditRecord {
            at_us,
            station: station.to_string(),
            actor: crate::store::SYSTEM_ACTOR.to_string(),
            role: role.to_string(),
            action,
            subject: subject.to_string(),
            detail,
        }
    }
}

fn push_field(buffer: &mut Vec<u8>, field: &[u8]) {
    let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
    buffer.extend_from_slice(&len.to_be_bytes());
    buffer.extend_from_slice(field);
}

/// The hash of an entry with these fields following `prev_hash`.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    seq: i64,
    at_us: i64,
    station: &str,
    actor: &str,
    role: &str,
    action: &str,
    subject: &str,
    detail: &str,
    prev_hash: &[u8; 32],
) -> [u8; 32] {
    let mut bytes = Vec::with_capacity(128 + detail.len());
    push_field(&mut bytes, ENTRY_HASH_TAG);
    push_field(&mut bytes, &seq.to_be_bytes());
    push_field(&mut bytes, &at_us.to_be_bytes());
    for text in [station, actor, role, action, subject, detail] {
        push_field(&mut bytes, text.as_bytes());
    }
    push_field(&mut bytes, prev_hash);
    Sha256::digest(&bytes).into()
}

impl AuditRecord {
    /// Chain this record after the entry `(prev_seq, prev_hash)`.
    pub fn chain(&self, prev_seq: i64, prev_hash: [u8; 32]) -> AuditEntry {
        let seq = prev_seq + 1;
        let detail = self.detail.to_string();
        let action = self.action.as_str().to_string();
        let hash = entry_hash(
            seq,
            self.at_us,
            &self.station,
            &self.actor,
            &self.role,
            &action,
            &self.subject,
            &detail,
            &prev_hash,
        );
        AuditEntry {
            seq,
            at_us: self.at_us,
            station: self.station.clone(),
            actor: self.actor.clone(),
            role: self.role.clone(),
            action,
            subject: self.subject.clone(),
            detail,
            prev_hash,
            entry_hash: hash,
        }
    }
}

/// Where and why the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// A sequence number is missing or out of order (a deleted, inserted or reordered row).
    #[error("audit row seq {found}: expected seq {expected} (a row is missing, inserted or out of order)")]
    SequenceGap {
        /// The seq that should come next.
        expected: i64,
        /// The seq found.
        found: i64,
    },
    /// The stored previous-hash does not match the previous row's hash.
    #[error("audit row seq {seq}: its previous-hash does not match row {}", seq - 1)]
    BrokenLink {
        /// The row.
        seq: i64,
    },
    /// The row's content does not match its hash (an edited row).
    #[error("audit row seq {seq}: its content does not match its hash (the row was altered)")]
    AlteredEntry {
        /// The row.
        seq: i64,
    },
    /// The store's head row names another last entry than the chain has (rows at the end removed or replaced).
    #[error(
        "the audit head names seq {head_seq} but the chain ends at seq {entries} with another hash or length (rows at the end were removed or replaced)"
    )]
    HeadMismatch {
        /// The seq the head names.
        head_seq: i64,
        /// The entries the chain has (up to the head).
        entries: i64,
    },
}

impl ChainError {
    /// The first bad row.
    pub fn seq(&self) -> i64 {
        match self {
            ChainError::SequenceGap { found, .. } => *found,
            ChainError::BrokenLink { seq } | ChainError::AlteredEntry { seq } => *seq,
            ChainError::HeadMismatch { head_seq, entries } => (*entries + 1).min(*head_seq),
        }
    }

    /// The message for an auditor's screen.
    pub fn message_ja(&self) -> String {
        match self {
            ChainError::SequenceGap { expected, found } => {
                format!(
                    "監査ログの連番が途切れています（{expected}番の次に{found}番）。行の削除・挿入・並べ替えの疑いがあります"
                )
            }
            ChainError::BrokenLink { seq } => {
                format!("監査ログ{seq}番の前行ハッシュが一致しません。改ざんの疑いがあります")
            }
            ChainError::AlteredEntry { seq } => {
                format!("監査ログ{seq}番の内容がハッシュと一致しません。改ざんの疑いがあります")
            }
            ChainError::HeadMismatch { head_seq, entries } => format!(
                "監査ログの末尾が管理情報と一致しません（管理情報は{head_seq}件、記録は{entries}件）。末尾の記録の削除・差し替えの疑いがあります"
            ),
        }
    }
}

/// The result of a successful verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedChain {
    /// Number of entries checked.
    pub entries: i64,
    /// Hash of the last entry (the head to anchor outside the store).
    pub head: [u8; 32],
}

/// Incremental verifier: feed entries in seq order.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: [u8; 32],
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self { expected_seq: 1, prev_hash: GENESIS_HASH }
    }
}

impl ChainVerifier {
    /// Check the next entry.
    pub fn push(&mut self, entry: &AuditEntry) -> Result<(), ChainError> {
        if entry.seq != self.expected_seq {
            return Err(ChainError::SequenceGap { expected: self.expected_seq, found: entry.seq });
        }
        if entry.prev_hash != self.prev_hash {
            return Err(ChainError::BrokenLink { seq: entry.seq });
        }
        let recomputed = entry_hash(
            entry.seq,
            entry.at_us,
            &entry.station,
            &entry.actor,
            &entry.role,
            &entry.action,
            &entry.subject,
            &entry.detail,
            &entry.prev_hash,
        );
        if recomputed != entry.entry_hash {
            return Err(ChainError::AlteredEntry { seq: entry.seq });
        }
        self.expected_seq += 1;
        self.prev_hash = entry.entry_hash;
        Ok(())
    }

    /// The verified state so far.
    pub fn finish(&self) -> VerifiedChain {
        VerifiedChain { entries: self.expected_seq - 1, head: self.prev_hash }
    }
}

/// Verify a whole chain given in seq order.
pub fn verify_chain<'a>(entries: impl IntoIterator<Item = &'a AuditEntry>) -> Result<VerifiedChain, ChainError> {
    let mut verifier = ChainVerifier::default();
    for entry in entries {
        verifier.push(entry)?;
    }
    Ok(verifier.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_chain(n: i64) -> Vec<AuditEntry> {
        let mut entries: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let record = AuditRecord {
                at_us: 1_700_000_000_000_000 + i,
                station: "post-1".into(),
                actor: format!("op{}", i % 3),
                role: "operator".into(),
                action: AuditAction::ResidentRead,
                subject: format!("household:{i:010}"),
                detail: serde_json::json!({ "case": i }),
            };
            let (seq, prev) = entries.last().map_or((0, GENESIS_HASH), |e| (e.seq, e.entry_hash));
            entries.push(record.chain(seq, prev));
        }
        entries
    }

    #[test]
    fn an_intact_chain_verifies() {
        let chain = sample_chain(20);
        let verified = verify_chain(&chain).expect("intact");
        assert_eq!(verified.entries, 20);
        assert_eq!(verified.head, chain[19].entry_hash);
    }

    #[test]
    fn every_single_byte_change_of_every_text_field_is_detected() {
        let chain = sample_chain(8);
        for row in 0..chain.len() {
            for field in 0..6 {
                let text = |e: &AuditEntry| match field {
                    0 => e.station.clone(),
                    1 => e.actor.clone(),
                    2 => e.role.clone(),
                    3 => e.action.clone(),
                    4 => e.subject.clone(),
                    _ => e.detail.clone(),
                };
                for byte in 0..text(&chain[row]).len() {
                    let mut tampered = chain.clone();
                    let mut bytes = text(&tampered[row]).into_bytes();
                    bytes[byte] ^= 0x01;
                    let changed = String::from_utf8_lossy(&bytes).into_owned();
                    match field {
                        0 => tampered[row].station = changed,
                        1 => tampered[row].actor = changed,
                        2 => tampered[row].role = changed,
                        3 => tampered[row].action = changed,
                        4 => tampered[row].subject = changed,
                        _ => tampered[row].detail = changed,
                    }
                    let err = verify_chain(&tampered).expect_err("tampering must be detected");
                    assert_eq!(err.seq(), chain[row].seq);
                }
            }
        }
    }

    #[test]
    fn deletion_and_reordering_are_detected() {
        let chain = sample_chain(10);
        let mut deleted = chain.clone();
        deleted.remove(4);
        assert_eq!(verify_chain(&deleted), Err(ChainError::SequenceGap { expected: 5, found: 6 }));
        let mut reordered = chain.clone();
        reordered.swap(2, 3);
        assert!(verify_chain(&reordered).is_err());
        let mut relabelled = chain;
        relabelled.swap(2, 3);
        relabelled[2].seq = 3;
        relabelled[3].seq = 4;
        assert!(verify_chain(&relabelled).is_err());
    }
}
