//! The log callback sees the main steps of a real authorization and refresh, and never a
//! token, secret or authorization code; once the setter returns, the old callback is never
//! called again and its user data was freed. Own test binary: the log sink is process-wide.

mod common;

use common::capi::{init, Acc};
use common::sandbox;
use oauthmail::ffi::log::{om_log_set_callback, OM_LOG_DEBUG};
use serde_json::json;
use std::ffi::{c_char, c_void, CStr};
use std::sync::Mutex;

static LINES: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());

unsafe extern "C" fn collect(_: *mut c_void, level: i32, message: *const c_char) {
    let m = CStr::from_ptr(message).to_string_lossy().into_owned();
    LINES.lock().unwrap().push((level, m));
}

#[test]
fn logs_show_the_steps_and_no_secret() {
    let _serial = common::serial();
    init();
    assert_eq!(
        om_log_set_callback(Some(collect), OM_LOG_DEBUG, std::ptr::null_mut(), None),
        0
    );
    let sb = sandbox();
    let acc = Acc::new(&sb.config("confidential-app", json!({}))).unwrap();
    let started = acc.start(r#"{"listen": false}"#).unwrap();
    let out = sb.browse(&[
        "--stop-at-redirect",
        started["authorization_url"].as_str().unwrap(),
    ]);
    let redirect = out["redirect_url"].as_str().unwrap().to_string();
    let code = url::Url::parse(&redirect)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    acc.complete(&redirect).unwrap();
    let first = acc.export();
    acc.expire_access_token();
    acc.token(0).unwrap();
    let second = acc.export();
    // an error path too: a token request with a wrong secret echoes nothing secret
    let bad = Acc::new(&sb.config(
        "cc-app",
        json!({"flow": "client_credentials", "client_secret": "wrong-secret-value-42"}),
    ))
    .unwrap();
    assert!(bad.token(0).is_err());
    assert_eq!(om_log_set_callback(None, 0, std::ptr::null_mut(), None), 0);

    let lines = LINES.lock().unwrap().clone();
    let all: String = lines.iter().map(|(_, m)| format!("{m}\n")).collect();
    assert!(all.contains("authorization complete"), "{all}");
    assert!(all.contains("refreshing the access token"), "{all}");
    assert!(
        all.contains("-> HTTP 200"),
        "debug lines show HTTP steps: {all}"
    );
    let mut secrets = vec![
        "confidential-secret".to_string(),
        "wrong-secret-value-42".to_string(),
        code,
    ];
    for set in [&first, &second] {
        for k in ["access_token", "refresh_token"] {
            secrets.push(set[k].as_str().unwrap().to_string());
        }
    }
    for s in &secrets {
        assert!(
            !all.contains(s.as_str()),
            "secret {s:?} leaked into the log:\n{all}"
        );
    }
}

/// What a slow log callback shares with the test.
struct Slow {
    running: std::sync::atomic::AtomicI32,
    started_after_removal: std::sync::atomic::AtomicI32,
    removed: std::sync::atomic::AtomicBool,
    calls: std::sync::atomic::AtomicI32,
}

static SLOW: Slow = Slow {
    running: std::sync::atomic::AtomicI32::new(0),
    started_after_removal: std::sync::atomic::AtomicI32::new(0),
    removed: std::sync::atomic::AtomicBool::new(false),
    calls: std::sync::atomic::AtomicI32::new(0),
};
static FREED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

unsafe extern "C" fn slow(ud: *mut c_void, _level: i32, _message: *const c_char) {
    use std::sync::atomic::Ordering::SeqCst;
    let s = &*(ud as *const Slow);
    if s.removed.load(SeqCst) {
        s.started_after_removal.fetch_add(1, SeqCst);
    }
    s.calls.fetch_add(1, SeqCst);
    s.running.fetch_add(1, SeqCst);
    // the callback re-enters the log: dropped, not a deadlock
    let m = std::ffi::CString::new("from inside the callback").unwrap();
    oauthmail::ffi::log::om_log_write(2, m.as_ptr());
    // ... and may not replace itself
    assert_eq!(
        om_log_set_callback(None, 0, std::ptr::null_mut(), None),
        oauthmail::ffi::status::OM_STATUS_REENTRANT_CALL
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    s.running.fetch_sub(1, SeqCst);
}

unsafe extern "C" fn free_slow(ud: *mut c_void) {
    use std::sync::atomic::Ordering::SeqCst;
    assert_eq!(
        (*(ud as *const Slow)).running.load(SeqCst),
        0,
        "freed while running"
    );
    FREED.fetch_add(1, SeqCst);
}

#[test]
fn no_call_of_a_removed_callback_starts_after_removal_and_its_data_is_freed() {
    use std::sync::atomic::Ordering::SeqCst;
    let _serial = common::serial();
    let ud = &SLOW as *const Slow as *mut c_void;
    assert_eq!(
        om_log_set_callback(Some(slow), OM_LOG_DEBUG, ud, Some(free_slow)),
        0
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let m = std::ffi::CString::new("busy").unwrap();
                while !stop.load(SeqCst) {
                    unsafe { oauthmail::ffi::log::om_log_write(2, m.as_ptr()) };
                }
            })
        })
        .collect();
    while SLOW.calls.load(SeqCst) < 40 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(om_log_set_callback(None, 0, std::ptr::null_mut(), None), 0);
    // returned: nothing runs the old callback, and it was released on this thread
    assert_eq!(SLOW.running.load(SeqCst), 0);
    assert_eq!(FREED.load(SeqCst), 1);
    SLOW.removed.store(true, SeqCst);
    std::thread::sleep(std::time::Duration::from_millis(200));
    stop.store(true, SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(SLOW.started_after_removal.load(SeqCst), 0);
    assert_eq!(FREED.load(SeqCst), 1);
}
