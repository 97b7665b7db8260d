//! Filling the optional `*_crc32c` fields of requests, so the TA can tell
//! that the data arrived as sent.

use crate::proto::*;
use teehsm_wire::proto::crc32c;

/// Sets every optional `*_crc32c` field of a request whose data field is
/// non-empty to the CRC32C of that field.
pub trait FillCrc32c: Sized {
    #[must_use]
    fn with_crc32c(self) -> Self;
}

fn crc_of(v: &[u8]) -> Option<u32> {
    (!v.is_empty()).then(|| crc32c(v))
}

macro_rules! fill {
    ($($t:ty { $($field:ident => $crc:ident),* })*) => {$(
        impl FillCrc32c for $t {
            fn with_crc32c(mut self) -> Self {
                $(if let Some(c) = crc_of(&self.$field) { self.$crc = Some(c); })*
                self
            }
        }
    )*};
}

fill! {
    SignRequest { data => data_crc32c, digest => digest_crc32c }
    VerifyRequest { data => data_crc32c, digest => digest_crc32c, signature => signature_crc32c }
    EncryptRequest { plaintext => plaintext_crc32c, additional_authenticated_data => additional_authenticated_data_crc32c }
    DecryptRequest { ciphertext => ciphertext_crc32c, additional_authenticated_data => additional_authenticated_data_crc32c }
    MacSignRequest { data => data_crc32c }
    MacVerifyRequest { data => data_crc32c, mac => mac_crc32c }
    DecapsulateRequest { ciphertext => ciphertext_crc32c }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_only_present_fields() {
        let r = SignRequest { data: b"123456789".to_vec(), ..Default::default() }.with_crc32c();
        assert_eq!(r.data_crc32c, Some(0xE306_9283));
        assert_eq!(r.digest_crc32c, None);
        let r = DecryptRequest { ciphertext: vec![0; 32], ..Default::default() }.with_crc32c();
        assert_eq!(r.ciphertext_crc32c, Some(0x8A91_36AA));
        assert_eq!(r.additional_authenticated_data_crc32c, None);
    }
}
