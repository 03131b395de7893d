//! Parsing the JSON a host hands over, with errors that name the offending key.
//!
//! serde_json says where an error was found (line and column); the key path there (`a.b[2]`)
//! is read back from the text by [`path_at`]. (serde_path_to_error did the same by wrapping
//! every deserializer, which doubled the deserialization code of each type it parsed; 0.2 MB
//! of the DLL as it was built then.)

use crate::error::{Error, Result, Status};
use serde::de::DeserializeOwned;

/// A parse failure: serde_json's error, and the key path where it happened (`None` for a
/// syntax error, or an error of the whole value).
pub struct Failure {
    pub path: Option<String>,
    /// serde_json's text without the " at line L column C" that the path replaces (kept for
    /// syntax errors, where it helps).
    pub message: String,
}

/// Parses `json` as one `T` (white space aside, nothing after it).
pub fn parse_at<T: DeserializeOwned>(json: &str) -> std::result::Result<T, Failure> {
    serde_json::from_str(json).map_err(|e| {
        let syntax = e.is_syntax() || e.is_eof();
        let path = if syntax {
            None
        } else {
            Some(path_at(json, e.line(), e.column())).filter(|p| !p.is_empty())
        };
        let message = if syntax {
            e.to_string()
        } else {
            strip_position(&e.to_string())
        };
        Failure { path, message }
    })
}

/// Parses `json` as a `T`. Errors get `status` and say `<what> key `a.b[2]`: <problem>` (or
/// `<what> JSON: <problem>` for a syntax error), so the host's admin knows what to fix.
pub fn parse<T: DeserializeOwned>(json: &str, what: &str, status: Status) -> Result<T> {
    parse_at(json).map_err(|f| match f.path {
        Some(path) => Error::new(status, format!("{what} key `{path}`: {}", f.message)),
        None if f.message.starts_with("trailing characters") => Error::new(
            status,
            format!(
                "{what} JSON: text after the end of the JSON value ({})",
                f.message
            ),
        ),
        None => Error::new(status, format!("{what} JSON: {}", f.message)),
    })
}

/// serde_json appends " at line L column C": dropped where the key path says more.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(pos) => msg[..pos].to_string(),
        None => msg.to_string(),
    }
}

/// The key path (`a.b[2].c`, empty at the top) of what is being read at serde_json's error
/// position (1-based line, column of the last byte read) in `json`: keys and indexes are
/// followed through the text up to there. A key just read counts (an unknown field); an object
/// or array just closed does not (a field missing from it names the object).
pub fn path_at(json: &str, line: usize, column: usize) -> String {
    let bytes = json.as_bytes();
    // the byte offset just after the error position
    let mut end = 0;
    for _ in 1..line {
        match bytes[end..].iter().position(|&b| b == b'\n') {
            Some(nl) => end += nl + 1,
            None => break,
        }
    }
    let end = (end + column).min(bytes.len());

    enum Frame {
        Object { key: Option<String>, want_key: bool },
        Array { index: usize },
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        match bytes[i] {
            b'{' => stack.push(Frame::Object {
                key: None,
                want_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b':' => {
                if let Some(Frame::Object { want_key, .. }) = stack.last_mut() {
                    *want_key = false;
                }
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { want_key, .. }) => *want_key = true,
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            b'"' => {
                // a string: to its closing quote (escapes skipped), or to the end of the text
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if let Some(Frame::Object {
                    key,
                    want_key: true,
                }) = stack.last_mut()
                {
                    let raw = &json[start..(i + 1).min(json.len())];
                    *key = Some(
                        serde_json::from_str::<String>(raw)
                            .unwrap_or_else(|_| raw.trim_matches('"').to_string()),
                    );
                }
            }
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for f in &stack {
        match f {
            Frame::Object { key: Some(k), .. } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => path.push_str(&format!("[{index}]")),
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Server {
        host: String,
        #[serde(default)]
        port: u16,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Config {
        #[serde(default)]
        name: String,
        #[serde(default)]
        servers: Vec<Server>,
        #[serde(default)]
        incoming: Option<Server>,
        #[serde(default)]
        extra: BTreeMap<String, u32>,
    }

    fn err(json: &str) -> String {
        parse::<Config>(json, "configuration", Status::InvalidConfig)
            .unwrap_err()
            .message
    }

    #[test]
    fn errors_name_the_key_path() {
        let cases = [
            (
                r#"{"nme": "x"}"#,
                "configuration key `nme`: unknown field `nme`",
            ),
            (
                r#"{"name": 5}"#,
                "configuration key `name`: invalid type: integer `5`",
            ),
            (
                "{\n  \"incoming\": {\"host\": \"h\",\n   \"port\": \"993\"}}",
                "configuration key `incoming.port`: invalid type: string \"993\"",
            ),
            (
                r#"{"incoming": {"host": "h", "prot": 1}}"#,
                "configuration key `incoming.prot`: unknown field `prot`",
            ),
            (
                r#"{"incoming": {"port": 1}}"#,
                "configuration key `incoming`: missing field `host`",
            ),
            (
                r#"{"servers": [{"host": "a"}, {"host": "b", "port": 70000}]}"#,
                "configuration key `servers[1].port`: invalid value: integer `70000`",
            ),
            (
                r#"{"servers": [{"host": "a"}, {"port": 1}]}"#,
                "configuration key `servers[1]`: missing field `host`",
            ),
            (
                r#"{"name": "a,b:{[\"", "extra": {"k\"1": "x"}}"#,
                "configuration key `extra.k\"1`: invalid type: string \"x\"",
            ),
            (
                r#"{"servers": 5}"#,
                "configuration key `servers`: invalid type: integer `5`",
            ),
            // a struct read from an array (serde allows it): the element is named
            ("[1]", "configuration key `[0]`: invalid type: integer `1`"),
            (
                r#"{"name": "x""#,
                "configuration JSON: EOF while parsing an object at line 1 column 12",
            ),
        ];
        for (json, want) in cases {
            let got = err(json);
            assert!(got.starts_with(want), "{json}\n got: {got}\nwant: {want}");
            if want.contains("key `") {
                assert!(!got.contains(" at line "), "{got}");
            }
        }
    }

    #[test]
    fn trailing_text_is_refused() {
        let ok: BTreeMap<String, u32> =
            parse(" {\"a\": 1} \n", "t", Status::InvalidConfig).unwrap();
        assert_eq!(ok["a"], 1);
        for bad in [r#"{"a": 1} x"#, r#"{"a": 1}{"a": 2}"#, r#"{"a": 1},"#] {
            let e = parse::<BTreeMap<String, u32>>(bad, "t", Status::InvalidConfig).unwrap_err();
            assert_eq!(e.status, Status::InvalidConfig);
            assert!(e.message.contains("after the end"), "{bad}: {}", e.message);
        }
    }
}
