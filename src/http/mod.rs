//! The HTTP API: the router (here), one file per resource under `routes/`, what runs
//! around the handlers under `middleware/`, the callers' types (`caller`), the
//! extractors, the error answer and the OpenAPI document.

pub mod caller;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod routes;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::PrometheusHandle;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::app::spool::Spool;
use crate::delivery::Delivery;
use crate::domain::{Error, ErrorCode};
use crate::store::DynStore;
use error::{ApiError, not_found_route};
use middleware::auth::Authenticator;
use routes::{
    books, bulk, checkout, codes, console, coupons, events, keys, ops, redemptions, seed, webhooks,
};

/// Default of `COUPON_BOOK_END_USER_MAX_LOCK_TTL_SECONDS`.
pub const DEFAULT_END_USER_MAX_LOCK_TTL_SECONDS: u32 = 900;

#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    pub auth: Arc<Authenticator>,
    pub metrics: PrometheusHandle,
    /// Where uploads are spooled before their job runs, with the upload limits.
    pub spool: Arc<Spool>,
    /// Whether large jobs may run on after their request was answered. Not in AWS
    /// Lambda, which freezes the process between requests: there jobs must fit in
    /// their request, and larger ones are refused (413).
    pub background_jobs: bool,
    /// Webhook settings and sender (URL policy, test sends).
    pub delivery: Arc<Delivery>,
    /// The longest lock an end-user token may take or extend, in seconds.
    pub end_user_max_lock_ttl_seconds: u32,
    /// When set, `/metrics` wants `Authorization: Bearer <this>`.
    pub metrics_token: Option<Arc<str>>,
}

impl AppState {
    pub fn new(
        store: DynStore,
        metrics: PrometheusHandle,
        spool: Arc<Spool>,
        delivery: Arc<Delivery>,
    ) -> Self {
        AppState {
            delivery,
            auth: Arc::new(Authenticator::new(store.clone())),
            store,
            metrics,
            spool,
            background_jobs: true,
            end_user_max_lock_ttl_seconds: DEFAULT_END_USER_MAX_LOCK_TTL_SECONDS,
            metrics_token: None,
        }
    }
}

/// Every route of the API with its OpenAPI description.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(books::create_book, books::list_books))
        .routes(routes!(
            books::get_book,
            books::update_book,
            books::delete_book
        ))
        .routes(routes!(books::book_stats))
        .routes(routes!(codes::add_codes, codes::list_codes))
        .routes(routes!(codes::get_job))
        .routes(routes!(codes::generate))
        .routes(routes!(codes::upload))
        .routes(routes!(codes::export))
        .routes(routes!(bulk::assign_bulk))
        .routes(routes!(bulk::void_codes))
        .routes(routes!(bulk::delete_codes))
        .routes(routes!(bulk::job_results))
        .routes(routes!(coupons::assign_next))
        .routes(routes!(coupons::get_coupon, coupons::update_coupon))
        .routes(routes!(coupons::assign))
        .routes(routes!(coupons::unassign))
        .routes(routes!(coupons::validate))
        .routes(routes!(coupons::lock))
        .routes(routes!(coupons::unlock))
        .routes(routes!(coupons::redeem))
        .routes(routes!(coupons::void))
        .routes(routes!(checkout::validate_order_codes))
        .routes(routes!(redemptions::reverse))
        .routes(routes!(redemptions::get_redemption))
        .routes(routes!(
            redemptions::list_redemptions,
            checkout::redeem_order_codes
        ))
        .routes(routes!(redemptions::export_redemptions))
        .routes(routes!(redemptions::user_coupons))
        .routes(routes!(redemptions::user_redemptions))
        .routes(routes!(events::list_events))
        .routes(routes!(keys::create_api_key, keys::list_api_keys))
        .routes(routes!(keys::update_api_key, keys::delete_api_key))
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(webhooks::get_webhook, webhooks::delete_webhook))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::test_webhook))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(webhooks::enable_webhook))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(seed::create_book))
        .routes(routes!(seed::add_codes))
        .routes(routes!(seed::assign_next))
        .routes(routes!(seed::assign))
        .routes(routes!(seed::lock))
        .routes(routes!(seed::unlock))
        .routes(routes!(seed::redeem))
        .routes(routes!(seed::user_coupons))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
}

/// The whole application: API routes, `/openapi.json`, `/docs`, metrics and fallbacks.
pub fn app(state: AppState) -> Router {
    let (router, mut openapi) = api_routes().split_for_parts();
    openapi::add_common_answers(&mut openapi);
    router
        .route_layer(axum::middleware::from_fn(track_requests))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .merge(console::routes())
        .fallback(|| async { not_found_route() })
        .method_not_allowed_fallback(|| async {
            ApiError(Error::new(
                ErrorCode::MethodNotAllowed,
                "this route does not take that method",
            ))
        })
        .with_state(state)
}

/// Request count and latency by route and status.
async fn track_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_str().to_owned()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Test helper: one request through a router, its status, headers and body.
#[cfg(test)]
pub(crate) async fn send_to(
    router: Router,
    request: axum::http::Request<axum::body::Body>,
) -> (u16, axum::http::HeaderMap, Vec<u8>) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    (status, headers, body)
}
