//! `coupon-book webhooks verify`: checks a captured delivery the way a receiver should.
//!
//! Input: the delivery as HTTP shows it: an optional request line
//! (`POST /hook HTTP/1.1`), header lines (`Name: value`), a blank line, then the body
//! exactly as received (everything after the blank line, byte for byte). Only the
//! three `Webhook-*` headers are read; the others are ignored.

use super::{CliError, CliResult};
use crate::domain::webhook::{self, VerifyError};

/// A delivery split into what the signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
}

/// Splits a captured delivery; the error says what is missing.
pub fn parse_delivery(raw: &[u8]) -> Result<Delivery, String> {
    let (head, body) = split_head(raw)
        .ok_or("no blank line between the headers and the body (see --help for the format)")?;
    let head = std::str::from_utf8(head).map_err(|_| "the headers are not UTF-8".to_string())?;
    let mut id = None;
    let mut timestamp = None;
    let mut signature = None;
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue; // the request line, if any
        };
        let value = value.trim().to_string();
        match name.trim().to_ascii_lowercase().as_str() {
            "webhook-id" => id = Some(value),
            "webhook-timestamp" => timestamp = Some(value),
            "webhook-signature" => signature = Some(value),
            _ => {}
        }
    }
    let missing = |name: &str| format!("no {name} header");
    Ok(Delivery {
        id: id.ok_or_else(|| missing("Webhook-Id"))?,
        timestamp: timestamp.ok_or_else(|| missing("Webhook-Timestamp"))?,
        signature: signature.ok_or_else(|| missing("Webhook-Signature"))?,
        body: body.to_vec(),
    })
}

/// Headers end at the first empty line (`\r\n\r\n` or `\n\n`).
fn split_head(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    let crlf = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    let lf = raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let (at, len) = match (crlf, lf) {
        (Some(a), Some(b)) => {
            if a.0 <= b.0 {
                a
            } else {
                b
            }
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => return None,
    };
    Some((&raw[..at], &raw[at + len..]))
}

/// Verifies a captured delivery with `secret`; Ok names the event.
pub fn verify_delivery(
    secret: &str,
    raw: &[u8],
    now_seconds: i64,
    tolerance_seconds: i64,
) -> Result<String, String> {
    let delivery = parse_delivery(raw)?;
    match webhook::verify(
        secret,
        &delivery.id,
        &delivery.timestamp,
        &delivery.body,
        &delivery.signature,
        now_seconds,
        tolerance_seconds,
    ) {
        Ok(()) => Ok(delivery.id),
        Err(VerifyError::TooOld(skew)) => Err(format!(
            "the signature may be right, but the timestamp is {skew} s from now (tolerance {tolerance_seconds} s; --tolerance-seconds 0 skips the check)"
        )),
        Err(err) => Err(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::webhook::{new_secret, sign};

    #[test]
    fn a_captured_delivery_verifies_and_a_changed_one_does_not() {
        let secret = new_secret();
        let body = b"{\"id\":\"evt_1\",\"type\":\"coupon.redeemed\"}\n";
        let signature = sign(&secret, "evt_1", 1_700_000_000, body).expect("sign");
        let raw = [
            format!(
                "POST /hooks HTTP/1.1\r\nHost: x\r\nwebhook-id: evt_1\r\nWebhook-Timestamp: 1700000000\r\nWebhook-Signature: {signature}\r\n\r\n"
            )
            .into_bytes(),
            body.to_vec(),
        ]
        .concat();
        assert_eq!(
            verify_delivery(&secret, &raw, 1_700_000_010, 300),
            Ok("evt_1".to_string())
        );
        // LF-only input (a hand-written file) works too.
        let plain = String::from_utf8(raw.clone())
            .expect("utf8")
            .replace("\r\n", "\n");
        assert!(verify_delivery(&secret, plain.as_bytes(), 1_700_000_010, 300).is_ok());
        let mut changed = raw.clone();
        let last = changed.len() - 2;
        changed[last] = b']';
        assert!(verify_delivery(&secret, &changed, 1_700_000_010, 300).is_err());
        assert!(verify_delivery(&new_secret(), &raw, 1_700_000_010, 300).is_err());
        assert!(
            verify_delivery(&secret, &raw, 1_800_000_000, 300)
                .expect_err("old")
                .contains("timestamp")
        );
        assert!(verify_delivery(&secret, &raw, 1_800_000_000, 0).is_ok());
        assert!(
            verify_delivery(&secret, b"webhook-id: x\n", 0, 0)
                .expect_err("no body")
                .contains("blank line")
        );
        assert!(
            verify_delivery(&secret, b"webhook-id: x\n\n{}", 0, 0)
                .expect_err("headers")
                .contains("Webhook-Timestamp")
        );
    }
}

/// `coupon-book webhooks ...`
#[derive(Debug, clap::Subcommand)]
pub enum WebhooksCommand {
    /// Check a delivery's signature. Reads the delivery from --file or standard input:
    /// header lines (`Webhook-Id: ...`, `Webhook-Timestamp: ...`, `Webhook-Signature:
    /// ...`; an HTTP request line and other headers may be there too), one empty line,
    /// then the body exactly as received. Prints `valid <event id>` and exits 0, or says
    /// why not and exits 1.
    Verify {
        /// The endpoint's secret (`whsec_...`); or set COUPON_BOOK_WEBHOOK_SECRET.
        #[arg(long, env = "COUPON_BOOK_WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        /// The captured delivery; standard input when absent.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        /// Refuse timestamps further than this from now; 0 does not check.
        #[arg(long, default_value_t = webhook::DEFAULT_TOLERANCE_SECONDS)]
        tolerance_seconds: i64,
    },
}

/// Runs a `webhooks` command.
pub fn run(command: WebhooksCommand) -> CliResult {
    run_command(command).map_err(CliError)
}

fn run_command(command: WebhooksCommand) -> Result<(), String> {
    match command {
        WebhooksCommand::Verify {
            secret,
            file,
            tolerance_seconds,
        } => {
            let raw = match &file {
                Some(path) => std::fs::read(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
                None => {
                    let mut buf = Vec::new();
                    std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                        .map_err(|e| format!("cannot read standard input: {e}"))?;
                    buf
                }
            };
            let now = crate::domain::Timestamp::now().millis() / 1000;
            let id = verify_delivery(&secret, &raw, now, tolerance_seconds)
                .map_err(|why| format!("invalid: {why}"))?;
            println!("valid {id}");
            Ok(())
        }
    }
}
