//! The fuzz targets' checks (fuzz/src/lib.rs) on the stable toolchain: random bytes and
//! mutations of valid seeds through the code-pattern parser, the upload reader and
//! every JSON request body. Not coverage-guided like `cargo fuzz`, but it runs in the
//! normal test command; `scripts/fuzz.sh` uses it when no nightly toolchain is there.
//!
//! COUPON_BOOK_FUZZ_SECONDS (per target) runs it for a time instead of a fixed count;
//! COUPON_BOOK_FUZZ_TARGETS picks targets (space separated).

#[path = "../../fuzz/src/lib.rs"]
mod checks;

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Inputs per target in a normal test run.
const DEFAULT_RUNS: u64 = 20_000;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    seeds.push(Vec::new());
    seeds
}

/// Interesting bytes for these parsers.
const DICTIONARY: &[&[u8]] = &[
    b"#",
    b"\\",
    b"\\#",
    b"\"",
    b"'",
    b"\n",
    b"\r\n",
    b"\0",
    b"\xEF\xBB\xBF",
    b"\xFF",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"null",
    b"true",
    b"1e999",
    b"-1",
    b"4294967296",
    b"18446744073709551616",
    b"\"\\u0000\"",
    b"\"\\ud800\"",
    b"code",
    b"CODE",
    b"unambiguous",
    b"numeric",
    b"alphabetic",
    b"alphanumeric",
    b"abc",
    b"AB",
    b"\"pattern\":",
    b"\"charset\":",
    b"\"count\":",
    b"\"codes\":",
    b"\"user_id\":",
    b"\"metadata\":",
    b"\"status\":\"archived\"",
    b"\"scopes\":[\"admin\"]",
    b"\"valid_from\":\"2026-13-40T99:00:00Z\"",
    b"\"lock_ttl_seconds\":0",
];

fn mutate(rng: &mut StdRng, input: &mut Vec<u8>) {
    for _ in 0..rng.random_range(1..=8) {
        match rng.random_range(0..6) {
            0 if !input.is_empty() => {
                let at = rng.random_range(0..input.len());
                input[at] = rng.random();
            }
            1 => {
                let at = rng.random_range(0..=input.len());
                input.insert(at, rng.random());
            }
            2 if !input.is_empty() => {
                let at = rng.random_range(0..input.len());
                let end = (at + rng.random_range(1..=16)).min(input.len());
                input.drain(at..end);
            }
            3 => {
                let at = rng.random_range(0..=input.len());
                let word = DICTIONARY[rng.random_range(0..DICTIONARY.len())];
                input.splice(at..at, word.iter().copied());
            }
            4 if !input.is_empty() && input.len() < 8192 => {
                let at = rng.random_range(0..input.len());
                let end = (at + rng.random_range(1..=64)).min(input.len());
                let copy = input[at..end].to_vec();
                let to = rng.random_range(0..=input.len());
                input.splice(to..to, copy);
            }
            _ => {
                let len = rng.random_range(0..64);
                input.extend((0..len).map(|_| rng.random::<u8>()));
            }
        }
    }
    input.truncate(16 * 1024);
}

fn run(target: &str, check: fn(&[u8])) {
    if let Ok(only) = std::env::var("COUPON_BOOK_FUZZ_TARGETS")
        && !only.split_whitespace().any(|t| t == target)
    {
        return;
    }
    let budget = std::env::var("COUPON_BOOK_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);
    let seed = std::env::var("COUPON_BOOK_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    let mut rng = StdRng::seed_from_u64(seed);
    let seeds = seeds(target);
    let started = Instant::now();
    let mut runs = 0u64;
    loop {
        let done = match budget {
            Some(budget) => started.elapsed() >= budget,
            None => runs >= DEFAULT_RUNS,
        };
        if done {
            break;
        }
        let mut input = seeds[rng.random_range(0..seeds.len())].clone();
        mutate(&mut rng, &mut input);
        let result = std::panic::catch_unwind(|| check(&input));
        if result.is_err() {
            panic!(
                "{target}: finding with seed {seed} after {runs} runs; input (hex): {}",
                input.iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
        }
        runs += 1;
    }
    eprintln!(
        "{target}: {runs} inputs in {:.1}s, no finding (seed {seed})",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn code_pattern_parser() {
    run("code_pattern", checks::code_pattern);
}

#[test]
fn upload_line_reader() {
    run("upload_lines", checks::upload_lines);
}

#[test]
fn json_request_bodies() {
    run("json_bodies", checks::json_bodies);
}
