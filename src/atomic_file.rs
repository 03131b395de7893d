//! Writing a file atomically: a temporary file beside it, then a rename over it, so a reader
//! (or a crash) sees the old content or the new, never half of it.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `data` to `path` atomically; `durable` also flushes it to disk before the rename
/// (survives a power loss, costs a few milliseconds). `private` restricts the file to its owner
/// (mode 0600 on Unix).
pub fn write(path: &Path, data: &[u8], durable: bool, private: bool) -> std::io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = open_new(&tmp, private)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
