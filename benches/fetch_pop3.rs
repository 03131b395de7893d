//! Benchmark (issue #14): fetching a 1,000-message mailbox (~20 KB a message) from the sandbox
//! Dovecot over POP3S with `om_fetch` into a callback that reads every byte, beside Python's
//! poplib doing STAT, LIST and one RETR after the other on the same server in the same run
//! (benches/poplib_peer.py), through a proxy adding 0, 20 and 50 ms of round-trip time:
//! messages/s, MB/s, request/response turns, peak RSS and the speed ratio.
//!
//! oauthmail pipelines RETR when the server's CAPA says PIPELINING (Dovecot does); poplib
//! waits for each message before asking for the next, so it spends about one round trip a
//! message. Every fetch is `only_new: false` and keeps the messages on the server (the
//! default `after_delivery: "keep"`): each run fetches all of them, and the bench checks the
//! mailbox still holds them all at the end.
//!
//! Each oauthmail measurement runs in a child process (this binary re-executed with
//! `--child`), so its peak RSS (VmHWM) is its own. The delaying proxy
//! (benches/common/delay_proxy.rs) counts the turns of each connection: a turn is a
//! client→server burst that follows server→client data (TLS passes through untouched).
//!
//! Run: `cargo bench --bench fetch_pop3` (results also in target/bench/fetch_pop3.txt).
//! Needs the sandboxes of the tests (Node.js + `npm ci --prefix tests/sandbox`, Dovecot:
//! `bash tests/sandbox/mail/install.sh`, root).

#[path = "common/child.rs"]
mod child;
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "common/delay_proxy.rs"]
mod delay_proxy;
use child::*;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// A user of its own: no other bench or test seeds it.
const USER: &str = "bench-pop3-1k@example.test";
const COUNT: u32 = 1_000;
const SIZE_KB: &str = "20";
/// Round-trip times added by the delaying proxy, in ms.
const RTTS: [u64; 3] = [0, 20, 50];
/// oauthmail runs at each RTT (median).
const RUNS: usize = 3;
/// poplib runs at each RTT: it waits one round trip a message, so a run takes ~21 s at 20 ms
/// and ~52 s at 50 ms; one measured run there keeps the whole bench within ~4 minutes.
const PY_RUNS: [usize; 3] = [3, 3, 1];
const FETCH_OPTIONS: &str = r#"{"only_new": false}"#;

// ----- the child: one om_fetch measurement in its own process ---------------------------------

/// `--child CONFIG_FILE TOKENS_FILE`: one timed fetch of everything (only_new false, messages
/// kept). Prints one JSON line.
fn child(args: &[String]) -> ! {
    let config = std::fs::read_to_string(&args[0]).unwrap();
    let tokens = std::fs::read_to_string(&args[1]).unwrap();
    let h = open_account(&config, &tokens);
    let baseline = vmhwm_kb();
    let cpu0 = cpu_seconds();
    let (s, secs, summary) = fetch_once(h, FETCH_OPTIONS);
    let out = json!({"count": s.count, "bytes": s.bytes, "checksum": s.sum, "seconds": secs,
                     "cpu_seconds": cpu_seconds() - cpu0, "vmhwm_kb": vmhwm_kb(),
                     "baseline_kb": baseline, "summary": summary});
    println!("{out}");
    std::process::exit(0)
}

// ----- the parent ---------------------------------------------------------------------------------

fn ours(config_file: &Path, tokens_file: &Path) -> Value {
    let exe = std::env::current_exe().unwrap();
    run_json(
        Command::new(exe)
            .arg("--child")
            .arg(config_file)
            .arg(tokens_file),
        "oauthmail child",
    )
}

fn python(port: u16, ca: &str, tokens_file: &Path) -> Value {
    run_json(
        Command::new("python3")
            .arg(common::repo().join("benches/poplib_peer.py"))
            .args(["--port", &port.to_string(), "--ca", ca, "--user", USER])
            .arg("--tokens")
            .arg(tokens_file),
        "poplib_peer.py",
    )
}

/// Medians of a set of runs of one side at one RTT.
#[derive(Clone, Copy)]
struct Stats {
    runs: usize,
    secs: f64,
    msgs_s: f64,
    min_msgs_s: f64,
    max_msgs_s: f64,
    mb_s: f64,
    cpu_s: f64,
    rss_mib: f64,
    count: u64,
    bytes: u64,
    turns: f64,
}

/// `runs`: the JSON of each run; `turns`: the proxy's record of each run's one connection.
fn stats(what: &str, runs: &[Value], turns: &[delay_proxy::Turns]) -> Stats {
    let f = |k: &str| -> Vec<f64> { runs.iter().map(|r| r[k].as_f64().unwrap()).collect() };
    let count = runs[0]["count"].as_u64().unwrap();
    let bytes = runs[0]["bytes"].as_u64().unwrap();
    for r in runs {
        assert_eq!(
            r["count"].as_u64().unwrap(),
            count,
            "{what}: runs disagree: {r}"
        );
        assert_eq!(
            r["bytes"].as_u64().unwrap(),
            bytes,
            "{what}: runs disagree: {r}"
        );
    }
    let secs = f("seconds");
    let rates: Vec<f64> = secs.iter().map(|s| count as f64 / s).collect();
    let turn_counts: Vec<f64> = turns.iter().map(|t| t.client_bursts.len() as f64).collect();
    Stats {
        runs: runs.len(),
        secs: median(secs.clone()),
        msgs_s: median(rates.clone()),
        min_msgs_s: rates.iter().cloned().fold(f64::MAX, f64::min),
        max_msgs_s: rates.iter().cloned().fold(0.0, f64::max),
        mb_s: median(secs.iter().map(|s| bytes as f64 / 1e6 / s).collect()),
        cpu_s: median(f("cpu_seconds")),
        rss_mib: median(f("vmhwm_kb")) / 1024.0,
        count,
        bytes,
        turns: median(turn_counts),
    }
}

/// The proxy's record of the one connection a run made.
fn one_connection(proxy: &delay_proxy::DelayProxy, what: &str) -> delay_proxy::Turns {
    let mut conns = proxy.take();
    assert_eq!(
        conns.len(),
        1,
        "{what}: one connection expected, the proxy saw {}",
        conns.len()
    );
    conns.pop().unwrap()
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
    let pop3s = m.port("pop3s_port");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fetch_pop3-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let t = Instant::now();
    m.seed(
        USER,
        COUNT,
        "INBOX",
        &["--size-kb", SIZE_KB, "--seed", "14"],
    );
    eprintln!(
        "seeded {COUNT} messages for {USER} in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(m.count(USER, "INBOX"), COUNT as usize, "seeded mailbox");
    let incoming = |port: u16| {
        json!({"email": USER, "incoming": {"protocol": "pop3", "host": "127.0.0.1", "port": port,
                                           "security": "tls", "sasl_mechanism": "xoauth2"}})
    };
    let acc = common::authorized_as("confidential-app", USER, incoming(pop3s));
    let tokens_file = dir.join("tokens.json");
    std::fs::write(&tokens_file, acc.export().to_string()).unwrap();
    let config_file = dir.join("direct.config.json");
    std::fs::write(&config_file, sb.config("confidential-app", incoming(pop3s))).unwrap();
    let ca = sb.ca_file.clone();

    // warm Dovecot's index (its first POP3 session builds the UIDL/size cache) and the page
    // cache: one untimed run of each side, straight to POP3S
    let t = Instant::now();
    let o = ours(&config_file, &tokens_file);
    let p = python(pop3s, &ca, &tokens_file);
    assert_eq!(o["count"].as_u64(), Some(u64::from(COUNT)), "{o}");
    assert_eq!(p["count"].as_u64(), Some(u64::from(COUNT)), "{p}");
    assert_eq!(
        o["bytes"], p["bytes"],
        "both sides must read the same bytes: oauthmail {o}, poplib {p}"
    );
    eprintln!("warm-up in {:.1} s", t.elapsed().as_secs_f64());

    let mut results = Vec::new();
    for (i, rtt) in RTTS.iter().copied().enumerate() {
        let t = Instant::now();
        let delayed = delay_proxy::DelayProxy::start(pop3s, rtt);
        let cfg = dir.join(format!("rtt{rtt}.config.json"));
        std::fs::write(&cfg, sb.config("confidential-app", incoming(delayed.port))).unwrap();
        let (mut o, mut ot, mut p, mut pt) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        // alternating, oauthmail first
        for run in 0..RUNS.max(PY_RUNS[i]) {
            if run < RUNS {
                o.push(ours(&cfg, &tokens_file));
                ot.push(one_connection(&delayed, "oauthmail"));
            }
            if run < PY_RUNS[i] {
                p.push(python(delayed.port, &ca, &tokens_file));
                pt.push(one_connection(&delayed, "poplib"));
            }
        }
        let (os, ps) = (
            stats(&format!("oauthmail at {rtt} ms"), &o, &ot),
            stats(&format!("poplib at {rtt} ms"), &p, &pt),
        );
        assert_eq!(
            os.count,
            u64::from(COUNT),
            "oauthmail at {rtt} ms read {} messages",
            os.count
        );
        assert_eq!(
            (os.count, os.bytes),
            (ps.count, ps.bytes),
            "at {rtt} ms, both sides must read the same messages and bytes (oauthmail, poplib)"
        );
        eprintln!(
            "RTT {rtt} ms done in {:.1} s: oauthmail {:.2} s, poplib {:.2} s",
            t.elapsed().as_secs_f64(),
            os.secs,
            ps.secs
        );
        results.push((rtt, os, ps));
    }
    let left = m.count(USER, "INBOX");
    assert_eq!(
        left, COUNT as usize,
        "the fetches must keep the messages on the server"
    );

    // ----- the report
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let (count, mb) = (results[0].1.count, results[0].1.bytes as f64 / 1e6);
    let mut r = String::new();
    r.push_str(&format!(
        "POP3S fetch of {count} messages, {mb:.1} MB (message bytes handed over) from the sandbox Dovecot \
         through a proxy adding round-trip time (half each way, order kept), into a callback reading every byte; \
         oauthmail `om_fetch` with {FETCH_OPTIONS} (RETR pipelined: Dovecot's CAPA says PIPELINING) vs Python {} poplib \
         (AUTH XOAUTH2, STAT, LIST, RETR 1..n one at a time); one untimed warm-up run per side first; {cores} cores\n\n",
        python_version()
    ));
    r.push_str("| RTT ms | client | runs | s (median) | msgs/s | range msgs/s | MB/s | CPU s | peak RSS MiB | turns | s ÷ RTT | speed ÷ poplib |\n");
    r.push_str("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (rtt, o, p) in &results {
        for (name, s) in [("oauthmail", o), ("poplib", p)] {
            r.push_str(&format!(
                "| {rtt} | {name} | {} | {:.2} | {:.0} | {:.0}–{:.0} | {:.1} | {:.2} | {:.1} | {:.0} | {} | {:.2} |\n",
                s.runs,
                s.secs,
                s.msgs_s,
                s.min_msgs_s,
                s.max_msgs_s,
                s.mb_s,
                s.cpu_s,
                s.rss_mib,
                s.turns,
                if *rtt == 0 {
                    "–".to_string()
                } else {
                    format!("{:.0}", s.secs * 1000.0 / *rtt as f64)
                },
                s.msgs_s / p.msgs_s,
            ));
        }
    }
    r.push_str(&format!(
        "\nruns: oauthmail {RUNS} at each RTT; poplib {} at 0/20/50 ms (one RETR per round trip: a poplib run takes ~52 s at 50 ms, \
         so fewer runs there keep the bench within ~4 minutes). Values are medians of the runs.\n",
        PY_RUNS.map(|n| n.to_string()).join("/")
    ));
    r.push_str("turns: client->server bursts that follow server->client data, counted by the delaying proxy (TLS handshake included; TCP connect not delayed). \
        poplib: TLS (2), AUTH XOAUTH2 with its initial response, STAT, LIST, one RETR per message, QUIT. \
        oauthmail: TLS (2), CAPA, AUTH XOAUTH2, the SASL response, UIDL, LIST, then up to 64 RETRs (4 MiB listed) in flight (the next one written as each reply is read: \
        the replies of a window arrive within one round trip, so the RETRs they release make one turn), QUIT. \
        How a window's RETRs group into turns depends on timing (a busy machine splits them), the wall time in round trips does not: \
        s ÷ RTT is the run's wall time in round trips.\n");
    r.push_str("peak RSS: VmHWM of the oauthmail child process / ru_maxrss of the Python process, at the end of the run. CPU s: the client process's user+system time during the fetch.\n");
    r.push_str(&format!(
        "mailbox after all runs: {left} messages (kept on the server)\n"
    ));
    r.push_str(&format!(
        "\nwhole run {:.0} s\n",
        started.elapsed().as_secs_f64()
    ));
    publish("fetch_pop3", &r);

    // stop the servers and remove the seeded mail now
    stop_mail_sandbox(&m.workdir, &dir);
}

/// `3.11.7`, for the report.
fn python_version() -> String {
    Command::new("python3")
        .arg("-c")
        .arg("import platform; print(platform.python_version())")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
