//! Settings from flags or the environment (a flag wins).

use std::net::SocketAddr;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// `sqlite:<file>` (embedded, default) or `dynamodb:<table>`.
    #[arg(
        long,
        env = "COUPON_BOOK_STORE",
        default_value = "sqlite:coupon-book.db"
    )]
    pub store: String,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "COUPON_BOOK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub store: StoreArgs,

    /// An admin API key accepted from start-up (stored hashed).
    #[arg(long, env = "COUPON_BOOK_BOOTSTRAP_ADMIN_KEY", hide_env_values = true)]
    pub bootstrap_admin_key: Option<String>,

    /// Where uploaded files wait for their job (kept until the job ends, so a restart
    /// can resume it).
    #[arg(long, env = "COUPON_BOOK_SPOOL_DIR")]
    pub spool_dir: Option<std::path::PathBuf>,

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
}
