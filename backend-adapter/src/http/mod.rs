//! The resident system over HTTP: the contract (`openapi.json`, committed beside this crate and served at
//! `/openapi.json`), the server that puts any [`ResidentSystem`](crate::ResidentSystem) behind it (`madoguchi
//! resident-system serve` serves the reference system this way), and the client a terminal uses to reach a resident
//! system that speaks it. Both sides share the wire form of errors defined here, so a refusal keeps its kind and its
//! Japanese reason across the network.

mod client;
mod server;

pub use client::{HttpClientConfig, HttpResidentSystem};
pub use server::{router, serve};

use serde::{Deserialize, Serialize};

use crate::ResidentSystemError;

/// The contract, as committed in `backend-adapter/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// Paths of the contract's operations, one place for the client and the server.
pub(crate) mod paths {
    pub const HEALTH: &str = "/v1/health";
    pub const SEARCH: &str = "/v1/persons/search";
    pub const PERSONS: &str = "/v1/persons";
    pub const HOUSEHOLDS: &str = "/v1/households";
    pub const MOVES: &str = "/v1/moves";
    pub const SEALS: &str = "/v1/seals";
    pub const SEAL_ABOLITIONS: &str = "/v1/seal-abolitions";
    pub const OPENAPI: &str = "/openapi.json";
}

/// The kind of a refusal on the wire (`Error.error` in the contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorKind {
    NotFound,
    Rejected,
    InvalidRequest,
    Unavailable,
    InvalidResponse,
}

/// An error answer (`Error` in the contract).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ErrorBody {
    pub error: ErrorKind,
    pub message: String,
    pub message_ja: String,
    #[serde(default)]
    pub what: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
}

impl ErrorBody {
    /// The wire form of an error of the resident system behind the server.
    pub(crate) fn from_error(error: &ResidentSystemError) -> Self {
        let (kind, what, id, message_ja) = match error {
            ResidentSystemError::NotFound { what, id } => {
                (ErrorKind::NotFound, Some((*what).to_string()), Some(id.clone()), error.message_ja())
            }
            // The reason itself, not the UI's framing of it: the client frames it again.
            ResidentSystemError::Rejected { reason_ja, .. } => (ErrorKind::Rejected, None, None, reason_ja.clone()),
            ResidentSystemError::InvalidQuery(_) => (ErrorKind::InvalidRequest, None, None, error.message_ja()),
            ResidentSystemError::Unavailable(_) => (ErrorKind::Unavailable, None, None, error.message_ja()),
            ResidentSystemError::InvalidResponse(_) => (ErrorKind::InvalidResponse, None, None, error.message_ja()),
        };
        let message = match error {
            ResidentSystemError::Rejected { reason, .. } => reason.clone(),
            ResidentSystemError::InvalidQuery(detail)
            | ResidentSystemError::Unavailable(detail)
            | ResidentSystemError::InvalidResponse(detail) => detail.clone(),
            ResidentSystemError::NotFound { .. } => error.to_string(),
        };
        ErrorBody { error: kind, message, message_ja, what, id }
    }

    /// The error this answer stands for, on the client's side; `None` when the answer breaks the contract (an
    /// unknown record kind).
    pub(crate) fn into_error(self) -> Option<ResidentSystemError> {
        Some(match self.error {
            ErrorKind::NotFound => {
                let what = match self.what.as_deref() {
                    Some("person") => "person",
                    Some("household") => "household",
                    Some("seal registration") => "seal registration",
                    _ => return None,
                };
                ResidentSystemError::NotFound { what, id: self.id.unwrap_or_default() }
            }
            ErrorKind::Rejected => ResidentSystemError::Rejected { reason: self.message, reason_ja: self.message_ja },
            ErrorKind::InvalidRequest => ResidentSystemError::InvalidQuery(self.message),
            ErrorKind::Unavailable => ResidentSystemError::Unavailable(self.message),
            ErrorKind::InvalidResponse => ResidentSystemError::InvalidResponse(self.message),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_keeps_its_kind_and_japanese_reason_across_the_wire() {
        let errors = [
            ResidentSystemError::NotFound { what: "household", id: "0000000042".into() },
            ResidentSystemError::Rejected {
                reason: "not a member".into(), reason_ja: "世帯員ではありません".into()
            },
            ResidentSystemError::InvalidQuery("empty search".into()),
            ResidentSystemError::Unavailable("storage".into()),
            ResidentSystemError::InvalidResponse("bad row".into()),
        ];
        for error in errors {
            let wire = serde_json::to_string(&ErrorBody::from_error(&error)).expect("serializes");
            let back: ErrorBody = serde_json::from_str(&wire).expect("parses");
            let back = back.into_error().expect("a known kind");
            assert_eq!(back.to_string(), error.to_string(), "{wire}");
            assert_eq!(back.message_ja(), error.message_ja(), "{wire}");
        }
    }

    #[test]
    fn the_committed_contract_names_every_path_the_client_and_server_use() {
        let contract: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON");
        let documented = contract["paths"].as_object().expect("paths");
        for path in [
            paths::HEALTH.to_string(),
            paths::SEARCH.to_string(),
            format!("{}/{{id}}", paths::PERSONS),
            format!("{}/{{id}}", paths::HOUSEHOLDS),
            paths::MOVES.to_string(),
            paths::SEALS.to_string(),
            format!("{}/{{registration_number}}", paths::SEALS),
            paths::SEAL_ABOLITIONS.to_string(),
        ] {
            assert!(documented.contains_key(&path), "{path} is not in openapi.json");
        }
        assert_eq!(documented.len(), 8, "openapi.json documents a path the server does not serve");
    }
}
