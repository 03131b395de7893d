//! The cross-process lock beside a token file: `<token file>.lock`, locked with the operating
//! system's whole-file lock (`flock` on Unix, `LockFileEx` on Windows — which also works on SMB
//! shares), through `std::fs::File::try_lock`.
//!
//! The lock file is never deleted (deleting it would let two processes lock two different
//! files). The lock is released when the [`FileLock`] is dropped, and by the operating system
//! when its process dies, so a crashed holder never blocks the others for good; a holder that
//! hangs is waited for at most the given time, then the caller gets `TokensLocked`.
//!
//! Within one process, handles on the same file also queue on an in-process mutex (see
//! [`process_mutex`]), so the exclusion does not depend on how a file system implements
//! `flock` (NFS emulates it with per-process `fcntl` locks).

use crate::error::{Error, Result, Status};
use crate::lang::Lang;
use once_cell::sync::Lazy;
use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Pause between two attempts to take a busy lock.
const POLL: Duration = Duration::from_millis(20);

/// A held lock; released on drop.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

/// The lock file of a token file.
pub fn lock_path(token_file: &Path) -> PathBuf {
    let mut name = token_file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "tokens".into());
    name.push(".lock");
    token_file.with_file_name(name)
}

fn open(path: &Path) -> Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|e| {
        Error::io(
            format!("cannot open the token lock file {}", path.display()),
            &e,
        )
    })
}

/// Tries once: `Ok(Some)` when taken, `Ok(None)` when another holder has it.
fn try_take(path: &Path) -> Result<Option<FileLock>> {
    let file = open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(FileLock { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(Error::io(
            format!("cannot lock the token lock file {}", path.display()),
            &e,
        )),
    }
}

fn busy(path: &Path, waited: Duration, lang: Lang) -> Error {
    let secs = waited.as_secs_f32();
    Error::new(
        Status::TokensLocked,
        lang.pick_string(
            format!("Another program (or another account handle) has been refreshing this mailbox's tokens for {secs:.1} s and still holds {}: the tokens were not refreshed here", path.display()),
            format!("Un autre programme (ou un autre compte ouvert) actualise les jetons de cette boîte depuis {secs:.1} s et détient toujours {} : les jetons n'ont pas été actualisés ici", path.display()),
        ),
    )
    .with_hint(lang.pick(
        "Try again later. If it lasts, look for a hung program using the same token file (a lock held by a program that ended is released by the system).",
        "Réessayez plus tard. Si cela dure, cherchez un programme bloqué qui utilise le même fichier de jetons (le verrou d'un programme terminé est libéré par le système).",
    ))
}

/// One attempt within a bounded wait: the lock, `None` to try again after [`POLL`], or the
/// `TokensLocked` error once `wait` has passed since `started`.
fn attempt(path: &Path, started: Instant, wait: Duration, lang: Lang) -> Result<Option<FileLock>> {
    match try_take(path)? {
        Some(l) => Ok(Some(l)),
        None if started.elapsed() >= wait => Err(busy(path, started.elapsed(), lang)),
        None => Ok(None),
    }
}

/// Takes the lock of `path`, waiting at most `wait` (async: other tasks run meanwhile).
pub async fn acquire(path: &Path, wait: Duration, lang: Lang) -> Result<FileLock> {
    let started = Instant::now();
    loop {
        if let Some(l) = attempt(path, started, wait, lang)? {
            return Ok(l);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// As [`acquire`], for callers outside the runtime (it sleeps the calling thread).
pub fn acquire_blocking(path: &Path, wait: Duration, lang: Lang) -> Result<FileLock> {
    let started = Instant::now();
    loop {
        if let Some(l) = attempt(path, started, wait, lang)? {
            return Ok(l);
        }
        std::thread::sleep(POLL);
    }
}

/// The in-process mutex of a token file: every handle on the same file in this process shares
/// it, so they refresh one at a time whatever the file system does with `flock`.
pub fn process_mutex(token_file: &Path) -> Arc<tokio::sync::Mutex<()>> {
    static MUTEXES: Lazy<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
        Lazy::new(|| Mutex::new(HashMap::new()));
    let key = canonical(token_file);
    MUTEXES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_default()
        .clone()
}

/// The path with its directory resolved (the file itself may not exist yet), so that two
/// spellings of one file share a mutex.
fn canonical(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            dir.canonicalize()
                .map(|d| d.join(name))
                .unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_then_gets_tokens_locked() {
        let dir = std::env::temp_dir().join(format!("om-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = lock_path(&dir.join("t.json"));
        assert!(path.to_string_lossy().ends_with("t.json.lock"));
        let held = acquire_blocking(&path, Duration::from_secs(1), Lang::En).unwrap();
        // a second open file description is excluded (as another process would be)
        let started = Instant::now();
        let e = acquire_blocking(&path, Duration::from_millis(200), Lang::En).unwrap_err();
        assert_eq!(e.status, Status::TokensLocked);
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(e.message.contains("t.json.lock"), "{}", e.message);
        drop(held);
        let again = acquire_blocking(&path, Duration::from_millis(200), Lang::En);
        assert!(again.is_ok());
        drop(again);
        assert!(Arc::ptr_eq(
            &process_mutex(&dir.join("t.json")),
            &process_mutex(&dir.join(".").join("t.json"))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
