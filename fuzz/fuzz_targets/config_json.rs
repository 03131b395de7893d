//! The account configuration JSON (`om_account_new`): `Config::from_json` (parse, preset,
//! validation), then what the host may ask of a valid configuration: the masked effective
//! configuration (`om_account_config_json`) and the registration check (`om_account_check`).
//!
//! Asserts: no panic; an error is InvalidConfig with a message; a valid configuration keeps
//! its documented guarantees (no control character in single-line values, secrets masked in
//! the masked JSON, a loopback redirect URI that parses again with any port).
//!
//! `ca_certs_file` names a file read by the parser: the target never lets the input pick a
//! file of this machine; it writes the key's value into a file of its own and points the key
//! there (so the PEM parsing behind it is fuzzed too).

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauthmail::config::{masked, registration, Config, RedirectUri};
use oauthmail::Status;
use oauthmail_fuzz::check_error_status;
use serde_json::Value;

fn ca_file() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("oauthmail-fuzz-ca-{}.pem", std::process::id()))
}

/// The input with a `ca_certs_file` value replaced by a file holding that value.
fn sandboxed(text: &str) -> Option<String> {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    let v = map.get_mut("ca_certs_file")?;
    if let Value::String(content) = v {
        let path = ca_file();
        std::fs::write(&path, content.as_bytes()).expect("write the target's CA file");
        *v = Value::String(path.display().to_string());
    }
    Some(Value::Object(map).to_string())
}

fn single_line(key: &str, value: &str) {
    assert!(
        !value.chars().any(char::is_control),
        "`{key}` of a valid configuration holds a control character: {value:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    // the C ABI hands over UTF-8 only (it refuses anything else before the parser)
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let text = sandboxed(text).unwrap_or_else(|| text.to_string());
    let config = match Config::from_json(&text) {
        Ok(c) => c,
        Err(e) => {
            check_error_status(&e, Status::InvalidConfig);
            return;
        }
    };

    single_line("client_id", &config.client_id);
    assert!(!config.client_id.trim().is_empty());
    for (k, v) in [
        ("client_secret", &config.client_secret),
        ("tenant", &config.tenant),
        ("email", &config.email),
        ("username", &config.username),
        ("login_user", &config.login_user),
        ("token_file", &config.token_file),
        ("state_file", &config.state_file),
    ] {
        if let Some(v) = v {
            single_line(k, v);
        }
    }
    for s in &config.scopes {
        single_line("scopes[]", s);
    }
    for (k, v) in &config.extra_authorize_params {
        single_line("extra_authorize_params key", k);
        single_line("extra_authorize_params value", v);
    }
    for s in config.incoming.iter().chain(config.outgoing.iter()) {
        single_line("host", &s.host);
        assert!(!s.host.trim().is_empty());
    }
    assert!(!config.timeout.is_zero() && !config.authorize_timeout.is_zero());

    // the masked configuration: JSON, every secret replaced
    let shown = masked::to_json(&config);
    let v: Value = serde_json::from_str(&shown).expect("the masked configuration is JSON");
    if config.client_secret.is_some() {
        assert_eq!(
            v["client_secret"], "********",
            "client_secret shown: {shown}"
        );
    }
    for (key, server) in [
        ("incoming", &config.incoming),
        ("outgoing", &config.outgoing),
    ] {
        if server.as_ref().is_some_and(|s| s.password.is_some()) {
            assert_eq!(
                v[key]["password"], "********",
                "{key}.password shown: {shown}"
            );
        }
    }

    // the registration check
    let findings = registration::check(&config, |_| None);
    for f in &findings {
        assert!(!f.id.is_empty() && !f.message.trim().is_empty(), "{f:?}");
    }
    let _ = registration::summary(&findings, config.language);

    // the redirect URI sent with a chosen port is one the parser accepts, same host and path
    let r = &config.redirect_uri;
    for port in [1u16, 49152, 65535] {
        let sent = r.uri_for_port(port);
        let again = RedirectUri::parse(&sent, None)
            .unwrap_or_else(|e| panic!("redirect URI {sent:?} (from {r:?}) refused: {e}"));
        assert_eq!(again.host, r.host, "{sent:?} from {r:?}");
        assert_eq!(again.path, r.path, "{sent:?} from {r:?}");
    }
});
