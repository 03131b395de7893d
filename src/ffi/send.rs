//! `om_send`, `om_send_raw`, `om_send_batch`: sending mail over the account's outgoing server
//! (SMTP or Microsoft Graph).

use super::args::{opt_str_arg, out_string_init, out_string_set, str_arg, with_account};
use super::boundary::guard;
use super::{om_account, om_status};
use crate::error::Error;
use crate::outgoing::api::{self, SendOptions, Sent};
use serde_json::{json, Value};
use std::ffi::c_char;
use std::time::Duration;

fn limit(opts: &SendOptions, timeout: Duration, messages: usize) -> Duration {
    opts.timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(timeout * 2 * (messages.max(1) as u32).min(1000) + timeout)
}

/// Composes a message from JSON and sends it over the account's outgoing server: SMTP with
/// XOAUTH2 / OAUTHBEARER (one token refresh and retry if the server refuses the token) or a
/// password, or Microsoft Graph (`sendMail` with the MIME; above 4 MB a draft whose large
/// attachments are uploaded apart, then sent; Exchange keeps the copy in Sent Items, so
/// `save_to_sent` is not needed and the result says `"saved_to": "sentitems"`), or the Gmail
/// API (`messages.send`, a media upload above 3 MB, up to 35 MB; Gmail keeps the copy:
/// `"saved_to": "SENT"`).
///
/// `message_json`: `{"from", "sender"?, "to", "cc"?, "bcc"?, "reply_to"?, "subject", "text"?,
/// "html"?, "attachments"?: [{"filename", "content_type"?, "path"? | "base64"?}],
/// "inline"?: [{"content_id", "content_type"?, "path"? | "base64"?}], "headers"?: {...},
/// "message_id"?, "date"?}` — addresses as "Name <addr>" or bare; `from` defaults to the
/// account's email; Bcc recipients get the message but no Bcc header is sent.
/// `options_json` (may be NULL): `{"copy_to_self": bool, "save_to_sent": true | "Folder",
/// "timeout_ms": N}`. `*out_result_json` (may be NULL; free with om_string_free):
/// `{"message_id", "mail_from", "recipients", "reply_code", "reply_text", "saved_to"? |
/// "save_error"?}` — a failed save to Sent does not undo the sending.
/// Needs om_init(). Any host thread; cancel with om_account_cancel.
/// Errors: OM_STATUS_INVALID_ARGUMENT (message JSON: the message names the field; bad address,
/// header injection, no recipient, unreadable attachment), OM_STATUS_INVALID_CONFIG (options;
/// no outgoing server), OM_STATUS_LOGIN_REJECTED (the server's 535 reply and a hint, e.g.
/// SMTP AUTH disabled for the tenant), OM_STATUS_PROTOCOL_ERROR (sender or recipient refused:
/// the server's reply), OM_STATUS_AUTHORIZATION_REQUIRED, OM_STATUS_TLS_ERROR,
/// OM_STATUS_NETWORK_ERROR (not sent: safe to retry), OM_STATUS_DELIVERY_UNKNOWN (the
/// connection died after the whole message was sent, before the server's reply: it may have
/// been delivered and was not sent again — do not retry it automatically),
/// OM_STATUS_TIMEOUT, OM_STATUS_CANCELLED, OM_STATUS_TOKENS_LOCKED; through Graph also
/// OM_STATUS_ACCESS_DENIED (no Mail.Send consent, send-as refused, application access policy:
/// Graph's code and message in the detail, who must act in the hint) and
/// OM_STATUS_UNSUPPORTED (above 150 MB, or above 4 MB without attachments to upload apart).
///
/// # Safety
/// `message_json` is NULL or a NUL-terminated string; `options_json` too; `out_result_json`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn om_send(
    account: *mut om_account,
    message_json: *const c_char,
    options_json: *const c_char,
    out_result_json: *mut *mut c_char,
) -> om_status {
    guard(|| {
        if !out_result_json.is_null() {
            *out_result_json = std::ptr::null_mut();
        }
        let message = crate::smtp::compose::parse(str_arg(message_json, "message_json")?)?;
        let opts = SendOptions::parse(opt_str_arg(options_json, "options_json")?)?;
        let result = with_account(account, |a| {
            check_outgoing(a)?;
            let a2 = a.clone();
            a.run_blocking(limit(&opts, a.config.timeout, 1), async move {
                api::send_json(&a2, &message, &opts).await
            })
        })?;
        if !out_result_json.is_null() {
            out_string_set(out_result_json, result_json(&result).to_string());
        }
        Ok(())
    })
}

/// Sends raw RFC 5322 bytes (`data`, `len`) over the account's outgoing server. The envelope
/// comes from the Sender/From and To/Cc/Bcc headers unless `options_json` gives
/// `"envelope_from"` and `"recipients"`; the Bcc header is removed from what is transmitted;
/// LF line ends become CRLF. Options and result as for om_send.
/// Errors: as om_send; OM_STATUS_INVALID_ARGUMENT for NULL `data` with `len` > 0.
///
/// # Safety
/// `data` points to `len` readable bytes (may be NULL when `len` is 0); `options_json` is NULL
/// or a NUL-terminated string; `out_result_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn om_send_raw(
    account: *mut om_account,
    data: *const u8,
    len: usize,
    options_json: *const c_char,
    out_result_json: *mut *mut c_char,
) -> om_status {
    guard(|| {
        if !out_result_json.is_null() {
            *out_result_json = std::ptr::null_mut();
        }
        if data.is_null() && len > 0 {
            return Err(Error::invalid_argument("`data` is NULL"));
        }
        let bytes = if len == 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(data, len).to_vec()
        };
        let opts = SendOptions::parse(opt_str_arg(options_json, "options_json")?)?;
        let result = with_account(account, |a| {
            check_outgoing(a)?;
            let a2 = a.clone();
            a.run_blocking(limit(&opts, a.config.timeout, 1), async move {
                api::send_raw_bytes(&a2, &bytes, &opts).await
            })
        })?;
        if !out_result_json.is_null() {
            out_string_set(out_result_json, result_json(&result).to_string());
        }
        Ok(())
    })
}

/// Sends many messages (a JSON array of om_send messages) over one authenticated connection —
/// for a mailing. `*out_results_json` (free with om_string_free) is an array with one result
/// per message, in order: om_send's result plus `"ok": true`, or `{"ok": false, "status",
/// "code", "error", "delivery_unknown"}` (a message refused for one recipient fails alone). A
/// dropped connection is re-opened with a fresh token; a message whose DATA the server may have
/// accepted is never sent twice (`"status": "OM_STATUS_DELIVERY_UNKNOWN"`, `"code": 23`,
/// `"delivery_unknown": true`: do not resend it automatically). The call returns OM_STATUS_OK when
/// the batch ran, whatever the per-message results.
/// Errors: OM_STATUS_INVALID_ARGUMENT (not a JSON array), OM_STATUS_INVALID_CONFIG, and the
/// statuses of om_send for failures before any message.
///
/// # Safety
/// `messages_json` is NULL or a NUL-terminated string; `options_json` too; `out_results_json`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn om_send_batch(
    account: *mut om_account,
    messages_json: *const c_char,
    options_json: *const c_char,
    out_results_json: *mut *mut c_char,
) -> om_status {
    guard(|| {
        out_string_init(out_results_json, "out_results_json")?;
        let text = str_arg(messages_json, "messages_json")?;
        // each message stays JSON text until it is composed (a batch holds a message or two)
        let messages: Vec<Box<serde_json::value::RawValue>> = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(_) => {
                // the readable error, with the path to what is wrong
                crate::json::parse::<Vec<Value>>(text, "messages", crate::Status::InvalidArgument)?;
                return Err(Error::invalid_argument("messages JSON: not an array"));
            }
        };
        let opts = SendOptions::parse(opt_str_arg(options_json, "options_json")?)?;
        let count = messages.len();
        let result = with_account(account, |a| {
            check_outgoing(a)?;
            let a2 = a.clone();
            a.run_blocking(limit(&opts, a.config.timeout, count), async move {
                Ok(api::send_json_batch(&a2, messages, &opts).await)
            })
        })?;
        let results: Vec<Value> = result
            .iter()
            .map(|r| match r {
                Ok(sent) => {
                    let mut v = result_json(sent);
                    v["ok"] = json!(true);
                    v
                }
                Err(e) => failure_json(e),
            })
            .collect();
        out_string_set(out_results_json, Value::Array(results).to_string());
        Ok(())
    })
}

/// om_send's result: `{"message_id", "mail_from", "recipients", "reply_code", "reply_text",
/// "saved_to"? | "save_error"?}`.
fn result_json(sent: &Sent) -> Value {
    serde_json::to_value(sent).unwrap_or_default()
}

/// A failed message of a batch: `{"ok": false, "status", "code", "error", "delivery_unknown"}`.
fn failure_json(e: &Error) -> Value {
    json!({
        "ok": false,
        "status": e.status.name(),
        "code": e.status.code(),
        "error": e.full_text(),
        "delivery_unknown": crate::smtp::is_delivery_unknown(e),
    })
}

fn check_outgoing(a: &crate::account::Account) -> crate::Result<()> {
    if a.config.outgoing.is_none() {
        return Err(Error::config(
            "configuration key `outgoing`: no outgoing server (SMTP or Graph) is configured",
        ));
    }
    Ok(())
}
