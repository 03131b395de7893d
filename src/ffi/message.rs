//! `om_message_*`: parsing message bytes from any source, attachments out of them.

use super::args::{bytes_arg, opt_str_arg, out_string_init, out_string_set, str_arg};
use super::boundary::guard;
use super::om_status;
use crate::error::{Error, Status};
use crate::message::{attachments, ParseOptions};
use serde::Deserialize;
use std::ffi::{c_char, c_void};

/// Parses the RFC 5322 bytes `data`/`len` (from om_fetch, a `.eml` file, anywhere) into JSON.
/// `*out_json` (free with om_string_free): `{"from", "sender", "reply_to", "to", "cc", "bcc"`
/// (arrays of `{"name", "address"}`, names decoded from RFC 2047 in any charset), `"subject"`,
/// `"date"` (RFC 3339) and `"date_unix"`, `"message_id"`, `"in_reply_to"`, `"references"`,
/// `"text"` (UTF-8, every text part in order; derived from the HTML body when there is no text
/// part, then `"text_from_html": true`), `"html"`, `"attachments"`: `[{"index", "file_name", "content_type",
/// "size", "content_id", "disposition", "is_message", "is_tnef"}]` (inline parts included, names
/// decoded from RFC 2231 and 2047), `"encrypted"`, `"signed"`, `"security"` (`"smime"`, `"pgp"`
/// or null), `"has_tnef"` (a `winmail.dat`, listed but not unpacked), `"unreadable"`}. Absent
/// values are null. Malformed mail still gives what could be read (never an error): a body whose
/// boundaries are broken is still the body, text mislabelled as UTF-8 is read as Windows-1252.
/// Attachments (text ones included) come out exactly as sent, decoded from base64 or
/// quoted-printable only.
/// `options_json` (may be NULL): `{"text": true, "html": true}` (false leaves a body out).
///
/// No account, no network, no om_init() needed. Any thread.
/// Errors: OM_STATUS_INVALID_ARGUMENT (`data` NULL with `len` > 0, bad options, `out_json`
/// NULL).
///
/// # Safety
/// `data` points to `len` readable bytes (or is NULL when `len` is 0); `options_json` is NULL or
/// a NUL-terminated string; `out_json` is writable.
#[no_mangle]
pub unsafe extern "C" fn om_message_parse(
    data: *const u8,
    len: usize,
    options_json: *const c_char,
    out_json: *mut *mut c_char,
) -> om_status {
    guard(|| {
        out_string_init(out_json, "out_json")?;
        let raw = bytes_arg(data, len, "data")?;
        let opts = ParseOptions::parse(opt_str_arg(options_json, "options_json")?)?;
        let parsed = crate::message::parse(raw, &opts);
        out_string_set(out_json, serde_json::to_string(&parsed).unwrap_or_default());
        Ok(())
    })
}

/// The decoded bytes of attachment `index` (the `"index"` om_message_parse lists) of the
/// message `data`/`len`; a message attached whole gives the attached message's bytes.
/// `*out_data` (free with om_buffer_free) and `*out_len` receive them (an empty attachment: a
/// valid pointer and 0).
///
/// No account, no network. Any thread.
/// Errors: OM_STATUS_INVALID_ARGUMENT (no attachment `index`: the message says how many there
/// are; NULL pointers).
///
/// # Safety
/// `data` points to `len` readable bytes; `out_data` and `out_len` are writable.
#[no_mangle]
pub unsafe extern "C" fn om_message_attachment(
    data: *const u8,
    len: usize,
    index: u32,
    out_data: *mut *mut u8,
    out_len: *mut usize,
) -> om_status {
    guard(|| {
        if out_data.is_null() || out_len.is_null() {
            return Err(Error::invalid_argument("`out_data` or `out_len` is NULL"));
        }
        *out_data = std::ptr::null_mut();
        *out_len = 0;
        let raw = bytes_arg(data, len, "data")?;
        let bytes = attachments::attachment(raw, index)?;
        // malloc'd so om_buffer_free needs only the pointer
        let p = libc::malloc(bytes.len().max(1)) as *mut u8;
        if p.is_null() {
            return Err(Error::new(
                Status::IoError,
                format!("out of memory for {} bytes", bytes.len()),
            ));
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
        *out_data = p;
        *out_len = bytes.len();
        Ok(())
    })
}

/// Frees a buffer returned by om_message_attachment. NULL is ignored. Any thread.
///
/// # Safety
/// `data` is NULL or a buffer from om_message_attachment not freed yet.
#[no_mangle]
pub unsafe extern "C" fn om_buffer_free(data: *mut u8) {
    if !data.is_null() {
        libc::free(data as *mut c_void);
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct SaveOptions {
    /// Also the parts marked inline (images of the HTML body); default true.
    inline: Option<bool>,
}

/// Saves every attachment of the message `data`/`len` into `directory` (UTF-8, must exist).
/// File names come from the decoded attachment names made safe for every system: no path
/// (`../../x.exe` becomes `_.._x.exe`), no character Windows refuses (`a:b` → `a_b`), no
/// control or bidirectional-override characters, no trailing dot or space, reserved device
/// names prefixed (`CON` → `_CON`), at most 120 characters keeping the extension, a fallback
/// `attachment-N` (`message-N.eml` for attached messages) when nothing is left. Existing files
/// are never replaced: a name in use gets ` (2)`, ` (3)`… (compared ignoring case).
/// `options_json` (may be NULL): `{"inline": true}` (false skips parts marked inline).
/// `*out_json` (may be NULL; free with om_string_free): the attachments as om_message_parse
/// lists them, each with the `"path"` written.
///
/// No account, no network. Any thread.
/// Errors: OM_STATUS_INVALID_ARGUMENT, OM_STATUS_IO_ERROR (the directory is missing or a file
/// cannot be written: the files written before it stay).
///
/// # Safety
/// `data` points to `len` readable bytes; `directory` is a NUL-terminated string;
/// `options_json` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn om_message_save_attachments(
    data: *const u8,
    len: usize,
    directory: *const c_char,
    options_json: *const c_char,
    out_json: *mut *mut c_char,
) -> om_status {
    guard(|| {
        if !out_json.is_null() {
            *out_json = std::ptr::null_mut();
        }
        let raw = bytes_arg(data, len, "data")?;
        let dir = std::path::PathBuf::from(str_arg(directory, "directory")?);
        let opts: SaveOptions = match opt_str_arg(options_json, "options_json")?.map(str::trim) {
            None | Some("") => SaveOptions::default(),
            Some(j) => crate::json::parse(j, "save options", Status::InvalidArgument)?,
        };
        let saved = attachments::save_all(raw, &dir, opts.inline.unwrap_or(true))?;
        if !out_json.is_null() {
            out_string_set(out_json, serde_json::to_string(&saved).unwrap_or_default());
        }
        Ok(())
    })
}
