//! `om_account_set_token_store`: the host's own storage (its database) as the place where the
//! tokens of a mailbox are shared by several processes or workstations, refreshed under the
//! host's lock.

use super::account::om_free_cb;
use super::args::with_account;
use super::boundary::guard;
use super::convention::host_fn;
use super::user_data::{FreeFn, UserData};
use super::{om_account, om_status};
use crate::error::{Error, Result, Status};
use crate::lang::Lang;
use crate::tokens::shared::{Held, LockFuture, SharedStore};
use crate::tokens::TokenSet;
use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::Arc;
use std::time::Duration;

/// Token store callbacks: the lock was taken (lock) or the set saved (unlock).
pub const OM_TOKEN_STORE_OK: i32 = 0;
/// Token store lock callback: another process held the lock for the whole `timeout_ms`.
pub const OM_TOKEN_STORE_BUSY: i32 = 1;
/// Token store callbacks: the storage failed (database unreachable, write refused…).
pub const OM_TOKEN_STORE_FAILED: i32 = 2;

/// Takes the host's lock on this mailbox's stored tokens, waiting at most `timeout_ms` (e.g.
/// `SELECT … FOR UPDATE` in a transaction, or a named mutex), and reads them: set
/// `*out_tokens_json` to the stored token set JSON (as om_tokens_export gave it), or leave it
/// NULL when nothing is stored yet. The string stays the host's and must remain valid until the
/// unlock callback is called. Returns OM_TOKEN_STORE_OK (the lock is held), OM_TOKEN_STORE_BUSY
/// (not taken in time) or OM_TOKEN_STORE_FAILED; on anything but OK the unlock callback is not
/// called.
pub type om_tokens_lock_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        timeout_ms: u32,
        out_tokens_json: *mut *const c_char,
    ) -> i32,
>;

/// Saves `tokens_json` when it is not NULL (replace the stored set: it is newer), then releases
/// the lock taken by the lock callback. `tokens_json` is valid during the call. Returns
/// OM_TOKEN_STORE_OK, or OM_TOKEN_STORE_FAILED when the set could not be saved (the lock must
/// be released anyway).
pub type om_tokens_unlock_cb =
    Option<unsafe extern "C" fn(user_data: *mut c_void, tokens_json: *const c_char) -> i32>;

/// The host's callbacks and data.
struct Callbacks {
    account_id: u64,
    lock: LockFn,
    unlock: UnlockFn,
    user_data: UserData,
}

impl Callbacks {
    fn unlock(&self, save: Option<&TokenSet>) -> Result<()> {
        let json = save.map(|s| CString::new(s.to_json()).unwrap_or_default());
        let ptr = json.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        // SAFETY: the host's callback, called as documented.
        let code = crate::callback_mark::run_as(self.account_id, || unsafe {
            self.unlock.call(self.user_data.ptr, ptr)
        });
        if code == OM_TOKEN_STORE_OK {
            Ok(())
        } else {
            Err(Error::new(
                Status::IoError,
                format!("the host's token store did not save the tokens (its unlock callback returned {code})"),
            ))
        }
    }
}

struct HostStore(Arc<Callbacks>);

impl HostStore {
    fn lock_now(&self, wait: Duration, lang: Lang) -> Result<Held> {
        let cb = &self.0;
        let mut out: *const c_char = std::ptr::null();
        let ms = u32::try_from(wait.as_millis()).unwrap_or(u32::MAX);
        // SAFETY: the host's callback, called as documented; `out` is writable.
        let code = crate::callback_mark::run_as(cb.account_id, || unsafe {
            cb.lock.call(cb.user_data.ptr, ms, &mut out)
        });
        match code {
            OM_TOKEN_STORE_OK => {}
            OM_TOKEN_STORE_BUSY => {
                return Err(Error::new(
                    Status::TokensLocked,
                    lang.pick_string(
                        format!("Another program held the lock of the shared tokens for more than {:.1} s (the token store's lock callback answered BUSY): the tokens were not refreshed here", wait.as_secs_f32()),
                        format!("Un autre programme a gardé le verrou des jetons partagés plus de {:.1} s (le rappel de verrouillage du stockage a répondu BUSY) : les jetons n'ont pas été actualisés ici", wait.as_secs_f32()),
                    ),
                ))
            }
            other => {
                return Err(Error::new(
                    Status::IoError,
                    format!("the host's token store could not be locked or read (its lock callback returned {other})"),
                ))
            }
        }
        let release_cb = cb.clone();
        let release = Box::new(move |save: Option<&TokenSet>| release_cb.unlock(save));
        let latest = if out.is_null() {
            None
        } else {
            // SAFETY: the host gave a NUL-terminated string, valid until unlock.
            let text = unsafe { CStr::from_ptr(out) }.to_str().map_err(|e| {
                Error::new(
                    Status::IoError,
                    format!(
                        "the host's token store gave tokens that are not UTF-8 (byte {})",
                        e.valid_up_to()
                    ),
                )
            });
            match text.and_then(|t| {
                TokenSet::from_json(t).map_err(|e| {
                    Error::new(
                        Status::IoError,
                        format!(
                            "the host's token store gave a damaged token set: {}",
                            e.message
                        ),
                    )
                })
            }) {
                Ok(set) => Some(set),
                Err(e) => {
                    let _ = release(None);
                    return Err(e);
                }
            }
        };
        Ok(Held::new(latest, release))
    }
}

impl SharedStore for HostStore {
    fn lock(&self, wait: Duration, lang: Lang) -> LockFuture<'_> {
        // the host's callback runs where this future is polled: on the host thread that made
        // the call (host-thread-only store)
        Box::pin(async move { self.lock_now(wait, lang) })
    }

    fn host_thread_only(&self) -> bool {
        true
    }
}

/// Makes the host's own storage (e.g. a row of its database) the place where this mailbox's
/// tokens are shared with other processes and workstations, so that a rotated refresh token is
/// never used twice (providers then revoke the whole grant). Before every refresh or
/// revocation the library calls `lock` (take your lock, give the stored set), uses a newer
/// stored set instead of refreshing when another process already did, else refreshes, and
/// calls `unlock` with the new set to save (NULL: nothing changed). Tokens an authorization
/// obtains are saved the same way, on the next call made on the account (om_authorize_wait…).
/// Pass NULL for both callbacks to remove the store. Not with `token_file`, which is shared
/// and locked by the library itself (OM_STATUS_WRONG_STATE).
///
/// The callbacks run on the host thread whose call needs them, inside that call; calling this
/// account's functions from them returns OM_STATUS_REENTRANT_CALL. The token callback still
/// reports every change; do not save from it when a token store is set (a save outside the lock
/// could overwrite a newer set). `free_user_data` (may be NULL) is called with `user_data` once,
/// when the store is replaced or removed or the account freed — possibly on the thread of a
/// call still running on the account.
/// Errors: OM_STATUS_INVALID_ARGUMENT (only one callback given), OM_STATUS_INVALID_HANDLE,
/// OM_STATUS_REENTRANT_CALL, OM_STATUS_WRONG_STATE. Calls that refresh then also return
/// OM_STATUS_TOKENS_LOCKED (`lock` answered BUSY) and OM_STATUS_IO_ERROR (`lock` or `unlock`
/// failed, or the stored JSON is not a token set of this account).
#[no_mangle]
pub extern "C" fn om_account_set_token_store(
    account: *mut om_account,
    lock: om_tokens_lock_cb,
    unlock: om_tokens_unlock_cb,
    user_data: *mut c_void,
    free_user_data: om_free_cb,
) -> om_status {
    set_token_store(
        account,
        lock.map(LockFn::C),
        unlock.map(UnlockFn::C),
        user_data,
        free_user_data.map(FreeFn::C),
    )
}

host_fn!(
    /// The host's token store lock callback (om_tokens_lock_cb / oms_tokens_lock_cb).
    LockFn(user_data: *mut c_void, timeout_ms: u32, out_tokens_json: *mut *const c_char) -> i32
);

host_fn!(
    /// The host's token store unlock callback (om_tokens_unlock_cb / oms_tokens_unlock_cb).
    UnlockFn(user_data: *mut c_void, tokens_json: *const c_char) -> i32
);

/// om_account_set_token_store in either calling convention.
pub(crate) fn set_token_store(
    account: *mut om_account,
    lock: Option<LockFn>,
    unlock: Option<UnlockFn>,
    user_data: *mut c_void,
    free_user_data: Option<FreeFn>,
) -> om_status {
    guard(|| {
        with_account(account, |a| {
            if lock.is_some() {
                // before taking `user_data`: on failure it stays the host's, not freed
                a.tokens.check_host_store_allowed()?;
            }
            let store: Option<Arc<dyn SharedStore>> = match (lock, unlock) {
                (None, None) => None,
                (Some(lock), Some(unlock)) => Some(Arc::new(HostStore(Arc::new(Callbacks {
                    account_id: a.id,
                    lock,
                    unlock,
                    user_data: UserData::new(user_data, free_user_data),
                })))),
                _ => {
                    return Err(Error::invalid_argument(
                        "give both `lock` and `unlock`, or neither (to remove the token store)",
                    ))
                }
            };
            a.tokens.set_host_store(store)
        })
    })
}
