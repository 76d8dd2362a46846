//! Where the client IP comes from: the TCP peer address, or, only when a trusted proxy
//! header is configured (`trusted_proxy_header`), that header.
//!
//! A client can write anything into `X-Forwarded-For`; what it cannot forge is what the
//! proxies we trust append to it. With `trusted_proxy_hops = N` trusted proxies in front
//! of the gateway, each appending the address it received the connection from, the
//! client IP is the N-th entry from the right (every entry left of it may be forged).
//! Repeated header lines are one list, in order (RFC 9110 §5.3). An entry may carry a
//! port (`1.2.3.4:5678`, `[2001:db8::1]:443`). If the list is shorter than N, the
//! left-most entry is used (all of it was written by trusted proxies); if the header is
//! missing or the chosen entry is not an IP, the peer address is used.
//!
//! Limits key IPv6 clients by their /64 (one subscriber usually holds a whole /64) and
//! IPv4-mapped IPv6 addresses as IPv4: [`limit_key`].

use axum::http::{HeaderMap, HeaderName};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// How to find the client IP of a request.
#[derive(Debug, Clone)]
pub struct ClientIpSource {
    header: Option<HeaderName>,
    hops: usize,
}

impl ClientIpSource {
    /// From the settings: `header` empty = trust no header; `hops` ≥ 1.
    pub fn new(header: &str, hops: u32) -> Self {
        let header = Some(header.trim())
            .filter(|h| !h.is_empty())
            .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok());
        Self {
            header,
            hops: usize::try_from(hops.max(1)).unwrap_or(1),
        }
    }

    /// The client IP of a request with `headers` from `peer` (`None` when served
    /// in-process without a socket, e.g. `oneshot` tests).
    pub fn client_ip(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
        let peer = peer.map(|p| p.ip());
        let Some(name) = &self.header else {
            return peer;
        };
        let mut lines = headers.get_all(name).iter();
        let chosen = match (lines.next(), lines.next()) {
            (None, _) => return peer,
            // The usual case, one header line: walk it from the right, no allocation.
            (Some(line), None) => {
                let Ok(line) = line.to_str() else {
                    return peer;
                };
                let mut from_right = line.rsplit(',');
                let mut chosen = None;
                for _ in 0..self.hops {
                    match from_right.next() {
                        Some(entry) => chosen = Some(entry),
                        None => break,
                    }
                }
                chosen
            }
            // Several lines are one list, in order.
            _ => {
                let entries: Vec<&str> = headers
                    .get_all(name)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .collect();
                entries
                    .len()
                    .checked_sub(1)
                    .map(|last| entries[last.saturating_sub(self.hops - 1)])
            }
        };
        chosen.and_then(parse_entry).or(peer)
    }
}

/// An address list entry: `ip`, `ip:port`, `[ipv6]` or `[ipv6]:port`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim().trim_matches('"');
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sock) = entry.parse::<SocketAddr>() {
        return Some(sock.ip());
    }
    entry
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(ip, _)| ip.parse::<Ipv6Addr>().ok())
        .map(IpAddr::V6)
}

/// The key a client IP is limited under: IPv4 as is (also when IPv4-mapped), IPv6 by
/// its /64 prefix.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn peer() -> Option<SocketAddr> {
        Some("10.0.0.9:40000".parse().unwrap())
    }

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append("x-forwarded-for", HeaderValue::from_str(l).unwrap());
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn without_a_configured_header_a_spoofed_one_is_ignored() {
        let src = ClientIpSource::new("", 1);
        assert_eq!(
            src.client_ip(&headers(&["1.2.3.4"]), peer()),
            ip("10.0.0.9")
        );
        assert_eq!(src.client_ip(&HeaderMap::new(), None), None);
    }

    #[test]
    fn right_most_entry_per_trusted_hop() {
        let one = ClientIpSource::new("X-Forwarded-For", 1);
        let two = ClientIpSource::new("x-forwarded-for", 2);
        // The client forged "6.6.6.6"; the proxy appended the real address.
        let h = headers(&["6.6.6.6, 203.0.113.7"]);
        assert_eq!(one.client_ip(&h, peer()), ip("203.0.113.7"));
        // Two proxies: CDN appended the client, the load balancer appended the CDN.
        let h = headers(&["6.6.6.6, 203.0.113.7", "198.51.100.1"]);
        assert_eq!(two.client_ip(&h, peer()), ip("203.0.113.7"));
        assert_eq!(one.client_ip(&h, peer()), ip("198.51.100.1"));
        // Shorter than the hops: the left-most entry.
        assert_eq!(
            two.client_ip(&headers(&["203.0.113.7"]), peer()),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn missing_or_garbage_falls_back_to_the_peer() {
        let src = ClientIpSource::new("X-Forwarded-For", 1);
        assert_eq!(src.client_ip(&HeaderMap::new(), peer()), ip("10.0.0.9"));
        assert_eq!(
            src.client_ip(&headers(&["1.2.3.4, unknown"]), peer()),
            ip("10.0.0.9")
        );
        assert_eq!(src.client_ip(&headers(&["not an ip"]), None), None);
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xff1.2.3.4").unwrap(),
        );
        assert_eq!(src.client_ip(&h, peer()), ip("10.0.0.9"));
    }

    #[test]
    fn entries_with_ports_and_brackets() {
        assert_eq!(parse_entry("1.2.3.4:5678"), ip("1.2.3.4"));
        assert_eq!(parse_entry("[2001:db8::1]:443"), ip("2001:db8::1"));
        assert_eq!(parse_entry("[2001:db8::1]"), ip("2001:db8::1"));
        assert_eq!(parse_entry("2001:db8::1"), ip("2001:db8::1"));
        assert_eq!(parse_entry("\"[2001:db8::1]:80\""), ip("2001:db8::1"));
        assert_eq!(parse_entry("_hidden"), None);
    }

    #[test]
    fn ipv6_is_limited_by_its_64_and_mapped_v4_as_v4() {
        assert_eq!(
            limit_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            limit_key("::ffff:1.2.3.4".parse().unwrap()),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            limit_key("1.2.3.4".parse().unwrap()),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
    }
}
