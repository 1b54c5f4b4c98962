//! The API function: the router of `serve`, fed by API Gateway through `lambda_http`.
//!
//! Cold start does no migrations and no network calls beyond what the first request
//! needs: the DynamoDB client is built from the environment and connects lazily. Jobs
//! run inside their request (Lambda freezes the process between requests), so large
//! generations and uploads are refused with 413 and go through the `codes` CLI.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::cli::serve;
use crate::cli::{CliError, CliResult};
use crate::config::ApiArgs;
use crate::delivery::Delivery;

pub async fn run(args: ApiArgs) -> CliResult {
    let spool = serve::open_spool(&args, true)?;
    // Jobs here run inside their request: a file left over is from a stopped one.
    spool.sweep(&Default::default());
    let store = args.store.open().await?;
    let delivery = Delivery::new(args.webhooks.delivery_config()).map_err(CliError)?;
    let router = serve::build_app(
        &args,
        &store,
        serve::metrics_handle(),
        false,
        delivery,
        spool,
    )
    .await?;
    let app = tower::ServiceBuilder::new()
        .map_request(from_api_gateway)
        .service(router);
    tracing::info!(store = %args.store.store, "coupon-book API function ready");
    lambda_http::run(app)
        .await
        .map_err(|e| CliError(format!("the Lambda runtime stopped: {e}")))
}

/// Makes an API Gateway request look like the one `serve` would get: the path the
/// caller asked for, without the stage name, and the caller's address from the request
/// context, where the rate limiter looks for it. (`lambda_http` puts a REST API's stage
/// in front of the path; an HTTP API's raw path holds a named stage.)
pub fn from_api_gateway(mut request: Request) -> Request {
    let raw = request.raw_http_path().to_string();
    let path = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(_)) => Some(raw.as_str()),
        Some(RequestContext::ApiGatewayV2(context)) => match context.stage.as_deref() {
            Some(stage) if stage != "$default" => raw
                .strip_prefix('/')
                .and_then(|rest| rest.strip_prefix(stage))
                .filter(|rest| rest.is_empty() || rest.starts_with('/'))
                .or(Some(raw.as_str())),
            _ => Some(raw.as_str()),
        },
        _ => None,
    };
    if let Some(path) = path.filter(|path| *path != request.uri().path()) {
        let path = if path.is_empty() { "/" } else { path };
        let path_and_query = match request.uri().query() {
            Some(query) => format!("{path}?{query}"),
            None => path.to_string(),
        };
        let mut parts = request.uri().clone().into_parts();
        if let Ok(path_and_query) = path_and_query.parse() {
            parts.path_and_query = Some(path_and_query);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
    }
    if let Some(ip) = source_ip(request.request_context_ref()) {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 0)));
    }
    request
}

fn source_ip(context: Option<&RequestContext>) -> Option<IpAddr> {
    let text = match context? {
        RequestContext::ApiGatewayV1(context) => context.identity.source_ip.as_deref(),
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.as_deref(),
        _ => None,
    }?;
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2_event(stage: &str, raw_path: &str) -> String {
        serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": raw_path,
            "rawQueryString": "limit=5", "headers": {},
            "requestContext": {
                "accountId": "123456789012", "apiId": "api", "stage": stage,
                "requestId": "r", "routeKey": "$default", "timeEpoch": 0,
                "http": {"method": "GET", "path": raw_path, "protocol": "HTTP/1.1",
                         "sourceIp": "198.51.100.4", "userAgent": "t"}
            },
            "isBase64Encoded": false
        })
        .to_string()
    }

    #[test]
    fn a_named_stage_is_taken_off_the_path_and_the_caller_address_kept() {
        for (stage, raw_path) in [("$default", "/v1/books"), ("live", "/live/v1/books")] {
            let request = lambda_http::request::from_str(&v2_event(stage, raw_path))
                .map(from_api_gateway)
                .expect("an HTTP API event");
            assert_eq!(request.uri().path(), "/v1/books", "stage {stage}");
            assert_eq!(request.uri().query(), Some("limit=5"));
            let ConnectInfo(addr) = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .expect("caller address");
            assert_eq!(addr.ip().to_string(), "198.51.100.4");
        }
    }

    #[test]
    fn a_stage_named_like_the_api_version_is_taken_off_once() {
        for (raw_path, expected) in [("/v1/v1/books", "/v1/books"), ("/v1x/books", "/v1x/books")] {
            let request = lambda_http::request::from_str(&v2_event("v1", raw_path))
                .map(from_api_gateway)
                .expect("an HTTP API event");
            assert_eq!(request.uri().path(), expected, "raw path {raw_path}");
        }
    }
}
