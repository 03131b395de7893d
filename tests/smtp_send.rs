//! Sending over SMTP through the real Dovecot submission service (tokens checked at the
//! sandbox OAuth2 server), relayed to the SMTP sink: STARTTLS + XOAUTH2, implicit TLS +
//! OAUTHBEARER, password, Bcc hidden, copy to self, a refused recipient in a batch, a refused
//! token refreshed, a bad password, injection, no recipient, a connection cut mid-batch, and
//! STARTTLS missing or followed by injected bytes (a fake server).

mod common;

use common::capi::{init, Acc};
use common::mail::mail_sandbox;
use common::sink::{header_of, mail_from, rcpt_to, sink_all, sunk_with_id};
use common::{authorized_as, sandbox, serial};
use oauthmail::smtp::{self, envelope};
use oauthmail::{Account, Status};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn outgoing(port: u16, security: &str, extra: Value) -> Value {
    let mut o =
        json!({"protocol": "smtp", "host": "127.0.0.1", "port": port, "security": security});
    for (k, v) in extra.as_object().unwrap() {
        o[k] = v.clone();
    }
    o
}

/// An authorized account for `user` sending through the given listener.
fn smtp_account(user: &str, port_key: &str, security: &str, extra_out: Value, extra: Value) -> Acc {
    let m = mail_sandbox();
    let mut cfg =
        json!({"email": user, "outgoing": outgoing(m.port(port_key), security, extra_out)});
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    authorized_as("confidential-app", user, cfg)
}

fn core(acc: &Acc) -> Arc<Account> {
    oauthmail::registry::get(acc.h as usize).unwrap()
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    oauthmail::runtime::block_on(f).unwrap()
}

fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "<{tag}-{}-{}@smtp-test.example>",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn message(from: &str, to: &str, id: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Sender <{from}>\r\nTo: {to}\r\n{extra_headers}Subject: test {id}\r\nMessage-ID: {id}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
    .into_bytes()
}

#[test]
fn starttls_xoauth2_sends_the_raw_message_and_hides_bcc() {
    let _s = serial();
    init();
    let user = "smtp-a@example.test";
    let acc = smtp_account(user, "submission_port", "starttls", json!({}), json!({}));
    let a = core(&acc);
    let id = unique("starttls");
    let raw = message(
        user,
        "\"Doe, Bob\" <bob@example.test>,\r\n  carol@example.test",
        &id,
        "Cc: Team: dave@example.test;\r\nBcc: hidden@example.test\r\n",
        "Hello,\r\n.leading dot line\r\n\r\nBcc: in the body stays\r\nbye\r\n",
    );
    let r = block(smtp::send_raw(&a, &raw, None, false)).unwrap();
    assert_eq!(r.message_id.as_deref(), Some(id.as_str()));
    assert_eq!(r.reply_code, 250, "{}", r.reply_text);
    assert!(r.reply_text.starts_with("250"), "{}", r.reply_text);
    assert_eq!(r.mail_from.as_deref(), Some(user));
    assert_eq!(r.recipients.len(), 4, "{:?}", r.recipients);

    let got = sunk_with_id(&id, 1);
    assert_eq!(got.len(), 1, "exactly one copy");
    let s = &got[0];
    assert_eq!(mail_from(s), user);
    assert_eq!(
        rcpt_to(s),
        vec![
            "bob@example.test",
            "carol@example.test",
            "dave@example.test",
            "hidden@example.test"
        ]
    );
    // the bytes we sent, minus the Bcc header; Dovecot only adds headers on top
    let expected = envelope::strip_bcc(&raw);
    assert!(
        !expected.windows(8).any(|w| w == b"\r\nBcc: h"),
        "the Bcc header is gone from what we sent"
    );
    assert!(
        s.eml.ends_with(&expected),
        "sink got:\n{}",
        String::from_utf8_lossy(&s.eml)
    );
    assert!(header_of(&s.eml, "Bcc").is_none());
    assert!(String::from_utf8_lossy(&s.eml).contains("\r\nBcc: in the body stays\r\n"));
}

#[test]
fn implicit_tls_oauthbearer_with_lf_line_ends() {
    let _s = serial();
    init();
    let user = "smtp-b@example.test";
    let acc = smtp_account(
        user,
        "submissions_port",
        "tls",
        json!({"sasl_mechanism": "oauthbearer"}),
        json!({}),
    );
    let a = core(&acc);
    let id = unique("tls");
    let raw = String::from_utf8(message(
        user,
        "bob@example.test",
        &id,
        "",
        "line 1\r\nline 2\r\n",
    ))
    .unwrap()
    .replace("\r\n", "\n");
    let r = block(smtp::send_raw(&a, raw.as_bytes(), None, false)).unwrap();
    assert_eq!(r.reply_code, 250);
    let got = sunk_with_id(&id, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(rcpt_to(&got[0]), vec!["bob@example.test"]);
    assert!(got[0].eml.ends_with(raw.replace('\n', "\r\n").as_bytes()));
    // the settings check sees what the server offers after TLS
    let info = block(smtp::server_info(&a)).unwrap();
    assert!(info.tls);
    assert!(
        info.mechanisms.iter().any(|m| m == "OAUTHBEARER"),
        "{info:?}"
    );
    assert!(info.mechanisms.iter().any(|m| m == "XOAUTH2"), "{info:?}");
}

fn password_account(port_key: &str, security: &str, password: &str) -> Acc {
    let m = mail_sandbox();
    Acc::new(&sandbox().config(
        "confidential-app",
        json!({"email": "bob@example.test", "outgoing": outgoing(m.port(port_key), security, json!({
            "auth": "password", "username": "bob@example.test", "password": password}))}),
    ))
    .unwrap()
}

#[test]
fn password_account_sends() {
    let _s = serial();
    init();
    let acc = password_account("submission_port", "starttls", "bob-password");
    let a = core(&acc);
    let id = unique("password");
    let raw = message("bob@example.test", "alice@example.test", &id, "", "hi\r\n");
    let r = block(smtp::send_raw(&a, &raw, None, false)).unwrap();
    assert_eq!(r.reply_code, 250);
    let got = sunk_with_id(&id, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(mail_from(&got[0]), "bob@example.test");
}

#[test]
fn a_bad_password_is_login_rejected_with_the_servers_reply() {
    let _s = serial();
    init();
    let acc = password_account("submissions_port", "tls", "wrong-password");
    let a = core(&acc);
    let before = sink_all().len();
    let raw = message(
        "bob@example.test",
        "alice@example.test",
        &unique("badpw"),
        "",
        "x\r\n",
    );
    let e = block(smtp::send_raw(&a, &raw, None, false)).unwrap_err();
    assert_eq!(e.status, Status::LoginRejected, "{e}");
    assert!(e.full_text().contains("535"), "{}", e.full_text());
    assert!(e.hint.is_some());
    assert_eq!(sink_all().len(), before);
}

#[test]
fn an_oauth_login_refused_even_after_refresh_keeps_the_servers_reply() {
    let _s = serial();
    init();
    // the token is alice-like `smtp-who@…`'s, the SASL user someone else: Dovecot refuses
    let user = "smtp-who@example.test";
    let acc = smtp_account(
        user,
        "submission_port",
        "starttls",
        json!({"username": "someone-else@example.test"}),
        json!({"language": "fr"}),
    );
    let a = core(&acc);
    let before = sandbox().token_requests("refresh_token");
    let raw = message(user, "bob@example.test", &unique("refused"), "", "x\r\n");
    let e = block(smtp::send_raw(&a, &raw, None, false)).unwrap_err();
    assert_eq!(e.status, Status::LoginRejected, "{e}");
    assert!(e.message.contains("535"), "{}", e.message);
    assert!(e.message.contains("a refusé"), "{}", e.message);
    let detail = e.detail.clone().unwrap_or_default();
    assert!(detail.contains("535 5.7.8"), "{detail}");
    assert!(
        detail.contains("status 401"),
        "the challenge is described: {detail}"
    );
    assert!(e.hint.as_deref().unwrap_or("").contains("SMTP.Send"), "{e}");
    assert_eq!(
        sandbox().token_requests("refresh_token"),
        before + 1,
        "one refresh, then the refusal"
    );
}

#[test]
fn copy_to_self_adds_the_own_address_as_recipient() {
    let _s = serial();
    init();
    let user = "smtp-copy@example.test";
    let acc = smtp_account(
        user,
        "submissions_port",
        "tls",
        json!({}),
        json!({"options": {"copy_to_self": true}}),
    );
    let a = core(&acc);
    let id = unique("copy");
    let raw = message(user, "bob@example.test", &id, "", "copy\r\n");
    block(smtp::send_raw(&a, &raw, None, false)).unwrap();
    let got = sunk_with_id(&id, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(rcpt_to(&got[0]), vec!["bob@example.test", user]);
    assert!(got[0].eml.ends_with(&raw), "no header added");

    // the explicit flag, on an account without the option
    let acc2 = smtp_account(user, "submissions_port", "tls", json!({}), json!({}));
    let a2 = core(&acc2);
    let id2 = unique("copy-flag");
    let raw2 = message(user, "bob@example.test", &id2, "", "copy\r\n");
    block(smtp::send_raw(&a2, &raw2, None, true)).unwrap();
    assert_eq!(
        rcpt_to(&sunk_with_id(&id2, 1)[0]),
        vec!["bob@example.test", user]
    );
    // and without either: no copy
    let id3 = unique("nocopy");
    let raw3 = message(user, "bob@example.test", &id3, "", "copy\r\n");
    block(smtp::send_raw(&a2, &raw3, None, false)).unwrap();
    assert_eq!(rcpt_to(&sunk_with_id(&id3, 1)[0]), vec!["bob@example.test"]);
}

#[test]
fn shared_mailbox_mail_from_is_the_shared_address() {
    let _s = serial();
    init();
    // the delegate logs in; the message is from the shared mailbox
    let user = "smtp-delegate@example.test";
    let acc = smtp_account(user, "submissions_port", "tls", json!({}), json!({}));
    let a = core(&acc);
    let id = unique("shared");
    let raw = message(
        "shared@example.test",
        "bob@example.test",
        &id,
        "Sender: shared@example.test\r\n",
        "from the shared box\r\n",
    );
    let r = block(smtp::send_raw(&a, &raw, None, false)).unwrap();
    assert_eq!(r.mail_from.as_deref(), Some("shared@example.test"));
    assert_eq!(mail_from(&sunk_with_id(&id, 1)[0]), "shared@example.test");
    // an explicit envelope wins over the headers
    let id2 = unique("explicit");
    let raw2 = message("shared@example.test", "bob@example.test", &id2, "", "x\r\n");
    let env = envelope::envelope(Some("bounces@example.test"), &["carol@example.test"]).unwrap();
    block(smtp::send_raw(&a, &raw2, Some(env), false)).unwrap();
    let got = sunk_with_id(&id2, 1);
    assert_eq!(mail_from(&got[0]), "bounces@example.test");
    assert_eq!(rcpt_to(&got[0]), vec!["carol@example.test"]);
}

#[test]
fn a_rejected_recipient_fails_only_its_message_in_a_batch() {
    let _s = serial();
    init();
    let user = "smtp-batch@example.test";
    let acc = smtp_account(user, "submission_port", "starttls", json!({}), json!({}));
    let a = core(&acc);
    let ids: Vec<String> = (0..3).map(|_| unique("batch")).collect();
    let msgs = vec![
        (
            message(user, "bob@example.test", &ids[0], "", "one\r\n"),
            None,
        ),
        (
            message(
                user,
                "bob@example.test, reject@example.test",
                &ids[1],
                "",
                "two\r\n",
            ),
            None,
        ),
        (
            message(user, "carol@example.test", &ids[2], "", "three\r\n"),
            None,
        ),
    ];
    let rs = block(smtp::send_batch(&a, msgs));
    assert_eq!(rs.len(), 3);
    assert!(rs[0].is_ok(), "{:?}", rs[0]);
    let e = rs[1].as_ref().unwrap_err();
    assert_eq!(e.status, Status::ProtocolError, "{e}");
    assert!(e.full_text().contains("550"), "{}", e.full_text());
    assert!(
        e.full_text().contains("reject@example.test"),
        "{}",
        e.full_text()
    );
    assert!(rs[2].is_ok(), "{:?}", rs[2]);
    assert!(e.hint.is_some(), "a hint says who fixes what: {e}");
    assert_eq!(sunk_with_id(&ids[0], 1).len(), 1);
    assert_eq!(sunk_with_id(&ids[1], 0).len(), 0);
    assert_eq!(sunk_with_id(&ids[2], 1).len(), 1);
    // the same refusal for a French-speaking account
    let acc = smtp_account(
        user,
        "submission_port",
        "starttls",
        json!({}),
        json!({"language": "fr"}),
    );
    let id = unique("batch-fr");
    let raw = message(user, "reject@example.test", &id, "", "quatre\r\n");
    let e = block(smtp::send_raw(&core(&acc), &raw, None, false)).unwrap_err();
    assert!(e.message.contains("a refusé 1 destinataire"), "{e}");
    assert!(
        e.hint
            .as_deref()
            .unwrap_or("")
            .contains("Vérifiez ces adresses"),
        "{e}"
    );
    assert!(e.detail.as_deref().unwrap_or("").contains("550"), "{e}");
}

#[test]
fn a_token_the_server_refuses_is_refreshed_transparently() {
    let _s = serial();
    init();
    let user = "smtp-refresh@example.test";
    let acc = smtp_account(user, "submission_port", "starttls", json!({}), json!({}));
    let mut v = acc.export();
    v["access_token"] = json!("not-a-valid-token-anymore");
    v["version"] = json!(v["version"].as_u64().unwrap() + 1);
    acc.import(&v).unwrap();
    let before = sandbox().token_requests("refresh_token");
    let a = core(&acc);
    let id = unique("refresh");
    let raw = message(user, "bob@example.test", &id, "", "x\r\n");
    block(smtp::send_raw(&a, &raw, None, false)).unwrap();
    assert_eq!(sandbox().token_requests("refresh_token"), before + 1);
    assert_ne!(acc.export()["access_token"], "not-a-valid-token-anymore");
    assert_eq!(sunk_with_id(&id, 1).len(), 1);
}

#[test]
fn injection_and_missing_recipients_are_invalid_arguments() {
    let _s = serial();
    init();
    let user = "smtp-inject@example.test";
    let acc = smtp_account(user, "submissions_port", "tls", json!({}), json!({}));
    let a = core(&acc);
    let before = sink_all().len();
    // through an explicit envelope
    let e =
        envelope::envelope(Some(user), &["bob@example.test\r\nBcc: x@example.test"]).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    assert!(e.message.contains("envelope recipient #1"), "{}", e.message);
    let e = envelope::envelope(
        Some("a@example.test>\r\nRCPT TO:<x@example.test"),
        &["b@example.test"],
    )
    .unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    // through the headers: a bare CR inside To
    let raw = format!(
        "From: {user}\r\nTo: bob@example.test\rBcc: x@example.test\r\nMessage-ID: {}\r\n\r\nx\r\n",
        unique("inject")
    );
    let e = block(smtp::send_raw(&a, raw.as_bytes(), None, false)).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument, "{e}");
    assert!(e.message.starts_with("To"), "{}", e.message);
    // no recipient at all
    let raw = format!("From: {user}\r\nSubject: none\r\n\r\nx\r\n");
    let e = block(smtp::send_raw(&a, raw.as_bytes(), None, false)).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument, "{e}");
    let raw = format!("From: {user}\r\nTo: undisclosed-recipients:;\r\n\r\nx\r\n");
    let e = block(smtp::send_raw(&a, raw.as_bytes(), None, false)).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument, "{e}");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(sink_all().len(), before, "nothing reached the sink");
}

/// A TCP proxy in front of `target` that cuts its first connection after `cut_after` bytes
/// from the client (0: at once, before the greeting); later connections pass through. Returns its port and a connection count.
fn cutting_proxy(target: u16, cut_after: usize) -> (u16, Arc<AtomicUsize>) {
    cutting_proxy_with_hook(target, cut_after, None)
}

fn cutting_proxy_with_hook(
    target: u16,
    cut_after: usize,
    on_cut: Option<Hook>,
) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let c2 = count.clone();
    std::thread::spawn(move || {
        for _ in 0..20 {
            let Ok((client, _)) = l.accept() else { return };
            let n = c2.fetch_add(1, Ordering::SeqCst);
            if n == 0 && cut_after == 0 {
                // cut before the server's greeting reaches the client
                let _ = client.shutdown(Shutdown::Both);
                continue;
            }
            let server = TcpStream::connect(("127.0.0.1", target)).unwrap();
            let limit = if n == 0 { Some(cut_after) } else { None };
            pipe_with_hook(
                client,
                server,
                limit,
                if n == 0 { on_cut.clone() } else { None },
            );
        }
    });
    (port, count)
}

type Hook = Arc<dyn Fn() + Send + Sync>;

/// Relays both ways; after `limit` client bytes the connection is cut, `on_cut` running just
/// before.
fn pipe_with_hook(
    client: TcpStream,
    server: TcpStream,
    limit: Option<usize>,
    on_cut: Option<Hook>,
) {
    let all = Arc::new(Mutex::new(vec![
        client.try_clone().unwrap(),
        server.try_clone().unwrap(),
    ]));
    let cut = move |all: &Mutex<Vec<TcpStream>>| {
        for s in all.lock().unwrap().iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
    };
    let (mut c_r, mut s_w) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let (mut s_r, mut c_w) = (server, client);
    let a1 = all.clone();
    std::thread::spawn(move || {
        let mut sent = 0usize;
        let mut buf = [0u8; 4096];
        for _ in 0..1_000_000 {
            let n = match c_r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let n = match limit {
                Some(l) if sent + n >= l => {
                    let _ = s_w.write_all(&buf[..l - sent]);
                    std::thread::sleep(Duration::from_millis(100));
                    if let Some(h) = &on_cut {
                        h();
                    }
                    cut(&a1);
                    return;
                }
                _ => n,
            };
            sent += n;
            if s_w.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        cut(&a1);
    });
    let a2 = all;
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        for _ in 0..1_000_000 {
            let n = match s_r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if c_w.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = a2;
    });
}

#[test]
fn a_connection_cut_mid_batch_sends_each_message_at_most_once() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "smtp-cut@example.test";
    let (port, connections) = cutting_proxy(m.port("submissions_port"), 9000);
    let acc = authorized_as(
        "confidential-app",
        user,
        json!({"email": user, "outgoing": outgoing(port, "tls", json!({}))}),
    );
    let a = core(&acc);
    let body = "0123456789 abcdefghijklmnopqrstuvwxyz\r\n".repeat(12);
    let ids: Vec<String> = (0..20).map(|_| unique("cut")).collect();
    let msgs = ids
        .iter()
        .map(|id| (message(user, "bob@example.test", id, "", &body), None))
        .collect();
    let rs = block(smtp::send_batch(&a, msgs));
    assert_eq!(rs.len(), 20);
    assert!(
        connections.load(Ordering::SeqCst) >= 2,
        "the proxy cut the first connection and the batch reconnected"
    );
    let mut unknown = 0;
    for (id, r) in ids.iter().zip(&rs) {
        let copies = sunk_with_id(id, 1).len();
        match r {
            Ok(r) => {
                assert_eq!(r.reply_code, 250);
                assert_eq!(copies, 1, "{id} sent once");
            }
            Err(e) => {
                assert!(smtp::is_delivery_unknown(e), "{id}: {e}");
                assert!(copies <= 1, "{id} not sent twice");
                unknown += 1;
            }
        }
    }
    eprintln!(
        "cut mid-batch: {} connections, {unknown} message(s) with delivery unknown",
        connections.load(Ordering::SeqCst)
    );
    assert!(unknown <= 1, "{rs:?}");
}

/// A cut while the session opens — before or during the greeting, during EHLO, during the TLS
/// handshake — is a network error like any other cut: the batch opens a new session and sends
/// everything once. (The proxy is hand-written: Dovecot cannot be told to drop a connection at
/// a given moment.)
#[test]
fn a_cut_while_the_session_opens_reconnects() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "smtp-open-cut@example.test";
    // (listener, security, client bytes before the cut, phase)
    let cases = [
        ("submission_port", "starttls", 0, "greeting"),
        ("submission_port", "starttls", 1, "EHLO"),
        ("submissions_port", "tls", 1, "TLS handshake"),
        ("submissions_port", "tls", 0, "before the TLS handshake"),
    ];
    for (listener, security, cut_after, phase) in cases {
        let (port, connections) = cutting_proxy(m.port(listener), cut_after);
        let acc = authorized_as(
            "confidential-app",
            user,
            json!({"email": user, "outgoing": outgoing(port, security, json!({}))}),
        );
        let a = core(&acc);
        let ids: Vec<String> = (0..3).map(|_| unique("open-cut")).collect();
        let msgs = ids
            .iter()
            .map(|id| (message(user, "bob@example.test", id, "", "x\r\n"), None))
            .collect();
        let rs = block(smtp::send_batch(&a, msgs));
        for (id, r) in ids.iter().zip(&rs) {
            assert!(r.is_ok(), "cut at {phase}: {id}: {r:?}");
            assert_eq!(
                sunk_with_id(id, 1).len(),
                1,
                "cut at {phase}: {id} sent once"
            );
        }
        assert_eq!(
            connections.load(Ordering::SeqCst),
            2,
            "cut at {phase}: one reconnection"
        );
    }
}

/// A server that always hangs up at once: a network error (not a protocol error) for every
/// message, after a few bounded attempts.
#[test]
fn a_server_that_always_hangs_up_is_a_network_error() {
    let _s = serial();
    init();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let a2 = accepted.clone();
    std::thread::spawn(move || {
        for _ in 0..20 {
            let Ok((s, _)) = l.accept() else { return };
            a2.fetch_add(1, Ordering::SeqCst);
            let _ = s.shutdown(Shutdown::Both);
        }
    });
    for security in ["starttls", "tls"] {
        let before = accepted.load(Ordering::SeqCst);
        let acc = fake_account_with(port, security);
        let a = core(&acc);
        let msgs = (0..2)
            .map(|_| {
                (
                    message(
                        "smtp-fake@example.test",
                        "bob@example.test",
                        &unique("hup"),
                        "",
                        "x\r\n",
                    ),
                    None,
                )
            })
            .collect();
        let rs = block(smtp::send_batch(&a, msgs));
        for r in &rs {
            let e = r.as_ref().unwrap_err();
            assert_eq!(e.status, Status::NetworkError, "{security}: {e}");
        }
        let tries = accepted.load(Ordering::SeqCst) - before;
        assert!((2..=5).contains(&tries), "{security}: {tries} connections");
    }
}

/// A fake SMTP server on 127.0.0.1 that plays `script` (reply to send after each line read)
/// and records what it received.
fn fake_server(greeting: &'static str, replies: Vec<&'static str>) -> (u16, Arc<Mutex<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else { return };
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(greeting.as_bytes()).unwrap();
        let mut replies = replies.into_iter();
        let mut buf = [0u8; 4096];
        for _ in 0..100 {
            let n = match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            g.lock().unwrap().extend_from_slice(&buf[..n]);
            match replies.next() {
                Some(r) => {
                    if s.write_all(r.as_bytes()).is_err() {
                        return;
                    }
                }
                None => return,
            }
        }
    });
    (port, got)
}

fn fake_account(port: u16) -> Acc {
    fake_account_with(port, "starttls")
}

fn fake_account_with(port: u16, security: &str) -> Acc {
    authorized_as(
        "confidential-app",
        "smtp-fake@example.test",
        json!({"email": "smtp-fake@example.test", "timeout_secs": 5,
               "outgoing": outgoing(port, security, json!({}))}),
    )
}

#[test]
fn starttls_not_offered_sends_no_credential() {
    let _s = serial();
    init();
    let (port, got) = fake_server(
        "220 fake ESMTP\r\n",
        vec!["250-fake\r\n250-AUTH PLAIN XOAUTH2\r\n250 8BITMIME\r\n"],
    );
    let acc = fake_account(port);
    let a = core(&acc);
    let raw = message(
        "smtp-fake@example.test",
        "bob@example.test",
        &unique("fake"),
        "",
        "x\r\n",
    );
    let e = block(smtp::send_raw(&a, &raw, None, false)).unwrap_err();
    assert_eq!(e.status, Status::TlsError, "{e}");
    assert!(
        e.message.contains(&format!("127.0.0.1:{port}")),
        "{}",
        e.message
    );
    std::thread::sleep(Duration::from_millis(100));
    let sent = String::from_utf8_lossy(&got.lock().unwrap()).to_string();
    assert!(sent.starts_with("EHLO "), "{sent}");
    assert!(!sent.contains("AUTH"), "{sent}");
}

#[test]
fn bytes_injected_after_starttls_are_refused() {
    let _s = serial();
    init();
    let (port, got) = fake_server(
        "220 fake ESMTP\r\n",
        vec![
            "250-fake\r\n250-STARTTLS\r\n250 AUTH XOAUTH2\r\n",
            "220 go ahead\r\n250 injected\r\n",
        ],
    );
    let acc = fake_account(port);
    let a = core(&acc);
    let raw = message(
        "smtp-fake@example.test",
        "bob@example.test",
        &unique("fake"),
        "",
        "x\r\n",
    );
    let e = block(smtp::send_raw(&a, &raw, None, false)).unwrap_err();
    assert_eq!(e.status, Status::ProtocolError, "{e}");
    assert!(e.full_text().contains("injected after STARTTLS"), "{e}");
    let sent = String::from_utf8_lossy(&got.lock().unwrap()).to_string();
    assert!(!sent.contains("AUTH"), "{sent}");
}

/// A plain fake SMTP server (no AUTH) that records each message's DATA and hangs up without
/// replying after the DATA of message number `drop_reply_of` (counted from 1, all
/// connections together). Serves at most 10 connections.
fn dropping_server(drop_reply_of: usize) -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for _ in 0..10 {
            let Ok((s, _)) = l.accept() else { return };
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut w = s.try_clone().unwrap();
            let mut r = std::io::BufReader::new(s);
            let _ = w.write_all(b"220 fake ESMTP\r\n");
            let mut in_data = false;
            let mut data = String::new();
            for _ in 0..100_000 {
                let mut line = String::new();
                match std::io::BufRead::read_line(&mut r, &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if in_data {
                    if line == ".\r\n" {
                        in_data = false;
                        let mut all = g.lock().unwrap();
                        all.push(std::mem::take(&mut data));
                        if all.len() == drop_reply_of {
                            let _ = w.shutdown(Shutdown::Both);
                            break;
                        }
                        let _ = w.write_all(b"250 2.0.0 queued\r\n");
                    } else {
                        data.push_str(&line);
                    }
                    continue;
                }
                let u = line.to_ascii_uppercase();
                let reply: &[u8] = if u.starts_with("EHLO") {
                    b"250-fake\r\n250 8BITMIME\r\n"
                } else if u.starts_with("DATA") {
                    in_data = true;
                    b"354 go on\r\n"
                } else if u.starts_with("QUIT") {
                    let _ = w.write_all(b"221 bye\r\n");
                    break;
                } else {
                    b"250 ok\r\n"
                };
                if w.write_all(reply).is_err() {
                    break;
                }
            }
        }
    });
    (port, got)
}

#[test]
fn a_lost_data_reply_is_reported_unknown_and_never_resent() {
    let _s = serial();
    init();
    let (port, got) = dropping_server(3);
    let acc = Acc::new(&sandbox().config(
        "confidential-app",
        json!({"email": "smtp-drop@example.test", "allow_insecure_transport": true, "timeout_secs": 5,
               "outgoing": outgoing(port, "none", json!({"auth": "none"}))}),
    ))
    .unwrap();
    let a = core(&acc);
    let ids: Vec<String> = (0..6).map(|_| unique("drop")).collect();
    let msgs = ids
        .iter()
        .map(|id| {
            (
                message(
                    "smtp-drop@example.test",
                    "bob@example.test",
                    id,
                    "",
                    "x\r\n",
                ),
                None,
            )
        })
        .collect();
    let rs = block(smtp::send_batch(&a, msgs));
    for (i, r) in rs.iter().enumerate() {
        if i == 2 {
            let e = r.as_ref().unwrap_err();
            assert!(smtp::is_delivery_unknown(e), "{e}");
            // its own status: a host retrying network errors must not send it again
            assert_eq!(e.status, Status::DeliveryUnknown);
            assert!(e.message.contains(&ids[2]), "{}", e.message);
        } else {
            assert!(r.is_ok(), "message {i}: {r:?}");
        }
    }
    let all = got.lock().unwrap();
    for id in &ids {
        let n = all.iter().filter(|d| d.contains(id.as_str())).count();
        assert_eq!(n, 1, "{id} reached the server exactly once");
    }
}

/// Through the C ABI: om_send_raw whose reply is lost returns OM_STATUS_DELIVERY_UNKNOWN (its
/// own status, so a host that retries network errors does not send it twice), and
/// om_send_batch reports it per message.
#[test]
fn delivery_unknown_is_its_own_status_in_the_c_abi() {
    use oauthmail::ffi::send::{om_send_batch, om_send_raw};
    use oauthmail::ffi::status::OM_STATUS_DELIVERY_UNKNOWN;
    use std::ffi::CString;
    let _s = serial();
    init();
    let (port, got) = dropping_server(1);
    let acc = Acc::new(&sandbox().config(
        "confidential-app",
        json!({"email": "smtp-drop@example.test", "allow_insecure_transport": true, "timeout_secs": 5,
               "outgoing": outgoing(port, "none", json!({"auth": "none"}))}),
    ))
    .unwrap();
    let id = unique("unknown");
    let raw = message(
        "smtp-drop@example.test",
        "bob@example.test",
        &id,
        "",
        "x\r\n",
    );
    let mut out = std::ptr::null_mut();
    let st = unsafe { om_send_raw(acc.h, raw.as_ptr(), raw.len(), std::ptr::null(), &mut out) };
    assert_eq!(
        st,
        OM_STATUS_DELIVERY_UNKNOWN,
        "{}",
        common::capi::last_error()
    );
    assert!(out.is_null());
    assert_eq!(got.lock().unwrap().len(), 1, "sent once, not again");
    // in a batch: the per-message result names the status
    let (port, _) = dropping_server(1);
    let acc = Acc::new(&sandbox().config(
        "confidential-app",
        json!({"email": "smtp-drop@example.test", "allow_insecure_transport": true, "timeout_secs": 5,
               "outgoing": outgoing(port, "none", json!({"auth": "none"}))}),
    ))
    .unwrap();
    let batch = CString::new(
        json!([{"to": "bob@example.test", "subject": "a", "text": "x"},
               {"to": "bob@example.test", "subject": "b", "text": "y"}])
        .to_string(),
    )
    .unwrap();
    let st = unsafe { om_send_batch(acc.h, batch.as_ptr(), std::ptr::null(), &mut out) };
    assert_eq!(st, 0, "{}", common::capi::last_error());
    let v: Value =
        serde_json::from_str(&unsafe { std::ffi::CStr::from_ptr(out) }.to_string_lossy()).unwrap();
    unsafe { oauthmail::ffi::library::om_string_free(out) };
    assert_eq!(v[0]["ok"], false, "{v}");
    assert_eq!(v[0]["status"], "OM_STATUS_DELIVERY_UNKNOWN", "{v}");
    assert_eq!(v[0]["code"], 23, "{v}");
    assert_eq!(v[0]["delivery_unknown"], true, "{v}");
    assert_eq!(v[1]["ok"], true, "{v}");
}

/// The access token expires while a batch is being sent: the connection that carries the batch
/// stays authenticated, but when it drops the reconnection must log in with a fresh token.
/// Emulated by cutting the first connection and, at that moment, replacing the cached token by
/// one the server no longer accepts (as an expired one).
#[test]
fn token_expiry_in_the_middle_of_a_batch_is_refreshed_on_reconnect() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "smtp-expiry@example.test";
    let slot: Arc<Mutex<Option<Arc<Acc>>>> = Arc::new(Mutex::new(None));
    let s2 = slot.clone();
    // when the first connection is cut, the cached token has "expired": the server refuses it
    let hook: Hook = Arc::new(move || {
        if let Some(acc) = s2.lock().unwrap().as_ref() {
            let mut v = acc.export();
            v["access_token"] = json!("expired-access-token-0000");
            v["version"] = json!(v["version"].as_u64().unwrap() + 1);
            acc.import(&v).unwrap();
        }
    });
    let (port, connections) = cutting_proxy_with_hook(m.port("submissions_port"), 6000, Some(hook));
    let acc = Arc::new(authorized_as(
        "confidential-app",
        user,
        json!({"email": user, "outgoing": outgoing(port, "tls", json!({}))}),
    ));
    *slot.lock().unwrap() = Some(acc.clone());
    let a = core(&acc);
    let body = "0123456789 abcdefghijklmnopqrstuvwxyz\r\n".repeat(12);
    let ids: Vec<String> = (0..12).map(|_| unique("expiry")).collect();
    let msgs: Vec<(Vec<u8>, Option<smtp::Envelope>)> = ids
        .iter()
        .map(|id| (message(user, "bob@example.test", id, "", &body), None))
        .collect();
    let before = sandbox().token_requests("refresh_token");
    let rs = block(smtp::send_batch(&a, msgs));
    assert!(
        connections.load(Ordering::SeqCst) >= 2,
        "the batch was cut and reconnected"
    );
    assert_eq!(
        sandbox().token_requests("refresh_token"),
        before + 1,
        "one refresh on reconnect"
    );
    let mut unknown = 0;
    for (id, r) in ids.iter().zip(&rs) {
        let copies = sunk_with_id(id, 1).len();
        match r {
            Ok(_) => assert_eq!(copies, 1, "{id} sent once"),
            Err(e) => {
                assert!(smtp::is_delivery_unknown(e), "{id}: {e}");
                assert!(copies <= 1);
                unknown += 1;
            }
        }
    }
    assert!(unknown <= 1, "{rs:?}");
    *slot.lock().unwrap() = None;
}

/// Round trips of a send (issue #14), read from what the client sent through a forwarding
/// proxy in front of Dovecot's plain-text submission listener (which offers PIPELINING), with
/// how much the server had answered when each part passed: the token rides on the AUTH line
/// (no 334 round trip), and MAIL, both RCPTs and DATA leave in one flight, before any of their
/// replies; the message is delivered once to both recipients. In a batch, the next message's
/// envelope leaves with the end of the previous message (one turn per message).
#[test]
fn a_send_pipelines_its_envelope_and_authenticates_in_one_turn() {
    let _s = serial();
    init();
    let user = "smtp-turns@example.test";
    let m = mail_sandbox();
    let tokens = smtp_account(user, "submission_port", "starttls", json!({}), json!({}));
    let plain = m.info["direct_ports"]["submission"].as_u64().unwrap() as u16;
    let (port, traffic) = common::traffic::forwarding_proxy(plain);
    let acc = Acc::new(&sandbox().config(
        "confidential-app",
        json!({"email": user, "allow_insecure_transport": true,
               "outgoing": outgoing(port, "none", json!({}))}),
    ))
    .unwrap();
    acc.import(&tokens.export()).unwrap();
    let id = unique("pipelined");
    let raw = message(
        user,
        "bob@example.test, carol@example.test",
        &id,
        "",
        "pipelined\r\n",
    );
    let r = block(smtp::send_raw(&core(&acc), &raw, None, false)).unwrap();
    assert_eq!(r.recipients.len(), 2, "{r:?}");
    assert_eq!(sunk_with_id(&id, 1).len(), 1);
    let t = traffic.lock().unwrap();
    let text = String::from_utf8_lossy(&t.client[0]).into_owned();
    let auth = text.lines().find(|l| l.starts_with("AUTH ")).unwrap();
    assert_eq!(
        auth.split_whitespace().count(),
        3,
        "AUTH with its initial response"
    );
    let after_auth = text.lines().skip_while(|l| !l.starts_with("AUTH ")).nth(1);
    assert!(
        after_auth.is_some_and(|l| l.starts_with("MAIL FROM")),
        "no SASL continuation answer: {after_auth:?}"
    );
    let at = |needle: &str| t.server_bytes_when_sent(0, needle).unwrap();
    let mail = at("MAIL FROM");
    assert_eq!(at("RCPT TO:<bob@example.test>"), mail, "{text}");
    assert_eq!(at("RCPT TO:<carol@example.test>"), mail, "{text}");
    assert_eq!(
        at("DATA\r\n"),
        mail,
        "MAIL, RCPT, RCPT, DATA in one flight: {text}"
    );
    drop(t);

    // a batch: each message's end of DATA carries the next message's envelope (after a RSET),
    // the last one's carries QUIT; each body still waits for its 354
    let batch: Vec<_> = (0..3)
        .map(|k| {
            let raw = message(
                user,
                &format!("x{k}@example.test"),
                &format!("{id}-{k}"),
                "",
                &format!("batch-body-{k}\r\n"),
            );
            (raw, None)
        })
        .collect();
    let rs = block(smtp::send_batch(&core(&acc), batch));
    assert!(rs.iter().all(|r| r.is_ok()), "{rs:?}");
    for k in 0..3 {
        assert_eq!(sunk_with_id(&format!("{id}-{k}"), 1).len(), 1);
    }
    // the proxy relays QUIT after the client already went on: wait for it (bounded)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !traffic
        .lock()
        .unwrap()
        .client
        .get(1)
        .is_some_and(|c| String::from_utf8_lossy(c).contains("QUIT\r\n"))
    {
        assert!(std::time::Instant::now() < deadline, "QUIT never went out");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let t = traffic.lock().unwrap();
    assert_eq!(t.client.len(), 2, "one connection for the batch");
    let text = String::from_utf8_lossy(&t.client[1]).into_owned();
    let at = |needle: &str| {
        t.server_bytes_when_sent(1, needle)
            .unwrap_or_else(|| panic!("`{needle}` not sent: {text}"))
    };
    for k in 0..2 {
        let end = at(&format!("batch-body-{k}\r\n.\r\nRSET\r\nMAIL FROM"));
        let next = at(&format!("RCPT TO:<x{}@example.test>\r\nDATA\r\n", k + 1));
        assert_eq!(
            end, next,
            "message {k}'s end and the next envelope in one flight: {text}"
        );
        let body = at(&format!("batch-body-{}", k + 1));
        assert!(
            body > next,
            "message {}'s body waited for its 354: {text}",
            k + 1
        );
    }
    assert_eq!(
        at("batch-body-2\r\n.\r\nQUIT\r\n"),
        at("batch-body-2\r\n.\r\n"),
        "QUIT with the last end of DATA: {text}"
    );
}
