//! Tokens: the token set with its version ([`token_set`]), its file ([`token_file`], DPAPI on
//! Windows through [`protect`]).

pub mod file_lock;
pub mod protect;
pub mod shared;
pub mod store;
pub mod token_file;
pub mod token_set;

pub use token_set::TokenSet;
