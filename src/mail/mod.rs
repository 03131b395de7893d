//! What IMAP, POP3 and SMTP share: the connection ([`transport`]: TCP, TLS, STARTTLS, idle
//! timeouts) and SASL ([`sasl`]: XOAUTH2, OAUTHBEARER, PLAIN and the error challenge).

pub mod login;
pub mod sasl;
pub mod transport;
