//! Faults the tests inject in place of `TransactWriteItems` answers, to drive the
//! retry paths (compiled into test builds only).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

/// An error to inject in place of the next `TransactWriteItems` answers (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `TransactionCanceledException` whose reasons say `TransactionConflict`.
    TransactionConflict,
    /// `ThrottlingException`.
    Throttling,
}

#[derive(Default)]
pub(super) struct Faults {
    pub(super) queue: Mutex<Vec<Fault>>,
    pub(super) injected: AtomicU64,
}

impl Faults {
    pub(super) fn next(&self) -> Option<Fault> {
        let mut queue = self.queue.lock().ok()?;
        if queue.is_empty() {
            return None;
        }
        self.injected.fetch_add(1, Ordering::Relaxed);
        Some(queue.remove(0))
    }
}

/// The fault as the SDK would hand it to us, so it goes through the same classifier as
/// a real answer.
pub(super) fn injected_error(fault: Fault, actions: usize) -> SdkError<TransactWriteItemsError> {
    use aws_sdk_dynamodb::config::http::HttpResponse;
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_dynamodb::types::error::{ThrottlingException, TransactionCanceledException};
    let error = match fault {
        Fault::TransactionConflict => {
            let mut reasons = vec![CancellationReason::builder().code("None").build(); actions];
            if let Some(first) = reasons.first_mut() {
                *first = CancellationReason::builder()
                    .code("TransactionConflict")
                    .message("Transaction is ongoing for the item")
                    .build();
            }
            TransactWriteItemsError::TransactionCanceledException(
                TransactionCanceledException::builder()
                    .set_cancellation_reasons(Some(reasons))
                    .meta(
                        ErrorMetadata::builder()
                            .code("TransactionCanceledException")
                            .build(),
                    )
                    .build(),
            )
        }
        Fault::Throttling => TransactWriteItemsError::ThrottlingException(
            ThrottlingException::builder()
                .meta(ErrorMetadata::builder().code("ThrottlingException").build())
                .build(),
        ),
    };
    let response = match 400u16.try_into() {
        Ok(status) => HttpResponse::new(status, "".into()),
        Err(_) => return SdkError::timeout_error("injected fault"),
    };
    SdkError::service_error(error, response)
}
