//! What logging in to a mail server means, whatever the protocol: the credentials, what the
//! server announced, a refusal (which the caller may answer by refreshing the token once) and a
//! temporary failure (answered by one more try with the same token).

use std::time::Duration;

use crate::config::SaslMechanism;
use crate::error::{Error, Status};
use crate::lang::Lang;

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
    /// The server could not check the login just now (IMAP `NO [UNAVAILABLE]`, SMTP 4xx,
    /// POP3 `-ERR [SYS/TEMP]`: e.g. its token check timed out). Not about the credentials: the
    /// token must not be thrown away; the caller may try once more. Holds the server's text.
    Unavailable(String),
    Failed(Error),
}

/// How long to wait before trying a login again after [`LoginError::Unavailable`].
pub const UNAVAILABLE_PAUSE: Duration = Duration::from_secs(1);

/// What the retries of one login have used: a fresh token after a refusal, one more try after
/// a temporary failure.
#[derive(Debug, Default)]
pub struct Retries {
    pub refreshed: bool,
    pub retried_unavailable: bool,
}

impl Retries {
    /// After [`LoginError::Unavailable`] from `host`: the first time, waits
    /// [`UNAVAILABLE_PAUSE`] and returns `Ok` (try again, same credentials); the second time,
    /// the error that says it is the server's temporary trouble.
    pub async fn after_unavailable(
        &mut self,
        host: &str,
        user: &str,
        server_text: String,
        lang: Lang,
    ) -> crate::error::Result<()> {
        if self.retried_unavailable {
            return Err(unavailable(host, user, server_text, lang));
        }
        self.retried_unavailable = true;
        crate::om_log!(
            crate::log::Level::Warn,
            "{host} could not check the login of {user} just now ({server_text}); trying again in {} ms with the same token",
            UNAVAILABLE_PAUSE.as_millis()
        );
        tokio::time::sleep(UNAVAILABLE_PAUSE).await;
        Ok(())
    }
}

/// The error for a login the server could not check twice in a row: a network-class status
/// (try again later), nothing for the user or the admin to change.
pub fn unavailable(host: &str, user: &str, server_text: String, lang: Lang) -> Error {
    Error::new(
        Status::NetworkError,
        lang.pick_string(
            format!("{host} could not check the login of {user} just now (a temporary failure on the server's side, twice in a row); nothing needs changing in the settings or the authorization: try again later"),
            format!("{host} n'a pas pu vérifier la connexion de {user} pour l'instant (une panne passagère côté serveur, deux fois de suite) ; rien n'est à changer dans les paramètres ni dans l'autorisation : réessayez plus tard"),
        ),
    )
    .with_detail(server_text)
    .already_retried()
}

impl From<Error> for LoginError {
    fn from(e: Error) -> Self {
        LoginError::Failed(e)
    }
}
