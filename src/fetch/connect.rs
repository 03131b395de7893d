//! Opening an authenticated mail session for an account: the token (refreshed and retried once
//! when the server refuses it), or the password; the server's refusal explained.

use crate::account::Account;
use crate::config::{Server, ServerAuth};
use crate::error::{Error, Result, Status};
use crate::imap::session::{self, Login, LoginError, Refused, ServerInfo};
use crate::imap::ImapSession;
use crate::log::Level;
use crate::mail::login::Retries;
use crate::om_log;

/// The SASL user for `server`: its own `username`, else the account's login user / email.
pub fn login_user(account: &Account, server: &Server) -> Result<String> {
    server
        .username
        .clone()
        .or_else(|| account.config.sasl_user().map(str::to_string))
        .ok_or_else(|| Error::config("configuration key `email`: the mailbox address (or login_user) is needed to log in"))
}

fn incoming(account: &Account) -> Result<&Server> {
    account.config.incoming.as_ref().ok_or_else(|| {
        Error::config("configuration key `incoming`: no incoming server is configured")
    })
}

/// The credentials for `server`, and the access token they carry (to reject it if refused).
async fn credentials(
    account: &Account,
    server: &Server,
    user: &str,
) -> Result<(Login, Option<String>)> {
    match server.auth {
        ServerAuth::Oauth2 => {
            let (token, _) = account.access_token().await?;
            Ok((
                Login::OAuth {
                    mechanism: server.sasl_mechanism,
                    user: user.to_string(),
                    token: token.clone(),
                },
                Some(token),
            ))
        }
        ServerAuth::Password => Ok((
            Login::Password {
                user: user.to_string(),
                password: server.password.clone().unwrap_or_default(),
            },
            None,
        )),
        ServerAuth::None => Err(Error::config(
            "configuration key `incoming.auth`: \"none\" cannot log in to a mail server",
        )),
    }
}

/// What to do after a login attempt: done, try again (with a refreshed token after a refusal,
/// with the same one after a temporary failure), or fail.
async fn after_login<S>(
    account: &Account,
    server: &Server,
    user: &str,
    result: std::result::Result<S, LoginError>,
    token: Option<String>,
    retries: &mut Retries,
) -> Result<Option<S>> {
    match result {
        Ok(s) => {
            om_log!(
                Level::Info,
                "account {}: logged in to {}:{} as {user}",
                account.id,
                server.host,
                server.port
            );
            Ok(Some(s))
        }
        Err(LoginError::Refused(r)) => match token {
            Some(t) if !retries.refreshed => {
                // expired early or revoked: refresh once and try again
                om_log!(
                    Level::Warn,
                    "account {}: {} refused the token ({}); refreshing and retrying once",
                    account.id,
                    server.host,
                    r.server_text
                );
                account.reject_access_token(&t);
                retries.refreshed = true;
                Ok(None)
            }
            _ => Err(refused(account, server, user, r)),
        },
        Err(LoginError::Unavailable(text)) => {
            retries
                .after_unavailable(&server.host, user, text, account.config.language)
                .await?;
            Ok(None)
        }
        Err(LoginError::Failed(e)) => Err(e),
    }
}

/// An authenticated IMAP session on the account's incoming server.
pub async fn imap(account: &Account) -> Result<(ImapSession, ServerInfo)> {
    imap_then(account, None).await
}

/// [`imap`], with the session's first command as async-imap will write it (e.g.
/// `EXAMINE "INBOX"`): sent in the login's flight when the login leaves early.
pub async fn imap_then(account: &Account, next: Option<&str>) -> Result<(ImapSession, ServerInfo)> {
    let server = incoming(account)?;
    let tls = crate::tls::client_config(account.config.ca_certs_pem.as_deref())?;
    let user = login_user(account, server)?;
    let mut retries = Retries::default();
    loop {
        // the token first: a refresh does not keep a connection waiting, and the login can
        // leave with the TLS handshake (`options.early_login`)
        let (login, token) = credentials(account, server, &user).await?;
        let r = session::open_and_login(
            server,
            tls.clone(),
            account.config.timeout,
            account.config.proxy.for_mail(&server.host).as_ref(),
            login,
            account.config.allow_insecure_transport,
            account.config.options.early_login,
            next,
        )
        .await;
        if let Some(s) = after_login(account, server, &user, r, token, &mut retries).await? {
            return Ok(s);
        }
    }
}

/// An authenticated POP3 session on the account's incoming server.
pub async fn pop3(account: &Account) -> Result<(crate::pop3::Pop3Session, ServerInfo)> {
    let server = incoming(account)?;
    let tls = crate::tls::client_config(account.config.ca_certs_pem.as_deref())?;
    let user = login_user(account, server)?;
    let mut retries = Retries::default();
    loop {
        let (client, info) = crate::pop3::open_via(
            server,
            tls.clone(),
            account.config.timeout,
            account.config.proxy.for_mail(&server.host).as_ref(),
        )
        .await?;
        let (login, token) = credentials(account, server, &user).await?;
        let r = crate::pop3::login(
            client,
            &info,
            server,
            login,
            account.config.allow_insecure_transport,
        )
        .await;
        if let Some(s) = after_login(account, server, &user, r, token, &mut retries).await? {
            return Ok((s, info));
        }
    }
}

fn refused(account: &Account, server: &Server, user: &str, r: Refused) -> Error {
    let l = account.config.language;
    let host = &server.host;
    let mut detail = r.server_text.clone();
    if let Some(c) = &r.challenge {
        detail = format!("{detail} ({c})");
    }
    let (message, hint) = match server.auth {
        ServerAuth::Oauth2 => (
            l.pick_string(
                format!("{host} refused the OAuth2 login of {user}, even with a freshly refreshed token"),
                format!("{host} a refusé la connexion OAuth2 de {user}, même avec un jeton tout juste actualisé"),
            ),
            {
                let (proto, scope, switch) = if server.protocol == crate::config::Protocol::Pop3 {
                    ("POP", "POP.AccessAsUser.All", "-PopEnabled")
                } else {
                    ("IMAP", "IMAP.AccessAsUser.All", "-ImapEnabled")
                };
                l.pick_string(
                    format!("Check that the token's scopes include mail access (Office 365: {scope}; Gmail: https://mail.google.com/), that {proto} is enabled for this mailbox (Exchange: Set-CASMailbox {switch} $true), and that the login user is the token's owner (for a shared mailbox set login_user to the shared address)."),
                    format!("Vérifiez que les portées du jeton donnent accès à la messagerie (Office 365 : {scope} ; Gmail : https://mail.google.com/), que {proto} est activé pour cette boîte (Exchange : Set-CASMailbox {switch} $true), et que l'utilisateur de connexion est le propriétaire du jeton (boîte partagée : login_user = l'adresse partagée)."),
                )
            },
        ),
        _ => (
            l.pick_string(format!("{host} refused the login of {user}"), format!("{host} a refusé la connexion de {user}")),
            l.pick_string(
                "Check the user name and password; Gmail and Office 365 no longer accept passwords: use OAuth2.".into(),
                "Vérifiez l'identifiant et le mot de passe ; Gmail et Office 365 n'acceptent plus les mots de passe : utilisez OAuth2.".into(),
            ),
        ),
    };
    Error::new(Status::LoginRejected, message)
        .with_detail(detail)
        .with_hint(hint)
}
