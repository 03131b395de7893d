//! `om_account_*`: creating, inspecting, checking and freeing accounts.

use super::args::{out_string_init, out_string_set, str_arg, with_account};
use super::boundary::guard;
use super::convention::host_fn;
use super::user_data::{FreeFn, UserData};
use super::{om_account, om_status};
use crate::account::Account;
use crate::error::Error;
use std::ffi::{c_char, c_void, CString};

/// Creates an account from its configuration JSON (keys: provider, client_id, client_secret,
/// tenant or authorize_url/token_url, scopes, redirect_uri, email, incoming, outgoing,
/// timeout_secs, … — see the README). The preset of `provider` fills what it fixes; explicit
/// keys win. If `token_file` is set and exists, its tokens are loaded; the file may be shared
/// by several processes and account handles (also on a network share): refreshes happen under
/// its lock (`<token_file>.lock`, released by the system if its holder dies).
///
/// `config_json`: UTF-8, borrowed for the call. `*out_account` receives the handle (NULL on
/// failure); free it with om_account_free. Any thread; no om_init() needed.
/// Errors: OM_STATUS_INVALID_ARGUMENT (NULL, not UTF-8), OM_STATUS_INVALID_CONFIG (malformed
/// JSON, unknown key, wrong type, missing value: the message names the key), OM_STATUS_IO_ERROR
/// (the token file cannot be read), OM_STATUS_TLS_ERROR (trust store unusable).
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `out_account` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn om_account_new(
    config_json: *const c_char,
    out_account: *mut *mut om_account,
) -> om_status {
    guard(|| {
        if out_account.is_null() {
            return Err(Error::invalid_argument("`out_account` is NULL"));
        }
        *out_account = std::ptr::null_mut();
        let json = str_arg(config_json, "config_json")?;
        let account = Account::from_json(json)?;
        *out_account = crate::registry::insert(account) as *mut om_account;
        Ok(())
    })
}

/// Frees an account: cancels what it is doing (an authorization in progress ends with
/// OM_STATUS_CANCELLED), forgets its in-memory tokens (the token file stays), releases the
/// user data of its token callback and token store. NULL is ignored.
///
/// Any thread; calls running on the account from other threads return soon after.
/// OM_STATUS_INVALID_HANDLE for a handle already freed or not from om_account_new;
/// OM_STATUS_REENTRANT_CALL from inside the account's own callback.
#[no_mangle]
pub extern "C" fn om_account_free(account: *mut om_account) -> om_status {
    guard(|| {
        if account.is_null() {
            return Ok(());
        }
        let acc = crate::registry::get(account as usize)?;
        if acc.in_callback() {
            return Err(Error::new(
                crate::Status::ReentrantCall,
                "an account cannot be freed from inside its own callback",
            ));
        }
        let acc = crate::registry::remove(account as usize)?;
        acc.cancel_all();
        acc.set_token_listener(None);
        let _ = acc.tokens.set_host_store(None);
        Ok(())
    })
}

/// The effective configuration (presets applied) as JSON, with secrets masked ("********"):
/// for a settings screen or a support ticket.
///
/// `*out_json`: library string, free with om_string_free (NULL on failure). Any thread.
/// Errors: OM_STATUS_INVALID_ARGUMENT, OM_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn om_account_config_json(
    account: *mut om_account,
    out_json: *mut *mut c_char,
) -> om_status {
    guard(|| {
        out_string_init(out_json, "out_json")?;
        let json = with_account(account, |a| Ok(crate::config::masked::to_json(&a.config)))?;
        out_string_set(out_json, json);
        Ok(())
    })
}

/// The registration check: examines the configuration for the known mistakes (Office 365 "Web"
/// registration without secret, public client with a secret, /common with client credentials,
/// Graph and Outlook scopes mixed, redirect port busy, device flow for Gmail, …) before the user
/// authorizes. `*out_json` receives a JSON array of findings
/// `{"id","severity":"error|warning|info","who","message"}` (empty array: nothing found), in the
/// account's language.
///
/// `*out_json`: free with om_string_free. Any thread. Errors: OM_STATUS_INVALID_ARGUMENT,
/// OM_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn om_account_check(
    account: *mut om_account,
    out_json: *mut *mut c_char,
) -> om_status {
    guard(|| {
        out_string_init(out_json, "out_json")?;
        let json = with_account(account, |a| {
            let findings = crate::config::registration::check(&a.config, |c| {
                crate::oauth::listener::probe_port(&c.redirect_uri)
            });
            Ok(serde_json::to_string_pretty(&findings).unwrap_or_else(|_| "[]".into()))
        })?;
        out_string_set(out_json, json);
        Ok(())
    })
}

/// Cancels every operation in progress on the account (authorization, token refresh, …): the
/// blocked calls return OM_STATUS_CANCELLED. Operations started afterwards are not affected.
///
/// Any thread (typically the UI thread while a worker thread is blocked). Errors:
/// OM_STATUS_INVALID_ARGUMENT, OM_STATUS_INVALID_HANDLE.
#[no_mangle]
pub extern "C" fn om_account_cancel(account: *mut om_account) -> om_status {
    guard(|| {
        if account.is_null() {
            return Err(Error::invalid_argument("`account` is NULL"));
        }
        // no reentrancy check: cancelling from a callback is harmless
        crate::registry::get(account as usize)?.cancel_all();
        Ok(())
    })
}

/// Called with the new token set JSON (as om_tokens_export gives it) after the tokens changed:
/// authorization, refresh with a rotated refresh token, revocation. `tokens_json` is valid
/// during the call. Store it in your database; import it later with om_tokens_import.
pub type om_token_cb =
    Option<unsafe extern "C" fn(user_data: *mut c_void, tokens_json: *const c_char)>;

/// Releases `user_data` when the callback is replaced or the account freed (may be NULL).
pub type om_free_cb = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// Sets (or with NULL removes) the token-changed callback.
///
/// The callback runs on a host thread, inside the oauthmail call on this account that first sees
/// the change (om_get_access_token, om_authorize_wait, om_authorize_complete,
/// om_tokens_revoke…), never on a library thread. Calling this account's functions from inside
/// it returns OM_STATUS_REENTRANT_CALL. `free_user_data` (may be NULL) is called with
/// `user_data` when the callback is replaced or the account freed.
/// Errors: OM_STATUS_INVALID_ARGUMENT, OM_STATUS_INVALID_HANDLE, OM_STATUS_REENTRANT_CALL.
#[no_mangle]
pub extern "C" fn om_account_set_token_callback(
    account: *mut om_account,
    callback: om_token_cb,
    user_data: *mut c_void,
    free_user_data: om_free_cb,
) -> om_status {
    set_token_callback(
        account,
        callback.map(TokenFn::C),
        user_data,
        free_user_data.map(FreeFn::C),
    )
}

host_fn!(
    /// The host's token-changed callback (om_token_cb / oms_token_cb).
    TokenFn(user_data: *mut c_void, tokens_json: *const c_char)
);

/// om_account_set_token_callback in either calling convention.
pub(crate) fn set_token_callback(
    account: *mut om_account,
    callback: Option<TokenFn>,
    user_data: *mut c_void,
    free_user_data: Option<FreeFn>,
) -> om_status {
    guard(|| {
        let ud = UserData::new(user_data, free_user_data);
        with_account(account, |a| {
            match callback {
                None => a.set_token_listener(None),
                Some(cb) => a.set_token_listener(Some(Box::new(move |json: &str| {
                    let c = CString::new(json.replace('\0', " ")).unwrap_or_default();
                    let ud = &ud;
                    // SAFETY: the host's callback, called as documented.
                    unsafe { cb.call(ud.ptr, c.as_ptr()) };
                }))),
            }
            Ok(())
        })
    })
}
