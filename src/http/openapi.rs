//! The served OpenAPI document: generated from the handlers' annotations, plus the
//! error answers every authenticated route can give.

use utoipa::OpenApi as _;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};

use super::error::{ErrorBody, ErrorDetail};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "coupon-book", description = "Coupon books, codes, assignment, locks and exactly-once redemption."),
    components(schemas(ErrorBody, ErrorDetail)),
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
        "forbidden: the token lacks the scope, or an end-user token acts for another user",
    ),
    ("413", "payload_too_large: JSON body over 1 MiB"),
    ("429", "rate_limited: see Retry-After"),
    ("503", "store_busy or store_unavailable: try again"),
];

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
    for item in openapi.paths.paths.values_mut() {
        for operation in [&mut item.get, &mut item.delete].into_iter().flatten() {
            add_common_errors(operation, false);
        }
        for operation in [&mut item.post, &mut item.put, &mut item.patch]
            .into_iter()
            .flatten()
        {
            add_common_errors(operation, true);
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
