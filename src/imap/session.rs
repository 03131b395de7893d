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
    if let Some(pos) = t.find("information: Some(\"") {
        let rest = &t[pos + "information: Some(\"".len()..];
        if let Some(end) = rest.rfind("\")") {
            return short(&rest[..end].replace("\\\"", "\""));
        }
    }
    short(t)
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
    let first = pre.read_line().await?;
    let (greeting_text, greeting_caps) = parse_greeting(host, &first)?;
    let mut caps = match greeting_caps {
        Some(c) => c,
        None => pre.capabilities().await?,
    };
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
    if !pre.buf.is_empty() {
        return Err(proto(host, "unexpected data before login"));
    }
    let tls_up = pre.stream.get_ref().is_tls();
    let mechanisms = caps
        .iter()
        .filter(|c| c.len() > 5 && c[..5].eq_ignore_ascii_case("AUTH="))
        .map(|c| c[5..].to_string())
        .collect();
    Ok((
        Client::new(Guard::new(pre.stream, timeout)),
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
            let (name, initial, bearer) = match mechanism {
                SaslMechanism::Xoauth2 => ("XOAUTH2", sasl::xoauth2(&user, &token), false),
                SaslMechanism::Oauthbearer => (
                    "OAUTHBEARER",
                    sasl::oauthbearer(&user, host, server.port, &token),
                    true,
                ),
            };
            if !info.mechanisms.iter().any(|m| m.eq_ignore_ascii_case(name)) {
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
            let ir = info
                .capabilities
                .iter()
                .any(|c| c.eq_ignore_ascii_case("SASL-IR"));
            om_log!(
                Level::Debug,
                "{host}: AUTHENTICATE {name} as {user}{}",
                if ir { " (initial response)" } else { "" }
            );
            let challenge = Arc::new(Mutex::new(None));
            let command = if ir {
                use base64::Engine;
                format!(
                    "{name} {}",
                    base64::engine::general_purpose::STANDARD.encode(&initial)
                )
            } else {
                name.to_string()
            };
            let mut auth = OAuthAuthenticator {
                initial,
                bearer,
                steps: u32::from(ir),
                challenge: challenge.clone(),
            };
            match client.authenticate(command, &mut auth).await {
                Ok(session) => Ok(session),
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
            Err((async_imap::error::Error::No(text), _)) => Err(LoginError::Refused(Refused {
                server_text: server_text(&text),
                challenge: None,
            })),
            Err((e, _)) => Err(LoginError::Failed(imap_err(host, e))),
        },
    }
}
