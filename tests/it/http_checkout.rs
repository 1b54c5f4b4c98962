//! Several codes on one order: `POST /v1/validations`, over real HTTP.

use std::sync::Arc;

use crate::common::*;
use futures_util::future::join_all;
use serde_json::{Value, json};

async fn book(s: &Server, reward: Value, combinable: bool) -> String {
    let (status, book) = s
        .post(
            "/v1/books",
            json!({"name": "multi", "status": "active", "requires_assignment": false,
                   "reward": reward, "combinable": combinable}),
        )
        .await;
    assert_eq!(status, 201, "{book}");
    book["id"].as_str().unwrap_or_default().to_string()
}

async fn book_code(s: &Server, reward: Value, combinable: bool) -> String {
    let book_id = book(s, reward, combinable).await;
    let codes = unique_codes("MULTI", 1);
    s.add_codes(&book_id, &codes).await;
    codes[0].clone()
}

fn order() -> Value {
    json!({"id": "o-9", "amount": 10000, "currency": "EUR",
           "items": [{"sku": "SKU-1", "quantity": 1, "unit_amount": 10000}]})
}

#[tokio::test]
async fn codes_apply_in_order_on_what_is_left() {
    let s = Server::start().await;
    let eighty = book_code(
        &s,
        json!({"type": "amount_off", "amount_off": 8000, "currency": "EUR"}),
        true,
    )
    .await;
    let half = book_code(&s, json!({"type": "percent_off", "percent_off": 50}), true).await;
    let shipping = book_code(&s, json!({"type": "free_shipping"}), true).await;
    let alone = book_code(&s, json!({"type": "percent_off", "percent_off": 10}), false).await;

    let body = json!({"user_id": "u1", "codes": [eighty.to_lowercase(), half, shipping], "order": order()});
    let (status, answer) = s.post("/v1/validations", body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["valid"], true);
    let amounts: Vec<Value> = data_of(&answer)
        .iter()
        .map(|r| r["discount"]["amount"].clone())
        .collect();
    // 50% of the 2,000 the first code left.
    assert_eq!(amounts, [json!(8000), json!(1000), json!(0)]);
    assert_eq!(answer["results"][0]["code"], eighty);
    assert_eq!(
        answer["total_discount"],
        json!({"amount": 9000, "currency": "EUR", "free_shipping": true})
    );

    // A code of a book that is not combinable shares no order, whichever comes first.
    for codes in [json!([eighty, alone]), json!([alone, eighty])] {
        let (_, answer) = s
            .post(
                "/v1/validations",
                json!({"user_id": "u1", "codes": codes, "order": order()}),
            )
            .await;
        assert_eq!(answer["valid"], false);
        assert_eq!(answer["results"][0]["valid"], true);
        assert_eq!(answer["results"][1]["reasons"], json!(["not_combinable"]));
        assert_eq!(answer["results"][1]["discount"], Value::Null);
    }

    // Unknown and used codes are reported with every reason, and hold no place.
    assert_eq!(s.redeem(&half, "u2").await.0, 201);
    let usd = json!({"amount": 10000, "currency": "USD"});
    let (status, answer) = s
        .post(
            "/v1/validations",
            json!({"user_id": "u1", "codes": ["NOPE-NOPE", half, eighty], "order": usd}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["reason"], "coupon_not_found");
    assert_eq!(
        answer["results"][1]["reasons"],
        json!(["coupon_already_redeemed"])
    );
    assert_eq!(
        answer["results"][2]["reasons"],
        json!(["currency_mismatch"])
    );
    assert_eq!(answer["total_discount"]["amount"], 0);
    // Nothing changed.
    assert_eq!(s.coupon(&eighty).await["redemption_count"], 0);
}

#[tokio::test]
async fn a_bad_multi_code_request_names_its_field() {
    let s = Server::start().await;
    let code = book_code(&s, json!({"type": "percent_off", "percent_off": 10}), true).await;
    let eleven: Vec<String> = (0..11).map(|i| format!("CODE-{i}")).collect();
    let cases = [
        (
            json!({"user_id": "u1", "codes": [], "order": order()}),
            "codes",
        ),
        (
            json!({"user_id": "u1", "codes": eleven, "order": order()}),
            "codes",
        ),
        (
            json!({"user_id": "u1", "codes": [code, code.to_lowercase()], "order": order()}),
            "codes[1]",
        ),
        (json!({"user_id": "u1", "codes": [code]}), "order"),
        (
            json!({"user_id": "u1", "codes": [code], "order": {"amount": -5, "currency": "EUR"}}),
            "order.amount",
        ),
        (
            json!({"user_id": "", "codes": [code], "order": order()}),
            "user_id",
        ),
    ];
    for (body, field) in cases {
        assert_invalid(&s.post("/v1/validations", body).await, field);
    }
}

fn data_of(answer: &Value) -> Vec<Value> {
    answer["results"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn several_codes_are_redeemed_in_one_step_or_not_at_all() {
    let s = Server::start().await;
    let eighty = book_code(
        &s,
        json!({"type": "amount_off", "amount_off": 8000, "currency": "EUR"}),
        true,
    )
    .await;
    let half = book_code(&s, json!({"type": "percent_off", "percent_off": 50}), true).await;
    let alone = book_code(&s, json!({"type": "percent_off", "percent_off": 10}), false).await;

    // not_combinable: the second item, and nothing is written.
    let body =
        json!({"user_id": "u1", "order": order(), "items": [{"code": eighty}, {"code": alone}]});
    let got = s.post("/v1/redemptions", body).await;
    assert_error(&got, 409, "not_combinable");
    assert_eq!(got.1["error"]["field"], "items[1]");
    assert_eq!(s.coupon(&eighty).await["redemption_count"], 0);
    let got = s
        .post(
            "/v1/redemptions",
            json!({"user_id": "u1", "order": order(), "items": [{"code": eighty}, {"code": "NOPE-NOPE"}]}),
        )
        .await;
    assert_error(&got, 404, "coupon_not_found");
    assert_eq!(got.1["error"]["field"], "items[1]");

    // With a lock on one of them, replayed by its Idempotency-Key.
    let (status, lock) = s
        .post(
            &format!("/v1/coupons/{}/lock", enc(&half)),
            json!({"user_id": "u1"}),
        )
        .await;
    assert_eq!(status, 200, "{lock}");
    let body = json!({"user_id": "u1", "order": order(),
                      "items": [{"code": eighty.to_lowercase()}, {"code": half, "lock_id": lock["lock_id"]}]});
    let headers = [("Idempotency-Key", "multi-1")];
    let first = s
        .call_with_headers(
            ADMIN_KEY,
            "POST",
            "/v1/redemptions",
            &headers,
            Some(body.clone()),
        )
        .await;
    assert_eq!(first.0, 201, "{}", first.1);
    let discounts: Vec<Value> = first.1["redemptions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| r["discount"]["amount"].clone())
        .collect();
    assert_eq!(discounts, [json!(8000), json!(1000)]);
    assert_eq!(first.1["total_discount"]["amount"], 9000);
    assert_eq!(first.1["redemptions"][0]["code"], eighty);
    let again = s
        .call_with_headers(ADMIN_KEY, "POST", "/v1/redemptions", &headers, Some(body))
        .await;
    assert_eq!(again, first);
    for code in [&eighty, &half] {
        assert_eq!(s.coupon(code).await["redemption_count"], 1);
    }
    let (_, listed) = s.get(&format!("/v1/redemptions?code={eighty}")).await;
    assert_eq!(data(&listed).len(), 1);
    assert_eq!(data(&listed)[0]["order_id"], "o-9");

    // A used code: its usual error, at its place.
    let body = json!({"user_id": "u2", "order": order(), "items": [{"code": eighty}]});
    let got = s.post("/v1/redemptions", body).await;
    assert_error(&got, 409, "coupon_already_redeemed");
    assert_eq!(got.1["error"]["field"], "items[0]");
    let body = json!({"user_id": "u2", "order": order(), "items": []});
    assert_invalid(&s.post("/v1/redemptions", body).await, "items");
    let body = json!({"user_id": "u2", "items": [{"code": alone}]});
    assert_invalid(&s.post("/v1/redemptions", body).await, "order");
}

#[tokio::test]
async fn many_checkouts_racing_for_two_codes_have_one_winner() {
    let s = Server::start().await;
    let first = book_code(&s, json!({"type": "percent_off", "percent_off": 5}), true).await;
    let second = book_code(&s, json!({"type": "percent_off", "percent_off": 5}), true).await;
    let s = Arc::new(s);
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let tasks = (0..16).map(|caller| {
        let s = Arc::clone(&s);
        let barrier = Arc::clone(&barrier);
        // Half the callers name the codes the other way round.
        let items = if caller % 2 == 0 {
            json!([{"code": first}, {"code": second}])
        } else {
            json!([{"code": second}, {"code": first}])
        };
        let body = json!({"user_id": format!("racer-{caller}"), "order": order(), "items": items});
        tokio::spawn(async move {
            barrier.wait().await;
            s.post("/v1/redemptions", body).await.0
        })
    });
    let mut statuses = Vec::new();
    for task in join_all(tasks).await {
        statuses.push(task.expect("task"));
    }
    let won = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(won, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [201, 409, 503].contains(s)),
        "{statuses:?}"
    );
    for code in [&first, &second] {
        assert_eq!(s.coupon(code).await["redemption_count"], 1);
    }
}
