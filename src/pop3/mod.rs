//! POP3 (RFC 1939) with CAPA (RFC 2449), STLS (RFC 2595) and SASL AUTH (RFC 5034): connection
//! and login ([`client`]: TLS or STLS, XOAUTH2 / OAUTHBEARER with the error challenge answered,
//! USER/PASS or AUTH PLAIN), then STAT, UIDL, LIST, RETR, DELE and QUIT; the bounded wire
//! format is in [`wire`].

pub mod client;
pub mod wire;

pub use client::{
    login, open, open_via, Login, LoginError, Pop3Client, Pop3Session, Refused, ServerInfo,
};
