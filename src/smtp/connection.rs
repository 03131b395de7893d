//! Opening an SMTP connection with the library's own TLS (the same verification as IMAP/POP3:
//! the operating system's trust store plus the account's extra CAs), then handing the secured
//! stream to lettre's `AsyncSmtpConnection`.
//!
//! - Implicit TLS (465) and `security: none`: TCP (+ TLS) by `crate::mail::transport`, then
//!   `AsyncSmtpConnection::connect_with_transport`, which reads the greeting and sends EHLO.
//! - STARTTLS (587): greeting, EHLO and STARTTLS are done here, line by line and bounded;
//!   no credential is ever sent when STARTTLS is not offered, and bytes sent in clear after
//!   the `220` reply to STARTTLS are refused. The TLS stream then goes to lettre behind
//!   [`Wire`], which first yields a synthetic `220` greeting so that lettre's connect sends
//!   EHLO again over TLS (RFC 3207 §4.2).
//!
//! [`Wire`] also records what lettre reads during connect (to report the server's real EHLO
//! capabilities, which lettre's `ServerInfo` keeps only in part) and counts what is written
//! (to know whether the end of a message's DATA reached the connection before it dropped).

use crate::config::{Security, Server};
use crate::error::{Error, Result, Status};
use crate::log::Level;
use crate::mail::transport::{self, io_error, Stream, Timed};
use crate::om_log;
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::commands::{Ehlo, Quit};
use lettre::transport::smtp::extension::ClientId;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

pub use crate::mail::login::ServerInfo;

/// Longest line accepted before lettre takes over.
/// Most lines in one reply before lettre takes over.
const MAX_REPLY_LINES: usize = 200;
/// Most bytes recorded while lettre connects (greeting + EHLO reply).
const MAX_RECORD: usize = 64 * 1024;

/// What [`Wire`] shares with the session: the recording, the write counters, and the commands
/// to send right behind the next end of DATA.
#[derive(Debug, Default)]
pub(crate) struct Probe {
    record: Option<Vec<u8>>,
    /// Bytes accepted by the stream below (TLS buffer or socket).
    pub written: u64,
    /// The last bytes accepted (at most 4), to find an end of DATA split between two writes.
    tail: Vec<u8>,
    /// An end of DATA (`CRLF.CRLF`) was accepted since [`Probe::expect_data_end`].
    data_ended: bool,
    /// Commands to write in the same flight as the next end of DATA (RFC 2920: the next
    /// message's MAIL, RCPT… and DATA behind the `.` of this one).
    pub staged: Vec<u8>,
    /// The staged commands went out whole behind an end of DATA.
    pub staged_sent: bool,
}

const END_OF_DATA: &[u8] = b"\r\n.\r\n";

impl Probe {
    /// Starts watching for the end of a message's DATA.
    pub fn expect_data_end(&mut self) {
        self.data_ended = false;
    }

    /// True when an end of DATA (`CRLF.CRLF`) was accepted since [`Probe::expect_data_end`].
    pub fn ends_data(&self) -> bool {
        self.data_ended
    }

    /// Counts bytes accepted by the stream below. A dot-stuffed message holds `CRLF.CRLF` only
    /// at its end, and no command does, so finding it means the end of DATA went out.
    fn accepted(&mut self, bytes: &[u8]) {
        self.written += bytes.len() as u64;
        let mut look = std::mem::take(&mut self.tail);
        look.extend_from_slice(&bytes[..bytes.len().min(END_OF_DATA.len())]);
        if look.windows(END_OF_DATA.len()).any(|w| w == END_OF_DATA)
            || bytes.windows(END_OF_DATA.len()).any(|w| w == END_OF_DATA)
        {
            self.data_ended = true;
        }
        let all = if bytes.len() >= 4 { bytes } else { &look[..] };
        self.tail = all[all.len().saturating_sub(4)..].to_vec();
    }
}

pub(crate) fn lock_probe(p: &Mutex<Probe>) -> std::sync::MutexGuard<'_, Probe> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// The stream lettre drives: our TLS (or plain) stream with the idle timeout, optionally a
/// synthetic greeting first, and the probe.
pub(crate) struct Wire {
    inner: Timed<Stream>,
    greeting: Vec<u8>,
    probe: Arc<Mutex<Probe>>,
    /// An end of DATA with the staged commands behind it, being written (`spilled` of it so far).
    spill: Vec<u8>,
    spilled: usize,
}

impl fmt::Debug for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("smtp::Wire")
    }
}

impl AsyncTokioStream for Wire {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self.inner.get_ref() {
            Stream::Plain(t) => t.peer_addr(),
            Stream::Tls(s) => s.get_ref().0.peer_addr(),
        }
    }
}

impl AsyncRead for Wire {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.greeting.is_empty() {
            let n = this.greeting.len().min(buf.remaining());
            let chunk: Vec<u8> = this.greeting.drain(..n).collect();
            buf.put_slice(&chunk);
            record(&this.probe, &chunk);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            record(&this.probe, &buf.filled()[before..]);
        }
        r
    }
}

fn record(probe: &Mutex<Probe>, bytes: &[u8]) {
    let mut p = lock_probe(probe);
    if let Some(rec) = p.record.as_mut() {
        let room = MAX_RECORD.saturating_sub(rec.len());
        rec.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // lettre writes a message's end of DATA alone: the staged commands join it, so both
        // leave in one flight (and the next envelope does not wait for this message's reply)
        if this.spill.is_empty() && buf == END_OF_DATA {
            let staged = std::mem::take(&mut lock_probe(&this.probe).staged);
            if !staged.is_empty() {
                this.spill = [buf, &staged[..]].concat();
                this.spilled = 0;
            }
        }
        if !this.spill.is_empty() {
            while this.spilled < this.spill.len() {
                let rest = &this.spill[this.spilled..];
                match Pin::new(&mut this.inner).poll_write(cx, rest) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Ok(0)),
                    Poll::Ready(Ok(n)) => {
                        lock_probe(&this.probe).accepted(&rest[..n]);
                        this.spilled += n;
                    }
                    Poll::Ready(Err(e)) => {
                        this.spill.clear();
                        return Poll::Ready(Err(e));
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            this.spill.clear();
            lock_probe(&this.probe).staged_sent = true;
            return Poll::Ready(Ok(buf.len()));
        }
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            lock_probe(&this.probe).accepted(&buf[..*n]);
        }
        r
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// An open (maybe authenticated) SMTP connection.
pub struct SmtpConnection {
    pub(crate) conn: AsyncSmtpConnection,
    pub(crate) probe: Arc<Mutex<Probe>>,
    /// What the server announced (after TLS).
    pub info: ServerInfo,
    pub host: String,
    pub port: u16,
}

impl fmt::Debug for SmtpConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SmtpConnection({}:{})", self.host, self.port)
    }
}

impl SmtpConnection {
    /// True when the server announced `keyword` (e.g. `SMTPUTF8`, `8BITMIME`, `SIZE`).
    pub fn has_capability(&self, keyword: &str) -> bool {
        self.capability(keyword).is_some()
    }

    /// The arguments of capability `keyword`, if announced (`SIZE 52428800` → `52428800`).
    pub fn capability(&self, keyword: &str) -> Option<String> {
        self.info.capabilities.iter().find_map(|c| {
            let mut w = c.split_whitespace();
            let k = w.next()?;
            k.eq_ignore_ascii_case(keyword)
                .then(|| w.collect::<Vec<_>>().join(" "))
        })
    }

    /// The server's message size limit (`SIZE n`, 0 = none).
    pub fn size_limit(&self) -> Option<u64> {
        self.capability("SIZE")
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|n| *n > 0)
    }

    /// Says goodbye (QUIT), ignoring failures.
    pub async fn quit(mut self) {
        let _ = self.conn.command(Quit).await;
    }
}

/// The EHLO name: the local host name, as lettre computes it.
pub(crate) fn client_id() -> ClientId {
    ClientId::default()
}

fn proto(host: &str, what: impl fmt::Display) -> Error {
    Error::new(
        Status::ProtocolError,
        format!("{host}: unexpected SMTP reply ({what})"),
    )
}

/// One SMTP reply: the code and the text of each line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn text(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" "))
            .trim_end()
            .to_string()
    }
}

/// Splits raw reply bytes into complete replies.
pub fn parse_replies(bytes: &[u8]) -> Vec<Reply> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.len() < 3 {
            continue;
        }
        // `get`: the third byte may be inside a multi-byte character (fuzz_regressions.rs)
        let Some(code) = line.get(..3).and_then(|c| c.parse::<u16>().ok()) else {
            continue;
        };
        let rest = line.get(4..).unwrap_or("").to_string();
        cur.push(rest);
        if line.as_bytes().get(3) != Some(&b'-') {
            out.push(Reply {
                code,
                lines: std::mem::take(&mut cur),
            });
        }
    }
    out
}

/// Capabilities and SASL mechanisms from an EHLO reply.
pub fn ehlo_info(reply: &Reply) -> (Vec<String>, Vec<String>) {
    let caps: Vec<String> = reply.lines.iter().skip(1).cloned().collect();
    let mut mechanisms = Vec::new();
    for c in &caps {
        let mut w = c.split_whitespace();
        if let Some(k) = w.next() {
            let u = k.to_ascii_uppercase();
            if u == "AUTH" {
                mechanisms.extend(w.map(|m| m.to_ascii_uppercase()));
            } else if let Some(m) = u.strip_prefix("AUTH=") {
                // the pre-standard form
                mechanisms.push(m.to_string());
                mechanisms.extend(w.map(|m| m.to_ascii_uppercase()));
            }
        }
    }
    mechanisms.dedup();
    (caps, mechanisms)
}

/// The exchange before TLS on a STARTTLS port, done by hand and bounded.
struct PreTls<'h> {
    stream: Timed<Stream>,
    buf: Vec<u8>,
    host: &'h str,
}

impl PreTls<'_> {
    async fn read_line(&mut self) -> Result<String> {
        crate::mail::transport::read_pre_line(
            &mut self.stream,
            &mut self.buf,
            self.host,
            "before TLS",
        )
        .await
    }

    async fn read_reply(&mut self) -> Result<Reply> {
        let mut lines = Vec::new();
        for _ in 0..MAX_REPLY_LINES {
            let l = self.read_line().await?;
            let code = l
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| proto(self.host, format!("`{}`", short(&l))))?;
            lines.push(l.get(4..).unwrap_or("").to_string());
            if l.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply { code, lines });
            }
        }
        Err(proto(self.host, "a reply of more than 200 lines"))
    }

    async fn command(&mut self, line: &str) -> Result<Reply> {
        self.stream
            .write_all(line.as_bytes())
            .await
            .map_err(|e| io_error(self.host, &e))?;
        self.stream
            .flush()
            .await
            .map_err(|e| io_error(self.host, &e))?;
        self.read_reply().await
    }
}

fn short(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Maps a lettre error: the server's reply (code and text) when there is one, else the I/O
/// failure underneath.
pub(crate) fn smtp_err(host: &str, what: &str, e: &lettre::transport::smtp::Error) -> Error {
    if let Some((code, text)) = reply_of(e) {
        return Error::new(
            Status::ProtocolError,
            format!("{host} refused {what} ({code})"),
        )
        .with_detail(short(&text));
    }
    if let Some(io) = find_io(e) {
        return io_error(host, io);
    }
    // lettre's only word for "the server closed the connection before the reply ended" (its
    // error kinds are not public): a network failure, retried like any other cut
    if e.is_response() && e.to_string().contains("incomplete response") {
        return Error::new(
            Status::NetworkError,
            format!("{host} closed the connection during {what}"),
        );
    }
    if e.is_response() {
        return proto(host, short(&e.to_string()));
    }
    Error::new(
        Status::NetworkError,
        format!("{host}: {what} failed: {}", short(&e.to_string())),
    )
}

/// The server's reply inside a lettre error: (code, "code text").
pub(crate) fn reply_of(e: &lettre::transport::smtp::Error) -> Option<(u16, String)> {
    let code: u16 = e.status()?.to_string().parse().ok()?;
    let text = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_default();
    Some((code, format!("{code} {text}").trim_end().to_string()))
}

fn find_io<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    for _ in 0..16 {
        let c = cur?;
        if let Some(io) = c.downcast_ref::<io::Error>() {
            return Some(io);
        }
        cur = c.source();
    }
    None
}

/// True when a lettre error means the connection is gone (as opposed to a server reply).
pub(crate) fn is_connection_lost(e: &lettre::transport::smtp::Error) -> bool {
    e.status().is_none()
}

/// Connects to `server` and secures the connection; returns it (not logged in).
pub async fn open(
    server: &Server,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
    proxy: Option<&crate::mail::proxy::ProxyServer>,
) -> Result<SmtpConnection> {
    let host = server.host.as_str();
    let port = server.port;
    let tcp = transport::connect_via(host, port, timeout, proxy).await?;
    let probe = Arc::new(Mutex::new(Probe {
        record: Some(Vec::new()),
        ..Probe::default()
    }));
    let (stream, synthetic, greeting_text) = match server.security {
        Security::Tls => (transport::tls(tcp, host, tls, timeout).await?, false, None),
        Security::None => (Stream::Plain(tcp), false, None),
        Security::Starttls => {
            let mut pre = PreTls {
                stream: Timed::new(Stream::Plain(tcp), timeout),
                buf: Vec::new(),
                host,
            };
            let greeting = pre.read_reply().await?;
            if greeting.code != 220 {
                return Err(Error::new(
                    Status::ProtocolError,
                    format!("{host}:{port} refused the session"),
                )
                .with_detail(short(&greeting.text())));
            }
            let ehlo = pre.command(&Ehlo::new(client_id()).to_string()).await?;
            if ehlo.code != 250 {
                return Err(Error::new(
                    Status::ProtocolError,
                    format!("{host}:{port} refused EHLO"),
                )
                .with_detail(short(&ehlo.text())));
            }
            let (caps, _) = ehlo_info(&ehlo);
            if !caps
                .iter()
                .any(|c| c.trim().eq_ignore_ascii_case("STARTTLS"))
            {
                return Err(Error::new(
                    Status::TlsError,
                    format!("{host}:{port} does not offer STARTTLS: no credential was sent; use security \"tls\" (port 465) or ask the server's admin to enable STARTTLS"),
                ));
            }
            let r = pre.command("STARTTLS\r\n").await?;
            if r.code != 220 {
                return Err(Error::new(
                    Status::TlsError,
                    format!("{host}:{port} refused STARTTLS: no credential was sent"),
                )
                .with_detail(short(&r.text())));
            }
            if !pre.buf.is_empty() {
                // bytes sent in clear after the 220 would be taken as protected: refuse
                return Err(proto(host, "data injected after STARTTLS"));
            }
            let tcp = match pre.stream.into_inner() {
                Stream::Plain(t) => t,
                Stream::Tls(_) => return Err(proto(host, "STARTTLS on a TLS connection")),
            };
            (
                transport::tls(tcp, host, tls, timeout).await?,
                true,
                Some(greeting.lines.join(" ")),
            )
        }
    };
    let is_tls = stream.is_tls();
    let wire = Wire {
        inner: Timed::new(stream, timeout),
        greeting: if synthetic {
            b"220 ready\r\n".to_vec()
        } else {
            Vec::new()
        },
        probe: probe.clone(),
        spill: Vec::new(),
        spilled: 0,
    };
    let conn = AsyncSmtpConnection::connect_with_transport(Box::new(wire), &client_id())
        .await
        .map_err(|e| smtp_err(host, "the session", &e))?;
    let recorded = lock_probe(&probe).record.take().unwrap_or_default();
    let replies = parse_replies(&recorded);
    let (caps, mechanisms) = replies.get(1).map(ehlo_info).unwrap_or_default();
    let greeting = greeting_text.unwrap_or_else(|| {
        replies
            .first()
            .map(|r| r.lines.join(" "))
            .unwrap_or_default()
    });
    om_log!(
        Level::Debug,
        "{host}:{port}: SMTP session open (tls: {is_tls}, mechanisms: {})",
        mechanisms.join(" ")
    );
    Ok(SmtpConnection {
        conn,
        probe,
        info: ServerInfo {
            greeting,
            capabilities: caps,
            mechanisms,
            tls: is_tls,
        },
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_and_capabilities() {
        let raw = b"220 smtp.example ESMTP ready\r\n250-smtp.example\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-AUTH PLAIN LOGIN xoauth2 OAUTHBEARER\r\n250 8BITMIME\r\n";
        let r = parse_replies(raw);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].code, 220);
        assert_eq!(r[0].text(), "220 smtp.example ESMTP ready");
        let (caps, mechs) = ehlo_info(&r[1]);
        assert_eq!(
            caps,
            vec![
                "PIPELINING",
                "SIZE 52428800",
                "AUTH PLAIN LOGIN xoauth2 OAUTHBEARER",
                "8BITMIME"
            ]
        );
        assert_eq!(mechs, vec!["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"]);
        // an incomplete reply is not returned
        assert!(parse_replies(b"250-a\r\n").is_empty());
    }

    #[test]
    fn probe_sees_the_end_of_data() {
        let mut p = Probe::default();
        p.accepted(b"MAIL FROM:<a@b.c>\r\nRCPT TO:<.d@e.f>\r\nDATA\r\n");
        assert!(!p.ends_data());
        p.accepted(b"Subject: x\r\n\r\n..\r\nbody");
        assert!(!p.ends_data());
        p.accepted(END_OF_DATA);
        assert!(p.ends_data());
        // split between writes, byte by byte, or followed by the next envelope
        for cut in 0..END_OF_DATA.len() {
            let mut p = Probe::default();
            p.accepted(b"body");
            p.accepted(&END_OF_DATA[..cut]);
            assert!(!p.ends_data());
            p.accepted(&END_OF_DATA[cut..]);
            assert!(p.ends_data(), "cut at {cut}");
        }
        let mut p = Probe::default();
        for b in b"x\r\n.\r\nMAIL FROM:<a@b.c>\r\n" {
            p.accepted(&[*b]);
        }
        assert!(p.ends_data());
        p.expect_data_end();
        assert!(!p.ends_data());
        assert_eq!(p.written, 25);
    }
}
