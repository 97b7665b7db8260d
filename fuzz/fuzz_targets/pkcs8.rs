//! The PKCS#8 reader C_UnwrapKey runs on data a caller decrypted with its
//! own key (so any bytes at all): every input must decode or be refused,
//! never panic; what decodes encodes back to the same key.
#![no_main]
use libfuzzer_sys::fuzz_target;
use teehsm_crypto::pkcs8;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = pkcs8::decode(data) {
        let again = pkcs8::encode(&key, None);
        assert!(pkcs8::decode(&again).is_ok_and(|k| k == key), "re-encoding changed the key");
    }
});
