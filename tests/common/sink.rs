//! The SMTP sink of the mail sandbox: what Dovecot's submission service relayed, as
//! `<n>.eml` + `<n>.json` ({mail_from, rcpt_to}).
#![allow(dead_code)]

use super::mail::mail_sandbox;
use oauthmail::smtp::envelope;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct Sunk {
    pub meta: Value,
    pub eml: Vec<u8>,
}

pub fn sink_dir() -> PathBuf {
    PathBuf::from(mail_sandbox().info["sink_dir"].as_str().unwrap())
}

/// Every message in the sink, by number.
pub fn sink_all() -> BTreeMap<u64, Sunk> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(sink_dir()).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(n) = name
            .strip_suffix(".json")
            .and_then(|n| n.parse::<u64>().ok())
        {
            let meta: Value =
                serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
            let eml = std::fs::read(sink_dir().join(format!("{n}.eml"))).unwrap();
            out.insert(n, Sunk { meta, eml });
        }
    }
    out
}

pub fn header_of(eml: &[u8], name: &str) -> Option<String> {
    envelope::header_fields(eml)
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
}

/// The sink's messages whose Message-ID is `id` (waits up to 5 s for `want` of them).
pub fn sunk_with_id(id: &str, want: usize) -> Vec<Sunk> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found: Vec<Sunk> = sink_all()
            .into_values()
            .filter(|s| header_of(&s.eml, "Message-ID").as_deref() == Some(id))
            .collect();
        if found.len() >= want || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn rcpt_to(s: &Sunk) -> Vec<String> {
    let mut v: Vec<String> = s.meta["rcpt_to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a.as_str()
                .unwrap()
                .trim_matches(|c| c == '<' || c == '>')
                .to_lowercase()
        })
        .collect();
    v.sort();
    v
}

pub fn mail_from(s: &Sunk) -> String {
    s.meta["mail_from"]
        .as_str()
        .unwrap()
        .trim_matches(|c| c == '<' || c == '>')
        .to_lowercase()
}
