//! Every connection through a company's proxy, against real proxies on loopback: tinyproxy
//! (HTTP CONNECT with Basic authentication) and Dante (SOCKS5 with user/password). The
//! authorization's token exchange, a fetch over IMAPS and POP3S, and a send over submission
//! with STARTTLS all go through the proxy (its log shows each CONNECT); wrong or missing proxy
//! credentials, a CONNECT the proxy refuses, and a proxy that is down give clear statuses; the
//! proxy's password never shows in the effective configuration.

mod common;

use common::capi::{init, last_error, last_hint, Acc};
use common::mail::mail_sandbox;
use common::proxy::{dante, tinyproxy, PASSWORD, USER};
use common::sink::sunk_with_id;
use common::{authorized_as, sandbox, serial};
use oauthmail::ffi::send::om_send;
use oauthmail::ffi::status::*;
use serde_json::{json, Value};
use std::ffi::CString;
use std::ptr::null_mut;

fn mail_config(user: &str, proxy: &str, incoming: &str) -> Value {
    let m = mail_sandbox();
    let (protocol, port) = match incoming {
        "pop3" => ("pop3", m.port("pop3s_port")),
        _ => ("imap", m.port("imaps_port")),
    };
    json!({
        "email": user,
        "proxy": proxy,
        "incoming": {"protocol": protocol, "host": "127.0.0.1", "port": port, "security": "tls"},
        "outgoing": {"host": "127.0.0.1", "port": m.port("submission_port"), "security": "starttls"},
    })
}

fn send(acc: &Acc, id: &str) -> Result<(), (i32, String)> {
    let msg = CString::new(
        json!({"from": "p@example.test", "to": "client@example.test", "subject": "Par le proxy",
               "text": "ok", "message_id": id})
        .to_string(),
    )
    .unwrap();
    let st = unsafe { om_send(acc.h, msg.as_ptr(), std::ptr::null(), null_mut()) };
    if st == 0 {
        Ok(())
    } else {
        Err((st, last_error()))
    }
}

fn oauth_port() -> u16 {
    url::Url::parse(&sandbox().url("issuer"))
        .unwrap()
        .port()
        .unwrap()
}

/// An account with `proxy` using the tokens of `tokens` (no second authorization).
fn with_tokens(tokens: &Acc, user: &str, proxy: &str) -> Acc {
    let acc =
        Acc::new(&sandbox().config("confidential-app", mail_config(user, proxy, "imap"))).unwrap();
    acc.import(&tokens.export()).unwrap();
    acc
}

#[test]
fn http_connect_carries_the_authorization_fetch_and_send() {
    let _s = serial();
    init();
    let p = tinyproxy(true, None);
    let url = format!("http://{USER}:{PASSWORD}@127.0.0.1:{}", p.port);
    let user = "proxy-http@example.test";
    let m = mail_sandbox();
    m.seed(user, 3, "INBOX", &[]);
    let acc = authorized_as("confidential-app", user, mail_config(user, &url, "imap"));
    let (_, got) = acc.fetch("{}");
    assert_eq!(got.len(), 3);
    send(&acc, "<proxy-http-1@example.test>").unwrap();
    assert_eq!(sunk_with_id("<proxy-http-1@example.test>", 1).len(), 1);
    let log = p.log();
    for (what, port) in [
        ("the token exchange", oauth_port()),
        ("IMAPS", m.port("imaps_port")),
        ("submission", m.port("submission_port")),
    ] {
        assert!(
            log.contains(&format!("CONNECT 127.0.0.1:{port} ")),
            "{what} did not go through the proxy:\n{log}"
        );
    }
    // the effective configuration hides the proxy's password
    let shown = acc.config_json()["proxy"].as_str().unwrap().to_string();
    assert_eq!(shown, format!("http://{USER}:***@127.0.0.1:{}", p.port));

    // a proxy that is down: a network error naming it
    let down = with_tokens(&acc, user, "http://127.0.0.1:9");
    let (r, _) = down.fetch_with("{}", &mut |_| 0);
    let e = r.unwrap_err();
    assert_eq!(e.0, OM_STATUS_NETWORK_ERROR, "{}", e.1);
    assert!(e.1.contains("HTTP proxy 127.0.0.1:9"), "{}", e.1);
}

#[test]
fn http_proxy_refusals_have_clear_statuses() {
    let _s = serial();
    init();
    let user = "proxy-refused@example.test";
    let m = mail_sandbox();
    m.seed(user, 1, "INBOX", &[]);
    let direct = authorized_as("confidential-app", user, mail_config(user, "none", "imap"));
    let p = tinyproxy(true, None);

    for (proxy, hint) in [
        (
            format!("http://{USER}:wrong@127.0.0.1:{}", p.port),
            "refused the user name or password",
        ),
        (
            format!("http://127.0.0.1:{}", p.port),
            "asks for a user name and password",
        ),
    ] {
        let acc = with_tokens(&direct, user, &proxy);
        let (r, got) = acc.fetch_with("{}", &mut |_| 0);
        let e = r.unwrap_err();
        assert!(got.is_empty());
        assert_eq!(e.0, OM_STATUS_ACCESS_DENIED, "{}", e.1);
        assert!(e.1.contains("authentication"), "{}", e.1);
        assert!(last_hint().contains(hint), "{}", last_hint());
        assert!(
            !e.1.contains("wrong") && !last_hint().contains("wrong"),
            "no password shown"
        );
        assert_eq!(
            send(&acc, "<never@example.test>").unwrap_err().0,
            OM_STATUS_ACCESS_DENIED
        );
    }
    // CONNECT only to 443: the mail ports are refused
    let strict = tinyproxy(false, Some(&[443]));
    let acc = with_tokens(&direct, user, &format!("http://127.0.0.1:{}", strict.port));
    let (r, _) = acc.fetch_with("{}", &mut |_| 0);
    let e = r.unwrap_err();
    assert_eq!(e.0, OM_STATUS_ACCESS_DENIED, "{}", e.1);
    assert!(e.1.contains("not allowed"), "{}", e.1);
    assert!(last_hint().contains("993"), "{}", last_hint());
    // the same account direct works: the proxy was the only difference
    let (_, got) = direct.fetch("{}");
    assert_eq!(got.len(), 1);
}

#[test]
fn socks5_carries_the_authorization_fetch_and_send() {
    let _s = serial();
    init();
    let p = dante(true);
    let url = format!("socks5://{USER}:{PASSWORD}@127.0.0.1:{}", p.port);
    let user = "proxy-socks@example.test";
    let m = mail_sandbox();
    m.seed(user, 2, "INBOX", &[]);
    let acc = authorized_as("confidential-app", user, mail_config(user, &url, "pop3"));
    let (_, got) = acc.fetch("{}");
    assert_eq!(got.len(), 2);
    send(&acc, "<proxy-socks-1@example.test>").unwrap();
    assert_eq!(sunk_with_id("<proxy-socks-1@example.test>", 1).len(), 1);
    let log = p.log();
    for port in [
        oauth_port(),
        m.port("pop3s_port"),
        m.port("submission_port"),
    ] {
        assert!(
            log.contains(&format!("127.0.0.1.{port}")),
            "no SOCKS connection to port {port} in Dante's log:\n{log}"
        );
    }
    // wrong password
    let bad = Acc::new(&sandbox().config(
        "confidential-app",
        mail_config(
            user,
            &format!("socks5://{USER}:wrong@127.0.0.1:{}", p.port),
            "pop3",
        ),
    ))
    .unwrap();
    bad.import(&acc.export()).unwrap();
    let (r, _) = bad.fetch_with("{}", &mut |_| 0);
    let e = r.unwrap_err();
    assert_eq!(e.0, OM_STATUS_ACCESS_DENIED, "{}", e.1);
    assert!(e.1.contains("SOCKS5 proxy"), "{}", e.1);
    // a SOCKS5 proxy without authentication
    let open = dante(false);
    let anon = with_tokens(&acc, user, &format!("socks5://127.0.0.1:{}", open.port));
    m.seed(user, 1, "INBOX", &[]);
    let (_, got) = anon.fetch("{}");
    assert!(!got.is_empty());
}
