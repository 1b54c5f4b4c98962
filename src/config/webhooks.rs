//! Webhook delivery settings: the same for `serve` (outbox workers), the Lambda
//! streams function, and test sends from the API.

use std::time::Duration;

use clap::{ArgAction, Args};

use super::values::{
    MillisList, concurrency, millis, millis_list, switch_off_when_empty, switch_on_when_empty,
};
use crate::delivery::DeliveryConfig;
use crate::domain::webhook::UrlPolicy;

#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// `off`: this process sends nothing (endpoints can still be managed; test sends
    /// answer a failed attempt), e.g. for API fuzzing or processes that should not
    /// deliver.
    #[arg(
        long,
        env = "COUPON_BOOK_WEBHOOK_DELIVERY",
        value_name = "on|off",
        action = ArgAction::Set,
        default_value = "on",
        value_parser = switch_on_when_empty
    )]
    pub webhook_delivery: bool,

    /// Allow webhook URLs on loopback, private and link-local networks (tests,
    /// trusted networks).
    #[arg(
        long,
        env = "COUPON_BOOK_WEBHOOK_ALLOW_PRIVATE",
        value_name = "on|off",
        action = ArgAction::Set,
        default_value = "off",
        value_parser = switch_off_when_empty
    )]
    pub webhook_allow_private: bool,

    /// One attempt, from connecting to the end of the answer's first 1 KiB.
    #[arg(
        long,
        env = "COUPON_BOOK_WEBHOOK_TIMEOUT_MS",
        value_name = "MS",
        default_value = "10000",
        value_parser = millis
    )]
    pub webhook_timeout_ms: Duration,

    /// Delays before each retry, comma-separated; each is jittered by ±20%; empty:
    /// no retries.
    #[arg(
        long,
        env = "COUPON_BOOK_WEBHOOK_RETRY_SCHEDULE_MS",
        value_name = "MS,MS,...",
        default_value = "5000,300000,1800000,7200000,18000000,36000000",
        value_parser = millis_list
    )]
    pub webhook_retry_schedule_ms: MillisList,

    /// An endpoint whose attempts all failed for this long is disabled (5 days).
    #[arg(
        long,
        env = "COUPON_BOOK_WEBHOOK_DISABLE_AFTER_MS",
        value_name = "MS",
        default_value = "432000000",
        value_parser = millis
    )]
    pub webhook_disable_after_ms: Duration,

    /// Requests in flight per endpoint (1..1024).
    #[arg(
        long,
        env = "COUPON_BOOK_WEBHOOK_CONCURRENCY",
        value_name = "N",
        default_value = "16",
        value_parser = concurrency
    )]
    pub webhook_concurrency: usize,

    /// How often an idle worker looks for new events; unset: the store's own figure
    /// (25 ms embedded, 250 ms DynamoDB, where every look is billed).
    #[arg(
        long,
        env = "COUPON_BOOK_WEBHOOK_POLL_MS",
        value_name = "MS",
        value_parser = millis
    )]
    pub webhook_poll_ms: Option<Duration>,

    /// How long a process owns an endpoint's delivery without renewing; another
    /// process takes over after that.
    #[arg(
        long,
        env = "COUPON_BOOK_WEBHOOK_LEASE_MS",
        value_name = "MS",
        default_value = "30000",
        value_parser = millis
    )]
    pub webhook_lease_ms: Duration,
}

impl WebhookArgs {
    /// Which webhook URLs may be called.
    pub fn url_policy(&self) -> UrlPolicy {
        UrlPolicy {
            allow_private: self.webhook_allow_private,
        }
    }

    /// The delivery settings, with the floors delivery needs.
    pub fn delivery_config(&self) -> DeliveryConfig {
        DeliveryConfig {
            enabled: self.webhook_delivery,
            policy: self.url_policy(),
            timeout: self.webhook_timeout_ms.max(Duration::from_millis(1)),
            retry_schedule: self.webhook_retry_schedule_ms.0.clone(),
            disable_after: self.webhook_disable_after_ms,
            concurrency: self.webhook_concurrency,
            poll: self
                .webhook_poll_ms
                .map(|poll| poll.max(Duration::from_millis(1))),
            lease: self.webhook_lease_ms.max(Duration::from_millis(100)),
            ..DeliveryConfig::default()
        }
    }
}
