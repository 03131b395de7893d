//! The Microsoft Graph mail emulator (tests/sandbox/graph/graph-emulator.mjs): HTTPS on loopback,
//! access tokens checked at the sandbox OAuth2 server, sent mail relayed to the mail sandbox's
//! SMTP sink. Started once per test binary, stopped when the test process ends (the emulator
//! exits when its stdin pipe closes). See tests/sandbox/graph/README.md for what it emulates.

use super::mail::mail_sandbox;
use super::{repo, sandbox};
use base64::Engine as _;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::Method;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub const GRAPH_READ_WRITE: &str = "https://graph.microsoft.com/Mail.ReadWrite";
pub const GRAPH_SEND: &str = "https://graph.microsoft.com/Mail.Send";
pub const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";

pub struct GraphEmulator {
    /// The emulator's JSON line: `{"base_url","port","pid"}`.
    pub info: Value,
    http: Client,
    child: Mutex<Child>,
}

/// The emulator, started on first use (with the sandbox OAuth2 server and the mail sandbox).
/// Panics (never skips) when a tool is missing.
pub fn graph_emulator() -> &'static GraphEmulator {
    static G: OnceLock<GraphEmulator> = OnceLock::new();
    G.get_or_init(start)
}

/// A reqwest client trusting the sandbox CA (generous timeout: loaded 2-core machines).
pub fn sandbox_client() -> Client {
    let pem = std::fs::read_to_string(&sandbox().ca_file).unwrap();
    let tls = oauthmail::tls::client_config(Some(&pem)).unwrap();
    Client::builder()
        .tls_backend_preconfigured((*tls).clone())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

fn start() -> GraphEmulator {
    let sb = sandbox(); // checks node, openssl and the sandbox's node_modules
    let sink_port = mail_sandbox().port("sink_port");
    let script = repo().join("tests/sandbox/graph/graph-emulator.mjs");
    assert!(
        script.exists(),
        "{} is missing (the Graph emulator)",
        script.display()
    );
    let pki = PathBuf::from(&sb.ca_file).parent().unwrap().to_path_buf();
    let mut attempt = 0;
    let (child, line) = loop {
        attempt += 1;
        let mut child = Command::new("node")
            .arg(&script)
            .args(["--port", "0", "--certs"])
            .arg(&pki)
            .args(["--issuer", &sb.url("issuer")])
            .args(["--sink-port", &sink_port.to_string()])
            .stdin(Stdio::piped()) // closed when this process ends: the emulator exits
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start the Graph emulator with `node` ({e}): install Node.js 20 (apt-get install nodejs) or run scripts/test-all.sh")
            });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if !line.trim().is_empty() => break (child, line),
            Ok(_) if attempt < 3 => {
                eprintln!("the Graph emulator exited before it was ready: trying again");
                let _ = child.kill();
                let _ = child.wait();
            }
            Err(_) if attempt < 3 => {
                eprintln!("the Graph emulator did not start within 60 s: trying again");
                let _ = child.kill();
                let _ = child.wait();
            }
            _ => panic!("the Graph emulator did not start (3 tries of 60 s); see its log above"),
        }
    };
    let info: Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("the Graph emulator printed {line:?}: {e}"));
    GraphEmulator {
        info,
        http: sandbox_client(),
        child: Mutex::new(child),
    }
}

impl GraphEmulator {
    /// `https://127.0.0.1:PORT/v1.0` (the equivalent of `https://graph.microsoft.com/v1.0`).
    pub fn base_url(&self) -> String {
        self.info["base_url"].as_str().unwrap().to_string()
    }

    pub fn port(&self) -> u16 {
        self.info["port"].as_u64().unwrap() as u16
    }

    /// `https://127.0.0.1:PORT` (test endpoints live under `/_test/`).
    pub fn root_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port())
    }

    /// A client trusting the sandbox CA.
    pub fn http(&self) -> &Client {
        &self.http
    }

    /// A Graph request: `url` is absolute (a nextLink) or a path under `base_url()` ("/me/…").
    pub fn request(&self, method: Method, url: &str, token: Option<&str>) -> RequestBuilder {
        let url = if url.starts_with('/') {
            format!("{}{url}", self.base_url())
        } else {
            url.to_string()
        };
        let rb = self.http.request(method, url);
        match token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    fn test_url(&self, what: &str) -> String {
        format!("{}/_test/{what}", self.root_url())
    }

    fn test_url_with(&self, what: &str, query: &[(&str, &str)]) -> String {
        format!("{}?{}", self.test_url(what), form(query))
    }

    fn test_json(&self, rb: RequestBuilder, what: &str) -> Value {
        let r = rb
            .send()
            .unwrap_or_else(|e| panic!("graph emulator {what}: {e}"));
        let status = r.status();
        let text = r.text().unwrap_or_default();
        assert!(
            status.is_success(),
            "graph emulator {what}: {status} {text}"
        );
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("graph emulator {what}: {e} in {text:?}"))
    }

    /// Stores `messages` (exact MIME bytes, unread, received now) in `mailbox`'s `folder` (a
    /// well-known name like "inbox", or a display path "A/B" created if missing); their ids.
    pub fn seed(&self, mailbox: &str, folder: &str, messages: &[Vec<u8>]) -> Vec<String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let list: Vec<Value> = messages
            .iter()
            .map(|m| json!({ "mime_base64": b64.encode(m) }))
            .collect();
        self.seed_with(mailbox, folder, Value::Array(list))
    }

    /// Like `seed` with `[{"mime_base64", "isRead"?, "receivedDateTime"?, "flagStatus"?,
    /// "categories"?, "lastVerbExecuted"?}]`.
    pub fn seed_with(&self, mailbox: &str, folder: &str, messages: Value) -> Vec<String> {
        let body = json!({ "mailbox": mailbox, "folder": folder, "messages": messages });
        let v = self.test_json(self.http.post(self.test_url("seed")).json(&body), "seed");
        v["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_str().unwrap().to_string())
            .collect()
    }

    /// POST /_test/<what>?<query>: throttle, cut, delay, page-size, expire-delta,
    /// deny-app-mailbox, unlicensed.
    pub fn inject(&self, what: &str, query: &str) {
        self.test_json(
            self.http.post(format!("{}?{query}", self.test_url(what))),
            what,
        );
    }

    pub fn stats(&self) -> Value {
        self.test_json(self.http.get(self.test_url("stats")), "stats")
    }

    /// The last requests the emulator answered (method, path, route, status, mailbox, …).
    pub fn requests(&self) -> Vec<Value> {
        match self.test_json(self.http.get(self.test_url("requests")), "requests") {
            Value::Array(v) => v,
            v => panic!("requests: {v}"),
        }
    }

    /// `[{"id","isRead","internetMessageId","receivedDateTime","size","subject","isDraft",
    /// "flagStatus","categories","lastVerbExecuted","sentDateTime","attachments"}]` of a folder,
    /// in arrival order ([] for an unknown mailbox; panics for an unknown folder).
    pub fn list(&self, mailbox: &str, folder: &str) -> Vec<Value> {
        let rb = self
            .http
            .get(self.test_url_with("mailbox", &[("mailbox", mailbox), ("folder", folder)]));
        match self.test_json(rb, "mailbox") {
            Value::Array(v) => v,
            v => panic!("mailbox: {v}"),
        }
    }

    /// Every folder of a mailbox: `[{"path","wellKnownName","id","displayName",…}]`.
    pub fn folders(&self, mailbox: &str) -> Vec<Value> {
        let rb = self
            .http
            .get(self.test_url_with("folders", &[("mailbox", mailbox)]));
        match self.test_json(rb, "folders") {
            Value::Array(v) => v,
            v => panic!("folders: {v}"),
        }
    }

    /// The stored MIME of a message (with uploaded attachments, as `$value` serves it).
    pub fn mime(&self, mailbox: &str, id: &str) -> Vec<u8> {
        let r = self
            .http
            .get(self.test_url_with("mime", &[("mailbox", mailbox), ("id", id)]))
            .send()
            .unwrap();
        assert!(
            r.status().is_success(),
            "mime {mailbox} {id}: {}",
            r.status()
        );
        r.bytes().unwrap().to_vec()
    }

    /// Zeroes the counters and clears every injection (throttle, cut, delay, page size, denied
    /// and unlicensed mailboxes); messages stay.
    pub fn reset(&self) {
        self.test_json(self.http.post(self.test_url("reset")), "reset");
    }

    /// `reset` and also empties every mailbox (delta links issued before then answer 410).
    pub fn reset_messages(&self) {
        self.test_json(
            self.http
                .post(format!("{}?messages=1", self.test_url("reset"))),
            "reset",
        );
    }
}

impl Drop for GraphEmulator {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
        }
    }
}

/// `application/x-www-form-urlencoded` (reqwest's `form`/`query` features are not enabled).
pub fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn post_form(url: &str, pairs: &[(&str, &str)]) -> Value {
    let r = sandbox_client()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    r.json().unwrap()
}

/// A POST to the sandbox OAuth2 server's token endpoint; its JSON answer.
pub fn token_request(pairs: &[(&str, &str)]) -> Value {
    post_form(&sandbox().url("token_endpoint"), pairs)
}

/// An app-only token: client credentials of `cc-graph-app`, scope `.default`.
pub fn app_token() -> String {
    let v = token_request(&[
        ("grant_type", "client_credentials"),
        ("client_id", "cc-graph-app"),
        ("client_secret", "cc-graph-secret"),
        ("scope", GRAPH_DEFAULT),
    ]);
    v["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("client credentials: {v}"))
        .to_string()
}

/// A delegated token response (device flow of `confidential-app`, the scripted browser logging
/// in as `login`): `{"access_token","refresh_token","scope",…}`.
pub fn device_tokens(login: &str, scope: &str) -> Value {
    let sb = sandbox();
    let da = post_form(
        &sb.url("device_authorization_endpoint"),
        &[
            ("client_id", "confidential-app"),
            ("client_secret", "confidential-secret"),
            ("scope", scope),
        ],
    );
    let done = sb.browse(&[
        "--device",
        da["user_code"].as_str().unwrap(),
        "--login",
        login,
        da["verification_uri"].as_str().unwrap(),
    ]);
    assert_eq!(done["done"], json!(true), "browser: {done}");
    let device_code = da["device_code"].as_str().unwrap();
    for _ in 0..20 {
        let v = token_request(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", "confidential-app"),
            ("client_secret", "confidential-secret"),
        ]);
        if v["error"] != json!("authorization_pending") {
            assert!(v["access_token"].is_string(), "device token: {v}");
            return v;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("the device code was still pending after 10 s");
}

/// A refresh of `confidential-app`'s `refresh_token`, optionally narrowed to `scope`.
pub fn refresh_tokens(refresh_token: &str, scope: Option<&str>) -> Value {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", "confidential-app"),
        ("client_secret", "confidential-secret"),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    token_request(&form)
}
