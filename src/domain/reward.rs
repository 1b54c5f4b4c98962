//! What a code is worth, and what it takes off an order: the reward a book or coupon
//! carries, the order sent at checkout, and the one function that computes a discount
//! (exact integer arithmetic in minor units, floor rounding, caps), used for one code
//! and for several codes on one order alike.

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{Error, ErrorCode, Result};
pub use super::order::{MAX_ORDER_ITEMS, Order, OrderInput, OrderItem, order_field};

/// Longest reward label.
pub const MAX_LABEL_CHARS: usize = 200;
/// Percent held in hundredths: 100% is 10,000.
const WHOLE: u64 = 10_000;

/// What kind of value a reward gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RewardKind {
    PercentOff,
    AmountOff,
    FreeShipping,
    Custom,
}

/// A reward as validated. `percent_off` is held in hundredths of a percent (15.5% is
/// 1,550), so no discount ever goes through a float.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reward {
    pub kind: RewardKind,
    pub percent_off_hundredths: Option<u64>,
    pub amount_off: Option<u64>,
    pub currency: Option<String>,
    pub max_discount: Option<u64>,
    pub min_order_amount: Option<u64>,
    pub applies_to_skus: Option<Vec<String>>,
    pub label: Option<String>,
}

/// A reward as the API shows it and the stores keep it.
impl Serialize for Reward {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(8))?;
        map.serialize_entry("type", &self.kind)?;
        // Hundredths print back as the percent given: 1999 -> 19.99.
        let percent = self.percent_off_hundredths.map(|h| h as f64 / 100.0);
        map.serialize_entry("percent_off", &percent)?;
        map.serialize_entry("amount_off", &self.amount_off)?;
        map.serialize_entry("currency", &self.currency)?;
        map.serialize_entry("max_discount", &self.max_discount)?;
        map.serialize_entry("min_order_amount", &self.min_order_amount)?;
        map.serialize_entry("applies_to_skus", &self.applies_to_skus)?;
        map.serialize_entry("label", &self.label)?;
        map.end()
    }
}

/// Read back through the same checks as a client's reward.
impl<'de> Deserialize<'de> for Reward {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        RewardInput::deserialize(deserializer)?
            .validate("reward")
            .map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// What a code is worth (OpenAPI shape of `Reward`).
#[derive(ToSchema)]
#[schema(as = Reward)]
#[allow(dead_code)]
pub struct RewardSchema {
    #[schema(rename = "type")]
    kind: RewardKind,
    /// percent_off only: 0 < x <= 100, at most 2 decimals.
    #[schema(value_type = Option<f64>, minimum = 0.01, maximum = 100)]
    percent_off: Option<f64>,
    /// amount_off only: minor units (cents), > 0.
    #[schema(minimum = 1)]
    amount_off: Option<u64>,
    /// ISO 4217, upper case; required with amount_off, max_discount, min_order_amount.
    #[schema(pattern = "^[A-Z]{3}$")]
    currency: Option<String>,
    /// percent_off only: the most it takes off, minor units.
    max_discount: Option<u64>,
    /// An order below this amount fails with `order_below_minimum`.
    min_order_amount: Option<u64>,
    /// The discount base is the matching order items only.
    applies_to_skus: Option<Vec<String>>,
    /// Free text for receipts, <= 200 characters.
    #[schema(max_length = 200)]
    label: Option<String>,
}

/// Reads an optional reward field of a request (`null` clears it).
pub fn reward_field(value: &Value, field: &str) -> Result<Option<Reward>> {
    if value.is_null() {
        return Ok(None);
    }
    let input = RewardInput::deserialize(value)
        .map_err(|e| bad(field, format!("{field} is not a valid reward: {e}")))?;
    input.validate(field).map(Some)
}

/// A reward as a client sends it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardInput {
    #[serde(rename = "type")]
    pub kind: Option<Value>,
    pub percent_off: Option<Value>,
    pub amount_off: Option<Value>,
    pub currency: Option<Value>,
    pub max_discount: Option<Value>,
    pub min_order_amount: Option<Value>,
    pub applies_to_skus: Option<Value>,
    pub label: Option<Value>,
}

pub(super) fn bad(field: &str, message: impl Into<String>) -> Error {
    Error::invalid(field, message)
}

/// A whole number of minor units, >= `min`.
fn minor_units(value: &Value, field: &str, min: u64) -> Result<u64> {
    value.as_u64().filter(|n| *n >= min).ok_or_else(|| {
        bad(
            field,
            format!("{field} must be a whole number of minor units >= {min}"),
        )
    })
}

/// An ISO 4217 code: three upper-case letters.
pub(super) fn currency(value: &Value, field: &str) -> Result<String> {
    currency_code(value.as_str(), field)
}

/// Three upper-case letters, as sent (`None`: not text).
pub(super) fn currency_code(text: Option<&str>, field: &str) -> Result<String> {
    text.filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        .map(str::to_owned)
        .ok_or_else(|| {
            bad(
                field,
                format!("{field} must be three upper-case letters (ISO 4217)"),
            )
        })
}

/// A percent in (0, 100] with at most two decimals, in hundredths.
fn hundredths(value: &Value, field: &str) -> Result<u64> {
    let error = || {
        bad(
            field,
            format!("{field} must be above 0 and at most 100, with at most 2 decimals"),
        )
    };
    let percent = value.as_f64().ok_or_else(error)?;
    let scaled = percent * 100.0;
    let rounded = scaled.round();
    // 19.99 * 100 is 1998.9999999999998 in binary: anything that close is that value.
    if !(rounded >= 1.0 && rounded <= WHOLE as f64) || (scaled - rounded).abs() > 1e-6 {
        return Err(error());
    }
    Ok(rounded as u64)
}

impl RewardInput {
    /// Checks every field; errors name it as `{prefix}.{field}`.
    pub fn validate(self, prefix: &str) -> Result<Reward> {
        let at = |name: &str| format!("{prefix}.{name}");
        let kind = match self.kind.as_ref().and_then(Value::as_str) {
            Some("percent_off") => RewardKind::PercentOff,
            Some("amount_off") => RewardKind::AmountOff,
            Some("free_shipping") => RewardKind::FreeShipping,
            Some("custom") => RewardKind::Custom,
            _ => {
                return Err(bad(
                    &at("type"),
                    "type must be percent_off, amount_off, free_shipping or custom",
                ));
            }
        };
        let units = |value: &Option<Value>, name: &str, min: u64| {
            value
                .as_ref()
                .filter(|v| !v.is_null())
                .map(|v| minor_units(v, &at(name), min))
                .transpose()
        };
        let percent_off_hundredths = match (&self.percent_off, kind) {
            (Some(v), RewardKind::PercentOff) if !v.is_null() => {
                Some(hundredths(v, &at("percent_off"))?)
            }
            (_, RewardKind::PercentOff) => {
                return Err(bad(
                    &at("percent_off"),
                    "percent_off is required with type percent_off",
                ));
            }
            (Some(v), _) if !v.is_null() => {
                return Err(bad(
                    &at("percent_off"),
                    "percent_off is only for type percent_off",
                ));
            }
            _ => None,
        };
        let amount_off = match (units(&self.amount_off, "amount_off", 1)?, kind) {
            (Some(n), RewardKind::AmountOff) => Some(n),
            (None, RewardKind::AmountOff) => {
                return Err(bad(
                    &at("amount_off"),
                    "amount_off is required with type amount_off",
                ));
            }
            (Some(_), _) => {
                return Err(bad(
                    &at("amount_off"),
                    "amount_off is only for type amount_off",
                ));
            }
            (None, _) => None,
        };
        let max_discount = units(&self.max_discount, "max_discount", 0)?;
        if max_discount.is_some() && kind != RewardKind::PercentOff {
            return Err(bad(
                &at("max_discount"),
                "max_discount is only for type percent_off",
            ));
        }
        let min_order_amount = units(&self.min_order_amount, "min_order_amount", 0)?;
        let currency = match self.currency.as_ref().filter(|v| !v.is_null()) {
            Some(v) => Some(currency(v, &at("currency"))?),
            None if amount_off.is_some()
                || max_discount.is_some()
                || min_order_amount.is_some() =>
            {
                return Err(bad(
                    &at("currency"),
                    "currency is required with amount_off, max_discount or min_order_amount",
                ));
            }
            None => None,
        };
        let applies_to_skus = match self.applies_to_skus.as_ref().filter(|v| !v.is_null()) {
            None => None,
            Some(v) => {
                let skus: Option<Vec<String>> = v.as_array().and_then(|items| {
                    items
                        .iter()
                        .map(|s| {
                            s.as_str()
                                .filter(|s| !s.is_empty() && s.chars().count() <= 200)
                                .map(str::to_owned)
                        })
                        .collect()
                });
                match skus {
                    Some(skus) if !skus.is_empty() && skus.len() <= MAX_ORDER_ITEMS => Some(skus),
                    _ => {
                        return Err(bad(
                            &at("applies_to_skus"),
                            format!(
                                "applies_to_skus must be 1 to {MAX_ORDER_ITEMS} non-empty strings of up to 200 characters"
                            ),
                        ));
                    }
                }
            }
        };
        let label = match self.label.as_ref().filter(|v| !v.is_null()) {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .filter(|l| l.chars().count() <= MAX_LABEL_CHARS)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        bad(
                            &at("label"),
                            format!("label must be text of at most {MAX_LABEL_CHARS} characters"),
                        )
                    })?,
            ),
        };
        Ok(Reward {
            kind,
            percent_off_hundredths,
            amount_off,
            currency,
            max_discount,
            min_order_amount,
            applies_to_skus,
            label,
        })
    }
}

/// An order rule a code fails, in the contract's precedence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderReason {
    CurrencyMismatch,
    OrderBelowMinimum,
    NoEligibleItems,
    NotCombinable,
}

impl OrderReason {
    pub fn from_code(code: ErrorCode) -> Option<OrderReason> {
        Some(match code {
            ErrorCode::CurrencyMismatch => OrderReason::CurrencyMismatch,
            ErrorCode::OrderBelowMinimum => OrderReason::OrderBelowMinimum,
            ErrorCode::NoEligibleItems => OrderReason::NoEligibleItems,
            ErrorCode::NotCombinable => OrderReason::NotCombinable,
            _ => return None,
        })
    }

    pub fn code(self) -> ErrorCode {
        match self {
            OrderReason::CurrencyMismatch => ErrorCode::CurrencyMismatch,
            OrderReason::OrderBelowMinimum => ErrorCode::OrderBelowMinimum,
            OrderReason::NoEligibleItems => ErrorCode::NoEligibleItems,
            OrderReason::NotCombinable => ErrorCode::NotCombinable,
        }
    }

    /// The 409 a lock or redeem that fails this rule answers.
    pub fn error(self) -> Error {
        let message = match self {
            OrderReason::CurrencyMismatch => "the order's currency is not the reward's",
            OrderReason::OrderBelowMinimum => "the order is below the reward's minimum amount",
            OrderReason::NoEligibleItems => "no item of the order is one the reward applies to",
            OrderReason::NotCombinable => "this code cannot be combined with the other codes",
        };
        Error::new(self.code(), message)
    }
}

/// What a code takes off an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Discount {
    pub amount: u64,
    pub currency: String,
    pub free_shipping: bool,
}

/// A reward judged against an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The order rules that fail, in precedence order (empty: the reward applies).
    pub reasons: Vec<OrderReason>,
    /// What it takes off (`None` for a custom reward or when a rule fails).
    pub discount: Option<Discount>,
}

impl Reward {
    /// Lock and redeem of a code with this reward need an order.
    pub fn needs_order(&self) -> bool {
        self.min_order_amount.is_some() || self.applies_to_skus.is_some()
    }

    /// Judges this reward on `order`, as the only code on it.
    pub fn evaluate(&self, order: &Order) -> Evaluation {
        self.evaluate_within(order, order.amount)
    }

    /// Judges this reward on `order` when only `left` of its amount is still open (the
    /// earlier codes on the order took the rest).
    pub fn evaluate_within(&self, order: &Order, left: u64) -> Evaluation {
        if self.currency.as_ref().is_some_and(|c| *c != order.currency) {
            return Evaluation {
                reasons: vec![OrderReason::CurrencyMismatch],
                discount: None,
            };
        }
        let mut reasons = Vec::new();
        if self.min_order_amount.is_some_and(|min| order.amount < min) {
            reasons.push(OrderReason::OrderBelowMinimum);
        }
        let base = match &self.applies_to_skus {
            None => Some(u128::from(order.amount)),
            Some(skus) => {
                let matching = order.items.iter().filter(|item| skus.contains(&item.sku));
                let mut any = false;
                let mut sum = 0u128;
                for item in matching {
                    any = true;
                    sum += u128::from(item.quantity) * u128::from(item.unit_amount);
                }
                any.then_some(sum)
            }
        };
        let Some(base) = base else {
            reasons.push(OrderReason::NoEligibleItems);
            return Evaluation {
                reasons,
                discount: None,
            };
        };
        if !reasons.is_empty() {
            return Evaluation {
                reasons,
                discount: None,
            };
        }
        // Never more than the order amount, nor than what earlier codes left open.
        let base = base.min(u128::from(order.amount)).min(u128::from(left));
        let currency = self
            .currency
            .clone()
            .unwrap_or_else(|| order.currency.clone());
        let amount = match self.kind {
            RewardKind::PercentOff => {
                let share =
                    base * u128::from(self.percent_off_hundredths.unwrap_or(0)) / u128::from(WHOLE);
                self.max_discount
                    .map_or(share, |cap| share.min(u128::from(cap)))
            }
            RewardKind::AmountOff => u128::from(self.amount_off.unwrap_or(0)).min(base),
            RewardKind::FreeShipping => 0,
            RewardKind::Custom => {
                return Evaluation {
                    reasons,
                    discount: None,
                };
            }
        };
        Evaluation {
            reasons,
            discount: Some(Discount {
                // `amount` <= `base` <= `order.amount`, a u64.
                amount: u64::try_from(amount).unwrap_or(order.amount),
                currency,
                free_shipping: self.kind == RewardKind::FreeShipping,
            }),
        }
    }
}

/// The order rules of one code with `reward` (its effective one): an order the reward
/// needs but was not sent is a bad request, a failing rule its 409; else what the code
/// takes off the order (null without an order or a reward, or for a custom one).
pub fn judge_order(reward: Option<&Reward>, order: Option<&Order>) -> Result<Option<Discount>> {
    let Some(reward) = reward else {
        return Ok(None);
    };
    let Some(order) = order else {
        if reward.needs_order() {
            return Err(bad(
                "order",
                "this code's reward needs the order (min_order_amount or applies_to_skus)",
            ));
        }
        return Ok(None);
    };
    let evaluation = reward.evaluate(order);
    match evaluation.reasons.first() {
        Some(reason) => Err(reason.error()),
        None => Ok(evaluation.discount),
    }
}

/// One code on a multi-code order, as its coupon rules left it.
#[derive(Debug, Clone)]
pub struct CodeOnOrder {
    /// The coupon's effective reward (`None`: the code carries no computed value).
    pub reward: Option<Reward>,
    /// Its book's `combinable`.
    pub combinable: bool,
    /// The coupon rules it already fails (they come before the order rules).
    pub failed_before: bool,
}

/// One code's result on a multi-code order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeResult {
    pub reasons: Vec<OrderReason>,
    pub discount: Option<Discount>,
}

/// Applies codes to one order in the order given, each on what the earlier valid ones
/// left open. Returns each code's order reasons and discount, and the total discount.
pub fn apply_codes(order: &Order, codes: &[CodeOnOrder]) -> (Vec<CodeResult>, Discount) {
    let mut left = order.amount;
    let mut placed_all_combinable: Option<bool> = None;
    let mut total = Discount {
        amount: 0,
        currency: order.currency.clone(),
        free_shipping: false,
    };
    let mut results = Vec::with_capacity(codes.len());
    for code in codes {
        let evaluation = match &code.reward {
            Some(reward) => reward.evaluate_within(order, left),
            None => Evaluation {
                reasons: Vec::new(),
                discount: None,
            },
        };
        let mut reasons = evaluation.reasons;
        if let Some(all_combinable) = placed_all_combinable
            && !(all_combinable && code.combinable)
        {
            reasons.push(OrderReason::NotCombinable);
        }
        let valid = reasons.is_empty() && !code.failed_before;
        let discount = if valid { evaluation.discount } else { None };
        if valid {
            placed_all_combinable = Some(placed_all_combinable.unwrap_or(true) && code.combinable);
            if let Some(d) = &discount {
                left -= d.amount.min(left);
                total.amount += d.amount;
                total.free_shipping |= d.free_shipping;
            }
        }
        results.push(CodeResult { reasons, discount });
    }
    (results, total)
}

#[cfg(test)]
#[path = "reward_tests.rs"]
mod tests;
