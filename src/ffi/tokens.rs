//! `om_get_access_token` and `om_tokens_*`: using, exporting, importing and revoking tokens.

use super::args::{out_string_init, out_string_set, str_arg, with_account};
use super::boundary::guard;
use super::{om_account, om_status};
use std::ffi::c_char;

/// Returns an access token valid for at least the refresh margin (`refresh_margin_secs`, at most
/// half the token's lifetime), refreshing it first if needed — or, for `flow:
/// "client_credentials"`, requesting a new one. Concurrent callers on one account share one
/// refresh. A rotated refresh token replaces the old one (the token callback runs inside this
/// call, and the token file is rewritten). It is the account's main token: for Office 365 the
/// incoming server's resource (Outlook for IMAP/POP, Graph for `"protocol": "graph"`); a token
/// kept apart for the other resource is in the exported set's `resources`.
///
/// `timeout_ms`: bound on the refresh (0: the account's timeout_secs). A cached token returns at
/// once without om_init(); a refresh needs om_init(). `*out_token` (free with om_string_free)
/// gets the token; `out_expires_at` (may be NULL) its expiry in Unix seconds. Any thread.
/// Shared tokens (a `token_file`, or a token store set with om_account_set_token_store): the
/// refresh happens under their cross-process lock, after reading the latest stored set; when
/// another process already refreshed, its tokens are used and no request is made, so a rotated
/// refresh token is never sent twice. The wait for the lock is bounded by three quarters of
/// timeout_secs.
/// Errors: OM_STATUS_AUTHORIZATION_REQUIRED (no tokens, or the provider refused the refresh token:
/// the last error has the provider's text and a hint saying who must do what),
/// OM_STATUS_TOKENS_LOCKED (another process held the shared tokens' lock too long),
/// OM_STATUS_IO_ERROR (the token file or the host's token store failed),
/// OM_STATUS_NETWORK_ERROR (after bounded retries with backoff), OM_STATUS_TLS_ERROR,
/// OM_STATUS_PROVIDER_ERROR, OM_STATUS_TIMEOUT, OM_STATUS_CANCELLED, OM_STATUS_NOT_INITIALIZED.
///
/// # Safety
/// `out_token` is NULL or writable; `out_expires_at` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn om_get_access_token(
    account: *mut om_account,
    timeout_ms: u32,
    out_token: *mut *mut c_char,
    out_expires_at: *mut i64,
) -> om_status {
    guard(|| {
        out_string_init(out_token, "out_token")?;
        if !out_expires_at.is_null() {
            *out_expires_at = 0;
        }
        // hot path: a cached token, outside any callback, with nothing to notify
        let cached = if account.is_null() {
            None
        } else {
            crate::registry::peek(account as usize, |a| {
                if a.in_callback() || a.has_pending_notification() {
                    None
                } else {
                    a.cached_token()
                }
            })
            .flatten()
        };
        if let Some((token, expires)) = cached {
            out_string_set(out_token, token);
            if !out_expires_at.is_null() {
                *out_expires_at = expires;
            }
            return Ok(());
        }
        let (token, expires) = with_account(account, |a| {
            if let Some(t) = a.cached_token() {
                return Ok(t);
            }
            a.check_can_refresh()?;
            let a2 = a.clone();
            a.run_blocking(a.timeout_or_default(timeout_ms), async move {
                a2.access_token().await
            })
        })?;
        out_string_set(out_token, token);
        if !out_expires_at.is_null() {
            *out_expires_at = expires;
        }
        Ok(())
    })
}

/// The account's token set as JSON, for the host to keep in its own database:
/// `{"format":2,"version":N,"updated_at":T,"client_id","token_url","access_token"?,
/// "expires_at"?,"refresh_token"?,"scope"?,"token_type"?}`. `version` grows with every change.
/// It contains secrets: store it protected.
///
/// `*out_json`: free with om_string_free. Any thread.
/// Errors: OM_STATUS_INVALID_ARGUMENT, OM_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn om_tokens_export(
    account: *mut om_account,
    out_json: *mut *mut c_char,
) -> om_status {
    guard(|| {
        out_string_init(out_json, "out_json")?;
        let json = with_account(account, |a| Ok(a.export_tokens()))?;
        out_string_set(out_json, json);
        Ok(())
    })
}

/// Imports a token set exported earlier (by this or another workstation). Refused with
/// OM_STATUS_STALE_TOKENS, changing nothing, when it is older (lower version) than the set
/// held — so a rotated refresh token is never replaced by an older one. Tokens of another
/// client or token endpoint are refused (OM_STATUS_INVALID_ARGUMENT). The token file, if any,
/// is compared too (under its lock) and rewritten. With a token store, nothing is written to it
/// (the tokens came from the host). Any thread.
/// Errors: OM_STATUS_INVALID_ARGUMENT (NULL, not UTF-8, malformed JSON: the message names the
/// key), OM_STATUS_STALE_TOKENS, OM_STATUS_INVALID_HANDLE, OM_STATUS_IO_ERROR,
/// OM_STATUS_TOKENS_LOCKED.
///
/// # Safety
/// `tokens_json` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn om_tokens_import(
    account: *mut om_account,
    tokens_json: *const c_char,
) -> om_status {
    guard(|| {
        let json = str_arg(tokens_json, "tokens_json")?;
        with_account(account, |a| a.import_tokens(json))
    })
}

/// Revokes the account's tokens at the provider (where it has a revocation endpoint: Google;
/// Microsoft has none) and forgets them: in memory, and where they are shared (the token file
/// or the token store), which then holds the empty set with a higher version — so every other
/// process sharing them stops using them instead of writing them back. The tokens are
/// forgotten even when the provider cannot be reached (the error then says so). The token
/// callback receives the empty set (its version still grows, so an old copy cannot be imported
/// over it).
///
/// Blocks up to `timeout_ms` (0: timeout_secs). Needs om_init(). Any host thread.
/// Errors: OM_STATUS_NETWORK_ERROR / OM_STATUS_PROVIDER_ERROR (revocation failed, tokens
/// forgotten anyway), OM_STATUS_IO_ERROR (token file or store), OM_STATUS_TOKENS_LOCKED
/// (nothing done), OM_STATUS_INVALID_HANDLE, …
#[no_mangle]
pub extern "C" fn om_tokens_revoke(account: *mut om_account, timeout_ms: u32) -> om_status {
    guard(|| {
        with_account(account, |a| {
            let a2 = a.clone();
            a.run_blocking(a.timeout_or_default(timeout_ms), async move {
                a2.revoke().await.map(|_| ())
            })
        })
    })
}
