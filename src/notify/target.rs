//! Which hosts a webhook may reach: addresses that are not globally reachable (loopback,
//! private, link-local, shared, multicast, reserved…) are refused unless the site allows
//! them (`[notify.webhook] allow_private_targets`), so an editor cannot aim aviso at the
//! services of its own network (server-side request forgery, OWASP SSRF Prevention
//! Cheat Sheet). Checked when a subscriber is written (IP literals and `localhost`) and
//! again by the webhook channel on every address a host name resolves to.
//!
//! Pure: `core::net` address types (no sockets) and the `url` crate's parser (the one reqwest uses, so an address is
//! read here exactly as the HTTP client will read it: `http://2130706433/` is 127.0.0.1);
//! must not do I/O or depend on tokio or reqwest.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` is not a webhook target (the range and its source), or `None` when it is
/// globally reachable.
///
/// Written by hand because std's `IpAddr::is_global` is still unstable (rust-lang/rust
/// issue 27709). The ranges are those of the IANA IPv4 and IPv6 Special-Purpose Address
/// Registries (RFC 6890) that are not globally reachable, plus multicast; an IPv6 address
/// that carries an IPv4 one (mapped, NAT64, 6to4) is judged by the IPv4 address it carries.
pub fn non_public_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => v6_range(v6),
    }
}

fn v4_range(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "\"this network\" 0.0.0.0/8 (RFC 791)",
        (10, _, _) => "private 10.0.0.0/8 (RFC 1918)",
        (100, 64..=127, _) => "shared 100.64.0.0/10 (RFC 6598)",
        (127, _, _) => "loopback 127.0.0.0/8 (RFC 1122)",
        (169, 254, _) => "link-local 169.254.0.0/16 (RFC 3927)",
        (172, 16..=31, _) => "private 172.16.0.0/12 (RFC 1918)",
        (192, 0, 0) => "IETF protocol assignments 192.0.0.0/24 (RFC 6890)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation (RFC 5737)",
        (192, 168, _) => "private 192.168.0.0/16 (RFC 1918)",
        (198, 18..=19, _) => "benchmarking 198.18.0.0/15 (RFC 2544)",
        (224..=239, _, _) => "multicast 224.0.0.0/4 (RFC 5771)",
        (240..=255, _, _) => "reserved 240.0.0.0/4 (RFC 1112)",
        _ => return None,
    })
}

fn v6_range(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if ip.is_loopback() {
        return Some("loopback ::1 (RFC 4291)");
    }
    if ip.is_unspecified() {
        return Some("unspecified :: (RFC 4291)");
    }
    // ::ffff:a.b.c.d (RFC 4291 §2.5.5.2) and the well-known NAT64 prefix 64:ff9b::/96
    // (RFC 6052): the IPv4 address decides.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_range(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_range(embedded_v4(s[6], s[7]));
    }
    // 6to4 2002:AABB:CCDD::/48 (RFC 3056) carries AA.BB.CC.DD.
    if s[0] == 0x2002 {
        return v4_range(embedded_v4(s[1], s[2]));
    }
    Some(match s[0] {
        // ::a.b.c.d, "IPv4-compatible", deprecated (RFC 4291 §2.5.5.1).
        0 if s[..6] == [0; 6] => "IPv4-compatible ::/96 (RFC 4291)",
        0x64 if s[1] == 0xff9b && s[2] == 1 => "local-use NAT64 64:ff9b:1::/48 (RFC 8215)",
        0x100 if s[1..4] == [0, 0, 0] => "discard-only 100::/64 (RFC 6666)",
        0x2001 if s[1] < 0x200 => "IETF protocol assignments 2001::/23 (RFC 2928)",
        0x2001 if s[1] == 0xdb8 => "documentation 2001:db8::/32 (RFC 3849)",
        x if x & 0xfe00 == 0xfc00 => "unique local fc00::/7 (RFC 4193)",
        x if x & 0xffc0 == 0xfe80 => "link-local fe80::/10 (RFC 4291)",
        x if x & 0xffc0 == 0xfec0 => "site-local fec0::/10 (RFC 3879)",
        x if x & 0xff00 == 0xff00 => "multicast ff00::/8 (RFC 4291)",
        _ => return None,
    })
}

/// `localhost` and names under it always mean the machine itself (RFC 6761 §6.3).
fn is_localhost_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost")
}

/// Checks a webhook URL's host as written: an IP literal in a non-public range, or
/// `localhost`, is refused. Host names are judged again at delivery, on the addresses
/// they resolve to then. The error describes the problem (the range, not the URL: its
/// path may carry a token).
pub fn check_public_host(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url.trim())
        .map_err(|e| format!("a URL the HTTP client cannot read ({e})"))?;
    match parsed.host() {
        Some(url::Host::Domain(d)) if is_localhost_name(d) => {
            Err("the host localhost, the machine itself (RFC 6761)".into())
        }
        Some(url::Host::Domain(_)) => Ok(()),
        Some(url::Host::Ipv4(ip)) => match v4_range(ip) {
            Some(range) => Err(format!("the {range} address {ip}")),
            None => Ok(()),
        },
        Some(url::Host::Ipv6(ip)) => match v6_range(ip) {
            Some(range) => Err(format!("the {range} address {ip}")),
            None => Ok(()),
        },
        None => Err("no host".into()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn range(s: &str) -> Option<&'static str> {
        non_public_range(s.parse().unwrap())
    }

    #[test]
    fn internal_addresses_are_named_and_public_ones_pass() {
        for (ip, word) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.31.255.255", "private"),
            ("192.168.0.10", "private"),
            ("169.254.169.254", "link-local"),
            ("100.100.0.1", "shared"),
            ("0.0.0.0", "this network"),
            ("255.255.255.255", "reserved"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("2002:c0a8:0101::1", "private"),
            ("fd00::1", "unique local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
        ] {
            let r = range(ip).unwrap_or_else(|| panic!("{ip} passed"));
            assert!(r.contains(word), "{ip}: {r}");
        }
        for ip in [
            "41.94.0.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2c0f:f2a0::1",
            "2001:4860::8888",
            "::ffff:41.94.0.1",
        ] {
            assert_eq!(range(ip), None, "{ip}");
        }
    }

    #[test]
    fn url_hosts_are_read_as_the_http_client_reads_them() {
        for u in [
            "http://127.0.0.1:9000/x",
            "http://2130706433/",
            "http://0x7f.1/",
            "https://[::1]/",
            "http://LOCALHOST./hook",
            "http://api.localhost/",
            "https://169.254.169.254/latest/meta-data/",
        ] {
            assert!(check_public_host(u).is_err(), "{u}");
        }
        assert!(check_public_host("https://hooks.example.org/a?t=1").is_ok());
        assert!(check_public_host("https://41.94.0.1/a").is_ok());
    }
}
