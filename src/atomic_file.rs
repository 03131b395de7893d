//! Writing a file atomically: a temporary file beside it, then a rename over it, so a reader
//! (or a crash) sees the old content or the new, never half of it.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `data` to `path` atomically; `durable` also flushes it to disk before the rename, and
/// the directory after it (so the rename itself survives a power loss; costs a few
/// milliseconds). `private` restricts the file to its owner (mode 0600 on Unix).
pub fn write(path: &Path, data: &[u8], durable: bool, private: bool) -> std::io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = open_new(&tmp, private)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        drop(f);
        std::fs::rename(&tmp, path)?;
        if durable {
            sync_dir(path)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Flushes the directory holding `path` (its entry: the rename). On Windows the rename is
/// flushed with the file system's journal; there is no directory handle to flush.
#[cfg(unix)]
fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    #[cfg(test)]
    tests::DIR_SYNCS.with(|n| n.set(n.get() + 1));
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    path.with_file_name(format!(".{name}.tmp-{}-{nanos}", std::process::id()))
}

#[cfg(unix)]
fn open_new(path: &Path, private: bool) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(path)
}

#[cfg(not(unix))]
fn open_new(path: &Path, _private: bool) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// Directory flushes made by this thread.
        pub static DIR_SYNCS: Cell<u32> = const { Cell::new(0) };
    }

    #[test]
    fn a_durable_write_also_flushes_the_directory() {
        let dir = std::env::temp_dir().join(format!("om-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.json");
        write(&path, b"one", false, true).unwrap();
        #[cfg(unix)]
        assert_eq!(DIR_SYNCS.with(Cell::get), 0, "not durable: no flush");
        write(&path, b"two", true, true).unwrap();
        #[cfg(unix)]
        assert_eq!(DIR_SYNCS.with(Cell::get), 1, "the rename is flushed too");
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
