//! Opening a POP3 session: TLS or STLS (refusing to send a credential when STLS is configured
//! but not offered, and refusing bytes injected after STLS's `+OK`), the greeting and CAPA,
//! then SASL XOAUTH2 / OAUTHBEARER (answering the server's error challenge so it ends with its
//! reason) or USER/PASS (AUTH PLAIN when USER is not offered); then the transaction commands.

use super::wire::{parse_two_numbers, parse_uidl, shown, Conn, Reply};
use crate::config::{SaslMechanism, Security, Server};
use crate::error::{Error, Result, Status};
use crate::log::Level;
use crate::mail::sasl;
use crate::mail::transport::{self, Stream, Timed};
use crate::om_log;
use base64::Engine;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

pub use crate::mail::login::{Login, LoginError, Refused, ServerInfo};

/// CAPA's response is small; a bigger one is garbage.
const MAX_CAPA: usize = 64 * 1024;
/// UIDL and LIST responses: about 30 bytes a message, so a million messages fit.
const MAX_LISTING: usize = 64 * 1024 * 1024;

/// A connected, secured POP3 connection before login (AUTHORIZATION state).
pub struct Pop3Client<S = Timed<Stream>> {
    conn: Conn<S>,
    capabilities: Vec<String>,
}

/// A logged-in POP3 session (TRANSACTION state). Dropping it without [`Pop3Session::quit`]
/// leaves the messages marked with [`Pop3Session::dele`] on the server (RFC 1939).
pub struct Pop3Session<S = Timed<Stream>> {
    conn: Conn<S>,
}

impl<S> std::fmt::Debug for Pop3Client<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pop3Client({})", self.conn.host())
    }
}

impl<S> std::fmt::Debug for Pop3Session<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pop3Session({})", self.conn.host())
    }
}

fn has_cap(caps: &[String], name: &str) -> bool {
    caps.iter().any(|c| {
        c.split_whitespace()
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case(name))
    })
}

/// The mechanisms of the `SASL` capability line.
fn mechanisms(caps: &[String]) -> Vec<String> {
    caps.iter()
        .find_map(|c| {
            let mut w = c.split_whitespace();
            w.next()
                .is_some_and(|k| k.eq_ignore_ascii_case("SASL"))
                .then(|| w.map(str::to_string).collect())
        })
        .unwrap_or_default()
}

/// Reads the greeting; returns its text.
async fn greeting<S: AsyncRead + AsyncWrite + Unpin>(conn: &mut Conn<S>) -> Result<String> {
    match conn.reply().await? {
        Reply::Ok(t) => Ok(t),
        Reply::Err(t) => Err(Error::new(
            Status::ProtocolError,
            format!("{} refused the session", conn.host()),
        )
        .with_detail(t)),
        Reply::More(t) => Err(conn.protocol(format!("greeting `+ {}`", shown(t.as_bytes())))),
    }
}

/// CAPA (RFC 2449); a server without it (`-ERR`) has no announced capabilities.
async fn capa<S: AsyncRead + AsyncWrite + Unpin>(conn: &mut Conn<S>) -> Result<Vec<String>> {
    conn.send("CAPA").await?;
    match conn.reply().await? {
        Reply::Ok(_) => conn.multiline_lines(MAX_CAPA, "the CAPA response").await,
        Reply::Err(_) => Ok(Vec::new()),
        Reply::More(_) => Err(conn.protocol("a continuation in reply to CAPA")),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Pop3Client<S> {
    /// Greeting and CAPA on an already secured stream (tests, or a caller with its own
    /// transport). No STLS here: see [`open`].
    pub async fn handshake(stream: S, host: &str, tls: bool) -> Result<(Self, ServerInfo)> {
        let mut conn = Conn::new(stream, host);
        let greeting_text = greeting(&mut conn).await?;
        let caps = capa(&mut conn).await?;
        let info = ServerInfo {
            greeting: greeting_text,
            mechanisms: mechanisms(&caps),
            capabilities: caps.clone(),
            tls,
        };
        Ok((
            Pop3Client {
                conn,
                capabilities: caps,
            },
            info,
        ))
    }
}

/// Connects and secures the connection; returns the client (not logged in) and what the
/// server announced (`capabilities` are CAPA's lines, `mechanisms` its `SASL` line).
pub async fn open(
    server: &Server,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<(Pop3Client, ServerInfo)> {
    open_via(server, tls, timeout, None).await
}

/// [`open`] through a proxy.
pub async fn open_via(
    server: &Server,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
    proxy: Option<&crate::mail::proxy::ProxyServer>,
) -> Result<(Pop3Client, ServerInfo)> {
    let host = server.host.as_str();
    let tcp = transport::connect_via(host, server.port, timeout, proxy).await?;
    let stream = match server.security {
        Security::Tls => transport::tls(tcp, host, tls.clone(), timeout).await?,
        _ => Stream::Plain(tcp),
    };
    let mut conn = Conn::new(Timed::new(stream, timeout), host);
    let greeting_text = greeting(&mut conn).await?;
    let mut caps = capa(&mut conn).await?;
    if server.security == Security::Starttls {
        if !has_cap(&caps, "STLS") {
            return Err(Error::new(
                Status::TlsError,
                format!("{host}:{} does not offer STLS (STARTTLS for POP3): no credential was sent; use security \"tls\" (port 995) or ask the server's admin to enable STLS", server.port),
            ));
        }
        conn.command("STLS", "STLS").await.map_err(|e| {
            if e.status == Status::ProtocolError && !conn.is_broken() {
                // a clean -ERR: the server will not encrypt this connection
                Error::new(
                    Status::TlsError,
                    format!(
                        "{host}:{} refused STLS: no credential was sent",
                        server.port
                    ),
                )
                .with_detail(e.detail.unwrap_or_default())
            } else {
                e
            }
        })?;
        if !conn.buf.is_empty() {
            // bytes sent in clear after the +OK would be treated as protected: refuse
            return Err(conn.protocol("data injected after STLS"));
        }
        let tcp = match conn.stream.into_inner() {
            Stream::Plain(t) => t,
            Stream::Tls(_) => {
                return Err(Error::new(
                    Status::ProtocolError,
                    format!("{host}: STLS on a TLS connection"),
                ))
            }
        };
        let stream = transport::tls(tcp, host, tls, timeout).await?;
        conn = Conn::new(Timed::new(stream, timeout), host);
        caps = capa(&mut conn).await?; // RFC 2595: capabilities may change after STLS
    }
    let tls_up = conn.stream.get_ref().is_tls();
    Ok((
        Pop3Client {
            conn,
            capabilities: caps.clone(),
        },
        ServerInfo {
            greeting: greeting_text,
            mechanisms: mechanisms(&caps),
            capabilities: caps,
            tls: tls_up,
        },
    ))
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// A login failure that is not about the credentials (RFC 3206 `[IN-USE]`, `[SYS/TEMP]`,
/// `[SYS/PERM]`): the caller must not treat it as a refused token.
fn not_about_credentials(text: &str) -> bool {
    let t = text.trim_start().to_ascii_uppercase();
    t.starts_with("[IN-USE]") || t.starts_with("[SYS/")
}

fn refused(host: &str, what: &str, text: String, challenge: Option<String>) -> LoginError {
    if text
        .trim_start()
        .to_ascii_uppercase()
        .starts_with("[SYS/TEMP]")
    {
        // the server could not check the login just now (e.g. its token check timed out)
        return LoginError::Unavailable(text);
    }
    if not_about_credentials(&text) {
        return LoginError::Failed(
            Error::new(
                Status::ProtocolError,
                format!("{host} refused {what} for a reason other than the credentials"),
            )
            .with_detail(text),
        );
    }
    LoginError::Refused(Refused {
        server_text: text,
        challenge,
    })
}

/// A SASL exchange with one initial response (RFC 5034): `AUTH <name>`, `+`, the response;
/// a second `+ <challenge>` is an OAuth error challenge, answered with `ack`.
async fn sasl_auth<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    name: &str,
    initial: &[u8],
    ack: Option<&[u8]>,
) -> std::result::Result<(), LoginError> {
    let host = conn.host().to_string();
    let what = format!("AUTH {name}");
    conn.send(&what).await?;
    match conn.reply().await? {
        Reply::More(_) => {}
        Reply::Err(t) => {
            // refused before any credential was sent: not a token problem
            return Err(LoginError::Failed(
                Error::new(Status::ProtocolError, format!("{host} refused {what}")).with_detail(t),
            ));
        }
        Reply::Ok(_) => {
            return Err(LoginError::Failed(
                conn.protocol(format!("+OK to {what} before any credential")),
            ))
        }
    }
    // RFC 5034: an empty initial response is sent as `=`
    let line = if initial.is_empty() {
        "=".to_string()
    } else {
        b64(initial)
    };
    conn.send(&line).await?;
    match conn.reply().await? {
        Reply::Ok(_) => Ok(()),
        Reply::Err(t) => Err(refused(&host, &what, t, None)),
        Reply::More(challenge) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(challenge.trim())
                .unwrap_or_else(|_| challenge.clone().into_bytes());
            match ack {
                // the answer to an OAuth error challenge: empty (XOAUTH2) or 0x01 (OAUTHBEARER)
                Some(a) => conn.send(&b64(a)).await?,
                // nothing to say (PLAIN): cancel the exchange
                None => conn.send("*").await?,
            }
            match conn.reply().await? {
                Reply::Err(t) => Err(refused(
                    &host,
                    &what,
                    t,
                    ack.map(|_| sasl::describe_challenge(&decoded)),
                )),
                Reply::Ok(_) if ack.is_some() => Ok(()),
                Reply::Ok(_) => Err(LoginError::Failed(
                    conn.protocol(format!("+OK after cancelling {what}")),
                )),
                Reply::More(_) => Err(LoginError::Failed(
                    conn.protocol(format!("a third challenge in {what}")),
                )),
            }
        }
    }
}

/// Logs in. `allow_plain_credentials` permits a credential over an unencrypted connection
/// (only with `security: none` and allow_insecure_transport).
pub async fn login<S: AsyncRead + AsyncWrite + Unpin>(
    client: Pop3Client<S>,
    info: &ServerInfo,
    server: &Server,
    login: Login,
    allow_plain_credentials: bool,
) -> std::result::Result<Pop3Session<S>, LoginError> {
    let host = server.host.as_str();
    if !info.tls && !allow_plain_credentials {
        return Err(LoginError::Failed(Error::new(
            Status::TlsError,
            format!("refusing to send credentials to {host} without TLS"),
        )));
    }
    let Pop3Client {
        mut conn,
        capabilities,
    } = client;
    let offered = |name: &str| info.mechanisms.iter().any(|m| m.eq_ignore_ascii_case(name));
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
            if !offered(name) {
                return Err(LoginError::Failed(Error::new(
                    Status::Unsupported,
                    format!(
                        "{host} does not offer SASL {name} for POP3 (it offers: {}); set incoming.sasl_mechanism accordingly",
                        if info.mechanisms.is_empty() { "nothing".to_string() } else { info.mechanisms.join(", ") }
                    ),
                )));
            }
            om_log!(Level::Debug, "{host}: POP3 AUTH {name} as {user}");
            sasl_auth(&mut conn, name, &initial, Some(sasl::error_ack(bearer))).await?;
        }
        Login::Password { user, password } => {
            // USER/PASS unless CAPA was answered without USER (RFC 2449) and PLAIN is offered
            if !capabilities.is_empty() && !has_cap(&capabilities, "USER") {
                if !offered("PLAIN") {
                    return Err(LoginError::Failed(Error::new(
                        Status::Unsupported,
                        format!("{host} offers neither USER/PASS nor SASL PLAIN for a password login (it offers: {})",
                            if info.mechanisms.is_empty() { "nothing".to_string() } else { info.mechanisms.join(", ") }),
                    )));
                }
                om_log!(Level::Debug, "{host}: POP3 AUTH PLAIN as {user}");
                sasl_auth(&mut conn, "PLAIN", &sasl::plain(&user, &password), None).await?;
            } else {
                om_log!(Level::Debug, "{host}: POP3 USER {user}");
                conn.send(&format!("USER {user}")).await?;
                match conn.reply().await? {
                    Reply::Ok(_) => {}
                    Reply::Err(t) => return Err(refused(host, "USER", t, None)),
                    Reply::More(_) => {
                        return Err(LoginError::Failed(
                            conn.protocol("a continuation in reply to USER"),
                        ))
                    }
                }
                conn.send(&format!("PASS {password}")).await?;
                match conn.reply().await? {
                    Reply::Ok(_) => {}
                    Reply::Err(t) => return Err(refused(host, "PASS", t, None)),
                    Reply::More(_) => {
                        return Err(LoginError::Failed(
                            conn.protocol("a continuation in reply to PASS"),
                        ))
                    }
                }
            }
        }
    }
    Ok(Pop3Session { conn })
}

fn check_msgno(msgno: u32) -> Result<()> {
    if msgno == 0 {
        return Err(Error::invalid_argument("POP3 message numbers start at 1"));
    }
    Ok(())
}

impl<S: AsyncRead + AsyncWrite + Unpin> Pop3Session<S> {
    pub fn host(&self) -> &str {
        self.conn.host()
    }

    /// STAT: (number of messages, total size in octets).
    pub async fn stat(&mut self) -> Result<(u32, u64)> {
        let text = self.conn.command("STAT", "STAT").await?;
        match parse_two_numbers(&text) {
            Some(r) => Ok(r),
            None => Err(self
                .conn
                .protocol(format!("STAT `{}`", shown(text.as_bytes())))),
        }
    }

    /// UIDL for every message: (message number, unique id). Unsupported when the server
    /// refuses UIDL (an optional command).
    pub async fn uidl_all(&mut self) -> Result<Vec<(u32, String)>> {
        self.conn.send("UIDL").await?;
        match self.conn.reply().await? {
            Reply::Ok(_) => {}
            Reply::Err(t) => {
                return Err(Error::new(
                    Status::Unsupported,
                    format!(
                    "{} does not support UIDL (unique message ids), needed to fetch only new mail",
                    self.conn.host()
                ),
                )
                .with_detail(t))
            }
            Reply::More(_) => return Err(self.conn.protocol("a continuation in reply to UIDL")),
        }
        let lines = self
            .conn
            .multiline_lines(MAX_LISTING, "the UIDL listing")
            .await?;
        lines
            .iter()
            .map(|l| {
                parse_uidl(l).ok_or_else(|| {
                    self.conn
                        .protocol(format!("UIDL line `{}`", shown(l.as_bytes())))
                })
            })
            .collect()
    }

    /// LIST for every message: (message number, size in octets).
    pub async fn list_all(&mut self) -> Result<Vec<(u32, u64)>> {
        self.conn.command("LIST", "LIST").await?;
        let lines = self
            .conn
            .multiline_lines(MAX_LISTING, "the LIST listing")
            .await?;
        lines
            .iter()
            .map(|l| {
                parse_two_numbers(l).ok_or_else(|| {
                    self.conn
                        .protocol(format!("LIST line `{}`", shown(l.as_bytes())))
                })
            })
            .collect()
    }

    /// RETR: the message's bytes (dot-unstuffed, CR LF line ends, without the final `.`).
    /// A message larger than `max_bytes` is a ProtocolError, and the session is then unusable
    /// (the rest of the message is not read).
    pub async fn retr(
        &mut self,
        msgno: u32,
        max_bytes: usize,
        size: Option<u64>,
    ) -> Result<Vec<u8>> {
        self.retr_queue(msgno, max_bytes, size)?;
        self.retr_reply(msgno, max_bytes, size).await
    }

    /// Queues RETR (RFC 2449 PIPELINING): the queued commands go out in one write before the
    /// next read; read the replies with [`Pop3Session::retr_reply`] in the order queued. A
    /// message listed as larger than `max_bytes` is refused here (Unsupported), before anything
    /// is queued.
    pub fn retr_queue(&mut self, msgno: u32, max_bytes: usize, size: Option<u64>) -> Result<()> {
        check_msgno(msgno)?;
        if let Some(n) = size.filter(|n| *n > max_bytes as u64) {
            return Err(Error::new(
                Status::Unsupported,
                format!(
                    "{}: message {msgno} is {} MiB, more than this account accepts (max_message_mb {}): it was not fetched",
                    self.conn.host,
                    n >> 20,
                    max_bytes >> 20
                ),
            )
            .with_hint("Raise max_message_mb in the account's settings (the process must have that much memory to spare), or remove the message from the mailbox."));
        }
        self.conn.queue(&format!("RETR {msgno}"))
    }

    /// The reply to a RETR queued by [`Pop3Session::retr_queue`]: the message's bytes.
    pub async fn retr_reply(
        &mut self,
        msgno: u32,
        max_bytes: usize,
        size: Option<u64>,
    ) -> Result<Vec<u8>> {
        self.conn.expect_ok(&format!("RETR {msgno}")).await?;
        // the listed size counts CRLF line ends, as the bytes handed over do; a little room
        // for a server that rounds
        let expected = size.map_or(0, |n| n as usize + 1024);
        self.conn
            .multiline_sized(max_bytes, &format!("message {msgno}"), expected)
            .await
    }

    /// TOP n 0: the message's header block (dot-unstuffed), at most `max_bytes`. Unsupported
    /// when the server refuses TOP (an optional command).
    pub async fn top_header(&mut self, msgno: u32, max_bytes: usize) -> Result<Vec<u8>> {
        check_msgno(msgno)?;
        self.conn.send(&format!("TOP {msgno} 0")).await?;
        match self.conn.reply().await? {
            Reply::Ok(_) => {}
            Reply::Err(t) => {
                return Err(Error::new(
                    Status::Unsupported,
                    format!(
                        "{} refused TOP (message {msgno}): its messages cannot be listed without downloading them",
                        self.conn.host()
                    ),
                )
                .with_detail(t))
            }
            Reply::More(_) => return Err(self.conn.protocol("a continuation in reply to TOP")),
        }
        self.conn
            .multiline_sized(max_bytes, &format!("the header of message {msgno}"), 0)
            .await
    }

    /// DELE: marks the message for deletion; [`Pop3Session::quit`] commits it.
    pub async fn dele(&mut self, msgno: u32) -> Result<()> {
        check_msgno(msgno)?;
        let c = format!("DELE {msgno}");
        self.conn.command(&c, &c).await.map(|_| ())
    }

    /// Queues DELE (pipelining, as [`Pop3Session::retr_queue`]); read its reply with
    /// [`Pop3Session::dele_reply`] in the order queued.
    pub fn dele_queue(&mut self, msgno: u32) -> Result<()> {
        check_msgno(msgno)?;
        self.conn.queue(&format!("DELE {msgno}"))
    }

    /// The reply to a DELE queued by [`Pop3Session::dele_queue`].
    pub async fn dele_reply(&mut self, msgno: u32) -> Result<()> {
        self.conn
            .expect_ok(&format!("DELE {msgno}"))
            .await
            .map(|_| ())
    }

    /// RSET: unmarks the messages marked for deletion.
    pub async fn rset(&mut self) -> Result<()> {
        self.conn.command("RSET", "RSET").await.map(|_| ())
    }

    /// NOOP: keeps the session alive.
    pub async fn noop(&mut self) -> Result<()> {
        self.conn.command("NOOP", "NOOP").await.map(|_| ())
    }

    /// QUIT: ends the session, removing the messages marked for deletion. An error means the
    /// deletions may not have been committed.
    pub async fn quit(mut self) -> Result<()> {
        self.conn.command("QUIT", "QUIT").await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Protocol, ServerAuth};
    use tokio::io::{duplex, AsyncBufReadExt, AsyncWriteExt, BufReader};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn server() -> Server {
        Server {
            protocol: Protocol::Pop3,
            host: "pop.test".into(),
            port: 995,
            security: Security::Tls,
            auth: ServerAuth::Oauth2,
            sasl_mechanism: SaslMechanism::Xoauth2,
            username: None,
            password: None,
        }
    }

    /// A scripted server: for each (expected line prefix, answer) reads one line, checks it
    /// and writes the answer. Returns every line received.
    async fn script(
        s: tokio::io::DuplexStream,
        greeting: &'static str,
        steps: Vec<(&'static str, &'static str)>,
    ) -> Vec<String> {
        let (r, mut w) = tokio::io::split(s);
        let mut r = BufReader::new(r);
        w.write_all(greeting.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        for (expect, answer) in steps {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            let line = line.trim_end().to_string();
            assert!(line.starts_with(expect), "expected {expect}, got {line}");
            got.push(line);
            w.write_all(answer.as_bytes()).await.unwrap();
        }
        got
    }

    #[test]
    fn xoauth2_error_challenge_is_answered() {
        rt().block_on(async {
            let (a, b) = duplex(1 << 16);
            let srv = tokio::spawn(script(
                b,
                "+OK ready\r\n",
                vec![
                    ("CAPA", "+OK\r\nUSER\r\nSASL PLAIN XOAUTH2\r\nUIDL\r\n.\r\n"),
                    ("AUTH XOAUTH2", "+ \r\n"),
                    ("dXNlcj1h", "+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJtYWlsIn0=\r\n"),
                    ("", "-ERR [AUTH] Authentication failed.\r\n"),
                ],
            ));
            let (client, info) = Pop3Client::handshake(a, "pop.test", true).await.unwrap();
            assert_eq!(info.greeting, "ready");
            assert_eq!(info.mechanisms, vec!["PLAIN", "XOAUTH2"]);
            assert!(has_cap(&info.capabilities, "uidl"));
            let r = login(
                client,
                &info,
                &server(),
                Login::OAuth {
                    mechanism: SaslMechanism::Xoauth2,
                    user: "a@b.c".into(),
                    token: "T".into(),
                },
                false,
            )
            .await;
            match r {
                Err(LoginError::Refused(r)) => {
                    assert_eq!(r.server_text, "[AUTH] Authentication failed.");
                    assert_eq!(
                        r.challenge.as_deref(),
                        Some("the server refused the token (status 401, scope mail)")
                    );
                }
                _ => panic!("expected Refused"),
            }
            let got = srv.await.unwrap();
            assert_eq!(got[3], "", "XOAUTH2's challenge is answered with an empty line");
        });
    }

    #[test]
    fn oauth_mechanism_not_offered_and_no_tls() {
        rt().block_on(async {
            let (a, b) = duplex(1 << 16);
            let srv = tokio::spawn(script(b, "+OK\r\n", vec![("CAPA", "-ERR unknown\r\n")]));
            let (client, info) = Pop3Client::handshake(a, "pop.test", true).await.unwrap();
            assert!(info.capabilities.is_empty());
            let r = login(
                client,
                &info,
                &server(),
                Login::OAuth {
                    mechanism: SaslMechanism::Oauthbearer,
                    user: "a".into(),
                    token: "T".into(),
                },
                false,
            )
            .await;
            match r {
                Err(LoginError::Failed(e)) => {
                    assert_eq!(e.status, Status::Unsupported);
                    assert!(e.message.contains("nothing"), "{e}");
                }
                _ => panic!("expected Unsupported"),
            }
            assert_eq!(srv.await.unwrap().len(), 1);

            let (a, b) = duplex(1 << 16);
            let srv = tokio::spawn(script(b, "+OK\r\n", vec![("CAPA", "+OK\r\nUSER\r\n.\r\n")]));
            let (client, info) = Pop3Client::handshake(a, "pop.test", false).await.unwrap();
            let r = login(
                client,
                &info,
                &server(),
                Login::Password {
                    user: "u".into(),
                    password: "p".into(),
                },
                false,
            )
            .await;
            assert!(matches!(r, Err(LoginError::Failed(e)) if e.status == Status::TlsError));
            assert_eq!(srv.await.unwrap(), vec!["CAPA"], "no credential sent");
        });
    }

    #[test]
    fn password_then_transaction() {
        rt().block_on(async {
            let (a, b) = duplex(1 << 16);
            let srv = tokio::spawn(script(
                b,
                "+OK <1.2@x>\r\n",
                vec![
                    ("CAPA", "+OK\r\nUSER\r\n.\r\n"),
                    ("USER u", "+OK\r\n"),
                    ("PASS p", "+OK logged in\r\n"),
                    ("STAT", "+OK 2 30\r\n"),
                    ("UIDL", "+OK\r\n1 aaa\r\n2 bbb\r\n.\r\n"),
                    ("LIST", "+OK 2 messages\r\n1 10\r\n2 20\r\n.\r\n"),
                    ("RETR 2", "+OK 20 octets\r\nA: b\r\n\r\n..x\r\n.\r\n"),
                    ("DELE 2", "+OK\r\n"),
                    ("RETR 1", "+OK\r\n0123456789\r\n0123456789\r\n.\r\n"),
                ],
            ));
            let (client, info) = Pop3Client::handshake(a, "pop.test", true).await.unwrap();
            let mut s = match login(
                client,
                &info,
                &server(),
                Login::Password {
                    user: "u".into(),
                    password: "p".into(),
                },
                false,
            )
            .await
            {
                Ok(s) => s,
                Err(_) => panic!("login failed"),
            };
            assert_eq!(s.stat().await.unwrap(), (2, 30));
            assert_eq!(
                s.uidl_all().await.unwrap(),
                vec![(1, "aaa".to_string()), (2, "bbb".to_string())]
            );
            assert_eq!(s.list_all().await.unwrap(), vec![(1, 10), (2, 20)]);
            assert_eq!(s.retr(2, 1000, None).await.unwrap(), b"A: b\r\n\r\n.x\r\n");
            s.dele(2).await.unwrap();
            assert_eq!(s.dele(0).await.unwrap_err().status, Status::InvalidArgument);
            let e = s.retr(1, 15, None).await.unwrap_err();
            assert_eq!(e.status, Status::ProtocolError);
            // unusable afterwards: nothing more is sent
            assert_eq!(s.noop().await.unwrap_err().status, Status::ProtocolError);
            drop(s);
            assert_eq!(srv.await.unwrap().len(), 9);
        });
    }

    #[test]
    fn plain_when_user_is_not_offered_and_uidl_unsupported() {
        rt().block_on(async {
            let (a, b) = duplex(1 << 16);
            let srv = tokio::spawn(script(
                b,
                "+OK\r\n",
                vec![
                    ("CAPA", "+OK\r\nSASL PLAIN\r\n.\r\n"),
                    ("AUTH PLAIN", "+ \r\n"),
                    ("AHUAcA==", "+OK\r\n"),
                    ("UIDL", "-ERR unknown command\r\n"),
                    ("STAT", "+OK garbage\r\n"),
                ],
            ));
            let (client, info) = Pop3Client::handshake(a, "pop.test", true).await.unwrap();
            let mut s = match login(
                client,
                &info,
                &server(),
                Login::Password {
                    user: "u".into(),
                    password: "p".into(),
                },
                false,
            )
            .await
            {
                Ok(s) => s,
                Err(_) => panic!("login failed"),
            };
            let e = s.uidl_all().await.unwrap_err();
            assert_eq!(e.status, Status::Unsupported);
            assert_eq!(e.detail.as_deref(), Some("unknown command"));
            assert_eq!(s.stat().await.unwrap_err().status, Status::ProtocolError);
            drop(s);
            srv.await.unwrap();
        });
    }

    #[test]
    fn bad_greeting() {
        rt().block_on(async {
            let (a, b) = duplex(1 << 16);
            let srv = tokio::spawn(script(b, "-ERR too many connections\r\n", vec![]));
            let e = Pop3Client::handshake(a, "pop.test", true)
                .await
                .unwrap_err();
            assert_eq!(e.status, Status::ProtocolError);
            assert_eq!(e.detail.as_deref(), Some("too many connections"));
            srv.await.unwrap();
            let (a, b) = duplex(1 << 16);
            let srv = tokio::spawn(script(b, "* OK IMAP4rev1\r\n", vec![]));
            let e = Pop3Client::handshake(a, "pop.test", true)
                .await
                .unwrap_err();
            assert_eq!(e.status, Status::ProtocolError);
            srv.await.unwrap();
        });
    }
}
