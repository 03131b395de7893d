//! The token endpoint's error response, with Microsoft's extra fields kept (error codes, trace
//! and correlation ids: admins need them for support).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderError {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_codes: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

impl ProviderError {
    /// `error: description (trace id …, correlation id …)` — the provider's own words.
    pub fn text(&self) -> String {
        let mut s = self.error.clone();
        if let Some(d) = &self.error_description {
            // Microsoft descriptions span lines ("AADSTS…\r\nTrace ID: …"): keep the first
            let first = d.lines().next().unwrap_or(d).trim();
            s.push_str(": ");
            s.push_str(first);
        }
        let mut ids = Vec::new();
        if let Some(t) = &self.trace_id {
            ids.push(format!("trace id {t}"));
        }
        if let Some(c) = &self.correlation_id {
            ids.push(format!("correlation id {c}"));
        }
        if !ids.is_empty() {
            s.push_str(&format!(" ({})", ids.join(", ")));
        }
        s
    }

    /// The Microsoft `AADSTS…` code, from `error_codes` or the description.
    pub fn aadsts(&self) -> Option<i64> {
        if let Some(c) = self.error_codes.as_ref().and_then(|v| v.first()) {
            return Some(*c);
        }
        let d = self.error_description.as_deref()?;
        let pos = d.find("AADSTS")?;
        let digits: String = d[pos + 6..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().ok()
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl oauth2::ErrorResponse for ProviderError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsoft_error_keeps_ids_and_code() {
        let json = r#"{"error":"invalid_grant","error_description":"AADSTS700082: The refresh token has expired due to inactivity.\r\nTrace ID: t1\r\nCorrelation ID: c1","error_codes":[700082],"timestamp":"2026-01-01 00:00:00Z","trace_id":"t1","correlation_id":"c1"}"#;
        let e: ProviderError = serde_json::from_str(json).unwrap();
        assert_eq!(e.aadsts(), Some(700082));
        assert_eq!(
            e.text(),
            "invalid_grant: AADSTS700082: The refresh token has expired due to inactivity. (trace id t1, correlation id c1)"
        );
    }

    #[test]
    fn code_from_description_only() {
        let e = ProviderError {
            error: "invalid_client".into(),
            error_description: Some(
                "AADSTS7000222: The provided client secret keys are expired.".into(),
            ),
            ..Default::default()
        };
        assert_eq!(e.aadsts(), Some(7000222));
    }
}
