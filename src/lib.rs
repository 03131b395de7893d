//! oauthmail: OAuth2 mail (IMAP, POP3, SMTP) for legacy Windows hosts.
//!
//! The crate is a pure Rust core (this rlib) with a thin C ABI on top (`ffi`, built into
//! `oauthmail.dll` / `liboauthmail.so`, declared in `include/oauthmail.h`).
//!
//! Core modules:
//! - [`config`]: the account configuration the admin fills in, provider presets, the
//!   registration check and the masked effective configuration.
//! - [`oauth`]: the token endpoint (refresh, a token per resource, client credentials,
//!   revocation), provider error hints, the loopback listener; [`authorize`]: the flows that
//!   authorize an account (code + PKCE through a loopback listener or a pasted redirect URL,
//!   device code).
//! - [`tokens`]: the token set, its export/import with versions, the token file.
//! - [`account`]: one configured account with its tokens and the flows in progress.
//! - [`incoming`] and [`outgoing`]: the seam every transport sits behind — new mail with
//!   acknowledgement, after-delivery actions, folders and the settings check; sending raw MIME
//!   with one result per message — implemented by [`imap`], [`pop3`], [`smtp`] and [`graph`].
//! - [`runtime`], [`error`], [`log`], [`lang`], [`redact`], [`tls`]: shared plumbing.

/// cbindgen:ignore
pub mod account;
/// cbindgen:ignore
pub mod atomic_file;
/// cbindgen:ignore
pub mod authorize;
/// cbindgen:ignore
pub mod browse;
/// cbindgen:ignore
pub mod callback_mark;
/// cbindgen:ignore
pub mod config;
/// cbindgen:ignore
pub mod error;
/// cbindgen:ignore
pub mod fetch;
pub mod ffi;
/// cbindgen:ignore
pub mod gmail;
/// cbindgen:ignore
pub mod graph;
/// cbindgen:ignore
pub mod imap;
/// cbindgen:ignore
pub mod incoming;
/// cbindgen:ignore
pub mod json;
/// cbindgen:ignore
pub mod lang;
/// cbindgen:ignore
pub mod log;
/// cbindgen:ignore
pub mod mail;
/// cbindgen:ignore
pub mod message;
/// cbindgen:ignore
pub mod oauth;
/// cbindgen:ignore
pub mod outgoing;
/// cbindgen:ignore
pub mod pop3;
/// cbindgen:ignore
pub mod redact;
/// cbindgen:ignore
pub mod registry;
/// cbindgen:ignore
pub mod rest;
/// cbindgen:ignore
pub mod runtime;
/// cbindgen:ignore
pub mod tls;
/// cbindgen:ignore
pub mod tokens;
/// cbindgen:ignore
pub mod wait;

pub use account::Account;
pub use error::{Error, Result, Status};

/// The crate version, as Cargo knows it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// cbindgen:ignore
pub mod smtp;
