//! Several codes on one order (`POST /v1/validations`, `POST /v1/redemptions`): each
//! code's own rules, then the order rules applied code after code on what the earlier
//! ones left open, with combinability. The answer both routes give is decided here,
//! and the order part every redemption keeps.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::coupon::{Redemption, RedemptionStatus, UserUsage, normalize_code};
use super::error::{Error, ErrorCode, Result};
use super::order::{Order, OrderInput};
use super::reward::{CodeOnOrder, Discount, Reward, apply_codes};
use super::time::Timestamp;

/// Codes one checkout may carry.
pub const MAX_CODES_PER_ORDER: usize = 10;

/// What one code brings to a multi-code order, as its store read it.
#[derive(Debug, Clone)]
pub struct CodeCheck {
    pub code: String,
    /// The coupon rules it breaks, in precedence order (the order rules are judged
    /// here); `coupon_not_found` for an unknown code.
    pub failures: Vec<ErrorCode>,
    /// Its effective reward.
    pub reward: Option<Reward>,
    /// Its book's `combinable`.
    pub combinable: bool,
}

/// One code's answer on a multi-code order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CodeVerdict {
    pub code: String,
    pub valid: bool,
    pub reason: Option<ErrorCode>,
    /// Every rule it breaks, in precedence order (`not_combinable` last).
    pub reasons: Vec<ErrorCode>,
    pub discount: Option<Discount>,
}

/// Answer of `POST /v1/validations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MultiValidation {
    /// Whether every code is valid on this order.
    pub valid: bool,
    pub results: Vec<CodeVerdict>,
    /// The sum of the valid codes' discounts, never above `order.amount`.
    pub total_discount: Discount,
}

/// One code of `POST /v1/redemptions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RedeemItem {
    pub code: String,
    /// The user's live lock on it, consumed by the redemption.
    #[serde(default)]
    pub lock_id: Option<String>,
}

/// Answer of `POST /v1/redemptions`: every code redeemed, in the order given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MultiRedemption {
    pub redemptions: Vec<Redemption>,
    pub total_discount: Discount,
}

/// The error of the `index`th code of a multi-code request, named as such.
pub fn at_item(index: usize) -> impl Fn(Error) -> Error {
    move |mut error| {
        error.field = Some(format!("items[{index}]"));
        error
    }
}

/// Redemptions already planned in this step, per book: the next code of the same book
/// is judged as if they were written (per-user limit, budget).
#[derive(Debug, Default)]
pub struct Planned {
    per_book: HashMap<String, u64>,
    codes: HashSet<String>,
}

impl Planned {
    /// The user's usage and the book's redemptions, counting the planned ones.
    pub fn counted(
        &self,
        book_id: &str,
        usage: UserUsage,
        book_redemptions: u64,
    ) -> (UserUsage, u64) {
        let planned = self.per_book.get(book_id).copied().unwrap_or(0);
        let usage = UserUsage {
            redeemed: usage.redeemed + planned,
            ..usage
        };
        (usage, book_redemptions + planned)
    }

    /// Plans one more redemption of `code`; a code planned already is refused, so no
    /// code is ever redeemed twice from one decision.
    pub fn add(&mut self, code: &str, book_id: &str) -> Result<()> {
        if !self.codes.insert(code.to_string()) {
            return Err(Error::invalid(
                "items",
                "a code may be listed once per order",
            ));
        }
        *self.per_book.entry(book_id.to_string()).or_insert(0) += 1;
        Ok(())
    }
}

/// Once every code passed its own rules: the discounts on the order, or the first
/// code that may not share it (409 `not_combinable`, `items[i]`).
pub fn combine_for_redemption(order: &Order, checks: &[CodeCheck]) -> Result<MultiValidation> {
    let answer = judge_codes(order, checks);
    if let Some((index, verdict)) = answer.results.iter().enumerate().find(|(_, v)| !v.valid) {
        let reason = verdict
            .reasons
            .first()
            .and_then(|code| super::reward::OrderReason::from_code(*code))
            .unwrap_or(super::reward::OrderReason::NotCombinable);
        return Err(at_item(index)(reason.error()));
    }
    Ok(answer)
}

/// The order part of a redemption, as the stores keep it (one JSON value).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkout {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_amount: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<Discount>,
}

impl Redemption {
    /// A new redemption of `code`, on `order` if one was sent.
    pub fn new(
        code: &str,
        book_id: &str,
        user_id: &str,
        now: Timestamp,
        metadata: Option<Value>,
        order: Option<&Order>,
        discount: Option<Discount>,
    ) -> Redemption {
        Redemption {
            id: super::ids::new_id("red"),
            code: code.to_string(),
            book_id: book_id.to_string(),
            user_id: user_id.to_string(),
            status: RedemptionStatus::Redeemed,
            redeemed_at: now,
            reversed_at: None,
            metadata,
            order_id: order.and_then(|o| o.id.clone()),
            order_amount: order.map(|o| o.amount),
            currency: order.map(|o| o.currency.clone()),
            discount,
        }
    }

    /// A redemption as a store read it back: reversed once it has `reversed_at`.
    pub fn stored(
        id: String,
        code: String,
        book_id: String,
        user_id: String,
        redeemed_at: Timestamp,
        reversed_at: Option<Timestamp>,
        metadata: Option<Value>,
    ) -> Redemption {
        Redemption {
            id,
            code,
            book_id,
            user_id,
            status: match reversed_at {
                Some(_) => RedemptionStatus::Reversed,
                None => RedemptionStatus::Redeemed,
            },
            redeemed_at,
            reversed_at,
            metadata,
            order_id: None,
            order_amount: None,
            currency: None,
            discount: None,
        }
    }

    /// The stored form of its order part (`None` without an order).
    pub fn checkout_json(&self) -> Option<String> {
        let checkout = Checkout {
            order_id: self.order_id.clone(),
            order_amount: self.order_amount,
            currency: self.currency.clone(),
            discount: self.discount.clone(),
        };
        (checkout != Checkout::default())
            .then(|| serde_json::to_string(&checkout).ok())
            .flatten()
    }

    /// The redemption with its stored order part read back.
    pub fn with_checkout(mut self, stored: Option<&str>) -> Result<Redemption> {
        if let Some(text) = stored {
            let checkout: Checkout = serde_json::from_str(text)
                .map_err(|e| Error::internal(format!("unreadable redemption order: {e}")))?;
            self.order_id = checkout.order_id;
            self.order_amount = checkout.order_amount;
            self.currency = checkout.currency;
            self.discount = checkout.discount;
        }
        Ok(self)
    }
}

/// Whether the rule is one of the order's (judged on the whole order here).
fn is_order_rule(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::CurrencyMismatch
            | ErrorCode::OrderBelowMinimum
            | ErrorCode::NoEligibleItems
            | ErrorCode::NotCombinable
    )
}

/// Judges the codes on `order`, in the order given.
pub fn judge_codes(order: &Order, checks: &[CodeCheck]) -> MultiValidation {
    let on_order: Vec<CodeOnOrder> = checks
        .iter()
        .map(|check| CodeOnOrder {
            reward: check.reward.clone(),
            combinable: check.combinable,
            failed_before: check.failures.iter().any(|c| !is_order_rule(*c)),
        })
        .collect();
    let (applied, total_discount) = apply_codes(order, &on_order);
    let results: Vec<CodeVerdict> = checks
        .iter()
        .zip(applied)
        .map(|(check, applied)| {
            let mut reasons: Vec<ErrorCode> = check
                .failures
                .iter()
                .copied()
                .filter(|c| !is_order_rule(*c))
                .collect();
            reasons.extend(applied.reasons.iter().map(|r| r.code()));
            CodeVerdict {
                code: check.code.clone(),
                valid: reasons.is_empty(),
                reason: reasons.first().copied(),
                reasons,
                discount: applied.discount,
            }
        })
        .collect();
    MultiValidation {
        valid: results.iter().all(|r| r.valid),
        results,
        total_discount,
    }
}

/// The codes of a multi-code request, normalized: 1 to 10, each once. Errors name the
/// entry (`{field}[3]`).
pub fn read_codes<'a>(
    codes: impl ExactSizeIterator<Item = &'a str>,
    field: &str,
) -> Result<Vec<String>> {
    if codes.len() == 0 || codes.len() > MAX_CODES_PER_ORDER {
        return Err(Error::invalid(
            field,
            format!("{field} must list 1 to {MAX_CODES_PER_ORDER} codes"),
        ));
    }
    let mut seen = HashSet::new();
    let mut normalized = Vec::with_capacity(codes.len());
    for (index, raw) in codes.enumerate() {
        // An impossible code is answered as unknown, like any other.
        let code = normalize_code(raw).unwrap_or_else(|| raw.to_ascii_uppercase());
        if !seen.insert(code.clone()) {
            return Err(Error::invalid(
                format!("{field}[{index}]"),
                "a code may be listed once per order",
            ));
        }
        normalized.push(code);
    }
    Ok(normalized)
}

/// The order of a multi-code request: required.
pub fn required_order(input: Option<OrderInput>) -> Result<Order> {
    input
        .ok_or_else(|| Error::invalid("order", "order is required"))?
        .into_order()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reward(value: Value) -> Option<Reward> {
        crate::domain::reward::reward_field(&value, "reward").expect("reward")
    }

    fn check(
        code: &str,
        failures: Vec<ErrorCode>,
        reward_value: Value,
        combinable: bool,
    ) -> CodeCheck {
        CodeCheck {
            code: code.into(),
            failures,
            reward: reward(reward_value),
            combinable,
        }
    }

    #[test]
    fn codes_take_from_what_is_left_and_name_every_reason() {
        let order = Order::from_json(&json!({"amount": 10000, "currency": "EUR"})).expect("order");
        let checks = [
            check(
                "A",
                vec![],
                json!({"type": "amount_off", "amount_off": 8000, "currency": "EUR"}),
                true,
            ),
            check(
                "B",
                vec![],
                json!({"type": "percent_off", "percent_off": 50}),
                true,
            ),
            check(
                "C",
                vec![
                    ErrorCode::CouponAlreadyRedeemed,
                    ErrorCode::CurrencyMismatch,
                ],
                json!({"type": "amount_off", "amount_off": 100, "currency": "USD"}),
                true,
            ),
            check("D", vec![], json!({"type": "free_shipping"}), false),
        ];
        let answer = judge_codes(&order, &checks);
        let amounts: Vec<Option<u64>> = answer
            .results
            .iter()
            .map(|r| r.discount.as_ref().map(|d| d.amount))
            .collect();
        // B: 50% of the 2,000 left.
        assert_eq!(amounts, [Some(8000), Some(1000), None, None]);
        assert_eq!(answer.total_discount.amount, 9000);
        assert_eq!(
            answer.results[2].reasons,
            [
                ErrorCode::CouponAlreadyRedeemed,
                ErrorCode::CurrencyMismatch
            ]
        );
        assert_eq!(answer.results[3].reasons, [ErrorCode::NotCombinable]);
        assert!(!answer.valid);
    }

    #[test]
    fn codes_are_listed_once_and_at_most_ten() {
        let twice = read_codes(["ab-1", "AB-1"].into_iter(), "codes").unwrap_err();
        assert_eq!(twice.field.as_deref(), Some("codes[1]"));
        let none = read_codes(std::iter::empty(), "codes").unwrap_err();
        assert_eq!(none.field.as_deref(), Some("codes"));
        let eleven: Vec<String> = (0..11).map(|i| format!("CODE-{i}")).collect();
        assert!(read_codes(eleven.iter().map(String::as_str), "codes").is_err());
        assert_eq!(read_codes(["x y"].into_iter(), "codes").unwrap(), ["X Y"]);
    }
}
