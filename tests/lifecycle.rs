//! The library's lifecycle: reference-counted om_init / om_shutdown, what works before init,
//! re-init after shutdown, and calls that would deadlock (re-entrant, from library threads).
//! One test: the runtime is process-wide state.

use oauthmail::ffi::account::*;
use oauthmail::ffi::authorize::*;
use oauthmail::ffi::last_error::om_last_error_message;
use oauthmail::ffi::library::*;
use oauthmail::ffi::om_account;
use oauthmail::ffi::status::*;
use oauthmail::ffi::tokens::*;
use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

fn msg() -> String {
    unsafe { CStr::from_ptr(om_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

fn new_account(json: &str) -> *mut om_account {
    let c = CString::new(json).unwrap();
    let mut h = null_mut();
    assert_eq!(
        unsafe { om_account_new(c.as_ptr(), &mut h) },
        0,
        "{}",
        msg()
    );
    h
}

const CUSTOM: &str = r#"{"provider":"custom","client_id":"c","authorize_url":"https://idp.invalid/auth","token_url":"https://idp.invalid/token","open_browser":false}"#;

fn valid_tokens() -> CString {
    let exp = oauthmail::tokens::token_set::now_unix() + 3600;
    CString::new(format!(r#"{{"format":1,"version":3,"updated_at":1,"client_id":"c","token_url":"https://idp.invalid/token","access_token":"at-cached-token","expires_at":{exp},"refresh_token":"rt-0123456789"}}"#)).unwrap()
}

static REENTRANT_STATUS: AtomicI32 = AtomicI32::new(-1);
static CALLBACK_ACCOUNT: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn reenter(_: *mut c_void, _json: *const c_char) {
    let mut out = null_mut();
    let acc = CALLBACK_ACCOUNT.load(Ordering::SeqCst) as *mut om_account;
    REENTRANT_STATUS.store(om_tokens_export(acc, &mut out), Ordering::SeqCst);
    assert!(out.is_null());
}

#[test]
fn init_shutdown_reentrancy() {
    // before om_init: offline calls work, network calls say what to do
    let acc = new_account(CUSTOM);
    let mut out: *mut c_char = null_mut();
    unsafe {
        assert_eq!(
            om_authorize_start(acc, null(), &mut out),
            OM_STATUS_NOT_INITIALIZED
        );
        assert!(msg().contains("om_init"), "{}", msg());
        assert_eq!(
            om_tokens_import(acc, valid_tokens().as_ptr()),
            0,
            "{}",
            msg()
        );
        assert_eq!(
            om_get_access_token(acc, 0, &mut out, null_mut()),
            0,
            "cached token needs no runtime"
        );
        assert_eq!(CStr::from_ptr(out).to_str().unwrap(), "at-cached-token");
        om_string_free(out);
    }
    assert_eq!(
        om_shutdown(),
        OM_STATUS_NOT_INITIALIZED,
        "more shutdowns than inits"
    );

    // counted: two inits need two shutdowns
    assert_eq!(om_init(), 0);
    assert_eq!(om_init(), 0);
    assert_eq!(om_shutdown(), 0);
    unsafe {
        assert_eq!(
            om_authorize_start(acc, c"{}".as_ptr(), &mut out),
            0,
            "{}",
            msg()
        );
        om_string_free(out);
    }
    assert_eq!(om_authorize_wait(acc, 10), OM_STATUS_PENDING);
    // the last shutdown cancels the flow and stops the threads
    assert_eq!(om_shutdown(), 0);
    assert_eq!(om_authorize_wait(acc, 10), OM_STATUS_NOT_INITIALIZED);

    // init again: everything works again
    assert_eq!(om_init(), 0);
    unsafe {
        assert_eq!(
            om_authorize_start(acc, c"{}".as_ptr(), &mut out),
            0,
            "{}",
            msg()
        );
        om_string_free(out);
    }
    assert_eq!(om_authorize_cancel(acc), 0);
    assert_eq!(om_authorize_wait(acc, 5000), OM_STATUS_CANCELLED);

    // a call into the same account from inside its callback is refused, not deadlocked
    CALLBACK_ACCOUNT.store(acc as usize, Ordering::SeqCst);
    assert_eq!(
        om_account_set_token_callback(acc, Some(reenter), null_mut(), None),
        0
    );
    // no revocation endpoint: revoke forgets locally and notifies
    assert_eq!(om_tokens_revoke(acc, 0), 0, "{}", msg());
    assert_eq!(
        REENTRANT_STATUS.load(Ordering::SeqCst),
        OM_STATUS_REENTRANT_CALL
    );

    // a blocking call from a library thread is refused, not deadlocked
    let r = oauthmail::runtime::spawn(async {
        oauthmail::runtime::block_on(async {}).map_err(|e| e.status)
    })
    .unwrap();
    let inner = oauthmail::runtime::block_on(r).unwrap().unwrap();
    assert_eq!(inner, Err(oauthmail::Status::ReentrantCall));

    assert_eq!(om_account_free(acc), 0);
    assert_eq!(om_shutdown(), 0);
}
