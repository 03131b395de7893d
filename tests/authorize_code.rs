//! The browser authorization (code + PKCE + state, loopback listener) against the real
//! oidc-provider, through the C ABI: full flow, wrong state, denial, cancel, timeout, port in
//! use, pasted redirect URL, public and Basic-auth clients, localhost on both stacks.

mod common;

use common::capi::{init, Acc};
use common::{http_get, sandbox};
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn full_code_flow_stores_tokens_and_calls_the_token_callback() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    let acc = Acc::new(&sb.config(
        "confidential-app",
        json!({"open_browser": true, "browser_command": sb.browser_command(&["--login", "alice@example.test"])}),
    ))
    .unwrap();
    let before = sb.token_requests("authorization_code");
    let started = acc.start("").unwrap();
    assert_eq!(started["browser_opened"], true, "{started}");
    let url = started["authorization_url"].as_str().unwrap();
    assert!(
        url.contains("code_challenge_method=S256") && url.contains("state="),
        "{url}"
    );
    let redirect = started["redirect_uri"].as_str().unwrap();
    assert!(
        redirect.starts_with("http://127.0.0.1:") && redirect.ends_with('/'),
        "{redirect}"
    );
    acc.wait_done(60).unwrap();
    assert_eq!(sb.token_requests("authorization_code"), before + 1);

    // the token callback ran on this thread, inside the wait, with the new set
    let changes = acc.changes.lock().unwrap().clone();
    assert_eq!(changes.len(), 1, "{changes:?}");
    let set: serde_json::Value = serde_json::from_str(&changes[0]).unwrap();
    assert_eq!(set["version"], 1);
    assert!(
        set["refresh_token"].as_str().is_some_and(|s| !s.is_empty()),
        "{set}"
    );
    assert!(set["scope"].as_str().unwrap().contains("mail"), "{set}");

    // the access token is served from the cache: no token request
    let n = sb.stats()["token_requests_total"].as_u64().unwrap();
    let (tok, exp) = acc.token(0).unwrap();
    assert_eq!(Some(tok.as_str()), set["access_token"].as_str());
    assert!(exp > oauthmail::tokens::token_set::now_unix() + 3000);
    assert_eq!(sb.stats()["token_requests_total"].as_u64().unwrap(), n);

    // the listener is closed afterwards
    let port = url::Url::parse(redirect).unwrap().port().unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    // waiting again gives the same outcome
    acc.wait(0).unwrap();
}

#[test]
fn wrong_state_is_rejected_and_the_flow_goes_on_unrelated_requests_ignored() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    let acc = Acc::new(&sb.config("confidential-app", json!({}))).unwrap();
    let started = acc.start(r#"{"open_browser": false}"#).unwrap();
    let url = started["authorization_url"].as_str().unwrap();
    let out = sb.browse(&["--stop-at-redirect", url]);
    let redirect = out["redirect_url"].as_str().unwrap().to_string();
    assert!(redirect.contains("code="), "{redirect}");

    let base = started["redirect_uri"].as_str().unwrap();
    let (status, _) = http_get(&format!("{base}favicon.ico"));
    assert_eq!(status, 404);
    let (status, _) = http_get(base); // no code, no error: not an authorization response
    assert_eq!(status, 404);
    let forged = redirect.replace("state=", "state=forged");
    let (status, body) = http_get(&forged);
    assert_eq!(status, 400);
    assert!(body.contains("state"), "{body}");
    let no_state = format!("{base}?code=abc");
    assert_eq!(http_get(&no_state).0, 400);
    assert_eq!(
        acc.wait(0).unwrap_err().0,
        5,
        "still pending after rejected redirects"
    );

    let (status, body) = http_get(&redirect);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Authorization complete"), "{body}");
    acc.wait(5000).unwrap();
    assert!(acc.token(0).is_ok());
}

/// Browsers open speculative connections and leave them idle: the listener reads connections
/// concurrently, so idle ones do not delay the real redirect (each used to cost 10 s).
#[test]
fn idle_connections_do_not_delay_the_redirect() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    let acc = Acc::new(&sb.config("confidential-app", json!({}))).unwrap();
    let started = acc.start(r#"{"open_browser": false}"#).unwrap();
    let url = started["authorization_url"].as_str().unwrap();
    let out = sb.browse(&["--stop-at-redirect", url]);
    let redirect = out["redirect_url"].as_str().unwrap().to_string();
    let port = url::Url::parse(&redirect).unwrap().port().unwrap();
    let idle: Vec<std::net::TcpStream> = (0..4)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let t = std::time::Instant::now();
    let (status, body) = http_get(&redirect);
    assert_eq!(status, 200, "{body}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "the redirect waited {:?} behind idle connections",
        t.elapsed()
    );
    acc.wait(5000).unwrap();
    drop(idle);
}

#[test]
fn user_denial_gives_access_denied_with_the_provider_text_in_french() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    let acc = Acc::new(&sb.config("confidential-app", json!({"language": "fr"}))).unwrap();
    let started = acc.start("{}").unwrap();
    let out = sb.browse(&["--deny", started["authorization_url"].as_str().unwrap()]);
    assert_eq!(out["status"], 200);
    let body = out["body"].as_str().unwrap();
    assert!(
        body.contains("Échec de l&#39;autorisation") && body.contains("access_denied"),
        "{body}"
    );
    let (status, msg) = acc.wait_done(30).unwrap_err();
    assert_eq!(
        status,
        oauthmail::ffi::status::OM_STATUS_ACCESS_DENIED,
        "{msg}"
    );
    assert!(
        msg.contains("refusé") && msg.contains("access_denied"),
        "{msg}"
    );
    assert_eq!(
        acc.token(0).unwrap_err().0,
        oauthmail::ffi::status::OM_STATUS_AUTHORIZATION_REQUIRED
    );
}

#[test]
fn cancel_from_another_thread_ends_the_wait_and_closes_the_port() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    let acc = std::sync::Arc::new(Acc::new(&sb.config("confidential-app", json!({}))).unwrap());
    let started = acc.start("").unwrap();
    let port = url::Url::parse(started["redirect_uri"].as_str().unwrap())
        .unwrap()
        .port()
        .unwrap();
    let a2 = acc.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        a2.cancel_authorization();
    });
    let t0 = Instant::now();
    let (status, _) = acc.wait(20_000).unwrap_err();
    assert_eq!(status, oauthmail::ffi::status::OM_STATUS_CANCELLED);
    assert!(t0.elapsed() < Duration::from_secs(5));
    t.join().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "listener still open"
    );
}

#[test]
fn authorization_deadline_gives_timeout_and_short_waits_give_pending() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    let acc =
        Acc::new(&sb.config("confidential-app", json!({"authorize_timeout_secs": 1}))).unwrap();
    acc.start("").unwrap();
    assert_eq!(
        acc.wait(50).unwrap_err().0,
        oauthmail::ffi::status::OM_STATUS_PENDING
    );
    let (status, msg) = acc.wait(10_000).unwrap_err();
    assert_eq!(status, oauthmail::ffi::status::OM_STATUS_TIMEOUT, "{msg}");
    assert!(msg.contains("1 s"), "{msg}");
}

#[test]
fn busy_redirect_port_is_named() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = blocker.local_addr().unwrap().port();
    let acc = Acc::new(&sb.config(
        "confidential-app",
        json!({"redirect_uri": format!("http://127.0.0.1:{port}/")}),
    ))
    .unwrap();
    let (status, msg) = acc.start("").unwrap_err();
    assert_eq!(status, oauthmail::ffi::status::OM_STATUS_PORT_IN_USE);
    assert!(msg.contains(&port.to_string()), "{msg}");
    let findings = acc.check_registration();
    assert!(
        findings
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "redirect_port_busy"),
        "{findings}"
    );
}

#[test]
fn pasted_redirect_url_completes_the_flow_with_state_checked() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    let acc = Acc::new(&sb.config("confidential-app", json!({}))).unwrap();
    let started = acc.start(r#"{"listen": false}"#).unwrap();
    assert_eq!(started["listening"], false);
    let out = sb.browse(&[
        "--stop-at-redirect",
        started["authorization_url"].as_str().unwrap(),
    ]);
    let redirect = out["redirect_url"].as_str().unwrap();
    let (status, _) = acc
        .complete(&redirect.replace("state=", "state=x"))
        .unwrap_err();
    assert_eq!(status, oauthmail::ffi::status::OM_STATUS_STATE_MISMATCH);
    assert_eq!(
        acc.complete("not a url").unwrap_err().0,
        oauthmail::ffi::status::OM_STATUS_INVALID_ARGUMENT
    );
    acc.complete(redirect).unwrap();
    acc.wait(0).unwrap();
    assert!(acc.token(0).is_ok());
    assert_eq!(
        acc.complete(redirect).unwrap_err().0,
        oauthmail::ffi::status::OM_STATUS_WRONG_STATE
    );
}

#[test]
fn public_client_with_pkce_only_and_basic_auth_client_both_work() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    for client in ["public-app", "basic-app"] {
        let acc = Acc::new(&sb.config(client, json!({}))).unwrap();
        let started = acc.start("").unwrap();
        let out = sb.browse(&[started["authorization_url"].as_str().unwrap()]);
        assert_eq!(out["status"], 200, "{client}: {out}");
        acc.wait_done(30)
            .unwrap_or_else(|e| panic!("{client}: {e:?}"));
        let last = &sb.stats()["last_token_request"];
        let expected = if client == "public-app" {
            "none"
        } else {
            "basic"
        };
        assert_eq!(last["auth"], expected, "{client}: {last}");
    }
}

#[test]
fn localhost_redirect_listens_on_both_loopback_addresses_only() {
    let _serial = common::serial();
    init();
    let sb = sandbox();
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let acc = Acc::new(&sb.config(
        "confidential-app",
        json!({"redirect_uri": format!("http://localhost:{port}/")}),
    ))
    .unwrap();
    let started = acc.start("").unwrap();
    assert_eq!(
        started["redirect_uri"],
        format!("http://localhost:{port}/"),
        "sent exactly as configured"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        assert!(
            std::net::TcpStream::connect(("::1", port)).is_ok(),
            "::1 not listened on"
        );
    }
    // the scripted browser resolves localhost itself and completes the flow
    let out = sb.browse(&[started["authorization_url"].as_str().unwrap()]);
    assert_eq!(out["status"], 200, "{out}");
    acc.wait_done(30).unwrap();
}
