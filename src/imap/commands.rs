//! IMAP commands whose end matters: each must end with its tagged OK (a connection lost before
//! it is an error, not a quiet success), and a copy or move creates its destination when the
//! server says it does not exist.

use super::ImapSession;
use crate::error::Result;

/// Runs `command`, which must end with its tagged OK: a connection lost before it is an error.
pub async fn checked(session: &mut ImapSession, host: &str, command: &str) -> Result<()> {
    session
        .run_command_and_check_ok(command)
        .await
        .map_err(super::session::map_err(host))
}

/// UID MOVE (or COPY) to `dest` (wire name), creating it when the server says TRYCREATE.
pub async fn copy_or_move(
    session: &mut ImapSession,
    host: &str,
    set: &str,
    dest: &str,
    mv: bool,
) -> Result<()> {
    let err = super::session::map_err(host);
    for attempt in 0..2 {
        let r = if mv {
            session.uid_mv(set, dest).await
        } else {
            session.uid_copy(set, dest).await
        };
        match r {
            Ok(()) => return Ok(()),
            Err(async_imap::error::Error::No(_)) if attempt == 0 => {
                // most often: the destination does not exist yet
                session.create(dest).await.map_err(&err)?;
            }
            Err(e) => return Err(err(e)),
        }
    }
    Ok(())
}
