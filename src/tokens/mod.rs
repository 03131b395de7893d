//! Tokens: the token set with its version ([`token_set`]); the store that serves, refreshes and
//! shares it ([`store`]) — once for all threads, and once for all processes through a shared
//! place ([`shared`]: the token file behind its cross-process lock [`file_lock`], or the host's
//! own storage); the token file ([`token_file`], DPAPI on Windows through [`protect`]).

pub mod file_lock;
pub mod protect;
pub mod shared;
pub mod store;
pub mod token_file;
pub mod token_set;

pub use token_set::TokenSet;
