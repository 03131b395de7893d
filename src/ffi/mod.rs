//! The C ABI: every `extern "C"` function of the library, and nothing else.
//!
//! Each function converts C arguments to Rust ([`args`]), calls the core, converts back, and runs
//! inside [`boundary::guard`], which catches panics and records the thread's last error.
//! Conventions (see `include/oauthmail.h`):
//! - functions return `om_status` (0 = `OM_STATUS_OK`) and write results through out-pointers
//!   placed last, set to NULL/0 on failure;
//! - strings are UTF-8, NUL-terminated; strings in are borrowed for the call, strings out are
//!   freed with `om_string_free`;
//! - handles are internally synchronised and may be used from any thread.

#![allow(non_camel_case_types)]

pub mod account;
pub mod args;
pub mod authorize;
pub mod boundary;
pub mod browse;
pub mod convention;
pub mod fetch;
pub mod last_error;
pub mod library;
pub mod log;
pub mod message;
pub mod send;
pub mod status;
pub mod stdcall;
pub mod token_store;
pub mod tokens;
pub mod user_data;

/// An account: its configuration, tokens and operations. Opaque; created by `om_account_new`,
/// released by `om_account_free`.
pub struct om_account {
    _private: [u8; 0],
}

/// A status code: one of the `OM_STATUS_*` constants.
pub type om_status = i32;
