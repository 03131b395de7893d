//! The loopback redirect URI: which addresses to listen on and the exact URI to send.

use crate::error::{Error, Result};
use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopbackHost {
    /// `127.0.0.1`
    Ipv4,
    /// `[::1]`
    Ipv6,
    /// `localhost`: browsers may resolve it to either address, so both are listened on.
    Localhost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri {
    /// The URI as configured (sent unchanged when it has a fixed port).
    pub configured: String,
    pub host: LoopbackHost,
    /// `None`: a free port is chosen when the listener starts (Google desktop clients).
    pub port: Option<u16>,
    /// The path the provider redirects to, e.g. `/`.
    pub path: String,
    /// The port written in `redirect_uri` when `redirect_port` replaced it.
    pub replaced_port: Option<u16>,
}

impl Serialize for RedirectUri {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.configured)
    }
}

impl RedirectUri {
    /// Parses `http://127.0.0.1[:port]/path`, `http://[::1]...` or `http://localhost...`;
    /// `port_override` (the `redirect_port` key) replaces the port.
    pub fn parse(uri: &str, port_override: Option<u16>) -> Result<RedirectUri> {
        let key = "redirect_uri";
        let url = super::parse_url(key, uri)?;
        if url.scheme() != "http" {
            return Err(Error::config(format!(
                "configuration key `{key}`: `{uri}` must start with http:// — the loopback listener does not do TLS, and providers accept http for loopback redirects"
            )));
        }
        let host = match url.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() && ip.octets() == [127, 0, 0, 1] => {
                LoopbackHost::Ipv4
            }
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => LoopbackHost::Ipv6,
            Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
                LoopbackHost::Localhost
            }
            _ => {
                return Err(Error::config(format!(
                    "configuration key `{key}`: `{uri}` is not a loopback address; use http://127.0.0.1/, http://[::1]/ or http://localhost:PORT/ (the listener never opens a port to the network)"
                )))
            }
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::config(format!(
                "configuration key `{key}`: `{uri}` must not have a query or fragment"
            )));
        }
        let explicit_port = url.port();
        let port = match (port_override, explicit_port) {
            (Some(0), _) => None,
            (Some(p), _) => Some(p),
            (None, Some(0)) | (None, None) => None,
            (None, Some(p)) => Some(p),
        };
        let path = url.path().to_string();
        let configured = match (port_override, explicit_port) {
            // The override changes the URI: rebuild it with the same host and path.
            (Some(p), e) if Some(p) != e && p != 0 => {
                format!("http://{}:{p}{path}", host_text(host))
            }
            _ => uri.trim().to_string(),
        };
        let replaced_port = match (port_override, explicit_port) {
            (Some(p), Some(e)) if p != e && p != 0 && e != 0 => Some(e),
            _ => None,
        };
        Ok(RedirectUri {
            configured,
            host,
            port,
            path,
            replaced_port,
        })
    }

    /// The URI to send for a listener bound on `port`.
    pub fn uri_for_port(&self, port: u16) -> String {
        match self.port {
            Some(_) => self.configured.clone(),
            None => {
                // keep what the admin wrote, with the chosen port
                format!("http://{}:{port}{}", host_text(self.host), self.path)
            }
        }
    }
}

fn host_text(h: LoopbackHost) -> &'static str {
    match h {
        LoopbackHost::Ipv4 => "127.0.0.1",
        LoopbackHost::Ipv6 => "[::1]",
        LoopbackHost::Localhost => "localhost",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_port_is_sent_exactly_as_configured() {
        let r = RedirectUri::parse("http://localhost:3017/", None).unwrap();
        assert_eq!(r.host, LoopbackHost::Localhost);
        assert_eq!(r.port, Some(3017));
        assert_eq!(r.uri_for_port(3017), "http://localhost:3017/");
        let r = RedirectUri::parse("http://localhost:3017", None).unwrap();
        assert_eq!(r.uri_for_port(3017), "http://localhost:3017");
    }

    #[test]
    fn free_port_is_filled_in() {
        let r = RedirectUri::parse("http://127.0.0.1/", None).unwrap();
        assert_eq!(r.port, None);
        assert_eq!(r.uri_for_port(49152), "http://127.0.0.1:49152/");
        let r = RedirectUri::parse("http://[::1]:0/cb", None).unwrap();
        assert_eq!(r.uri_for_port(5000), "http://[::1]:5000/cb");
    }

    #[test]
    fn port_override_rebuilds() {
        let r = RedirectUri::parse("http://localhost:3017/", Some(4000)).unwrap();
        assert_eq!(r.port, Some(4000));
        assert_eq!(r.uri_for_port(4000), "http://localhost:4000/");
    }

    #[test]
    fn rejects_non_loopback_and_https() {
        for bad in [
            "http://192.168.1.2:3017/",
            "https://localhost:3017/",
            "http://example.com/",
            "http://127.0.0.2/",
            "not a url",
            "http://localhost:3017/?x=1",
        ] {
            let e = RedirectUri::parse(bad, None).unwrap_err();
            assert!(e.message.contains("redirect_uri"), "{bad}: {}", e.message);
        }
    }
}
