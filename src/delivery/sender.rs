//! One HTTP POST of one event to one endpoint: signed, bounded in time, never to an
//! address the URL policy refuses (checked on the URL and again on every address a
//! host name resolves to, so DNS cannot point a delivery at an internal network).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;

use crate::domain::Timestamp;
use crate::domain::webhook::{self, Endpoint, RESPONSE_SNIPPET_BYTES, UrlPolicy};

const USER_AGENT: &str = concat!("coupon-book-webhooks/", env!("CARGO_PKG_VERSION"));

/// What came of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub attempted_at: Timestamp,
    pub response_status: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub latency: Duration,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.response_status
            .is_some_and(|status| (200..300).contains(&status))
    }

    /// An attempt that did not send anything.
    pub fn not_sent(reason: &str) -> Self {
        Outcome {
            attempted_at: Timestamp::now(),
            response_status: None,
            response_body: None,
            error: Some(reason.to_string()),
            latency: Duration::ZERO,
        }
    }

    fn failed(attempted_at: Timestamp, started: Instant, error: String) -> Self {
        Outcome {
            attempted_at,
            response_status: None,
            response_body: None,
            error: Some(error),
            latency: started.elapsed(),
        }
    }
}

/// Resolves host names and keeps only the addresses the policy allows.
#[derive(Clone)]
struct GuardedResolver {
    policy: UrlPolicy,
}

type Addrs = std::vec::IntoIter<SocketAddr>;

impl tower::Service<Name> for GuardedResolver {
    type Response = Addrs;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Addrs>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy;
        Box::pin(async move { resolve_allowed(name.as_str(), policy).await })
    }
}

/// The addresses of `host` the policy allows; an error when there are none.
pub async fn resolve_allowed(host: &str, policy: UrlPolicy) -> std::io::Result<Addrs> {
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    let allowed: Vec<SocketAddr> = resolved
        .iter()
        .copied()
        .filter(|addr| policy.allows(addr.ip()))
        .collect();
    if allowed.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            if resolved.is_empty() {
                "the host name resolves to no address"
            } else {
                "refused: the host name resolves to a loopback, private or link-local address"
            },
        ));
    }
    Ok(allowed.into_iter())
}

type HttpsClient = Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// Sends deliveries; one per process, shared by every endpoint's worker.
pub struct Sender {
    client: HttpsClient,
    policy: UrlPolicy,
    timeout: Duration,
}

impl Sender {
    pub fn new(
        policy: UrlPolicy,
        timeout: Duration,
        max_idle_per_host: usize,
    ) -> Result<Self, String> {
        let mut http = HttpConnector::new_with_resolver(GuardedResolver { policy });
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeout));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = || {
            rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|err| format!("TLS set-up: {err}"))
        };
        let tls = match builder()?.with_native_roots() {
            Ok(roots) => roots.with_no_client_auth(),
            Err(err) => {
                // No CA certificates on this machine: https deliveries fail (and their
                // attempts say why); http ones work.
                tracing::warn!(error = %err, "no TLS root certificates; https webhooks will fail");
                builder()?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }
        };
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(max_idle_per_host)
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(Sender {
            client,
            policy,
            timeout,
        })
    }

    /// POSTs `body` (the event as JSON) to the endpoint, signed with its secrets.
    pub async fn send(&self, endpoint: &Endpoint, event_id: &str, body: &Bytes) -> Outcome {
        let attempted_at = Timestamp::now();
        let started = Instant::now();
        if let Err(err) = webhook::check_url(&endpoint.webhook.url, self.policy) {
            return Outcome::failed(attempted_at, started, format!("refused: {}", err.message));
        }
        let timestamp = attempted_at.millis() / 1000;
        let signature = match webhook::signature_header(
            &endpoint.signing_secrets(attempted_at),
            event_id,
            timestamp,
            body,
        ) {
            Ok(signature) => signature,
            Err(_) => {
                return Outcome::failed(attempted_at, started, "unusable secret".to_string());
            }
        };
        let request = hyper::Request::post(endpoint.webhook.url.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, USER_AGENT)
            .header("webhook-id", event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(Full::new(body.clone()));
        let request = match request {
            Ok(request) => request,
            Err(err) => {
                return Outcome::failed(attempted_at, started, format!("bad request: {err}"));
            }
        };
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut snippet: Vec<u8> = Vec::new();
            while snippet.len() < RESPONSE_SNIPPET_BYTES {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            let room = RESPONSE_SNIPPET_BYTES - snippet.len();
                            snippet.extend_from_slice(&data[..data.len().min(room)]);
                        }
                    }
                    // An answer cut short still has its status.
                    Some(Err(_)) | None => break,
                }
            }
            Ok::<_, hyper_util::client::legacy::Error>((status, snippet))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok((status, snippet))) => Outcome {
                attempted_at,
                response_status: Some(status),
                response_body: (!snippet.is_empty())
                    .then(|| String::from_utf8_lossy(&snippet).into_owned()),
                error: None,
                latency: started.elapsed(),
            },
            Ok(Err(err)) => Outcome::failed(attempted_at, started, describe(&err)),
            Err(_) => Outcome::failed(
                attempted_at,
                started,
                format!("timed out after {} s", self.timeout.as_secs_f64()),
            ),
        }
    }
}

/// A client error in a few words, with its innermost cause (e.g. `connection refused`).
fn describe(err: &hyper_util::client::legacy::Error) -> String {
    let mut cause: &dyn std::error::Error = err;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let kind = if err.is_connect() {
        "connect failed"
    } else {
        "request failed"
    };
    format!("{kind}: {cause}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn host_names_of_internal_addresses_are_refused_at_resolution() {
        let strict = UrlPolicy {
            allow_private: false,
        };
        let err = resolve_allowed("localhost", strict)
            .await
            .expect_err("localhost is loopback");
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
        let allowed = resolve_allowed(
            "localhost",
            UrlPolicy {
                allow_private: true,
            },
        )
        .await
        .expect("allowed when private addresses are");
        assert!(allowed.count() > 0);
    }
}
