//! Connections to mail servers: TCP with a connect timeout, TLS with the account's trust
//! (verification always on), STARTTLS upgrades, and an idle timeout on every read and write so
//! a silent server never blocks a call past the configured timeout.

use crate::error::{Error, Result, Status};
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{sleep, Instant, Sleep};

/// A plain or TLS connection.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_tls() {
            "Stream::Tls"
        } else {
            "Stream::Plain"
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A stream whose reads and writes fail with `TimedOut` after `idle` without progress.
pub struct Timed<S> {
    inner: S,
    idle: Duration,
    read_deadline: Option<Pin<Box<Sleep>>>,
    write_deadline: Option<Pin<Box<Sleep>>>,
    /// Bytes read so far (for the caller's accounting).
    pub bytes_read: u64,
}

impl<S> Timed<S> {
    pub fn new(inner: S, idle: Duration) -> Timed<S> {
        Timed {
            inner,
            idle,
            read_deadline: None,
            write_deadline: None,
            bytes_read: 0,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Sets how long a read or write may wait without progress (IDLE: longer than the server's
    /// silence between keepalives).
    pub fn set_idle(&mut self, idle: Duration) {
        self.idle = idle;
        self.read_deadline = None;
        self.write_deadline = None;
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> fmt::Debug for Timed<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Timed")
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the server sent nothing within the timeout",
    )
}

/// Polls the deadline; `true` when it has passed.
/// The outcome of an inner poll under an idle deadline: progress resets the deadline; no
/// progress past it is a `TimedOut` error.
fn bounded<T>(
    polled: Poll<io::Result<T>>,
    deadline: &mut Option<Pin<Box<Sleep>>>,
    idle: Duration,
    cx: &mut Context<'_>,
) -> Poll<io::Result<T>> {
    match polled {
        Poll::Ready(r) => {
            *deadline = None;
            Poll::Ready(r)
        }
        Poll::Pending => {
            let d = deadline.get_or_insert_with(|| Box::pin(sleep(idle)));
            if d.as_mut().poll(cx).is_ready() {
                *deadline = None;
                Poll::Ready(Err(timed_out()))
            } else {
                Poll::Pending
            }
        }
    }
}

use std::future::Future;

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if polled.is_ready() {
            this.bytes_read += (buf.filled().len() - before) as u64;
        }
        bounded(polled, &mut this.read_deadline, this.idle, cx)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        bounded(polled, &mut this.write_deadline, this.idle, cx)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        bounded(polled, &mut this.write_deadline, this.idle, cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        bounded(polled, &mut this.write_deadline, this.idle, cx)
    }
}

/// Opens a TCP connection within `timeout`, through `proxy` when there is one.
pub async fn connect_via(
    host: &str,
    port: u16,
    timeout: Duration,
    proxy: Option<&super::proxy::ProxyServer>,
) -> Result<TcpStream> {
    match proxy {
        Some(p) => super::proxy::tunnel(p, host, port, timeout).await,
        None => connect(host, port, timeout).await,
    }
}

/// Opens a TCP connection within `timeout`.
pub async fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
    let started = Instant::now();
    match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => Err(Error::new(
            Status::NetworkError,
            format!("cannot connect to {host}:{port} ({e}); check the server name and port, the network, a proxy or the firewall"),
        )),
        Err(_) => Err(Error::new(
            Status::NetworkError,
            format!("{host}:{port} did not accept the connection within {} s", started.elapsed().as_secs()),
        )),
    }
}

/// TLS handshake on `tcp` for `host`, verified with `config`, within `timeout`.
pub async fn tls(
    tcp: TcpStream,
    host: &str,
    config: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<Stream> {
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| Error::config(format!("`{host}` is not a valid server name for TLS")))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
        Ok(Ok(s)) => Ok(Stream::Tls(Box::new(s))),
        Ok(Err(e)) => match crate::tls::explain_tls_error(&e, host) {
            Some(text) => Err(Error::new(Status::TlsError, text)),
            // the connection dropped during the handshake: a network failure, worth retrying
            None if matches!(
                e.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            ) =>
            {
                Err(Error::new(
                    Status::NetworkError,
                    format!("{host} closed the connection during the TLS handshake ({e})"),
                ))
            }
            None => Err(Error::new(
                Status::TlsError,
                format!("TLS handshake with {host} failed: {e}"),
            )),
        },
        Err(_) => Err(Error::new(
            Status::Timeout,
            format!("TLS handshake with {host} did not finish in time"),
        )),
    }
}

/// Maps an I/O error during a mail session.
pub fn io_error(host: &str, e: &io::Error) -> Error {
    if e.kind() == io::ErrorKind::TimedOut {
        return Error::new(
            Status::Timeout,
            format!("{host} sent nothing within the timeout"),
        );
    }
    if e.kind() == io::ErrorKind::InvalidData && crate::tls::explain_tls_error(e, host).is_none() {
        // a bound of ours (literal or line size), or undecodable data: not worth a retry
        let text: String = e.to_string().chars().take(300).collect();
        return Error::new(Status::ProtocolError, format!("{host}: {text}"));
    }
    if let Some(t) = crate::tls::explain_tls_error(e, host) {
        return Error::new(Status::TlsError, t);
    }
    Error::new(
        Status::NetworkError,
        format!("connection to {host} failed: {e}"),
    )
}

/// Longest line accepted before TLS or login.
pub const MAX_PRE_LINE: usize = 16 * 1024;

/// Reads one line (LF-terminated, CR stripped) of the exchange done by hand before TLS or
/// login, bounded to [`MAX_PRE_LINE`]; bytes after it stay in `buf`. `phase` names the moment
/// in errors ("before login", "before TLS").
pub async fn read_pre_line(
    stream: &mut Timed<Stream>,
    buf: &mut Vec<u8>,
    host: &str,
    phase: &str,
) -> Result<String> {
    use tokio::io::AsyncReadExt;
    loop {
        if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..pos + 1).collect();
            let l = line[..pos].strip_suffix(b"\r").unwrap_or(&line[..pos]);
            return Ok(String::from_utf8_lossy(l).into_owned());
        }
        if buf.len() > MAX_PRE_LINE {
            return Err(Error::new(
                Status::ProtocolError,
                format!(
                    "{host}: a line longer than {} KiB {phase}",
                    MAX_PRE_LINE >> 10
                ),
            ));
        }
        let mut chunk = [0u8; 4096];
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| io_error(host, &e))?;
        if n == 0 {
            return Err(Error::new(
                Status::NetworkError,
                format!("{host} closed the connection"),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
