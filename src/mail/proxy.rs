//! Reaching servers through a company's proxy: the `proxy` setting (`"system"`, `"none"`, or
//! `http://[user:password@]host:port` / `socks5://[user:password@]host:port`) and the tunnel a
//! mail connection (IMAP, POP3, SMTP) goes through — HTTP CONNECT (RFC 9110 §9.3.6, Basic
//! authentication) or SOCKS5 (RFC 1928, user/password RFC 1929, the server's name resolved by
//! the proxy, through `tokio-socks`). HTTPS requests (OAuth2, Graph, the Gmail API) use the same
//! setting through reqwest. TLS is negotiated with the mail server inside the tunnel: the
//! proxy never sees a token.

use crate::error::{Error, Result, Status};
use base64::Engine as _;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The kind of proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// HTTP CONNECT.
    Http,
    /// SOCKS5.
    Socks5,
}

/// A proxy given by URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyServer {
    pub kind: Kind,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
}

/// The `proxy` setting.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Proxy {
    /// The operating system's proxy settings (Windows: the per-user Internet settings, for
    /// HTTPS requests and mail connections alike; elsewhere HTTPS requests follow
    /// `HTTPS_PROXY`… and mail connections go direct).
    #[default]
    System,
    /// Everything direct.
    Direct,
    /// Everything through this proxy.
    Server(ProxyServer),
}

fn bad(value: &str, why: &str) -> Error {
    // the value may hold a password: never quoted
    let _ = value;
    Error::config(format!("configuration key `proxy`: {why}"))
}

impl Proxy {
    /// `system`, `none` or a proxy URL.
    pub fn parse(value: &str) -> Result<Proxy> {
        let v = value.trim();
        match v.to_ascii_lowercase().as_str() {
            "" | "system" => return Ok(Proxy::System),
            "none" | "direct" => return Ok(Proxy::Direct),
            _ => {}
        }
        let url = url::Url::parse(v).map_err(|_| {
            bad(v, "\"system\", \"none\", or a URL such as http://proxy.example:8080 or socks5://proxy.example:1080")
        })?;
        let kind = match url.scheme() {
            "http" => Kind::Http,
            "socks5" | "socks5h" => Kind::Socks5,
            other => {
                return Err(bad(
                    v,
                    &format!("the scheme `{other}` is not one this library speaks (http for HTTP CONNECT, socks5)"),
                ))
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad(v, "the proxy's host is missing"))?
            .trim_matches(|c| c == '[' || c == ']')
            .to_string();
        let port = url
            .port()
            .ok_or_else(|| bad(v, "the proxy's port is missing (http://proxy.example:8080)"))?;
        if url.path() != "/" && !url.path().is_empty() || url.query().is_some() {
            return Err(bad(v, "a proxy URL has no path or query"));
        }
        let decode = |s: &str| percent_decode(s).unwrap_or_else(|| s.to_string());
        let user = Some(url.username()).filter(|u| !u.is_empty()).map(decode);
        let password = url.password().map(decode);
        Ok(Proxy::Server(ProxyServer {
            kind,
            host,
            port,
            user,
            password,
        }))
    }

    /// The proxy given in the setting (none for `system` and `none`).
    pub fn configured(&self) -> Option<&ProxyServer> {
        match self {
            Proxy::Server(p) => Some(p),
            _ => None,
        }
    }

    /// The proxy a mail connection to `host` goes through: the one given, or for `system` the
    /// operating system's ([`super::system_proxy`]: Windows' Internet settings and bypass list).
    pub fn for_mail(&self, host: &str) -> Option<ProxyServer> {
        match self {
            Proxy::Server(p) => Some(p.clone()),
            Proxy::System => super::system_proxy::for_target(host),
            Proxy::Direct => None,
        }
    }

    /// Sets up a reqwest client for this setting.
    pub fn apply(&self, b: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder> {
        Ok(match self {
            Proxy::System => b,
            Proxy::Direct => b.no_proxy(),
            Proxy::Server(p) => {
                let scheme = match p.kind {
                    Kind::Http => "http",
                    // the proxy resolves names, as for mail connections
                    Kind::Socks5 => "socks5h",
                };
                let mut proxy = reqwest::Proxy::all(format!("{scheme}://{}", p.address()))
                    .map_err(|e| Error::config(format!("configuration key `proxy`: {e}")))?;
                if let Some(u) = &p.user {
                    proxy = proxy.basic_auth(u, p.password.as_deref().unwrap_or(""));
                }
                b.proxy(proxy)
            }
        })
    }
}

/// `%XX` sequences decoded (user names and passwords in URLs); None when not valid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let h = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl ProxyServer {
    /// `host:port` (IPv6 in brackets).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn name(&self) -> String {
        match self.kind {
            Kind::Http => format!("the HTTP proxy {}", self.address()),
            Kind::Socks5 => format!("the SOCKS5 proxy {}", self.address()),
        }
    }
}

/// Shown with the password hidden.
impl std::fmt::Display for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Proxy::System => f.write_str("system"),
            Proxy::Direct => f.write_str("none"),
            Proxy::Server(p) => {
                let scheme = match p.kind {
                    Kind::Http => "http",
                    Kind::Socks5 => "socks5",
                };
                match (&p.user, &p.password) {
                    (Some(u), Some(_)) => write!(f, "{scheme}://{u}:***@{}", p.address()),
                    (Some(u), None) => write!(f, "{scheme}://{u}@{}", p.address()),
                    _ => write!(f, "{scheme}://{}", p.address()),
                }
            }
        }
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Proxy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

fn refused(p: &ProxyServer, target: &str, what: String, hint: &str) -> Error {
    Error::new(
        Status::AccessDenied,
        format!("{} refused the connection to {target}: {what}", p.name()),
    )
    .with_hint(hint)
}

/// A TCP connection to `host:port` through `p`, the tunnel open, within `timeout`.
pub async fn tunnel(
    p: &ProxyServer,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream> {
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let work = async {
        match p.kind {
            Kind::Http => http_connect(p, host, port, &target).await,
            Kind::Socks5 => socks5(p, host, port, &target).await,
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(Error::new(
            Status::NetworkError,
            format!(
                "{} did not open the connection to {target} within {} s",
                p.name(),
                timeout.as_secs()
            ),
        )),
    }
}

async fn reach(p: &ProxyServer) -> Result<TcpStream> {
    let s = TcpStream::connect((p.host.as_str(), p.port))
        .await
        .map_err(|e| {
            Error::new(
                Status::NetworkError,
                format!("cannot connect to {} ({e})", p.name()),
            )
            .with_hint("Check the `proxy` setting (host and port) and that the proxy is running and reachable.")
        })?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// Longest answer head accepted from an HTTP proxy.
const MAX_HEAD: usize = 16 * 1024;

async fn http_connect(p: &ProxyServer, host: &str, port: u16, target: &str) -> Result<TcpStream> {
    let mut s = reach(p).await?;
    let _ = (host, port);
    let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(u) = &p.user {
        let cred = base64::engine::general_purpose::STANDARD
            .encode(format!("{u}:{}", p.password.as_deref().unwrap_or("")));
        req.push_str(&format!("Proxy-Authorization: Basic {cred}\r\n"));
    }
    req.push_str("\r\n");
    let io = |e: std::io::Error| {
        Error::new(
            Status::NetworkError,
            format!("{} closed the connection ({e})", p.name()),
        )
    };
    s.write_all(req.as_bytes()).await.map_err(io)?;
    // read the answer's head byte by byte: nothing of the tunnel may be consumed
    let mut head = Vec::with_capacity(256);
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut b).await.map_err(io)?;
        if n == 0 {
            return Err(Error::new(
                Status::NetworkError,
                format!(
                    "{} closed the connection before answering CONNECT",
                    p.name()
                ),
            ));
        }
        head.push(b[0]);
        if head.len() > MAX_HEAD {
            return Err(Error::new(
                Status::ProtocolError,
                format!("{} sent an answer head longer than 16 KiB", p.name()),
            ));
        }
    }
    let text = String::from_utf8_lossy(&head);
    let status_line = text.lines().next().unwrap_or("");
    let code: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let shown: String = status_line
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    match code {
        200..=299 => Ok(s),
        // 407 by the standard; tinyproxy answers a wrong password with 401
        401 | 407 => Err(refused(
            p,
            target,
            format!("authentication required or refused ({shown})"),
            if p.user.is_some() {
                "The proxy refused the user name or password of the `proxy` setting: the network admin gives the right ones."
            } else {
                "The proxy asks for a user name and password: put them in the `proxy` setting (http://user:password@proxy:port)."
            },
        )),
        403 | 405 => Err(refused(
            p,
            target,
            format!("not allowed ({shown})"),
            "The proxy does not let connections to this server and port through: the network admin allows it (for a mail server, CONNECT to ports such as 993, 995, 465 or 587).",
        )),
        0 => Err(Error::new(
            Status::ProtocolError,
            format!("{} did not answer CONNECT as an HTTP proxy", p.name()),
        )),
        _ => Err(Error::new(
            Status::NetworkError,
            format!("{} could not reach {target} ({shown})", p.name()),
        )),
    }
}

async fn socks5(p: &ProxyServer, host: &str, port: u16, target: &str) -> Result<TcpStream> {
    use tokio_socks::tcp::Socks5Stream;
    let s = reach(p).await?;
    let r = match &p.user {
        Some(u) => {
            Socks5Stream::connect_with_password_and_socket(
                s,
                (host, port),
                u,
                p.password.as_deref().unwrap_or(""),
            )
            .await
        }
        None => Socks5Stream::connect_with_socket(s, (host, port)).await,
    };
    r.map(|st| st.into_inner()).map_err(|e| {
        use tokio_socks::Error as E;
        match e {
            E::PasswordAuthFailure(_) => refused(
                p,
                target,
                "the user name or password was refused".into(),
                "The SOCKS5 proxy refused the user name or password of the `proxy` setting: the network admin gives the right ones.",
            ),
            E::NoAcceptableAuthMethods => refused(
                p,
                target,
                "it accepts none of the offered authentication methods".into(),
                if p.user.is_some() {
                    "The SOCKS5 proxy takes neither user/password nor anonymous connections from here: the network admin says how to authenticate."
                } else {
                    "The SOCKS5 proxy asks for a user name and password: put them in the `proxy` setting (socks5://user:password@proxy:port)."
                },
            ),
            E::ConnectionNotAllowedByRuleset => refused(
                p,
                target,
                "not allowed by its rules".into(),
                "The proxy's rules do not let connections to this server and port through: the network admin allows it.",
            ),
            E::Io(io) => Error::new(
                Status::NetworkError,
                format!("{} closed the connection ({io})", p.name()),
            ),
            other => Error::new(
                Status::NetworkError,
                format!("{} could not reach {target} ({other})", p.name()),
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_hide_the_password() {
        assert_eq!(Proxy::parse("system").unwrap(), Proxy::System);
        assert_eq!(Proxy::parse("").unwrap(), Proxy::System);
        assert_eq!(Proxy::parse("None").unwrap(), Proxy::Direct);
        let p = Proxy::parse("http://jean%40corp:s%C3%A9cret@proxy.corp:3128").unwrap();
        let Proxy::Server(s) = &p else { panic!() };
        assert_eq!(
            (s.kind, s.host.as_str(), s.port),
            (Kind::Http, "proxy.corp", 3128)
        );
        assert_eq!(s.user.as_deref(), Some("jean@corp"));
        assert_eq!(s.password.as_deref(), Some("sécret"));
        assert_eq!(p.to_string(), "http://jean@corp:***@proxy.corp:3128");
        assert!(!format!("{p:?}").contains("cret"));
        let p = Proxy::parse("socks5://[::1]:1080").unwrap();
        assert_eq!(p.configured().unwrap().address(), "[::1]:1080");
        for bad in [
            "ftp://p:21",
            "http://proxy.corp",
            "http://p:3128/path",
            "proxy:3128",
            "http://:u@:1",
        ] {
            let e = Proxy::parse(bad).unwrap_err();
            assert!(e.message.contains("`proxy`"), "{bad}: {}", e.message);
        }
        let e = Proxy::parse("http://u:topsecret@p").unwrap_err();
        assert!(!e.message.contains("topsecret"));
    }
}
