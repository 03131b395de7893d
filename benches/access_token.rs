//! Benchmark: `om_get_access_token` on a cached token through the C ABI, single thread and
//! 16 threads (one shared account, and one account per thread), beside a floor measured in the
//! same run: the least any token getter returning a caller-owned C string must do (lock a
//! mutex, copy the token into a new C string, free it).
//!
//! Run: `cargo bench --bench access_token` (results also in target/bench/access_token.txt).

use oauthmail::ffi::account::{om_account_free, om_account_new};
use oauthmail::ffi::library::om_string_free;
use oauthmail::ffi::om_account;
use oauthmail::ffi::tokens::{om_get_access_token, om_tokens_import};
use std::ffi::{c_char, CString};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Instant;

const CALLS: u64 = 2_000_000;
const THREADS: u64 = 16;

struct Handle(*mut om_account);
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

fn account() -> Handle {
    let cfg = CString::new(r#"{"provider":"custom","client_id":"bench","authorize_url":"https://idp.invalid/a","token_url":"https://idp.invalid/t"}"#).unwrap();
    let mut h = std::ptr::null_mut();
    assert_eq!(unsafe { om_account_new(cfg.as_ptr(), &mut h) }, 0);
    let exp = oauthmail::tokens::token_set::now_unix() + 86_400;
    let token = "a".repeat(1200); // Microsoft access tokens are 1-2 KB JWTs
    let set = CString::new(format!(r#"{{"format":1,"version":1,"updated_at":1,"client_id":"bench","token_url":"https://idp.invalid/t","access_token":"{token}","expires_at":{exp},"refresh_token":"rt-bench-0000"}}"#)).unwrap();
    assert_eq!(unsafe { om_tokens_import(h, set.as_ptr()) }, 0);
    Handle(h)
}

fn get(h: &Handle) {
    let mut out: *mut c_char = std::ptr::null_mut();
    let st = unsafe { om_get_access_token(h.0, 0, &mut out, std::ptr::null_mut()) };
    assert_eq!(st, 0);
    unsafe { om_string_free(out) };
}

fn floor(m: &Mutex<String>) {
    let s = m.lock().unwrap().clone();
    let c = CString::new(s).unwrap().into_raw();
    unsafe { drop(CString::from_raw(c)) };
}

/// CPU ns per call with `threads` threads each doing CALLS / threads calls of `f(i)`: wall time
/// times the cores busy, over the calls made (with more threads than cores, a thread's own wall
/// time per call only measures the waiting for a core).
fn measure(threads: u64, f: impl Fn(u64) + Send + Sync + 'static) -> f64 {
    let f = Arc::new(f);
    let barrier = Arc::new(Barrier::new(threads as usize + 1));
    let per = CALLS / threads;
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let (f, b) = (f.clone(), barrier.clone());
            std::thread::spawn(move || {
                b.wait();
                for _ in 0..per {
                    f(t);
                }
            })
        })
        .collect();
    barrier.wait();
    let t0 = Instant::now();
    for h in hs {
        h.join().unwrap();
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1);
    t0.elapsed().as_nanos() as f64 * threads.min(cores) as f64 / (per * threads) as f64
}

fn main() {
    let shared = Arc::new(account());
    let per_thread: Arc<Vec<Handle>> = Arc::new((0..THREADS).map(|_| account()).collect());
    let token = Arc::new(Mutex::new("a".repeat(1200)));
    // warm-up
    for _ in 0..10_000 {
        get(&shared);
        floor(&token);
    }
    let mut rows = Vec::new();
    let s = shared.clone();
    let t = token.clone();
    rows.push((
        "1 thread".to_string(),
        measure(1, move |_| get(&s)),
        measure(1, move |_| floor(&t)),
    ));
    let s = shared.clone();
    let t = token.clone();
    rows.push((
        format!("{THREADS} threads, one account"),
        measure(THREADS, move |_| get(&s)),
        measure(THREADS, move |_| floor(&t)),
    ));
    let p = per_thread.clone();
    let tokens: Arc<Vec<Mutex<String>>> =
        Arc::new((0..THREADS).map(|_| Mutex::new("a".repeat(1200))).collect());
    rows.push((
        format!("{THREADS} threads, one account each"),
        measure(THREADS, move |i| get(&p[i as usize])),
        measure(THREADS, move |i| floor(&tokens[i as usize])),
    ));

    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut report = format!(
        "om_get_access_token on a cached 1200-byte token (CPU ns per call; {cores} cores)\n"
    );
    report.push_str(&format!(
        "{:<30} {:>12} {:>12} {:>8}\n",
        "case", "oauthmail", "floor", "ratio"
    ));
    for (name, ours, fl) in &rows {
        report.push_str(&format!(
            "{name:<30} {ours:>12.0} {fl:>12.0} {:>8.2}\n",
            ours / fl
        ));
    }
    print!("{report}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("access_token.txt"), &report).unwrap();
    om_account_free(shared.0);
    for h in per_thread.iter() {
        om_account_free(h.0);
    }
}
