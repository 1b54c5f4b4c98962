//! Which URLs a webhook may call: the policy against server-side request forgery.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::domain::error::{Error, Result};

const MAX_URL_CHARS: usize = 2048;

/// Whether URLs on loopback, private and link-local networks are allowed (a setting,
/// for tests and trusted networks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrlPolicy {
    pub allow_private: bool,
}

impl UrlPolicy {
    pub fn allows(self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }
}

/// The parts of a webhook URL that decide where it connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// Without brackets for IPv6.
    pub host: String,
    pub port: u16,
}

/// Parses and checks a webhook URL: `http`/`https` only, a host, no user info, and not
/// an address on a loopback, private, link-local or otherwise internal network (unless
/// the policy allows them). Host names are checked again when they are resolved.
pub fn check_url(text: &str, policy: UrlPolicy) -> Result<Target> {
    let refuse = |why: &str| Error::invalid("url", why.to_string());
    if text.chars().count() > MAX_URL_CHARS {
        return Err(refuse("url must be at most 2048 characters"));
    }
    let uri: http::Uri = text
        .parse()
        .map_err(|_| refuse("url is not a valid absolute URL"))?;
    let https = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => true,
        Some(s) if s.eq_ignore_ascii_case("http") => false,
        _ => return Err(refuse("url must start with http:// or https://")),
    };
    let authority = uri.authority().ok_or_else(|| refuse("url has no host"))?;
    if authority.as_str().contains('@') {
        return Err(refuse("url must not contain user information"));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(refuse("url has no host"));
    }
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    if !policy.allow_private {
        let lower = host.to_ascii_lowercase();
        let lower = lower.trim_end_matches('.');
        if let Some(ip) = parse_ip_host(lower) {
            if !is_public(ip) {
                return Err(refuse(
                    "url points to a loopback, private or link-local address; webhooks only call public addresses",
                ));
            }
        } else if lower == "localhost" || lower.ends_with(".localhost") || !lower.contains('.') {
            return Err(refuse(
                "url must name a public host (a fully qualified name or a public address)",
            ));
        }
    }
    Ok(Target {
        https,
        host: host.to_string(),
        port,
    })
}

/// An IP literal as a URL host; also the shorthand forms (`127.1`, `2130706433`,
/// `0x7f.1`) that resolvers accept for IPv4.
pub fn parse_ip_host(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ip);
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        let value = if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            u32::from_str_radix(hex, 16).ok()?
        } else if part.len() > 1 && part.starts_with('0') {
            u32::from_str_radix(&part[1..], 8).ok()?
        } else {
            part.parse::<u32>().ok()?
        };
        numbers.push(value);
    }
    let (last, head) = numbers.split_last()?;
    if head.iter().any(|n| *n > 255) {
        return None;
    }
    let mut value: u32 = 0;
    for (i, n) in head.iter().enumerate() {
        value |= n << (24 - 8 * i);
    }
    let room = 32 - 8 * head.len() as u32;
    if room < 32 && *last >= (1u32 << room) {
        return None;
    }
    Some(IpAddr::V4(Ipv4Addr::from(value | last)))
}

/// Whether an address is on the public internet: not loopback, private, link-local,
/// unique-local, unspecified, shared (CGNAT), multicast, broadcast, documentation or
/// reserved. IPv4 inside IPv6 (mapped, compatible, NAT64) is judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let internal = a == 0                        // "this network", unspecified
        || a == 10                               // private
        || a == 127                              // loopback
        || (a == 100 && (64..128).contains(&b))  // shared address space (CGNAT)
        || (a == 169 && b == 254)                // link-local (cloud metadata)
        || (a == 172 && (16..32).contains(&b))   // private
        || (a == 192 && b == 0 && c == 0)        // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)        // documentation
        || (a == 192 && b == 88 && c == 99)      // 6to4 relay anycast
        || (a == 192 && b == 168)                // private
        || (a == 198 && (b == 18 || b == 19))    // benchmarking
        || (a == 198 && b == 51 && c == 100)     // documentation
        || (a == 203 && b == 0 && c == 113)      // documentation
        || a >= 224; // multicast, reserved, broadcast
    !internal
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) embed IPv4.
    let embedded = Ipv4Addr::new(
        (segments[6] >> 8) as u8,
        segments[6] as u8,
        (segments[7] >> 8) as u8,
        segments[7] as u8,
    );
    if segments[..6] == [0; 6] {
        return !ip.is_unspecified() && !ip.is_loopback() && is_public_v4(embedded);
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded);
    }
    let first = segments[0];
    let internal = (first & 0xfe00) == 0xfc00   // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80           // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0           // site-local (deprecated) fec0::/10
        || (first & 0xff00) == 0xff00           // multicast
        || (first == 0x2001 && segments[1] == 0x0db8) // documentation
        || (first == 0x0100 && segments[1..4] == [0, 0, 0]) // discard-only 100::/64
        || first == 0x2002 && !is_public_v4(Ipv4Addr::new(
            (segments[1] >> 8) as u8,
            segments[1] as u8,
            (segments[2] >> 8) as u8,
            segments[2] as u8,
        )); // 6to4 of an internal IPv4
    !internal
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOT_ALLOWED: UrlPolicy = UrlPolicy {
        allow_private: false,
    };
    const ALLOWED: UrlPolicy = UrlPolicy {
        allow_private: true,
    };

    #[test]
    fn url_policy_refuses_internal_targets() {
        for url in [
            "http://127.0.0.1/hook",
            "http://127.0.0.1:8080/hook",
            "http://10.0.0.5/hook",
            "http://10.255.255.255/",
            "http://172.16.3.4/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[::]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://intranet/",
        ] {
            let err = check_url(url, NOT_ALLOWED).expect_err(url);
            assert_eq!(err.field.as_deref(), Some("url"), "{url}");
            assert!(check_url(url, ALLOWED).is_ok(), "{url} when allowed");
        }
        for url in [
            "file:///etc/passwd",
            "ftp://example.com/",
            "gopher://example.com/",
            "example.com/hook",
            "http://user:pw@example.com/",
            "",
            "http:///nohost",
        ] {
            let err = check_url(url, ALLOWED).expect_err(url);
            assert_eq!(err.field.as_deref(), Some("url"), "{url}");
        }
        for url in [
            "https://example.com/hooks/coupons",
            "http://hooks.example.com:8443/x?y=1",
            "https://93.184.216.34/",
            "https://[2606:2800:220:1::1]/",
        ] {
            let target = check_url(url, NOT_ALLOWED).expect(url);
            assert!(!target.host.is_empty());
        }
        let target = check_url("https://[2606:2800:220:1::1]:444/", NOT_ALLOWED).expect("v6");
        assert_eq!(
            (target.https, target.host.as_str(), target.port),
            (true, "2606:2800:220:1::1", 444)
        );
    }
}
