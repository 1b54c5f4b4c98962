//! The redemption export: its columns, its rows, and the window of redemption times
//! a request may ask for.

use super::coupon::{Redemption, RedemptionStatus};
use super::error::{Error, Result};
use super::job::write_safe_record;
use super::time::Timestamp;

/// The export's first line. The order columns are empty for a redemption made
/// without an order.
pub const REDEMPTION_EXPORT_HEADER: &[u8] = b"id,code,book_id,user_id,status,redeemed_at,reversed_at,order_id,order_amount,currency,discount_amount\n";

/// Redemption times an export asks for: `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedemptionWindow {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl RedemptionWindow {
    /// Reads `from` and `to` (RFC 3339, e.g. `2026-11-25T10:00:00Z`); `to` must not be
    /// before `from`.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self> {
        let time = |name: &str, text: Option<&str>| -> Result<Option<Timestamp>> {
            match text {
                None => Ok(None),
                Some(text) => Timestamp::parse(text).map(Some).ok_or_else(|| {
                    Error::invalid(
                        name,
                        format!("{name} must be an RFC 3339 time, e.g. 2026-11-25T10:00:00Z"),
                    )
                }),
            }
        };
        let window = RedemptionWindow {
            from: time("from", from)?,
            to: time("to", to)?,
        };
        if let (Some(from), Some(to)) = (window.from, window.to)
            && to < from
        {
            return Err(Error::invalid("to", "to must not be before from"));
        }
        Ok(window)
    }

    pub fn contains(&self, at: Timestamp) -> bool {
        self.from.is_none_or(|from| at >= from) && self.to.is_none_or(|to| at < to)
    }
}

/// Redemptions as export rows; no cell can start a spreadsheet formula.
pub fn redemption_rows(redemptions: &[Redemption]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(redemptions.len() * 160));
    for redemption in redemptions {
        let status = match redemption.status {
            RedemptionStatus::Redeemed => "redeemed",
            RedemptionStatus::Reversed => "reversed",
        };
        let redeemed_at = redemption.redeemed_at.to_rfc3339();
        let reversed_at = redemption
            .reversed_at
            .map(Timestamp::to_rfc3339)
            .unwrap_or_default();
        let order_amount = redemption
            .order_amount
            .map(|a| a.to_string())
            .unwrap_or_default();
        let discount_amount = redemption
            .discount
            .as_ref()
            .map(|d| d.amount.to_string())
            .unwrap_or_default();
        let cells = [
            redemption.id.as_str(),
            redemption.code.as_str(),
            redemption.book_id.as_str(),
            redemption.user_id.as_str(),
            status,
            &redeemed_at,
            &reversed_at,
            redemption.order_id.as_deref().unwrap_or_default(),
            &order_amount,
            redemption.currency.as_deref().unwrap_or_default(),
            &discount_amount,
        ];
        write_safe_record(&mut writer, &cells);
    }
    writer.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_rfc_3339_and_in_order() {
        let window = RedemptionWindow::parse(
            Some("2026-11-25T10:00:00Z"),
            Some("2026-11-25T11:00:00+01:00"),
        )
        .expect("an empty window is allowed");
        assert_eq!(window.from, window.to);
        assert!(!window.contains(window.from.expect("from")));
        let window = RedemptionWindow::parse(Some("2026-11-25T10:00:00Z"), None).expect("from");
        let from = window.from.expect("from");
        assert!(window.contains(from) && !window.contains(Timestamp(from.0 - 1)));
        assert_eq!(
            RedemptionWindow::parse(None, None),
            Ok(RedemptionWindow::default())
        );
        for (from, to, field) in [
            (Some("yesterday"), None, "from"),
            (Some("2026-11-25"), None, "from"),
            (None, Some("1700000000"), "to"),
            (
                Some("2026-11-25T10:00:00Z"),
                Some("2026-11-25T09:59:59.999Z"),
                "to",
            ),
        ] {
            let err = RedemptionWindow::parse(from, to).expect_err(field);
            assert_eq!(err.field.as_deref(), Some(field), "{from:?} {to:?}");
        }
    }

    #[test]
    fn rows_have_every_column_and_no_formula() {
        let redemption = Redemption {
            id: "red_1".into(),
            code: "-ABC".into(),
            book_id: "book_1".into(),
            user_id: "=HYPERLINK(\"x\",\"a, b\")".into(),
            status: RedemptionStatus::Reversed,
            redeemed_at: Timestamp(1_795_581_588_288),
            reversed_at: Some(Timestamp(1_795_581_589_000)),
            metadata: None,
            order_id: None,
            order_amount: None,
            currency: None,
            discount: None,
        };
        let text = String::from_utf8(redemption_rows(&[redemption])).expect("utf-8");
        assert_eq!(
            text,
            "red_1,'-ABC,book_1,\"'=HYPERLINK(\"\"x\"\",\"\"a, b\"\")\",reversed,\
             2026-11-25T04:39:48.288Z,2026-11-25T04:39:49.000Z,,,,\n"
        );
        let header = std::str::from_utf8(REDEMPTION_EXPORT_HEADER).expect("utf-8");
        assert_eq!(header.trim_end().split(',').count(), 11);
    }

    #[test]
    fn a_redemption_on_an_order_fills_the_order_columns() {
        let order = crate::domain::order::Order::from_json(
            &serde_json::json!({"id": "=o-1", "amount": 12000, "currency": "EUR"}),
        )
        .expect("order");
        let discount = crate::domain::reward::Discount {
            amount: 1200,
            currency: "EUR".into(),
            free_shipping: false,
        };
        let redemption = Redemption::new(
            "CODE-1",
            "book_1",
            "ann",
            Timestamp(1_795_581_588_288),
            None,
            Some(&order),
            Some(discount),
        );
        let text = String::from_utf8(redemption_rows(&[redemption])).expect("utf-8");
        assert!(text.ends_with(",'=o-1,12000,EUR,1200\n"), "{text}");
    }
}
