//! Reading a message the way a CRM files it: the parsed header fields, the text and HTML
//! bodies in UTF-8, the attachments with decoded names, and whether it is encrypted, signed or
//! an Outlook `winmail.dat`. The MIME work is done by `mail-parser` (fuzzed, charset-aware);
//! this module shapes its answer and never fails on malformed mail: it gives what could be read.
//!
//! - [`parsed`]: the parsed message ([`parsed::Parsed`]) and its header subset
//!   ([`parsed::Envelope`], also what a mailbox listing shows).
//! - [`security`]: S/MIME, PGP and TNEF detection.
//! - [`attachments`]: one attachment's bytes, or all of them saved into a directory.
//! - [`file_name`]: safe, portable, unique file names for hostile attachment names.

pub mod attachments;
pub mod file_name;
pub mod parsed;
pub mod security;

pub use parsed::{parse, Envelope, ParseOptions, Parsed};
