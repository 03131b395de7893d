//! A login the mail server cannot check just now (its token check at the OAuth2 server fails:
//! the sandbox's `/_test/fail-introspection`), against the real Dovecot: IMAP answers
//! `NO [UNAVAILABLE]`, SMTP `454 4.7.0`, POP3 `-ERR [SYS/TEMP]`. Not a refused token: the
//! library tries once more with the same token (no refresh), and after a second failure says it
//! is the server's temporary trouble (OM_STATUS_NETWORK_ERROR), the token kept.

mod common;

use common::capi::{init, last_detail, Acc};
use common::mail::mail_sandbox;
use common::sink::sunk_with_id;
use common::{authorized_as, sandbox, serial};
use oauthmail::ffi::status::*;
use oauthmail::smtp;
use oauthmail::Status;
use serde_json::{json, Value};

fn incoming(user: &str, protocol: &str, port_key: &str) -> Acc {
    let m = mail_sandbox();
    authorized_as(
        "confidential-app",
        user,
        json!({"email": user, "incoming": {"protocol": protocol, "host": "127.0.0.1", "port": m.port(port_key), "security": "tls"}}),
    )
}

fn outgoing(user: &str) -> Acc {
    let m = mail_sandbox();
    authorized_as(
        "confidential-app",
        user,
        json!({"email": user, "outgoing": {"protocol": "smtp", "host": "127.0.0.1", "port": m.port("submission_port"), "security": "starttls"}}),
    )
}

/// What the OAuth2 server saw: token requests of any grant, introspections failed on purpose.
fn counts() -> (u64, u64) {
    let s = sandbox().stats();
    (
        s["token_requests_total"].as_u64().unwrap(),
        s["introspection_injected_failures"].as_u64().unwrap(),
    )
}

fn fail_next_introspections(n: u32) {
    sandbox().inject("fail-introspection", &format!("count={n}"));
}

/// After a scenario: no injected failure left for the next one, and the numbers it caused.
fn settle(before: (u64, u64)) -> (u64, u64) {
    fail_next_introspections(0);
    let after = counts();
    (after.0 - before.0, after.1 - before.1)
}

/// The token check fails until [`settle`]: the mail server is "down" for logins.
const DOWN: u32 = 1000;

fn token_of(acc: &Acc) -> Value {
    acc.export()["access_token"].clone()
}

/// One IMAP or POP3 account: one failure is ridden out with the same token, two are reported.
fn incoming_scenario(user: &str, protocol: &str, port_key: &str, server_words: &str) {
    let m = mail_sandbox();
    m.seed(user, 2, "INBOX", &[]);
    let acc = incoming(user, protocol, port_key);
    let token = token_of(&acc);

    let before = counts();
    fail_next_introspections(1);
    let (summary, got) = acc.fetch("{}");
    assert_eq!(got.len(), 2, "{summary}");
    assert_eq!(
        summary["reconnects"], 0,
        "the login tried again, not the fetch: {summary}"
    );
    assert_eq!(settle(before), (0, 1), "no token request; one failed check");
    assert_eq!(token_of(&acc), token, "the token was kept");

    m.seed(user, 1, "INBOX", &[]);
    let before = counts();
    fail_next_introspections(DOWN);
    let (r, got) = acc.fetch_with("{}", &mut |_| 0);
    let (status, msg) = r.unwrap_err();
    assert_eq!(status, OM_STATUS_NETWORK_ERROR, "{msg}");
    assert!(
        msg.contains("could not check the login of") && msg.contains("try again later"),
        "{msg}"
    );
    let detail = last_detail();
    assert!(
        detail.contains(server_words),
        "the server's words: {detail}"
    );
    assert!(got.is_empty());
    let (tokens, failed) = settle(before);
    assert_eq!(tokens, 0, "no token request");
    assert_eq!(
        failed, 2,
        "the login tried twice, and the fetch did not reconnect for more"
    );
    assert_eq!(token_of(&acc), token, "the token was kept");

    // the server is back: the same token fetches the message left behind
    let (summary, got) = acc.fetch("{}");
    assert_eq!(got.len(), 1, "{summary}");
    assert_eq!(token_of(&acc), token);
}

#[test]
fn imap_rides_out_one_temporary_failure_and_reports_two() {
    let _s = serial();
    init();
    incoming_scenario(
        "unavail-imap@example.test",
        "imap",
        "imaps_port",
        "[UNAVAILABLE]",
    );
}

#[test]
fn pop3_rides_out_one_temporary_failure_and_reports_two() {
    let _s = serial();
    init();
    incoming_scenario(
        "unavail-pop@example.test",
        "pop3",
        "pop3s_port",
        "[SYS/TEMP]",
    );
}

#[test]
fn smtp_rides_out_one_temporary_failure_and_reports_two() {
    let _s = serial();
    init();
    let user = "unavail-smtp@example.test";
    let acc = outgoing(user);
    let token = token_of(&acc);
    let a = oauthmail::registry::get(acc.h as usize).unwrap();
    let message = |id: &str| {
        format!(
            "From: {user}\r\nTo: bob@example.test\r\nSubject: x\r\nMessage-ID: {id}\r\n\r\nx\r\n"
        )
        .into_bytes()
    };

    let before = counts();
    fail_next_introspections(1);
    let id = format!("<unavail-1-{}@example.test>", std::process::id());
    let r = oauthmail::runtime::block_on(smtp::send_raw(&a, &message(&id), None, false))
        .unwrap()
        .unwrap();
    assert_eq!(r.reply_code, 250);
    assert_eq!(sunk_with_id(&id, 1).len(), 1);
    assert_eq!(settle(before), (0, 1), "no token request; one failed check");
    assert_eq!(token_of(&acc), token, "the token was kept");

    let before = counts();
    fail_next_introspections(DOWN);
    let id = format!("<unavail-2-{}@example.test>", std::process::id());
    let e = oauthmail::runtime::block_on(smtp::send_raw(&a, &message(&id), None, false))
        .unwrap()
        .unwrap_err();
    assert_eq!(e.status, Status::NetworkError, "{e}");
    assert!(e.message.contains("try again later"), "{e}");
    assert!(
        e.detail.as_deref().unwrap_or("").starts_with("454"),
        "{e:?}"
    );
    let (tokens, failed) = settle(before);
    assert_eq!(tokens, 0, "no token request");
    assert_eq!(
        failed, 2,
        "the login tried twice, and the send did not reopen for more"
    );
    assert_eq!(token_of(&acc), token, "the token was kept");
    assert!(sunk_with_id(&id, 1).is_empty(), "nothing was sent");
}
