//! Account handles for the C ABI.
//!
//! A handle is an opaque, never-dereferenced number (shaped like an aligned pointer) that maps
//! to an account here. A freed or foreign handle is simply not found: `InvalidHandle`, never a
//! crash. Numbers are not reused, so a stale handle cannot reach a newer account.

use crate::account::Account;
use crate::error::{Error, Result, Status};
use once_cell::sync::Lazy;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

static ACCOUNTS: Lazy<RwLock<HashMap<usize, Arc<Account>>>> =
    Lazy::new(|| RwLock::new(HashMap::new()));
/// Handles start high and step by 16 so they look like aligned pointers and are never 0.
static NEXT_HANDLE: AtomicUsize = AtomicUsize::new(0x4f4d_0010);

pub fn insert(account: Arc<Account>) -> usize {
    let h = NEXT_HANDLE.fetch_add(16, Ordering::Relaxed);
    ACCOUNTS
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(h, account);
    h
}

pub fn get(handle: usize) -> Result<Arc<Account>> {
    ACCOUNTS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&handle)
        .cloned()
        .ok_or_else(unknown)
}

/// Runs `f` on the account under the registry's read lock, without taking a reference: for
/// short, non-blocking work on the hot path (a cached token). `None` for an unknown handle.
pub fn peek<T>(handle: usize, f: impl FnOnce(&Account) -> T) -> Option<T> {
    ACCOUNTS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&handle)
        .map(|a| f(a))
}

/// Removes the handle; the account lives on until running calls on it return.
pub fn remove(handle: usize) -> Result<Arc<Account>> {
    ACCOUNTS
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&handle)
        .ok_or_else(unknown)
}

fn unknown() -> Error {
    Error::new(
        Status::InvalidHandle,
        "unknown account handle (already freed, or not created by om_account_new)",
    )
}

/// Cancels everything every account is doing (library shutdown).
pub fn cancel_all() {
    let all: Vec<Arc<Account>> = ACCOUNTS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect();
    for a in all {
        a.cancel_all();
    }
}
