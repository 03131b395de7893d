//! Opening an authenticated IMAP session: TLS or STARTTLS (refusing to send a credential when
//! STARTTLS is configured but not offered), the greeting and capabilities, then SASL XOAUTH2 /
//! OAUTHBEARER (answering the server's error challenge so it ends with its reason) or a
//! password.

use super::guard::Guard;
use crate::config::{SaslMechanism, Security, Server};
use crate::error::{Error, Result, Status};
use crate::log::Level;
use crate::mail::sasl;
use crate::mail::transport::{self, io_error, Stream, Timed};
use crate::om_log;
use async_imap::{Authenticator, Client, Session};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub type ImapSession = Session<Guard<Timed<Stream>>>;
type ImapClient = Client<Guard<Timed<Stream>>>;

pub use crate::mail::login::{Login, LoginError, Refused, ServerInfo};

fn proto(host: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        Status::ProtocolError,
        format!("{host}: unexpected IMAP reply ({e})"),
    )
}

/// The server's own words from async-imap's NO/BAD text, which is Rust debug output such as
/// `outcome: Outcome { code: None, information: Some("Mailbox doesn't exist: X") }`.
pub(crate) fn server_text(t: &str) -> String {
    // `information: Some("…")` (a parsed outcome) or `info: Some("…")` (a tagged status)
    for key in ["information: Some(\"", "info: Some(\""] {
        if let Some(pos) = t.find(key) {
            let rest = &t[pos + key.len()..];
            if let Some(end) = rest.rfind("\")") {
                return short(&rest[..end].replace("\\\"", "\""));
            }
        }
    }
    short(t)
}

/// A tagged NO with the RFC 5530 code `[UNAVAILABLE]` (async-imap does not parse that code: it
/// stays at the start of the text): the server could not check the login just now.
fn is_unavailable(no_text: &str) -> bool {
    server_text(no_text)
        .trim_start()
        .get(..13)
        .is_some_and(|c| c.eq_ignore_ascii_case("[UNAVAILABLE]"))
}

fn short(text: &str) -> String {
    let t: String = text.chars().take(300).collect();
    if t.len() < text.len() {
        format!("{t}…")
    } else {
        t
    }
}

fn imap_err(host: &str, e: async_imap::error::Error) -> Error {
    match e {
        // async-imap reports an unparsable reply as an I/O error quoting the whole buffer
        // (message content included): keep neither, and do not retry it
        async_imap::error::Error::Io(io) if io.to_string().contains("during parsing") => {
            Error::new(
                Status::ProtocolError,
                format!("{host} sent a reply that is not valid IMAP"),
            )
        }
        async_imap::error::Error::Io(io) => io_error(host, &io),
        async_imap::error::Error::Parse(_) => Error::new(
            Status::ProtocolError,
            format!("{host} sent a reply that is not valid IMAP"),
        ),
        async_imap::error::Error::ConnectionLost => Error::new(
            Status::NetworkError,
            format!("{host} closed the connection"),
        ),
        async_imap::error::Error::No(t) | async_imap::error::Error::Bad(t) => {
            Error::new(Status::ProtocolError, format!("{host} refused the command"))
                .with_detail(server_text(&t))
        }
        other => proto(host, short(&other.to_string())),
    }
}

/// Ends a session without waiting for the reply to LOGOUT, one round trip fewer: the command
/// is sent and flushed, then the connection is dropped by the caller. Every earlier command
/// was answered, so nothing rides on that reply.
pub async fn quit(session: &mut ImapSession) {
    let _ = session.run_command("LOGOUT").await;
}

pub(crate) fn map_err(host: &str) -> impl Fn(async_imap::error::Error) -> Error + '_ {
    move |e| imap_err(host, e)
}

/// The exchange before login, done by hand: async-imap's `Client` cannot send CAPABILITY or
/// STARTTLS. Line-based and bounded (16 KiB a line, 100 lines a command).
struct PreAuth<'h> {
    stream: Timed<Stream>,
    buf: Vec<u8>,
    host: &'h str,
    tags: u32,
}

impl PreAuth<'_> {
    async fn read_line(&mut self) -> Result<String> {
        transport::read_pre_line(&mut self.stream, &mut self.buf, self.host, "before login").await
    }

    /// Sends `command`; returns the untagged lines and the tagged status line.
    async fn command(&mut self, command: &str) -> Result<(Vec<String>, String)> {
        use tokio::io::AsyncWriteExt;
        self.tags += 1;
        let tag = format!("P{}", self.tags);
        let line = format!("{tag} {command}\r\n");
        self.stream
            .write_all(line.as_bytes())
            .await
            .map_err(|e| io_error(self.host, &e))?;
        self.stream
            .flush()
            .await
            .map_err(|e| io_error(self.host, &e))?;
        let mut untagged = Vec::new();
        for _ in 0..100 {
            let l = self.read_line().await?;
            if let Some(rest) = l.strip_prefix(&format!("{tag} ")) {
                if rest.len() >= 2 && rest[..2].eq_ignore_ascii_case("OK") {
                    return Ok((untagged, l));
                }
                return Err(Error::new(
                    Status::ProtocolError,
                    format!("{} refused {command}", self.host),
                )
                .with_detail(l));
            }
            untagged.push(l);
        }
        Err(proto(self.host, format!("no end to {command}")))
    }

    async fn capabilities(&mut self) -> Result<Vec<String>> {
        let (lines, _) = self.command("CAPABILITY").await?;
        Ok(lines
            .iter()
            .find_map(|l| {
                let u = l.to_ascii_uppercase();
                u.starts_with("* CAPABILITY ")
                    .then(|| words(&l["* CAPABILITY ".len()..]))
            })
            .unwrap_or_default())
    }
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// `* OK [CAPABILITY IMAP4rev1 …] text` → (text, capabilities if present).
fn parse_greeting(host: &str, line: &str) -> Result<(String, Option<Vec<String>>)> {
    let upper = line.to_ascii_uppercase();
    if upper.starts_with("* BYE") {
        return Err(
            Error::new(Status::ProtocolError, format!("{host} refused the session"))
                .with_detail(line.to_string()),
        );
    }
    if !(upper.starts_with("* OK") || upper.starts_with("* PREAUTH")) {
        return Err(proto(
            host,
            format!("greeting `{}`", line.chars().take(200).collect::<String>()),
        ));
    }
    let rest = line.splitn(3, ' ').nth(2).unwrap_or("");
    if let Some(code) = rest.strip_prefix('[') {
        if let Some(end) = code.find(']') {
            let inner = &code[..end];
            let text = code[end + 1..].trim().to_string();
            if inner.len() > 11 && inner[..11].eq_ignore_ascii_case("CAPABILITY ") {
                return Ok((text, Some(words(&inner[11..]))));
            }
            return Ok((text, None));
        }
    }
    Ok((rest.trim().to_string(), None))
}

/// Connects and secures the connection; returns the client (not logged in) and what the
/// server announced.
pub async fn open(
    server: &Server,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<(ImapClient, ServerInfo)> {
    open_via(server, tls, timeout, None).await
}

/// [`open`] through a proxy.
pub async fn open_via(
    server: &Server,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
    proxy: Option<&crate::mail::proxy::ProxyServer>,
) -> Result<(ImapClient, ServerInfo)> {
    open_inner(server, tls, timeout, proxy, None, None).await
}

/// The capabilities each server (implicit TLS, by host and port) announced in this process.
static KNOWN: once_cell::sync::Lazy<Mutex<std::collections::HashMap<String, Vec<String>>>> =
    once_cell::sync::Lazy::new(|| Mutex::new(std::collections::HashMap::new()));
/// Most servers remembered (a host talks to a few).
const MAX_KNOWN: usize = 256;

fn known_key(server: &Server) -> String {
    format!("{}:{}", server.host.to_ascii_lowercase(), server.port)
}

fn known_caps(server: &Server) -> Option<Vec<String>> {
    let known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    known.get(&known_key(server)).cloned()
}

fn remember_caps(server: &Server, caps: &[String]) {
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    if known.len() >= MAX_KNOWN {
        known.clear();
    }
    known.insert(known_key(server), caps.to_vec());
}

fn forget_caps(server: &Server) {
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    known.remove(&known_key(server));
}

/// A login may leave before the greeting on implicit TLS, and in plain text where the account
/// allows credentials without TLS (a local server); never with STARTTLS (no credential before
/// TLS is up).
fn sendable_early(server: &Server, allow_plain_credentials: bool) -> bool {
    match server.security {
        Security::Tls => true,
        Security::None => allow_plain_credentials,
        Security::Starttls => false,
    }
}

/// An OAuth2 AUTHENTICATE with its initial response (SASL-IR), as async-imap writes it.
struct SaslIr {
    name: &'static str,
    /// The command after the tag.
    command: String,
    initial: Vec<u8>,
    bearer: bool,
}

impl SaslIr {
    /// The AUTHENTICATE for `mechanism` when `caps` offer it with SASL-IR.
    fn new(
        mechanism: SaslMechanism,
        user: &str,
        token: &str,
        server: &Server,
        caps: &[String],
    ) -> Option<SaslIr> {
        let (name, initial, bearer) = sasl_initial(mechanism, user, token, server);
        let has = |c: &str| caps.iter().any(|x| x.eq_ignore_ascii_case(c));
        if !has("SASL-IR") || !has(&format!("AUTH={name}")) {
            return None;
        }
        use base64::Engine;
        let command = format!(
            "AUTHENTICATE {name} {}",
            base64::engine::general_purpose::STANDARD.encode(&initial)
        );
        Some(SaslIr {
            name,
            command,
            initial,
            bearer,
        })
    }

    /// The line on the wire: async-imap tags a new client's first command `A0001`.
    fn line(&self) -> Vec<u8> {
        format!("A0001 {}\r\n", self.command).into_bytes()
    }

    /// The login line and, when given, the session's first command (`A0002`) right behind it.
    fn flight(&self, next: Option<&str>) -> Vec<u8> {
        let mut f = self.line();
        if let Some(n) = next {
            f.extend_from_slice(format!("A0002 {n}\r\n").as_bytes());
        }
        f
    }
}

/// The SASL mechanism's name, initial response and whether it is OAUTHBEARER.
fn sasl_initial(
    mechanism: SaslMechanism,
    user: &str,
    token: &str,
    server: &Server,
) -> (&'static str, Vec<u8>, bool) {
    match mechanism {
        SaslMechanism::Xoauth2 => ("XOAUTH2", sasl::xoauth2(user, token), false),
        SaslMechanism::Oauthbearer => (
            "OAUTHBEARER",
            sasl::oauthbearer(user, &server.host, server.port, token),
            true,
        ),
    }
}

/// Opens a session and logs in. With `early` (the account's `options.early_login`), an OAuth2
/// login to an implicit-TLS server already met in this process leaves right behind the TLS
/// handshake, before the greeting, built from the capabilities the server announced then
/// (SASL-IR): the greeting, and the CAPABILITY command when the greeting has none (Gmail,
/// Outlook), cost no round trip. `next`, the session's first command as async-imap will write
/// it (e.g. `EXAMINE "INBOX"`), then goes in the same flight; were the login refused, the
/// server takes that line for the answer to its SASL challenge and the login fails as it would
/// anyway. A failed login forgets the server, so the next one waits for the greeting again.
#[allow(clippy::too_many_arguments)]
pub async fn open_and_login(
    server: &Server,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
    proxy: Option<&crate::mail::proxy::ProxyServer>,
    login: Login,
    allow_plain_credentials: bool,
    early: bool,
    next: Option<&str>,
) -> std::result::Result<(ImapSession, ServerInfo), LoginError> {
    let ahead = match &login {
        Login::OAuth {
            mechanism,
            user,
            token,
        } if early && sendable_early(server, allow_plain_credentials) => {
            known_caps(server).and_then(|caps| SaslIr::new(*mechanism, user, token, server, &caps))
        }
        _ => None,
    };
    let sent_ahead = ahead.is_some();
    let (client, info) = open_inner(server, tls, timeout, proxy, ahead.as_ref(), next)
        .await
        .map_err(LoginError::Failed)?;
    let r = login_inner(client, &info, server, login, allow_plain_credentials, ahead).await;
    if sent_ahead && r.is_err() {
        forget_caps(server);
    }
    r.map(|s| (s, info))
}

async fn open_inner(
    server: &Server,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
    proxy: Option<&crate::mail::proxy::ProxyServer>,
    ahead: Option<&SaslIr>,
    next: Option<&str>,
) -> Result<(ImapClient, ServerInfo)> {
    let host = server.host.as_str();
    let tcp = transport::connect_via(host, server.port, timeout, proxy).await?;
    let stream = match server.security {
        Security::Tls => transport::tls(tcp, host, tls.clone(), timeout).await?,
        _ => Stream::Plain(tcp),
    };
    let mut pre = PreAuth {
        stream: Timed::new(stream, timeout),
        buf: Vec::new(),
        host,
        tags: 0,
    };
    if let Some(a) = ahead {
        use tokio::io::AsyncWriteExt;
        om_log!(
            Level::Debug,
            "{host}: AUTHENTICATE {} sent with the TLS handshake (server met before)",
            a.name
        );
        let line = a.flight(next);
        pre.stream
            .write_all(&line)
            .await
            .map_err(|e| io_error(host, &e))?;
        pre.stream.flush().await.map_err(|e| io_error(host, &e))?;
    }
    let first = pre.read_line().await?;
    let (greeting_text, greeting_caps) = parse_greeting(host, &first)?;
    let mut caps = match (greeting_caps, ahead) {
        (Some(c), _) => c,
        // the login is on its way: no CAPABILITY now, the ones it was built from stand
        (None, Some(_)) => known_caps(server).unwrap_or_default(),
        (None, None) => pre.capabilities().await?,
    };
    if sendable_early(server, true) {
        remember_caps(server, &caps);
    }
    if server.security == Security::Starttls {
        if !caps.iter().any(|c| c.eq_ignore_ascii_case("STARTTLS")) {
            return Err(Error::new(
                Status::TlsError,
                format!("{host}:{} does not offer STARTTLS: no credential was sent; use security \"tls\" (port 993) or ask the server's admin to enable STARTTLS", server.port),
            ));
        }
        pre.command("STARTTLS").await?;
        if !pre.buf.is_empty() {
            // bytes sent in clear after the OK would be treated as protected: refuse
            return Err(proto(host, "data injected after STARTTLS"));
        }
        let tcp = match pre.stream.into_inner() {
            Stream::Plain(t) => t,
            Stream::Tls(_) => return Err(proto(host, "STARTTLS on a TLS connection")),
        };
        let stream = transport::tls(tcp, host, tls, timeout).await?;
        pre = PreAuth {
            stream: Timed::new(stream, timeout),
            buf: Vec::new(),
            host,
            tags: pre.tags,
        };
        caps = pre.capabilities().await?; // RFC 3501: capabilities change after STARTTLS
    }
    if !pre.buf.is_empty() && ahead.is_none() {
        return Err(proto(host, "unexpected data before login"));
    }
    let tls_up = pre.stream.get_ref().is_tls();
    let mechanisms = caps
        .iter()
        .filter(|c| c.len() > 5 && c[..5].eq_ignore_ascii_case("AUTH="))
        .map(|c| c[5..].to_string())
        .collect();
    let mut guard = Guard::new(pre.stream, timeout);
    if let Some(a) = ahead {
        // the reply to the login may have come with the greeting; async-imap's AUTHENTICATE
        // is the line already sent
        guard.set_read_ahead(std::mem::take(&mut pre.buf));
        guard.set_sent_ahead(a.flight(next), a.line().len());
    }
    Ok((
        Client::new(guard),
        ServerInfo {
            greeting: greeting_text,
            capabilities: caps,
            mechanisms,
            tls: tls_up,
        },
    ))
}

struct OAuthAuthenticator {
    initial: Vec<u8>,
    bearer: bool,
    steps: u32,
    challenge: Arc<Mutex<Option<Vec<u8>>>>,
}

impl Authenticator for &mut OAuthAuthenticator {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        self.steps += 1;
        if self.steps == 1 {
            self.initial.clone()
        } else {
            // the error challenge: remember it, answer so the server ends with NO
            *self.challenge.lock().unwrap_or_else(|e| e.into_inner()) = Some(challenge.to_vec());
            sasl::error_ack(self.bearer).to_vec()
        }
    }
}

/// Logs in. `allow_plain_credentials` permits a credential over an unencrypted connection
/// (only with `security: none` and allow_insecure_transport).
pub async fn login(
    client: ImapClient,
    info: &ServerInfo,
    server: &Server,
    login: Login,
    allow_plain_credentials: bool,
) -> std::result::Result<ImapSession, LoginError> {
    login_inner(client, info, server, login, allow_plain_credentials, None).await
}

/// [`login`]; `ahead`: the AUTHENTICATE already sent (async-imap writes it again, the guard
/// swallows it).
async fn login_inner(
    client: ImapClient,
    info: &ServerInfo,
    server: &Server,
    login: Login,
    allow_plain_credentials: bool,
    ahead: Option<SaslIr>,
) -> std::result::Result<ImapSession, LoginError> {
    let host = server.host.as_str();
    if !info.tls && !allow_plain_credentials {
        return Err(LoginError::Failed(Error::new(
            Status::TlsError,
            format!("refusing to send credentials to {host} without TLS"),
        )));
    }
    match login {
        Login::OAuth {
            mechanism,
            user,
            token,
        } => {
            let (name, initial, bearer) = sasl_initial(mechanism, &user, &token, server);
            if ahead.is_none() && !info.mechanisms.iter().any(|m| m.eq_ignore_ascii_case(name)) {
                return Err(LoginError::Failed(Error::new(
                    Status::Unsupported,
                    format!(
                        "{host} does not offer SASL {name} (it offers: {}); set incoming.sasl_mechanism accordingly",
                        if info.mechanisms.is_empty() { "nothing".to_string() } else { info.mechanisms.join(", ") }
                    ),
                )));
            }
            // SASL-IR (RFC 4959): the credential on the AUTHENTICATE line, one round trip
            // fewer; a continuation is then only the server's error challenge
            let ir = ahead.is_some()
                || info
                    .capabilities
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case("SASL-IR"));
            om_log!(
                Level::Debug,
                "{host}: AUTHENTICATE {name} as {user}{}",
                if ir { " (initial response)" } else { "" }
            );
            let challenge = Arc::new(Mutex::new(None));
            let (command, initial, bearer) = match ahead {
                // exactly what was sent (the mechanism and token it was built from)
                Some(a) => (
                    a.command["AUTHENTICATE ".len()..].to_string(),
                    a.initial,
                    a.bearer,
                ),
                None if ir => {
                    use base64::Engine;
                    let c = format!(
                        "{name} {}",
                        base64::engine::general_purpose::STANDARD.encode(&initial)
                    );
                    (c, initial, bearer)
                }
                None => (name.to_string(), initial, bearer),
            };
            let mut auth = OAuthAuthenticator {
                initial,
                bearer,
                steps: u32::from(ir),
                challenge: challenge.clone(),
            };
            match client.authenticate(command, &mut auth).await {
                Ok(session) => Ok(session),
                Err((async_imap::error::Error::No(text), _)) if is_unavailable(&text) => {
                    Err(LoginError::Unavailable(server_text(&text)))
                }
                Err((async_imap::error::Error::No(text), _))
                | Err((async_imap::error::Error::Bad(text), _)) => {
                    let ch = challenge.lock().unwrap_or_else(|e| e.into_inner()).take();
                    Err(LoginError::Refused(Refused {
                        server_text: server_text(&text),
                        challenge: ch.map(|c| sasl::describe_challenge(&c)),
                    }))
                }
                Err((e, _)) => Err(LoginError::Failed(imap_err(host, e))),
            }
        }
        Login::Password { user, password } => match client.login(&user, &password).await {
            Ok(session) => Ok(session),
            Err((async_imap::error::Error::No(text), _)) if is_unavailable(&text) => {
                Err(LoginError::Unavailable(server_text(&text)))
            }
            Err((async_imap::error::Error::No(text), _)) => Err(LoginError::Refused(Refused {
                server_text: server_text(&text),
                challenge: None,
            })),
            Err((e, _)) => Err(LoginError::Failed(imap_err(host, e))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::{is_unavailable, server_text};

    #[test]
    fn the_servers_words_from_async_imaps_texts() {
        // a tagged status (check_status_ok) and a parsed outcome
        let tagged = r#"code: None, info: Some("[UNAVAILABLE] Temporary authentication failure. [vm:2026-12-01 22:29:53]")"#;
        assert_eq!(
            server_text(tagged),
            "[UNAVAILABLE] Temporary authentication failure. [vm:2026-12-01 22:29:53]"
        );
        let outcome =
            r#"outcome: Outcome { code: None, information: Some("Mailbox doesn't exist: \"X\"") }"#;
        assert_eq!(server_text(outcome), "Mailbox doesn't exist: \"X\"");
        assert_eq!(server_text("plain words"), "plain words");
    }

    #[test]
    fn unavailable_is_rfc_5530s_code_only() {
        assert!(is_unavailable(
            r#"code: None, info: Some("[UNAVAILABLE] Temporary authentication failure.")"#
        ));
        assert!(is_unavailable(
            r#"code: None, info: Some("[unavailable] try later")"#
        ));
        assert!(!is_unavailable(
            r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#
        ));
        assert!(!is_unavailable(r#"code: None, info: Some("UNAVAILABLE")"#));
        assert!(!is_unavailable(""));
    }
}
