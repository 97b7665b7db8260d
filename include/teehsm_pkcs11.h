/*
 * teehsm_pkcs11.h - vendor-defined PKCS#11 values of teehsm.
 *
 * teehsm's PKCS#11 module (libteehsm_pkcs11.so) implements the standard
 * PKCS#11 3.x interface; this header only adds the values that no standard
 * assigns: the Chinese SM2/SM3/SM4 algorithms and teehsm's own attributes.
 *
 * Usage: include it after the PKCS#11 headers you already use (OASIS
 * pkcs11.h, OpenSC's pkcs11.h, ...). It needs nothing from them: every value
 * is an unsigned long literal, usable wherever a CK_MECHANISM_TYPE,
 * CK_KEY_TYPE or CK_ATTRIBUTE_TYPE is expected.
 *
 *     #include <pkcs11.h>
 *     #include <teehsm_pkcs11.h>
 *
 *     CK_MECHANISM gen  = { CKM_SM2_KEY_PAIR_GEN, NULL, 0 };
 *     CK_MECHANISM sign = { CKM_SM2_SM3, NULL, 0 };   // default user ID
 *     CK_MECHANISM sign_id = { CKM_SM2_SM3, (void *)"alice@example.com", 17 };
 *     CK_GCM_PARAMS gcm = { iv, 12, 96, aad, aad_len, 128 };
 *     CK_MECHANISM enc  = { CKM_SM4_GCM, &gcm, sizeof gcm };
 *
 * Parameters: CKM_SM4_CBC and CKM_SM4_CBC_PAD take the 16-byte IV as the
 * parameter; CKM_SM4_CTR takes CK_AES_CTR_PARAMS; CKM_SM4_GCM takes
 * CK_GCM_PARAMS (the PKCS#11 3.0 layout, with ulIvBits); CKM_SM2 and
 * CKM_SM2_SM3 take the signer's user ID as raw bytes (no parameter, or an
 * empty one, means TEEHSM_SM2_DEFAULT_USER_ID); the others take none.
 * SM2 keys carry CKA_EC_PARAMS = the DER OID 1.2.156.10197.1.301
 * (06 08 2A 81 1C CF 55 01 82 2D) and CKA_EC_POINT like EC keys.
 *
 * The SM values follow the Thales Luna numbering where it is published
 * (CKM_SM3, CKM_SM4_ECB, CKM_SM4_CBC, CKM_SM2, CKM_SM2_SM3) and continue the
 * same 0x80000Bxx block for the rest; see docs/mechanisms.md. They are the
 * constants of wire/src/ck.rs: pkcs11-provider/tests/header.rs checks that
 * every value here equals the Rust one.
 */
#ifndef TEEHSM_PKCS11_H
#define TEEHSM_PKCS11_H

/* Key types */
#define CKK_SM2                         0x80000B01UL
#define CKK_SM4                         0x80000B02UL

/* SM3 digest and HMAC */
#define CKM_SM3                         0x80000B01UL
#define CKM_SM3_HMAC                    0x80000B02UL

/* SM4 (128-bit keys) */
#define CKM_SM4_KEY_GEN                 0x80000B10UL
#define CKM_SM4_ECB                     0x80000B11UL
#define CKM_SM4_CBC                     0x80000B12UL
#define CKM_SM4_CBC_PAD                 0x80000B13UL
#define CKM_SM4_CTR                     0x80000B14UL
#define CKM_SM4_GCM                     0x80000B15UL
#define CKM_SM4_MAC                     0x80000B16UL /* CMAC */

/* SM2 */
#define CKM_SM2_KEY_PAIR_GEN            0x80000B20UL
#define CKM_SM2                         0x80000B21UL /* signs e = SM3(Z || M), 32 bytes */
#define CKM_SM2_SM3                     0x80000B22UL /* signs a message; Z from the user ID */
#define CKM_SM2_ENCRYPT                 0x80000B23UL /* C1 || C3 || C2 */
#define CKM_SM2_KEY_EXCHANGE            0x80000B24UL /* reserved; not offered yet */

/* The SM2 user ID used when CKM_SM2_SM3 has no parameter (GB/T 32918).
 * OpenSSL: pkeyutl -rawin -digest sm3 -pkeyopt distid:1234567812345678 */
#define TEEHSM_SM2_DEFAULT_USER_ID      "1234567812345678"
#define TEEHSM_SM2_DEFAULT_USER_ID_LEN  16UL

/* Attributes */
/* Read-only, on public keys: CK_TRUE when the key pair was generated inside
 * teehsm with a private half that was always sensitive and never
 * extractable, so no one outside the HSM can decrypt what this public key
 * wraps. CK_BBOOL. */
#define CKA_TEEHSM_PRIVATE_NEVER_KNOWN  0x80540001UL

#endif /* TEEHSM_PKCS11_H */
