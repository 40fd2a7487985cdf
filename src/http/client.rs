//! Who is on the other end: the client's address and whether it came over
//! https. Forwarding headers are believed only from a peer the operator
//! named as a proxy (`serve --trusted-proxy CIDR`), and only the header the
//! operator chose (`--forwarded-header`): a proxy appends to the header it
//! manages and passes any other through untouched, so believing both would
//! let a client write its own address.

use std::net::IpAddr;

use actix_web::http::header::HeaderMap;
use actix_web::HttpRequest;

use crate::settings::{ForwardedHeader, Settings};

/// The client as this server sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Client {
    pub addr: Option<IpAddr>,
    /// The client reached the edge over https: this server's own TLS, or a
    /// trusted proxy's `X-Forwarded-Proto` / `proto=`.
    pub https: bool,
}

pub fn of(req: &HttpRequest, settings: &Settings) -> Client {
    let peer = req.peer_addr().map(|a| a.ip());
    let own_tls = req.app_config().secure();
    match peer {
        Some(p) if trusted(settings, p) => {
            let (addr, https) = forwarded(req.headers(), settings, p);
            Client {
                addr: Some(addr),
                https: own_tls || https,
            }
        }
        _ => Client {
            addr: peer.map(canonical),
            https: own_tls,
        },
    }
}

fn trusted(settings: &Settings, ip: IpAddr) -> bool {
    let ip = canonical(ip);
    settings.trusted_proxies.iter().any(|n| n.contains(&ip))
}

/// An IPv4 client seen through an IPv6 socket (`::ffff:a.b.c.d`) is the
/// IPv4 address, for matching and for the audit trail alike.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Walks the hops from the nearest: the first address that is not a
/// trusted proxy is the client. Every hop trusted: the farthest is. A hop
/// that is not an address (`unknown`, an obfuscated name, garbage) ends the
/// walk at the proxy that reported it. The scheme: with `X-Forwarded-For`,
/// the last `X-Forwarded-Proto` (the nearest proxy sets or overwrites it);
/// with `Forwarded`, the `proto=` of the element that named the client,
/// which the trusted proxy that met the client wrote.
fn forwarded(headers: &HeaderMap, settings: &Settings, peer: IpAddr) -> (IpAddr, bool) {
    // (hop, the scheme its element reports)
    let (hops, mut proto): (Vec<(Option<IpAddr>, Option<String>)>, _) = match settings.forwarded_header {
        ForwardedHeader::XForwardedFor => (
            list(headers, "x-forwarded-for")
                .map(|h| (parse_addr(&h), None))
                .collect(),
            list(headers, "x-forwarded-proto").last(),
        ),
        ForwardedHeader::Forwarded => {
            let mut hops = Vec::new();
            for element in list(headers, "forwarded") {
                let (mut hop, mut scheme) = (None, None);
                for pair in element.split(';') {
                    let Some((k, v)) = pair.split_once('=') else { continue };
                    let v = v.trim().trim_matches('"');
                    match k.trim().to_ascii_lowercase().as_str() {
                        "for" => hop = Some(parse_addr(v)),
                        "proto" => scheme = Some(v.to_string()),
                        _ => {}
                    }
                }
                if let Some(h) = hop {
                    hops.push((h, scheme));
                }
            }
            (hops, None)
        }
    };
    let per_element = settings.forwarded_header == ForwardedHeader::Forwarded;
    let mut client = canonical(peer);
    for (hop, scheme) in hops.iter().rev() {
        let Some(ip) = hop else { break };
        client = canonical(*ip);
        if per_element {
            proto = scheme.clone();
        }
        if !trusted(settings, client) {
            break;
        }
    }
    let https = proto.is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    (client, https)
}

/// A comma-separated header's items, across all its lines, in order.
fn list<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = String> + 'a {
    headers
        .get_all(name)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .into_iter()
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:4711`.
fn parse_addr(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Ok(sock) = s.parse::<std::net::SocketAddr>() {
        return Some(sock.ip());
    }
    s.strip_prefix('[')?.split(']').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn settings(nets: &[&str], header: ForwardedHeader) -> Settings {
        let mut s = Settings::new("127.0.0.1:0", "/nonexistent");
        s.trusted_proxies = nets.iter().map(|n| n.parse().unwrap()).collect();
        s.forwarded_header = header;
        s
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let s = settings(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        // A client wrote its own X-Forwarded-For; two proxies appended.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 203.0.113.7"),
            ("x-forwarded-for", "10.0.0.5"),
        ]);
        assert_eq!(forwarded(&h, &s, ip("10.0.0.9")).0, ip("203.0.113.7"));
        // Every hop a proxy: the farthest.
        let h = headers(&[("x-forwarded-for", "10.1.1.1, 10.0.0.5")]);
        assert_eq!(forwarded(&h, &s, ip("10.0.0.9")).0, ip("10.1.1.1"));
        // Garbage stops the walk at the proxy that reported it.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, nonsense, 10.0.0.5")]);
        assert_eq!(forwarded(&h, &s, ip("10.0.0.9")).0, ip("10.0.0.5"));
        // No header: the proxy itself.
        assert_eq!(forwarded(&HeaderMap::new(), &s, ip("10.0.0.9")).0, ip("10.0.0.9"));
    }

    #[test]
    fn only_the_chosen_header_is_read() {
        let xff = settings(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let h = headers(&[
            ("forwarded", "for=6.6.6.6;proto=https"),
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-proto", "http"),
        ]);
        assert_eq!(forwarded(&h, &xff, ip("10.0.0.9")), (ip("203.0.113.7"), false));
        let rfc = settings(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("forwarded", r#"for="[2001:db8::1]:4711";proto=https, for=10.0.0.5"#),
        ]);
        assert_eq!(forwarded(&h, &rfc, ip("10.0.0.9")), (ip("2001:db8::1"), true));
        let h = headers(&[("forwarded", "for=_hidden, for=10.0.0.5")]);
        assert_eq!(forwarded(&h, &rfc, ip("10.0.0.9")).0, ip("10.0.0.5"));
        // A client's own proto=https is not the proxy's word.
        let h = headers(&[("forwarded", "for=6.6.6.6;proto=https, for=203.0.113.7")]);
        assert_eq!(forwarded(&h, &rfc, ip("10.0.0.9")), (ip("203.0.113.7"), false));
        let h = headers(&[("forwarded", "for=6.6.6.6;proto=https, for=203.0.113.7;proto=http")]);
        assert_eq!(forwarded(&h, &rfc, ip("10.0.0.9")), (ip("203.0.113.7"), false));
    }

    #[test]
    fn mapped_v4_matches_v4_ranges() {
        let s = settings(&["127.0.0.1/32"], ForwardedHeader::XForwardedFor);
        assert!(trusted(&s, ip("::ffff:127.0.0.1")));
        assert!(!trusted(&s, ip("::1")));
        let h = headers(&[("x-forwarded-for", "::ffff:203.0.113.7")]);
        assert_eq!(forwarded(&h, &s, ip("127.0.0.1")).0, ip("203.0.113.7"));
    }
}
