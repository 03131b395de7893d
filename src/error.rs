//! The one error type of the core and its status codes.
//!
//! Every failure carries a [`Status`] (stable numbers, the C ABI's `OM_STATUS_*`), a readable
//! message saying what happened and what to do, the provider's or server's own text when there
//! is one (`detail`) and an optional hint saying who must fix what. Messages never contain a
//! token or secret: they pass through [`crate::redact`] before anyone sees them.

use std::fmt;

/// Declares [`Status`] from one table: variant, number, C constant name, description.
macro_rules! statuses {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $name:literal, $desc:literal; )*) => {
        /// Status codes. The numbers are part of the ABI: append new ones, never renumber.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum Status {
            $( $(#[$doc])* $variant = $code, )*
        }

        impl Status {
            /// Every status, in numeric order.
            pub const ALL: &'static [Status] = &[ $( Status::$variant, )* ];

            /// The constant's name in the C header, e.g. `OM_STATUS_TIMEOUT`.
            pub fn name(self) -> &'static str {
                match self { $( Status::$variant => $name, )* }
            }

            /// A one-line English description of what the status means.
            pub fn description(self) -> &'static str {
                match self { $( Status::$variant => $desc, )* }
            }
        }
    };
}

statuses! {
    Ok = 0, "OM_STATUS_OK", "success";
    InvalidArgument = 1, "OM_STATUS_INVALID_ARGUMENT", "an argument is NULL, not UTF-8 or out of range";
    InvalidConfig = 2, "OM_STATUS_INVALID_CONFIG", "the configuration or options JSON is invalid";
    InvalidHandle = 3, "OM_STATUS_INVALID_HANDLE", "the handle is unknown or was already freed";
    NotInitialized = 4, "OM_STATUS_NOT_INITIALIZED", "om_init() was not called (or om_shutdown() ended the library)";
    Pending = 5, "OM_STATUS_PENDING", "still in progress: call the wait function again";
    Timeout = 6, "OM_STATUS_TIMEOUT", "the operation did not finish in time";
    Cancelled = 7, "OM_STATUS_CANCELLED", "the operation was cancelled";
    AuthorizationRequired = 8, "OM_STATUS_AUTHORIZATION_REQUIRED", "the user must authorize (again)";
    AccessDenied = 9, "OM_STATUS_ACCESS_DENIED", "the user or the provider denied access";
    ProviderError = 10, "OM_STATUS_PROVIDER_ERROR", "the OAuth2 provider refused the request";
    NetworkError = 11, "OM_STATUS_NETWORK_ERROR", "a network error occurred";
    TlsError = 12, "OM_STATUS_TLS_ERROR", "the TLS connection could not be verified";
    PortInUse = 13, "OM_STATUS_PORT_IN_USE", "the redirect port is in use by another program";
    StateMismatch = 14, "OM_STATUS_STATE_MISMATCH", "the redirect's state does not match this authorization";
    WrongState = 15, "OM_STATUS_WRONG_STATE", "the call does not fit the current state (e.g. no authorization in progress)";
    ReentrantCall = 16, "OM_STATUS_REENTRANT_CALL", "called from inside a callback of the same account";
    IoError = 17, "OM_STATUS_IO_ERROR", "a file could not be read or written";
    StaleTokens = 18, "OM_STATUS_STALE_TOKENS", "the imported tokens are older than the ones held";
    Unsupported = 19, "OM_STATUS_UNSUPPORTED", "not supported by this provider or configuration";
    ProtocolError = 20, "OM_STATUS_PROTOCOL_ERROR", "the server answered something unexpected";
    LoginRejected = 21, "OM_STATUS_LOGIN_REJECTED", "the mail server refused the login";
    /// Another process (or account handle) holds the token lock longer than the wait allowed.
    TokensLocked = 22, "OM_STATUS_TOKENS_LOCKED", "another process is refreshing the shared tokens and holds their lock";
    /// The connection died after a message was completely sent, before the server's reply.
    DeliveryUnknown = 23, "OM_STATUS_DELIVERY_UNKNOWN", "the message may or may not have been delivered (connection lost before the reply); it was not sent again";
    Panic = 99, "OM_STATUS_PANIC", "internal error (a bug in oauthmail): please report it";
}

impl Status {
    pub fn code(self) -> i32 {
        self as i32
    }

    pub fn from_code(code: i32) -> Option<Status> {
        Status::ALL.iter().copied().find(|s| s.code() == code)
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
    /// The step that failed already tried again (a login the server could not check, twice):
    /// loops above it must not try again at once.
    pub retried: bool,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Error {
            status,
            message: message.into(),
            detail: None,
            hint: None,
            retried: false,
        }
    }

    /// Marks the error as one whose step already tried again (see [`Error::retried`]).
    pub fn already_retried(mut self) -> Self {
        self.retried = true;
        self
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
        for &s in Status::ALL {
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
