//! Certificate credentials (Microsoft's recommendation over client secrets, which expire): the
//! client proves itself with a JWT signed by the certificate's private key
//! (`client_assertion`, RFC 7523 §2.2), whose header names the certificate by its SHA-256
//! thumbprint (`x5t#S256`). Sent with every token request instead of `client_secret`.

use super::jwt::{random_id, x5t_s256, SigningKey};
use crate::error::Result;
use crate::tokens::token_set::now_unix;
use serde_json::json;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Lifetime of one assertion (one token request).
const LIFETIME_SECS: i64 = 600;

/// A client certificate and its key.
pub struct ClientCertificate {
    key: SigningKey,
    /// `x5t#S256` of the certificate.
    pub thumbprint: String,
    /// Where it came from (for the masked configuration and messages).
    pub source: String,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint", &self.thumbprint)
            .field("source", &self.source)
            .finish()
    }
}

impl ClientCertificate {
    /// From PEM texts: the certificate and its private key. `what` names the settings.
    pub fn from_pem(cert_pem: &str, key_pem: &str, source: &str) -> Result<ClientCertificate> {
        let der =
            super::jwt::certificate_der(cert_pem, "configuration key `client_certificate_file`")?;
        let key = SigningKey::from_pem(key_pem, "configuration key `client_key_file`")?;
        Ok(ClientCertificate {
            key,
            thumbprint: x5t_s256(&der),
            source: source.to_string(),
        })
    }

    /// A fresh assertion for `client_id` at the token endpoint `aud`.
    pub fn assertion(&self, client_id: &str, aud: &str) -> Result<String> {
        let now = now_unix();
        self.key.sign(
            &json!({"alg": "RS256", "typ": "JWT", "x5t#S256": self.thumbprint}),
            &json!({
                "aud": aud,
                "iss": client_id,
                "sub": client_id,
                "jti": random_id(),
                "nbf": now,
                "iat": now,
                "exp": now + LIFETIME_SECS,
            }),
        )
    }
}
