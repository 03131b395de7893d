//! What IMAP, POP3 and SMTP share: the connection ([`transport`]: TCP, TLS, STARTTLS, idle
//! timeouts; [`proxy`]: HTTP CONNECT and SOCKS5 tunnels) and SASL ([`sasl`]: XOAUTH2, OAUTHBEARER, PLAIN and the error challenge).

pub mod login;
pub mod proxy;
pub mod sasl;
pub mod system_proxy;
pub mod transport;
