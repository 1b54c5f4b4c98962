//! Rewards on books and codes, a code's own dates and metadata, and
//! `PATCH /v1/coupons/{code}`, over real HTTP.

use crate::common::*;
use serde_json::{Value, json};

async fn book(s: &Server, extra: Value) -> String {
    let mut body = json!({"name": "rewards", "status": "active", "requires_assignment": false});
    if let (Some(obj), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        obj.extend(extra.clone());
    }
    let (status, book) = s.post("/v1/books", body).await;
    assert_eq!(status, 201, "{book}");
    book["id"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_book_keeps_its_reward_and_combinable() {
    let s = Server::start().await;
    let reward = json!({"type": "percent_off", "percent_off": 19.99, "currency": "EUR",
                        "max_discount": 2000, "min_order_amount": 5000,
                        "applies_to_skus": ["SKU-1"], "label": "19.99% off"});
    let book_id = book(&s, json!({"reward": reward, "combinable": true})).await;
    let got = s.book(&book_id).await;
    assert_eq!(got["reward"]["percent_off"], json!(19.99));
    assert_eq!(got["reward"]["type"], "percent_off");
    assert_eq!(got["reward"]["applies_to_skus"], json!(["SKU-1"]));
    assert_eq!(got["reward"]["label"], "19.99% off");
    assert_eq!(got["combinable"], true);

    let patched = s
        .patch(
            &format!("/v1/books/{book_id}"),
            json!({"reward": {"type": "free_shipping"}, "combinable": false}),
        )
        .await;
    assert_eq!(patched.0, 200, "{}", patched.1);
    assert_eq!(patched.1["reward"]["type"], "free_shipping");
    assert_eq!(patched.1["combinable"], false);
    let cleared = s
        .patch(&format!("/v1/books/{book_id}"), json!({"reward": null}))
        .await;
    assert_eq!(cleared.1["reward"], Value::Null);

    // A new book carries no reward and is not combinable.
    let plain = book(&s, json!({})).await;
    let got = s.book(&plain).await;
    assert_eq!(
        (got["reward"].clone(), got["combinable"].clone()),
        (Value::Null, json!(false))
    );
}

#[tokio::test]
async fn malformed_rewards_are_refused_with_their_field() {
    let s = Server::start().await;
    let cases = [
        (
            json!({"type": "percent_off", "percent_off": 100.001}),
            "reward.percent_off",
        ),
        (
            json!({"type": "percent_off", "percent_off": 12.345}),
            "reward.percent_off",
        ),
        (
            json!({"type": "percent_off", "percent_off": 0}),
            "reward.percent_off",
        ),
        (
            json!({"type": "amount_off", "amount_off": 500}),
            "reward.currency",
        ),
        (
            json!({"type": "amount_off", "amount_off": -5, "currency": "EUR"}),
            "reward.amount_off",
        ),
        (
            json!({"type": "amount_off", "amount_off": 5, "currency": "eur"}),
            "reward.currency",
        ),
        (json!({"type": "bogus"}), "reward.type"),
        (
            json!({"type": "custom", "label": "x".repeat(201)}),
            "reward.label",
        ),
        (
            json!({"type": "free_shipping", "applies_to_skus": []}),
            "reward.applies_to_skus",
        ),
        (json!("ten percent"), "reward"),
    ];
    for (reward, field) in &cases {
        let got = s
            .post("/v1/books", json!({"name": "bad", "reward": reward}))
            .await;
        assert_invalid(&got, field);
    }
    let book_id = book(&s, json!({"reward": {"type": "custom", "label": "a mug"}})).await;
    for (reward, field) in &cases {
        let got = s
            .patch(&format!("/v1/books/{book_id}"), json!({"reward": reward}))
            .await;
        assert_invalid(&got, field);
    }
    assert_eq!(s.book(&book_id).await["reward"]["label"], "a mug");
}

#[tokio::test]
async fn codes_added_as_objects_keep_their_data() {
    let s = Server::start().await;
    let book_id = book(&s, json!({})).await;
    let codes = unique_codes("OBJ", 3);
    let later = "2099-01-01T00:00:00Z";
    let (status, job) = s
        .post(
            &format!("/v1/books/{book_id}/codes"),
            json!({"codes": [
                {"code": codes[0].to_lowercase(), "starts_at": later,
                 "metadata": {"tier": "gold"},
                 "reward": {"type": "amount_off", "amount_off": 1000, "currency": "EUR"}},
                {"code": codes[1], "expires_at": "2000-01-01T00:00:00Z"},
                codes[2],
            ]}),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["inserted"], 3);
    let first = s.coupon(&codes[0]).await;
    assert_eq!(ts(&first["starts_at"]), ts(&json!(later)));
    assert_eq!(first["metadata"], json!({"tier": "gold"}));
    assert_eq!(first["reward"]["amount_off"], 1000);
    assert_eq!(first["expires_at"], Value::Null);
    let last = s.coupon(&codes[2]).await;
    for field in ["starts_at", "expires_at", "metadata", "reward"] {
        assert_eq!(last[field], Value::Null, "{field} of a plain code");
    }

    // Outside a code's own window: 409 coupon_not_valid_now, and validate says why.
    assert_error(
        &s.redeem(&codes[0], "u1").await,
        409,
        "coupon_not_valid_now",
    );
    assert_error(&s.lock(&codes[1], "u1").await, 409, "coupon_not_valid_now");
    let (_, validation) = s
        .post(
            &format!("/v1/coupons/{}/validate", enc(&codes[1])),
            json!({"user_id": "u1"}),
        )
        .await;
    assert_eq!(validation["valid"], false);
    assert_eq!(validation["reason"], "coupon_not_valid_now");
    assert_eq!(s.redeem(&codes[2], "u1").await.0, 201);

    // A bad entry names its field, and no code of the request is stored.
    let more = unique_codes("OBJ", 2);
    let bad_entries = [
        (
            json!({"code": more[0], "metadata": [1, 2]}),
            "codes[1].metadata",
        ),
        (
            json!({"code": more[0], "reward": {"type": "percent_off"}}),
            "codes[1].reward.percent_off",
        ),
        (
            json!({"code": more[0], "starts_at": "tomorrow"}),
            "codes[1].starts_at",
        ),
        (json!({"code": more[0], "colour": "red"}), "codes[1].colour"),
        (json!({"starts_at": later}), "codes[1].code"),
    ];
    for (entry, field) in bad_entries {
        let got = s
            .post(
                &format!("/v1/books/{book_id}/codes"),
                json!({"codes": [more[1], entry]}),
            )
            .await;
        assert_invalid(&got, field);
    }
    assert_eq!(s.get(&format!("/v1/coupons/{}", more[1])).await.0, 404);
}

#[tokio::test]
async fn a_coupon_is_patched_and_its_window_decides() {
    let s = Server::start().await;
    let book_id = book(
        &s,
        json!({"reward": {"type": "percent_off", "percent_off": 10}}),
    )
    .await;
    let codes = unique_codes("PATCH", 1);
    s.add_codes(&book_id, &codes).await;
    let path = format!("/v1/coupons/{}", codes[0].to_lowercase());

    let (status, coupon) = s
        .patch(
            &path,
            json!({"expires_at": "2000-01-01T00:00:00Z", "metadata": {"note": "vip"},
                   "reward": {"type": "amount_off", "amount_off": 250, "currency": "USD"}}),
        )
        .await;
    assert_eq!(status, 200, "{coupon}");
    assert_eq!(coupon["metadata"]["note"], "vip");
    assert_eq!(coupon["reward"]["currency"], "USD");
    assert_eq!(coupon["status"], "available");
    assert_error(
        &s.redeem(&codes[0], "u1").await,
        409,
        "coupon_not_valid_now",
    );

    // Bad fields are refused, for an unknown code too, and change nothing.
    for (body, field) in [
        (json!({"expires_at": 5}), "expires_at"),
        (json!({"metadata": "text"}), "metadata"),
        (json!({"metadata": {"k": "x".repeat(5000)}}), "metadata"),
        (
            json!({"reward": {"type": "percent_off", "percent_off": 101}}),
            "reward.percent_off",
        ),
        (
            json!({"starts_at": "2030-01-02T00:00:00Z", "expires_at": "2030-01-01T00:00:00Z"}),
            "expires_at",
        ),
    ] {
        assert_invalid(&s.patch(&path, body.clone()).await, field);
        assert_invalid(&s.patch("/v1/coupons/NOPE-NOPE", body).await, field);
    }
    assert_error(
        &s.patch("/v1/coupons/NOPE-NOPE", json!({})).await,
        404,
        "coupon_not_found",
    );
    assert_eq!(s.coupon(&codes[0]).await, coupon);

    let (status, cleared) = s.patch(&path, json!({"expires_at": null})).await;
    assert_eq!(status, 200);
    assert_eq!(cleared["expires_at"], Value::Null);
    assert_eq!(
        cleared["metadata"]["note"], "vip",
        "fields not named are kept"
    );
    assert_eq!(s.redeem(&codes[0], "u1").await.0, 201);

    let (_, events) = s
        .get(&format!("/v1/events?type=coupon.updated&code={}", codes[0]))
        .await;
    assert_eq!(data(&events).len(), 2, "{events}");
}

fn order(amount: i64) -> Value {
    json!({"id": "o-1", "amount": amount, "currency": "EUR",
           "items": [{"sku": "SKU-1", "quantity": 2, "unit_amount": 3000},
                     {"sku": "SKU-2", "quantity": 1, "unit_amount": amount - 6000}]})
}

async fn on_code(s: &Server, code: &str, action: &str, body: Value) -> (u16, Value) {
    s.post(&format!("/v1/coupons/{}/{action}", enc(code)), body)
        .await
}

#[tokio::test]
async fn checkout_judges_the_order_and_keeps_it_on_the_redemption() {
    let s = Server::start().await;
    let reward = json!({"type": "percent_off", "percent_off": 15.5, "currency": "EUR",
                        "max_discount": 2000, "min_order_amount": 5000,
                        "applies_to_skus": ["SKU-1"]});
    let book_id = book(&s, json!({"reward": reward})).await;
    let codes = unique_codes("CHK", 3);
    s.add_codes(&book_id, &codes).await;

    // 15.5% of the matching items (2 x 3000): 930.
    let (status, answer) = on_code(
        &s,
        &codes[0],
        "validate",
        json!({"user_id": "u1", "order": order(12000)}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["valid"], true);
    assert_eq!(answer["reasons"], json!([]));
    assert_eq!(
        answer["discount"],
        json!({"amount": 930, "currency": "EUR", "free_shipping": false})
    );
    assert_eq!(answer["reward"]["percent_off"], json!(15.5));

    // Every failing rule, in precedence order; the first is `reason`.
    let usd = json!({"amount": 4000, "currency": "USD", "items": []});
    let (_, answer) = on_code(
        &s,
        &codes[0],
        "validate",
        json!({"user_id": "u1", "order": usd}),
    )
    .await;
    assert_eq!(
        (answer["valid"].clone(), answer["reason"].clone()),
        (json!(false), json!("currency_mismatch"))
    );
    let small = json!({"amount": 4000, "currency": "EUR", "items": [{"sku": "OTHER", "quantity": 1, "unit_amount": 4000}]});
    let (_, answer) = on_code(
        &s,
        &codes[0],
        "validate",
        json!({"user_id": "u1", "order": small}),
    )
    .await;
    assert_eq!(
        answer["reasons"],
        json!(["order_below_minimum", "no_eligible_items"])
    );
    assert_eq!(answer["discount"], Value::Null);

    // The reward needs an order: without one, a 400 on every path.
    for action in ["validate", "lock", "redeem"] {
        let got = on_code(&s, &codes[0], action, json!({"user_id": "u1"})).await;
        assert_invalid(&got, "order");
    }
    assert_error(
        &on_code(
            &s,
            &codes[0],
            "lock",
            json!({"user_id": "u1", "order": small}),
        )
        .await,
        409,
        "order_below_minimum",
    );
    let (status, lock) = on_code(
        &s,
        &codes[0],
        "lock",
        json!({"user_id": "u1", "order": order(12000)}),
    )
    .await;
    assert_eq!(status, 200, "{lock}");
    assert_eq!(lock["discount"]["amount"], 930);
    let (status, redemption) = on_code(
        &s,
        &codes[0],
        "redeem",
        json!({"user_id": "u1", "lock_id": lock["lock_id"], "order": order(12000)}),
    )
    .await;
    assert_eq!(status, 201, "{redemption}");
    assert_eq!(redemption["order_id"], "o-1");
    assert_eq!(redemption["order_amount"], 12000);
    assert_eq!(redemption["currency"], "EUR");
    assert_eq!(redemption["discount"]["amount"], 930);
    let id = redemption["id"].as_str().unwrap_or_default();
    assert_eq!(s.get(&format!("/v1/redemptions/{id}")).await.1, redemption);

    // The cap: 15.5% of 2 x 100,000 is 31,000, at most 2,000.
    let big = json!({"amount": 200000, "currency": "EUR", "items": [{"sku": "SKU-1", "quantity": 2, "unit_amount": 100000}]});
    let (status, redemption) = on_code(
        &s,
        &codes[1],
        "redeem",
        json!({"user_id": "u2", "order": big}),
    )
    .await;
    assert_eq!(status, 201, "{redemption}");
    assert_eq!(redemption["discount"]["amount"], 2000);
    assert_eq!(redemption["order_id"], Value::Null);
    assert_error(
        &on_code(
            &s,
            &codes[2],
            "redeem",
            json!({"user_id": "u3", "order": small}),
        )
        .await,
        409,
        "order_below_minimum",
    );
    assert_eq!(s.coupon(&codes[2]).await["redemption_count"], 0);
}

#[tokio::test]
async fn bad_orders_are_refused_with_their_field() {
    let s = Server::start().await;
    let book_id = book(
        &s,
        json!({"reward": {"type": "amount_off", "amount_off": 500, "currency": "EUR"}}),
    )
    .await;
    let codes = unique_codes("BADORD", 1);
    s.add_codes(&book_id, &codes).await;
    let many: Vec<Value> = (0..501)
        .map(|i| json!({"sku": format!("S{i}"), "quantity": 1, "unit_amount": 1}))
        .collect();
    let cases = [
        (json!({"amount": -1, "currency": "EUR"}), "order.amount"),
        (json!({"amount": 1.5, "currency": "EUR"}), "order.amount"),
        (json!({"currency": "EUR"}), "order.amount"),
        (json!({"amount": 100, "currency": "euro"}), "order.currency"),
        (json!({"amount": 100}), "order.currency"),
        (
            json!({"amount": 100, "currency": "EUR", "items": many}),
            "order.items",
        ),
        (
            json!({"amount": 100, "currency": "EUR", "items": [{"sku": "A", "quantity": 1, "unit_amount": -3}]}),
            "order.items[0].unit_amount",
        ),
        (
            json!({"amount": 100, "currency": "EUR", "coupon": "x"}),
            "order.coupon",
        ),
        (json!("a big order"), "order"),
        (json!(["o-1", 100, "EUR"]), "order"),
        (
            json!({"amount": 100, "currency": "EUR", "items": [["A", 1, 1]]}),
            "order.items[0]",
        ),
    ];
    for (bad, field) in cases {
        for action in ["validate", "lock", "redeem"] {
            let got = on_code(
                &s,
                &codes[0],
                action,
                json!({"user_id": "u1", "order": bad}),
            )
            .await;
            assert_invalid(&got, field);
        }
    }
    let coupon = s.coupon(&codes[0]).await;
    assert_eq!(
        (coupon["status"].clone(), coupon["redemption_count"].clone()),
        (json!("available"), json!(0))
    );
    // An amount_off never takes more than the order.
    let (status, redemption) = on_code(
        &s,
        &codes[0],
        "redeem",
        json!({"user_id": "u1", "order": {"amount": 300, "currency": "EUR",
                "items": [{"sku": "A", "quantity": 3, "unit_amount": 100, "name": "Tea"}]}}),
    )
    .await;
    assert_eq!(status, 201, "{redemption}");
    assert_eq!(redemption["discount"]["amount"], 300);
    assert_eq!(
        redemption["order_amount"], 300,
        "a line's own keys are let through"
    );
}

async fn export(s: &Server, book_id: &str, query: &str) -> String {
    let reply = s
        .raw(
            "GET",
            &format!("/v1/books/{book_id}/codes/export{query}"),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.text
}

async fn upload(s: &Server, book_id: &str, body: &str) -> (u16, Value) {
    let reply = s
        .raw(
            "POST",
            &format!("/v1/books/{book_id}/codes/upload"),
            Some("text/csv"),
            body.to_string(),
        )
        .await;
    (reply.status, reply.json)
}

#[tokio::test]
async fn an_export_uploads_into_an_empty_book_with_the_same_data() {
    let s = Server::start().await;
    let book_id = book(&s, json!({})).await;
    let codes = unique_codes("TRIP", 3);
    let (status, _) = s
        .post(
            &format!("/v1/books/{book_id}/codes"),
            json!({"codes": [
                {"code": codes[0], "starts_at": "2030-01-01T00:00:00Z", "expires_at": "2031-01-01T00:00:00Z",
                 "metadata": {"tier": "gold, \"vip\"", "n": 1},
                 "reward": {"type": "percent_off", "percent_off": 12.5, "label": "=cheap"}},
                {"code": codes[1], "metadata": {"k": "v"}},
                codes[2],
            ]}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(s.redeem(&codes[2], "u1").await.0, 201);
    let text = export(&s, &book_id, "").await;
    let header = text.lines().next().unwrap_or_default();
    assert_eq!(
        header,
        "code,status,assigned_to,redemption_count,created_at,starts_at,expires_at,metadata,reward"
    );
    assert_eq!(text.lines().count(), 4, "{text}");
    let only_redeemed = export(&s, &book_id, "?status=redeemed").await;
    assert_eq!(only_redeemed.lines().count(), 2, "{only_redeemed}");
    assert!(only_redeemed.contains(&codes[2]));

    // Codes are unique across the service: move them by deleting the first book's.
    let (status, _) = s
        .post(
            &format!("/v1/books/{book_id}/codes/delete"),
            json!({"codes": [codes[0], codes[1]]}),
        )
        .await;
    assert!(
        status == 200 || status == 201 || status == 202,
        "delete: {status}"
    );
    let mut deleted = false;
    for _ in 0..100 {
        if s.get(&format!("/v1/coupons/{}", codes[0])).await.0 == 404 {
            deleted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(deleted, "the bulk delete ended");
    let empty = book(&s, json!({})).await;
    let (status, job) = upload(&s, &empty, &text).await;
    assert!(status == 201 || status == 202, "{job}");
    assert_eq!(
        job["inserted"], 2,
        "the redeemed code still exists elsewhere: {job}"
    );
    let copy = s.coupon(&codes[0]).await;
    assert_eq!(copy["book_id"], empty.as_str());
    assert_eq!(copy["metadata"], json!({"tier": "gold, \"vip\"", "n": 1}));
    assert_eq!(copy["reward"]["percent_off"], json!(12.5));
    assert_eq!(copy["reward"]["label"], "=cheap");
    assert_eq!(ts(&copy["starts_at"]), ts(&json!("2030-01-01T00:00:00Z")));
    assert_eq!(ts(&copy["expires_at"]), ts(&json!("2031-01-01T00:00:00Z")));
    assert_eq!(copy["status"], "available");
    assert_eq!(s.coupon(&codes[1]).await["metadata"], json!({"k": "v"}));
}

#[tokio::test]
async fn an_upload_with_columns_reports_bad_cells_per_line() {
    let s = Server::start().await;
    let book_id = book(&s, json!({})).await;
    let unknown = upload(&s, &book_id, "code,colour\nAAA-1,red\n").await;
    assert_invalid(&unknown, "header");
    let codes = unique_codes("CELL", 5);
    let body = format!(
        "code,expires_at,metadata,reward\n\
         {},2030-01-01T00:00:00Z,,\n\
         {},tomorrow,,\n\
         {},,[1],\n\
         {},,,\"{{\"\"type\"\": \"\"percent_off\"\", \"\"percent_off\"\": 100.5}}\"\n\
         {},,{{not json,\n",
        codes[0], codes[1], codes[2], codes[3], codes[4]
    );
    let (status, job) = upload(&s, &book_id, &body).await;
    assert!(status == 201 || status == 202, "{job}");
    assert_eq!(job["inserted"], 1, "{job}");
    assert_eq!(job["invalid"], 4, "{job}");
    let reasons: Vec<String> = job["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| e["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("expires_at")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.starts_with("metadata")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.starts_with("reward.percent_off")),
        "{reasons:?}"
    );
    assert_eq!(s.get(&format!("/v1/coupons/{}", codes[1])).await.0, 404);
    let kept = s.coupon(&codes[0]).await;
    assert_eq!(ts(&kept["expires_at"]), ts(&json!("2030-01-01T00:00:00Z")));
}
