//! `/console`: the admin web console, a static page compiled into the binary. Loading
//! it needs no auth; every data call it makes goes to the JSON API with the key the
//! person pastes in. These routes are not part of the OpenAPI document.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::http::error::not_found_route;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../../../console/index.html"),
};

const ASSETS: &[Asset] = &[
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../console/console.js"),
    },
    Asset {
        name: "lib.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../console/lib.js"),
    },
    Asset {
        name: "books.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../console/books.js"),
    },
    Asset {
        name: "coupon.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../console/coupon.js"),
    },
    Asset {
        name: "events.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../console/events.js"),
    },
    Asset {
        name: "admin.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../console/admin.js"),
    },
    Asset {
        name: "pattern.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../console/pattern.js"),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../../console/console.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../../console/favicon.svg"),
    },
];

/// The console's routes, to merge into the app (outside the documented API).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/{asset}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(found) => serve(found, &headers),
        None => not_found_route().into_response(),
    }
}

/// FNV-1a over the file: a strong validator that changes with every build that
/// changes the file.
fn etag(body: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("\"{hash:016x}-{}\"", body.len())
}

/// Answers the file, or 304 when the browser's copy is current. `no-cache`: the
/// browser keeps a copy but checks it on every load, so a new binary's console is
/// picked up at once.
fn serve(asset: &Asset, headers: &HeaderMap) -> Response {
    let tag = etag(asset.body);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let status = if fresh {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let mut response = if fresh {
        status.into_response()
    } else {
        (status, asset.body).into_response()
    };
    let out = response.headers_mut();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&tag) {
        out.insert(header::ETAG, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    async fn get_path(path: &str, etag: Option<&str>) -> (u16, HeaderMap, Vec<u8>) {
        let router: Router = routes();
        let mut request = axum::http::Request::get(path);
        if let Some(tag) = etag {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        let request = request.body(Body::empty()).unwrap_or_default();
        crate::http::send_to(router, request).await
    }

    fn header_of<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn serves_the_page_and_its_assets_with_types() {
        let (status, headers, body) = get_path("/console", None).await;
        assert_eq!(status, 200);
        assert_eq!(
            header_of(&headers, "content-type"),
            "text/html; charset=utf-8"
        );
        assert_eq!(header_of(&headers, "cache-control"), "no-cache");
        let page = String::from_utf8_lossy(&body);
        assert!(page.contains("/console/console.js"), "{page}");
        assert!(!page.contains("<script>"), "no inline script");
        for (path, kind) in [
            ("/console/console.js", "text/javascript; charset=utf-8"),
            ("/console/pattern.js", "text/javascript; charset=utf-8"),
            ("/console/console.css", "text/css; charset=utf-8"),
            ("/console/favicon.svg", "image/svg+xml"),
        ] {
            let (status, headers, body) = get_path(path, None).await;
            assert_eq!(status, 200, "{path}");
            assert_eq!(header_of(&headers, "content-type"), kind, "{path}");
            assert!(!body.is_empty(), "{path}");
        }
    }

    #[tokio::test]
    async fn unknown_assets_are_json_404s() {
        let (status, _, body) = get_path("/console/nope.js", None).await;
        assert_eq!(status, 404);
        assert!(String::from_utf8_lossy(&body).contains("\"not_found\""));
        let (status, _, _) = get_path("/console/index.html/x", None).await;
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn current_copies_get_304() {
        let (_, headers, _) = get_path("/console/console.js", None).await;
        let tag = header_of(&headers, "etag").to_owned();
        assert!(tag.starts_with('"'), "{tag}");
        let (status, _, body) = get_path("/console/console.js", Some(&tag)).await;
        assert_eq!(status, 304);
        assert!(body.is_empty());
        let (status, _, _) = get_path("/console/console.js", Some("\"other\"")).await;
        assert_eq!(status, 200);
    }

    #[test]
    fn the_console_is_not_in_the_openapi_document() {
        let (_, openapi) = crate::http::api_routes().split_for_parts();
        let text = serde_json::to_string(&openapi).unwrap_or_default();
        assert!(text.contains("/v1/books"), "the document has the API");
        assert!(!text.contains("/console"), "the console is not documented");
    }
}
