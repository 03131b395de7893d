//! The incoming side of the transport seam: what the C functions `om_fetch`,
//! `om_fetch_to_directory`, `om_folders_list` and `om_servers_check` need from a mailbox,
//! whatever reaches it — IMAP ([`crate::imap`]), POP3 ([`crate::pop3`]), Microsoft Graph
//! ([`crate::graph`]) or the Gmail API ([`crate::gmail`]). Each transport keeps the same guarantees: only what the host accepted
//! moves the fetch state, after-delivery actions survive a cut, folders are named the same way.

use crate::account::Account;
use crate::config::Protocol;
use crate::error::{Error, Result};
use crate::fetch::options::FetchOptions;
use crate::fetch::{Control, MessageMeta, Summary};
use crate::imap::mailbox::Folder;

/// The incoming server's protocol; a configuration error when there is no incoming server.
pub(crate) fn protocol(account: &Account) -> Result<Protocol> {
    account
        .config
        .incoming
        .as_ref()
        .map(|s| s.protocol)
        .ok_or_else(|| {
            Error::config("configuration key `incoming`: no incoming server is configured")
        })
}

/// New mail (see [`crate::fetch`]), each message handed to `deliver` on this thread.
pub async fn fetch(
    account: &Account,
    opts: &FetchOptions,
    deliver: &mut dyn FnMut(&MessageMeta<'_>, &[u8]) -> Control,
) -> Result<Summary> {
    match protocol(account)? {
        Protocol::Graph => crate::graph::fetch::fetch(account, opts, deliver).await,
        Protocol::GmailApi => crate::gmail::fetch::fetch(account, opts, deliver).await,
        Protocol::Pop3 => crate::fetch::pop3::fetch(account, opts, deliver).await,
        _ => crate::fetch::fetch(account, opts, deliver).await,
    }
}

/// Every folder of the mailbox (POP3 has one, INBOX, and says so).
pub async fn folders(account: &Account) -> Result<Vec<Folder>> {
    match protocol(account)? {
        Protocol::Graph => {
            let graph = crate::graph::client(account, crate::rest::Doing::Read)?;
            crate::graph::folders::list(&graph).await
        }
        Protocol::GmailApi => {
            let api = crate::gmail::client(account, crate::rest::Doing::Read)?;
            crate::gmail::labels::list(&api).await
        }
        Protocol::Pop3 => Err(Error::new(
            crate::Status::Unsupported,
            account.config.language.pick(
                "POP3 has no folders: only the inbox can be read",
                "POP3 n'a pas de dossiers : seule la boîte de réception se lit",
            ),
        )),
        _ => {
            let (mut s, _) = crate::fetch::connect::imap(account).await?;
            let host = account.config.incoming_host();
            let folders = crate::imap::mailbox::list(&mut s, &host).await?;
            crate::imap::session::quit(&mut s).await;
            Ok(folders)
        }
    }
}
