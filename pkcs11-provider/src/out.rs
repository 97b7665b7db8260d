//! Reading the caller's input buffers and writing outputs with PKCS#11's
//! buffer-size protocol. Every raw pointer the C caller hands over is read
//! or written here, after the null and length checks.

use crate::guard::Result;
use cryptoki_sys::*;

/// The caller's input bytes. A null pointer is only valid with length 0.
///
/// # Safety
/// `p` is null or points to `len` readable bytes (the caller's promise).
pub unsafe fn input<'a>(p: *const CK_BYTE, len: CK_ULONG) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    let len = usize::try_from(len).map_err(|_| CKR_ARGUMENTS_BAD)?;
    // SAFETY: non-null, and the caller promises `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Writes `data` with the buffer-size protocol: a null `out` asks for the
/// length (Ok(false): nothing delivered); a buffer too small gets
/// CKR_BUFFER_TOO_SMALL and the needed length; otherwise the bytes are
/// copied (Ok(true)).
///
/// # Safety
/// `out_len` is null or writable; `out` is null or points to `*out_len` writable bytes.
pub unsafe fn deliver(data: &[u8], out: *mut CK_BYTE, out_len: *mut CK_ULONG) -> Result<bool> {
    if out_len.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    let needed = data.len() as CK_ULONG;
    // SAFETY: out_len is non-null and the caller promises it is writable.
    unsafe {
        if out.is_null() {
            *out_len = needed;
            return Ok(false);
        }
        if *out_len < needed {
            *out_len = needed;
            return Err(CKR_BUFFER_TOO_SMALL);
        }
        std::ptr::copy_nonoverlapping(data.as_ptr(), out, data.len());
        *out_len = needed;
    }
    Ok(true)
}

/// Writes one value through a caller's out-pointer.
///
/// # Safety
/// `p` is null or writable.
pub unsafe fn put<T>(p: *mut T, v: T) -> Result {
    if p.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: non-null and writable by the caller's promise.
    unsafe { p.write(v) };
    Ok(())
}

/// Writes a list with the buffer-size protocol of C_GetSlotList /
/// C_GetMechanismList (counts, not bytes).
///
/// # Safety
/// `count` is null or writable; `out` is null or points to `*count` writable elements.
pub unsafe fn deliver_list<T: Copy>(items: &[T], out: *mut T, count: *mut CK_ULONG) -> Result {
    if count.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: count is non-null; out, when non-null, holds *count elements.
    unsafe {
        if out.is_null() {
            *count = items.len() as CK_ULONG;
            return Ok(());
        }
        if (*count as usize) < items.len() {
            *count = items.len() as CK_ULONG;
            return Err(CKR_BUFFER_TOO_SMALL);
        }
        std::ptr::copy_nonoverlapping(items.as_ptr(), out, items.len());
        *count = items.len() as CK_ULONG;
    }
    Ok(())
}

/// A PKCS#11 fixed-width text field: UTF-8, padded with spaces, cut at a
/// character boundary when too long.
pub fn padded<const N: usize>(text: &str) -> [CK_UTF8CHAR; N] {
    let mut out = [b' '; N];
    let mut end = text.len().min(N);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out[..end].copy_from_slice(&text.as_bytes()[..end]);
    out
}

#[cfg(test)]
#[allow(clippy::undocumented_unsafe_blocks)] // tests hand the functions C structs they built themselves
mod tests {
    use super::*;

    #[test]
    fn buffer_size_protocol() {
        let data = [1u8, 2, 3];
        let mut len: CK_ULONG = 0;
        assert_eq!(unsafe { deliver(&data, std::ptr::null_mut(), &mut len) }, Ok(false));
        assert_eq!(len, 3);
        let mut small = [0u8; 2];
        len = 2;
        assert_eq!(unsafe { deliver(&data, small.as_mut_ptr(), &mut len) }, Err(CKR_BUFFER_TOO_SMALL));
        assert_eq!(len, 3);
        let mut big = [0u8; 8];
        len = 8;
        assert_eq!(unsafe { deliver(&data, big.as_mut_ptr(), &mut len) }, Ok(true));
        assert_eq!((len, &big[..3]), (3, &data[..]));
        assert_eq!(unsafe { deliver(&data, big.as_mut_ptr(), std::ptr::null_mut()) }, Err(CKR_ARGUMENTS_BAD));
    }

    #[test]
    fn padding_cuts_at_char_boundaries() {
        assert_eq!(&padded::<4>("ab"), b"ab  ");
        assert_eq!(&padded::<3>("aé"), b"a\xc3\xa9");
        assert_eq!(&padded::<2>("aé"), b"a ");
    }
}
