//! Safe wrappers over the exported C functions, so tests exercise the real ABI.

use oauthmail::ffi::account::*;
use oauthmail::ffi::authorize::*;
use oauthmail::ffi::last_error::*;
use oauthmail::ffi::library::*;
use oauthmail::ffi::om_account;
use oauthmail::ffi::tokens::*;
use serde_json::Value;
use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::{Arc, Mutex};

/// (status, last error message)
pub type Failure = (i32, String);

pub fn last_error() -> String {
    unsafe { CStr::from_ptr(om_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

pub fn last_detail() -> String {
    unsafe { CStr::from_ptr(oauthmail::ffi::last_error::om_last_error_detail()) }
        .to_string_lossy()
        .into_owned()
}

pub fn last_hint() -> String {
    unsafe { CStr::from_ptr(om_last_error_hint()) }
        .to_string_lossy()
        .into_owned()
}

pub fn check(status: i32) -> Result<(), Failure> {
    if status == 0 {
        Ok(())
    } else {
        Err((status, last_error()))
    }
}

pub unsafe fn take(s: *mut c_char) -> String {
    assert!(!s.is_null());
    let v = CStr::from_ptr(s).to_string_lossy().into_owned();
    om_string_free(s);
    v
}

pub fn init() {
    assert_eq!(om_init(), 0, "om_init: {}", last_error());
}

pub struct Acc {
    pub h: *mut om_account,
    /// Token sets received by the token callback.
    pub changes: Arc<Mutex<Vec<String>>>,
}

unsafe impl Send for Acc {}
unsafe impl Sync for Acc {}

unsafe extern "C" fn on_tokens(user_data: *mut c_void, json: *const c_char) {
    let changes = &*(user_data as *const Mutex<Vec<String>>);
    changes
        .lock()
        .unwrap()
        .push(CStr::from_ptr(json).to_string_lossy().into_owned());
}

unsafe extern "C" fn free_changes(user_data: *mut c_void) {
    drop(Arc::from_raw(user_data as *const Mutex<Vec<String>>));
}

impl Acc {
    pub fn new(config: &str) -> Result<Acc, Failure> {
        let c = CString::new(config).unwrap();
        let mut h = std::ptr::null_mut();
        check(unsafe { om_account_new(c.as_ptr(), &mut h) })?;
        let changes = Arc::new(Mutex::new(Vec::new()));
        let ud = Arc::into_raw(changes.clone()) as *mut c_void;
        check(om_account_set_token_callback(
            h,
            Some(on_tokens),
            ud,
            Some(free_changes),
        ))?;
        Ok(Acc { h, changes })
    }

    pub fn start(&self, options: &str) -> Result<Value, Failure> {
        let o = CString::new(options).unwrap();
        let mut out = std::ptr::null_mut();
        check(unsafe { om_authorize_start(self.h, o.as_ptr(), &mut out) })?;
        Ok(serde_json::from_str(&unsafe { take(out) }).unwrap())
    }

    pub fn wait(&self, ms: u32) -> Result<(), Failure> {
        check(om_authorize_wait(self.h, ms))
    }

    /// Waits until the authorization is no longer pending (at most `secs`).
    pub fn wait_done(&self, secs: u64) -> Result<(), Failure> {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            match self.wait(200) {
                Err((5, _)) if std::time::Instant::now() < end => continue,
                other => return other,
            }
        }
    }

    pub fn complete(&self, url: &str) -> Result<(), Failure> {
        let u = CString::new(url).unwrap();
        check(unsafe { om_authorize_complete(self.h, u.as_ptr(), 0) })
    }

    pub fn cancel_authorization(&self) {
        assert_eq!(om_authorize_cancel(self.h), 0);
    }

    pub fn device_start(&self) -> Result<Value, Failure> {
        let mut out = std::ptr::null_mut();
        check(unsafe { om_device_start(self.h, 0, &mut out) })?;
        Ok(serde_json::from_str(&unsafe { take(out) }).unwrap())
    }

    pub fn token(&self, ms: u32) -> Result<(String, i64), Failure> {
        let mut out = std::ptr::null_mut();
        let mut exp = 0i64;
        let st = unsafe { om_get_access_token(self.h, ms, &mut out, &mut exp) };
        if st != 0 {
            assert!(out.is_null(), "out-pointer must be NULL on failure");
            return Err((st, last_error()));
        }
        Ok((unsafe { take(out) }, exp))
    }

    pub fn export(&self) -> Value {
        let mut out = std::ptr::null_mut();
        check(unsafe { om_tokens_export(self.h, &mut out) }).unwrap();
        serde_json::from_str(&unsafe { take(out) }).unwrap()
    }

    pub fn import(&self, v: &Value) -> Result<(), Failure> {
        let c = CString::new(v.to_string()).unwrap();
        check(unsafe { om_tokens_import(self.h, c.as_ptr()) })
    }

    pub fn revoke(&self) -> Result<(), Failure> {
        check(om_tokens_revoke(self.h, 0))
    }

    pub fn config_json(&self) -> Value {
        let mut out = std::ptr::null_mut();
        check(unsafe { om_account_config_json(self.h, &mut out) }).unwrap();
        serde_json::from_str(&unsafe { take(out) }).unwrap()
    }

    pub fn check_registration(&self) -> Value {
        let mut out = std::ptr::null_mut();
        check(unsafe { om_account_check(self.h, &mut out) }).unwrap();
        serde_json::from_str(&unsafe { take(out) }).unwrap()
    }

    pub fn cancel_all(&self) {
        assert_eq!(om_account_cancel(self.h), 0);
    }

    /// Expires the held access token (through export / import, as a host could).
    pub fn expire_access_token(&self) {
        let mut v = self.export();
        v["expires_at"] = Value::from(1);
        v["version"] = Value::from(v["version"].as_u64().unwrap() + 1);
        self.import(&v).unwrap();
    }
}

impl Drop for Acc {
    fn drop(&mut self) {
        om_account_free(self.h);
    }
}

/// One message received by the fetch callback.
#[derive(Debug, Clone)]
pub struct Got {
    pub uid: u32,
    /// POP3: the UIDL; Graph: the message id.
    pub uidl: String,
    pub folder: String,
    pub flags: String,
    pub resync: bool,
    pub internal_date: i64,
    pub size: u64,
    pub body: Vec<u8>,
}

impl Got {
    pub fn header(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(&self.body);
        text.lines()
            .take_while(|l| !l.trim().is_empty())
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
    }
}

pub struct FetchCtx<'a> {
    pub got: Vec<Got>,
    pub decide: &'a mut dyn FnMut(&Got) -> i32,
}

pub unsafe extern "C" fn on_message(
    user_data: *mut c_void,
    m: *const oauthmail::ffi::fetch::om_message,
    data: *const u8,
    len: usize,
) -> i32 {
    let ctx = &mut *(user_data as *mut FetchCtx<'_>);
    let m = &*m;
    let g = Got {
        uid: m.uid,
        uidl: CStr::from_ptr(m.uidl).to_string_lossy().into_owned(),
        folder: CStr::from_ptr(m.folder).to_string_lossy().into_owned(),
        flags: CStr::from_ptr(m.flags).to_string_lossy().into_owned(),
        resync: m.resync != 0,
        internal_date: m.internal_date,
        size: m.size,
        body: std::slice::from_raw_parts(data, len).to_vec(),
    };
    let code = (ctx.decide)(&g);
    ctx.got.push(g);
    code
}

impl Acc {
    /// om_fetch with `decide` answering for each message (0 = continue).
    pub fn fetch_with(
        &self,
        options: &str,
        decide: &mut dyn FnMut(&Got) -> i32,
    ) -> (Result<Value, Failure>, Vec<Got>) {
        let o = CString::new(options).unwrap();
        let mut ctx = FetchCtx {
            got: Vec::new(),
            decide,
        };
        let mut out = std::ptr::null_mut();
        let st = unsafe {
            oauthmail::ffi::fetch::om_fetch(
                self.h,
                o.as_ptr(),
                Some(on_message),
                &mut ctx as *mut FetchCtx<'_> as *mut c_void,
                &mut out,
            )
        };
        let r = if st == 0 {
            Ok(serde_json::from_str(&unsafe { take(out) }).unwrap())
        } else {
            assert!(out.is_null());
            Err((st, last_error()))
        };
        (r, ctx.got)
    }

    pub fn fetch(&self, options: &str) -> (Value, Vec<Got>) {
        let (r, got) = self.fetch_with(options, &mut |_| 0);
        (r.unwrap_or_else(|e| panic!("fetch failed: {e:?}")), got)
    }

    /// om_sync_state_export.
    pub fn sync_state(&self) -> String {
        let mut out = std::ptr::null_mut();
        check(unsafe { oauthmail::ffi::fetch::om_sync_state_export(self.h, &mut out) }).unwrap();
        unsafe { take(out) }
    }

    /// om_sync_state_import.
    pub fn set_sync_state(&self, state: &str) {
        let c = CString::new(state).unwrap();
        check(unsafe { oauthmail::ffi::fetch::om_sync_state_import(self.h, c.as_ptr()) })
            .unwrap_or_else(|e| panic!("state {state}: {e:?}"));
    }

    pub fn folders(&self) -> Result<Value, Failure> {
        let mut out = std::ptr::null_mut();
        check(unsafe { oauthmail::ffi::fetch::om_folders_list(self.h, 0, &mut out) })?;
        Ok(serde_json::from_str(&unsafe { take(out) }).unwrap())
    }
}
