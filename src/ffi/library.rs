//! Library-wide functions: init / shutdown, version, freeing strings.

use super::boundary::{guard, guard_value};
use super::om_status;
use std::ffi::{c_char, CString};

/// Starts the library (its shared runtime threads) on the first call; later calls only count.
///
/// Call it once per component that uses the library, and om_shutdown() as many times before
/// unloading the DLL. Nothing is started when the DLL is loaded. Any thread.
/// Returns OM_STATUS_OK, or OM_STATUS_IO_ERROR if the threads cannot be started.
#[no_mangle]
pub extern "C" fn om_init() -> om_status {
    guard(|| crate::runtime::init().map(|_| ()))
}

/// Drops one om_init() reference. The last one cancels every operation in progress, stops the
/// library's threads (waiting up to 5 s) and returns; then the DLL can be unloaded.
///
/// Accounts stay valid (free them with om_account_free); calls that need the network return
/// OM_STATUS_NOT_INITIALIZED until om_init() is called again. Any host thread, but not from
/// inside a callback (OM_STATUS_REENTRANT_CALL). OM_STATUS_NOT_INITIALIZED when called more
/// often than om_init().
#[no_mangle]
pub extern "C" fn om_shutdown() -> om_status {
    guard(|| crate::runtime::shutdown(crate::registry::cancel_all).map(|_| ()))
}

/// The library's version, e.g. "0.1.0" (also OM_VERSION_STRING in this header).
///
/// Static string: never free it. Any thread.
#[no_mangle]
pub extern "C" fn om_version() -> *const c_char {
    static V: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
    ) {
        Ok(v) => v,
        Err(_) => c"unknown",
    };
    V.as_ptr()
}

/// The library's version as MAJOR * 10000 + MINOR * 100 + PATCH; compare it with
/// OM_VERSION_NUMBER from the header the host was compiled with. Any thread.
#[no_mangle]
pub extern "C" fn om_version_number() -> u32 {
    version_number()
}

pub fn version_number() -> u32 {
    let p = |s: &str| s.parse::<u32>().unwrap_or(0);
    p(env!("CARGO_PKG_VERSION_MAJOR")) * 10000
        + p(env!("CARGO_PKG_VERSION_MINOR")) * 100
        + p(env!("CARGO_PKG_VERSION_PATCH"))
}

/// Frees a string returned by the library through a `char **` out-parameter. NULL is ignored.
///
/// Only for strings from this library (never for om_last_error_* or om_version, which are
/// borrowed). Any thread.
///
/// # Safety
/// `s` is NULL or a pointer returned by this library and not freed yet.
#[no_mangle]
pub unsafe extern "C" fn om_string_free(s: *mut c_char) {
    guard_value((), || {
        if !s.is_null() {
            drop(CString::from_raw(s));
        }
    })
}
