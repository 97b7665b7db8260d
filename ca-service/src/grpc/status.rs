//! gRPC statuses: the TA's answers turned into `tonic::Status`, and the
//! canonical code names used as metric labels.

use super::forward::ForwardError;
use super::metadata::RESPONSE_MAC;
use teehsm_wire::{Rv, CLIENT_MAC_LEN};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

/// What an UNAVAILABLE caller reads while the TA is down.
pub const TA_DOWN: &str = "the TA is not running (restarting?); retry";

/// The canonical name of a gRPC code ("OK", "INVALID_ARGUMENT", ...).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The TA's numeric code as a gRPC code (out of range: UNKNOWN).
pub fn ta_code(code: u32) -> Code {
    i32::try_from(code).map(Code::from_i32).unwrap_or(Code::Unknown)
}

/// Response metadata carrying the TA's MAC over the answer.
pub fn mac_metadata(mac: &[u8; CLIENT_MAC_LEN]) -> MetadataMap {
    let mut md = MetadataMap::new();
    // 64 hex digits are always a valid ASCII metadata value.
    if let Ok(v) = MetadataValue::try_from(hex::encode(mac)) {
        md.insert(RESPONSE_MAC, v);
    }
    md
}

/// A nonzero `Reply::Api` code: the TA's status, message and MAC, unchanged.
pub fn api_error(code: u32, message: String, mac: &[u8; CLIENT_MAC_LEN]) -> Status {
    Status::with_metadata(ta_code(code), message, mac_metadata(mac))
}

/// A forwarding failure (the TA never produced an `Api` reply).
pub fn forward_error(e: ForwardError) -> Status {
    match e {
        ForwardError::TaDown => Status::unavailable(TA_DOWN),
        ForwardError::Lost(why) => Status::unavailable(format!("lost the TA connection during the call ({why}); the TA may be restarting; retry")),
        ForwardError::Stopping => Status::unavailable("teehsm-ca is shutting down; retry on another instance or later"),
        // The TA refused the frame itself rather than answering the call.
        ForwardError::Refused { rv, message } => match rv {
            Rv::TEEHSM_TA_UNAVAILABLE => Status::unavailable(format!("{TA_DOWN} ({message})")),
            Rv::FUNCTION_NOT_SUPPORTED => Status::unimplemented(format!("the TA does not serve the gRPC API: {message}")),
            Rv::TEEHSM_MALFORMED_REQUEST | Rv::ARGUMENTS_BAD | Rv::DATA_LEN_RANGE => Status::invalid_argument(message),
            Rv::HOST_MEMORY | Rv::DEVICE_MEMORY => Status::resource_exhausted(message),
            _ => Status::internal(format!("the TA refused the call: {rv}: {message}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_have_canonical_names() {
        for n in 0..=16u32 {
            let c = ta_code(n);
            assert_eq!(c as u32, n);
            let name = code_name(c);
            assert!(name.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_'), "{name}");
        }
        assert_eq!(code_name(ta_code(16)), "UNAUTHENTICATED");
        assert_eq!(code_name(ta_code(3)), "INVALID_ARGUMENT");
        assert_eq!(ta_code(17), Code::Unknown);
        assert_eq!(ta_code(u32::MAX), Code::Unknown);
    }

    #[test]
    fn api_errors_keep_code_message_and_mac() {
        let s = api_error(7, "client svc-a may not sign with k1".into(), &[0xa5; 32]);
        assert_eq!(s.code(), Code::PermissionDenied);
        assert_eq!(s.message(), "client svc-a may not sign with k1");
        assert_eq!(s.metadata().get(RESPONSE_MAC).unwrap().to_str().unwrap(), "a5".repeat(32));
    }

    #[test]
    fn forwarding_failures_map_to_precise_codes() {
        let s = forward_error(ForwardError::TaDown);
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(s.message(), TA_DOWN);
        assert_eq!(forward_error(ForwardError::Lost("closed".into())).code(), Code::Unavailable);
        assert_eq!(forward_error(ForwardError::Stopping).code(), Code::Unavailable);
        let refused = |rv| forward_error(ForwardError::Refused { rv, message: "m".into() }).code();
        assert_eq!(refused(Rv::FUNCTION_NOT_SUPPORTED), Code::Unimplemented);
        assert_eq!(refused(Rv::TEEHSM_MALFORMED_REQUEST), Code::InvalidArgument);
        assert_eq!(refused(Rv::TEEHSM_TA_UNAVAILABLE), Code::Unavailable);
        assert_eq!(refused(Rv::HOST_MEMORY), Code::ResourceExhausted);
        assert_eq!(refused(Rv::GENERAL_ERROR), Code::Internal);
    }
}
