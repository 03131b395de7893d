//! Microsoft Graph as a mail transport, for Office 365 tenants that turned IMAP, POP or SMTP
//! AUTH off, or networks that only let HTTPS out: the same fetch and send guarantees as the
//! mail protocols, over Graph's REST API.
//!
//! - [`client`]: requests for one mailbox (token, throttling, concurrency, bounded answers).
//! - [`errors`]: Graph's error answers as statuses with hints.
//! - [`folders`]: folder names to ids, the folder tree.
//! - [`fetch`]: new mail by delta query; [`seen`]: what was delivered already;
//!   [`actions`]: mark read, move, delete after delivery.
//! - [`send`]: sendMail with MIME.
//! - [`check`]: the settings check.

pub mod actions;
pub mod check;
pub mod client;
pub mod detach;
pub mod errors;
pub mod fetch;
pub mod folders;
pub mod seen;
pub mod send;

pub use client::Graph;
