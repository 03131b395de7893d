//! Credentials made of keys instead of passwords, against the real sandbox OAuth2 server and
//! Dovecot: a Google-style service account with domain-wide delegation (the JWT-bearer grant,
//! RFC 7523) acting for two users of the domain, and Microsoft-style certificate credentials
//! (a `client_assertion` signed by the certificate's key, `x5t#S256` in its header) for the
//! authorization code, the refresh and client credentials. Failures: a wrong key, an unknown
//! user, a scope not delegated, a certificate not registered.

mod common;

use common::capi::{init, last_error, last_hint, Acc};
use common::mail::mail_sandbox;
use common::sink::sunk_with_id;
use common::{authorized_as, sandbox, serial};
use oauthmail::ffi::status::*;
use serde_json::{json, Value};
use std::ffi::CStr;
use std::path::PathBuf;
use std::ptr::{null, null_mut};

fn pki() -> PathBuf {
    PathBuf::from(&sandbox().ca_file)
        .parent()
        .unwrap()
        .to_path_buf()
}

fn key_file(which: &str) -> String {
    sandbox().info[which]
        .as_str()
        .unwrap_or_else(|| panic!("the sandbox names no {which}: {}", sandbox().info))
        .to_string()
}

fn mail_servers() -> Value {
    let m = mail_sandbox();
    json!({
        "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": m.port("imaps_port"), "security": "tls"},
        "outgoing": {"host": "127.0.0.1", "port": m.port("submission_port"), "security": "starttls"},
    })
}

/// A service account acting as `user`, with `key` (a key file's path).
fn service_account(user: &str, key: &str, extra: Value) -> Result<Acc, (i32, String)> {
    let sb = sandbox();
    let mut e = json!({
        "flow": "service_account",
        "service_account_key_file": key,
        "client_id": null,
        "client_secret": null,
        "authorize_url": null,
        "device_authorization_url": null,
        "revocation_url": null,
        "scopes": "mail",
        "subject": user,
        "email": user,
    });
    for (k, v) in mail_servers().as_object().unwrap() {
        e[k] = v.clone();
    }
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    Acc::new(&sb.config("confidential-app", e))
}

/// The failure of an account that should not be created.
fn refused(r: Result<Acc, (i32, String)>) -> (i32, String) {
    match r {
        Ok(_) => panic!("the configuration was accepted"),
        Err(e) => e,
    }
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
fn a_service_account_fetches_and_sends_as_two_users_of_its_domain() {
    let _s = serial();
    init();
    let sb = sandbox();
    sb.inject("reset", "");
    let m = mail_sandbox();
    let (u1, u2) = ("sa-one@example.test", "sa-two@example.test");
    m.seed(u1, 3, "INBOX", &["--seed", "31"]);
    m.seed(u2, 2, "INBOX", &["--seed", "32"]);
    let key = key_file("service_account_key_file");
    let a1 = service_account(u1, &key, json!({})).unwrap();
    let a2 = service_account(u2, &key, json!({})).unwrap();
    // no interactive authorization: the key is the credential
    let e = a1.start("").unwrap_err();
    assert_eq!(e.0, OM_STATUS_WRONG_STATE, "{}", e.1);
    assert!(
        !e.1.contains("om_"),
        "no C function named to a user: {}",
        e.1
    );
    // a service account without scopes is refused before any request
    let e = refused(service_account(u1, &key, json!({"scopes": null})));
    assert!(e.1.contains("`scopes`"), "{}", e.1);
    let (_, got1) = a1.fetch("{}");
    let (_, got2) = a2.fetch("{}");
    assert_eq!((got1.len(), got2.len()), (3, 2), "each user's own mailbox");
    assert!(got1
        .iter()
        .all(|g| g.header("Message-ID").unwrap().contains("seed-31")));
    let raw = b"From: sa-one@example.test\r\nTo: customer@example.test\r\nSubject: from a service account\r\nMessage-ID: <sa-sent@example.test>\r\n\r\nhello\r\n";
    send_raw(&a1, raw).unwrap();
    assert_eq!(sunk_with_id("<sa-sent@example.test>", 1).len(), 1);
    let set = a1.export();
    assert!(
        set.get("refresh_token").is_none(),
        "no refresh token: {set}"
    );
    let st = sb.stats();
    assert!(
        st.to_string().contains("jwt"),
        "the grant used is the JWT bearer: {st}"
    );
    let findings = a1.check_registration().to_string();
    assert!(
        findings.contains("service_account_delegation"),
        "{findings}"
    );
    // the masked configuration shows the account, never the key
    let cfg = a1.config_json().to_string();
    assert!(cfg.contains("mail-robot@"), "{cfg}");
    assert!(
        !cfg.contains("PRIVATE KEY") && !cfg.contains("MII"),
        "{cfg}"
    );
}

#[test]
fn a_service_account_token_is_renewed_by_a_new_assertion() {
    let _s = serial();
    init();
    let sb = sandbox();
    sb.inject("reset", "");
    sb.inject("sa-ttl", "secs=3");
    let user = "sa-renew@example.test";
    let acc = service_account(user, &key_file("service_account_key_file"), json!({})).unwrap();
    let (t1, _) = acc.token(0).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    let (t2, _) = acc.token(0).unwrap();
    assert_ne!(t1, t2, "a new assertion, a new token");
    mail_sandbox().seed(user, 1, "INBOX", &["--seed", "33"]);
    assert_eq!(acc.fetch("{}").1.len(), 1);
    sb.inject("reset", "");
}

#[test]
fn service_account_refusals_say_who_must_act() {
    let _s = serial();
    init();
    let sb = sandbox();
    sb.inject("reset", "");
    // a key that is not the service account's
    let acc = service_account(
        "sa-err@example.test",
        &key_file("service_account_wrong_key_file"),
        json!({"language": "fr"}),
    )
    .unwrap();
    let (st, e) = acc.token(0).unwrap_err();
    assert_eq!(st, OM_STATUS_PROVIDER_ERROR, "not the user's to fix: {e}");
    assert!(
        e.contains("Invalid JWT Signature"),
        "Google's text kept: {e}"
    );
    assert!(last_hint().contains("nouvelle clé JSON"), "{}", last_hint());
    assert!(!e.contains("PRIVATE") && !last_hint().contains("PRIVATE"));
    // a user outside the domain
    let acc = service_account(
        "nobody@elsewhere.test",
        &key_file("service_account_key_file"),
        json!({}),
    )
    .unwrap();
    let (st, e) = acc.token(0).unwrap_err();
    assert_eq!(st, OM_STATUS_PROVIDER_ERROR, "{e}");
    assert!(last_hint().contains("subject"), "{}", last_hint());
    // delegation not granted for the scope
    sb.inject("delegation", "scopes=");
    let acc = service_account(
        "sa-err@example.test",
        &key_file("service_account_key_file"),
        json!({}),
    )
    .unwrap();
    let (st, e) = acc.token(0).unwrap_err();
    assert_eq!(st, OM_STATUS_ACCESS_DENIED, "{e}");
    assert!(e.contains("unauthorized_client"), "{e}");
    let hint = last_hint();
    assert!(
        hint.contains("Domain-wide delegation") && hint.contains("mail"),
        "names the scopes to delegate: {hint}"
    );
    sb.inject("reset", "");
    // bad key files are configuration errors naming the key, never quoting it
    let bad = std::env::temp_dir().join(format!("sa-bad-{}.json", std::process::id()));
    std::fs::write(
        &bad,
        r#"{"type":"service_account","client_email":"x@y","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#,
    )
    .unwrap();
    let e = refused(service_account(
        "sa-err@example.test",
        bad.to_str().unwrap(),
        json!({}),
    ));
    assert_eq!(e.0, OM_STATUS_INVALID_CONFIG, "{}", e.1);
    assert!(e.1.contains("service_account_key_file"), "{}", e.1);
    assert!(!e.1.contains("AAAA"), "{}", e.1);
    let _ = std::fs::remove_file(bad);
}

/// An account of client `cert-app`, authenticated by its certificate.
fn cert_extra(cert: &str, key: &str, extra: Value) -> Value {
    let mut e = json!({
        "client_secret": null,
        "client_certificate_file": pki().join(cert).to_string_lossy(),
        "client_key_file": pki().join(key).to_string_lossy(),
    });
    for (k, v) in mail_servers().as_object().unwrap() {
        e[k] = v.clone();
    }
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

#[test]
fn certificate_credentials_for_the_code_the_refresh_and_client_credentials() {
    let _s = serial();
    init();
    let sb = sandbox();
    sb.inject("reset", "");
    let user = "cert-user@example.test";
    mail_sandbox().seed(user, 2, "INBOX", &["--seed", "34"]);
    let acc = authorized_as(
        "cert-app",
        user,
        cert_extra("client-cert.pem", "client-key.pem", json!({"email": user})),
    );
    assert_eq!(acc.fetch("{}").1.len(), 2);
    // the refresh authenticates with a new assertion too
    let before = acc.export();
    acc.expire_access_token();
    let (t, _) = acc.token(0).unwrap();
    assert_ne!(Some(t.as_str()), before["access_token"].as_str());
    let st = sb.stats();
    assert_eq!(
        st["by_client"]["cert-app"]["grant_errors"],
        json!({}),
        "{st}"
    );
    // the masked configuration names the certificate by its thumbprint
    let cfg = acc.config_json();
    assert!(
        cfg["client_certificate"]["x5t#S256"]
            .as_str()
            .unwrap()
            .len()
            == 43,
        "{cfg}"
    );
    let findings = acc.check_registration().to_string();
    assert!(findings.contains("certificate_credentials"), "{findings}");
    // PKCS#1 keys work as well, and client credentials
    let cc = Acc::new(&sb.config(
        "cert-app",
        cert_extra(
            "client-cert.pem",
            "client-key-rsa.pem",
            json!({"flow": "client_credentials", "scopes": "mail"}),
        ),
    ))
    .unwrap();
    cc.token(0).unwrap();
    // a certificate the registration does not know
    let other = Acc::new(&sb.config(
        "cert-app",
        cert_extra(
            "other-client-cert.pem",
            "other-client-key.pem",
            json!({"flow": "client_credentials", "scopes": "mail"}),
        ),
    ))
    .unwrap();
    let (st, e) = other.token(0).unwrap_err();
    assert_eq!(st, OM_STATUS_PROVIDER_ERROR, "{e}");
    assert!(e.contains("invalid_client"), "{e}");
    // a certificate without its key, or with a secret too: refused before any request
    let cfg = sb.config(
        "cert-app",
        json!({"client_secret": null, "client_certificate_file": pki().join("client-cert.pem").to_string_lossy()}),
    );
    let e = refused(Acc::new(&cfg));
    assert_eq!(e.0, OM_STATUS_INVALID_CONFIG);
    assert!(e.1.contains("client_key_file"), "{}", e.1);
    let e = refused(Acc::new(&sb.config(
        "cert-app",
        cert_extra(
            "client-cert.pem",
            "client-key.pem",
            json!({"client_secret": "s"}),
        ),
    )));
    assert_eq!(e.0, OM_STATUS_INVALID_CONFIG);
    assert!(e.1.contains("client_secret"), "{}", e.1);
}

#[test]
fn certificates_from_pfx_files_current_and_legacy_and_a_wrong_password() {
    let _s = serial();
    init();
    let sb = sandbox();
    sb.inject("reset", "");
    for pfx in ["client.pfx", "client-legacy.pfx"] {
        let cfg = sb.config(
            "cert-app",
            json!({
                "client_secret": null,
                "flow": "client_credentials",
                "scopes": "mail",
                "client_pfx_file": pki().join(pfx).to_string_lossy(),
                "client_pfx_password": "pfx-password",
            }),
        );
        let acc = Acc::new(&cfg).unwrap_or_else(|e| panic!("{pfx}: {e:?}"));
        acc.token(0).unwrap_or_else(|e| panic!("{pfx}: {e:?}"));
        // the same certificate as the PEM files: the same thumbprint
        let from_pem = Acc::new(&sb.config(
            "cert-app",
            cert_extra("client-cert.pem", "client-key.pem", json!({})),
        ))
        .unwrap();
        assert_eq!(
            acc.config_json()["client_certificate"]["x5t#S256"],
            from_pem.config_json()["client_certificate"]["x5t#S256"]
        );
    }
    let cfg = sb.config(
        "cert-app",
        json!({
            "client_secret": null,
            "client_pfx_file": pki().join("client.pfx").to_string_lossy(),
            "client_pfx_password": "not-the-password-1234",
        }),
    );
    let e = refused(Acc::new(&cfg));
    assert_eq!(e.0, OM_STATUS_INVALID_CONFIG, "{}", e.1);
    assert!(e.1.contains("client_pfx_password"), "{}", e.1);
    assert!(!e.1.contains("not-the-password-1234"), "{}", e.1);
}
