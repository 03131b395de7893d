//! Keeping tokens valid against the real oidc-provider: refresh ahead of expiry, rotation,
//! one refresh for many threads, export/import with versions, revocation, retries, the token
//! file, TLS trust.

mod common;

use common::capi::{init, last_detail, last_hint, Acc};
use common::{authorized, sandbox};
use oauthmail::ffi::status::*;
use serde_json::json;
use std::sync::{Arc, Barrier};
use std::time::Duration;

#[test]
fn refresh_ahead_of_expiry_rotates_the_refresh_token() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    // short-app tokens live 5 s: the margin is capped at half the lifetime (2 s)
    let acc = authorized("short-app", json!({}));
    let v1 = acc.export();
    let (t1, _) = acc.token(0).unwrap();
    let before = sb.token_requests("refresh_token");
    std::thread::sleep(Duration::from_millis(3500));
    let (t2, exp2) = acc.token(0).unwrap();
    assert_ne!(t1, t2, "a token within the margin must be refreshed");
    assert_eq!(sb.token_requests("refresh_token"), before + 1);
    assert!(exp2 >= oauthmail::tokens::token_set::now_unix() + 3);
    let v2 = acc.export();
    assert_eq!(v2["version"], v1["version"].as_u64().unwrap() + 1);
    assert_ne!(
        v2["refresh_token"], v1["refresh_token"],
        "rotated refresh token stored"
    );
    // the host was told
    let changes = acc.changes.lock().unwrap().clone();
    let last: serde_json::Value = serde_json::from_str(changes.last().unwrap()).unwrap();
    assert_eq!(last, v2);

    // importing the older set over the newer one is refused, nothing changes
    let (status, msg) = acc.import(&v1).unwrap_err();
    assert_eq!(status, OM_STATUS_STALE_TOKENS, "{msg}");
    assert_eq!(acc.export(), v2);

    // another workstation still holding the old set: its refresh token was rotated away
    let other = Acc::new(&sb.config("short-app", json!({}))).unwrap();
    other.import(&v1).unwrap();
    other.expire_access_token();
    let (status, msg) = other.token(0).unwrap_err();
    assert_eq!(status, OM_STATUS_AUTHORIZATION_REQUIRED, "{msg}");
    assert!(last_detail().contains("invalid_grant"), "{}", last_detail());
    assert!(last_hint().contains("authorize again"), "{}", last_hint());
    // the failure is remembered: no second request for the same dead refresh token
    let n = sb.token_requests("refresh_token");
    assert_eq!(
        other.token(0).unwrap_err().0,
        OM_STATUS_AUTHORIZATION_REQUIRED
    );
    assert_eq!(sb.token_requests("refresh_token"), n);
}

#[test]
fn sixteen_threads_on_an_expired_token_share_one_refresh() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    let acc = Arc::new(authorized("confidential-app", json!({})));
    acc.expire_access_token();
    let before = sb.token_requests("refresh_token");
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let (a, b) = (acc.clone(), barrier.clone());
            std::thread::spawn(move || {
                b.wait();
                a.token(0).map(|t| t.0)
            })
        })
        .collect();
    let tokens: Vec<String> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    assert_eq!(
        sb.token_requests("refresh_token"),
        before + 1,
        "exactly one refresh request"
    );
    assert!(tokens.iter().all(|t| t == &tokens[0]));
}

#[test]
fn revocation_forgets_tokens_and_a_copy_then_needs_authorization() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    let acc = authorized("confidential-app", json!({}));
    let copy = Acc::new(&sb.config("confidential-app", json!({}))).unwrap();
    copy.import(&acc.export()).unwrap();
    let v = acc.export()["version"].as_u64().unwrap();
    let revocations = sb.stats()["revocations"].as_u64().unwrap();
    acc.revoke().unwrap();
    assert_eq!(sb.stats()["revocations"].as_u64().unwrap(), revocations + 1);
    let after = acc.export();
    assert!(
        after.get("refresh_token").is_none() && after.get("access_token").is_none(),
        "{after}"
    );
    assert_eq!(after["version"], v + 1);
    assert_eq!(
        acc.token(0).unwrap_err().0,
        OM_STATUS_AUTHORIZATION_REQUIRED
    );
    let changes = acc.changes.lock().unwrap().clone();
    assert!(changes
        .last()
        .unwrap()
        .contains(&format!("\"version\":{}", v + 1)));

    copy.expire_access_token();
    let (status, msg) = copy.token(0).unwrap_err();
    assert_eq!(status, OM_STATUS_AUTHORIZATION_REQUIRED, "{msg}");
}

#[test]
fn token_endpoint_5xx_is_retried_then_reported() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    // fault injection in the sandbox server: no real server gives a 500 on demand
    let acc = authorized("confidential-app", json!({"token_retries": 2}));
    acc.expire_access_token();
    sb.inject("fail-token", "count=2&status=500");
    let before = sb.stats()["token_requests_total"].as_u64().unwrap();
    acc.token(0).unwrap();
    assert_eq!(
        sb.stats()["token_requests_total"].as_u64().unwrap(),
        before + 3,
        "2 failures + 1 success"
    );

    acc.expire_access_token();
    sb.inject("fail-token", "count=5&status=503");
    let (status, msg) = acc.token(0).unwrap_err();
    assert_eq!(status, OM_STATUS_NETWORK_ERROR, "{msg}");
    assert!(msg.contains("503"), "{msg}");
    sb.inject("reset", "");
}

#[test]
fn a_blocked_refresh_is_cancelled_from_another_thread_and_times_out() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    let acc = Arc::new(authorized("confidential-app", json!({"token_retries": 0})));
    acc.expire_access_token();
    sb.inject("slow-token", "ms=8000&count=2");
    let a2 = acc.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        a2.cancel_all();
    });
    let t0 = std::time::Instant::now();
    assert_eq!(acc.token(0).unwrap_err().0, OM_STATUS_CANCELLED);
    assert!(t0.elapsed() < Duration::from_secs(4));
    t.join().unwrap();
    let t0 = std::time::Instant::now();
    assert_eq!(acc.token(500).unwrap_err().0, OM_STATUS_TIMEOUT);
    assert!(t0.elapsed() < Duration::from_secs(4));
    std::thread::sleep(Duration::from_secs(8)); // let the slow requests drain
    sb.inject("reset", "");
}

#[test]
fn token_file_is_private_atomic_and_reloaded() {
    let _serial = common::serial();
    init();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("tokfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("jetons société.json");
    let _ = std::fs::remove_file(&path);
    let file = path.to_string_lossy().into_owned();
    let acc = authorized("confidential-app", json!({"token_file": file}));
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(stored, acc.export());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let (t, _) = acc.token(0).unwrap();
    drop(acc);
    // a new account (another run of the host) starts with the stored tokens
    let sb = sandbox();
    let again = Acc::new(&sb.config("confidential-app", json!({"token_file": file}))).unwrap();
    assert_eq!(again.token(0).unwrap().0, t);
    let before = again.export()["version"].as_u64().unwrap();
    again.revoke().unwrap();
    // the file keeps an empty set with a higher version: every process sharing the file stops
    // using the revoked tokens (a deleted file would let one of them write them back)
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(stored.get("refresh_token").is_none() && stored.get("access_token").is_none());
    assert_eq!(stored["version"].as_u64().unwrap(), before + 1);
    let later = Acc::new(&sb.config("confidential-app", json!({"token_file": file}))).unwrap();
    assert_eq!(
        later.token(0).unwrap_err().0,
        OM_STATUS_AUTHORIZATION_REQUIRED
    );
}

#[test]
fn unknown_certificate_authority_is_a_tls_error_naming_the_host() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    let acc = Acc::new(&sb.config(
        "cc-app",
        json!({"flow": "client_credentials", "scopes": "mail", "ca_certs_file": sb.other_ca_file}),
    ))
    .unwrap();
    let (status, msg) = acc.token(0).unwrap_err();
    assert_eq!(status, OM_STATUS_TLS_ERROR, "{msg}");
    assert!(
        msg.contains("127.0.0.1") && msg.contains("unknown authority"),
        "{msg}"
    );
}

#[test]
fn client_credentials_token_is_obtained_then_cached() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    let acc = Acc::new(&sb.config(
        "cc-app",
        json!({"flow": "client_credentials", "scopes": "mail"}),
    ))
    .unwrap();
    let before = sb.token_requests("client_credentials");
    let (t1, _) = acc.token(0).unwrap();
    let (t2, _) = acc.token(0).unwrap();
    assert_eq!(t1, t2);
    assert_eq!(sb.token_requests("client_credentials"), before + 1);
    assert!(acc.export().get("refresh_token").is_none());
    // a wrong secret is the provider's refusal, with the admin's hint
    let bad = Acc::new(&sb.config(
        "cc-app",
        json!({"flow": "client_credentials", "scopes": "mail", "client_secret": "wrong"}),
    ))
    .unwrap();
    let (status, msg) = bad.token(0).unwrap_err();
    assert_eq!(status, OM_STATUS_PROVIDER_ERROR, "{msg}");
    assert!(
        msg.contains("invalid_client") && msg.contains("client_secret"),
        "{msg}"
    );
}

#[test]
fn device_flow_polls_until_the_user_confirms() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    let acc = Acc::new(&sb.config("confidential-app", json!({"flow": "device_code"}))).unwrap();
    let d = acc.device_start().unwrap();
    let code = d["user_code"].as_str().unwrap().to_string();
    let uri = d["verification_uri"].as_str().unwrap().to_string();
    assert!(d["expires_in"].as_u64().unwrap() > 60, "{d}");
    assert_eq!(acc.wait(100).unwrap_err().0, OM_STATUS_PENDING);
    let out = sb.browse(&["--device", &code, &uri]);
    assert_eq!(out["done"], true, "{out}");
    acc.wait_done(60).unwrap();
    assert!(acc.token(0).is_ok());
    assert!(acc.export()["refresh_token"].is_string());
    assert!(sb.stats()["device_polls"].as_u64().unwrap() >= 1);
}

#[test]
fn device_flow_denied_by_the_user() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    let acc = Acc::new(&sb.config("confidential-app", json!({"flow": "device_code"}))).unwrap();
    let d = acc.device_start().unwrap();
    let out = sb.browse(&[
        "--device",
        d["user_code"].as_str().unwrap(),
        "--deny",
        d["verification_uri"].as_str().unwrap(),
    ]);
    assert_eq!(out["denied"], true, "{out}");
    let (status, msg) = acc.wait_done(60).unwrap_err();
    assert_eq!(status, OM_STATUS_ACCESS_DENIED, "{msg}");
}

#[test]
fn the_version_saturates_instead_of_wrapping() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    let acc = Acc::new(&sb.config("confidential-app", json!({"revocation_url": null}))).unwrap();
    let mut top = acc.export();
    top["version"] = json!(u64::MAX);
    top["updated_at"] = json!(1_700_000_000);
    top["refresh_token"] = json!("rt-at-the-top");
    acc.import(&top).unwrap();
    // a change at the top used to panic (debug) or wrap to 0 (release)
    acc.revoke().unwrap();
    let after = acc.export();
    assert_eq!(after["version"].as_u64(), Some(u64::MAX), "{after}");
    assert!(after["updated_at"].as_i64().unwrap() > 1_700_000_000);
    assert!(after.get("refresh_token").is_none());
    // and what came before stays older: never accepted over it
    let mut older = top.clone();
    older["version"] = json!(0);
    assert_eq!(acc.import(&older).unwrap_err().0, OM_STATUS_STALE_TOKENS);
    assert_eq!(acc.import(&top).unwrap_err().0, OM_STATUS_STALE_TOKENS);
}
