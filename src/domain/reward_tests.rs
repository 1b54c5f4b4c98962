use proptest::prelude::*;
use serde_json::json;

use super::*;

fn reward(value: serde_json::Value) -> Result<Reward> {
    serde_json::from_value::<RewardInput>(value)
        .map_err(|e| Error::invalid("reward", e.to_string()))?
        .validate("reward")
}

fn order(value: serde_json::Value) -> Result<Order> {
    Order::from_json(&value)
}

fn field_of(result: Result<impl std::fmt::Debug>) -> String {
    result.expect_err("refused").field.unwrap_or_default()
}

#[test]
fn percent_off_is_exact_in_integers() {
    let r = reward(json!({"type": "percent_off", "percent_off": 19.99})).expect("reward");
    assert_eq!(r.percent_off_hundredths, Some(1999));
    let o = order(json!({"amount": 10000, "currency": "EUR"})).expect("order");
    let d = r.evaluate(&o).discount.expect("discount");
    assert_eq!((d.amount, d.currency.as_str()), (1999, "EUR"));
    // 15.5% of 999 is 154.845: floored.
    let r = reward(json!({"type": "percent_off", "percent_off": 15.5})).expect("reward");
    let o = order(json!({"amount": 999, "currency": "EUR"})).expect("order");
    assert_eq!(r.evaluate(&o).discount.expect("discount").amount, 154);
}

#[test]
fn caps_minimums_and_currencies_follow_the_contract() {
    let r = reward(
        json!({"type": "percent_off", "percent_off": 50, "max_discount": 2000,
        "currency": "EUR", "min_order_amount": 5000}),
    )
    .expect("reward");
    let at = |amount: u64, currency: &str| {
        r.evaluate(&Order {
            id: None,
            amount,
            currency: currency.into(),
            items: vec![],
        })
    };
    assert_eq!(at(10000, "EUR").discount.expect("discount").amount, 2000);
    assert_eq!(at(4999, "EUR").reasons, [OrderReason::OrderBelowMinimum]);
    // A currency mismatch is the only rule judged.
    assert_eq!(at(10, "USD").reasons, [OrderReason::CurrencyMismatch]);
    let off = reward(json!({"type": "amount_off", "amount_off": 1000, "currency": "EUR"}))
        .expect("reward");
    let small = Order {
        id: None,
        amount: 700,
        currency: "EUR".into(),
        items: vec![],
    };
    assert_eq!(off.evaluate(&small).discount.expect("discount").amount, 700);
    let free = reward(json!({"type": "free_shipping"})).expect("reward");
    let d = free.evaluate(&small).discount.expect("discount");
    assert_eq!((d.amount, d.free_shipping), (0, true));
    let custom = reward(json!({"type": "custom", "label": "a mug"})).expect("reward");
    assert_eq!(custom.evaluate(&small).discount, None);
}

#[test]
fn sku_scope_takes_matching_items_only() {
    let r = reward(json!({"type": "percent_off", "percent_off": 10, "applies_to_skus": ["A"]}))
        .expect("reward");
    assert!(r.needs_order());
    let o = order(json!({"amount": 12000, "currency": "EUR", "items": [
        {"sku": "A", "quantity": 2, "unit_amount": 3000},
        {"sku": "B", "quantity": 1, "unit_amount": 6000}]}))
    .expect("order");
    assert_eq!(r.evaluate(&o).discount.expect("discount").amount, 600);
    let none = order(json!({"amount": 6000, "currency": "EUR", "items": [
        {"sku": "B", "quantity": 1, "unit_amount": 6000}]}))
    .expect("order");
    assert_eq!(r.evaluate(&none).reasons, [OrderReason::NoEligibleItems]);
}

#[test]
fn bad_rewards_and_orders_name_their_field() {
    assert_eq!(
        field_of(reward(
            json!({"type": "percent_off", "percent_off": 100.001})
        )),
        "reward.percent_off"
    );
    assert_eq!(
        field_of(reward(json!({"type": "percent_off", "percent_off": 0}))),
        "reward.percent_off"
    );
    assert_eq!(
        field_of(reward(json!({"type": "percent_off", "percent_off": 1.234}))),
        "reward.percent_off"
    );
    assert_eq!(
        field_of(reward(json!({"type": "amount_off", "amount_off": 100}))),
        "reward.currency"
    );
    assert_eq!(
        field_of(reward(
            json!({"type": "amount_off", "amount_off": -1, "currency": "EUR"})
        )),
        "reward.amount_off"
    );
    assert_eq!(
        field_of(reward(
            json!({"type": "amount_off", "amount_off": 5, "currency": "eur"})
        )),
        "reward.currency"
    );
    assert_eq!(field_of(reward(json!({"type": "bogus"}))), "reward.type");
    assert_eq!(
        field_of(reward(json!({"type": "custom", "label": "x".repeat(201)}))),
        "reward.label"
    );
    assert_eq!(
        field_of(order(json!({"amount": -1, "currency": "EUR"}))),
        "order.amount"
    );
    assert_eq!(
        field_of(order(json!({"amount": 1, "currency": "EURO"}))),
        "order.currency"
    );
    assert_eq!(field_of(order(json!({"amount": 1}))), "order.currency");
    let items: Vec<_> = (0..501)
        .map(|i| json!({"sku": format!("S{i}"), "quantity": 1, "unit_amount": 1}))
        .collect();
    assert_eq!(
        field_of(order(
            json!({"amount": 1, "currency": "EUR", "items": items})
        )),
        "order.items"
    );
    assert_eq!(
        field_of(order(
            json!({"amount": 1, "currency": "EUR", "items": [{"sku": "A", "quantity": 1, "unit_amount": -5}]})
        )),
        "order.items[0].unit_amount"
    );
    assert_eq!(field_of(order(json!([1, 2]))), "order");
}

#[test]
fn codes_apply_in_order_on_what_is_left_and_respect_combinability() {
    let o = Order {
        id: None,
        amount: 10000,
        currency: "EUR".into(),
        items: vec![],
    };
    let code = |value: serde_json::Value, combinable: bool| CodeOnOrder {
        reward: Some(reward(value).expect("reward")),
        combinable,
        failed_before: false,
    };
    let off = |n: u64| json!({"type": "amount_off", "amount_off": n, "currency": "EUR"});
    let (results, total) = apply_codes(&o, &[code(off(6000), true), code(off(6000), true)]);
    assert_eq!(results[1].discount.as_ref().expect("discount").amount, 4000);
    assert_eq!(total.amount, 10000);
    let (results, total) = apply_codes(&o, &[code(off(1000), false), code(off(1000), true)]);
    assert_eq!(results[1].reasons, [OrderReason::NotCombinable]);
    assert_eq!(total.amount, 1000);
    // A code that fails its own rules takes no place: the next one is judged alone.
    let mut failing = code(off(1000), false);
    failing.failed_before = true;
    let (results, total) = apply_codes(&o, &[failing, code(off(1000), false)]);
    assert!(results[1].reasons.is_empty());
    assert_eq!(total.amount, 1000);
}

fn any_reward() -> impl Strategy<Value = Reward> {
    (
        0..4u8,
        1..=10_000u64,
        1..1_000_000u64,
        proptest::option::of(0..1_000_000u64),
        proptest::option::of(0..2_000_000u64),
        any::<bool>(),
    )
        .prop_map(
            |(kind, hundredths, amount_off, max_discount, min_order, scoped)| {
                let kind = [
                    RewardKind::PercentOff,
                    RewardKind::AmountOff,
                    RewardKind::FreeShipping,
                    RewardKind::Custom,
                ][kind as usize];
                Reward {
                    kind,
                    percent_off_hundredths: (kind == RewardKind::PercentOff).then_some(hundredths),
                    amount_off: (kind == RewardKind::AmountOff).then_some(amount_off),
                    currency: Some("EUR".into()),
                    max_discount: max_discount.filter(|_| kind == RewardKind::PercentOff),
                    min_order_amount: min_order,
                    applies_to_skus: scoped.then(|| vec!["A".to_string()]),
                    label: None,
                }
            },
        )
}

fn any_order() -> impl Strategy<Value = Order> {
    (
        0..5_000_000u64,
        proptest::collection::vec((0..3u8, 0..20u64, 0..500_000u64), 0..30),
    )
        .prop_map(|(amount, items)| Order {
            id: None,
            amount,
            currency: "EUR".into(),
            items: items
                .into_iter()
                .map(|(sku, quantity, unit_amount)| OrderItem {
                    sku: ["A", "B", "C"][sku as usize].into(),
                    quantity,
                    unit_amount,
                })
                .collect(),
        })
}

proptest! {
    #[test]
    fn a_discount_never_exceeds_its_base_the_order_or_its_cap(r in any_reward(), o in any_order()) {
        let evaluation = r.evaluate(&o);
        if let Some(d) = evaluation.discount {
            prop_assert!(evaluation.reasons.is_empty());
            prop_assert!(d.amount <= o.amount);
            if let Some(cap) = r.max_discount { prop_assert!(d.amount <= cap); }
            if let Some(off) = r.amount_off { prop_assert!(d.amount <= off); }
            if let Some(skus) = &r.applies_to_skus {
                let base: u128 = o.items.iter().filter(|i| skus.contains(&i.sku))
                    .map(|i| u128::from(i.quantity) * u128::from(i.unit_amount)).sum();
                prop_assert!(u128::from(d.amount) <= base);
            }
            if let Some(h) = r.percent_off_hundredths {
                prop_assert!(u128::from(d.amount) * 10_000 <= u128::from(o.amount) * u128::from(h));
            }
        }
    }

    #[test]
    fn several_codes_never_take_more_than_the_order(
        rewards in proptest::collection::vec((any_reward(), any::<bool>()), 1..10),
        o in any_order(),
    ) {
        let codes: Vec<CodeOnOrder> = rewards.into_iter()
            .map(|(reward, combinable)| CodeOnOrder { reward: Some(reward), combinable, failed_before: false })
            .collect();
        let (results, total) = apply_codes(&o, &codes);
        prop_assert!(total.amount <= o.amount);
        let sum: u64 = results.iter().filter_map(|r| r.discount.as_ref()).map(|d| d.amount).sum();
        prop_assert_eq!(sum, total.amount);
    }
}
