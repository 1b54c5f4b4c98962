//! Every setting of coupon-book, declared once: a flag, its environment variable
//! (a flag wins), its default, and a parser that refuses bad values at start-up with
//! a message naming the setting. `coupon-book <command> --help` lists them.

mod store;
mod uploads;
mod values;
mod webhooks;

use std::net::SocketAddr;

use clap::Args;
use clap::error::{ContextKind, ContextValue, ErrorKind};

pub use store::{DynamoArgs, StoreArgs, StreamArgs};
pub use uploads::UploadArgs;
pub use values::MillisList;
pub use webhooks::WebhookArgs;

use crate::domain::apikey::EndUserRule;

/// `coupon-book serve`: where to listen, and the API settings.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "COUPON_BOOK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub api: ApiArgs,
}

/// The settings of the API itself, the same behind a listener (`serve`) and behind
/// API Gateway (`lambda`). Debug output leaves secrets out (see the `Debug` impl below).
#[derive(Clone, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// An admin API key accepted from start-up (stored hashed).
    #[arg(long, env = "COUPON_BOOK_BOOTSTRAP_ADMIN_KEY", hide_env_values = true)]
    pub bootstrap_admin_key: Option<String>,

    #[command(flatten)]
    pub uploads: UploadArgs,

    /// Requests per second per API key or JWT subject; 0 turns rate limiting off.
    #[arg(
        long,
        env = "COUPON_BOOK_RATE_LIMIT_PER_SECOND",
        default_value_t = 1000
    )]
    pub rate_limit_per_second: u32,

    /// Burst size; defaults to twice the rate.
    #[arg(long, env = "COUPON_BOOK_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<u32>,

    /// Lookups of unknown codes (404 coupon_not_found) per minute per caller before
    /// its code lookups get 429 (code guessing); 0 turns this limit off.
    #[arg(
        long,
        env = "COUPON_BOOK_UNKNOWN_CODE_LIMIT_PER_MINUTE",
        default_value_t = 60
    )]
    pub unknown_code_limit_per_minute: u32,

    /// Unknown-code lookups allowed back to back; defaults to the per-minute figure.
    #[arg(long, env = "COUPON_BOOK_UNKNOWN_CODE_BURST")]
    pub unknown_code_burst: Option<u32>,

    /// Requests per second per client address (IPv4, or IPv6 /64) that make the store
    /// work before the caller is known: API keys not seen in the last seconds and
    /// `/readyz`, `/metrics`. Checked before any store read; 0 turns it off.
    #[arg(
        long,
        env = "COUPON_BOOK_ADDRESS_LOOKUP_LIMIT_PER_SECOND",
        default_value_t = 20
    )]
    pub address_lookup_limit_per_second: u32,

    /// Burst size of the per-address limit; defaults to twice its rate.
    #[arg(long, env = "COUPON_BOOK_ADDRESS_LOOKUP_BURST")]
    pub address_lookup_burst: Option<u32>,

    /// Shared secret for HS256 JWTs (at least 32 bytes); JWTs are off unless this or
    /// the public key is set.
    #[arg(long, env = "COUPON_BOOK_JWT_HS256_SECRET", hide_env_values = true)]
    pub jwt_hs256_secret: Option<String>,

    /// PEM file with the RSA (RS256) or EC P-256 (ES256) public key for JWTs.
    #[arg(long, env = "COUPON_BOOK_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<std::path::PathBuf>,

    /// When set, JWTs must carry this `iss`.
    #[arg(long, env = "COUPON_BOOK_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// When set, JWTs must carry this `aud`.
    #[arg(long, env = "COUPON_BOOK_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Which JWTs are end users' (they keep only `coupons:redeem` and act only for
    /// their `sub`): scope names (a token holding any of them), or
    /// `claim:<name>[=<value>]` (a token whose claim is `true`, or that value).
    #[arg(
        long,
        env = "COUPON_BOOK_JWT_END_USER_RULE",
        default_value = "coupons:redeem",
        value_parser = EndUserRule::parse
    )]
    pub jwt_end_user_rule: EndUserRule,

    /// JWTs that live longer than this (`exp` - `iat`, or `exp` - now without `iat`)
    /// are refused; 0 accepts any lifetime.
    #[arg(
        long,
        env = "COUPON_BOOK_JWT_MAX_LIFETIME_SECONDS",
        default_value_t = 86_400
    )]
    pub jwt_max_lifetime_seconds: u64,

    /// The longest lock an end-user token may take (its own TTL or the book's, capped;
    /// asking for more is a 400), so one shopper cannot hold a shared code for a day.
    #[arg(
        long,
        env = "COUPON_BOOK_END_USER_MAX_LOCK_TTL_SECONDS",
        default_value_t = crate::http::DEFAULT_END_USER_MAX_LOCK_TTL_SECONDS,
        value_parser = clap::value_parser!(u32).range(1..=86_400)
    )]
    pub end_user_max_lock_ttl_seconds: u32,

    /// When set, `/metrics` answers only requests with `Authorization: Bearer <this>`.
    #[arg(long, env = "COUPON_BOOK_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Requests taking longer get 503 (uploads have their own limit, below).
    #[arg(
        long,
        env = "COUPON_BOOK_REQUEST_TIMEOUT_SECONDS",
        default_value_t = 30
    )]
    pub request_timeout_seconds: u64,

    #[command(flatten)]
    pub webhooks: WebhookArgs,
}

/// Secrets (the bootstrap key, the JWT secret) are never printed, only whether set.
impl std::fmt::Debug for ApiArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiArgs")
            .field("store", &self.store)
            .field(
                "bootstrap_admin_key",
                &self.bootstrap_admin_key.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "jwt_hs256_secret",
                &self.jwt_hs256_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("jwt_public_key_file", &self.jwt_public_key_file)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "[redacted]"),
            )
            .field("uploads", &self.uploads)
            .field("rate_limit_per_second", &self.rate_limit_per_second)
            .field("webhooks", &self.webhooks)
            .finish_non_exhaustive()
    }
}

/// Rewrites clap's complaint about a setting's value so that it names both the flag
/// and its environment variable (`invalid value for --webhook-concurrency
/// (COUPON_BOOK_WEBHOOK_CONCURRENCY): ...`). None for other errors, and for flags
/// without a variable, which clap words well enough.
pub fn explain_invalid_value(err: &clap::Error, command: &clap::Command) -> Option<String> {
    if !matches!(
        err.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return None;
    }
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = arg.split_whitespace().next()?.strip_prefix("--")?;
    let env = env_of(command, long)?;
    let why = if err.kind() == ErrorKind::ValueValidation {
        std::error::Error::source(err)?.to_string()
    } else {
        let given = match err.get(ContextKind::InvalidValue) {
            Some(ContextValue::String(given)) => given.as_str(),
            _ => "",
        };
        match err.get(ContextKind::ValidValue) {
            Some(ContextValue::Strings(valid)) => {
                format!("{given:?} is not one of {}", valid.join(", "))
            }
            _ => format!("{given:?} is not accepted"),
        }
    };
    Some(format!("invalid value for --{long} ({env}): {why}"))
}

/// The environment variable of the flag `--long`, in this command or a subcommand.
fn env_of(command: &clap::Command, long: &str) -> Option<String> {
    command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))
        .and_then(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .or_else(|| command.get_subcommands().find_map(|sub| env_of(sub, long)))
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches, Parser};

    use super::*;
    use crate::delivery::DeliveryConfig;

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    /// Parses flags only: the variables of the environment running the tests (the
    /// test command sets some) are left out.
    fn parse(args: &[&str]) -> Result<Serve, clap::Error> {
        let command = Serve::command().mut_args(|arg| arg.env(None::<&'static str>));
        Serve::from_arg_matches(&command.try_get_matches_from(args)?)
    }

    #[test]
    fn the_declared_defaults_are_the_delivery_defaults() {
        let serve = parse(&["serve"]).expect("defaults parse");
        let declared = serve.args.api.webhooks.delivery_config();
        let built_in = DeliveryConfig::default();
        assert_eq!(declared.enabled, built_in.enabled);
        assert_eq!(declared.policy, built_in.policy);
        assert_eq!(declared.timeout, built_in.timeout);
        assert_eq!(declared.retry_schedule, built_in.retry_schedule);
        assert_eq!(declared.disable_after, built_in.disable_after);
        assert_eq!(declared.concurrency, built_in.concurrency);
        assert_eq!(declared.poll, built_in.poll);
        assert_eq!(declared.lease, built_in.lease);
        assert!(!serve.args.api.store.dynamodb.dynamodb_create_table);
        assert!(serve.args.api.store.dynamodb.stream.dynamodb_stream);
    }

    #[test]
    fn a_bad_value_is_explained_with_its_flag_and_variable() {
        let err = parse(&["serve", "--webhook-concurrency", "0"])
            .err()
            .expect("refused");
        assert_eq!(
            explain_invalid_value(&err, &Serve::command()).as_deref(),
            Some(
                "invalid value for --webhook-concurrency (COUPON_BOOK_WEBHOOK_CONCURRENCY): \
                 must be 1..1024, not \"0\""
            )
        );
        let serve =
            parse(&["serve", "--webhook-allow-private", "1"]).expect("a documented spelling");
        assert!(serve.args.api.webhooks.url_policy().allow_private);
    }
}
