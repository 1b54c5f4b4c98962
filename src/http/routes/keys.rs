//! `/v1/api-keys`: keys are shown once, stored as hashes. A key limited to books may
//! use none of these routes (403), so it can never make itself a wider key.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::app::keys::create_key;
use crate::domain::Page;
use crate::domain::apikey::{ApiKey, CreateApiKey, CreatedApiKey, UpdateApiKey};
use crate::http::AppState;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{AdminOnly, Auth, Id, JsonBody, Params};

/// Create an API key
///
/// The secret is shown in this answer only. `book_ids` limits the key to those books
/// (it then sees and changes nothing else: 404 as if absent, lists filtered);
/// `expires_at` ends it.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys",
    params(("Idempotency-Key" = Option<String>, Header)),
    request_body = CreateApiKey,
    responses((status = 201, description = "The key, shown this once", body = CreatedApiKey),
        (status = 400, description = "invalid_request: a bad name or scope, an empty `book_ids`, a book id that names no book (field `book_ids[i]`), or an `expires_at` not in the future", body = ErrorBody),
        (status = 403, description = "forbidden: not admin, or a key limited to books", body = ErrorBody)))]
pub async fn create_api_key(
    State(state): State<AppState>,
    _auth: Auth<AdminOnly>,
    body: JsonBody<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let made = create_key(&state.store, body.value, body.idem).await?;
    // A replay returns the stored key record; the secret itself was never stored.
    let key = if made.created {
        made.secret
    } else {
        String::new()
    };
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            api_key: made.api_key,
            key,
        }),
    ))
}

/// List API keys
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 1000), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "Keys (without secrets)", body = Page<ApiKey>),
        (status = 403, description = "forbidden: not admin, or a key limited to books", body = ErrorBody)))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    _auth: Auth<AdminOnly>,
    params: Params,
) -> ApiResult<Json<Page<ApiKey>>> {
    Ok(Json(state.store.list_api_keys(params.page()?).await?))
}

/// Rename, disable or enable an API key
///
/// A disabled key is refused (401) at once on this server process and within
/// 5 seconds on every other.
#[utoipa::path(patch, path = "/v1/api-keys/{key_id}", tag = "api-keys",
    params(("key_id" = String, Path)),
    request_body = UpdateApiKey,
    responses((status = 200, description = "The key (without its secret)", body = ApiKey),
        (status = 403, description = "forbidden: not admin, or a key limited to books", body = ErrorBody),
        (status = 404, description = "api_key_not_found", body = ErrorBody)))]
pub async fn update_api_key(
    State(state): State<AppState>,
    _auth: Auth<AdminOnly>,
    Id(key_id): Id,
    body: JsonBody<UpdateApiKey>,
) -> ApiResult<Json<ApiKey>> {
    body.value.validate()?;
    let key = state.store.update_api_key(&key_id, body.value).await?;
    state.auth.forget_keys();
    Ok(Json(key))
}

/// Revoke an API key
#[utoipa::path(delete, path = "/v1/api-keys/{key_id}", tag = "api-keys",
    params(("key_id" = String, Path)),
    responses((status = 204, description = "Revoked"),
        (status = 403, description = "forbidden: not admin, or a key limited to books", body = ErrorBody),
        (status = 404, description = "api_key_not_found", body = ErrorBody)))]
pub async fn delete_api_key(
    State(state): State<AppState>,
    _auth: Auth<AdminOnly>,
    Id(key_id): Id,
) -> ApiResult<StatusCode> {
    state.store.delete_api_key(&key_id).await?;
    state.auth.forget_keys();
    Ok(StatusCode::NO_CONTENT)
}
