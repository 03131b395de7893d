//! The language of user-facing texts (messages, hints, the browser's result page).
//!
//! Our first users are French: every text a user or an admin reads exists in English and French.
//! Programmer errors (a NULL pointer) stay in English.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Fr,
}

impl Lang {
    /// Picks the text for this language.
    pub fn pick<'a>(self, en: &'a str, fr: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::Fr => fr,
        }
    }

    /// Like [`Lang::pick`], for formatted texts.
    pub fn pick_string(self, en: String, fr: String) -> String {
        match self {
            Lang::En => en,
            Lang::Fr => fr,
        }
    }
}
