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
//! * RFC 8032 section 7.4 (all nine Ed448 vectors) and 7.5 (both Ed448ph vectors).

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
    DigestVector { name: "SHA-1 448-bit (FIPS 180-2)", alg: HashAlg::Sha1, msg: FIPS180_448, digest: "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
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
    DigestVector { name: "SM3 empty", alg: HashAlg::Sm3, msg: b"", digest: "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b" },
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
pub const KW_192: &[WrapVector] = &[WrapVector {
    name: "AES-KW (RFC 3394 4.2, 192-bit KEK)",
    kek: "000102030405060708090A0B0C0D0E0F1011121314151617",
    key: "00112233445566778899AABBCCDDEEFF",
    wrapped: "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D",
}];

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

// ---------------------------------------------------------------- Ed448 (RFC 8032 sections 7.4 and 7.5)

pub struct Ed448Vector {
    pub name: &'static str,
    pub variant: crate::eddsa::Ed448Variant,
    pub secret: &'static str,
    pub public: &'static str,
    pub msg: &'static str,
    pub context: &'static str,
    pub sig: &'static str,
}

/// Every Ed448 vector of RFC 8032 7.4 and both Ed448ph vectors of 7.5. The
/// plain Ed448 ones with an empty context were also checked against OpenSSL 3
/// (Python `cryptography`) when they were transcribed.
pub const ED448: &[Ed448Vector] = &[
    Ed448Vector {
        name: "Ed448 (RFC 8032 7.4, blank)",
        variant: crate::eddsa::Ed448Variant::Pure,
        secret: "6c82a562cb808d10d632be89c8513ebf6c929f34ddfa8c9f63c9960ef6e348a3528c8a3fcc2f044e39a3fc5b94492f8f032e7549a20098f95b",
        public: "5fd7449b59b461fd2ce787ec616ad46a1da1342485a70e1f8a0ea75d80e96778edf124769b46c7061bd6783df1e50f6cd1fa1abeafe8256180",
        msg: "",
        context: "",
        sig: concat!(
            "533a37f6bbe457251f023c0d88f976ae2dfb504a843e34d2074fd823d41a591f2b233f034f628281f2fd7a22ddd47d7828c59bd0a21bfd3980ff0d2028d4b18a",
            "9df63e006c5d1c2d345b925d8dc00b4104852db99ac5c7cdda8530a113a0f4dbb61149f05a7363268c71d95808ff2e652600",
        ),
    },
    Ed448Vector {
        name: "Ed448 (RFC 8032 7.4, 1 octet)",
        variant: crate::eddsa::Ed448Variant::Pure,
        secret: "c4eab05d357007c632f3dbb48489924d552b08fe0c353a0d4a1f00acda2c463afbea67c5e8d2877c5e3bc397a659949ef8021e954e0a12274e",
        public: "43ba28f430cdff456ae531545f7ecd0ac834a55d9358c0372bfa0c6c6798c0866aea01eb00742802b8438ea4cb82169c235160627b4c3a9480",
        msg: "03",
        context: "",
        sig: concat!(
            "26b8f91727bd62897af15e41eb43c377efb9c610d48f2335cb0bd0087810f4352541b143c4b981b7e18f62de8ccdf633fc1bf037ab7cd779805e0dbcc0aae1cb",
            "cee1afb2e027df36bc04dcecbf154336c19f0af7e0a6472905e799f1953d2a0ff3348ab21aa4adafd1d234441cf807c03a00",
        ),
    },
    Ed448Vector {
        name: "Ed448 (RFC 8032 7.4, 1 octet, context \"foo\")",
        variant: crate::eddsa::Ed448Variant::Pure,
        secret: "c4eab05d357007c632f3dbb48489924d552b08fe0c353a0d4a1f00acda2c463afbea67c5e8d2877c5e3bc397a659949ef8021e954e0a12274e",
        public: "43ba28f430cdff456ae531545f7ecd0ac834a55d9358c0372bfa0c6c6798c0866aea01eb00742802b8438ea4cb82169c235160627b4c3a9480",
        msg: "03",
        context: "666f6f",
        sig: concat!(
            "d4f8f6131770dd46f40867d6fd5d5055de43541f8c5e35abbcd001b32a89f7d2151f7647f11d8ca2ae279fb842d607217fce6e042f6815ea000c85741de5c8da",
            "1144a6a1aba7f96de42505d7a7298524fda538fccbbb754f578c1cad10d54d0d5428407e85dcbc98a49155c13764e66c3c00",
        ),
    },
    Ed448Vector {
        name: "Ed448 (RFC 8032 7.4, 11 octets)",
        variant: crate::eddsa::Ed448Variant::Pure,
        secret: "cd23d24f714274e744343237b93290f511f6425f98e64459ff203e8985083ffdf60500553abc0e05cd02184bdb89c4ccd67e187951267eb328",
        public: "dcea9e78f35a1bf3499a831b10b86c90aac01cd84b67a0109b55a36e9328b1e365fce161d71ce7131a543ea4cb5f7e9f1d8b00696447001400",
        msg: "0c3e544074ec63b0265e0c",
        context: "",
        sig: concat!(
            "1f0a8888ce25e8d458a21130879b840a9089d999aaba039eaf3e3afa090a09d389dba82c4ff2ae8ac5cdfb7c55e94d5d961a29fe0109941e00b8dbdeea6d3b05",
            "1068df7254c0cdc129cbe62db2dc957dbb47b51fd3f213fb8698f064774250a5028961c9bf8ffd973fe5d5c206492b140e00",
        ),
    },
    Ed448Vector {
        name: "Ed448 (RFC 8032 7.4, 12 octets)",
        variant: crate::eddsa::Ed448Variant::Pure,
        secret: "258cdd4ada32ed9c9ff54e63756ae582fb8fab2ac721f2c8e676a72768513d939f63dddb55609133f29adf86ec9929dccb52c1c5fd2ff7e21b",
        public: "3ba16da0c6f2cc1f30187740756f5e798d6bc5fc015d7c63cc9510ee3fd44adc24d8e968b6e46e6f94d19b945361726bd75e149ef09817f580",
        msg: "64a65f3cdedcdd66811e2915",
        context: "",
        sig: concat!(
            "7eeeab7c4e50fb799b418ee5e3197ff6bf15d43a14c34389b59dd1a7b1b85b4ae90438aca634bea45e3a2695f1270f07fdcdf7c62b8efeaf00b45c2c96ba457e",
            "b1a8bf075a3db28e5c24f6b923ed4ad747c3c9e03c7079efb87cb110d3a99861e72003cbae6d6b8b827e4e6c143064ff3c00",
        ),
    },
    Ed448Vector {
        name: "Ed448 (RFC 8032 7.4, 13 octets)",
        variant: crate::eddsa::Ed448Variant::Pure,
        secret: "7ef4e84544236752fbb56b8f31a23a10e42814f5f55ca037cdcc11c64c9a3b2949c1bb60700314611732a6c2fea98eebc0266a11a93970100e",
        public: "b3da079b0aa493a5772029f0467baebee5a8112d9d3a22532361da294f7bb3815c5dc59e176b4d9f381ca0938e13c6c07b174be65dfa578e80",
        msg: "64a65f3cdedcdd66811e2915e7",
        context: "",
        sig: concat!(
            "6a12066f55331b6c22acd5d5bfc5d71228fbda80ae8dec26bdd306743c5027cb4890810c162c027468675ecf645a83176c0d7323a2ccde2d80efe5a1268e8aca",
            "1d6fbc194d3f77c44986eb4ab4177919ad8bec33eb47bbb5fc6e28196fd1caf56b4e7e0ba5519234d047155ac727a1053100",
        ),
    },
    Ed448Vector {
        name: "Ed448 (RFC 8032 7.4, 64 octets)",
        variant: crate::eddsa::Ed448Variant::Pure,
        secret: "d65df341ad13e008567688baedda8e9dcdc17dc024974ea5b4227b6530e339bff21f99e68ca6968f3cca6dfe0fb9f4fab4fa135d5542ea3f01",
        public: "df9705f58edbab802c7f8363cfe5560ab1c6132c20a9f1dd163483a26f8ac53a39d6808bf4a1dfbd261b099bb03b3fb50906cb28bd8a081f00",
        msg: "bd0f6a3747cd561bdddf4640a332461a4a30a12a434cd0bf40d766d9c6d458e5512204a30c17d1f50b5079631f64eb3112182da3005835461113718d1a5ef944",
        context: "",
        sig: concat!(
            "554bc2480860b49eab8532d2a533b7d578ef473eeb58c98bb2d0e1ce488a98b18dfde9b9b90775e67f47d4a1c3482058efc9f40d2ca033a0801b63d45b3b722e",
            "f552bad3b4ccb667da350192b61c508cf7b6b5adadc2c8d9a446ef003fb05cba5f30e88e36ec2703b349ca229c2670833900",
        ),
    },
    Ed448Vector {
        name: "Ed448 (RFC 8032 7.4, 256 octets)",
        variant: crate::eddsa::Ed448Variant::Pure,
        secret: "2ec5fe3c17045abdb136a5e6a913e32ab75ae68b53d2fc149b77e504132d37569b7e766ba74a19bd6162343a21c8590aa9cebca9014c636df5",
        public: "79756f014dcfe2079f5dd9e718be4171e2ef2486a08f25186f6bff43a9936b9bfe12402b08ae65798a3d81e22e9ec80e7690862ef3d4ed3a00",
        msg: concat!(
            "15777532b0bdd0d1389f636c5f6b9ba734c90af572877e2d272dd078aa1e567cfa80e12928bb542330e8409f3174504107ecd5efac61ae7504dabe2a602ede89",
            "e5cca6257a7c77e27a702b3ae39fc769fc54f2395ae6a1178cab4738e543072fc1c177fe71e92e25bf03e4ecb72f47b64d0465aaea4c7fad372536c8ba516a60",
            "39c3c2a39f0e4d832be432dfa9a706a6e5c7e19f397964ca4258002f7c0541b590316dbc5622b6b2a6fe7a4abffd96105eca76ea7b98816af0748c10df048ce0",
            "12d901015a51f189f3888145c03650aa23ce894c3bd889e030d565071c59f409a9981b51878fd6fc110624dcbcde0bf7a69ccce38fabdf86f3bef6044819de11",
        ),
        context: "",
        sig: concat!(
            "c650ddbb0601c19ca11439e1640dd931f43c518ea5bea70d3dcde5f4191fe53f00cf966546b72bcc7d58be2b9badef28743954e3a44a23f880e8d4f1cfce2d7a",
            "61452d26da05896f0a50da66a239a8a188b6d825b3305ad77b73fbac0836ecc60987fd08527c1a8e80d5823e65cafe2a3d00",
        ),
    },
    Ed448Vector {
        name: "Ed448 (RFC 8032 7.4, 1023 octets)",
        variant: crate::eddsa::Ed448Variant::Pure,
        secret: "872d093780f5d3730df7c212664b37b8a0f24f56810daa8382cd4fa3f77634ec44dc54f1c2ed9bea86fafb7632d8be199ea165f5ad55dd9ce8",
        public: "a81b2e8a70a5ac94ffdbcc9badfc3feb0801f258578bb114ad44ece1ec0e799da08effb81c5d685c0c56f64eecaef8cdf11cc38737838cf400",
        msg: concat!(
            "6ddf802e1aae4986935f7f981ba3f0351d6273c0a0c22c9c0e8339168e675412a3debfaf435ed651558007db4384b650fcc07e3b586a27a4f7a00ac8a6fec2cd",
            "86ae4bf1570c41e6a40c931db27b2faa15a8cedd52cff7362c4e6e23daec0fbc3a79b6806e316efcc7b68119bf46bc76a26067a53f296dafdbdc11c77f7777e9",
            "72660cf4b6a9b369a6665f02e0cc9b6edfad136b4fabe723d2813db3136cfde9b6d044322fee2947952e031b73ab5c603349b307bdc27bc6cb8b8bbd7bd32321",
            "9b8033a581b59eadebb09b3c4f3d2277d4f0343624acc817804728b25ab797172b4c5c21a22f9c7839d64300232eb66e53f31c723fa37fe387c7d3e50bdf9813",
            "a30e5bb12cf4cd930c40cfb4e1fc622592a49588794494d56d24ea4b40c89fc0596cc9ebb961c8cb10adde976a5d602b1c3f85b9b9a001ed3c6a4d3b1437f520",
            "96cd1956d042a597d561a596ecd3d1735a8d570ea0ec27225a2c4aaff26306d1526c1af3ca6d9cf5a2c98f47e1c46db9a33234cfd4d81f2c98538a09ebe76998",
            "d0d8fd25997c7d255c6d66ece6fa56f11144950f027795e653008f4bd7ca2dee85d8e90f3dc315130ce2a00375a318c7c3d97be2c8ce5b6db41a6254ff264fa6",
            "155baee3b0773c0f497c573f19bb4f4240281f0b1f4f7be857a4e59d416c06b4c50fa09e1810ddc6b1467baeac5a3668d11b6ecaa901440016f389f80acc4db9",
            "77025e7f5924388c7e340a732e554440e76570f8dd71b7d640b3450d1fd5f0410a18f9a3494f707c717b79b4bf75c98400b096b21653b5d217cf3565c9597456",
            "f70703497a078763829bc01bb1cbc8fa04eadc9a6e3f6699587a9e75c94e5bab0036e0b2e711392cff0047d0d6b05bd2a588bc109718954259f1d86678a579a3",
            "120f19cfb2963f177aeb70f2d4844826262e51b80271272068ef5b3856fa8535aa2a88b2d41f2a0e2fda7624c2850272ac4a2f561f8f2f7a318bfd5caf969614",
            "9e4ac824ad3460538fdc25421beec2cc6818162d06bbed0c40a387192349db67a118bada6cd5ab0140ee273204f628aad1c135f770279a651e24d8c14d75a605",
            "9d76b96a6fd857def5e0b354b27ab937a5815d16b5fae407ff18222c6d1ed263be68c95f32d908bd895cd76207ae726487567f9a67dad79abec316f683b17f2d",
            "02bf07e0ac8b5bc6162cf94697b3c27cd1fea49b27f23ba2901871962506520c392da8b6ad0d99f7013fbc06c2c17a569500c8a7696481c1cd33e9b14e40b82e",
            "79a5f5db82571ba97bae3ad3e0479515bb0e2b0f3bfcd1fd33034efc6245eddd7ee2086ddae2600d8ca73e214e8c2b0bdb2b047c6a464a562ed77b73d2d841c4",
            "b34973551257713b753632efba348169abc90a68f42611a40126d7cb21b58695568186f7e569d2ff0f9e745d0487dd2eb997cafc5abf9dd102e62ff66cba87",
        ),
        context: "",
        sig: concat!(
            "e301345a41a39a4d72fff8df69c98075a0cc082b802fc9b2b6bc503f926b65bddf7f4c8f1cb49f6396afc8a70abe6d8aef0db478d4c6b2970076c6a0484fe76d",
            "76b3a97625d79f1ce240e7c576750d295528286f719b413de9ada3e8eb78ed573603ce30d8bb761785dc30dbc320869e1a00",
        ),
    },
    Ed448Vector {
        name: "Ed448ph (RFC 8032 7.5, TEST abc)",
        variant: crate::eddsa::Ed448Variant::Ph,
        secret: "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42ef7822e0d5104127dc05d6dbefde69e3ab2cec7c867c6e2c49",
        public: "259b71c19f83ef77a7abd26524cbdb3161b590a48f7d17de3ee0ba9c52beb743c09428a131d6b1b57303d90d8132c276d5ed3d5d01c0f53880",
        msg: "616263",
        context: "",
        sig: concat!(
            "822f6901f7480f3d5f562c592994d9693602875614483256505600bbc281ae381f54d6bce2ea911574932f52a4e6cadd78769375ec3ffd1b801a0d9b3f4030cd",
            "433964b6457ea39476511214f97469b57dd32dbc560a9a94d00bff07620464a3ad203df7dc7ce360c3cd3696d9d9fab90f00",
        ),
    },
    Ed448Vector {
        name: "Ed448ph (RFC 8032 7.5, TEST abc, context \"foo\")",
        variant: crate::eddsa::Ed448Variant::Ph,
        secret: "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42ef7822e0d5104127dc05d6dbefde69e3ab2cec7c867c6e2c49",
        public: "259b71c19f83ef77a7abd26524cbdb3161b590a48f7d17de3ee0ba9c52beb743c09428a131d6b1b57303d90d8132c276d5ed3d5d01c0f53880",
        msg: "616263",
        context: "666f6f",
        sig: concat!(
            "c32299d46ec8ff02b54540982814dce9a05812f81962b649d528095916a2aa481065b1580423ef927ecf0af5888f90da0f6a9a85ad5dc3f280d91224ba9911a3",
            "653d00e484e2ce232521481c8658df304bb7745a73514cdb9bf3e15784ab71284f8d0704a608c54a6b62d97beb511d132100",
        ),
    },
];

/// The start-up self-test vector: RFC 8032 7.4 "1 octet" with context "foo".
pub const ED448_SELFTEST: &Ed448Vector = &ED448[2];
/// The start-up self-test vector for Ed448ph: RFC 8032 7.5 TEST abc.
pub const ED448PH_SELFTEST: &Ed448Vector = &ED448[9];

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
pub const OPENPGP_KDF_PARAM: &str =
    "0A2B0601040197550105011203010807416E6F6E796D6F75732053656E646572202020205633A4C5AE4305BC0FE2ABB699A8EE54632790A0";
pub const OPENPGP_DERIVED: &str = "AF8CE51D0139A6D60831A9BABAB20186";

// ---------------------------------------------------------------- SP 800-108 KBKDF

/// Counter mode, AES-128-CMAC, [i]32 || "teehsm label" || 00 || "teehsm context" || [L]32,
/// 32 bytes: `openssl kdf -keylen 32 -kdfopt mac:CMAC -kdfopt cipher:AES-128-CBC
/// -kdfopt hexkey:000102..0f -kdfopt hexsalt:<label> -kdfopt hexinfo:<context> KBKDF` (OpenSSL 3.0.19).
pub const KBKDF_CMAC_KEY: &str = "000102030405060708090a0b0c0d0e0f";
pub const KBKDF_LABEL: &[u8] = b"teehsm label";
pub const KBKDF_CONTEXT: &[u8] = b"teehsm context";
pub const KBKDF_CMAC_COUNTER_32: &str = "E5FB4C0F0642429B0CBC772F9CF26AF9AA394C23FF242CD43F69DD995241A93F";
