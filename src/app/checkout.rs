//! Several codes on one order: what each code's store says of it, judged together by
//! the domain (`domain::checkout`).

use std::collections::HashMap;

use crate::domain::apikey::BookAccess;
use crate::domain::checkout::{CodeCheck, MultiValidation, judge_codes};
use crate::domain::order::Order;
use crate::domain::{ErrorCode, Result};
use crate::store::DynStore;

/// `POST /v1/validations`: changes nothing. A code outside the caller's books is
/// answered as unknown.
pub async fn validate_codes(
    store: &DynStore,
    books: &BookAccess,
    user_id: &str,
    codes: &[String],
    order: &Order,
) -> Result<MultiValidation> {
    let mut combinable: HashMap<String, bool> = HashMap::new();
    let mut checks = Vec::with_capacity(codes.len());
    for code in codes {
        let validation = match store
            .validate_order(code, user_id, Some(order.clone()))
            .await
        {
            Ok(validation) if books.allows(&validation.coupon.book_id) => validation,
            Ok(_) => {
                checks.push(unknown(code));
                continue;
            }
            Err(err) if err.code == ErrorCode::CouponNotFound => {
                checks.push(unknown(code));
                continue;
            }
            Err(err) => return Err(err),
        };
        let book_id = validation.coupon.book_id.clone();
        let book_combinable = match combinable.get(&book_id) {
            Some(known) => *known,
            None => {
                let known = store.get_book(&book_id).await?.settings.combinable;
                combinable.insert(book_id, known);
                known
            }
        };
        checks.push(CodeCheck {
            code: code.clone(),
            failures: validation.reasons,
            reward: validation.reward,
            combinable: book_combinable,
        });
    }
    Ok(judge_codes(order, &checks))
}

fn unknown(code: &str) -> CodeCheck {
    CodeCheck {
        code: code.to_string(),
        failures: vec![ErrorCode::CouponNotFound],
        reward: None,
        combinable: false,
    }
}
