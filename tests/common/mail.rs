//! The mail sandbox: a private Dovecot (IMAP, POP3, submission) validating tokens at the
//! sandbox OAuth2 server, plus an SMTP sink; started once per test binary, stopped when the
//! test process ends (a watchdog reads our stdin pipe).

use super::{repo, sandbox};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

pub struct MailSandbox {
    pub info: Value,
    pub workdir: PathBuf,
    _watchdog: Mutex<Child>,
}

pub fn mail_sandbox() -> &'static MailSandbox {
    static M: OnceLock<MailSandbox> = OnceLock::new();
    M.get_or_init(start)
}

fn start() -> MailSandbox {
    let ok = Command::new("dovecot")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "Dovecot is needed by the mail tests: run `bash tests/sandbox/mail/install.sh` as root (scripts/test-all.sh does it)");
    let sb = sandbox();
    let exe = std::env::current_exe().unwrap();
    let name = exe.file_stem().unwrap().to_string_lossy().into_owned();
    let workdir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("mail-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&workdir).unwrap();
    let pki = PathBuf::from(&sb.ca_file).parent().unwrap().to_path_buf();
    let out = Command::new("bash")
        .arg(repo().join("tests/sandbox/mail/start.sh"))
        .arg(&workdir)
        .arg(sb.info.to_string())
        .arg(&pki)
        .stderr(Stdio::inherit())
        .output()
        .expect("run tests/sandbox/mail/start.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the mail sandbox did not start: {text}"
    );
    let info: Value = serde_json::from_str(text.lines().last().unwrap_or("").trim())
        .unwrap_or_else(|e| panic!("start.sh printed {text:?}: {e}"));
    // stops the servers when this process ends and the pipe closes
    let stop = repo().join("tests/sandbox/mail/stop.sh");
    let watchdog = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "cat >/dev/null; bash '{}' '{}' >/dev/null 2>&1",
            stop.display(),
            workdir.display()
        ))
        .stdin(Stdio::piped())
        .spawn()
        .expect("start the mail sandbox watchdog");
    MailSandbox {
        info,
        workdir,
        _watchdog: Mutex::new(watchdog),
    }
}

impl MailSandbox {
    pub fn port(&self, key: &str) -> u16 {
        self.info[key]
            .as_u64()
            .unwrap_or_else(|| panic!("no {key} in {}", self.info)) as u16
    }

    /// Writes `count` messages into `user`'s `folder` (seed.py); returns its JSON summary.
    pub fn seed(&self, user: &str, count: u32, folder: &str, extra: &[&str]) -> Value {
        let out = Command::new("python3")
            .arg(repo().join("tests/sandbox/mail/seed.py"))
            .arg(self.info["maildir_root"].as_str().unwrap())
            .arg(user)
            .arg(count.to_string())
            .args(["--folder", folder])
            .args(extra)
            .stderr(Stdio::inherit())
            .output()
            .expect("run seed.py");
        assert!(out.status.success(), "seed.py failed");
        let text = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(text.lines().last().unwrap_or("{}")).unwrap_or(Value::Null)
    }

    /// The Maildir directory of `user`'s `folder` (Dovecot's Maildir++ layout).
    pub fn maildir(&self, user: &str, folder: &str) -> PathBuf {
        let root = PathBuf::from(self.info["maildir_root"].as_str().unwrap())
            .join(user.to_lowercase())
            .join("Maildir");
        if folder == "INBOX" {
            root
        } else {
            let enc: Vec<String> = folder
                .split('/')
                .map(oauthmail::imap::utf7::encode)
                .collect();
            root.join(format!(".{}", enc.join(".")))
        }
    }

    /// Messages currently in a folder (files in new/ and cur/).
    pub fn count(&self, user: &str, folder: &str) -> usize {
        let dir = self.maildir(user, folder);
        ["new", "cur"]
            .iter()
            .map(|d| {
                std::fs::read_dir(dir.join(d))
                    .map(|r| r.count())
                    .unwrap_or(0)
            })
            .sum()
    }
}
