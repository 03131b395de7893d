//! Fetching over POP3: the UIDL list tells what is new (the UIDLs accepted before are kept in
//! the fetch state); each message is RETR'd and handed over, the state advancing past it only
//! when the host accepts it; DELE after delivery when asked (committed at QUIT). With the
//! server's PIPELINING, up to [`WINDOW`] RETRs (and the DELEs of accepted messages) are sent
//! ahead and their replies read in order.

use super::options::{AfterDelivery, FetchOptions};
use super::{connect, state, Control, MessageMeta, Summary};
use crate::account::Account;
use crate::error::{Error, Result, Status};
use crate::pop3::Pop3Session;
use std::collections::{HashSet, VecDeque};

/// RETRs in flight when the server offers PIPELINING (RFC 2449): 1,000 messages in about 16
/// round trips (the commands are ~12 bytes each: a window never fills a socket buffer, so the
/// server's replies cannot wait on our writes)...
const WINDOW: usize = 64;
/// ...and at most this many listed bytes (a stop drains what is in flight).
const WINDOW_BYTES: u64 = 4 << 20;

/// A command sent ahead whose reply is still to be read.
enum Sent {
    /// RETR of `todo[i]`.
    Retr(usize),
    Dele(u32),
}

/// Reads (and drops) the replies still in flight, so QUIT's reply is the next one.
async fn drain(
    s: &mut Pop3Session,
    queue: VecDeque<Sent>,
    todo: &[&(u32, String)],
    max: usize,
    size_of: impl Fn(u32) -> Option<u64>,
) -> Result<()> {
    for sent in queue {
        match sent {
            Sent::Retr(i) => {
                let n = todo[i].0;
                s.retr_reply(n, max, size_of(n)).await?;
            }
            Sent::Dele(n) => s.dele_reply(n).await?,
        }
    }
    Ok(())
}

pub async fn fetch(
    account: &Account,
    opts: &FetchOptions,
    deliver: &mut dyn FnMut(&MessageMeta<'_>, &[u8]) -> Control,
) -> Result<Summary> {
    let server = account
        .config
        .incoming
        .clone()
        .expect("checked by the caller");
    if opts.folder() != "INBOX" {
        return Err(Error::config(
            "fetch options key `folder`: POP3 has only the INBOX",
        ));
    }
    if opts.after_delivery == AfterDelivery::Move {
        return Err(Error::config("fetch options key `after_delivery`: POP3 cannot move messages (use \"delete\" or \"keep\")"));
    }
    if opts.since.is_some() {
        return Err(Error::config(
            "fetch options key `since`: POP3 cannot search by date",
        ));
    }
    let user = connect::login_user(account, &server)?;
    let key = state::pop3_key(&user);
    let only_new = opts.only_new.unwrap_or(account.config.options.skip_fetched);
    let mut summary = Summary {
        folder: "INBOX".into(),
        ..Default::default()
    };
    let mut attempt = 0;
    loop {
        let outcome = session(account, opts, &key, only_new, deliver, &mut summary).await;
        if super::settle(account, outcome, &mut attempt, &mut summary)? {
            return Ok(summary);
        }
    }
}

async fn session(
    account: &Account,
    opts: &FetchOptions,
    key: &str,
    only_new: bool,
    deliver: &mut dyn FnMut(&MessageMeta<'_>, &[u8]) -> Control,
    summary: &mut Summary,
) -> Result<()> {
    let (mut s, info) = connect::pop3(account).await?;
    let listing = s.uidl_all().await?;
    let on_server: HashSet<&str> = listing.iter().map(|(_, u)| u.as_str()).collect();
    let (seen_before, pending_before) = account.sync.read(|st| {
        (
            st.pop3.get(key).cloned().unwrap_or_default(),
            st.pop3_pending_delete.get(key).cloned().unwrap_or_default(),
        )
    });
    // forget UIDLs no longer on the server: the state stays as small as the mailbox
    let seen: Vec<String> = seen_before
        .iter()
        .filter(|u| on_server.contains(u.as_str()))
        .cloned()
        .collect();
    let pending: Vec<String> = pending_before
        .iter()
        .filter(|u| on_server.contains(u.as_str()))
        .cloned()
        .collect();
    // none of the messages accepted before is there, but mail is: the server renumbered its
    // UIDLs (a migration) or the mailbox was emptied elsewhere — say so rather than pretend
    // all of it is new
    let resync = only_new && !seen_before.is_empty() && seen.is_empty() && !listing.is_empty();
    if resync {
        summary.uidvalidity_changed = true;
    }
    let seen_set: HashSet<String> = seen.iter().cloned().collect();
    let pending_set: HashSet<String> = pending.iter().cloned().collect();
    account.sync.update(|st| {
        let mut changed = false;
        if only_new && seen != seen_before {
            st.pop3.insert(key.to_string(), seen.clone());
            changed = true;
        }
        if pending != pending_before {
            if pending.is_empty() {
                st.pop3_pending_delete.remove(key);
            } else {
                st.pop3_pending_delete
                    .insert(key.to_string(), pending.clone());
            }
            changed = true;
        }
        changed
    })?;
    // deletions an earlier session accepted but could not commit (no QUIT): done first
    let window = if info
        .capabilities
        .iter()
        .any(|c| c.eq_ignore_ascii_case("PIPELINING"))
    {
        WINDOW
    } else {
        1
    };
    let mut deleted = 0;
    let earlier: Vec<u32> = listing
        .iter()
        .filter(|(_, u)| pending_set.contains(u))
        .map(|(n, _)| *n)
        .collect();
    for chunk in earlier.chunks(window) {
        for msgno in chunk {
            s.dele_queue(*msgno)?;
        }
        for msgno in chunk {
            s.dele_reply(*msgno).await?;
            deleted += 1;
        }
    }
    let mut todo: Vec<&(u32, String)> = listing
        .iter()
        .filter(|(_, u)| !pending_set.contains(u) && (!only_new || !seen_set.contains(u)))
        .collect();
    if let Some(max) = opts.max_messages {
        let left = max.saturating_sub(summary.delivered) as usize;
        if todo.len() > left {
            summary.remaining = (todo.len() - left) as u32;
            todo.truncate(left);
        }
    }
    let sizes: std::collections::HashMap<u32, u64> = if todo.is_empty() {
        Default::default()
    } else {
        s.list_all().await?.into_iter().collect()
    };
    let delete = opts.after_delivery == AfterDelivery::Delete;
    let max = account.config.max_message_bytes() as usize;
    let size_of = |n: u32| sizes.get(&n).copied();
    // commands sent ahead, replies read in order (a window of 1 without PIPELINING)
    let mut queue: VecDeque<Sent> = VecDeque::new();
    let (mut sent, mut retrs, mut bytes) = (0usize, 0usize, 0u64);
    while sent < todo.len() || !queue.is_empty() {
        while sent < todo.len() && retrs < window && (retrs == 0 || bytes < WINDOW_BYTES) {
            let msgno = todo[sent].0;
            if retrs > 0 && size_of(msgno).is_some_and(|n| n > max as u64) {
                break; // refused in its turn, after the messages before it
            }
            s.retr_queue(msgno, max, size_of(msgno))?;
            queue.push_back(Sent::Retr(sent));
            bytes += size_of(msgno).unwrap_or(0);
            (sent, retrs) = (sent + 1, retrs + 1);
        }
        let i = match queue.pop_front() {
            Some(Sent::Dele(msgno)) => {
                s.dele_reply(msgno).await?;
                continue;
            }
            Some(Sent::Retr(i)) => i,
            None => break,
        };
        let (msgno, uidl) = todo[i];
        retrs -= 1;
        bytes = bytes.saturating_sub(size_of(*msgno).unwrap_or(0));
        let data = s.retr_reply(*msgno, max, size_of(*msgno)).await?;
        let meta = MessageMeta {
            uid: *msgno,
            uidl: Some(uidl),
            uidvalidity: 0,
            folder: "INBOX",
            internal_date: 0,
            flags: &[],
            size: size_of(*msgno).unwrap_or(data.len() as u64),
            resync,
            protocol: crate::config::Protocol::Pop3,
        };
        match deliver(&meta, &data) {
            Control::Continue => {
                summary.delivered += 1;
                // one write: accepted, and (with delete) to be deleted until QUIT commits it
                account.sync.update(|st| {
                    if only_new {
                        st.pop3
                            .entry(key.to_string())
                            .or_default()
                            .push(uidl.clone());
                    }
                    if delete {
                        st.pop3_pending_delete
                            .entry(key.to_string())
                            .or_default()
                            .push(uidl.clone());
                    }
                    only_new || delete
                })?;
                if delete {
                    s.dele_queue(*msgno)?;
                    queue.push_back(Sent::Dele(*msgno));
                    deleted += 1;
                }
            }
            Control::Stop => {
                summary.stopped_by_callback = true;
                summary.remaining += (todo.len() - i) as u32;
                drain(&mut s, queue, &todo, max, size_of).await?;
                break;
            }
            Control::Fail(e) => {
                // QUIT commits the deletions of the messages already accepted
                if drain(&mut s, queue, &todo, max, size_of).await.is_ok() {
                    let _ = quit(account, key, s, deleted).await;
                }
                return Err(Error {
                    message: format!(
                        "{} (POP3 message {uidl}; the messages before it were accepted)",
                        e.message
                    ),
                    ..e
                });
            }
        }
    }
    quit(account, key, s, deleted).await
}

/// QUIT, which commits the deletions; once confirmed, nothing is left pending.
async fn quit(
    account: &Account,
    key: &str,
    s: crate::pop3::Pop3Session,
    deleted: u32,
) -> Result<()> {
    s.quit().await.map_err(|e| {
        if deleted > 0 {
            Error::new(
                Status::NetworkError,
                format!("the server did not confirm QUIT, so the {deleted} deletion(s) may not be done yet (they will be done by the next fetch): {}", e.message),
            )
        } else {
            e
        }
    })?;
    if deleted > 0 {
        account
            .sync
            .update(|st| st.pop3_pending_delete.remove(key).is_some())?;
    }
    Ok(())
}
