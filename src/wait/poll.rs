//! Waiting by polling the folder's newest message (POP3, Microsoft Graph, the Gmail API): new
//! mail is a newest message other than the one seen first, received no earlier than it.

use super::{retryable, WaitOptions, Woken, MAX_RECONNECTS};
use crate::account::Account;
use crate::browse::{ListQuery, Listed};
use crate::error::Result;
use tokio::time::Instant;

async fn newest(account: &Account, folder: &str) -> Result<Option<Listed>> {
    let q = ListQuery {
        folder: Some(folder.to_string()),
        limit: Some(1),
        ..Default::default()
    };
    Ok(crate::browse::list(account, &q)
        .await?
        .messages
        .into_iter()
        .next())
}

fn when(m: &Listed) -> i64 {
    if m.internal_date != 0 {
        m.internal_date
    } else {
        m.envelope.date_unix.unwrap_or(0)
    }
}

pub async fn wait(account: &Account, opts: &WaitOptions, deadline: Instant) -> Result<Woken> {
    let folder = opts.folder().to_string();
    let mut woken = Woken {
        new_mail: false,
        folder: folder.clone(),
        method: "poll",
        reconnects: 0,
    };
    let first = newest(account, &folder).await?;
    let mut failures = 0;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(woken);
        }
        tokio::time::sleep_until(deadline.min(now + opts.poll_every())).await;
        if Instant::now() >= deadline {
            return Ok(woken);
        }
        match newest(account, &folder).await {
            Ok(top) => {
                failures = 0;
                let new = match (&first, &top) {
                    (None, Some(_)) => true,
                    (Some(a), Some(b)) => a.id != b.id && when(b) >= when(a),
                    _ => false,
                };
                if new {
                    woken.new_mail = true;
                    return Ok(woken);
                }
            }
            Err(e) if retryable(&e) && failures < MAX_RECONNECTS => {
                failures += 1;
                woken.reconnects += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
