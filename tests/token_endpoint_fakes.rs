//! What the real test server cannot produce, against a hand-written token endpoint (a fake,
//! on purpose and only here): `slow_down` in the device flow (oidc-provider never sends it),
//! Microsoft's and Google's exact error bodies (AADSTS codes, trace ids), a body that is not
//! OAuth2, and a refused connection.

mod common;

use common::capi::{init, last_detail, last_hint, Acc};
use oauthmail::ffi::status::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One scripted reply: status and JSON body.
type Reply = (u16, String);

struct Fake {
    base: String,
    /// (time, path, form body) of each request.
    seen: Arc<Mutex<Vec<(Instant, String, String)>>>,
}

/// Serves `replies` for POST /token in order (the last one repeats) and a device code on
/// POST /device; at most 50 connections, then it stops.
fn fake(replies: Vec<Reply>) -> Fake {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        let mut n = 0usize;
        for conn in l.incoming().take(50) {
            let Ok(mut c) = conn else { continue };
            c.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let Ok(k) = c.read(&mut chunk) else {
                    break (String::new(), String::new());
                };
                if k == 0 {
                    break (String::new(), String::new());
                }
                buf.extend_from_slice(&chunk[..k]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((h, b)) = text.split_once("\r\n\r\n") {
                    let len = h
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if b.len() >= len {
                        break (h.to_string(), b.to_string());
                    }
                }
            };
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            s2.lock()
                .unwrap()
                .push((Instant::now(), path.clone(), body));
            let (status, body) = if path == "/device" {
                (200, json!({"device_code":"dc-123456","user_code":"ABCD-EFGH","verification_uri":"http://127.0.0.1/verify","expires_in":60,"interval":1}).to_string())
            } else {
                let r = replies[n.min(replies.len() - 1)].clone();
                n += 1;
                r
            };
            let ctype = if body.starts_with('{') {
                "application/json"
            } else {
                "text/html"
            };
            let _ = write!(c, "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    Fake { base, seen }
}

fn tokens_reply() -> Reply {
    (200, json!({"access_token":"fake-access-token-1","token_type":"Bearer","expires_in":3600,"refresh_token":"fake-refresh-2"}).to_string())
}

fn error_reply(error: &str, description: &str, codes: Option<i64>) -> Reply {
    let mut v = json!({"error": error, "error_description": description});
    if let Some(c) = codes {
        v["error_codes"] = json!([c]);
        v["trace_id"] = json!("trace-1111");
        v["correlation_id"] = json!("corr-2222");
    }
    (400, v.to_string())
}

fn account(f: &Fake, provider: &str, extra: Value) -> Acc {
    let mut c = json!({
        "provider": provider,
        "client_id": "cid",
        "client_secret": "fake-secret",
        "authorize_url": format!("{}/authorize", f.base),
        "token_url": format!("{}/token", f.base),
        "device_authorization_url": format!("{}/device", f.base),
        "scopes": "mail offline_access",
        "allow_insecure_transport": true,
        "open_browser": false,
        "timeout_secs": 10,
    });
    if provider == "gmail" {
        c.as_object_mut()
            .unwrap()
            .remove("device_authorization_url");
    }
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    Acc::new(&c.to_string()).unwrap()
}

/// Gives the account an expired access token and a refresh token.
fn with_expired_token(acc: &Acc) {
    let mut v = acc.export();
    v["version"] = json!(1);
    v["updated_at"] = json!(1);
    v["access_token"] = json!("old-access");
    v["expires_at"] = json!(1);
    v["refresh_token"] = json!("old-refresh-token");
    acc.import(&v).unwrap();
}

#[test]
fn device_flow_honours_interval_and_slow_down() {
    init();
    let f = fake(vec![
        error_reply("authorization_pending", "not yet", None),
        error_reply("slow_down", "too fast", None),
        tokens_reply(),
    ]);
    let acc = account(&f, "custom", json!({"flow": "device_code"}));
    let d = acc.device_start().unwrap();
    assert_eq!(d["user_code"], "ABCD-EFGH");
    assert_eq!(d["interval"], 1);
    acc.wait_done(30).unwrap();
    assert_eq!(acc.token(0).unwrap().0, "fake-access-token-1");
    let seen = f.seen.lock().unwrap().clone();
    let polls: Vec<Instant> = seen
        .iter()
        .filter(|s| s.1 == "/token")
        .map(|s| s.0)
        .collect();
    assert_eq!(polls.len(), 3, "{seen:?}");
    // (the first poll may be immediate: RFC 8628 asks for `interval` between polls)
    assert!(
        polls[1] - polls[0] >= Duration::from_millis(900),
        "polls `interval` apart"
    );
    assert!(
        polls[2] - polls[1] >= Duration::from_millis(5900),
        "slow_down adds 5 s"
    );
    assert!(seen[1].2.contains("device_code=dc-123456"));
}

#[test]
fn microsoft_refresh_errors_name_their_cause_and_ids() {
    init();
    let f = fake(vec![error_reply(
        "invalid_grant",
        "AADSTS700082: The refresh token has expired due to inactivity.\r\nTrace ID: trace-1111\r\nCorrelation ID: corr-2222",
        Some(700082),
    )]);
    let acc = account(&f, "office365", json!({}));
    with_expired_token(&acc);
    let (status, msg) = acc.token(0).unwrap_err();
    assert_eq!(status, OM_STATUS_AUTHORIZATION_REQUIRED, "{msg}");
    let detail = last_detail();
    assert!(
        detail.contains("AADSTS700082")
            && detail.contains("trace id trace-1111")
            && detail.contains("correlation id corr-2222"),
        "{detail}"
    );
    assert!(last_hint().contains("inactivity"), "{}", last_hint());
    assert!(
        !msg.contains("old-refresh-token") && !msg.contains("fake-secret"),
        "{msg}"
    );
    // Microsoft expects the scopes again on refresh
    let body = f.seen.lock().unwrap().last().unwrap().2.clone();
    assert!(
        body.contains("grant_type=refresh_token") && body.contains("scope="),
        "{body}"
    );
}

#[test]
fn expired_client_secret_tells_the_admin_in_french() {
    init();
    let f = fake(vec![(
        401,
        json!({"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys for app 'x' are expired.","error_codes":[7000222]}).to_string(),
    )]);
    let acc = account(&f, "office365", json!({"language": "fr"}));
    with_expired_token(&acc);
    let (status, msg) = acc.token(0).unwrap_err();
    assert_eq!(status, OM_STATUS_PROVIDER_ERROR, "{msg}");
    assert!(last_hint().contains("nouveau secret"), "{}", last_hint());
    assert!(
        msg.contains("Le point de jeton du fournisseur a refusé"),
        "{msg}"
    );
}

#[test]
fn consent_missing_gives_the_admin_consent_url() {
    init();
    let f = fake(vec![error_reply(
        "invalid_grant",
        "AADSTS65001: The user or administrator has not consented to use the application.",
        Some(65001),
    )]);
    let acc = account(
        &f,
        "office365",
        json!({"tenant": "contoso.onmicrosoft.com", "token_url": format!("{}/token", f.base)}),
    );
    with_expired_token(&acc);
    acc.token(0).unwrap_err();
    assert!(
        last_hint().contains(
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/adminconsent?client_id=cid"
        ),
        "{}",
        last_hint()
    );
}

#[test]
fn google_invalid_grant_explains_the_seven_day_testing_tokens() {
    init();
    let f = fake(vec![error_reply(
        "invalid_grant",
        "Token has been expired or revoked.",
        None,
    )]);
    let acc = account(&f, "gmail", json!({}));
    with_expired_token(&acc);
    let (status, _) = acc.token(0).unwrap_err();
    assert_eq!(status, OM_STATUS_AUTHORIZATION_REQUIRED);
    let hint = last_hint();
    assert!(
        hint.contains("Testing") && hint.contains("7 days") && hint.contains("publish"),
        "{hint}"
    );
    assert!(last_detail().contains("Token has been expired or revoked"));
}

#[test]
fn a_reply_that_is_not_oauth2_is_a_provider_error() {
    init();
    let f = fake(vec![(200, "<html>proxy login page</html>".into())]);
    let acc = account(&f, "custom", json!({}));
    with_expired_token(&acc);
    let (status, msg) = acc.token(0).unwrap_err();
    assert_eq!(status, OM_STATUS_PROVIDER_ERROR, "{msg}");
    assert!(
        msg.contains("unexpected reply") || msg.contains("not an OAuth2 response"),
        "{msg}"
    );
}

#[test]
fn refused_connection_is_retried_with_backoff_then_reported() {
    init();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let acc = Acc::new(
        &json!({"provider":"custom","client_id":"c","authorize_url":"https://127.0.0.1/a",
            "token_url": format!("http://127.0.0.1:{port}/token"),"allow_insecure_transport":true,"token_retries":2})
        .to_string(),
    )
    .unwrap();
    with_expired_token(&acc);
    let t0 = Instant::now();
    let (status, msg) = acc.token(0).unwrap_err();
    assert_eq!(status, OM_STATUS_NETWORK_ERROR, "{msg}");
    assert!(msg.contains("127.0.0.1"), "{msg}");
    assert!(
        t0.elapsed() >= Duration::from_millis(1400),
        "backoff 0.5 s + 1 s: {:?}",
        t0.elapsed()
    );
}
