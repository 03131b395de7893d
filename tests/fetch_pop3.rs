//! Fetching over POP3 from the real Dovecot: POP3S and STLS, XOAUTH2 and OAUTHBEARER, only
//! new mail by UIDL, stop and resume, delete after delivery, directory mode names, settings
//! check, options POP3 cannot honour.

mod common;

use common::capi::{init, Acc};
use common::mail::mail_sandbox;
use common::{authorized_as, serial};
use oauthmail::ffi::fetch::{OM_FETCH_CONTINUE, OM_FETCH_STOP};
use oauthmail::ffi::status::*;
use serde_json::{json, Value};

fn pop_account(user: &str, port_key: &str, security: &str, mech: &str) -> Acc {
    let m = mail_sandbox();
    authorized_as(
        "confidential-app",
        user,
        json!({"email": user, "incoming": {"protocol": "pop3", "host": "127.0.0.1", "port": m.port(port_key), "security": security, "sasl_mechanism": mech}}),
    )
}

#[test]
fn pop3s_fetches_only_new_mail_by_uidl() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "pop-new@example.test";
    m.seed(user, 3, "INBOX", &["--seed", "11"]);
    let acc = pop_account(user, "pop3s_port", "tls", "xoauth2");
    let (summary, got) = acc.fetch("{}");
    assert_eq!(got.len(), 3, "{summary}");
    let ids: Vec<String> = got
        .iter()
        .map(|g| g.header("Message-ID").unwrap())
        .collect();
    assert_eq!(
        ids,
        (0..3)
            .map(|i| format!("<seed-11-{i}@example.test>"))
            .collect::<Vec<_>>()
    );
    assert!(acc.fetch("{}").1.is_empty(), "nothing new");
    m.seed(user, 2, "INBOX", &["--seed", "11"]);
    let (_, got) = acc.fetch("{}");
    assert_eq!(got.len(), 2);
    assert_eq!(m.count(user, "INBOX"), 5, "kept on the server");
}

#[test]
fn stls_oauthbearer_stop_resume_and_delete() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "pop-delete@example.test";
    m.seed(user, 4, "INBOX", &["--seed", "12"]);
    let acc = pop_account(user, "pop3_port", "starttls", "oauthbearer");
    let mut n = 0;
    let (r, got) = acc.fetch_with(r#"{"after_delivery": "delete"}"#, &mut |_| {
        n += 1;
        if n == 3 {
            OM_FETCH_STOP
        } else {
            OM_FETCH_CONTINUE
        }
    });
    let summary = r.unwrap();
    assert_eq!(summary["delivered"], 2);
    assert_eq!(got.len(), 3);
    assert_eq!(
        m.count(user, "INBOX"),
        2,
        "the two accepted ones were deleted"
    );
    let (_, got) = acc.fetch(r#"{"after_delivery": "delete"}"#);
    let ids: Vec<String> = got
        .iter()
        .map(|g| g.header("Message-ID").unwrap())
        .collect();
    assert_eq!(
        ids,
        vec!["<seed-12-2@example.test>", "<seed-12-3@example.test>"]
    );
    assert_eq!(m.count(user, "INBOX"), 0);
}

#[test]
fn pop3_options_it_cannot_honour_are_refused() {
    let _s = serial();
    init();
    let acc = pop_account("pop-options@example.test", "pop3s_port", "tls", "xoauth2");
    for (opts, key) in [
        (r#"{"folder": "Archive"}"#, "folder"),
        (
            r#"{"after_delivery": "move", "move_to": "X"}"#,
            "after_delivery",
        ),
        (r#"{"since": "2026-01-01"}"#, "since"),
    ] {
        let (r, _) = acc.fetch_with(opts, &mut |_| 0);
        let (status, msg) = r.unwrap_err();
        assert_eq!(status, OM_STATUS_INVALID_CONFIG, "{msg}");
        assert!(msg.contains(key), "{msg}");
    }
}

#[test]
fn pop3_directory_mode_and_check() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "pop-dir@example.test";
    m.seed(user, 2, "INBOX", &[]);
    let acc = pop_account(user, "pop3s_port", "tls", "xoauth2");
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pop-eml-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    let mut out = std::ptr::null_mut();
    let st = unsafe {
        oauthmail::ffi::fetch::om_fetch_to_directory(acc.h, std::ptr::null(), d.as_ptr(), &mut out)
    };
    assert_eq!(st, 0, "{}", common::capi::last_error());
    let summary: Value =
        serde_json::from_str(&unsafe { std::ffi::CStr::from_ptr(out) }.to_string_lossy()).unwrap();
    unsafe { oauthmail::ffi::library::om_string_free(out) };
    let files = summary["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert!(
        files
            .iter()
            .all(|f| f.as_str().unwrap().starts_with("INBOX_") && f.as_str().unwrap().len() > 20),
        "{files:?}"
    );
    let mut out = std::ptr::null_mut();
    assert_eq!(
        unsafe { oauthmail::ffi::fetch::om_servers_check(acc.h, 0, &mut out) },
        0
    );
    let reports: Value =
        serde_json::from_str(&unsafe { std::ffi::CStr::from_ptr(out) }.to_string_lossy()).unwrap();
    unsafe { oauthmail::ffi::library::om_string_free(out) };
    let r = &reports[0];
    assert_eq!(
        (r["protocol"].as_str(), r["authenticated"].as_bool()),
        (Some("pop3"), Some(true)),
        "{r}"
    );
    assert!(
        r["mechanisms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "XOAUTH2"),
        "{r}"
    );
}

/// POP3's "only new mail" is kept per user and UIDL, not per server address: 995/TLS to
/// 110/STLS and `127.0.0.1` to `LOCALHOST` redeliver nothing; a state none of whose UIDLs is on
/// the server any more says so (`resync`) instead of pretending all is new.
#[test]
fn pop3_only_new_survives_a_settings_change_and_a_lost_state_is_flagged() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "pop-settings@example.test";
    m.seed(user, 3, "INBOX", &["--seed", "31"]);
    let first = pop_account(user, "pop3s_port", "tls", "xoauth2");
    assert_eq!(first.fetch("{}").1.len(), 3);
    let state = first.sync_state();
    let moved = Acc::new(&common::sandbox().config(
        "confidential-app",
        json!({"email": user, "incoming": {"protocol": "pop3", "host": "LOCALHOST", "port": m.port("pop3_port"), "security": "starttls"}}),
    ))
    .unwrap();
    moved.import(&first.export()).unwrap();
    moved.set_sync_state(&state);
    let (summary, got) = moved.fetch("{}");
    assert!(
        got.is_empty(),
        "redelivered after a settings change: {summary}"
    );
    // the server's UIDLs changed (here: the host restores a state of UIDLs it no longer has)
    let mut v: Value = serde_json::from_str(&state).unwrap();
    for (_, seen) in v["pop3"].as_object_mut().unwrap() {
        *seen = json!(["gone-1", "gone-2"]);
    }
    moved.set_sync_state(&v.to_string());
    let (summary, got) = moved.fetch("{}");
    assert_eq!(got.len(), 3);
    assert!(
        got.iter().all(|g| g.resync),
        "flagged: the host may have them already"
    );
    assert_eq!(summary["uidvalidity_changed"], true, "{summary}");
}

/// RETR pipelining (issue #14): Dovecot offers PIPELINING, so the RETRs go out ahead of the
/// replies — seen through a forwarding proxy on the plain-text POP3 listener, which notes how
/// much the server had sent when each command passed: the 40th RETR (the window is 64) left
/// before even three messages had come back (one at a time, it would follow 39 whole
/// messages). Every message
/// arrives once, in order; with delete, the pipelined DELEs are committed by QUIT.
#[test]
fn retr_is_pipelined_when_the_server_offers_it() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "pop-pipeline@example.test";
    m.seed(user, 40, "INBOX", &["--seed", "41", "--size-kb", "20"]);
    let tokens = pop_account(user, "pop3s_port", "tls", "xoauth2");
    let plain = m.info["direct_ports"]["pop3"].as_u64().unwrap() as u16;
    let (port, traffic) = common::traffic::forwarding_proxy(plain);
    let acc = Acc::new(&common::sandbox().config(
        "confidential-app",
        json!({"email": user, "allow_insecure_transport": true,
               "incoming": {"protocol": "pop3", "host": "127.0.0.1", "port": port, "security": "none"}}),
    ))
    .unwrap();
    acc.import(&tokens.export()).unwrap();
    let (summary, got) = acc.fetch(r#"{"after_delivery": "delete"}"#);
    assert_eq!(got.len(), 40, "{summary}");
    let ids: Vec<String> = got
        .iter()
        .map(|g| g.header("Message-ID").unwrap())
        .collect();
    let want: Vec<String> = (0..40)
        .map(|i| format!("<seed-41-{i}@example.test>"))
        .collect();
    assert_eq!(ids, want, "each message once, in order");
    let t = traffic.lock().unwrap();
    let text = String::from_utf8_lossy(&t.client[0]).into_owned();
    assert_eq!(text.matches("RETR ").count(), 40);
    assert_eq!(text.matches("DELE ").count(), 40);
    assert!(text.trim_end().ends_with("QUIT"), "{text}");
    let before_first = t.server_bytes_when_sent(0, "RETR 1\r\n").unwrap();
    let at_40th = t.server_bytes_when_sent(0, "RETR 40\r\n").unwrap();
    let message = got[0].body.len() as u64;
    assert!(
        at_40th - before_first < 3 * message,
        "RETR 40 left after {} bytes of replies (a message is {message})",
        at_40th - before_first
    );
    drop(t);
    assert_eq!(m.count(user, "INBOX"), 0, "the DELEs were committed");
}
