//! The `ResidentSystem` port: every operation madoguchi needs from the ward's resident system, as one async trait,
//! so that the counter works the same against the embedded reference system, a vendor API or an HTTP bridge.

use async_trait::async_trait;

use crate::types::{
    Household, HouseholdId, MoveReceipt, MoveSubmission, Person, PersonId, PersonSummary, SealAbolition,
    SealApplication, SealRegistration, SearchQuery,
};

/// Why the resident system could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResidentSystemError {
    /// No such record.
    #[error("{what} {id} not found in the resident system")]
    NotFound {
        /// What kind of record ("person", "household", "seal registration").
        what: &'static str,
        /// The id that was asked for.
        id: String,
    },
    /// The entry breaks a rule of the resident system; nothing was changed.
    #[error("the resident system refused the entry: {reason}")]
    Rejected {
        /// English reason for logs.
        reason: String,
        /// Japanese reason for the UI.
        reason_ja: String,
    },
    /// The query itself is malformed (for example an empty search).
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The resident system cannot be reached or failed internally.
    #[error("the resident system is unavailable: {0}")]
    Unavailable(String),
    /// The resident system answered something that does not fit the contract.
    #[error("the resident system answered with data that does not fit the contract: {0}")]
    InvalidResponse(String),
}

impl ResidentSystemError {
    /// The message shown to the user.
    pub fn message_ja(&self) -> String {
        match self {
            ResidentSystemError::NotFound { what, id } => {
                let what_ja = match *what {
                    "person" => "住民",
                    "household" => "世帯",
                    "seal registration" => "印鑑登録",
                    _ => "記録",
                };
                format!("該当する{what_ja}（{id}）が住民記録システムにありません")
            }
            ResidentSystemError::Rejected { reason_ja, .. } => {
                format!("住民記録システムが受け付けませんでした：{reason_ja}")
            }
            ResidentSystemError::InvalidQuery(_) => "検索条件が正しくありません。条件を確認してください".to_string(),
            ResidentSystemError::Unavailable(_) => {
                "住民記録システムに接続できません。しばらく待ってから再度お試しください".to_string()
            }
            ResidentSystemError::InvalidResponse(_) => {
                "住民記録システムから想定外の応答がありました。システム管理者に連絡してください".to_string()
            }
        }
    }
}

/// The ward's resident system (住民記録システム), as madoguchi sees it.
#[async_trait]
pub trait ResidentSystem: Send + Sync {
    /// Search persons by name prefix (kana or kanji), birth date, address prefix or 住民票コード.
    async fn search(&self, query: &SearchQuery) -> Result<Vec<PersonSummary>, ResidentSystemError>;

    /// A household with all its members.
    async fn household(&self, id: HouseholdId) -> Result<Household, ResidentSystemError>;

    /// One person.
    async fn person(&self, id: PersonId) -> Result<Person, ResidentSystemError>;

    /// Apply a 異動 entry. Sending the same idempotency key again returns the first receipt and changes nothing.
    async fn submit_move(&self, submission: &MoveSubmission) -> Result<MoveReceipt, ResidentSystemError>;

    /// Register a seal (印鑑登録). Idempotent by key.
    async fn register_seal(&self, application: &SealApplication) -> Result<SealRegistration, ResidentSystemError>;

    /// Abolish a seal registration (廃止). Idempotent by key.
    async fn abolish_seal(&self, abolition: &SealAbolition) -> Result<SealRegistration, ResidentSystemError>;

    /// Look up a seal registration by its 登録番号 (read from the 印鑑登録証).
    async fn seal_by_number(&self, registration_number: &str) -> Result<SealRegistration, ResidentSystemError>;
}

/// A resident system that is not connected: every call answers [`ResidentSystemError::Unavailable`]. For the tools
/// that work on the counter's own store only (export, audit) and for a terminal whose adapter is not configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Disconnected;

impl Disconnected {
    fn error<T>(&self) -> Result<T, ResidentSystemError> {
        Err(ResidentSystemError::Unavailable("no resident system is connected".to_string()))
    }
}

#[async_trait]
impl ResidentSystem for Disconnected {
    async fn search(&self, _query: &SearchQuery) -> Result<Vec<PersonSummary>, ResidentSystemError> {
        self.error()
    }

    async fn household(&self, _id: HouseholdId) -> Result<Household, ResidentSystemError> {
        self.error()
    }

    async fn person(&self, _id: PersonId) -> Result<Person, ResidentSystemError> {
        self.error()
    }

    async fn submit_move(&self, _submission: &MoveSubmission) -> Result<MoveReceipt, ResidentSystemError> {
        self.error()
    }

    async fn register_seal(&self, _application: &SealApplication) -> Result<SealRegistration, ResidentSystemError> {
        self.error()
    }

    async fn abolish_seal(&self, _abolition: &SealAbolition) -> Result<SealRegistration, ResidentSystemError> {
        self.error()
    }

    async fn seal_by_number(&self, _registration_number: &str) -> Result<SealRegistration, ResidentSystemError> {
        self.error()
    }
}
