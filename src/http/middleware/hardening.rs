//! What every request goes through before and after its handler: a time limit,
//! security headers, panics answered as a plain 500, and the HTTP/1 connection limits
//! (header size and count, header read time) the listener enforces.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::domain::{Error, ErrorCode};
use crate::http::error::ApiError;

/// Request headers must arrive within this time (slow-header attacks).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many request headers.
pub const MAX_HEADERS: usize = 64;
/// Connection read buffer: a request line and headers much over this size (hyper
/// reads up to about 1.5 times it before giving up) get 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The Swagger UI page loads only its own files; its styles are partly inline.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";
/// The admin console loads only its own script, styles and images, and talks only to
/// this origin's API: no inline script, nothing from elsewhere.
const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";
/// API answers are data, never pages.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Headers on every answer: no MIME sniffing, no framing, no referrer; a strict CSP.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let policy = if path.starts_with("/docs") {
        DOCS_CSP
    } else if path == "/console" || path.starts_with("/console/") {
        CONSOLE_CSP
    } else {
        API_CSP
    };
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    response
}

/// Answers 503 when a request takes longer than the limit. The work may still finish
/// (a write that was already handed to the store commits): retry with the same
/// `Idempotency-Key`. Uploads (codes, and users for a bulk assign) stream large
/// files: they have their own time limit
/// (`COUPON_BOOK_UPLOAD_TIMEOUT_SECONDS`, enforced while the body is read).
pub async fn request_timeout(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path.ends_with("/codes/upload") || path.ends_with("/assign/bulk") {
        return next.run(request).await;
    }
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError(Error::new(
            ErrorCode::StoreBusy,
            format!(
                "the request took longer than {} s; it may still complete: retry with the same Idempotency-Key",
                limit.as_secs()
            ),
        ))
        .into_response(),
    }
}

/// A panic in a handler is a bug: answer 500 `internal` (the panic text is logged,
/// never sent) instead of dropping the connection.
#[derive(Clone, Copy)]
pub struct PanicAnswer;

impl tower_http::catch_panic::ResponseForPanic for PanicAnswer {
    type ResponseBody = Body;

    fn response_for_panic(
        &mut self,
        err: Box<dyn std::any::Any + Send + 'static>,
    ) -> Response<Body> {
        let text = err
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| err.downcast_ref::<&str>().copied())
            .unwrap_or("panic");
        tracing::error!(panic = %text, "handler panicked");
        ApiError(Error::new(ErrorCode::Internal, "internal error")).into_response()
    }
}

/// Adds the time limit, security headers and panic handling around the whole app.
pub fn harden(router: Router, request_timeout_limit: Duration) -> Router {
    router
        .layer(axum::middleware::from_fn_with_state(
            request_timeout_limit,
            request_timeout,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            PanicAnswer,
        ))
        .layer(axum::middleware::from_fn(security_headers))
}

/// Serves `router` on `listener` until `shutdown` completes, then waits for the
/// requests in flight. Each connection has the header limits above; the client
/// address is available to handlers as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (open_tx, mut open_rx) = tokio::sync::mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |request: axum::http::Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(remote));
                request
            });
        let mut stop = stop_rx.clone();
        let open = open_tx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_headers(MAX_HEADERS)
                .max_buf_size(MAX_HEADER_BYTES);
            let connection =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(error = %err, "connection ended with an error");
                    }
                }
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(open);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(open_tx);
    // Every connection task holds a sender; all gone = all requests answered.
    let _ = open_rx.recv().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::routing::get;

    use super::*;

    async fn call(router: Router, path: &str) -> (u16, axum::http::HeaderMap, String) {
        let request = axum::http::Request::get(path)
            .body(Body::empty())
            .unwrap_or_default();
        let (status, headers, body) = crate::http::send_to(router, request).await;
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    async fn boom() -> &'static str {
        panic!("secret detail")
    }

    fn app() -> Router {
        let router = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/boom", get(boom))
            .route("/docs/", get(|| async { "docs" }))
            .merge(crate::http::console::routes());
        harden(router, Duration::from_millis(50))
    }

    #[tokio::test]
    async fn slow_requests_get_a_json_503() {
        let (status, headers, body) = call(app(), "/slow").await;
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("\"store_busy\""), "{body}");
        assert_eq!(
            headers.get("x-content-type-options").map(|v| v.as_bytes()),
            Some(&b"nosniff"[..])
        );
    }

    #[tokio::test]
    async fn panics_are_a_500_without_details() {
        let (status, _, body) = call(app(), "/boom").await;
        assert_eq!(status, 500);
        assert!(body.contains("\"internal\""), "{body}");
        assert!(!body.contains("secret detail"), "{body}");
    }

    #[tokio::test]
    async fn docs_get_their_own_policy() {
        let (status, headers, _) = call(app(), "/docs/").await;
        assert_eq!(status, 200);
        let csp = headers
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(
            headers.get("x-frame-options").map(|v| v.as_bytes()),
            Some(&b"DENY"[..])
        );
    }

    #[tokio::test]
    async fn the_console_gets_its_own_policy() {
        let csp = |headers: &axum::http::HeaderMap| {
            headers
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        for path in ["/console", "/console/console.js"] {
            let (status, headers, _) = call(app(), path).await;
            assert_eq!(status, 200, "{path}");
            assert_eq!(csp(&headers), CONSOLE_CSP, "{path}");
        }
        for part in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self';",
            "connect-src 'self'",
            "img-src 'self' data:",
            "frame-ancestors 'none'",
        ] {
            assert!(CONSOLE_CSP.contains(part), "{part}");
        }
        assert!(!CONSOLE_CSP.contains("unsafe"), "no inline script or style");
        // Only the console's own paths: the API keeps its data-only policy.
        let (_, headers, _) = call(app(), "/consoles").await;
        assert_eq!(csp(&headers), API_CSP);
    }
}
