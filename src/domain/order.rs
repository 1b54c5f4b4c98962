//! The order a checkout sends with a code: read straight from the request body into
//! typed fields (no intermediate JSON tree, so a 500-item order costs one pass), then
//! checked rule by rule with errors that name the field (`order.items[3].unit_amount`).

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{Error, Result};
use super::reward::{bad, currency_code};

/// Items one order may carry.
pub const MAX_ORDER_ITEMS: usize = 500;
/// Longest order id and SKU.
const MAX_ORDER_ID_CHARS: usize = 255;
const MAX_SKU_CHARS: usize = 200;

/// The order a checkout sends: integer minor units of `currency`.
// Read as a request carries it, before its rules are checked; scalars are kept as sent
// (text, a whole number or something else) so each rule words its own error.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
#[schema(as = Order)]
pub struct OrderInput {
    /// Your order id, kept on the redemption.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    id: Option<Scalar>,
    #[serde(default)]
    #[schema(value_type = u64, minimum = 0, required = true)]
    amount: Option<Scalar>,
    /// ISO 4217, upper case.
    #[serde(default)]
    #[schema(value_type = String, pattern = "^[A-Z]{3}$", required = true)]
    currency: Option<Scalar>,
    #[serde(default)]
    #[schema(max_items = 500)]
    items: Option<Vec<OrderItemInput>>,
}

/// One line of an order; other keys a shop keeps on its lines (names, images) are let
/// through.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[schema(as = OrderItem)]
pub struct OrderItemInput {
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    sku: Option<Scalar>,
    #[serde(default)]
    #[schema(value_type = u64, minimum = 1, required = true)]
    quantity: Option<Scalar>,
    #[serde(default)]
    #[schema(value_type = u64, minimum = 0, required = true)]
    unit_amount: Option<Scalar>,
}

// Derived structs also read JSON arrays by position; an order and its lines are
// objects only, so each reads through `deserialize_map`.
impl<'de> Deserialize<'de> for OrderInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor::<Self>::new("an order object"))
    }
}

impl<'de> Deserialize<'de> for OrderItemInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor::<Self>::new("an order item object"))
    }
}

/// A type read from a JSON object's entries only.
trait FromObject<'de>: Sized {
    fn from_entries<A: MapAccess<'de>>(entries: A) -> std::result::Result<Self, A::Error>;
}

impl<'de> FromObject<'de> for OrderInput {
    fn from_entries<A: MapAccess<'de>>(entries: A) -> std::result::Result<Self, A::Error> {
        OrderInput::deserialize(MapAccessDeserializer::new(entries))
    }
}

impl<'de> FromObject<'de> for OrderItemInput {
    fn from_entries<A: MapAccess<'de>>(entries: A) -> std::result::Result<Self, A::Error> {
        OrderItemInput::deserialize(MapAccessDeserializer::new(entries))
    }
}

struct ObjectVisitor<T> {
    expecting: &'static str,
    kind: PhantomData<T>,
}

impl<T> ObjectVisitor<T> {
    fn new(expecting: &'static str) -> Self {
        ObjectVisitor {
            expecting,
            kind: PhantomData,
        }
    }
}

impl<'de, T: FromObject<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str(self.expecting)
    }

    fn visit_map<A: MapAccess<'de>>(self, entries: A) -> std::result::Result<T, A::Error> {
        T::from_entries(entries)
    }
}

/// A scalar field as a request sent it. Null reads as absent (`None`); objects and
/// arrays are skipped without building them.
#[derive(Debug)]
enum Scalar {
    Text(String),
    Whole(u64),
    Other,
}

impl Scalar {
    fn text(&self) -> Option<&str> {
        match self {
            Scalar::Text(text) => Some(text),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<Scalar, E> {
        Ok(Scalar::Other)
    }

    fn visit_i64<E>(self, n: i64) -> std::result::Result<Scalar, E> {
        Ok(u64::try_from(n).map_or(Scalar::Other, Scalar::Whole))
    }

    fn visit_u64<E>(self, n: u64) -> std::result::Result<Scalar, E> {
        Ok(Scalar::Whole(n))
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<Scalar, E> {
        Ok(Scalar::Other)
    }

    fn visit_str<E>(self, text: &str) -> std::result::Result<Scalar, E> {
        Ok(Scalar::Text(text.to_owned()))
    }

    fn visit_string<E>(self, text: String) -> std::result::Result<Scalar, E> {
        Ok(Scalar::Text(text))
    }

    fn visit_unit<E>(self) -> std::result::Result<Scalar, E> {
        Ok(Scalar::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItem {
    pub sku: String,
    pub quantity: u64,
    pub unit_amount: u64,
}

/// The order a checkout asks about: amounts in minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: Option<String>,
    pub amount: u64,
    pub currency: String,
    pub items: Vec<OrderItem>,
}

/// Reads an optional `order` field of a request (absent or null: none).
pub fn order_field(input: Option<OrderInput>) -> Result<Option<Order>> {
    input.map(OrderInput::into_order).transpose()
}

impl Order {
    /// Reads an order from a JSON value; errors name the field as `order.…`.
    pub fn from_json(value: &Value) -> Result<Order> {
        serde_path_to_error::deserialize::<_, OrderInput>(value)
            .map_err(|err| {
                let path = err.path().to_string();
                let field = if path == "." {
                    "order".to_string()
                } else {
                    format!("order.{path}")
                };
                Error::invalid(field, err.inner().to_string())
            })?
            .into_order()
    }
}

impl OrderInput {
    /// Checks every rule of an order, naming the first field at fault.
    pub fn into_order(self) -> Result<Order> {
        let id = match self.id {
            None => None,
            Some(Scalar::Text(id))
                if !id.is_empty() && id.chars().count() <= MAX_ORDER_ID_CHARS =>
            {
                Some(id)
            }
            Some(_) => {
                return Err(bad(
                    "order.id",
                    format!("order.id must be text of 1 to {MAX_ORDER_ID_CHARS} characters"),
                ));
            }
        };
        let amount = whole_number(self.amount, 0, || "order.amount".into())?;
        let currency = match &self.currency {
            None => return Err(bad("order.currency", "order.currency is required")),
            Some(sent) => currency_code(sent.text(), "order.currency")?,
        };
        let items = self.items.unwrap_or_default();
        if items.len() > MAX_ORDER_ITEMS {
            return Err(bad(
                "order.items",
                format!("order.items must be a list of at most {MAX_ORDER_ITEMS} items"),
            ));
        }
        let items = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| item.into_item(index))
            .collect::<Result<_>>()?;
        Ok(Order {
            id,
            amount,
            currency,
            items,
        })
    }
}

/// A required whole number >= `min`; the field is named only when it is at fault, so
/// a good 500-line order formats no names.
fn whole_number(value: Option<Scalar>, min: u64, field: impl Fn() -> String) -> Result<u64> {
    match value {
        Some(Scalar::Whole(n)) if n >= min => Ok(n),
        None => Err(bad(&field(), format!("{} is required", field()))),
        Some(_) => Err(bad(
            &field(),
            format!("{} must be a whole number >= {min}", field()),
        )),
    }
}

impl OrderItemInput {
    fn into_item(self, index: usize) -> Result<OrderItem> {
        let at = |name: &str| format!("order.items[{index}].{name}");
        let sku = match self.sku {
            Some(Scalar::Text(sku)) if !sku.is_empty() && sku.chars().count() <= MAX_SKU_CHARS => {
                sku
            }
            _ => {
                return Err(bad(
                    &at("sku"),
                    format!("sku must be text of 1 to {MAX_SKU_CHARS} characters"),
                ));
            }
        };
        let quantity = whole_number(self.quantity, 1, || at("quantity"))?;
        let unit_amount = whole_number(self.unit_amount, 0, || at("unit_amount"))?;
        Ok(OrderItem {
            sku,
            quantity,
            unit_amount,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(value: Value) -> String {
        Order::from_json(&value)
            .expect_err("a bad order")
            .field
            .unwrap_or_default()
    }

    #[test]
    fn an_order_and_its_lines_are_objects_only() {
        assert_eq!(field_of(json!(["o-1", 100, "EUR"])), "order");
        assert_eq!(
            field_of(json!({"amount": 1, "currency": "EUR", "items": [["SKU", 1, 1]]})),
            "order.items[0]"
        );
        assert_eq!(
            field_of(json!({"amount": 1, "currency": "EUR", "items": {"sku": "A"}})),
            "order.items"
        );
    }

    #[test]
    fn unknown_order_keys_are_refused_and_line_extras_kept_out() {
        assert_eq!(
            field_of(json!({"amount": 1, "currency": "EUR", "total": 1})),
            "order.total"
        );
        let order = Order::from_json(&json!({
            "id": null, "amount": 300, "currency": "EUR",
            "items": [{"sku": "A", "quantity": 3, "unit_amount": 100, "name": {"en": "Tea"}}]
        }))
        .expect("extra keys on a line are let through");
        assert_eq!(order.id, None);
        assert_eq!(
            order.items,
            vec![OrderItem {
                sku: "A".into(),
                quantity: 3,
                unit_amount: 100
            }]
        );
    }

    #[test]
    fn each_rule_names_its_field() {
        assert_eq!(
            field_of(json!({"amount": 1.5, "currency": "EUR"})),
            "order.amount"
        );
        assert_eq!(
            field_of(json!({"amount": null, "currency": "EUR"})),
            "order.amount"
        );
        assert_eq!(
            field_of(json!({"amount": 1, "currency": "eur"})),
            "order.currency"
        );
        assert_eq!(
            field_of(json!({"id": "", "amount": 1, "currency": "EUR"})),
            "order.id"
        );
        assert_eq!(
            field_of(json!({"id": 7, "amount": 1, "currency": "EUR"})),
            "order.id"
        );
        // Whatever JSON type a scalar is sent as, its own rule answers.
        for amount in [
            json!(-1),
            json!("100"),
            json!(true),
            json!([100]),
            json!({"v": 1}),
        ] {
            assert_eq!(
                field_of(json!({"amount": amount, "currency": "EUR"})),
                "order.amount"
            );
        }
        for currency in [json!(978), json!(["EUR"]), json!({"code": "EUR"})] {
            assert_eq!(
                field_of(json!({"amount": 1, "currency": currency})),
                "order.currency"
            );
        }
        assert_eq!(
            field_of(json!({"id": {"n": 1}, "amount": 1, "currency": "EUR"})),
            "order.id"
        );
        let line = |item: Value| json!({"amount": 1, "currency": "EUR", "items": [item]});
        assert_eq!(
            field_of(line(json!({"sku": 12, "quantity": 1, "unit_amount": 1}))),
            "order.items[0].sku"
        );
        assert_eq!(
            field_of(line(json!({"sku": "A", "quantity": 2.0, "unit_amount": 1}))),
            "order.items[0].quantity"
        );
        assert_eq!(
            field_of(line(json!({"quantity": 1, "unit_amount": 1}))),
            "order.items[0].sku"
        );
        assert_eq!(
            field_of(line(json!({"sku": "A", "quantity": 0, "unit_amount": 1}))),
            "order.items[0].quantity"
        );
        assert_eq!(
            field_of(line(json!({"sku": "A", "quantity": 1}))),
            "order.items[0].unit_amount"
        );
    }
}
