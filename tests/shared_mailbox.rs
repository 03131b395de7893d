//! Shared mailboxes: the login user (SASL `user=`) differs from the token's owner, as with
//! Exchange Online's shared mailboxes (a delegate with FullAccess logs in as the shared address
//! with the delegate's own token). Dovecot reproduces it with a master login: `login_user` is
//! `shared@x*delegate@x`, the token is checked for the delegate (tests/sandbox/mail/
//! dovecot.conf.in), and the shared mailbox is opened. Fetch over IMAP and POP3, browse, and the
//! refusal when the token belongs to someone else, against the real Dovecot and OAuth2 server.

mod common;

use common::capi::init;
use common::mail::mail_sandbox;
use common::{authorized_as, serial};
use oauthmail::ffi::status::*;
use serde_json::json;

const SHARED: &str = "factures@example.test";
const DELEGATE: &str = "comptable@example.test";

fn delegate_account(
    shared: &str,
    protocol: &str,
    port_key: &str,
    token_owner: &str,
) -> common::capi::Acc {
    let m = mail_sandbox();
    authorized_as(
        "confidential-app",
        token_owner,
        json!({"email": DELEGATE, "login_user": format!("{shared}*{DELEGATE}"),
               "incoming": {"protocol": protocol, "host": "127.0.0.1",
                            "port": m.port(port_key), "security": "tls"}}),
    )
}

#[test]
fn a_delegate_reads_the_shared_mailbox_over_imap_and_pop3() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    m.seed(SHARED, 4, "INBOX", &["--seed", "shared"]);
    m.seed(DELEGATE, 2, "INBOX", &["--seed", "own"]);

    let imap = delegate_account(SHARED, "imap", "imaps_port", DELEGATE);
    let (summary, got) = imap.fetch("{}");
    assert_eq!(got.len(), 4, "{summary}");
    for (i, g) in got.iter().enumerate() {
        assert_eq!(
            g.header("Message-ID").unwrap(),
            format!("<seed-shared-{i}@example.test>"),
            "the shared mailbox's mail, not the delegate's"
        );
    }
    // the fetch state is kept for the shared mailbox: nothing twice
    let (_, again) = imap.fetch("{}");
    assert!(again.is_empty());
    assert!(imap.sync_state().contains(SHARED), "{}", imap.sync_state());
    // browsing and acting on it
    let page = imap.list("{}").unwrap();
    assert_eq!(page["total"], 4);
    let uid = page["messages"][0]["uid"].clone();
    imap.set_flags(&json!({"uids": [uid], "add": ["flagged"]}).to_string())
        .unwrap();
    let flagged = imap.list(r#"{"search": {"flagged": true}}"#).unwrap();
    assert_eq!(flagged["total"], 1);

    let pop3 = delegate_account(SHARED, "pop3", "pop3s_port", DELEGATE);
    let (_, got) = pop3.fetch("{}");
    let mut ids: Vec<String> = got
        .iter()
        .map(|g| g.header("Message-ID").unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 4);
    assert!(ids.iter().all(|i| i.contains("seed-shared-")), "{ids:?}");
}

#[test]
fn a_token_of_someone_else_is_refused_with_the_shared_mailbox_hint() {
    let _s = serial();
    init();
    let shared = "achats@example.test";
    mail_sandbox().seed(shared, 1, "INBOX", &[]);
    // the token belongs to another user than the delegate named after the "*"
    let acc = delegate_account(shared, "imap", "imaps_port", "intruder@example.test");
    let (r, got) = acc.fetch_with("{}", &mut |_| 0);
    let e = r.unwrap_err();
    assert!(got.is_empty());
    assert_eq!(e.0, OM_STATUS_LOGIN_REJECTED, "{}", e.1);
    assert!(
        common::capi::last_hint().contains("login_user"),
        "{}",
        common::capi::last_hint()
    );
}
