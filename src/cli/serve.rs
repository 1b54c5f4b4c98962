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
use crate::domain::apikey::{ApiKey, Scope, hash_key};
use crate::domain::ids::new_id;
use crate::domain::{Result, Timestamp};
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

/// Stores the bootstrap admin key (hashed) if it is not stored yet.
pub async fn ensure_bootstrap_key(store: &DynStore, key: &str) -> Result<()> {
    let api_key = ApiKey {
        id: new_id("key"),
        name: "bootstrap admin".into(),
        scopes: vec![Scope::Admin],
        created_at: Timestamp::now(),
    };
    store.ensure_api_key(api_key, hash_key(key)).await?;
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
    if let Some(key) = args
        .bootstrap_admin_key
        .as_deref()
        .filter(|k| !k.is_empty())
    {
        ensure_bootstrap_key(store, key).await?;
    }
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
    }
    .with_public_key_file(args.jwt_public_key_file.as_deref())
    .and_then(|settings| JwtVerifier::new(&settings))
    .map_err(CliError)?;
    let mut state = AppState::new(store.clone(), metrics, spool_dir, delivery);
    state.background_jobs = background_jobs;
    state.auth = Arc::new(Authenticator::with_jwt(store.clone(), jwt));
    let limits = Limits {
        per_second: args.rate_limit_per_second,
        burst: args.rate_limit_burst,
        unknown_codes_per_minute: args.unknown_code_limit_per_minute,
        unknown_codes_burst: args.unknown_code_burst,
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
