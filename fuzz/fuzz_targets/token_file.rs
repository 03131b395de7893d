//! The token file (`token_file` key): `tokens::token_file::read` on a file holding the input's
//! bytes, as another process or a damaged disk may have left it (the real entry point, file
//! reading included: the bytes are written to a file of the target's own first).
//!
//! Asserts: no panic; a file that does not read is IoError with a message that names the
//! file and says what to do; a file that reads is exactly what `TokenSet::from_json` makes of
//! its text, and survives `token_file::write` → `read` unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauthmail::tokens::token_file;
use oauthmail::tokens::TokenSet;
use oauthmail::Status;
use oauthmail_fuzz::check_error_status;
use std::path::PathBuf;
use std::sync::OnceLock;

fn dir() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        // scripts/fuzz.sh points TMPDIR to memory (the write-back is durable: an fsync)
        let d = std::env::temp_dir().join(format!("oauthmail-fuzz-tokfile-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("the target's directory");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let path = dir().join("tokens.json");
    std::fs::write(&path, data).expect("write the token file");
    match token_file::read(&path) {
        Ok(Some(set)) => {
            let text = std::str::from_utf8(data).expect("a token file that read is UTF-8");
            assert_eq!(TokenSet::from_json(text).as_ref(), Ok(&set));
            let again = dir().join("again.json");
            token_file::write(&again, &set).expect("write the set back");
            assert_eq!(token_file::read(&again).expect("read it again"), Some(set));
        }
        Ok(None) => panic!("the file exists but read() said it does not"),
        Err(e) => {
            check_error_status(&e, Status::IoError);
            assert!(
                e.message.contains(&path.display().to_string()) && e.message.contains("damaged"),
                "the message neither names the file nor says it is damaged: {e}"
            );
        }
    }
});
