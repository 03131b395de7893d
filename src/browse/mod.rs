//! Browsing and acting on a mailbox beyond "new mail": listing messages without downloading
//! them (envelope, flags, size, attachment presence), fetching chosen ones, setting flags,
//! moving, copying, deleting, creating folders — the same calls whatever reaches the mailbox
//! (IMAP, POP3 where it can, Microsoft Graph, the Gmail API). None of them touches the fetch
//! state of [`crate::fetch`]: a message fetched here is still "new" for `om_fetch`.
//!
//! - [`query`]: what the host asks (listing criteria, a selection of messages, flag changes).
//! - [`listed`]: what a listing answers.
//! - [`imap`], [`pop3`]: the mail-protocol transports; Graph and the Gmail API implement the
//!   same functions in [`crate::graph::browse`] and [`crate::gmail::browse`].

pub mod imap;
pub mod listed;
pub mod pop3;
pub mod query;

pub use listed::{Listed, Page};
pub use query::{Criteria, FlagChange, ListQuery, Order, Selection};

use crate::account::Account;
use crate::config::Protocol;
use crate::error::{Error, Result, Status};
use crate::fetch::{Control, MessageMeta};

use crate::incoming::protocol;

fn pop3_cannot(account: &Account, what_en: &str, what_fr: &str) -> Error {
    Error::new(
        Status::Unsupported,
        account.config.language.pick(
            &format!("POP3 cannot {what_en}: use IMAP (or Graph, the Gmail API) for that"),
            &format!("POP3 ne sait pas {what_fr} : utilisez IMAP (ou Graph, l'API Gmail)"),
        ),
    )
}

/// One page of the messages matching `query`.
pub async fn list(account: &Account, query: &ListQuery) -> Result<Page> {
    match protocol(account)? {
        Protocol::Graph => crate::graph::browse::list(account, query).await,
        Protocol::GmailApi => crate::gmail::browse::list(account, query).await,
        Protocol::Pop3 => pop3::list(account, query).await,
        _ => imap::list(account, query).await,
    }
}

/// The chosen messages, whole, each handed to `deliver` (the fetch state is not touched); read
/// without marking them read unless `mark_seen`. Returns how many were delivered.
pub async fn fetch(
    account: &Account,
    selection: &Selection,
    mark_seen: bool,
    deliver: &mut dyn FnMut(&MessageMeta<'_>, &[u8]) -> Control,
) -> Result<u32> {
    match protocol(account)? {
        Protocol::Graph => {
            crate::graph::browse::fetch(account, selection, mark_seen, deliver).await
        }
        Protocol::GmailApi => {
            crate::gmail::browse::fetch(account, selection, mark_seen, deliver).await
        }
        Protocol::Pop3 => pop3::fetch(account, selection, mark_seen, deliver).await,
        _ => imap::fetch(account, selection, mark_seen, deliver).await,
    }
}

/// Adds and removes flags (`seen`, `flagged`, `answered`, `draft`, or keywords).
pub async fn set_flags(
    account: &Account,
    selection: &Selection,
    change: &FlagChange,
) -> Result<()> {
    match protocol(account)? {
        Protocol::Graph => crate::graph::browse::set_flags(account, selection, change).await,
        Protocol::GmailApi => crate::gmail::browse::set_flags(account, selection, change).await,
        Protocol::Pop3 => Err(pop3_cannot(account, "set flags", "poser de drapeaux")),
        _ => imap::set_flags(account, selection, change).await,
    }
}

/// Moves (`copy` false) or copies the chosen messages into `destination` (created when
/// missing).
pub async fn transfer(
    account: &Account,
    selection: &Selection,
    destination: &str,
    copy: bool,
) -> Result<()> {
    match protocol(account)? {
        Protocol::Graph => {
            crate::graph::browse::transfer(account, selection, destination, copy).await
        }
        Protocol::GmailApi => {
            crate::gmail::browse::transfer(account, selection, destination, copy).await
        }
        Protocol::Pop3 => Err(pop3_cannot(
            account,
            "move or copy messages",
            "déplacer ni copier de messages",
        )),
        _ => imap::transfer(account, selection, destination, copy).await,
    }
}

/// Deletes the chosen messages (IMAP: flagged \Deleted and expunged; POP3: DELE; Graph: moved
/// to Deleted Items; Gmail: moved to the trash).
pub async fn delete(account: &Account, selection: &Selection) -> Result<()> {
    match protocol(account)? {
        Protocol::Graph => crate::graph::browse::delete(account, selection).await,
        Protocol::GmailApi => crate::gmail::browse::delete(account, selection).await,
        Protocol::Pop3 => pop3::delete(account, selection).await,
        _ => imap::delete(account, selection).await,
    }
}

/// Creates a folder (parents included where the server needs it); an existing one is fine.
pub async fn create_folder(account: &Account, name: &str) -> Result<()> {
    match protocol(account)? {
        Protocol::Graph => crate::graph::browse::create_folder(account, name).await,
        Protocol::GmailApi => crate::gmail::browse::create_folder(account, name).await,
        Protocol::Pop3 => Err(pop3_cannot(account, "create folders", "créer de dossiers")),
        _ => imap::create_folder(account, name).await,
    }
}
