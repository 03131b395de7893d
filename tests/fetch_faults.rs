//! Fault injection for the IMAP fetch.
//!
//! 1. A byte-counting TCP proxy in front of Dovecot's IMAPS port cuts the connection after N
//!    bytes from server to client (TLS passes through untouched: the proxy only forwards bytes,
//!    the certificate is for 127.0.0.1). The cut points are found by a calibration run: the proxy
//!    notes, for every chunk the client sends, how many bytes the server had sent so far, which
//!    splits the encrypted stream into the server's answers (handshake, greeting, login, …,
//!    one burst per UID FETCH batch).
//! 2. Exchange Online's `* BYE Session invalidated - AccessTokenExpired` mid-batch.
//! 3. Hostile servers: garbage greeting, truncated literal, absurd literal sizes, silence,
//!    endless junk — bounded time, no partial message, bounded memory.
//! 4. STARTTLS configured but not offered.
//! 5. The connection lost, for good, just before the after-delivery step (IMAP STORE / MOVE,
//!    POP3 QUIT), found by the command text on Dovecot's plain-text listeners (loopback
//!    connections there count as secured, so the tokens are accepted without TLS): the next
//!    fetch does what was left.
//!
//! 2–4 use a hand-written plain-text IMAP server: no real server available here can send
//! Exchange's BYE, a truncated or absurd literal, endless junk, or a capability list without
//! STARTTLS on demand. Dovecot (through the proxy) is used wherever a real server can do it.

mod common;

use common::capi::{init, Acc, Got};
use common::mail::mail_sandbox;
use common::{authorized_as, sandbox, serial};
use oauthmail::ffi::status::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------------------------------
// memory of this process

/// A field of /proc/self/status in kB (VmRSS, VmHWM).
fn status_kb(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}

/// Samples VmRSS every 10 ms (and resets the kernel's VmHWM) to know the peak during a call.
struct RssWatch {
    start_kb: u64,
    peak_kb: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    h: Option<JoinHandle<()>>,
}

impl RssWatch {
    fn start() -> RssWatch {
        // "5" resets the peak RSS (VmHWM) of this process (Linux >= 4.0)
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let start_kb = status_kb("VmRSS");
        let peak_kb = Arc::new(AtomicU64::new(start_kb));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak_kb.clone(), stop.clone());
        let h = std::thread::spawn(move || {
            // bounded: at most 120 s of sampling
            for _ in 0..12_000 {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                p.fetch_max(status_kb("VmRSS"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        RssWatch {
            start_kb,
            peak_kb,
            stop,
            h: Some(h),
        }
    }

    /// (RSS before, peak during, RSS after), kB.
    fn finish(mut self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.h.take() {
            let _ = h.join();
        }
        let after = status_kb("VmRSS");
        let peak = self
            .peak_kb
            .load(Ordering::Relaxed)
            .max(status_kb("VmHWM"))
            .max(after);
        (self.start_kb, peak, after)
    }
}

// ------------------------------------------------------------------------------------------
// the cutting proxy

#[derive(Clone, Copy, Debug)]
enum Cut {
    Never,
    /// The first connection, after this many bytes from the server; later ones pass through.
    First(u64),
    /// Every connection, after this many bytes from the server.
    Every(u64),
    /// Plain-text connections only: the first connection is cut when the client sends a chunk
    /// containing this text (not forwarded: the server never gets it); every later
    /// connection is closed at once.
    OnClientThenRefuse(&'static str),
}

#[derive(Debug, Clone, Default)]
struct ConnLog {
    /// For each chunk the client sent: the bytes the server had sent before it.
    s2c_at_c2s: Vec<u64>,
    /// Bytes forwarded from the server.
    s2c_total: u64,
    cut: bool,
    /// Both directions are closed and `s2c_total` is final.
    done: bool,
}

struct Proxy {
    port: u16,
    logs: Arc<Mutex<Vec<ConnLog>>>,
    stop: Arc<AtomicBool>,
    h: Option<JoinHandle<()>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.h.take() {
            let _ = h.join();
        }
    }
}

impl Proxy {
    /// The connection logs, once every connection has ended (waits at most 5 s).
    fn logs(&self) -> Vec<ConnLog> {
        for _ in 0..500 {
            let g = self.logs.lock().unwrap();
            if g.iter().all(|l| l.done) {
                break;
            }
            drop(g);
            std::thread::sleep(Duration::from_millis(10));
        }
        self.logs.lock().unwrap().clone()
    }
}

/// A proxy on 127.0.0.1:0 in front of 127.0.0.1:`upstream`.
fn proxy(upstream: u16, cut: Cut) -> Proxy {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (logs2, stop2) = (logs.clone(), stop.clone());
    let h = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(120);
        let mut n = 0usize;
        let mut conns = Vec::new();
        while !stop2.load(Ordering::Relaxed) && Instant::now() < end && n < 50 {
            match l.accept() {
                Ok((c, _)) => {
                    let (limit, pattern) = match cut {
                        Cut::Never => (None, None),
                        Cut::First(b) => ((n == 0).then_some(b), None),
                        Cut::Every(b) => (Some(b), None),
                        Cut::OnClientThenRefuse(_) if n > 0 => {
                            let _ = c.shutdown(Shutdown::Both);
                            logs2.lock().unwrap().push(ConnLog {
                                cut: true,
                                done: true,
                                ..ConnLog::default()
                            });
                            n += 1;
                            continue;
                        }
                        Cut::OnClientThenRefuse(p) => (None, Some(p)),
                    };
                    let idx = {
                        let mut g = logs2.lock().unwrap();
                        g.push(ConnLog::default());
                        g.len() - 1
                    };
                    let lg = logs2.clone();
                    conns.push(std::thread::spawn(move || {
                        pump(c, upstream, limit, pattern, idx, lg)
                    }));
                    n += 1;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        for c in conns {
            let _ = c.join();
        }
    });
    Proxy {
        port,
        logs,
        stop,
        h: Some(h),
    }
}

fn pump(
    client: TcpStream,
    upstream: u16,
    limit: Option<u64>,
    pattern: Option<&'static str>,
    idx: usize,
    logs: Arc<Mutex<Vec<ConnLog>>>,
) {
    client.set_nonblocking(false).ok();
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    for s in [&client, &server] {
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        s.set_write_timeout(Some(Duration::from_secs(30))).ok();
        s.set_nodelay(true).ok();
    }
    let s2c = Arc::new(AtomicU64::new(0));
    // client -> server, noting the server's progress at each chunk
    let up = {
        let (mut from, mut to) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let (s2c, logs) = (s2c.clone(), logs.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                logs.lock().unwrap()[idx]
                    .s2c_at_c2s
                    .push(s2c.load(Ordering::SeqCst));
                if let Some(p) = pattern {
                    if buf[..n].windows(p.len()).any(|w| w == p.as_bytes()) {
                        logs.lock().unwrap()[idx].cut = true;
                        let _ = from.shutdown(Shutdown::Both);
                        let _ = to.shutdown(Shutdown::Both);
                        return;
                    }
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        })
    };
    // server -> client, cut after `limit` bytes
    let (mut from, mut to) = (server.try_clone().unwrap(), client.try_clone().unwrap());
    let mut buf = [0u8; 16384];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let cur = s2c.load(Ordering::SeqCst);
        if let Some(l) = limit {
            if cur + n as u64 >= l {
                let k = (l - cur) as usize;
                s2c.store(l, Ordering::SeqCst);
                let _ = to.write_all(&buf[..k]);
                logs.lock().unwrap()[idx].cut = true;
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
                break;
            }
        }
        // counted before forwarding: the client cannot answer bytes it has not seen
        s2c.store(cur + n as u64, Ordering::SeqCst);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = up.join();
    let mut g = logs.lock().unwrap();
    g[idx].s2c_total = s2c.load(Ordering::SeqCst);
    g[idx].done = true;
}

/// The server's answers in one calibration session: [start, end) in server-to-client bytes.
fn bursts(log: &ConnLog) -> Vec<(u64, u64)> {
    let mut points: Vec<u64> = log.s2c_at_c2s.clone();
    points.push(log.s2c_total);
    points.dedup();
    points
        .windows(2)
        .filter(|w| w[1] > w[0])
        .map(|w| (w[0], w[1]))
        .collect()
}

// ------------------------------------------------------------------------------------------
// Dovecot accounts

const SEEDED: u32 = 30;
const SIZE_KB: &str = "4";

fn imaps_account(acc_tokens: &Acc, user: &str, port: u16, timeout_secs: u32) -> Acc {
    let sb = sandbox();
    let acc = Acc::new(&sb.config(
        "confidential-app",
        json!({"email": user, "timeout_secs": timeout_secs,
               "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": port, "security": "tls"}}),
    ))
    .unwrap();
    acc.import(&acc_tokens.export()).unwrap();
    acc
}

/// Seeds `SEEDED` messages for `user` (seed `seed`) and returns an authorized account (its
/// incoming server is not used: copies point at proxies) and the seeded Message-IDs.
fn seeded(user: &str, seed: u32) -> (Acc, BTreeSet<String>) {
    let m = mail_sandbox();
    m.seed(
        user,
        SEEDED,
        "INBOX",
        &["--seed", &seed.to_string(), "--size-kb", SIZE_KB],
    );
    let acc = authorized_as(
        "confidential-app",
        user,
        json!({"email": user, "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": m.port("imaps_port"), "security": "tls"}}),
    );
    let ids = (0..SEEDED)
        .map(|i| format!("<seed-{seed}-{i}@example.test>"))
        .collect();
    (acc, ids)
}

/// The distinct IDs, and those seen more than once.
fn distinct(ids: &[String]) -> (BTreeSet<String>, Vec<String>) {
    let mut seen = BTreeSet::new();
    let dups = ids
        .iter()
        .filter(|i| !seen.insert((*i).clone()))
        .cloned()
        .collect();
    (seen, dups)
}

fn mid(g: &Got) -> String {
    g.header("Message-ID")
        .unwrap_or_else(|| format!("<no id, uid {}>", g.uid))
}

/// One proxied calibration fetch of the whole mailbox: the server's bursts.
fn calibrate(tokens: &Acc, user: &str) -> Vec<(u64, u64)> {
    let p = proxy(mail_sandbox().port("imaps_port"), Cut::Never);
    let acc = imaps_account(tokens, user, p.port, 20);
    let (summary, got) = acc.fetch(r#"{"batch_size": 10, "only_new": false}"#);
    assert_eq!(got.len(), SEEDED as usize, "calibration: {summary}");
    let logs = p.logs();
    assert_eq!(logs.len(), 1, "calibration used one connection");
    let b = bursts(&logs[0]);
    eprintln!("calibration bursts (server->client bytes): {b:?}");
    b
}

/// The three UID FETCH bursts (10 messages of ~4 KiB each: by far the largest).
fn fetch_bursts(b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let big: Vec<(u64, u64)> = b.iter().copied().filter(|(s, e)| e - s > 20_000).collect();
    assert_eq!(big.len(), 3, "expected 3 FETCH bursts in {b:?}");
    big
}

// ------------------------------------------------------------------------------------------
// 1. cuts through the proxy

#[test]
fn proxy_cut_of_the_first_connection_at_each_phase() {
    let _s = serial();
    init();
    let user = "faults-cut@example.test";
    let (tokens, seeded_ids) = seeded(user, 41);
    let b = calibrate(&tokens, user);
    let big = fetch_bursts(&b);
    // b[0]: the server's handshake flight (answer to ClientHello); b[1]: tickets + greeting
    // (answer to the client's Finished); b[2]: the "+ " continuation (answer to AUTHENTICATE)
    let handshake_end = b[0].1;
    let cuts: Vec<(&str, u64, bool)> = vec![
        ("mid TLS handshake", 40, false),
        ("mid server handshake flight", handshake_end / 2, false),
        (
            "during login (after AUTHENTICATE was sent)",
            b[2].0 + 1,
            true,
        ),
        (
            "early in the first FETCH batch (~1 message in)",
            big[0].0 + (big[0].1 - big[0].0) / 8,
            true,
        ),
        (
            "middle of the first FETCH batch",
            big[0].0 + (big[0].1 - big[0].0) / 2,
            true,
        ),
        (
            "at the calibrated end of the first batch (+-50 bytes: in its last message or OK)",
            big[1].0,
            true,
        ),
        (
            "just after the first batch (all 10 messages and OK), in message 11",
            big[1].0 + 200,
            true,
        ),
        (
            "middle of the last FETCH batch",
            big[2].0 + (big[2].1 - big[2].0) / 2,
            true,
        ),
    ];
    let mut failures = Vec::new();
    for (what, n, after_login) in cuts {
        let p = proxy(mail_sandbox().port("imaps_port"), Cut::First(n));
        let acc = imaps_account(&tokens, user, p.port, 20);
        let started = Instant::now();
        let mut accepted: Vec<String> = Vec::new();
        let (r, _) = acc.fetch_with(r#"{"batch_size": 10}"#, &mut |g| {
            accepted.push(mid(g));
            0
        });
        let first_accepted = accepted.len();
        let mut report = format!(
            "cut at {n} ({what}): first fetch {} in {:?}",
            match &r {
                Ok(s) => format!("ok {s}"),
                Err(e) => format!("failed {e:?}"),
            },
            started.elapsed()
        );
        match &r {
            Ok(s) => {
                if s["delivered"].as_u64() != Some(first_accepted as u64) {
                    failures.push(format!(
                        "{what}: summary.delivered = {} but the callback accepted {first_accepted}",
                        s["delivered"]
                    ));
                }
                if after_login && s["reconnects"].as_u64().unwrap_or(0) < 1 {
                    failures.push(format!("{what}: reconnects < 1 in {s}"));
                }
            }
            Err((status, msg)) => {
                if after_login {
                    failures.push(format!(
                        "{what}: the fetch failed ({status}, {msg}) instead of reconnecting"
                    ));
                }
                // the follow-up (later connections pass through)
                let (r2, _) = acc.fetch_with(r#"{"batch_size": 10}"#, &mut |g| {
                    accepted.push(mid(g));
                    0
                });
                report.push_str(&format!(
                    "; follow-up {:?}",
                    r2.as_ref().map(|s| s.to_string())
                ));
                if let Err(e) = r2 {
                    failures.push(format!("{what}: the follow-up fetch failed too: {e:?}"));
                }
            }
        }
        // and nothing more is pending
        let (r3, extra) = acc.fetch_with("{}", &mut |_| 0);
        if r3.is_err() || !extra.is_empty() {
            failures.push(format!(
                "{what}: a third fetch gave {:?} and {} messages",
                r3,
                extra.len()
            ));
        }
        let logs = p.logs();
        report.push_str(&format!(
            "; connections {}, first cut {}",
            logs.len(),
            logs.first().map(|l| l.cut).unwrap_or(false)
        ));
        eprintln!("{report}");
        if !logs.first().map(|l| l.cut).unwrap_or(false) {
            failures.push(format!("{what}: the proxy never reached byte {n}"));
        }
        let (seen, dups) = distinct(&accepted);
        if !dups.is_empty() {
            failures.push(format!("{what}: accepted twice: {dups:?}"));
        }
        if seen != seeded_ids {
            let missing: Vec<_> = seeded_ids.difference(&seen).collect();
            let unknown: Vec<_> = seen.difference(&seeded_ids).collect();
            failures.push(format!(
                "{what}: delivered set differs: missing {missing:?}, unexpected {unknown:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn proxy_cutting_every_connection_fails_cleanly() {
    let _s = serial();
    init();
    let user = "faults-cut-every@example.test";
    let (tokens, seeded_ids) = seeded(user, 42);
    let b = calibrate(&tokens, user);
    let big = fetch_bursts(&b);
    let mut failures = Vec::new();
    for (what, n) in [
        ("every connection after 40 bytes (TLS handshake)", 40),
        (
            "every connection in the middle of its first FETCH batch",
            big[0].0 + (big[0].1 - big[0].0) / 2,
        ),
    ] {
        let p = proxy(mail_sandbox().port("imaps_port"), Cut::Every(n));
        let acc = imaps_account(&tokens, user, p.port, 5);
        let started = Instant::now();
        let mut accepted: Vec<String> = Vec::new();
        let (r, _) = acc.fetch_with(r#"{"batch_size": 10}"#, &mut |g| {
            accepted.push(mid(g));
            0
        });
        let took = started.elapsed();
        let conns = p.logs().len();
        eprintln!(
            "{what}: {:?} after {took:?}, {conns} connections, {} accepted",
            r.as_ref().map(|s| s.to_string()),
            accepted.len()
        );
        match &r {
            Err((st, _)) if *st == OM_STATUS_NETWORK_ERROR || *st == OM_STATUS_TIMEOUT => {}
            other => failures.push(format!(
                "{what}: expected OM_STATUS_NETWORK_ERROR or OM_STATUS_TIMEOUT, got {other:?} after {conns} connection(s)"
            )),
        }
        if took > Duration::from_secs(30) {
            failures.push(format!("{what}: took {took:?}"));
        }
        let (_, dups) = distinct(&accepted);
        if !dups.is_empty() {
            failures.push(format!("{what}: accepted twice: {dups:?}"));
        }
        // without the cuts, the rest arrives, exactly once overall
        drop(p);
        let direct = imaps_account(&tokens, user, mail_sandbox().port("imaps_port"), 20);
        let state = acc.sync_state();
        direct.set_sync_state(&state);
        let (r2, _) = direct.fetch_with(r#"{"batch_size": 10}"#, &mut |g| {
            accepted.push(mid(g));
            0
        });
        if let Err(e) = r2 {
            failures.push(format!("{what}: the direct follow-up failed: {e:?}"));
        }
        let (all, dups) = distinct(&accepted);
        if !dups.is_empty() || all != seeded_ids {
            failures.push(format!(
                "{what}: after the follow-up: duplicates {dups:?}, {} distinct of {}",
                all.len(),
                seeded_ids.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn proxy_cut_mid_batch_with_delete_removes_every_accepted_message() {
    let _s = serial();
    init();
    let user = "faults-cut-delete@example.test";
    let (tokens, seeded_ids) = seeded(user, 43);
    let b = calibrate(&tokens, user);
    let big = fetch_bursts(&b);
    let n = big[0].0 + (big[0].1 - big[0].0) / 2;
    let p = proxy(mail_sandbox().port("imaps_port"), Cut::First(n));
    let acc = imaps_account(&tokens, user, p.port, 20);
    let mut accepted: Vec<String> = Vec::new();
    let (r, _) = acc.fetch_with(
        r#"{"batch_size": 10, "after_delivery": "delete"}"#,
        &mut |g| {
            accepted.push(mid(g));
            0
        },
    );
    eprintln!(
        "delete with a cut at {n}: {r:?}, {} accepted",
        accepted.len()
    );
    let summary = r.expect("the fetch reconnects after the cut");
    let distinct: BTreeSet<String> = accepted.iter().cloned().collect();
    assert_eq!(distinct.len(), accepted.len(), "nothing accepted twice");
    assert_eq!(distinct, seeded_ids);
    assert!(summary["reconnects"].as_u64().unwrap() >= 1, "{summary}");
    let left = mail_sandbox().count(user, "INBOX");
    assert_eq!(
        (left, summary["delivered"].as_u64().unwrap()),
        (0, SEEDED as u64),
        "every accepted message is deleted and counted (summary {summary}); {left} accepted messages are still on the server"
    );
}

// ------------------------------------------------------------------------------------------
// a hand-written plain-text IMAP server (see the module comment for why)

/// What the fake saw: lines received per connection, and decoded SASL initial responses.
#[derive(Default)]
struct Seen {
    lines: Vec<(usize, String)>,
    sasl: Vec<(usize, String)>,
}

struct Fake {
    port: u16,
    seen: Arc<Mutex<Seen>>,
    conns: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    h: Option<JoinHandle<()>>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.h.take() {
            let _ = h.join();
        }
    }
}

struct Conn {
    idx: usize,
    w: TcpStream,
    r: BufReader<TcpStream>,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
}

impl Conn {
    /// A line from the client (without CRLF); None at EOF, on error or after 10 s.
    fn line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if Instant::now() > end || self.stop.load(Ordering::Relaxed) {
                return None;
            }
            match (&mut self.r).take(64 * 1024).read_until(b'\n', &mut buf) {
                Ok(0) => return None,
                Ok(_) if buf.ends_with(b"\n") => break,
                Ok(_) => continue,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    continue
                }
                Err(_) => return None,
            }
        }
        let l = String::from_utf8_lossy(&buf)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        self.seen.lock().unwrap().lines.push((self.idx, l.clone()));
        Some(l)
    }

    fn send(&mut self, b: &[u8]) -> bool {
        self.w.write_all(b).is_ok()
    }

    /// Keeps the connection open, reading and dropping whatever comes, until the client closes
    /// it or `secs` pass.
    fn hold(&mut self, secs: u64) {
        let end = Instant::now() + Duration::from_secs(secs);
        let mut buf = [0u8; 4096];
        while Instant::now() < end && !self.stop.load(Ordering::Relaxed) {
            match self.r.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return,
            }
        }
    }
}

type Behaviour = dyn Fn(&mut Conn) + Send + Sync;

/// A fake server on 127.0.0.1:0 running `behaviour` on each connection (at most 20, for at most
/// 60 s).
fn fake(behaviour: Arc<Behaviour>) -> Fake {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let conns = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (seen2, conns2, stop2) = (seen.clone(), conns.clone(), stop.clone());
    let h = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(120);
        let mut threads = Vec::new();
        while !stop2.load(Ordering::Relaxed) && Instant::now() < end {
            match l.accept() {
                Ok((s, _)) => {
                    let idx = conns2.fetch_add(1, Ordering::SeqCst);
                    if idx >= 20 {
                        continue; // dropped: closed at once
                    }
                    s.set_nonblocking(false).ok();
                    s.set_read_timeout(Some(Duration::from_millis(200))).ok();
                    s.set_write_timeout(Some(Duration::from_secs(5))).ok();
                    let b = behaviour.clone();
                    let mut c = Conn {
                        idx,
                        w: s.try_clone().unwrap(),
                        r: BufReader::new(s),
                        seen: seen2.clone(),
                        stop: stop2.clone(),
                    };
                    threads.push(std::thread::spawn(move || {
                        b(&mut c);
                        let _ = c.w.shutdown(Shutdown::Both);
                    }));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        for t in threads {
            let _ = t.join();
        }
    });
    Fake {
        port,
        seen,
        conns,
        stop,
        h: Some(h),
    }
}

fn message(i: u32) -> Vec<u8> {
    format!(
        "Message-ID: <fake-{i}@example.test>\r\nFrom: a@example.test\r\nSubject: fake {i}\r\n\r\nbody of message {i}\r\n"
    )
    .into_bytes()
}

fn fetch_item(uid: u32, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "* {uid} FETCH (UID {uid} FLAGS () INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" RFC822.SIZE {n} BODY[] {{{n}}}\r\n",
        n = body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v.extend_from_slice(b")\r\n");
    v
}

/// `1:3,5,7:*` → UIDs among 1..=max.
fn parse_set(set: &str, max: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for part in set.split(',') {
        let num = |s: &str| {
            if s == "*" {
                max
            } else {
                s.parse().unwrap_or(0)
            }
        };
        let (a, b) = match part.split_once(':') {
            Some((a, b)) => (num(a), num(b)),
            None => (num(part), num(part)),
        };
        let (a, b) = (a.min(b), a.max(b));
        out.extend((a..=b.min(max)).filter(|u| *u >= 1));
    }
    out
}

/// What to do on UID FETCH: `false` ends the connection.
type OnFetch<'a> = &'a mut dyn FnMut(&mut Conn, &str, &[u32]) -> bool;

/// A minimal IMAP4rev1 server for the library's command sequence: greeting (with `caps`),
/// CAPABILITY, AUTHENTICATE (any mechanism, any credential), LOGIN, SELECT/EXAMINE of a folder
/// holding UIDs 1..=`count`, UID SEARCH, UID FETCH (through `on_fetch`), NOOP, LOGOUT.
fn imap_loop(c: &mut Conn, caps: &str, count: u32, on_fetch: OnFetch<'_>) {
    if !c.send(format!("* OK [CAPABILITY {caps}] fake IMAP ready\r\n").as_bytes()) {
        return;
    }
    for _ in 0..200 {
        let Some(line) = c.line() else { return };
        let (tag, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let tag = tag.to_string();
        let upper = rest.to_ascii_uppercase();
        let ok = |what: &str| format!("{tag} OK {what} completed\r\n");
        let reply = if upper.starts_with("CAPABILITY") {
            format!("* CAPABILITY {caps}\r\n{}", ok("CAPABILITY"))
        } else if upper.starts_with("AUTHENTICATE") {
            let ir = match rest.split_whitespace().nth(2) {
                Some(ir) => ir.to_string(),
                None => {
                    if !c.send(b"+ \r\n") {
                        return;
                    }
                    let Some(l) = c.line() else { return };
                    l
                }
            };
            use base64::Engine;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(ir.trim())
                .map(|d| String::from_utf8_lossy(&d).into_owned())
                .unwrap_or_else(|_| format!("<not base64: {ir}>"));
            let idx = c.idx;
            c.seen.lock().unwrap().sasl.push((idx, decoded));
            ok("AUTHENTICATE")
        } else if upper.starts_with("LOGIN") {
            ok("LOGIN")
        } else if upper.starts_with("SELECT") || upper.starts_with("EXAMINE") {
            format!(
                "* FLAGS (\\Seen \\Deleted)\r\n* {count} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 777] UIDs valid\r\n* OK [UIDNEXT {}] next\r\n{tag} OK [READ-ONLY] done\r\n",
                count + 1
            )
        } else if upper.starts_with("UID SEARCH") {
            // "UID SEARCH UID a:*"
            let from: u32 = upper
                .split_whitespace()
                .nth(3)
                .and_then(|s| s.split(':').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or(1);
            let uids: Vec<String> = (from.max(1)..=count).map(|u| u.to_string()).collect();
            format!("* SEARCH {}\r\n{}", uids.join(" "), ok("SEARCH"))
        } else if upper.starts_with("UID FETCH") {
            let set = rest.split_whitespace().nth(2).unwrap_or("");
            let uids = parse_set(set, count);
            if !on_fetch(c, &tag, &uids) {
                return;
            }
            continue;
        } else if upper.starts_with("LOGOUT") {
            let _ = c.send(format!("* BYE logging out\r\n{}", ok("LOGOUT")).as_bytes());
            return;
        } else if upper.starts_with("NOOP") {
            ok("NOOP")
        } else {
            format!("{tag} BAD unknown command\r\n")
        };
        if !c.send(reply.as_bytes()) {
            return;
        }
    }
}

/// Serves a UID FETCH completely.
fn serve_fetch(c: &mut Conn, tag: &str, uids: &[u32]) -> bool {
    let mut out = Vec::new();
    for &u in uids {
        out.extend(fetch_item(u, &message(u)));
    }
    out.extend(format!("{tag} OK FETCH completed\r\n").as_bytes());
    c.send(&out)
}

const CAPS: &str = "IMAP4rev1 AUTH=XOAUTH2 AUTH=OAUTHBEARER";
const FAKE_CLIENT: &str = "fake-client";
const FAKE_TOKEN_URL: &str = "https://127.0.0.1:9/token";
const FAKE_TOKEN: &str = "fake-access-token-abc";

/// An account on the fake at `port` with a valid imported token (no OAuth server involved).
fn fake_account(port: u16, security: &str, timeout_secs: u32) -> Acc {
    let mut c = json!({
        "provider": "custom",
        "client_id": FAKE_CLIENT,
        "authorize_url": "https://127.0.0.1:9/authorize",
        "token_url": FAKE_TOKEN_URL,
        "scopes": "mail offline_access",
        "redirect_uri": "http://127.0.0.1/",
        "email": "alice@example.test",
        "open_browser": false,
        "timeout_secs": timeout_secs,
        "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": port, "security": security},
    });
    if security == "none" {
        c["allow_insecure_transport"] = json!(true);
    }
    let acc = Acc::new(&c.to_string()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut v = acc.export();
    v["version"] = json!(1);
    v["updated_at"] = json!(now);
    v["access_token"] = json!(FAKE_TOKEN);
    v["expires_at"] = json!(now + 86_400);
    v["refresh_token"] = json!("fake-refresh-token");
    v["token_type"] = json!("Bearer");
    acc.import(&v).unwrap();
    acc
}

// ------------------------------------------------------------------------------------------
// 2. Exchange's BYE when the token expires mid-session

fn bye_run(count: u32, batch: u32, bye_batch: usize, bye_after: usize) {
    let batches = Arc::new(AtomicUsize::new(0));
    let b2 = batches.clone();
    let f = fake(Arc::new(move |c: &mut Conn| {
        let first = c.idx == 0;
        let b3 = b2.clone();
        imap_loop(c, CAPS, count, &mut |c, tag, uids| {
            let k = b3.fetch_add(1, Ordering::SeqCst);
            if first && k == bye_batch {
                let mut out = Vec::new();
                for &u in uids.iter().take(bye_after) {
                    out.extend(fetch_item(u, &message(u)));
                }
                out.extend(b"* BYE Session invalidated - AccessTokenExpired\r\n");
                let _ = c.send(&out);
                return false;
            }
            serve_fetch(c, tag, uids)
        });
    }));
    let acc = fake_account(f.port, "none", 5);
    let mut accepted: Vec<String> = Vec::new();
    let started = Instant::now();
    let (r, _) = acc.fetch_with(&format!(r#"{{"batch_size": {batch}}}"#), &mut |g| {
        accepted.push(mid(g));
        0
    });
    let what = format!("{count} messages, batches of {batch}, BYE in batch {bye_batch} after {bye_after} message(s)");
    eprintln!(
        "{what}: {:?} in {:?}, {} connections",
        r.as_ref().map(|s| s.to_string()),
        started.elapsed(),
        f.conns.load(Ordering::SeqCst)
    );
    let mut failures = Vec::new();
    match &r {
        Ok(s) => {
            if s["reconnects"].as_u64().unwrap_or(0) < 1 {
                failures.push(format!("reconnects < 1: {s}"));
            }
            if s["delivered"].as_u64() != Some(accepted.len() as u64) {
                failures.push(format!(
                    "summary.delivered {} but {} accepted",
                    s["delivered"],
                    accepted.len()
                ));
            }
        }
        Err(e) => failures.push(format!("the fetch failed: {e:?}")),
    }
    let expected: Vec<String> = (1..=count)
        .map(|i| format!("<fake-{i}@example.test>"))
        .collect();
    if accepted != expected {
        failures.push(format!(
            "delivered {accepted:?}, expected each of 1..={count} once in order"
        ));
    }
    let seen = f.seen.lock().unwrap();
    let want = format!("user=alice@example.test\x01auth=Bearer {FAKE_TOKEN}\x01\x01");
    let logins: Vec<&(usize, String)> = seen.sasl.iter().collect();
    if !logins.iter().any(|(i, s)| *i >= 1 && *s == want) {
        failures.push(format!(
            "no login with the token on a later connection: {logins:?}"
        ));
    }
    drop(seen);
    assert!(failures.is_empty(), "{what}:\n{}", failures.join("\n"));
}

#[test]
fn exchange_bye_access_token_expired_mid_first_batch() {
    let _s = serial();
    init();
    bye_run(7, 3, 0, 2);
}

#[test]
fn exchange_bye_access_token_expired_mid_last_batch() {
    let _s = serial();
    init();
    bye_run(7, 5, 1, 1);
}

// ------------------------------------------------------------------------------------------
// 3. hostile servers

/// What a run against a hostile server gives: the fetch result, the messages delivered, the
/// time taken, the connections made, and memory (before, peak, after) in KiB.
type HostileRun = (
    Result<Value, (i32, String)>,
    Vec<Got>,
    Duration,
    usize,
    (u64, u64, u64),
);

/// Runs a fetch against `behaviour`; returns (result, delivered, elapsed, connections, memory).
fn hostile(behaviour: Arc<Behaviour>) -> HostileRun {
    hostile_with(behaviour, r#"{"batch_size": 10}"#)
}

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // fields 14 and 15 (utime, stime) are at 11 and 12 after the ")"; clock ticks of 1/100 s
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn hostile_with(behaviour: Arc<Behaviour>, options: &str) -> HostileRun {
    let f = fake(behaviour);
    let acc = fake_account(f.port, "none", 2);
    let watch = RssWatch::start();
    let cpu = cpu_time();
    let started = Instant::now();
    let (r, got) = acc.fetch_with(options, &mut |_| 0);
    let took = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu);
    let mem = watch.finish();
    let conns = f.conns.load(Ordering::SeqCst);
    eprintln!("(the fetch used {cpu:?} of CPU in {took:?})");
    (r, got, took, conns, mem)
}

fn check_hostile(
    what: &str,
    r: &Result<Value, (i32, String)>,
    got: &[Got],
    took: Duration,
    conns: usize,
    mem: (u64, u64, u64),
    allowed: &[i32],
) -> Vec<String> {
    let (before, peak, after) = mem;
    let status = r.as_ref().err().map(|e| e.0);
    let msg_len = r.as_ref().err().map(|e| e.1.len()).unwrap_or(0);
    eprintln!(
        "{what}: status {status:?} after {took:?}, {conns} connection(s), {} delivered, error text {msg_len} bytes; VmRSS before {} MiB, peak {} MiB, after {} MiB",
        got.len(),
        before / 1024,
        peak / 1024,
        after / 1024
    );
    if let Err((_, m)) = r {
        eprintln!(
            "{what}: error text starts {:?}",
            m.chars().take(300).collect::<String>()
        );
    }
    let mut f = Vec::new();
    match status {
        Some(s) if allowed.contains(&s) => {}
        _ => f.push(format!(
            "{what}: expected one of {allowed:?}, got {r:?}",
            r = r
                .as_ref()
                .map_err(|e| (e.0, e.1.chars().take(300).collect::<String>()))
        )),
    }
    if took > Duration::from_secs(15) {
        f.push(format!("{what}: took {took:?} (> 15 s)"));
    }
    if !got.is_empty() {
        f.push(format!(
            "{what}: {} partial message(s) delivered",
            got.len()
        ));
    }
    if peak.saturating_sub(before) > 200 * 1024 {
        f.push(format!(
            "{what}: memory grew by {} MiB (peak {} MiB from {} MiB)",
            (peak - before) / 1024,
            peak / 1024,
            before / 1024
        ));
    }
    if msg_len > 64 * 1024 {
        f.push(format!("{what}: the error message is {msg_len} bytes long"));
    }
    f
}

const NET_OR_TIMEOUT_OR_PROTO: [i32; 3] = [
    OM_STATUS_NETWORK_ERROR,
    OM_STATUS_TIMEOUT,
    OM_STATUS_PROTOCOL_ERROR,
];

#[test]
fn hostile_garbage_instead_of_a_greeting() {
    let _s = serial();
    init();
    let (r, got, took, conns, mem) = hostile(Arc::new(|c: &mut Conn| {
        let _ = c.send(
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 SSH-2.0-OpenSSH_9.2 HTTP/1.1 400\r\n",
        );
        c.hold(5);
    }));
    let f = check_hostile(
        "garbage greeting",
        &r,
        &got,
        took,
        conns,
        mem,
        &NET_OR_TIMEOUT_OR_PROTO,
    );
    assert!(f.is_empty(), "{}", f.join("\n"));
}

#[test]
fn hostile_truncated_literal_then_silence() {
    let _s = serial();
    init();
    let (r, got, took, conns, mem) = hostile(Arc::new(|c: &mut Conn| {
        imap_loop(c, CAPS, 3, &mut |c, _tag, _uids| {
            let body = message(1);
            let mut out = format!(
                "* 1 FETCH (UID 1 FLAGS () RFC822.SIZE {n} BODY[] {{{n}}}\r\n",
                n = body.len() + 500
            )
            .into_bytes();
            out.extend_from_slice(&body);
            let _ = c.send(&out);
            c.hold(20);
            false
        });
    }));
    let f = check_hostile(
        "truncated literal",
        &r,
        &got,
        took,
        conns,
        mem,
        &NET_OR_TIMEOUT_OR_PROTO,
    );
    assert!(f.is_empty(), "{}", f.join("\n"));
}

fn literal_then_silence(size: &'static str) -> Arc<Behaviour> {
    Arc::new(move |c: &mut Conn| {
        imap_loop(c, CAPS, 3, &mut |c, _tag, _uids| {
            let out = format!(
                "* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 100 BODY[] {{{size}}}\r\nMessage-ID: <x@y>\r\nSubject: a little data\r\n"
            );
            let _ = c.send(out.as_bytes());
            c.hold(20);
            false
        });
    })
}

#[test]
fn hostile_absurd_literal_size() {
    let _s = serial();
    init();
    let (r, got, took, conns, mem) = hostile(literal_then_silence("999999999999"));
    let f = check_hostile(
        "literal {999999999999}",
        &r,
        &got,
        took,
        conns,
        mem,
        &NET_OR_TIMEOUT_OR_PROTO,
    );
    assert!(f.is_empty(), "{}", f.join("\n"));
}

/// A literal size that fits in 32 bits and is just under async-imap's 512 MiB buffer cap: the
/// client must not reserve it before the bytes arrive (above max_message_mb, it is refused).
#[test]
fn hostile_large_literal_size_is_not_preallocated() {
    let _s = serial();
    init();
    let (r, got, took, conns, mem) = hostile(literal_then_silence("500000000"));
    // above the account's max_message_mb: refused before anything is read (naming the setting)
    let f = check_hostile(
        "literal {500000000}",
        &r,
        &got,
        took,
        conns,
        mem,
        &[OM_STATUS_UNSUPPORTED],
    );
    assert!(f.is_empty(), "{}", f.join("\n"));
}

/// A FETCH response that is well-formed for 1 MiB (a complete literal) and then malformed: the
/// error must stay short and must not carry the message's content.
#[test]
fn hostile_malformed_fetch_after_a_large_literal() {
    let _s = serial();
    init();
    let (r, got, took, conns, mem) = hostile(Arc::new(|c: &mut Conn| {
        imap_loop(c, CAPS, 3, &mut |c, _tag, _uids| {
            let mut body = b"Message-ID: <big@example.test>\r\nSubject: big\r\n\r\n".to_vec();
            while body.len() < 1 << 20 {
                body.extend_from_slice(
                    b"SECRET-BODY-LINE 0123456789 abcdefghijklmnopqrstuvwxyz\r\n",
                );
            }
            let mut out = format!(
                "* 1 FETCH (UID 1 FLAGS () RFC822.SIZE {n} BODY[] {{{n}}}\r\n",
                n = body.len()
            )
            .into_bytes();
            out.extend_from_slice(&body);
            out.extend_from_slice(b" \x01\x02((( not imap\r\n");
            let _ = c.send(&out);
            c.hold(20);
            false
        });
    }));
    let mut f = check_hostile(
        "malformed FETCH after a 1 MiB literal",
        &r,
        &got,
        took,
        conns,
        mem,
        &NET_OR_TIMEOUT_OR_PROTO,
    );
    if let Err((_, m)) = &r {
        let tail: String = m
            .chars()
            .rev()
            .take(200)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        eprintln!(
            "error text ends {tail:?}; contains the body as text: {}, as bytes: {}",
            m.contains("SECRET-BODY-LINE"),
            m.contains("83, 69, 67, 82, 69, 84")
        );
        if m.contains("SECRET-BODY-LINE") || m.contains("83, 69, 67, 82, 69, 84") {
            f.push("the error message carries the message's content".to_string());
        }
    }
    assert!(f.is_empty(), "{}", f.join("\n"));
}

#[test]
fn hostile_silence_after_accept() {
    let _s = serial();
    init();
    let (r, got, took, conns, mem) = hostile(Arc::new(|c: &mut Conn| c.hold(20)));
    let f = check_hostile(
        "silent server",
        &r,
        &got,
        took,
        conns,
        mem,
        &[OM_STATUS_TIMEOUT],
    );
    assert!(f.is_empty(), "{}", f.join("\n"));
}

#[test]
fn hostile_endless_junk_during_fetch() {
    let _s = serial();
    init();
    // shared budget over all connections: 64 MiB or 20 s, then connections are closed at once
    let sent = Arc::new(AtomicU64::new(0));
    let deadline = Arc::new(Mutex::new(None::<Instant>));
    let (sent2, deadline2) = (sent.clone(), deadline.clone());
    // The fetch is bounded at 16 s by the caller (timeout_ms) only so that this test ends: the
    // library itself must give up well before (asserted: < 15 s).
    let (r, got, took, conns, mem) = hostile_with(
        Arc::new(move |c: &mut Conn| {
            let (sent3, deadline3) = (sent2.clone(), deadline2.clone());
            imap_loop(c, CAPS, 3, &mut |c, _tag, _uids| {
                let junk = vec![b'x'; 64 * 1024];
                let end = *deadline3
                    .lock()
                    .unwrap()
                    .get_or_insert_with(|| Instant::now() + Duration::from_secs(20));
                for _ in 0..1024 {
                    if Instant::now() > end
                        || sent3.load(Ordering::SeqCst) >= 64 << 20
                        || c.stop.load(Ordering::Relaxed)
                    {
                        break;
                    }
                    // a write timeout (5 s) or a closed client ends it too
                    if !c.send(&junk) {
                        break;
                    }
                    sent3.fetch_add(junk.len() as u64, Ordering::SeqCst);
                }
                false
            });
        }),
        r#"{"batch_size": 10, "timeout_ms": 16000}"#,
    );
    eprintln!(
        "endless junk: the fake sent {} MiB",
        sent.load(Ordering::SeqCst) >> 20
    );
    let f = check_hostile(
        "endless junk without CRLF",
        &r,
        &got,
        took,
        conns,
        mem,
        &NET_OR_TIMEOUT_OR_PROTO,
    );
    assert!(f.is_empty(), "{}", f.join("\n"));
}

// ------------------------------------------------------------------------------------------
// 4. STARTTLS configured, not offered

#[test]
fn starttls_not_offered_is_a_tls_error_and_no_credential_is_sent() {
    let _s = serial();
    init();
    let mut failures = Vec::new();
    // capabilities in the greeting, and (second fake) only through CAPABILITY
    for in_greeting in [true, false] {
        let f = fake(Arc::new(move |c: &mut Conn| {
            let caps = "IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=PLAIN";
            if in_greeting {
                imap_loop(c, caps, 1, &mut serve_fetch);
                return;
            }
            if !c.send(b"* OK fake IMAP ready\r\n") {
                return;
            }
            for _ in 0..20 {
                let Some(l) = c.line() else { return };
                let tag = l.split(' ').next().unwrap_or("*").to_string();
                let reply = if l.to_ascii_uppercase().contains("CAPABILITY") {
                    format!("* CAPABILITY {caps}\r\n{tag} OK done\r\n")
                } else {
                    format!("{tag} OK whatever you say\r\n")
                };
                if !c.send(reply.as_bytes()) {
                    return;
                }
            }
        }));
        let acc = fake_account(f.port, "starttls", 5);
        let started = Instant::now();
        let (r, got) = acc.fetch_with("{}", &mut |_| 0);
        let took = started.elapsed();
        drop(acc);
        let lines: Vec<String> = {
            // the client may still be closing: give the fake a moment
            std::thread::sleep(Duration::from_millis(100));
            f.seen
                .lock()
                .unwrap()
                .lines
                .iter()
                .map(|l| l.1.clone())
                .collect()
        };
        eprintln!("STARTTLS not offered (caps in greeting: {in_greeting}): {r:?} in {took:?}; client sent {lines:?}");
        match &r {
            Err((st, msg)) if *st == OM_STATUS_TLS_ERROR => {
                if !msg.contains("STARTTLS") {
                    failures.push(format!("the message does not name STARTTLS: {msg}"));
                }
            }
            other => failures.push(format!("expected OM_STATUS_TLS_ERROR, got {other:?}")),
        }
        if !got.is_empty() {
            failures.push(format!("{} message(s) delivered", got.len()));
        }
        let creds: Vec<&String> = lines
            .iter()
            .filter(|l| {
                let u = l.to_ascii_uppercase();
                u.contains("AUTHENTICATE") || u.contains(" LOGIN") || u.contains(FAKE_TOKEN)
            })
            .collect();
        if !creds.is_empty() {
            failures.push(format!("credentials sent in clear: {creds:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ------------------------------------------------------------------------------------------
// 5. Cancel from another thread

/// A fetch blocked on a silent server (timeout 30 s) ends at once when another thread cancels.
#[test]
fn a_blocked_fetch_is_cancelled_from_another_thread() {
    let _s = serial();
    init();
    let f = fake(Arc::new(|c: &mut Conn| {
        imap_loop(c, CAPS, 3, &mut |c, _tag, _uids| {
            c.hold(20); // FETCH never answered
            false
        });
    }));
    let acc = Arc::new(fake_account(f.port, "none", 30));
    let a2 = acc.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        a2.cancel_all();
    });
    let started = Instant::now();
    let (r, got) = acc.fetch_with("{}", &mut |_| 0);
    canceller.join().unwrap();
    let (status, msg) = r.unwrap_err();
    assert_eq!(status, OM_STATUS_CANCELLED, "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(got.is_empty());
}

// ------------------------------------------------------------------------------------------
// 5. after-delivery steps lost with the connection

/// An account on Dovecot's plain-text listener `direct` (through `port`, a proxy).
fn plain_account(tokens: &Acc, user: &str, protocol: &str, port: u16) -> Acc {
    let acc = Acc::new(&sandbox().config(
        "confidential-app",
        json!({"email": user, "timeout_secs": 10, "allow_insecure_transport": true,
               "incoming": {"protocol": protocol, "host": "127.0.0.1", "port": port, "security": "none"}}),
    ))
    .unwrap();
    acc.import(&tokens.export()).unwrap();
    acc
}

fn flags_of(tokens: &Acc, user: &str) -> Vec<String> {
    let acc = imaps_account(tokens, user, mail_sandbox().port("imaps_port"), 20);
    let (_, got) = acc.fetch(r#"{"only_new": false}"#);
    got.iter().map(|g| g.flags.clone()).collect()
}

#[test]
fn imap_after_delivery_lost_with_the_connection_is_done_by_the_next_fetch() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let cases = [
        ("delete", r#"{"after_delivery": "delete"}"#, "STORE"),
        (
            "move",
            r#"{"after_delivery": "move", "move_to": "Traités"}"#,
            "MOVE",
        ),
        ("seen", r#"{"mark_seen": true}"#, "STORE"),
    ];
    for (i, (what, opts, pattern)) in cases.into_iter().enumerate() {
        let user = format!("faults-pending-{what}@example.test");
        m.seed(&user, 8, "INBOX", &["--seed", &(60 + i).to_string()]);
        let tokens = authorized_as(
            "confidential-app",
            &user,
            json!({"email": user, "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": m.port("imaps_port"), "security": "tls"}}),
        );
        let p = proxy(
            m.info["direct_ports"]["imap"].as_u64().unwrap() as u16,
            Cut::OnClientThenRefuse(pattern),
        );
        let acc = plain_account(&tokens, &user, "imap", p.port);
        let mut accepted = Vec::new();
        let (r, _) = acc.fetch_with(opts, &mut |g| {
            accepted.push(mid(g));
            0
        });
        assert_eq!(
            r.as_ref().err().map(|e| e.0),
            Some(OM_STATUS_NETWORK_ERROR),
            "{what}: {r:?} {:?}",
            p.logs()
        );
        assert_eq!(accepted.len(), 8, "{what}: all accepted before the cut");
        assert_eq!(
            m.count(&user, "INBOX"),
            8,
            "{what}: nothing done on the server yet"
        );
        // the state says what is left to do; the next fetch (another port, TLS) does it first
        let state = acc.sync_state();
        assert!(state.contains("imap_pending"), "{what}: {state}");
        let direct = imaps_account(&tokens, &user, m.port("imaps_port"), 20);
        direct.set_sync_state(&state);
        let (summary, got) = direct.fetch(opts);
        assert!(got.is_empty(), "{what}: nothing delivered again: {summary}");
        assert!(!direct.sync_state().contains("imap_pending"), "{what}");
        match what {
            "delete" => assert_eq!(m.count(&user, "INBOX"), 0, "deleted"),
            "move" => {
                assert_eq!(m.count(&user, "INBOX"), 0, "moved out");
                assert_eq!(m.count(&user, "Traités"), 8, "moved in");
            }
            _ => {
                let flags = flags_of(&tokens, &user);
                assert_eq!(flags.len(), 8);
                assert!(flags.iter().all(|f| f.contains("\\Seen")), "{flags:?}");
            }
        }
    }
}

#[test]
fn pop3_deletions_lost_before_quit_are_done_by_the_next_fetch() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "faults-pop-quit@example.test";
    m.seed(user, 24, "INBOX", &["--seed", "70"]);
    let tokens = authorized_as(
        "confidential-app",
        user,
        json!({"email": user, "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": m.port("imaps_port"), "security": "tls"}}),
    );
    let p = proxy(
        m.info["direct_ports"]["pop3"].as_u64().unwrap() as u16,
        Cut::OnClientThenRefuse("QUIT"),
    );
    let acc = plain_account(&tokens, user, "pop3", p.port);
    let mut accepted = Vec::new();
    let (r, _) = acc.fetch_with(r#"{"after_delivery": "delete"}"#, &mut |g| {
        accepted.push(mid(g));
        0
    });
    let e = r.unwrap_err();
    assert_eq!(e.0, OM_STATUS_NETWORK_ERROR, "{e:?}");
    assert_eq!(accepted.len(), 24);
    // the server never got QUIT: it rolled the deletions back
    assert_eq!(m.count(user, "INBOX"), 24);
    let direct = Acc::new(&sandbox().config(
        "confidential-app",
        json!({"email": user, "incoming": {"protocol": "pop3", "host": "localhost", "port": m.port("pop3s_port"), "security": "tls"}}),
    ))
    .unwrap();
    direct.import(&tokens.export()).unwrap();
    direct.set_sync_state(&acc.sync_state());
    let (summary, got) = direct.fetch(r#"{"after_delivery": "delete"}"#);
    assert!(got.is_empty(), "nothing delivered again: {summary}");
    assert_eq!(m.count(user, "INBOX"), 0, "the deletions were done");
    assert!(!direct.sync_state().contains("pending"));
}

// ------------------------------------------------------------------------------------------
// 6. memory and time bounds for any reply (hand-written server: see the module comment)

/// A literal one byte short of 100 MiB (then more data that cannot be IMAP): the reply costs
/// about the message's size, not a multiple of it (async-imap formatted the whole reply into its
/// parse error: ~13 times its size), and the error stays short.
#[test]
fn hostile_literal_one_byte_short_costs_about_its_size() {
    let _s = serial();
    init();
    const SIZE: usize = 100 << 20;
    let (r, got, took, conns, mem) = hostile(Arc::new(|c: &mut Conn| {
        imap_loop(c, CAPS, 3, &mut |c, tag, _uids| {
            let head = format!("* 1 FETCH (UID 1 RFC822.SIZE {SIZE} BODY[] {{{SIZE}}}\r\n");
            if !c.send(head.as_bytes()) {
                return false;
            }
            // binary content (invalid UTF-8 once escaped grows most), one byte short
            let chunk: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
            for i in 0..100 {
                let part = if i == 99 {
                    &chunk[..chunk.len() - 1]
                } else {
                    &chunk[..]
                };
                if !c.send(part) {
                    return false;
                }
            }
            let _ = c.send(format!(")\r\n{tag} OK done\r\n").as_bytes());
            c.hold(20);
            false
        });
    }));
    let (before, peak, _) = mem;
    let grew = peak.saturating_sub(before) * 1024;
    eprintln!(
        "a 100 MiB literal one byte short: {r:?}, {conns} connection(s), {took:?}, grew {} MiB",
        grew >> 20
    );
    assert!(got.is_empty(), "nothing partial delivered");
    let e = r.unwrap_err();
    assert!(NET_OR_TIMEOUT_OR_PROTO.contains(&e.0), "{e:?}");
    assert!(e.1.len() < 4096, "short error: {} bytes", e.1.len());
    assert!(
        grew < (SIZE as u64) * 5 / 2,
        "memory grew by {} MiB for a {} MiB reply",
        grew >> 20,
        SIZE >> 20
    );
}

/// A message above the account's `max_message_mb` is refused before it is read (and the error
/// says what to change); what came before it was delivered.
#[test]
fn a_message_over_max_message_mb_is_refused_before_it_is_read() {
    let _s = serial();
    init();
    let f = fake(Arc::new(|c: &mut Conn| {
        imap_loop(c, CAPS, 2, &mut |c, tag, uids| {
            let mut out = Vec::new();
            for &u in uids {
                if u == 1 {
                    out.extend(fetch_item(1, &message(1)));
                } else {
                    out.extend(
                        format!("* {u} FETCH (UID {u} RFC822.SIZE 3145728 BODY[] {{3145728}}\r\n")
                            .as_bytes(),
                    );
                    out.extend(vec![b'x'; 3 << 20]);
                    out.extend(b")\r\n");
                }
            }
            out.extend(format!("{tag} OK done\r\n").as_bytes());
            c.send(&out)
        });
    }));
    let acc = fake_account(f.port, "none", 5);
    assert_eq!(
        acc.config_json()["max_message_mb"],
        192,
        "the 64-bit default"
    );
    let small = Acc::new(
        &json!({
            "provider": "custom", "client_id": FAKE_CLIENT, "authorize_url": "https://127.0.0.1:9/authorize",
            "token_url": FAKE_TOKEN_URL, "email": "alice@example.test", "open_browser": false,
            "timeout_secs": 5, "allow_insecure_transport": true, "max_message_mb": 2,
            "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": f.port, "security": "none"},
        })
        .to_string(),
    )
    .unwrap();
    small.import(&acc.export()).unwrap();
    let (r, got) = small.fetch_with(r#"{"batch_size": 10}"#, &mut |_| 0);
    let e = r.unwrap_err();
    assert_eq!(e.0, OM_STATUS_UNSUPPORTED, "{e:?}");
    assert!(
        e.1.contains("max_message_mb") && e.1.contains("UID 2"),
        "{}",
        e.1
    );
    assert_eq!(got.len(), 1, "the message before it was delivered");
}

/// A server that answers FETCH with untagged lines forever: the account's timeout_secs (2 s
/// here) bounds it, with no per-call timeout_ms, and the session is not retried.
#[test]
fn untagged_lines_forever_are_bounded_by_timeout_secs() {
    let _s = serial();
    init();
    let (r, got, took, conns, _) = hostile_with(
        Arc::new(|c: &mut Conn| {
            imap_loop(c, CAPS, 3, &mut |c, _tag, _uids| {
                let end = Instant::now() + Duration::from_secs(30);
                while Instant::now() < end && !c.stop.load(Ordering::Relaxed) {
                    if !c.send(b"* OK [ALERT] still working on it\r\n") {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                false
            });
        }),
        r#"{"batch_size": 10}"#,
    );
    eprintln!("untagged lines forever: {r:?} after {took:?}, {conns} connection(s)");
    assert!(got.is_empty());
    let e = r.unwrap_err();
    assert_eq!(e.0, OM_STATUS_PROTOCOL_ERROR, "{e:?}");
    assert!(e.1.contains("without answering"), "{}", e.1);
    assert!(
        took < Duration::from_secs(10),
        "bounded by timeout_secs: {took:?}"
    );
    assert_eq!(conns, 1, "a babbling server is not retried");
}

/// A server that accepts and never says a word (a hung server; a hand-written stand-in, no real
/// server hangs on purpose): the fetch fails with OM_STATUS_TIMEOUT after the account's
/// timeout_secs (2 s here), on ONE connection. A timeout before anything was delivered is not
/// retried: it was, three times, so a hung server held om_fetch for four timeouts (found by
/// benches/many_accounts.rs).
#[test]
fn a_server_that_never_answers_costs_one_timeout_not_four() {
    let _s = serial();
    init();
    let (r, got, took, conns, _) = hostile_with(
        Arc::new(|c: &mut Conn| {
            let end = Instant::now() + Duration::from_secs(30);
            while Instant::now() < end && !c.stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }),
        "{}",
    );
    eprintln!("never answers: {r:?} after {took:?}, {conns} connection(s)");
    assert!(got.is_empty());
    let e = r.unwrap_err();
    assert_eq!(e.0, OM_STATUS_TIMEOUT, "{e:?}");
    assert_eq!(conns, 1, "a hung server is not retried");
    assert!(
        took < Duration::from_secs(7),
        "one timeout (2 s), not four: {took:?}"
    );
}
