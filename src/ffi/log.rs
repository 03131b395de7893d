//! The log callback.

use super::account::om_free_cb;
use super::args::str_arg;
use super::boundary::guard;
use super::convention::host_fn;
use super::om_status;
use super::user_data::{FreeFn, UserData};
use crate::error::Error;
use crate::log::{set_sink, Level};
use std::ffi::{c_char, c_void, CString};

/// Errors only.
pub const OM_LOG_ERROR: i32 = 0;
/// Errors and warnings.
pub const OM_LOG_WARN: i32 = 1;
/// Plus the main steps (authorization started, token refreshed…).
pub const OM_LOG_INFO: i32 = 2;
/// Plus each HTTP request and protocol step.
pub const OM_LOG_DEBUG: i32 = 3;

/// Receives a log message: `level` is an OM_LOG_* value, `message` UTF-8, valid during the call.
/// May be called from any thread, library threads included; must return quickly and must not
/// call blocking oauthmail functions (nor om_log_set_callback). Calls from several threads may
/// overlap.
pub type om_log_cb =
    Option<unsafe extern "C" fn(user_data: *mut c_void, level: i32, message: *const c_char)>;

/// Installs the log callback (NULL removes it) receiving messages up to `max_level`
/// (OM_LOG_ERROR … OM_LOG_DEBUG). Tokens, secrets and passwords are replaced by "[redacted]".
///
/// When this returns, no thread is running the previous callback and none will start it again:
/// its user data may be released at once (the free function given with it, if any, has been
/// called, on this thread). `free_user_data` (may be NULL; ignored when `callback` is NULL) is
/// called with `user_data` when this callback is replaced or removed. Messages the callback
/// itself causes (calling om_log_write) are dropped.
/// Any thread, but not from inside the log callback (OM_STATUS_REENTRANT_CALL: it would wait
/// for itself). OM_STATUS_INVALID_ARGUMENT for a level out of range (nothing changed, and
/// `free_user_data` is not called).
#[no_mangle]
pub extern "C" fn om_log_set_callback(
    callback: om_log_cb,
    max_level: i32,
    user_data: *mut c_void,
    free_user_data: om_free_cb,
) -> om_status {
    set_log_callback(
        callback.map(LogFn::C),
        max_level,
        user_data,
        free_user_data.map(FreeFn::C),
    )
}

host_fn!(
    /// The host's log callback (om_log_cb / oms_log_cb).
    LogFn(user_data: *mut c_void, level: i32, message: *const c_char)
);

/// om_log_set_callback in either calling convention.
pub(crate) fn set_log_callback(
    callback: Option<LogFn>,
    max_level: i32,
    user_data: *mut c_void,
    free_user_data: Option<FreeFn>,
) -> om_status {
    guard(|| {
        let level = Level::from_code(max_level).ok_or_else(|| {
            Error::invalid_argument(format!(
                "`max_level` {max_level} is not an OM_LOG_* value (0..3)"
            ))
        })?;
        if crate::log::in_sink() {
            // before taking `user_data`: refused, it stays the host's
            return Err(Error::new(
                crate::Status::ReentrantCall,
                "the log callback cannot be replaced from inside itself",
            ));
        }
        match callback {
            None => set_sink(None, level),
            Some(cb) => {
                let ud = UserData::new(user_data, free_user_data);
                set_sink(
                    Some(Box::new(move |lvl: Level, msg: &str| {
                        let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
                        let ud = &ud;
                        // SAFETY: the host's callback, called as documented.
                        unsafe { cb.call(ud.ptr, lvl as i32, c.as_ptr()) };
                    })),
                    level,
                )
            }
        }
    })
}

/// Sends a message through the library's log (for hosts that want one log): level OM_LOG_*.
/// Mostly useful in tests. Any thread.
///
/// # Safety
/// `message` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn om_log_write(level: i32, message: *const c_char) -> om_status {
    guard(|| {
        let level = Level::from_code(level).ok_or_else(|| {
            Error::invalid_argument(format!("`level` {level} is not an OM_LOG_* value (0..3)"))
        })?;
        let m = str_arg(message, "message")?;
        crate::log::emit(level, m);
        Ok(())
    })
}
