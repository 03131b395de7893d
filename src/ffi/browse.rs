//! `om_messages_*`, `om_folder_create`: browsing and acting on a mailbox beyond new mail.

use super::args::{opt_str_arg, out_string_init, out_string_set, str_arg, with_account};
use super::boundary::guard;
use super::fetch::{host_deliver, om_message_cb, MessageFn};
use super::{om_account, om_status};
use crate::browse::{FlagChange, ListQuery, Selection};
use crate::error::Error;
use std::ffi::{c_char, c_void};
use std::time::Duration;

/// The call's bound: `timeout_ms` when given, else none beyond the per-read `timeout_secs`.
fn bound(timeout_ms: Option<u64>) -> Duration {
    Duration::from_millis(timeout_ms.unwrap_or(u64::from(u32::MAX) * 1000))
}

/// Lists one page of a folder's messages without downloading them. `options_json` (may be
/// NULL): `{"folder": "INBOX", "search": {"unseen": bool, "flagged": bool, "answered": bool,
/// "since": "2026-02-01", "before": "2026-03-01", "from": "…", "to": "…", "subject": "…",
/// "text": "…", "larger": bytes, "smaller": bytes, "keyword": "…"}, "uids": "1:500" (IMAP),
/// "limit": 100 (1–1000), "cursor": "…", "order": "newest_first"|"oldest_first",
/// "timeout_ms": N}` — every search key given must match.
/// `*out_json` (free with om_string_free): `{"folder", "uidvalidity", "total", "next_cursor",
/// "messages": [{"id", "uid", "flags", "size", "internal_date", "has_attachments", "from",
/// "sender", "reply_to", "to", "cc", "bcc", "subject", "date", "date_unix", "message_id",
/// "in_reply_to", "references"}]}` — the header fields as om_message_parse gives them; `id` is
/// what the other om_messages_* calls take (IMAP: the UID; POP3: the UIDL; Graph, Gmail: the
/// message id); pass `next_cursor` back as `cursor` for the next page (null on the last).
/// IMAP: one UID SEARCH and one UID FETCH of headers, flags, size and BODYSTRUCTURE per page;
/// POP3: the header of each message with TOP (no search keys but `larger`/`smaller`); Graph:
/// `$filter`/`$search`; Gmail: `q`. Read-only (EXAMINE): nothing is marked read.
///
/// Blocks; cancel from another thread with om_account_cancel. Needs om_init(). Any host thread.
/// Errors: as om_fetch; OM_STATUS_INVALID_CONFIG (options: the message names the key),
/// OM_STATUS_INVALID_ARGUMENT (unknown folder; a cursor of another folder or from before the
/// folder's UIDVALIDITY changed).
///
/// # Safety
/// `options_json` is NULL or a NUL-terminated string; `out_json` is writable.
#[no_mangle]
pub unsafe extern "C" fn om_messages_list(
    account: *mut om_account,
    options_json: *const c_char,
    out_json: *mut *mut c_char,
) -> om_status {
    guard(|| {
        out_string_init(out_json, "out_json")?;
        let query = ListQuery::parse(opt_str_arg(options_json, "options_json")?)?;
        let json = with_account(account, |a| {
            crate::fetch::check_configured(&a.config)?;
            let a2 = a.clone();
            a.run_blocking(bound(query.timeout_ms), async move {
                let page = crate::browse::list(&a2, &query).await?;
                Ok(serde_json::to_string(&page).unwrap_or_default())
            })
        })?;
        out_string_set(out_json, json);
        Ok(())
    })
}

/// Fetches chosen messages whole and hands each to `callback` (as om_fetch does, `parsed_json`
/// included with `"parse": true`). `selection_json`: `{"folder": "INBOX", "ids": ["…"]` (the
/// `id`s of om_messages_list) or `"uids": [N…]` (IMAP), `"uidvalidity": N` (IMAP, optional:
/// refused when the folder's changed), `"parse": bool, "mark_seen": bool, "timeout_ms": N}`.
/// The fetch state is not touched (these messages stay "new" for om_fetch); IMAP reads with
/// BODY.PEEK unless `mark_seen`. A chosen message that no longer exists is skipped; the callback's
/// OM_FETCH_STOP ends the call early. `*out_count` (may be NULL): the messages delivered.
///
/// Blocks; cancel with om_account_cancel. Needs om_init(). Any host thread.
/// Errors: as om_fetch; OM_STATUS_INVALID_ARGUMENT (nothing chosen, an id of another transport,
/// UIDVALIDITY changed).
///
/// # Safety
/// `selection_json` is a NUL-terminated string; `callback` follows om_message_cb;
/// `out_count` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn om_messages_fetch(
    account: *mut om_account,
    selection_json: *const c_char,
    callback: om_message_cb,
    user_data: *mut c_void,
    out_count: *mut u32,
) -> om_status {
    messages_fetch(
        account,
        selection_json,
        callback.map(MessageFn::C),
        user_data,
        out_count,
    )
}

/// om_messages_fetch in either calling convention.
///
/// # Safety
/// As om_messages_fetch.
pub(crate) unsafe fn messages_fetch(
    account: *mut om_account,
    selection_json: *const c_char,
    callback: Option<MessageFn>,
    user_data: *mut c_void,
    out_count: *mut u32,
) -> om_status {
    guard(|| {
        if !out_count.is_null() {
            *out_count = 0;
        }
        let cb = callback.ok_or_else(|| Error::invalid_argument("`callback` is NULL"))?;
        let json = str_arg(selection_json, "selection_json")?;
        let (selection, extra) = fetch_selection(json)?;
        let n = with_account(account, |a| {
            crate::fetch::check_configured(&a.config)?;
            let mut deliver = host_deliver(a.clone(), cb, user_data, extra.parse);
            let a2 = a.clone();
            a.run_blocking(bound(selection.timeout_ms), async move {
                crate::browse::fetch(&a2, &selection, extra.mark_seen, &mut deliver).await
            })
        })?;
        if !out_count.is_null() {
            *out_count = n;
        }
        Ok(())
    })
}

#[derive(serde::Deserialize, Default)]
struct FetchExtra {
    #[serde(default)]
    parse: bool,
    #[serde(default)]
    mark_seen: bool,
}

/// The selection and om_messages_fetch's own keys, from one JSON object.
fn fetch_selection(json: &str) -> crate::error::Result<(Selection, FetchExtra)> {
    let mut v: serde_json::Value =
        crate::json::parse(json, "selection", crate::Status::InvalidArgument)?;
    let mut extra = FetchExtra::default();
    if let Some(o) = v.as_object_mut() {
        let e = serde_json::json!({
            "parse": o.remove("parse").unwrap_or(false.into()),
            "mark_seen": o.remove("mark_seen").unwrap_or(false.into()),
        });
        extra = crate::json::parse(&e.to_string(), "selection", crate::Status::InvalidArgument)?;
    }
    Ok((Selection::parse(&v.to_string(), "selection")?, extra))
}

/// Sets and clears flags of chosen messages. `options_json`: the selection of om_messages_fetch
/// (`folder`, `ids` or `uids`, `uidvalidity`, `timeout_ms`) and `"add": [...]`, `"remove":
/// [...]` with `seen`, `flagged`, `answered`, `draft` or keywords (IMAP keywords; Graph
/// categories; Gmail labels, `flagged` = starred). POP3: OM_STATUS_UNSUPPORTED.
///
/// Blocks; cancel with om_account_cancel. Needs om_init(). Any host thread.
/// Errors: as om_fetch; OM_STATUS_INVALID_ARGUMENT (nothing chosen or to change, a keyword IMAP
/// cannot hold), OM_STATUS_UNSUPPORTED.
///
/// # Safety
/// `options_json` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn om_messages_set_flags(
    account: *mut om_account,
    options_json: *const c_char,
) -> om_status {
    guard(|| {
        let change = FlagChange::parse(str_arg(options_json, "options_json")?)?;
        with_account(account, |a| {
            crate::fetch::check_configured(&a.config)?;
            let a2 = a.clone();
            a.run_blocking(bound(change.selection.timeout_ms), async move {
                crate::browse::set_flags(&a2, &change.selection, &change).await
            })
        })
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Transfer {
    #[serde(flatten)]
    selection: Selection,
    to: String,
}

unsafe fn transfer(account: *mut om_account, options_json: *const c_char, copy: bool) -> om_status {
    guard(|| {
        let what = if copy { "copy options" } else { "move options" };
        let t: Transfer = crate::json::parse(
            str_arg(options_json, "options_json")?,
            what,
            crate::Status::InvalidArgument,
        )?;
        if t.selection.ids.is_empty() && t.selection.uids.is_empty() {
            return Err(Error::invalid_argument(format!(
                "{what}: no message chosen (`ids` or `uids`)"
            )));
        }
        if t.to.trim().is_empty() {
            return Err(Error::invalid_argument(format!("{what} key `to`: empty")));
        }
        with_account(account, |a| {
            crate::fetch::check_configured(&a.config)?;
            let a2 = a.clone();
            a.run_blocking(bound(t.selection.timeout_ms), async move {
                crate::browse::transfer(&a2, &t.selection, &t.to, copy).await
            })
        })
    })
}

/// Moves chosen messages into another folder, created when missing. `options_json`: the
/// selection of om_messages_fetch and `"to": "Clients/Société"` (IMAP: MOVE when the server has
/// it, else COPY, \Deleted and UID EXPUNGE of exactly these messages; Graph: the folder by
/// display path or well-known name; Gmail: labels swapped). POP3: OM_STATUS_UNSUPPORTED.
///
/// Blocks; cancel with om_account_cancel. Needs om_init(). Any host thread.
/// Errors: as om_messages_set_flags.
///
/// # Safety
/// `options_json` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn om_messages_move(
    account: *mut om_account,
    options_json: *const c_char,
) -> om_status {
    transfer(account, options_json, false)
}

/// Copies chosen messages into another folder, created when missing (`options_json` as
/// om_messages_move; Gmail: the label added). POP3: OM_STATUS_UNSUPPORTED.
///
/// Blocks; cancel with om_account_cancel. Needs om_init(). Any host thread.
/// Errors: as om_messages_set_flags.
///
/// # Safety
/// `options_json` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn om_messages_copy(
    account: *mut om_account,
    options_json: *const c_char,
) -> om_status {
    transfer(account, options_json, true)
}

/// Deletes chosen messages (`options_json`: the selection of om_messages_fetch). IMAP: flagged
/// \Deleted and expunged (UID EXPUNGE of exactly these when the server has UIDPLUS, else only
/// flagged, so another client's \Deleted messages are not expunged); POP3: DELE, then QUIT;
/// Graph: moved to Deleted Items; Gmail: moved to the trash.
///
/// Blocks; cancel with om_account_cancel. Needs om_init(). Any host thread.
/// Errors: as om_messages_set_flags.
///
/// # Safety
/// `options_json` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn om_messages_delete(
    account: *mut om_account,
    options_json: *const c_char,
) -> om_status {
    guard(|| {
        let selection = Selection::parse(str_arg(options_json, "options_json")?, "delete options")?;
        with_account(account, |a| {
            crate::fetch::check_configured(&a.config)?;
            let a2 = a.clone();
            a.run_blocking(bound(selection.timeout_ms), async move {
                crate::browse::delete(&a2, &selection).await
            })
        })
    })
}

/// Creates the folder `name` (UTF-8, parts separated by `/`; parents are created as the server
/// needs); a folder that exists already is not an error. POP3: OM_STATUS_UNSUPPORTED.
/// Blocks up to `timeout_ms` (0: twice timeout_secs). Needs om_init(). Any host thread.
/// Errors: as om_messages_set_flags.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn om_folder_create(
    account: *mut om_account,
    name: *const c_char,
    timeout_ms: u32,
) -> om_status {
    guard(|| {
        let name = str_arg(name, "name")?.trim().to_string();
        if name.is_empty() || name.contains('\0') {
            return Err(Error::invalid_argument("`name` is empty"));
        }
        with_account(account, |a| {
            crate::fetch::check_configured(&a.config)?;
            let limit = if timeout_ms == 0 {
                a.config.timeout * 2
            } else {
                Duration::from_millis(u64::from(timeout_ms))
            };
            let a2 = a.clone();
            a.run_blocking(limit, async move {
                crate::browse::create_folder(&a2, &name).await
            })
        })
    })
}

/// Waits for new mail in a folder: returns as soon as a message arrives or after `timeout_ms`
/// (then `"new_mail": false`, still OM_STATUS_OK; 0 returns once the folder is opened). IMAP: IDLE (RFC 2177) when the server offers
/// it, re-issued every 25 minutes (Gmail and Exchange drop IDLE after about 29–30), else a UID
/// SEARCH every `poll_interval_secs`; POP3, Graph, Gmail API: the newest message polled. A cut
/// connection is re-opened (fresh token) and the wait goes on from where it started, so mail that
/// arrived meanwhile still wakes it. Flag changes and deletions do not wake it.
/// `options_json` (may be NULL): `{"folder": "INBOX", "poll_interval_secs": 60,
/// "idle_refresh_secs": 1500, "poll_only": false}`. `*out_json` (may be NULL; free with
/// om_string_free): `{"new_mail", "folder", "method": "idle"|"poll", "reconnects"}`.
///
/// Blocks the calling thread (run it on a worker thread: a host loops on it, then calls
/// om_fetch); om_account_cancel from another thread ends it at once with OM_STATUS_CANCELLED
/// (and cancels the account's other operations in progress). Needs om_init().
/// Errors: as om_fetch (the server's refusal, the folder unknown, a connection that cannot be
/// re-opened).
///
/// # Safety
/// `options_json` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn om_wait_for_mail(
    account: *mut om_account,
    options_json: *const c_char,
    timeout_ms: u32,
    out_json: *mut *mut c_char,
) -> om_status {
    guard(|| {
        if !out_json.is_null() {
            *out_json = std::ptr::null_mut();
        }
        let opts = crate::wait::WaitOptions::parse(opt_str_arg(options_json, "options_json")?)?;
        let json = with_account(account, |a| {
            crate::fetch::check_configured(&a.config)?;
            let wait = Duration::from_millis(u64::from(timeout_ms));
            // room to connect, log in and log out around the wait itself
            let limit = wait + a.config.timeout * 3;
            let a2 = a.clone();
            a.run_blocking(limit, async move {
                let w = crate::wait::wait_for_mail(&a2, &opts, wait).await?;
                Ok(serde_json::to_string(&w).unwrap_or_default())
            })
        })?;
        if !out_json.is_null() {
            out_string_set(out_json, json);
        }
        Ok(())
    })
}
