//! Webhooks: endpoints that receive the change feed, their signing secrets, the
//! signature scheme (compatible with the Standard Webhooks spec), delivery attempts and
//! the policy on which URLs may be called.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use utoipa::ToSchema;

use super::error::{Error, Result};
use super::event::{self, Event};
use super::time::Timestamp;

mod url_policy;
pub use url_policy::{Target, UrlPolicy, check_url, is_public, parse_ip_host};

/// The event a `POST /v1/webhooks/{id}/test` sends.
pub const WEBHOOK_TEST: &str = "webhook.test";
/// Subscribes to every event type.
pub const ALL_EVENTS: &str = "*";
/// Event types an endpoint may subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    event::BOOK_CREATED,
    event::BOOK_UPDATED,
    event::BOOK_DELETED,
    event::BOOK_CODES_ADDED,
    event::BOOK_EXHAUSTED,
    event::COUPON_ASSIGNED,
    event::COUPON_UNASSIGNED,
    event::COUPON_LOCKED,
    event::COUPON_UNLOCKED,
    event::COUPON_LOCK_EXPIRED,
    event::COUPON_REDEEMED,
    event::COUPON_VOIDED,
    event::COUPON_DELETED,
    event::COUPON_UPDATED,
    event::REDEMPTION_REVERSED,
];

pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret (the spec allows 24..64).
const SECRET_BYTES: usize = 32;
const MAX_DESCRIPTION_CHARS: usize = 2000;
/// How much of a receiver's answer an attempt keeps.
pub const RESPONSE_SNIPPET_BYTES: usize = 1024;
/// How long a rotated-out secret still signs deliveries (next to the new one).
pub const PREVIOUS_SECRET_GRACE_SECONDS: u64 = 86_400;
/// Default tolerance of a receiver on `Webhook-Timestamp`.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookStatus {
    /// Receives deliveries.
    Enabled,
    /// Stopped after failing for too long; deliveries wait (nothing is skipped).
    Disabled,
}

impl WebhookStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookStatus::Enabled => "enabled",
            WebhookStatus::Disabled => "disabled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "enabled" => Some(WebhookStatus::Enabled),
            "disabled" => Some(WebhookStatus::Disabled),
            _ => None,
        }
    }
}

/// A subscribed endpoint, as the API shows it (never with its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// Event types delivered to this endpoint; `*` means all.
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub status: WebhookStatus,
    pub created_at: Timestamp,
    /// Since when every delivery attempt has failed; null while deliveries succeed.
    pub failing_since: Option<Timestamp>,
}

impl Webhook {
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types
            .iter()
            .any(|t| t == ALL_EVENTS || t == event_type)
    }
}

/// Returned at creation and on rotation: the only times the secret is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_<base64>`: verify each delivery's `Webhook-Signature` with it.
    pub secret: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateWebhook {
    /// `http` or `https` URL that receives `POST`s.
    pub url: String,
    /// E.g. `["coupon.redeemed", "redemption.reversed"]`, or `["*"]` for all.
    pub event_types: Vec<String>,
    pub description: Option<String>,
}

impl CreateWebhook {
    pub fn validate(&self, policy: UrlPolicy) -> Result<()> {
        check_url(&self.url, policy)?;
        if self.event_types.is_empty() {
            return Err(Error::invalid(
                "event_types",
                "give at least one event type (or \"*\" for all)",
            ));
        }
        for (i, t) in self.event_types.iter().enumerate() {
            if t != ALL_EVENTS && !EVENT_TYPES.contains(&t.as_str()) {
                return Err(Error::invalid(
                    format!("event_types[{i}]"),
                    format!(
                        "unknown event type {t:?}; known: {}",
                        EVENT_TYPES.join(", ")
                    ),
                ));
            }
        }
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
        {
            return Err(Error::invalid(
                "description",
                "description must be at most 2000 characters",
            ));
        }
        Ok(())
    }

    pub fn into_webhook(self, id: String, now: Timestamp) -> Webhook {
        let mut event_types: Vec<String> = Vec::new();
        for t in self.event_types {
            if !event_types.contains(&t) {
                event_types.push(t);
            }
        }
        Webhook {
            id,
            url: self.url,
            event_types,
            description: self.description,
            status: WebhookStatus::Enabled,
            created_at: now,
            failing_since: None,
        }
    }
}

/// An endpoint with what delivering to it needs: its secrets and where it stands in
/// the event feed. Internal: never sent to API clients.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub webhook: Webhook,
    pub secret: String,
    /// The secret before the last rotation, and until when it still signs.
    pub previous_secret: Option<(String, Timestamp)>,
    /// The last event of the feed this endpoint is done with (delivered, queued for a
    /// retry, or not subscribed); None = from the start of the feed.
    pub cursor: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    // Secrets stay out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("webhook", &self.webhook)
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// The secrets that sign a delivery now: the current one, and the previous one
    /// during its grace period.
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let Some((previous, until)) = &self.previous_secret
            && *until > now
        {
            secrets.push(previous.as_str());
        }
        secrets
    }
}

/// A delivery attempt's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// The receiver answered 2xx.
    Succeeded,
    /// Failed; another attempt is scheduled at `next_attempt_at`.
    Retrying,
    /// Failed, and no attempt follows (retries used up, or a test send).
    Failed,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Succeeded => "succeeded",
            AttemptStatus::Retrying => "retrying",
            AttemptStatus::Failed => "failed",
        }
    }
}

/// One POST of one event to one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryAttempt {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    /// 1 for the first attempt of this event, 2 for the first retry, ...
    pub attempt: u32,
    pub status: AttemptStatus,
    /// The receiver's HTTP status; null when no answer came (network error, timeout).
    pub response_status: Option<u16>,
    /// The start of the receiver's answer (at most 1 KiB, lossy UTF-8).
    pub response_body: Option<String>,
    /// Why no answer came, e.g. `timed out after 10 s` or `connection refused`.
    pub error: Option<String>,
    /// From sending the request to the end of the answer's snippet.
    pub latency_ms: u64,
    pub attempted_at: Timestamp,
    /// When the next attempt is due (status `retrying`).
    pub next_attempt_at: Option<Timestamp>,
}

/// An event waiting for (another) attempt at one endpoint: after a failure, or behind
/// a failed event of the same coupon (deliveries are in order per coupon).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingDelivery {
    pub event: Event,
    pub order_key: String,
    /// Attempts made so far.
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
}

/// What one round of delivery changes at an endpoint, stored in one step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryBatch {
    pub attempts: Vec<DeliveryAttempt>,
    /// Pending deliveries to insert or replace (by event id).
    pub pending: Vec<PendingDelivery>,
    /// Event ids no longer pending (delivered or given up).
    pub done: Vec<String>,
    /// The endpoint's new place in the feed.
    pub cursor: Option<String>,
    /// `Some(x)` sets `failing_since` to x.
    pub failing_since: Option<Option<Timestamp>>,
    /// Turns the endpoint off (failing for too long).
    pub disable: bool,
}

impl DeliveryBatch {
    pub fn is_empty(&self) -> bool {
        self.attempts.is_empty()
            && self.pending.is_empty()
            && self.done.is_empty()
            && self.cursor.is_none()
            && self.failing_since.is_none()
            && !self.disable
    }
}

pub fn not_found(id: &str) -> Error {
    Error::new(
        super::ErrorCode::WebhookNotFound,
        format!("no webhook with id {id:?}"),
    )
}

pub fn delivery_not_found(webhook_id: &str, delivery_id: &str) -> Error {
    Error::new(
        super::ErrorCode::DeliveryNotFound,
        format!("webhook {webhook_id:?} has no delivery attempt with id {delivery_id:?}"),
    )
}

/// A new attempt id that carries the millisecond of `at` (a ULID made at that time):
/// a store can find the attempt from its id alone, by time.
pub fn attempt_id(at: Timestamp) -> String {
    let ms = u64::try_from(at.millis()).unwrap_or(0);
    format!("att_{}", ulid::Ulid::from_parts(ms, rand::random::<u128>()))
}

/// The millisecond an attempt id carries; None for what is not an attempt id.
pub fn attempt_id_time(id: &str) -> Option<Timestamp> {
    let ulid = ulid::Ulid::from_string(id.strip_prefix("att_")?).ok()?;
    i64::try_from(ulid.timestamp_ms()).ok().map(Timestamp)
}

/// What re-enabling an endpoint changes: a disabled one is enabled with its failure
/// clock reset (its cursor and queue stay, so delivery resumes where it stopped);
/// `None` for an endpoint that is enabled already (nothing to do).
pub fn plan_enable(webhook: &Webhook) -> Option<Webhook> {
    match webhook.status {
        WebhookStatus::Enabled => None,
        WebhookStatus::Disabled => Some(Webhook {
            status: WebhookStatus::Enabled,
            failing_since: None,
            ..webhook.clone()
        }),
    }
}

/// A redelivery of a logged attempt's event, decided before anything is sent (and
/// kept as the answer to a replay of the same Idempotency-Key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Redelivery {
    /// The id the new attempt is logged with.
    pub attempt_id: String,
    /// Its number among the attempts of the event at this endpoint.
    pub attempt: u32,
    /// The attempt whose event is sent again.
    pub of: DeliveryAttempt,
}

/// Plans sending `of`'s event again: a new attempt, numbered after every attempt of
/// that event so far (`numbers`). It is one extra attempt, outside the retry schedule:
/// an event still queued for a retry keeps its place and its schedule.
pub fn plan_redelivery(
    of: DeliveryAttempt,
    numbers: impl IntoIterator<Item = u32>,
    attempt_id: String,
) -> Redelivery {
    let last = numbers.into_iter().chain([of.attempt]).max().unwrap_or(0);
    Redelivery {
        attempt_id,
        attempt: last.saturating_add(1),
        of,
    }
}

/// The event a test send delivers.
/// Test events are not changes of the store: they are the system's, so a redelivery
/// makes the same body again.
pub fn test_event(webhook_id: &str, event_id: String, created_at: Timestamp) -> Event {
    Event {
        id: event_id,
        event_type: WEBHOOK_TEST.to_string(),
        created_at,
        actor: super::event::Actor::system("webhook_test"),
        data: serde_json::json!({
            "webhook_id": webhook_id,
            "message": "a test delivery from coupon-book",
        }),
    }
}

/// The event a redelivery sends: the feed's event with the attempt's event id (the
/// same body, so the same `Webhook-Id`). Test events are not in the feed: one is made
/// again with the same id and data, dated at the attempt it repeats.
pub fn redelivery_event(
    webhook_id: &str,
    plan: &Redelivery,
    from_feed: Option<Event>,
) -> Result<Event> {
    let of = &plan.of;
    if of.event_type == WEBHOOK_TEST {
        return Ok(test_event(webhook_id, of.event_id.clone(), of.attempted_at));
    }
    match from_feed {
        Some(event) if event.id == of.event_id => Ok(event),
        _ => Err(Error::new(
            super::ErrorCode::DeliveryNotFound,
            format!(
                "the event {:?} of delivery attempt {:?} is no longer stored",
                of.event_id, of.id
            ),
        )),
    }
}

/// The delivery lease of an endpoint as stored: who delivers its events, until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease<'a> {
    pub holder: Option<&'a str>,
    pub until: Option<Timestamp>,
}

impl Lease<'_> {
    /// Whether `holder` may take or renew the lease at `now`: one delivery worker per
    /// endpoint at a time, and none for a disabled endpoint. A lease past its time is
    /// free, so a worker that died is replaced.
    pub fn may_take(&self, status: WebhookStatus, holder: &str, now: Timestamp) -> bool {
        let taken = self.holder.is_some_and(|h| h != holder) && self.until.is_some_and(|t| t > now);
        !taken && status != WebhookStatus::Disabled
    }

    /// Results are recorded only by the lease's holder (`None`: a caller that needs no
    /// lease, such as a test delivery); to anyone else the endpoint is gone.
    pub fn check_recorder(&self, recorder: Option<&str>, id: &str) -> Result<()> {
        match recorder {
            Some(recorder) if self.holder != Some(recorder) => Err(not_found(id)),
            _ => Ok(()),
        }
    }
}

/// Events of the same coupon (or book) are delivered in order: this names the chain an
/// event belongs to.
pub fn order_key(event: &Event) -> String {
    let named = |field: &str| event.data.get(field).and_then(Value::as_str);
    match named("code").or_else(|| named("id")) {
        Some(key) => key.to_string(),
        None => event.id.clone(),
    }
}

// ---------------------------------------------------------------------------------
// Secrets and signatures

/// A new signing secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The key bytes of a `whsec_...` secret.
pub fn secret_key(secret: &str) -> Result<Vec<u8>> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    STANDARD
        .decode(encoded.trim())
        .ok()
        .filter(|key| !key.is_empty())
        .ok_or_else(|| Error::invalid("secret", "the secret is not whsec_<base64>"))
}

fn mac(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> Result<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .map_err(|_| Error::invalid("secret", "unusable secret"))?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String> {
    let key = secret_key(secret)?;
    let tag = mac(&key, msg_id, timestamp, body)?.finalize().into_bytes();
    Ok(format!("v1,{}", STANDARD.encode(tag)))
}

/// The `Webhook-Signature` value: one `v1,<sig>` per secret, space-separated.
pub fn signature_header(
    secrets: &[&str],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String> {
    let signatures = secrets
        .iter()
        .map(|secret| sign(secret, msg_id, timestamp, body))
        .collect::<Result<Vec<_>>>()?;
    Ok(signatures.join(" "))
}

/// Why a delivery did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the secret is not whsec_<base64>")]
    BadSecret,
    #[error("the Webhook-Timestamp header is missing or not Unix seconds")]
    BadTimestamp,
    #[error("the timestamp is {0} s away from now, more than the tolerance")]
    TooOld(i64),
    #[error("no v1 signature in Webhook-Signature matches")]
    NoMatch,
}

/// Checks a delivery the way a receiver should: the timestamp within `tolerance`
/// seconds of `now` (0 = not checked), and one of the header's `v1` signatures equal
/// (in constant time) to the HMAC of `id.timestamp.body`.
pub fn verify(
    secret: &str,
    msg_id: &str,
    timestamp: &str,
    body: &[u8],
    signature_header: &str,
    now_seconds: i64,
    tolerance: i64,
) -> std::result::Result<(), VerifyError> {
    let key = secret_key(secret).map_err(|_| VerifyError::BadSecret)?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    let skew = (now_seconds - ts).abs();
    if tolerance > 0 && skew > tolerance {
        return Err(VerifyError::TooOld(skew));
    }
    for candidate in signature_header.split_whitespace() {
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            continue;
        };
        let Ok(given) = STANDARD.decode(encoded) else {
            continue;
        };
        let mac = mac(&key, msg_id, ts, body).map_err(|_| VerifyError::BadSecret)?;
        // `verify_slice` compares in constant time.
        if mac.verify_slice(&given).is_ok() {
            return Ok(());
        }
    }
    Err(VerifyError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOT_ALLOWED: UrlPolicy = UrlPolicy {
        allow_private: false,
    };

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let timestamp = 1614265330;
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, timestamp, body).expect("sign"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn verify_accepts_any_listed_signature_and_refuses_the_rest() {
        let old = new_secret();
        let new = new_secret();
        assert!(new.starts_with("whsec_"));
        let raw = secret_key(&new).expect("decode");
        assert_eq!(raw.len(), 32);
        let body = br#"{"id":"evt_1"}"#;
        let header = signature_header(&[&new, &old], "evt_1", 1000, body).expect("sign");
        assert_eq!(header.split(' ').count(), 2);
        for secret in [&new, &old] {
            assert_eq!(
                verify(secret, "evt_1", "1000", body, &header, 1000, 300),
                Ok(())
            );
        }
        let other = new_secret();
        assert_eq!(
            verify(&other, "evt_1", "1000", body, &header, 1000, 300),
            Err(VerifyError::NoMatch)
        );
        // Any change to id, timestamp or body breaks it.
        assert!(verify(&new, "evt_2", "1000", body, &header, 1000, 300).is_err());
        assert!(verify(&new, "evt_1", "1001", body, &header, 1001, 300).is_err());
        assert!(verify(&new, "evt_1", "1000", b"{}", &header, 1000, 300).is_err());
        // Too old or in the future.
        assert_eq!(
            verify(&new, "evt_1", "1000", body, &header, 1400, 300),
            Err(VerifyError::TooOld(400))
        );
        assert_eq!(
            verify(&new, "evt_1", "1000", body, &header, 1400, 0),
            Ok(())
        );
        assert_eq!(
            verify(&new, "evt_1", "x", body, &header, 1000, 300),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            verify("whsec_!!", "evt_1", "1000", body, &header, 1000, 300),
            Err(VerifyError::BadSecret)
        );
    }

    #[test]
    fn order_key_is_the_coupon_then_the_object() {
        let event = |data: Value| Event {
            id: "evt_9".into(),
            event_type: "x".into(),
            created_at: Timestamp(0),
            actor: crate::domain::event::Actor::unrecorded(),
            data,
        };
        assert_eq!(
            order_key(&event(serde_json::json!({"id": "red_1", "code": "ABC"}))),
            "ABC"
        );
        assert_eq!(
            order_key(&event(serde_json::json!({"id": "book_1"}))),
            "book_1"
        );
        assert_eq!(order_key(&event(serde_json::json!({}))), "evt_9");
    }

    #[test]
    fn create_body_is_checked() {
        let body = |types: Vec<&str>| CreateWebhook {
            url: "https://example.com/h".into(),
            event_types: types.into_iter().map(String::from).collect(),
            description: None,
        };
        assert!(body(vec!["coupon.redeemed"]).validate(NOT_ALLOWED).is_ok());
        assert!(body(vec!["*"]).validate(NOT_ALLOWED).is_ok());
        assert_eq!(
            body(vec![]).validate(NOT_ALLOWED).expect_err("empty").field,
            Some("event_types".into())
        );
        assert_eq!(
            body(vec!["coupon.redeemed", "nope"])
                .validate(NOT_ALLOWED)
                .expect_err("unknown")
                .field,
            Some("event_types[1]".into())
        );
        let hook = body(vec!["coupon.redeemed", "coupon.redeemed"])
            .into_webhook("wh_1".into(), Timestamp(5));
        assert_eq!(hook.event_types, ["coupon.redeemed"]);
        assert!(hook.wants("coupon.redeemed") && !hook.wants("coupon.locked"));
    }

    #[test]
    fn only_a_disabled_endpoint_is_enabled_and_its_failure_clock_resets() {
        let mut hook = CreateWebhook {
            url: "https://example.com/h".into(),
            event_types: vec!["*".into()],
            description: None,
        }
        .into_webhook("wh_1".into(), Timestamp(5));
        hook.failing_since = Some(Timestamp(7));
        assert_eq!(plan_enable(&hook), None, "enabled already: nothing to do");
        hook.status = WebhookStatus::Disabled;
        let enabled = plan_enable(&hook).expect("a disabled endpoint is enabled");
        assert_eq!(enabled.status, WebhookStatus::Enabled);
        assert_eq!(enabled.failing_since, None);
        assert_eq!(
            (&enabled.id, &enabled.url, &enabled.created_at),
            (&hook.id, &hook.url, &hook.created_at)
        );
    }

    #[test]
    fn attempt_ids_carry_their_time() {
        let at = Timestamp(1_795_581_589_123);
        let id = attempt_id(at);
        assert!(id.starts_with("att_"), "{id}");
        assert_eq!(attempt_id_time(&id), Some(at));
        assert_ne!(attempt_id(at), id, "random below the time");
        for other in [
            "",
            "att_",
            "att_nope",
            "evt_01J0000000000000000000000",
            "wh_x",
        ] {
            assert_eq!(attempt_id_time(other), None, "{other}");
        }
    }

    #[test]
    fn a_redelivery_is_numbered_after_the_event_attempts_and_sends_the_same_event() {
        let logged = DeliveryAttempt {
            id: "att_1".into(),
            webhook_id: "wh_1".into(),
            event_id: "evt_5".into(),
            event_type: "coupon.redeemed".into(),
            attempt: 2,
            status: AttemptStatus::Retrying,
            response_status: Some(503),
            response_body: None,
            error: None,
            latency_ms: 1,
            attempted_at: Timestamp(1000),
            next_attempt_at: Some(Timestamp(2000)),
        };
        let plan = plan_redelivery(logged.clone(), [1, 2, 4, 3], "att_9".into());
        assert_eq!((plan.attempt, plan.attempt_id.as_str()), (5, "att_9"));
        assert_eq!(plan_redelivery(logged.clone(), [], "a".into()).attempt, 3);

        let event = Event {
            id: "evt_5".into(),
            event_type: "coupon.redeemed".into(),
            created_at: Timestamp(900),
            actor: super::super::event::Actor::api_key("key_1"),
            data: serde_json::json!({"code": "ABC"}),
        };
        assert_eq!(
            redelivery_event("wh_1", &plan, Some(event.clone())),
            Ok(event.clone())
        );
        let other = Event {
            id: "evt_6".into(),
            ..event
        };
        for feed in [None, Some(other)] {
            assert_eq!(
                redelivery_event("wh_1", &plan, feed)
                    .expect_err("no such event")
                    .code,
                super::super::ErrorCode::DeliveryNotFound
            );
        }
        // A test send's event is made again, with its id.
        let test = plan_redelivery(
            DeliveryAttempt {
                event_type: WEBHOOK_TEST.into(),
                ..logged
            },
            [1],
            "att_10".into(),
        );
        let again = redelivery_event("wh_1", &test, None).expect("test event");
        assert_eq!(again, test_event("wh_1", "evt_5".into(), Timestamp(1000)));
        assert_eq!(again.data["webhook_id"], "wh_1");
    }
}
