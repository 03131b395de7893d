//! The panic probe (see Cargo.toml): `probe_panic` panics five frames down, each frame holding a
//! value whose `Drop` counts, and catches the panic at the top as oauthmail's C boundary does
//! (`src/ffi/boundary.rs`: `catch_unwind`). It returns how many frames were dropped while
//! unwinding (6), or 0 when nothing was caught; a broken unwinder aborts the process instead.

use std::hint::black_box;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};

struct Counted<'a>(&'a AtomicU32);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[inline(never)]
fn down(n: u32, drops: &AtomicU32) -> u32 {
    let _held = Counted(drops);
    if black_box(n) == 0 {
        panic!("probe panic");
    }
    black_box(down(n - 1, drops)) + 1
}

/// Panics five frames down and catches it: the number of frames dropped while unwinding (6), or
/// 0 when the call returned without a panic.
#[no_mangle]
pub extern "C" fn probe_panic() -> u32 {
    std::panic::set_hook(Box::new(|_| {}));
    let drops = AtomicU32::new(0);
    let caught = catch_unwind(AssertUnwindSafe(|| down(5, &drops))).is_err();
    let _ = std::panic::take_hook();
    if caught {
        drops.load(Ordering::SeqCst)
    } else {
        0
    }
}
