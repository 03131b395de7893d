//! Account configuration: presets, overrides, errors naming the key, the masked effective
//! configuration, the exact authorization URL of each preset and the registration check.

use oauthmail::config::registration::{check, Severity};
use oauthmail::config::{Config, Flow, Protocol, Security};
use oauthmail::oauth::authorize_url::with_secrets;
use oauthmail::Status;

fn cfg(json: &str) -> Config {
    Config::from_json(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn err(json: &str) -> String {
    let e = Config::from_json(json).unwrap_err();
    assert_eq!(e.status, Status::InvalidConfig, "{json}: {e}");
    e.message
}

#[test]
fn gmail_preset_fills_endpoints_servers_and_parameters() {
    let c = cfg(
        r#"{"provider":"gmail","client_id":"id.apps.googleusercontent.com","client_secret":"s","email":"a@gmail.com","incoming":{},"outgoing":{}}"#,
    );
    assert_eq!(c.token_url.as_str(), "https://oauth2.googleapis.com/token");
    assert_eq!(c.scopes, vec!["https://mail.google.com/"]);
    let inc = c.incoming.unwrap();
    assert_eq!(
        (inc.protocol, inc.host.as_str(), inc.port, inc.security),
        (Protocol::Imap, "imap.gmail.com", 993, Security::Tls)
    );
    let out = c.outgoing.unwrap();
    assert_eq!(
        (out.host.as_str(), out.port, out.security),
        ("smtp.gmail.com", 465, Security::Tls)
    );
    assert_eq!(c.timeout.as_secs(), 60);
    assert_eq!(
        c.redirect_uri.port, None,
        "Google desktop clients take any free port"
    );
}

#[test]
fn office365_from_pasted_v2_urls_derives_tenant_and_device_endpoint() {
    let c = cfg(
        r#"{"provider":"office365","client_id":"cid","client_secret":"x",
        "authorize_url":"https://login.microsoftonline.com/7f3a-tenant/oauth2/v2.0/authorize",
        "token_url":"https://login.microsoftonline.com/7f3a-tenant/oauth2/v2.0/token",
        "incoming":{"protocol":"pop3"},"outgoing":{}}"#,
    );
    assert_eq!(c.tenant.as_deref(), Some("7f3a-tenant"));
    assert_eq!(
        c.device_authorization_url.unwrap().as_str(),
        "https://login.microsoftonline.com/7f3a-tenant/oauth2/v2.0/devicecode"
    );
    assert_eq!(
        c.scopes,
        vec![
            "https://outlook.office.com/POP.AccessAsUser.All",
            "https://outlook.office.com/SMTP.Send",
            "offline_access"
        ]
    );
    let inc = c.incoming.unwrap();
    assert_eq!(
        (inc.host.as_str(), inc.port),
        ("outlook.office365.com", 995)
    );
    let out = c.outgoing.unwrap();
    assert_eq!(
        (out.host.as_str(), out.port, out.security),
        ("smtp.office365.com", 587, Security::Starttls)
    );
    assert_eq!(c.redirect_uri.configured, "http://localhost:3017/");
}

#[test]
fn office365_client_credentials_uses_default_scope() {
    let c = cfg(
        r#"{"provider":"office365","client_id":"c","client_secret":"s","tenant":"contoso.onmicrosoft.com","flow":"client_credentials"}"#,
    );
    assert_eq!(c.flow, Flow::ClientCredentials);
    assert_eq!(c.scopes, vec!["https://outlook.office365.com/.default"]);
    assert_eq!(
        c.token_url.as_str(),
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    );
}

#[test]
fn explicit_keys_override_the_preset() {
    let c = cfg(
        r#"{"provider":"gmail","client_id":"c","scopes":"openid email","timeout_secs":5,
        "extra_authorize_params":{"prompt":"","hd":"example.com"},
        "incoming":{"host":"mail.example.com","port":1993}}"#,
    );
    assert_eq!(c.scopes, vec!["openid", "email"]);
    assert_eq!(c.timeout.as_secs(), 5);
    assert!(c
        .extra_authorize_params
        .contains(&("hd".into(), "example.com".into())));
    assert!(
        !c.extra_authorize_params.iter().any(|(k, _)| k == "prompt"),
        "empty value removes"
    );
    assert_eq!(c.incoming.unwrap().host, "mail.example.com");
}

#[test]
fn unknown_keys_wrong_types_and_bad_values_name_the_key() {
    assert!(
        err(r#"{"provider":"gmail","client_id":"c","clientsecret":"x"}"#).contains("clientsecret")
    );
    assert!(
        err(r#"{"provider":"gmail","client_id":"c","incoming":{"port":"993"}}"#)
            .contains("incoming.port")
    );
    assert!(
        err(r#"{"provider":"gmail","client_id":"c","incoming":{"prot":"imap"}}"#).contains("prot")
    );
    assert!(err(r#"{"provider":"yahoo","client_id":"c"}"#).contains("provider"));
    assert!(err(r#"{"provider":"gmail","client_id":""}"#).contains("client_id"));
    assert!(err(r#"{"provider":"gmail"}"#).contains("client_id"));
    assert!(err(r#"{"provider":"custom","client_id":"c"}"#).contains("token_url"));
    assert!(
        err(r#"{"provider":"gmail","client_id":"c","timeout_secs":-1}"#).contains("timeout_secs")
    );
    assert!(
        err(r#"{"provider":"gmail","client_id":"c","redirect_uri":"http://10.0.0.1:3017/"}"#)
            .contains("redirect_uri")
    );
    assert!(err(r#"{"provider":"custom","client_id":"c","token_url":"http://idp.example.com/token","authorize_url":"https://idp/a"}"#).contains("token_url"));
    assert!(
        err(r#"{"provider":"gmail","client_id":"c","ca_certs_pem":"garbage"}"#)
            .contains("ca_certs_pem")
    );
    assert!(
        err(r#"{"provider":"gmail","client_id":"c","incoming":{"security":"none"}}"#)
            .contains("incoming.security")
    );
    assert!(
        err(r#"{"provider":"gmail","client_id":"c","incoming":{"auth":"password"}}"#)
            .contains("incoming.password")
    );
    assert!(err("{not json").contains("configuration JSON"));
    assert!(err("[]").contains("configuration JSON"));
}

#[test]
fn trailing_text_and_control_characters_are_refused_naming_the_key() {
    let good = r#"{"provider":"gmail","client_id":"c","email":"a@example.com"}"#;
    cfg(good);
    // a second object, or garbage, after the JSON: the admin's paste went wrong
    assert!(err(&format!("{good} x")).contains("after the end"));
    assert!(err(&format!("{good}{good}")).contains("after the end"));
    // a NUL inside client_id would cut it short for every C consumer of the masked config
    assert!(err(r#"{"provider":"gmail","client_id":"c\u0000x"}"#).contains("`client_id`"));
    // CR/LF in a host or an address would inject protocol lines
    let e = err(
        r#"{"provider":"custom","client_id":"c","token_url":"https://idp/t","authorize_url":"https://idp/a","incoming":{"protocol":"imap","host":"mail.example.com\r\nA1 LOGOUT","port":993}}"#,
    );
    assert!(e.contains("`incoming.host`") && e.contains("U+000D"), "{e}");
    let e = err(r#"{"provider":"gmail","client_id":"c","email":"a@example.com\n"}"#);
    assert!(e.contains("`email`") && e.contains("U+000A"), "{e}");
    let e = err(r#"{"provider":"gmail","client_id":"c","login_user":"x\ry"}"#);
    assert!(e.contains("`login_user`"), "{e}");
    let e = err(r#"{"provider":"gmail","client_id":"c","outgoing":{"username":"u\n"}}"#);
    assert!(e.contains("`outgoing.username`"), "{e}");
}

#[test]
fn masked_configuration_hides_secrets() {
    let c = cfg(
        r#"{"provider":"office365","client_id":"cid","client_secret":"very-secret-value",
        "incoming":{"auth":"password","password":"hunter2-password"}}"#,
    );
    let json = oauthmail::config::masked::to_json(&c);
    assert!(
        !json.contains("very-secret-value") && !json.contains("hunter2-password"),
        "{json}"
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["client_secret"], "********");
    assert_eq!(v["incoming"]["password"], "********");
    assert_eq!(
        v["token_url"],
        "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    );
    assert_eq!(v["timeout"], 60);
}

const STATE: &str = "STATE";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// S256 of VERIFIER (RFC 7636 appendix B).
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[test]
fn exact_authorization_url_of_each_preset() {
    let gmail = cfg(
        r#"{"provider":"gmail","client_id":"123.apps.googleusercontent.com","client_secret":"s","email":"jean@gmail.com"}"#,
    );
    let r = with_secrets(
        &gmail,
        "http://127.0.0.1:51000/",
        STATE.into(),
        VERIFIER.into(),
    )
    .unwrap();
    assert_eq!(
        r.url,
        format!("https://accounts.google.com/o/oauth2/v2/auth?response_type=code&client_id=123.apps.googleusercontent.com&state={STATE}&code_challenge={CHALLENGE}&code_challenge_method=S256&redirect_uri=http%3A%2F%2F127.0.0.1%3A51000%2F&scope=https%3A%2F%2Fmail.google.com%2F&access_type=offline&prompt=consent&login_hint=jean%40gmail.com")
    );
    let o365 = cfg(
        r#"{"provider":"office365","client_id":"0000-cid","client_secret":"s","tenant":"contoso.onmicrosoft.com","email":"jean@contoso.com"}"#,
    );
    let r = with_secrets(
        &o365,
        "http://localhost:3017/",
        STATE.into(),
        VERIFIER.into(),
    )
    .unwrap();
    assert_eq!(
        r.url,
        format!("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize?response_type=code&client_id=0000-cid&state={STATE}&code_challenge={CHALLENGE}&code_challenge_method=S256&redirect_uri=http%3A%2F%2Flocalhost%3A3017%2F&scope=https%3A%2F%2Foutlook.office.com%2FIMAP.AccessAsUser.All+https%3A%2F%2Foutlook.office.com%2FSMTP.Send+offline_access&login_hint=jean%40contoso.com")
    );
    let custom = cfg(
        r#"{"provider":"custom","client_id":"app","authorize_url":"https://idp.example/auth","token_url":"https://idp.example/token","scopes":["openid","mail"]}"#,
    );
    let r = with_secrets(
        &custom,
        "http://127.0.0.1:4000/",
        STATE.into(),
        VERIFIER.into(),
    )
    .unwrap();
    assert_eq!(
        r.url,
        format!("https://idp.example/auth?response_type=code&client_id=app&state={STATE}&code_challenge={CHALLENGE}&code_challenge_method=S256&redirect_uri=http%3A%2F%2F127.0.0.1%3A4000%2F&scope=openid+mail")
    );
}

fn ids(json: &str, port_busy: bool) -> Vec<(&'static str, Severity)> {
    let c = cfg(json);
    check(&c, |_| port_busy.then(|| "in use".to_string()))
        .into_iter()
        .map(|f| (f.id, f.severity))
        .collect()
}

#[test]
fn registration_check_finds_the_known_mistakes() {
    let f = ids(
        r#"{"provider":"office365","client_id":"c","tenant":"t1","email":"a@b.c"}"#,
        false,
    );
    assert!(
        f.contains(&("office365_web_without_secret", Severity::Error)),
        "{f:?}"
    );
    let f = ids(
        r#"{"provider":"office365","client_id":"c","app_type":"desktop","client_secret":"s","tenant":"t1"}"#,
        false,
    );
    assert!(
        f.contains(&("office365_public_client_with_secret", Severity::Error)),
        "{f:?}"
    );
    let f = ids(
        r#"{"provider":"office365","client_id":"c","client_secret":"s","flow":"client_credentials"}"#,
        false,
    );
    assert!(
        f.contains(&("office365_client_credentials_needs_tenant", Severity::Error)),
        "{f:?}"
    );
    let f = ids(
        r#"{"provider":"office365","client_id":"c","client_secret":"s","tenant":"t1","scopes":["https://outlook.office.com/IMAP.AccessAsUser.All","User.Read","offline_access"]}"#,
        false,
    );
    assert!(
        f.contains(&("office365_graph_and_outlook_scopes", Severity::Error)),
        "{f:?}"
    );
    let f = ids(
        r#"{"provider":"gmail","client_id":"c","client_secret":"s","flow":"device_code","device_authorization_url":"https://oauth2.googleapis.com/device/code"}"#,
        false,
    );
    assert!(f.contains(&("gmail_device_flow", Severity::Error)), "{f:?}");
    let f = ids(
        r#"{"provider":"office365","client_id":"c","client_secret":"s","tenant":"t1"}"#,
        true,
    );
    assert!(
        f.contains(&("redirect_port_busy", Severity::Error)),
        "{f:?}"
    );
    let f = ids(
        r#"{"provider":"office365","client_id":"c","client_secret":"s","authorize_url":"https://login.microsoftonline.com/t/oauth2/authorize","token_url":"https://login.microsoftonline.com/t/oauth2/token"}"#,
        false,
    );
    assert!(
        f.contains(&("office365_v1_endpoint", Severity::Error)),
        "{f:?}"
    );
    let f = ids(
        r#"{"provider":"custom","client_id":"c","authorize_url":"https://i/a","token_url":"https://i/t","redirect_uri":"http://127.0.0.1:3017/","redirect_port":4000}"#,
        false,
    );
    assert!(
        f.contains(&("redirect_port_differs", Severity::Warning)),
        "{f:?}"
    );
    // a correct sheet-style configuration: no error
    let f = ids(
        r#"{"provider":"office365","client_id":"c","client_secret":"s","tenant":"t1","email":"a@b.c","incoming":{},"outgoing":{}}"#,
        false,
    );
    assert!(!f.iter().any(|(_, s)| *s == Severity::Error), "{f:?}");
}

#[test]
fn registration_findings_speak_french() {
    let c = cfg(r#"{"provider":"office365","client_id":"c","tenant":"t1","language":"fr"}"#);
    let f = check(&c, |_| None);
    let web = f
        .iter()
        .find(|f| f.id == "office365_web_without_secret")
        .unwrap();
    assert!(web.message.contains("secret client"), "{}", web.message);
}

const GRAPH_READ: &str = "https://graph.microsoft.com/Mail.ReadWrite";
const GRAPH_SEND: &str = "https://graph.microsoft.com/Mail.Send";
const IMAP: &str = "https://outlook.office.com/IMAP.AccessAsUser.All";
const SMTP: &str = "https://outlook.office.com/SMTP.Send";

fn o365(servers: &str) -> Config {
    cfg(&format!(
        r#"{{"provider":"office365","tenant":"contoso.onmicrosoft.com","client_id":"c","client_secret":"s","email":"u@contoso.com",{servers}}}"#
    ))
}

#[test]
fn office365_scopes_follow_the_protocols_one_resource_per_token_request() {
    use oauthmail::config::Resource;
    // Graph both ways: one resource, nothing apart
    let c = o365(r#""incoming":{"protocol":"graph"},"outgoing":{"protocol":"graph"}"#);
    assert_eq!(c.scopes, vec![GRAPH_READ, GRAPH_SEND, "offline_access"]);
    assert_eq!(c.token_scopes, c.scopes);
    assert!(c.resource_scopes.is_empty());
    let g = c.graph.as_ref().unwrap();
    assert_eq!(g.url, "https://graph.microsoft.com/v1.0");
    assert_eq!(g.mailbox, None, "delegated accounts use /me");
    let inc = c.incoming.as_ref().unwrap();
    assert_eq!((inc.host.as_str(), inc.port), ("graph.microsoft.com", 443));

    // IMAP in, Graph out (SMTP AUTH off): consent for both, the main token for Outlook,
    // Graph's requested apart
    let c = o365(r#""incoming":{"protocol":"imap"},"outgoing":{"protocol":"graph"}"#);
    assert_eq!(c.scopes, vec![IMAP, GRAPH_SEND, "offline_access"]);
    assert_eq!(c.token_scopes, vec![IMAP, "offline_access"]);
    assert_eq!(
        c.separate_scopes(Resource::Graph).unwrap(),
        [GRAPH_SEND, "offline_access"]
    );
    assert!(c.separate_scopes(Resource::Mail).is_none());

    // Graph in, SMTP out: the main token is Graph's
    let c = o365(r#""incoming":{"protocol":"graph"},"outgoing":{}"#);
    assert_eq!(c.token_scopes, vec![GRAPH_READ, "offline_access"]);
    assert_eq!(
        c.separate_scopes(Resource::Mail).unwrap(),
        [SMTP, "offline_access"]
    );

    // nothing about Graph: as before
    let c = o365(r#""incoming":{},"outgoing":{}"#);
    assert_eq!(c.scopes, vec![IMAP, SMTP, "offline_access"]);
    assert!(c.graph.is_none() && c.resource_scopes.is_empty());

    // app-only: .default of the resource, /users/{mailbox}
    let c = cfg(
        r#"{"provider":"office365","flow":"client_credentials","tenant":"t1","client_id":"c","client_secret":"s","email":"shared@contoso.com","incoming":{"protocol":"graph"},"outgoing":{"protocol":"smtp"}}"#,
    );
    assert_eq!(c.token_scopes, vec!["https://graph.microsoft.com/.default"]);
    assert_eq!(
        c.separate_scopes(Resource::Mail).unwrap(),
        ["https://outlook.office365.com/.default"]
    );
    assert_eq!(
        c.graph.unwrap().mailbox.as_deref(),
        Some("shared@contoso.com")
    );
}

#[test]
fn graph_settings_are_checked_naming_the_key() {
    let e = err(
        r#"{"provider":"office365","tenant":"t","client_id":"c","client_secret":"s","incoming":{"protocol":"graph","host":"graph.microsoft.com"}}"#,
    );
    assert!(e.contains("`incoming`") && e.contains("graph_url"), "{e}");
    let e = err(
        r#"{"provider":"office365","flow":"client_credentials","tenant":"t","client_id":"c","client_secret":"s","incoming":{"protocol":"graph"}}"#,
    );
    assert!(e.contains("`mailbox`"), "{e}");
    let e = err(
        r#"{"provider":"custom","token_url":"https://idp/token","client_id":"c","graph_url":"http://graph.example/v1.0","incoming":{"protocol":"graph"}}"#,
    );
    assert!(e.contains("`graph_url`") && e.contains("not HTTPS"), "{e}");
    let e = err(
        r#"{"provider":"office365","tenant":"t","client_id":"c","client_secret":"s","outgoing":{"protocol":"pop3"}}"#,
    );
    assert!(e.contains("`outgoing.protocol`"), "{e}");
    // a custom provider names Graph's scopes itself
    let c = cfg(
        r#"{"provider":"custom","token_url":"https://idp/token","authorize_url":"https://idp/auth","client_id":"c","graph_url":"https://graph.example/v1.0/","graph_scopes":"g.read g.send","incoming":{"protocol":"graph"},"outgoing":{"protocol":"smtp","host":"smtp.example"}}"#,
    );
    assert_eq!(c.graph.as_ref().unwrap().url, "https://graph.example/v1.0");
    assert_eq!(
        c.separate_scopes(oauthmail::config::Resource::Graph)
            .unwrap(),
        ["g.read", "g.send"]
    );
}

#[test]
fn registration_check_knows_graph_permissions() {
    let f = ids(
        r#"{"provider":"office365","tenant":"contoso.onmicrosoft.com","client_id":"c","client_secret":"s","email":"u@contoso.com","incoming":{"protocol":"graph"},"outgoing":{"protocol":"graph"}}"#,
        false,
    );
    assert!(
        f.contains(&("office365_graph_delegated_permissions", Severity::Info)),
        "{f:?}"
    );
    assert!(
        !f.iter()
            .any(|(id, _)| *id == "office365_graph_and_outlook_scopes"),
        "consent for two resources is not a mixed token request: {f:?}"
    );
    let f = ids(
        r#"{"provider":"office365","tenant":"contoso.onmicrosoft.com","client_id":"c","client_secret":"s","email":"u@contoso.com","incoming":{"protocol":"imap"},"outgoing":{"protocol":"graph"}}"#,
        false,
    );
    assert!(
        !f.iter()
            .any(|(id, _)| *id == "office365_graph_and_outlook_scopes"),
        "{f:?}"
    );
    let f = ids(
        r#"{"provider":"gmail","client_id":"c","client_secret":"s","email":"u@gmail.com","incoming":{"protocol":"graph"}}"#,
        false,
    );
    assert!(f.contains(&("gmail_with_graph", Severity::Error)), "{f:?}");
}

#[test]
fn a_gmail_service_account_is_checked_for_what_matters_to_it() {
    let dir = std::env::temp_dir().join(format!("om-sa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // a real RSA key made by openssl (the sandbox's tools), never printed
    let key = dir.join("key.pem");
    let ok = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl genpkey failed (apt-get install openssl)");
    let pem = std::fs::read_to_string(&key).unwrap();
    let file = dir.join("sa.json");
    std::fs::write(
        &file,
        serde_json::json!({"type": "service_account", "client_email": "robot@p.iam.gserviceaccount.com",
            "client_id": "1234567890", "private_key_id": "abc", "private_key": pem,
            "token_uri": "https://oauth2.googleapis.com/token"})
        .to_string(),
    )
    .unwrap();
    let json = format!(
        r#"{{"provider":"gmail","flow":"service_account","service_account_key_file":"{}","email":"u@corp.example","incoming":{{"protocol":"gmail_api"}}}}"#,
        file.display()
    );
    let c = cfg(&json);
    assert_eq!(c.client_id, "1234567890");
    assert_eq!(c.token_url.as_str(), "https://oauth2.googleapis.com/token");
    let sa = c.service_account.as_ref().unwrap();
    assert_eq!(sa.subject.as_deref(), Some("u@corp.example"));
    let masked = oauthmail::config::masked::to_json(&c);
    assert!(
        !masked.contains("PRIVATE KEY") && masked.contains("robot@"),
        "{masked}"
    );
    let f = ids(&json, false);
    assert!(
        f.contains(&("service_account_delegation", Severity::Info)),
        "{f:?}"
    );
    for irrelevant in [
        "gmail_no_secret",
        "gmail_no_offline",
        "gmail_testing_status",
    ] {
        assert!(
            !f.iter().any(|(id, _)| *id == irrelevant),
            "{irrelevant} in {f:?}"
        );
    }
    // without a user to act as
    let e = err(&format!(
        r#"{{"provider":"gmail","flow":"service_account","service_account_key_file":"{}"}}"#,
        file.display()
    ));
    assert!(e.contains("`subject`"), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}
