//! The Gmail API as the transport, through the same C functions, against the Gmail API
//! emulator (tests/sandbox/gmail: written from Google's documentation; no Google service is
//! reachable from here) whose tokens are checked at the real sandbox OAuth2 server, and whose
//! sent mail is relayed to the mail sandbox's SMTP sink. Cuts, rate limits and an expired
//! historyId are the emulator's fault injection.

mod common;

use common::capi::{init, last_error, last_hint, Acc, Got};
use common::gmail::gmail_emulator;
use common::sink::{rcpt_to, sunk_with_id};
use common::{authorized_as, sandbox, serial};
use oauthmail::ffi::fetch::{OM_FETCH_CONTINUE, OM_FETCH_STOP};
use oauthmail::ffi::status::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::ffi::CStr;
use std::ptr::{null, null_mut};

fn merge(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

fn api_settings() -> Value {
    let g = gmail_emulator();
    json!({
        "gmail_api_url": g.base_url(),
        "gmail_upload_url": g.upload_url(),
        "incoming": {"protocol": "gmail_api"},
        "outgoing": {"protocol": "gmail_api"},
    })
}

/// A user of the sandbox authorized for `mail` (Google's https://mail.google.com/), reading and
/// sending through the Gmail API.
fn gmail_account(user: &str, extra: Value) -> Acc {
    let base = merge(
        api_settings(),
        json!({"email": user, "scopes": "openid offline_access email mail"}),
    );
    authorized_as("confidential-app", user, merge(base, extra))
}

fn message(tag: &str, i: usize, to: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.test>\r\nTo: {to}\r\nSubject: {tag} {i}\r\nMessage-ID: <{tag}-{i}@example.test>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\nMessage {i} of {tag}.\r\n"
    )
    .into_bytes()
}

fn seed(user: &str, tag: &str, range: std::ops::Range<usize>) -> Vec<String> {
    let msgs: Vec<Vec<u8>> = range.map(|i| message(tag, i, user)).collect();
    let mut ids = Vec::new();
    for chunk in msgs.chunks(250) {
        ids.extend(gmail_emulator().seed(user, &["INBOX", "UNREAD"], chunk));
    }
    ids
}

fn message_id(g: &Got) -> String {
    g.header("Message-ID").unwrap_or_default()
}

fn send_raw(acc: &Acc, raw: &[u8]) -> Result<Value, (i32, String)> {
    let mut out = null_mut();
    let st = unsafe {
        oauthmail::ffi::send::om_send_raw(acc.h, raw.as_ptr(), raw.len(), null(), &mut out)
    };
    if st != 0 {
        return Err((st, last_error()));
    }
    let v = serde_json::from_str(&unsafe { CStr::from_ptr(out) }.to_string_lossy()).unwrap();
    unsafe { oauthmail::ffi::library::om_string_free(out) };
    Ok(v)
}

#[test]
fn a_thousand_messages_across_calls_cuts_and_stops_none_lost_none_twice() {
    let _s = serial();
    init();
    let g = gmail_emulator();
    g.reset();
    let user = "gmail-thousand@example.test";
    seed(user, "gt", 0..1000);
    let acc = gmail_account(user, json!({"timeout_secs": 30}));
    let mut accepted: BTreeMap<String, u32> = BTreeMap::new();
    let mut seen = 0usize;
    let mut calls = 0;
    let mut late = false;
    loop {
        calls += 1;
        assert!(calls < 80, "the fetch does not converge");
        let when = ["before", "mid_body", "after_headers"][calls % 3];
        g.inject("cut", &format!("count=2&when={when}"));
        let (r, got) = acc.fetch_with(r#"{"max_messages": 140, "batch_size": 50}"#, &mut |_m| {
            seen += 1;
            if seen.is_multiple_of(89) {
                return OM_FETCH_STOP;
            }
            OM_FETCH_CONTINUE
        });
        for (i, m) in got.iter().enumerate() {
            let stopped_here = r
                .as_ref()
                .is_ok_and(|s| s["stopped_by_callback"] == json!(true))
                && i == got.len() - 1;
            if !stopped_here {
                *accepted.entry(message_id(m)).or_default() += 1;
            }
        }
        match &r {
            Ok(s) => {
                if s["delivered"] == json!(0) && s["stopped_by_callback"] == json!(false) {
                    break;
                }
            }
            Err((st, e)) => assert_eq!(*st, OM_STATUS_NETWORK_ERROR, "{e}"),
        }
        if accepted.len() > 300 && !late {
            seed(user, "gl", 0..15); // new mail during the first listing: read from history
            late = true;
        }
    }
    let twice: Vec<_> = accepted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "accepted twice: {twice:?}");
    assert_eq!(accepted.len(), 1015, "every message accepted once");
    // later mail comes from history, and only it
    seed(user, "gn", 0..3);
    let (_, got) = acc.fetch("{}");
    let ids: Vec<String> = got.iter().map(message_id).collect();
    assert_eq!(
        ids,
        [
            "<gn-0@example.test>",
            "<gn-1@example.test>",
            "<gn-2@example.test>"
        ]
    );
    assert!(got
        .iter()
        .all(|m| m.uid == 0 && m.uidl.len() == 16 && !m.resync));
    let state: Value = serde_json::from_str(&acc.sync_state()).unwrap();
    let s = &state["gmail"][format!("{user}/INBOX")];
    assert!(
        s["history_id"].is_string() && s.get("done").is_none(),
        "{state}"
    );
    assert!(g.stats()["cut"].as_u64().unwrap() > 0);
}

#[test]
fn an_expired_history_id_lists_again_and_flags_resync() {
    let _s = serial();
    init();
    let g = gmail_emulator();
    g.reset();
    let user = "gmail-resync@example.test";
    seed(user, "gr", 0..4);
    let acc = gmail_account(user, json!({}));
    assert_eq!(acc.fetch("{}").1.len(), 4);
    // two arrive, then the history before them is gone (Gmail keeps it about a week)
    seed(user, "gr", 4..6);
    g.inject("expire-history", &format!("user={user}"));
    let (s, got) = acc.fetch("{}");
    assert_eq!(s["uidvalidity_changed"], json!(true), "{s}");
    assert_eq!(got.len(), 6, "the label listed again: {s}");
    assert!(
        got.iter().all(|m| m.resync),
        "flagged: the host may have them"
    );
    assert!(acc.fetch("{}").1.is_empty());
}

#[test]
fn rate_limits_are_waited_out_and_each_message_delivered_once() {
    let _s = serial();
    init();
    let g = gmail_emulator();
    g.reset();
    let user = "gmail-rate@example.test";
    seed(user, "rl", 0..20);
    let acc = gmail_account(user, json!({}));
    acc.token(0).unwrap();
    g.inject("throttle", "count=3&status=429&reason=rateLimitExceeded");
    g.inject(
        "throttle",
        "count=2&status=403&reason=userRateLimitExceeded",
    );
    let (_, got) = acc.fetch("{}");
    let mut ids: Vec<String> = got.iter().map(message_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);
    let st = g.stats();
    assert!(st["throttled"].as_u64().unwrap() >= 2, "{st}");
    let max = st["max_concurrency"][user].as_u64().unwrap_or(0);
    assert!(max <= 4, "at most 4 requests at once per user: {st}");
}

#[test]
fn after_delivery_steps_and_labels_as_folders() {
    let _s = serial();
    init();
    let g = gmail_emulator();
    g.reset();
    let user = "gmail-actions@example.test";
    seed(user, "ga", 0..5);
    let acc = gmail_account(user, json!({}));
    let (_, got) =
        acc.fetch(r#"{"mark_seen": true, "after_delivery": "move", "move_to": "Clients/Société"}"#);
    assert_eq!(got.len(), 5);
    assert!(g.list(user, "INBOX").is_empty(), "moved out of the inbox");
    let moved = g.list(user, "Clients/Société");
    assert_eq!(moved.len(), 5);
    assert!(moved
        .iter()
        .all(|m| !m["labelIds"].to_string().contains("UNREAD")));
    let names: Vec<String> = acc
        .folders()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.contains(&"INBOX".to_string()) && names.contains(&"Clients/Société".to_string()),
        "{names:?}"
    );
    // the moved mail, read from its label: already delivered to this label's state? no: another
    // label is another folder, as in IMAP
    let (_, got) = acc.fetch(r#"{"folder": "clients/société"}"#);
    assert_eq!(got.len(), 5);
    // delete = trash
    seed(user, "gd", 0..2);
    let (_, got) = acc.fetch(r#"{"after_delivery": "delete"}"#);
    assert_eq!(got.len(), 2);
    assert_eq!(g.list(user, "TRASH").len(), 2);
    let e = acc
        .fetch_with(r#"{"folder": "Nobody"}"#, &mut |_| 0)
        .0
        .unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "{}", e.1);
}

#[test]
fn sending_small_and_large_messages_once_copy_kept_by_gmail() {
    let _s = serial();
    init();
    let g = gmail_emulator();
    g.reset();
    let user = "gmail-send@example.test";
    let acc = gmail_account(user, json!({"options": {"copy_to_self": true}}));
    let raw = b"From: gmail-send@example.test\r\nTo: customer@example.test\r\nSubject: Devis\r\nMessage-ID: <gms-small@example.test>\r\n\r\nBonjour.\r\n";
    let r = send_raw(&acc, raw).unwrap();
    assert_eq!(r["saved_to"], json!("SENT"), "{r}");
    let sunk = sunk_with_id("<gms-small@example.test>", 1);
    assert_eq!(sunk.len(), 1);
    assert_eq!(sunk[0].eml, raw.to_vec(), "byte-exact at the sink");
    assert_eq!(
        rcpt_to(&sunk[0]),
        vec!["customer@example.test", "gmail-send@example.test"]
    );
    // 8 MB: a media upload
    let body: String = (0..120_000)
        .map(|i| format!("line {i} of a long quote.\r\n"))
        .collect();
    let big = format!("From: gmail-send@example.test\r\nTo: customer@example.test\r\nSubject: big\r\nMessage-ID: <gms-big@example.test>\r\n\r\n{body}");
    let r = send_raw(&acc, big.as_bytes()).unwrap();
    assert!(
        r["reply_text"].as_str().unwrap().contains("media upload"),
        "{r}"
    );
    let sunk = sunk_with_id("<gms-big@example.test>", 1);
    assert_eq!(sunk.len(), 1);
    assert_eq!(sunk[0].eml, big.as_bytes(), "byte-exact");
    assert_eq!(g.list(user, "SENT").len(), 2, "Gmail keeps the sent copies");
    // a lost answer: DELIVERY_UNKNOWN, one copy only
    g.inject("cut", "count=1&when=before&send=1");
    let raw = b"From: gmail-send@example.test\r\nTo: customer@example.test\r\nSubject: lost\r\nMessage-ID: <gms-lost@example.test>\r\n\r\nx\r\n";
    let (st, e) = send_raw(&acc, raw).unwrap_err();
    assert_eq!(st, OM_STATUS_DELIVERY_UNKNOWN, "{e}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(sunk_with_id("<gms-lost@example.test>", 2).len(), 1);
}

#[test]
fn a_read_only_authorization_cannot_send_and_says_why() {
    let _s = serial();
    init();
    let user = "gmail-readonly@example.test";
    let acc = gmail_account(
        user,
        json!({"scopes": "openid offline_access email https://www.googleapis.com/auth/gmail.readonly"}),
    );
    let raw = b"From: gmail-readonly@example.test\r\nTo: c@example.test\r\nSubject: x\r\nMessage-ID: <gro@example.test>\r\n\r\nx\r\n";
    let (st, e) = send_raw(&acc, raw).unwrap_err();
    assert_eq!(st, OM_STATUS_ACCESS_DENIED, "{e}");
    assert!(
        e.contains("insufficientPermissions"),
        "Google's reason kept: {e}"
    );
    assert!(last_hint().contains("gmail.send"), "{}", last_hint());
}

#[test]
fn a_service_account_reads_and_sends_through_the_gmail_api() {
    let _s = serial();
    init();
    let g = gmail_emulator();
    g.reset();
    let sb = sandbox();
    let user = "gmail-sa@example.test";
    seed(user, "gs", 0..3);
    let cfg = sb.config(
        "confidential-app",
        merge(
            api_settings(),
            json!({
                "flow": "service_account",
                "service_account_key_file": sb.info["service_account_key_file"],
                "client_id": null, "client_secret": null, "authorize_url": null,
                "device_authorization_url": null, "revocation_url": null,
                "scopes": "mail",
                "email": user,
            }),
        ),
    );
    let acc = Acc::new(&cfg).unwrap();
    assert_eq!(acc.fetch("{}").1.len(), 3);
    let raw = b"From: gmail-sa@example.test\r\nTo: c@example.test\r\nSubject: sa\r\nMessage-ID: <gsa@example.test>\r\n\r\nx\r\n";
    send_raw(&acc, raw).unwrap();
    assert_eq!(sunk_with_id("<gsa@example.test>", 1).len(), 1);
    // the settings check through the API
    let mut out = null_mut();
    let st = unsafe { oauthmail::ffi::fetch::om_servers_check(acc.h, 0, &mut out) };
    assert_eq!(st, 0);
    let v: Value = serde_json::from_str(&unsafe { CStr::from_ptr(out) }.to_string_lossy()).unwrap();
    unsafe { oauthmail::ffi::library::om_string_free(out) };
    for r in v.as_array().unwrap() {
        assert_eq!(r["protocol"], json!("gmail_api"), "{r}");
        assert_eq!(r["authenticated"], json!(true), "{r}");
    }
}
