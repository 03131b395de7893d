//! Helpers shared by the fuzz targets: an in-memory peer that serves the fuzz input in chunks,
//! a poller for futures that never wait (everything they read is already there), and the
//! checks every `oauthmail::Error` must pass.

use oauthmail::config::Config;
use oauthmail::{Error, Status};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A peer that has sent `data` and then closed the connection: reads get at most `chunk`
/// bytes at a time (so a parser sees the same bytes split in different places), then end of
/// stream. Writes are kept in `written`. Never `Pending`.
pub struct Peer {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
    /// Everything the code under test wrote.
    pub written: Vec<u8>,
}

impl Peer {
    pub fn new(data: &[u8], chunk: usize) -> Peer {
        Peer {
            data: data.to_vec(),
            pos: 0,
            chunk: chunk.max(1),
            written: Vec::new(),
        }
    }

    /// How many bytes were read so far.
    pub fn consumed(&self) -> usize {
        self.pos
    }
}

impl AsyncRead for Peer {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = (self.data.len() - self.pos)
            .min(self.chunk)
            .min(buf.remaining());
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Peer {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A small chunk size derived from the input (1 to 7 bytes), so that runs split the same
/// bytes differently without spending input bytes on it.
pub fn small_chunk(data: &[u8]) -> usize {
    1 + data
        .iter()
        .fold(data.len(), |a, &b| a.wrapping_add(b as usize))
        % 7
}

/// Runs a future that never waits on anything but a [`Peer`] (which is always ready).
/// Panics if it returns `Pending`: that would be a wait on a timer or a runtime, which the
/// code reading a peer's bytes must not need.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1000 {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("the future kept returning Pending on an always-ready peer");
}

/// What every error returned to the host must be: a status other than Ok, and a message
/// that says something.
pub fn check_error(e: &Error) {
    assert_ne!(e.status, Status::Ok, "an error with status Ok: {e:?}");
    assert!(
        !e.message.trim().is_empty(),
        "an error without a message: {e:?}"
    );
    // the texts the C ABI hands out
    let _ = e.full_text();
    let _ = e.to_string();
}

/// [`check_error`], and the status the entry point documents.
pub fn check_error_status(e: &Error, expected: Status) {
    check_error(e);
    assert_eq!(e.status, expected, "unexpected status for {e:?}");
}

/// Two valid Office 365 configurations (English, French): for the code that needs an
/// account's configuration (provider error hints, the result page's language).
pub fn configs() -> &'static [Config; 2] {
    static C: OnceLock<[Config; 2]> = OnceLock::new();
    C.get_or_init(|| {
        let make = |lang: &str| {
            Config::from_json(&format!(
                r#"{{"provider":"office365","client_id":"c0ffee00-1234-4321-abcd-0123456789ab",
                    "client_secret":"s3cr3t-value","tenant":"contoso.onmicrosoft.com",
                    "email":"jean@contoso.com","language":"{lang}"}}"#
            ))
            .expect("the fuzz targets' configuration")
        };
        [make("en"), make("fr")]
    })
}
