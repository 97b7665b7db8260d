//! How each PKCS#11 attribute's value is encoded on the TA protocol. Shared
//! by the TA (which checks values) and the PKCS#11 module (which converts
//! between the C ABI's native CK_ULONG/arrays and the wire form), so the two
//! can never disagree on an attribute's type.

use crate::ck::*;

/// How an attribute's value is encoded and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrKind {
    Bool,
    Ulong,
    Bytes,
    /// UTF-8 or arbitrary bytes, at most 256
    Text,
    /// A nested template (CKA_WRAP_TEMPLATE...)
    Template,
    /// An array of CK_MECHANISM_TYPE
    MechList,
    /// CK_DATE (8 ASCII digits) or empty
    Date,
}

/// The kind of every attribute teehsm understands; the TA refuses unknown
/// types with CKR_ATTRIBUTE_TYPE_INVALID.
pub fn attr_kind(ty: u64) -> Option<AttrKind> {
    use AttrKind::*;
    Some(match ty {
        CKA_TOKEN
        | CKA_PRIVATE
        | CKA_TRUSTED
        | CKA_SENSITIVE
        | CKA_ENCRYPT
        | CKA_DECRYPT
        | CKA_WRAP
        | CKA_UNWRAP
        | CKA_SIGN
        | CKA_SIGN_RECOVER
        | CKA_VERIFY
        | CKA_VERIFY_RECOVER
        | CKA_DERIVE
        | CKA_EXTRACTABLE
        | CKA_LOCAL
        | CKA_NEVER_EXTRACTABLE
        | CKA_ALWAYS_SENSITIVE
        | CKA_MODIFIABLE
        | CKA_COPYABLE
        | CKA_DESTROYABLE
        | CKA_ALWAYS_AUTHENTICATE
        | CKA_WRAP_WITH_TRUSTED
        | CKA_ENCAPSULATE
        | CKA_DECAPSULATE
        | CKA_TEEHSM_PRIVATE_NEVER_KNOWN => Bool,
        CKA_CLASS
        | CKA_KEY_TYPE
        | CKA_CERTIFICATE_TYPE
        | CKA_CERTIFICATE_CATEGORY
        | CKA_JAVA_MIDP_SECURITY_DOMAIN
        | CKA_NAME_HASH_ALGORITHM
        | CKA_MODULUS_BITS
        | CKA_VALUE_BITS
        | CKA_VALUE_LEN
        | CKA_KEY_GEN_MECHANISM
        | CKA_PARAMETER_SET => Ulong,
        CKA_LABEL | CKA_APPLICATION | CKA_UNIQUE_ID => Text,
        CKA_START_DATE | CKA_END_DATE => Date,
        CKA_WRAP_TEMPLATE | CKA_UNWRAP_TEMPLATE | CKA_ENCAPSULATE_TEMPLATE | CKA_DECAPSULATE_TEMPLATE => Template,
        CKA_ALLOWED_MECHANISMS => MechList,
        CKA_VALUE
        | CKA_OBJECT_ID
        | CKA_ISSUER
        | CKA_SERIAL_NUMBER
        | CKA_CHECK_VALUE
        | CKA_SUBJECT
        | CKA_ID
        | CKA_URL
        | CKA_HASH_OF_SUBJECT_PUBLIC_KEY
        | CKA_HASH_OF_ISSUER_PUBLIC_KEY
        | CKA_MODULUS
        | CKA_PUBLIC_EXPONENT
        | CKA_PRIVATE_EXPONENT
        | CKA_PRIME_1
        | CKA_PRIME_2
        | CKA_EXPONENT_1
        | CKA_EXPONENT_2
        | CKA_COEFFICIENT
        | CKA_PUBLIC_KEY_INFO
        | CKA_EC_PARAMS
        | CKA_EC_POINT
        | CKA_SEED => Bytes,
        _ => return None,
    })
}
