//! The POP3 wire format (RFC 1939): bounded line reading, status replies (`+OK`, `-ERR`, the
//! SASL continuation `+`), multi-line responses with dot-unstuffing, and the listings' lines.
//!
//! Every failure that leaves the connection in an unknown state (I/O error, closed connection,
//! garbage, an over-long line or response) marks it broken: later commands fail at once
//! instead of reading the rest of an earlier reply as their own.

use crate::error::{Error, Result, Status};
use crate::mail::transport::io_error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The longest line accepted (RFC 1939 allows 512 octets for replies; message lines are
/// longer in practice, RFC 5322 allows 998).
pub const MAX_LINE: usize = 64 * 1024;

/// One status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK text`
    Ok(String),
    /// `-ERR text`
    Err(String),
    /// `+ base64` (a SASL challenge, RFC 5034)
    More(String),
}

/// Parses a status line (without its line end); `None` for anything else.
pub fn parse_reply(line: &[u8]) -> Option<Reply> {
    fn after(line: &[u8], prefix: &[u8]) -> Option<String> {
        if line.len() < prefix.len() || !line[..prefix.len()].eq_ignore_ascii_case(prefix) {
            return None;
        }
        let rest = &line[prefix.len()..];
        match rest.first() {
            None => Some(String::new()),
            Some(b' ') => Some(String::from_utf8_lossy(&rest[1..]).trim().to_string()),
            Some(_) => None,
        }
    }
    if let Some(t) = after(line, b"+OK") {
        return Some(Reply::Ok(t));
    }
    if let Some(t) = after(line, b"-ERR") {
        return Some(Reply::Err(t));
    }
    after(line, b"+").map(Reply::More)
}

/// A line for an error message: lossy, at most 200 characters.
pub fn shown(line: &[u8]) -> String {
    String::from_utf8_lossy(line).chars().take(200).collect()
}

/// The buffered connection.
pub struct Conn<S> {
    pub(crate) stream: S,
    /// Bytes received and not yet consumed.
    pub(crate) buf: Vec<u8>,
    pub(crate) host: String,
    broken: bool,
    /// Command lines queued (pipelining), written in one go before the next read.
    queued: Vec<u8>,
}

impl<S> Conn<S> {
    pub fn new(stream: S, host: &str) -> Conn<S> {
        Conn {
            stream,
            buf: Vec::new(),
            host: host.to_string(),
            broken: false,
            queued: Vec::new(),
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// A protocol error, which also marks the connection broken.
    pub fn protocol(&mut self, what: impl std::fmt::Display) -> Error {
        self.broken = true;
        Error::new(
            Status::ProtocolError,
            format!("{}: unexpected POP3 reply ({what})", self.host),
        )
    }

    fn fail(&mut self, e: Error) -> Error {
        self.broken = true;
        e
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Sends one command line (CR LF added), with any queued before it. A line containing CR
    /// or LF is refused: it would smuggle a second command (e.g. a user name `x\r\nDELE 1`).
    pub async fn send(&mut self, line: &str) -> Result<()> {
        self.queue(line)?;
        self.flush_queued().await
    }

    /// Queues one command line (pipelining): it is written, with the others queued, in one
    /// write before the next read.
    pub fn queue(&mut self, line: &str) -> Result<()> {
        if self.broken {
            return Err(Error::new(
                Status::ProtocolError,
                format!(
                    "the POP3 connection to {} is unusable after an earlier error: open a new one",
                    self.host
                ),
            ));
        }
        if line.contains(['\r', '\n', '\0']) {
            return Err(Error::invalid_argument(
                "a POP3 command argument contains a line break or NUL",
            ));
        }
        self.queued.extend_from_slice(line.as_bytes());
        self.queued.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// Writes the queued command lines.
    async fn flush_queued(&mut self) -> Result<()> {
        if self.queued.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.queued);
        let r = async {
            self.stream.write_all(&bytes).await?;
            self.stream.flush().await
        }
        .await;
        r.map_err(|e| {
            let e = io_error(&self.host, &e);
            self.fail(e)
        })
    }

    /// One line without its line end (CR LF, or a bare LF from a sloppy server).
    pub async fn read_line(&mut self) -> Result<Vec<u8>> {
        self.flush_queued().await?;
        let mut scanned = 0;
        loop {
            if let Some(pos) = self.buf[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + pos;
                if end > MAX_LINE {
                    return Err(self.protocol(format!("a line longer than {MAX_LINE} bytes")));
                }
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            scanned = self.buf.len();
            if scanned > MAX_LINE {
                return Err(self.protocol(format!("a line longer than {MAX_LINE} bytes")));
            }
            let mut chunk = [0u8; 8192];
            let n = match self.stream.read(&mut chunk).await {
                Ok(n) => n,
                Err(e) => {
                    let e = io_error(&self.host, &e);
                    return Err(self.fail(e));
                }
            };
            if n == 0 {
                let e = Error::new(
                    Status::NetworkError,
                    format!(
                        "{} closed the connection in the middle of a reply",
                        self.host
                    ),
                );
                return Err(self.fail(e));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// One status line.
    pub async fn reply(&mut self) -> Result<Reply> {
        let line = self.read_line().await?;
        match parse_reply(&line) {
            Some(r) => Ok(r),
            None => Err(self.protocol(format!("`{}`", shown(&line)))),
        }
    }

    /// Sends `line` and expects `+OK`; `-ERR` becomes a ProtocolError with the server's text.
    /// `what` names the command in messages (never the arguments: PASS carries a secret).
    pub async fn command(&mut self, line: &str, what: &str) -> Result<String> {
        self.send(line).await?;
        self.expect_ok(what).await
    }

    /// The status line of a command sent earlier (pipelining): `+OK` text, or `-ERR` as a
    /// ProtocolError with the server's text.
    pub async fn expect_ok(&mut self, what: &str) -> Result<String> {
        match self.reply().await? {
            Reply::Ok(t) => Ok(t),
            Reply::Err(t) => Err(Error::new(
                Status::ProtocolError,
                format!("{} refused {what}", self.host),
            )
            .with_detail(t)),
            Reply::More(_) => Err(self.protocol(format!("a continuation in reply to {what}"))),
        }
    }

    /// The body of a multi-line response (after its `+OK` line): dot-unstuffed, every line
    /// ending with CR LF, the final `.` line removed. More than `limit` bytes is an error
    /// (and leaves the connection broken).
    pub async fn multiline(&mut self, limit: usize, what: &str) -> Result<Vec<u8>> {
        self.multiline_sized(limit, what, 0).await
    }

    /// As [`Conn::multiline`], the result allocated once for `expected` bytes (the size the
    /// server announced, which it may not keep to): an honest server's message costs its own
    /// size in memory, not the doubling of a growing buffer.
    pub async fn multiline_sized(
        &mut self,
        limit: usize,
        what: &str,
        expected: usize,
    ) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(expected.min(limit));
        loop {
            let line = self.read_line().await?;
            if line == b"." {
                return Ok(out);
            }
            let data = match line.first() {
                Some(b'.') => &line[1..],
                _ => &line[..],
            };
            if out.len() + data.len() + 2 > limit {
                let e = Error::new(
                    Status::ProtocolError,
                    format!(
                        "{}: {what} is larger than the limit of {limit} bytes; the connection was abandoned",
                        self.host
                    ),
                );
                return Err(self.fail(e));
            }
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The lines of a multi-line response, as text.
    pub async fn multiline_lines(&mut self, limit: usize, what: &str) -> Result<Vec<String>> {
        let body = self.multiline(limit, what).await?;
        Ok(body
            .split(|&b| b == b'\n')
            .map(|l| String::from_utf8_lossy(l.strip_suffix(b"\r").unwrap_or(l)).into_owned())
            .filter(|l| !l.is_empty())
            .collect())
    }
}

/// `nn mm` (STAT) or `n size` (LIST): two numbers, maybe followed by more.
pub fn parse_two_numbers(text: &str) -> Option<(u32, u64)> {
    let mut it = text.split_whitespace();
    let a = it.next()?.parse().ok()?;
    let b = it.next()?.parse().ok()?;
    Some((a, b))
}

/// `n unique-id` (UIDL): the id is 1 to 70 characters 0x21–0x7E (RFC 1939).
pub fn parse_uidl(text: &str) -> Option<(u32, String)> {
    let mut it = text.split_whitespace();
    let n = it.next()?.parse().ok()?;
    let uid = it.next()?;
    let ok = (1..=70).contains(&uid.len()) && uid.bytes().all(|b| (0x21..=0x7e).contains(&b));
    ok.then(|| (n, uid.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A connection whose peer has sent `data` and then closed.
    async fn conn_with(data: &[u8]) -> Conn<tokio::io::DuplexStream> {
        let (a, mut b) = duplex(data.len() + 16);
        b.write_all(data).await.unwrap();
        drop(b); // the rest reads as end of stream
        Conn::new(a, "pop.test")
    }

    #[test]
    fn replies() {
        assert_eq!(
            parse_reply(b"+OK Dovecot ready."),
            Some(Reply::Ok("Dovecot ready.".into()))
        );
        assert_eq!(parse_reply(b"+OK"), Some(Reply::Ok(String::new())));
        assert_eq!(parse_reply(b"+ok fine"), Some(Reply::Ok("fine".into())));
        assert_eq!(
            parse_reply(b"-ERR [AUTH] Authentication failed."),
            Some(Reply::Err("[AUTH] Authentication failed.".into()))
        );
        assert_eq!(parse_reply(b"+ "), Some(Reply::More(String::new())));
        assert_eq!(parse_reply(b"+"), Some(Reply::More(String::new())));
        assert_eq!(parse_reply(b"+ eyJ9"), Some(Reply::More("eyJ9".into())));
        assert_eq!(parse_reply(b"+OKAY"), None);
        assert_eq!(parse_reply(b"-ERROR"), None);
        assert_eq!(parse_reply(b"* OK IMAP"), None);
        assert_eq!(parse_reply(b""), None);
        assert_eq!(parse_reply(b"\xff\xfe"), None);
    }

    #[test]
    fn listings() {
        assert_eq!(parse_two_numbers("2 320"), Some((2, 320)));
        assert_eq!(parse_two_numbers("2 320 extra"), Some((2, 320)));
        assert_eq!(parse_two_numbers("2"), None);
        assert_eq!(parse_two_numbers("x 3"), None);
        assert_eq!(parse_two_numbers("-1 3"), None);
        assert_eq!(
            parse_uidl("1 000000016b074190"),
            Some((1, "000000016b074190".into()))
        );
        assert_eq!(parse_uidl("1"), None);
        assert_eq!(parse_uidl(&format!("1 {}", "a".repeat(71))), None);
        assert_eq!(parse_uidl("a b"), None);
    }

    #[test]
    fn multiline_unstuffs_and_keeps_crlf() {
        rt().block_on(async {
            let mut c = conn_with(
                b"+OK 3 octets\r\nSubject: x\r\n\r\n..leading dot\r\n.\r\nnext\n.\r\n+OK after\r\n",
            )
            .await;
            assert_eq!(c.reply().await.unwrap(), Reply::Ok("3 octets".into()));
            let body = c.multiline(1 << 20, "message 1").await.unwrap();
            assert_eq!(body, b"Subject: x\r\n\r\n.leading dot\r\n".to_vec());
            // a bare LF line end from a sloppy server still ends the line
            let lines = c.multiline_lines(1024, "listing").await.unwrap();
            assert_eq!(lines, vec!["next".to_string()]);
            assert_eq!(c.reply().await.unwrap(), Reply::Ok("after".into()));
            assert!(!c.is_broken());
        });
    }

    #[test]
    fn empty_multiline() {
        rt().block_on(async {
            let mut c = conn_with(b".\r\n").await;
            assert!(c.multiline(10, "x").await.unwrap().is_empty());
        });
    }

    #[test]
    fn closed_mid_reply_is_a_network_error() {
        rt().block_on(async {
            let mut c = conn_with(b"line one\r\nline two without end").await;
            let e = c.multiline(1 << 20, "message 1").await.unwrap_err();
            assert_eq!(e.status, Status::NetworkError, "{e}");
            assert!(c.is_broken());
            let e = c.send("NOOP").await.unwrap_err();
            assert_eq!(e.status, Status::ProtocolError);
            assert!(e.message.contains("unusable"), "{e}");
        });
    }

    #[test]
    fn garbage_and_limits_are_protocol_errors() {
        rt().block_on(async {
            let mut c = conn_with(b"HTTP/1.1 400 Bad Request\r\n").await;
            let e = c.reply().await.unwrap_err();
            assert_eq!(e.status, Status::ProtocolError);
            assert!(e.message.contains("HTTP/1.1"), "{e}");

            let mut long = vec![b'a'; MAX_LINE + 10];
            long.extend_from_slice(b"\r\n");
            let mut c = conn_with(&long).await;
            let e = c.read_line().await.unwrap_err();
            assert_eq!(e.status, Status::ProtocolError);
            assert!(e.message.contains("longer"), "{e}");

            // no line end at all, endless: refused once past the limit, not buffered forever
            let mut c = conn_with(&vec![b'b'; MAX_LINE * 3]).await;
            assert_eq!(
                c.read_line().await.unwrap_err().status,
                Status::ProtocolError
            );

            let mut c = conn_with(b"0123456789\r\n0123456789\r\n.\r\n").await;
            let e = c.multiline(20, "message 7").await.unwrap_err();
            assert_eq!(e.status, Status::ProtocolError);
            assert!(e.message.contains("message 7"), "{e}");
            assert!(c.is_broken());
        });
    }

    #[test]
    fn commands() {
        rt().block_on(async {
            let (a, mut b) = duplex(4096);
            let mut c = Conn::new(a, "pop.test");
            b.write_all(b"+OK 2 320\r\n-ERR no such message\r\n")
                .await
                .unwrap();
            assert_eq!(c.command("STAT", "STAT").await.unwrap(), "2 320");
            let e = c.command("DELE 9", "DELE 9").await.unwrap_err();
            assert_eq!(e.status, Status::ProtocolError);
            assert_eq!(e.detail.as_deref(), Some("no such message"));
            assert!(!c.is_broken(), "-ERR leaves the connection usable");
            let e = c.send("USER a\r\nDELE 1").await.unwrap_err();
            assert_eq!(e.status, Status::InvalidArgument);
            drop(c);
            let mut sent = String::new();
            b.read_to_string(&mut sent).await.unwrap();
            assert_eq!(sent, "STAT\r\nDELE 9\r\n");
        });
    }
}
