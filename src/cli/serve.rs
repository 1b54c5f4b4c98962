//! `coupon-book serve`: opens the store, builds the app, serves until SIGTERM/SIGINT.
//! `build_app` is shared with the Lambda API function.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use super::{CliError, CliResult};
use crate::app::spool::{Spool, SpoolLimits};
use crate::config::{ApiArgs, ServeArgs};
use crate::delivery::Delivery;
use crate::domain::apikey::{BOOTSTRAP_KEY_ID, bootstrap_key, hash_key, is_bootstrap};
use crate::domain::{ErrorCode, MAX_PAGE_LIMIT, PageRequest, Result, Timestamp};
use crate::http::middleware::auth::{
    Authenticator, JwtSettings, JwtVerifier, KEY_USE_FLUSH_INTERVAL,
};
use crate::http::middleware::hardening::{harden, serve as serve_http};
use crate::http::middleware::ratelimit::{Guard, Limits};
use crate::http::{AppState, app};
use crate::store::DynStore;

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The process-wide Prometheus recorder (installed once).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Makes the stored bootstrap key follow `COUPON_BOOK_BOOTSTRAP_ADMIN_KEY`: the key
/// given is stored (hashed) under the bootstrap id, and a bootstrap key stored with
/// another value, or when the setting is unset, is revoked. Keys made with the API or
/// the CLI are never touched.
pub async fn sync_bootstrap_key(store: &DynStore, secret: Option<&str>) -> Result<()> {
    let wanted = match secret {
        Some(secret) => Some((bootstrap_key(secret, Timestamp::now())?, hash_key(secret))),
        None => None,
    };
    let current = match &wanted {
        Some((_, hash)) => store.find_api_key(hash).await?,
        None => None,
    };
    let mut page = PageRequest::first(MAX_PAGE_LIMIT);
    loop {
        let keys = store.list_api_keys(page).await?;
        for key in keys.data.iter().filter(|key| is_bootstrap(key)) {
            let in_place =
                current.as_ref().is_some_and(|c| c.id == key.id) && key.id == BOOTSTRAP_KEY_ID;
            if !in_place {
                match store.delete_api_key(&key.id).await {
                    Ok(()) => {
                        tracing::info!(key_id = %key.id, "revoked the earlier bootstrap admin key")
                    }
                    Err(err) if err.code == ErrorCode::ApiKeyNotFound => {}
                    Err(err) => return Err(err),
                }
            }
        }
        match keys.next_cursor {
            Some(cursor) => page = PageRequest::parse(None, Some(&cursor))?,
            None => break,
        }
    }
    if let Some((api_key, hash)) = wanted {
        store.ensure_api_key(api_key, hash).await?;
    }
    Ok(())
}

/// The upload spool these settings name (made private, or refused when unsafe), with
/// the upload limits. `in_lambda`: the function's `/tmp` is the only writable place.
pub fn open_spool(args: &ApiArgs, in_lambda: bool) -> CliResult<Arc<Spool>> {
    let uploads = &args.uploads;
    let dir = uploads
        .spool_dir_for(&args.store.store, in_lambda)
        .map_err(CliError)?;
    let limits = SpoolLimits {
        max_upload_bytes: uploads.max_upload_bytes,
        max_concurrent_uploads: uploads.max_concurrent_uploads,
        max_spool_bytes: uploads.max_spool_bytes,
        upload_timeout: uploads.upload_timeout_seconds,
    };
    Spool::open(&dir, limits).map_err(CliError)
}

/// The whole HTTP application for these settings: the API router with auth, rate
/// limits and hardening, on an open store. `serve` and the Lambda entry both use it;
/// `background_jobs` says whether large jobs may run on after their answer.
pub async fn build_app(
    args: &ApiArgs,
    store: &DynStore,
    metrics: PrometheusHandle,
    background_jobs: bool,
    delivery: Arc<Delivery>,
    spool: Arc<Spool>,
) -> CliResult<Router> {
    let bootstrap = args
        .bootstrap_admin_key
        .as_deref()
        .filter(|k| !k.is_empty());
    sync_bootstrap_key(store, bootstrap).await?;
    let jwt = JwtSettings {
        hs256_secret: args.jwt_hs256_secret.clone().filter(|s| !s.is_empty()),
        public_key_pem: None,
        issuer: args.jwt_issuer.clone().filter(|s| !s.is_empty()),
        audience: args.jwt_audience.clone().filter(|s| !s.is_empty()),
        end_user_rule: args.jwt_end_user_rule.clone(),
        max_lifetime_seconds: (args.jwt_max_lifetime_seconds > 0)
            .then_some(args.jwt_max_lifetime_seconds),
    }
    .with_public_key_file(args.jwt_public_key_file.as_deref())
    .and_then(|settings| JwtVerifier::new(&settings))
    .map_err(CliError)?;
    let mut state = AppState::new(store.clone(), metrics, spool, delivery);
    state.background_jobs = background_jobs;
    state.end_user_max_lock_ttl_seconds = args.end_user_max_lock_ttl_seconds;
    state.metrics_token = args
        .metrics_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(Arc::from);
    state.auth = Arc::new(Authenticator::with_jwt(store.clone(), jwt));
    // Keys' last use is written here, off the request path, at most once a minute each.
    let auth = state.auth.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(KEY_USE_FLUSH_INTERVAL).await;
            if let Err(err) = auth.flush_key_uses().await {
                tracing::warn!(error = %err, "could not record API key uses");
            }
        }
    });
    let limits = Limits {
        per_second: args.rate_limit_per_second,
        burst: args.rate_limit_burst,
        unknown_codes_per_minute: args.unknown_code_limit_per_minute,
        unknown_codes_burst: args.unknown_code_burst,
        address_lookups_per_second: args.address_lookup_limit_per_second,
        address_lookups_burst: args.address_lookup_burst,
    };
    let guard = Guard::new(state.auth.clone(), limits);
    let mut router = app(state);
    if let Some(guard) = guard {
        let idle = guard.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                idle.forget_idle();
            }
        });
        router = router.layer(axum::middleware::from_fn_with_state(
            guard,
            crate::http::middleware::ratelimit::guard,
        ));
    }
    Ok(harden(
        router,
        Duration::from_secs(args.request_timeout_seconds.max(1)),
    ))
}

pub async fn serve(args: ServeArgs) -> CliResult {
    let spool = open_spool(&args.api, false)?;
    let store = args.api.store.open().await?;
    let metrics = metrics_handle();
    let delivery = Delivery::new(args.api.webhooks.delivery_config()).map_err(CliError)?;
    let router = build_app(
        &args.api,
        &store,
        metrics.clone(),
        true,
        delivery.clone(),
        spool.clone(),
    )
    .await?;
    crate::app::jobs::resume_unfinished(store.clone(), &spool).await?;
    let delivery = crate::delivery::start(store.clone(), delivery);
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError(format!("cannot listen on {}: {e}", args.listen)))?;
    let local = listener.local_addr().map_err(|e| CliError(e.to_string()))?;
    tracing::info!(addr = %local, store = %args.api.store.store, "coupon-book listening");
    println!("listening on {local}");

    let background = tokio::spawn(housekeeping(store.clone(), metrics));
    serve_http(listener, router, shutdown_signal())
        .await
        .map_err(|e| CliError(e.to_string()))?;
    background.abort();
    delivery.abort();
    tracing::info!("coupon-book stopped");
    Ok(())
}

/// Idempotency records deleted per write while sweeping: one short transaction each.
const IDEMPOTENCY_SWEEP_BATCH: u32 = 1000;
/// Seconds between sweeps of expired idempotency records.
const IDEMPOTENCY_SWEEP_EVERY: u64 = 60;

/// Periodic work that correctness never depends on: announcing expired locks,
/// deleting expired idempotency records and draining metric histograms.
async fn housekeeping(store: DynStore, metrics: PrometheusHandle) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut ticks = 0u64;
    loop {
        tick.tick().await;
        if let Err(err) = store.expire_locks().await {
            tracing::warn!(error = %err, "expiring locks failed");
        }
        if ticks.is_multiple_of(IDEMPOTENCY_SWEEP_EVERY) {
            forget_expired_idempotency(&store).await;
        }
        ticks += 1;
        metrics.run_upkeep();
    }
}

/// Deletes expired idempotency records batch by batch until none is left.
async fn forget_expired_idempotency(store: &DynStore) {
    let mut total = 0;
    loop {
        match store
            .forget_expired_idempotency(IDEMPOTENCY_SWEEP_BATCH)
            .await
        {
            Ok(deleted) => {
                total += deleted;
                if deleted < u64::from(IDEMPOTENCY_SWEEP_BATCH) {
                    break;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "deleting expired idempotency records failed");
                break;
            }
        }
        // Other writes go between batches.
        tokio::task::yield_now().await;
    }
    if total > 0 {
        tracing::info!(deleted = total, "expired idempotency records deleted");
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
