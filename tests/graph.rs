//! Microsoft Graph as the transport, through the same C functions as IMAP/POP3/SMTP, against
//! the Graph emulator (tests/sandbox/graph: written from Microsoft's documentation; no Graph
//! service is reachable from here) whose tokens are checked at the real sandbox OAuth2 server,
//! and whose sent mail is relayed to the mail sandbox's SMTP sink. Connection cuts, throttling
//! and expired delta links are the emulator's fault injection (what no real server produces
//! on demand).

mod common;

use common::capi::{init, last_hint, Acc, Got};
use common::graph::{graph_emulator, GRAPH_READ_WRITE, GRAPH_SEND};
use common::mail::mail_sandbox;
use common::sink::{rcpt_to, sunk_with_id};
use common::{authorized_as, sandbox, serial};
use oauthmail::ffi::fetch::{OM_FETCH_CONTINUE, OM_FETCH_STOP};
use oauthmail::ffi::status::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

fn merge(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

/// A delegated account of `user` reading and sending through Graph (the scripted browser
/// authorizes it at the sandbox OAuth2 server).
fn graph_account(user: &str, extra: Value) -> Acc {
    let g = graph_emulator();
    let base = json!({
        "email": user,
        "graph_url": g.base_url(),
        "scopes": format!("openid offline_access email {GRAPH_READ_WRITE} {GRAPH_SEND}"),
        "incoming": {"protocol": "graph"},
        "outgoing": {"protocol": "graph"},
    });
    authorized_as("confidential-app", user, merge(base, extra))
}

fn message(tag: &str, i: usize, to: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.test>\r\nTo: {to}\r\nSubject: {tag} {i}\r\nMessage-ID: <{tag}-{i}@example.test>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMessage {i} of {tag}: caf\u{e9}.\r\n"
    )
    .into_bytes()
}

fn seed(user: &str, folder: &str, tag: &str, range: std::ops::Range<usize>) -> Vec<String> {
    let msgs: Vec<Vec<u8>> = range.map(|i| message(tag, i, user)).collect();
    let mut ids = Vec::new();
    for chunk in msgs.chunks(250) {
        ids.extend(graph_emulator().seed(user, folder, chunk));
    }
    ids
}

fn message_id(g: &Got) -> String {
    g.header("Message-ID").unwrap_or_default()
}

/// Runs `f` on another thread (the callback thread is inside the library's runtime).
fn on_the_side<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().unwrap()
}

#[test]
fn a_thousand_messages_fetched_across_calls_cuts_and_stops_none_lost_none_twice() {
    let _s = serial();
    init();
    let g = graph_emulator();
    let user = "graph-thousand@example.test";
    seed(user, "inbox", "th", 0..1000);
    let acc = graph_account(user, json!({"timeout_secs": 30}));
    let mut accepted: BTreeMap<String, u32> = BTreeMap::new();
    let mut calls = 0;
    let mut cut_faults = 0;
    let mut seeded_more = false;
    let mut seen = 0usize;
    loop {
        calls += 1;
        assert!(calls < 80, "the fetch does not converge: {accepted:?}");
        // a cut now and then: before an answer, after its headers, in the middle of a MIME
        let when = ["before", "mid_body", "after_headers"][calls % 3];
        g.inject("cut", &format!("count=2&when={when}"));
        let (r, got) = acc.fetch_with(
            r#"{"max_messages": 130, "batch_size": 40}"#,
            &mut |_m: &Got| {
                seen += 1;
                if seen.is_multiple_of(97) {
                    return OM_FETCH_STOP; // not accepted: must come again
                }
                OM_FETCH_CONTINUE
            },
        );
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
                cut_faults += s["reconnects"].as_u64().unwrap_or(0);
                if s["delivered"] == json!(0) && s["stopped_by_callback"] == json!(false) {
                    break;
                }
            }
            Err((st, e)) => assert_eq!(*st, OM_STATUS_NETWORK_ERROR, "{e}"),
        }
        if accepted.len() > 400 && !seeded_more {
            seed(user, "inbox", "late", 0..20); // new mail while the first sync is under way
            seeded_more = true;
        }
    }
    let twice: Vec<_> = accepted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "accepted twice: {twice:?}");
    assert_eq!(accepted.len(), 1020, "every message accepted once");
    for i in [0, 499, 999] {
        assert!(accepted.contains_key(&format!("<th-{i}@example.test>")));
    }
    assert!(accepted.contains_key("<late-19@example.test>"));
    let st = g.stats();
    assert!(st["cut"].as_u64().unwrap() > 0, "{st}");
    eprintln!("{calls} calls, {cut_faults} reconnects, stats {st}");
    // the state names where the sync stands, not the messages' contents
    let state: Value = serde_json::from_str(&acc.sync_state()).unwrap();
    let key = format!("{user}/INBOX");
    assert!(
        state["graph"][&key]["link"]
            .as_str()
            .unwrap()
            .contains("deltatoken"),
        "{state}"
    );
}

#[test]
fn changed_messages_are_not_new_and_after_delivery_steps_survive_a_cut() {
    let _s = serial();
    init();
    let g = graph_emulator();
    g.reset();
    let user = "graph-actions@example.test";
    seed(user, "inbox", "ac", 0..6);
    let acc = graph_account(user, json!({}));
    // mark read: each message changes, and comes back in the delta as an update
    let (s, got) = acc.fetch(r#"{"mark_seen": true}"#);
    assert_eq!(got.len(), 6, "{s}");
    assert!(got.iter().all(|m| m.uidl.len() > 20 && m.uid == 0));
    assert!(g
        .list(user, "inbox")
        .iter()
        .all(|m| m["isRead"] == json!(true)));
    let (s, got) = acc.fetch("{}");
    assert_eq!(got.len(), 0, "read messages are not new: {s}");

    // move to a folder that does not exist yet; the connection dies after the last message
    // is accepted, so the moves stay pending and the next call does them
    seed(user, "inbox", "mv", 0..4);
    let mut n = 0;
    let (r, got) = acc.fetch_with(
        r#"{"after_delivery": "move", "move_to": "Archive/CRM"}"#,
        &mut |_m: &Got| {
            n += 1;
            if n == 4 {
                on_the_side(|| graph_emulator().inject("cut", "count=100&when=before"));
            }
            OM_FETCH_CONTINUE
        },
    );
    assert_eq!(got.len(), 4);
    let (st, e) = r.expect_err("every request after the 4th message is cut");
    assert_eq!(st, OM_STATUS_NETWORK_ERROR, "{e}");
    let state: Value = serde_json::from_str(&acc.sync_state()).unwrap();
    let key = format!("{user}/INBOX");
    let pending = &state["graph_pending"][&key];
    assert_eq!(pending[0]["ids"].as_array().unwrap().len(), 4, "{state}");
    g.reset();
    let (s, got) = acc.fetch(r#"{"after_delivery": "move", "move_to": "Archive/CRM"}"#);
    assert_eq!(got.len(), 0, "nothing delivered twice: {s}");
    let inbox = g.list(user, "inbox");
    assert!(
        !inbox.iter().any(|m| m["internetMessageId"]
            .as_str()
            .unwrap_or("")
            .starts_with("<mv-")),
        "{inbox:?}"
    );
    assert_eq!(g.list(user, "archive/CRM").len(), 4);
    let state: Value = serde_json::from_str(&acc.sync_state()).unwrap();
    assert!(state.get("graph_pending").is_none(), "{state}");

    // delete: Graph moves to Deleted Items
    seed(user, "inbox", "del", 0..2);
    let (_, got) = acc.fetch(r#"{"after_delivery": "delete"}"#);
    assert_eq!(got.len(), 2);
    assert_eq!(g.list(user, "inbox").len(), 6);
    assert!(g
        .list(user, "deleteditems")
        .iter()
        .any(|m| m["internetMessageId"] == json!("<del-1@example.test>")));
}

#[test]
fn an_expired_delta_link_restarts_the_sync_without_duplicates() {
    let _s = serial();
    init();
    let g = graph_emulator();
    g.reset();
    let user = "graph-resync@example.test";
    seed(user, "inbox", "rs", 0..5);
    let acc = graph_account(user, json!({}));
    let (_, got) = acc.fetch("{}");
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|m| !m.resync));
    g.inject("expire-delta", "");
    seed(user, "inbox", "rs", 5..8);
    let (s, got) = acc.fetch("{}");
    assert_eq!(s["uidvalidity_changed"], json!(true), "{s}");
    let ids: Vec<String> = got.iter().map(message_id).collect();
    assert_eq!(
        ids,
        vec![
            "<rs-5@example.test>",
            "<rs-6@example.test>",
            "<rs-7@example.test>"
        ],
        "only what was never delivered"
    );
    assert!(
        got.iter().all(|m| m.resync),
        "flagged: the sync started again"
    );
    let (_, got) = acc.fetch("{}");
    assert!(got.is_empty());
}

#[test]
fn a_throttling_storm_delays_but_delivers_each_message_once_within_four_requests() {
    let _s = serial();
    init();
    let g = graph_emulator();
    g.reset();
    let user = "graph-throttle@example.test";
    seed(user, "inbox", "tr", 0..40);
    let acc = graph_account(user, json!({}));
    acc.token(0).unwrap();
    g.inject("throttle", "count=12&status=429&retry_after=1");
    let t = Instant::now();
    let (s, got) = acc.fetch(r#"{"batch_size": 20}"#);
    let elapsed = t.elapsed();
    assert_eq!(got.len(), 40, "{s}");
    let mut ids: Vec<String> = got.iter().map(message_id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 40);
    let st = g.stats();
    assert!(st["throttled"].as_u64().unwrap() >= 12, "{st}");
    // each throttled request waited its Retry-After (1 s); at most 4 ran at once
    assert!(
        elapsed >= Duration::from_secs(3),
        "Retry-After ignored: {elapsed:?}"
    );
    let max = st["max_concurrency"][user].as_u64().unwrap_or(0);
    assert!((1..=4).contains(&max), "concurrency per mailbox: {st}");
    // the downloads run concurrently: with every answer held 1 s by the emulator, they overlap
    seed(user, "inbox", "cc", 0..12);
    g.reset();
    g.inject("delay", "count=14&ms=1000");
    let (_, got) = acc.fetch("{}");
    assert_eq!(got.len(), 12);
    let st = g.stats();
    let max = st["max_concurrency"][user].as_u64().unwrap_or(0);
    assert!(
        (2..=4).contains(&max),
        "concurrent downloads, never above 4: {st}"
    );
    assert_eq!(st["throttled"], json!(0), "the limit kept: no 429 {st}");
    // 503 and 504 too
    seed(user, "inbox", "tr", 40..43);
    g.reset();
    g.inject("throttle", "count=2&status=503&retry_after=1");
    let (_, got) = acc.fetch("{}");
    assert_eq!(got.len(), 3);
    g.inject("throttle", "count=1&status=504&retry_after=0");
    seed(user, "inbox", "tr", 43..44);
    assert_eq!(acc.fetch("{}").1.len(), 1);
}

#[test]
fn folders_are_listed_by_display_path_and_fetched_by_it() {
    let _s = serial();
    init();
    let user = "graph-folders@example.test";
    seed(user, "Clients/Société", "fo", 0..3);
    let acc = graph_account(user, json!({}));
    let folders = acc.folders().unwrap();
    let names: Vec<&str> = folders
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for want in ["Inbox", "Sent Items", "Clients", "Clients/Société"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    let (_, got) = acc.fetch(r#"{"folder": "clients/société"}"#);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].folder, "clients/société");
    // the same folder written otherwise: nothing new (Exchange's names ignore case)
    let (_, got) = acc.fetch(r#"{"folder": "CLIENTS/SOCIÉTÉ"}"#);
    assert!(got.is_empty(), "{got:?}");
    let e = acc
        .fetch_with(r#"{"folder": "Clients/Nobody"}"#, &mut |_| 0)
        .0
        .unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "as IMAP: {}", e.1);
    assert!(e.1.contains("Clients/Nobody"), "{}", e.1);
}

fn send_raw(acc: &Acc, raw: &[u8], options: Option<&str>) -> Result<Value, (i32, String)> {
    let o = options.map(|o| CString::new(o).unwrap());
    let mut out = null_mut();
    let st = unsafe {
        oauthmail::ffi::send::om_send_raw(
            acc.h,
            raw.as_ptr(),
            raw.len(),
            o.as_ref().map_or(null(), |o| o.as_ptr()),
            &mut out,
        )
    };
    if st != 0 {
        return Err((st, common::capi::last_error()));
    }
    let v = serde_json::from_str(&unsafe { CStr::from_ptr(out) }.to_string_lossy()).unwrap();
    unsafe { oauthmail::ffi::library::om_string_free(out) };
    Ok(v)
}

fn big_message(id: &str, to: &str, attachment: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(attachment);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: sender@example.test\r\nTo: {to}\r\nSubject: big quote\r\nMessage-ID: {id}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe quote is attached.\r\n--b1\r\nContent-Type: application/pdf; name=\"quote.pdf\"\r\nContent-Disposition: attachment; filename=\"quote.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

#[test]
fn sending_small_and_large_messages_reaches_the_sink_once() {
    let _s = serial();
    init();
    let g = graph_emulator();
    g.reset();
    let user = "graph-send@example.test";
    let acc = graph_account(user, json!({"options": {"copy_to_self": true}}));
    let raw = b"From: graph-send@example.test\r\nTo: customer@example.test\r\nSubject: Devis\r\nMessage-ID: <gs-small@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour, voici le devis.\r\n";
    let r = send_raw(&acc, raw, None).unwrap();
    assert_eq!(r["reply_code"], json!(202), "{r}");
    assert_eq!(r["saved_to"], json!("sentitems"), "{r}");
    let sunk = sunk_with_id("<gs-small@example.test>", 1);
    assert_eq!(sunk.len(), 1);
    assert_eq!(sunk[0].eml, raw.to_vec(), "byte-exact at the sink");
    assert_eq!(
        rcpt_to(&sunk[0]),
        vec!["customer@example.test", "graph-send@example.test"],
        "copy to self travels as Bcc, which Exchange strips"
    );
    assert!(g
        .list(user, "sentitems")
        .iter()
        .any(|m| m["internetMessageId"] == json!("<gs-small@example.test>")));

    // 6 MB: a draft, the attachment through an upload session, then send
    let pdf: Vec<u8> = (0..6_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let big = big_message("<gs-big@example.test>", "customer@example.test", &pdf);
    let r = send_raw(&acc, &big, Some(r#"{"copy_to_self": false}"#)).unwrap();
    assert!(r["reply_text"].as_str().unwrap().contains("draft"), "{r}");
    let sunk = sunk_with_id("<gs-big@example.test>", 1);
    assert_eq!(sunk.len(), 1);
    let parsed = mail_parser::MessageParser::default()
        .parse(&sunk[0].eml)
        .unwrap();
    let att = parsed.attachment(0).expect("the attachment arrived");
    assert_eq!(att.contents(), &pdf[..], "attachment bytes intact");
    let st = g.stats();
    assert!(
        st["by_route"].to_string().contains("createUploadSession"),
        "{st}"
    );
}

#[test]
fn imap_in_graph_out_share_one_token_set_with_a_token_per_resource() {
    let _s = serial();
    init();
    let g = graph_emulator();
    g.reset();
    let m = mail_sandbox();
    let user = "graph-mixed@example.test";
    m.seed(user, 2, "INBOX", &["--seed", "7"]);
    let acc = authorized_as(
        "confidential-app",
        user,
        json!({
            "email": user,
            "graph_url": g.base_url(),
            // consent for both resources; the main token is the mail servers'
            "scopes": format!("openid offline_access email mail {GRAPH_SEND}"),
            "graph_scopes": format!("{GRAPH_SEND}"),
            "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": m.port("imaps_port"), "security": "tls"},
            "outgoing": {"protocol": "graph"},
        }),
    );
    let (_, got) = acc.fetch("{}");
    assert_eq!(got.len(), 2, "IMAP with the main token");
    let raw = b"From: graph-mixed@example.test\r\nTo: customer@example.test\r\nSubject: mixed\r\nMessage-ID: <gm-1@example.test>\r\n\r\nhello\r\n";
    let r = send_raw(&acc, raw, None).unwrap();
    assert_eq!(r["reply_code"], json!(202), "{r}");
    assert_eq!(sunk_with_id("<gm-1@example.test>", 1).len(), 1);
    let set = acc.export();
    assert_eq!(set["format"], json!(2));
    let graph = &set["resources"]["graph"];
    assert!(graph["access_token"].is_string(), "{set}");
    assert_ne!(graph["access_token"], set["access_token"]);
    assert_eq!(graph["scope"], json!(GRAPH_SEND));
    // the set goes out and comes back in (the host's database), per-resource token included
    let acc2 = Acc::new(&sandbox().config(
        "confidential-app",
        json!({"email": user, "graph_url": g.base_url(), "graph_scopes": GRAPH_SEND,
               "scopes": format!("openid offline_access email mail {GRAPH_SEND}"),
               "outgoing": {"protocol": "graph"}}),
    ))
    .unwrap();
    let mut newer = set.clone();
    newer["version"] = json!(set["version"].as_u64().unwrap() + 1000);
    acc2.import(&newer).unwrap();
    assert_eq!(acc2.export()["resources"]["graph"], *graph);
    // a refused Graph token: the next call gets a new one for Graph alone
    let before = sandbox().stats()["grant_errors"].clone();
    let raw2 = b"From: graph-mixed@example.test\r\nTo: customer@example.test\r\nSubject: mixed 2\r\nMessage-ID: <gm-2@example.test>\r\n\r\nhello\r\n";
    send_raw(&acc, raw2, None).unwrap();
    assert_eq!(
        sandbox().stats()["grant_errors"],
        before,
        "no refresh token reused"
    );
}

#[test]
fn app_only_graph_and_what_each_refusal_says() {
    let _s = serial();
    init();
    let g = graph_emulator();
    g.reset();
    let sb = sandbox();
    let shared = "graph-shared@example.test";
    seed(shared, "inbox", "ao", 0..3);
    let cfg = sb.config(
        "cc-graph-app",
        json!({
            "flow": "client_credentials",
            "client_secret": "cc-graph-secret",
            "scopes": "https://graph.microsoft.com/.default",
            "graph_url": g.base_url(),
            "email": null,
            "mailbox": shared,
            "incoming": {"protocol": "graph"},
            "outgoing": {"protocol": "graph"},
            "language": "fr",
        }),
    );
    let acc = Acc::new(&cfg).unwrap();
    let (_, got) = acc.fetch("{}");
    assert_eq!(got.len(), 3, "app-only reads /users/{{mailbox}}");
    let raw = b"From: graph-shared@example.test\r\nTo: customer@example.test\r\nSubject: app\r\nMessage-ID: <ao-sent@example.test>\r\n\r\nhello\r\n";
    send_raw(&acc, raw, None).unwrap();
    assert_eq!(sunk_with_id("<ao-sent@example.test>", 1).len(), 1);

    // an application access policy that leaves this mailbox out
    g.inject("deny-app-mailbox", &format!("mailbox={shared}"));
    let (st, e) = acc.fetch_with("{}", &mut |_| 0).0.unwrap_err();
    assert_eq!(st, OM_STATUS_ACCESS_DENIED, "{e}");
    assert!(e.contains("RAOP"), "Graph's own text kept: {e}");
    assert!(last_hint().contains("stratégie d'accès"), "{}", last_hint());
    g.reset();
    // an unlicensed mailbox
    g.inject("unlicensed", &format!("mailbox={shared}"));
    let (st, e) = acc.fetch_with("{}", &mut |_| 0).0.unwrap_err();
    assert_eq!(st, OM_STATUS_UNSUPPORTED, "{e}");
    assert!(last_hint().contains("licence"), "{}", last_hint());
    g.reset();

    // delegated, consent without Mail.Send: the send is refused with who must act
    let user = "graph-nosend@example.test";
    let acc = graph_account(
        user,
        json!({"scopes": format!("openid offline_access email {GRAPH_READ_WRITE}")}),
    );
    let raw = b"From: graph-nosend@example.test\r\nTo: customer@example.test\r\nSubject: x\r\nMessage-ID: <ns@example.test>\r\n\r\nx\r\n";
    let (st, e) = send_raw(&acc, raw, None).unwrap_err();
    assert_eq!(st, OM_STATUS_ACCESS_DENIED, "{e}");
    assert!(last_hint().contains("Mail.Send"), "{}", last_hint());
    assert!(
        sunk_with_id("<ns@example.test>", 1).is_empty(),
        "nothing sent"
    );

    // a token for the mail servers sent to Graph (scopes written by hand): the audience
    let acc = graph_account(
        "graph-audience@example.test",
        json!({"scopes": format!("openid offline_access email mail {GRAPH_READ_WRITE}")}),
    );
    let (st, e) = acc.fetch_with("{}", &mut |_| 0).0.unwrap_err();
    assert_eq!(st, OM_STATUS_LOGIN_REJECTED, "{e}");
    assert!(e.contains("Invalid audience"), "{e}");
    assert!(
        last_hint().contains("graph.microsoft.com"),
        "{}",
        last_hint()
    );
}

#[test]
fn the_settings_check_reports_graph() {
    let _s = serial();
    init();
    let user = "graph-check@example.test";
    let acc = graph_account(user, json!({}));
    let mut out = null_mut();
    let st = unsafe { oauthmail::ffi::fetch::om_servers_check(acc.h, 0, &mut out) };
    assert_eq!(st, 0, "{}", common::capi::last_error());
    let v: Value = serde_json::from_str(&unsafe { CStr::from_ptr(out) }.to_string_lossy()).unwrap();
    unsafe { oauthmail::ffi::library::om_string_free(out) };
    let reports = v.as_array().unwrap();
    assert_eq!(reports.len(), 2, "{v}");
    for r in reports {
        assert_eq!(r["protocol"], json!("graph"), "{r}");
        assert_eq!(
            (r["reachable"].clone(), r["authenticated"].clone()),
            (json!(true), json!(true)),
            "{r}"
        );
    }
}

#[test]
fn a_send_whose_answer_is_lost_is_not_repeated_and_batches_answer_per_message() {
    let _s = serial();
    init();
    let g = graph_emulator();
    g.reset();
    let user = "graph-batch@example.test";
    let acc = graph_account(user, json!({}));
    // a mailing: one result per message, a bad one failing alone
    let batch = json!([
        {"to": "a@example.test", "subject": "one", "text": "1", "message_id": "<gb-1@example.test>"},
        {"to": "not an address", "subject": "bad", "text": "x"},
        {"to": "b@example.test", "subject": "three", "text": "3", "message_id": "<gb-3@example.test>"},
    ]);
    let m = CString::new(batch.to_string()).unwrap();
    let mut out = null_mut();
    let st = unsafe { oauthmail::ffi::send::om_send_batch(acc.h, m.as_ptr(), null(), &mut out) };
    assert_eq!(st, 0, "{}", common::capi::last_error());
    let v: Value = serde_json::from_str(&unsafe { CStr::from_ptr(out) }.to_string_lossy()).unwrap();
    unsafe { oauthmail::ffi::library::om_string_free(out) };
    let oks: Vec<bool> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ok"] == json!(true))
        .collect();
    assert_eq!(oks, vec![true, false, true], "{v}");
    assert_eq!(sunk_with_id("<gb-1@example.test>", 1).len(), 1);
    assert_eq!(sunk_with_id("<gb-3@example.test>", 1).len(), 1);

    // throttled twice: waited, then sent once
    g.inject("throttle", "count=2&status=429&retry_after=1");
    let raw = b"From: graph-batch@example.test\r\nTo: c@example.test\r\nSubject: t\r\nMessage-ID: <gb-throttled@example.test>\r\n\r\nx\r\n";
    send_raw(&acc, raw, None).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        sunk_with_id("<gb-throttled@example.test>", 2).len(),
        1,
        "sent once"
    );

    // the connection dies after Graph took the message: DELIVERY_UNKNOWN, never a second copy
    g.inject("cut", "count=1&when=before&send=1");
    let raw = b"From: graph-batch@example.test\r\nTo: c@example.test\r\nSubject: u\r\nMessage-ID: <gb-unknown@example.test>\r\n\r\nx\r\n";
    let (st, e) = send_raw(&acc, raw, None).unwrap_err();
    assert_eq!(st, OM_STATUS_DELIVERY_UNKNOWN, "{e}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        sunk_with_id("<gb-unknown@example.test>", 2).len(),
        1,
        "one copy only"
    );
    // a gateway timeout on a send: the same answer, no retry
    g.inject("throttle", "count=1&status=504&retry_after=0");
    let raw = b"From: graph-batch@example.test\r\nTo: c@example.test\r\nSubject: v\r\nMessage-ID: <gb-504@example.test>\r\n\r\nx\r\n";
    let (st, _) = send_raw(&acc, raw, None).unwrap_err();
    assert_eq!(st, OM_STATUS_DELIVERY_UNKNOWN);
    let sends = g.stats()["by_route"].to_string();
    assert!(sends.contains("sendMail"), "{sends}");
}
