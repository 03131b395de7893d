//! Wrappers over the browsing C functions (om_messages_*, om_folder_create, om_wait_for_mail).

use super::capi::{check, on_message, take, Acc, Failure, FetchCtx, Got};
use oauthmail::ffi::browse::*;
use serde_json::Value;
use std::ffi::{c_void, CString};

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

impl Acc {
    /// om_messages_list.
    pub fn list(&self, options: &str) -> Result<Value, Failure> {
        let o = c(options);
        let mut out = std::ptr::null_mut();
        check(unsafe { om_messages_list(self.h, o.as_ptr(), &mut out) })?;
        Ok(serde_json::from_str(&unsafe { take(out) }).unwrap())
    }

    /// Every page of a listing (following `next_cursor`), with the number of pages.
    pub fn list_all(&self, options: Value) -> (Vec<Value>, usize) {
        let mut all = Vec::new();
        let mut pages = 0;
        let mut o = options;
        loop {
            let page = self
                .list(&o.to_string())
                .unwrap_or_else(|e| panic!("list {o}: {e:?}"));
            pages += 1;
            all.extend(page["messages"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(cur) => o["cursor"] = cur.into(),
                None => return (all, pages),
            }
            assert!(pages < 100_000, "no end of pages");
        }
    }

    /// om_messages_fetch, each message accepted.
    pub fn fetch_chosen(&self, selection: &str) -> (Result<u32, Failure>, Vec<Got>) {
        let s = c(selection);
        let mut decide = |_: &Got| 0;
        let mut ctx = FetchCtx {
            got: Vec::new(),
            decide: &mut decide,
        };
        let mut n = 0u32;
        let st = unsafe {
            om_messages_fetch(
                self.h,
                s.as_ptr(),
                Some(on_message),
                &mut ctx as *mut FetchCtx<'_> as *mut c_void,
                &mut n,
            )
        };
        (check(st).map(|_| n), ctx.got)
    }

    pub fn set_flags(&self, options: &str) -> Result<(), Failure> {
        let o = c(options);
        check(unsafe { om_messages_set_flags(self.h, o.as_ptr()) })
    }

    pub fn move_messages(&self, options: &str) -> Result<(), Failure> {
        let o = c(options);
        check(unsafe { om_messages_move(self.h, o.as_ptr()) })
    }

    pub fn copy_messages(&self, options: &str) -> Result<(), Failure> {
        let o = c(options);
        check(unsafe { om_messages_copy(self.h, o.as_ptr()) })
    }

    pub fn delete_messages(&self, options: &str) -> Result<(), Failure> {
        let o = c(options);
        check(unsafe { om_messages_delete(self.h, o.as_ptr()) })
    }

    pub fn create_folder(&self, name: &str) -> Result<(), Failure> {
        let n = c(name);
        check(unsafe { om_folder_create(self.h, n.as_ptr(), 0) })
    }

    /// om_wait_for_mail.
    pub fn wait_for_mail(&self, options: &str, timeout_ms: u32) -> Result<Value, Failure> {
        let o = c(options);
        let mut out = std::ptr::null_mut();
        check(unsafe { om_wait_for_mail(self.h, o.as_ptr(), timeout_ms, &mut out) })?;
        Ok(serde_json::from_str(&unsafe { take(out) }).unwrap())
    }
}
