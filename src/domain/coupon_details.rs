//! What one code may carry beside its state: its own validity window, free metadata
//! and a reward overriding its book's. Most codes carry none of it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::book::nullable;
use super::error::{Error, ErrorCode, Result};
use super::reward::{Reward, reward_field};
use super::time::Timestamp;

/// Largest metadata object one code may carry, as JSON.
pub const MAX_CODE_METADATA_BYTES: usize = 4 * 1024;

/// A code's own data, as the stores keep it (absent fields are not written).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CouponDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<Reward>,
}

impl CouponDetails {
    pub fn is_empty(&self) -> bool {
        *self == CouponDetails::default()
    }

    /// The stored form: `None` for a code without details, so it costs nothing.
    pub fn to_stored(&self) -> Option<String> {
        (!self.is_empty())
            .then(|| serde_json::to_string(self).ok())
            .flatten()
    }

    /// Reads the stored form back; a record that cannot be read is an internal error.
    pub fn from_stored(text: Option<&str>) -> Result<CouponDetails> {
        match text {
            None => Ok(CouponDetails::default()),
            Some(text) => serde_json::from_str(text)
                .map_err(|e| Error::internal(format!("unreadable coupon details: {e}"))),
        }
    }

    /// Whether the code's own window holds `now` (the book's is checked before).
    pub fn check_window(&self, now: Timestamp) -> Result<()> {
        let too_early = self.starts_at.is_some_and(|from| now < from);
        let too_late = self.expires_at.is_some_and(|until| now >= until);
        if too_early || too_late {
            return Err(Error::new(
                ErrorCode::CouponNotValidNow,
                "the coupon is outside its own validity window",
            ));
        }
        Ok(())
    }

    /// Checks the fields together; errors name them under `prefix` (`codes[3].`).
    fn validate(&self, prefix: &str) -> Result<()> {
        if let (Some(from), Some(until)) = (self.starts_at, self.expires_at)
            && until <= from
        {
            return Err(Error::invalid(
                format!("{prefix}expires_at"),
                "expires_at must be after starts_at",
            ));
        }
        if let Some(metadata) = &self.metadata {
            let bytes = serde_json::to_vec(metadata).map(|v| v.len()).unwrap_or(0);
            if bytes > MAX_CODE_METADATA_BYTES {
                return Err(Error::invalid(
                    format!("{prefix}metadata"),
                    "metadata must be at most 4 KiB of JSON",
                ));
            }
        }
        Ok(())
    }
}

/// Reads a timestamp field of a request (`null` clears it).
fn timestamp_field(value: &Value, field: &str) -> Result<Option<Timestamp>> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Timestamp::parse(text)
            .map(Some)
            .ok_or_else(|| Error::invalid(field, format!("{field} must be an RFC 3339 date-time"))),
        _ => Err(Error::invalid(
            field,
            format!("{field} must be an RFC 3339 date-time or null"),
        )),
    }
}

/// Reads a metadata field of a request (`null` clears it).
fn metadata_field(value: &Value, field: &str) -> Result<Option<Map<String, Value>>> {
    match value {
        Value::Null => Ok(None),
        Value::Object(map) => Ok(Some(map.clone())),
        _ => Err(Error::invalid(
            field,
            format!("{field} must be a JSON object or null"),
        )),
    }
}

/// Body of `PATCH /v1/coupons/{code}`: absent fields stay as they are, null clears.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCoupon {
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Timestamp>)]
    pub starts_at: Option<Option<Value>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Timestamp>)]
    pub expires_at: Option<Option<Value>>,
    /// A JSON object of at most 4 KiB.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Option<Value>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<crate::domain::reward::RewardSchema>)]
    pub reward: Option<Option<Value>>,
}

impl UpdateCoupon {
    /// The details after this patch, or why it is refused.
    pub fn apply(&self, current: &CouponDetails) -> Result<CouponDetails> {
        let mut next = current.clone();
        let field = |v: &Option<Value>| v.clone().unwrap_or(Value::Null);
        if let Some(v) = &self.starts_at {
            next.starts_at = timestamp_field(&field(v), "starts_at")?;
        }
        if let Some(v) = &self.expires_at {
            next.expires_at = timestamp_field(&field(v), "expires_at")?;
        }
        if let Some(v) = &self.metadata {
            next.metadata = metadata_field(&field(v), "metadata")?;
        }
        if let Some(v) = &self.reward {
            next.reward = reward_field(&field(v), "reward")?;
        }
        next.validate("")?;
        Ok(next)
    }

    /// Checks each given field before the coupon is looked up, so a bad field is an
    /// `invalid_request` even for an unknown code.
    pub fn check_fields(&self) -> Result<()> {
        self.apply(&CouponDetails::default()).map(|_| ())
    }
}

/// One entry of `POST /v1/books/{book_id}/codes`: a code, or a code with its data.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum CodeInput {
    Code(String),
    #[schema(value_type = CodeWithDetails)]
    WithDetails(Map<String, Value>),
}

/// A code with its own dates, metadata and reward.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CodeWithDetails {
    code: String,
    starts_at: Option<Timestamp>,
    expires_at: Option<Timestamp>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    #[schema(value_type = Option<crate::domain::reward::RewardSchema>)]
    reward: Option<Value>,
}

impl CodeInput {
    /// The raw code and its checked details; errors name the field under `prefix`.
    pub fn read(&self, prefix: &str) -> Result<(String, CouponDetails)> {
        match self {
            CodeInput::Code(code) => Ok((code.clone(), CouponDetails::default())),
            CodeInput::WithDetails(map) => {
                let mut code = None;
                let mut patch = UpdateCoupon::default();
                for (name, value) in map {
                    let slot = match name.as_str() {
                        "code" => {
                            code = value.as_str().map(str::to_owned);
                            continue;
                        }
                        "starts_at" => &mut patch.starts_at,
                        "expires_at" => &mut patch.expires_at,
                        "metadata" => &mut patch.metadata,
                        "reward" => &mut patch.reward,
                        other => {
                            return Err(Error::invalid(
                                format!("{prefix}{other}"),
                                format!("unknown field {other}"),
                            ));
                        }
                    };
                    *slot = Some(Some(value.clone()));
                }
                let code = code.ok_or_else(|| {
                    Error::invalid(format!("{prefix}code"), "code must be a string")
                })?;
                let details = patch
                    .apply(&CouponDetails::default())
                    .map_err(|e| prefixed(e, prefix))?;
                Ok((code, details))
            }
        }
    }
}

/// The same error with its field under `prefix`.
pub fn prefixed(mut error: Error, prefix: &str) -> Error {
    if let Some(field) = &error.field {
        error.field = Some(format!("{prefix}{field}"));
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_code_window_is_half_open() {
        let details = CouponDetails {
            starts_at: Some(Timestamp(10)),
            expires_at: Some(Timestamp(20)),
            ..CouponDetails::default()
        };
        assert!(details.check_window(Timestamp(9)).is_err());
        assert!(details.check_window(Timestamp(10)).is_ok());
        assert!(details.check_window(Timestamp(19)).is_ok());
        let late = details.check_window(Timestamp(20)).map_err(|e| e.code);
        assert_eq!(late, Err(ErrorCode::CouponNotValidNow));
    }

    #[test]
    fn a_patch_sets_clears_and_checks_fields() {
        let patch: UpdateCoupon = serde_json::from_value(json!({
            "starts_at": "2030-01-01T00:00:00Z",
            "metadata": {"campaign": "spring"},
            "reward": {"type": "percent_off", "percent_off": 15.5}
        }))
        .unwrap();
        let details = patch.apply(&CouponDetails::default()).unwrap();
        assert!(details.starts_at.is_some());
        assert_eq!(
            details.reward.as_ref().unwrap().percent_off_hundredths,
            Some(1550)
        );
        let stored = details.to_stored().unwrap();
        assert_eq!(CouponDetails::from_stored(Some(&stored)).unwrap(), details);

        let clear: UpdateCoupon = serde_json::from_value(json!({"reward": null})).unwrap();
        assert_eq!(clear.apply(&details).unwrap().reward, None);

        let bad: UpdateCoupon = serde_json::from_value(
            json!({"reward": {"type": "percent_off", "percent_off": 100.001}}),
        )
        .unwrap();
        let err = bad.check_fields().unwrap_err();
        assert_eq!(err.field.as_deref(), Some("reward.percent_off"));
        let bad: UpdateCoupon = serde_json::from_value(json!({"metadata": [1]})).unwrap();
        assert_eq!(
            bad.check_fields().unwrap_err().field.as_deref(),
            Some("metadata")
        );
        let bad: UpdateCoupon = serde_json::from_value(json!({
            "starts_at": "2030-01-02T00:00:00Z", "expires_at": "2030-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(
            bad.check_fields().unwrap_err().field.as_deref(),
            Some("expires_at")
        );
        let big = "x".repeat(MAX_CODE_METADATA_BYTES);
        let bad: UpdateCoupon = serde_json::from_value(json!({"metadata": {"k": big}})).unwrap();
        assert_eq!(
            bad.check_fields().unwrap_err().field.as_deref(),
            Some("metadata")
        );
    }

    #[test]
    fn a_code_object_names_its_bad_field() {
        let input: CodeInput = serde_json::from_value(json!({
            "code": "spring-1", "reward": {"type": "amount_off", "amount_off": 500}
        }))
        .unwrap();
        let err = input.read("codes[2].").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("codes[2].reward.currency"));
        let input: CodeInput =
            serde_json::from_value(json!({"code": "spring-1", "color": 1})).unwrap();
        assert_eq!(
            input.read("codes[0].").unwrap_err().field.as_deref(),
            Some("codes[0].color")
        );
        let input: CodeInput = serde_json::from_value(json!("plain")).unwrap();
        assert_eq!(
            input.read("codes[0].").unwrap(),
            ("plain".to_string(), CouponDetails::default())
        );
    }
}
