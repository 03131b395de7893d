//! The Gmail API emulator (tests/sandbox/gmail/gmail-emulator.mjs): HTTPS on loopback, access
//! tokens checked at the sandbox OAuth2 server, sent mail relayed to the mail sandbox's SMTP
//! sink. Started once per test binary, stopped when the test process ends (the emulator exits
//! when its stdin pipe closes). See tests/sandbox/gmail/README.md for what it emulates.

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

use super::graph::{device_tokens, form, sandbox_client};

/// The sandbox's scope that plays Google's `https://mail.google.com/`.
pub const GOOGLE_MAIL: &str = "mail";
pub const GMAIL_MODIFY: &str = "https://www.googleapis.com/auth/gmail.modify";
pub const GMAIL_SEND: &str = "https://www.googleapis.com/auth/gmail.send";
pub const GMAIL_READONLY: &str = "https://www.googleapis.com/auth/gmail.readonly";

pub struct GmailEmulator {
    /// The emulator's JSON line: `{"base_url","upload_url","port","pid"}`.
    pub info: Value,
    http: Client,
    child: Mutex<Child>,
}

/// The emulator, started on first use (with the sandbox OAuth2 server and the mail sandbox).
/// Panics (never skips) when a tool is missing.
pub fn gmail_emulator() -> &'static GmailEmulator {
    static G: OnceLock<GmailEmulator> = OnceLock::new();
    G.get_or_init(start)
}

fn start() -> GmailEmulator {
    let sb = sandbox(); // checks node, openssl and the sandbox's node_modules
    let sink_port = mail_sandbox().port("sink_port");
    let script = repo().join("tests/sandbox/gmail/gmail-emulator.mjs");
    assert!(
        script.exists(),
        "{} is missing (the Gmail emulator)",
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
                panic!("cannot start the Gmail emulator with `node` ({e}): install Node.js 20 (apt-get install nodejs) or run scripts/test-all.sh")
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
                eprintln!("the Gmail emulator exited before it was ready: trying again");
                let _ = child.kill();
                let _ = child.wait();
            }
            Err(_) if attempt < 3 => {
                eprintln!("the Gmail emulator did not start within 60 s: trying again");
                let _ = child.kill();
                let _ = child.wait();
            }
            _ => panic!("the Gmail emulator did not start (3 tries of 60 s); see its log above"),
        }
    };
    let info: Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("the Gmail emulator printed {line:?}: {e}"));
    GmailEmulator {
        info,
        http: sandbox_client(),
        child: Mutex::new(child),
    }
}

impl GmailEmulator {
    /// `https://127.0.0.1:PORT/gmail/v1` (the equivalent of `https://gmail.googleapis.com/gmail/v1`).
    pub fn base_url(&self) -> String {
        self.info["base_url"].as_str().unwrap().to_string()
    }

    /// `https://127.0.0.1:PORT/upload/gmail/v1` (media uploads).
    pub fn upload_url(&self) -> String {
        self.info["upload_url"].as_str().unwrap().to_string()
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

    /// A Gmail request: `url` is absolute (an upload session URL) or a path under
    /// `base_url()` ("/users/me/…").
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

    fn test_json(&self, rb: RequestBuilder, what: &str) -> Value {
        let r = rb
            .send()
            .unwrap_or_else(|e| panic!("gmail emulator {what}: {e}"));
        let status = r.status();
        let text = r.text().unwrap_or_default();
        assert!(
            status.is_success(),
            "gmail emulator {what}: {status} {text}"
        );
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("gmail emulator {what}: {e} in {text:?}"))
    }

    /// Stores `messages` (exact bytes, internalDate now) in `user`'s mailbox with `labels`
    /// (label ids, or names of user labels created if missing; `&[]` = no label, e.g.
    /// archived and read); their ids, in order. Each is a `messagesAdded` history record.
    pub fn seed(&self, user: &str, labels: &[&str], messages: &[Vec<u8>]) -> Vec<String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let list: Vec<Value> = messages
            .iter()
            .map(|m| json!({ "raw_base64": b64.encode(m) }))
            .collect();
        let v = self.seed_with(user, Some(labels), Value::Array(list));
        v["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_str().unwrap().to_string())
            .collect()
    }

    /// Like `seed` with `[{"raw_base64", "labelIds"?, "internalDate"? (epoch ms or a date)}]`
    /// (labels `None`: INBOX and UNREAD); the whole answer `{"ids","historyId","user"}`.
    pub fn seed_with(&self, user: &str, labels: Option<&[&str]>, messages: Value) -> Value {
        let mut body = json!({ "user": user, "messages": messages });
        if let Some(l) = labels {
            body["labelIds"] = json!(l);
        }
        self.test_json(self.http.post(self.test_url("seed")).json(&body), "seed")
    }

    /// POST /_test/<what>?<query>: throttle, cut, delay, page-size, concurrency,
    /// expire-history.
    pub fn inject(&self, what: &str, query: &str) {
        self.test_json(
            self.http.post(format!("{}?{query}", self.test_url(what))),
            what,
        );
    }

    pub fn stats(&self) -> Value {
        self.test_json(self.http.get(self.test_url("stats")), "stats")
    }

    /// The last requests the emulator answered (method, path, route, status, user, reason, cut).
    pub fn requests(&self) -> Vec<Value> {
        match self.test_json(self.http.get(self.test_url("requests")), "requests") {
            Value::Array(v) => v,
            v => panic!("requests: {v}"),
        }
    }

    /// `[{"id","threadId","labelIds","size","messageId","subject","internalDate","historyId"}]`
    /// of the messages of `user` carrying `label` (an id or a user label's name; `""` = every
    /// message), in arrival order (`[]` for an unknown mailbox).
    pub fn list(&self, user: &str, label: &str) -> Vec<Value> {
        let mut q = vec![("user", user)];
        if !label.is_empty() {
            q.push(("label", label));
        }
        let rb = self
            .http
            .get(format!("{}?{}", self.test_url("mailbox"), form(&q)));
        match self.test_json(rb, "mailbox") {
            Value::Array(v) => v,
            v => panic!("mailbox: {v}"),
        }
    }

    /// The label ids of message `id` of `user` (`None` when there is no such message).
    pub fn labels_of(&self, user: &str, id: &str) -> Option<Vec<String>> {
        self.list(user, "")
            .into_iter()
            .find(|m| m["id"] == id)
            .map(|m| {
                m["labelIds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|l| l.as_str().unwrap().to_string())
                    .collect()
            })
    }

    /// `user`'s user labels, `[{"id","name","type","messagesTotal",…}]` (`[]` for an unknown
    /// mailbox).
    pub fn user_labels(&self, user: &str) -> Vec<Value> {
        let rb = self.http.get(format!(
            "{}?{}",
            self.test_url("labels"),
            form(&[("user", user)])
        ));
        match self.test_json(rb, "labels") {
            Value::Array(v) => v,
            v => panic!("labels: {v}"),
        }
    }

    /// The id of `user`'s user label `name` (exact), or `None`.
    pub fn label_id(&self, user: &str, name: &str) -> Option<String> {
        self.user_labels(user)
            .into_iter()
            .find(|l| l["name"] == name)
            .map(|l| l["id"].as_str().unwrap().to_string())
    }

    /// The stored bytes of a message.
    pub fn raw(&self, user: &str, id: &str) -> Vec<u8> {
        let r = self
            .http
            .get(format!(
                "{}?{}",
                self.test_url("raw"),
                form(&[("user", user), ("id", id)])
            ))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "raw {user} {id}: {}", r.status());
        r.bytes().unwrap().to_vec()
    }

    /// Zeroes the counters and clears every injection (throttle, cut, delay, page size,
    /// concurrency limit); messages and history stay.
    pub fn reset(&self) {
        self.test_json(self.http.post(self.test_url("reset")), "reset");
    }

    /// `reset` and also empties every mailbox (page tokens issued before then are refused; a
    /// new mailbox's history ids are above every earlier one).
    pub fn reset_messages(&self) {
        self.test_json(
            self.http
                .post(format!("{}?messages=1", self.test_url("reset"))),
            "reset",
        );
    }
}

impl Drop for GmailEmulator {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
        }
    }
}

/// A delegated token response for `login` with `scope` (device flow of `confidential-app`
/// through the scripted browser, as `graph::device_tokens`): `{"access_token","refresh_token",
/// "scope",…}`. For Gmail: `"openid offline_access email mail"` (`mail` = https://mail.google.com/),
/// or the gmail.* scopes.
pub fn gmail_tokens(login: &str, scope: &str) -> Value {
    device_tokens(login, scope)
}

/// The scopes the sandbox OAuth2 server offers (`scopes_supported` of its discovery document).
pub fn scopes_supported() -> Vec<String> {
    let url = sandbox().url("discovery_url");
    let v: Value = sandbox_client()
        .get(&url)
        .send()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .unwrap();
    v["scopes_supported"]
        .as_array()
        .unwrap_or_else(|| panic!("no scopes_supported in {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Panics, naming them, when the sandbox OAuth2 server does not offer all of `scopes`.
pub fn require_scopes(scopes: &[&str]) {
    let have = scopes_supported();
    let missing: Vec<&str> = scopes
        .iter()
        .copied()
        .filter(|s| !have.iter().any(|h| h == s))
        .collect();
    assert!(
        missing.is_empty(),
        "the sandbox OAuth2 server (tests/sandbox/oauth-server.mjs) does not offer the scope(s) {missing:?}: \
         add them to its `scopes` (it offers {have:?})"
    );
}
