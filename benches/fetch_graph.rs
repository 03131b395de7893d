//! Benchmark: fetching 1,000 messages (~20 KB each) with `om_fetch` over Microsoft Graph (the
//! Graph emulator of tests/sandbox/graph) beside the IMAPS path (the sandbox Dovecot) on the
//! same content: the same generated MIME bytes are written into the user's Maildir and seeded
//! into the emulator. For each side: messages/s, MB/s, CPU s, peak RSS; for Graph also the
//! requests made and the most concurrent requests per mailbox the emulator saw; the CPU time of
//! the server (Dovecot's processes, the emulator's Node process); and the ratios Graph ÷ IMAP.
//! A Graph run that met a 429 (the emulator's mailbox concurrency limit: its Retry-After is 1 s)
//! is counted, and the runs without one are also shown apart.
//!
//! Each measurement runs in a child process (this binary re-executed with `--child`), so its
//! peak RSS (VmHWM) is its own; the tokens reach the child through `om_tokens_import`.
//!
//! Run: `cargo bench --bench fetch_graph` (results also in target/bench/fetch_graph.txt).
//! Needs the sandboxes of the tests (Node.js + `npm ci --prefix tests/sandbox`, Dovecot:
//! `bash tests/sandbox/mail/install.sh`, root).

#[path = "common/child.rs"]
mod child;
#[path = "../tests/common/mod.rs"]
mod common;
use child::{cpu_seconds, last_error, open_account, run_json, tree_cpu_seconds, vmhwm_kb};

use base64::Engine as _;
use common::graph::{graph_emulator, GRAPH_READ_WRITE};
use oauthmail::ffi::fetch::{om_fetch, om_message, OM_FETCH_CONTINUE};
use oauthmail::ffi::library::om_string_free;
use serde_json::{json, Value};
use std::ffi::{c_void, CStr, CString};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const COUNT: usize = 1_000;
const RUNS: usize = 5;
const USER: &str = "bench-graph@example.test";
/// 2024-01-01T00:00:00Z; message i is dated i minutes later.
const BASE_TS: u64 = 1_704_067_200;

// ----- the child: one om_fetch measurement in its own process ---------------------------------

#[derive(Default)]
struct Sink {
    count: u64,
    bytes: u64,
    /// Sum over the messages of a 64-bit hash of each (order-independent across messages,
    /// position-dependent within one): both paths must hand over the same bytes.
    checksum: u64,
}

/// A cheap hash reading every byte, 8 at a time.
fn hash(d: &[u8]) -> u64 {
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15 ^ d.len() as u64;
    let mut chunks = d.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().unwrap());
        h = (h ^ w).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Reads every byte (hashes it); copies nothing.
unsafe extern "C" fn on_message(
    user_data: *mut c_void,
    _m: *const om_message,
    data: *const u8,
    len: usize,
) -> i32 {
    let s = &mut *(user_data as *mut Sink);
    let d = std::slice::from_raw_parts(data, len);
    s.checksum = s.checksum.wrapping_add(hash(d));
    s.count += 1;
    s.bytes += len as u64;
    OM_FETCH_CONTINUE
}

/// `--child CONFIG_FILE TOKENS_FILE OPTIONS_JSON`: one timed om_fetch; prints one JSON line.
fn child(args: &[String]) -> ! {
    let config = std::fs::read_to_string(&args[0]).unwrap();
    let tokens = std::fs::read_to_string(&args[1]).unwrap();
    let options = CString::new(args[2].as_str()).unwrap();
    let h = open_account(&config, &tokens);
    let baseline = vmhwm_kb();
    let mut sink = Sink::default();
    let mut out = std::ptr::null_mut();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let st = unsafe {
        om_fetch(
            h,
            options.as_ptr(),
            Some(on_message),
            &mut sink as *mut Sink as *mut c_void,
            &mut out,
        )
    };
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    if st != 0 {
        eprintln!("om_fetch({}) failed: {st} {}", args[2], last_error());
        std::process::exit(1);
    }
    let summary: Value =
        serde_json::from_str(&unsafe { CStr::from_ptr(out) }.to_string_lossy()).unwrap();
    unsafe { om_string_free(out) };
    println!(
        "{}",
        json!({"count": sink.count, "bytes": sink.bytes, "checksum": sink.checksum.to_string(),
               "seconds": secs, "cpu_seconds": cpu, "vmhwm_kb": vmhwm_kb(),
               "baseline_kb": baseline, "summary": summary})
    );
    std::process::exit(0)
}

// ----- the content ------------------------------------------------------------------------------

/// splitmix64: deterministic content without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "the",
    "report",
    "quarter",
    "invoice",
    "meeting",
    "schedule",
    "delivery",
    "customer",
    "account",
    "please",
    "find",
    "attached",
    "regards",
    "thanks",
    "update",
    "project",
    "budget",
    "review",
    "contract",
    "order",
    "shipment",
    "warehouse",
    "forecast",
    "revenue",
    "margin",
    "team",
    "office",
    "Monday",
    "Friday",
    "deadline",
    "draft",
    "version",
    "approval",
    "café",
    "déjà",
    "naïve",
    "Zürich",
    "Société",
    "reçu",
    "façade",
    "and",
    "of",
    "to",
    "in",
    "for",
    "with",
    "on",
    "is",
    "we",
    "you",
    "will",
    "be",
    "as",
    "at",
    "this",
    "that",
    "by",
    "from",
];

/// Text of about `target` bytes: sentences wrapped at 72 columns, CRLF line ends, blank lines
/// between paragraphs.
fn text(rng: &mut Rng, target: usize) -> String {
    let mut out = String::with_capacity(target + 128);
    let mut line = String::new();
    let mut sentence_left = 0usize;
    let mut paragraph_left = 6 + rng.below(6);
    while out.len() + line.len() < target {
        let mut w = WORDS[rng.below(WORDS.len())].to_string();
        if sentence_left == 0 {
            sentence_left = 6 + rng.below(12);
            let mut c = w.chars();
            w = c
                .next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default();
        }
        sentence_left -= 1;
        if sentence_left == 0 {
            w.push(if rng.below(8) == 0 { '?' } else { '.' });
        }
        if !line.is_empty() && line.len() + 1 + w.len() > 72 {
            out.push_str(&line);
            out.push_str("\r\n");
            line.clear();
            paragraph_left -= 1;
            if paragraph_left == 0 {
                out.push_str("\r\n");
                paragraph_left = 6 + rng.below(6);
            }
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&w);
    }
    out.push_str(&line);
    out.push_str("\r\n");
    out
}

/// Message `i` of `user`: CRLF line ends (what IMAP serves and Graph stores), ~20 KB; two
/// messages in three are multipart/mixed with a base64 attachment, the others one text part.
fn message(user: &str, i: usize) -> Vec<u8> {
    let mut rng = Rng(0x0a0b_0c0d ^ (i as u64).wrapping_mul(0x1000_0000_01b3));
    let target = 18_500 + rng.below(4_000);
    let s = i % 40;
    let ts = BASE_TS + 60 * i as u64;
    let date = format!(
        "Mon, 01 Jan 2024 {:02}:{:02}:00 +0000",
        (ts - BASE_TS) / 3600,
        (ts - BASE_TS) / 60 % 60
    );
    let subject: Vec<&str> = (0..4).map(|_| WORDS[rng.below(WORDS.len())]).collect();
    let mut m = format!(
        "Return-Path: <sender{s}@example.test>\r\n\
         Received: from mx{r}.example.test (mx{r}.example.test [192.0.2.{r}])\r\n\
         \tby mail.example.test (Postfix) with ESMTPS id {id:X}\r\n\
         \tfor <{user}>; {date}\r\n\
         Message-ID: <{i}.{mid:016x}@bench.example.test>\r\n\
         Date: {date}\r\n\
         From: Sender {s} <sender{s}@example.test>\r\n\
         To: {user}\r\n\
         Subject: Report {i}: {subject}\r\n\
         MIME-Version: 1.0\r\n\
         X-Bench-Index: {i}\r\n",
        r = 1 + s * 3,
        id = rng.next() >> 24,
        mid = rng.next(),
        subject = subject.join(" "),
    );
    if i.is_multiple_of(3) {
        m.push_str(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        );
        let left = target.saturating_sub(m.len());
        m.push_str(&text(&mut rng, left));
        return m.into_bytes();
    }
    let boundary = format!("=_bench_{i}_{:08x}", rng.next() as u32);
    let raw: Vec<u8> = (0..4_000 + rng.below(4_000))
        .map(|_| rng.next() as u8)
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
    let mut att = String::with_capacity(b64.len() + b64.len() / 38);
    for chunk in b64.as_bytes().chunks(76) {
        att.push_str(std::str::from_utf8(chunk).unwrap());
        att.push_str("\r\n");
    }
    m.push_str(&format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
         This is a multi-part message in MIME format.\r\n\r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n"
    ));
    let tail = format!(
        "--{boundary}\r\n\
         Content-Type: application/octet-stream; name=\"data-{i}.bin\"\r\n\
         Content-Disposition: attachment; filename=\"data-{i}.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         {att}--{boundary}--\r\n"
    );
    let left = target.saturating_sub(m.len() + tail.len()).max(400);
    m.push_str(&text(&mut rng, left));
    m.push_str(&tail);
    m.into_bytes()
}

// ----- the Maildir --------------------------------------------------------------------------------

/// omtestmail's uid and gid (Dovecot's mail user in the sandbox), when we are root.
fn mail_owner() -> Option<(u32, u32)> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = CString::new("omtestmail").unwrap();
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

fn mkdir_owned(path: &Path, owner: Option<(u32, u32)>) {
    if path.is_dir() {
        return;
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
    if let Some((u, g)) = owner {
        std::os::unix::fs::chown(path, Some(u), Some(g)).unwrap();
    }
}

/// Writes `messages` into `user`'s INBOX as seed.py does: tmp/ then renamed into new/, names
/// `TIME.M<k>P<pid>Q<i>.HOST,S=<size>,W=<CRLF size>` (the files are CRLF already: W = S), mode
/// 0600, owned by omtestmail, mtime = the Date header (Dovecot's INTERNALDATE).
fn write_maildir(m: &common::mail::MailSandbox, user: &str, messages: &[Vec<u8>]) {
    let owner = mail_owner();
    let inbox = m.maildir(user, "INBOX");
    mkdir_owned(inbox.parent().unwrap(), owner);
    for d in [
        inbox.clone(),
        inbox.join("cur"),
        inbox.join("new"),
        inbox.join("tmp"),
    ] {
        mkdir_owned(&d, owner);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let pid = std::process::id();
    for (i, data) in messages.iter().enumerate() {
        let bare_lf = data
            .iter()
            .enumerate()
            .filter(|&(k, &b)| b == b'\n' && (k == 0 || data[k - 1] != b'\r'))
            .count();
        let name = format!(
            "{now}.M{i}P{pid}Q{i}.fetch-graph-bench,S={},W={}",
            data.len(),
            data.len() + bare_lf
        );
        let tmp = inbox.join("tmp").join(&name);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .unwrap();
        std::io::Write::write_all(&mut &f, data).unwrap();
        if let Some((u, g)) = owner {
            std::os::unix::fs::fchown(&f, Some(u), Some(g)).unwrap();
        }
        f.set_modified(UNIX_EPOCH + Duration::from_secs(BASE_TS + 60 * i as u64))
            .unwrap();
        drop(f);
        std::fs::rename(&tmp, inbox.join("new").join(&name)).unwrap();
    }
}

// ----- the parent ---------------------------------------------------------------------------------

struct Case {
    name: &'static str,
    graph: bool,
    options: &'static str,
}

const CASES: [Case; 3] = [
    Case {
        name: "IMAPS, batch_size 50 (default)",
        graph: false,
        options: r#"{"only_new": false}"#,
    },
    Case {
        name: "Graph, batch_size 50 (default page)",
        graph: true,
        options: r#"{"only_new": false}"#,
    },
    Case {
        name: "Graph, batch_size 200",
        graph: true,
        options: r#"{"only_new": false, "batch_size": 200}"#,
    },
];

fn run_child(config: &Path, tokens: &Path, options: &str) -> Value {
    let exe = std::env::current_exe().unwrap();
    run_json(
        Command::new(exe)
            .arg("--child")
            .arg(config)
            .arg(tokens)
            .arg(options),
        "oauthmail child",
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let h = v.len() / 2;
    if v.len() % 2 == 1 {
        v[h]
    } else {
        (v[h - 1] + v[h]) / 2.0
    }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    (
        v.iter().cloned().fold(f64::MAX, f64::min),
        v.iter().cloned().fold(f64::MIN, f64::max),
    )
}

#[derive(Clone, Copy)]
struct Stats {
    msgs_s: f64,
    min_msgs_s: f64,
    max_msgs_s: f64,
    mb_s: f64,
    seconds: f64,
    cpu_s: f64,
    server_cpu_s: f64,
    rss_mib: f64,
    base_mib: f64,
}

fn stats(runs: &[Value]) -> Stats {
    let f = |k: &str| -> Vec<f64> { runs.iter().map(|r| r[k].as_f64().unwrap()).collect() };
    let count = runs[0]["count"].as_u64().unwrap() as f64;
    let bytes = runs[0]["bytes"].as_u64().unwrap() as f64;
    let rates: Vec<f64> = f("seconds").iter().map(|s| count / s).collect();
    let (lo, hi) = min_max(&rates);
    Stats {
        msgs_s: median(rates),
        min_msgs_s: lo,
        max_msgs_s: hi,
        mb_s: median(f("seconds").iter().map(|s| bytes / 1e6 / s).collect()),
        seconds: median(f("seconds")),
        cpu_s: median(f("cpu_seconds")),
        server_cpu_s: median(f("server_cpu_seconds")),
        rss_mib: median(f("vmhwm_kb")) / 1024.0,
        base_mib: median(f("baseline_kb")) / 1024.0,
    }
}

/// The emulator's counters of one run: requests, the most concurrent requests on the mailbox,
/// throttled answers, requests per route.
fn graph_counters(st: &Value) -> Value {
    json!({
        "requests": st["requests_total"],
        "max_concurrency": st["max_concurrency"][USER.to_lowercase()],
        "max_concurrency_all": st["max_concurrency"],
        "throttled": st["throttled"],
        "throttled_concurrency": st["throttled_concurrency"],
        "by_route": st["by_route"],
        "status_counts": st["status_counts"],
    })
}

fn counters(runs: &[Value], key: &str) -> Vec<f64> {
    runs.iter()
        .map(|r| r["graph"][key].as_f64().unwrap_or(0.0))
        .collect()
}

/// `median` of a counter over runs, with the range when the runs disagree.
fn counter(runs: &[Value], key: &str) -> String {
    let v = counters(runs, key);
    let (lo, hi) = min_max(&v);
    if lo == hi {
        format!("{}", median(v))
    } else {
        format!("{} ({lo}–{hi})", median(v))
    }
}

/// The 1-minute load average (others may be using the machine).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1..]);
    }
    let started = Instant::now();
    let load0 = loadavg();
    common::capi::init();
    let sb = common::sandbox();
    let m = common::mail::mail_sandbox();
    let g = graph_emulator();
    let imaps = m.port("imaps_port");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fetch_graph-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // the same bytes on both sides
    let t = Instant::now();
    let messages: Vec<Vec<u8>> = (0..COUNT).map(|i| message(USER, i)).collect();
    let total: usize = messages.iter().map(Vec::len).sum();
    let expected_checksum = messages
        .iter()
        .fold(0u64, |a, msg| a.wrapping_add(hash(msg)))
        .to_string();
    write_maildir(m, USER, &messages);
    for chunk in messages.chunks(250) {
        g.seed(USER, "inbox", chunk);
    }
    let with_attachment = (0..COUNT).filter(|i| !i.is_multiple_of(3)).count();
    eprintln!(
        "generated {COUNT} messages, {total} bytes, and stored them in Dovecot and the emulator in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // two accounts of the same user: IMAP (scope `mail`) and Graph (Mail.ReadWrite)
    let imap_extra = json!({"email": USER, "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": imaps, "security": "tls"}});
    let graph_extra = json!({"email": USER, "graph_url": g.base_url(),
        "scopes": format!("openid offline_access email {GRAPH_READ_WRITE}"),
        "incoming": {"protocol": "graph"}});
    let mut files = Vec::new();
    for (name, extra) in [("imap", imap_extra), ("graph", graph_extra)] {
        let acc = common::authorized_as("confidential-app", USER, extra.clone());
        let config = dir.join(format!("{name}.config.json"));
        let tokens = dir.join(format!("{name}.tokens.json"));
        std::fs::write(&config, sb.config("confidential-app", extra)).unwrap();
        std::fs::write(&tokens, acc.export().to_string()).unwrap();
        files.push((config, tokens));
    }
    let dovecot = m.info["pids"]["dovecot"].as_u64().unwrap() as u32;
    let emulator = g.info["pid"].as_u64().unwrap() as u32;
    let run = |c: &Case| -> Value {
        let (config, tokens) = &files[usize::from(c.graph)];
        if c.graph {
            g.reset();
        }
        let server = if c.graph { emulator } else { dovecot };
        let cpu0 = tree_cpu_seconds(server);
        let mut v = run_child(config, tokens, c.options);
        v["server_cpu_seconds"] = json!(tree_cpu_seconds(server) - cpu0);
        if c.graph {
            v["graph"] = graph_counters(&g.stats());
        }
        assert_eq!(v["count"].as_u64(), Some(COUNT as u64), "{}: {v}", c.name);
        assert_eq!(v["bytes"].as_u64(), Some(total as u64), "{}: {v}", c.name);
        assert_eq!(
            v["checksum"].as_str(),
            Some(expected_checksum.as_str()),
            "{}: not the bytes stored: {v}",
            c.name
        );
        v
    };

    // warm-up (Dovecot indexes new/ on first access; page cache; the emulator's JIT)
    let t = Instant::now();
    for c in &CASES {
        run(c);
    }
    eprintln!("warm-up in {:.1} s", t.elapsed().as_secs_f64());
    let mut results: Vec<Vec<Value>> = vec![Vec::new(); CASES.len()];
    for r in 0..RUNS {
        for (k, c) in CASES.iter().enumerate() {
            results[k].push(run(c));
        }
        eprintln!("run {}/{RUNS} done", r + 1);
    }

    // ----- the report
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let st: Vec<Stats> = results.iter().map(|r| stats(r)).collect();
    let imap = st[0];
    let mut r = String::new();
    r.push_str(&format!(
        "om_fetch of {COUNT} messages ({:.1} MB, {with_attachment} with a base64 attachment), the same bytes over IMAPS (sandbox Dovecot) and Microsoft Graph (emulator), into a callback reading every byte; median of {RUNS} runs per case, alternating, after one warm-up; {cores} cores\n\n",
        total as f64 / 1e6
    ));
    r.push_str(&format!(
        "| {COUNT} messages, {:.1} MB | msgs/s | range | MB/s | CPU s | server CPU s | peak RSS MiB | requests | max concurrent | speed | CPU | memory |\n",
        total as f64 / 1e6
    ));
    r.push_str(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    let row = |r: &mut String, name: &str, runs: &[Value], graph: bool| {
        let s = stats(runs);
        let (req, conc) = if graph {
            (counter(runs, "requests"), counter(runs, "max_concurrency"))
        } else {
            ("—".to_string(), "1 connection".to_string())
        };
        r.push_str(&format!(
            "| {name} | {:.0} | {:.0}–{:.0} | {:.1} | {:.2} | {:.2} | {:.1} ({:.1}) | {req} | {conc} | {:.2} | {:.2} | {:.2} |\n",
            s.msgs_s,
            s.min_msgs_s,
            s.max_msgs_s,
            s.mb_s,
            s.cpu_s,
            s.server_cpu_s,
            s.rss_mib,
            s.base_mib,
            s.msgs_s / imap.msgs_s,
            s.cpu_s / imap.cpu_s,
            s.rss_mib / imap.rss_mib,
        ));
    };
    for (k, c) in CASES.iter().enumerate() {
        row(&mut r, c.name, &results[k], c.graph);
        if c.graph {
            // a 429 costs its Retry-After (1 s): the runs without one, apart
            let calm: Vec<Value> = results[k]
                .iter()
                .filter(|v| v["graph"]["throttled"].as_u64() == Some(0))
                .cloned()
                .collect();
            let name = format!("… its {} of {RUNS} runs without a 429", calm.len());
            if calm.is_empty() {
                r.push_str(&format!(
                    "| {name} | — | — | — | — | — | — | — | — | — | — | — |\n"
                ));
            } else if calm.len() < RUNS {
                row(&mut r, &name, &calm, true);
            }
        }
    }
    r.push_str("\nspeed, CPU, memory: ratio to IMAPS (Graph ÷ IMAP). peak RSS: VmHWM of the child at the end; in parentheses before om_fetch. CPU s: the child's user+system time during om_fetch; server CPU s: the same for the server (Dovecot and its child processes; the emulator's Node process).\n");
    r.push_str(&format!(
        "wall time per fetch (median): {}\n",
        CASES
            .iter()
            .zip(&st)
            .map(|(c, s)| format!("{} {:.3} s", c.name, s.seconds))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    for (k, c) in CASES.iter().enumerate().filter(|(_, c)| c.graph) {
        let last = &results[k][RUNS - 1]["graph"];
        let throttled = counters(&results[k], "throttled");
        let slow: Vec<String> = results[k]
            .iter()
            .zip(&throttled)
            .filter(|(_, t)| **t > 0.0)
            .map(|(v, _)| format!("{:.2} s", v["seconds"].as_f64().unwrap()))
            .collect();
        r.push_str(&format!(
            "{} (last run): by route {}, statuses {}, max concurrency per mailbox {}. 429 answers over the {RUNS} runs: {} ({} for the mailbox concurrency limit), in {} run(s){}\n",
            c.name,
            last["by_route"],
            last["status_counts"],
            last["max_concurrency_all"],
            throttled.iter().sum::<f64>(),
            counters(&results[k], "throttled_concurrency").iter().sum::<f64>(),
            slow.len(),
            if slow.is_empty() {
                String::new()
            } else {
                format!(" taking {}", slow.join(", "))
            },
        ));
    }
    r.push_str(&format!(
        "both paths handed over {COUNT} messages, {total} bytes, checksum {expected_checksum} in every run (checked)\n"
    ));
    r.push_str(&format!(
        "\nload average at the start {load0}, at the end {}; whole run {:.0} s\n",
        loadavg(),
        started.elapsed().as_secs_f64()
    ));
    print!("{r}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("fetch_graph.txt"), &r).unwrap();

    let _ = Command::new("bash")
        .arg(common::repo().join("tests/sandbox/mail/stop.sh"))
        .arg(&m.workdir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(&m.workdir);
    let _ = std::fs::remove_dir_all(&dir);
}
