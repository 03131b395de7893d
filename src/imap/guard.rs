//! Bounds on what an IMAP server may send after login, enforced below async-imap:
//! - a literal larger than the current limit: [`MAX_COMMAND_LITERAL`] for the commands
//!   async-imap reads (it keeps a whole reply in memory and, when the reply turns out malformed,
//!   formats all of it into its error), lifted only while `fetch_reader` reads a UID FETCH
//!   itself, one message at a time, within the account's message size limit;
//! - a line longer than [`MAX_LINE`] outside literals (async-imap re-parses its whole buffer on
//!   every read);
//! - a server that keeps talking without progress: no command sent and no literal byte received
//!   for the account's timeout while lines keep coming (untagged junk) ends the session too —
//!   the idle timeout below only catches silence.
//!
//! Each ends the session with a protocol error instead of exhausting memory, CPU or time.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Largest literal in the replies async-imap reads (folder names, search results: small).
pub const MAX_COMMAND_LITERAL: u64 = 1 << 20;
/// Longest line outside literals.
pub const MAX_LINE: usize = 1 << 20;
/// Longest line of a SEARCH reply (a UID list: about 7 bytes a message, so a folder of two
/// million messages).
pub const MAX_SEARCH_LINE: usize = 16 << 20;

pub struct Guard<S> {
    inner: S,
    /// Largest literal accepted now.
    max_literal: u64,
    /// Longest line accepted now.
    max_line: usize,
    /// How long the server may talk without progress.
    progress_limit: std::time::Duration,
    last_progress: std::time::Instant,
    /// Server bytes read before the guard took over (delivered first).
    read_ahead: Vec<u8>,
    /// A command already on the wire (sent ahead, before the greeting): async-imap's writes must
    /// repeat it byte for byte and are not sent again; `repeated` of it so far.
    sent_ahead: Vec<u8>,
    repeated: usize,
    /// The first `strict` bytes of `sent_ahead` must be repeated; the rest only if the next
    /// command is written at all (a SASL exchange that fails writes its answer instead).
    strict: usize,
    /// Bytes of literal data still to come.
    literal_left: u64,
    line_len: usize,
    /// The last bytes of the current line, to see a `{N}` announcement at its end.
    tail: Vec<u8>,
}

impl<S> Guard<S> {
    /// A guard allowing `progress_limit` between two signs of progress (a command sent, a
    /// literal byte received).
    pub fn new(inner: S, progress_limit: std::time::Duration) -> Guard<S> {
        Guard {
            inner,
            max_literal: MAX_COMMAND_LITERAL,
            max_line: MAX_LINE,
            progress_limit,
            last_progress: std::time::Instant::now(),
            read_ahead: Vec::new(),
            sent_ahead: Vec::new(),
            repeated: 0,
            strict: 0,
            literal_left: 0,
            line_len: 0,
            tail: Vec::with_capacity(32),
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Sets how long the server may talk without progress (IDLE: as long as the wait), and
    /// counts from now.
    pub fn set_progress_limit(&mut self, limit: std::time::Duration) {
        self.progress_limit = limit;
        self.progress();
    }

    /// Sets the longest line accepted from now on (a SEARCH reply is one line).
    pub fn set_max_line(&mut self, bytes: usize) {
        self.max_line = bytes;
    }

    /// Server bytes already read (after the greeting): the first reads return them.
    pub fn set_read_ahead(&mut self, bytes: Vec<u8>) {
        self.read_ahead = bytes;
    }

    /// Commands already sent: the next writes must be exactly these bytes and are swallowed
    /// (anything else is an error: the server got a different command). Past the first
    /// `strict` bytes, a write that does not start the rest gives the rest up and goes out (the
    /// commands sent after a login the server refused).
    pub fn set_sent_ahead(&mut self, bytes: Vec<u8>, strict: usize) {
        self.sent_ahead = bytes;
        self.repeated = 0;
        self.strict = strict;
    }

    /// Sets the largest literal accepted from now on.
    pub fn set_max_literal(&mut self, bytes: u64) {
        self.max_literal = bytes;
    }

    fn progress(&mut self) {
        self.last_progress = std::time::Instant::now();
    }

    /// Checks newly read bytes.
    fn scan(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.literal_left > 0 {
                let n = (self.literal_left.min(data.len() as u64)) as usize;
                self.literal_left -= n as u64;
                data = &data[n..];
                self.progress();
                continue;
            }
            let b = data[0];
            data = &data[1..];
            if b == b'\n' {
                self.literal_left = literal_size(&self.tail, self.max_literal)?;
                self.line_len = 0;
                self.tail.clear();
                continue;
            }
            self.line_len += 1;
            if self.line_len > self.max_line {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the server sent a line longer than {} KiB",
                        self.max_line >> 10
                    ),
                ));
            }
            if b == b'0' && self.tail.last() == Some(&b'{') {
                // a leading zero of a literal's size: `{000…0500000000}` is `{500000000}`,
                // however many zeros push the `{` out of the tail (fuzz_regressions.rs)
                continue;
            }
            if self.tail.len() == 32 {
                self.tail.remove(0);
            }
            self.tail.push(b);
        }
        if self.last_progress.elapsed() > self.progress_limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the server kept sending for {} s without answering the command",
                    self.progress_limit.as_secs()
                ),
            ));
        }
        Ok(())
    }
}

/// The N of a line ending in `{N}` or `{N+}` (before the CR), else 0; above `max`, an error.
fn literal_size(tail: &[u8], max: u64) -> io::Result<u64> {
    let t = tail.strip_suffix(b"\r").unwrap_or(tail);
    let Some(t) = t.strip_suffix(b"}") else {
        return Ok(0);
    };
    let t = t.strip_suffix(b"+").unwrap_or(t);
    let Some(open) = t.iter().rposition(|&c| c == b'{') else {
        return Ok(0);
    };
    let digits = &t[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Ok(0);
    }
    let too_big = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the server announced a literal larger than {} KiB",
                max >> 10
            ),
        )
    };
    let n: u64 = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(too_big)?;
    if n > max {
        return Err(too_big());
    }
    Ok(n)
}

impl<S> std::fmt::Debug for Guard<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Guard")
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        if !this.read_ahead.is_empty() {
            let n = this.read_ahead.len().min(buf.remaining());
            let chunk: Vec<u8> = this.read_ahead.drain(..n).collect();
            if let Err(e) = this.scan(&chunk) {
                return Poll::Ready(Err(e));
            }
            buf.put_slice(&chunk);
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = buf.filled()[before..].to_vec();
                let r = this.scan(&new);
                if r.is_err() {
                    // a failed read reads nothing (tokio's AsyncReadExt asserts it)
                    buf.set_filled(before);
                }
                Poll::Ready(r)
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.repeated == this.strict && this.repeated < this.sent_ahead.len() && {
            let expected = &this.sent_ahead[this.repeated..];
            let n = expected.len().min(buf.len());
            buf[..n] != expected[..n]
        } {
            this.sent_ahead = Vec::new();
            this.repeated = 0;
            this.strict = 0;
        }
        if this.repeated < this.sent_ahead.len() {
            let expected = &this.sent_ahead[this.repeated..];
            let n = expected.len().min(buf.len());
            if buf[..n] != expected[..n] {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the command differs from the one sent ahead",
                )));
            }
            this.repeated += n;
            if this.repeated == this.sent_ahead.len() {
                this.sent_ahead = Vec::new();
                this.repeated = 0;
            }
            this.progress();
            return Poll::Ready(Ok(n));
        }
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            if *n > 0 {
                this.progress(); // a command: the server's reply is progress again
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_sent_ahead_is_not_sent_twice_and_read_ahead_bytes_come_first() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (a, mut b) = tokio::io::duplex(1024);
            let mut g = Guard::new(a, std::time::Duration::from_secs(60));
            g.set_sent_ahead(b"A0001 AUTHENTICATE X y\r\n".to_vec(), 24);
            g.set_read_ahead(b"A0001 OK done\r\n".to_vec());
            for part in [&b"A0001"[..], b" ", b"AUTHENTICATE X y", b"\r\n"] {
                g.write_all(part).await.unwrap();
            }
            g.write_all(b"A0002 LOGOUT\r\n").await.unwrap();
            g.flush().await.unwrap();
            let mut got = [0u8; 14];
            b.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"A0002 LOGOUT\r\n", "only what was not sent ahead");
            b.write_all(b"* BYE\r\n").await.unwrap();
            let mut line = vec![0u8; 22];
            g.read_exact(&mut line).await.unwrap();
            assert_eq!(&line, b"A0001 OK done\r\n* BYE\r\n");
            // a different command is refused, not sent
            let (a, _b) = tokio::io::duplex(64);
            let mut g = Guard::new(a, std::time::Duration::from_secs(60));
            g.set_sent_ahead(b"A0001 AUTHENTICATE X y\r\n".to_vec(), 24);
            g.write_all(b"A0001").await.unwrap();
            assert!(g.write_all(b" LOGIN").await.is_err());
            // past the strict part: another write gives the rest up and goes out
            let (a, mut b) = tokio::io::duplex(1024);
            let mut g = Guard::new(a, std::time::Duration::from_secs(60));
            g.set_sent_ahead(b"A0001 AUTH\r\nA0002 EXAMINE\r\n".to_vec(), 12);
            g.write_all(b"A0001 AUTH\r\n").await.unwrap();
            g.write_all(b"AQ==\r\n").await.unwrap();
            g.write_all(b"A0002 LOGOUT\r\n").await.unwrap();
            g.flush().await.unwrap();
            let mut got = [0u8; 20];
            b.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"AQ==\r\nA0002 LOGOUT\r\n");
        });
    }

    #[test]
    fn literals_are_skipped_and_bounded() {
        let long = std::time::Duration::from_secs(60);
        let mut g = Guard::new((), long);
        g.scan(b"* 1 FETCH (BODY[] {5}\r\nab\ncd)\r\n").unwrap();
        assert_eq!(g.literal_left, 0);
        assert_eq!(g.line_len, 0);
        let e = Guard::new((), long)
            .scan(b"* 1 FETCH (BODY[] {999999999999}\r\n")
            .unwrap_err();
        assert!(e.to_string().contains("literal"));
        // a command's reply: small literals only; a FETCH read by hand: the message limit
        let mut g = Guard::new((), long);
        assert!(g.scan(b"* LIST () \"/\" {2000000}\r\n").is_err());
        g.set_max_literal(192 << 20);
        g.scan(b"* 1 FETCH (BODY[] {2000000}\r\n").unwrap();
        let e = Guard::new((), long)
            .scan(b"* 1 FETCH (BODY[] {500000000}\r\n")
            .unwrap_err();
        assert!(e.to_string().contains("KiB"));
        let junk = vec![b'x'; MAX_LINE + 1];
        assert!(Guard::new((), long).scan(&junk).is_err());
        // split across reads
        let mut g = Guard::new((), long);
        g.scan(b"* 2 FETCH (BODY[] {1").unwrap();
        g.scan(b"0}\r").unwrap();
        g.scan(b"\n0123456789)\r\n").unwrap();
        assert_eq!((g.literal_left, g.line_len), (0, 0));
    }

    #[test]
    fn talking_without_progress_is_bounded() {
        let mut g = Guard::new((), std::time::Duration::from_millis(50));
        g.scan(b"* OK still here\r\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(80));
        let e = g.scan(b"* OK still here\r\n").unwrap_err();
        assert!(e.to_string().contains("without answering"), "{e}");
        // literal bytes are progress
        let mut g = Guard::new((), std::time::Duration::from_millis(50));
        g.set_max_literal(1 << 20);
        g.scan(b"* 1 FETCH (BODY[] {100}\r\n").unwrap();
        for _ in 0..4 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            g.scan(&[b'x'; 20]).unwrap();
        }
    }
}
