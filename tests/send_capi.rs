//! Sending through the C ABI against Dovecot's submission service and the SMTP sink:
//! om_send (JSON, attachments, non-ASCII, Bcc, copy to self, save to Sent), om_send_raw,
//! om_send_batch (a result per message), the outgoing settings check, bad input.

mod common;

use common::capi::{init, last_error, Acc};
use common::mail::mail_sandbox;
use common::sink::{header_of, rcpt_to, sunk_with_id};
use common::{authorized_as, serial};
use oauthmail::ffi::send::*;
use oauthmail::ffi::status::*;
use serde_json::{json, Value};
use std::ffi::{CStr, CString};
use std::ptr::{null, null_mut};

fn account(user: &str) -> Acc {
    let m = mail_sandbox();
    authorized_as(
        "confidential-app",
        user,
        json!({
            "email": user,
            "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": m.port("imaps_port"), "security": "tls"},
            "outgoing": {"host": "127.0.0.1", "port": m.port("submission_port"), "security": "starttls"},
        }),
    )
}

fn send(acc: &Acc, message: &Value, options: &str) -> Result<Value, (i32, String)> {
    let m = CString::new(message.to_string()).unwrap();
    let o = CString::new(options).unwrap();
    let mut out = null_mut();
    let st = unsafe { om_send(acc.h, m.as_ptr(), o.as_ptr(), &mut out) };
    if st != 0 {
        assert!(out.is_null());
        return Err((st, last_error()));
    }
    let v = serde_json::from_str(&unsafe { CStr::from_ptr(out) }.to_string_lossy()).unwrap();
    unsafe { oauthmail::ffi::library::om_string_free(out) };
    Ok(v)
}

#[test]
fn om_send_composes_sends_copies_and_saves_to_sent() {
    let _s = serial();
    init();
    let user = "send-json@example.test";
    let acc = account(user);
    let pdf: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    use base64::Engine;
    let msg = json!({
        "from": "Agnès Dupré <send-json@example.test>",
        "to": ["Client Élan <client@example.test>"],
        "bcc": "archive@example.test",
        "subject": "Devis n°42 – société Élan",
        "text": "Bonjour,\nvoici le devis.\n",
        "html": "<p>Bonjour,<br>voici le <b>devis</b>.</p>",
        "attachments": [{"filename": "devis-42.pdf", "base64": base64::engine::general_purpose::STANDARD.encode(&pdf)}],
        "message_id": "<devis-42-capi@example.test>"
    });
    let r = send(
        &acc,
        &msg,
        r#"{"copy_to_self": true, "save_to_sent": true}"#,
    )
    .unwrap();
    assert_eq!(r["message_id"], "<devis-42-capi@example.test>");
    assert_eq!(r["reply_code"], 250, "{r}");
    assert_eq!(r["saved_to"], "Sent", "{r}");
    let sunk = sunk_with_id("<devis-42-capi@example.test>", 1);
    assert_eq!(sunk.len(), 1);
    let to = rcpt_to(&sunk[0]);
    assert_eq!(
        to,
        vec![
            "archive@example.test",
            "client@example.test",
            "send-json@example.test"
        ]
    );
    assert!(
        header_of(&sunk[0].eml, "Bcc").is_none(),
        "no Bcc header transmitted"
    );
    assert!(
        header_of(&sunk[0].eml, "Subject")
            .unwrap()
            .contains("=?utf-8?"),
        "encoded word"
    );
    let text = String::from_utf8_lossy(&sunk[0].eml);
    assert!(text.contains("multipart/mixed") && text.contains("devis-42.pdf"));
    // saved to Sent: the IMAP side sees it
    let (_, got) = acc.fetch(r#"{"folder": "Sent", "only_new": false}"#);
    assert!(got
        .iter()
        .any(|g| g.header("Message-ID").as_deref() == Some("<devis-42-capi@example.test>")));
}

#[test]
fn om_send_raw_takes_the_envelope_from_headers_or_options() {
    let _s = serial();
    init();
    let acc = account("send-raw@example.test");
    let raw = b"From: send-raw@example.test\nTo: a@example.test\nBcc: hidden@example.test\nSubject: raw\nMessage-ID: <raw-capi-1@example.test>\n\nbody\n";
    let mut out = null_mut();
    let st = unsafe { om_send_raw(acc.h, raw.as_ptr(), raw.len(), null(), &mut out) };
    assert_eq!(st, 0, "{}", last_error());
    unsafe { oauthmail::ffi::library::om_string_free(out) };
    let sunk = sunk_with_id("<raw-capi-1@example.test>", 1);
    assert_eq!(
        rcpt_to(&sunk[0]),
        vec!["a@example.test", "hidden@example.test"]
    );
    assert!(header_of(&sunk[0].eml, "Bcc").is_none());
    // explicit envelope
    let raw2 = b"From: send-raw@example.test\r\nTo: a@example.test\r\nSubject: raw2\r\nMessage-ID: <raw-capi-2@example.test>\r\n\r\nbody\r\n";
    let o = CString::new(
        r#"{"envelope_from": "send-raw@example.test", "recipients": ["other@example.test"]}"#,
    )
    .unwrap();
    let st = unsafe { om_send_raw(acc.h, raw2.as_ptr(), raw2.len(), o.as_ptr(), null_mut()) };
    assert_eq!(st, 0, "{}", last_error());
    let sunk = sunk_with_id("<raw-capi-2@example.test>", 1);
    assert_eq!(rcpt_to(&sunk[0]), vec!["other@example.test"]);
    // recipients alone: the sender still comes from the From header
    let raw3 = b"From: Raw Sender <send-raw@example.test>\r\nTo: a@example.test\r\nSubject: raw3\r\nMessage-ID: <raw-capi-3@example.test>\r\n\r\nbody\r\n";
    let o = CString::new(r#"{"recipients": ["third@example.test"]}"#).unwrap();
    let st = unsafe { om_send_raw(acc.h, raw3.as_ptr(), raw3.len(), o.as_ptr(), null_mut()) };
    assert_eq!(st, 0, "{}", last_error());
    let sunk = sunk_with_id("<raw-capi-3@example.test>", 1);
    assert_eq!(common::sink::mail_from(&sunk[0]), "send-raw@example.test");
}

#[test]
fn om_send_batch_gives_a_result_per_message() {
    let _s = serial();
    init();
    let acc = account("send-batch@example.test");
    let mut msgs = Vec::new();
    for i in 0..5 {
        let to = match i {
            2 => "reject@example.test".to_string(),
            3 => "not an address".to_string(),
            _ => format!("client{i}@example.test"),
        };
        msgs.push(json!({"to": to, "subject": format!("mailing {i}"), "text": "offre", "message_id": format!("<batch-capi-{i}@example.test>")}));
    }
    let m = CString::new(Value::Array(msgs).to_string()).unwrap();
    let mut out = null_mut();
    let st = unsafe { om_send_batch(acc.h, m.as_ptr(), null(), &mut out) };
    assert_eq!(st, 0, "{}", last_error());
    let results: Value =
        serde_json::from_str(&unsafe { CStr::from_ptr(out) }.to_string_lossy()).unwrap();
    unsafe { oauthmail::ffi::library::om_string_free(out) };
    let oks: Vec<bool> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ok"].as_bool().unwrap())
        .collect();
    assert_eq!(oks, vec![true, true, false, false, true], "{results}");
    assert!(
        results[2]["error"].as_str().unwrap().contains("550"),
        "{results}"
    );
    assert!(
        results[3]["error"].as_str().unwrap().contains("message 3"),
        "{results}"
    );
    for i in [0, 1, 4] {
        assert_eq!(
            sunk_with_id(&format!("<batch-capi-{i}@example.test>"), 1).len(),
            1
        );
    }
    assert!(sunk_with_id("<batch-capi-2@example.test>", 0).is_empty());
}

#[test]
fn servers_check_includes_the_outgoing_server() {
    let _s = serial();
    init();
    let acc = account("send-check@example.test");
    let mut out = null_mut();
    assert_eq!(
        unsafe { oauthmail::ffi::fetch::om_servers_check(acc.h, 0, &mut out) },
        0
    );
    let reports: Value =
        serde_json::from_str(&unsafe { CStr::from_ptr(out) }.to_string_lossy()).unwrap();
    unsafe { oauthmail::ffi::library::om_string_free(out) };
    let out_r = reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "outgoing")
        .unwrap();
    assert_eq!(out_r["authenticated"], true, "{out_r}");
    assert_eq!(out_r["tls"], true, "{out_r}");
    assert!(
        out_r["mechanisms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "XOAUTH2"),
        "{out_r}"
    );
}

#[test]
fn bad_input_to_the_send_functions_sends_nothing() {
    let _s = serial();
    init();
    let acc = account("send-bad@example.test");
    let before = common::sink::sink_all().len();
    let cases = [
        (
            json!({"to": "a@example.test\r\nBcc: victim@example.test", "subject": "x", "text": "y"}),
            "to",
        ),
        (
            json!({"to": "a@example.test", "subjet": "typo", "text": "y"}),
            "subjet",
        ),
        (json!({"subject": "no recipient", "text": "y"}), "recipient"),
        (
            json!({"to": "a@example.test", "text": "y", "attachments": [{"filename": "x.pdf", "path": "/no/such/file.pdf"}]}),
            "attachments[0]",
        ),
    ];
    for (msg, needle) in cases {
        let (st, m) = send(&acc, &msg, "").unwrap_err();
        assert_eq!(st, OM_STATUS_INVALID_ARGUMENT, "{m}");
        assert!(m.contains(needle), "{m} should name {needle}");
    }
    let (st, m) = send(
        &acc,
        &json!({"to": "a@example.test", "text": "y"}),
        r#"{"save_to_sent": 3}"#,
    )
    .unwrap_err();
    assert_eq!(st, OM_STATUS_INVALID_CONFIG, "{m}");
    unsafe {
        let mut out = std::ptr::dangling_mut::<std::ffi::c_char>();
        assert_eq!(
            om_send(acc.h, null(), null(), &mut out),
            OM_STATUS_INVALID_ARGUMENT
        );
        assert!(out.is_null());
        assert_eq!(
            om_send_raw(acc.h, null(), 10, null(), null_mut()),
            OM_STATUS_INVALID_ARGUMENT
        );
        let raw = b"Subject: none\r\n\r\nno recipient\r\n";
        assert_eq!(
            om_send_raw(acc.h, raw.as_ptr(), raw.len(), null(), null_mut()),
            OM_STATUS_INVALID_ARGUMENT
        );
        let notarray = CString::new(r#"{"to":"a@example.test"}"#).unwrap();
        assert_eq!(
            om_send_batch(acc.h, notarray.as_ptr(), null(), &mut out),
            OM_STATUS_INVALID_ARGUMENT
        );
        assert_eq!(
            om_send_batch(acc.h, null(), null(), null_mut()),
            OM_STATUS_INVALID_ARGUMENT
        );
        let freed = Acc::new(&common::sandbox().config("confidential-app", json!({}))).unwrap();
        let h = freed.h;
        drop(freed);
        let m = CString::new(r#"{"to":"a@example.test","text":"y"}"#).unwrap();
        assert_eq!(
            om_send(h, m.as_ptr(), null(), null_mut()),
            OM_STATUS_INVALID_HANDLE
        );
        // no outgoing server configured
        let noout = Acc::new(
            &common::sandbox().config("confidential-app", json!({"email": "x@example.test"})),
        )
        .unwrap();
        assert_eq!(
            om_send(noout.h, m.as_ptr(), null(), null_mut()),
            OM_STATUS_INVALID_CONFIG
        );
        assert!(last_error().contains("outgoing"));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        common::sink::sink_all().len(),
        before,
        "nothing reached the sink"
    );
}

/// Accented text goes as it is (`Content-Transfer-Encoding: 8bit`, `BODY=8BITMIME`) to a server
/// that announced 8BITMIME (Dovecot's submission does), one message or a batch: about a quarter
/// smaller than quoted-printable (issue #14). The same message composed for a 7-bit server is
/// quoted-printable.
#[test]
fn accented_text_travels_in_8bit_when_the_server_takes_it() {
    let _s = serial();
    init();
    let user = "send-8bit@example.test";
    let acc = account(user);
    // a paragraph typed without line breaks (over 76 bytes, under 998) stays one line
    let paragraph = "Suite à notre échange téléphonique, veuillez trouver ci-dessous le récapitulatif de la commande passée pour la société Élan : livraison prévue à Besançon, réglée à réception.";
    let text = format!(
        "Bonjour,\nle café crème de la réunion à 10 h coûte 2,50 €.\n{paragraph}\nÀ bientôt.\n"
    );
    let html = "<p>Réunion à 10 h — café offert.</p>";
    let msg = |k: usize, html: bool| {
        let mut m = json!({"to": "client@example.test", "subject": "Réunion", "text": text,
                           "message_id": format!("<eight-bit-{k}@example.test>")});
        if html {
            m["html"] = json!("<p>Réunion à 10 h — café offert.</p>");
        }
        m
    };
    send(&acc, &msg(0, false), "").unwrap();
    let m = CString::new(Value::Array(vec![msg(1, true), msg(2, false)]).to_string()).unwrap();
    let mut out = null_mut();
    // the batch's send options apply to each message (copy_to_self was ignored once)
    let opts = CString::new(r#"{"copy_to_self": true}"#).unwrap();
    let st = unsafe { om_send_batch(acc.h, m.as_ptr(), opts.as_ptr(), &mut out) };
    assert_eq!(st, 0, "{}", last_error());
    let results = unsafe { CStr::from_ptr(out) }
        .to_string_lossy()
        .into_owned();
    unsafe { oauthmail::ffi::library::om_string_free(out) };
    assert!(!results.contains("\"ok\":false"), "{results}");
    for k in 0..3 {
        let sunk = sunk_with_id(&format!("<eight-bit-{k}@example.test>"), 1);
        let eml = String::from_utf8(sunk[0].eml.clone()).expect("UTF-8 as sent");
        assert!(
            eml.contains("Content-Transfer-Encoding: 8bit"),
            "message {k}: {eml}"
        );
        assert!(
            eml.contains("le café crème de la réunion à 10 h coûte 2,50 €.\r\n"),
            "message {k}: {eml}"
        );
        assert!(!eml.contains("=C3"), "no quoted-printable: {eml}");
        assert!(eml.contains(&format!("\r\n{paragraph}\r\n")), "{eml}");
        if k == 1 {
            assert!(eml.contains(html), "{eml}");
        }
        if k > 0 {
            assert_eq!(
                rcpt_to(&sunk[0]),
                vec!["client@example.test", user],
                "copy to self"
            );
        }
        let params = sunk[0].meta["mail_params"].to_string();
        assert!(params.contains("BODY=8BITMIME"), "message {k}: {params}");
    }
    // for a server without 8BITMIME: quoted-printable
    let m: oauthmail::smtp::compose::MessageJson =
        oauthmail::smtp::compose::parse(&msg(3, false).to_string()).unwrap();
    let c = oauthmail::smtp::compose::compose(&m, Some(user), oauthmail::lang::Lang::En).unwrap();
    let seven = String::from_utf8(c.bytes).unwrap();
    assert!(seven.is_ascii(), "{seven}");
    assert!(seven.contains("Content-Transfer-Encoding: quoted-printable"));
}
