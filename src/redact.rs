//! Keeps tokens and secrets out of every log line and error message.
//!
//! Two layers: every secret the library knows (client secrets, passwords, access and refresh
//! tokens, authorization codes, PKCE verifiers) is registered here by its owner and replaced by
//! `[redacted]` wherever it appears; and values that look like credentials by their name
//! (`access_token=…`, `"refresh_token":"…"`, `Bearer …`, `code=…`) are masked even when unknown.

use once_cell::sync::Lazy;
use std::sync::RwLock;

const MASK: &str = "[redacted]";
/// Shorter strings are not treated as secrets (they would mask ordinary words).
const MIN_SECRET_LEN: usize = 6;

/// (owner, slot, secret): one value per slot, so refreshed tokens replace the old ones.
type Registry = RwLock<Vec<(u64, &'static str, String)>>;
static SECRETS: Lazy<Registry> = Lazy::new(|| RwLock::new(Vec::new()));

/// Registers the secret held in `slot` (e.g. `"refresh_token"`) by `owner` (an account id),
/// replacing the slot's previous value.
pub fn register(owner: u64, slot: &'static str, secret: &str) {
    let mut s = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    s.retain(|(o, sl, _)| !(*o == owner && *sl == slot));
    if secret.len() >= MIN_SECRET_LEN {
        s.push((owner, slot, secret.to_string()));
    }
}

/// Forgets every secret of `owner`.
pub fn forget_owner(owner: u64) {
    let mut s = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    s.retain(|(o, _, _)| *o != owner);
}

/// Names whose values are credentials.
const SENSITIVE_KEYS: [&str; 9] = [
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "code",
    "code_verifier",
    "password",
    "device_code",
    "assertion",
];

/// Returns `text` with every known secret and every credential-looking value masked.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    {
        let s = SECRETS.read().unwrap_or_else(|e| e.into_inner());
        for (_, _, secret) in s.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
    }
    out = mask_after(&out, "Bearer ", |c| {
        !c.is_whitespace() && c != '"' && c != '\''
    });
    for key in SENSITIVE_KEYS {
        out = mask_after(&out, &format!("{key}="), |c| {
            c != '&' && !c.is_whitespace() && c != '"' && c != '\''
        });
        out = mask_json_value(&out, key);
    }
    out
}

/// Masks the run of characters accepted by `keep` that follows each occurrence of `prefix`
/// at a word boundary.
fn mask_after(text: &str, prefix: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(prefix) {
        let boundary = pos == 0
            || !rest[..pos]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
        out.push_str(&rest[..pos + prefix.len()]);
        rest = &rest[pos + prefix.len()..];
        if !boundary {
            continue;
        }
        let end = rest.find(|c: char| !keep(c)).unwrap_or(rest.len());
        if end > 0 && &rest[..end] != MASK {
            out.push_str(MASK);
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// Masks `"key": "value"` in JSON text.
fn mask_json_value(text: &str, key: &str) -> String {
    let needle = format!("\"{key}\"");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(&needle) {
        out.push_str(&rest[..pos + needle.len()]);
        rest = &rest[pos + needle.len()..];
        let trimmed = rest.trim_start();
        if let Some(after_colon) = trimmed.strip_prefix(':') {
            let value = after_colon.trim_start();
            if let Some(body) = value.strip_prefix('"') {
                // find the closing quote, honouring backslash escapes
                let mut end = None;
                let mut escaped = false;
                for (i, c) in body.char_indices() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        end = Some(i);
                        break;
                    }
                }
                if let Some(end) = end {
                    let consumed = rest.len() - body.len();
                    out.push_str(&rest[..consumed]);
                    if &body[..end] != MASK && end > 0 {
                        out.push_str(MASK);
                    } else {
                        out.push_str(&body[..end]);
                    }
                    rest = &body[end..];
                }
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_registered_secrets_and_forgets_them() {
        register(4242, "client_secret", "s3cr3t-value-xyz");
        assert_eq!(
            redact("secret is s3cr3t-value-xyz."),
            "secret is [redacted]."
        );
        forget_owner(4242);
        assert_eq!(
            redact("secret is s3cr3t-value-xyz."),
            "secret is s3cr3t-value-xyz."
        );
    }

    #[test]
    fn masks_credential_shapes() {
        assert_eq!(
            redact("grant_type=refresh_token&refresh_token=abc.def&client_id=x"),
            "grant_type=refresh_token&refresh_token=[redacted]&client_id=x"
        );
        assert_eq!(
            redact(r#"{"access_token": "eyJ.x\"y", "expires_in": 3600}"#),
            r#"{"access_token": "[redacted]", "expires_in": 3600}"#
        );
        assert_eq!(
            redact("Authorization: Bearer abc123"),
            "Authorization: Bearer [redacted]"
        );
        assert_eq!(
            redact("GET /?code=XYZ&state=abc HTTP/1.1"),
            "GET /?code=[redacted]&state=abc HTTP/1.1"
        );
        // not a credential key: error_code=, barcode=
        assert_eq!(redact("error_code=12 barcode=9"), "error_code=12 barcode=9");
    }
}
