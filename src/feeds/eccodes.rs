//! A thin, safe wrapper over the few calls of ECMWF's ecCodes C library (libeccodes) that
//! [`super::ecmwf_bufr`] needs: split an in-memory buffer into BUFR messages, unpack one,
//! and read keys as numbers, number arrays or strings. ecCodes does all the BUFR decoding;
//! nothing here reads a BUFR section by hand.
//!
//! Must not depend on tokio, HTTP clients or GDAL, nor read files: the bytes come from the
//! caller (a feed body or a file the CLI read) and are handed to ecCodes through an in-memory
//! `FILE*` (POSIX `fmemopen`).
//!
//! Why our own FFI and not the `eccodes` crate (ECMWF's, 2.50, checked 2026-12-02): its
//! `system` feature looks the library up with CMake and requires ecCodes >= 2.34, while
//! Debian 12 ships 2.28; it also needs ECMWF's eckit (`eckit-sys`) and generates bindings
//! with bindgen (libclang) at build time, and asks for Rust 1.90. The dozen functions below
//! are stable parts of the ecCodes C API since 2.x (eccodes.h), declared by hand against
//! Debian's `/usr/include/x86_64-linux-gnu/eccodes.h` and linked as `-leccodes`
//! (Debian's libeccodes-dev; scripts/setup.sh installs it).

use std::ffi::{CStr, CString, c_char, c_int, c_long, c_void};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard};

/// ecCodes' value for a missing double (`CODES_MISSING_DOUBLE` in eccodes.h / grib_api.h).
pub const MISSING_DOUBLE: f64 = -1e100;
/// ecCodes' value for a missing integer (`CODES_MISSING_LONG`, 2^31 − 1, grib_api.h).
pub const MISSING_LONG: i64 = 2_147_483_647;

/// `PRODUCT_BUFR` of ecCodes' `ProductKind` enum (grib_api.h: ANY, GRIB, BUFR, ...).
const PRODUCT_BUFR: c_int = 2;
/// `GRIB_END_OF_FILE` (grib_api.h): no further message in the input.
const END_OF_FILE: c_int = -1;
/// `GRIB_NOT_FOUND` (grib_api.h): the key is not in the message.
const NOT_FOUND: c_int = -10;

#[repr(C)]
struct CodesHandle {
    _private: [u8; 0],
}
#[repr(C)]
struct CodesContext {
    _private: [u8; 0],
}
#[repr(C)]
struct CFile {
    _private: [u8; 0],
}

#[link(name = "eccodes")]
unsafe extern "C" {
    fn codes_handle_new_from_file(
        c: *mut CodesContext,
        f: *mut CFile,
        product: c_int,
        error: *mut c_int,
    ) -> *mut CodesHandle;
    fn codes_handle_delete(h: *mut CodesHandle) -> c_int;
    fn codes_set_long(h: *mut CodesHandle, key: *const c_char, val: c_long) -> c_int;
    fn codes_get_size(h: *const CodesHandle, key: *const c_char, size: *mut usize) -> c_int;
    fn codes_get_long(h: *const CodesHandle, key: *const c_char, value: *mut c_long) -> c_int;
    fn codes_get_double_array(
        h: *const CodesHandle,
        key: *const c_char,
        vals: *mut f64,
        length: *mut usize,
    ) -> c_int;
    fn codes_get_string(
        h: *const CodesHandle,
        key: *const c_char,
        mesg: *mut c_char,
        length: *mut usize,
    ) -> c_int;
    fn codes_get_error_message(code: c_int) -> *const c_char;
    fn codes_get_api_version() -> c_long;
}

unsafe extern "C" {
    // POSIX.1-2008 (glibc): a read-only stream over a caller's buffer.
    fn fmemopen(buf: *mut c_void, size: usize, mode: *const c_char) -> *mut CFile;
    fn fclose(f: *mut CFile) -> c_int;
}

/// ecCodes calls are serialised: whether the library is thread-safe depends on how it was
/// built (ENABLE_ECCODES_THREADS / OMP), and decoding a track file takes milliseconds, so
/// one lock costs nothing and removes the question.
static LIB: Mutex<()> = Mutex::new(());

/// An ecCodes failure: its error code and message, and the key when one was being read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("ecCodes error {code} ({message}){}", key.as_deref().map(|k| format!(" reading key {k}")).unwrap_or_default())]
pub struct CodesError {
    pub code: i32,
    pub message: String,
    pub key: Option<String>,
}

impl CodesError {
    fn new(code: c_int, key: Option<&str>) -> CodesError {
        // SAFETY: codes_get_error_message returns a static NUL-terminated string for any code.
        let message = unsafe {
            let p = codes_get_error_message(code);
            if p.is_null() {
                String::from("unknown error")
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        CodesError {
            code,
            message,
            key: key.map(str::to_string),
        }
    }
    fn other(message: &str) -> CodesError {
        CodesError {
            code: 0,
            message: message.to_string(),
            key: None,
        }
    }
}

/// The linked ecCodes version as "major.minor.patch" (e.g. "2.28.0" on Debian 12).
pub fn library_version() -> String {
    // SAFETY: no arguments, returns an integer.
    let v = unsafe { codes_get_api_version() };
    format!("{}.{}.{}", v / 10000, (v / 100) % 100, v % 100)
}

/// The BUFR messages of an in-memory buffer, one at a time, in order. Holds the library lock
/// while it lives.
pub struct BufrReader<'a> {
    file: NonNull<CFile>,
    _lock: MutexGuard<'static, ()>,
    _bytes: PhantomData<&'a [u8]>,
}

impl<'a> BufrReader<'a> {
    /// Opens `bytes` for reading. Fails only for an empty buffer or when the C library cannot
    /// open a memory stream.
    pub fn new(bytes: &'a [u8]) -> Result<BufrReader<'a>, CodesError> {
        if bytes.is_empty() {
            return Err(CodesError::other("empty input"));
        }
        let lock = LIB.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the stream is opened read-only ("r"), so fmemopen never writes through the
        // pointer; `bytes` outlives the reader (lifetime 'a) and the stream is closed in Drop.
        let f = unsafe { fmemopen(bytes.as_ptr() as *mut c_void, bytes.len(), c"r".as_ptr()) };
        let file = NonNull::new(f).ok_or_else(|| CodesError::other("fmemopen failed"))?;
        Ok(BufrReader {
            file,
            _lock: lock,
            _bytes: PhantomData,
        })
    }

    /// The next BUFR message: `None` at the end of the input, an error for a message ecCodes
    /// cannot frame (truncated, no "7777" end section). Bytes that are not BUFR before or
    /// between messages are skipped by ecCodes.
    pub fn next_message(&mut self) -> Option<Result<Message<'_>, CodesError>> {
        let mut err: c_int = 0;
        // SAFETY: the stream is open (Drop closes it); a NULL context means the default one.
        let h = unsafe {
            codes_handle_new_from_file(
                std::ptr::null_mut(),
                self.file.as_ptr(),
                PRODUCT_BUFR,
                &mut err,
            )
        };
        match NonNull::new(h) {
            Some(h) => Some(Ok(Message {
                h,
                _reader: PhantomData,
            })),
            None if err == 0 || err == END_OF_FILE => None,
            None => Some(Err(CodesError::new(err, None))),
        }
    }
}

impl Drop for BufrReader<'_> {
    fn drop(&mut self) {
        // SAFETY: opened by fmemopen in `new`, closed once here.
        unsafe {
            fclose(self.file.as_ptr());
        }
    }
}

/// One BUFR message (an ecCodes handle), valid while its reader is borrowed.
pub struct Message<'r> {
    h: NonNull<CodesHandle>,
    _reader: PhantomData<&'r mut ()>,
}

impl Drop for Message<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle came from codes_handle_new_from_file and is deleted once here.
        unsafe {
            codes_handle_delete(self.h.as_ptr());
        }
    }
}

fn c_key(key: &str) -> Result<CString, CodesError> {
    CString::new(key).map_err(|_| CodesError::other("key contains a NUL byte"))
}

impl Message<'_> {
    /// Decodes the data section (BUFR keys of section 4 exist only after this).
    pub fn unpack(&mut self) -> Result<(), CodesError> {
        let k = c_key("unpack")?;
        // SAFETY: valid handle and NUL-terminated key.
        let rc = unsafe { codes_set_long(self.h.as_ptr(), k.as_ptr(), 1) };
        if rc != 0 {
            return Err(CodesError::new(rc, Some("unpack")));
        }
        Ok(())
    }

    /// Number of values of a key, `None` when the message has no such key.
    pub fn size(&self, key: &str) -> Result<Option<usize>, CodesError> {
        let k = c_key(key)?;
        let mut n: usize = 0;
        // SAFETY: valid handle, key and out pointer.
        let rc = unsafe { codes_get_size(self.h.as_ptr(), k.as_ptr(), &mut n) };
        match rc {
            0 => Ok(Some(n)),
            NOT_FOUND => Ok(None),
            _ => Err(CodesError::new(rc, Some(key))),
        }
    }

    /// One integer value (`None` when the key is absent; the value may be [`MISSING_LONG`]).
    pub fn long(&self, key: &str) -> Result<Option<i64>, CodesError> {
        let k = c_key(key)?;
        let mut v: c_long = 0;
        // SAFETY: valid handle, key and out pointer.
        let rc = unsafe { codes_get_long(self.h.as_ptr(), k.as_ptr(), &mut v) };
        match rc {
            #[allow(clippy::useless_conversion)] // c_long is 32-bit on some targets
            0 => Ok(Some(i64::from(v))),
            NOT_FOUND => Ok(None),
            _ => Err(CodesError::new(rc, Some(key))),
        }
    }

    /// All values of a key as doubles (`None` when absent); missing values are
    /// [`MISSING_DOUBLE`]. For a compressed message a data key has one value per subset, or
    /// a single value when all subsets share it.
    pub fn doubles(&self, key: &str) -> Result<Option<Vec<f64>>, CodesError> {
        let Some(n) = self.size(key)? else {
            return Ok(None);
        };
        let k = c_key(key)?;
        let mut vals: Vec<f64> = vec![0.0; n.max(1)];
        let mut len = vals.len();
        // SAFETY: `vals` has room for `len` values; ecCodes writes at most `len`.
        let rc = unsafe {
            codes_get_double_array(self.h.as_ptr(), k.as_ptr(), vals.as_mut_ptr(), &mut len)
        };
        if rc != 0 {
            return Err(CodesError::new(rc, Some(key)));
        }
        vals.truncate(len);
        Ok(Some(vals))
    }

    /// A string value (`None` when absent). Trailing NULs are removed, spaces kept.
    pub fn string(&self, key: &str) -> Result<Option<String>, CodesError> {
        if self.size(key)?.is_none() {
            return Ok(None);
        }
        let k = c_key(key)?;
        // Storm names are 10 characters (BUFR 001027 is 80 bits); 1 KiB is ample for the
        // string keys read here, and ecCodes answers BUFFER_TOO_SMALL rather than overflow.
        let mut buf: Vec<u8> = vec![0; 1024];
        let mut len = buf.len();
        // SAFETY: `buf` has `len` bytes; ecCodes writes at most `len` and sets `len`.
        let rc = unsafe {
            codes_get_string(
                self.h.as_ptr(),
                k.as_ptr(),
                buf.as_mut_ptr().cast::<c_char>(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(CodesError::new(rc, Some(key)));
        }
        buf.truncate(len);
        while buf.last() == Some(&0) {
            buf.pop();
        }
        Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn links_the_installed_library() {
        let v = library_version();
        assert!(v.starts_with("2."), "{v}");
    }

    #[test]
    fn non_bufr_bytes_hold_no_message() {
        let mut r = BufrReader::new(b"<html><body>502 Bad Gateway</body></html>").unwrap();
        assert!(r.next_message().is_none());
        assert!(BufrReader::new(b"").is_err());
    }
}
