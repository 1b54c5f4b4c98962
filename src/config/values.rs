//! Parsers for setting values; their messages name what is accepted.

use std::time::Duration;

/// `on`, `1`, `true` / `off`, `0`, `false` (any case).
fn switch(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "1" | "true" => Some(true),
        "off" | "0" | "false" => Some(false),
        _ => None,
    }
}

fn not_a_switch(text: &str) -> String {
    format!("must be on or off (1/0, true/false), not {text:?}")
}

/// A switch that is off by default: an empty value leaves it off.
pub fn switch_off_when_empty(text: &str) -> Result<bool, String> {
    if text.trim().is_empty() {
        return Ok(false);
    }
    switch(text).ok_or_else(|| not_a_switch(text))
}

/// A switch that is on by default: an empty value leaves it on.
pub fn switch_on_when_empty(text: &str) -> Result<bool, String> {
    if text.trim().is_empty() {
        return Ok(true);
    }
    switch(text).ok_or_else(|| not_a_switch(text))
}

/// A duration in whole milliseconds.
pub fn millis(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("must be a number of milliseconds, not {text:?}"))
}

/// Delays in milliseconds, comma-separated; empty means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MillisList(pub Vec<Duration>);

pub fn millis_list(text: &str) -> Result<MillisList, String> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| part.parse::<u64>().map(Duration::from_millis))
        .collect::<Result<_, _>>()
        .map(MillisList)
        .map_err(|_| format!("must be comma-separated milliseconds, not {text:?}"))
}

/// Requests in flight per webhook endpoint: 1 to 1024.
pub fn concurrency(text: &str) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=1024).contains(n))
        .ok_or_else(|| format!("must be 1..1024, not {text:?}"))
}

/// A size in bytes: a whole number, optionally with `KiB`, `MiB` or `GiB` (also
/// `K`, `M`, `G`; all binary); at least 1.
pub fn byte_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        _ => 0,
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && scale > 0)
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| {
            format!(
                "must be a number of bytes (optionally KiB, MiB or GiB), at least 1, not {text:?}"
            )
        })
}

/// A count of at least 1.
pub fn positive_count(text: &str) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("must be a whole number, at least 1, not {text:?}"))
}

/// Whole seconds, at least 1.
pub fn positive_seconds(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("must be a number of seconds, at least 1, not {text:?}"))
}

/// Whole hours, 1 to 8760 (a year).
pub fn positive_hours(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (1..=8760).contains(n))
        .map(|n| Duration::from_secs(n * 3600))
        .ok_or_else(|| format!("must be a number of hours, 1..8760, not {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_take_the_documented_spellings() {
        for on in ["1", "true", "TRUE", "on", " On "] {
            assert_eq!(switch_off_when_empty(on), Ok(true), "{on}");
        }
        for off in ["0", "false", "off", "OFF"] {
            assert_eq!(switch_on_when_empty(off), Ok(false), "{off}");
        }
        assert_eq!(switch_off_when_empty(""), Ok(false));
        assert_eq!(switch_on_when_empty(""), Ok(true));
        assert!(switch_off_when_empty("yes please").is_err());
    }

    #[test]
    fn durations_and_lists_are_milliseconds() {
        assert_eq!(millis(" 250 "), Ok(Duration::from_millis(250)));
        assert!(millis("2s").is_err());
        assert!(millis("").is_err());
        assert_eq!(
            millis_list("5, 300,"),
            Ok(MillisList(vec![
                Duration::from_millis(5),
                Duration::from_millis(300)
            ]))
        );
        assert_eq!(millis_list(""), Ok(MillisList(Vec::new())));
        assert!(millis_list("5,x").is_err());
        assert_eq!(concurrency("16"), Ok(16));
        assert!(concurrency("0").is_err());
        assert!(concurrency("1025").is_err());
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(byte_size("1024"), Ok(1024));
        assert_eq!(byte_size("64KiB"), Ok(64 << 10));
        assert_eq!(byte_size(" 512 MiB "), Ok(512 << 20));
        assert_eq!(byte_size("10GiB"), Ok(10 << 30));
        assert_eq!(byte_size("1g"), Ok(1 << 30));
        for bad in [
            "",
            "0",
            "-1",
            "1TB",
            "MiB",
            "1.5GiB",
            "99999999999999999999GiB",
        ] {
            assert!(byte_size(bad).is_err(), "{bad}");
        }
        assert!(positive_count("0").is_err());
        assert!(positive_seconds("0").is_err());
        assert_eq!(positive_seconds("600"), Ok(Duration::from_secs(600)));
    }
}
