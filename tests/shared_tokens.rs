//! One grant, many processes: the CRM's normal deployment (a service that fetches, workstations
//! that send, all on one mailbox). Real parts: the sandbox OAuth2 server rotates refresh tokens
//! and revokes the whole grant when a used one comes back; Dovecot validates every access token
//! at login. Access tokens live 3 s, so the processes refresh all the time.
//!
//! - token file: 2 processes × 2 handles × 4 threads on one `token_file` for 60 s of
//!   om_get_access_token, om_fetch and om_send: every call OK, no `invalid_grant`, about one
//!   refresh per token lifetime counted at the OAuth2 server;
//! - the host's database: the same through om_account_set_token_store (a JSON file and a file
//!   lock play the database row and its lock), one handle importing the tokens at start, the
//!   other taking them from the store;
//! - a holder of the token lock that hangs gives OM_STATUS_TOKENS_LOCKED after the bounded
//!   wait; once it dies, the next call refreshes.
//!
//! Runs without libtest's harness: the same binary is started again as the worker processes.

mod common;

use common::capi::{init, last_error, Acc};
use common::mail::mail_sandbox;
use common::{authorized_as, sandbox};
use oauthmail::ffi::fetch::om_fetch;
use oauthmail::ffi::library::om_string_free;
use oauthmail::ffi::send::om_send;
use oauthmail::ffi::status::*;
use oauthmail::ffi::token_store::*;
use serde_json::{json, Value};
use std::ffi::{c_char, c_void, CStr, CString};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ROLE: &str = "OM_SHARED_ROLE";
const HANDLES_PER_PROCESS: usize = 2;
const TOKEN_THREADS_PER_HANDLE: usize = 3; // plus one fetching and sending: 4 per handle

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("worker") => return worker(),
        Ok("hold-lock") => return hold_lock(),
        _ => {}
    }
    init();
    let started = Instant::now();
    let secs: u64 = std::env::var("OM_SHARED_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    // the two long scenarios run side by side (two sandbox clients, counted apart)
    let file = std::thread::spawn(move || token_file_shared_by_processes(secs));
    let db = std::thread::spawn(move || host_store_shared_by_processes(secs));
    let r1 = file.join();
    let r2 = db.join();
    if let Err(e) = r1 {
        std::panic::resume_unwind(e);
    }
    if let Err(e) = r2 {
        std::panic::resume_unwind(e);
    }
    hung_lock_holder_gives_tokens_locked_and_a_dead_one_does_not_block();
    token_store_failures_are_statuses_and_the_lock_is_released();
    println!(
        "shared_tokens: 4 scenarios passed in {:.0} s",
        started.elapsed().as_secs_f32()
    );
}

fn workdir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("shared-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The account configuration every handle of a scenario uses.
fn mail_config(client: &str, user: &str, extra: Value) -> Value {
    let m = mail_sandbox();
    let sb = sandbox();
    let mut c: Value = serde_json::from_str(&sb.config(
        client,
        json!({
            "email": user,
            "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": m.port("imaps_port"), "security": "tls"},
            "outgoing": {"host": "127.0.0.1", "port": m.port("submission_port"), "security": "starttls"},
        }),
    ))
    .unwrap();
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn client_stat(client: &str, group: &str, key: &str) -> u64 {
    sandbox().stats()["by_client"][client][group][key]
        .as_u64()
        .unwrap_or(0)
}

/// Starts `n` worker processes and returns their reports.
fn run_workers(n: usize, config: &Value, secs: u64, db: Option<&Path>, tag: &str) -> Vec<Value> {
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..n)
        .map(|i| {
            let mut cmd = Command::new(&exe);
            cmd.env(ROLE, "worker")
                .env("OM_SHARED_CONFIG", config.to_string())
                .env("OM_SHARED_SECS", secs.to_string())
                .env("OM_SHARED_TAG", format!("{tag}-{i}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            if let Some(db) = db {
                cmd.env("OM_SHARED_DB", db);
            }
            cmd.spawn().expect("start a worker process")
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "a worker failed: {text}");
            serde_json::from_str(text.lines().last().unwrap_or(""))
                .unwrap_or_else(|e| panic!("worker printed {text:?}: {e}"))
        })
        .collect()
}

/// Every call of every worker succeeded, and the refreshes were shared.
fn check_reports(what: &str, client: &str, reports: &[Value], secs: u64, refreshes: u64, bad: u64) {
    for r in reports {
        assert_eq!(r["failures"], json!([]), "{what}: failed calls: {r}");
        assert!(r["token_calls"].as_u64().unwrap() > 100, "{what}: {r}");
        assert!(r["fetches"].as_u64().unwrap() >= 4, "{what}: {r}");
        assert!(r["sends"].as_u64().unwrap() >= 4, "{what}: {r}");
        // 5 messages seeded: each handle's first fetch gets them (its state is its own)
        assert!(r["fetched"].as_u64().unwrap() >= 10, "{what}: fetched: {r}");
    }
    println!("{what}: {refreshes} refreshes in {secs} s for {client}; workers: {reports:?}");
    assert_eq!(bad, 0, "{what}: invalid_grant at the OAuth2 server");
    // a 3-second token is refreshed when 1 s is left: one refresh per 1 to 2 s for everyone
    // together; without sharing, each of the 4 handles would refresh that often
    assert!(
        refreshes >= secs / 4 && refreshes <= secs + 5,
        "{what}: {refreshes} refreshes in {secs} s (expected about one per token lifetime)"
    );
}

fn token_file_shared_by_processes(secs: u64) {
    let client = "tiny-app";
    let user = "shared-file@example.test";
    let dir = workdir("file");
    let token_file = dir.join("jetons partagés.json");
    let config = mail_config(
        client,
        user,
        json!({"token_file": token_file.to_string_lossy()}),
    );
    {
        let acc = authorized_as(client, user, config.clone());
        drop(acc);
    }
    assert!(token_file.exists());
    mail_sandbox().seed(user, 5, "INBOX", &[]);
    let refresh0 = client_stat(client, "token_requests", "refresh_token");
    let bad0 = client_stat(client, "grant_errors", "invalid_grant");
    let reports = run_workers(2, &config, secs, None, "file");
    let refreshes = client_stat(client, "token_requests", "refresh_token") - refresh0;
    let bad = client_stat(client, "grant_errors", "invalid_grant") - bad0;
    check_reports("token file", client, &reports, secs, refreshes, bad);
}

fn host_store_shared_by_processes(secs: u64) {
    let client = "tiny-db-app";
    let user = "shared-db@example.test";
    let dir = workdir("db");
    let db = dir.join("database.json");
    let config = mail_config(client, user, json!({}));
    {
        // the host authorizes once and keeps the tokens in its database
        let acc = authorized_as(client, user, config.clone());
        std::fs::write(&db, acc.export().to_string()).unwrap();
    }
    mail_sandbox().seed(user, 5, "INBOX", &[]);
    let refresh0 = client_stat(client, "token_requests", "refresh_token");
    let bad0 = client_stat(client, "grant_errors", "invalid_grant");
    let reports = run_workers(2, &config, secs, Some(&db), "db");
    let refreshes = client_stat(client, "token_requests", "refresh_token") - refresh0;
    let bad = client_stat(client, "grant_errors", "invalid_grant") - bad0;
    check_reports("host token store", client, &reports, secs, refreshes, bad);
    // the database holds the newest set, and it still works
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&db).unwrap()).unwrap();
    let fresh = Acc::new(&config.to_string()).unwrap();
    fresh.import(&stored).unwrap();
    let mut expired = stored.clone();
    expired["expires_at"] = json!(1);
    expired["version"] = json!(stored["version"].as_u64().unwrap() + 1);
    fresh.import(&expired).unwrap();
    fresh
        .token(0)
        .expect("the stored refresh token is the live one");
}

fn hung_lock_holder_gives_tokens_locked_and_a_dead_one_does_not_block() {
    let dir = workdir("holder");
    let token_file = dir.join("tokens.json");
    let sb = sandbox();
    let acc = authorized_as(
        "confidential-app",
        "holder@example.test",
        json!({"token_file": token_file.to_string_lossy(), "timeout_secs": 4}),
    );
    acc.expire_access_token(); // the next call must refresh
    let lock = dir.join("tokens.json.lock");
    let mut holder = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "hold-lock")
        .env("OM_SHARED_LOCK", &lock)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    let refresh0 = sb.token_requests("refresh_token");
    let t = Instant::now();
    let e = acc.token(0).unwrap_err();
    assert_eq!(e.0, OM_STATUS_TOKENS_LOCKED, "{e:?}");
    // waited three quarters of timeout_secs, then said why
    assert!(
        t.elapsed() >= Duration::from_secs(3) && t.elapsed() < Duration::from_secs(15),
        "bounded wait: {:?}",
        t.elapsed()
    );
    assert!(e.1.contains("tokens.json.lock"), "{}", e.1);
    assert_eq!(
        sb.token_requests("refresh_token"),
        refresh0,
        "no refresh without the lock"
    );
    // the holder dies without unlocking: the system releases its lock
    holder.kill().unwrap();
    holder.wait().unwrap();
    acc.token(0).expect("refreshed once the holder is gone");
    assert_eq!(sb.token_requests("refresh_token"), refresh0 + 1);
}

/// A scripted token store: what its lock callback answers, and what it saw.
struct Scripted {
    answer: i32,
    give: Option<CString>,
    locks: AtomicU64,
    unlocks: AtomicU64,
}

unsafe extern "C" fn scripted_lock(ud: *mut c_void, _ms: u32, out: *mut *const c_char) -> i32 {
    let s = &*(ud as *const Scripted);
    s.locks.fetch_add(1, Ordering::SeqCst);
    *out = s.give.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    s.answer
}

unsafe extern "C" fn scripted_unlock(ud: *mut c_void, _json: *const c_char) -> i32 {
    (*(ud as *const Scripted))
        .unlocks
        .fetch_add(1, Ordering::SeqCst);
    OM_TOKEN_STORE_OK
}

fn token_store_failures_are_statuses_and_the_lock_is_released() {
    let sb = sandbox();
    let acc = authorized_as("confidential-app", "store-fail@example.test", json!({}));
    let cases = [
        (OM_TOKEN_STORE_BUSY, None, OM_STATUS_TOKENS_LOCKED, 0),
        (OM_TOKEN_STORE_FAILED, None, OM_STATUS_IO_ERROR, 0),
        // locked, but what it holds is not a token set: unlocked again, nothing refreshed
        (OM_TOKEN_STORE_OK, Some("{not json"), OM_STATUS_IO_ERROR, 1),
        (OM_TOKEN_STORE_OK, Some("\u{1}"), OM_STATUS_IO_ERROR, 1),
    ];
    for (answer, give, want, unlocks) in cases {
        let store = Box::new(Scripted {
            answer,
            give: give.map(|g| CString::new(g).unwrap()),
            locks: AtomicU64::new(0),
            unlocks: AtomicU64::new(0),
        });
        let ud = &*store as *const Scripted as *mut c_void;
        assert_eq!(
            om_account_set_token_store(acc.h, Some(scripted_lock), Some(scripted_unlock), ud, None),
            0
        );
        acc.expire_access_token();
        let refresh0 = sb.token_requests("refresh_token");
        let e = acc.token(0).unwrap_err();
        assert_eq!(e.0, want, "store answering {answer} with {give:?}: {e:?}");
        assert_eq!(store.locks.load(Ordering::SeqCst), 1);
        assert_eq!(store.unlocks.load(Ordering::SeqCst), unlocks, "{give:?}");
        assert_eq!(sb.token_requests("refresh_token"), refresh0);
        assert_eq!(
            om_account_set_token_store(acc.h, None, None, std::ptr::null_mut(), None),
            0
        );
    }
    // without the store, the same account refreshes normally
    acc.token(0).expect("refresh without a store");
}

/// Role "hold-lock": takes the lock and keeps it until killed.
fn hold_lock() {
    let path = PathBuf::from(std::env::var("OM_SHARED_LOCK").unwrap());
    let f = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .unwrap();
    f.lock().unwrap();
    println!("locked");
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(600));
}

// ----- the worker process -----------------------------------------------------------------

/// The host's "database": a JSON file, and a lock file standing for its row lock.
struct Db {
    json: PathBuf,
    held: Mutex<Option<File>>,
    latest: Mutex<Option<CString>>,
}

unsafe extern "C" fn db_lock(ud: *mut c_void, timeout_ms: u32, out: *mut *const c_char) -> i32 {
    let db = &*(ud as *const Db);
    let lock_path = db.json.with_extension("lock");
    let f = match File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
    {
        Ok(f) => f,
        Err(_) => return OM_TOKEN_STORE_FAILED,
    };
    let end = Instant::now() + Duration::from_millis(u64::from(timeout_ms));
    loop {
        match f.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(std::fs::TryLockError::WouldBlock) => return OM_TOKEN_STORE_BUSY,
            Err(_) => return OM_TOKEN_STORE_FAILED,
        }
    }
    *db.held.lock().unwrap() = Some(f);
    let mut latest = db.latest.lock().unwrap();
    *latest = std::fs::read_to_string(&db.json)
        .ok()
        .map(|s| CString::new(s).unwrap());
    *out = latest.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    OM_TOKEN_STORE_OK
}

unsafe extern "C" fn db_unlock(ud: *mut c_void, json: *const c_char) -> i32 {
    let db = &*(ud as *const Db);
    let mut code = OM_TOKEN_STORE_OK;
    if !json.is_null() {
        let tmp = db.json.with_extension("tmp");
        let text = CStr::from_ptr(json).to_bytes();
        if std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &db.json))
            .is_err()
        {
            code = OM_TOKEN_STORE_FAILED;
        }
    }
    db.latest.lock().unwrap().take();
    db.held.lock().unwrap().take(); // closing the file releases the lock
    code
}

unsafe extern "C" fn db_free(ud: *mut c_void) {
    drop(Box::from_raw(ud as *mut Db));
}

#[derive(Default)]
struct Tally {
    token_calls: AtomicU64,
    fetches: AtomicU64,
    fetched: AtomicU64,
    sends: AtomicU64,
    failures: Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, what: &str, status: i32, text: String) {
        let mut f = self.failures.lock().unwrap();
        if f.len() < 20 {
            f.push(format!("{what}: {status} {text}"));
        }
    }
}

unsafe extern "C" fn count_message(
    ud: *mut c_void,
    _m: *const oauthmail::ffi::fetch::om_message,
    _data: *const u8,
    _len: usize,
) -> i32 {
    (*(ud as *const AtomicU64)).fetch_add(1, Ordering::Relaxed);
    0
}

/// Role "worker": two handles on the shared tokens, four threads each, for OM_SHARED_SECS.
fn worker() {
    init();
    let config = std::env::var("OM_SHARED_CONFIG").unwrap();
    let secs: u64 = std::env::var("OM_SHARED_SECS").unwrap().parse().unwrap();
    let tag = std::env::var("OM_SHARED_TAG").unwrap();
    let db = std::env::var("OM_SHARED_DB").ok().map(PathBuf::from);
    let user = serde_json::from_str::<Value>(&config).unwrap()["email"]
        .as_str()
        .unwrap()
        .to_string();
    let tally = Arc::new(Tally::default());
    let end = Instant::now() + Duration::from_secs(secs);
    let mut threads = Vec::new();
    for h in 0..HANDLES_PER_PROCESS {
        let acc = Arc::new(Acc::new(&config).unwrap());
        if let Some(db) = &db {
            let ud = Box::into_raw(Box::new(Db {
                json: db.clone(),
                held: Mutex::new(None),
                latest: Mutex::new(None),
            }));
            assert_eq!(
                om_account_set_token_store(
                    acc.h,
                    Some(db_lock),
                    Some(db_unlock),
                    ud as *mut c_void,
                    Some(db_free)
                ),
                0,
                "{}",
                last_error()
            );
            if h == 0 {
                // as a host does at start; the other handle finds the tokens in the store
                let stored: Value =
                    serde_json::from_str(&std::fs::read_to_string(db).unwrap()).unwrap();
                acc.import(&stored).unwrap();
            }
        }
        for _ in 0..TOKEN_THREADS_PER_HANDLE {
            let (acc, tally) = (acc.clone(), tally.clone());
            threads.push(std::thread::spawn(move || {
                while Instant::now() < end {
                    tally.token_calls.fetch_add(1, Ordering::Relaxed);
                    if let Err((st, text)) = acc.token(0) {
                        tally.fail("om_get_access_token", st, text);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }));
        }
        let (acc, tally, tag, user) = (acc.clone(), tally.clone(), tag.clone(), user.clone());
        threads.push(std::thread::spawn(move || {
            let mut n = 0;
            while Instant::now() < end {
                n += 1;
                let counter = AtomicU64::new(0);
                let opts = CString::new(r#"{"only_new": true}"#).unwrap();
                let mut summary = std::ptr::null_mut();
                let st = unsafe {
                    om_fetch(
                        acc.h,
                        opts.as_ptr(),
                        Some(count_message),
                        &counter as *const AtomicU64 as *mut c_void,
                        &mut summary,
                    )
                };
                tally.fetches.fetch_add(1, Ordering::Relaxed);
                tally
                    .fetched
                    .fetch_add(counter.load(Ordering::Relaxed), Ordering::Relaxed);
                if st == 0 {
                    unsafe { om_string_free(summary) };
                } else {
                    tally.fail("om_fetch", st, last_error());
                }
                let msg =
                    json!({"to": user, "subject": format!("shared {tag} {h} {n}"), "text": "x"});
                let msg = CString::new(msg.to_string()).unwrap();
                let mut out = std::ptr::null_mut();
                let st = unsafe { om_send(acc.h, msg.as_ptr(), std::ptr::null(), &mut out) };
                tally.sends.fetch_add(1, Ordering::Relaxed);
                if st == 0 {
                    unsafe { om_string_free(out) };
                } else {
                    tally.fail("om_send", st, last_error());
                }
                std::thread::sleep(Duration::from_millis(400));
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    let report = json!({
        "token_calls": tally.token_calls.load(Ordering::Relaxed),
        "fetches": tally.fetches.load(Ordering::Relaxed),
        "fetched": tally.fetched.load(Ordering::Relaxed),
        "sends": tally.sends.load(Ordering::Relaxed),
        "failures": *tally.failures.lock().unwrap(),
    });
    println!("{report}");
}
