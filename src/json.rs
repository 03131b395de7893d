//! Parsing the JSON a host hands over, with errors that name the offending key.

use crate::error::{Error, Result, Status};
use serde::de::DeserializeOwned;

/// Parses `json` as a `T`. Errors get `status` and say `<what> key `a.b[2]`: <problem>` (or
/// `<what> JSON: <problem>` for a syntax error), so the host's admin knows what to fix.
pub fn parse<T: DeserializeOwned>(json: &str, what: &str, status: Status) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_str(json);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let syntax = inner.is_syntax() || inner.is_eof();
        let msg = strip_position(&inner.to_string());
        if syntax || path.is_empty() || path == "." || path == "?" {
            Error::new(status, format!("{what} JSON: {msg}"))
        } else {
            Error::new(status, format!("{what} key `{path}`: {msg}"))
        }
    })?;
    // one JSON value and nothing after it (white space aside)
    de.end().map_err(|e| {
        Error::new(
            status,
            format!("{what} JSON: text after the end of the JSON value ({e})"),
        )
    })?;
    Ok(value)
}

/// serde_json appends " at line L column C": keep it only for syntax errors, where it helps.
fn strip_position(msg: &str) -> String {
    if msg.starts_with("unknown field")
        || msg.starts_with("invalid type")
        || msg.starts_with("unknown variant")
    {
        if let Some(pos) = msg.rfind(" at line ") {
            return msg[..pos].to_string();
        }
    }
    msg.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

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
