//! `/v1/api-keys`: keys are shown once, stored as hashes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::domain::apikey::{ApiKey, CreateApiKey, CreatedApiKey, hash_key, new_key};
use crate::domain::ids::new_id;
use crate::domain::{Page, Timestamp};
use crate::http::AppState;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{AdminOnly, Auth, Id, JsonBody, Params};

/// Create an API key
///
/// The secret is shown in this answer only.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys",
    params(("Idempotency-Key" = Option<String>, Header)),
    request_body = CreateApiKey,
    responses((status = 201, description = "The key, shown this once", body = CreatedApiKey)))]
pub async fn create_api_key(
    State(state): State<AppState>,
    _auth: Auth<AdminOnly>,
    body: JsonBody<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    body.value.validate()?;
    let key = new_key();
    let api_key = ApiKey {
        id: new_id("key"),
        name: body.value.name,
        scopes: body.value.scopes,
        created_at: Timestamp::now(),
    };
    let generated_id = api_key.id.clone();
    let stored = state
        .store
        .create_api_key(api_key, hash_key(&key), body.idem)
        .await?;
    // A replay returns the stored key record; the secret itself was never stored.
    let key = if stored.id == generated_id {
        key
    } else {
        String::new()
    };
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            api_key: stored,
            key,
        }),
    ))
}

/// List API keys
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 1000), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "Keys (without secrets)", body = Page<ApiKey>)))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    _auth: Auth<AdminOnly>,
    params: Params,
) -> ApiResult<Json<Page<ApiKey>>> {
    Ok(Json(state.store.list_api_keys(params.page()?).await?))
}

/// Revoke an API key
#[utoipa::path(delete, path = "/v1/api-keys/{key_id}", tag = "api-keys",
    params(("key_id" = String, Path)),
    responses((status = 204, description = "Revoked"),
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
