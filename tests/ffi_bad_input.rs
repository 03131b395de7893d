//! Every exported function with bad input from Rust (the C program in tests/c does the same
//! from C under valgrind): NULLs, invalid UTF-8, malformed JSON, unknown handles, many threads.

use oauthmail::ffi::account::*;
use oauthmail::ffi::authorize::*;
use oauthmail::ffi::last_error::*;
use oauthmail::ffi::library::*;
use oauthmail::ffi::log::*;
use oauthmail::ffi::om_account;
use oauthmail::ffi::status::*;
use oauthmail::ffi::token_store::*;
use oauthmail::ffi::tokens::*;
use std::ffi::{c_char, CStr, CString};
use std::ptr::{null, null_mut};

fn msg() -> String {
    unsafe { CStr::from_ptr(om_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

/// Asserts status and a non-empty message mentioning `needle`.
fn expect(status: i32, want: i32, needle: &str) {
    let m = msg();
    assert_eq!(status, want, "{m}");
    assert!(
        m.contains(needle),
        "message {m:?} should mention {needle:?}"
    );
}

const CONFIG: &str = r#"{"provider":"gmail","client_id":"id","client_secret":"secret-xyz-123"}"#;

fn account() -> *mut om_account {
    let c = CString::new(CONFIG).unwrap();
    let mut h = null_mut();
    assert_eq!(unsafe { om_account_new(c.as_ptr(), &mut h) }, 0);
    h
}

const BAD_UTF8: &[u8] = b"{\"provider\":\"gm\xffail\"}\0";

#[test]
fn account_new_rejects_nulls_bad_utf8_and_bad_json() {
    unsafe {
        let mut h = std::ptr::dangling_mut::<om_account>();
        expect(
            om_account_new(null(), &mut h),
            OM_STATUS_INVALID_ARGUMENT,
            "config_json",
        );
        assert!(h.is_null(), "out-pointer reset on failure");
        let c = CString::new(CONFIG).unwrap();
        expect(
            om_account_new(c.as_ptr(), null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "out_account",
        );
        expect(
            om_account_new(BAD_UTF8.as_ptr() as *const c_char, &mut h),
            OM_STATUS_INVALID_ARGUMENT,
            "UTF-8",
        );
        let bad = CString::new(r#"{"provider":"gmail","client_id":"x","colour":1}"#).unwrap();
        expect(
            om_account_new(bad.as_ptr(), &mut h),
            OM_STATUS_INVALID_CONFIG,
            "colour",
        );
        let bad = CString::new("{\"provider\":").unwrap();
        expect(
            om_account_new(bad.as_ptr(), &mut h),
            OM_STATUS_INVALID_CONFIG,
            "JSON",
        );
        assert!(h.is_null());
    }
}

#[test]
fn unknown_freed_and_null_handles_are_refused_everywhere() {
    let freed = account();
    assert_eq!(om_account_free(freed), 0);
    static FOREIGN: i32 = 0;
    let foreign = &FOREIGN as *const i32 as *mut om_account;
    for h in [freed, foreign, null_mut()] {
        let want = if h.is_null() {
            OM_STATUS_INVALID_ARGUMENT
        } else {
            OM_STATUS_INVALID_HANDLE
        };
        let needle = if h.is_null() { "account" } else { "handle" };
        unsafe {
            let mut out: *mut c_char = std::ptr::dangling_mut::<c_char>();
            expect(om_account_config_json(h, &mut out), want, needle);
            assert!(out.is_null());
            expect(om_account_check(h, &mut out), want, needle);
            expect(om_authorize_start(h, null(), &mut out), want, needle);
            expect(om_authorize_wait(h, 0), want, needle);
            let u = CString::new("http://127.0.0.1/?code=x&state=y").unwrap();
            expect(om_authorize_complete(h, u.as_ptr(), 0), want, needle);
            expect(om_authorize_cancel(h), want, needle);
            expect(om_device_start(h, 0, &mut out), want, needle);
            let mut exp = 5i64;
            expect(om_get_access_token(h, 0, &mut out, &mut exp), want, needle);
            assert_eq!(exp, 0);
            expect(om_tokens_export(h, &mut out), want, needle);
            let t = CString::new("{}").unwrap();
            expect(om_tokens_import(h, t.as_ptr()), want, needle);
            expect(om_tokens_revoke(h, 0), want, needle);
            expect(om_account_cancel(h), want, needle);
            expect(
                om_account_set_token_callback(h, None, null_mut(), None),
                want,
                needle,
            );
            expect(
                om_account_set_token_store(h, None, None, null_mut(), None),
                want,
                needle,
            );
            assert!(out.is_null());
        }
        if !h.is_null() {
            expect(om_account_free(h), OM_STATUS_INVALID_HANDLE, "handle");
        }
    }
    assert_eq!(om_account_free(null_mut()), 0, "free(NULL) is a no-op");
}

#[test]
fn null_out_pointers_and_bad_strings_on_a_valid_account() {
    let h = account();
    unsafe {
        expect(
            om_account_config_json(h, null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "out_json",
        );
        expect(
            om_account_check(h, null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "out_json",
        );
        expect(
            om_authorize_start(h, null(), null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "out_json",
        );
        let mut out = null_mut();
        let bad_opts = CString::new(r#"{"open_brwser":false}"#).unwrap();
        expect(
            om_authorize_start(h, bad_opts.as_ptr(), &mut out),
            OM_STATUS_INVALID_CONFIG,
            "open_brwser",
        );
        expect(
            om_authorize_start(h, BAD_UTF8.as_ptr() as *const c_char, &mut out),
            OM_STATUS_INVALID_ARGUMENT,
            "options_json",
        );
        expect(
            om_authorize_complete(h, null(), 0),
            OM_STATUS_INVALID_ARGUMENT,
            "redirect_url",
        );
        expect(
            om_device_start(h, 0, null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "out_json",
        );
        expect(
            om_get_access_token(h, 0, null_mut(), null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "out_token",
        );
        expect(
            om_tokens_export(h, null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "out_json",
        );
        expect(
            om_tokens_import(h, null()),
            OM_STATUS_INVALID_ARGUMENT,
            "tokens_json",
        );
        expect(
            om_tokens_import(h, BAD_UTF8.as_ptr() as *const c_char),
            OM_STATUS_INVALID_ARGUMENT,
            "UTF-8",
        );
        let bad = CString::new(r#"{"format":1,"version":"seven"}"#).unwrap();
        expect(
            om_tokens_import(h, bad.as_ptr()),
            OM_STATUS_INVALID_ARGUMENT,
            "version",
        );
        let bad = CString::new("[1,2").unwrap();
        expect(
            om_tokens_import(h, bad.as_ptr()),
            OM_STATUS_INVALID_ARGUMENT,
            "token set JSON",
        );
        // nothing started: waiting is a state error, not a hang
        expect(
            om_authorize_wait(h, 1000),
            OM_STATUS_WRONG_STATE,
            "om_authorize_start",
        );
        // no tokens yet
        expect(
            om_get_access_token(h, 0, &mut out, null_mut()),
            OM_STATUS_AUTHORIZATION_REQUIRED,
            "authoriz",
        );
        assert!(out.is_null());
        // device flow is refused for Gmail before any network
        expect(
            om_device_start(h, 0, &mut out),
            OM_STATUS_UNSUPPORTED,
            "device",
        );
        expect(
            om_log_set_callback(None, 9, null_mut(), None),
            OM_STATUS_INVALID_ARGUMENT,
            "max_level",
        );
        expect(
            om_log_write(2, null()),
            OM_STATUS_INVALID_ARGUMENT,
            "message",
        );
        // success clears the last error
        assert_eq!(om_account_check(h, &mut out), 0);
        assert_eq!(msg(), "");
        assert_eq!(om_last_error_status(), 0);
        om_string_free(out);
        om_string_free(null_mut());
    }
    om_account_free(h);
}

#[test]
fn status_names_and_descriptions_never_null() {
    for code in [-1, 0, 1, 8, 20, 99, 12345] {
        let n = unsafe { CStr::from_ptr(om_status_name(code)) }
            .to_str()
            .unwrap();
        let d = unsafe { CStr::from_ptr(om_status_description(code)) }
            .to_str()
            .unwrap();
        assert!(n.starts_with("OM_STATUS_") && !d.is_empty());
    }
    assert_eq!(
        unsafe { CStr::from_ptr(om_status_name(8)) }
            .to_str()
            .unwrap(),
        "OM_STATUS_AUTHORIZATION_REQUIRED"
    );
    assert_eq!(
        unsafe { CStr::from_ptr(om_status_name(777)) }
            .to_str()
            .unwrap(),
        "OM_STATUS_UNKNOWN"
    );
    let v = unsafe { CStr::from_ptr(om_version()) }.to_str().unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
    assert_eq!(om_version_number(), 100);
}

#[test]
fn many_threads_creating_using_and_freeing_accounts() {
    let threads: Vec<_> = (0..16)
        .map(|i| {
            std::thread::spawn(move || {
                for j in 0..50 {
                    let h = account();
                    let mut out = null_mut();
                    unsafe {
                        assert_eq!(om_account_config_json(h, &mut out), 0);
                        om_string_free(out);
                        let t = CString::new(format!("{{\"format\":1,\"version\":{}}}", i * j))
                            .unwrap();
                        // missing keys: refused with a message, never a crash
                        assert_eq!(om_tokens_import(h, t.as_ptr()), OM_STATUS_INVALID_ARGUMENT);
                    }
                    assert_eq!(om_account_cancel(h), 0);
                    assert_eq!(om_account_free(h), 0);
                    assert_eq!(om_account_free(h), OM_STATUS_INVALID_HANDLE);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn secrets_never_appear_in_error_messages() {
    let h = account();
    unsafe {
        // the import carries tokens that the error message would otherwise echo
        let t = CString::new(r#"{"format":1,"version":1,"updated_at":1,"client_id":"other","token_url":"https://oauth2.googleapis.com/token","refresh_token":"1//refresh-token-value"}"#).unwrap();
        assert_eq!(om_tokens_import(h, t.as_ptr()), OM_STATUS_INVALID_ARGUMENT);
        assert!(!msg().contains("refresh-token-value"), "{}", msg());
    }
    om_account_free(h);
}

unsafe extern "C" fn accept_all(
    _: *mut std::ffi::c_void,
    _: *const oauthmail::ffi::fetch::om_message,
    _: *const u8,
    _: usize,
) -> i32 {
    0
}

#[test]
fn fetch_functions_reject_bad_input() {
    use oauthmail::ffi::fetch::*;
    let h = account();
    unsafe {
        let mut out = std::ptr::dangling_mut::<c_char>();
        expect(
            om_fetch(h, null(), None, null_mut(), &mut out),
            OM_STATUS_INVALID_ARGUMENT,
            "callback",
        );
        assert!(out.is_null());
        let bad = CString::new(r#"{"folder":"INBOX","max":3}"#).unwrap();
        expect(
            om_fetch(h, bad.as_ptr(), Some(accept_all), null_mut(), null_mut()),
            OM_STATUS_INVALID_CONFIG,
            "max",
        );
        let bad = CString::new(r#"{"after_delivery":"move"}"#).unwrap();
        expect(
            om_fetch(h, bad.as_ptr(), Some(accept_all), null_mut(), null_mut()),
            OM_STATUS_INVALID_CONFIG,
            "move_to",
        );
        let bad = CString::new(r#"{"since":"yesterday"}"#).unwrap();
        expect(
            om_fetch(h, bad.as_ptr(), Some(accept_all), null_mut(), null_mut()),
            OM_STATUS_INVALID_CONFIG,
            "since",
        );
        expect(
            om_fetch(
                h,
                BAD_UTF8.as_ptr() as *const c_char,
                Some(accept_all),
                null_mut(),
                null_mut(),
            ),
            OM_STATUS_INVALID_ARGUMENT,
            "UTF-8",
        );
        expect(
            om_fetch(null_mut(), null(), Some(accept_all), null_mut(), null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "account",
        );
        // no incoming server configured
        expect(
            om_fetch(h, null(), Some(accept_all), null_mut(), null_mut()),
            OM_STATUS_INVALID_CONFIG,
            "incoming",
        );
        expect(
            om_folders_list(h, 0, null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "out_json",
        );
        expect(
            om_sync_state_export(h, null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "out_json",
        );
        expect(
            om_sync_state_import(h, null()),
            OM_STATUS_INVALID_ARGUMENT,
            "state_json",
        );
        let bad = CString::new(r#"{"format":1,"imap":{"k":{"uidvalidity":"x"}}}"#).unwrap();
        expect(
            om_sync_state_import(h, bad.as_ptr()),
            OM_STATUS_INVALID_ARGUMENT,
            "uidvalidity",
        );
        let good = CString::new(
            r#"{"format":1,"imap":{"imap://a@h:993/INBOX":{"uidvalidity":7,"last_uid":42}}}"#,
        )
        .unwrap();
        assert_eq!(om_sync_state_import(h, good.as_ptr()), 0, "{}", msg());
        let mut out = null_mut();
        assert_eq!(om_sync_state_export(h, &mut out), 0);
        assert!(CStr::from_ptr(out)
            .to_str()
            .unwrap()
            .contains("\"last_uid\":42"));
        om_string_free(out);
        let freed = account();
        om_account_free(freed);
        expect(
            om_fetch(freed, null(), Some(accept_all), null_mut(), null_mut()),
            OM_STATUS_INVALID_HANDLE,
            "handle",
        );
        expect(
            om_sync_state_export(freed, &mut out),
            OM_STATUS_INVALID_HANDLE,
            "handle",
        );
        expect(
            om_folders_list(freed, 0, &mut out),
            OM_STATUS_INVALID_HANDLE,
            "handle",
        );
    }
    om_account_free(h);
}

#[test]
fn directory_mode_and_servers_check_reject_bad_input() {
    use oauthmail::ffi::fetch::*;
    let h = account();
    unsafe {
        expect(
            om_fetch_to_directory(h, null(), null(), null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "directory",
        );
        let d = CString::new("/nonexistent/dir/for/oauthmail").unwrap();
        expect(
            om_fetch_to_directory(h, null(), d.as_ptr(), null_mut()),
            OM_STATUS_IO_ERROR,
            "does not exist",
        );
        expect(
            om_fetch_to_directory(h, null(), BAD_UTF8.as_ptr() as *const c_char, null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "UTF-8",
        );
        let bad = CString::new("{\"folder\":").unwrap();
        let tmp = CString::new(std::env::temp_dir().to_str().unwrap()).unwrap();
        expect(
            om_fetch_to_directory(h, bad.as_ptr(), tmp.as_ptr(), null_mut()),
            OM_STATUS_INVALID_CONFIG,
            "options",
        );
        expect(
            om_fetch_to_directory(h, null(), tmp.as_ptr(), null_mut()),
            OM_STATUS_INVALID_CONFIG,
            "incoming",
        );
        expect(
            om_servers_check(h, 0, null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "out_json",
        );
        let mut out = null_mut();
        expect(
            om_servers_check(null_mut(), 0, &mut out),
            OM_STATUS_INVALID_ARGUMENT,
            "account",
        );
        let freed = account();
        om_account_free(freed);
        expect(
            om_servers_check(freed, 0, &mut out),
            OM_STATUS_INVALID_HANDLE,
            "handle",
        );
        expect(
            om_fetch_to_directory(freed, null(), tmp.as_ptr(), null_mut()),
            OM_STATUS_INVALID_HANDLE,
            "handle",
        );
        assert!(out.is_null());
    }
    om_account_free(h);
}

unsafe extern "C" fn store_lock(
    _ud: *mut std::ffi::c_void,
    _ms: u32,
    _out: *mut *const c_char,
) -> i32 {
    OM_TOKEN_STORE_FAILED
}

unsafe extern "C" fn store_unlock(_ud: *mut std::ffi::c_void, _json: *const c_char) -> i32 {
    OM_TOKEN_STORE_OK
}

static FREED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

unsafe extern "C" fn store_free(_ud: *mut std::ffi::c_void) {
    FREED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

#[test]
fn token_store_needs_both_callbacks_and_no_token_file() {
    use std::sync::atomic::Ordering;
    let h = account();
    let before = FREED.load(Ordering::SeqCst);
    expect(
        om_account_set_token_store(h, Some(store_lock), None, null_mut(), Some(store_free)),
        OM_STATUS_INVALID_ARGUMENT,
        "unlock",
    );
    expect(
        om_account_set_token_store(h, None, Some(store_unlock), null_mut(), Some(store_free)),
        OM_STATUS_INVALID_ARGUMENT,
        "lock",
    );
    assert_eq!(
        FREED.load(Ordering::SeqCst),
        before,
        "refused: user data not taken"
    );
    // a store that fails: the call that needs it says so (no network is tried)
    assert_eq!(
        om_account_set_token_store(
            h,
            Some(store_lock),
            Some(store_unlock),
            null_mut(),
            Some(store_free)
        ),
        0
    );
    let mut out = null_mut();
    expect(
        unsafe { om_get_access_token(h, 1000, &mut out, null_mut()) },
        OM_STATUS_NOT_INITIALIZED,
        "om_init",
    );
    // replaced by nothing: its user data is released once
    assert_eq!(
        om_account_set_token_store(h, None, None, null_mut(), None),
        0
    );
    assert_eq!(FREED.load(Ordering::SeqCst), before + 1);
    assert_eq!(om_account_free(h), 0);
    assert_eq!(FREED.load(Ordering::SeqCst), before + 1);

    let dir = std::env::temp_dir().join(format!("om-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = format!(
        r#"{{"provider":"gmail","client_id":"id","token_file":{}}}"#,
        serde_json::to_string(&dir.join("t.json").to_string_lossy()).unwrap()
    );
    let c = CString::new(cfg).unwrap();
    let mut h = null_mut();
    assert_eq!(
        unsafe { om_account_new(c.as_ptr(), &mut h) },
        0,
        "{}",
        msg()
    );
    expect(
        om_account_set_token_store(
            h,
            Some(store_lock),
            Some(store_unlock),
            null_mut(),
            Some(store_free),
        ),
        OM_STATUS_WRONG_STATE,
        "token_file",
    );
    assert_eq!(
        FREED.load(Ordering::SeqCst),
        before + 1,
        "refused: user data not taken"
    );
    assert_eq!(om_account_free(h), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn message_functions_reject_bad_input_and_never_fail_on_bad_mail() {
    use oauthmail::ffi::message::*;
    unsafe {
        let mut out = std::ptr::dangling_mut::<c_char>();
        expect(
            om_message_parse(null(), 5, null(), &mut out),
            OM_STATUS_INVALID_ARGUMENT,
            "data",
        );
        assert!(out.is_null());
        expect(
            om_message_parse(b"x".as_ptr(), 1, null(), null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "out_json",
        );
        let bad = CString::new(r#"{"texte":true}"#).unwrap();
        expect(
            om_message_parse(b"x".as_ptr(), 1, bad.as_ptr(), &mut out),
            OM_STATUS_INVALID_ARGUMENT,
            "texte",
        );
        expect(
            om_message_parse(
                b"x".as_ptr(),
                1,
                BAD_UTF8.as_ptr() as *const c_char,
                &mut out,
            ),
            OM_STATUS_INVALID_ARGUMENT,
            "UTF-8",
        );
        // NULL with length 0, garbage, binary: JSON every time
        for data in [
            &b""[..],
            b"\0\xff\xfe garbage",
            b"Subject: =?x?Q?broken\r\n\r\n\xff",
        ] {
            let p = if data.is_empty() {
                null()
            } else {
                data.as_ptr()
            };
            assert_eq!(
                om_message_parse(p, data.len(), null(), &mut out),
                0,
                "{}",
                msg()
            );
            let v: serde_json::Value =
                serde_json::from_str(CStr::from_ptr(out).to_str().unwrap()).unwrap();
            assert!(v["attachments"].is_array(), "{v}");
            om_string_free(out);
        }
        let mut buf = std::ptr::dangling_mut::<u8>();
        let mut len = 7usize;
        expect(
            om_message_attachment(
                b"Subject: x\r\n\r\nbody".as_ptr(),
                18,
                0,
                &mut buf,
                &mut len,
            ),
            OM_STATUS_INVALID_ARGUMENT,
            "0 attachment",
        );
        assert!(buf.is_null() && len == 0);
        expect(
            om_message_attachment(b"x".as_ptr(), 1, 0, null_mut(), &mut len),
            OM_STATUS_INVALID_ARGUMENT,
            "out_data",
        );
        om_buffer_free(null_mut());
        let dir = CString::new("/nonexistent/dir/for/attachments").unwrap();
        expect(
            om_message_save_attachments(b"x".as_ptr(), 1, dir.as_ptr(), null(), null_mut()),
            OM_STATUS_IO_ERROR,
            "does not exist",
        );
        expect(
            om_message_save_attachments(b"x".as_ptr(), 1, null(), null(), null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "directory",
        );
        let tmp = CString::new(std::env::temp_dir().to_str().unwrap()).unwrap();
        expect(
            om_message_save_attachments(b"x".as_ptr(), 1, tmp.as_ptr(), bad.as_ptr(), null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "texte",
        );
    }
}

#[test]
fn browse_functions_reject_bad_input() {
    use oauthmail::ffi::browse::*;
    let h = account();
    let freed = account();
    om_account_free(freed);
    let sel = CString::new(r#"{"uids":[1]}"#).unwrap();
    unsafe {
        let mut out = std::ptr::dangling_mut::<c_char>();
        expect(
            om_messages_list(h, null(), null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "out_json",
        );
        for (json, needle) in [
            (r#"{"limit":0}"#, "limit"),
            (r#"{"limit":5000}"#, "limit"),
            (r#"{"search":{"since":"hier"}}"#, "search.since"),
            (r#"{"search":{"couleur":1}}"#, "couleur"),
            (r#"{"uids":"1;DELETE"}"#, "uids"),
            (r#"{"order":"random"}"#, "order"),
            ("[1,2", "list options"),
        ] {
            let j = CString::new(json).unwrap();
            expect(
                om_messages_list(h, j.as_ptr(), &mut out),
                OM_STATUS_INVALID_CONFIG,
                needle,
            );
            assert!(out.is_null());
        }
        // no incoming server on this account, a freed handle, NULL
        expect(
            om_messages_list(h, null(), &mut out),
            OM_STATUS_INVALID_CONFIG,
            "incoming",
        );
        expect(
            om_messages_list(freed, null(), &mut out),
            OM_STATUS_INVALID_HANDLE,
            "handle",
        );
        expect(
            om_messages_list(null_mut(), null(), &mut out),
            OM_STATUS_INVALID_ARGUMENT,
            "account",
        );

        let mut n = 9u32;
        expect(
            om_messages_fetch(h, sel.as_ptr(), None, null_mut(), &mut n),
            OM_STATUS_INVALID_ARGUMENT,
            "callback",
        );
        assert_eq!(n, 0);
        for (json, needle) in [
            (r#"{}"#, "no message chosen"),
            (r#"{"ids":["a"],"colour":1}"#, "colour"),
            (r#"{"uids":"1:5"}"#, "uids"),
        ] {
            let j = CString::new(json).unwrap();
            expect(
                om_messages_fetch(h, j.as_ptr(), Some(accept_all), null_mut(), &mut n),
                OM_STATUS_INVALID_ARGUMENT,
                needle,
            );
        }
        expect(
            om_messages_fetch(h, null(), Some(accept_all), null_mut(), null_mut()),
            OM_STATUS_INVALID_ARGUMENT,
            "selection_json",
        );
        for (json, needle) in [
            (r#"{"uids":[1]}"#, "add"),
            (r#"{"add":["seen"]}"#, "no message chosen"),
            (r#"{"uids":[1],"add":["\\Deleted"]}"#, "Deleted"),
            (r#"{"uids":[1],"add":["a(b"]}"#, "keyword"),
        ] {
            let j = CString::new(json).unwrap();
            expect(
                om_messages_set_flags(h, j.as_ptr()),
                OM_STATUS_INVALID_ARGUMENT,
                needle,
            );
        }
        expect(
            om_messages_set_flags(h, null()),
            OM_STATUS_INVALID_ARGUMENT,
            "options_json",
        );
        expect(
            om_messages_move(h, sel.as_ptr()),
            OM_STATUS_INVALID_ARGUMENT,
            "to",
        );
        let no_ids = CString::new(r#"{"to":"X"}"#).unwrap();
        expect(
            om_messages_copy(h, no_ids.as_ptr()),
            OM_STATUS_INVALID_ARGUMENT,
            "no message",
        );
        expect(
            om_messages_delete(h, null()),
            OM_STATUS_INVALID_ARGUMENT,
            "options_json",
        );
        expect(
            om_messages_delete(freed, sel.as_ptr()),
            OM_STATUS_INVALID_HANDLE,
            "handle",
        );
        // valid requests on an account without an incoming server
        expect(
            om_messages_delete(h, sel.as_ptr()),
            OM_STATUS_INVALID_CONFIG,
            "incoming",
        );
        let empty = CString::new(" ").unwrap();
        expect(
            om_folder_create(h, empty.as_ptr(), 0),
            OM_STATUS_INVALID_ARGUMENT,
            "name",
        );
        expect(
            om_folder_create(h, null(), 0),
            OM_STATUS_INVALID_ARGUMENT,
            "name",
        );
        let mut w = std::ptr::dangling_mut::<c_char>();
        let bad = CString::new(r#"{"poll_interval_secs":0}"#).unwrap();
        expect(
            om_wait_for_mail(h, bad.as_ptr(), 10, &mut w),
            OM_STATUS_INVALID_CONFIG,
            "poll_interval_secs",
        );
        assert!(w.is_null());
        expect(
            om_wait_for_mail(h, null(), 10, null_mut()),
            OM_STATUS_INVALID_CONFIG,
            "incoming",
        );
        expect(
            om_wait_for_mail(freed, null(), 10, null_mut()),
            OM_STATUS_INVALID_HANDLE,
            "handle",
        );
    }
    om_account_free(h);
}
