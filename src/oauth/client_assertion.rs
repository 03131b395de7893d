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

    /// From a PFX / PKCS#12 file (as Windows exports certificates) and its password: the first
    /// private key and its certificate. Legacy (3DES, RC2) and current (AES) encryptions.
    pub fn from_pfx(data: &[u8], password: &str, source: &str) -> Result<ClientCertificate> {
        use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
        let store = KeyStore::from_pkcs12(data, password, Pkcs12ImportPolicy::Relaxed)
            .map_err(|e| {
                crate::error::Error::config(format!(
                    "configuration key `client_pfx_file` ({source}): cannot open the PFX — wrong `client_pfx_password`, or not a PKCS#12 file ({e})"
                ))
            })?;
        let (_, chain) = store.private_key_chain().ok_or_else(|| {
            crate::error::Error::config(format!(
                "configuration key `client_pfx_file` ({source}): the PFX holds no private key with its certificate (export it with the private key)"
            ))
        })?;
        let cert = chain.certs().first().ok_or_else(|| {
            crate::error::Error::config(format!(
                "configuration key `client_pfx_file` ({source}): the PFX holds no certificate for its key"
            ))
        })?;
        let key = SigningKey::from_pkcs8_der(
            chain.key().as_der(),
            &format!("configuration key `client_pfx_file` ({source})"),
        )?;
        Ok(ClientCertificate {
            key,
            thumbprint: x5t_s256(cert.as_der()),
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
