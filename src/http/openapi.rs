//! The served OpenAPI document: generated from the handlers' annotations, plus the
//! error answers every authenticated route can give.

use utoipa::OpenApi as _;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ArrayItems, Schema};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

use super::error::{ErrorBody, ErrorDetail};
use super::extract::{
    AdminOnly, Assign, BooksRead, BooksWrite, BulkAssign, CouponRead, EventsRead, Redeem,
    Requirement,
};
use crate::domain::apikey::Scope;
use crate::domain::event::EventType;
use crate::domain::stats::Bucket;

/// The scopes each operation accepts (any one of them; `admin` always passes), as the
/// handler's `Auth<R>` demands them. They are published in the document as alternative
/// security requirements (`[{"bearer": ["books:read"]}, {"bearer": ["admin"]}]`), and
/// the auth matrix test (tests/http_auth.rs) checks the server against them, so a new
/// route must be listed here (or declare `security(("bearer" = [...]))` itself).
const OPERATION_SCOPES: &[(&str, &[Scope])] = &[
    ("create_book", BooksWrite::SCOPES),
    ("list_books", BooksRead::SCOPES),
    ("get_book", BooksRead::SCOPES),
    ("update_book", BooksWrite::SCOPES),
    ("delete_book", BooksWrite::SCOPES),
    ("book_stats", BooksRead::SCOPES),
    ("add_codes", BooksWrite::SCOPES),
    ("list_codes", BooksRead::SCOPES),
    ("get_job", BooksRead::SCOPES),
    ("generate", BooksWrite::SCOPES),
    ("upload", BooksWrite::SCOPES),
    ("export", BooksRead::SCOPES),
    ("assign_bulk", BulkAssign::SCOPES),
    ("void_codes", BooksWrite::SCOPES),
    ("delete_codes", BooksWrite::SCOPES),
    ("job_results", BooksRead::SCOPES),
    ("assign_next", Assign::SCOPES),
    ("get_coupon", CouponRead::SCOPES),
    ("assign", Assign::SCOPES),
    ("unassign", Assign::SCOPES),
    ("validate", Redeem::SCOPES),
    ("validate_order_codes", Redeem::SCOPES),
    ("redeem_order_codes", Redeem::SCOPES),
    ("lock", Redeem::SCOPES),
    ("unlock", Redeem::SCOPES),
    ("redeem", Redeem::SCOPES),
    ("void", BooksWrite::SCOPES),
    ("update_coupon", BooksWrite::SCOPES),
    ("reverse", Redeem::SCOPES),
    ("get_redemption", BooksRead::SCOPES),
    ("list_redemptions", BooksRead::SCOPES),
    ("export_redemptions", BooksRead::SCOPES),
    ("user_coupons", CouponRead::SCOPES),
    ("user_redemptions", CouponRead::SCOPES),
    ("list_events", EventsRead::SCOPES),
    ("create_api_key", AdminOnly::SCOPES),
    ("list_api_keys", AdminOnly::SCOPES),
    ("update_api_key", AdminOnly::SCOPES),
    ("delete_api_key", AdminOnly::SCOPES),
    ("seed_create_book", BooksWrite::SCOPES),
    ("seed_add_codes", BooksWrite::SCOPES),
    ("seed_assign_next", Assign::SCOPES),
    ("seed_assign", Assign::SCOPES),
    ("seed_lock", Redeem::SCOPES),
    ("seed_unlock", Redeem::SCOPES),
    ("seed_redeem", Redeem::SCOPES),
    ("seed_user_coupons", CouponRead::SCOPES),
    ("create_webhook", AdminOnly::SCOPES),
    ("list_webhooks", AdminOnly::SCOPES),
    ("get_webhook", AdminOnly::SCOPES),
    ("delete_webhook", AdminOnly::SCOPES),
    ("list_deliveries", AdminOnly::SCOPES),
    ("test_webhook", AdminOnly::SCOPES),
    ("redeliver", AdminOnly::SCOPES),
    ("enable_webhook", AdminOnly::SCOPES),
    ("rotate_secret", AdminOnly::SCOPES),
];

/// Whether a security requirement names scopes (roles), e.g. `{"bearer": ["admin"]}`.
fn names_scopes(requirement: &SecurityRequirement) -> bool {
    serde_json::to_value(requirement)
        .ok()
        .and_then(|value| {
            value.as_object().map(|schemes| {
                schemes
                    .values()
                    .any(|scopes| scopes.as_array().is_some_and(|s| !s.is_empty()))
            })
        })
        .unwrap_or(false)
}

/// Sets an operation's security to "a bearer token with any one of its scopes",
/// unless the operation is open or already names scopes itself.
fn declare_scopes(operation: &mut Operation) {
    let declared = operation.security.iter().flatten().any(names_scopes);
    let open = operation
        .security
        .as_ref()
        .is_some_and(|reqs| reqs.iter().all(|r| *r == Default::default()));
    if declared || open {
        return;
    }
    let Some(id) = operation.operation_id.as_deref() else {
        return;
    };
    let Some((_, scopes)) = OPERATION_SCOPES.iter().find(|(op, _)| *op == id) else {
        return;
    };
    let mut names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    if !names.contains(&Scope::Admin.as_str()) {
        names.push(Scope::Admin.as_str());
    }
    operation.security = Some(
        names
            .into_iter()
            .map(|name| SecurityRequirement::new("bearer", [name]))
            .collect(),
    );
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "coupon-book", description = "Coupon books, codes, assignment, locks and exactly-once redemption."),
    // Bucket and EventType are query parameters' types: parameters do not register
    // their schemas.
    components(schemas(ErrorBody, ErrorDetail, Bucket, EventType)),
    // Relative: the API is served wherever the document is.
    servers((url = "/", description = "This server")),
    security(("bearer" = []))
)]
pub struct ApiDoc;

const COMMON_ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "invalid_request: malformed JSON, wrong type or out-of-range value (see `field`)",
    ),
    ("401", "unauthenticated: no or invalid bearer token"),
    (
        "403",
        "forbidden: the token lacks the scope, an end-user token acts for another user, or a key limited to books uses a route beyond them (new books, API keys, webhooks)",
    ),
    ("413", "payload_too_large: JSON body over 1 MiB"),
    ("429", "rate_limited: see Retry-After"),
    ("503", "store_busy or store_unavailable: try again"),
];

const IDEMPOTENCY_REUSED: &str =
    "idempotency_key_reused: this Idempotency-Key was used with a different request";

/// Adds the bearer scheme and the error answers every operation can give. Runs on the
/// finished document, once all routes are in it.
pub fn add_common_answers(openapi: &mut OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("An API key or a JWT"))
                .build(),
        ),
    );
    refer_page_items(components);
    for item in openapi.paths.paths.values_mut() {
        for operation in [&mut item.get, &mut item.delete].into_iter().flatten() {
            declare_scopes(operation);
            add_common_errors(operation, false);
        }
        if let Some(operation) = item.post.as_mut() {
            declare_scopes(operation);
            add_common_errors(operation, true);
            add_idempotency_answer(operation);
        }
        for operation in [&mut item.put, &mut item.patch].into_iter().flatten() {
            declare_scopes(operation);
            add_common_errors(operation, true);
        }
    }
}

/// utoipa writes the item schema of a generic `Page<T>` out in full in every
/// `Page_<T>`; a `$ref` to `<T>` instead lets client generators give list items the
/// same type as the single objects (a Book, not a `PageBookDataItem`). Replaced only
/// where the inline schema is exactly the component's, so the document means the same.
fn refer_page_items(components: &mut utoipa::openapi::Components) {
    let schemas = &mut components.schemas;
    let pages: Vec<(String, String)> = schemas
        .keys()
        .filter_map(|name| {
            let item = name.strip_prefix("Page_")?;
            schemas
                .contains_key(item)
                .then(|| (name.clone(), item.to_string()))
        })
        .collect();
    for (page, item) in pages {
        let Some(component) = schemas
            .get(&item)
            .and_then(|s| serde_json::to_value(s).ok())
        else {
            continue;
        };
        let Some(RefOr::T(Schema::Object(object))) = schemas.get_mut(&page) else {
            continue;
        };
        let Some(RefOr::T(Schema::Array(array))) = object.properties.get_mut("data") else {
            continue;
        };
        let ArrayItems::RefOrSchema(items) = &mut array.items else {
            continue;
        };
        if serde_json::to_value(&**items).ok().as_ref() == Some(&component) {
            **items = Ref::from_schema_name(item).into();
        }
    }
}

/// Every POST honours Idempotency-Key (API.md), so every POST may answer 422.
fn add_idempotency_answer(operation: &mut Operation) {
    let responses = &mut operation.responses.responses;
    match responses.get_mut("422") {
        Some(RefOr::T(response)) => {
            if !response.description.contains("idempotency_key_reused") {
                response.description = format!("{}; {IDEMPOTENCY_REUSED}", response.description);
            }
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            responses.insert("422".to_string(), error_response(IDEMPOTENCY_REUSED).into());
        }
    }
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

fn add_common_errors(operation: &mut Operation, takes_body: bool) {
    // Operations marked `security(())` are open and answer no auth errors.
    let open = operation
        .security
        .as_ref()
        .is_some_and(|reqs| reqs.iter().all(|r| *r == Default::default()));
    let responses = &mut operation.responses.responses;
    if !open {
        for (status, description) in COMMON_ERRORS {
            if *status == "413" && !takes_body {
                continue;
            }
            responses
                .entry(status.to_string())
                .or_insert_with(|| error_response(description).into());
        }
    }
    responses
        .entry("500".to_string())
        .or_insert_with(|| error_response("internal: unexpected failure (logged)").into());
}

pub fn base() -> OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// The document as `/openapi.json` serves it.
    fn served() -> Value {
        let (_, mut openapi) = crate::http::api_routes().split_for_parts();
        super::add_common_answers(&mut openapi);
        serde_json::to_value(&openapi).expect("the document serializes")
    }

    fn collect_refs<'a>(value: &'a Value, at: String, refs: &mut Vec<(String, &'a str)>) {
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    match (key.as_str(), item) {
                        ("$ref", Value::String(target)) => refs.push((at.clone(), target)),
                        _ => collect_refs(item, format!("{at}/{key}"), refs),
                    }
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    collect_refs(item, format!("{at}/{index}"), refs);
                }
            }
            _ => {}
        }
    }

    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    #[test]
    fn every_ref_resolves_to_a_component() {
        let doc = served();
        let mut refs = Vec::new();
        collect_refs(&doc, String::new(), &mut refs);
        assert!(
            refs.iter()
                .any(|(_, r)| *r == "#/components/schemas/Bucket"),
            "the stats bucket parameter is described by reference"
        );
        let broken: Vec<String> = refs
            .iter()
            .filter(|(_, target)| {
                !target.starts_with("#/components/")
                    || doc.pointer(&target[1..]).is_none_or(Value::is_null)
            })
            .map(|(at, target)| format!("{at}: {target}"))
            .collect();
        assert!(broken.is_empty(), "unresolved $refs: {broken:#?}");
    }

    #[test]
    fn every_operation_has_a_summary() {
        let doc = served();
        let paths = doc["paths"].as_object().expect("paths");
        let mut operations = 0;
        let mut missing = Vec::new();
        for (path, item) in paths {
            for method in METHODS {
                let Some(operation) = item.get(method) else {
                    continue;
                };
                operations += 1;
                let summary = operation["summary"].as_str().unwrap_or("").trim();
                if summary.is_empty() || summary.contains('\n') {
                    missing.push(format!("{method} {path}"));
                }
            }
        }
        assert!(operations >= super::OPERATION_SCOPES.len(), "{operations}");
        assert!(missing.is_empty(), "no one-line summary: {missing:#?}");
    }

    #[test]
    fn list_items_refer_to_their_component() {
        let doc = served();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let pages: Vec<&String> = schemas.keys().filter(|n| n.starts_with("Page_")).collect();
        assert!(pages.len() >= 7, "{pages:?}");
        for page in pages {
            let item = &page["Page_".len()..];
            assert_eq!(
                schemas[page]["properties"]["data"]["items"]["$ref"],
                format!("#/components/schemas/{item}"),
                "{page}"
            );
        }
    }

    #[test]
    fn the_document_names_its_server() {
        let doc = served();
        let servers = doc["servers"].as_array().expect("servers");
        assert!(!servers.is_empty());
        assert!(
            servers.iter().all(|s| s["url"].as_str() == Some("/")),
            "{servers:?}"
        );
    }
}
