//! Token sets kept outside this process and shared by every process that uses the mailbox: a
//! token file (on a local disk or a network share), or the host's own storage (its database,
//! behind the C ABI's token store callbacks).
//!
//! A refresh happens under the store's lock, after reading the latest set stored there: a set
//! another process already refreshed is used instead of refreshing again with a refresh token
//! that rotation has already replaced (which providers take as a stolen token, revoking the
//! whole grant).

use super::{file_lock, token_file, TokenSet};
use crate::error::Result;
use crate::lang::Lang;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

/// Releases a held store, saving a set first when given.
pub type Release = Box<dyn FnOnce(Option<&TokenSet>) -> Result<()> + Send>;

/// A held store lock and what the store holds. Dropped without [`Held::release`] (a cancelled
/// or failed refresh), it releases the lock without saving.
pub struct Held {
    /// The latest set stored (`None`: nothing stored yet).
    pub latest: Option<TokenSet>,
    release: Option<Release>,
}

impl Held {
    pub fn new(latest: Option<TokenSet>, release: Release) -> Held {
        Held {
            latest,
            release: Some(release),
        }
    }

    /// Saves `save` (when given) and releases the lock.
    pub fn release(mut self, save: Option<&TokenSet>) -> Result<()> {
        match self.release.take() {
            Some(r) => r(save),
            None => Ok(()),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(r) = self.release.take() {
            let _ = r(None);
        }
    }
}

pub type LockFuture<'a> = Pin<Box<dyn Future<Output = Result<Held>> + Send + 'a>>;

/// Where a mailbox's tokens are shared.
pub trait SharedStore: Send + Sync {
    /// Takes the store's lock, waiting at most `wait` (else `TokensLocked`), and reads the
    /// latest set it holds.
    fn lock(&self, wait: Duration, lang: Lang) -> LockFuture<'_>;

    /// True when the store may only be used from a host thread (it calls the host's code), so
    /// that a change made on a library thread is saved later, on the next host call.
    fn host_thread_only(&self) -> bool;
}

/// The token file, locked through `<file>.lock`.
pub struct FileStore {
    pub path: PathBuf,
}

impl FileStore {
    fn lock_path(&self) -> PathBuf {
        file_lock::lock_path(&self.path)
    }

    fn held(&self, lock: file_lock::FileLock) -> Result<Held> {
        let latest = token_file::read(&self.path)?;
        let path = self.path.clone();
        Ok(Held::new(
            latest,
            Box::new(move |save: Option<&TokenSet>| {
                let written = match save {
                    Some(set) => token_file::write(&path, set),
                    None => Ok(()),
                };
                drop(lock); // released after the write: the next holder reads the new set
                written
            }),
        ))
    }

    /// [`SharedStore::lock`] for callers outside the runtime (token import).
    pub fn lock_blocking(&self, wait: Duration, lang: Lang) -> Result<Held> {
        let lock = file_lock::acquire_blocking(&self.lock_path(), wait, lang)?;
        self.held(lock)
    }
}

impl SharedStore for FileStore {
    fn lock(&self, wait: Duration, lang: Lang) -> LockFuture<'_> {
        Box::pin(async move {
            let lock = file_lock::acquire(&self.lock_path(), wait, lang).await?;
            self.held(lock)
        })
    }

    fn host_thread_only(&self) -> bool {
        false
    }
}
