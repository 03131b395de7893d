//! The stdcall entry set: every `om_*` function again as `oms_*`, with the same parameters and
//! meaning, for hosts that can only call `__stdcall` functions on 32-bit Windows (VB6 `Declare`,
//! 32-bit VBA, Visual FoxPro `DECLARE`, WinDev, several 4GLs). `extern "system"` is stdcall on
//! 32-bit Windows and the platform's only convention everywhere else, so the same names also
//! serve 64-bit VBA (`Declare PtrSafe`). Callbacks given to `oms_*` functions are stdcall too
//! (what `AddressOf` gives). The names are exported undecorated (`oms_init`, not `_oms_init@0`:
//! build.rs links the i686 DLL with `--kill-at`); C declarations are in
//! `include/oauthmail_stdcall.h`, generated from `include/oauthmail.h`.

#![allow(non_camel_case_types)]

use super::account::TokenFn;
use super::fetch::MessageFn;
use super::log::LogFn;
use super::token_store::{LockFn, UnlockFn};
use super::user_data::FreeFn;
use super::{
    account, authorize, browse, fetch, last_error, library, log, message, send, status,
    token_store, tokens,
};
use super::{om_account, om_status};
use std::ffi::{c_char, c_void};

/// om_message_cb, stdcall.
pub type oms_message_cb = Option<
    unsafe extern "system" fn(
        user_data: *mut c_void,
        message: *const super::fetch::om_message,
        data: *const u8,
        len: usize,
    ) -> i32,
>;
/// om_token_cb, stdcall.
pub type oms_token_cb =
    Option<unsafe extern "system" fn(user_data: *mut c_void, tokens_json: *const c_char)>;
/// om_free_cb, stdcall.
pub type oms_free_cb = Option<unsafe extern "system" fn(user_data: *mut c_void)>;
/// om_log_cb, stdcall.
pub type oms_log_cb =
    Option<unsafe extern "system" fn(user_data: *mut c_void, level: i32, message: *const c_char)>;
/// om_tokens_lock_cb, stdcall.
pub type oms_tokens_lock_cb = Option<
    unsafe extern "system" fn(
        user_data: *mut c_void,
        timeout_ms: u32,
        out_tokens_json: *mut *const c_char,
    ) -> i32,
>;
/// om_tokens_unlock_cb, stdcall.
pub type oms_tokens_unlock_cb =
    Option<unsafe extern "system" fn(user_data: *mut c_void, tokens_json: *const c_char) -> i32>;

/// `module::om_x => oms_x(args) -> ret;` exports `oms_x`, stdcall, calling `om_x`.
macro_rules! stdcall_entries {
    ($($module:ident :: $om:ident => $oms:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?;)*) => {$(
        #[doc = concat!("`", stringify!($om), "` as a stdcall entry: same parameters, result \
            and errors (see its documentation in oauthmail.h).\n\n# Safety\nAs `",
            stringify!($om), "`.")]
        #[no_mangle]
        pub unsafe extern "system" fn $oms($($arg: $ty),*) $(-> $ret)? {
            $module::$om($($arg),*)
        }
    )*};
}

stdcall_entries! {
    account::om_account_new => oms_account_new(config_json: *const c_char, out_account: *mut *mut om_account) -> om_status;
    account::om_account_free => oms_account_free(account: *mut om_account) -> om_status;
    account::om_account_config_json => oms_account_config_json(account: *mut om_account, out_json: *mut *mut c_char) -> om_status;
    account::om_account_check => oms_account_check(account: *mut om_account, out_json: *mut *mut c_char) -> om_status;
    account::om_account_cancel => oms_account_cancel(account: *mut om_account) -> om_status;
    authorize::om_authorize_start => oms_authorize_start(account: *mut om_account, options_json: *const c_char, out_json: *mut *mut c_char) -> om_status;
    authorize::om_authorize_wait => oms_authorize_wait(account: *mut om_account, timeout_ms: u32) -> om_status;
    authorize::om_authorize_complete => oms_authorize_complete(account: *mut om_account, redirect_url: *const c_char, timeout_ms: u32) -> om_status;
    authorize::om_authorize_cancel => oms_authorize_cancel(account: *mut om_account) -> om_status;
    authorize::om_device_start => oms_device_start(account: *mut om_account, timeout_ms: u32, out_json: *mut *mut c_char) -> om_status;
    browse::om_messages_list => oms_messages_list(account: *mut om_account, options_json: *const c_char, out_json: *mut *mut c_char) -> om_status;
    browse::om_messages_set_flags => oms_messages_set_flags(account: *mut om_account, options_json: *const c_char) -> om_status;
    browse::om_messages_move => oms_messages_move(account: *mut om_account, options_json: *const c_char) -> om_status;
    browse::om_messages_copy => oms_messages_copy(account: *mut om_account, options_json: *const c_char) -> om_status;
    browse::om_messages_delete => oms_messages_delete(account: *mut om_account, options_json: *const c_char) -> om_status;
    browse::om_folder_create => oms_folder_create(account: *mut om_account, name: *const c_char, timeout_ms: u32) -> om_status;
    browse::om_wait_for_mail => oms_wait_for_mail(account: *mut om_account, options_json: *const c_char, timeout_ms: u32, out_json: *mut *mut c_char) -> om_status;
    fetch::om_folders_list => oms_folders_list(account: *mut om_account, timeout_ms: u32, out_json: *mut *mut c_char) -> om_status;
    fetch::om_sync_state_export => oms_sync_state_export(account: *mut om_account, out_json: *mut *mut c_char) -> om_status;
    fetch::om_sync_state_import => oms_sync_state_import(account: *mut om_account, state_json: *const c_char) -> om_status;
    fetch::om_fetch_to_directory => oms_fetch_to_directory(account: *mut om_account, options_json: *const c_char, directory: *const c_char, out_summary_json: *mut *mut c_char) -> om_status;
    fetch::om_servers_check => oms_servers_check(account: *mut om_account, timeout_ms: u32, out_json: *mut *mut c_char) -> om_status;
    last_error::om_last_error_message => oms_last_error_message() -> *const c_char;
    last_error::om_last_error_detail => oms_last_error_detail() -> *const c_char;
    last_error::om_last_error_hint => oms_last_error_hint() -> *const c_char;
    last_error::om_last_error_status => oms_last_error_status() -> om_status;
    library::om_init => oms_init() -> om_status;
    library::om_shutdown => oms_shutdown() -> om_status;
    library::om_version => oms_version() -> *const c_char;
    library::om_version_number => oms_version_number() -> u32;
    library::om_string_free => oms_string_free(s: *mut c_char);
    log::om_log_write => oms_log_write(level: i32, message: *const c_char) -> om_status;
    message::om_message_parse => oms_message_parse(data: *const u8, len: usize, options_json: *const c_char, out_json: *mut *mut c_char) -> om_status;
    message::om_message_attachment => oms_message_attachment(data: *const u8, len: usize, index: u32, out_data: *mut *mut u8, out_len: *mut usize) -> om_status;
    message::om_buffer_free => oms_buffer_free(data: *mut u8);
    message::om_message_save_attachments => oms_message_save_attachments(data: *const u8, len: usize, directory: *const c_char, options_json: *const c_char, out_json: *mut *mut c_char) -> om_status;
    send::om_send => oms_send(account: *mut om_account, message_json: *const c_char, options_json: *const c_char, out_result_json: *mut *mut c_char) -> om_status;
    send::om_send_raw => oms_send_raw(account: *mut om_account, data: *const u8, len: usize, options_json: *const c_char, out_result_json: *mut *mut c_char) -> om_status;
    send::om_send_batch => oms_send_batch(account: *mut om_account, messages_json: *const c_char, options_json: *const c_char, out_results_json: *mut *mut c_char) -> om_status;
    status::om_status_name => oms_status_name(status: om_status) -> *const c_char;
    status::om_status_description => oms_status_description(status: om_status) -> *const c_char;
    tokens::om_get_access_token => oms_get_access_token(account: *mut om_account, timeout_ms: u32, out_token: *mut *mut c_char, out_expires_at: *mut i64) -> om_status;
    tokens::om_tokens_export => oms_tokens_export(account: *mut om_account, out_json: *mut *mut c_char) -> om_status;
    tokens::om_tokens_import => oms_tokens_import(account: *mut om_account, tokens_json: *const c_char) -> om_status;
    tokens::om_tokens_revoke => oms_tokens_revoke(account: *mut om_account, timeout_ms: u32) -> om_status;
}

/// `om_account_set_token_callback` as a stdcall entry, taking stdcall callbacks.
#[no_mangle]
pub extern "system" fn oms_account_set_token_callback(
    account: *mut om_account,
    callback: oms_token_cb,
    user_data: *mut c_void,
    free_user_data: oms_free_cb,
) -> om_status {
    account::set_token_callback(
        account,
        callback.map(TokenFn::System),
        user_data,
        free_user_data.map(FreeFn::System),
    )
}

/// `om_account_set_token_store` as a stdcall entry, taking stdcall callbacks.
#[no_mangle]
pub extern "system" fn oms_account_set_token_store(
    account: *mut om_account,
    lock: oms_tokens_lock_cb,
    unlock: oms_tokens_unlock_cb,
    user_data: *mut c_void,
    free_user_data: oms_free_cb,
) -> om_status {
    token_store::set_token_store(
        account,
        lock.map(LockFn::System),
        unlock.map(UnlockFn::System),
        user_data,
        free_user_data.map(FreeFn::System),
    )
}

/// `om_log_set_callback` as a stdcall entry, taking stdcall callbacks. The log callback may run
/// on library threads: hosts whose code cannot run on a foreign thread (VB6, VBA) must not set
/// one.
#[no_mangle]
pub extern "system" fn oms_log_set_callback(
    callback: oms_log_cb,
    max_level: i32,
    user_data: *mut c_void,
    free_user_data: oms_free_cb,
) -> om_status {
    log::set_log_callback(
        callback.map(LogFn::System),
        max_level,
        user_data,
        free_user_data.map(FreeFn::System),
    )
}

/// `om_fetch` as a stdcall entry, with a stdcall message callback.
///
/// # Safety
/// As `om_fetch`.
#[no_mangle]
pub unsafe extern "system" fn oms_fetch(
    account: *mut om_account,
    options_json: *const c_char,
    callback: oms_message_cb,
    user_data: *mut c_void,
    out_summary_json: *mut *mut c_char,
) -> om_status {
    fetch::fetch(
        account,
        options_json,
        callback.map(MessageFn::System),
        user_data,
        out_summary_json,
    )
}

/// `om_messages_fetch` as a stdcall entry, with a stdcall message callback.
///
/// # Safety
/// As `om_messages_fetch`.
#[no_mangle]
pub unsafe extern "system" fn oms_messages_fetch(
    account: *mut om_account,
    selection_json: *const c_char,
    callback: oms_message_cb,
    user_data: *mut c_void,
    out_count: *mut u32,
) -> om_status {
    browse::messages_fetch(
        account,
        selection_json,
        callback.map(MessageFn::System),
        user_data,
        out_count,
    )
}
