//! Signed JWTs (RS256) for the grants that prove who the client is with a key instead of a
//! secret (RFC 7523): Google service accounts' assertions and Microsoft's client assertions.
//! Keys come as PEM (PKCS#8 or PKCS#1); they stay in memory, never in logs or errors.

use crate::error::{Error, Result, Status};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

/// An RSA private key for RS256 signatures.
pub struct SigningKey(RsaKeyPair);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(RSA, hidden)")
    }
}

impl SigningKey {
    /// Reads a PEM private key (`BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY`). `what` names
    /// the setting in the error (never the key itself).
    pub fn from_pem(pem: &str, what: &str) -> Result<SigningKey> {
        let bad = |why: String| {
            Error::config(format!(
                "{what}: {why} (an RSA private key in PEM is expected: -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)"
            ))
        };
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| bad(format!("no private key found ({e})")))?;
        let pair = match &der {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err(bad("the key is not an RSA key".to_string())),
        }
        .map_err(|e| bad(format!("the key cannot be used for RS256 ({e})")))?;
        Ok(SigningKey(pair))
    }

    /// From a PKCS#8 DER private key (what a PFX holds).
    pub fn from_pkcs8_der(der: &[u8], what: &str) -> Result<SigningKey> {
        RsaKeyPair::from_pkcs8(der).map(SigningKey).map_err(|e| {
            Error::config(format!(
                "{what}: the private key cannot be used for RS256 (an RSA key is needed: {e})"
            ))
        })
    }

    /// `header.claims.signature`, each part base64url.
    pub fn sign(&self, header: &Value, claims: &Value) -> Result<String> {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.0.public().modulus_len()];
        self.0
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| Error::new(Status::Panic, "RS256 signing failed"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

/// The DER of the first certificate of a PEM text.
pub fn certificate_der(pem: &str, what: &str) -> Result<Vec<u8>> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|c| c.to_vec())
        .map_err(|e| {
            Error::config(format!(
                "{what}: no certificate found ({e}); a PEM certificate (-----BEGIN CERTIFICATE-----) is expected"
            ))
        })
}

/// `x5t#S256`: the base64url SHA-256 of a certificate's DER (how Microsoft finds the key).
pub fn x5t_s256(cert_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, cert_der))
}

/// A random identifier for `jti`.
pub fn random_id() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    let _ = SystemRandom::new().fill(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_keys_name_the_setting_not_the_key() {
        let e = SigningKey::from_pem("not a key", "service account key").unwrap_err();
        assert_eq!(e.status, Status::InvalidConfig);
        assert!(
            e.message.starts_with("service account key:"),
            "{}",
            e.message
        );
        let e = certificate_der("nope", "client_certificate").unwrap_err();
        assert!(e.message.contains("client_certificate"));
    }
}
