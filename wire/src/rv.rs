//! Status codes returned by the TA. They are PKCS#11 CKR values, so the
//! PKCS#11 module passes them through; teehsm-specific conditions use the
//! vendor-defined range and are mapped by clients.

use std::fmt;

/// A CKR_* value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rv(pub u32);

macro_rules! rvs {
    ($($name:ident = $v:expr),* $(,)?) => {
        impl Rv { $(pub const $name: Rv = Rv($v);)* }
        /// The symbolic name of a status code, if it has one.
        pub fn rv_name(rv: Rv) -> Option<&'static str> {
            match rv.0 { $($v => Some(stringify!($name)),)* _ => None }
        }
    };
}

rvs! {
    OK = 0x0,
    CANCEL = 0x1,
    HOST_MEMORY = 0x2,
    SLOT_ID_INVALID = 0x3,
    GENERAL_ERROR = 0x5,
    FUNCTION_FAILED = 0x6,
    ARGUMENTS_BAD = 0x7,
    ATTRIBUTE_READ_ONLY = 0x10,
    ATTRIBUTE_SENSITIVE = 0x11,
    ATTRIBUTE_TYPE_INVALID = 0x12,
    ATTRIBUTE_VALUE_INVALID = 0x13,
    ACTION_PROHIBITED = 0x1b,
    DATA_INVALID = 0x20,
    DATA_LEN_RANGE = 0x21,
    DEVICE_ERROR = 0x30,
    DEVICE_MEMORY = 0x31,
    DEVICE_REMOVED = 0x32,
    ENCRYPTED_DATA_INVALID = 0x40,
    ENCRYPTED_DATA_LEN_RANGE = 0x41,
    FUNCTION_NOT_SUPPORTED = 0x54,
    KEY_HANDLE_INVALID = 0x60,
    KEY_SIZE_RANGE = 0x62,
    KEY_TYPE_INCONSISTENT = 0x63,
    KEY_INDIGESTIBLE = 0x67,
    KEY_FUNCTION_NOT_PERMITTED = 0x68,
    KEY_NOT_WRAPPABLE = 0x69,
    KEY_UNEXTRACTABLE = 0x6a,
    MECHANISM_INVALID = 0x70,
    MECHANISM_PARAM_INVALID = 0x71,
    OBJECT_HANDLE_INVALID = 0x82,
    OPERATION_ACTIVE = 0x90,
    OPERATION_NOT_INITIALIZED = 0x91,
    PIN_INCORRECT = 0xa0,
    PIN_INVALID = 0xa1,
    PIN_LEN_RANGE = 0xa2,
    PIN_EXPIRED = 0xa3,
    PIN_LOCKED = 0xa4,
    SESSION_CLOSED = 0xb0,
    SESSION_COUNT = 0xb1,
    SESSION_HANDLE_INVALID = 0xb3,
    SESSION_PARALLEL_NOT_SUPPORTED = 0xb4,
    SESSION_READ_ONLY = 0xb5,
    SESSION_EXISTS = 0xb6,
    SESSION_READ_ONLY_EXISTS = 0xb7,
    SESSION_READ_WRITE_SO_EXISTS = 0xb8,
    SIGNATURE_INVALID = 0xc0,
    SIGNATURE_LEN_RANGE = 0xc1,
    TEMPLATE_INCOMPLETE = 0xd0,
    TEMPLATE_INCONSISTENT = 0xd1,
    TOKEN_NOT_PRESENT = 0xe0,
    TOKEN_NOT_RECOGNIZED = 0xe1,
    TOKEN_WRITE_PROTECTED = 0xe2,
    UNWRAPPING_KEY_HANDLE_INVALID = 0xf0,
    UNWRAPPING_KEY_SIZE_RANGE = 0xf1,
    UNWRAPPING_KEY_TYPE_INCONSISTENT = 0xf2,
    USER_ALREADY_LOGGED_IN = 0x100,
    USER_NOT_LOGGED_IN = 0x101,
    USER_PIN_NOT_INITIALIZED = 0x102,
    USER_TYPE_INVALID = 0x103,
    USER_ANOTHER_ALREADY_LOGGED_IN = 0x104,
    USER_TOO_MANY_TYPES = 0x105,
    WRAPPED_KEY_INVALID = 0x110,
    WRAPPED_KEY_LEN_RANGE = 0x112,
    WRAPPING_KEY_HANDLE_INVALID = 0x113,
    WRAPPING_KEY_SIZE_RANGE = 0x114,
    WRAPPING_KEY_TYPE_INCONSISTENT = 0x115,
    RANDOM_NO_RNG = 0x121,
    DOMAIN_PARAMS_INVALID = 0x130,
    CURVE_NOT_SUPPORTED = 0x140,
    BUFFER_TOO_SMALL = 0x150,
    CRYPTOKI_NOT_INITIALIZED = 0x190,
    CRYPTOKI_ALREADY_INITIALIZED = 0x191,
    OPERATION_CANCEL_FAILED = 0x202,
    // teehsm vendor-defined conditions
    TEEHSM_MALFORMED_REQUEST = 0x8000_0101,
    TEEHSM_PROTOCOL_VERSION = 0x8000_0102,
    TEEHSM_SELF_TEST_FAILED = 0x8000_0103,
    TEEHSM_STORE_ROLLBACK = 0x8000_0104,
    TEEHSM_STORE_CORRUPT = 0x8000_0105,
    TEEHSM_NO_HELLO = 0x8000_0106,
    TEEHSM_TA_UNAVAILABLE = 0x8000_0107,
    TEEHSM_UNKNOWN_APP = 0x8000_0108,
    // Authorized: unknown client, wrong MAC, timestamp outside the window;
    // then a nonce already seen (docs/client-auth.md).
    TEEHSM_CLIENT_AUTH_FAILED = 0x8000_0109,
    TEEHSM_CLIENT_REPLAY = 0x8000_010a,
    // ImportDistributedKey (docs/key-distribution.md): the envelope's signer
    // is not trusted on the token; it names another TA or token; it is
    // outside its validity period; it was imported before.
    TEEHSM_KEYDIST_UNTRUSTED = 0x8000_010b,
    TEEHSM_KEYDIST_MISTARGETED = 0x8000_010c,
    TEEHSM_KEYDIST_EXPIRED = 0x8000_010d,
    TEEHSM_KEYDIST_REPLAY = 0x8000_010e,
}

impl Rv {
    pub fn is_ok(self) -> bool {
        self == Rv::OK
    }
    /// The nearest standard CKR value, for clients that can only report those.
    pub fn to_standard(self) -> Rv {
        match self {
            Rv::TEEHSM_MALFORMED_REQUEST => Rv::ARGUMENTS_BAD,
            Rv::TEEHSM_TA_UNAVAILABLE => Rv::DEVICE_REMOVED,
            Rv::TEEHSM_CLIENT_AUTH_FAILED | Rv::TEEHSM_CLIENT_REPLAY => Rv::USER_NOT_LOGGED_IN,
            Rv::TEEHSM_KEYDIST_UNTRUSTED => Rv::SIGNATURE_INVALID,
            Rv::TEEHSM_KEYDIST_MISTARGETED | Rv::TEEHSM_KEYDIST_EXPIRED | Rv::TEEHSM_KEYDIST_REPLAY => Rv::WRAPPED_KEY_INVALID,
            rv if rv.0 >= 0x8000_0000 => Rv::DEVICE_ERROR,
            rv => rv,
        }
    }
}

impl fmt::Debug for Rv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match rv_name(*self) {
            Some(n) => write!(f, "CKR_{n}(0x{:x})", self.0),
            None => write!(f, "CKR(0x{:x})", self.0),
        }
    }
}

impl fmt::Display for Rv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
