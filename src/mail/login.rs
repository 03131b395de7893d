//! What logging in to a mail server means, whatever the protocol: the credentials, what the
//! server announced, and a refusal (which the caller may answer by refreshing the token once).

use crate::config::SaslMechanism;
use crate::error::Error;

/// How to log in.
pub enum Login {
    OAuth {
        mechanism: SaslMechanism,
        user: String,
        token: String,
    },
    Password {
        user: String,
        password: String,
    },
}

/// What the server said before login: for the settings check.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ServerInfo {
    pub greeting: String,
    pub capabilities: Vec<String>,
    pub mechanisms: Vec<String>,
    pub tls: bool,
}

/// A login the server refused (as opposed to a network or protocol failure): the caller may
/// refresh the token and try once more.
#[derive(Debug, Clone)]
pub struct Refused {
    pub server_text: String,
    pub challenge: Option<String>,
}

#[derive(Debug)]
pub enum LoginError {
    Refused(Refused),
    Failed(Error),
}

impl From<Error> for LoginError {
    fn from(e: Error) -> Self {
        LoginError::Failed(e)
    }
}
