//! IMAP through async-imap: connection and SASL login ([`session`]), mailbox names
//! ([`utf7`]), listing folders and fetching new mail in batches ([`mailbox`]).

pub mod append;
pub mod guard;
pub mod mailbox;
pub mod session;
pub mod utf7;

pub use session::{ImapSession, Login};
