//! `om_fetch`, `om_folders_list`, `om_sync_state_*`: reading mail.

use super::args::{opt_str_arg, out_string_init, out_string_set, str_arg, with_account};
use super::boundary::guard;
use super::convention::host_fn;
use super::{om_account, om_status};
use crate::error::Error;
use crate::fetch::options::FetchOptions;
use crate::fetch::{Control, MessageMeta};
use std::ffi::{c_char, c_void, CString};
use std::time::Duration;

/// The callback accepts the message: the fetch state advances past it.
pub const OM_FETCH_CONTINUE: i32 = 0;
/// The callback wants no more messages: the fetch stops, this message is not accepted (it comes
/// again next time).
pub const OM_FETCH_STOP: i32 = 1;
/// The callback failed with this message: the fetch stops with OM_STATUS_CANCELLED, this message
/// is not accepted.
pub const OM_FETCH_ERROR: i32 = 2;

/// One message handed to the fetch callback; valid only during the callback. Natural C layout:
/// on every platform there are 4 bytes of padding after `resync` (declare the record with normal
/// alignment, not packed).
#[repr(C)]
pub struct om_message {
    /// IMAP: the UID. POP3: the message number in this session. Graph, Gmail API: 0.
    pub uid: u32,
    /// The folder's UIDVALIDITY: (uidvalidity, uid) identifies the message for good (Graph,
    /// Gmail API: 0).
    pub uidvalidity: u32,
    /// 1 when the message may be delivered again because the fetch state did not match the
    /// mailbox (the folder's UIDVALIDITY changed; POP3: none of the UIDLs fetched before is on
    /// the server; Graph: the delta link expired and the sync started again; Gmail API: the
    /// historyId was too old and the label was listed again): the host may already have it
    /// (compare Message-IDs); else 0.
    pub resync: u32,
    /// Size in bytes as the server reports it (RFC822.SIZE).
    pub size: u64,
    /// When the server received it, Unix seconds (0 if unknown).
    pub internal_date: i64,
    /// The folder, UTF-8.
    pub folder: *const c_char,
    /// The flags, space-separated (e.g. "\\Seen \\Flagged"), UTF-8; "" for POP3.
    pub flags: *const c_char,
    /// POP3: the UIDL, the message's stable id; Graph, Gmail API: the message id; "" for IMAP.
    /// The `id` the om_messages_* calls take is this, or for IMAP the UID in decimal.
    pub uidl: *const c_char,
    /// With the fetch option `"parse": true`: the message parsed, the JSON om_message_parse
    /// gives; else NULL. UTF-8, valid only during the callback.
    pub parsed_json: *const c_char,
}

/// Receives one message: `message` describes it, `data`/`len` are its raw RFC 5322 bytes. Both are
/// valid only during the call. Runs on the thread that called om_fetch, inside it. Returns
/// OM_FETCH_CONTINUE, OM_FETCH_STOP or OM_FETCH_ERROR (any other value is treated as an error).
/// Calling functions of the same account from inside it returns OM_STATUS_REENTRANT_CALL.
pub type om_message_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        message: *const om_message,
        data: *const u8,
        len: usize,
    ) -> i32,
>;

host_fn!(
    /// The host's message callback (om_message_cb / oms_message_cb).
    MessageFn(user_data: *mut c_void, message: *const om_message, data: *const u8, len: usize) -> i32
);

/// The delivery function handing each message to the host's `cb` (with the parsed JSON when
/// `parse`), mapping its answer to a [`Control`]; shared by om_fetch and om_messages_fetch.
pub(crate) fn host_deliver(
    acc: std::sync::Arc<crate::account::Account>,
    cb: MessageFn,
    user_data: *mut c_void,
    parse: bool,
) -> impl FnMut(&MessageMeta<'_>, &[u8]) -> Control {
    move |meta: &MessageMeta<'_>, data: &[u8]| -> Control {
        let folder = CString::new(meta.folder.replace('\0', " ")).unwrap_or_default();
        let flags = CString::new(meta.flags.join(" ").replace('\0', " ")).unwrap_or_default();
        let uidl = CString::new(meta.uidl.unwrap_or("").replace('\0', " ")).unwrap_or_default();
        let parsed = parse.then(|| {
            let p = crate::message::parse(data, &Default::default());
            CString::new(serde_json::to_string(&p).unwrap_or_default()).unwrap_or_default()
        });
        let m = om_message {
            uid: meta.uid,
            uidvalidity: meta.uidvalidity,
            resync: u32::from(meta.resync),
            size: meta.size,
            internal_date: meta.internal_date,
            folder: folder.as_ptr(),
            flags: flags.as_ptr(),
            uidl: uidl.as_ptr(),
            parsed_json: parsed.as_ref().map_or(std::ptr::null(), |p| p.as_ptr()),
        };
        // SAFETY: the host's callback, called as documented.
        let code = acc.as_callback(|| unsafe { cb.call(user_data, &m, data.as_ptr(), data.len()) });
        match code {
            OM_FETCH_CONTINUE => Control::Continue,
            OM_FETCH_STOP => Control::Stop,
            OM_FETCH_ERROR => Control::Fail(Error::new(
                crate::Status::Cancelled,
                "the callback returned OM_FETCH_ERROR",
            )),
            other => Control::Fail(Error::new(
                crate::Status::Cancelled,
                format!("the callback returned {other}, which is not an OM_FETCH_* value"),
            )),
        }
    }
}

/// Fetches mail from the account's incoming server (IMAP, POP3, Microsoft Graph or the Gmail API)
/// and hands each
/// message to `callback`, in UID order (POP3: server order, new mail told by UIDL; Graph: the
/// delta query's order, new mail told by the delta link and the ids delivered before; Gmail API:
/// oldest first, new mail told by the history since the stored historyId), on this thread. With `only_new` (the default follows the account's
/// `options.skip_fetched`) only mail not accepted before is delivered; the state advances only
/// past messages the callback accepted, so a crash or a cut connection never loses one and at
/// most the one not yet accepted comes again. The server session is re-opened (fresh token) if
/// the server cuts it, and the fetch resumes. What was fetched is kept per mailbox (login user
/// and folder with its UIDVALIDITY; POP3: user and UIDLs; Graph: mailbox and folder with the
/// delta link), not per server address: changing the
/// port, the security or the host name's spelling redelivers nothing. Marking, moving or
/// deleting accepted messages that the session could not finish (the connection lost for good)
/// stays in the fetch state and is done first by the next fetch of that folder.
///
/// `options_json` (may be NULL): `{"folder": "INBOX", "only_new": bool, "max_messages": N,
/// "since": "2026-02-01", "mark_seen": bool, "after_delivery": "keep"|"delete"|"move",
/// "move_to": "Archive", "batch_size": 50, "timeout_ms": N, "parse": bool}` (`parse`: each
/// message also parsed, `om_message.parsed_json`; om_fetch_to_directory writes it as
/// `<name>.json` beside `<name>.eml`). Messages are read with
/// BODY.PEEK (not marked read unless `mark_seen`). Graph: `folder` is a well-known name
/// (`inbox`, `sentitems`, …) or a display path (`Clients/Société`); `batch_size` is the delta
/// page size; up to 4 messages are downloaded at once (Exchange's limit per mailbox), and
/// `Retry-After` is honoured when Graph throttles.
/// `*out_summary_json` (may be NULL; free with om_string_free): `{"folder", "delivered",
/// "remaining", "stopped_by_callback", "uidvalidity", "last_uid", "uidvalidity_changed",
/// "reconnects"}` — `uidvalidity_changed`: the state did not match the mailbox any more (IMAP
/// UIDVALIDITY changed; POP3: none of the UIDLs fetched before is on the server; Graph: the delta
/// link expired), so the messages delivered carry `resync = 1`. Needs om_init(). Cancel from another thread with om_account_cancel.
/// Errors: OM_STATUS_INVALID_CONFIG (options: the message names the key), OM_STATUS_INVALID_ARGUMENT
/// (unknown folder, NULL callback), OM_STATUS_LOGIN_REJECTED, OM_STATUS_AUTHORIZATION_REQUIRED,
/// OM_STATUS_TLS_ERROR, OM_STATUS_NETWORK_ERROR, OM_STATUS_TIMEOUT, OM_STATUS_CANCELLED (also
/// when the callback returned OM_FETCH_ERROR), OM_STATUS_PROTOCOL_ERROR; Graph also
/// OM_STATUS_ACCESS_DENIED (permission or application access policy: the hint says who acts),
/// OM_STATUS_UNSUPPORTED (mailbox not enabled for Graph), OM_STATUS_INVALID_CONFIG (unknown
/// mailbox).
///
/// # Safety
/// `options_json` is NULL or a NUL-terminated string; `out_summary_json` is NULL or writable;
/// `callback` follows om_message_cb.
#[no_mangle]
pub unsafe extern "C" fn om_fetch(
    account: *mut om_account,
    options_json: *const c_char,
    callback: om_message_cb,
    user_data: *mut c_void,
    out_summary_json: *mut *mut c_char,
) -> om_status {
    fetch(
        account,
        options_json,
        callback.map(MessageFn::C),
        user_data,
        out_summary_json,
    )
}

/// om_fetch in either calling convention.
///
/// # Safety
/// As om_fetch.
pub(crate) unsafe fn fetch(
    account: *mut om_account,
    options_json: *const c_char,
    callback: Option<MessageFn>,
    user_data: *mut c_void,
    out_summary_json: *mut *mut c_char,
) -> om_status {
    guard(|| {
        if !out_summary_json.is_null() {
            *out_summary_json = std::ptr::null_mut();
        }
        let cb = callback.ok_or_else(|| Error::invalid_argument("`callback` is NULL"))?;
        let opts = FetchOptions::parse(opt_str_arg(options_json, "options_json")?)?;
        let summary = with_account(account, |a| {
            crate::fetch::check_configured(&a.config)?;
            let limit =
                Duration::from_millis(opts.timeout_ms.unwrap_or(u64::from(u32::MAX) * 1000));
            let mut deliver = host_deliver(a.clone(), cb, user_data, opts.parse);
            let a2 = a.clone();
            a.run_blocking(limit, async move {
                crate::incoming::fetch(&a2, &opts, &mut deliver).await
            })
        })?;
        if !out_summary_json.is_null() {
            out_string_set(
                out_summary_json,
                serde_json::to_string(&summary).unwrap_or_default(),
            );
        }
        Ok(())
    })
}

/// Lists the folders of the account's mailbox (IMAP, or Microsoft Graph where each name is the
/// folder's display path, parts separated by `/`): `*out_json` is a JSON array of
/// `{"name", "delimiter", "attributes"}` (IMAP names decoded from modified UTF-7). POP3 has
/// no folders: OM_STATUS_UNSUPPORTED. Free it with
/// om_string_free. Blocks up to `timeout_ms` (0: timeout_secs). Needs om_init(). Any host thread.
/// Errors: as om_fetch.
///
/// # Safety
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn om_folders_list(
    account: *mut om_account,
    timeout_ms: u32,
    out_json: *mut *mut c_char,
) -> om_status {
    guard(|| {
        out_string_init(out_json, "out_json")?;
        let json = with_account(account, |a| {
            let a2 = a.clone();
            a.run_blocking(
                a.timeout_or_default(timeout_ms).max(Duration::from_secs(1)),
                async move {
                    let folders = crate::incoming::folders(&a2).await?;
                    Ok(serde_json::to_string(&folders).unwrap_or_default())
                },
            )
        })?;
        out_string_set(out_json, json);
        Ok(())
    })
}

/// The fetch state as JSON, for the host to keep with the account: `{"format": 2, "imap":
/// {"user/folder": {"uidvalidity", "last_uid"}}, "pop3": {"user": [UIDLs]}, "imap_pending"?,
/// "pop3_pending_delete"?}` (the last two: after-delivery steps still to do). `*out_json`: free with om_string_free. Any thread.
///
/// # Safety
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn om_sync_state_export(
    account: *mut om_account,
    out_json: *mut *mut c_char,
) -> om_status {
    guard(|| {
        out_string_init(out_json, "out_json")?;
        let json = with_account(account, |a| Ok(a.sync.export_json()))?;
        out_string_set(out_json, json);
        Ok(())
    })
}

/// Replaces the fetch state by one exported earlier (om_sync_state_export; format 1 of earlier
/// versions, keyed by server address, is converted). Any thread.
/// Errors: OM_STATUS_INVALID_ARGUMENT (NULL, not UTF-8, malformed JSON: the message names the
/// key), OM_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `state_json` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn om_sync_state_import(
    account: *mut om_account,
    state_json: *const c_char,
) -> om_status {
    guard(|| {
        let json = str_arg(state_json, "state_json")?;
        with_account(account, |a| a.sync.import_json(json))
    })
}

/// Directory mode of om_fetch, for hosts that cannot take callbacks: each message is written to
/// `directory` as an .eml file named `<folder>_<uidvalidity>_<uid>.eml` (POP3:
/// `<folder>_<uidl>.eml`; Graph: `<folder>_<16 hex digits>.eml`, from the message id), atomically (temporary
/// file, then rename); the fetch state advances only after the rename, so a crash leaves either
/// no file or a complete one, and a message delivered again replaces its own file.
///
/// `directory` (UTF-8, may contain non-ASCII characters) must exist. `options_json` and
/// `*out_summary_json` as for om_fetch; the summary also lists the `"files"` written.
/// Errors: as om_fetch; OM_STATUS_IO_ERROR when the directory is missing or not writable (then
/// nothing is accepted past the last file written).
///
/// # Safety
/// `options_json` is NULL or a NUL-terminated string; `directory` a NUL-terminated string;
/// `out_summary_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn om_fetch_to_directory(
    account: *mut om_account,
    options_json: *const c_char,
    directory: *const c_char,
    out_summary_json: *mut *mut c_char,
) -> om_status {
    guard(|| {
        if !out_summary_json.is_null() {
            *out_summary_json = std::ptr::null_mut();
        }
        let opts = FetchOptions::parse(opt_str_arg(options_json, "options_json")?)?;
        let dir = std::path::PathBuf::from(str_arg(directory, "directory")?);
        if !dir.is_dir() {
            return Err(Error::new(
                crate::Status::IoError,
                format!("the directory {} does not exist", dir.display()),
            ));
        }
        let json = with_account(account, |a| {
            crate::fetch::check_configured(&a.config)?;
            let limit =
                Duration::from_millis(opts.timeout_ms.unwrap_or(u64::from(u32::MAX) * 1000));
            let a2 = a.clone();
            a.run_blocking(limit, async move {
                let mut written = Vec::new();
                let result = {
                    let mut deliver =
                        crate::fetch::directory::writer(&dir, &mut written, opts.parse);
                    crate::incoming::fetch(&a2, &opts, &mut deliver).await
                };
                let summary = result?;
                let mut v = serde_json::to_value(&summary).unwrap_or_default();
                v["files"] = serde_json::json!(written);
                Ok(v.to_string())
            })
        })?;
        if !out_summary_json.is_null() {
            out_string_set(out_summary_json, json);
        }
        Ok(())
    })
}

/// The settings check for an admin's "test these settings" button: connects to the incoming
/// server (IMAP, POP3 or Graph) and the outgoing one (SMTP or Graph), then logs in to each as a
/// fetch or a send would (refreshing the token if needed; Graph: a token for Graph and the
/// mailbox answering with it). `*out_json` (free
/// with om_string_free) is a JSON array with one report per server: `{"role", "protocol",
/// "host", "port", "reachable", "authenticated", "tls", "greeting", "capabilities",
/// "mechanisms", "status", "problem", "hint"}` — a failed check is reported there, in the
/// account's language, and the call still returns OM_STATUS_OK.
///
/// Blocks up to `timeout_ms` (0: twice timeout_secs). Needs om_init(). Any host thread.
/// Errors: OM_STATUS_INVALID_ARGUMENT, OM_STATUS_INVALID_HANDLE, OM_STATUS_NOT_INITIALIZED,
/// OM_STATUS_TIMEOUT, OM_STATUS_CANCELLED.
///
/// # Safety
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn om_servers_check(
    account: *mut om_account,
    timeout_ms: u32,
    out_json: *mut *mut c_char,
) -> om_status {
    guard(|| {
        out_string_init(out_json, "out_json")?;
        let json = with_account(account, |a| {
            let limit = if timeout_ms == 0 {
                a.config.timeout * 2
            } else {
                Duration::from_millis(u64::from(timeout_ms))
            };
            let a2 = a.clone();
            a.run_blocking(limit, async move {
                let reports = crate::fetch::check::check(&a2).await;
                Ok(serde_json::to_string_pretty(&reports).unwrap_or_default())
            })
        })?;
        out_string_set(out_json, json);
        Ok(())
    })
}
