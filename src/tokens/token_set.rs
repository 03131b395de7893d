//! The token set of one account, as exported to and imported from the host.
//!
//! The `version` grows with every change (authorization, refresh, revocation). When several
//! workstations share one mailbox's tokens through the host's database, importing an older set
//! over a newer one is refused, so a rotated refresh token is never lost.

use crate::error::{Error, Result, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Format 2 added `resources`; format 1 sets (without it) are still read.
pub const FORMAT: u32 = 2;

/// An access token for a resource other than the main one (Microsoft: Graph beside Outlook),
/// obtained with the set's refresh token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ResourceToken {
    pub access_token: String,
    /// Unix time at which it expires.
    pub expires_at: i64,
    /// Unix time it was obtained.
    pub obtained_at: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scope: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TokenSet {
    /// Format of this JSON (2; 1 is read too).
    pub format: u32,
    /// Grows with every change.
    pub version: u64,
    /// Unix time of the last change.
    pub updated_at: i64,
    /// The OAuth2 client the tokens were issued to.
    pub client_id: String,
    /// The token endpoint that issued them.
    pub token_url: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub access_token: Option<String>,
    /// Unix time at which the access token expires.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub token_type: Option<String>,
    /// Access tokens for other resources, by resource (`graph`, `mail`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub resources: BTreeMap<String, ResourceToken>,
}

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl TokenSet {
    /// An empty set for a client (version 0: anything imported is newer).
    pub fn empty(client_id: &str, token_url: &str) -> TokenSet {
        TokenSet {
            format: FORMAT,
            version: 0,
            updated_at: 0,
            client_id: client_id.to_string(),
            token_url: token_url.to_string(),
            ..Default::default()
        }
    }

    /// True when there is nothing to use (no access token, no refresh token).
    pub fn is_empty(&self) -> bool {
        self.access_token.is_none() && self.refresh_token.is_none() && self.resources.is_empty()
    }

    /// The access token for `resource` (`None`: the main one) and its expiry.
    pub fn token_for(&self, resource: Option<&str>) -> Option<(&str, Option<i64>, i64)> {
        match resource {
            None => self
                .access_token
                .as_deref()
                .map(|t| (t, self.expires_at, self.updated_at)),
            Some(r) => self
                .resources
                .get(r)
                .map(|t| (t.access_token.as_str(), Some(t.expires_at), t.obtained_at)),
        }
    }

    /// Seconds the access token remains valid (negative when expired); `None` without one.
    pub fn remaining_secs(&self, now: i64) -> Option<i64> {
        self.access_token.as_ref()?;
        Some(
            self.expires_at
                .map(|e| e.saturating_sub(now))
                .unwrap_or(i64::MAX / 2),
        )
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Parses an exported set, naming the offending key on error.
    pub fn from_json(json: &str) -> Result<TokenSet> {
        let mut set: TokenSet = crate::json::parse(json, "token set", Status::InvalidArgument)?;
        match set.format {
            FORMAT => Ok(set),
            1 if set.resources.is_empty() => {
                set.format = FORMAT;
                Ok(set)
            }
            n => Err(Error::invalid_argument(format!(
                "token set JSON: format {n} is not supported (this library reads formats 1 and {FORMAT})"
            ))),
        }
    }

    /// Checks that `incoming` may replace `self`: same client, and not older.
    pub fn check_import(&self, incoming: &TokenSet) -> Result<()> {
        if incoming.client_id != self.client_id {
            return Err(Error::invalid_argument(format!(
                "these tokens were issued to client `{}`, not to this account's client `{}`",
                incoming.client_id, self.client_id
            )));
        }
        if incoming.token_url != self.token_url {
            return Err(Error::invalid_argument(format!(
                "these tokens come from {}, not from this account's token endpoint {}",
                incoming.token_url, self.token_url
            )));
        }
        let newer_or_same =
            (incoming.version, incoming.updated_at) >= (self.version, self.updated_at);
        if !newer_or_same {
            return Err(Error::new(
                Status::StaleTokens,
                format!(
                    "the imported tokens (version {}) are older than the ones held (version {}): they were not imported, so the newer refresh token is kept; export the current tokens and store those",
                    incoming.version, self.version
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(version: u64, updated_at: i64) -> TokenSet {
        TokenSet {
            version,
            updated_at,
            refresh_token: Some(format!("rt-{version}")),
            ..TokenSet::empty("client", "https://idp/token")
        }
    }

    #[test]
    fn older_import_is_refused_newer_accepted() {
        let held = set(5, 1000);
        assert_eq!(
            held.check_import(&set(4, 2000)).unwrap_err().status,
            Status::StaleTokens
        );
        assert!(held.check_import(&set(6, 900)).is_ok());
        assert!(held.check_import(&set(5, 1000)).is_ok());
        assert!(held.check_import(&set(5, 1001)).is_ok());
        assert_eq!(
            held.check_import(&set(5, 999)).unwrap_err().status,
            Status::StaleTokens
        );
    }

    #[test]
    fn format_1_still_reads_and_resources_round_trip() {
        let v1 = r#"{"format":1,"version":3,"updated_at":5,"client_id":"c","token_url":"u","refresh_token":"r"}"#;
        let s = TokenSet::from_json(v1).unwrap();
        assert_eq!(s.format, FORMAT);
        assert_eq!(s.refresh_token.as_deref(), Some("r"));
        let mut s2 = s.clone();
        s2.resources.insert(
            "graph".into(),
            ResourceToken {
                access_token: "g".into(),
                expires_at: 100,
                obtained_at: 40,
                scope: Some("https://graph.microsoft.com/Mail.Send".into()),
            },
        );
        let back = TokenSet::from_json(&s2.to_json()).unwrap();
        assert_eq!(back, s2);
        assert_eq!(back.token_for(Some("graph")), Some(("g", Some(100), 40)));
        assert_eq!(back.token_for(Some("mail")), None);
        // a format 1 set never had resources: one claiming some is not what it says
        let bad = r#"{"format":1,"version":1,"updated_at":1,"client_id":"c","token_url":"u","resources":{"graph":{"access_token":"g","expires_at":1,"obtained_at":0}}}"#;
        assert!(TokenSet::from_json(bad).is_err());
        assert!(TokenSet::from_json(
            r#"{"format":3,"version":1,"updated_at":1,"client_id":"c","token_url":"u"}"#
        )
        .is_err());
    }

    #[test]
    fn other_client_is_refused() {
        let held = set(1, 1);
        let mut other = set(2, 2);
        other.client_id = "someone-else".into();
        assert_eq!(
            held.check_import(&other).unwrap_err().status,
            Status::InvalidArgument
        );
    }

    #[test]
    fn json_round_trip_and_errors_name_the_key() {
        let s = set(3, 33);
        assert_eq!(TokenSet::from_json(&s.to_json()).unwrap(), s);
        let e = TokenSet::from_json(r#"{"format":1,"version":"x"}"#).unwrap_err();
        assert!(e.message.contains("`version`"), "{}", e.message);
        let e = TokenSet::from_json("{not json").unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }
}
