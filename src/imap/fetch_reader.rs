//! UID FETCH, read by hand below async-imap: each message's literal is read straight into one
//! buffer of its announced size (bounded by the account's `max_message_mb`) and handed over,
//! so the memory a reply costs stays about the size of one message whatever the server sends.
//! (async-imap keeps the whole reply in a growing buffer, re-parses it on every read and, when
//! the reply turns out malformed, formats all of it into its error: ~13 times the message.)
//!
//! The session is async-imap's; this module borrows its stream between two of its commands
//! (nothing is buffered there then: a server speaks only when spoken to) and tags its command
//! `OMF<n>`, a tag async-imap never uses.

use super::guard::Guard;
use super::mailbox::Message;
use super::session::ImapSession;
use crate::error::{Error, Result, Status};
use crate::mail::transport::io_error;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest response line (outside literals); the guard below bounds it too.
const MAX_LINE: usize = super::guard::MAX_LINE;
/// Most lines of one untagged response that is not a FETCH (skipped).
const MAX_SKIPPED_LINES: usize = 1000;
/// What is read from the stream at a time.
const CHUNK: usize = 64 * 1024;

static TAGS: AtomicU32 = AtomicU32::new(1);

/// Reads from the stream, keeping what was read ahead of the current line.
struct Reader<'a, S> {
    s: &'a mut S,
    buf: Vec<u8>,
    pos: usize,
    host: &'a str,
}

impl<S: AsyncRead + Unpin> Reader<'_, S> {
    /// Reads more bytes into the buffer; the end of the stream is a network error.
    async fn fill(&mut self) -> Result<()> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > CHUNK {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let start = self.buf.len();
        self.buf.resize(start + CHUNK, 0);
        let n = self.s.read(&mut self.buf[start..]).await;
        let n = match n {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(start);
                return Err(io_error(self.host, &e));
            }
        };
        self.buf.truncate(start + n);
        if n == 0 {
            return Err(Error::new(
                Status::NetworkError,
                format!("{} closed the connection", self.host),
            ));
        }
        Ok(())
    }

    /// One line, without its CRLF.
    async fn line(&mut self) -> Result<Vec<u8>> {
        let mut searched = 0;
        loop {
            if let Some(i) = self.buf[self.pos + searched..]
                .iter()
                .position(|&b| b == b'\n')
            {
                let end = self.pos + searched + i;
                let mut line = self.buf[self.pos..end].to_vec();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.pos = end + 1;
                return Ok(line);
            }
            searched = self.buf.len() - self.pos;
            if searched > MAX_LINE {
                return Err(Error::new(
                    Status::ProtocolError,
                    format!(
                        "{} sent a line longer than {} KiB",
                        self.host,
                        MAX_LINE >> 10
                    ),
                ));
            }
            self.fill().await?;
        }
    }

    /// The next `n` bytes: kept (one allocation of `n`, filled as the bytes arrive) or dropped.
    async fn literal(&mut self, n: usize, keep: bool) -> Result<Option<Vec<u8>>> {
        let mut out = keep.then(|| Vec::with_capacity(n.min(CHUNK)));
        let mut left = n;
        while left > 0 {
            if self.pos == self.buf.len() {
                self.fill().await?;
            }
            let take = left.min(self.buf.len() - self.pos);
            if let Some(o) = out.as_mut() {
                if o.capacity() < n && o.len() + take > o.capacity() {
                    // the bytes are here: now it is worth holding the whole message
                    o.reserve_exact(n - o.len());
                }
                o.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            }
            self.pos += take;
            left -= take;
        }
        Ok(out)
    }
}

/// A token of a response line.
#[derive(Debug, PartialEq, Eq)]
enum Tok {
    Open,
    Close,
    Atom(String),
    Quoted(Vec<u8>),
    /// `{n}` at the end of the line: n bytes follow the line.
    Literal(usize),
    /// The end of the line.
    End,
}

/// The current line and a position in it.
struct Cursor {
    line: Vec<u8>,
    pos: usize,
}

impl Cursor {
    fn next(&mut self, host: &str) -> Result<Tok> {
        let l = &self.line;
        while self.pos < l.len() && l[self.pos] == b' ' {
            self.pos += 1;
        }
        if self.pos >= l.len() {
            return Ok(Tok::End);
        }
        let bad = |what: &str| {
            Error::new(
                Status::ProtocolError,
                format!("{host} sent a FETCH reply that is not valid IMAP ({what})"),
            )
        };
        match l[self.pos] {
            b'(' => {
                self.pos += 1;
                Ok(Tok::Open)
            }
            b')' => {
                self.pos += 1;
                Ok(Tok::Close)
            }
            b'"' => {
                let mut out = Vec::new();
                let mut i = self.pos + 1;
                while i < l.len() {
                    match l[i] {
                        b'\\' if i + 1 < l.len() => {
                            out.push(l[i + 1]);
                            i += 2;
                        }
                        b'"' => {
                            self.pos = i + 1;
                            return Ok(Tok::Quoted(out));
                        }
                        c => {
                            out.push(c);
                            i += 1;
                        }
                    }
                }
                Err(bad("unterminated quoted string"))
            }
            b'{' | b'~' => {
                let start = if l[self.pos] == b'~' {
                    self.pos + 1
                } else {
                    self.pos
                };
                let rest = &l[start..];
                let digits = rest
                    .strip_prefix(b"{")
                    .and_then(|r| r.strip_suffix(b"}"))
                    .map(|r| r.strip_suffix(b"+").unwrap_or(r))
                    .filter(|d| !d.is_empty() && d.iter().all(u8::is_ascii_digit))
                    .ok_or_else(|| bad("a literal not at the end of its line"))?;
                let n = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse::<usize>().ok())
                    .ok_or_else(|| bad("a literal size out of range"))?;
                self.pos = l.len();
                Ok(Tok::Literal(n))
            }
            _ => {
                // an atom; `BODY[HEADER.FIELDS (A B)]<0>` keeps its brackets whole
                let start = self.pos;
                let mut depth = 0usize;
                while self.pos < l.len() {
                    let c = l[self.pos];
                    match c {
                        b'[' => depth += 1,
                        b']' => depth = depth.saturating_sub(1),
                        b' ' | b'(' | b')' | b'"' | b'{' if depth == 0 => break,
                        _ => {}
                    }
                    self.pos += 1;
                }
                Ok(Tok::Atom(
                    String::from_utf8_lossy(&l[start..self.pos]).into_owned(),
                ))
            }
        }
    }
}

/// One FETCH response's fields.
#[derive(Default)]
struct Fetched {
    uid: Option<u32>,
    flags: Vec<String>,
    internal_date: Option<i64>,
    size: Option<u32>,
    body: Option<Vec<u8>>,
}

/// Reads a FETCH response or any other untagged one, literals included.
struct Responses<'a, S> {
    r: Reader<'a, S>,
    max_message: u64,
}

impl<S: AsyncRead + Unpin> Responses<'_, S> {
    /// The next token of the response, reading past literals: `Literal` tokens come back with
    /// their bytes read (kept when `keep`), the cursor on the line after them.
    async fn next(
        &mut self,
        c: &mut Cursor,
        keep: bool,
        uid: Option<u32>,
    ) -> Result<(Tok, Option<Vec<u8>>)> {
        let t = c.next(self.r.host)?;
        if let Tok::Literal(n) = t {
            let ceiling = u64::from(crate::config::preset::MAX_MESSAGE_MB_CEILING) << 20;
            if n as u64 > ceiling.max(self.max_message) {
                return Err(Error::new(
                    Status::ProtocolError,
                    format!(
                        "{} announced a literal of {} MiB, more than any mail server sends: the session was abandoned",
                        self.r.host,
                        n >> 20
                    ),
                ));
            }
            if n as u64 > self.max_message {
                let which = uid
                    .map(|u| format!("message UID {u}"))
                    .unwrap_or_else(|| "a message".into());
                return Err(Error::new(
                    Status::Unsupported,
                    format!(
                        "{} sent {which} of {} MiB, more than this account accepts (max_message_mb {}): it was not fetched",
                        self.r.host,
                        n >> 20,
                        self.max_message >> 20
                    ),
                )
                .with_hint("Raise max_message_mb in the account's settings (the process must have that much memory to spare), or move the message out of the folder."));
            }
            let data = self.r.literal(n, keep).await?;
            c.line = self.r.line().await?;
            c.pos = 0;
            return Ok((Tok::Literal(n), data));
        }
        Ok((t, None))
    }

    /// Skips one value (atom, string, literal or parenthesised list).
    async fn skip_value(&mut self, c: &mut Cursor, first: Tok) -> Result<()> {
        let mut depth = match first {
            Tok::Open => 1usize,
            Tok::Close | Tok::End => {
                return Err(Error::new(
                    Status::ProtocolError,
                    format!("{} sent a FETCH item without a value", self.r.host),
                ))
            }
            _ => return Ok(()),
        };
        while depth > 0 {
            match self.next(c, false, None).await?.0 {
                Tok::Open => depth += 1,
                Tok::Close => depth -= 1,
                Tok::End => {
                    return Err(Error::new(
                        Status::ProtocolError,
                        format!("{} sent an unterminated list in FETCH", self.r.host),
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The items of `* n FETCH (…)`, the cursor just after `FETCH`.
    async fn fetch_items(&mut self, c: &mut Cursor, want_body: bool) -> Result<Fetched> {
        let host = self.r.host.to_string();
        let bad = |what: &str| {
            Error::new(
                Status::ProtocolError,
                format!("{host} sent a FETCH reply that is not valid IMAP ({what})"),
            )
        };
        if self.next(c, false, None).await?.0 != Tok::Open {
            return Err(bad("no item list"));
        }
        let mut f = Fetched::default();
        loop {
            let name = match self.next(c, false, f.uid).await?.0 {
                Tok::Close => break,
                Tok::Atom(a) => a.to_ascii_uppercase(),
                other => return Err(bad(&format!("{other:?} where an item name was expected"))),
            };
            let number = |t: Tok| match t {
                Tok::Atom(a) => a.parse::<u32>().ok(),
                _ => None,
            };
            match name.as_str() {
                "UID" => {
                    f.uid =
                        Some(number(self.next(c, false, None).await?.0).ok_or_else(|| bad("UID"))?)
                }
                "RFC822.SIZE" => f.size = number(self.next(c, false, f.uid).await?.0),
                "FLAGS" => {
                    if self.next(c, false, f.uid).await?.0 != Tok::Open {
                        return Err(bad("FLAGS"));
                    }
                    loop {
                        match self.next(c, false, f.uid).await?.0 {
                            Tok::Close => break,
                            Tok::Atom(a) => f.flags.push(a),
                            _ => return Err(bad("FLAGS")),
                        }
                    }
                }
                "INTERNALDATE" => match self.next(c, false, f.uid).await?.0 {
                    Tok::Quoted(q) => f.internal_date = internal_date(&String::from_utf8_lossy(&q)),
                    t => self.skip_value(c, t).await?,
                },
                n if n.starts_with("BODY[") || n.starts_with("BINARY[") || n == "RFC822" => {
                    match self.next(c, want_body, f.uid).await? {
                        (Tok::Literal(_), data) => f.body = data,
                        (Tok::Quoted(q), _) => f.body = Some(q),
                        (Tok::Atom(a), _) if a.eq_ignore_ascii_case("NIL") => {}
                        (t, _) => self.skip_value(c, t).await?,
                    }
                }
                _ => {
                    let (t, _) = self.next(c, false, f.uid).await?;
                    self.skip_value(c, t).await?;
                }
            }
        }
        Ok(f)
    }

    /// Skips the rest of an untagged response (its literals too).
    async fn skip_response(&mut self, c: &mut Cursor) -> Result<()> {
        for _ in 0..MAX_SKIPPED_LINES {
            loop {
                match self.next(c, false, None).await?.0 {
                    Tok::End => return Ok(()),
                    Tok::Literal(_) => break, // the cursor is on the line after it
                    _ => {}
                }
            }
        }
        Err(Error::new(
            Status::ProtocolError,
            format!(
                "{} sent an untagged response of more than {MAX_SKIPPED_LINES} lines",
                self.r.host
            ),
        ))
    }
}

/// `17-Jul-1996 02:44:25 -0700` → Unix seconds.
fn internal_date(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_str(s.trim(), "%d-%b-%Y %H:%M:%S %z")
        .ok()
        .map(|d| d.timestamp())
}

/// How a FETCH command ended.
enum End {
    /// Its tagged OK.
    Ok,
    /// The session is over (BYE) or failed.
    Failed(Error),
}

/// Sends `UID FETCH` for `uids` and hands each message to `each` in the server's order, until
/// it returns `Ok(false)` (stop: the rest of the reply is read and dropped, so the session stays
/// usable) or an error. Returns the UIDs accepted — also when the session failed part-way —, the
/// UIDs whose body arrived, and the outcome. Literals above `max_message` bytes are refused
/// before they are read.
pub async fn uid_fetch<F>(
    session: &mut ImapSession,
    host: &str,
    set: &str,
    peek: bool,
    max_message: u64,
    each: &mut F,
) -> (Vec<u32>, std::collections::HashSet<u32>, Result<()>)
where
    F: FnMut(Message<'_>) -> Result<bool>,
{
    let stream: &mut Guard<_> = session.get_mut();
    // this reader bounds literals itself (refusing, with the setting to change, what is over
    // `max_message`) and holds one message at a time
    stream.set_max_literal(u64::MAX);
    let r = run(stream, host, set, peek, max_message, each).await;
    stream.set_max_literal(super::guard::MAX_COMMAND_LITERAL);
    r
}

async fn run<S, F>(
    stream: &mut S,
    host: &str,
    set: &str,
    peek: bool,
    max_message: u64,
    each: &mut F,
) -> (Vec<u32>, std::collections::HashSet<u32>, Result<()>)
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnMut(Message<'_>) -> Result<bool>,
{
    let mut accepted = Vec::new();
    let mut received = std::collections::HashSet::new();
    let tag = format!("OMF{}", TAGS.fetch_add(1, Ordering::Relaxed));
    let item = if peek { "BODY.PEEK[]" } else { "BODY[]" };
    let command = format!("{tag} UID FETCH {set} (UID FLAGS INTERNALDATE RFC822.SIZE {item})\r\n");
    if let Err(e) = async {
        stream.write_all(command.as_bytes()).await?;
        stream.flush().await
    }
    .await
    {
        return (accepted, received, Err(io_error(host, &e)));
    }
    let mut rs = Responses {
        r: Reader {
            s: stream,
            buf: Vec::new(),
            pos: 0,
            host,
        },
        max_message,
    };
    let mut outcome: Result<()> = Ok(());
    let mut stopped = false;
    let end = loop {
        let line = match rs.r.line().await {
            Ok(l) => l,
            Err(e) => break End::Failed(e),
        };
        let mut c = Cursor { line, pos: 0 };
        if let Some(rest) = c.line.strip_prefix(format!("{tag} ").as_bytes()) {
            let text = String::from_utf8_lossy(rest).into_owned();
            if text.len() >= 2 && text[..2].eq_ignore_ascii_case("OK") {
                break End::Ok;
            }
            break End::Failed(
                Error::new(
                    Status::ProtocolError,
                    format!("{host} refused the FETCH command"),
                )
                .with_detail(text.chars().take(300).collect::<String>()),
            );
        }
        let Some(untagged) = c.line.strip_prefix(b"* ") else {
            break End::Failed(Error::new(
                Status::ProtocolError,
                format!("{host} sent a reply that is not valid IMAP"),
            ));
        };
        let words: Vec<&[u8]> = untagged.splitn(3, |&b| b == b' ').collect();
        if words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case(b"BYE"))
        {
            let text: String = String::from_utf8_lossy(untagged)
                .chars()
                .take(300)
                .collect();
            break End::Failed(
                Error::new(Status::NetworkError, format!("{host} ended the session"))
                    .with_detail(text),
            );
        }
        let is_fetch = words.len() >= 2
            && words[0].iter().all(u8::is_ascii_digit)
            && words[1].eq_ignore_ascii_case(b"FETCH");
        if !is_fetch {
            if let Err(e) = rs.skip_response(&mut c).await {
                break End::Failed(e);
            }
            continue;
        }
        c.pos = "* ".len() + words[0].len() + 1 + words[1].len();
        let want_body = !stopped && outcome.is_ok();
        let f = match rs.fetch_items(&mut c, want_body).await {
            Ok(f) => f,
            Err(e) => break End::Failed(e),
        };
        let (Some(uid), Some(body)) = (f.uid, f.body) else {
            continue; // an unsolicited FETCH (a flag change): not ours
        };
        received.insert(uid);
        if !want_body {
            continue; // drained after a stop or a failure
        }
        let msg = Message {
            uid,
            flags: f.flags,
            internal_date: f.internal_date,
            size: f.size.unwrap_or(body.len() as u32),
            body: &body,
        };
        match each(msg) {
            Ok(true) => accepted.push(uid),
            Ok(false) => stopped = true,
            Err(e) => outcome = Err(e),
        }
    };
    match end {
        End::Ok => (accepted, received, outcome),
        End::Failed(e) => (accepted, received, outcome.and(Err(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A message as the callback saw it: uid, body, flags, date.
    type Seen = (u32, Vec<u8>, Vec<String>, Option<i64>);

    /// Runs a FETCH against a scripted server reply; returns (accepted, outcome, messages).
    fn script(reply: Vec<u8>, max: u64) -> (Vec<u32>, Result<()>, Vec<Seen>) {
        rt().block_on(async move {
            let (mut client, mut server) = duplex(1 << 20);
            let serve = tokio::spawn(async move {
                let mut cmd = vec![0u8; 256];
                let n = server.read(&mut cmd).await.unwrap();
                let line = String::from_utf8_lossy(&cmd[..n]).to_string();
                let tag = line.split(' ').next().unwrap().to_string();
                let reply = String::from_utf8_lossy(&reply).replace("TAG", &tag);
                let _ = server.write_all(reply.as_bytes()).await;
                line
            });
            let mut got = Vec::new();
            let (acc, _, r) = run(
                &mut client,
                "imap.test",
                "1:3",
                true,
                max,
                &mut |m: Message<'_>| {
                    got.push((m.uid, m.body.to_vec(), m.flags.clone(), m.internal_date));
                    Ok(true)
                },
            )
            .await;
            let line = serve.await.unwrap();
            assert!(
                line.contains("UID FETCH 1:3 (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"),
                "{line}"
            );
            (acc, r, got)
        })
    }

    #[test]
    fn messages_flags_dates_and_unsolicited_responses() {
        let reply = b"* 1 FETCH (UID 1 FLAGS (\\Seen $Label) INTERNALDATE \" 7-Jul-2026 10:00:00 +0200\" RFC822.SIZE 5 BODY[] {5}\r\nhello)\r\n\
* 3 EXISTS\r\n* OK [ALERT] hi\r\n\
* 2 FETCH (FLAGS (\\Deleted))\r\n\
* 2 FETCH (UID 2 X-GM-LABELS (\"a b\" {3}\r\nxyz) BODY[] \"quoted\" MODSEQ (12))\r\n\
TAG OK done\r\n".to_vec();
        let (acc, r, got) = script(reply, 1 << 20);
        r.unwrap();
        assert_eq!(acc, vec![1, 2]);
        assert_eq!(got[0].1, b"hello");
        assert_eq!(got[0].2, vec!["\\Seen", "$Label"]);
        assert_eq!(got[0].3, Some(1_783_411_200));
        assert_eq!(got[1].1, b"quoted");
    }

    #[test]
    fn a_short_literal_a_bye_and_a_refusal_are_errors() {
        // one byte short: the reply does not parse, and the error is short
        let mut reply = b"* 1 FETCH (UID 1 BODY[] {10}\r\n123456789)\r\nTAG OK done\r\n".to_vec();
        reply.extend(b"* 9 FETCH (UID 9)\r\n");
        let (acc, r, _) = script(reply, 1 << 20);
        let e = r.unwrap_err();
        assert!(acc.is_empty());
        assert!(e.message.len() < 200, "{e}");
        let (_, r, got) = script(b"* 1 FETCH (UID 1 BODY[] {1}\r\nx)\r\n* BYE Session invalidated - AccessTokenExpired\r\n".to_vec(), 1 << 20);
        assert_eq!(got.len(), 1);
        let e = r.unwrap_err();
        assert_eq!(e.status, Status::NetworkError);
        assert!(e.detail.unwrap().contains("AccessTokenExpired"));
        let (_, r, _) = script(b"TAG NO [SERVERBUG] nope\r\n".to_vec(), 1 << 20);
        assert_eq!(r.unwrap_err().status, Status::ProtocolError);
    }

    #[test]
    fn a_literal_over_the_limit_is_refused_before_it_is_read() {
        let (acc, r, _) = script(b"* 1 FETCH (UID 4 BODY[] {2000000}\r\n".to_vec(), 1 << 20);
        assert!(acc.is_empty());
        let e = r.unwrap_err();
        assert_eq!(e.status, Status::Unsupported);
        assert!(
            e.message.contains("UID 4") && e.message.contains("max_message_mb"),
            "{e}"
        );
    }
}
