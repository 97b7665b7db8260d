//! The gRPC API's protobuf types (package `teehsm.v1`, `proto/teehsm/v1/kms.proto`;
//! docs/grpc-api.md). With the `grpc` feature this also holds the tonic
//! client and server of `KeyManagementService`.

/// Generated from `proto/teehsm/v1/kms.proto`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/teehsm.v1.rs"));
}

/// The fleet protocol between host agents and the console
/// (`proto/teehsm/fleet/v1/fleet.proto`).
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod fleet {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/teehsm.fleet.v1.rs"));
    }
}

/// The encoded `FileDescriptorSet` of the API, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/teehsm_v1_descriptor.bin"));

/// The encoded `FileDescriptorSet` of the fleet protocol, for the console's reflection.
pub const FLEET_FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/teehsm_fleet_v1_descriptor.bin"));

/// Full gRPC path of a `KeyManagementService` method, as the MAC covers it.
pub fn method_path(method: &str) -> String {
    format!("/teehsm.v1.KeyManagementService/{method}")
}

/// CRC32C (Castagnoli) of `data`, as the API's `*_crc32c` fields carry it.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c_impl(data)
}

// Bitwise reference implementation, table-driven: the API's fields are at
// most 64 KiB, so this is not on any hot path worth a SIMD crate.
fn crc32c_impl(data: &[u8]) -> u32 {
    const fn table() -> [u32; 256] {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0x82F6_3B78 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    }
    static TABLE: [u32; 256] = table();
    let mut crc = !0u32;
    for &b in data {
        crc = TABLE[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32c_check_value() {
        // RFC 3720 B.4 / the CRC catalogue check value.
        assert_eq!(super::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(super::crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(super::crc32c(b""), 0);
    }
}
