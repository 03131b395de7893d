//! Benchmark: sending 500 raw messages of ~20 KB over ONE authenticated connection to the
//! sandbox Dovecot's submission service (implicit TLS, SASL XOAUTH2), beside Python's smtplib
//! (`SMTP_SSL` + `sendmail` ×500, benches/smtplib_peer.py) sending the same bytes in the same
//! run; messages/s, MB/s and the ratio oauthmail ÷ smtplib.
//!
//! oauthmail goes through the Rust API `oauthmail::smtp::send_batch` (one connection, the
//! envelope taken from the headers) in a child process (this binary re-executed with
//! `--child`), so its CPU time and peak RSS are its own. Dovecot relays every message to the
//! sandbox SMTP sink, which writes it to disk: after each run the bench counts the sink's
//! files and checks that each message arrived with its exact bytes.
//!
//! Run: `cargo bench --bench send_smtp` (results also in target/bench/send_smtp.txt).
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
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const COUNT: usize = 500;
/// Size of each message, headers included (bytes, CRLF line ends).
const SIZE: usize = 20 * 1024;
const RUNS: usize = 5;
const USER: &str = "bench-send@example.test";
const RCPT: &str = "bench-rcpt@example.test";
/// Round-trip times added by a delaying proxy, in ms, and the messages sent at each.
const RTTS: [u64; 3] = [0, 20, 50];
const LATENCY_COUNT: usize = 40;
const LATENCY_RUNS: usize = 3;

// ----- the messages -------------------------------------------------------------------------------

/// Message `i`: plain ASCII text, lines of at most 76 characters, CRLF, about SIZE bytes;
/// every 40th line starts with a dot (dot-stuffing on both sides). Deterministic.
fn message(i: usize) -> Vec<u8> {
    const WORDS: [&str; 24] = [
        "invoice",
        "delivery",
        "the",
        "order",
        "of",
        "Monday",
        "quantity",
        "price",
        "and",
        "a",
        "customer",
        "reference",
        "stock",
        "shipped",
        "to",
        "warehouse",
        "payment",
        "due",
        "is",
        "for",
        "account",
        "total",
        "line",
        "item",
    ];
    let mut m = format!(
        "From: Bench Sender <{USER}>\r\nTo: Bench Recipient <{RCPT}>\r\nSubject: bench message {n}\r\nMessage-ID: <bench-send-{n}@example.test>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
        n = i + 1
    );
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1);
    let mut line = String::new();
    let mut lines = 0usize;
    while m.len() < SIZE - 80 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let w = WORDS[(x % WORDS.len() as u64) as usize];
        if line.len() + 1 + w.len() > 76 {
            lines += 1;
            if lines.is_multiple_of(40) {
                line.insert(0, '.');
            }
            m.push_str(&line);
            m.push_str("\r\n");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    m.push_str(&line);
    m.push_str("\r\n");
    m.into_bytes()
}

// ----- the child: one send_batch measurement in its own process ----------------------------------

/// The `.eml` files of a folder, by name.
fn read_messages(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// `--child CONFIG_FILE TOKENS_FILE MESSAGES_DIR`: one timed `send_batch` of every message.
/// Prints one JSON line.
fn child(args: &[String]) -> ! {
    let config = std::fs::read_to_string(&args[0]).unwrap();
    let tokens = std::fs::read_to_string(&args[1]).unwrap();
    let msgs = read_messages(Path::new(&args[2]));
    let h = open_account(&config, &tokens);
    let account = oauthmail::registry::get(h as usize).unwrap();
    let bytes: usize = msgs.iter().map(|m| m.len()).sum();
    let count = msgs.len();
    // the batch takes the messages by value: the copy is made before the clock starts
    let batch: Vec<(Vec<u8>, Option<oauthmail::smtp::Envelope>)> =
        msgs.into_iter().map(|m| (m, None)).collect();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let results = oauthmail::runtime::block_on(oauthmail::smtp::send_batch(&account, batch))
        .expect("block_on");
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let mut sent = 0usize;
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(s) if s.reply_code == 250 => sent += 1,
            Ok(s) => panic!("message {i}: reply {}", s.reply_text),
            Err(e) => panic!("message {i}: {}", e.full_text()),
        }
    }
    println!(
        "{}",
        json!({"count": sent, "bytes": if sent == count { bytes } else { 0 }, "seconds": secs,
               "cpu_seconds": cpu, "vmhwm_kb": vmhwm_kb()})
    );
    std::process::exit(0)
}

/// `--child-composed CONFIG_FILE TOKENS_FILE N`: one `om_send_batch` of N composed messages
/// (JSON, ~20 KB of accented text each) and the peak RSS it cost. Prints one JSON line.
fn child_composed(args: &[String]) -> ! {
    let config = std::fs::read_to_string(&args[0]).unwrap();
    let tokens = std::fs::read_to_string(&args[1]).unwrap();
    let n: usize = args[2].parse().unwrap();
    let h = open_account(&config, &tokens);
    let line = "Facture n°42 : café, crème et thé à livrer à Besançon, réglée à réception.\n";
    let text = line.repeat(20 * 1024 / line.len());
    let msgs: Vec<Value> = (0..n)
        .map(|i| json!({"to": RCPT, "subject": format!("Facture {i} – réglée"), "text": text}))
        .collect();
    let input = CString::new(Value::Array(msgs).to_string()).unwrap();
    let before = vmhwm_kb();
    let mut out = std::ptr::null_mut();
    let t0 = Instant::now();
    let st = unsafe {
        oauthmail::ffi::send::om_send_batch(h, input.as_ptr(), std::ptr::null(), &mut out)
    };
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(st, 0, "om_send_batch: {}", last_error());
    let results = unsafe { CStr::from_ptr(out) }
        .to_string_lossy()
        .into_owned();
    let ok = results.matches("\"ok\":true").count();
    assert_eq!(
        ok,
        n,
        "every message sent: {}",
        &results[..results.len().min(500)]
    );
    println!(
        "{}",
        json!({"count": ok, "json_bytes": input.as_bytes().len(), "seconds": secs,
               "vmhwm_before_kb": before, "vmhwm_kb": vmhwm_kb()})
    );
    std::process::exit(0)
}

// ----- the parent -------------------------------------------------------------------------------

/// CPU seconds (user + system) of process `pid` so far.
fn proc_cpu(pid: u64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // fields after the ")" that ends the command name: state is field 3, utime 14, stime 15
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    if f.len() < 13 {
        return 0.0;
    }
    (f[11] + f[12]) as f64 / tck
}

struct Setup {
    exe: PathBuf,
    config_file: PathBuf,
    tokens_file: PathBuf,
    msg_dir: PathBuf,
    sink_dir: PathBuf,
    sink_pid: u64,
    port: u16,
    sink_port: u16,
    ca: String,
    messages: Vec<Vec<u8>>,
}

fn clear_sink(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let _ = std::fs::remove_file(e.path());
    }
}

/// Checks that the sink holds exactly the messages, in order, each ending with its bytes
/// (Dovecot adds a Received header on top), then empties it.
fn check_sink(s: &Setup, who: &str) {
    let mut n: Vec<u64> = Vec::new();
    let (mut eml, mut meta) = (0usize, 0usize);
    for e in std::fs::read_dir(&s.sink_dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(k) = name.strip_suffix(".json") {
            meta += 1;
            n.push(k.parse().unwrap());
        } else if name.ends_with(".eml") {
            eml += 1;
        }
    }
    let count = s.messages.len();
    assert_eq!(
        (eml, meta),
        (count, count),
        "{who}: the sink has {eml} .eml and {meta} .json files, {count} expected"
    );
    n.sort();
    for (k, m) in n.iter().zip(&s.messages) {
        let got = std::fs::read(s.sink_dir.join(format!("{k}.eml"))).unwrap();
        assert!(
            got.ends_with(m) && got.len() < m.len() + 1024,
            "{who}: sink message {k} is not the message sent"
        );
        let j: Value = serde_json::from_str(
            &std::fs::read_to_string(s.sink_dir.join(format!("{k}.json"))).unwrap(),
        )
        .unwrap();
        assert!(
            j["rcpt_to"].to_string().to_lowercase().contains(RCPT),
            "{who}: {j}"
        );
    }
    clear_sink(&s.sink_dir);
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Ours,
    Smtplib,
    /// smtplib in plain SMTP straight to the sink: no TLS, no login, no Dovecot.
    SinkOnly,
}

/// One measured run of one side: the client's JSON plus the sink's CPU seconds and the
/// machine's busy cores over the run.
fn measure(s: &Setup, side: Side) -> Value {
    let python = side != Side::Ours;
    clear_sink(&s.sink_dir);
    let sink0 = proc_cpu(s.sink_pid);
    let (b0, t0) = machine_jiffies();
    let mut v = if python {
        run_json(
            Command::new("python3")
                .arg(common::repo().join("benches/smtplib_peer.py"))
                .args(["--ca", &s.ca, "--user", USER])
                .arg("--tokens")
                .arg(&s.tokens_file)
                .arg("--messages")
                .arg(&s.msg_dir)
                .args(["--from", USER, "--to", RCPT])
                .args(if side == Side::SinkOnly {
                    vec![
                        "--plain".to_string(),
                        "--port".into(),
                        s.sink_port.to_string(),
                    ]
                } else {
                    vec!["--port".to_string(), s.port.to_string()]
                }),
            "smtplib_peer.py",
        )
    } else {
        run_json(
            Command::new(&s.exe)
                .arg("--child")
                .arg(&s.config_file)
                .arg(&s.tokens_file)
                .arg(&s.msg_dir),
            "oauthmail child",
        )
    };
    let (b1, t1) = machine_jiffies();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    v["sink_cpu_seconds"] = json!(proc_cpu(s.sink_pid) - sink0);
    // busy fraction of the machine over the whole child run (process start included)
    v["busy_cores"] = json!((b1 - b0) as f64 / (t1 - t0).max(1) as f64 * cores);
    let who = match side {
        Side::Ours => "oauthmail",
        Side::Smtplib => "smtplib",
        Side::SinkOnly => "smtplib to the sink",
    };
    assert_eq!(
        v["count"].as_u64(),
        Some(s.messages.len() as u64),
        "{who}: {v}"
    );
    check_sink(s, who);
    v
}

struct Stats {
    msgs_s: f64,
    min: f64,
    max: f64,
    mb_s: f64,
    cpu: f64,
    sink_cpu: f64,
    sink_share: f64,
    busy: f64,
    rss_mib: f64,
}

fn stats(runs: &[Value]) -> Stats {
    let f = |k: &str| -> Vec<f64> { runs.iter().map(|r| r[k].as_f64().unwrap()).collect() };
    let bytes = runs[0]["bytes"].as_f64().unwrap();
    let secs = f("seconds");
    let count = runs[0]["count"].as_f64().unwrap();
    let rates: Vec<f64> = secs.iter().map(|s| count / s).collect();
    let share: Vec<f64> = runs
        .iter()
        .map(|r| r["sink_cpu_seconds"].as_f64().unwrap() / r["seconds"].as_f64().unwrap())
        .collect();
    Stats {
        msgs_s: median(rates.clone()),
        min: rates.iter().cloned().fold(f64::MAX, f64::min),
        max: rates.iter().cloned().fold(0.0, f64::max),
        mb_s: median(secs.iter().map(|s| bytes / 1e6 / s).collect()),
        cpu: median(f("cpu_seconds")),
        sink_cpu: median(f("sink_cpu_seconds")),
        sink_share: median(share),
        busy: median(f("busy_cores")),
        rss_mib: median(f("vmhwm_kb")) / 1024.0,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1..]);
    }
    if let Some(i) = args.iter().position(|a| a == "--child-composed") {
        child_composed(&args[i + 1..]);
    }
    let started = Instant::now();
    common::capi::init();
    let sb = common::sandbox();
    let m = common::mail::mail_sandbox();
    let port = m.port("submissions_port");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("send_smtp-bench-{}", std::process::id()));
    let msg_dir = dir.join("messages");
    std::fs::create_dir_all(&msg_dir).unwrap();
    let messages: Vec<Vec<u8>> = (0..COUNT).map(message).collect();
    for (i, msg) in messages.iter().enumerate() {
        std::fs::write(msg_dir.join(format!("{:04}.eml", i + 1)), msg).unwrap();
    }
    let total: usize = messages.iter().map(|m| m.len()).sum();

    let outgoing = json!({"email": USER, "outgoing": {"protocol": "smtp", "host": "127.0.0.1", "port": port, "security": "tls"}});
    let acc = common::authorized_as("confidential-app", USER, outgoing.clone());
    let s = Setup {
        exe: std::env::current_exe().unwrap(),
        config_file: dir.join("config.json"),
        tokens_file: dir.join("tokens.json"),
        msg_dir: msg_dir.clone(),
        sink_dir: PathBuf::from(m.info["sink_dir"].as_str().unwrap()),
        sink_pid: m.info["pids"]["sink"].as_u64().unwrap(),
        port,
        sink_port: m.port("sink_port"),
        ca: sb.ca_file.clone(),
        messages,
    };
    std::fs::write(&s.config_file, sb.config("confidential-app", outgoing)).unwrap();
    std::fs::write(&s.tokens_file, acc.export().to_string()).unwrap();

    // warm-up: one untimed run per side (also checks both work and the sink gets everything)
    let t = Instant::now();
    let o = measure(&s, Side::Ours);
    let p = measure(&s, Side::Smtplib);
    measure(&s, Side::SinkOnly);
    assert_eq!(
        o["bytes"], p["bytes"],
        "both sides must send the same bytes"
    );
    assert_eq!(o["bytes"].as_u64(), Some(total as u64));
    eprintln!("warm-up in {:.1} s", t.elapsed().as_secs_f64());

    let mut ours = Vec::new();
    let mut py = Vec::new();
    let mut floor = Vec::new();
    for run in 0..RUNS {
        // alternate which side goes first
        if run % 2 == 0 {
            ours.push(measure(&s, Side::Ours));
            py.push(measure(&s, Side::Smtplib));
        } else {
            py.push(measure(&s, Side::Smtplib));
            ours.push(measure(&s, Side::Ours));
        }
        floor.push(measure(&s, Side::SinkOnly));
        eprintln!(
            "run {}/{RUNS}: oauthmail {:.2} s, smtplib {:.2} s",
            run + 1,
            ours[run]["seconds"].as_f64().unwrap(),
            py[run]["seconds"].as_f64().unwrap()
        );
    }

    // added round-trip time: LATENCY_COUNT messages over one connection through a proxy
    // delaying each direction by half the RTT (TLS passing through), both sides alike
    let lat_dir = dir.join("latency-messages");
    std::fs::create_dir_all(&lat_dir).unwrap();
    for (i, msg) in s.messages.iter().take(LATENCY_COUNT).enumerate() {
        std::fs::write(lat_dir.join(format!("{:04}.eml", i + 1)), msg).unwrap();
    }
    let mut latency = Vec::new();
    for rtt in RTTS {
        let proxy = delay_proxy::DelayProxy::start(port, rtt);
        let cfg = dir.join(format!("rtt{rtt}.config.json"));
        let via = json!({"email": USER, "outgoing": {"protocol": "smtp", "host": "127.0.0.1", "port": proxy.port, "security": "tls"}});
        std::fs::write(&cfg, sb.config("confidential-app", via)).unwrap();
        let ls = Setup {
            exe: s.exe.clone(),
            config_file: cfg,
            tokens_file: s.tokens_file.clone(),
            msg_dir: lat_dir.clone(),
            sink_dir: s.sink_dir.clone(),
            sink_pid: s.sink_pid,
            port: proxy.port,
            sink_port: s.sink_port,
            ca: s.ca.clone(),
            messages: s.messages[..LATENCY_COUNT].to_vec(),
        };
        let (mut o, mut p, mut ot, mut pt) = (Vec::new(), Vec::new(), 0, 0);
        for _ in 0..LATENCY_RUNS {
            o.push(measure(&ls, Side::Ours));
            ot = proxy.take()[0].client_bursts.len();
            p.push(measure(&ls, Side::Smtplib));
            pt = proxy.take()[0].client_bursts.len();
        }
        eprintln!("latency {rtt} ms done");
        latency.push((rtt, stats(&o), stats(&p), ot, pt));
    }

    // om_send_batch of COUNT composed messages: what the batch costs in memory
    clear_sink(&s.sink_dir);
    let composed = run_json(
        Command::new(&s.exe)
            .arg("--child-composed")
            .arg(&s.config_file)
            .arg(&s.tokens_file)
            .arg(COUNT.to_string()),
        "om_send_batch child",
    );
    let sunk = std::fs::read_dir(&s.sink_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .collect::<Vec<u64>>();
    assert_eq!(sunk.len(), COUNT, "the sink got every composed message");
    let sunk_bytes: u64 = sunk.iter().sum();
    clear_sink(&s.sink_dir);

    // ----- the report
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let (os, ps, fs) = (stats(&ours), stats(&py), stats(&floor));
    let mut r = String::new();
    r.push_str(&format!(
        "SMTP submission to the sandbox Dovecot (implicit TLS, XOAUTH2), {COUNT} messages of {:.1} KB ({:.2} MB) over one connection, relayed to the sandbox sink; median of {RUNS} runs per side, alternating, after a warm-up; {cores} cores\n\n",
        total as f64 / COUNT as f64 / 1e3,
        total as f64 / 1e6
    ));
    r.push_str(&format!(
        "{:<34} {:>7} {:>11} {:>6} {:>8} {:>12} {:>10} {:>9} {:>6}\n",
        "case", "msgs/s", "range", "MB/s", "CPU s", "sink CPU s", "busy cores", "RSS MiB", "speed"
    ));
    for (name, st) in [
        ("oauthmail, smtp::send_batch", &os),
        ("smtplib, SMTP_SSL + sendmail x500", &ps),
        ("ceiling: smtplib straight to sink", &fs),
    ] {
        r.push_str(&format!(
            "{name:<34} {:>7.0} {:>11} {:>6.2} {:>8.3} {:>5.2} ({:>3.0}%) {:>10.2} {:>9.1} {:>6.2}\n",
            st.msgs_s,
            format!("{:.0}-{:.0}", st.min, st.max),
            st.mb_s,
            st.cpu,
            st.sink_cpu,
            st.sink_share * 100.0,
            st.busy,
            st.rss_mib,
            st.msgs_s / ps.msgs_s
        ));
    }
    let runs = |v: &[Value]| -> String {
        v.iter()
            .map(|x| format!("{:.0}", COUNT as f64 / x["seconds"].as_f64().unwrap()))
            .collect::<Vec<_>>()
            .join("/")
    };
    r.push_str(&format!(
        "\nruns msgs/s: oauthmail {}; smtplib {}; straight to the sink {}\n",
        runs(&ours),
        runs(&py),
        runs(&floor)
    ));
    r.push_str(&format!(
        "Dovecot's EHLO keywords (submissions, after login): {}\n",
        p["extensions"]
    ));
    r.push_str(&format!(
        "\nAdded round-trip time (a proxy delaying each direction by half, order kept, TLS passing through): {LATENCY_COUNT} messages over one connection; median of {LATENCY_RUNS} runs\n{:>6} {:>14} {:>12} {:>6} {:>15}\n",
        "RTT ms", "oauthmail m/s", "smtplib m/s", "speed", "turns o/py"
    ));
    for (rtt, o, p, ot, pt) in &latency {
        r.push_str(&format!(
            "{rtt:>6} {:>14.1} {:>12.1} {:>6.2} {:>15}\n",
            o.msgs_s,
            p.msgs_s,
            o.msgs_s / p.msgs_s,
            format!("{ot}/{pt}")
        ));
    }
    r.push_str("(turns: client->server bursts after server data on the one connection, TLS handshake included; the TCP connect is not delayed)\n\n");
    r.push_str("speed: msgs/s ÷ smtplib's. Time: connect to the reply to QUIT. CPU s: the client's user+system time over that span. sink CPU s: the SMTP sink's (Python asyncio) CPU time during the run, in parentheses as a share of the wall time (100% = one core saturated). busy cores: the whole machine over the run (Dovecot, sink, client, and anything else). RSS: peak of the client process. The sink had every message after each run, byte for byte. ceiling: the same smtplib sending the same messages in plain SMTP straight to the sink's port (no TLS, no login, no Dovecot): what the sink alone allows.\n");
    let kib = |k: &Value| k.as_f64().unwrap_or(0.0) / 1024.0;
    r.push_str(&format!(
        "\nom_send_batch of {COUNT} composed messages (~20 KB of accented text each; the host's JSON: {:.1} MB): {:.1} s, peak RSS {:.1} MiB, of which {:.1} MiB before the call (the JSON built by the bench); the sink got {:.1} MB ({:.1} KB a message, Dovecot's Received header included)\n",
        composed["json_bytes"].as_f64().unwrap_or(0.0) / 1e6,
        composed["seconds"].as_f64().unwrap_or(0.0),
        kib(&composed["vmhwm_kb"]),
        kib(&composed["vmhwm_before_kb"]),
        sunk_bytes as f64 / 1e6,
        sunk_bytes as f64 / COUNT as f64 / 1e3,
    ));
    r.push_str(&format!(
        "\nwhole run {:.0} s\n",
        started.elapsed().as_secs_f64()
    ));
    publish("send_smtp", &r);

    stop_mail_sandbox(&m.workdir, &dir);
}
