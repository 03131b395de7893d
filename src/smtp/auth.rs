//! SMTP AUTH. XOAUTH2 and OAUTHBEARER are driven by hand over `AsyncSmtpConnection::command`
//! (lettre's own XOAUTH2 gives up on the server's error challenge and loses the `535` text):
//! `AUTH <mech> <base64 initial response>` → `235`; on a `334 <challenge>` the
//! answer is an empty line (OAUTHBEARER: `AQ==`), and the final `5xx` is kept as the reason.
//! PLAIN/LOGIN for password accounts go through lettre's `auth`.

use super::connection::{reply_of, smtp_err, SmtpConnection};
use crate::config::SaslMechanism;
use crate::error::{Error, Status};
use crate::log::Level;
use crate::mail::login::{Login, LoginError, Refused};
use crate::mail::sasl;
use crate::om_log;
use base64::Engine;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::response::Response;

type AuthResult = std::result::Result<(), LoginError>;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// True for a reply that refuses the credentials (as opposed to a temporary failure or an
/// unknown command): 530, 534, 535, 550 (Office 365's `550 5.7.30`), 554.
fn is_refusal(code: u16) -> bool {
    matches!(code, 530 | 534 | 535 | 538 | 550 | 554)
}

/// True for a reply that says the server could not check the login just now (`454 4.7.0
/// Temporary authentication failure`, `421` closing, `451`), as opposed to a refusal. `432`
/// (a password transition is needed) is about the credentials.
fn is_temporary(code: u16) -> bool {
    (400..500).contains(&code) && code != 432
}

fn unsupported(conn: &SmtpConnection, name: &str) -> LoginError {
    let offered = if conn.info.mechanisms.is_empty() {
        "nothing".to_string()
    } else {
        conn.info.mechanisms.join(", ")
    };
    LoginError::Failed(Error::new(
        Status::Unsupported,
        format!(
            "{} does not offer SMTP AUTH {name} (it offers: {offered}); set outgoing.sasl_mechanism or outgoing.auth accordingly",
            conn.host
        ),
    ))
}

/// Maps a failed AUTH step: a refusal (which the caller may answer with a fresh token) or a
/// failure.
fn step_err(conn: &SmtpConnection, e: &lettre::transport::smtp::Error) -> LoginError {
    match reply_of(e) {
        Some((code, text)) if is_refusal(code) => LoginError::Refused(Refused {
            server_text: text,
            challenge: None,
        }),
        Some((code, text)) if is_temporary(code) => LoginError::Unavailable(text),
        _ => LoginError::Failed(smtp_err(&conn.host, "AUTH", e)),
    }
}

fn reply_line(r: &Response) -> String {
    let code = r.code().to_string();
    format!("{code} {}", r.message().collect::<Vec<_>>().join(" "))
        .trim_end()
        .to_string()
}

/// Logs in on `conn`. `allow_plain_credentials` permits a credential over an unencrypted
/// connection (only with `security: none` and allow_insecure_transport).
pub async fn login(
    conn: &mut SmtpConnection,
    login: Login,
    allow_plain_credentials: bool,
) -> AuthResult {
    if !conn.info.tls && !allow_plain_credentials {
        return Err(LoginError::Failed(Error::new(
            Status::TlsError,
            format!("refusing to send credentials to {} without TLS", conn.host),
        )));
    }
    match login {
        Login::OAuth {
            mechanism,
            user,
            token,
        } => oauth(conn, mechanism, &user, &token).await,
        Login::Password { user, password } => {
            let offered: Vec<Mechanism> = [Mechanism::Plain, Mechanism::Login]
                .into_iter()
                .filter(|m| {
                    conn.info
                        .mechanisms
                        .iter()
                        .any(|o| o.eq_ignore_ascii_case(&m.to_string()))
                })
                .collect();
            if offered.is_empty() {
                return Err(unsupported(conn, "PLAIN or LOGIN"));
            }
            om_log!(Level::Debug, "{}: AUTH {} as {user}", conn.host, offered[0]);
            let creds = Credentials::new(user, password);
            match conn.conn.auth(&offered, &creds).await {
                Ok(r) if r.code().to_string() == "235" => Ok(()),
                Ok(r) => Err(LoginError::Failed(
                    Error::new(
                        Status::ProtocolError,
                        format!("{}: unexpected reply to AUTH", conn.host),
                    )
                    .with_detail(reply_line(&r)),
                )),
                Err(e) => Err(step_err(conn, &e)),
            }
        }
    }
}

async fn oauth(
    conn: &mut SmtpConnection,
    mechanism: SaslMechanism,
    user: &str,
    token: &str,
) -> AuthResult {
    let (name, initial, bearer) = match mechanism {
        SaslMechanism::Xoauth2 => ("XOAUTH2", sasl::xoauth2(user, token), false),
        SaslMechanism::Oauthbearer => (
            "OAUTHBEARER",
            sasl::oauthbearer(user, &conn.host, conn.port, token),
            true,
        ),
    };
    if !conn
        .info
        .mechanisms
        .iter()
        .any(|m| m.eq_ignore_ascii_case(name))
    {
        return Err(unsupported(conn, name));
    }
    om_log!(Level::Debug, "{}: AUTH {name} as {user}", conn.host);
    // the response on the AUTH line (RFC 4954's initial response, one round trip fewer;
    // Gmail documents it, Exchange Online accepts it as smtplib sends it): a 334 reply is then
    // only the server's error challenge
    let r = match conn
        .conn
        .command(format!("AUTH {name} {}\r\n", b64(&initial)))
        .await
    {
        Ok(r) => r,
        Err(e) => return Err(step_err(conn, &e)),
    };
    match r.code().to_string().as_str() {
        "235" => Ok(()),
        "334" => {
            // the error challenge (base64 JSON): answer it so the server ends with its reason
            let challenge_b64: String = r.message().collect::<Vec<_>>().join("");
            let challenge = base64::engine::general_purpose::STANDARD
                .decode(challenge_b64.trim())
                .unwrap_or_else(|_| challenge_b64.clone().into_bytes());
            let ack = if bearer {
                b64(sasl::error_ack(true))
            } else {
                String::new()
            };
            let described = sasl::describe_challenge(&challenge);
            match conn.conn.command(format!("{ack}\r\n")).await {
                Err(e) => match reply_of(&e) {
                    Some((code, text)) if is_temporary(code) => Err(LoginError::Unavailable(text)),
                    Some((_, text)) => Err(LoginError::Refused(Refused {
                        server_text: text,
                        challenge: Some(described),
                    })),
                    None => Err(LoginError::Failed(smtp_err(&conn.host, "AUTH", &e))),
                },
                Ok(r) if r.code().to_string() == "235" => Ok(()),
                Ok(r) => Err(LoginError::Refused(Refused {
                    server_text: reply_line(&r),
                    challenge: Some(described),
                })),
            }
        }
        _ => Err(LoginError::Failed(
            Error::new(
                Status::ProtocolError,
                format!("{}: unexpected reply to AUTH {name}", conn.host),
            )
            .with_detail(reply_line(&r)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals() {
        for c in [530, 534, 535, 550] {
            assert!(is_refusal(c));
        }
        for c in [454, 421, 504, 501] {
            assert!(!is_refusal(c));
        }
        assert_eq!(b64(sasl::error_ack(true)), "AQ==");
    }

    #[test]
    fn temporary_failures_are_neither_refusals_nor_errors() {
        for c in [454, 421, 451] {
            assert!(is_temporary(c) && !is_refusal(c), "{c}");
        }
        // 432: a password transition is needed (the credentials); 5xx: refusals or errors
        for c in [432, 535, 504, 250, 334] {
            assert!(!is_temporary(c), "{c}");
        }
    }
}
