//! Property tests of code patterns: shape, uniqueness, capacity arithmetic and check
//! characters, over arbitrary valid patterns and charsets.

use std::collections::HashSet;

use coupon_book::domain::coupon::normalize_code;
use coupon_book::domain::pattern::{CodePattern, GenerateSpec};
use proptest::prelude::*;

const ALLOWED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

/// A literal set of 2..=12 distinct allowed characters, or a named charset.
fn charset() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("unambiguous".to_string()),
        Just("alphanumeric".to_string()),
        Just("alphabetic".to_string()),
        Just("numeric".to_string()),
        proptest::sample::subsequence(ALLOWED.to_vec(), 2..=12)
            .prop_map(|chars| chars.into_iter().map(char::from).collect()),
    ]
}

/// Patterns of literals and 1..=12 random slots, 3..=40 characters long.
fn pattern() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            3 => Just("#".to_string()),
            1 => proptest::sample::select(ALLOWED.to_vec()).prop_map(|b| (b as char).to_string()),
        ],
        3..=40,
    )
    .prop_map(|parts| parts.concat())
    .prop_filter("needs a random slot", |p| {
        (1..=12).contains(&p.matches('#').count())
    })
}

fn spec(pattern: String, charset: String, check: bool) -> GenerateSpec {
    GenerateSpec {
        count: Some(1),
        pattern: Some(pattern),
        charset: Some(charset),
        check_character: Some(check),
        ..GenerateSpec::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn generated_codes_fit_their_pattern(pattern in pattern(), charset in charset()) {
        let parsed = CodePattern::parse(&spec(pattern.clone(), charset, false)).expect("valid spec");
        let mut rng = rand::rng();
        let mut seen = HashSet::new();
        for _ in 0..50 {
            let code = parsed.generate(&mut rng);
            prop_assert!(parsed.matches(&code), "{code} vs {pattern}");
            let normalized = normalize_code(&code);
            prop_assert_eq!(normalized.as_deref(), Some(code.as_str()));
            prop_assert_eq!(code.len(), pattern.len());
            for (p, c) in pattern.bytes().zip(code.bytes()) {
                if p != b'#' {
                    prop_assert_eq!(p, c);
                }
            }
            seen.insert(code);
        }
        // With more than a million combinations, 50 codes repeat with negligible odds.
        if parsed.space() > 1_000_000 {
            prop_assert_eq!(seen.len(), 50);
        }
    }

    #[test]
    fn capacity_arithmetic_is_exact(pattern in pattern(), charset in charset(), existing in 0u64..1000, count in 1u64..100_000) {
        let parsed = CodePattern::parse(&spec(pattern.clone(), charset.clone(), false)).expect("valid spec");
        let distinct = match charset.as_str() {
            "unambiguous" => 32u128,
            "alphanumeric" => 36,
            "alphabetic" => 26,
            "numeric" => 10,
            literal => literal.bytes().collect::<HashSet<_>>().len() as u128,
        };
        let slots = pattern.matches('#').count() as u32;
        let space = distinct.checked_pow(slots).unwrap_or(u128::MAX);
        prop_assert_eq!(parsed.space(), space);
        let left = space.saturating_sub(u128::from(existing));
        prop_assert_eq!(parsed.check_capacity(count, existing).is_ok(), u128::from(count) <= left / 2);
    }

    #[test]
    fn check_characters_catch_substitutions_and_swaps(pattern in pattern(), charset in charset()) {
        let parsed = match CodePattern::parse(&spec(pattern, charset, true)) {
            Ok(parsed) => parsed,
            // Odd-sized charsets are refused for check characters.
            Err(err) => { prop_assert_eq!(err.field.as_deref(), Some("check_character")); return Ok(()); }
        };
        let code = parsed.generate(&mut rand::rng());
        prop_assert_eq!(parsed.check_fails(&code), Some(false));
        let bytes = code.as_bytes();
        let alphabet: Vec<u8> = (0..200).map(|_| parsed.generate(&mut rand::rng())).flat_map(|c| c.into_bytes()).collect::<HashSet<_>>().into_iter().collect();
        // Every single substitution that keeps the shape is caught.
        for i in 0..bytes.len() {
            for &other in &alphabet {
                if other == bytes[i] { continue; }
                let mut typo = bytes.to_vec();
                typo[i] = other;
                let typo = String::from_utf8(typo).expect("ascii");
                if parsed.matches(&typo) {
                    prop_assert_eq!(parsed.check_fails(&typo), Some(true), "{} -> {}", code, typo);
                }
            }
        }
        // Every adjacent swap that keeps the shape is caught, except swapping the
        // charset's first and last characters (the one blind spot of Luhn mod N).
        let first_last = parsed.charset_ends();
        for i in 0..bytes.len() - 1 {
            if bytes[i] == bytes[i + 1] { continue; }
            let mut swapped = bytes.to_vec();
            swapped.swap(i, i + 1);
            let swapped = String::from_utf8(swapped).expect("ascii");
            let pair = (bytes[i].min(bytes[i + 1]), bytes[i].max(bytes[i + 1]));
            let blind = pair == (first_last.0.min(first_last.1), first_last.0.max(first_last.1));
            if parsed.matches(&swapped) && !blind {
                prop_assert_eq!(parsed.check_fails(&swapped), Some(true), "{} -> {}", code, swapped);
            }
        }
    }
}
