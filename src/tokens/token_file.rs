//! The optional token file: written atomically (temporary file + rename), readable only by the
//! user (mode 0600 on Unix, DPAPI-protected on Windows).

use super::protect;
use super::TokenSet;
use crate::error::{Error, Result, Status};
use std::path::Path;

/// Reads the token file; `Ok(None)` when it does not exist.
pub fn read(path: &Path) -> Result<Option<TokenSet>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::io(
                format!("cannot read the token file {}", path.display()),
                &e,
            ))
        }
    };
    let plain = protect::unprotect(&bytes)?;
    let text = String::from_utf8(plain).map_err(|_| {
        Error::new(
            Status::IoError,
            format!(
                "the token file {} is damaged (not UTF-8): delete it and authorize again",
                path.display()
            ),
        )
    })?;
    TokenSet::from_json(&text).map(Some).map_err(|e| {
        Error::new(
            Status::IoError,
            format!(
                "the token file {} is damaged ({}): delete it and authorize again",
                path.display(),
                e.message
            ),
        )
    })
}

/// Writes the token set atomically (temporary file, flushed, then renamed over), readable
/// only by the user.
pub fn write(path: &Path, set: &TokenSet) -> Result<()> {
    let data = protect::protect(set.to_json().as_bytes())?;
    crate::atomic_file::write(path, &data, true, true).map_err(|e| {
        Error::io(
            format!("cannot write the token file {}", path.display()),
            &e,
        )
    })
}

/// Deletes the token file (no error when it is already gone).
pub fn delete(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(
            format!("cannot delete the token file {}", path.display()),
            &e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_delete() {
        let dir = std::env::temp_dir().join(format!("om-tokfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens é.json");
        assert_eq!(read(&path).unwrap(), None);
        let mut set = TokenSet::empty("c", "https://t/token");
        set.version = 7;
        set.refresh_token = Some("rt-secret".into());
        write(&path, &set).unwrap();
        write(&path, &set).unwrap(); // over an existing file
        assert_eq!(read(&path).unwrap(), Some(set));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // no temporary file left behind
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
        std::fs::write(&path, b"{broken").unwrap();
        let e = read(&path).unwrap_err();
        assert!(e.message.contains("damaged"), "{}", e.message);
        delete(&path).unwrap();
        delete(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
