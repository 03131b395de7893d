//! Opening the system browser on the authorization URL (or the configured browser command).

use crate::error::{Error, Result, Status};

/// Opens `url` with `command` (program and arguments, the URL appended) or the system browser.
/// The browser runs on its own; its exit is collected by a detached thread.
pub fn open(url: &str, command: Option<&[String]>) -> Result<()> {
    if let Some(cmd) = command {
        return spawn(&cmd[0], &cmd[1..], url);
    }
    system_open(url)
}

fn spawn(program: &str, args: &[String], url: &str) -> Result<()> {
    let mut child = std::process::Command::new(program)
        .args(args)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null()) // the host's console is not the browser's
        .spawn()
        .map_err(|e| {
            Error::new(
                Status::IoError,
                format!("cannot start the browser command `{program}`: {e}"),
            )
        })?;
    std::thread::Builder::new()
        .name("oauthmail-browser".into())
        .spawn(move || {
            let _ = child.wait();
        })
        .map_err(|e| Error::new(Status::IoError, format!("cannot watch the browser: {e}")))?;
    Ok(())
}

#[cfg(windows)]
fn system_open(url: &str) -> Result<()> {
    use windows_sys::Win32::UI::Shell::ShellExecuteW;
    use windows_sys::Win32::UI::WindowsAndMessaging::SW_SHOWNORMAL;
    let wide = |s: &str| {
        s.encode_utf16()
            .chain(std::iter::once(0))
            .collect::<Vec<u16>>()
    };
    let verb = wide("open");
    let file = wide(url);
    // SAFETY: NUL-terminated UTF-16 strings that live for the call.
    let r = unsafe {
        ShellExecuteW(
            std::ptr::null_mut(),
            verb.as_ptr(),
            file.as_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            SW_SHOWNORMAL,
        )
    };
    if (r as isize) <= 32 {
        return Err(Error::new(
            Status::IoError,
            format!(
                "Windows could not open the browser (ShellExecute error {})",
                r as isize
            ),
        ));
    }
    Ok(())
}

#[cfg(target_os = "macos")]
fn system_open(url: &str) -> Result<()> {
    spawn("open", &[], url)
}

#[cfg(all(unix, not(target_os = "macos")))]
fn system_open(url: &str) -> Result<()> {
    spawn("xdg-open", &[], url)
}
