//! Sending raw RFC 5322 messages over the account's outgoing server: one message
//! ([`send_raw`]) or many over one authenticated connection ([`send_batch`]).
//!
//! - A login refused with OAuth2 gets ONE token refresh and retry (as for IMAP/POP3).
//! - A refused sender, recipient or DATA fails that message only (RSET, then the next one).
//! - A dropped connection is reopened (with a token from the account, refreshed if due) and
//!   the message is sent again ONLY when the end of its DATA never reached the connection. A
//!   message whose DATA was complete but whose reply was lost is reported as "delivery
//!   unknown" and never sent again automatically.

use super::connection::{self, is_connection_lost, reply_of, smtp_err, SmtpConnection};
use super::envelope::{self, Prepared};
use super::{auth, hints};
use crate::account::Account;
use crate::config::{Server, ServerAuth};
use crate::error::{Error, Result, Status};
use crate::lang::Lang;
use crate::log::Level;
use crate::mail::login::{Login, LoginError, Retries, ServerInfo};
use crate::om_log;
use lettre::address::Envelope;
use lettre::transport::smtp::commands::{Data, Mail, Quit, Rcpt, Rset};
use lettre::transport::smtp::extension::{MailBodyParameter, MailParameter};

/// What the server said about one message it accepted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SendResult {
    /// The message's `Message-ID` header (with angle brackets), if it has one.
    pub message_id: Option<String>,
    /// The envelope sender (MAIL FROM).
    pub mail_from: Option<String>,
    /// The recipients the server accepted (RCPT TO).
    pub recipients: Vec<String>,
    /// The code of the final reply to DATA (250).
    pub reply_code: u16,
    /// The final reply to DATA, code included (e.g. `250 2.0.0 Ok: queued as 1234`).
    pub reply_text: String,
}

/// True for the "delivery unknown, not resent" failure: the message's DATA was complete but the
/// reply was lost with the connection (`Status::DeliveryUnknown`).
pub fn is_delivery_unknown(e: &Error) -> bool {
    e.status == Status::DeliveryUnknown
}

/// Most times one message is tried when the connection drops before its DATA ends.
const MAX_TRIES_PER_MESSAGE: u32 = 2;

/// Most times in a row opening a session may fail with a network error before the messages
/// left are given up.
const MAX_OPEN_RETRIES: u32 = 3;
const OPEN_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// A failure to open a session after which another attempt may succeed (unless the login
/// already tried again).
fn retryable_open(e: &Error) -> bool {
    matches!(e.status, Status::NetworkError | Status::Timeout) && !e.retried
}

/// Most connections one call opens (the first plus reconnections after drops), plus one per
/// 50 messages of the batch.
const MAX_CONNECTIONS: u32 = 6;

fn outgoing(account: &Account) -> Result<&Server> {
    account.config.outgoing.as_ref().ok_or_else(|| {
        Error::config("configuration key `outgoing`: no outgoing (SMTP) server is configured")
    })
}

/// Opens the account's outgoing server and says what it offers, without logging in (for a
/// settings check).
pub async fn server_info(account: &Account) -> Result<ServerInfo> {
    let server = outgoing(account)?;
    let tls = crate::tls::client_config(account.config.ca_certs_pem.as_deref())?;
    let c = connection::open(
        server,
        tls,
        account.config.timeout,
        account.config.proxy.for_mail(&server.host).as_ref(),
    )
    .await?;
    let info = c.info.clone();
    c.quit().await;
    Ok(info)
}

/// An authenticated connection to the account's outgoing server: the token (refreshed and
/// retried once when the server refuses it) or the password.
pub async fn connect(account: &Account) -> Result<SmtpConnection> {
    let server = outgoing(account)?;
    let tls = crate::tls::client_config(account.config.ca_certs_pem.as_deref())?;
    let user = crate::fetch::connect::login_user(account, server)?;
    let mut retries = Retries::default();
    for _ in 0..3 {
        let mut c = connection::open(
            server,
            tls.clone(),
            account.config.timeout,
            account.config.proxy.for_mail(&server.host).as_ref(),
        )
        .await?;
        let (login, token) = match server.auth {
            ServerAuth::Oauth2 => {
                let (token, _) = account.access_token().await?;
                (
                    Login::OAuth {
                        mechanism: server.sasl_mechanism,
                        user: user.clone(),
                        token: token.clone(),
                    },
                    Some(token),
                )
            }
            ServerAuth::Password => (
                Login::Password {
                    user: user.clone(),
                    password: server.password.clone().unwrap_or_default(),
                },
                None,
            ),
            // a relay that needs no login
            ServerAuth::None => return Ok(c),
        };
        match auth::login(&mut c, login, account.config.allow_insecure_transport).await {
            Ok(()) => {
                om_log!(
                    Level::Info,
                    "account {}: logged in to {}:{} (SMTP) as {user}",
                    account.id,
                    server.host,
                    server.port
                );
                return Ok(c);
            }
            Err(LoginError::Refused(r)) => match token {
                Some(t) if !retries.refreshed => {
                    om_log!(
                        Level::Warn,
                        "account {}: {} refused the token ({}); refreshing and retrying once",
                        account.id,
                        server.host,
                        r.server_text
                    );
                    c.quit().await;
                    account.reject_access_token(&t);
                    retries.refreshed = true;
                }
                _ => {
                    c.quit().await;
                    return Err(hints::refused(account, server, &user, &r));
                }
            },
            Err(LoginError::Unavailable(text)) => {
                c.quit().await;
                retries
                    .after_unavailable(&server.host, &user, text, account.config.language)
                    .await?;
            }
            Err(LoginError::Failed(e)) => return Err(e),
        }
    }
    Err(Error::new(
        Status::LoginRejected,
        format!("{} refused the login twice", server.host),
    ))
}

/// Sends one raw RFC 5322 message. The envelope comes from the headers unless `envelope` is
/// given; `copy_to_self` (or the account's `options.copy_to_self`) adds the account's own
/// address as a hidden recipient.
pub async fn send_raw(
    account: &Account,
    raw: &[u8],
    envelope: Option<Envelope>,
    copy_to_self: bool,
) -> Result<SendResult> {
    let p = prepare(account, raw, envelope, copy_to_self)?;
    let mut p = Some(p);
    run(account, 1, |_, _| {
        p.take()
            .ok_or_else(|| Error::new(Status::Panic, "the message was asked for twice"))
    })
    .await
    .pop()
    .unwrap_or_else(|| Err(Error::new(Status::Panic, "no result for the message")))
}

/// Sends many messages over one authenticated connection; one result per message, in order.
/// The account's `options.copy_to_self` applies to each.
pub async fn send_batch(
    account: &Account,
    mut messages: Vec<(Vec<u8>, Option<Envelope>)>,
) -> Vec<Result<SendResult>> {
    let n = messages.len();
    run(account, n, |i, _| {
        // each raw message is given up once prepared
        let (raw, env) = std::mem::take(&mut messages[i]);
        prepare(account, &raw, env, false)
    })
    .await
}

/// Sends `n` messages over one authenticated connection, each made by `make(i, eight_bit)` only
/// when the connection gets to it (called once per message, in order; `eight_bit`: the server
/// announced 8BITMIME), so a batch holds a message or two at a time whatever its length. One
/// result per message, in order.
pub(crate) async fn send_each(
    account: &Account,
    n: usize,
    make: impl FnMut(usize, bool) -> Result<Prepared>,
) -> Vec<Result<SendResult>> {
    run(account, n, make).await
}

pub(crate) fn prepare(
    account: &Account,
    raw: &[u8],
    env: Option<Envelope>,
    copy_to_self: bool,
) -> Result<Prepared> {
    let me = account.config.email.as_deref();
    let copy = if copy_to_self || account.config.options.copy_to_self {
        Some(me.ok_or_else(|| {
            Error::config(
                "configuration key `email`: needed to send a copy of sent mail to oneself",
            )
        })?)
    } else {
        None
    };
    envelope::prepare(raw, env, copy, me)
}

enum Outcome {
    Sent(SendResult),
    /// The server refused the message; `conn_ok` when the connection can go on.
    Refused {
        error: Error,
        conn_ok: bool,
    },
    /// The connection dropped; `maybe_delivered` when the end of DATA had been written.
    Lost {
        error: Error,
        maybe_delivered: bool,
    },
}

/// The messages of a batch between the one being sent and the one whose envelope may follow it:
/// prepared when first needed, given up once settled.
struct Window<F> {
    make: F,
    /// The connection's server announced 8BITMIME (passed to `make`).
    eight_bit: bool,
    n: usize,
    /// Index of `items[0]`.
    first: usize,
    items: std::collections::VecDeque<Result<Prepared>>,
}

impl<F: FnMut(usize, bool) -> Result<Prepared>> Window<F> {
    /// Message `i` (not before the first one kept).
    fn get(&mut self, i: usize) -> &Result<Prepared> {
        while self.first + self.items.len() <= i {
            let k = self.first + self.items.len();
            self.items.push_back((self.make)(k, self.eight_bit));
        }
        &self.items[i - self.first]
    }

    /// Message `i` if it was made already.
    fn made(&self, i: usize) -> Option<&Result<Prepared>> {
        i.checked_sub(self.first).and_then(|k| self.items.get(k))
    }

    /// The first message after `i` that can be sent, if any.
    fn next_ok(&mut self, i: usize) -> Option<usize> {
        (i + 1..self.n).find(|&j| self.get(j).is_ok())
    }

    /// Gives up the messages before `i`.
    fn settle_before(&mut self, i: usize) {
        while self.first < i && !self.items.is_empty() {
            self.items.pop_front();
            self.first += 1;
        }
        self.first = self.first.max(i);
    }
}

async fn run(
    account: &Account,
    n: usize,
    make: impl FnMut(usize, bool) -> Result<Prepared>,
) -> Vec<Result<SendResult>> {
    let mut window = Window {
        make,
        eight_bit: false,
        n,
        first: 0,
        items: std::collections::VecDeque::new(),
    };
    let mut results: Vec<Option<Result<SendResult>>> = vec![None; n];
    let mut conn: Option<SmtpConnection> = None;
    // the message whose envelope is already on the wire of `conn`
    let mut ahead: Option<usize> = None;
    // sending envelopes ahead stops for the batch once a connection was lost with one ahead
    let mut ahead_ok = true;
    let mut connections = 0u32;
    let mut i = 0;
    let mut lost_here = 0u32;
    let mut open_failures = 0u32;
    let max_connections = MAX_CONNECTIONS + (n / 50) as u32;
    // each turn either settles message i or opens a connection (at most MAX_CONNECTIONS)
    while i < n {
        window.settle_before(i);
        // a message that could not be made fails alone (made before a connection is needed
        // when it lay between two sent ones; the first ones are made once connected, knowing
        // what the server takes)
        if let Some(Err(e)) = window.made(i) {
            results[i] = Some(Err(e.clone()));
            i += 1;
            continue;
        }
        if conn.is_some() && ahead.is_some_and(|k| k != i) {
            // cannot happen (the envelope ahead is always the next message sent): start over
            conn = None;
        }
        if conn.is_none() {
            ahead = None;
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => {
                let opened = if connections >= max_connections {
                    Err(Error::new(
                        Status::NetworkError,
                        format!("the connection to the SMTP server dropped {connections} times: the remaining messages were not sent"),
                    ))
                } else {
                    connections += 1;
                    connect(account).await
                };
                match opened {
                    Ok(c) => {
                        open_failures = 0;
                        window.eight_bit = c.has_capability("8BITMIME");
                        conn.insert(c)
                    }
                    Err(e)
                        if retryable_open(&e)
                            && open_failures < MAX_OPEN_RETRIES
                            && connections < max_connections =>
                    {
                        // cut during the greeting, EHLO or the TLS handshake: nothing was sent
                        open_failures += 1;
                        om_log!(
                            Level::Warn,
                            "account {}: opening the SMTP session failed ({}); trying again ({open_failures}/{MAX_OPEN_RETRIES})",
                            account.id,
                            e.full_text()
                        );
                        tokio::time::sleep(OPEN_RETRY_PAUSE * open_failures).await;
                        continue;
                    }
                    Err(e) => {
                        // nothing more can be sent: every message left gets this error
                        for (j, r) in results.iter_mut().enumerate().skip(i) {
                            if r.is_none() {
                                *r = Some(match window.get(j) {
                                    Err(pe) => Err(pe.clone()),
                                    Ok(_) => Err(e.clone()),
                                });
                            }
                            window.settle_before(j + 1);
                        }
                        break;
                    }
                }
            }
        };
        if let Err(e) = window.get(i) {
            results[i] = Some(Err(e.clone()));
            i += 1;
            continue;
        }
        let next = window.next_ok(i);
        let kept = |k: usize| window.items[k - window.first].as_ref().ok();
        let (p, then) = match next {
            Some(j) if ahead_ok => (kept(i), kept(j).map(Then::Next)),
            Some(_) => (kept(i), Some(Then::Nothing)),
            None => (kept(i), Some(Then::Quit)),
        };
        let (Some(p), Some(then)) = (p, then) else {
            results[i] = Some(Err(Error::new(Status::Panic, "message left unsent")));
            i += 1;
            continue;
        };
        let was_ahead = ahead == Some(i);
        let sent = transmit(c, p, was_ahead, then, account.config.language).await;
        if was_ahead && matches!(sent.outcome, Outcome::Lost { .. }) {
            ahead_ok = false;
        }
        ahead = if sent.next_ahead { next } else { None };
        if sent.quit_sent {
            // the server got QUIT: this connection serves no more messages
            if let Some(c) = conn.take() {
                drop(c);
            }
        }
        let id = p.message_id.clone();
        let id = id.as_deref().unwrap_or("(no Message-ID)");
        match sent.outcome {
            Outcome::Sent(r) => {
                om_log!(
                    Level::Info,
                    "account {}: message {id} sent ({})",
                    account.id,
                    r.reply_text
                );
                results[i] = Some(Ok(r));
                i += 1;
                lost_here = 0;
            }
            Outcome::Refused { error, conn_ok } => {
                om_log!(
                    Level::Warn,
                    "account {}: message {id} refused: {}",
                    account.id,
                    error.full_text()
                );
                results[i] = Some(Err(error));
                i += 1;
                lost_here = 0;
                if !conn_ok {
                    conn = None;
                }
            }
            Outcome::Lost {
                error,
                maybe_delivered: true,
            } => {
                om_log!(
                    Level::Warn,
                    "account {}: the connection dropped after message {id} was sent, before the reply: not sending it again",
                    account.id
                );
                results[i] = Some(Err(unknown(account, id, &error)));
                i += 1;
                lost_here = 0;
                conn = None;
            }
            Outcome::Lost {
                error,
                maybe_delivered: false,
            } => {
                om_log!(
                    Level::Warn,
                    "account {}: the connection dropped before message {id} was complete ({}); reconnecting",
                    account.id,
                    error.full_text()
                );
                conn = None;
                lost_here += 1;
                if lost_here >= MAX_TRIES_PER_MESSAGE {
                    // not delivered (its DATA never ended): safe to send again later
                    results[i] = Some(Err(error.with_hint(account.config.language.pick(
                        "The message was not delivered (the connection dropped before its end); it can be sent again.",
                        "Le message n'a pas été remis (la connexion a été coupée avant sa fin) ; il peut être renvoyé.",
                    ))));
                    i += 1;
                    lost_here = 0;
                }
                // else message i is tried again on a new connection
            }
        }
    }
    if let Some(c) = conn {
        c.quit().await;
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::new(Status::Panic, "message left unsent"))))
        .collect()
}

fn unknown(account: &Account, id: &str, cause: &Error) -> Error {
    let l = account.config.language;
    Error::new(
        Status::DeliveryUnknown,
        l.pick_string(
            format!("the connection dropped after message {id} was completely sent, before the server confirmed it: it may or may not have been delivered; it was NOT sent again, to avoid a duplicate"),
            format!("la connexion a été coupée après l'envoi complet du message {id}, avant la confirmation du serveur : il a peut-être été remis ou non ; il n'a PAS été renvoyé, pour éviter un doublon"),
        ),
    )
    .with_detail(cause.full_text())
    .with_hint(l.pick(
        "Check the recipient's or the Sent folder before sending it again.",
        "Vérifiez chez le destinataire ou dans les éléments envoyés avant de le renvoyer.",
    ))
}

/// After a refusal within a transaction: RSET so the next message starts clean.
async fn rset(c: &mut SmtpConnection) -> bool {
    match c.conn.command(Rset).await {
        Ok(_) => true,
        Err(e) => !is_connection_lost(&e),
    }
}

/// What the server refused, in both languages.
enum Refusal<'a> {
    Sender(&'a str),
    Data,
    Message,
}

fn refused(
    c: &SmtpConnection,
    what: Refusal<'_>,
    e: &lettre::transport::smtp::Error,
    l: Lang,
) -> Error {
    let (_, text) = reply_of(e).unwrap_or((0, e.to_string()));
    let host = &c.host;
    let (message, hint) = match what {
        Refusal::Sender(from) => (
            l.pick_string(
                format!("{host} refused the sender <{from}>: {text}"),
                format!("{host} a refusé l'expéditeur <{from}> : {text}"),
            ),
            l.pick(
                "The account may not send as this address: use the mailbox's own address, or ask the mail admin for \"Send As\" rights on it.",
                "Le compte n'a pas le droit d'envoyer avec cette adresse : utilisez l'adresse de la boîte, ou demandez à l'administrateur de la messagerie le droit « Envoyer en tant que ».",
            ),
        ),
        Refusal::Data => (
            l.pick_string(
                format!("{host} refused DATA: {text}"),
                format!("{host} a refusé DATA : {text}"),
            ),
            l.pick(
                "The server's reply says why; nothing was delivered.",
                "La réponse du serveur en donne la raison ; rien n'a été remis.",
            ),
        ),
        Refusal::Message => (
            l.pick_string(
                format!("{host} refused the message: {text}"),
                format!("{host} a refusé le message : {text}"),
            ),
            l.pick(
                "The server's reply says why (size, content, policy); nothing was delivered.",
                "La réponse du serveur en donne la raison (taille, contenu, règle) ; rien n'a été remis.",
            ),
        ),
    };
    Error::new(Status::ProtocolError, message)
        .with_detail(text)
        .with_hint(hint)
}

fn lost(c: &SmtpConnection, what: &str, e: &lettre::transport::smtp::Error) -> Outcome {
    Outcome::Lost {
        error: smtp_err(&c.host, what, e),
        maybe_delivered: false,
    }
}

/// The error for recipients the server refused: the message is not sent to anyone.
fn recipients_refused(c: &SmtpConnection, rejected: &[(String, String)], l: Lang) -> Error {
    let list: Vec<String> = rejected
        .iter()
        .map(|(a, t)| format!("<{a}>: {t}"))
        .collect();
    let (host, n, listed) = (&c.host, rejected.len(), list.join("; "));
    Error::new(
        Status::ProtocolError,
        l.pick_string(
            format!("{host} refused {n} recipient(s), so the message was not sent: {listed}"),
            format!("{host} a refusé {n} destinataire(s), le message n'a donc pas été envoyé : {listed}"),
        ),
    )
    .with_detail(listed.clone())
    .with_hint(l.pick(
        "Check these addresses (a typing error, a mailbox that no longer exists, or a domain that refuses mail from outside); the other recipients got nothing either.",
        "Vérifiez ces adresses (faute de frappe, boîte qui n'existe plus, ou domaine qui refuse le courrier extérieur) ; les autres destinataires n'ont rien reçu non plus.",
    ))
}

/// MAIL, RCPT… and DATA one at a time (a server without PIPELINING); `Ok` with the accepted
/// recipients once DATA's 354 came.
async fn envelope_stepwise(
    c: &mut SmtpConnection,
    p: &Prepared,
    mail: Mail,
    sender: &str,
    l: Lang,
) -> Result<Vec<String>, Outcome> {
    if let Err(e) = c.conn.command(mail).await {
        if is_connection_lost(&e) {
            return Err(lost(c, "MAIL FROM", &e));
        }
        let error = refused(c, Refusal::Sender(sender), &e, l);
        let conn_ok = rset(c).await;
        return Err(Outcome::Refused { error, conn_ok });
    }
    let mut accepted = Vec::new();
    let mut rejected: Vec<(String, String)> = Vec::new();
    for to in p.envelope.to() {
        match c.conn.command(Rcpt::new(to.clone(), vec![])).await {
            Ok(_) => accepted.push(to.to_string()),
            Err(e) if is_connection_lost(&e) => return Err(lost(c, "RCPT TO", &e)),
            Err(e) => {
                let text = reply_of(&e).map(|r| r.1).unwrap_or_else(|| e.to_string());
                rejected.push((to.to_string(), text));
            }
        }
    }
    if !rejected.is_empty() {
        let error = recipients_refused(c, &rejected, l);
        let conn_ok = rset(c).await;
        return Err(Outcome::Refused { error, conn_ok });
    }
    if let Err(e) = c.conn.command(Data).await {
        if is_connection_lost(&e) {
            return Err(lost(c, "DATA", &e));
        }
        let error = refused(c, Refusal::Data, &e, l);
        let conn_ok = rset(c).await;
        return Err(Outcome::Refused { error, conn_ok });
    }
    Ok(accepted)
}

/// MAIL, every RCPT and DATA of a message as one flight of commands (RFC 2920).
fn envelope_flight(p: &Prepared, mail: Mail) -> String {
    let mut flight = mail.to_string();
    for to in p.envelope.to() {
        flight.push_str(&Rcpt::new(to.clone(), vec![]).to_string());
    }
    flight.push_str(&Data.to_string());
    flight
}

/// RFC 2920 PIPELINING: MAIL, every RCPT and DATA in one flight, their replies read in order;
/// `Ok` with the accepted recipients once DATA's 354 came. `mail` is `None` when that flight
/// already left behind the previous message's end of DATA. The rules of the step-by-step
/// exchange hold: a refused sender or recipient sends nothing (RSET). When the server answered
/// DATA with 354 although a recipient was refused, it waits for a message that must not go: the
/// connection is dropped without the final "." (the server abandons the transaction).
async fn envelope_pipelined(
    c: &mut SmtpConnection,
    p: &Prepared,
    mail: Option<Mail>,
    sender: &str,
    l: Lang,
) -> Result<Vec<String>, Outcome> {
    let ahead = mail.is_none();
    let mail_reply = match mail {
        Some(mail) => c.conn.command(envelope_flight(p, mail)).await,
        None => {
            // the RSET that opened the flight (see `Then::Next`): only a lost connection matters
            if let Err(e) = c.conn.read_response().await {
                if is_connection_lost(&e) {
                    return Err(lost(c, "RSET", &e));
                }
            }
            c.conn.read_response().await
        }
    };
    if let Err(e) = &mail_reply {
        if is_connection_lost(e) {
            return Err(lost(c, "MAIL FROM", e));
        }
        if ahead && reply_of(e).is_some_and(|(code, _)| code == 503) {
            // "bad sequence": the server took the early MAIL for part of the previous
            // transaction. Nothing of this message was accepted: it goes again, on a new
            // connection, without sending ahead.
            return Err(Outcome::Lost {
                error: smtp_err(&c.host, "MAIL FROM (sent ahead)", e),
                maybe_delivered: false,
            });
        }
    }
    let mut accepted = Vec::new();
    let mut rejected: Vec<(String, String)> = Vec::new();
    for to in p.envelope.to() {
        match c.conn.read_response().await {
            Ok(_) => accepted.push(to.to_string()),
            Err(e) if is_connection_lost(&e) => return Err(lost(c, "RCPT TO", &e)),
            Err(e) => {
                let text = reply_of(&e).map(|r| r.1).unwrap_or_else(|| e.to_string());
                rejected.push((to.to_string(), text));
            }
        }
    }
    let data_reply = c.conn.read_response().await;
    if let Err(e) = &data_reply {
        if is_connection_lost(e) {
            return Err(lost(c, "DATA", e));
        }
    }
    let error = match (&mail_reply, &data_reply) {
        (Err(e), _) => refused(c, Refusal::Sender(sender), e, l),
        _ if !rejected.is_empty() => recipients_refused(c, &rejected, l),
        (_, Err(e)) => refused(c, Refusal::Data, e, l),
        (Ok(_), Ok(_)) => return Ok(accepted),
    };
    if data_reply.is_ok() {
        return Err(Outcome::Refused {
            error,
            conn_ok: false,
        });
    }
    let conn_ok = rset(c).await;
    Err(Outcome::Refused { error, conn_ok })
}

/// The MAIL command for a message on this server (SIZE, BODY=8BITMIME, SMTPUTF8 as needed), or
/// why this server cannot take it (too big, 8-bit content without 8BITMIME, a non-ASCII address
/// without SMTPUTF8): nothing was sent for it then.
fn mail_command(c: &SmtpConnection, p: &Prepared) -> Result<Mail, Error> {
    let size = envelope::crlf_len(&p.data);
    if let Some(limit) = c.size_limit() {
        if size as u64 > limit {
            return Err(Error::invalid_argument(format!(
                "the message is {size} bytes; {} accepts at most {limit}",
                c.host
            )));
        }
    }
    let mut params = Vec::new();
    if c.has_capability("SIZE") {
        params.push(MailParameter::Size(size));
    }
    if !p.data.is_ascii() {
        if !c.has_capability("8BITMIME") {
            return Err(Error::new(
                Status::Unsupported,
                format!("the message has 8-bit content but {} does not accept it (no 8BITMIME): encode it (quoted-printable or base64)", c.host),
            ));
        }
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let non_ascii = p
        .envelope
        .from()
        .iter()
        .map(|a| a.to_string())
        .chain(p.envelope.to().iter().map(|a| a.to_string()))
        .any(|a| !a.is_ascii());
    if non_ascii {
        if !c.has_capability("SMTPUTF8") {
            return Err(Error::new(
                Status::Unsupported,
                format!(
                    "an address is not ASCII but {} does not accept that (no SMTPUTF8)",
                    c.host
                ),
            ));
        }
        params.push(MailParameter::SmtpUtfEight);
    }
    Ok(Mail::new(p.envelope.from().cloned(), params))
}

/// What follows a message on its connection, written in the same flight as its end of DATA when
/// the server pipelines (RFC 2920 allows commands after the message content in one group).
pub(crate) enum Then<'a> {
    /// The next message of the batch: RSET, then its MAIL, RCPT… and DATA.
    Next(&'a Prepared),
    /// Nothing more: QUIT, whose reply nobody waits for.
    Quit,
    /// Nothing in the same flight.
    Nothing,
}

/// What became of one message, and whether what followed it went out behind its end of DATA.
struct Transmitted {
    outcome: Outcome,
    /// The next message's envelope is on the wire: read its replies instead of sending it.
    next_ahead: bool,
    /// QUIT is on the wire: nothing more may be sent on this connection.
    quit_sent: bool,
}

/// Sends one message on `c`. `ahead`: its envelope already left with the previous message's
/// end of DATA.
async fn transmit(
    c: &mut SmtpConnection,
    p: &Prepared,
    ahead: bool,
    then: Then<'_>,
    l: Lang,
) -> Transmitted {
    let done = |outcome| Transmitted {
        outcome,
        next_ahead: false,
        quit_sent: false,
    };
    let from_text = p.envelope.from().map(|a| a.to_string());
    let sender = from_text.as_deref().unwrap_or("");
    let pipelining = c.has_capability("PIPELINING");
    let envelope = if ahead {
        envelope_pipelined(c, p, None, sender, l).await
    } else {
        let mail = match mail_command(c, p) {
            Ok(m) => m,
            Err(error) => {
                return done(Outcome::Refused {
                    error,
                    conn_ok: true,
                })
            }
        };
        if pipelining {
            envelope_pipelined(c, p, Some(mail), sender, l).await
        } else {
            envelope_stepwise(c, p, mail, sender, l).await
        }
    };
    let accepted = match envelope {
        Ok(accepted) => accepted,
        Err(outcome) => return done(outcome),
    };
    // what follows this message leaves with its end of DATA (not for a message the server
    // cannot take: that one is refused before anything is sent, on its own turn)
    let staged = match then {
        _ if !pipelining => Vec::new(),
        Then::Next(next) => match mail_command(c, next) {
            // RSET first: legal anywhere in a group, and Dovecot's submission service (2.3)
            // answers a MAIL right behind the end of DATA with "503 MAIL already given" (or
            // its process aborts) unless a RSET separates them
            Ok(mail) => format!("{}{}", Rset, envelope_flight(next, mail)).into_bytes(),
            Err(_) => Vec::new(),
        },
        Then::Quit => Quit.to_string().into_bytes(),
        Then::Nothing => Vec::new(),
    };
    let quitting = matches!(then, Then::Quit) && !staged.is_empty();
    {
        let mut probe = connection::lock_probe(&c.probe);
        probe.expect_data_end();
        probe.staged = staged;
        probe.staged_sent = false;
    }
    let data = envelope::to_crlf(&p.data);
    // lettre ends DATA with CRLF.CRLF, its CRLF ending the last line: a message that already
    // ends with CRLF gives up its own, or the server would get an extra empty line
    let body = data.strip_suffix(b"\r\n").unwrap_or(&data);
    let reply = c.conn.message(body).await;
    drop(data);
    let (ended, staged_sent) = {
        let mut probe = connection::lock_probe(&c.probe);
        probe.staged.clear();
        (probe.ends_data(), std::mem::take(&mut probe.staged_sent))
    };
    let outcome = match reply {
        Ok(r) => {
            let code: u16 = r.code().to_string().parse().unwrap_or(0);
            let text = format!("{code} {}", r.message().collect::<Vec<_>>().join(" "))
                .trim_end()
                .to_string();
            Outcome::Sent(SendResult {
                message_id: p.message_id.clone(),
                mail_from: from_text,
                recipients: accepted,
                reply_code: code,
                reply_text: text,
            })
        }
        Err(e) if !is_connection_lost(&e) => Outcome::Refused {
            error: refused(c, Refusal::Message, &e, l),
            conn_ok: !(quitting && staged_sent),
        },
        Err(e) => {
            return done(Outcome::Lost {
                error: smtp_err(&c.host, "the message", &e),
                maybe_delivered: ended,
            })
        }
    };
    Transmitted {
        outcome,
        next_ahead: staged_sent && !quitting,
        quit_sent: staged_sent && quitting,
    }
}
