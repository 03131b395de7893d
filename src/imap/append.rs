//! "Save to Sent": APPEND a sent message to the account's Sent folder over IMAP, for servers
//! that do not keep SMTP submissions (Gmail and Exchange do; most others do not).

use super::mailbox;
use super::utf7;
use crate::account::Account;
use crate::error::Result;

/// The Sent folder: the one marked `\Sent` (RFC 6154), else one named like it, else "Sent".
pub async fn sent_folder(session: &mut super::ImapSession, host: &str) -> Result<String> {
    let folders = mailbox::list(session, host).await?;
    if let Some(f) = folders
        .iter()
        .find(|f| f.attributes.iter().any(|a| a.contains("Sent")))
    {
        return Ok(f.name.clone());
    }
    for name in [
        "Sent",
        "Sent Items",
        "Sent Messages",
        "Éléments envoyés",
        "Envoyés",
        "INBOX/Sent",
        "INBOX.Sent",
    ] {
        if folders.iter().any(|f| f.name.eq_ignore_ascii_case(name)) {
            return Ok(name.to_string());
        }
    }
    Ok("Sent".to_string())
}

/// Line ends as IMAP wants them (CRLF).
pub fn crlf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 40);
    let mut prev = 0u8;
    for &b in message {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// Appends `message` (marked read) to `folder`, or to the Sent folder found on the server;
/// creates the folder when it does not exist. Returns the folder used.
pub async fn save_to_sent(
    account: &Account,
    message: &[u8],
    folder: Option<&str>,
) -> Result<String> {
    let (mut session, _) = crate::fetch::connect::imap(account).await?;
    let host = account.config.incoming_host();
    let err = super::session::map_err(&host);
    let folder = match folder {
        Some(f) if !f.is_empty() => f.to_string(),
        _ => sent_folder(&mut session, &host).await?,
    };
    let wire = utf7::encode(&folder);
    let data = crlf(message);
    if let Err(e) = session.append(&wire, Some("(\\Seen)"), None, &data).await {
        match e {
            async_imap::error::Error::No(_) | async_imap::error::Error::Append => {
                // most often: the folder does not exist yet
                session.create(&wire).await.map_err(&err)?;
                session
                    .append(&wire, Some("(\\Seen)"), None, &data)
                    .await
                    .map_err(&err)?;
            }
            other => return Err(err(other)),
        }
    }
    crate::imap::session::quit(&mut session).await;
    Ok(folder)
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_ends_become_crlf() {
        assert_eq!(super::crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
    }
}
