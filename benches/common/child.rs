//! What the benches' measuring child processes share: the fetch callback that reads every byte,
//! one timed `om_fetch`, the process's CPU time and peak RSS, the last error, and the parent's
//! way of running a child and reading its JSON line. (Each bench uses part of it.)
#![allow(dead_code)]

use oauthmail::ffi::account::om_account_new;
use oauthmail::ffi::fetch::{om_fetch, om_message, OM_FETCH_CONTINUE};
use oauthmail::ffi::last_error::om_last_error_message;
use oauthmail::ffi::library::om_init;
use oauthmail::ffi::library::om_string_free;
use oauthmail::ffi::om_account;
use oauthmail::ffi::tokens::om_tokens_import;
use serde_json::Value;
use std::ffi::{c_void, CStr, CString};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

#[derive(Default)]
pub struct Sink {
    pub count: u64,
    pub bytes: u64,
    pub sum: u64,
}

/// Reads every byte (a running byte sum, which the compiler vectorises); copies nothing.
pub unsafe extern "C" fn on_message(
    user_data: *mut c_void,
    _m: *const om_message,
    data: *const u8,
    len: usize,
) -> i32 {
    let s = &mut *(user_data as *mut Sink);
    let d = std::slice::from_raw_parts(data, len);
    s.sum = s
        .sum
        .wrapping_add(d.iter().map(|&b| u64::from(b)).sum::<u64>());
    s.count += 1;
    s.bytes += len as u64;
    OM_FETCH_CONTINUE
}

pub fn last_error() -> String {
    unsafe { CStr::from_ptr(om_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

/// One om_fetch: (sink, seconds, summary).
pub fn fetch_once(h: *mut om_account, options: &str) -> (Sink, f64, Value) {
    let o = CString::new(options).unwrap();
    let mut sink = Sink::default();
    let mut out = std::ptr::null_mut();
    let t0 = Instant::now();
    let st = unsafe {
        om_fetch(
            h,
            o.as_ptr(),
            Some(on_message),
            &mut sink as *mut Sink as *mut c_void,
            &mut out,
        )
    };
    let secs = t0.elapsed().as_secs_f64();
    if st != 0 {
        eprintln!("om_fetch({options}) failed: {st} {}", last_error());
        std::process::exit(1);
    }
    let summary: Value =
        serde_json::from_str(&unsafe { CStr::from_ptr(out) }.to_string_lossy()).unwrap();
    unsafe { om_string_free(out) };
    (sink, secs, summary)
}

/// User + system CPU seconds of this process so far.
pub fn cpu_seconds() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

pub fn vmhwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub fn run_json(cmd: &mut Command, what: &str) -> Value {
    let out = cmd
        .stderr(Stdio::inherit())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{what} failed: {text}");
    serde_json::from_str(text.lines().last().unwrap_or("").trim())
        .unwrap_or_else(|e| panic!("{what} printed {text:?}: {e}"))
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Prints the report and writes it to `target/bench/<name>.txt`.
pub fn publish(name: &str, report: &str) {
    print!("{report}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join(format!("{name}.txt")), report).unwrap();
}

/// Stops the mail sandbox of `workdir` (Dovecot, the sink) and removes it and `scratch` (the
/// seeded mail can be hundreds of MB).
pub fn stop_mail_sandbox(workdir: &Path, scratch: &Path) {
    let _ = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sandbox/mail/stop.sh"))
        .arg(workdir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(workdir);
    let _ = std::fs::remove_dir_all(scratch);
}

/// `om_init`, then an account from the configuration JSON with the token set imported.
pub fn open_account(config: &str, tokens: &str) -> *mut om_account {
    assert_eq!(om_init(), 0, "om_init: {}", last_error());
    let c = CString::new(config).unwrap();
    let mut h = std::ptr::null_mut();
    assert_eq!(
        unsafe { om_account_new(c.as_ptr(), &mut h) },
        0,
        "om_account_new: {}",
        last_error()
    );
    let t = CString::new(tokens).unwrap();
    assert_eq!(
        unsafe { om_tokens_import(h, t.as_ptr()) },
        0,
        "om_tokens_import: {}",
        last_error()
    );
    h
}

/// CPU seconds (user + system) used so far by process `root` and its descendants, the ones that
/// exited and were reaped included (cutime/cstime): the servers' side of a measurement.
pub fn tree_cpu_seconds(root: u32) -> f64 {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    // (pid, ppid, its own ticks + those of its reaped children)
    let mut procs: Vec<(u32, u32, u64)> = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        procs.push((pid, n(1) as u32, n(11) + n(12) + n(13) + n(14)));
    }
    let mut tree = vec![root];
    let mut total = 0u64;
    while let Some(p) = tree.pop() {
        for &(pid, ppid, ticks) in &procs {
            if pid == p {
                total += ticks;
            }
            if ppid == p {
                tree.push(pid);
            }
        }
    }
    total as f64 / tick
}

/// (busy, total) jiffies of the whole machine so far (/proc/stat; others' work included).
pub fn machine_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}
