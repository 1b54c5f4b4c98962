//! Several codes on one order: `POST /v1/validations`, over real HTTP.

use crate::common::*;
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
