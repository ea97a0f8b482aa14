//! The contract's server side: any resident system behind the committed OpenAPI contract. Every answer, the
//! refusals of malformed requests included, is JSON of the contract's shape, so a client (or the API fuzzer in CI)
//! can tell a refusal from a failure.

use std::future::Future;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use super::{ErrorBody, ErrorKind, OPENAPI_JSON, paths};
use crate::types::{HouseholdId, MoveSubmission, PersonId, SealAbolition, SealApplication, SearchQuery};
use crate::{ResidentSystem, ResidentSystemError};

type Shared = Arc<dyn ResidentSystem>;

/// The contract's routes over `system`.
pub fn router(system: Arc<dyn ResidentSystem>) -> Router {
    Router::new()
        .route(paths::HEALTH, get(health))
        .route(paths::SEARCH, post(search))
        .route(&format!("{}/{{id}}", paths::PERSONS), get(person))
        .route(&format!("{}/{{id}}", paths::HOUSEHOLDS), get(household))
        .route(paths::MOVES, post(submit_move))
        .route(paths::SEALS, post(register_seal))
        .route(&format!("{}/{{registration_number}}", paths::SEALS), get(seal))
        .route(paths::SEAL_ABOLITIONS, post(abolish_seal))
        .route(paths::OPENAPI, get(openapi))
        .fallback(unknown_path)
        .with_state(system)
}

/// Serve the contract over `system` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    system: Arc<dyn ResidentSystem>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(system)).with_graceful_shutdown(shutdown).await
}

/// A refusal or failure as the contract's `Error` with its status.
fn error_response(error: &ResidentSystemError) -> Response {
    let status = match error {
        ResidentSystemError::NotFound { .. } => StatusCode::NOT_FOUND,
        // A request that fits the schema but not the resident system's rules (an empty search, a person under 15,
        // a 転居 without persons): well-formed, so 422 like any other refusal; 400 is for what breaks the schema.
        ResidentSystemError::Rejected { .. } | ResidentSystemError::InvalidQuery(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ResidentSystemError::Unavailable(_) | ResidentSystemError::InvalidResponse(_) => {
            tracing::warn!(%error, "the resident system behind the HTTP contract failed");
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    (status, Json(ErrorBody::from_error(error))).into_response()
}

fn invalid_request(status: StatusCode, message: String) -> Response {
    tracing::debug!(%status, %message, "refused a request that does not fit the contract");
    let body = ErrorBody {
        error: ErrorKind::InvalidRequest,
        message,
        message_ja: "要求が連携仕様に合っていません。送信内容を確認してください".to_string(),
        what: None,
        id: None,
    };
    (status, Json(body)).into_response()
}

fn body_refused(rejection: &JsonRejection) -> Response {
    let status = match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::BAD_REQUEST,
    };
    invalid_request(status, format!("request body: {}", rejection.body_text()))
}

fn path_refused(rejection: &PathRejection) -> Response {
    invalid_request(StatusCode::BAD_REQUEST, format!("path: {}", rejection.body_text()))
}

fn answer<T: Serialize>(result: Result<T, ResidentSystemError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => error_response(&error),
    }
}

async fn health(State(system): State<Shared>) -> Response {
    // A lookup that cannot hit: "not found" proves the resident system answers.
    match system.person(PersonId(0)).await {
        Ok(_) | Err(ResidentSystemError::NotFound { .. }) => {
            Json(serde_json::json!({ "status": "ok" })).into_response()
        }
        Err(error) => error_response(&error),
    }
}

async fn search(State(system): State<Shared>, query: Result<Json<SearchQuery>, JsonRejection>) -> Response {
    match query {
        Ok(Json(query)) => answer(system.search(&query).await),
        Err(rejection) => body_refused(&rejection),
    }
}

async fn person(State(system): State<Shared>, id: Result<Path<i64>, PathRejection>) -> Response {
    match id {
        Ok(Path(id)) => answer(system.person(PersonId(id)).await),
        Err(rejection) => path_refused(&rejection),
    }
}

async fn household(State(system): State<Shared>, id: Result<Path<i64>, PathRejection>) -> Response {
    match id {
        Ok(Path(id)) => answer(system.household(HouseholdId(id)).await),
        Err(rejection) => path_refused(&rejection),
    }
}

async fn submit_move(State(system): State<Shared>, body: Result<Json<MoveSubmission>, JsonRejection>) -> Response {
    match body {
        Ok(Json(submission)) => answer(system.submit_move(&submission).await),
        Err(rejection) => body_refused(&rejection),
    }
}

async fn register_seal(State(system): State<Shared>, body: Result<Json<SealApplication>, JsonRejection>) -> Response {
    match body {
        Ok(Json(application)) => answer(system.register_seal(&application).await),
        Err(rejection) => body_refused(&rejection),
    }
}

async fn abolish_seal(State(system): State<Shared>, body: Result<Json<SealAbolition>, JsonRejection>) -> Response {
    match body {
        Ok(Json(abolition)) => answer(system.abolish_seal(&abolition).await),
        Err(rejection) => body_refused(&rejection),
    }
}

async fn seal(State(system): State<Shared>, number: Result<Path<String>, PathRejection>) -> Response {
    match number {
        Ok(Path(number)) => answer(system.seal_by_number(&number).await),
        Err(rejection) => path_refused(&rejection),
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

async fn unknown_path() -> Response {
    let body = ErrorBody {
        error: ErrorKind::NotFound,
        message: "no such operation in the resident system contract".to_string(),
        message_ja: "連携仕様にない操作です".to_string(),
        what: None,
        id: None,
    };
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}
