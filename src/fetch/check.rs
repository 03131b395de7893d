//! The settings check behind an admin's "test these settings" button: connect to the incoming
//! server, report its greeting, capabilities and mechanisms, then log in as the fetch would, and
//! say in plain words what is wrong if anything is.

use crate::account::Account;
use crate::config::{Protocol, Server};
use crate::error::Error;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    pub role: &'static str,
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    /// Connected (and TLS verified) and greeted.
    pub reachable: bool,
    /// Logged in with the configured credentials.
    pub authenticated: bool,
    pub tls: bool,
    pub greeting: String,
    pub capabilities: Vec<String>,
    pub mechanisms: Vec<String>,
    /// OM_STATUS_* name of the problem, if any.
    pub status: Option<&'static str>,
    pub problem: Option<String>,
    pub hint: Option<String>,
}

fn report(role: &'static str, s: &Server) -> ServerReport {
    ServerReport {
        role,
        protocol: s.protocol,
        host: s.host.clone(),
        port: s.port,
        reachable: false,
        authenticated: false,
        tls: false,
        greeting: String::new(),
        capabilities: vec![],
        mechanisms: vec![],
        status: None,
        problem: None,
        hint: None,
    }
}

fn failed(mut r: ServerReport, e: Error) -> ServerReport {
    r.status = Some(e.status.name());
    r.problem = Some(match &e.detail {
        Some(d) => format!("{} [{d}]", e.message),
        None => e.message.clone(),
    });
    r.hint = e.hint;
    r
}

/// Checks the incoming server (IMAP, POP3 or Graph) and the outgoing one (SMTP or Graph).
pub async fn check(account: &Account) -> Vec<ServerReport> {
    let mut out = Vec::new();
    if let Some(server) = &account.config.incoming {
        out.push(check_incoming(account, server).await);
    }
    if let Some(server) = &account.config.outgoing {
        out.push(check_outgoing(account, server).await);
    }
    out
}

/// An HTTPS API (Microsoft Graph, the Gmail API): a token for it, and the mailbox answering.
async fn check_graph(
    account: &Account,
    mut r: ServerReport,
    doing: crate::rest::Doing,
) -> ServerReport {
    let gmail = r.protocol == Protocol::GmailApi;
    let url = if gmail {
        account.config.gmail_api.as_ref().map(|g| g.url.as_str())
    } else {
        account.config.graph.as_ref().map(|g| g.url.as_str())
    };
    r.tls = url.is_some_and(|u| u.starts_with("https:"));
    let checked = if gmail {
        crate::gmail::check(account, doing).await
    } else {
        crate::graph::check::check(account, doing).await
    };
    match checked {
        Ok(()) => {
            r.reachable = true;
            r.authenticated = true;
            r.greeting = if gmail {
                "the Gmail API"
            } else {
                "Microsoft Graph"
            }
            .to_string();
            r.mechanisms = vec!["Bearer".to_string()];
            r
        }
        Err(e) => {
            // an answer from Graph (not a network or TLS failure) means it was reached
            r.reachable = !matches!(
                e.status,
                crate::Status::NetworkError | crate::Status::TlsError | crate::Status::Timeout
            );
            failed(r, e)
        }
    }
}

async fn check_incoming(account: &Account, server: &Server) -> ServerReport {
    let mut r = report("incoming", server);
    if matches!(server.protocol, Protocol::Graph | Protocol::GmailApi) {
        return check_graph(account, r, crate::rest::Doing::Read).await;
    }
    let tls = match crate::tls::client_config(account.config.ca_certs_pem.as_deref()) {
        Ok(t) => t,
        Err(e) => return failed(r, e),
    };
    let opened = if server.protocol == Protocol::Pop3 {
        crate::pop3::open_via(
            server,
            tls,
            account.config.timeout,
            account.config.proxy.for_mail(&server.host).as_ref(),
        )
        .await
        .map(|(_, i)| i)
    } else {
        crate::imap::session::open_via(
            server,
            tls,
            account.config.timeout,
            account.config.proxy.for_mail(&server.host).as_ref(),
        )
        .await
        .map(|(_, i)| i)
    };
    match opened {
        Ok(info) => {
            r.reachable = true;
            r.tls = info.tls;
            r.greeting = info.greeting;
            r.capabilities = info.capabilities;
            r.mechanisms = info.mechanisms;
        }
        Err(e) => return failed(r, e),
    }
    let login = if server.protocol == Protocol::Pop3 {
        match super::connect::pop3(account).await {
            Ok((session, _)) => session.quit().await,
            Err(e) => Err(e),
        }
    } else {
        match super::connect::imap(account).await {
            Ok((mut session, _)) => {
                crate::imap::session::quit(&mut session).await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    };
    match login {
        Ok(()) => {
            r.authenticated = true;
            r
        }
        Err(e) => failed(r, e),
    }
}

async fn check_outgoing(account: &Account, server: &Server) -> ServerReport {
    let mut r = report("outgoing", server);
    if matches!(server.protocol, Protocol::Graph | Protocol::GmailApi) {
        return check_graph(account, r, crate::rest::Doing::Send).await;
    }
    match crate::smtp::server_info(account).await {
        Ok(info) => {
            r.reachable = true;
            r.tls = info.tls;
            r.greeting = info.greeting;
            r.capabilities = info.capabilities;
            r.mechanisms = info.mechanisms;
        }
        Err(e) => return failed(r, e),
    }
    match crate::smtp::connect(account).await {
        Ok(conn) => {
            conn.quit().await;
            r.authenticated = true;
            r
        }
        Err(e) => failed(r, e),
    }
}
