//! The TA's request decoder (invariant 3): any bytes must decode or fail
//! cleanly, never panic; whatever decodes must re-encode to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use teehsm_wire::{decode_request, decode_template, encode_request};

fuzz_target!(|data: &[u8]| {
    if let Ok((id, req)) = decode_request(data) {
        let again = encode_request(id, &req);
        assert_eq!(again.as_slice(), data, "decode/encode must round-trip");
    }
    let _ = decode_template(data);
});
