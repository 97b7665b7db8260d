//! PKCS#11 constants used on the TA protocol (values from PKCS#11 3.2), plus
//! teehsm's vendor-defined SM2/SM3/SM4 values (the Thales Luna numbering where
//! it is published, see docs/mechanisms.md).
#![allow(missing_docs)]

// Object classes
pub const CKO_DATA: u64 = 0;
pub const CKO_CERTIFICATE: u64 = 1;
pub const CKO_PUBLIC_KEY: u64 = 2;
pub const CKO_PRIVATE_KEY: u64 = 3;
pub const CKO_SECRET_KEY: u64 = 4;

// Key types
pub const CKK_RSA: u64 = 0x0;
pub const CKK_EC: u64 = 0x3;
pub const CKK_GENERIC_SECRET: u64 = 0x10;
pub const CKK_AES: u64 = 0x1f;
pub const CKK_SHA256_HMAC: u64 = 0x2b;
pub const CKK_SHA_1_HMAC: u64 = 0x28;
pub const CKK_SHA384_HMAC: u64 = 0x2c;
pub const CKK_SHA512_HMAC: u64 = 0x2d;
pub const CKK_SHA224_HMAC: u64 = 0x2e;
pub const CKK_EC_EDWARDS: u64 = 0x40;
pub const CKK_EC_MONTGOMERY: u64 = 0x41;
pub const CKK_ML_KEM: u64 = 0x49;
pub const CKK_ML_DSA: u64 = 0x4a;
pub const CKK_VENDOR_DEFINED: u64 = 0x8000_0000;
pub const CKK_SM2: u64 = CKK_VENDOR_DEFINED + 0xB01;
pub const CKK_SM4: u64 = CKK_VENDOR_DEFINED + 0xB02;

// Certificate types
pub const CKC_X_509: u64 = 0;

// Attributes
pub const CKA_CLASS: u64 = 0x0;
pub const CKA_TOKEN: u64 = 0x1;
pub const CKA_PRIVATE: u64 = 0x2;
pub const CKA_LABEL: u64 = 0x3;
pub const CKA_UNIQUE_ID: u64 = 0x4;
pub const CKA_APPLICATION: u64 = 0x10;
pub const CKA_VALUE: u64 = 0x11;
pub const CKA_OBJECT_ID: u64 = 0x12;
pub const CKA_CERTIFICATE_TYPE: u64 = 0x80;
pub const CKA_ISSUER: u64 = 0x81;
pub const CKA_SERIAL_NUMBER: u64 = 0x82;
pub const CKA_TRUSTED: u64 = 0x86;
pub const CKA_CERTIFICATE_CATEGORY: u64 = 0x87;
pub const CKA_JAVA_MIDP_SECURITY_DOMAIN: u64 = 0x88;
pub const CKA_URL: u64 = 0x89;
pub const CKA_HASH_OF_SUBJECT_PUBLIC_KEY: u64 = 0x8a;
pub const CKA_HASH_OF_ISSUER_PUBLIC_KEY: u64 = 0x8b;
pub const CKA_NAME_HASH_ALGORITHM: u64 = 0x8c;
pub const CKA_CHECK_VALUE: u64 = 0x90;
pub const CKA_KEY_TYPE: u64 = 0x100;
pub const CKA_SUBJECT: u64 = 0x101;
pub const CKA_ID: u64 = 0x102;
pub const CKA_SENSITIVE: u64 = 0x103;
pub const CKA_ENCRYPT: u64 = 0x104;
pub const CKA_DECRYPT: u64 = 0x105;
pub const CKA_WRAP: u64 = 0x106;
pub const CKA_UNWRAP: u64 = 0x107;
pub const CKA_SIGN: u64 = 0x108;
pub const CKA_SIGN_RECOVER: u64 = 0x109;
pub const CKA_VERIFY: u64 = 0x10a;
pub const CKA_VERIFY_RECOVER: u64 = 0x10b;
pub const CKA_DERIVE: u64 = 0x10c;
pub const CKA_START_DATE: u64 = 0x110;
pub const CKA_END_DATE: u64 = 0x111;
pub const CKA_MODULUS: u64 = 0x120;
pub const CKA_MODULUS_BITS: u64 = 0x121;
pub const CKA_PUBLIC_EXPONENT: u64 = 0x122;
pub const CKA_PRIVATE_EXPONENT: u64 = 0x123;
pub const CKA_PRIME_1: u64 = 0x124;
pub const CKA_PRIME_2: u64 = 0x125;
pub const CKA_EXPONENT_1: u64 = 0x126;
pub const CKA_EXPONENT_2: u64 = 0x127;
pub const CKA_COEFFICIENT: u64 = 0x128;
pub const CKA_PUBLIC_KEY_INFO: u64 = 0x129;
pub const CKA_VALUE_BITS: u64 = 0x160;
pub const CKA_VALUE_LEN: u64 = 0x161;
pub const CKA_EXTRACTABLE: u64 = 0x162;
pub const CKA_LOCAL: u64 = 0x163;
pub const CKA_NEVER_EXTRACTABLE: u64 = 0x164;
pub const CKA_ALWAYS_SENSITIVE: u64 = 0x165;
pub const CKA_KEY_GEN_MECHANISM: u64 = 0x166;
pub const CKA_MODIFIABLE: u64 = 0x170;
pub const CKA_COPYABLE: u64 = 0x171;
pub const CKA_DESTROYABLE: u64 = 0x172;
pub const CKA_EC_PARAMS: u64 = 0x180;
pub const CKA_EC_POINT: u64 = 0x181;
pub const CKA_ALWAYS_AUTHENTICATE: u64 = 0x202;
pub const CKA_WRAP_WITH_TRUSTED: u64 = 0x210;
pub const CKA_ARRAY_ATTRIBUTE: u64 = 0x4000_0000;
pub const CKA_WRAP_TEMPLATE: u64 = CKA_ARRAY_ATTRIBUTE | 0x211;
pub const CKA_UNWRAP_TEMPLATE: u64 = CKA_ARRAY_ATTRIBUTE | 0x212;
pub const CKA_ALLOWED_MECHANISMS: u64 = CKA_ARRAY_ATTRIBUTE | 0x600;
pub const CKA_ENCAPSULATE_TEMPLATE: u64 = CKA_ARRAY_ATTRIBUTE | 0x62a;
pub const CKA_DECAPSULATE_TEMPLATE: u64 = CKA_ARRAY_ATTRIBUTE | 0x62b;
pub const CKA_PARAMETER_SET: u64 = 0x61d;
pub const CKA_ENCAPSULATE: u64 = 0x633;
pub const CKA_DECAPSULATE: u64 = 0x634;
pub const CKA_SEED: u64 = 0x637;
pub const CKA_VENDOR_DEFINED: u64 = 0x8000_0000;
/// teehsm, read-only, on public keys: the key pair was generated in the TA
/// with a private half that was always sensitive and never extractable, so
/// no one outside the TA can decrypt what this public key wraps (rule R4).
pub const CKA_TEEHSM_PRIVATE_NEVER_KNOWN: u64 = CKA_VENDOR_DEFINED | 0x0054_0001;

// ML-KEM / ML-DSA parameter sets (PKCS#11 3.2)
pub const CKP_ML_KEM_512: u64 = 0x1;
pub const CKP_ML_KEM_768: u64 = 0x2;
pub const CKP_ML_KEM_1024: u64 = 0x3;
pub const CKP_ML_DSA_44: u64 = 0x1;
pub const CKP_ML_DSA_65: u64 = 0x2;
pub const CKP_ML_DSA_87: u64 = 0x3;

// Mechanisms
pub const CKM_RSA_PKCS_KEY_PAIR_GEN: u64 = 0x0;
pub const CKM_RSA_PKCS: u64 = 0x1;
pub const CKM_RSA_X_509: u64 = 0x3;
pub const CKM_RSA_PKCS_OAEP: u64 = 0x9;
pub const CKM_RSA_PKCS_PSS: u64 = 0xd;
pub const CKM_SHA256_RSA_PKCS: u64 = 0x40;
pub const CKM_SHA384_RSA_PKCS: u64 = 0x41;
pub const CKM_SHA512_RSA_PKCS: u64 = 0x42;
pub const CKM_SHA256_RSA_PKCS_PSS: u64 = 0x43;
pub const CKM_SHA384_RSA_PKCS_PSS: u64 = 0x44;
pub const CKM_SHA512_RSA_PKCS_PSS: u64 = 0x45;
pub const CKM_SHA_1: u64 = 0x220;
pub const CKM_SHA256: u64 = 0x250;
pub const CKM_SHA256_HMAC: u64 = 0x251;
pub const CKM_SHA384: u64 = 0x260;
pub const CKM_SHA384_HMAC: u64 = 0x261;
pub const CKM_SHA512: u64 = 0x270;
pub const CKM_SHA512_HMAC: u64 = 0x271;
pub const CKM_GENERIC_SECRET_KEY_GEN: u64 = 0x350;
pub const CKM_EC_KEY_PAIR_GEN: u64 = 0x1040;
pub const CKM_ECDSA: u64 = 0x1041;
pub const CKM_ECDSA_SHA256: u64 = 0x1044;
pub const CKM_ECDSA_SHA384: u64 = 0x1045;
pub const CKM_ECDSA_SHA512: u64 = 0x1046;
pub const CKM_ECDH1_DERIVE: u64 = 0x1050;
pub const CKM_AES_KEY_GEN: u64 = 0x1080;
pub const CKM_AES_ECB: u64 = 0x1081;
pub const CKM_AES_CBC: u64 = 0x1082;
pub const CKM_AES_CBC_PAD: u64 = 0x1085;
pub const CKM_AES_CTR: u64 = 0x1086;
pub const CKM_AES_GCM: u64 = 0x1087;
pub const CKM_AES_CMAC: u64 = 0x108a;
pub const CKM_AES_KEY_WRAP: u64 = 0x2109;
pub const CKM_AES_KEY_WRAP_PAD: u64 = 0x210a;
pub const CKM_AES_KEY_WRAP_KWP: u64 = 0x210b;
pub const CKM_ML_KEM_KEY_PAIR_GEN: u64 = 0xf;
pub const CKM_ML_KEM: u64 = 0x17;
pub const CKM_ML_DSA_KEY_PAIR_GEN: u64 = 0x1c;
pub const CKM_ML_DSA: u64 = 0x1d;
pub const CKM_HASH_ML_DSA: u64 = 0x1f;
pub const CKM_HASH_ML_DSA_SHA224: u64 = 0x23;
pub const CKM_HASH_ML_DSA_SHA256: u64 = 0x24;
pub const CKM_HASH_ML_DSA_SHA384: u64 = 0x25;
pub const CKM_HASH_ML_DSA_SHA512: u64 = 0x26;
pub const CKM_HASH_ML_DSA_SHA3_224: u64 = 0x27;
pub const CKM_HASH_ML_DSA_SHA3_256: u64 = 0x28;
pub const CKM_HASH_ML_DSA_SHA3_384: u64 = 0x29;
pub const CKM_HASH_ML_DSA_SHA3_512: u64 = 0x2a;
pub const CKM_HASH_ML_DSA_SHAKE128: u64 = 0x2b;
pub const CKM_HASH_ML_DSA_SHAKE256: u64 = 0x2c;
pub const CKM_SHA1_RSA_PKCS: u64 = 0x6;
pub const CKM_SHA224_RSA_PKCS: u64 = 0x46;
pub const CKM_SHA224_RSA_PKCS_PSS: u64 = 0x47;
pub const CKM_SHA_1_HMAC: u64 = 0x221;
pub const CKM_SHA224: u64 = 0x255;
pub const CKM_SHA224_HMAC: u64 = 0x256;
pub const CKM_SHA3_256: u64 = 0x2b0;
pub const CKM_SHA3_224: u64 = 0x2b5;
pub const CKM_SHA3_384: u64 = 0x2c0;
pub const CKM_SHA3_512: u64 = 0x2d0;
pub const CKM_CONCATENATE_BASE_AND_KEY: u64 = 0x360;
pub const CKM_CONCATENATE_BASE_AND_DATA: u64 = 0x362;
pub const CKM_CONCATENATE_DATA_AND_BASE: u64 = 0x363;
pub const CKM_XOR_BASE_AND_DATA: u64 = 0x364;
pub const CKM_EXTRACT_KEY_FROM_KEY: u64 = 0x365;
pub const CKM_SP800_108_COUNTER_KDF: u64 = 0x3ac;
pub const CKM_SP800_108_FEEDBACK_KDF: u64 = 0x3ad;
pub const CKM_SP800_108_DOUBLE_PIPELINE_KDF: u64 = 0x3ae;
pub const CKM_SHA_1_KEY_GEN: u64 = 0x4003;
pub const CKM_SHA224_KEY_GEN: u64 = 0x4004;
pub const CKM_SHA256_KEY_GEN: u64 = 0x4005;
pub const CKM_SHA384_KEY_GEN: u64 = 0x4006;
pub const CKM_SHA512_KEY_GEN: u64 = 0x4007;
pub const CKM_EC_EDWARDS_KEY_PAIR_GEN: u64 = 0x1055;
pub const CKM_EC_MONTGOMERY_KEY_PAIR_GEN: u64 = 0x1056;
pub const CKM_EDDSA: u64 = 0x1057;
pub const CKM_ECDSA_SHA224: u64 = 0x1043;
pub const CKM_ECDSA_SHA1: u64 = 0x1042;
pub const CKM_SHA1_RSA_PKCS_PSS: u64 = 0xe;
pub const CKM_AES_ECB_ENCRYPT_DATA: u64 = 0x1104;
pub const CKM_AES_CBC_ENCRYPT_DATA: u64 = 0x1105;
pub const CKM_VENDOR_DEFINED: u64 = 0x8000_0000;
// SM family (vendor-defined; Luna numbering for the first five)
pub const CKM_SM3: u64 = CKM_VENDOR_DEFINED + 0xB01;
pub const CKM_SM3_HMAC: u64 = CKM_VENDOR_DEFINED + 0xB02;
pub const CKM_SM4_KEY_GEN: u64 = CKM_VENDOR_DEFINED + 0xB10;
pub const CKM_SM4_ECB: u64 = CKM_VENDOR_DEFINED + 0xB11;
pub const CKM_SM4_CBC: u64 = CKM_VENDOR_DEFINED + 0xB12;
pub const CKM_SM4_CBC_PAD: u64 = CKM_VENDOR_DEFINED + 0xB13;
pub const CKM_SM4_CTR: u64 = CKM_VENDOR_DEFINED + 0xB14;
pub const CKM_SM4_GCM: u64 = CKM_VENDOR_DEFINED + 0xB15;
pub const CKM_SM4_MAC: u64 = CKM_VENDOR_DEFINED + 0xB16;
pub const CKM_SM2_KEY_PAIR_GEN: u64 = CKM_VENDOR_DEFINED + 0xB20;
pub const CKM_SM2: u64 = CKM_VENDOR_DEFINED + 0xB21;
pub const CKM_SM2_SM3: u64 = CKM_VENDOR_DEFINED + 0xB22;
pub const CKM_SM2_ENCRYPT: u64 = CKM_VENDOR_DEFINED + 0xB23;
pub const CKM_SM2_KEY_EXCHANGE: u64 = CKM_VENDOR_DEFINED + 0xB24;

// CK_SIGN_ADDITIONAL_CONTEXT hedge variants (PKCS#11 3.2)
pub const CKH_HEDGE_PREFERRED: u64 = 0x0;
pub const CKH_HEDGE_REQUIRED: u64 = 0x1;
pub const CKH_DETERMINISTIC_REQUIRED: u64 = 0x2;

// Key derivation functions for ECDH
pub const CKD_NULL: u64 = 0x1;
pub const CKD_SHA1_KDF: u64 = 0x2;
pub const CKD_SHA224_KDF: u64 = 0x5;
pub const CKD_SHA256_KDF: u64 = 0x6;
pub const CKD_SHA384_KDF: u64 = 0x7;
pub const CKD_SHA512_KDF: u64 = 0x8;
pub const CKD_SHA3_224_KDF: u64 = 0xa;
pub const CKD_SHA3_256_KDF: u64 = 0xb;
pub const CKD_SHA3_384_KDF: u64 = 0xc;
pub const CKD_SHA3_512_KDF: u64 = 0xd;
pub const CKD_SHA1_KDF_SP800: u64 = 0xe;
pub const CKD_SHA224_KDF_SP800: u64 = 0xf;
pub const CKD_SHA256_KDF_SP800: u64 = 0x10;
pub const CKD_SHA384_KDF_SP800: u64 = 0x11;
pub const CKD_SHA512_KDF_SP800: u64 = 0x12;
pub const CKD_SHA3_224_KDF_SP800: u64 = 0x13;
pub const CKD_SHA3_256_KDF_SP800: u64 = 0x14;
pub const CKD_SHA3_384_KDF_SP800: u64 = 0x15;
pub const CKD_SHA3_512_KDF_SP800: u64 = 0x16;
// MGFs
pub const CKG_MGF1_SHA1: u64 = 0x1;
pub const CKG_MGF1_SHA256: u64 = 0x2;
pub const CKG_MGF1_SHA384: u64 = 0x3;
pub const CKG_MGF1_SHA512: u64 = 0x4;
pub const CKG_MGF1_SHA224: u64 = 0x5;
pub const CKZ_DATA_SPECIFIED: u64 = 0x1;

// User types
pub const CKU_SO: u64 = 0;
pub const CKU_USER: u64 = 1;
pub const CKU_CONTEXT_SPECIFIC: u64 = 2;

// Session states
pub const CKS_RO_PUBLIC_SESSION: u64 = 0;
pub const CKS_RO_USER_FUNCTIONS: u64 = 1;
pub const CKS_RW_PUBLIC_SESSION: u64 = 2;
pub const CKS_RW_USER_FUNCTIONS: u64 = 3;
pub const CKS_RW_SO_FUNCTIONS: u64 = 4;

// Session flags
pub const CKF_RW_SESSION: u64 = 0x2;
pub const CKF_SERIAL_SESSION: u64 = 0x4;

// Token flags
pub const CKF_RNG: u64 = 0x1;
pub const CKF_WRITE_PROTECTED: u64 = 0x2;
pub const CKF_LOGIN_REQUIRED: u64 = 0x4;
pub const CKF_USER_PIN_INITIALIZED: u64 = 0x8;
pub const CKF_RESTORE_KEY_NOT_NEEDED: u64 = 0x20;
pub const CKF_CLOCK_ON_TOKEN: u64 = 0x40;
pub const CKF_TOKEN_INITIALIZED: u64 = 0x400;
pub const CKF_USER_PIN_COUNT_LOW: u64 = 0x1_0000;
pub const CKF_USER_PIN_FINAL_TRY: u64 = 0x2_0000;
pub const CKF_USER_PIN_LOCKED: u64 = 0x4_0000;
pub const CKF_USER_PIN_TO_BE_CHANGED: u64 = 0x8_0000;
pub const CKF_SO_PIN_COUNT_LOW: u64 = 0x10_0000;
pub const CKF_SO_PIN_FINAL_TRY: u64 = 0x20_0000;
pub const CKF_SO_PIN_LOCKED: u64 = 0x40_0000;

// Mechanism info flags
pub const CKF_HW: u64 = 0x1;
pub const CKF_ENCRYPT: u64 = 0x100;
pub const CKF_DECRYPT: u64 = 0x200;
pub const CKF_DIGEST: u64 = 0x400;
pub const CKF_SIGN: u64 = 0x800;
pub const CKF_VERIFY: u64 = 0x2000;
pub const CKF_GENERATE: u64 = 0x8000;
pub const CKF_GENERATE_KEY_PAIR: u64 = 0x1_0000;
pub const CKF_WRAP: u64 = 0x2_0000;
pub const CKF_UNWRAP: u64 = 0x4_0000;
pub const CKF_DERIVE: u64 = 0x8_0000;
pub const CKF_EC_F_P: u64 = 0x10_0000;
pub const CKF_EC_NAMED_CURVE: u64 = 0x80_0000;
pub const CKF_EC_UNCOMPRESS: u64 = 0x100_0000;
pub const CKF_ENCAPSULATE: u64 = 0x1000_0000;
pub const CKF_DECAPSULATE: u64 = 0x2000_0000;
