//! The loopback redirect listener: binds 127.0.0.1 (and ::1 when the redirect host is
//! `localhost`) only, so no firewall prompt appears and nothing on the network can reach it.
//!
//! Requests are read with a size and time bound; the caller decides what each request means.

use crate::config::redirect::{LoopbackHost, RedirectUri};
use crate::error::{Error, Result, Status};
use crate::lang::Lang;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MAX_REQUEST_HEAD: usize = 16 * 1024;
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections read at once; more wait in the system's backlog.
const MAX_CONNECTIONS: usize = 32;

pub struct Listener {
    sockets: Vec<TcpListener>,
    pub port: u16,
    /// Connections whose request head is being read (aborted when the listener is dropped).
    reading: tokio::task::JoinSet<Option<Request>>,
}

/// One HTTP request received on the listener.
pub struct Request {
    pub stream: TcpStream,
    pub method: String,
    /// Path and query, e.g. `/?code=…&state=…`.
    pub target: String,
}

fn port_in_use(port: u16, lang: Lang, err: &std::io::Error) -> Error {
    Error::new(
        Status::PortInUse,
        lang.pick_string(
            format!("The redirect port {port} is in use by another program ({err}): close that program, or register another port in the app registration and in redirect_uri"),
            format!("Le port de redirection {port} est utilisé par un autre programme ({err}) : fermez ce programme, ou inscrivez un autre port dans l'inscription de l'application et dans redirect_uri"),
        ),
    )
}

fn bind_std(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Binds the listener(s) for `redirect` (inside the runtime). A busy port gives `PortInUse`
/// naming it.
pub fn bind(redirect: &RedirectUri, lang: Lang) -> Result<Listener> {
    let (std_sockets, port) = bind_sockets(redirect, lang)?;
    let mut sockets = Vec::new();
    for s in std_sockets {
        sockets.push(TcpListener::from_std(s).map_err(|e| Error::io("listener", &e))?);
    }
    Ok(Listener {
        sockets,
        port,
        reading: tokio::task::JoinSet::new(),
    })
}

fn bind_sockets(redirect: &RedirectUri, lang: Lang) -> Result<(Vec<std::net::TcpListener>, u16)> {
    let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (first, second) = match redirect.host {
            LoopbackHost::Ipv4 => (v4, None),
            LoopbackHost::Ipv6 => (v6, None),
            LoopbackHost::Localhost => (v4, Some(v6)),
        };
        let want = redirect.port.unwrap_or(0);
        let a = bind_std(SocketAddr::new(first, want)).map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse | std::io::ErrorKind::PermissionDenied => {
                port_in_use(want, lang, &e)
            }
            _ => Error::new(
                Status::IoError,
                format!("cannot listen on {first}:{want}: {e}"),
            ),
        })?;
        let port = a
            .local_addr()
            .map_err(|e| Error::io("listener address", &e))?
            .port();
        let mut std_sockets = vec![a];
        if let Some(second) = second {
            match bind_std(SocketAddr::new(second, port)) {
                Ok(b) => std_sockets.push(b),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    if redirect.port.is_some() {
                        return Err(port_in_use(port, lang, &e));
                    }
                    if attempts < 20 {
                        continue; // the free IPv4 port is taken on ::1: pick another
                    }
                    return Err(port_in_use(port, lang, &e));
                }
                // no IPv6 on this machine: 127.0.0.1 alone serves
                Err(_) => {}
            }
        }
        return Ok((std_sockets, port));
    }
}

/// Tells whether `redirect`'s fixed port can be bound now (`None`) or why not.
pub fn probe_port(redirect: &RedirectUri) -> Option<String> {
    redirect.port?;
    match bind_sockets(redirect, Lang::En) {
        Ok(_) => None,
        Err(e) if e.status == Status::PortInUse => Some(
            e.message
                .split('(')
                .nth(1)
                .and_then(|s| s.split(')').next())
                .unwrap_or("in use")
                .to_string(),
        ),
        Err(_) => None,
    }
}

impl Listener {
    /// The next request whose head was read, from any connection: connections are read
    /// concurrently (at most [`MAX_CONNECTIONS`] at once), so idle ones — browsers open
    /// speculative connections — never delay the real redirect. Connections that send nothing
    /// useful within [`REQUEST_READ_TIMEOUT`] are answered 400 and dropped.
    pub async fn next_request(&mut self) -> std::io::Result<Request> {
        let Listener {
            sockets, reading, ..
        } = self;
        loop {
            tokio::select! {
                accepted = accept_any(sockets), if reading.len() < MAX_CONNECTIONS => {
                    let (stream, _) = accepted?;
                    reading.spawn(read_request(stream));
                }
                Some(done) = reading.join_next(), if !reading.is_empty() => {
                    if let Ok(Some(request)) = done {
                        return Ok(request);
                    }
                }
            }
        }
    }
}

async fn accept_any(sockets: &[TcpListener]) -> std::io::Result<(TcpStream, SocketAddr)> {
    match sockets {
        [a] => a.accept().await,
        [a, b, ..] => tokio::select! {
            r = a.accept() => r,
            r = b.accept() => r,
        },
        [] => std::future::pending().await,
    }
}

/// Reads one connection's request head, bounded in size and time.
async fn read_request(mut stream: TcpStream) -> Option<Request> {
    match tokio::time::timeout(REQUEST_READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some((method, target)))) => Some(Request {
            stream,
            method,
            target,
        }),
        _ => {
            let _ = respond(&mut stream, 400, "text/plain", "bad request").await;
            None
        }
    }
}

/// Reads `METHOD TARGET HTTP/1.x` and the headers (ignored), bounded in size.
/// (`pub` and generic for the fuzz target `listener_head`.)
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> std::io::Result<Option<(String, String)>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            break;
        }
        if buf.len() > MAX_REQUEST_HEAD {
            return Ok(None);
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let line = text.lines().next().unwrap_or("");
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v)) if v.starts_with("HTTP/1.") => {
            Ok(Some((m.to_string(), t.to_string())))
        }
        _ => Ok(None),
    }
}

/// Writes a complete response and closes the connection.
pub async fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nContent-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    let _ = stream.shutdown().await;
    Ok(())
}
