//! Benchmark: fetching a 10,000-message mailbox (~20 KB a message) from the sandbox Dovecot
//! over IMAPS with `om_fetch` into a callback that reads every byte, beside Python's imaplib
//! doing one `UID FETCH 1:* (BODY.PEEK[])` on the same server in the same run
//! (benches/imaplib_peer.py); messages/s, MB/s, peak RSS and the ratios; the same on a
//! 1,000-message mailbox (does peak memory grow with the mailbox?); and the time and the
//! request/response turns of a "nothing new" check.
//!
//! Each oauthmail measurement runs in a child process (this binary re-executed with
//! `--child`), so its peak RSS (VmHWM) is its own. Round trips are counted by a TCP proxy
//! between the child and Dovecot's IMAPS port (TLS passes through untouched): a turn is a
//! client→server burst that follows server→client data.
//!
//! Run: `cargo bench --bench fetch_imap` (results also in target/bench/fetch_imap.txt).
//! Needs the sandboxes of the tests (Node.js + `npm ci --prefix tests/sandbox`, Dovecot:
//! `bash tests/sandbox/mail/install.sh`, root).

#[path = "common/child.rs"]
mod child;
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "common/delay_proxy.rs"]
mod delay_proxy;
use child::*;

use oauthmail::ffi::fetch::om_sync_state_export;
use oauthmail::ffi::library::om_string_free;
use serde_json::{json, Value};
use std::ffi::CStr;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const BIG: u32 = 10_000;
const SMALL: u32 = 1_000;
const SIZE_KB: &str = "20";
const RUNS: usize = 5;
/// The batch size of the headline comparison; the others are shown beside it.
const BATCH: u32 = 200;
const BATCHES: [u32; 3] = [50, 200, 1000];
/// Round-trip times added by the delaying proxy, in ms.
const RTTS: [u64; 3] = [0, 20, 50];
const LATENCY_RUNS: usize = 3;

// ----- the child: one om_fetch measurement in its own process ---------------------------------

/// `--child CONFIG_FILE TOKENS_FILE MODE BATCH`; MODE `full` (one timed fetch of everything,
/// only_new false; BATCH 0: the default batch size, which grows) or `nothing-new` (everything once with only_new true, then `NN` timed
/// fetches that find nothing). Prints one JSON line.
fn child(args: &[String]) -> ! {
    let config = std::fs::read_to_string(&args[0]).unwrap();
    let tokens = std::fs::read_to_string(&args[1]).unwrap();
    let mode = args[2].as_str();
    let batch: u32 = args[3].parse().unwrap();
    let h = open_account(&config, &tokens);
    let baseline = vmhwm_kb();
    let out = match mode {
        "full" => {
            let cpu0 = cpu_seconds();
            let opts = if batch == 0 {
                r#"{"only_new": false}"#.to_string()
            } else {
                format!(r#"{{"only_new": false, "batch_size": {batch}}}"#)
            };
            let (s, secs, _) = fetch_once(h, &opts);
            json!({"count": s.count, "bytes": s.bytes, "checksum": s.sum, "seconds": secs,
                   "cpu_seconds": cpu_seconds() - cpu0, "vmhwm_kb": vmhwm_kb(),
                   "baseline_kb": baseline})
        }
        "nothing-new" => {
            let n: usize = args.get(4).and_then(|n| n.parse().ok()).unwrap_or(1);
            let opts = if batch == 0 {
                r#"{"only_new": true}"#.to_string()
            } else {
                format!(r#"{{"only_new": true, "batch_size": {batch}}}"#)
            };
            let (s, first_secs, _) = fetch_once(h, &opts);
            let mut state = std::ptr::null_mut();
            assert_eq!(unsafe { om_sync_state_export(h, &mut state) }, 0);
            let state_json = unsafe { CStr::from_ptr(state) }
                .to_string_lossy()
                .into_owned();
            unsafe { om_string_free(state) };
            let mut times = Vec::new();
            for _ in 0..n {
                let (again, secs, summary) = fetch_once(h, &opts);
                assert_eq!(again.count, 0, "nothing new expected: {summary}");
                times.push(secs);
            }
            json!({"first_count": s.count, "first_seconds": first_secs, "seconds": times,
                   "sync_state": state_json, "vmhwm_kb": vmhwm_kb()})
        }
        other => panic!("unknown child mode {other}"),
    };
    println!("{out}");
    std::process::exit(0)
}

// ----- the counting proxy ------------------------------------------------------------------------

#[derive(Default, Debug, Clone)]
struct Turns {
    /// 0 nothing yet, 1 the client sent last, 2 the server sent last.
    last: u8,
    /// Client→server bytes of each turn.
    client_bursts: Vec<u64>,
    server_bytes: u64,
    /// With a plaintext upstream: the first bytes of each turn.
    firsts: Vec<Vec<u8>>,
}

impl Turns {
    /// The command of each turn (tag, command, at most one argument; a SASL response only as a
    /// placeholder).
    fn heads(&self) -> Vec<String> {
        self.firsts.iter().map(|f| head(f)).collect()
    }
}

/// `A0001 AUTHENTICATE XOAUTH2\r\n` → `AUTHENTICATE XOAUTH2`; a continuation line (the SASL
/// response) → a placeholder.
fn head(chunk: &[u8]) -> String {
    let line = String::from_utf8_lossy(chunk);
    let line = line.lines().next().unwrap_or("");
    let w: Vec<&str> = line.split_whitespace().take(3).collect();
    let is_cmd = |x: &str| x.len() > 1 && x.bytes().all(|b| b.is_ascii_uppercase());
    match w.as_slice() {
        [_, cmd, arg] if is_cmd(cmd) && (*cmd == "UID" || *cmd == "AUTHENTICATE") => {
            format!("{cmd} {arg}")
        }
        [_, cmd, ..] if is_cmd(cmd) => cmd.to_string(),
        _ => "<SASL response>".to_string(),
    }
}

/// Relays 127.0.0.1:<port> to `upstream`, one `Turns` per connection, in accept order.
struct Proxy {
    port: u16,
    conns: Arc<Mutex<Vec<Arc<Mutex<Turns>>>>>,
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    turns: Arc<Mutex<Turns>>,
    client: bool,
    text: bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            // recorded before forwarding: a reply is always counted before the request it
            // causes
            let mut t = turns.lock().unwrap();
            if client {
                if t.last != 1 {
                    t.client_bursts.push(0);
                    t.last = 1;
                    if text {
                        t.firsts.push(Vec::new());
                    }
                }
                if let Some(f) = t.firsts.last_mut() {
                    let room = 256usize.saturating_sub(f.len()).min(n);
                    f.extend_from_slice(&buf[..room]);
                }
                *t.client_bursts.last_mut().unwrap() += n as u64;
            } else {
                t.server_bytes += n as u64;
                t.last = 2;
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl Proxy {
    /// `text`: the upstream is plaintext IMAP; record the command of each turn.
    fn start(upstream: u16, text: bool) -> Proxy {
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
                std::thread::spawn(move || pump(c_r, s_w, t, true, text));
                std::thread::spawn(move || pump(server, client, turns, false, text));
            }
        });
        Proxy { port, conns }
    }

    fn take(&self) -> Vec<Turns> {
        std::mem::take(&mut *self.conns.lock().unwrap())
            .into_iter()
            .map(|t| t.lock().unwrap().clone())
            .collect()
    }
}

// ----- the parent ---------------------------------------------------------------------------------

struct Mailbox {
    user: String,
    count: u32,
    config_file: PathBuf,
    tokens_file: PathBuf,
    /// The same account through the counting proxy.
    proxied_config_file: PathBuf,
    /// Through the tracing proxy to Dovecot's plaintext port (no TLS), to name the commands.
    traced_config_file: PathBuf,
}

#[derive(Clone, Copy)]
enum Via {
    Direct,
    Proxy,
    Trace,
}

fn ours(mb: &Mailbox, mode: &str, batch: u32, extra: &[&str], proxied: Via) -> Value {
    let exe = std::env::current_exe().unwrap();
    let cfg = match proxied {
        Via::Direct => &mb.config_file,
        Via::Proxy => &mb.proxied_config_file,
        Via::Trace => &mb.traced_config_file,
    };
    run_json(
        Command::new(exe)
            .arg("--child")
            .arg(cfg)
            .arg(&mb.tokens_file)
            .arg(mode)
            .arg(batch.to_string())
            .args(extra),
        "oauthmail child",
    )
}

fn python(mb: &Mailbox, port: u16, ca: &str, extra: &[&str]) -> Value {
    run_json(
        Command::new("python3")
            .arg(common::repo().join("benches/imaplib_peer.py"))
            .args(["--port", &port.to_string(), "--ca", ca, "--user", &mb.user])
            .arg("--tokens")
            .arg(&mb.tokens_file)
            .args(extra),
        "imaplib_peer.py",
    )
}

/// Medians of a set of runs.
#[derive(Clone, Copy)]
struct Stats {
    msgs_s: f64,
    min_msgs_s: f64,
    max_msgs_s: f64,
    mb_s: f64,
    cpu_s: f64,
    rss_mib: f64,
    base_mib: f64,
    count: u64,
    mb: f64,
}

fn stats(runs: &[Value]) -> Stats {
    let f = |k: &str| -> Vec<f64> { runs.iter().map(|r| r[k].as_f64().unwrap()).collect() };
    let count = runs[0]["count"].as_u64().unwrap();
    let bytes = runs[0]["bytes"].as_u64().unwrap();
    for r in runs {
        assert_eq!(r["count"].as_u64().unwrap(), count, "runs disagree: {r}");
        assert_eq!(r["bytes"].as_u64().unwrap(), bytes, "runs disagree: {r}");
    }
    let rates: Vec<f64> = f("seconds").iter().map(|s| count as f64 / s).collect();
    Stats {
        msgs_s: median(rates.clone()),
        min_msgs_s: rates.iter().cloned().fold(f64::MAX, f64::min),
        max_msgs_s: rates.iter().cloned().fold(0.0, f64::max),
        mb_s: median(
            f("seconds")
                .iter()
                .map(|s| bytes as f64 / 1e6 / s)
                .collect(),
        ),
        cpu_s: median(f("cpu_seconds")),
        rss_mib: median(f("vmhwm_kb")) / 1024.0,
        base_mib: median(f("baseline_kb")) / 1024.0,
        count,
        mb: bytes as f64 / 1e6,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1..]);
    }
    let started = Instant::now();
    common::capi::init();
    let sb = common::sandbox();
    let m = common::mail::mail_sandbox();
    let imaps = m.port("imaps_port");
    let proxy = Proxy::start(imaps, false);
    let tracer = Proxy::start(
        m.info["direct_ports"]["imap"].as_u64().unwrap() as u16,
        true,
    );
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fetch_imap-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let mut mailboxes = Vec::new();
    for (user, count) in [
        ("bench-10k@example.test", BIG),
        ("bench-1k@example.test", SMALL),
    ] {
        let t = Instant::now();
        m.seed(user, count, "INBOX", &["--size-kb", SIZE_KB]);
        eprintln!(
            "seeded {count} messages for {user} in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let incoming = |port: u16| json!({"email": user, "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": port, "security": "tls"}});
        let acc = common::authorized_as("confidential-app", user, incoming(imaps));
        let name = user.split('@').next().unwrap();
        let mb = Mailbox {
            user: user.to_string(),
            count,
            config_file: dir.join(format!("{name}.config.json")),
            tokens_file: dir.join(format!("{name}.tokens.json")),
            proxied_config_file: dir.join(format!("{name}.proxied.config.json")),
            traced_config_file: dir.join(format!("{name}.traced.config.json")),
        };
        std::fs::write(
            &mb.config_file,
            sb.config("confidential-app", incoming(imaps)),
        )
        .unwrap();
        std::fs::write(
            &mb.proxied_config_file,
            sb.config("confidential-app", incoming(proxy.port)),
        )
        .unwrap();
        let mut plain = incoming(tracer.port);
        plain["incoming"]["security"] = json!("none");
        plain["allow_insecure_transport"] = json!(true);
        std::fs::write(&mb.traced_config_file, sb.config("confidential-app", plain)).unwrap();
        std::fs::write(&mb.tokens_file, acc.export().to_string()).unwrap();
        mailboxes.push(mb);
    }
    let ca = sb.ca_file.clone();
    let (big, small) = (&mailboxes[0], &mailboxes[1]);

    // warm Dovecot's index and the page cache: one untimed run of each side on each mailbox
    for mb in [big, small] {
        let t = Instant::now();
        let o = ours(mb, "full", BATCH, &[], Via::Direct);
        let p = python(mb, imaps, &ca, &[]);
        assert_eq!(o["count"].as_u64(), Some(u64::from(mb.count)), "{o}");
        assert_eq!(p["count"].as_u64(), Some(u64::from(mb.count)), "{p}");
        assert_eq!(
            o["bytes"], p["bytes"],
            "both sides must read the same bytes"
        );
        eprintln!(
            "warm-up on {} in {:.1} s",
            mb.user,
            t.elapsed().as_secs_f64()
        );
    }

    // the 10,000 mailbox: each side RUNS times, alternating; oauthmail at each batch size
    let mut ours_big: Vec<Vec<Value>> = vec![Vec::new(); BATCHES.len()];
    let mut py_big = Vec::new();
    for run in 0..RUNS {
        for (i, b) in BATCHES.iter().enumerate() {
            ours_big[i].push(ours(big, "full", *b, &[], Via::Direct));
        }
        py_big.push(python(big, imaps, &ca, &[]));
        eprintln!("10k run {}/{RUNS} done", run + 1);
    }
    // the 1,000 mailbox
    let mut ours_small = Vec::new();
    let mut py_small = Vec::new();
    for _ in 0..RUNS {
        ours_small.push(ours(small, "full", BATCH, &[], Via::Direct));
        py_small.push(python(small, imaps, &ca, &[]));
    }
    // nothing new: timed without the proxy, turns counted through it
    let runs = RUNS.to_string();
    let nn_big = ours(big, "nothing-new", BATCH, &[&runs], Via::Direct);
    let nn_small = ours(small, "nothing-new", BATCH, &[&runs], Via::Direct);
    proxy.take();
    ours(big, "nothing-new", BATCH, &["1"], Via::Proxy);
    let turns_big = proxy.take();
    ours(small, "nothing-new", BATCH, &["1"], Via::Proxy);
    let turns_small = proxy.take();
    assert_eq!(turns_big.len(), 2, "two connections expected");
    assert_eq!(turns_small.len(), 2, "two connections expected");
    // the same over Dovecot's plaintext port, to name the command of each turn
    ours(big, "nothing-new", BATCH, &["1"], Via::Trace);
    let trace_big = tracer.take();
    ours(small, "nothing-new", BATCH, &["1"], Via::Trace);
    let trace_small = tracer.take();
    // imaplib's own "nothing new" (connect, CAPABILITY, AUTHENTICATE, EXAMINE, LOGOUT)
    let py_nn_big = python(big, imaps, &ca, &["--nothing-new", &runs]);
    let py_nn_small = python(small, imaps, &ca, &["--nothing-new", &runs]);
    python(small, proxy.port, &ca, &["--nothing-new", "1"]);
    let py_turns = proxy.take();
    assert_eq!(py_turns.len(), 1, "one connection expected");

    // round-trip time added by a proxy (half each way, order kept): 0, 20 and 50 ms, on the
    // 1,000-message mailbox; oauthmail with its default batch size, imaplib's one UID FETCH 1:*
    let mut latency = Vec::new();
    for rtt in RTTS {
        let delayed = delay_proxy::DelayProxy::start(imaps, rtt);
        let cfg = dir.join(format!("rtt{rtt}.config.json"));
        let incoming = json!({"email": small.user, "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": delayed.port, "security": "tls"}});
        std::fs::write(&cfg, sb.config("confidential-app", incoming)).unwrap();
        let mb = Mailbox {
            config_file: cfg.clone(),
            proxied_config_file: cfg.clone(),
            traced_config_file: cfg,
            user: small.user.clone(),
            count: small.count,
            tokens_file: small.tokens_file.clone(),
        };
        let (mut o, mut p, mut ot, mut pt) = (Vec::new(), Vec::new(), 0, 0);
        for _ in 0..LATENCY_RUNS {
            o.push(ours(&mb, "full", 0, &[], Via::Direct));
            ot = delayed.take()[0].client_bursts.len();
            p.push(python(&mb, delayed.port, &ca, &[]));
            pt = delayed.take()[0].client_bursts.len();
        }
        let nn = ours(&mb, "nothing-new", 0, &["3"], Via::Direct);
        let nn_turns = delayed.take().last().unwrap().client_bursts.len();
        let pnn = python(&mb, delayed.port, &ca, &["--nothing-new", "3"]);
        let pnn_turns = delayed.take().last().unwrap().client_bursts.len();
        eprintln!("latency {rtt} ms done");
        latency.push((
            rtt,
            stats(&o),
            stats(&p),
            ot,
            pt,
            nn,
            nn_turns,
            pnn,
            pnn_turns,
        ));
    }

    // ----- the report
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut r = String::new();
    let py = stats(&py_big);
    let header = |r: &mut String, s: Stats| {
        r.push_str(&format!(
            "{} messages, {:.1} MB (message bytes handed over)\n{:<32} {:>7} {:>11} {:>6} {:>6} {:>13} {:>7} {:>7}\n",
            s.count, s.mb, "case", "msgs/s", "range", "MB/s", "CPU s", "peak RSS MiB", "speed", "memory"
        ));
    };
    let row = |r: &mut String, name: &str, s: Stats, peer: Stats| {
        r.push_str(&format!(
            "{name:<32} {:>7.0} {:>11} {:>6.1} {:>6.2} {:>6.1} ({:>4.1}) {:>7.2} {:>7.3}\n",
            s.msgs_s,
            format!("{:.0}-{:.0}", s.min_msgs_s, s.max_msgs_s),
            s.mb_s,
            s.cpu_s,
            s.rss_mib,
            s.base_mib,
            s.msgs_s / peer.msgs_s,
            s.rss_mib / peer.rss_mib
        ));
    };
    r.push_str(&format!(
        "IMAPS fetch from the sandbox Dovecot into a callback reading every byte; median of {RUNS} runs per side, alternating; {cores} cores\n\n"
    ));
    header(&mut r, py);
    for (i, b) in BATCHES.iter().enumerate() {
        let name = format!(
            "oauthmail, batch_size {b}{}",
            if *b == 50 { " (dflt)" } else { "" }
        );
        row(&mut r, &name, stats(&ours_big[i]), py);
    }
    row(&mut r, "imaplib, one UID FETCH 1:*", py, py);
    let ps = stats(&py_small);
    r.push('\n');
    header(&mut r, ps);
    row(
        &mut r,
        &format!("oauthmail, batch_size {BATCH}"),
        stats(&ours_small),
        ps,
    );
    row(&mut r, "imaplib, one UID FETCH 1:*", ps, ps);
    let headline = BATCHES.iter().position(|b| *b == BATCH).unwrap();
    let ob = stats(&ours_big[headline]);
    let os = stats(&ours_small);
    r.push_str(&format!(
        "\npeak RSS 10,000 vs 1,000 messages: oauthmail {:.1} vs {:.1} MiB (x{:.2}), imaplib {:.1} vs {:.1} MiB (x{:.2})\n",
        ob.rss_mib, os.rss_mib, ob.rss_mib / os.rss_mib, py.rss_mib, ps.rss_mib, py.rss_mib / ps.rss_mib
    ));
    let py_touch = median(
        py_big
            .iter()
            .map(|p| p["checksum_seconds"].as_f64().unwrap())
            .collect(),
    );
    r.push_str(&format!(
        "speed, memory: ratio to imaplib on the same mailbox. peak RSS: VmHWM (ours, child process) / ru_maxrss (Python) at the end; in parentheses before connecting. CPU s: the client process's user+system time during the fetch. imaplib's adler32 pass over the bytes: {py_touch:.3} s (median).\n"
    ));

    r.push_str("\n\"nothing new\" check (only_new, after a full fetch), om_fetch wall time and request/response turns\n");
    r.push_str(&format!(
        "{:<9} {:>9} {:>16} {:>6}  {}\n",
        "mailbox", "median ms", "runs ms", "turns", "what the client sends in each turn"
    ));
    let ms = |v: &Value| -> Vec<f64> {
        v["seconds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_f64().unwrap() * 1000.0)
            .collect()
    };
    for (name, nn, turns, trace) in [
        ("10,000", &nn_big, &turns_big, &trace_big),
        ("1,000", &nn_small, &turns_small, &trace_small),
    ] {
        let times = ms(nn);
        let t = &turns[1];
        let mut what = vec!["TLS ClientHello".to_string(), "TLS Finished".to_string()];
        what.extend(trace[1].heads());
        if trace[1].firsts.len() + 1 == t.client_bursts.len() {
            // options.early_login: the login leaves with the handshake's last flight
            what[1] = "TLS Finished + AUTHENTICATE + EXAMINE (one flight, before the greeting)"
                .to_string();
            what.remove(2);
        } else if trace[1].firsts.len() + 2 != t.client_bursts.len() {
            what.push("(the plaintext trace does not match the TLS count)".to_string());
        }
        r.push_str(&format!(
            "{name:<9} {:>9.1} {:>16} {:>6}  {} (bytes on the wire per turn: {:?})\n",
            median(times.clone()),
            times
                .iter()
                .map(|t| format!("{t:.0}"))
                .collect::<Vec<_>>()
                .join("/"),
            t.client_bursts.len(),
            what.join(", "),
            t.client_bursts
        ));
    }
    for (name, v) in [("10,000", &py_nn_big), ("1,000", &py_nn_small)] {
        let times = ms(v);
        r.push_str(&format!(
            "{:<9} {:>9.1} {:>16} {:>6}  imaplib: TLS, CAPABILITY, AUTHENTICATE XOAUTH2, <SASL response>, EXAMINE, LOGOUT\n",
            format!("{name} py"),
            median(times.clone()),
            times
                .iter()
                .map(|t| format!("{t:.0}"))
                .collect::<Vec<_>>()
                .join("/"),
            py_turns[0].client_bursts.len(),
        ));
    }
    for (name, turns, trace) in [
        ("10,000", &turns_big, &trace_big),
        ("1,000", &turns_small, &trace_small),
    ] {
        let mut cmds: Vec<(String, usize)> = Vec::new();
        for h in &trace[0].heads() {
            match cmds.iter_mut().find(|(c, _)| c == h) {
                Some((_, n)) => *n += 1,
                None => cmds.push((h.clone(), 1)),
            }
        }
        r.push_str(&format!(
            "first (full) only_new fetch of {name}, batch_size {BATCH}: {} turns over TLS; plaintext trace: {}\n",
            turns[0].client_bursts.len(),
            cmds.iter()
                .map(|(c, n)| if *n == 1 { c.clone() } else { format!("{n} x {c}") })
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    r.push_str("(turns: client->server bursts that follow server->client data, counted by a TCP proxy in front of IMAPS, TLS passing through; the commands come from the same run through a proxy in front of Dovecot's plaintext port, where the turn count is the TLS count minus the 2 handshake turns)\n");
    r.push_str(&format!(
        "\nAdded round-trip time (a proxy delaying each direction by half, order kept), {} messages, {:.1} MB; median of {LATENCY_RUNS} runs; \"nothing new\": median of 3 checks after a full fetch\n",
        small.count,
        latency[0].1.mb
    ));
    r.push_str(&format!(
        "{:>6} {:>14} {:>14} {:>6} {:>12} {:>12} {:>16}\n",
        "RTT ms", "oauthmail s", "imaplib s", "speed", "turns o/py", "nn ms o/py", "nn turns o/py"
    ));
    for (rtt, o, p, ot, pt, nn, nt, pnn, pnt) in &latency {
        let med = |v: &Value| {
            median(
                v["seconds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_f64().unwrap() * 1000.0)
                    .collect(),
            )
        };
        r.push_str(&format!(
            "{rtt:>6} {:>14.3} {:>14.3} {:>6.2} {:>12} {:>12} {:>16}\n",
            o.count as f64 / o.msgs_s,
            p.count as f64 / p.msgs_s,
            o.msgs_s / p.msgs_s,
            format!("{ot}/{pt}"),
            format!("{:.0}/{:.0}", med(nn), med(pnn)),
            format!("{nt}/{pnt}"),
        ));
    }
    r.push_str("(oauthmail: default batch size, which starts at 50 and grows fourfold up to 2,000; imaplib: one UID FETCH 1:*; speed = imaplib time / oauthmail time; turns: client->server bursts after server data, TLS handshake included, TCP connect not delayed by the proxy)\n");
    r.push_str(&format!(
        "\nwhole run {:.0} s\n",
        started.elapsed().as_secs_f64()
    ));
    publish("fetch_imap", &r);

    // the seeded mail is ~220 MB: stop the servers and remove it now
    stop_mail_sandbox(&m.workdir, &dir);
}
