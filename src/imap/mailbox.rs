//! Folders and messages: LIST, SELECT/EXAMINE, the UIDs of new mail, and UID FETCH of a batch,
//! handed over one message at a time.

use super::session::{map_err, ImapSession};
use super::utf7;
use crate::error::{Error, Result, Status};
use futures_util::StreamExt;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Folder {
    /// The name for people (decoded from modified UTF-7).
    pub name: String,
    pub delimiter: Option<String>,
    pub attributes: Vec<String>,
}

/// Lists every folder.
pub async fn list(session: &mut ImapSession, host: &str) -> Result<Vec<Folder>> {
    let mut out = Vec::new();
    let mut names = session
        .list(Some(""), Some("*"))
        .await
        .map_err(map_err(host))?;
    while let Some(n) = names.next().await {
        let n = n.map_err(map_err(host))?;
        out.push(Folder {
            name: utf7::decode(n.name()),
            delimiter: n.delimiter().map(str::to_string),
            attributes: n.attributes().iter().map(attribute_text).collect(),
        });
    }
    Ok(out)
}

/// A LIST attribute as IMAP writes it: `\\Noselect`, `\\Sent` (RFC 6154), …
fn attribute_text(a: &async_imap::types::NameAttribute<'_>) -> String {
    use async_imap::types::NameAttribute as A;
    match a {
        A::NoInferiors => "\\Noinferiors".into(),
        A::NoSelect => "\\Noselect".into(),
        A::Marked => "\\Marked".into(),
        A::Unmarked => "\\Unmarked".into(),
        A::All => "\\All".into(),
        A::Archive => "\\Archive".into(),
        A::Drafts => "\\Drafts".into(),
        A::Flagged => "\\Flagged".into(),
        A::Junk => "\\Junk".into(),
        A::Sent => "\\Sent".into(),
        A::Trash => "\\Trash".into(),
        A::Extension(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Selected {
    pub uid_validity: u32,
    pub uid_next: Option<u32>,
    pub exists: u32,
}

/// The command [`select`] has async-imap write (its quoting), to send it ahead; `None` when
/// async-imap would refuse the name (a line break in it).
pub fn select_command(folder: &str, read_only: bool) -> Option<String> {
    let q = utf7::encode(folder);
    if q.contains(['\r', '\n']) {
        return None;
    }
    let quoted = format!("\"{}\"", q.replace('\\', "\\\\").replace('"', "\\\""));
    Some(format!(
        "{} {quoted}",
        if read_only { "EXAMINE" } else { "SELECT" }
    ))
}

/// Selects `folder` (EXAMINE when `read_only`: nothing can change).
pub async fn select(
    session: &mut ImapSession,
    host: &str,
    folder: &str,
    read_only: bool,
) -> Result<Selected> {
    // async-imap quotes the name itself
    let q = utf7::encode(folder);
    let mb = if read_only {
        session.examine(&q).await
    } else {
        session.select(&q).await
    };
    let mb = mb.map_err(|e| match e {
        async_imap::error::Error::No(t) => Error::new(
            Status::InvalidArgument,
            format!("the folder `{folder}` does not exist on {host} (or cannot be opened)"),
        )
        .with_detail(super::session::server_text(&t)),
        other => map_err(host)(other),
    })?;
    let uid_validity = mb.uid_validity.ok_or_else(|| {
        Error::new(
            Status::ProtocolError,
            format!("{host} gave no UIDVALIDITY for `{folder}`"),
        )
    })?;
    Ok(Selected {
        uid_validity,
        uid_next: mb.uid_next,
        exists: mb.exists,
    })
}

/// The UIDs above `after`, ascending (optionally only mail received since `since`, an IMAP date
/// such as `1-Feb-2026`).
pub async fn uids_after(
    session: &mut ImapSession,
    host: &str,
    after: u32,
    since: Option<&str>,
) -> Result<Vec<u32>> {
    let mut query = format!("UID {}:*", after.saturating_add(1));
    if let Some(d) = since {
        query.push_str(&format!(" SINCE {d}"));
    }
    let set = session.uid_search(&query).await.map_err(map_err(host))?;
    let mut v: Vec<u32> = set.into_iter().filter(|u| *u > after).collect();
    v.sort_unstable();
    Ok(v)
}

/// A UID set in IMAP syntax, ranges compressed: `1:5,8,10:12`.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// One fetched message, borrowed for the callback.
pub struct Message<'a> {
    pub uid: u32,
    pub flags: Vec<String>,
    pub internal_date: Option<i64>,
    pub size: u32,
    pub body: &'a [u8],
}

/// Fetches `uids` (ascending) in one UID FETCH and hands each message to `each`, in the
/// server's order, until it returns `Ok(false)` (stop) or an error. The rest of the server's
/// reply is read and dropped so the session stays usable. Returns the UIDs accepted — also
/// when the session failed part-way, so the caller can account for them — and the outcome.
/// Messages larger than `max_message` bytes are refused before they are read.
///
/// A reply that ends without some requested messages is checked with NOOP: a dead session (the
/// server sent BYE, e.g. Exchange's `AccessTokenExpired`, or closed) is a network error to
/// reconnect from; a live one means the missing messages were expunged meanwhile.
pub async fn fetch<F>(
    session: &mut ImapSession,
    host: &str,
    uids: &[u32],
    peek: bool,
    max_message: u64,
    mut each: F,
) -> (Vec<u32>, Result<()>)
where
    F: FnMut(Message<'_>) -> Result<bool>,
{
    let wanted: std::collections::HashSet<u32> = uids.iter().copied().collect();
    let mut stopped = false;
    let mut guarded = |m: Message<'_>| {
        if !wanted.contains(&m.uid) {
            return Ok(true); // not asked for: not the host's business (and not "accepted")
        }
        let r = each(m);
        if matches!(r, Ok(false)) {
            stopped = true;
        }
        r
    };
    let (mut accepted, received, outcome) = super::fetch_reader::uid_fetch(
        session,
        host,
        &uid_set(uids),
        peek,
        max_message,
        &mut guarded,
    )
    .await;
    accepted.retain(|u| wanted.contains(u));
    let missing = wanted.iter().any(|u| !received.contains(u));
    if outcome.is_ok() && !stopped && missing {
        if let Err(e) = session.noop().await {
            let mut err = map_err(host)(e);
            if err.status == Status::ProtocolError {
                err.status = Status::NetworkError;
            }
            err.message = format!("{} (the reply to FETCH ended early)", err.message);
            return (accepted, Err(err));
        }
    }
    (accepted, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_select_command_is_quoted_as_async_imap_quotes_it() {
        assert_eq!(select_command("INBOX", true).unwrap(), r#"EXAMINE "INBOX""#);
        assert_eq!(
            select_command(r#"a"b\c"#, false).unwrap(),
            r#"SELECT "a\"b\\c""#
        );
        assert_eq!(
            select_command("Éléments envoyés", true).unwrap(),
            r#"EXAMINE "&AMk-l&AOk-ments envoy&AOk-s""#
        );
    }

    #[test]
    fn uid_sets_are_compressed() {
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(uid_set(&[42]), "42");
        assert_eq!(uid_set(&[]), "");
    }
}
