//! Which account's callback (the host's code) this thread is running, if any: a call from
//! inside a callback back into the same account is refused as re-entrant, and `om_shutdown`
//! from inside any callback too. A leaf module: accounts, the runtime and the C layer use it.

use std::cell::Cell;

thread_local! {
    /// The account whose callback this thread is running (0: none).
    static IN_CALLBACK: Cell<u64> = const { Cell::new(0) };
}

/// True when this thread is inside a callback of any account.
pub fn in_any() -> bool {
    IN_CALLBACK.with(|c| c.get()) != 0
}

/// True when this thread is inside a callback of account `id`.
pub fn is(id: u64) -> bool {
    IN_CALLBACK.with(|c| c.get()) == id
}

/// Runs `f` (the host's code) marked as a callback of account `id`: calls back into that
/// account are refused as re-entrant. The previous mark is restored afterwards, even on a panic.
pub fn run_as<T>(id: u64, f: impl FnOnce() -> T) -> T {
    struct Restore(u64);
    impl Drop for Restore {
        fn drop(&mut self) {
            IN_CALLBACK.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(IN_CALLBACK.with(|c| c.replace(id)));
    f()
}
