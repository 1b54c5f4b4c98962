//! Uploads: where they are spooled, and the limits that keep them from filling the
//! disk or holding the service's upload slots forever.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::values::{byte_size, positive_count, positive_seconds};

#[derive(Debug, Clone, Args)]
pub struct UploadArgs {
    /// Where uploaded files wait for their job (kept until the job ends, so a restart
    /// can resume it). Default: `<file>.spool` next to a `sqlite:<file>` store; for
    /// DynamoDB `<table>.spool` under `$XDG_DATA_HOME/coupon-book` (or
    /// `~/.local/share/coupon-book`); in AWS Lambda the function's private `/tmp`.
    /// Made with mode 0700; an existing one must be ours and not group/world writable.
    #[arg(long, env = "COUPON_BOOK_SPOOL_DIR")]
    pub spool_dir: Option<PathBuf>,

    /// Largest upload; more gets 413 `payload_too_large`. Bytes, or with a unit
    /// (`KiB`, `MiB`, `GiB`).
    #[arg(
        long,
        env = "COUPON_BOOK_MAX_UPLOAD_BYTES",
        value_name = "BYTES",
        default_value = "1GiB",
        value_parser = byte_size
    )]
    pub max_upload_bytes: u64,

    /// Uploads received at once; one more gets 429 `rate_limited` with `Retry-After`.
    #[arg(
        long,
        env = "COUPON_BOOK_MAX_CONCURRENT_UPLOADS",
        value_name = "N",
        default_value = "4",
        value_parser = positive_count
    )]
    pub max_concurrent_uploads: usize,

    /// Total size of the spool files in use (uploads arriving and jobs not yet
    /// ended); an upload that would pass it gets 503 `store_busy` with `Retry-After`.
    #[arg(
        long,
        env = "COUPON_BOOK_MAX_SPOOL_BYTES",
        value_name = "BYTES",
        default_value = "10GiB",
        value_parser = byte_size
    )]
    pub max_spool_bytes: u64,

    /// An upload's whole body must arrive within this time (and no 60 s may pass
    /// without a byte); else 400 `invalid_request` and nothing is stored.
    #[arg(
        long,
        env = "COUPON_BOOK_UPLOAD_TIMEOUT_SECONDS",
        value_name = "SECONDS",
        default_value = "600",
        value_parser = positive_seconds
    )]
    pub upload_timeout_seconds: Duration,
}

impl UploadArgs {
    /// The spool directory these settings name, or the default for `store` (the
    /// `--store` setting); `in_lambda`: the only writable place is `/tmp`.
    pub fn spool_dir_for(&self, store: &str, in_lambda: bool) -> Result<PathBuf, String> {
        if let Some(dir) = &self.spool_dir {
            return Ok(dir.clone());
        }
        if in_lambda {
            // Each function instance has its own /tmp, emptied when it is recycled.
            return Ok(std::env::temp_dir().join("coupon-book-spool"));
        }
        if let Some(file) = store.strip_prefix("sqlite:") {
            let mut dir = Path::new(file).as_os_str().to_owned();
            dir.push(".spool");
            return Ok(PathBuf::from(dir));
        }
        // Table names are letters, digits, `_`, `-` and `.`; anything else stays out
        // of the path.
        let table: String = store
            .strip_prefix("dynamodb:")
            .unwrap_or(store)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|home| PathBuf::from(home).join(".local/share"))
            })
            .ok_or_else(|| {
                "no place for the spool directory: neither XDG_DATA_HOME nor HOME is set; \
                 set --spool-dir (COUPON_BOOK_SPOOL_DIR)"
                    .to_string()
            })?;
        Ok(data.join("coupon-book").join(format!("{table}.spool")))
    }
}
