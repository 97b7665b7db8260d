//! The status of a refused API call: a gRPC code (the numbers are gRPC's,
//! fixed by its spec) and a message that says what was wrong and how to fix
//! it. The CA turns it into a `tonic::Status` unchanged.

/// gRPC status codes the API uses.
pub mod code {
    pub const OK: u32 = 0;
    pub const INVALID_ARGUMENT: u32 = 3;
    pub const NOT_FOUND: u32 = 5;
    pub const ALREADY_EXISTS: u32 = 6;
    pub const PERMISSION_DENIED: u32 = 7;
    pub const RESOURCE_EXHAUSTED: u32 = 8;
    pub const FAILED_PRECONDITION: u32 = 9;
    pub const UNIMPLEMENTED: u32 = 12;
    pub const INTERNAL: u32 = 13;
    pub const UNAVAILABLE: u32 = 14;
    pub const UNAUTHENTICATED: u32 = 16;
}

/// A refused or failed API call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (gRPC code {code})")]
pub struct ApiError {
    pub code: u32,
    pub message: String,
}

impl ApiError {
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into() }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_ARGUMENT, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(code::NOT_FOUND, message)
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(code::ALREADY_EXISTS, message)
    }
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(code::PERMISSION_DENIED, message)
    }
    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Self::new(code::FAILED_PRECONDITION, message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(code::UNAUTHENTICATED, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(code::INTERNAL, message)
    }
}

impl From<crate::policy::Denied> for ApiError {
    /// A PKCS#11-level refusal from the TA's key code, as an API status.
    fn from(d: crate::policy::Denied) -> Self {
        use teehsm_wire::Rv;
        let code = match d.rv {
            Rv::ARGUMENTS_BAD
            | Rv::DATA_LEN_RANGE
            | Rv::DATA_INVALID
            | Rv::ENCRYPTED_DATA_INVALID
            | Rv::ENCRYPTED_DATA_LEN_RANGE
            | Rv::SIGNATURE_LEN_RANGE
            | Rv::MECHANISM_PARAM_INVALID
            | Rv::WRAPPED_KEY_INVALID
            | Rv::WRAPPED_KEY_LEN_RANGE
            | Rv::KEY_SIZE_RANGE => code::INVALID_ARGUMENT,
            Rv::KEY_HANDLE_INVALID | Rv::OBJECT_HANDLE_INVALID => code::NOT_FOUND,
            Rv::KEY_FUNCTION_NOT_PERMITTED | Rv::KEY_TYPE_INCONSISTENT | Rv::MECHANISM_INVALID => code::FAILED_PRECONDITION,
            Rv::DEVICE_MEMORY => code::RESOURCE_EXHAUSTED,
            _ => code::INTERNAL,
        };
        ApiError { code, message: d.message }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
