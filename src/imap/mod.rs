//! IMAP through async-imap: connection and SASL login ([`session`]), mailbox names
//! ([`utf7`]), listing folders and fetching new mail in batches ([`mailbox`]); the UID FETCH of
//! message bodies is read by hand ([`fetch_reader`]), below async-imap, with bounded memory;
//! [`commands`] that must end with their tagged OK.

pub mod append;
pub mod commands;
pub mod fetch_reader;
pub mod guard;
pub mod mailbox;
pub mod session;
pub mod utf7;

pub use session::{ImapSession, Login};
