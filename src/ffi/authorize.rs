//! `om_authorize_*` and `om_device_start`: interactive authorization without freezing the host.
//!
//! Start, then wait with a short timeout in a loop (pumping the UI between calls), or cancel
//! from any thread.

use super::args::{opt_str_arg, out_string_init, out_string_set, str_arg, with_account};
use super::boundary::guard;
use super::{om_account, om_status};
use crate::authorize::{code_flow, device_flow};
use std::ffi::c_char;
use std::time::Duration;

/// Starts the browser authorization (authorization code + PKCE S256 + state): binds the loopback
/// redirect listener (127.0.0.1, and ::1 for a `localhost` redirect; never another interface),
/// builds the authorization URL and opens the system browser (or `browser_command`) unless the
/// configuration or the options say not to. Returns at once: then call om_authorize_wait.
/// A previous authorization still in progress on the account is cancelled first.
///
/// `options_json` (may be NULL): `{"open_browser": bool, "listen": bool}`; `listen:false` starts
/// no listener (the user pastes the final URL into om_authorize_complete).
/// `*out_json` (free with om_string_free): `{"authorization_url", "redirect_uri", "listening",
/// "browser_opened", "browser_error"?, "expires_in"}` — show the URL if the browser did not open.
/// Needs om_init(). Any host thread.
/// Errors: OM_STATUS_INVALID_ARGUMENT, OM_STATUS_INVALID_HANDLE, OM_STATUS_INVALID_CONFIG (bad
/// options), OM_STATUS_PORT_IN_USE (the message names the port), OM_STATUS_UNSUPPORTED (no
/// authorize_url), OM_STATUS_NOT_INITIALIZED, OM_STATUS_REENTRANT_CALL.
///
/// # Safety
/// `options_json` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn om_authorize_start(
    account: *mut om_account,
    options_json: *const c_char,
    out_json: *mut *mut c_char,
) -> om_status {
    guard(|| {
        out_string_init(out_json, "out_json")?;
        let opts = code_flow::StartOptions::parse(opt_str_arg(options_json, "options_json")?)?;
        let json = with_account(account, |a| {
            let a2 = a.clone();
            crate::runtime::block_on(async move { code_flow::start(&a2, opts).await })?
        })?;
        out_string_set(out_json, json);
        Ok(())
    })
}

/// Waits up to `timeout_ms` for the authorization in progress (browser or device) to end.
///
/// Returns OM_STATUS_OK when the tokens are stored (the token callback runs inside this call),
/// OM_STATUS_PENDING when `timeout_ms` passed first (call again; 0 only polls),
/// OM_STATUS_ACCESS_DENIED (the user declined), OM_STATUS_TIMEOUT (the authorization's own
/// deadline, `authorize_timeout_secs`, passed), OM_STATUS_CANCELLED, OM_STATUS_PROVIDER_ERROR /
/// OM_STATUS_NETWORK_ERROR / OM_STATUS_TLS_ERROR (the code exchange failed; the last error has
/// the provider's text and a hint), OM_STATUS_WRONG_STATE (nothing was started). After the end,
/// further waits return the same outcome until a new start. Any host thread.
#[no_mangle]
pub extern "C" fn om_authorize_wait(account: *mut om_account, timeout_ms: u32) -> om_status {
    guard(|| {
        with_account(account, |a| {
            a.flow.wait(
                Duration::from_millis(u64::from(timeout_ms)),
                a.config.language,
            )
        })
    })
}

/// Completes the browser authorization with the final redirect URL the user copied from the
/// browser's address bar (when the redirect could not reach the listener: remote desktop,
/// firewall, another machine's browser). The state and PKCE verifier are checked as usual.
///
/// Blocks up to `timeout_ms` (0: the account's timeout_secs) for the token exchange.
/// Errors: OM_STATUS_STATE_MISMATCH (the URL belongs to another attempt), OM_STATUS_WRONG_STATE
/// (no browser authorization in progress, or already ended), OM_STATUS_INVALID_ARGUMENT (not a
/// URL with a code or an error), and the statuses of om_authorize_wait.
///
/// # Safety
/// `redirect_url` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn om_authorize_complete(
    account: *mut om_account,
    redirect_url: *const c_char,
    timeout_ms: u32,
) -> om_status {
    guard(|| {
        let url = str_arg(redirect_url, "redirect_url")?;
        with_account(account, |a| {
            let a2 = a.clone();
            let url = url.to_string();
            a.run_blocking(a.timeout_or_default(timeout_ms), async move {
                code_flow::complete_with_url(&a2, &url).await
            })
        })
    })
}

/// Cancels the authorization in progress (browser or device), if any: its listener closes and
/// om_authorize_wait returns OM_STATUS_CANCELLED. Any thread. No error when nothing runs.
/// Errors: OM_STATUS_INVALID_ARGUMENT, OM_STATUS_INVALID_HANDLE.
#[no_mangle]
pub extern "C" fn om_authorize_cancel(account: *mut om_account) -> om_status {
    guard(|| {
        if account.is_null() {
            return Err(crate::Error::invalid_argument("`account` is NULL"));
        }
        {
            let a = crate::registry::get(account as usize)?;
            a.flow.cancel(a.config.language);
        }
        Ok(())
    })
}

/// Starts the device authorization (RFC 8628): requests a code, then polls the token endpoint in
/// the background honouring `interval` and `slow_down`. Show the user `user_code` and
/// `verification_uri`, then call om_authorize_wait.
///
/// Blocks up to `timeout_ms` (0: timeout_secs) for the code request. `*out_json` (free with
/// om_string_free): `{"user_code", "verification_uri", "verification_uri_complete",
/// "expires_in", "interval"}`. Needs om_init().
/// Errors: OM_STATUS_UNSUPPORTED (Gmail, or no device endpoint), OM_STATUS_PROVIDER_ERROR
/// (e.g. Azure "Allow public client flows" off: see the hint), OM_STATUS_NETWORK_ERROR, …
///
/// # Safety
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn om_device_start(
    account: *mut om_account,
    timeout_ms: u32,
    out_json: *mut *mut c_char,
) -> om_status {
    guard(|| {
        out_string_init(out_json, "out_json")?;
        let json = with_account(account, |a| {
            device_flow::check_supported(&a.config)?;
            let a2 = a.clone();
            a.run_blocking(a.timeout_or_default(timeout_ms), async move {
                device_flow::start(&a2).await
            })
        })?;
        out_string_set(out_json, json);
        Ok(())
    })
}
