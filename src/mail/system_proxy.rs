//! The `"system"` proxy for mail connections: on Windows, the per-user Internet settings
//! (`HKCU\Software\Microsoft\Windows\CurrentVersion\Internet Settings`: `ProxyEnable`,
//! `ProxyServer`, `ProxyOverride` — what the Windows "Proxy" settings page and Internet Options
//! write, and what the CRM's own HTTP calls follow); when they name no proxy, the machine's
//! WinHTTP setting (`netsh winhttp set proxy`, what services use). The proxy for `https` (or the
//! one for every protocol) is used with HTTP CONNECT; the bypass list (`<local>`,
//! `*.corp.example`, `10.*`) sends matching hosts direct. A `socks=` entry is SOCKS4, which this
//! library does not speak: it is ignored. An automatic configuration script (PAC, WPAD) is not
//! run. Elsewhere `"system"` means direct for mail (HTTPS requests follow the environment's
//! proxy variables through reqwest).

use super::proxy::{Kind, ProxyServer};

/// The proxy for `target` from Internet-settings values.
pub fn from_internet_settings(
    enabled: bool,
    server: &str,
    overrides: &str,
    target: &str,
) -> Option<ProxyServer> {
    if !enabled || bypassed(overrides, target) {
        return None;
    }
    let mut any = None;
    let mut https = None;
    for entry in server.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        match entry.split_once('=') {
            Some((scheme, addr)) if scheme.eq_ignore_ascii_case("https") => https = Some(addr),
            Some(_) => {}
            None => any = Some(entry),
        }
    }
    let addr = https.or(any)?;
    let addr = addr
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let (host, port) = match addr.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h.trim_matches(|c| c == '[' || c == ']'), p.parse().ok()?)
        }
        _ => (addr, 80),
    };
    if host.is_empty() {
        return None;
    }
    Some(ProxyServer {
        kind: Kind::Http,
        host: host.to_string(),
        port,
        user: None,
        password: None,
    })
}

/// Whether `target` is in the bypass list (`;`-separated, `*` wildcards, case ignored;
/// `<local>`: names without a dot, and loopback).
fn bypassed(overrides: &str, target: &str) -> bool {
    let t = target
        .trim_matches(|c| c == '[' || c == ']')
        .to_ascii_lowercase();
    overrides
        .split(';')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|e| {
            if e == "<local>" {
                !t.contains('.') || t == "127.0.0.1" || t == "::1" || t == "localhost"
            } else {
                wildcard(&e, &t)
            }
        })
}

/// `*` matches any run of characters.
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// The current user's Internet settings for `target` (Windows).
#[cfg(windows)]
pub fn for_target(target: &str) -> Option<ProxyServer> {
    use windows_sys::Win32::System::Registry::{
        RegGetValueW, HKEY_CURRENT_USER, RRF_RT_REG_DWORD, RRF_RT_REG_SZ,
    };
    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(std::iter::once(0)).collect()
    }
    let key = wide(r"Software\Microsoft\Windows\CurrentVersion\Internet Settings");
    let dword = |name: &str| -> Option<u32> {
        let mut v: u32 = 0;
        let mut len: u32 = 4;
        let n = wide(name);
        // SAFETY: valid key/value names, a 4-byte buffer and its length
        let r = unsafe {
            RegGetValueW(
                HKEY_CURRENT_USER,
                key.as_ptr(),
                n.as_ptr(),
                RRF_RT_REG_DWORD,
                std::ptr::null_mut(),
                &mut v as *mut u32 as *mut _,
                &mut len,
            )
        };
        (r == 0).then_some(v)
    };
    let string = |name: &str| -> String {
        let n = wide(name);
        let mut buf = vec![0u16; 2048];
        let mut len: u32 = (buf.len() * 2) as u32;
        // SAFETY: valid names, a buffer of `len` bytes
        let r = unsafe {
            RegGetValueW(
                HKEY_CURRENT_USER,
                key.as_ptr(),
                n.as_ptr(),
                RRF_RT_REG_SZ,
                std::ptr::null_mut(),
                buf.as_mut_ptr() as *mut _,
                &mut len,
            )
        };
        if r != 0 {
            return String::new();
        }
        let chars = (len as usize / 2).min(buf.len());
        String::from_utf16_lossy(&buf[..chars])
            .trim_end_matches('\0')
            .to_string()
    };
    let enabled = dword("ProxyEnable").unwrap_or(0) != 0;
    let server = string("ProxyServer");
    if enabled && !server.trim().is_empty() {
        return from_internet_settings(true, &server, &string("ProxyOverride"), target);
    }
    let (server, bypass) = winhttp_default()?;
    from_internet_settings(true, &server, &bypass, target)
}

/// The machine's WinHTTP proxy (`netsh winhttp set proxy`): (servers, bypass list) when one is
/// named.
#[cfg(windows)]
fn winhttp_default() -> Option<(String, String)> {
    use windows_sys::Win32::Foundation::GlobalFree;
    use windows_sys::Win32::Networking::WinHttp::{
        WinHttpGetDefaultProxyConfiguration, WINHTTP_ACCESS_TYPE_NAMED_PROXY, WINHTTP_PROXY_INFO,
    };
    let mut info = WINHTTP_PROXY_INFO::default();
    // SAFETY: a valid out-structure; its strings are ours to free with GlobalFree
    if unsafe { WinHttpGetDefaultProxyConfiguration(&mut info) } == 0 {
        return None;
    }
    let take = |p: windows_sys::core::PWSTR| -> String {
        if p.is_null() {
            return String::new();
        }
        // SAFETY: a NUL-terminated wide string from WinHTTP, freed once here
        let s = unsafe {
            let mut n = 0;
            while *p.add(n) != 0 && n < 32 * 1024 {
                n += 1;
            }
            String::from_utf16_lossy(std::slice::from_raw_parts(p, n))
        };
        unsafe { GlobalFree(p as _) };
        s
    };
    let (server, bypass) = (take(info.lpszProxy), take(info.lpszProxyBypass));
    (info.dwAccessType == WINHTTP_ACCESS_TYPE_NAMED_PROXY && !server.trim().is_empty())
        .then_some((server, bypass))
}

/// Elsewhere: direct.
#[cfg(not(windows))]
pub fn for_target(_target: &str) -> Option<ProxyServer> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internet_settings_pick_the_https_proxy_and_honour_the_bypass_list() {
        let p = from_internet_settings(true, "proxy.corp:8080", "", "imap.gmail.com").unwrap();
        assert_eq!(
            (p.kind, p.host.as_str(), p.port),
            (Kind::Http, "proxy.corp", 8080)
        );
        let p = from_internet_settings(
            true,
            "http=web.corp:80;https=secure.corp:3128;socks=s.corp:1080",
            "",
            "outlook.office365.com",
        )
        .unwrap();
        assert_eq!((p.host.as_str(), p.port), ("secure.corp", 3128));
        assert!(from_internet_settings(true, "socks=s.corp:1080", "", "x.example").is_none());
        assert!(from_internet_settings(false, "proxy.corp:8080", "", "x.example").is_none());
        let by = "<local>;*.corp.example;10.*;IMAP.INTERNAL";
        for direct in [
            "mail.corp.example",
            "10.1.2.3",
            "intranet",
            "imap.internal",
            "127.0.0.1",
        ] {
            assert!(
                from_internet_settings(true, "p:1", by, direct).is_none(),
                "{direct}"
            );
        }
        for proxied in ["imap.gmail.com", "corp.example.com", "110.1.1.1"] {
            assert!(
                from_internet_settings(true, "p:1", by, proxied).is_some(),
                "{proxied}"
            );
        }
        assert_eq!(
            from_internet_settings(true, "p", "", "x.example")
                .unwrap()
                .port,
            80
        );
    }
}
