//! Reading flag values: durations, base URLs and origins, proxy ranges.
//! Each refusal names the flag and its environment variable.

use std::time::Duration;

use anyhow::{anyhow, bail};

/// A duration like `90s`, `10m`, `30d`; a bare number is seconds.
pub fn duration(flag: &str, env: &str, value: &str) -> anyhow::Result<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(value)
        .map_err(|e| anyhow!("{flag} ({env}): cannot read {value:?} as a duration ({e}); use e.g. 90s, 10m, 12h, 30d"))
}

/// A scheme and host (and port), as a browser writes it in `Origin`.
pub fn base_url(flag: &str, env: &str, raw: &str) -> anyhow::Result<String> {
    let lower = raw.trim().trim_end_matches('/').to_ascii_lowercase();
    let url = lower.as_str();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| anyhow!("{flag} ({env}): {raw:?} must start with http:// or https://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ', '@']) {
        bail!("{flag} ({env}): {raw:?} must be a scheme and host only, e.g. https://tenant.example.com");
    }
    let url = url
        .strip_suffix(":443")
        .filter(|u| u.starts_with("https://"))
        .or_else(|| url.strip_suffix(":80").filter(|u| u.starts_with("http://")))
        .unwrap_or(url);
    Ok(url.to_string())
}

/// An address is a one-host range.
pub fn proxy_net(value: &str) -> anyhow::Result<ipnet::IpNet> {
    let value = value.trim();
    value
        .parse::<ipnet::IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            anyhow!("--trusted-proxy (MOLECULE_TRUSTED_PROXIES): {value:?} is not an address or CIDR range (e.g. 10.0.0.0/8)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_written_as_browsers_write_origins() {
        let b = |raw| base_url("--cors-origin", "X", raw);
        assert_eq!(
            b("HTTPS://Canvas.Example.com:443/").unwrap(),
            "https://canvas.example.com"
        );
        assert_eq!(b("http://h:80").unwrap(), "http://h");
        assert_eq!(b("http://h:443").unwrap(), "http://h:443");
        assert_eq!(b("https://h:8443").unwrap(), "https://h:8443");
        for bad in [
            "h.example.com",
            "https://h/path",
            "https://user@h",
            "ftp://h",
            "https://",
        ] {
            assert!(b(bad).is_err(), "{bad}");
        }
    }
}
