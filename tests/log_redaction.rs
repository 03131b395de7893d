//! The log callback sees the main steps of a real authorization and refresh, and never a
//! token, secret or authorization code. Own test binary: the log sink is process-wide.

mod common;

use common::capi::{init, Acc};
use common::sandbox;
use oauthmail::ffi::log::{om_log_set_callback, OM_LOG_DEBUG};
use serde_json::json;
use std::ffi::{c_char, c_void, CStr};
use std::sync::Mutex;

static LINES: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());

unsafe extern "C" fn collect(_: *mut c_void, level: i32, message: *const c_char) {
    let m = CStr::from_ptr(message).to_string_lossy().into_owned();
    LINES.lock().unwrap().push((level, m));
}

#[test]
fn logs_show_the_steps_and_no_secret() {
    let _serial = common::serial();
    init();
    assert_eq!(
        om_log_set_callback(Some(collect), OM_LOG_DEBUG, std::ptr::null_mut()),
        0
    );
    let sb = sandbox();
    let acc = Acc::new(&sb.config("confidential-app", json!({}))).unwrap();
    let started = acc.start(r#"{"listen": false}"#).unwrap();
    let out = sb.browse(&[
        "--stop-at-redirect",
        started["authorization_url"].as_str().unwrap(),
    ]);
    let redirect = out["redirect_url"].as_str().unwrap().to_string();
    let code = url::Url::parse(&redirect)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    acc.complete(&redirect).unwrap();
    let first = acc.export();
    acc.expire_access_token();
    acc.token(0).unwrap();
    let second = acc.export();
    // an error path too: a token request with a wrong secret echoes nothing secret
    let bad = Acc::new(&sb.config(
        "cc-app",
        json!({"flow": "client_credentials", "client_secret": "wrong-secret-value-42"}),
    ))
    .unwrap();
    assert!(bad.token(0).is_err());
    assert_eq!(om_log_set_callback(None, 0, std::ptr::null_mut()), 0);

    let lines = LINES.lock().unwrap().clone();
    let all: String = lines.iter().map(|(_, m)| format!("{m}\n")).collect();
    assert!(all.contains("authorization complete"), "{all}");
    assert!(all.contains("refreshing the access token"), "{all}");
    assert!(
        all.contains("-> HTTP 200"),
        "debug lines show HTTP steps: {all}"
    );
    let mut secrets = vec![
        "confidential-secret".to_string(),
        "wrong-secret-value-42".to_string(),
        code,
    ];
    for set in [&first, &second] {
        for k in ["access_token", "refresh_token"] {
            secrets.push(set[k].as_str().unwrap().to_string());
        }
    }
    for s in &secrets {
        assert!(
            !all.contains(s.as_str()),
            "secret {s:?} leaked into the log:\n{all}"
        );
    }
}
