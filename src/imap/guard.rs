//! Bounds on what an IMAP server may send after login, enforced below async-imap: a literal
//! larger than [`MAX_LITERAL`] (async-imap would allocate it up front) or a line longer than
//! [`MAX_LINE`] outside literals (async-imap re-parses its whole buffer on every read) ends the
//! session with a protocol error instead of exhausting memory or CPU.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Largest literal (message) accepted: above Exchange Online's 150 MB limit with encoding.
pub const MAX_LITERAL: u64 = 192 << 20;
/// Longest line outside literals.
pub const MAX_LINE: usize = 1 << 20;

pub struct Guard<S> {
    inner: S,
    /// Bytes of literal data still to come.
    literal_left: u64,
    line_len: usize,
    /// The last bytes of the current line, to see a `{N}` announcement at its end.
    tail: Vec<u8>,
}

impl<S> Guard<S> {
    pub fn new(inner: S) -> Guard<S> {
        Guard {
            inner,
            literal_left: 0,
            line_len: 0,
            tail: Vec::with_capacity(32),
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Checks newly read bytes.
    fn scan(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.literal_left > 0 {
                let n = (self.literal_left.min(data.len() as u64)) as usize;
                self.literal_left -= n as u64;
                data = &data[n..];
                continue;
            }
            let b = data[0];
            data = &data[1..];
            if b == b'\n' {
                self.literal_left = literal_size(&self.tail)?;
                self.line_len = 0;
                self.tail.clear();
                continue;
            }
            self.line_len += 1;
            if self.line_len > MAX_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the server sent a line longer than {} KiB", MAX_LINE >> 10),
                ));
            }
            if self.tail.len() == 32 {
                self.tail.remove(0);
            }
            self.tail.push(b);
        }
        Ok(())
    }
}

/// The N of a line ending in `{N}` or `{N+}` (before the CR), else 0.
fn literal_size(tail: &[u8]) -> io::Result<u64> {
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
                "the server announced a literal larger than {} MiB",
                MAX_LITERAL >> 20
            ),
        )
    };
    let n: u64 = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(too_big)?;
    if n > MAX_LITERAL {
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
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = buf.filled()[before..].to_vec();
                Poll::Ready(this.scan(&new))
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
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
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
    fn literals_are_skipped_and_bounded() {
        let mut g = Guard::new(());
        g.scan(b"* 1 FETCH (BODY[] {5}\r\nab\ncd)\r\n").unwrap();
        assert_eq!(g.literal_left, 0);
        assert_eq!(g.line_len, 0);
        let e = Guard::new(())
            .scan(b"* 1 FETCH (BODY[] {999999999999}\r\n")
            .unwrap_err();
        assert!(e.to_string().contains("literal"));
        let e = Guard::new(())
            .scan(b"* 1 FETCH (BODY[] {500000000}\r\n")
            .unwrap_err();
        assert!(e.to_string().contains("MiB"));
        let junk = vec![b'x'; MAX_LINE + 1];
        assert!(Guard::new(()).scan(&junk).is_err());
        // split across reads
        let mut g = Guard::new(());
        g.scan(b"* 2 FETCH (BODY[] {1").unwrap();
        g.scan(b"0}\r").unwrap();
        g.scan(b"\n0123456789)\r\n").unwrap();
        assert_eq!((g.literal_left, g.line_len), (0, 0));
    }
}
