//! The change feed: every change appends one event in the same atomic step.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::time::Timestamp;
use super::{Error, Result};

pub const BOOK_CREATED: &str = "book.created";
pub const BOOK_UPDATED: &str = "book.updated";
pub const BOOK_DELETED: &str = "book.deleted";
pub const BOOK_CODES_ADDED: &str = "book.codes_added";
pub const BOOK_EXHAUSTED: &str = "book.exhausted";
pub const COUPON_ASSIGNED: &str = "coupon.assigned";
pub const COUPON_UNASSIGNED: &str = "coupon.unassigned";
pub const COUPON_LOCKED: &str = "coupon.locked";
pub const COUPON_UNLOCKED: &str = "coupon.unlocked";
pub const COUPON_LOCK_EXPIRED: &str = "coupon.lock_expired";
pub const COUPON_REDEEMED: &str = "coupon.redeemed";
pub const COUPON_VOIDED: &str = "coupon.voided";
/// A code removed from its book by a bulk delete (it may be added again).
pub const COUPON_DELETED: &str = "coupon.deleted";
/// A code's own dates, metadata or reward changed (`PATCH /v1/coupons/{code}`).
pub const COUPON_UPDATED: &str = "coupon.updated";
pub const REDEMPTION_REVERSED: &str = "redemption.reversed";

/// Every event type, for validating the feed's `type` filter.
pub const TYPES: &[&str] = &[
    BOOK_CREATED,
    BOOK_UPDATED,
    BOOK_DELETED,
    BOOK_CODES_ADDED,
    BOOK_EXHAUSTED,
    COUPON_ASSIGNED,
    COUPON_UNASSIGNED,
    COUPON_LOCKED,
    COUPON_UNLOCKED,
    COUPON_LOCK_EXPIRED,
    COUPON_REDEEMED,
    COUPON_VOIDED,
    COUPON_DELETED,
    COUPON_UPDATED,
    REDEMPTION_REVERSED,
];

/// The event types, as the OpenAPI document names them (the `type` filter's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    #[serde(rename = "book.created")]
    BookCreated,
    #[serde(rename = "book.updated")]
    BookUpdated,
    #[serde(rename = "book.deleted")]
    BookDeleted,
    #[serde(rename = "book.codes_added")]
    BookCodesAdded,
    #[serde(rename = "book.exhausted")]
    BookExhausted,
    #[serde(rename = "coupon.assigned")]
    CouponAssigned,
    #[serde(rename = "coupon.unassigned")]
    CouponUnassigned,
    #[serde(rename = "coupon.locked")]
    CouponLocked,
    #[serde(rename = "coupon.unlocked")]
    CouponUnlocked,
    #[serde(rename = "coupon.lock_expired")]
    CouponLockExpired,
    #[serde(rename = "coupon.redeemed")]
    CouponRedeemed,
    #[serde(rename = "coupon.voided")]
    CouponVoided,
    #[serde(rename = "coupon.deleted")]
    CouponDeleted,
    #[serde(rename = "coupon.updated")]
    CouponUpdated,
    #[serde(rename = "redemption.reversed")]
    RedemptionReversed,
}

/// Who made a change: an API key, a JWT's subject, or the service itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    ApiKey,
    Jwt,
    System,
}

/// The actor of an event (and the starter of a job).
///
/// `system` changes name the work that made them: `lock_expiry` for the sweep of
/// expired locks, the job id for a job's work (the job's `started_by` says who started
/// it), `cli` for the command line. Events stored before actors were recorded read as
/// `{"type": "system", "id": null}`: their actor is unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Actor {
    #[serde(rename = "type")]
    pub kind: ActorType,
    /// The API key id, the JWT's `sub`, or the system work's name; null when unknown.
    #[schema(required = true)]
    pub id: Option<String>,
}

impl Actor {
    pub fn api_key(key_id: &str) -> Actor {
        Actor {
            kind: ActorType::ApiKey,
            id: Some(key_id.to_string()),
        }
    }

    pub fn jwt(sub: &str) -> Actor {
        Actor {
            kind: ActorType::Jwt,
            id: Some(sub.to_string()),
        }
    }

    /// The service itself, doing the named work (`lock_expiry`, a job id, `cli`).
    pub fn system(work: &str) -> Actor {
        Actor {
            kind: ActorType::System,
            id: Some(work.to_string()),
        }
    }

    /// The actor of a change stored before actors were recorded.
    pub fn unrecorded() -> Actor {
        Actor {
            kind: ActorType::System,
            id: None,
        }
    }
}

/// The system work that sweeps expired locks.
pub const LOCK_EXPIRY: &str = "lock_expiry";

/// What an event is about, kept beside it so the feed can be filtered by index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    pub book_id: Option<String>,
    pub code: Option<String>,
    pub user_id: Option<String>,
}

impl Subject {
    /// Read from the event's data: a Book (`book.*`: its `id`), a Coupon (`book_id`,
    /// `code`, `assigned_to`) or a Redemption (`book_id`, `code`, `user_id`).
    pub fn of(event_type: &str, data: &Value) -> Subject {
        let named = |field: &str| data.get(field).and_then(Value::as_str).map(str::to_string);
        if event_type.starts_with("book.") {
            return Subject {
                book_id: named("id"),
                ..Subject::default()
            };
        }
        Subject {
            book_id: named("book_id"),
            code: named("code"),
            user_id: named("user_id").or_else(|| named("assigned_to")),
        }
    }

    /// The user a change concerns when its data does not name them (the holder of a
    /// lock, the user a coupon was taken from).
    pub fn for_user(mut self, user_id: Option<&str>) -> Subject {
        if let Some(user_id) = user_id {
            self.user_id = Some(user_id.to_string());
        }
        self
    }
}

/// Filters of the event feed; all given ones must match. Empty: the whole feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Any of these types (none: every type).
    pub types: Vec<String>,
    pub book_id: Option<String>,
    pub code: Option<String>,
    pub user_id: Option<String>,
}

impl EventFilter {
    /// A filter from the request's values: unknown types are refused (`type`), codes
    /// are matched in upper case, repeated types count once.
    pub fn new(
        types: &[&str],
        book_id: Option<String>,
        code: Option<String>,
        user_id: Option<String>,
    ) -> Result<EventFilter> {
        let mut wanted: Vec<String> = Vec::new();
        for name in types {
            if !TYPES.contains(name) {
                return Err(Error::invalid(
                    "type",
                    format!("unknown event type {name:?}: one of {}", TYPES.join(", ")),
                ));
            }
            if !wanted.iter().any(|w| w == name) {
                wanted.push((*name).to_string());
            }
        }
        Ok(EventFilter {
            types: wanted,
            book_id,
            code: code.map(|c| c.to_ascii_uppercase()),
            user_id,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
            && self.book_id.is_none()
            && self.code.is_none()
            && self.user_id.is_none()
    }

    /// Whether an event of this type about this subject passes every filter.
    pub fn matches(&self, event_type: &str, subject: &Subject) -> bool {
        let same = |wanted: &Option<String>, got: &Option<String>| {
            wanted.as_ref().is_none_or(|w| got.as_ref() == Some(w))
        };
        (self.types.is_empty() || self.types.iter().any(|t| t == event_type))
            && same(&self.book_id, &subject.book_id)
            && same(&self.code, &subject.code)
            && same(&self.user_id, &subject.user_id)
    }

    /// The filter a store reads by index, most selective first: a code (one
    /// coupon's events), a user, a book, then the types alone.
    pub fn key(&self) -> Option<FilterKey<'_>> {
        if let Some(code) = &self.code {
            return Some(FilterKey::Code(code));
        }
        if let Some(user_id) = &self.user_id {
            return Some(FilterKey::User(user_id));
        }
        if let Some(book_id) = &self.book_id {
            return Some(FilterKey::Book(book_id));
        }
        (!self.types.is_empty()).then_some(FilterKey::Types(&self.types))
    }
}

/// The index a filtered read of the feed walks; the other filters are checked on
/// what it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKey<'a> {
    Code(&'a str),
    User(&'a str),
    Book(&'a str),
    Types(&'a [String]),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub created_at: Timestamp,
    /// Who made the change.
    #[serde(default = "Actor::unrecorded")]
    #[schema(required = true)]
    pub actor: Actor,
    /// The object after the change: a Book, a Coupon or a Redemption.
    #[schema(value_type = Object)]
    pub data: Value,
}

impl Event {
    /// The book the event is about (its own, or its coupon's or redemption's), read
    /// from its data as `Subject::of` reads it.
    pub fn book_id(&self) -> Option<&str> {
        let field = if self.event_type.starts_with("book.") {
            "id"
        } else {
            "book_id"
        };
        self.data.get(field).and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_documented_types_are_the_types() {
        for name in TYPES {
            let parsed: EventType = serde_json::from_value(json!(name)).expect("documented");
            assert_eq!(serde_json::to_value(parsed).expect("named"), json!(name));
        }
        let unknown = serde_json::from_value::<EventType>(json!("coupon.stolen"));
        assert!(unknown.is_err());
    }

    #[test]
    fn the_subject_comes_from_the_data() {
        let book = Subject::of(BOOK_UPDATED, &json!({"id": "book_1", "name": "n"}));
        assert_eq!(book.book_id.as_deref(), Some("book_1"));
        assert_eq!((book.code, book.user_id), (None, None));
        let coupon = json!({"code": "C-1", "book_id": "book_1", "assigned_to": "ann"});
        let locked = Subject::of(COUPON_LOCKED, &coupon).for_user(Some("bob"));
        assert_eq!(locked.user_id.as_deref(), Some("bob"));
        let redemption =
            json!({"id": "red_1", "code": "C-1", "book_id": "book_1", "user_id": "cy"});
        let redeemed = Subject::of(COUPON_REDEEMED, &redemption);
        assert_eq!(redeemed.code.as_deref(), Some("C-1"));
        assert_eq!(redeemed.user_id.as_deref(), Some("cy"));
    }

    #[test]
    fn filters_are_checked_and_keyed_by_selectivity() {
        let bad = EventFilter::new(&["coupon.redeemed", "nope"], None, None, None);
        assert_eq!(bad.expect_err("unknown").field.as_deref(), Some("type"));
        let filter = EventFilter::new(
            &["coupon.redeemed", "coupon.redeemed"],
            Some("book_1".into()),
            Some("c-1".into()),
            None,
        )
        .expect("valid");
        assert_eq!(filter.types, ["coupon.redeemed"]);
        assert_eq!(filter.key(), Some(FilterKey::Code("C-1")));
        let subject = Subject {
            book_id: Some("book_1".into()),
            code: Some("C-1".into()),
            user_id: None,
        };
        assert!(filter.matches(COUPON_REDEEMED, &subject));
        assert!(!filter.matches(COUPON_LOCKED, &subject));
        assert!(EventFilter::default().key().is_none());
    }
}
