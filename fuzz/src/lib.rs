//! What each fuzz target checks, for any input bytes. libFuzzer drives these through
//! `fuzz_targets/`; `tests/it/fuzz_smoke.rs` in the service crate drives the same
//! functions with random inputs on the stable toolchain. A panic is a finding.

use coupon_book::domain::ErrorCode;
use coupon_book::domain::apikey::CreateApiKey;
use coupon_book::domain::book::{CreateBook, UpdateBook};
use coupon_book::domain::coupon::normalize_code;
use coupon_book::domain::job::{CodeIntake, MAX_UPLOAD_LINE, UploadLine, read_upload_line};
use coupon_book::domain::pattern::{CodePattern, GenerateSpec};
use coupon_book::http::extract::parse_json;
use coupon_book::http::routes::codes::AddCodes;
use coupon_book::http::routes::coupons::{LockBody, RedeemBody, UnlockBody, UserBody};
use coupon_book::http::routes::seed::AssignNextBody;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Splits `data` into at most `n` fields at NUL bytes (text made valid UTF-8).
fn fields(data: &[u8], n: usize) -> Vec<String> {
    data.splitn(n, |b| *b == 0)
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect()
}

/// The code-pattern parser: a JSON spec, or `pattern\0charset\0prefix\0suffix` with
/// flags in the first byte. A pattern that parses must make codes that are valid,
/// match the pattern and pass their own check character.
pub fn code_pattern(data: &[u8]) {
    let spec = match serde_json::from_slice::<GenerateSpec>(data) {
        Ok(spec) => spec,
        Err(_) => {
            let Some((&flags, rest)) = data.split_first() else {
                return;
            };
            let parts = fields(rest, 4);
            let part = |i: usize| parts.get(i).cloned();
            GenerateSpec {
                count: Some(u64::from(flags) * 1000 + 1),
                pattern: if flags & 1 == 0 { part(0) } else { None },
                charset: if flags & 2 == 0 { part(1) } else { None },
                prefix: part(2),
                suffix: part(3),
                length: Some(u32::from(flags >> 2)),
                check_character: Some(flags & 0x80 != 0),
            }
        }
    };
    let pattern = match CodePattern::parse(&spec) {
        Ok(pattern) => pattern,
        Err(err) => {
            assert_eq!(err.code, ErrorCode::InvalidRequest, "{err:?}");
            assert!(
                err.field.is_some(),
                "a pattern error names its field: {err:?}"
            );
            return;
        }
    };
    assert!((3..=64).contains(&pattern.code_len()));
    assert!(
        pattern.space() >= 2,
        "a pattern has at least one random slot"
    );
    let _ = pattern.check_capacity(spec.count.unwrap_or(1), u64::MAX);
    let _ = pattern.check_capacity(spec.count.unwrap_or(1), 0);
    let like = pattern.like_pattern();
    let seed = data
        .iter()
        .fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(*b));
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..4 {
        let code = pattern.generate(&mut rng);
        assert_eq!(code.len(), pattern.code_len(), "{code}");
        assert_eq!(
            normalize_code(&code).as_deref(),
            Some(code.as_str()),
            "{code}"
        );
        assert!(
            pattern.matches(&code),
            "{code} does not match its own pattern"
        );
        assert_ne!(
            pattern.check_fails(&code),
            Some(true),
            "{code}: bad check character"
        );
        assert!(like.len() >= code.len(), "{like} vs {code}");
    }
    // Any text at all may be asked about without a panic.
    let probe = String::from_utf8_lossy(data);
    let _ = pattern.matches(&probe);
    let _ = pattern.check_fails(&probe);
}

/// The upload reader as the job runs it: lines at `\n`, lines longer than kept
/// marked truncated, the header only as the first non-blank line. Every counted line
/// lands in exactly one bucket, and every accepted code is a valid, unique code.
pub fn upload_lines(data: &[u8]) {
    let mut intake = CodeIntake::default();
    let mut header_seen = false;
    let mut counted = 0u64;
    for (index, raw) in data.split(|b| *b == b'\n').enumerate() {
        let truncated = raw.len() > MAX_UPLOAD_LINE;
        let kept = &raw[..raw.len().min(MAX_UPLOAD_LINE)];
        let line = index as u64 + 1;
        match read_upload_line(kept, truncated, !header_seen) {
            UploadLine::Blank => {}
            UploadLine::Header => {
                assert!(!header_seen, "a second header line");
                header_seen = true;
            }
            UploadLine::Code(code) => {
                header_seen = true;
                counted += 1;
                intake.push(line, code);
            }
            UploadLine::Unreadable(shown, reason) => {
                header_seen = true;
                counted += 1;
                assert!(shown.chars().count() <= 40, "shown text is cut: {shown:?}");
                intake.push_invalid(line, shown, reason);
            }
        }
    }
    assert_eq!(intake.lines, counted);
    let buckets = intake.accepted.len() + intake.invalid.len() + intake.duplicates.len();
    assert_eq!(intake.lines, buckets as u64, "every line in one bucket");
    let mut seen = std::collections::HashSet::new();
    for (_, code) in &intake.accepted {
        assert_eq!(
            normalize_code(code).as_deref(),
            Some(code.as_str()),
            "{code}"
        );
        assert!(seen.insert(code.clone()), "{code} accepted twice");
    }
    for dup in &intake.duplicates {
        assert!(
            seen.contains(&dup.code),
            "duplicate of an unseen code {}",
            dup.code
        );
    }
    for bad in &intake.invalid {
        assert!(bad.code.chars().count() <= 100);
    }
    // The JSON form of intake agrees with the line form on what it accepts.
    let text = String::from_utf8_lossy(data);
    let listed = CodeIntake::from_codes(text.split('\n'));
    let listed_total = listed.accepted.len() + listed.invalid.len() + listed.duplicates.len();
    assert_eq!(listed.lines, listed_total as u64);
}

/// Every JSON request body type: parsing never panics, refusals are 400
/// `invalid_request` without parser positions, and parsed values go through the same
/// checks the handlers run.
pub fn json_bodies(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 10 {
        0 => {
            if let Some(book) = parsed::<CreateBook>(body) {
                let _ = book.into_settings();
            }
        }
        1 => {
            if let Some(update) = parsed::<UpdateBook>(body) {
                let _ = update.check_fields();
            }
        }
        2 => {
            if let Some(spec) = parsed::<GenerateSpec>(body) {
                let _ = spec.count();
                let _ = CodePattern::parse(&spec);
            }
        }
        3 => {
            if let Some(codes) = parsed::<AddCodes>(body)
                && let Ok(intake) = CodeIntake::from_inputs(&codes.codes)
            {
                assert_eq!(intake.lines, codes.codes.len() as u64);
            }
        }
        4 => {
            parsed::<UserBody>(body);
        }
        5 => {
            parsed::<LockBody>(body);
        }
        6 => {
            parsed::<UnlockBody>(body);
        }
        7 => {
            parsed::<RedeemBody>(body);
        }
        8 => {
            parsed::<AssignNextBody>(body);
        }
        _ => {
            if let Some(mut key) = parsed::<CreateApiKey>(body) {
                let _ = key.validate(coupon_book::domain::Timestamp(0));
            }
        }
    }
}

fn parsed<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    match parse_json::<T>(body) {
        Ok(value) => Some(value),
        Err(err) => {
            let err = err.0;
            assert_eq!(err.code, ErrorCode::InvalidRequest, "{err:?}");
            assert!(!err.message.is_empty());
            if let Some(field) = &err.field {
                assert!(!field.is_empty(), "an empty field path");
            }
            None
        }
    }
}
