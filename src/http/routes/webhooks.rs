//! `/v1/webhooks`: endpoints that receive the change feed, signed (Standard Webhooks),
//! retried, with every attempt logged. Admin only.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use crate::domain::event::Event;
use crate::domain::ids::new_id;
use crate::domain::webhook::{
    self, AttemptStatus, CreateWebhook, CreatedWebhook, DeliveryAttempt, DeliveryBatch,
    PREVIOUS_SECRET_GRACE_SECONDS, Webhook,
};
use crate::domain::{Error, Page, PageRequest, Timestamp};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{AdminOnly, Auth, Id, JsonBody, NoFields, Params};

/// Subscribe a webhook endpoint
///
/// The signing secret is shown in this answer only.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks",
    params(("Idempotency-Key" = Option<String>, Header, description = "Replay protection")),
    request_body = CreateWebhook,
    responses((status = 201, description = "Subscribed; the secret is shown this once", body = CreatedWebhook),
        (status = 400, description = "invalid_request: e.g. `url` not http(s) or on a loopback/private network, unknown `event_types[i]`", body = ErrorBody)))]
pub async fn create_webhook(
    State(state): State<AppState>,
    _auth: Auth<AdminOnly>,
    body: JsonBody<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    body.value.validate(state.delivery.config.policy)?;
    let webhook = body.value.into_webhook(new_id("wh"), Timestamp::now());
    let secret = webhook::new_secret();
    let generated_id = webhook.id.clone();
    let stored = state
        .store
        .create_webhook(webhook, secret.clone(), body.idem)
        .await?;
    // A replay answers with the endpoint stored the first time, and its secret.
    let secret = if stored.id == generated_id {
        secret
    } else {
        state.store.get_webhook(&stored.id).await?.secret
    };
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            webhook: stored,
            secret,
        }),
    ))
}

/// List webhook endpoints
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 1000), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "Endpoints in creation order (without secrets)", body = Page<Webhook>)))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    _auth: Auth<AdminOnly>,
    params: Params,
) -> ApiResult<Json<Page<Webhook>>> {
    Ok(Json(state.store.list_webhooks(params.page()?).await?))
}

/// Get a webhook endpoint
#[utoipa::path(get, path = "/v1/webhooks/{webhook_id}", tag = "webhooks",
    params(("webhook_id" = String, Path)),
    responses((status = 200, description = "The endpoint (without its secret)", body = Webhook),
        (status = 404, description = "webhook_not_found", body = ErrorBody)))]
pub async fn get_webhook(
    State(state): State<AppState>,
    _auth: Auth<AdminOnly>,
    Id(id): Id,
) -> ApiResult<Json<Webhook>> {
    Ok(Json(state.store.get_webhook(&id).await?.webhook))
}

/// Unsubscribe a webhook endpoint
#[utoipa::path(delete, path = "/v1/webhooks/{webhook_id}", tag = "webhooks",
    params(("webhook_id" = String, Path)),
    responses((status = 204, description = "Unsubscribed; pending deliveries are dropped"),
        (status = 404, description = "webhook_not_found", body = ErrorBody)))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    _auth: Auth<AdminOnly>,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    state.store.delete_webhook(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a webhook's delivery attempts
#[utoipa::path(get, path = "/v1/webhooks/{webhook_id}/deliveries", tag = "webhooks",
    params(("webhook_id" = String, Path),
        ("event_id" = Option<String>, Query, description = "Only the attempts of this event"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "Delivery attempts, oldest first", body = Page<DeliveryAttempt>),
        (status = 404, description = "webhook_not_found", body = ErrorBody)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    _auth: Auth<AdminOnly>,
    Id(id): Id,
    params: Params,
) -> ApiResult<Json<Page<DeliveryAttempt>>> {
    let page: PageRequest = params.page()?;
    let event_id = params.filter("event_id")?;
    Ok(Json(
        state
            .store
            .list_deliveries(&id, event_id.as_deref(), page)
            .await?,
    ))
}

/// Send a test event
///
/// One `webhook.test` delivery, without retries, recorded in the delivery log.
#[utoipa::path(post, path = "/v1/webhooks/{webhook_id}/test", tag = "webhooks",
    params(("webhook_id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Replay protection")),
    responses((status = 200, description = "A `webhook.test` event was sent once (no retries); the attempt, also in the delivery log", body = DeliveryAttempt),
        (status = 404, description = "webhook_not_found", body = ErrorBody)))]
pub async fn test_webhook(
    State(state): State<AppState>,
    _auth: Auth<AdminOnly>,
    Id(id): Id,
    body: JsonBody<NoFields>,
) -> ApiResult<Json<DeliveryAttempt>> {
    let event = Event {
        id: new_id("evt"),
        event_type: webhook::WEBHOOK_TEST.to_string(),
        created_at: Timestamp::now(),
        actor: body.actor.clone(),
        data: json!({
            "webhook_id": id,
            "message": "a test delivery from coupon-book",
        }),
    };
    let registered = state
        .store
        .begin_webhook_test(&id, event.clone(), body.idem)
        .await?;
    if registered.id != event.id {
        // A replay: answer with the first call's attempt when it was logged.
        let logged = state
            .store
            .list_deliveries(&id, Some(&registered.id), PageRequest::first(1))
            .await?;
        if let Some(attempt) = logged.data.into_iter().next() {
            return Ok(Json(attempt));
        }
    }
    let event = registered;
    let endpoint = state.store.get_webhook(&id).await?;
    let outcome = crate::delivery::send_once(&state.delivery, &endpoint, &event)
        .await
        .map_err(|message| {
            ApiError(Error::unavailable(format!(
                "webhook delivery is not set up: {message}"
            )))
        })?;
    let status = if outcome.succeeded() {
        AttemptStatus::Succeeded
    } else {
        AttemptStatus::Failed
    };
    let attempt = crate::delivery::attempt_record(&id, &event, 1, &outcome, status, None);
    let batch = DeliveryBatch {
        attempts: vec![attempt.clone()],
        ..DeliveryBatch::default()
    };
    state.store.record_deliveries(&id, None, batch).await?;
    Ok(Json(attempt))
}

/// Rotate a webhook's secret
///
/// Deliveries carry signatures with both secrets for 24 hours.
#[utoipa::path(post, path = "/v1/webhooks/{webhook_id}/rotate-secret", tag = "webhooks",
    params(("webhook_id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Replay protection")),
    responses((status = 200, description = "The new secret, shown this once; deliveries carry signatures with both the new and the previous secret for 24 hours", body = CreatedWebhook),
        (status = 404, description = "webhook_not_found", body = ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    _auth: Auth<AdminOnly>,
    Id(id): Id,
    body: JsonBody<NoFields>,
) -> ApiResult<Json<CreatedWebhook>> {
    let previous_until = Timestamp::now().plus_seconds(PREVIOUS_SECRET_GRACE_SECONDS);
    state
        .store
        .rotate_webhook_secret(&id, webhook::new_secret(), previous_until, body.idem)
        .await?;
    let endpoint = state.store.get_webhook(&id).await?;
    Ok(Json(CreatedWebhook {
        webhook: endpoint.webhook,
        secret: endpoint.secret,
    }))
}
