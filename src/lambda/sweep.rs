//! The sweep function: run on a schedule (EventBridge), it frees the locks that have
//! expired and appends their `coupon.lock_expired` events, as `serve` does every
//! second. Expired locks stop counting the moment they expire whether or not it runs;
//! it exists so that the event is announced (and reaches webhooks through the stream).

use lambda_http::{LambdaEvent, service_fn};
use serde_json::{Value, json};

use crate::cli::{CliError, CliResult};
use crate::config::ApiArgs;

pub async fn run(args: ApiArgs) -> CliResult {
    let store = args.store.open().await?;
    tracing::info!(store = %args.store.store, "coupon-book sweep function ready");
    let handler = service_fn(move |_schedule: LambdaEvent<Value>| {
        let store = store.clone();
        async move {
            let expired = store.expire_locks().await.map_err(|e| e.to_string())?;
            Ok::<Value, String>(json!({ "expired_locks": expired }))
        }
    });
    lambda_http::lambda_runtime::run(handler)
        .await
        .map_err(|e| CliError(format!("the Lambda runtime stopped: {e}")))
}
