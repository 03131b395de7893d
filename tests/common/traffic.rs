//! A byte-forwarding TCP proxy that records what the client sent on each connection (in front
//! of a plain-text listener the commands are readable) and how many bytes the server sent back.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the client sent on each connection (the plain-text listener: commands readable) and the
/// bytes the server sent back.
#[derive(Default)]
pub struct Traffic {
    pub client: Vec<Vec<u8>>,
    pub server_bytes: u64,
    /// Per connection: (client bytes so far, server bytes forwarded so far) at each client chunk.
    pub marks: Vec<Vec<(usize, u64)>>,
    /// Per connection, with [`holding_proxy`]: whether the client had sent something when the
    /// server's first bytes (its greeting) were released.
    pub spoke_first: Vec<Option<bool>>,
}

/// Relays 127.0.0.1:<returned port> to `upstream` (at most 200 connections).
pub fn forwarding_proxy(upstream: u16) -> (u16, Arc<Mutex<Traffic>>) {
    holding_proxy(upstream, Duration::ZERO)
}

/// [`forwarding_proxy`] that holds the server's first bytes on each connection until the client
/// sent something or `hold` passed, and records which came first (`Traffic::spoke_first`): a
/// client that waits for the greeting waits `hold` longer.
pub fn holding_proxy(upstream: u16, hold: Duration) -> (u16, Arc<Mutex<Traffic>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let traffic = Arc::new(Mutex::new(Traffic::default()));
    let t = traffic.clone();
    std::thread::spawn(move || {
        for c in l.incoming().take(200) {
            let Ok(c) = c else { continue };
            let Ok(s) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let idx = {
                let mut g = t.lock().unwrap();
                g.client.push(Vec::new());
                g.marks.push(Vec::new());
                g.spoke_first.push(None);
                g.client.len() - 1
            };
            let (c2, s2) = (c.try_clone().unwrap(), s.try_clone().unwrap());
            let (ta, tb) = (t.clone(), t.clone());
            std::thread::spawn(move || {
                pump(c, s, move |b| {
                    let mut g = ta.lock().unwrap();
                    g.client[idx].extend_from_slice(b);
                    let mark = (g.client[idx].len(), g.server_bytes);
                    g.marks[idx].push(mark);
                })
            });
            std::thread::spawn(move || {
                let mut first = true;
                pump(s2, c2, move |b| {
                    if first && !hold.is_zero() {
                        first = false;
                        let until = std::time::Instant::now() + hold;
                        while tb.lock().unwrap().client[idx].is_empty()
                            && std::time::Instant::now() < until
                        {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        let mut g = tb.lock().unwrap();
                        g.spoke_first[idx] = Some(!g.client[idx].is_empty());
                    }
                    tb.lock().unwrap().server_bytes += b.len() as u64
                })
            });
        }
    });
    (port, traffic)
}

fn pump(mut from: TcpStream, mut to: TcpStream, mut seen: impl FnMut(&[u8])) {
    from.set_read_timeout(Some(Duration::from_secs(300))).ok();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                seen(&buf[..n]);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

impl Traffic {
    /// How many bytes the server had sent (on any connection) when the client's bytes
    /// containing `needle` on connection `conn` were forwarded.
    pub fn server_bytes_when_sent(&self, conn: usize, needle: &str) -> Option<u64> {
        let text = &self.client[conn];
        let at = text
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())?
            + needle.len();
        self.marks[conn]
            .iter()
            .find(|(len, _)| *len >= at)
            .map(|(_, server)| *server)
    }
}
