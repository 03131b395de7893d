//! A TCP relay for benchmarks that adds round-trip time: each chunk is forwarded half the RTT
//! after it was read, in order, in both directions (TLS passes through untouched). It counts
//! the turns of each connection: client→server bursts that follow server→client data.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The turns of one connection.
#[derive(Default, Debug, Clone)]
pub struct Turns {
    /// 0 nothing yet, 1 the client sent last, 2 the server sent last.
    last: u8,
    /// Client→server bytes of each turn.
    pub client_bursts: Vec<u64>,
    pub server_bytes: u64,
}

/// Relays 127.0.0.1:`port` to 127.0.0.1:`upstream`, one [`Turns`] per connection, in accept
/// order.
pub struct DelayProxy {
    pub port: u16,
    conns: Arc<Mutex<Vec<Arc<Mutex<Turns>>>>>,
}

fn pump(
    mut from: TcpStream,
    to: TcpStream,
    turns: Arc<Mutex<Turns>>,
    client: bool,
    delay: Duration,
) {
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = std::thread::spawn(move || {
        let mut to = to;
        for (at, data) in rx {
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
            if to.write_all(&data).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut t = turns.lock().unwrap();
            if client {
                if t.last != 1 {
                    t.client_bursts.push(0);
                    t.last = 1;
                }
                *t.client_bursts.last_mut().unwrap() += n as u64;
            } else {
                t.server_bytes += n as u64;
                t.last = 2;
            }
        }
        if tx
            .send((Instant::now() + delay, buf[..n].to_vec()))
            .is_err()
        {
            break;
        }
    }
    drop(tx);
    let _ = writer.join();
}

impl DelayProxy {
    pub fn start(upstream: u16, rtt_ms: u64) -> DelayProxy {
        let delay = Duration::from_micros(rtt_ms * 500);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let conns: Arc<Mutex<Vec<Arc<Mutex<Turns>>>>> = Arc::default();
        let c2 = conns.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(client) = s else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let turns = Arc::new(Mutex::new(Turns::default()));
                c2.lock().unwrap().push(turns.clone());
                let (c_r, s_w) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let t = turns.clone();
                std::thread::spawn(move || pump(c_r, s_w, t, true, delay));
                std::thread::spawn(move || pump(server, client, turns, false, delay));
            }
        });
        DelayProxy { port, conns }
    }

    /// The connections since the last call.
    pub fn take(&self) -> Vec<Turns> {
        std::mem::take(&mut *self.conns.lock().unwrap())
            .into_iter()
            .map(|t| t.lock().unwrap().clone())
            .collect()
    }
}
