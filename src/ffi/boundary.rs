//! The one boundary every exported function runs in: clears the thread's last error, catches
//! panics (an unwind never crosses into C), records errors, returns the status.

use super::last_error;
use super::om_status;
use crate::error::{Error, Result, Status};
use once_cell::sync::Lazy;
use std::collections::HashMap;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

/// Runs `f` as the body of an exported function.
pub fn guard(f: impl FnOnce() -> Result<()>) -> om_status {
    last_error::clear();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            // a callback run inside the call may have left its own error behind
            last_error::clear();
            Status::Ok.code()
        }
        Ok(Err(e)) => {
            last_error::set(&e);
            e.status.code()
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let e = Error::new(
                Status::Panic,
                format!("internal error in oauthmail (please report it): {what}"),
            );
            last_error::set(&e);
            Status::Panic.code()
        }
    }
}

/// Like [`guard`] for functions without a status: the fallback value on panic.
pub fn guard_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

static STATIC_STRINGS: Lazy<Mutex<HashMap<&'static str, &'static CString>>> =
    Lazy::new(|| Mutex::new(HashMap::new()));

/// A NUL-terminated copy of a static string, made once and kept for the process' life.
pub fn static_cstr(s: &'static str) -> *const c_char {
    let mut map = STATIC_STRINGS.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(s)
        .or_insert_with(|| {
            Box::leak(Box::new(
                CString::new(s.replace('\0', " ")).unwrap_or_default(),
            ))
        })
        .as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let status = guard(|| panic!("boom {}", 42));
        std::panic::set_hook(prev);
        assert_eq!(status, Status::Panic.code());
        let msg = last_error::message_string();
        assert!(msg.contains("boom 42"), "{msg}");
        // the next call clears it
        assert_eq!(guard(|| Ok(())), 0);
        assert_eq!(last_error::message_string(), "");
    }

    #[test]
    fn guard_value_falls_back() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let v = guard_value(7, || -> i32 { panic!("x") });
        std::panic::set_hook(prev);
        assert_eq!(v, 7);
    }
}
