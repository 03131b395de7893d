//! Status constants (`OM_STATUS_*`) and their names and descriptions.

use super::boundary::static_cstr;
use super::om_status;
use crate::error::Status;
use std::ffi::c_char;

/// Success.
pub const OM_STATUS_OK: om_status = 0;
/// An argument is NULL, not valid UTF-8, or out of range.
pub const OM_STATUS_INVALID_ARGUMENT: om_status = 1;
/// The configuration or options JSON is malformed, has an unknown key or a wrong type (the
/// message names the key).
pub const OM_STATUS_INVALID_CONFIG: om_status = 2;
/// The account handle is unknown or was already freed.
pub const OM_STATUS_INVALID_HANDLE: om_status = 3;
/// om_init() was not called, or om_shutdown() ended the library.
pub const OM_STATUS_NOT_INITIALIZED: om_status = 4;
/// Not finished yet: call the wait function again (not an error).
pub const OM_STATUS_PENDING: om_status = 5;
/// The operation did not finish in time.
pub const OM_STATUS_TIMEOUT: om_status = 6;
/// The operation was cancelled (om_account_cancel, om_authorize_cancel, om_shutdown).
pub const OM_STATUS_CANCELLED: om_status = 7;
/// The user must authorize (again): no tokens, or the provider refused the refresh token.
/// The last error carries the provider's text and a hint saying who must do what.
pub const OM_STATUS_AUTHORIZATION_REQUIRED: om_status = 8;
/// The user (or a policy) denied access at the provider.
pub const OM_STATUS_ACCESS_DENIED: om_status = 9;
/// The OAuth2 provider refused the request (client id/secret, scopes, registration…).
pub const OM_STATUS_PROVIDER_ERROR: om_status = 10;
/// A network error (connection, DNS, timeout of a request, repeated 5xx).
pub const OM_STATUS_NETWORK_ERROR: om_status = 11;
/// TLS certificate verification failed (the message names the host and the reason).
pub const OM_STATUS_TLS_ERROR: om_status = 12;
/// The redirect port is used by another program (the message names the port).
pub const OM_STATUS_PORT_IN_USE: om_status = 13;
/// A redirect carried a wrong or missing state.
pub const OM_STATUS_STATE_MISMATCH: om_status = 14;
/// The call does not fit the current state (e.g. wait without a started authorization).
pub const OM_STATUS_WRONG_STATE: om_status = 15;
/// Called from inside a callback of the same account, or a blocking call from a library thread.
pub const OM_STATUS_REENTRANT_CALL: om_status = 16;
/// A file could not be read or written (token file).
pub const OM_STATUS_IO_ERROR: om_status = 17;
/// om_tokens_import: the tokens given are older than the ones held; nothing was changed.
pub const OM_STATUS_STALE_TOKENS: om_status = 18;
/// Not supported by this provider or configuration.
pub const OM_STATUS_UNSUPPORTED: om_status = 19;
/// A server answered something unexpected.
pub const OM_STATUS_PROTOCOL_ERROR: om_status = 20;
/// The mail server refused the login (after one token refresh for OAuth2): the last error has
/// the server's text and a hint (scopes, protocol disabled for the mailbox, login user).
pub const OM_STATUS_LOGIN_REJECTED: om_status = 21;
/// The tokens are shared (token_file, or a token store set with om_account_set_token_store)
/// and another process or account handle held their lock longer than the account's timeout
/// while refreshing them: nothing was changed; try again later.
pub const OM_STATUS_TOKENS_LOCKED: om_status = 22;
/// The connection died after a message was completely sent, before the server confirmed it: it
/// may or may not have been delivered, and it was NOT sent again. Do not resend it
/// automatically (that could deliver it twice): check the recipient or the Sent folder first.
pub const OM_STATUS_DELIVERY_UNKNOWN: om_status = 23;
/// Internal error (a bug in oauthmail, caught before it could crash the host).
pub const OM_STATUS_PANIC: om_status = 99;

/// The name of a status constant, e.g. "OM_STATUS_TIMEOUT"; "OM_STATUS_UNKNOWN" for other values.
///
/// Returns a static string: never free it. Any thread. Never fails.
#[no_mangle]
pub extern "C" fn om_status_name(status: om_status) -> *const c_char {
    match Status::from_code(status) {
        Some(s) => static_cstr(s.name()),
        None => c"OM_STATUS_UNKNOWN".as_ptr(),
    }
}

/// A one-line English description of a status; "unknown status" for other values.
///
/// Returns a static string: never free it. Any thread. Never fails.
#[no_mangle]
pub extern "C" fn om_status_description(status: om_status) -> *const c_char {
    match Status::from_code(status) {
        Some(s) => static_cstr(s.description()),
        None => c"unknown status".as_ptr(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_the_core() {
        let pairs = [
            (OM_STATUS_OK, Status::Ok),
            (OM_STATUS_INVALID_ARGUMENT, Status::InvalidArgument),
            (OM_STATUS_INVALID_CONFIG, Status::InvalidConfig),
            (OM_STATUS_INVALID_HANDLE, Status::InvalidHandle),
            (OM_STATUS_NOT_INITIALIZED, Status::NotInitialized),
            (OM_STATUS_PENDING, Status::Pending),
            (OM_STATUS_TIMEOUT, Status::Timeout),
            (OM_STATUS_CANCELLED, Status::Cancelled),
            (
                OM_STATUS_AUTHORIZATION_REQUIRED,
                Status::AuthorizationRequired,
            ),
            (OM_STATUS_ACCESS_DENIED, Status::AccessDenied),
            (OM_STATUS_PROVIDER_ERROR, Status::ProviderError),
            (OM_STATUS_NETWORK_ERROR, Status::NetworkError),
            (OM_STATUS_TLS_ERROR, Status::TlsError),
            (OM_STATUS_PORT_IN_USE, Status::PortInUse),
            (OM_STATUS_STATE_MISMATCH, Status::StateMismatch),
            (OM_STATUS_WRONG_STATE, Status::WrongState),
            (OM_STATUS_REENTRANT_CALL, Status::ReentrantCall),
            (OM_STATUS_IO_ERROR, Status::IoError),
            (OM_STATUS_STALE_TOKENS, Status::StaleTokens),
            (OM_STATUS_UNSUPPORTED, Status::Unsupported),
            (OM_STATUS_PROTOCOL_ERROR, Status::ProtocolError),
            (OM_STATUS_LOGIN_REJECTED, Status::LoginRejected),
            (OM_STATUS_TOKENS_LOCKED, Status::TokensLocked),
            (OM_STATUS_DELIVERY_UNKNOWN, Status::DeliveryUnknown),
            (OM_STATUS_PANIC, Status::Panic),
        ];
        assert_eq!(pairs.len(), Status::ALL.len());
        for (c, s) in pairs {
            assert_eq!(c, s.code(), "{}", s.name());
        }
    }
}
