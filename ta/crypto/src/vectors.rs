//! Known-answer vectors, used by [`crate::selftest`] at TA start-up and by
//! `tests/kat.rs`. Every vector names its source. Byte strings are hex
//! (whitespace ignored; decode with [`unhex`]); the large post-quantum and RSA
//! vectors live in `src/vectors/*.hex`.
//!
//! Sources:
//! * FIPS 180-2 appendix examples (SHA-1/SHA-2 of "abc" and the 448-bit message).
//! * GB/T 32905-2016 (SM3) appendix A examples; GB/T 32907-2016 (SM4) appendix A.
//! * RFC 4231 (HMAC-SHA-2), RFC 4493 (AES-CMAC), RFC 5869 (HKDF),
//!   RFC 7914 section 11 (PBKDF2-HMAC-SHA256), RFC 3394 section 4 (AES-KW),
//!   RFC 5649 section 6 (AES-KWP, 192-bit KEK).
//! * FIPS 197 appendix C; NIST SP 800-38A appendix F (ECB, CBC, CTR).
//! * McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 2, 3, 4, 16.
//! * Wycheproof (C2SP/wycheproof `testvectors_v1/aes_kwp_test.json`, 128-bit KEK cases;
//!   `testvectors_v1/mldsa_65_verify_test.json` tcId 1).
//! * RFC 6979 appendix A.2.5 (ECDSA P-256, SHA-256); NIST CAVS ECC CDH
//!   (KAS ECC CDH primitive, P-256 COUNT 0).
//! * GB/T 32918.5-2017 (= GM/T 0003.5-2012) appendix examples on the recommended
//!   curve: signature (A) and encryption (C), user ID "1234567812345678".
//! * NIST ACVP-Server `gen-val/json-files/ML-KEM-encapDecap-FIPS203/internalProjection.json`
//!   (commit 092b939a; encapsulation AFT tcIds 1, 26, 51: dk, c -> k), and
//!   `ML-DSA-keyGen-FIPS204/{prompt,expectedResults}.json` (commit a9496ad1, FIPS 204 final;
//!   tcIds 1, 26, 51: seed -> pk).
//! * RSA-2048: a key generated once with the OpenSSL 3.0.19 CLI
//!   (`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`, exported with
//!   `openssl rsa -traditional -outform DER`); the PKCS#1 v1.5 SHA-256 signature of "abc"
//!   (`openssl dgst -sha256 -sign`), a PSS signature (salt 32) and an OAEP-SHA256 ciphertext
//!   were made by the same CLI. PKCS#1 v1.5 is deterministic, so its signature is compared
//!   byte for byte. The same CLI made the SHA-1 / SHA-224 PKCS#1 v1.5 signatures, two PSS
//!   signatures (SHA-1 salt 20; SHA-256 with MGF1-SHA-1, salt 0), a PKCS#1 v1.5 ciphertext
//!   and an OAEP-SHA-224 ciphertext with a label (commands next to each constant).
//! * Wycheproof `testvectors_v1/mldsa_44_sign_seed_test.json` tcId 1 (deterministic ML-DSA-44).
//! * RFC 7748 section 6.1 (X25519); the OpenPGP X25519 + SP 800-56C vector of the
//!   `cryptoki` crate's tests (cross-checked with OpenSSL, see the constant).
//! * SP 800-108 KBKDF (counter mode, AES-CMAC): OpenSSL 3.0.19 `openssl kdf ... KBKDF`
//!   (no NIST CAVP file is held here; interop_openssl.rs checks more cases live).
//! * RFC 8032 section 7.1 TEST 1 and 2 (Ed25519), 7.2 "foo" (Ed25519ctx), 7.3 "abc" (Ed25519ph).

use crate::digest::HashAlg;
use crate::mldsa::MlDsaParam;
use crate::mlkem::MlKemParam;
use crate::sym::Cipher;
use crate::CryptoError;

/// Decodes hex, ignoring ASCII whitespace.
pub fn unhex(s: &str) -> Result<Vec<u8>, CryptoError> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    hex::decode(compact).map_err(|e| CryptoError::SelfTest(format!("malformed vector hex: {e}")))
}

// ---------------------------------------------------------------- digests

pub struct DigestVector {
    pub name: &'static str,
    pub alg: HashAlg,
    pub msg: &'static [u8],
    pub digest: &'static str,
}

const FIPS180_448: &[u8] = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
const SM3_ABCD16: &[u8] = b"abcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcd";

/// FIPS 180-2 and GB/T 32905 examples. The self-test runs all of these.
pub const DIGESTS: &[DigestVector] = &[
    DigestVector { name: "SHA-1 abc (FIPS 180-2)", alg: HashAlg::Sha1, msg: b"abc", digest: "a9993e364706816aba3e25717850c26c9cd0d89d" },
    DigestVector {
        name: "SHA-224 abc (FIPS 180-2)",
        alg: HashAlg::Sha224,
        msg: b"abc",
        digest: "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
    },
    DigestVector {
        name: "SHA-256 abc (FIPS 180-2)",
        alg: HashAlg::Sha256,
        msg: b"abc",
        digest: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    },
    DigestVector {
        name: "SHA-384 abc (FIPS 180-2)",
        alg: HashAlg::Sha384,
        msg: b"abc",
        digest: "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
    },
    DigestVector {
        name: "SHA-512 abc (FIPS 180-2)",
        alg: HashAlg::Sha512,
        msg: b"abc",
        digest: "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    },
    DigestVector {
        name: "SM3 abc (GB/T 32905 A.1)",
        alg: HashAlg::Sm3,
        msg: b"abc",
        digest: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
    },
    DigestVector {
        name: "SM3 abcd x16 (GB/T 32905 A.2)",
        alg: HashAlg::Sm3,
        msg: SM3_ABCD16,
        digest: "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732",
    },
];

/// Further digests, for tests/kat.rs only.
pub const DIGESTS_EXTRA: &[DigestVector] = &[
    DigestVector {
        name: "SHA-1 448-bit (FIPS 180-2)",
        alg: HashAlg::Sha1,
        msg: FIPS180_448,
        digest: "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
    },
    DigestVector {
        name: "SHA-256 448-bit (FIPS 180-2)",
        alg: HashAlg::Sha256,
        msg: FIPS180_448,
        digest: "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    },
    DigestVector {
        name: "SHA-256 empty",
        alg: HashAlg::Sha256,
        msg: b"",
        digest: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    },
    DigestVector {
        name: "SM3 empty",
        alg: HashAlg::Sm3,
        msg: b"",
        digest: "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b",
    },
];

// ---------------------------------------------------------------- HMAC

pub struct HmacVector {
    pub name: &'static str,
    pub alg: HashAlg,
    pub key: &'static str,
    pub data: &'static [u8],
    pub mac: &'static str,
}

/// RFC 4231 test case 2 (key "Jefe").
pub const HMAC_SHA256_RFC4231_2: HmacVector = HmacVector {
    name: "HMAC-SHA256 (RFC 4231 case 2)",
    alg: HashAlg::Sha256,
    key: "4a656665",
    data: b"what do ya want for nothing?",
    mac: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
};

pub const HMACS: &[HmacVector] = &[
    HMAC_SHA256_RFC4231_2,
    HmacVector {
        name: "HMAC-SHA256 (RFC 4231 case 1)",
        alg: HashAlg::Sha256,
        key: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        data: b"Hi There",
        mac: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    },
    HmacVector {
        name: "HMAC-SHA384 (RFC 4231 case 2)",
        alg: HashAlg::Sha384,
        key: "4a656665",
        data: b"what do ya want for nothing?",
        mac: "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
    },
    HmacVector {
        name: "HMAC-SHA512 (RFC 4231 case 2)",
        alg: HashAlg::Sha512,
        key: "4a656665",
        data: b"what do ya want for nothing?",
        mac: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
    },
];

// ---------------------------------------------------------------- block ciphers

pub struct BlockVector {
    pub name: &'static str,
    pub cipher: Cipher,
    pub key: &'static str,
    /// IV for CBC, initial counter block for CTR, unused for ECB.
    pub iv: &'static str,
    pub pt: &'static str,
    pub ct: &'static str,
}

pub const SP800_38A_PT: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 \
                            30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";
pub const SP800_38A_K128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
pub const SP800_38A_K256: &str = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";

pub const AES128_FIPS197: BlockVector = BlockVector {
    name: "AES-128 (FIPS 197 C.1)",
    cipher: Cipher::Aes,
    key: "000102030405060708090a0b0c0d0e0f",
    iv: "",
    pt: "00112233445566778899aabbccddeeff",
    ct: "69c4e0d86a7b0430d8cdb78070b4c55a",
};

pub const AES256_FIPS197: BlockVector = BlockVector {
    name: "AES-256 (FIPS 197 C.3)",
    cipher: Cipher::Aes,
    key: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    iv: "",
    pt: "00112233445566778899aabbccddeeff",
    ct: "8ea2b7ca516745bfeafc49904b496089",
};

/// GB/T 32907-2016 appendix A.1.
pub const SM4_GBT32907: BlockVector = BlockVector {
    name: "SM4 (GB/T 32907 A.1)",
    cipher: Cipher::Sm4,
    key: "0123456789abcdeffedcba9876543210",
    iv: "",
    pt: "0123456789abcdeffedcba9876543210",
    ct: "681edf34d206965e86b3e94f536e4246",
};

/// GB/T 32907-2016 appendix A.2: the same block encrypted 1,000,000 times.
pub const SM4_GBT32907_MILLION: &str = "595298c7c6fd271f0402f804c33d3f66";

pub const ECB: &[BlockVector] = &[
    AES128_FIPS197,
    AES256_FIPS197,
    SM4_GBT32907,
    BlockVector {
        name: "ECB-AES128 (SP 800-38A F.1.1)",
        cipher: Cipher::Aes,
        key: SP800_38A_K128,
        iv: "",
        pt: SP800_38A_PT,
        ct: "3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf 43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4",
    },
    BlockVector {
        name: "ECB-AES256 (SP 800-38A F.1.5)",
        cipher: Cipher::Aes,
        key: SP800_38A_K256,
        iv: "",
        pt: SP800_38A_PT,
        ct: "f3eed1bdb5d2a03c064b5a7e3db181f8 591ccb10d410ed26dc5ba74a31362870 b6ed21b99ca6f4f9f153e7b1beafed1d 23304b7a39f9f3ff067d8d8f9e24ecc7",
    },
];

pub const CBC_AES128_SP800_38A: BlockVector = BlockVector {
    name: "CBC-AES128 (SP 800-38A F.2.1)",
    cipher: Cipher::Aes,
    key: SP800_38A_K128,
    iv: "000102030405060708090a0b0c0d0e0f",
    pt: SP800_38A_PT,
    ct: "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2 73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7",
};

pub const CBC_AES256_SP800_38A: BlockVector = BlockVector {
    name: "CBC-AES256 (SP 800-38A F.2.5)",
    cipher: Cipher::Aes,
    key: SP800_38A_K256,
    iv: "000102030405060708090a0b0c0d0e0f",
    pt: SP800_38A_PT,
    ct: "f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d 39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b",
};

pub const CBC: &[BlockVector] = &[CBC_AES128_SP800_38A, CBC_AES256_SP800_38A];

/// CTR with a 128-bit counter (the whole block increments).
pub const CTR: &[BlockVector] = &[
    BlockVector {
        name: "CTR-AES128 (SP 800-38A F.5.1)",
        cipher: Cipher::Aes,
        key: SP800_38A_K128,
        iv: "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
        pt: SP800_38A_PT,
        ct: "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff 5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee",
    },
    BlockVector {
        name: "CTR-AES256 (SP 800-38A F.5.5)",
        cipher: Cipher::Aes,
        key: SP800_38A_K256,
        iv: "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
        pt: SP800_38A_PT,
        ct: "601ec313775789a5b7a7f504bbf3d228 f443e3ca4d62b59aca84e990cacaf5c5 2b0930daa23de94ce87017ba2d84988d dfc9c58db67aada613c2dd08457941a6",
    },
];

// ---------------------------------------------------------------- GCM

pub struct GcmVector {
    pub name: &'static str,
    pub key: &'static str,
    pub iv: &'static str,
    pub aad: &'static str,
    pub pt: &'static str,
    pub ct: &'static str,
    pub tag: &'static str,
}

const MV_KEY: &str = "feffe9928665731c6d6a8f9467308308";
const MV_IV: &str = "cafebabefacedbaddecaf888";
const MV_AAD: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const MV_PT60: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";

/// McGrew-Viega test case 4: AES-128, 96-bit IV, AAD.
pub const GCM_MV4: GcmVector = GcmVector {
    name: "AES-128-GCM (McGrew-Viega test case 4)",
    key: MV_KEY,
    iv: MV_IV,
    aad: MV_AAD,
    pt: MV_PT60,
    ct: "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
    tag: "5bc94fbc3221a5db94fae95ae7121a47",
};

pub const GCM: &[GcmVector] = &[
    GcmVector {
        name: "AES-128-GCM (McGrew-Viega test case 2)",
        key: "00000000000000000000000000000000",
        iv: "000000000000000000000000",
        aad: "",
        pt: "00000000000000000000000000000000",
        ct: "0388dace60b6a392f328c2b971b2fe78",
        tag: "ab6e47d42cec13bdf53a67b21257bddf",
    },
    GcmVector {
        name: "AES-128-GCM (McGrew-Viega test case 3)",
        key: MV_KEY,
        iv: MV_IV,
        aad: "",
        pt: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
        ct: "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
        tag: "4d5c2af327cd64a62cf35abd2ba6fab4",
    },
    GCM_MV4,
    GcmVector {
        name: "AES-256-GCM (McGrew-Viega test case 16)",
        key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        iv: MV_IV,
        aad: MV_AAD,
        pt: MV_PT60,
        ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        tag: "76fc6ece0f4e1768cddf8853bb2d551b",
    },
];

// ---------------------------------------------------------------- key wrap

pub struct WrapVector {
    pub name: &'static str,
    pub kek: &'static str,
    pub key: &'static str,
    pub wrapped: &'static str,
}

/// RFC 3394 4.1: 128 bits of key data with a 128-bit KEK.
pub const KW_RFC3394_4_1: WrapVector = WrapVector {
    name: "AES-KW (RFC 3394 4.1)",
    kek: "000102030405060708090A0B0C0D0E0F",
    key: "00112233445566778899AABBCCDDEEFF",
    wrapped: "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5",
};

/// RFC 3394 section 4 vectors with 128- and 256-bit KEKs.
pub const KW: &[WrapVector] = &[
    KW_RFC3394_4_1,
    WrapVector {
        name: "AES-KW (RFC 3394 4.3)",
        kek: "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        key: "00112233445566778899AABBCCDDEEFF",
        wrapped: "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7",
    },
    WrapVector {
        name: "AES-KW (RFC 3394 4.6)",
        kek: "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        key: "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
        wrapped: "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21",
    },
];

/// RFC 3394 vectors with a 192-bit KEK (4.2, 4.4, 4.5).
pub const KW_192: &[WrapVector] = &[
    WrapVector {
        name: "AES-KW (RFC 3394 4.2, 192-bit KEK)",
        kek: "000102030405060708090A0B0C0D0E0F1011121314151617",
        key: "00112233445566778899AABBCCDDEEFF",
        wrapped: "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D",
    },
];

/// Wycheproof aes_kwp_test.json tcId 1 (128-bit KEK, 16 bytes).
pub const KWP_WYCHEPROOF_1: WrapVector = WrapVector {
    name: "AES-KWP (Wycheproof tcId 1)",
    kek: "6f67486d1e914419cb43c28509c7c1ea",
    key: "8dc0632d92ee0be4f740028410b08270",
    wrapped: "8cd63fa6788aa5edfa753fc87d645a672b14107c3b4519e7",
};

pub const KWP: &[WrapVector] = &[
    KWP_WYCHEPROOF_1,
    WrapVector {
        name: "AES-KWP (Wycheproof tcId 4, 24 bytes)",
        kek: "e0e12959109103e30ae8b5684a22e662",
        key: "dbb0f2bb2be912a20430972d9842ce3fd3b928e573e1ac8e",
        wrapped: "9e4510cc84c4bd7abab0a8a5d7f1e6ff3e6777ca2dff9be7e223652239fe57d8",
    },
    WrapVector {
        name: "AES-KWP (Wycheproof tcId 11, 1 byte)",
        kek: "1abf4b7fa2bb62a78f09ddab04625dca",
        key: "4c",
        wrapped: "09bcbab50b8dd45ad83412e2919030d3",
    },
    WrapVector {
        name: "AES-KWP (Wycheproof tcId 19, 9 bytes)",
        kek: "1abf4b7fa2bb62a78f09ddab04625dca",
        key: "8571f282b18b64ec5e",
        wrapped: "6787816804b3127d0ca4073f1dba5c4d3db1ec9c227e6556",
    },
];

/// Wycheproof aes_kwp_test.json tcId 26: a ciphertext with a modified IV/padding; must be refused.
pub const KWP_WYCHEPROOF_BAD_26: WrapVector = WrapVector {
    name: "AES-KWP modified padding (Wycheproof tcId 26)",
    kek: "4f710eb6b5e28703becfc3dc52fa8bc1",
    key: "",
    wrapped: "4cdd2962f23ec897d41d14c3f818516c055799185f459e2d",
};

/// RFC 5649 section 6 (192-bit KEK).
pub const KWP_RFC5649: &[WrapVector] = &[
    WrapVector {
        name: "AES-KWP (RFC 5649 6, 20 bytes)",
        kek: "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8",
        key: "c37b7e6492584340bed12207808941155068f738",
        wrapped: "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a",
    },
    WrapVector {
        name: "AES-KWP (RFC 5649 6, 7 bytes)",
        kek: "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8",
        key: "466f7250617369",
        wrapped: "afbeb0f07dfbf5419200f2ccb50bb24f",
    },
];

// ---------------------------------------------------------------- CMAC

pub struct CmacVector {
    pub name: &'static str,
    pub key: &'static str,
    pub msg: &'static str,
    pub mac: &'static str,
}

pub const CMAC_RFC4493_2: CmacVector = CmacVector {
    name: "AES-CMAC (RFC 4493 example 2)",
    key: SP800_38A_K128,
    msg: "6bc1bee22e409f96e93d7e117393172a",
    mac: "070a16b46b4d4144f79bdd9dd04a287c",
};

pub const CMAC: &[CmacVector] = &[
    CmacVector { name: "AES-CMAC (RFC 4493 example 1)", key: SP800_38A_K128, msg: "", mac: "bb1d6929e95937287fa37d129b756746" },
    CMAC_RFC4493_2,
    CmacVector {
        name: "AES-CMAC (RFC 4493 example 3)",
        key: SP800_38A_K128,
        msg: "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 30c81c46a35ce411",
        mac: "dfa66747de9ae63030ca32611497c827",
    },
    CmacVector { name: "AES-CMAC (RFC 4493 example 4)", key: SP800_38A_K128, msg: SP800_38A_PT, mac: "51f0bebf7e3b9d92fc49741779363cfe" },
];

// ---------------------------------------------------------------- KDFs

pub struct Pbkdf2Vector {
    pub name: &'static str,
    pub password: &'static [u8],
    pub salt: &'static [u8],
    pub iterations: u32,
    pub dk: &'static str,
}

/// RFC 7914 section 11, first PBKDF2-HMAC-SHA256 vector.
pub const PBKDF2_RFC7914_1: Pbkdf2Vector = Pbkdf2Vector {
    name: "PBKDF2-HMAC-SHA256 (RFC 7914 11, c=1)",
    password: b"passwd",
    salt: b"salt",
    iterations: 1,
    dk: "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783",
};

/// RFC 7914 section 11, second vector (80,000 iterations; tests only).
pub const PBKDF2_RFC7914_2: Pbkdf2Vector = Pbkdf2Vector {
    name: "PBKDF2-HMAC-SHA256 (RFC 7914 11, c=80000)",
    password: b"Password",
    salt: b"NaCl",
    iterations: 80000,
    dk: "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d",
};

pub struct HkdfVector {
    pub name: &'static str,
    pub ikm: &'static str,
    pub salt: &'static str,
    pub info: &'static str,
    pub okm: &'static str,
}

pub const HKDF_RFC5869_1: HkdfVector = HkdfVector {
    name: "HKDF-SHA256 (RFC 5869 A.1)",
    ikm: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
    salt: "000102030405060708090a0b0c",
    info: "f0f1f2f3f4f5f6f7f8f9",
    okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
};

pub const HKDF_RFC5869_3: HkdfVector = HkdfVector {
    name: "HKDF-SHA256 (RFC 5869 A.3, no salt or info)",
    ikm: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
    salt: "",
    info: "",
    okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
};

// ---------------------------------------------------------------- ECDSA / ECDH P-256

/// RFC 6979 A.2.5: the P-256 key.
pub const P256_RFC6979_D: &str = "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721";
pub const P256_RFC6979_Q: &str = "04 60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6 \
                                  7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299";
/// RFC 6979 A.2.5, SHA-256, message "sample": r || s.
pub const P256_RFC6979_SAMPLE_SIG: &str = "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716 \
                                           F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8";
/// RFC 6979 A.2.5, SHA-256, message "test": r || s.
pub const P256_RFC6979_TEST_SIG: &str = "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367 \
                                         019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083";

/// NIST CAVS ECC CDH primitive test vectors, P-256 COUNT = 0.
pub const P256_CDH_D: &str = "7d7dc5f71eb29ddaf80d6214632eeae03d9058af1fb6d22ed80badb62bc1a534";
pub const P256_CDH_PEER: &str = "04 700c48f77f56584c5cc632ca65640db91b6bacce3a4df6b42ce7cc838833d287 \
                                 db71e509e3fd9b060ddb20ba5c51dcc5948d46fbf640dfe0441782cab85fa4ac";
pub const P256_CDH_Z: &str = "46fc62106420ff012e54a434fbdd2d25ccc5852060561e68040dd7778997bd7b";

// ---------------------------------------------------------------- RSA-2048

/// PKCS#1 RSAPrivateKey DER (OpenSSL-generated, see the module header).
pub const RSA2048_PKCS1_DER: &str = include_str!("vectors/rsa2048_pkcs1_der.hex");
pub const RSA_MSG: &[u8] = b"abc";
/// `openssl dgst -sha256 -sign` over "abc" (PKCS#1 v1.5).
pub const RSA2048_PKCS1V15_SHA256_SIG: &str = include_str!("vectors/rsa2048_pkcs1v15_sha256_abc_sig.hex");
/// `openssl dgst -sha256 -sign -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32` over "abc".
pub const RSA2048_PSS_SHA256_SIG: &str = include_str!("vectors/rsa2048_pss_sha256_abc_sig.hex");
/// `openssl pkeyutl -encrypt` OAEP (SHA-256, MGF1-SHA-256, empty label) of [`RSA_OAEP_PT`].
pub const RSA2048_OAEP_SHA256_CT: &str = include_str!("vectors/rsa2048_oaep_sha256_ct.hex");
pub const RSA_OAEP_PT: &[u8] = b"teehsm OAEP known answer";
/// `openssl dgst -sha1 -sign` / `-sha224 -sign` (PKCS#1 v1.5) of [`RSA_MSG`] with the same key.
pub const RSA2048_PKCS1V15_SHA1_SIG: &str = include_str!("vectors/rsa2048_pkcs1v15_sha1_abc_sig.hex");
pub const RSA2048_PKCS1V15_SHA224_SIG: &str = include_str!("vectors/rsa2048_pkcs1v15_sha224_abc_sig.hex");
/// `openssl dgst -sha1 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:20 -sigopt rsa_mgf1_md:sha1 -sign`.
pub const RSA2048_PSS_SHA1_S20_SIG: &str = include_str!("vectors/rsa2048_pss_sha1_s20_abc_sig.hex");
/// `openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:0 -sigopt rsa_mgf1_md:sha1 -sign`.
pub const RSA2048_PSS_SHA256_MGF1SHA1_S0_SIG: &str = include_str!("vectors/rsa2048_pss_sha256_mgf1sha1_s0_abc_sig.hex");
/// `openssl pkeyutl -encrypt -pkeyopt rsa_padding_mode:pkcs1` of [`RSA_ENC_PT`].
pub const RSA2048_PKCS1V15_CT: &str = include_str!("vectors/rsa2048_pkcs1v15_ct.hex");
/// `openssl pkeyutl -encrypt` OAEP (SHA-224, MGF1-SHA-224, label [`RSA_OAEP_LABEL`]) of [`RSA_ENC_PT`].
pub const RSA2048_OAEP_SHA224_LABEL_CT: &str = include_str!("vectors/rsa2048_oaep_sha224_label_ct.hex");
pub const RSA_ENC_PT: &[u8] = b"teehsm PKCS#1 v1.5 plaintext";
pub const RSA_OAEP_LABEL: &[u8] = b"teehsm label";

// ---------------------------------------------------------------- SM2 (recommended curve)

/// GB/T 32918.5-2017 appendix A/C key pair.
pub const SM2_D: &str = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
pub const SM2_Q: &str = "04 09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020 \
                         CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13";
/// Appendix A: signature of "message digest" with ID "1234567812345678".
pub const SM2_SIGN_MSG: &[u8] = b"message digest";
pub const SM2_SIGN_Z: &str = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3";
pub const SM2_SIGN_E: &str = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640";
pub const SM2_SIGN_K: &str = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21";
pub const SM2_SIGN_RS: &str = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3 \
                               B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA";
/// Appendix C: encryption of "encryption standard" with the same k, C1 || C3 || C2.
pub const SM2_ENC_PT: &[u8] = b"encryption standard";
pub const SM2_ENC_C1C3C2: &str = "04 04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73 \
                                  E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0 \
                                  59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766 \
                                  21886CA989CA9C7D58087307CA93092D651EFA";
/// The same ciphertext as a GM/T 0009 DER SM2Cipher.
pub const SM2_ENC_DER: &str = "307c022004EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73022100E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0042059983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766041321886CA989CA9C7D58087307CA93092D651EFA";

// ---------------------------------------------------------------- ML-KEM (ACVP)

pub struct MlKemDecapVector {
    pub name: &'static str,
    pub param: MlKemParam,
    pub dk: &'static str,
    pub c: &'static str,
    pub k: &'static str,
}

pub const MLKEM768_ACVP_26: MlKemDecapVector = MlKemDecapVector {
    name: "ML-KEM-768 decapsulation (ACVP tcId 26)",
    param: MlKemParam::MlKem768,
    dk: include_str!("vectors/mlkem768_dk.hex"),
    c: include_str!("vectors/mlkem768_c.hex"),
    k: "1C3E20C191CB5CC748C4A1162827413ECC0BD4380A2C486E87A7A0246A59C0E8",
};

pub const MLKEM_DECAPS: &[MlKemDecapVector] = &[
    MlKemDecapVector {
        name: "ML-KEM-512 decapsulation (ACVP tcId 1)",
        param: MlKemParam::MlKem512,
        dk: include_str!("vectors/mlkem512_dk.hex"),
        c: include_str!("vectors/mlkem512_c.hex"),
        k: "738C8C3CC91F7606BB04C318DAA0D29406C492334C9B3CAA372C68C4375FE19D",
    },
    MLKEM768_ACVP_26,
    MlKemDecapVector {
        name: "ML-KEM-1024 decapsulation (ACVP tcId 51)",
        param: MlKemParam::MlKem1024,
        dk: include_str!("vectors/mlkem1024_dk.hex"),
        c: include_str!("vectors/mlkem1024_c.hex"),
        k: "1FAFD894BCB9D78EF41969AE4EBB55DE27599CDBA26A3E211B9B6096B77282E6",
    },
];

// ---------------------------------------------------------------- ML-DSA

pub struct MlDsaKeyGenVector {
    pub name: &'static str,
    pub param: MlDsaParam,
    pub seed: &'static str,
    pub pk: &'static str,
}

pub const MLDSA65_ACVP_KEYGEN_26: MlDsaKeyGenVector = MlDsaKeyGenVector {
    name: "ML-DSA-65 keyGen (ACVP tcId 26)",
    param: MlDsaParam::MlDsa65,
    seed: "AC37688A229C819F1F5BA5A2ED98E3D0AD98D1B5DB233FF8E8122040BCBA609F",
    pk: include_str!("vectors/mldsa65_keygen_pk.hex"),
};

pub const MLDSA_KEYGEN: &[MlDsaKeyGenVector] = &[
    MlDsaKeyGenVector {
        name: "ML-DSA-44 keyGen (ACVP tcId 1)",
        param: MlDsaParam::MlDsa44,
        seed: "079EAB79AB14747CA01582B59F2624191B0C59FA219CDEB79F66669DAF0E695E",
        pk: include_str!("vectors/mldsa44_keygen_pk.hex"),
    },
    MLDSA65_ACVP_KEYGEN_26,
    MlDsaKeyGenVector {
        name: "ML-DSA-87 keyGen (ACVP tcId 51)",
        param: MlDsaParam::MlDsa87,
        seed: "631AFC2A36A57E1D090DADC2791D486D72C69A9AABF97990C573214846FE5B64",
        pk: include_str!("vectors/mldsa87_keygen_pk.hex"),
    },
];

pub struct MlDsaVerifyVector {
    pub name: &'static str,
    pub param: MlDsaParam,
    pub pk: &'static str,
    pub msg: &'static [u8],
    pub sig: &'static str,
}

/// Wycheproof mldsa_65_verify_test.json tcId 1 ("baseline"): pure ML-DSA, empty
/// context, a valid signature over "Hello world". (The ACVP sigVer files held here
/// predate the external/pure interface, so Wycheproof supplies the external-interface KAT.)
pub const MLDSA65_WYCHEPROOF_VERIFY_1: MlDsaVerifyVector = MlDsaVerifyVector {
    name: "ML-DSA-65 verify (Wycheproof tcId 1)",
    param: MlDsaParam::MlDsa65,
    pk: include_str!("vectors/mldsa65_wycheproof_pk.hex"),
    msg: b"Hello world",
    sig: include_str!("vectors/mldsa65_wycheproof_sig.hex"),
};

// ---------------------------------------------------------------- Ed25519 (RFC 8032 section 7)

pub struct EdDsaVector {
    pub name: &'static str,
    pub variant: crate::eddsa::Ed25519Variant,
    pub secret: &'static str,
    pub public: &'static str,
    pub msg: &'static str,
    pub context: &'static str,
    pub sig: &'static str,
}

/// RFC 8032 7.1 TEST 2 (one-byte message): the self-test vector.
pub const ED25519_RFC8032_TEST2: EdDsaVector = EdDsaVector {
    name: "Ed25519 (RFC 8032 7.1 TEST 2)",
    variant: crate::eddsa::Ed25519Variant::Pure,
    secret: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    public: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    msg: "72",
    context: "",
    sig: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
};

pub const EDDSA: &[EdDsaVector] = &[
    EdDsaVector {
        name: "Ed25519 (RFC 8032 7.1 TEST 1)",
        variant: crate::eddsa::Ed25519Variant::Pure,
        secret: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        msg: "",
        context: "",
        sig: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    },
    ED25519_RFC8032_TEST2,
    EdDsaVector {
        name: "Ed25519ctx (RFC 8032 7.2, context \"foo\")",
        variant: crate::eddsa::Ed25519Variant::Ctx,
        secret: "0305334e381af78f141cb666f6199f57bc3495335a256a95bd2a55bf546663f6",
        public: "dfc9425e4f968f7f0c29f0259cf5f9aed6851c2bb4ad8bfb860cfee0ab248292",
        msg: "f726936d19c800494e3fdaff20b276a8",
        context: "666f6f",
        sig: "55a4cc2f70a54e04288c5f4cd1e45a7bb520b36292911876cada7323198dd87a8b36950b95130022907a7fb7c4e9b2d5f6cca685a587b4b21f4b888e4e7edb0d",
    },
    EdDsaVector {
        name: "Ed25519ph (RFC 8032 7.3, message \"abc\")",
        variant: crate::eddsa::Ed25519Variant::Ph,
        secret: "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        public: "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        msg: "616263",
        context: "",
        sig: "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406",
    },
];

/// Wycheproof `testvectors_v1/mldsa_44_sign_seed_test.json` (C2SP/wycheproof commit
/// 022eeaff), first group (private seed 2a..2a), tcId 1 "baseline": the deterministic
/// ML-DSA-44 signature of "Hello world" with the empty context.
pub struct MlDsaSignVector {
    pub name: &'static str,
    pub param: MlDsaParam,
    pub seed: &'static str,
    pub msg: &'static [u8],
    pub ctx: &'static [u8],
    pub sig: &'static str,
}

pub const MLDSA44_WYCHEPROOF_SIGN_SEED_1: MlDsaSignVector = MlDsaSignVector {
    name: "ML-DSA-44 deterministic sign (Wycheproof sign_seed tcId 1)",
    param: MlDsaParam::MlDsa44,
    seed: "2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a",
    msg: b"Hello world",
    ctx: b"",
    sig: include_str!("vectors/mldsa44_wycheproof_sign_seed_1_sig.hex"),
};

// ---------------------------------------------------------------- X25519 and the ECDH KDFs

/// RFC 7748 section 6.1: Alice's and Bob's keys and their shared secret.
pub const X25519_RFC7748_ALICE_PRIVATE: &str = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
pub const X25519_RFC7748_ALICE_PUBLIC: &str = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
pub const X25519_RFC7748_BOB_PRIVATE: &str = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
pub const X25519_RFC7748_BOB_PUBLIC: &str = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
pub const X25519_RFC7748_SHARED: &str = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

/// An OpenPGP (RFC 6637) X25519 ECDH key derivation, the vector the `cryptoki`
/// crate's `derive_key_sp800` test uses (cryptoki 0.12.1 tests/basic.rs):
/// X25519(private, ephemeral) then the SP 800-56C one-step KDF with SHA-256 and
/// the OpenPGP "Param" as OtherInfo, 16 bytes. (OpenSSL 3.0.19 `pkeyutl -derive` +
/// `kdf SSKDF` give the same bytes.)
pub const OPENPGP_X25519_PRIVATE: &str = "F00670C5F139E7E6C2511EA04FF507AFBBE237CE3C71A89CA59A1C5CF8856562";
pub const OPENPGP_X25519_EPHEMERAL: &str = "533B3F09E53B3DEED661A13F7A7D9694AB71CE156C728E00DEE87A1EE3A14C4A";
pub const OPENPGP_KDF_PARAM: &str = "0A2B0601040197550105011203010807416E6F6E796D6F75732053656E646572202020205633A4C5AE4305BC0FE2ABB699A8EE54632790A0";
pub const OPENPGP_DERIVED: &str = "AF8CE51D0139A6D60831A9BABAB20186";

// ---------------------------------------------------------------- SP 800-108 KBKDF

/// Counter mode, AES-128-CMAC, [i]32 || "teehsm label" || 00 || "teehsm context" || [L]32,
/// 32 bytes: `openssl kdf -keylen 32 -kdfopt mac:CMAC -kdfopt cipher:AES-128-CBC
/// -kdfopt hexkey:000102..0f -kdfopt hexsalt:<label> -kdfopt hexinfo:<context> KBKDF` (OpenSSL 3.0.19).
pub const KBKDF_CMAC_KEY: &str = "000102030405060708090a0b0c0d0e0f";
pub const KBKDF_LABEL: &[u8] = b"teehsm label";
pub const KBKDF_CONTEXT: &[u8] = b"teehsm context";
pub const KBKDF_CMAC_COUNTER_32: &str = "E5FB4C0F0642429B0CBC772F9CF26AF9AA394C23FF242CD43F69DD995241A93F";
