//! The one error type of the core and its status codes.
//!
//! Every failure carries a [`Status`] (stable numbers, the C ABI's `OM_STATUS_*`), a readable
//! message saying what happened and what to do, the provider's or server's own text when there
//! is one (`detail`) and an optional hint saying who must fix what. Messages never contain a
//! token or secret: they pass through [`crate::redact`] before anyone sees them.

use std::fmt;

/// Status codes. The numbers are part of the ABI: append new ones, never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Status {
    Ok = 0,
    InvalidArgument = 1,
    InvalidConfig = 2,
    InvalidHandle = 3,
    NotInitialized = 4,
    Pending = 5,
    Timeout = 6,
    Cancelled = 7,
    AuthorizationRequired = 8,
    AccessDenied = 9,
    ProviderError = 10,
    NetworkError = 11,
    TlsError = 12,
    PortInUse = 13,
    StateMismatch = 14,
    WrongState = 15,
    ReentrantCall = 16,
    IoError = 17,
    StaleTokens = 18,
    Unsupported = 19,
    ProtocolError = 20,
    LoginRejected = 21,
    Panic = 99,
}

impl Status {
    /// Every status, in numeric order.
    pub const ALL: [Status; 23] = [
        Status::Ok,
        Status::InvalidArgument,
        Status::InvalidConfig,
        Status::InvalidHandle,
        Status::NotInitialized,
        Status::Pending,
        Status::Timeout,
        Status::Cancelled,
        Status::AuthorizationRequired,
        Status::AccessDenied,
        Status::ProviderError,
        Status::NetworkError,
        Status::TlsError,
        Status::PortInUse,
        Status::StateMismatch,
        Status::WrongState,
        Status::ReentrantCall,
        Status::IoError,
        Status::StaleTokens,
        Status::Unsupported,
        Status::ProtocolError,
        Status::LoginRejected,
        Status::Panic,
    ];

    pub fn code(self) -> i32 {
        self as i32
    }

    pub fn from_code(code: i32) -> Option<Status> {
        Status::ALL.iter().copied().find(|s| s.code() == code)
    }

    /// The constant's name in the C header, e.g. `OM_STATUS_TIMEOUT`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OM_STATUS_OK",
            Status::InvalidArgument => "OM_STATUS_INVALID_ARGUMENT",
            Status::InvalidConfig => "OM_STATUS_INVALID_CONFIG",
            Status::InvalidHandle => "OM_STATUS_INVALID_HANDLE",
            Status::NotInitialized => "OM_STATUS_NOT_INITIALIZED",
            Status::Pending => "OM_STATUS_PENDING",
            Status::Timeout => "OM_STATUS_TIMEOUT",
            Status::Cancelled => "OM_STATUS_CANCELLED",
            Status::AuthorizationRequired => "OM_STATUS_AUTHORIZATION_REQUIRED",
            Status::AccessDenied => "OM_STATUS_ACCESS_DENIED",
            Status::ProviderError => "OM_STATUS_PROVIDER_ERROR",
            Status::NetworkError => "OM_STATUS_NETWORK_ERROR",
            Status::TlsError => "OM_STATUS_TLS_ERROR",
            Status::PortInUse => "OM_STATUS_PORT_IN_USE",
            Status::StateMismatch => "OM_STATUS_STATE_MISMATCH",
            Status::WrongState => "OM_STATUS_WRONG_STATE",
            Status::ReentrantCall => "OM_STATUS_REENTRANT_CALL",
            Status::IoError => "OM_STATUS_IO_ERROR",
            Status::StaleTokens => "OM_STATUS_STALE_TOKENS",
            Status::Unsupported => "OM_STATUS_UNSUPPORTED",
            Status::ProtocolError => "OM_STATUS_PROTOCOL_ERROR",
            Status::LoginRejected => "OM_STATUS_LOGIN_REJECTED",
            Status::Panic => "OM_STATUS_PANIC",
        }
    }

    /// A one-line English description of what the status means.
    pub fn description(self) -> &'static str {
        match self {
            Status::Ok => "success",
            Status::InvalidArgument => "an argument is NULL, not UTF-8 or out of range",
            Status::InvalidConfig => "the configuration or options JSON is invalid",
            Status::InvalidHandle => "the handle is unknown or was already freed",
            Status::NotInitialized => {
                "om_init() was not called (or om_shutdown() ended the library)"
            }
            Status::Pending => "still in progress: call the wait function again",
            Status::Timeout => "the operation did not finish in time",
            Status::Cancelled => "the operation was cancelled",
            Status::AuthorizationRequired => "the user must authorize (again)",
            Status::AccessDenied => "the user or the provider denied access",
            Status::ProviderError => "the OAuth2 provider refused the request",
            Status::NetworkError => "a network error occurred",
            Status::TlsError => "the TLS connection could not be verified",
            Status::PortInUse => "the redirect port is in use by another program",
            Status::StateMismatch => "the redirect's state does not match this authorization",
            Status::WrongState => {
                "the call does not fit the current state (e.g. no authorization in progress)"
            }
            Status::ReentrantCall => "called from inside a callback of the same account",
            Status::IoError => "a file could not be read or written",
            Status::StaleTokens => "the imported tokens are older than the ones held",
            Status::Unsupported => "not supported by this provider or configuration",
            Status::ProtocolError => "the server answered something unexpected",
            Status::LoginRejected => "the mail server refused the login",
            Status::Panic => "internal error (a bug in oauthmail): please report it",
        }
    }
}

/// The core's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub status: Status,
    /// What happened and, where it helps, what to do.
    pub message: String,
    /// The provider's or server's own error text, if any.
    pub detail: Option<String>,
    /// Who must fix what, if known.
    pub hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Error {
            status,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(Status::InvalidArgument, message)
    }

    pub fn config(message: impl Into<String>) -> Self {
        Error::new(Status::InvalidConfig, message)
    }

    pub fn wrong_state(message: impl Into<String>) -> Self {
        Error::new(Status::WrongState, message)
    }

    pub fn io(context: impl fmt::Display, err: &std::io::Error) -> Self {
        Error::new(Status::IoError, format!("{context}: {err}"))
    }

    /// The full text for a human: message, then the provider's text, then the hint.
    pub fn full_text(&self) -> String {
        let mut s = self.message.clone();
        if let Some(d) = &self.detail {
            s.push_str(" [");
            s.push_str(d);
            s.push(']');
        }
        if let Some(h) = &self.hint {
            s.push_str(" — ");
            s.push_str(h);
        }
        s
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full_text())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::from_code(s.code()), Some(s));
            assert!(s.name().starts_with("OM_STATUS_"));
        }
        let mut codes: Vec<i32> = Status::ALL.iter().map(|s| s.code()).collect();
        codes.dedup();
        assert_eq!(codes.len(), Status::ALL.len());
        assert_eq!(Status::from_code(12345), None);
    }

    #[test]
    fn full_text_orders_message_detail_hint() {
        let e = Error::new(Status::ProviderError, "refused")
            .with_detail("invalid_client")
            .with_hint("fix the secret");
        assert_eq!(e.full_text(), "refused [invalid_client] — fix the secret");
    }
}
