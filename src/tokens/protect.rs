//! Protection of the token file's bytes: DPAPI (current user) on Windows, none elsewhere (there
//! the file is readable only by its owner, mode 0600).

#[cfg(windows)]
mod imp {
    use crate::error::{Error, Result, Status};
    use windows_sys::Win32::Foundation::{LocalFree, HLOCAL};
    use windows_sys::Win32::Security::Cryptography::{
        CryptProtectData, CryptUnprotectData, CRYPTPROTECT_UI_FORBIDDEN, CRYPT_INTEGER_BLOB,
    };

    pub const MAGIC: &[u8] = b"OMDPAPI1\n";

    fn blob(data: &[u8]) -> CRYPT_INTEGER_BLOB {
        CRYPT_INTEGER_BLOB {
            cbData: data.len() as u32,
            pbData: data.as_ptr() as *mut u8,
        }
    }

    pub fn protect(plain: &[u8]) -> Result<Vec<u8>> {
        let input = blob(plain);
        let mut output = CRYPT_INTEGER_BLOB {
            cbData: 0,
            pbData: std::ptr::null_mut(),
        };
        // SAFETY: input points to `plain` for the call; output is allocated by the system and
        // freed with LocalFree below.
        let ok = unsafe {
            CryptProtectData(
                &input,
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
                CRYPTPROTECT_UI_FORBIDDEN,
                &mut output,
            )
        };
        if ok == 0 {
            return Err(Error::new(
                Status::IoError,
                format!(
                    "DPAPI could not protect the token file: {}",
                    std::io::Error::last_os_error()
                ),
            ));
        }
        // SAFETY: the system returned cbData bytes at pbData.
        let bytes = unsafe { std::slice::from_raw_parts(output.pbData, output.cbData as usize) };
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(bytes);
        unsafe { LocalFree(output.pbData as HLOCAL) };
        Ok(out)
    }

    pub fn unprotect(data: &[u8]) -> Result<Vec<u8>> {
        let Some(sealed) = data.strip_prefix(MAGIC) else {
            return Ok(data.to_vec()); // a plain file (written elsewhere): read as is
        };
        let input = blob(sealed);
        let mut output = CRYPT_INTEGER_BLOB {
            cbData: 0,
            pbData: std::ptr::null_mut(),
        };
        // SAFETY: as in `protect`.
        let ok = unsafe {
            CryptUnprotectData(
                &input,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
                CRYPTPROTECT_UI_FORBIDDEN,
                &mut output,
            )
        };
        if ok == 0 {
            return Err(Error::new(
                Status::IoError,
                format!(
                    "DPAPI could not decrypt the token file (was it written by another Windows user?): {}",
                    std::io::Error::last_os_error()
                ),
            ));
        }
        let bytes =
            unsafe { std::slice::from_raw_parts(output.pbData, output.cbData as usize) }.to_vec();
        unsafe { LocalFree(output.pbData as HLOCAL) };
        Ok(bytes)
    }
}

#[cfg(not(windows))]
mod imp {
    use crate::error::Result;

    pub fn protect(plain: &[u8]) -> Result<Vec<u8>> {
        Ok(plain.to_vec())
    }

    pub fn unprotect(data: &[u8]) -> Result<Vec<u8>> {
        Ok(data.to_vec())
    }
}

pub use imp::{protect, unprotect};
