//! HTTPS mail APIs (Microsoft Graph, the Gmail API): one client ([`client::Rest`]) whose
//! behaviour per service — resource of its token, concurrency per mailbox, what a throttling
//! answer looks like, how errors read — is a [`Service`] description.

pub mod client;

pub use client::{Body, Reply, Rest};

use crate::config::Resource;
use crate::error::Error;
use crate::lang::Lang;

/// What the account does with the service, for the hints of its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doing {
    Read,
    Send,
}

/// How one REST service behaves.
pub struct Service {
    /// Its name in messages, e.g. "Microsoft Graph".
    pub name: &'static str,
    /// The resource its tokens are for.
    pub resource: Resource,
    /// Most requests at once per mailbox (Exchange: 4).
    pub max_concurrent: usize,
    /// True for an answer to wait out and repeat (429, 503, …, given the body).
    pub throttled: fn(u16, &[u8]) -> bool,
    /// True for an answer after which a send's effect is unknown (a gateway timeout may come
    /// after the work was done): a send is then never repeated.
    pub outcome_unknown: fn(u16) -> bool,
    /// True when a 401 may be cured by a new token (not when the token is for another
    /// resource: a new one would be refused the same).
    pub refresh_on_401: fn(&[u8]) -> bool,
    /// An error answer as our error, with the service's text kept and a hint.
    pub map_error: fn(u16, &[u8], Lang, Doing, bool) -> Error,
}
