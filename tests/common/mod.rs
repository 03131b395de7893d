//! Test fixtures: the sandbox OAuth2 server (oidc-provider on loopback, started once per test
//! binary) and thin wrappers over the C ABI.
#![allow(dead_code)]

pub mod browse;
pub mod capi;
pub mod gmail;
pub mod graph;
pub mod mail;
pub mod proxy;
pub mod sink;
pub mod traffic;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub struct Sandbox {
    pub info: Value,
    pub ca_file: String,
    pub other_ca_file: String,
    child: Mutex<Child>,
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn need(program: &str, version_arg: &str, install: &str) {
    let ok = Command::new(program)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`{program}` is needed by the tests and was not found: {install}"
    );
}

/// The sandbox, started on first use. Panics (never skips) when a tool is missing.
pub fn sandbox() -> &'static Sandbox {
    static S: OnceLock<Sandbox> = OnceLock::new();
    S.get_or_init(start_sandbox)
}

fn start_sandbox() -> Sandbox {
    need(
        "node",
        "--version",
        "install Node.js 20 (apt-get install nodejs) or run scripts/test-all.sh",
    );
    need("openssl", "version", "apt-get install openssl");
    let sb = repo().join("tests/sandbox");
    assert!(
        sb.join("node_modules/oidc-provider").exists(),
        "the test OAuth2 server is not installed: run `npm ci --prefix tests/sandbox` (scripts/test-all.sh does it)"
    );
    let pki = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pki");
    let st = Command::new("bash")
        .arg(sb.join("make-certs.sh"))
        .arg(&pki)
        .stdout(Stdio::null())
        .status()
        .expect("run make-certs.sh");
    assert!(st.success(), "make-certs.sh failed");
    // a start that hangs (seen once on a loaded machine) is killed and tried again
    let mut attempt = 0;
    let (child, line) = loop {
        attempt += 1;
        let mut child = Command::new("node")
            .arg(sb.join("oauth-server.mjs"))
            .args(["--port", "0", "--certs"])
            .arg(&pki)
            .stdin(Stdio::piped()) // closed when this process ends: the server exits
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the sandbox OAuth2 server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => break (child, line),
            Err(_) if attempt < 3 => {
                eprintln!("the sandbox OAuth2 server did not start within 60 s: trying again");
                let _ = child.kill();
                let _ = child.wait();
            }
            Err(_) => panic!("the sandbox OAuth2 server did not start (3 tries of 60 s)"),
        }
    };
    let info: Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("sandbox server printed {line:?}: {e}"));
    Sandbox {
        info,
        ca_file: pki.join("ca.pem").to_string_lossy().into_owned(),
        other_ca_file: pki.join("other-ca.pem").to_string_lossy().into_owned(),
        child: Mutex::new(child),
    }
}

impl Sandbox {
    pub fn url(&self, key: &str) -> String {
        self.info[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {}", self.info))
            .to_string()
    }

    /// The scripted browser as a `browser_command`.
    pub fn browser_command(&self, extra: &[&str]) -> Vec<String> {
        let mut v = vec![
            "node".to_string(),
            repo()
                .join("tests/sandbox/browser.mjs")
                .to_string_lossy()
                .into_owned(),
            "--ca".to_string(),
            self.ca_file.clone(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    }

    /// Runs the scripted browser to completion and returns its JSON line.
    pub fn browse(&self, args: &[&str]) -> Value {
        let cmd = self.browser_command(args);
        let out = Command::new(&cmd[0])
            .args(&cmd[1..])
            .stderr(Stdio::inherit())
            .output()
            .expect("run browser.mjs");
        let text = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("browser printed {text:?}: {e}"))
    }

    /// A custom-provider account configuration for sandbox client `client` ("confidential-app",
    /// "short-app", …), merged with `extra`.
    pub fn config(&self, client: &str, extra: Value) -> String {
        let secret = match client {
            "confidential-app" => Some("confidential-secret"),
            "basic-app" => Some("basic-secret"),
            "short-app" => Some("short-secret"),
            "cc-app" => Some("cc-secret"),
            "tiny-app" => Some("tiny-secret"),
            "tiny-db-app" => Some("tiny-db-secret"),
            _ => None,
        };
        let mut c = json!({
            "provider": "custom",
            "client_id": client,
            "authorize_url": self.url("authorization_endpoint"),
            "token_url": self.url("token_endpoint"),
            "device_authorization_url": self.url("device_authorization_endpoint"),
            "revocation_url": self.url("revocation_endpoint"),
            "client_auth": if client == "basic-app" { "basic" } else { "request_body" },
            "scopes": "openid offline_access email mail",
            "redirect_uri": "http://127.0.0.1/",
            "email": "alice@example.test",
            "ca_certs_file": self.ca_file,
            "timeout_secs": 20,
            "open_browser": false,
        });
        if let Some(s) = secret {
            c["client_secret"] = json!(s);
        }
        if let (Value::Object(base), Value::Object(more)) = (&mut c, extra) {
            for (k, v) in more {
                if v.is_null() {
                    base.remove(&k);
                } else {
                    base.insert(k, v);
                }
            }
        }
        c.to_string()
    }

    fn http(&self) -> reqwest::blocking::Client {
        let pem = std::fs::read_to_string(&self.ca_file).unwrap();
        let tls = oauthmail::tls::client_config(Some(&pem)).unwrap();
        reqwest::blocking::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .build()
            .unwrap()
    }

    pub fn stats(&self) -> Value {
        self.http()
            .get(format!("{}/_test/stats", self.url("issuer")))
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    pub fn token_requests(&self, grant: &str) -> u64 {
        self.stats()["token_requests"][grant].as_u64().unwrap_or(0)
    }

    /// POST /_test/<what>?<query> (fault injection).
    pub fn inject(&self, what: &str, query: &str) {
        let r = self
            .http()
            .post(format!("{}/_test/{what}?{query}", self.url("issuer")))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "inject {what}: {}", r.status());
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
        }
    }
}

/// A one-shot HTTP GET over plain TCP (for hitting the loopback listener directly).
pub fn http_get(url: &str) -> (u16, String) {
    let u = url::Url::parse(url).unwrap();
    let host = u
        .host_str()
        .unwrap()
        .trim_matches(|c| c == '[' || c == ']')
        .to_string();
    let addr = format!(
        "{}:{}",
        if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        },
        u.port().unwrap()
    );
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    use std::io::{Read, Write};
    let target = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    };
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// An account of sandbox client `client`, authorized through the scripted browser.
pub fn authorized(client: &str, extra: Value) -> capi::Acc {
    authorized_as(client, "alice@example.test", extra)
}

/// The same, the user logging in as `login` (the token's email claim).
pub fn authorized_as(client: &str, login: &str, extra: Value) -> capi::Acc {
    let sb = sandbox();
    let mut e = extra;
    e["open_browser"] = json!(true);
    e["browser_command"] = json!(sb.browser_command(&["--login", login]));
    let acc = capi::Acc::new(&sb.config(client, e)).unwrap();
    acc.start("").unwrap();
    acc.wait_done(60).unwrap();
    acc
}

/// Serialises the tests of one binary that use the sandbox: they assert on the server's
/// request counters, which parallel tests would disturb.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
