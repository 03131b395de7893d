//! The thread's last error (like libgit2's `git_error_last`): cleared at the start of every
//! call, set when a call fails, read with `om_last_error_*`.

use super::boundary::guard_value;
use super::om_status;
use crate::error::{Error, Status};
use std::cell::RefCell;
use std::ffi::{c_char, CString};

struct LastError {
    status: Status,
    message: CString,
    detail: CString,
    hint: CString,
}

thread_local! {
    static LAST: RefCell<Option<LastError>> = const { RefCell::new(None) };
    static EMPTY: CString = CString::default();
}

fn cstring(s: &str) -> CString {
    CString::new(crate::redact::redact(s).replace('\0', " ")).unwrap_or_default()
}

pub fn clear() {
    LAST.with(|l| *l.borrow_mut() = None);
}

pub fn set(e: &Error) {
    let le = LastError {
        status: e.status,
        message: cstring(&e.full_text()),
        detail: cstring(e.detail.as_deref().unwrap_or("")),
        hint: cstring(e.hint.as_deref().unwrap_or("")),
    };
    LAST.with(|l| *l.borrow_mut() = Some(le));
}

/// For tests: the message as a Rust string.
pub fn message_string() -> String {
    LAST.with(|l| {
        l.borrow()
            .as_ref()
            .map(|e| e.message.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}

fn pointer(pick: impl Fn(&LastError) -> *const c_char) -> *const c_char {
    guard_value(c"".as_ptr(), || {
        LAST.with(|l| match l.borrow().as_ref() {
            Some(e) => pick(e),
            None => EMPTY.with(|e| e.as_ptr()),
        })
    })
}

/// The last error of this thread, whole: what happened, the provider's or server's own text in
/// brackets, then " — " and the hint; "" after a successful call. om_last_error_detail and
/// om_last_error_hint give those two parts alone, for hosts that show them in separate fields.
/// Read the error before making another oauthmail call on this thread (om_string_free
/// included): every call clears it.
///
/// Borrowed: valid until the next oauthmail call on the same thread; do not free. Never NULL.
/// Tokens and secrets never appear in it.
#[no_mangle]
pub extern "C" fn om_last_error_message() -> *const c_char {
    pointer(|e| e.message.as_ptr())
}

/// The provider's or server's own error text of the last error (e.g. "invalid_grant: AADSTS700082:
/// …"), or "" when there is none.
///
/// Borrowed: valid until the next oauthmail call on the same thread; do not free. Never NULL.
#[no_mangle]
pub extern "C" fn om_last_error_detail() -> *const c_char {
    pointer(|e| e.detail.as_ptr())
}

/// The hint of the last error: who must do what (e.g. "the Azure admin must create a new client
/// secret…"), or "" when there is none. In the account's `language`.
///
/// Borrowed: valid until the next oauthmail call on the same thread; do not free. Never NULL.
#[no_mangle]
pub extern "C" fn om_last_error_hint() -> *const c_char {
    pointer(|e| e.hint.as_ptr())
}

/// The status of the last failed call on this thread, or OM_STATUS_OK.
#[no_mangle]
pub extern "C" fn om_last_error_status() -> om_status {
    guard_value(Status::Panic.code(), || {
        LAST.with(|l| l.borrow().as_ref().map(|e| e.status.code()).unwrap_or(0))
    })
}
