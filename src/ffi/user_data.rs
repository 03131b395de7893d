//! The host's `user_data` kept beyond a call (callbacks set on an account or the library), with
//! the free function the host gave for it: called once, when the library lets go of it.

use super::convention::host_fn;
use std::ffi::c_void;

host_fn!(
    /// The host's function releasing its user data (om_free_cb / oms_free_cb).
    FreeFn(user_data: *mut c_void)
);

pub struct UserData {
    pub ptr: *mut c_void,
    free: Option<FreeFn>,
}

// SAFETY: the header documents that user data given with a callback may be used from the
// threads the callback runs on and freed from the thread that releases it.
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

impl UserData {
    pub fn new(ptr: *mut c_void, free: Option<FreeFn>) -> UserData {
        UserData { ptr, free }
    }
}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(f) = self.free {
            // SAFETY: the host's free function for its own pointer.
            unsafe { f.call(self.ptr) }
        }
    }
}
