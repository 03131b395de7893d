//! Benchmark (issue #14): many accounts in one process. N = 100, 200, 500 and 1,000 accounts,
//! each doing one `om_fetch` with `{"only_new": false}` of a small IMAPS mailbox, driven from 16
//! host threads taking accounts from a shared queue; the same 200 accounts one after another on
//! one host thread as the baseline (the two 200-account cases 3 times each, alternating); and
//! 1,000 accounts from 64 host threads. Per case: wall time, accounts/s, the CPU of the client,
//! of Dovecot and of the OAuth2 server per account, peak RSS (VmHWM), the peak number of OS
//! threads (`/proc/self/task`) and open file descriptors (`/proc/self/fd`), sampled every 10 ms
//! by a monitor thread, and what is left after every account was freed (and after a second
//! round of 1,000 in the same process, after `malloc_trim`, and after `om_shutdown`).
//!
//! "One slow server cannot stall the others": 200 accounts of which 10 point at a server that
//! accepts TCP connections and then never answers, with `timeout_secs` 5; the completion time
//! of each of the 190 healthy fetches is recorded and compared with the 200-healthy case, and
//! the 10 stalled ones must end with OM_STATUS_TIMEOUT. Three placements: spread through the
//! queue, the same with om_fetch's `timeout_ms` 5000, and all 10 first in the queue.
//!
//! Mail: 20 sandbox users (`many-00@example.test` … `many-19@example.test`), each with its own
//! INBOX of 20 messages of about 4 KiB (`seed.py --size-kb 4`); account i logs in as user
//! i mod 20 with XOAUTH2, so with N accounts 20 mailboxes are each read by N/20 accounts. Each
//! user is authorized once through the scripted browser; its token set is imported into each
//! of its accounts with `om_tokens_import` (one-hour access tokens: no refresh during the run).
//! Dovecot checks every login by introspection at the sandbox OAuth2 server (no auth cache).
//! Every healthy fetch is checked: 20 messages, the bytes and the checksum of the warm-up.
//!
//! Each run is a child process (this binary re-executed with `--child SPEC_FILE`), so its
//! memory, threads and descriptors are its own.
//!
//! Run: `cargo bench --bench many_accounts` (results also in target/bench/many_accounts.txt;
//! about 2 minutes after the build). Needs the sandboxes of the tests (Node.js +
//! `npm ci --prefix tests/sandbox`, Dovecot: `bash tests/sandbox/mail/install.sh`, root).

#[path = "common/child.rs"]
mod child;
#[path = "../tests/common/mod.rs"]
mod common;
use child::*;

use oauthmail::ffi::account::{om_account_free, om_account_new};
use oauthmail::ffi::fetch::om_fetch;
use oauthmail::ffi::library::{om_init, om_shutdown, om_string_free};
use oauthmail::ffi::om_account;
use oauthmail::ffi::tokens::om_tokens_import;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::ffi::{c_void, CString};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USERS: usize = 20;
const MESSAGES: u32 = 20;
const SIZE_KB: &str = "4";
const HOST_THREADS: usize = 16;
const SCALE: [usize; 4] = [100, 200, 500, 1000];
const SEQUENTIAL: usize = 200;
/// Runs of the 200-account cases (16 host threads, and one after another), alternating.
const REPEATS: usize = 3;
/// A last 1,000-account run from this many host threads: what grows with the host's threads.
const MANY_HOST_THREADS: usize = 64;
/// Rounds (create 1,000 accounts, fetch, free) in the 1,000-account process: is anything kept?
const ROUNDS: u32 = 3;
const STALL_N: usize = 200;
const STALLED: usize = 10;
const TIMEOUT_SECS: u64 = 5;
const OM_STATUS_TIMEOUT: i32 = 6;

// ----- the child: one case in its own process ------------------------------------------------

fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Serialises the samples: reading /proc/self/fd opens one descriptor, which is not counted.
static SAMPLING: Mutex<()> = Mutex::new(());

/// (OS threads, open descriptors) of this process now.
fn sample() -> (usize, usize) {
    let _g = SAMPLING.lock().unwrap();
    let count = |p: &str| std::fs::read_dir(p).map(|d| d.count()).unwrap_or(0);
    let threads = count("/proc/self/task");
    let fds = count("/proc/self/fd").saturating_sub(1);
    (threads, fds)
}

fn snapshot() -> Value {
    let (threads, fds) = sample();
    json!({"threads": threads, "fds": fds, "rss_kb": status_kb("VmRSS:")})
}

/// Samples threads and descriptors every 10 ms, keeping the peaks since the last reset.
struct Monitor {
    stop: Arc<AtomicBool>,
    peak_threads: Arc<AtomicUsize>,
    peak_fds: Arc<AtomicUsize>,
    samples: Arc<AtomicUsize>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Monitor {
    fn start() -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_threads = Arc::new(AtomicUsize::new(0));
        let peak_fds = Arc::new(AtomicUsize::new(0));
        let samples = Arc::new(AtomicUsize::new(0));
        let (s, pt, pf, n) = (
            stop.clone(),
            peak_threads.clone(),
            peak_fds.clone(),
            samples.clone(),
        );
        let handle = std::thread::Builder::new()
            .name("monitor".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    let (t, f) = sample();
                    pt.fetch_max(t, Ordering::Relaxed);
                    pf.fetch_max(f, Ordering::Relaxed);
                    n.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
            .unwrap();
        Monitor {
            stop,
            peak_threads,
            peak_fds,
            samples,
            handle: Some(handle),
        }
    }

    fn reset(&self) {
        let (t, f) = sample();
        self.peak_threads.store(t, Ordering::Relaxed);
        self.peak_fds.store(f, Ordering::Relaxed);
        self.samples.store(0, Ordering::Relaxed);
    }

    /// (peak threads, peak fds, samples taken) since the last reset.
    fn peaks(&self) -> (usize, usize, usize) {
        let (t, f) = sample();
        (
            self.peak_threads.load(Ordering::Relaxed).max(t),
            self.peak_fds.load(Ordering::Relaxed).max(f),
            self.samples.load(Ordering::Relaxed),
        )
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The servers' CPU seconds so far: (Dovecot's process tree, the OAuth2 server).
fn servers_cpu(spec: &Value) -> (f64, f64) {
    let pid = |k: &str| spec["server_pids"][k].as_u64().unwrap_or(0) as u32;
    (
        tree_cpu_seconds(pid("dovecot")),
        tree_cpu_seconds(pid("oauth")),
    )
}

/// One round: creates the accounts, runs them from the host threads, frees them. Returns the
/// measurements (the per-account records when `detail`).
fn round(spec: &Value, monitor: &Monitor, detail: bool) -> Value {
    let users = spec["users"].as_array().unwrap();
    let n = spec["n"].as_u64().unwrap() as usize;
    let threads = spec["threads"].as_u64().unwrap() as usize;
    let stalled: Vec<usize> = spec["stalled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let options = CString::new(spec["options"].as_str().unwrap()).unwrap();
    let base = snapshot();

    // the accounts (handles kept as integers: the host threads share them)
    let t_create = Instant::now();
    let mut handles: Vec<usize> = Vec::with_capacity(n);
    for i in 0..n {
        let u = &users[i % users.len()];
        let config = if stalled.contains(&i) {
            spec["stall_configs"][i % users.len()].as_str().unwrap()
        } else {
            u["config"].as_str().unwrap()
        };
        let c = CString::new(config).unwrap();
        let mut h: *mut om_account = std::ptr::null_mut();
        assert_eq!(
            unsafe { om_account_new(c.as_ptr(), &mut h) },
            0,
            "om_account_new: {}",
            last_error()
        );
        let t = CString::new(u["tokens"].as_str().unwrap()).unwrap();
        assert_eq!(
            unsafe { om_tokens_import(h, t.as_ptr()) },
            0,
            "om_tokens_import: {}",
            last_error()
        );
        handles.push(h as usize);
    }
    let create_s = t_create.elapsed().as_secs_f64();
    let created = snapshot();

    // the run: `threads` host threads taking accounts from a shared queue
    monitor.reset();
    let handles = Arc::new(handles);
    let next = Arc::new(AtomicUsize::new(0));
    let records: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(vec![Value::Null; n]));
    let options = Arc::new(options);
    let (dovecot0, oauth0) = servers_cpu(spec);
    let machine0 = machine_jiffies();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|w| {
            let (handles, next, records, options) = (
                handles.clone(),
                next.clone(),
                records.clone(),
                options.clone(),
            );
            std::thread::Builder::new()
                .name(format!("host-{w}"))
                .spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= handles.len() {
                        break;
                    }
                    let h = handles[i] as *mut om_account;
                    let mut sink = Sink::default();
                    let mut out = std::ptr::null_mut();
                    let start = t0.elapsed().as_secs_f64();
                    let st = unsafe {
                        om_fetch(
                            h,
                            options.as_ptr(),
                            Some(on_message),
                            &mut sink as *mut Sink as *mut c_void,
                            &mut out,
                        )
                    };
                    let end = t0.elapsed().as_secs_f64();
                    let err = if st != 0 { last_error() } else { String::new() };
                    if !out.is_null() {
                        unsafe { om_string_free(out) };
                    }
                    records.lock().unwrap()[i] =
                        json!([start, end, st, sink.count, sink.bytes, sink.sum, err, w]);
                })
                .unwrap()
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let machine1 = machine_jiffies();
    let (dovecot1, oauth1) = servers_cpu(spec);
    let (peak_threads, peak_fds, samples) = monitor.peaks();
    let after_run = snapshot();
    let vmhwm = status_kb("VmHWM:");

    for h in handles.iter() {
        assert_eq!(om_account_free(*h as *mut om_account), 0, "om_account_free");
    }
    let after_free = snapshot();
    std::thread::sleep(Duration::from_secs(1));
    let after_free_1s = snapshot();
    // what the allocator keeps for reuse goes back to the system: what is left is in use
    unsafe { libc::malloc_trim(0) };
    let after_trim = snapshot();
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let failed = records
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r[2].as_i64() != Some(0))
        .count();
    let mut out = json!({
        "n": n, "threads": threads, "wall": wall, "cpu": cpu, "create_s": create_s,
        "dovecot_cpu": dovecot1 - dovecot0, "oauth_cpu": oauth1 - oauth0,
        "machine_busy_cores": (machine1.0 - machine0.0) as f64 / tick / wall,
        "base": base, "created": created, "after_run": after_run,
        "after_free": after_free, "after_free_1s": after_free_1s, "after_trim": after_trim,
        "peak_threads": peak_threads, "peak_fds": peak_fds, "samples": samples,
        "vmhwm_kb": vmhwm, "failed": failed,
    });
    if detail {
        out["accounts"] = Value::Array(std::mem::take(&mut *records.lock().unwrap()));
    }
    out
}

/// `--child SPEC_FILE`: the spec (JSON) gives `users` (config + tokens of each), the config of
/// each user's account on the stalling server (`stall_configs`), `n` accounts, `threads` host
/// threads, the indexes of the `stalled` accounts, the `options` of om_fetch, the `rounds` to
/// run (create, fetch, free; the first one is reported in detail, the others show whether
/// memory comes back) and the servers' pids. Prints one JSON line.
fn child(args: &[String]) -> ! {
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(&args[0]).unwrap()).unwrap();
    let rounds = spec["rounds"].as_u64().unwrap_or(1);
    let before_init = snapshot();
    assert_eq!(om_init(), 0, "om_init: {}", last_error());
    let monitor = Monitor::start();
    let mut out = round(&spec, &monitor, true);
    let mut later = Vec::new();
    for _ in 1..rounds {
        later.push(round(&spec, &monitor, false));
    }
    assert_eq!(om_shutdown(), 0, "om_shutdown: {}", last_error());
    let after_shutdown = snapshot();
    monitor.stop();
    out["before_init"] = before_init;
    out["after_shutdown"] = after_shutdown;
    out["later_rounds"] = json!(later);
    println!("{out}");
    std::process::exit(0)
}

// ----- the stalling server ---------------------------------------------------------------------

/// A hand-written stand-in for a mail server that hangs: it accepts TCP connections and never
/// sends a byte (no real server hangs on purpose, so none can be started to do it). The client's
/// TLS ClientHello stays unread; the sockets are held until the bench ends.
struct Staller {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Staller {
    fn start() -> Staller {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let a = accepted.clone();
        std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            for s in l.incoming().flatten() {
                held.push(s);
                a.fetch_add(1, Ordering::Relaxed);
            }
        });
        Staller { port, accepted }
    }
}

// ----- the parent ------------------------------------------------------------------------------

fn run_child(spec: &Value, dir: &Path, name: &str) -> Value {
    let file = dir.join(format!("{name}.spec.json"));
    std::fs::write(&file, spec.to_string()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .arg("--child")
        .arg(&file)
        .stderr(Stdio::inherit())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{name} failed: {text}");
    serde_json::from_str(text.lines().last().unwrap_or("").trim())
        .unwrap_or_else(|e| panic!("{name} printed {text:?}: {e}"))
}

/// One account's record: (start s, end s, status, messages, bytes, checksum, error).
struct Rec {
    start: f64,
    end: f64,
    status: i64,
    count: u64,
    bytes: u64,
    sum: u64,
    error: String,
}

fn records(v: &Value) -> Vec<Rec> {
    v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Rec {
            start: r[0].as_f64().unwrap(),
            end: r[1].as_f64().unwrap(),
            status: r[2].as_i64().unwrap(),
            count: r[3].as_u64().unwrap(),
            bytes: r[4].as_u64().unwrap(),
            sum: r[5].as_u64().unwrap(),
            error: r[6].as_str().unwrap_or("").to_string(),
        })
        .collect()
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Checks that every healthy account got its whole mailbox; returns the failures by message.
fn verify(v: &Value, stalled: &[usize], expected: &[(u64, u64, u64)]) -> BTreeMap<String, usize> {
    let mut failures = BTreeMap::new();
    for (i, r) in records(v).iter().enumerate() {
        if stalled.contains(&i) {
            continue;
        }
        let (count, bytes, sum) = expected[i % expected.len()];
        if r.status != 0 {
            *failures
                .entry(format!("status {}: {}", r.status, r.error))
                .or_insert(0) += 1;
        } else if (r.count, r.bytes, r.sum) != (count, bytes, sum) {
            *failures
                .entry(format!(
                    "got {} messages / {} bytes, expected {count} / {bytes}",
                    r.count, r.bytes
                ))
                .or_insert(0) += 1;
        }
    }
    failures
}

fn mib(kb: &Value) -> f64 {
    kb.as_f64().unwrap() / 1024.0
}

/// The sandbox OAuth2 server: the Node.js child of this process running oauth-server.mjs.
fn oauth_server_pid() -> u32 {
    let me = std::process::id();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if ppid == Some(me) && String::from_utf8_lossy(&cmdline).contains("oauth-server.mjs") {
            return pid;
        }
    }
    0
}

/// The runs of one case (n accounts, host threads).
struct Case {
    n: usize,
    threads: usize,
    runs: Vec<Value>,
}

impl Case {
    /// The run of median wall time.
    fn median(&self) -> &Value {
        let mut v: Vec<&Value> = self.runs.iter().collect();
        v.sort_by(|a, b| a["wall"].as_f64().partial_cmp(&b["wall"].as_f64()).unwrap());
        v[v.len() / 2]
    }

    fn walls(&self) -> String {
        let w: Vec<f64> = self
            .runs
            .iter()
            .map(|r| r["wall"].as_f64().unwrap())
            .collect();
        if w.len() == 1 {
            format!("{:.2}", w[0])
        } else {
            let lo = w.iter().cloned().fold(f64::MAX, f64::min);
            let hi = w.iter().cloned().fold(0.0, f64::max);
            format!(
                "{:.2} ({lo:.2}–{hi:.2})",
                self.median()["wall"].as_f64().unwrap()
            )
        }
    }

    fn threads_label(&self) -> String {
        if self.threads == 1 {
            "1 (one after another)".to_string()
        } else {
            self.threads.to_string()
        }
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
    let staller = Staller::start();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("many_accounts-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server_pids = json!({
        "dovecot": m.info["pids"]["dovecot"].as_u64().unwrap(),
        "oauth": oauth_server_pid(),
    });
    assert_ne!(
        server_pids["oauth"], 0,
        "the OAuth2 server's pid was not found"
    );

    // 20 users, each with 20 messages of ~4 KiB, each authorized once
    let t = Instant::now();
    let mut users = Vec::new();
    let mut stall_configs = Vec::new();
    for u in 0..USERS {
        let user = format!("many-{u:02}@example.test");
        m.seed(&user, MESSAGES, "INBOX", &["--size-kb", SIZE_KB]);
        let account = |port: u16| {
            json!({"email": user, "timeout_secs": TIMEOUT_SECS,
                   "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": port, "security": "tls"}})
        };
        let acc = common::authorized_as("confidential-app", &user, account(imaps));
        users.push(json!({
            "user": user,
            "config": sb.config("confidential-app", account(imaps)),
            "tokens": acc.export().to_string(),
        }));
        stall_configs.push(json!(sb.config("confidential-app", account(staller.port))));
    }
    let setup_s = t.elapsed().as_secs_f64();
    eprintln!("seeded and authorized {USERS} users in {setup_s:.1} s");
    let spec = |n: usize, threads: usize, stalled: &[usize], options: &str, rounds: u32| {
        json!({"users": users, "stall_configs": stall_configs, "n": n, "threads": threads,
               "stalled": stalled, "options": options, "rounds": rounds,
               "server_pids": server_pids})
    };
    let full = r#"{"only_new": false}"#;

    // warm-up: each mailbox once (Dovecot indexes it), which also gives what each holds
    let warm = run_child(&spec(USERS, 1, &[], full, 1), &dir, "warm-up");
    let expected: Vec<(u64, u64, u64)> = records(&warm)
        .iter()
        .map(|r| {
            assert_eq!(r.status, 0, "warm-up fetch failed: {}", r.error);
            assert_eq!(r.count, u64::from(MESSAGES), "warm-up fetch incomplete");
            (r.count, r.bytes, r.sum)
        })
        .collect();
    let mailbox_kb: f64 = expected.iter().map(|e| e.1 as f64).sum::<f64>() / USERS as f64 / 1024.0;

    // scaling: 200 accounts from 16 host threads and one after another, alternating, REPEATS
    // times; then 100, 500 and 1,000 (two rounds in one process) from 16, and 1,000 from 64
    let mut cases: Vec<Case> = Vec::new();
    let case = |cases: &mut Vec<Case>, n: usize, threads: usize, rounds: u32| {
        let v = run_child(
            &spec(n, threads, &[], full, rounds),
            &dir,
            &format!("n{n}-t{threads}"),
        );
        eprintln!(
            "{n} accounts, {threads} host thread(s): {:.2} s",
            v["wall"].as_f64().unwrap()
        );
        match cases.iter_mut().find(|c| c.n == n && c.threads == threads) {
            Some(c) => c.runs.push(v),
            None => cases.push(Case {
                n,
                threads,
                runs: vec![v],
            }),
        }
    };
    for _ in 0..REPEATS {
        case(&mut cases, SEQUENTIAL, HOST_THREADS, 1);
        case(&mut cases, SEQUENTIAL, 1, 1);
    }
    for n in SCALE {
        if n != SEQUENTIAL {
            case(
                &mut cases,
                n,
                HOST_THREADS,
                if n == 1000 { ROUNDS } else { 1 },
            );
        }
    }
    case(&mut cases, 1000, MANY_HOST_THREADS, 1);
    cases.sort_by_key(|c| (c.n, c.threads != HOST_THREADS, c.threads));

    // the stalling server: 10 of 200 accounts, spread through the queue (every 20th), then the
    // same with om_fetch's own `timeout_ms`, then the 10 first in the queue
    let spread: Vec<usize> = (0..STALL_N).step_by(STALL_N / STALLED).collect();
    let first: Vec<usize> = (0..STALLED).collect();
    let limited = format!(
        r#"{{"only_new": false, "timeout_ms": {}}}"#,
        TIMEOUT_SECS * 1000
    );
    let stall_cases = [
        (
            "10 stalled, spread (every 20th)",
            spread.clone(),
            full.to_string(),
        ),
        (
            "10 stalled, spread, om_fetch option timeout_ms 5000",
            spread,
            limited,
        ),
        ("10 stalled, first in the queue", first, full.to_string()),
    ];
    let mut stalls = Vec::new();
    for (name, stalled, options) in stall_cases {
        let before = staller.accepted.load(Ordering::Relaxed);
        let v = run_child(
            &spec(STALL_N, HOST_THREADS, &stalled, &options, 1),
            &dir,
            "stall",
        );
        let conns = staller.accepted.load(Ordering::Relaxed) - before;
        eprintln!("{name}: {:.2} s", v["wall"].as_f64().unwrap());
        stalls.push((name, stalled, v, conns));
    }

    // ----- the report
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut r = String::new();
    r.push_str(&format!(
        "Many accounts: each account does one om_fetch {{\"only_new\": false}} of its IMAPS mailbox (XOAUTH2); {USERS} mailboxes of {MESSAGES} messages (~{mailbox_kb:.0} KiB each), account i = user i mod {USERS}; each run in a fresh child process; {cores} cores; the library's runtime has 2 worker threads\n\n"
    ));
    let mut failures_all: BTreeMap<String, usize> = BTreeMap::new();
    r.push_str("| accounts | host threads | runs | wall s | accounts/s | fetch ms p50 / p95 / max | CPU ms per account: oauthmail / Dovecot / OAuth server | machine busy cores |\n");
    r.push_str("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for c in &cases {
        for v in &c.runs {
            for (k, f) in verify(v, &[], &expected) {
                *failures_all
                    .entry(format!("{} accounts, {} threads: {k}", c.n, c.threads))
                    .or_insert(0) += f;
            }
        }
        let v = c.median();
        let n = c.n as f64;
        let wall = v["wall"].as_f64().unwrap();
        let d: Vec<f64> = records(v)
            .iter()
            .map(|x| (x.end - x.start) * 1000.0)
            .collect();
        let per = |k: &str| v[k].as_f64().unwrap() * 1000.0 / n;
        r.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} | {:.0} / {:.0} / {:.0} | {:.1} / {:.1} / {:.1} | {:.2} |\n",
            c.n,
            c.threads_label(),
            c.runs.len(),
            c.walls(),
            n / wall,
            percentile(&d, 0.5),
            percentile(&d, 0.95),
            percentile(&d, 1.0),
            per("cpu"),
            per("dovecot_cpu"),
            per("oauth_cpu"),
            v["machine_busy_cores"].as_f64().unwrap(),
        ));
    }
    r.push_str("(several runs: the run of median wall time, the range of the runs in parentheses. fetch ms: each om_fetch call's own duration, connection and login included. CPU: the child's user+system time during the fetches, and that of Dovecot's process tree and of the OAuth2 server (introspection of each login's token); machine busy cores: /proc/stat over the fetches, other users of the machine included)\n");

    r.push_str("\n| accounts | host threads | RSS MiB: after om_init / N accounts created / peak (VmHWM) / after free / after free + malloc_trim | OS threads: after om_init / peak / after free / after om_shutdown | library threads at peak | fds: after om_init / peak / after free |\n");
    r.push_str("| ---: | --- | ---: | ---: | ---: | ---: |\n");
    for c in &cases {
        let v = c.median();
        let peak_threads = v["peak_threads"].as_u64().unwrap() as usize;
        r.push_str(&format!(
            "| {} | {} | {:.1} / {:.1} / {:.1} / {:.1} / {:.1} | {} / {} / {} / {} | {} | {} / {} / {} |\n",
            c.n,
            c.threads_label(),
            mib(&v["base"]["rss_kb"]),
            mib(&v["created"]["rss_kb"]),
            mib(&v["vmhwm_kb"]),
            mib(&v["after_free_1s"]["rss_kb"]),
            mib(&v["after_trim"]["rss_kb"]),
            v["base"]["threads"],
            peak_threads,
            v["after_free"]["threads"],
            v["after_shutdown"]["threads"],
            // the child's main thread, the monitor and the host threads are the bench's
            peak_threads.saturating_sub(2 + c.threads),
            v["base"]["fds"],
            v["peak_fds"],
            v["after_free"]["fds"],
        ));
    }
    let created = |n: usize| {
        cases
            .iter()
            .find(|c| c.n == n && c.threads == HOST_THREADS)
            .unwrap()
            .median()["created"]["rss_kb"]
            .as_f64()
            .unwrap()
    };
    let per_account_kb = (created(1000) - created(100)) / 900.0;
    let big = cases
        .iter()
        .find(|c| c.n == 1000 && c.threads == HOST_THREADS)
        .unwrap()
        .median();
    // one value per round of the 1,000-account process, "a / b / c"
    let rounds: Vec<&Value> = std::iter::once(big)
        .chain(big["later_rounds"].as_array().unwrap())
        .collect();
    let each =
        |f: &dyn Fn(&Value) -> String| rounds.iter().map(|v| f(v)).collect::<Vec<_>>().join(" / ");
    let all_runs = || cases.iter().flat_map(|c| &c.runs);
    r.push_str(&format!(
        "(threads: the child's main thread and the bench's monitor thread are counted everywhere, the host threads only while they run; library threads at peak = peak - 2 - host threads. Before om_init the child had {} thread and {} fds. After om_account_free the threads were counted at once and 1 s later: {}. Threads and fds were sampled every ~10 ms: {} samples during the first 1,000-account round.)\n",
        big["before_init"]["threads"],
        big["before_init"]["fds"],
        if all_runs().all(|v| v["after_free"]["threads"] == v["after_free_1s"]["threads"]) {
            "the same in every run"
        } else {
            "not the same in every run"
        },
        big["samples"],
    ));
    r.push_str(&format!(
        "\nMemory per idle account (created + tokens imported, no fetch yet): {per_account_kb:.1} KiB, from the RSS with 1,000 and with 100 accounts created. The 1,000-account process ran {ROUNDS} rounds (create 1,000, fetch, free): wall {} s, failed {}; RSS after free + malloc_trim after each round {} MiB (after om_init {:.1}); peak threads {}, peak fds {}; after free {} threads and {} fds.\n",
        each(&|v| format!("{:.2}", v["wall"].as_f64().unwrap())),
        each(&|v| v["failed"].to_string()),
        each(&|v| format!("{:.1}", mib(&v["after_trim"]["rss_kb"]))),
        mib(&big["base"]["rss_kb"]),
        each(&|v| v["peak_threads"].to_string()),
        each(&|v| v["peak_fds"].to_string()),
        each(&|v| v["after_free"]["threads"].to_string()),
        each(&|v| v["after_free"]["fds"].to_string()),
    ));

    // the stall cases against the 200-healthy case
    let healthy200 = cases
        .iter()
        .find(|c| c.n == STALL_N && c.threads == HOST_THREADS)
        .unwrap()
        .median();
    r.push_str(&format!(
        "\nOne slow server: {STALL_N} accounts, {HOST_THREADS} host threads, timeout_secs {TIMEOUT_SECS}; the stalled accounts' server accepts TCP connections and never answers\n\n"
    ));
    r.push_str("| case | healthy accounts | last healthy done s | healthy fetch ms p50 / p95 / max | healthy done by 1 s / 2 s / 4 s | stalled: status | stalled: s per call min / max | connections to the stalled server | wall s | peak threads / fds |\n");
    r.push_str("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n");
    let mut stall_rows: Vec<(String, Vec<usize>, &Value, usize)> = vec![(
        format!("all {STALL_N} healthy (the median {STALL_N}-account run above)"),
        Vec::new(),
        healthy200,
        0,
    )];
    for (name, stalled, v, conns) in &stalls {
        stall_rows.push((name.to_string(), stalled.clone(), v, *conns));
    }
    let mut stalled_errors: BTreeMap<String, usize> = BTreeMap::new();
    for (name, stalled, v, conns) in stall_rows {
        let recs = records(v);
        for (k, c) in verify(v, &stalled, &expected) {
            *failures_all.entry(format!("{name}: {k}")).or_insert(0) += c;
        }
        let healthy: Vec<&Rec> = recs
            .iter()
            .enumerate()
            .filter(|(i, _)| !stalled.contains(i))
            .map(|(_, x)| x)
            .collect();
        let d: Vec<f64> = healthy.iter().map(|x| (x.end - x.start) * 1000.0).collect();
        let last = healthy.iter().map(|x| x.end).fold(0.0, f64::max);
        let by = |t: f64| healthy.iter().filter(|x| x.end <= t).count();
        let st: Vec<&Rec> = stalled.iter().map(|&i| &recs[i]).collect();
        let mut statuses: BTreeMap<i64, usize> = BTreeMap::new();
        for x in &st {
            *statuses.entry(x.status).or_insert(0) += 1;
            if x.status != 0 {
                *stalled_errors.entry(x.error.clone()).or_insert(0) += 1;
            }
        }
        let sd: Vec<f64> = st.iter().map(|x| x.end - x.start).collect();
        r.push_str(&format!(
            "| {name} | {} | {last:.2} | {:.0} / {:.0} / {:.0} | {} / {} / {} | {} | {} | {} | {:.2} | {} / {} |\n",
            healthy.len(),
            percentile(&d, 0.5),
            percentile(&d, 0.95),
            percentile(&d, 1.0),
            by(1.0),
            by(2.0),
            by(4.0),
            if st.is_empty() {
                "—".to_string()
            } else {
                statuses
                    .iter()
                    .map(|(s, c)| {
                        let label = if *s == i64::from(OM_STATUS_TIMEOUT) {
                            "OM_STATUS_TIMEOUT".to_string()
                        } else {
                            format!("status {s}")
                        };
                        format!("{c} × {label}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            if sd.is_empty() {
                "—".to_string()
            } else {
                format!("{:.2} / {:.2}", percentile(&sd, 0.0), percentile(&sd, 1.0))
            },
            conns,
            v["wall"].as_f64().unwrap(),
            v["peak_threads"],
            v["peak_fds"],
        ));
    }
    r.push_str("(last healthy done: from the start of the run to the end of the last healthy om_fetch; healthy fetch ms: each healthy om_fetch call's own duration)\n");
    r.push_str("\nErrors of the stalled accounts (om_last_error_message):\n");
    for (e, c) in &stalled_errors {
        r.push_str(&format!("- {c} × {e}\n"));
    }
    r.push_str("\nHealthy accounts that did not get their whole mailbox: ");
    if failures_all.is_empty() {
        r.push_str("none (in every run each healthy account got its 20 messages, with the bytes and checksum of the warm-up)\n");
    } else {
        r.push('\n');
        for (e, c) in &failures_all {
            r.push_str(&format!("- {c} × {e}\n"));
        }
    }
    r.push_str(&format!(
        "\nsetup (seeding + {USERS} authorizations) {setup_s:.0} s; whole run {:.0} s\n",
        started.elapsed().as_secs_f64()
    ));
    publish("many_accounts", &r);

    stop_mail_sandbox(&m.workdir, &dir);
}
