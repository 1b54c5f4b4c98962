//! Operations endpoints (no auth): liveness, readiness, metrics.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use sha2::{Digest, Sha256};

use crate::domain::{Error, ErrorCode};
use crate::http::AppState;
use crate::http::caller::bearer_token;
use crate::http::error::{ApiError, ApiResult, ErrorBody};

/// Liveness probe
///
/// Answers while the process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "The process is up", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness probe
///
/// Answers once the store does.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses((status = 200, description = "The store answers", body = String),
        (status = 429, description = "rate_limited: too many requests from this address", body = ErrorBody),
        (status = 503, description = "store_unavailable", body = ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<&'static str> {
    state.store.ping().await?;
    Ok("ready")
}

/// Prometheus metrics
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    description = "Public unless `COUPON_BOOK_METRICS_TOKEN` is set; then it wants that token as a bearer token.",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 401, description = "unauthenticated: COUPON_BOOK_METRICS_TOKEN is set and the request does not carry it", body = ErrorBody),
        (status = 429, description = "rate_limited: too many requests from this address", body = ErrorBody)))]
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    if let Some(expected) = &state.metrics_token {
        let given = bearer_token(&headers).unwrap_or("");
        // Compared by digest, so the time taken says nothing of how much matched.
        if Sha256::digest(given.as_bytes()) != Sha256::digest(expected.as_bytes()) {
            return Err(ApiError(Error::new(
                ErrorCode::Unauthenticated,
                "/metrics wants the metrics token: Authorization: Bearer <COUPON_BOOK_METRICS_TOKEN>",
            )));
        }
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    ))
}
