//! SMTP sending: raw RFC 5322 messages over the account's outgoing server with OAuth2
//! (XOAUTH2 / OAUTHBEARER) or a password, TLS or STARTTLS with the library's own TLS.
//!
//! - [`connection`]: connect, TLS / STARTTLS, then lettre's `AsyncSmtpConnection`.
//! - [`auth`]: SMTP AUTH (the OAuth error challenge answered, the server's reason kept).
//! - [`envelope`]: the envelope from the headers, Bcc removed, copy to self.
//! - [`send`]: [`send_raw`] and [`send_batch`] (token refresh, reconnection without
//!   duplicates).
//! - [`hints`]: what a login refusal means (English / French).

pub mod auth;
pub mod connection;
pub mod envelope;
pub mod hints;
pub mod send;

pub use connection::SmtpConnection;
pub use envelope::Prepared;
pub use lettre::address::{Address, Envelope};
pub use send::{connect, is_delivery_unknown, send_batch, send_raw, server_info, SendResult};

pub mod compose;
