//! Google service accounts with domain-wide delegation: the key file the Workspace admin hands
//! over, and the JWT-bearer grant (RFC 7523) that turns a signed assertion into an access token
//! for one user of the domain. There is no refresh token: a new assertion is signed when the
//! access token nears its expiry.

use super::hints::Grant;
use super::http::TokenHttp;
use super::jwt::SigningKey;
use super::provider_error::ProviderError;
use crate::config::Config;
use crate::error::{Error, Result, Status};
use crate::tokens::token_set::now_unix;
use crate::tokens::TokenSet;
use serde::Deserialize;
use serde_json::json;

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime of an assertion (Google allows at most one hour).
const ASSERTION_SECS: i64 = 3600;

/// The fields of a Google service account key file that matter here.
#[derive(Clone, Deserialize)]
pub struct KeyFile {
    #[serde(rename = "type")]
    pub kind: String,
    pub client_email: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub private_key_id: String,
    pub private_key: String,
    #[serde(default)]
    pub token_uri: Option<String>,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("private_key", &"********")
            .finish()
    }
}

impl KeyFile {
    /// Parses a key file's JSON; errors name the setting and never quote the key.
    pub fn parse(text: &str, what: &str) -> Result<KeyFile> {
        let key: KeyFile = serde_json::from_str(text).map_err(|e| {
            Error::config(format!(
                "{what}: not a Google service account key file ({}): download the JSON key from the Google Cloud console (IAM & Admin → Service accounts → Keys)",
                e.to_string().split(" at line").next().unwrap_or("")
            ))
        })?;
        if key.kind != "service_account" {
            return Err(Error::config(format!(
                "{what}: the key file's type is `{}`, not `service_account`",
                key.kind
            )));
        }
        SigningKey::from_pem(&key.private_key, what)?;
        Ok(key)
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
}

/// The signed assertion for `subject` and `scopes`, valid from now for an hour.
pub fn assertion(
    key: &KeyFile,
    subject: Option<&str>,
    scopes: &[String],
    aud: &str,
) -> Result<String> {
    let signer = SigningKey::from_pem(&key.private_key, "service account key")?;
    let now = now_unix();
    let mut claims = json!({
        "iss": key.client_email,
        "scope": scopes.join(" "),
        "aud": aud,
        "iat": now,
        "exp": now + ASSERTION_SECS,
    });
    if let Some(s) = subject {
        claims["sub"] = json!(s);
    }
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if !key.private_key_id.is_empty() {
        header["kid"] = json!(key.private_key_id);
    }
    signer.sign(&header, &claims)
}

/// A new access token for the configured user (`scopes`: the main token's, or another
/// resource's), kept in a set without refresh token.
pub async fn token(
    config: &Config,
    http: &TokenHttp,
    current: &TokenSet,
    scopes: &[String],
) -> Result<TokenSet> {
    use oauth2::AsyncHttpClient;
    let sa = config.service_account.as_ref().ok_or_else(|| {
        Error::config(
            "flow `service_account` needs `service_account_key_file` or `service_account_key`",
        )
    })?;
    let jwt = assertion(
        &sa.key,
        sa.subject.as_deref(),
        scopes,
        config.token_url.as_str(),
    )?;
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", GRANT_TYPE)
        .append_pair("assertion", &jwt);
    let request = oauth2::http::Request::builder()
        .method(oauth2::http::Method::POST)
        .uri(config.token_url.as_str())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(form.finish().into_bytes())
        .map_err(|e| Error::config(format!("configuration key `token_url`: {e}")))?;
    let resp = http.call(request).await.map_err(|e| e.0)?;
    if !resp.status().is_success() {
        let pe = serde_json::from_slice::<ProviderError>(resp.body()).unwrap_or_else(|_| {
            ProviderError {
                error: format!("HTTP {}", resp.status().as_u16()),
                error_description: Some(
                    String::from_utf8_lossy(resp.body())
                        .chars()
                        .take(200)
                        .collect(),
                ),
                ..Default::default()
            }
        });
        return Err(super::hints::classify(config, Grant::ServiceAccount, &pe));
    }
    let t: TokenResponse = serde_json::from_slice(resp.body()).map_err(|e| {
        Error::new(
            Status::ProviderError,
            format!("the token endpoint answered a service account with unreadable JSON ({e})"),
        )
    })?;
    let now = now_unix();
    let lifetime = t.expires_in.unwrap_or(3600).clamp(1, 24 * 3600);
    let mut set = current.clone();
    set.format = crate::tokens::token_set::FORMAT;
    set.version = current.version.saturating_add(1);
    set.updated_at = now.max(current.updated_at);
    set.client_id = config.client_id.clone();
    set.token_url = config.token_url.to_string();
    set.access_token = Some(t.access_token);
    set.expires_at = Some(now.saturating_add(lifetime));
    set.refresh_token = None;
    set.scope = t.scope.or_else(|| Some(scopes.join(" ")));
    set.token_type = Some("Bearer".into());
    Ok(set)
}
