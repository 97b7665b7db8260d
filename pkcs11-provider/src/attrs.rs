//! Attribute templates between the C ABI and the TA protocol.
//!
//! In C, CK_ULONG values are native (8 bytes, little-endian here), nested
//! templates are arrays of CK_ATTRIBUTE and mechanism lists arrays of
//! CK_MECHANISM_TYPE; on the wire they are 8-byte big-endian integers and
//! encoded templates ([`teehsm_wire::attr_kind`] says which attribute is
//! which). Unknown attribute types pass through as bytes; the TA refuses
//! them with CKR_ATTRIBUTE_TYPE_INVALID.

use crate::guard::Result;
use cryptoki_sys::*;
use teehsm_wire::attr_kind::{attr_kind, AttrKind};
use teehsm_wire::{AttrResult, Attribute, Rv};

const ULONG: usize = std::mem::size_of::<CK_ULONG>();
const ATTR: usize = std::mem::size_of::<CK_ATTRIBUTE>();
/// Nesting allowed for templates inside templates (CKA_WRAP_TEMPLATE holds one level).
const MAX_DEPTH: u32 = 2;

/// Reads a caller's template. A null pointer is valid only with count 0.
///
/// # Safety
/// `p` is null or points to `count` CK_ATTRIBUTEs whose pValue/ulValueLen describe readable memory.
pub unsafe fn template_from_c(p: CK_ATTRIBUTE_PTR, count: CK_ULONG) -> std::result::Result<Vec<Attribute>, Rv> {
    // SAFETY: forwarded caller promise.
    unsafe { template_at_depth(p, count, 0) }.map_err(|rv| Rv(rv as u32))
}

/// The same, with CKR codes as `CK_RV`.
///
/// # Safety
/// As [`template_from_c`].
pub unsafe fn template(p: CK_ATTRIBUTE_PTR, count: CK_ULONG) -> Result<Vec<Attribute>> {
    // SAFETY: forwarded caller promise.
    unsafe { template_at_depth(p, count, 0) }
}

/// # Safety
/// As [`template_from_c`].
unsafe fn template_at_depth(p: CK_ATTRIBUTE_PTR, count: CK_ULONG, depth: u32) -> Result<Vec<Attribute>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if p.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    if count as usize > teehsm_wire::MAX_TEMPLATE_LEN {
        return Err(CKR_TEMPLATE_INCONSISTENT);
    }
    // SAFETY: non-null; the caller promises `count` attributes.
    let attrs = unsafe { std::slice::from_raw_parts(p, count as usize) };
    // SAFETY: each attribute's pValue/ulValueLen is the caller's promise.
    attrs.iter().map(|a| unsafe { attribute_from_c(a, depth) }).collect()
}

/// # Safety
/// `a.pValue` is null or holds `a.ulValueLen` readable bytes.
unsafe fn attribute_from_c(a: &CK_ATTRIBUTE, depth: u32) -> Result<Attribute> {
    let ty = a.type_;
    if a.ulValueLen as usize > teehsm_wire::MAX_ATTR_VALUE_LEN {
        return Err(CKR_ATTRIBUTE_VALUE_INVALID);
    }
    // SAFETY: the caller promises pValue holds ulValueLen bytes.
    let raw = unsafe { crate::out::input(a.pValue as *const u8, a.ulValueLen) }.map_err(|_| CKR_ATTRIBUTE_VALUE_INVALID)?;
    let value = match attr_kind(ty) {
        Some(AttrKind::Bool) => {
            if raw.len() != 1 {
                return Err(CKR_ATTRIBUTE_VALUE_INVALID);
            }
            raw.to_vec()
        }
        Some(AttrKind::Ulong) => ulong_to_wire(raw)?.to_vec(),
        Some(AttrKind::MechList) => {
            if !raw.len().is_multiple_of(ULONG) {
                return Err(CKR_ATTRIBUTE_VALUE_INVALID);
            }
            raw.chunks_exact(ULONG).flat_map(|c| ulong_to_wire(c).unwrap_or_default()).collect()
        }
        Some(AttrKind::Template) => {
            if depth >= MAX_DEPTH || !raw.len().is_multiple_of(ATTR) {
                return Err(CKR_ATTRIBUTE_VALUE_INVALID);
            }
            // SAFETY: pValue holds ulValueLen bytes, a whole number of CK_ATTRIBUTEs (checked above).
            let inner = unsafe { template_at_depth(a.pValue as CK_ATTRIBUTE_PTR, (raw.len() / ATTR) as CK_ULONG, depth + 1) }?;
            teehsm_wire::encode_template(&inner)
        }
        _ => raw.to_vec(),
    };
    Ok(Attribute { ty, value })
}

fn ulong_to_wire(raw: &[u8]) -> Result<[u8; 8]> {
    let native: [u8; ULONG] = raw.try_into().map_err(|_| CKR_ATTRIBUTE_VALUE_INVALID)?;
    Ok((CK_ULONG::from_ne_bytes(native) as u64).to_be_bytes())
}

/// A wire value in its C form (bytes the caller receives).
fn value_to_c(ty: u64, wire: &[u8]) -> std::result::Result<CValue, CK_RV> {
    Ok(match attr_kind(ty) {
        Some(AttrKind::Ulong) => CValue::Bytes(ulong_from_wire(wire)?.to_vec()),
        Some(AttrKind::MechList) => {
            if !wire.len().is_multiple_of(8) {
                return Err(CKR_DEVICE_ERROR);
            }
            CValue::Bytes(wire.chunks_exact(8).map(ulong_from_wire).collect::<Result<Vec<_>>>()?.concat())
        }
        Some(AttrKind::Template) => CValue::Template(teehsm_wire::decode_template(wire).map_err(|_| CKR_DEVICE_ERROR)?),
        _ => CValue::Bytes(wire.to_vec()),
    })
}

fn ulong_from_wire(wire: &[u8]) -> Result<[u8; ULONG]> {
    let be: [u8; 8] = wire.try_into().map_err(|_| CKR_DEVICE_ERROR)?;
    let v = CK_ULONG::try_from(u64::from_be_bytes(be)).map_err(|_| CKR_DEVICE_ERROR)?;
    Ok(v.to_ne_bytes())
}

enum CValue {
    Bytes(Vec<u8>),
    Template(Vec<Attribute>),
}

/// Fills the caller's CK_ATTRIBUTE array from the TA's answer, following
/// C_GetAttributeValue's rules: each attribute gets its value, its length
/// (null pValue), or CK_UNAVAILABLE_INFORMATION; the return code says why
/// any attribute was not given (sensitive, invalid type, buffer too small).
///
/// # Safety
/// `p` points to `results.len()` CK_ATTRIBUTEs, each pValue null or writable for ulValueLen bytes.
pub unsafe fn fill(p: CK_ATTRIBUTE_PTR, results: &[AttrResult]) -> Result {
    // SAFETY: the caller's array has one entry per requested type.
    let attrs = unsafe { std::slice::from_raw_parts_mut(p, results.len()) };
    let mut rv = CKR_OK;
    for (a, r) in attrs.iter_mut().zip(results) {
        let this = if r.status != Rv::OK {
            a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
            r.status.to_standard().0 as CK_RV
        } else {
            match value_to_c(r.ty, &r.value) {
                // SAFETY: a.pValue is null or writable for ulValueLen bytes (the caller's promise).
                Ok(v) => unsafe { fill_one(a, &v) },
                Err(e) => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    e
                }
            }
        };
        // Sensitive and invalid-type outrank a short buffer (any of them may
        // be returned; these tell the caller more).
        if this != CKR_OK && (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL) {
            rv = this;
        }
    }
    if rv == CKR_OK {
        Ok(())
    } else {
        Err(rv)
    }
}

/// # Safety
/// `a.pValue` is null or writable for `a.ulValueLen` bytes (for a nested
/// template: that many bytes of CK_ATTRIBUTEs, each as promised).
unsafe fn fill_one(a: &mut CK_ATTRIBUTE, v: &CValue) -> CK_RV {
    match v {
        CValue::Bytes(b) => {
            if a.pValue.is_null() {
                a.ulValueLen = b.len() as CK_ULONG;
                CKR_OK
            } else if (a.ulValueLen as usize) < b.len() {
                a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                CKR_BUFFER_TOO_SMALL
            } else {
                // SAFETY: pValue holds ulValueLen >= b.len() writable bytes.
                unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), a.pValue as *mut u8, b.len()) };
                a.ulValueLen = b.len() as CK_ULONG;
                CKR_OK
            }
        }
        CValue::Template(inner) => {
            let needed = inner.len() * ATTR;
            if a.pValue.is_null() {
                a.ulValueLen = needed as CK_ULONG;
                return CKR_OK;
            }
            if (a.ulValueLen as usize) < needed {
                a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                return CKR_BUFFER_TOO_SMALL;
            }
            // The caller's array of CK_ATTRIBUTE: fill types and, where a
            // buffer is given, values (the two-step protocol of nested templates).
            // SAFETY: pValue holds at least inner.len() CK_ATTRIBUTEs.
            let slots = unsafe { std::slice::from_raw_parts_mut(a.pValue as CK_ATTRIBUTE_PTR, inner.len()) };
            let mut rv = CKR_OK;
            for (slot, attr) in slots.iter_mut().zip(inner) {
                slot.type_ = attr.ty as CK_ATTRIBUTE_TYPE;
                let r = match value_to_c(attr.ty, &attr.value) {
                    // SAFETY: the caller's inner attribute: pValue null or writable for ulValueLen bytes.
                    Ok(CValue::Bytes(b)) => unsafe { fill_one(slot, &CValue::Bytes(b)) },
                    Ok(CValue::Template(_)) | Err(_) => {
                        slot.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                        CKR_DEVICE_ERROR
                    }
                };
                if r != CKR_OK {
                    rv = r;
                }
            }
            a.ulValueLen = needed as CK_ULONG;
            rv
        }
    }
}

#[cfg(test)]
#[allow(clippy::undocumented_unsafe_blocks)] // tests hand the functions C structs they built themselves
mod tests {
    use super::*;
    use teehsm_wire::ck::{CKA_CLASS, CKA_EXTRACTABLE, CKA_LABEL, CKA_TOKEN, CKA_VALUE, CKA_WRAP_TEMPLATE, CKO_SECRET_KEY};

    fn attr<T>(ty: u64, v: &mut T) -> CK_ATTRIBUTE {
        CK_ATTRIBUTE { type_: ty as CK_ATTRIBUTE_TYPE, pValue: v as *mut T as *mut _, ulValueLen: std::mem::size_of::<T>() as CK_ULONG }
    }

    #[test]
    fn ulongs_become_big_endian_and_back() {
        let mut class: CK_ULONG = CKO_SECRET_KEY as CK_ULONG;
        let mut yes: CK_BBOOL = 1;
        let mut t = [attr(CKA_CLASS, &mut class), attr(CKA_TOKEN, &mut yes)];
        let w = unsafe { template(t.as_mut_ptr(), 2) }.unwrap();
        assert_eq!(w[0].value, 4u64.to_be_bytes());
        assert_eq!(w[1].value, [1]);
        let mut back: CK_ULONG = 0;
        let mut out = [attr(CKA_CLASS, &mut back)];
        unsafe { fill(out.as_mut_ptr(), &[AttrResult { ty: CKA_CLASS, status: Rv::OK, value: 4u64.to_be_bytes().to_vec() }]) }.unwrap();
        assert_eq!(back, 4);
    }

    #[test]
    fn bad_shapes_are_refused() {
        let mut short: u32 = 1;
        let mut t = [attr(CKA_CLASS, &mut short)];
        assert_eq!(unsafe { template(t.as_mut_ptr(), 1) }.unwrap_err(), CKR_ATTRIBUTE_VALUE_INVALID);
        assert_eq!(unsafe { template(std::ptr::null_mut(), 1) }.unwrap_err(), CKR_ARGUMENTS_BAD);
        let mut nul = [CK_ATTRIBUTE { type_: CKA_LABEL as CK_ATTRIBUTE_TYPE, pValue: std::ptr::null_mut(), ulValueLen: 4 }];
        assert_eq!(unsafe { template(nul.as_mut_ptr(), 1) }.unwrap_err(), CKR_ATTRIBUTE_VALUE_INVALID);
    }

    #[test]
    fn nested_templates_round_trip() {
        let mut yes: CK_BBOOL = 1;
        let mut inner = [attr(CKA_EXTRACTABLE, &mut yes)];
        let mut outer =
            [CK_ATTRIBUTE { type_: CKA_WRAP_TEMPLATE as CK_ATTRIBUTE_TYPE, pValue: inner.as_mut_ptr() as *mut _, ulValueLen: (ATTR) as CK_ULONG }];
        let w = unsafe { template(outer.as_mut_ptr(), 1) }.unwrap();
        let decoded = teehsm_wire::decode_template(&w[0].value).unwrap();
        assert_eq!(decoded, vec![Attribute::bool(CKA_EXTRACTABLE, true)]);
    }

    #[test]
    fn get_attribute_protocol() {
        let r = [
            AttrResult { ty: CKA_LABEL, status: Rv::OK, value: b"abc".to_vec() },
            AttrResult { ty: CKA_VALUE, status: Rv::ATTRIBUTE_SENSITIVE, value: vec![] },
        ];
        let mut a = [
            CK_ATTRIBUTE { type_: CKA_LABEL as _, pValue: std::ptr::null_mut(), ulValueLen: 0 },
            CK_ATTRIBUTE { type_: CKA_VALUE as _, pValue: std::ptr::null_mut(), ulValueLen: 0 },
        ];
        assert_eq!(unsafe { fill(a.as_mut_ptr(), &r) }, Err(CKR_ATTRIBUTE_SENSITIVE));
        assert_eq!(a[0].ulValueLen, 3);
        assert_eq!(a[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
        let mut small = [0u8; 2];
        let mut b = [CK_ATTRIBUTE { type_: CKA_LABEL as _, pValue: small.as_mut_ptr() as *mut _, ulValueLen: 2 }];
        assert_eq!(unsafe { fill(b.as_mut_ptr(), &r[..1]) }, Err(CKR_BUFFER_TOO_SMALL));
        assert_eq!(b[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    }
}
