//! Fetching over IMAP from a real Dovecot that validates tokens at the real OAuth2 server:
//! IMAPS and STARTTLS, XOAUTH2 and OAUTHBEARER, password login, incremental fetch without
//! duplicates, callback stop and error then resume, a non-ASCII folder, a token the server
//! refuses (refreshed transparently), a revoked grant, an unknown CA, move and delete.

mod common;

use common::capi::{init, last_hint, Acc};
use common::mail::mail_sandbox;
use common::{authorized_as, sandbox, serial};
use oauthmail::ffi::fetch::{OM_FETCH_CONTINUE, OM_FETCH_ERROR, OM_FETCH_STOP};
use oauthmail::ffi::status::*;
use serde_json::{json, Value};

fn incoming(port_key: &str, security: &str, extra: Value) -> Value {
    let m = mail_sandbox();
    let mut inc = json!({"protocol": "imap", "host": "127.0.0.1", "port": m.port(port_key), "security": security});
    for (k, v) in extra.as_object().unwrap() {
        inc[k] = v.clone();
    }
    inc
}

/// An authorized account for `user`, reading from the given listener.
fn mail_account(user: &str, port_key: &str, security: &str, extra_in: Value) -> Acc {
    authorized_as(
        "confidential-app",
        user,
        json!({"email": user, "incoming": incoming(port_key, security, extra_in)}),
    )
}

#[test]
fn imaps_xoauth2_fetches_only_new_mail() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "fetch-new@example.test";
    m.seed(user, 5, "INBOX", &["--seed", "1"]);
    let acc = mail_account(user, "imaps_port", "tls", json!({}));
    let (summary, got) = acc.fetch("{}");
    assert_eq!(got.len(), 5, "{summary}");
    assert_eq!(summary["delivered"], 5);
    let uids: Vec<u32> = got.iter().map(|g| g.uid).collect();
    assert!(uids.windows(2).all(|w| w[0] < w[1]), "UID order: {uids:?}");
    for (i, g) in got.iter().enumerate() {
        assert_eq!(
            g.header("Message-ID").unwrap(),
            format!("<seed-1-{i}@example.test>")
        );
        assert_eq!(g.folder, "INBOX");
        assert!(!g.flags.contains("\\Seen"), "peek by default: {}", g.flags);
        assert!(g.internal_date > 1_000_000_000);
        assert_eq!(g.size as usize, g.body.len());
    }
    // nothing new: nothing delivered
    let (summary, got) = acc.fetch("{}");
    assert_eq!((got.len(), summary["delivered"].as_u64()), (0, Some(0)));
    // two more arrive
    m.seed(user, 2, "INBOX", &["--seed", "1"]);
    let (_, got) = acc.fetch("{}");
    let ids: Vec<String> = got
        .iter()
        .map(|g| g.header("Message-ID").unwrap())
        .collect();
    assert_eq!(
        ids,
        vec!["<seed-1-5@example.test>", "<seed-1-6@example.test>"]
    );
    // still unread on the server (PEEK)
    let (_, all) = acc.fetch(r#"{"only_new": false}"#);
    assert_eq!(all.len(), 7);
    assert!(all.iter().all(|g| !g.flags.contains("\\Seen")));
}

#[test]
fn callback_stop_and_error_then_resume_without_loss() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "fetch-resume@example.test";
    m.seed(user, 6, "INBOX", &["--seed", "2"]);
    let acc = mail_account(user, "imaps_port", "tls", json!({}));
    // stop at the third: two accepted
    let mut n = 0;
    let (r, got) = acc.fetch_with(r#"{"batch_size": 4}"#, &mut |_| {
        n += 1;
        if n == 3 {
            OM_FETCH_STOP
        } else {
            OM_FETCH_CONTINUE
        }
    });
    let summary = r.unwrap();
    assert_eq!(summary["delivered"], 2);
    assert_eq!(summary["stopped_by_callback"], true);
    assert_eq!(got.len(), 3);
    // the third comes again; an error at the fourth
    let mut n = 0;
    let (r, got) = acc.fetch_with("{}", &mut |_| {
        n += 1;
        if n == 2 {
            OM_FETCH_ERROR
        } else {
            OM_FETCH_CONTINUE
        }
    });
    let (status, msg) = r.unwrap_err();
    assert_eq!(status, OM_STATUS_CANCELLED, "{msg}");
    assert_eq!(
        got[0].header("Message-ID").unwrap(),
        "<seed-2-2@example.test>"
    );
    // an unknown return code is an error too, nothing accepted
    let (r, got2) = acc.fetch_with("{}", &mut |_| 77);
    assert!(r.unwrap_err().1.contains("77"));
    assert_eq!(got2.len(), 1);
    // then everything from the fourth on, exactly once
    let (_, got) = acc.fetch("{}");
    let ids: Vec<String> = got
        .iter()
        .map(|g| g.header("Message-ID").unwrap())
        .collect();
    assert_eq!(
        ids,
        (3..6)
            .map(|i| format!("<seed-2-{i}@example.test>"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn starttls_with_oauthbearer_and_max_messages() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "fetch-starttls@example.test";
    m.seed(user, 3, "INBOX", &[]);
    let acc = mail_account(
        user,
        "imap_port",
        "starttls",
        json!({"sasl_mechanism": "oauthbearer"}),
    );
    let (summary, got) = acc.fetch(r#"{"max_messages": 2}"#);
    assert_eq!(got.len(), 2);
    assert_eq!(summary["remaining"], 1);
    let (_, got) = acc.fetch("{}");
    assert_eq!(got.len(), 1);
}

#[test]
fn password_account_logs_in_with_plain_login() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    m.seed("bob@example.test", 1, "INBOX", &[]);
    let sb = sandbox();
    let acc = Acc::new(&sb.config(
        "confidential-app",
        json!({"email": "bob@example.test", "incoming": incoming("imap_port", "starttls", json!({"auth": "password", "password": "bob-password"}))}),
    ))
    .unwrap();
    let (_, got) = acc.fetch("{}");
    assert!(!got.is_empty());
    let bad = Acc::new(&sb.config(
        "confidential-app",
        json!({"email": "bob@example.test", "incoming": incoming("imaps_port", "tls", json!({"auth": "password", "password": "wrong-password-1"}))}),
    ))
    .unwrap();
    let (r, _) = bad.fetch_with("{}", &mut |_| 0);
    let (status, msg) = r.unwrap_err();
    assert_eq!(status, OM_STATUS_LOGIN_REJECTED, "{msg}");
    assert!(!msg.contains("wrong-password-1"), "{msg}");
}

#[test]
fn non_ascii_folder_is_listed_and_fetched_then_moved() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "fetch-folder@example.test";
    m.seed(user, 3, "Clients/Société", &["--seed", "3"]);
    let acc = mail_account(user, "imaps_port", "tls", json!({}));
    let folders = acc.folders().unwrap();
    let names: Vec<&str> = folders
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Clients/Société"), "{names:?}");
    let sent = folders
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Sent")
        .unwrap();
    assert!(
        sent["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "\\Sent"),
        "IMAP text: {sent}"
    );
    let (summary, got) = acc.fetch(r#"{"folder": "Clients/Société", "after_delivery": "move", "move_to": "Archivé", "mark_seen": true}"#);
    assert_eq!(got.len(), 3, "{summary}");
    assert!(got.iter().all(|g| g.folder == "Clients/Société"));
    assert_eq!(m.count(user, "Clients/Société"), 0, "moved away");
    // the destination did not exist: it was created
    let (_, moved) = acc.fetch(r#"{"folder": "Archivé", "only_new": false}"#);
    assert_eq!(moved.len(), 3);
    assert!(
        moved.iter().all(|g| g.flags.contains("\\Seen")),
        "marked seen"
    );
    let (r, _) = acc.fetch_with(r#"{"folder": "Nulle part"}"#, &mut |_| 0);
    let (status, msg) = r.unwrap_err();
    assert_eq!(status, OM_STATUS_INVALID_ARGUMENT, "{msg}");
    assert!(msg.contains("Nulle part"), "{msg}");
    assert!(
        !msg.contains("Outcome"),
        "the server's words, not Rust debug output: {msg}"
    );
}

#[test]
fn delete_after_delivery_really_removes() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "fetch-delete@example.test";
    m.seed(user, 4, "INBOX", &[]);
    let acc = mail_account(user, "imaps_port", "tls", json!({}));
    let (_, got) = acc.fetch(r#"{"after_delivery": "delete"}"#);
    assert_eq!(got.len(), 4);
    assert_eq!(m.count(user, "INBOX"), 0);
}

#[test]
fn a_token_the_server_refuses_is_refreshed_transparently() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "fetch-refresh@example.test";
    m.seed(user, 1, "INBOX", &[]);
    let acc = mail_account(user, "imaps_port", "tls", json!({}));
    // the server no longer accepts the cached token (revoked or expired early)
    let mut v = acc.export();
    v["access_token"] = json!("not-a-valid-token-anymore");
    v["version"] = json!(v["version"].as_u64().unwrap() + 1);
    acc.import(&v).unwrap();
    let before = sandbox().token_requests("refresh_token");
    let (_, got) = acc.fetch("{}");
    assert_eq!(got.len(), 1);
    assert_eq!(sandbox().token_requests("refresh_token"), before + 1);
    assert_ne!(acc.export()["access_token"], "not-a-valid-token-anymore");
}

#[test]
fn revoked_grant_means_authorization_required() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "fetch-revoked@example.test";
    m.seed(user, 1, "INBOX", &[]);
    let acc = mail_account(user, "imaps_port", "tls", json!({}));
    let copy = Acc::new(&sandbox().config(
        "confidential-app",
        json!({"email": user, "incoming": incoming("imaps_port", "tls", json!({}))}),
    ))
    .unwrap();
    copy.import(&acc.export()).unwrap();
    acc.revoke().unwrap();
    let (r, got) = copy.fetch_with("{}", &mut |_| 0);
    let (status, msg) = r.unwrap_err();
    assert_eq!(status, OM_STATUS_AUTHORIZATION_REQUIRED, "{msg}");
    assert!(got.is_empty());
    assert!(!last_hint().is_empty());
}

#[test]
fn unknown_ca_is_a_tls_error_and_nothing_is_sent() {
    let _s = serial();
    init();
    let user = "fetch-ca@example.test";
    let acc = mail_account(user, "imaps_port", "tls", json!({}));
    let sb = sandbox();
    let other = Acc::new(&sb.config(
        "confidential-app",
        json!({"email": user, "ca_certs_file": sb.other_ca_file, "incoming": incoming("imaps_port", "tls", json!({}))}),
    ))
    .unwrap();
    // give it valid tokens (no network needed for that)
    let mut v = acc.export();
    v["token_url"] = json!(sb.url("token_endpoint"));
    other.import(&v).unwrap();
    let (r, _) = other.fetch_with("{}", &mut |_| 0);
    let (status, msg) = r.unwrap_err();
    assert_eq!(status, OM_STATUS_TLS_ERROR, "{msg}");
    assert!(
        msg.contains("127.0.0.1") && msg.contains("unknown authority"),
        "{msg}"
    );
}

#[test]
fn uidvalidity_change_resynchronises_and_flags_redelivery() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "fetch-uidvalidity@example.test";
    m.seed(user, 2, "INBOX", &[]);
    let acc = mail_account(user, "imaps_port", "tls", json!({}));
    let (s1, _) = acc.fetch("{}");
    // the host restores an old state whose UIDVALIDITY no longer matches
    let mut state: Value = serde_json::from_str(&acc.sync_state()).unwrap();
    for (_, f) in state["imap"].as_object_mut().unwrap() {
        f["uidvalidity"] = json!(s1["uidvalidity"].as_u64().unwrap() + 1);
    }
    acc.set_sync_state(&state.to_string());
    let (s2, got) = acc.fetch("{}");
    assert_eq!(s2["uidvalidity_changed"], true);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|g| g.resync));
    let (_, got) = acc.fetch("{}");
    assert!(got.is_empty());
}

#[test]
fn a_thousand_messages_in_batches() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "fetch-1000@example.test";
    m.seed(user, 1000, "INBOX", &["--size-kb", "4"]);
    let acc = mail_account(user, "imaps_port", "tls", json!({}));
    let (summary, got) = acc.fetch(r#"{"batch_size": 200}"#);
    assert_eq!(got.len(), 1000, "{summary}");
    let mut ids: Vec<String> = got
        .iter()
        .map(|g| g.header("Message-ID").unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1000, "no duplicates");
    assert!(acc.fetch("{}").1.is_empty());
}

#[test]
fn directory_mode_writes_each_message_atomically_under_a_stable_name() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "fetch-dir@example.test";
    m.seed(user, 3, "INBOX", &["--seed", "9"]);
    let acc = mail_account(user, "imaps_port", "tls", json!({}));
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("eml-dossier-été-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    let o = std::ffi::CString::new("{}").unwrap();
    let mut out = std::ptr::null_mut();
    let st = unsafe {
        oauthmail::ffi::fetch::om_fetch_to_directory(acc.h, o.as_ptr(), d.as_ptr(), &mut out)
    };
    assert_eq!(st, 0, "{}", common::capi::last_error());
    let summary: Value =
        serde_json::from_str(&unsafe { std::ffi::CStr::from_ptr(out) }.to_string_lossy()).unwrap();
    unsafe { oauthmail::ffi::library::om_string_free(out) };
    let files: Vec<String> = summary["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert_eq!(files.len(), 3, "{summary}");
    let uv = summary["uidvalidity"].as_u64().unwrap();
    assert!(
        files[0].starts_with(&format!("INBOX_{uv}_")) && files[0].ends_with(".eml"),
        "{files:?}"
    );
    let mut listing: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    listing.sort();
    assert_eq!(
        listing, files,
        "only the .eml files, no temporary file left"
    );
    let body = std::fs::read_to_string(dir.join(&files[1])).unwrap();
    assert!(body.contains("<seed-9-1@example.test>"));
    // a missing directory: nothing accepted
    let gone = std::ffi::CString::new(dir.join("missing").to_str().unwrap()).unwrap();
    m.seed(user, 1, "INBOX", &[]);
    let st = unsafe {
        oauthmail::ffi::fetch::om_fetch_to_directory(
            acc.h,
            o.as_ptr(),
            gone.as_ptr(),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(st, OM_STATUS_IO_ERROR);
    assert_eq!(
        acc.fetch("{}").1.len(),
        1,
        "the new message was not accepted by the failed run"
    );
}

#[test]
fn servers_check_reports_capabilities_and_problems() {
    let _s = serial();
    init();
    let user = "fetch-check@example.test";
    let acc = mail_account(user, "imaps_port", "tls", json!({}));
    let reports = check(&acc);
    let r = &reports[0];
    assert_eq!(r["role"], "incoming");
    assert_eq!(r["reachable"], true, "{r}");
    assert_eq!(r["authenticated"], true, "{r}");
    assert_eq!(r["tls"], true);
    assert!(
        r["mechanisms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "XOAUTH2"),
        "{r}"
    );
    assert!(
        r["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "IMAP4rev1"),
        "{r}"
    );
    // wrong password: reachable, not authenticated, the reason in words
    let sb = sandbox();
    let bad = Acc::new(&sb.config(
        "confidential-app",
        json!({"email": "bob@example.test", "language": "fr", "incoming": incoming("imaps_port", "tls", json!({"auth": "password", "password": "nope-nope"}))}),
    ))
    .unwrap();
    let r = &check(&bad)[0];
    assert_eq!(
        (r["reachable"].as_bool(), r["authenticated"].as_bool()),
        (Some(true), Some(false)),
        "{r}"
    );
    assert_eq!(r["status"], "OM_STATUS_LOGIN_REJECTED");
    assert!(r["problem"].as_str().unwrap().contains("a refusé"), "{r}");
    // nothing listening
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let off = Acc::new(&sb.config(
        "confidential-app",
        json!({"email": user, "incoming": {"host": "127.0.0.1", "port": port, "security": "tls"}}),
    ))
    .unwrap();
    let r = &check(&off)[0];
    assert_eq!(r["reachable"], false);
    assert_eq!(r["status"], "OM_STATUS_NETWORK_ERROR");
    assert!(
        r["problem"].as_str().unwrap().contains(&port.to_string()),
        "{r}"
    );
}

fn check(acc: &Acc) -> Vec<Value> {
    let mut out = std::ptr::null_mut();
    let st = unsafe { oauthmail::ffi::fetch::om_servers_check(acc.h, 0, &mut out) };
    assert_eq!(st, 0, "{}", common::capi::last_error());
    let v: Value =
        serde_json::from_str(&unsafe { std::ffi::CStr::from_ptr(out) }.to_string_lossy()).unwrap();
    unsafe { oauthmail::ffi::library::om_string_free(out) };
    v.as_array().unwrap().clone()
}

#[test]
fn state_file_survives_a_restart_of_the_host() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "fetch-statefile@example.test";
    m.seed(user, 2, "INBOX", &[]);
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("state-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let cfg = json!({"state_file": path.to_str().unwrap()});
    let mut extra = incoming("imaps_port", "tls", json!({}));
    let _ = &mut extra;
    let acc = authorized_as(
        "confidential-app",
        user,
        json!({"email": user, "state_file": cfg["state_file"], "incoming": extra}),
    );
    assert_eq!(acc.fetch("{}").1.len(), 2);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        saved["imap"].as_object().unwrap().values().next().unwrap()["last_uid"],
        2
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // the host restarts: a new account object with the same files
    let tokens = acc.export();
    drop(acc);
    let again = Acc::new(&sandbox().config(
        "confidential-app",
        json!({"email": user, "state_file": path.to_str().unwrap(), "incoming": incoming("imaps_port", "tls", json!({}))}),
    ))
    .unwrap();
    again.import(&tokens).unwrap();
    assert!(
        again.fetch("{}").1.is_empty(),
        "nothing fetched twice after a restart"
    );
    m.seed(user, 1, "INBOX", &[]);
    assert_eq!(again.fetch("{}").1.len(), 1);
}

#[test]
fn save_to_sent_appends_to_the_special_use_folder() {
    let _s = serial();
    init();
    let user = "save-sent@example.test";
    let acc = mail_account(user, "imaps_port", "tls", json!({}));
    let core = oauthmail::registry::get(acc.h as usize).unwrap();
    let msg = b"From: save-sent@example.test\nTo: x@example.test\nSubject: devis\nMessage-ID: <sent-1@example.test>\n\nbonjour\n";
    let folder =
        oauthmail::runtime::block_on(oauthmail::imap::append::save_to_sent(&core, msg, None))
            .unwrap()
            .unwrap();
    assert_eq!(folder, "Sent");
    let (_, got) = acc.fetch(r#"{"folder": "Sent", "only_new": false}"#);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].header("Message-ID").unwrap(),
        "<sent-1@example.test>"
    );
    assert!(got[0].flags.contains("\\Seen"));
    assert!(
        got[0].body.windows(2).any(|w| w == b"\r\n"),
        "stored with CRLF"
    );
    // an explicit folder that does not exist yet is created
    let f = oauthmail::runtime::block_on(oauthmail::imap::append::save_to_sent(
        &core,
        msg,
        Some("Envoyés/CRM"),
    ))
    .unwrap()
    .unwrap();
    assert_eq!(f, "Envoyés/CRM");
    assert_eq!(
        acc.fetch(r#"{"folder": "Envoyés/CRM", "only_new": false}"#)
            .1
            .len(),
        1
    );
}

/// "Only new mail" is kept per mailbox (user, folder, UIDVALIDITY), not per way of reaching it:
/// 993/TLS to 143/STARTTLS, `127.0.0.1` to `LOCALHOST`, the user's address in capitals in the
/// state's eyes — nothing already fetched comes again.
#[test]
fn only_new_survives_a_change_of_port_security_and_host_spelling() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "fetch-settings@example.test";
    m.seed(user, 3, "INBOX", &["--seed", "21"]);
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("state-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state_file = dir.join("état.json").to_string_lossy().into_owned();
    let first = authorized_as(
        "confidential-app",
        user,
        json!({"email": user, "state_file": state_file,
               "incoming": incoming("imaps_port", "tls", json!({}))}),
    );
    let (_, got) = first.fetch("{}");
    assert_eq!(got.len(), 3);
    let tokens = first.export();
    drop(first);
    for (host, port_key, security) in [
        ("LOCALHOST", "imap_port", "starttls"),
        ("localhost", "imaps_port", "tls"),
    ] {
        let acc = Acc::new(&sandbox().config(
            "confidential-app",
            json!({"email": user, "state_file": state_file, "incoming":
                   {"protocol": "imap", "host": host, "port": m.port(port_key), "security": security}}),
        ))
        .unwrap();
        acc.import(&tokens).unwrap();
        let (summary, got) = acc.fetch("{}");
        assert!(
            got.is_empty(),
            "{host}:{port_key}: redelivered {}: {summary}",
            got.len()
        );
        assert_eq!(summary["uidvalidity_changed"], false);
    }
    m.seed(user, 1, "INBOX", &["--seed", "22"]);
    let acc = Acc::new(&sandbox().config(
        "confidential-app",
        json!({"email": user.to_uppercase(), "login_user": user, "state_file": state_file,
               "incoming": incoming("imap_port", "starttls", json!({}))}),
    ))
    .unwrap();
    acc.import(&tokens).unwrap();
    let (_, got) = acc.fetch("{}");
    assert_eq!(got.len(), 1, "only the new one");
    assert!(!got[0].resync);
}

/// Round trips of a fetch (issue #14), read from the commands the client sent through a
/// forwarding proxy in front of Dovecot's plain-text listener: the credential rides on the
/// AUTHENTICATE line (SASL-IR, which Dovecot offers: no continuation round trip), the default
/// batch size grows (1,000 new messages in 3 UID FETCH commands: 50, 200, 750), an
/// explicit batch_size stays fixed, LOGOUT is sent, and a "nothing new" check sends only
/// AUTHENTICATE, EXAMINE and LOGOUT.
#[test]
fn a_fetch_costs_few_round_trips() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "fetch-turns@example.test";
    m.seed(user, 1000, "INBOX", &["--size-kb", "1"]);
    let tokens = mail_account(user, "imaps_port", "tls", json!({}));
    let plain = m.info["direct_ports"]["imap"].as_u64().unwrap() as u16;
    let (port, traffic) = common::traffic::forwarding_proxy(plain);
    let acc = Acc::new(&sandbox().config(
        "confidential-app",
        json!({"email": user, "allow_insecure_transport": true,
               "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": port, "security": "none"}}),
    ))
    .unwrap();
    acc.import(&tokens.export()).unwrap();
    // the client's lines on a connection, once its LOGOUT went through the proxy (LOGOUT is
    // sent without waiting for the reply, so the fetch may return before the proxy relayed it)
    let commands = |conn: usize| -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            {
                let t = traffic.lock().unwrap();
                let text = t
                    .client
                    .get(conn)
                    .map(|c| String::from_utf8_lossy(c).into_owned());
                if let Some(text) = text.filter(|t| t.ends_with("LOGOUT\r\n")) {
                    return text.lines().map(str::to_string).collect();
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no LOGOUT on connection {conn} within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let uid_fetches = |lines: &[String]| -> Vec<usize> {
        lines
            .iter()
            .filter(|l| l.contains(" UID FETCH "))
            .map(|l| {
                let set = l.split_whitespace().nth(3).unwrap();
                set.split(',')
                    .map(|r| match r.split_once(':') {
                        Some((a, b)) => {
                            b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1
                        }
                        None => 1,
                    })
                    .sum()
            })
            .collect()
    };

    let (summary, got) = acc.fetch("{}");
    assert_eq!(got.len(), 1000, "{summary}");
    let first = commands(0);
    let auth: Vec<&String> = first
        .iter()
        .filter(|l| l.contains("AUTHENTICATE"))
        .collect();
    assert_eq!(auth.len(), 1, "{first:?}");
    assert!(
        auth[0].split_whitespace().count() == 4,
        "the initial response on the AUTHENTICATE line: {}",
        auth[0].chars().take(40).collect::<String>()
    );
    let after_auth = first
        .iter()
        .skip_while(|l| !l.contains("AUTHENTICATE"))
        .nth(1)
        .unwrap();
    assert!(
        after_auth.split_whitespace().count() > 1,
        "no SASL continuation answer after AUTHENTICATE: {after_auth}"
    );
    assert_eq!(uid_fetches(&first), vec![50, 200, 750]);
    assert!(
        first.last().unwrap().ends_with("LOGOUT"),
        "{:?}",
        first.last()
    );

    // nothing new: AUTHENTICATE, EXAMINE, LOGOUT (CAPABILITY came with the greeting)
    let (_, got) = acc.fetch("{}");
    assert!(got.is_empty());
    let second: Vec<String> = commands(1)
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
        .collect();
    assert_eq!(second, vec!["AUTHENTICATE", "EXAMINE", "LOGOUT"]);

    // an explicit batch size is kept
    let (_, got) = acc.fetch(r#"{"only_new": false, "batch_size": 300}"#);
    assert_eq!(got.len(), 1000);
    assert_eq!(uid_fetches(&commands(2)), vec![300, 300, 300, 100]);
}

/// A login to a server met before in the process leaves before the greeting (issue #14: the
/// greeting, and CAPABILITY where the greeting has none, cost no round trip): a proxy holds
/// Dovecot's greeting on each connection and records whether the client spoke first. The
/// first session waits for the greeting; the next one sends its AUTHENTICATE at once, with the
/// EXAMINE behind it, and fetches; `options.early_login: false` waits again. A refused token
/// sent early (the server takes the EXAMINE line for the answer to its SASL challenge) is
/// refreshed and retried like any other.
#[test]
fn a_login_to_a_server_met_before_leaves_before_the_greeting() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "fetch-early@example.test";
    m.seed(user, 3, "INBOX", &["--size-kb", "1"]);
    let tokens = mail_account(user, "imaps_port", "tls", json!({}));
    let plain = m.info["direct_ports"]["imap"].as_u64().unwrap() as u16;
    let hold = std::time::Duration::from_millis(700);
    let (port, traffic) = common::traffic::holding_proxy(plain, hold);
    let account = |options: Value| {
        let acc = Acc::new(&sandbox().config(
            "confidential-app",
            json!({"email": user, "allow_insecure_transport": true, "options": options,
                   "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": port, "security": "none"}}),
        ))
        .unwrap();
        acc.import(&tokens.export()).unwrap();
        acc
    };
    let spoke_first = |conn: usize| traffic.lock().unwrap().spoke_first[conn];
    let acc = account(json!({}));
    let (_, got) = acc.fetch(r#"{"only_new": false}"#);
    assert_eq!(got.len(), 3);
    assert_eq!(
        spoke_first(0),
        Some(false),
        "a server never met: wait for its greeting"
    );
    let (summary, got) = acc.fetch(r#"{"only_new": false}"#);
    assert_eq!(got.len(), 3, "{summary}");
    assert_eq!(
        spoke_first(1),
        Some(true),
        "met before: the login leaves first"
    );
    let text = String::from_utf8_lossy(&traffic.lock().unwrap().client[1]).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("A0001 AUTHENTICATE XOAUTH2 "),
        "{}",
        &text[..40.min(text.len())]
    );
    assert_eq!(
        lines[1], r#"A0002 EXAMINE "INBOX""#,
        "the EXAMINE in the login's flight"
    );
    assert_eq!(text.matches("AUTHENTICATE").count(), 1, "sent once");
    assert_eq!(text.matches("EXAMINE").count(), 1, "sent once");
    let off = account(json!({"early_login": false}));
    let (_, got) = off.fetch(r#"{"only_new": false}"#);
    assert_eq!(got.len(), 3);
    assert_eq!(
        spoke_first(2),
        Some(false),
        "early_login false: wait for the greeting"
    );
    // a token the server refuses, sent early: refreshed, and the retry waits for the greeting
    let stale = account(json!({}));
    let mut set = tokens.export();
    set["access_token"] = json!("not-a-valid-token");
    stale.import(&set).unwrap();
    let (summary, got) = stale.fetch(r#"{"only_new": false}"#);
    assert_eq!(got.len(), 3, "{summary}");
    let t = traffic.lock().unwrap();
    assert_eq!(t.spoke_first[3], Some(true), "the stale token left early");
    assert_eq!(
        t.spoke_first[4],
        Some(false),
        "after a refusal: the greeting again"
    );
}
