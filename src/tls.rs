//! TLS client settings shared by HTTPS (token endpoint) and, later, IMAP/POP3/SMTP.
//!
//! Trust is the operating system's store (rustls-platform-verifier: the Windows certificate
//! store on Windows, the system bundle elsewhere) plus the extra CA certificates of the account
//! configuration. Verification is never turned off.

use crate::error::{Error, Result, Status};
use once_cell::sync::Lazy;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Parses one or more PEM certificates.
pub fn parse_pem_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>> {
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert =
            item.map_err(|e| Error::config(format!("cannot read a PEM certificate: {e}")))?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(Error::config(
            "no \"-----BEGIN CERTIFICATE-----\" block found in the extra CA certificates",
        ));
    }
    Ok(certs)
}

type ConfigCache = Mutex<HashMap<Option<String>, Arc<rustls::ClientConfig>>>;
static CACHE: Lazy<ConfigCache> = Lazy::new(|| Mutex::new(HashMap::new()));

/// The rustls client configuration: OS trust store plus `extra_ca_pem`. Built once per set of
/// extra certificates (loading the system store is slow) and shared.
pub fn client_config(extra_ca_pem: Option<&str>) -> Result<Arc<rustls::ClientConfig>> {
    let key = extra_ca_pem.map(str::to_string);
    if let Some(c) = CACHE.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(c.clone());
    }
    let config = build_client_config(extra_ca_pem)?;
    CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, config.clone());
    Ok(config)
}

fn build_client_config(extra_ca_pem: Option<&str>) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let extra = match extra_ca_pem {
        Some(pem) => parse_pem_certs(pem)?,
        None => Vec::new(),
    };
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone()).map_err(
            |e| {
                Error::new(
                    Status::TlsError,
                    format!("cannot load the trusted certificates: {e}"),
                )
            },
        )?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(Status::TlsError, format!("TLS setup failed: {e}")))?
        .dangerous() // only to plug in the platform verifier, which does verify
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Finds a rustls error in an error's source chain and explains it.
pub fn explain_tls_error(err: &(dyn std::error::Error + 'static), host: &str) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(describe(tls, host));
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                    return Some(describe(tls, host));
                }
            }
        }
        // some layers (hyper-util) keep only the text of the TLS error
        let text = e.to_string();
        if let Some(pos) = text.find("invalid peer certificate: ") {
            let what = &text[pos + "invalid peer certificate: ".len()..];
            let reason = if what.starts_with("UnknownIssuer") {
                "the certificate was issued by an unknown authority (add the CA to ca_certs_pem if a proxy or a private CA is expected)".to_string()
            } else if what.starts_with("Expired") {
                "the certificate has expired".to_string()
            } else if what.starts_with("NotValidForName") {
                format!("the certificate is not valid for the name {host}")
            } else {
                what.to_string()
            };
            return Some(format!("TLS verification of {host} failed: {reason}"));
        }
        cur = e.source();
    }
    None
}

fn describe(err: &rustls::Error, host: &str) -> String {
    use rustls::{CertificateError, Error as E};
    let reason = match err {
        E::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the certificate was issued by an unknown authority (add the CA to ca_certs_pem if a proxy or a private CA is expected)".to_string()
        }
        E::InvalidCertificate(CertificateError::Expired) => "the certificate has expired".to_string(),
        E::InvalidCertificate(CertificateError::NotValidForName)
        | E::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
            format!("the certificate is not valid for the name {host}")
        }
        other => other.to_string(),
    };
    format!("TLS verification of {host} failed: {reason}")
}
