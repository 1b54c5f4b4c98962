//! `coupon-book lambda`: which Lambda function this process is, and its start.
//!
//! One binary serves every function: deployed as `bootstrap` on the `provided.al2023`
//! runtime, it reads the function's handler name from `_HANDLER`, which Lambda sets
//! from the template's `Handler` property. The Runtime API address comes from
//! `AWS_LAMBDA_RUNTIME_API`, as on every custom runtime.

use clap::{Args, ValueEnum};

use super::{CliError, CliResult};
use crate::config::ApiArgs;
use crate::lambda::{api, streams, sweep};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Handler {
    /// The HTTP API (API Gateway REST v1 and HTTP API v2 events).
    Api,
    /// DynamoDB Stream batches of outbox events, delivered to webhooks.
    Streams,
    /// Scheduled (EventBridge): frees expired locks and appends their
    /// `coupon.lock_expired` events. Correctness never waits for it.
    Sweep,
}

#[derive(Debug, Clone, Args)]
pub struct LambdaArgs {
    /// Which function this process is; Lambda sets `_HANDLER` from the template.
    #[arg(long, env = "_HANDLER", value_enum, default_value = "api")]
    pub handler: Handler,

    #[command(flatten)]
    pub api: ApiArgs,
}

/// Whether this process was started by Lambda as its `bootstrap`, with no arguments.
pub fn started_by_lambda(args_given: usize) -> bool {
    args_given == 0 && std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

pub async fn run(args: LambdaArgs) -> CliResult {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return Err(CliError(
            "AWS_LAMBDA_RUNTIME_API is not set: `coupon-book lambda` runs inside AWS Lambda \
             (use `coupon-book serve` anywhere else)"
                .into(),
        ));
    }
    match args.handler {
        Handler::Api => api::run(args.api).await,
        Handler::Streams => streams::run(args.api).await,
        Handler::Sweep => sweep::run(args.api).await,
    }
}
