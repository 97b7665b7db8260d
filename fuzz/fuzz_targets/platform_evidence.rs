//! The TA's parsers of TEE evidence the host hands it (an SGX quote read
//! from Gramine's /dev/attestation, an SEV-SNP report or a TDX quote read
//! from configfs-tsm): any bytes must parse or be refused, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use teehsm_ta::platform::{gramine, tsm};

fuzz_target!(|data: &[u8]| {
    let _ = gramine::parse_sgx_quote(data);
    let _ = tsm::parse_snp_report(data);
    let _ = tsm::parse_tdx_quote(data);
});
