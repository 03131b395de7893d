//! Converting C arguments: NULL checks naming the parameter, UTF-8 checks, out-pointers.

use super::om_account;
use crate::account::Account;
use crate::error::{Error, Result, Status};
use std::ffi::{c_char, CStr, CString};
use std::sync::Arc;

/// A required string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string valid for the call.
pub unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("`{name}` is NULL")));
    }
    CStr::from_ptr(ptr).to_str().map_err(|e| {
        Error::invalid_argument(format!(
            "`{name}` is not valid UTF-8 (byte {})",
            e.valid_up_to()
        ))
    })
}

/// An optional string argument (NULL allowed).
///
/// # Safety
/// As [`str_arg`].
pub unsafe fn opt_str_arg<'a>(ptr: *const c_char, name: &str) -> Result<Option<&'a str>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        str_arg(ptr, name).map(Some)
    }
}

/// Checks a required out-pointer and sets it to NULL.
///
/// # Safety
/// `out` is NULL or valid for writes.
pub unsafe fn out_string_init(out: *mut *mut c_char, name: &str) -> Result<()> {
    if out.is_null() {
        return Err(Error::invalid_argument(format!("`{name}` is NULL")));
    }
    *out = std::ptr::null_mut();
    Ok(())
}

/// Stores a library-allocated copy of `s` in `*out` (freed by `om_string_free`).
///
/// # Safety
/// `out` was checked by [`out_string_init`].
pub unsafe fn out_string_set(out: *mut *mut c_char, s: String) {
    // a NUL inside becomes a space; the string's own buffer is reused (no copy when it has
    // room for the terminating NUL)
    let mut bytes = s.into_bytes();
    if bytes.contains(&0) {
        bytes
            .iter_mut()
            .filter(|b| **b == 0)
            .for_each(|b| *b = b' ');
    }
    let c = CString::new(bytes).unwrap_or_default();
    *out = c.into_raw();
}

/// The account behind a handle; refuses calls from inside the account's own callbacks.
/// After `f`, on this (the caller's) thread: tokens an authorization obtained are saved to the
/// host's token store, if it set one, and token-change notifications are delivered.
pub fn with_account<T>(
    handle: *mut om_account,
    f: impl FnOnce(&Arc<Account>) -> Result<T>,
) -> Result<T> {
    if handle.is_null() {
        return Err(Error::invalid_argument("`account` is NULL"));
    }
    let account = crate::registry::get(handle as usize)?;
    if account.in_callback() {
        return Err(Error::new(
            Status::ReentrantCall,
            "this account cannot be used from inside its own callback; return from the callback first",
        ));
    }
    let r = f(&account);
    let saved = account.save_pending_tokens();
    account.deliver_notifications();
    let v = r?;
    saved?;
    Ok(v)
}

/// A required byte buffer (`data` may be NULL only when `len` is 0).
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes valid for the call.
pub unsafe fn bytes_arg<'a>(data: *const u8, len: usize, name: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Error::invalid_argument(format!("`{name}` is NULL")));
    }
    Ok(std::slice::from_raw_parts(data, len))
}
