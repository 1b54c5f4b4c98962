//! `coupon-book serve`: opens the store, builds the app, serves until SIGTERM/SIGINT.
//! `build_app` is shared with the Lambda API function.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use super::{CliError, CliResult};
use crate::config::{ApiArgs, ServeArgs};
use crate::delivery::Delivery;
use crate::domain::apikey::{BOOTSTRAP_KEY_ID, bootstrap_key, hash_key, is_bootstrap};
use crate::domain::{ErrorCode, MAX_PAGE_LIMIT, PageRequest, Result, Timestamp};
use crate::http::middleware::auth::{Authenticator, JwtSettings, JwtVerifier};
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

/// The whole HTTP application for these settings: the API router with auth, rate
/// limits and hardening, on an open store. `serve` and the Lambda entry both use it;
/// `background_jobs` says whether large jobs may run on after their answer.
pub async fn build_app(
    args: &ApiArgs,
    store: &DynStore,
    metrics: PrometheusHandle,
    background_jobs: bool,
    delivery: Arc<Delivery>,
) -> CliResult<Router> {
    let bootstrap = args
        .bootstrap_admin_key
        .as_deref()
        .filter(|k| !k.is_empty());
    sync_bootstrap_key(store, bootstrap).await?;
    let spool_dir = args
        .spool_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("coupon-book-uploads"));
    std::fs::create_dir_all(&spool_dir)
        .map_err(|e| CliError(format!("cannot create {}: {e}", spool_dir.display())))?;
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
    let mut state = AppState::new(store.clone(), metrics, spool_dir, delivery);
    state.background_jobs = background_jobs;
    state.end_user_max_lock_ttl_seconds = args.end_user_max_lock_ttl_seconds;
    state.metrics_token = args
        .metrics_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(Arc::from);
    state.auth = Arc::new(Authenticator::with_jwt(store.clone(), jwt));
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
    let store = args.api.store.open().await?;
    let metrics = metrics_handle();
    let delivery = Delivery::new(args.api.webhooks.delivery_config()).map_err(CliError)?;
    let router = build_app(&args.api, &store, metrics.clone(), true, delivery.clone()).await?;
    crate::app::jobs::resume_unfinished(store.clone()).await?;
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

/// Periodic work that correctness never depends on: announcing expired locks and
/// draining metric histograms.
async fn housekeeping(store: DynStore, metrics: PrometheusHandle) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if let Err(err) = store.expire_locks().await {
            tracing::warn!(error = %err, "expiring locks failed");
        }
        metrics.run_upkeep();
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
