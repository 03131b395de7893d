//! Waiting over IMAP: EXAMINE the folder, remember its UIDNEXT, then IDLE (or poll with UID
//! SEARCH when the server has no IDLE) until a message with a UID at or above it exists.
//! Whatever the server says during IDLE (EXISTS, EXPUNGE, flag changes) is checked with one UID
//! SEARCH, so flag changes and deletions do not wake the host.

use super::{retryable, WaitOptions, Woken, MAX_RECONNECTS};
use crate::account::Account;
use crate::error::{Error, Result, Status};
use crate::fetch::connect;
use crate::imap::mailbox;
use crate::imap::session::map_err;
use crate::imap::ImapSession;
use async_imap::extensions::idle::IdleResponse;
use std::time::Duration;
use tokio::time::Instant;

/// Where the wait started: new mail is a UID at or above `uid_next` in this UIDVALIDITY.
#[derive(Clone, Copy)]
struct Start {
    uid_validity: u32,
    uid_next: u32,
}

enum Outcome {
    NewMail,
    TimeUp,
}

pub async fn wait(account: &Account, opts: &WaitOptions, deadline: Instant) -> Result<Woken> {
    let host = account.config.incoming_host();
    let mut woken = Woken {
        new_mail: false,
        folder: opts.folder().to_string(),
        method: "idle",
        reconnects: 0,
    };
    let mut start: Option<Start> = None;
    loop {
        match session(account, &host, opts, deadline, &mut start, &mut woken).await {
            Ok(Outcome::NewMail) => {
                woken.new_mail = true;
                return Ok(woken);
            }
            Ok(Outcome::TimeUp) => return Ok(woken),
            Err(e) if retryable(&e) && woken.reconnects < MAX_RECONNECTS => {
                woken.reconnects += 1;
                let pause = Duration::from_millis(500 << woken.reconnects.min(5));
                if Instant::now() + pause >= deadline {
                    return Ok(woken);
                }
                crate::om_log!(
                    crate::log::Level::Info,
                    "account {}: waiting for mail: {} — connecting again",
                    account.id,
                    e.message
                );
                tokio::time::sleep(pause).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A UID at or above `from` exists (also makes the server report what changed).
async fn has_new(s: &mut ImapSession, host: &str, from: u32) -> Result<bool> {
    let found = s
        .uid_search(format!("UID {from}:*"))
        .await
        .map_err(map_err(host))?;
    // `n:*` also matches the last message when every UID is below n
    Ok(found.into_iter().any(|u| u >= from))
}

/// How long reads may wait: `d` now (IDLE), the account's timeout again afterwards.
fn set_quiet(s: &mut ImapSession, d: Duration) {
    let g = s.get_mut();
    g.set_progress_limit(d);
    g.get_mut().set_idle(d);
}

async fn session(
    account: &Account,
    host: &str,
    opts: &WaitOptions,
    deadline: Instant,
    start: &mut Option<Start>,
    woken: &mut Woken,
) -> Result<Outcome> {
    let (mut s, _) = connect::imap(account).await?;
    let sel = mailbox::select(&mut s, host, opts.folder(), true).await?;
    let uid_next = match sel.uid_next {
        Some(n) => n,
        None => {
            let all = s.uid_search("ALL").await.map_err(map_err(host))?;
            all.into_iter().max().unwrap_or(0) + 1
        }
    };
    match *start {
        None => {
            *start = Some(Start {
                uid_validity: sel.uid_validity,
                uid_next,
            })
        }
        // the folder was rebuilt: what is in it may all be new to the host
        Some(st) if st.uid_validity != sel.uid_validity => return Ok(Outcome::NewMail),
        // arrived while the connection was down
        Some(st) if uid_next > st.uid_next && has_new(&mut s, host, st.uid_next).await? => {
            return Ok(Outcome::NewMail)
        }
        Some(_) => {}
    }
    let from = start.map_or(uid_next, |s| s.uid_next);
    let idle = !opts.poll_only
        && s.capabilities()
            .await
            .map_err(map_err(host))?
            .has_str("IDLE");
    woken.method = if idle { "idle" } else { "poll" };
    let normal = account.config.timeout;
    let outcome = loop {
        let now = Instant::now();
        if now >= deadline {
            break Outcome::TimeUp;
        }
        if !idle {
            tokio::time::sleep_until(deadline.min(now + opts.poll_every())).await;
            if has_new(&mut s, host, from).await? {
                break Outcome::NewMail;
            }
            continue;
        }
        let period = (deadline - now).min(opts.idle_refresh());
        // the server is silent for the whole period: reads must not time out meanwhile
        set_quiet(&mut s, period + normal);
        let mut handle = s.idle();
        handle.init().await.map_err(map_err(host))?;
        let answer = {
            // async-imap's own timeout restarts at every keepalive (`* OK Still here`): the
            // period is bounded here
            let (fut, stop) = handle.wait_with_timeout(period);
            let r = tokio::time::timeout(period, fut)
                .await
                .unwrap_or(Ok(IdleResponse::Timeout));
            drop(stop);
            r
        };
        let changed = match answer {
            Ok(IdleResponse::NewData(_)) => true,
            Ok(IdleResponse::Timeout) => false,
            // the stream ended: the server closed the connection
            Ok(IdleResponse::ManualInterrupt) => {
                return Err(Error::new(
                    Status::NetworkError,
                    format!("{host} closed the connection during IDLE"),
                ))
            }
            Err(e) => return Err(map_err(host)(e)),
        };
        s = handle.done().await.map_err(map_err(host))?;
        set_quiet(&mut s, normal);
        if changed && has_new(&mut s, host, from).await? {
            break Outcome::NewMail;
        }
    };
    crate::imap::session::quit(&mut s).await;
    Ok(outcome)
}
