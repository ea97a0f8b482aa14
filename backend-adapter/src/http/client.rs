//! The contract's client side: a resident system reached over HTTP. Nothing the network or the server does may
//! reach the counter as anything but a [`ResidentSystemError`]: a refused connection, a timeout or a slow drip
//! becomes `Unavailable` (the outbox tries again later), an answer that does not fit the contract — wrong schema,
//! wrong record, oversized, not JSON — becomes `InvalidResponse`. The client never retries by itself: writes carry
//! idempotency keys and the caller decides when to send again.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ErrorBody, paths};
use crate::types::{
    Household, HouseholdId, MoveReceipt, MoveSubmission, Person, PersonId, PersonSummary, SealAbolition,
    SealApplication, SealRegistration, SearchQuery,
};
use crate::{ResidentSystem, ResidentSystemError};

/// Where the resident system is and how long to wait for it.
#[derive(Debug, Clone)]
pub struct HttpClientConfig {
    /// Base URL (`http://host:port`, optionally with a path prefix).
    pub base_url: Url,
    /// How long a connection may take.
    pub connect_timeout: Duration,
    /// How long one whole call may take, the body included (a slow drip ends here).
    pub request_timeout: Duration,
    /// The largest answer accepted.
    pub max_response_bytes: usize,
}

impl HttpClientConfig {
    /// Defaults for a counter: 3 s to connect, 10 s a call, answers up to 16 MiB.
    pub fn new(base_url: &str) -> Result<Self, ResidentSystemError> {
        let invalid =
            |why: String| ResidentSystemError::InvalidQuery(format!("resident system URL {base_url:?}: {why}"));
        let url = Url::parse(base_url).map_err(|e| invalid(e.to_string()))?;
        if url.scheme() != "http" {
            return Err(invalid(format!(
                "scheme {:?} is not supported (http only; put a TLS-terminating proxy in front)",
                url.scheme()
            )));
        }
        if url.host_str().is_none() || url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a base URL is http://host[:port][/prefix] without query or fragment".to_string()));
        }
        Ok(HttpClientConfig {
            base_url: url,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 16 * 1024 * 1024,
        })
    }
}

/// A resident system that speaks the committed HTTP contract.
#[derive(Debug, Clone)]
pub struct HttpResidentSystem {
    client: reqwest::Client,
    config: HttpClientConfig,
}

impl HttpResidentSystem {
    /// A client for `config` (no connection is made until the first call).
    pub fn new(config: HttpClientConfig) -> Result<Self, ResidentSystemError> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| ResidentSystemError::Unavailable(format!("cannot set up the HTTP client: {e}")))?;
        Ok(HttpResidentSystem { client, config })
    }

    /// The base URL this client calls.
    pub fn base_url(&self) -> &Url {
        &self.config.base_url
    }

    /// Whether the resident system answers its health check.
    pub async fn health(&self) -> Result<(), ResidentSystemError> {
        let _: serde_json::Value = self.call(Method::GET, paths::HEALTH, None, None::<&()>).await?;
        Ok(())
    }

    /// The URL of the contract's `path` under the base, with `value` (an id, a 登録番号) as one more
    /// percent-encoded segment.
    fn url(&self, path: &str, value: Option<&str>) -> Result<Url, ResidentSystemError> {
        let mut url = self.config.base_url.clone();
        {
            let mut segments = url.path_segments_mut().map_err(|()| {
                ResidentSystemError::InvalidQuery(format!("{} cannot be a base URL", self.config.base_url))
            })?;
            segments.pop_if_empty();
            segments.extend(path.trim_start_matches('/').split('/'));
            if let Some(value) = value {
                segments.push(value);
            }
        }
        Ok(url)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        value: Option<&str>,
        body: Option<&impl Serialize>,
    ) -> Result<T, ResidentSystemError> {
        let url = self.url(path, value)?;
        let mut request = self.client.request(method.clone(), url.clone());
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body)
                .map_err(|e| ResidentSystemError::InvalidQuery(format!("cannot encode the request: {e}")))?;
            request = request.header(CONTENT_TYPE, "application/json").body(bytes);
        }
        let unreachable = |e: reqwest::Error| {
            if e.is_timeout() {
                ResidentSystemError::Unavailable(format!(
                    "{method} {url} did not complete within {:?}",
                    self.config.request_timeout
                ))
            } else {
                ResidentSystemError::Unavailable(format!("{method} {url}: {e}"))
            }
        };
        let mut response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.trim_start().to_ascii_lowercase().starts_with("application/json"));
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if bytes.len() + chunk.len() > self.config.max_response_bytes {
                return Err(ResidentSystemError::InvalidResponse(format!(
                    "{method} {url}: the answer is larger than {} bytes",
                    self.config.max_response_bytes
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let invalid = |why: String| ResidentSystemError::InvalidResponse(format!("{method} {url}: {why}"));
        if status == StatusCode::OK {
            if !is_json {
                return Err(invalid("the answer is not application/json".to_string()));
            }
            return serde_json::from_slice(&bytes)
                .map_err(|e| invalid(format!("the answer does not fit the contract: {e}")));
        }
        let error_body = if is_json { serde_json::from_slice::<ErrorBody>(&bytes).ok() } else { None };
        if status.is_server_error() {
            let detail = match error_body {
                Some(body) => body.message,
                None => String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
            };
            return Err(ResidentSystemError::Unavailable(format!("{method} {url}: HTTP {status}: {detail}")));
        }
        if matches!(status, StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY) {
            if let Some(error) = error_body.and_then(ErrorBody::into_error) {
                return Err(error);
            }
            return Err(invalid(format!("HTTP {status} without the contract's error body")));
        }
        Err(invalid(format!("HTTP {status} is not an answer of the contract")))
    }
}

/// An answer about another record than the one asked for is garbage, not data.
fn check_same<T: PartialEq + std::fmt::Display>(what: &str, asked: T, answered: T) -> Result<(), ResidentSystemError> {
    if asked == answered {
        Ok(())
    } else {
        Err(ResidentSystemError::InvalidResponse(format!("asked for {what} {asked}, the answer is about {answered}")))
    }
}

#[async_trait]
impl ResidentSystem for HttpResidentSystem {
    async fn search(&self, query: &SearchQuery) -> Result<Vec<PersonSummary>, ResidentSystemError> {
        let hits: Vec<PersonSummary> = self.call(Method::POST, paths::SEARCH, None, Some(query)).await?;
        let limit = if query.limit == 0 { 50 } else { query.limit };
        if hits.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
            return Err(ResidentSystemError::InvalidResponse(format!(
                "the search answered {} hits for a limit of {limit}",
                hits.len()
            )));
        }
        Ok(hits)
    }

    async fn household(&self, id: HouseholdId) -> Result<Household, ResidentSystemError> {
        let household: Household =
            self.call(Method::GET, paths::HOUSEHOLDS, Some(&id.0.to_string()), None::<&()>).await?;
        check_same("household", id, household.id)?;
        if let Some(stranger) = household.members.iter().find(|member| member.household_id != id) {
            return Err(ResidentSystemError::InvalidResponse(format!(
                "household {id} lists person {} of household {}",
                stranger.id, stranger.household_id
            )));
        }
        Ok(household)
    }

    async fn person(&self, id: PersonId) -> Result<Person, ResidentSystemError> {
        let person: Person = self.call(Method::GET, paths::PERSONS, Some(&id.0.to_string()), None::<&()>).await?;
        check_same("person", id, person.id)?;
        Ok(person)
    }

    async fn submit_move(&self, submission: &MoveSubmission) -> Result<MoveReceipt, ResidentSystemError> {
        let receipt: MoveReceipt = self.call(Method::POST, paths::MOVES, None, Some(submission)).await?;
        check_same("the 異動 entry with key", submission.idempotency_key.as_str(), receipt.idempotency_key.as_str())?;
        Ok(receipt)
    }

    async fn register_seal(&self, application: &SealApplication) -> Result<SealRegistration, ResidentSystemError> {
        let registration: SealRegistration = self.call(Method::POST, paths::SEALS, None, Some(application)).await?;
        check_same("a seal of person", application.person_id, registration.person_id)?;
        Ok(registration)
    }

    async fn abolish_seal(&self, abolition: &SealAbolition) -> Result<SealRegistration, ResidentSystemError> {
        let registration: SealRegistration =
            self.call(Method::POST, paths::SEAL_ABOLITIONS, None, Some(abolition)).await?;
        check_same(
            "seal registration",
            abolition.registration_number.as_str(),
            registration.registration_number.as_str(),
        )?;
        Ok(registration)
    }

    async fn seal_by_number(&self, registration_number: &str) -> Result<SealRegistration, ResidentSystemError> {
        let registration: SealRegistration =
            self.call(Method::GET, paths::SEALS, Some(registration_number), None::<&()>).await?;
        check_same("seal registration", registration_number, registration.registration_number.as_str())?;
        Ok(registration)
    }
}
