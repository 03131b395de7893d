//! The messages of a Graph folder already delivered, as 8-byte fingerprints (SHA-256 of the
//! message id): a delta query lists messages that merely changed (read, flagged) beside new
//! ones, and only the host's earlier acceptance tells them apart. Entries leave when Graph
//! reports the message removed from the folder, so the set follows the folder's size.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen(BTreeSet<u64>);

/// The fingerprint of a message id.
pub fn fingerprint(id: &str) -> u64 {
    let d = ring::digest::digest(&ring::digest::SHA256, id.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_ref()[..8]);
    u64::from_le_bytes(b)
}

impl Seen {
    /// Reads the stored form; damaged text reads as what could be decoded.
    pub fn decode(text: &str) -> Seen {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).unwrap_or_default();
        Seen(
            bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
        )
    }

    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(self.0.len() * 8);
        for f in &self.0 {
            bytes.extend_from_slice(&f.to_le_bytes());
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.0.contains(&fingerprint(id))
    }

    /// True when it was not there.
    pub fn insert(&mut self, id: &str) -> bool {
        self.0.insert(fingerprint(id))
    }

    /// True when it was there.
    pub fn remove(&mut self, id: &str) -> bool {
        self.0.remove(&fingerprint(id))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_membership() {
        let mut s = Seen::default();
        assert!(s.insert("AAMkAGI2TG93AAA="));
        assert!(!s.insert("AAMkAGI2TG93AAA="));
        assert!(s.insert("AAMkAGI2TG94AAA="));
        let back = Seen::decode(&s.encode());
        assert_eq!(back, s);
        assert!(back.contains("AAMkAGI2TG94AAA="));
        assert!(!back.contains("other"));
        let mut b = back;
        assert!(b.remove("AAMkAGI2TG93AAA="));
        assert_eq!(b.len(), 1);
        assert!(Seen::decode("!!not base64").is_empty());
    }
}
