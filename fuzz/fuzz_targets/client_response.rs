//! The client's response decoder: a hostile or broken peer must not crash the
//! CA, the PKCS#11 module or any other client.
#![no_main]
use libfuzzer_sys::fuzz_target;
use teehsm_wire::{decode_response, encode_response};

fuzz_target!(|data: &[u8]| {
    if let Ok((id, resp)) = decode_response(data) {
        let again = encode_response(id, &resp);
        assert_eq!(again.as_slice(), data, "decode/encode must round-trip");
    }
});
