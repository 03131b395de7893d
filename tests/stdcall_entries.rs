//! The oms_* stdcall entry set (src/ffi/stdcall.rs) called from Rust with `extern "system"`
//! callbacks: the same results as the om_* functions, and each host callback (token, free, log,
//! token store lock/unlock, message) reached through the stdcall path with the right arguments.
//! On this Linux machine stdcall and cdecl are the same machine code; the 32-bit convention
//! itself (the callee pops its arguments, stack balanced) is checked under Wine by
//! tests/windows/stdcall.c.

use oauthmail::ffi::last_error::om_last_error_message;
use oauthmail::ffi::status::*;
use oauthmail::ffi::stdcall::*;
use serde_json::{json, Value};
use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

fn config() -> CString {
    CString::new(
        json!({
            "provider": "custom", "client_id": "stdcall-app", "email": "a@example.test",
            "authorize_url": "https://127.0.0.1:9/authorize", "token_url": "https://127.0.0.1:9/token",
            "scopes": "mail", "redirect_uri": "http://127.0.0.1/",
            "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": 9, "security": "tls"},
        })
        .to_string(),
    )
    .unwrap()
}

fn take(p: *mut c_char) -> String {
    assert!(!p.is_null());
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
    unsafe { oms_string_free(p) };
    s
}

/// What the callbacks saw, per test (user_data points at one).
#[derive(Default)]
struct Seen {
    tokens: Mutex<Vec<String>>,
    logs: Mutex<Vec<(i32, String)>>,
    freed: AtomicUsize,
    locks: AtomicUsize,
    unlocks: Mutex<Vec<Option<String>>>,
    stored: Mutex<Option<CString>>,
}

fn seen(ud: *mut c_void) -> &'static Seen {
    unsafe { &*(ud as *const Seen) }
}

unsafe extern "system" fn on_tokens(ud: *mut c_void, json: *const c_char) {
    let s = CStr::from_ptr(json).to_string_lossy().into_owned();
    seen(ud).tokens.lock().unwrap().push(s);
}

unsafe extern "system" fn on_free(ud: *mut c_void) {
    seen(ud).freed.fetch_add(1, Ordering::SeqCst);
}

unsafe extern "system" fn on_log(ud: *mut c_void, level: i32, msg: *const c_char) {
    let s = CStr::from_ptr(msg).to_string_lossy().into_owned();
    seen(ud).logs.lock().unwrap().push((level, s));
}

unsafe extern "system" fn on_lock(ud: *mut c_void, _ms: u32, out: *mut *const c_char) -> i32 {
    let s = seen(ud);
    s.locks.fetch_add(1, Ordering::SeqCst);
    *out = s
        .stored
        .lock()
        .unwrap()
        .as_ref()
        .map_or(null(), |c| c.as_ptr());
    0
}

unsafe extern "system" fn on_unlock(ud: *mut c_void, json: *const c_char) -> i32 {
    let s = seen(ud);
    let saved = (!json.is_null()).then(|| CStr::from_ptr(json).to_string_lossy().into_owned());
    s.unlocks.lock().unwrap().push(saved);
    0
}

fn new_account() -> *mut oauthmail::ffi::om_account {
    let mut h = null_mut();
    assert_eq!(
        unsafe { oms_account_new(config().as_ptr(), &mut h) },
        OM_STATUS_OK
    );
    h
}

/// An exported token set of `h` with a fresh access token and a refresh token.
fn token_set(h: *mut oauthmail::ffi::om_account, expires_in: i64) -> Value {
    let mut out = null_mut();
    assert_eq!(unsafe { oms_tokens_export(h, &mut out) }, OM_STATUS_OK);
    let mut v: Value = serde_json::from_str(&take(out)).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    v["version"] = json!(7);
    v["updated_at"] = json!(now);
    v["access_token"] = json!("stdcall-access-token");
    v["expires_at"] = json!(now + expires_in);
    v["refresh_token"] = json!("stdcall-refresh-token");
    v["token_type"] = json!("Bearer");
    v
}

#[test]
fn plain_entries_answer_as_their_om_twins() {
    unsafe {
        assert_eq!(
            CStr::from_ptr(oms_version()).to_str().unwrap(),
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(
            oms_version_number(),
            oauthmail::ffi::library::om_version_number()
        );
        let name = CStr::from_ptr(oms_status_name(OM_STATUS_INVALID_HANDLE));
        assert_eq!(name.to_str().unwrap(), "OM_STATUS_INVALID_HANDLE");
        // bad input: the same statuses and messages
        let mut h = null_mut();
        assert_eq!(oms_account_new(null(), &mut h), OM_STATUS_INVALID_ARGUMENT);
        assert!(h.is_null());
        assert_eq!(oms_last_error_status(), OM_STATUS_INVALID_ARGUMENT);
        let msg = CStr::from_ptr(om_last_error_message()).to_string_lossy();
        assert!(msg.contains("config_json"), "{msg}");
        let bad = CString::new("{not json").unwrap();
        assert_eq!(
            oms_account_new(bad.as_ptr(), &mut h),
            OM_STATUS_INVALID_CONFIG
        );
        assert_eq!(oms_account_free(0x1234 as *mut _), OM_STATUS_INVALID_HANDLE);
        // a message parsed through the stdcall entry
        let eml =
            b"From: =?utf-8?q?Ren=C3=A9?= <rene@example.test>\r\nSubject: stdcall\r\n\r\nbody\r\n";
        let mut out = null_mut();
        assert_eq!(
            oms_message_parse(eml.as_ptr(), eml.len(), null(), &mut out),
            OM_STATUS_OK
        );
        let v: Value = serde_json::from_str(&take(out)).unwrap();
        assert_eq!(v["subject"], "stdcall");
        assert_eq!(v["from"][0]["name"], "René");
    }
}

#[test]
fn token_callback_and_its_free_function_are_called_through_the_stdcall_types() {
    let s = Box::into_raw(Box::<Seen>::default());
    let ud = s as *mut c_void;
    let h = new_account();
    unsafe {
        assert_eq!(oms_init(), OM_STATUS_OK);
        assert_eq!(
            oms_account_set_token_callback(h, Some(on_tokens), ud, Some(on_free)),
            OM_STATUS_OK
        );
        let set = CString::new(token_set(h, 3600).to_string()).unwrap();
        assert_eq!(oms_tokens_import(h, set.as_ptr()), OM_STATUS_OK);
        let mut tok = null_mut();
        let mut exp = 0i64;
        assert_eq!(
            oms_get_access_token(h, 1000, &mut tok, &mut exp),
            OM_STATUS_OK
        );
        assert_eq!(take(tok), "stdcall-access-token");
        assert!(exp > 0);
        // no revocation endpoint: the tokens are forgotten here, the callback told
        assert!(seen(ud).tokens.lock().unwrap().is_empty());
        let st = oms_tokens_revoke(h, 2000);
        let got = seen(ud).tokens.lock().unwrap().clone();
        assert_eq!(
            got.len(),
            1,
            "revoke gave {st}; token callback calls: {got:?}"
        );
        let v: Value = serde_json::from_str(&got[0]).unwrap();
        assert!(v["refresh_token"].is_null(), "{v}");
        assert_eq!(seen(ud).freed.load(Ordering::SeqCst), 0);
        // replaced by none: the free function runs once
        assert_eq!(
            oms_account_set_token_callback(h, None, null_mut(), None),
            OM_STATUS_OK
        );
        assert_eq!(seen(ud).freed.load(Ordering::SeqCst), 1);
        assert_eq!(oms_account_free(h), OM_STATUS_OK);
        assert_eq!(seen(ud).freed.load(Ordering::SeqCst), 1);
        drop(Box::from_raw(s));
    }
}

#[test]
fn token_store_callbacks_run_around_a_refresh_and_the_store_is_freed_with_the_account() {
    let s = Box::into_raw(Box::<Seen>::default());
    let ud = s as *mut c_void;
    let h = new_account();
    unsafe {
        assert_eq!(oms_init(), OM_STATUS_OK);
        // a stored set whose access token has expired: the next token request must lock, see it,
        // try to refresh (the token endpoint is closed: port 9) and release the lock unchanged
        let stored = token_set(h, -60);
        *seen(ud).stored.lock().unwrap() = Some(CString::new(stored.to_string()).unwrap());
        assert_eq!(
            oms_account_set_token_store(h, Some(on_lock), None, ud, Some(on_free)),
            OM_STATUS_INVALID_ARGUMENT
        );
        assert_eq!(
            oms_account_set_token_store(h, Some(on_lock), Some(on_unlock), ud, Some(on_free)),
            OM_STATUS_OK
        );
        let mut tok = null_mut();
        let mut exp = 0i64;
        let st = oms_get_access_token(h, 3000, &mut tok, &mut exp);
        assert_ne!(st, OM_STATUS_OK);
        assert!(tok.is_null());
        assert!(
            seen(ud).locks.load(Ordering::SeqCst) >= 1,
            "lock callback not called"
        );
        let unlocks = seen(ud).unlocks.lock().unwrap().clone();
        assert_eq!(
            unlocks.len(),
            seen(ud).locks.load(Ordering::SeqCst),
            "every lock released: {unlocks:?}"
        );
        assert_eq!(seen(ud).freed.load(Ordering::SeqCst), 0);
        assert_eq!(oms_account_free(h), OM_STATUS_OK);
        assert_eq!(
            seen(ud).freed.load(Ordering::SeqCst),
            1,
            "store's user data freed once"
        );
        drop(Box::from_raw(s));
    }
}

#[test]
fn log_callback_receives_messages_through_the_stdcall_type() {
    let s = Box::into_raw(Box::<Seen>::default());
    let ud = s as *mut c_void;
    unsafe {
        assert_eq!(
            oms_log_set_callback(Some(on_log), 9, ud, Some(on_free)),
            OM_STATUS_INVALID_ARGUMENT
        );
        assert_eq!(
            seen(ud).freed.load(Ordering::SeqCst),
            0,
            "refused: not freed"
        );
        assert_eq!(
            oms_log_set_callback(Some(on_log), 3, ud, Some(on_free)),
            OM_STATUS_OK
        );
        let m = CString::new("stdcall log line 0x5eed").unwrap();
        assert_eq!(oms_log_write(1, m.as_ptr()), OM_STATUS_OK);
        assert_eq!(
            oms_log_set_callback(None, 0, null_mut(), None),
            OM_STATUS_OK
        );
        assert_eq!(seen(ud).freed.load(Ordering::SeqCst), 1);
        let logs = seen(ud).logs.lock().unwrap().clone();
        assert!(
            logs.iter().any(|(l, t)| *l == 1 && t.contains("0x5eed")),
            "{logs:?}"
        );
        drop(Box::from_raw(s));
    }
}

#[test]
fn fetch_entries_refuse_a_missing_callback_and_bad_handles() {
    unsafe {
        let mut out = null_mut();
        assert_eq!(
            oms_fetch(null_mut(), null(), None, null_mut(), &mut out),
            OM_STATUS_INVALID_ARGUMENT
        );
        let mut n = 7u32;
        let sel = CString::new(r#"{"uids": [1]}"#).unwrap();
        assert_eq!(
            oms_messages_fetch(0x99 as *mut _, sel.as_ptr(), None, null_mut(), &mut n),
            OM_STATUS_INVALID_ARGUMENT
        );
        assert_eq!(n, 0);
    }
}
