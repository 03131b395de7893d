//! The settings check for Graph: a token for Graph is obtained and the mailbox answers (its
//! Inbox for reading; its Outbox for sending, where a 403 only says the authorization has no
//! read permission, which sending does not need).

use super::errors::Doing;
use crate::account::Account;
use crate::error::Result;

/// Checks that Graph accepts the account's token for its mailbox.
pub async fn check(account: &Account, doing: Doing) -> Result<()> {
    let graph = super::client(account, doing)?;
    let folder = if doing == Doing::Read {
        "inbox"
    } else {
        "outbox"
    };
    let r = graph
        .call(
            reqwest::Method::GET,
            &graph.url(&format!("mailFolders/{folder}")),
            crate::rest::Body::None,
            &[],
            1 << 20,
            true,
        )
        .await?;
    if doing == Doing::Send && r.status == 403 {
        // sending needs no read permission; a policy that shuts the app out says so
        let (_, message) = super::errors::code_and_message(&r.body);
        let m = message.to_ascii_lowercase();
        if !(m.contains("policy") || m.contains("raop") || m.contains("rbac")) {
            return Ok(());
        }
    }
    graph.expect_ok(&r)
}
