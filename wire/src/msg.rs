//! TA protocol messages and their encoding.
//!
//! Request frame body:  `version u8 | kind=1 u8 | request_id u32 | opcode u16 | fields`
//! Response frame body: `version u8 | kind=2 u8 | request_id u32 | status u32 |`
//! then, on success, `reply_tag u8 | fields`, else a UTF-8 error message.
//! Every field is decoded with explicit bounds (see [`crate::codec`]).

use crate::codec::{DecodeError, Reader, Writer};
use crate::rv::Rv;
use zeroize::Zeroize;

/// Protocol version spoken by this crate.
pub const PROTOCOL_VERSION: u8 = 1;
/// Longest application ticket (see `Request::JoinApp`).
pub const MAX_APP_TICKET_LEN: usize = 64;
const KIND_REQUEST: u8 = 1;
const KIND_RESPONSE: u8 = 2;

/// Largest frame payload either side accepts.
pub const MAX_FRAME_LEN: usize = 1 << 20;
/// Largest data input (message to sign, plaintext, ...).
pub const MAX_DATA_LEN: usize = MAX_FRAME_LEN - 4096;
/// Largest single attribute value.
pub const MAX_ATTR_VALUE_LEN: usize = 256 * 1024;
/// Most attributes in one template.
pub const MAX_TEMPLATE_LEN: usize = 128;
/// Longest PIN.
pub const MAX_PIN_LEN: usize = 256;
/// Longest error message or label.
pub const MAX_TEXT_LEN: usize = 4096;
/// Most handles in one FindObjects reply.
pub const MAX_HANDLES: usize = 100_000;

/// Bytes that are secret in transit (PINs). Zeroized on drop; never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);
impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// One PKCS#11 attribute. CK_BBOOL is one byte, CK_ULONG eight bytes big-endian.
/// Values may carry key material (C_CreateObject), so they are zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Attribute {
    pub ty: u64,
    pub value: Vec<u8>,
}
impl Drop for Attribute {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}
impl std::fmt::Debug for Attribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Attribute(0x{:x}, {} bytes)", self.ty, self.value.len())
    }
}
impl Attribute {
    pub fn new(ty: u64, value: impl Into<Vec<u8>>) -> Self {
        Self { ty, value: value.into() }
    }
    pub fn bool(ty: u64, v: bool) -> Self {
        Self::new(ty, vec![v as u8])
    }
    pub fn ulong(ty: u64, v: u64) -> Self {
        Self::new(ty, v.to_be_bytes().to_vec())
    }
    /// The value as CK_BBOOL, if it is one byte of 0 or 1... (any non-zero is true per spec).
    pub fn as_bool(&self) -> Option<bool> {
        match self.value.as_slice() {
            [b] => Some(*b != 0),
            _ => None,
        }
    }
    pub fn as_ulong(&self) -> Option<u64> {
        let a: [u8; 8] = self.value.as_slice().try_into().ok()?;
        Some(u64::from_be_bytes(a))
    }
}

/// Mechanism parameters, typed per mechanism family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MechParam {
    None,
    /// An IV (CBC) or other opaque byte parameter.
    Bytes(Vec<u8>),
    Gcm {
        iv: Vec<u8>,
        aad: Vec<u8>,
        tag_bits: u32,
    },
    Ctr {
        counter_bits: u32,
        counter_block: Vec<u8>,
    },
    Pss {
        hash: u64,
        mgf: u64,
        salt_len: u64,
    },
    Oaep {
        hash: u64,
        mgf: u64,
        source: u64,
        source_data: Vec<u8>,
    },
    Ecdh {
        kdf: u64,
        shared_data: Vec<u8>,
        public_data: Vec<u8>,
    },
    /// SM2 signature user ID (Z value input); empty means the default ID.
    Sm2 {
        user_id: Vec<u8>,
    },
    /// ML-DSA signing context (PKCS#11 3.2 CK_SIGN_ADDITIONAL_CONTEXT).
    SignContext {
        hedge: u64,
        context: Vec<u8>,
    },
    /// CK_EDDSA_PARAMS: Ed25519ph/Ed448ph when `prehash`, with an optional context.
    Eddsa {
        prehash: bool,
        context: Vec<u8>,
    },
    /// PKCS#11 3.2 CK_HASH_SIGN_ADDITIONAL_CONTEXT (HashML-DSA with a chosen hash).
    HashSignContext {
        hedge: u64,
        context: Vec<u8>,
        hash: u64,
    },
    /// A CK_ULONG parameter: a key handle (CKM_CONCATENATE_BASE_AND_KEY) or
    /// a bit index (CKM_EXTRACT_KEY_FROM_KEY).
    Ulong(u64),
    /// CK_AES_CBC_ENCRYPT_DATA_PARAMS (and the SM4 equivalent).
    CbcEncryptData {
        iv: Vec<u8>,
        data: Vec<u8>,
    },
    /// CK_SP800_108_KDF_PARAMS / CK_SP800_108_FEEDBACK_KDF_PARAMS.
    Kbkdf(KbkdfParams),
}

/// SP 800-108 KDF parameters as PKCS#11 3.0 defines them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KbkdfParams {
    /// CKM_* of the PRF (CKM_SHA256_HMAC, CKM_AES_CMAC, ...).
    pub prf: u64,
    pub data: Vec<KdfDataParam>,
    /// Feedback mode's IV (empty when absent or not feedback mode).
    pub iv: Vec<u8>,
    /// Templates of the additional keys (CK_DERIVED_KEY), derived after the
    /// primary key from the same key stream; their handles follow the
    /// primary key's in the reply.
    pub additional_keys: Vec<Vec<Attribute>>,
}

/// One CK_PRF_DATA_PARAM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KdfDataParam {
    /// SP800_108_ITERATION_VARIABLE: a counter in counter mode (`format`),
    /// the chaining value in feedback / double-pipeline mode (no format).
    IterationVariable { format: Option<CounterFormat> },
    /// SP800_108_OPTIONAL_COUNTER.
    Counter(CounterFormat),
    /// SP800_108_DKM_LENGTH: `method` is CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS (1) or _SUM_OF_SEGMENTS (2).
    DkmLength { method: u64, format: CounterFormat },
    /// SP800_108_BYTE_ARRAY.
    ByteArray(Vec<u8>),
}

/// CK_SP800_108_COUNTER_FORMAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterFormat {
    pub little_endian: bool,
    pub width_bits: u64,
}

/// A mechanism: CKM_* type and its parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mechanism {
    pub mech: u64,
    pub param: MechParam,
}
impl Mechanism {
    pub fn new(mech: u64) -> Self {
        Self { mech, param: MechParam::None }
    }
    pub fn with(mech: u64, param: MechParam) -> Self {
        Self { mech, param }
    }
}

/// The kind of a multi-part operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    Digest = 1,
    Sign = 2,
    Verify = 3,
    Encrypt = 4,
    Decrypt = 5,
}

/// Longest signature a verify may carry (ML-DSA-87 is 4627 bytes).
pub const MAX_SIGNATURE_LEN: usize = 64 * 1024;

fn get_op_kind(r: &mut Reader<'_>) -> Result<OpKind, DecodeError> {
    Ok(match r.u8("operation kind")? {
        1 => OpKind::Digest,
        2 => OpKind::Sign,
        3 => OpKind::Verify,
        4 => OpKind::Encrypt,
        5 => OpKind::Decrypt,
        t => return Err(DecodeError::UnknownTag { what: "operation kind", tag: t as u64 }),
    })
}

/// How the connection is protected. `Plain`: frames travel as they are
/// (the CA and the host see them). `Secure`: the connection opened the
/// attested end-to-end channel first (`OpenChannel`, `ChannelKeys`; see
/// docs/channel.md) and this Hello itself arrived sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelMode {
    Plain = 0,
    Secure = 1,
}

fn get_channel_mode(r: &mut Reader<'_>) -> Result<ChannelMode, DecodeError> {
    match r.u8("channel mode")? {
        0 => Ok(ChannelMode::Plain),
        1 => Ok(ChannelMode::Secure),
        t => Err(DecodeError::UnknownTag { what: "channel mode", tag: t as u64 }),
    }
}

// ---------------------------------------------------------------- attested channel (layout only)
//
// The wire crate holds no key handling: these constants describe the
// channel's encodings so that the client (teehsm-channel) and the TA agree;
// all cryptography lives in those two.

/// The channel suite of protocol version 1 (suite id 1).
pub const CHANNEL_SUITE_V1: &str = "P256+MLKEM768/AES-256-GCM";
/// The GM-only suite (suite id 2): SM2 key agreement, HKDF-HMAC-SM3, SM4-GCM.
pub const CHANNEL_SUITE_SM2: &str = "SM2/SM3/SM4-GCM";
/// HKDF info label of the version 1 key schedule (followed by the transcript hash).
pub const CHANNEL_INFO_LABEL_V1: &[u8] = b"teehsm channel v1";
/// HKDF info label of the SM2 suite's key schedule (followed by the SM3 transcript hash).
pub const CHANNEL_INFO_LABEL_SM2: &[u8] = b"teehsm channel v1 sm2";
/// An uncompressed P-256 point.
pub const CHANNEL_P256_POINT_LEN: usize = 65;
/// An ML-KEM-768 encapsulation key.
pub const CHANNEL_MLKEM768_EK_LEN: usize = 1184;
/// An ML-KEM-768 ciphertext.
pub const CHANNEL_MLKEM768_CT_LEN: usize = 1088;
/// An uncompressed point on the SM2 curve.
pub const CHANNEL_SM2_POINT_LEN: usize = 65;
/// The TA's channel key bundle (the `channel_public_key` of an attestation
/// report): P-256 point || ML-KEM-768 encapsulation key || SM2 point.
pub const CHANNEL_BUNDLE_LEN: usize = CHANNEL_P256_POINT_LEN + CHANNEL_MLKEM768_EK_LEN + CHANNEL_SM2_POINT_LEN;
/// Direction byte of sealed frames from the client to the TA (first byte of the AAD).
pub const CHANNEL_DIR_CLIENT_TO_TA: u8 = 1;
/// Direction byte of sealed frames from the TA to the client.
pub const CHANNEL_DIR_TA_TO_CLIENT: u8 = 2;
/// GCM tag length (both suites): a sealed frame is this much longer than its plaintext.
pub const CHANNEL_TAG_LEN: usize = 16;

/// The channel suites a client can choose in `ChannelKeys` (docs/channel.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelSuite {
    /// Suite 1, "P256+MLKEM768/AES-256-GCM": hybrid P-256 ECDH + ML-KEM-768,
    /// HKDF-SHA256, AES-256-GCM.
    Hybrid = 1,
    /// Suite 2, "SM2/SM3/SM4-GCM": ephemeral-static ECDH on the SM2 curve,
    /// HKDF-HMAC-SM3, SM4-GCM (for deployments limited to GM algorithms).
    Sm2 = 2,
}

impl ChannelSuite {
    /// The suite id sent in `ChannelKeys`.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// The suite with this id, if known.
    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            1 => Some(ChannelSuite::Hybrid),
            2 => Some(ChannelSuite::Sm2),
            _ => None,
        }
    }

    /// The suite's name.
    pub fn name(self) -> &'static str {
        match self {
            ChannelSuite::Hybrid => CHANNEL_SUITE_V1,
            ChannelSuite::Sm2 => CHANNEL_SUITE_SM2,
        }
    }

    /// Length of each direction's key: 32 (AES-256) or 16 (SM4).
    pub fn key_len(self) -> usize {
        match self {
            ChannelSuite::Hybrid => 32,
            ChannelSuite::Sm2 => 16,
        }
    }
}

/// The parts of a channel key bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelBundle<'a> {
    /// The TA's P-256 point (suite 1).
    pub p256: &'a [u8],
    /// The TA's ML-KEM-768 encapsulation key (suite 1).
    pub mlkem: &'a [u8],
    /// The TA's static SM2 channel point (suite 2).
    pub sm2: &'a [u8],
}

/// Splits a channel key bundle into its P-256 point, ML-KEM-768
/// encapsulation key and SM2 point; `None` unless it has exactly
/// [`CHANNEL_BUNDLE_LEN`] bytes.
pub fn split_channel_bundle(bundle: &[u8]) -> Option<ChannelBundle<'_>> {
    if bundle.len() != CHANNEL_BUNDLE_LEN {
        return None;
    }
    let (p256, rest) = bundle.split_at(CHANNEL_P256_POINT_LEN);
    let (mlkem, sm2) = rest.split_at(CHANNEL_MLKEM768_EK_LEN);
    Some(ChannelBundle { p256, mlkem, sm2 })
}

/// The channel handshake transcript (hashed with SHA-256 into the HKDF
/// info): each part with a u32 big-endian length prefix, in this order:
/// report body, TA bundle, client P-256 point, ML-KEM ciphertext.
pub fn channel_transcript(report_body: &[u8], bundle: &[u8], client_p256: &[u8], mlkem_ct: &[u8]) -> Vec<u8> {
    let mut w = Writer::with_capacity(16 + report_body.len() + bundle.len() + client_p256.len() + mlkem_ct.len());
    for part in [report_body, bundle, client_p256, mlkem_ct] {
        w.bytes(part);
    }
    w.into_vec()
}

/// The 12-byte AES-GCM nonce of frame `seq`: `iv_base` with the last 8
/// bytes XORed with `seq` (big-endian).
pub fn channel_nonce(iv_base: &[u8; 12], seq: u64) -> [u8; 12] {
    let mut n = *iv_base;
    for (b, s) in n[4..].iter_mut().zip(seq.to_be_bytes()) {
        *b ^= s;
    }
    n
}

/// The AAD of frame `seq` in direction `dir`: `dir || seq (u64 BE)`.
pub fn channel_aad(dir: u8, seq: u64) -> [u8; 9] {
    let mut a = [0u8; 9];
    a[0] = dir;
    a[1..].copy_from_slice(&seq.to_be_bytes());
    a
}

/// A request to the TA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Hello {
        client: String,
        channel: ChannelMode,
    },
    /// Makes this connection part of the application that `ticket` (from
    /// that application's Hello reply) names: it then shares that
    /// application's sessions, logins and session objects. Lets one
    /// PKCS#11 application use several connections at once.
    JoinApp {
        ticket: Secret,
    },
    GetTaInfo,
    GetSlotList,
    GetTokenInfo {
        slot: u64,
    },
    GetMechanismList {
        slot: u64,
    },
    GetMechanismInfo {
        slot: u64,
        mech: u64,
    },
    InitToken {
        slot: u64,
        so_pin: Secret,
        label: String,
    },
    OpenSession {
        slot: u64,
        flags: u64,
    },
    CloseSession {
        session: u64,
    },
    CloseAllSessions {
        slot: u64,
    },
    GetSessionInfo {
        session: u64,
    },
    Login {
        session: u64,
        user_type: u64,
        pin: Secret,
    },
    Logout {
        session: u64,
    },
    InitPin {
        session: u64,
        pin: Secret,
    },
    SetPin {
        session: u64,
        old_pin: Secret,
        new_pin: Secret,
    },
    CreateObject {
        session: u64,
        template: Vec<Attribute>,
    },
    CopyObject {
        session: u64,
        object: u64,
        template: Vec<Attribute>,
    },
    DestroyObject {
        session: u64,
        object: u64,
    },
    GetAttributeValue {
        session: u64,
        object: u64,
        types: Vec<u64>,
    },
    SetAttributeValue {
        session: u64,
        object: u64,
        template: Vec<Attribute>,
    },
    FindObjects {
        session: u64,
        template: Vec<Attribute>,
        max: u32,
    },
    GenerateKey {
        session: u64,
        mechanism: Mechanism,
        template: Vec<Attribute>,
    },
    GenerateKeyPair {
        session: u64,
        mechanism: Mechanism,
        public_template: Vec<Attribute>,
        private_template: Vec<Attribute>,
    },
    Sign {
        session: u64,
        mechanism: Mechanism,
        key: u64,
        data: Vec<u8>,
    },
    Verify {
        session: u64,
        mechanism: Mechanism,
        key: u64,
        data: Vec<u8>,
        signature: Vec<u8>,
    },
    Encrypt {
        session: u64,
        mechanism: Mechanism,
        key: u64,
        data: Vec<u8>,
    },
    Decrypt {
        session: u64,
        mechanism: Mechanism,
        key: u64,
        data: Vec<u8>,
    },
    Digest {
        session: u64,
        mechanism: Mechanism,
        data: Vec<u8>,
    },
    WrapKey {
        session: u64,
        mechanism: Mechanism,
        wrapping_key: u64,
        key: u64,
    },
    UnwrapKey {
        session: u64,
        mechanism: Mechanism,
        unwrapping_key: u64,
        wrapped: Vec<u8>,
        template: Vec<Attribute>,
    },
    DeriveKey {
        session: u64,
        mechanism: Mechanism,
        base_key: u64,
        template: Vec<Attribute>,
    },
    Encapsulate {
        session: u64,
        mechanism: Mechanism,
        public_key: u64,
        template: Vec<Attribute>,
    },
    Decapsulate {
        session: u64,
        mechanism: Mechanism,
        private_key: u64,
        ciphertext: Vec<u8>,
        template: Vec<Attribute>,
    },
    GenerateRandom {
        session: u64,
        len: u32,
    },
    /// Starts a multi-part operation (C_DigestInit, C_SignInit, C_VerifyInit,
    /// C_EncryptInit, C_DecryptInit)
    /// on the session; `key` is ignored for digests. One operation of each
    /// kind may be active per session.
    OpInit {
        session: u64,
        kind: OpKind,
        mechanism: Mechanism,
        key: u64,
    },
    /// Feeds data to the active operation of `kind`; Encrypt and Decrypt
    /// answer with the output ready so far (Bytes), the others with Done.
    OpUpdate {
        session: u64,
        kind: OpKind,
        data: Vec<u8>,
    },
    /// Finishes it: the digest or signature, or Done for a valid signature
    /// (`signature` is used by Verify only). The operation ends either way.
    OpFinal {
        session: u64,
        kind: OpKind,
        signature: Vec<u8>,
    },
    /// Runs the active operation of `kind` over the whole of `data` and
    /// finishes it, in one round trip (C_Sign, C_Verify, C_Encrypt,
    /// C_Decrypt, C_Digest after their *Init): the output for Sign, Encrypt,
    /// Decrypt and Digest (Bytes), Done for a valid signature. The operation
    /// ends either way.
    OpSingle {
        session: u64,
        kind: OpKind,
        data: Vec<u8>,
        signature: Vec<u8>,
    },
    /// C_DigestKey: feeds a secret key's value to the active digest. Only
    /// keys whose value the caller could read anyway (not sensitive,
    /// extractable) are digested; others get CKR_KEY_INDIGESTIBLE.
    DigestKey {
        session: u64,
        key: u64,
    },
    GetAuditHead,
    /// A signed attestation report (no session or login needed). `nonce`
    /// must be exactly [`ATTESTATION_NONCE_LEN`] bytes (the TA answers
    /// CKR_ARGUMENTS_BAD otherwise); the report's 64 bytes of caller data
    /// are `nonce || SHA-256(channel key bundle)`.
    GetAttestation {
        nonce: Vec<u8>,
    },
    /// First request of an attested end-to-end channel (instead of Hello,
    /// on a fresh connection): the reply is `Reply::Attestation` whose
    /// report data binds `nonce` and the TA's channel key bundle.
    OpenChannel {
        nonce: [u8; ATTESTATION_NONCE_LEN],
    },
    /// Second request of the channel: the suite the client chose
    /// ([`ChannelSuite::id`]; the TA refuses unknown ids) and its key
    /// agreement messages. Suite 1: the client's ephemeral P-256 point and
    /// its ML-KEM-768 ciphertext to the TA's bundle. Suite 2: `client_p256`
    /// carries the client's ephemeral SM2 point and `mlkem_ct` is empty.
    /// Reply `Done`; every later frame in both directions is sealed
    /// (docs/channel.md).
    ChannelKeys {
        suite: u8,
        client_p256: Vec<u8>,
        mlkem_ct: Vec<u8>,
    },
    /// Registers an API client (docs/client-auth.md); needs an SO-logged-in
    /// session. The reply is `Bytes`: the client's 32-byte secret, generated
    /// in the TA and returned only this once. On a `Plain` connection the CA
    /// relays (and so could read) it: register over the attested channel.
    RegisterClient {
        session: u64,
        client_id: String,
        acl: Vec<AclEntry>,
    },
    /// Replaces a registered client's ACL (SO session). Reply `Done`.
    SetClientAcl {
        session: u64,
        client_id: String,
        acl: Vec<AclEntry>,
    },
    /// Removes a registered client (SO session). Reply `Done`.
    RemoveClient {
        session: u64,
        client_id: String,
    },
    /// The registered clients and their ACLs, never their secrets (SO
    /// session). Reply `Clients`.
    ListClients {
        session: u64,
    },
    /// `request`, on behalf of a registered client: the TA checks `mac`
    /// ([`client_auth_message`]), the timestamp window, the nonce against
    /// replay and the client's ACL before it runs `request` as usual.
    /// `request` may not itself be `Authorized`.
    Authorized {
        client_id: String,
        timestamp_ms: u64,
        nonce: [u8; CLIENT_NONCE_LEN],
        mac: [u8; CLIENT_MAC_LEN],
        request: Box<Request>,
    },
    /// One call of the gRPC API (docs/grpc-api.md), forwarded by the CA
    /// exactly as the client sent it: `method` is the full gRPC path
    /// ("/teehsm.v1.KeyManagementService/Sign") and `body` the request
    /// message's protobuf encoding. The TA checks `mac` over
    /// [`api_auth_message`] with the client's secret, the timestamp window,
    /// the nonce and the ACL, then decodes and runs the call on the
    /// client's token. An empty `client_id` (with zero nonce and mac) is an
    /// anonymous call, allowed for GenerateRandom and GetAttestation only.
    /// Reply `Api`.
    ApiCall {
        client_id: String,
        timestamp_ms: u64,
        nonce: [u8; CLIENT_NONCE_LEN],
        mac: [u8; CLIENT_MAC_LEN],
        method: String,
        body: Vec<u8>,
    },
    /// Registers an Ed25519 public key (32 bytes) as a trusted key
    /// distribution signer of the session's token (SO session; persisted in
    /// the sealed store). Reply `Done`. See docs/key-distribution.md.
    TrustKeydistSigner {
        session: u64,
        public_key: Vec<u8>,
    },
    /// Removes a trusted key distribution signer (SO session). Reply `Done`.
    UntrustKeydistSigner {
        session: u64,
        public_key: Vec<u8>,
    },
    /// Imports a key from a console-signed envelope
    /// ([`crate::keydist::Envelope`]) wrapped to this TA's channel key
    /// bundle (user session). Reply `Handle` of the new key object.
    ImportDistributedKey {
        session: u64,
        envelope: Vec<u8>,
    },
    /// A PKCS#10 certificate signing request for the private key `key`,
    /// signed in the TA with `mechanism` (CKM_ECDSA_SHA256/384,
    /// CKM_SHA256_RSA_PKCS or CKM_EDDSA; the key must allow signing with
    /// it). `subject` is a distinguished name such as "CN=host,O=Org,C=DE"
    /// (attributes CN, O, OU, C, L, ST, SERIALNUMBER; `\,` escapes a comma).
    /// Reply `Bytes`: the DER request.
    GenerateCsr {
        session: u64,
        key: u64,
        subject: String,
        mechanism: u64,
    },
    /// The key distribution signers the session's token trusts (SO
    /// session). Reply `Bytes`: their 32-byte Ed25519 public keys one after
    /// the other, sorted.
    ListKeydistSigners {
        session: u64,
    },
    /// Applies a console-signed token policy (`crate::token_policy`) to the
    /// session's token (user session). The signer must be trusted on the
    /// token (as for key distribution), the policy must name this TA's
    /// channel key bundle and the session's slot, be within its validity
    /// period and carry a higher version than the one in force. Reply Done.
    ApplyTokenPolicy {
        session: u64,
        policy: Vec<u8>,
    },
}

/// Longest subject DN of a `GenerateCsr` request.
pub const MAX_CSR_SUBJECT_LEN: usize = 1024;

/// Longest signer public key the key distribution requests carry (an
/// Ed25519 key is 32 bytes; the TA says so when it gets another length).
pub const MAX_KEYDIST_SIGNER_KEY_LEN: usize = 1024;

/// Longest gRPC method path in an `ApiCall`.
pub const MAX_API_METHOD_LEN: usize = 128;
/// Largest protobuf body of an `ApiCall` or its reply (the API's data
/// fields are at most 64 KiB each).
pub const MAX_API_BODY_LEN: usize = 512 * 1024;
/// Longest status message in an `Api` reply.
pub const MAX_API_MESSAGE_LEN: usize = 1024;
/// Domain separation prefix of the API request MAC input.
pub const API_AUTH_CONTEXT: &[u8] = b"teehsm-api-v1";
/// Domain separation prefix of the API response MAC input.
pub const API_RESPONSE_CONTEXT: &[u8] = b"teehsm-api-resp-v1";

/// The bytes an `ApiCall` MAC covers: `"teehsm-api-v1" || u8 len(client_id)
/// || client_id || timestamp_ms (u64 BE) || nonce || u16 BE len(method) ||
/// method || body`.
pub fn api_auth_message(client_id: &str, timestamp_ms: u64, nonce: &[u8; CLIENT_NONCE_LEN], method: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(API_AUTH_CONTEXT.len() + 1 + client_id.len() + 8 + CLIENT_NONCE_LEN + 2 + method.len() + body.len());
    m.extend_from_slice(API_AUTH_CONTEXT);
    m.push(client_id.len() as u8);
    m.extend_from_slice(client_id.as_bytes());
    m.extend_from_slice(&timestamp_ms.to_be_bytes());
    m.extend_from_slice(nonce);
    m.extend_from_slice(&(method.len() as u16).to_be_bytes());
    m.extend_from_slice(method.as_bytes());
    m.extend_from_slice(body);
    m
}

/// The bytes an `Api` reply's MAC covers: `"teehsm-api-resp-v1" ||
/// request mac || code (u32 BE) || u32 BE len(message) || message || body`.
pub fn api_response_message(request_mac: &[u8; CLIENT_MAC_LEN], code: u32, message: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(API_RESPONSE_CONTEXT.len() + CLIENT_MAC_LEN + 8 + message.len() + body.len());
    m.extend_from_slice(API_RESPONSE_CONTEXT);
    m.extend_from_slice(request_mac);
    m.extend_from_slice(&code.to_be_bytes());
    m.extend_from_slice(&(message.len() as u32).to_be_bytes());
    m.extend_from_slice(message.as_bytes());
    m.extend_from_slice(body);
    m
}

/// Longest API client id ([`valid_client_id`]).
pub const MAX_CLIENT_ID_LEN: usize = 64;
/// Most entries in one client's ACL.
pub const MAX_ACL_ENTRIES: usize = 64;
/// Longest key label prefix in an ACL entry (CKA_LABEL is at most 256 bytes).
pub const MAX_ACL_PREFIX_LEN: usize = 256;
/// Most clients one ListClients reply carries.
pub const MAX_CLIENTS: usize = 4096;
/// Length of an `Authorized` nonce.
pub const CLIENT_NONCE_LEN: usize = 16;
/// Length of an `Authorized` MAC (HMAC-SHA-256).
pub const CLIENT_MAC_LEN: usize = 32;
/// Length of a client secret.
pub const CLIENT_SECRET_LEN: usize = 32;
/// Domain separation prefix of the client MAC input.
pub const CLIENT_AUTH_CONTEXT: &[u8] = b"teehsm-auth-v1";

/// Operation bits of [`AclEntry::operations`].
pub mod acl_op {
    pub const SIGN: u32 = 1 << 0;
    pub const VERIFY: u32 = 1 << 1;
    pub const ENCRYPT: u32 = 1 << 2;
    pub const DECRYPT: u32 = 1 << 3;
    pub const WRAP: u32 = 1 << 4;
    pub const UNWRAP: u32 = 1 << 5;
    pub const DERIVE: u32 = 1 << 6;
    pub const ENCAPSULATE: u32 = 1 << 7;
    pub const DECAPSULATE: u32 = 1 << 8;
    pub const GENERATE: u32 = 1 << 9;
    pub const DESTROY: u32 = 1 << 10;
    pub const GET_PUBLIC: u32 = 1 << 11;
    /// Every defined bit.
    pub const ALL: u32 = (1 << 12) - 1;
    /// Names as the CLI and messages spell them.
    pub const NAMES: [(&str, u32); 12] = [
        ("sign", SIGN),
        ("verify", VERIFY),
        ("encrypt", ENCRYPT),
        ("decrypt", DECRYPT),
        ("wrap", WRAP),
        ("unwrap", UNWRAP),
        ("derive", DERIVE),
        ("encapsulate", ENCAPSULATE),
        ("decapsulate", DECAPSULATE),
        ("generate", GENERATE),
        ("destroy", DESTROY),
        ("get_public", GET_PUBLIC),
    ];
    /// The name of one bit.
    pub fn name(bit: u32) -> &'static str {
        NAMES.iter().find(|(_, b)| *b == bit).map(|(n, _)| *n).unwrap_or("unknown")
    }
    /// Comma-separated names of the bits set in `ops`.
    pub fn names(ops: u32) -> String {
        NAMES.iter().filter(|(_, b)| ops & b != 0).map(|(n, _)| *n).collect::<Vec<_>>().join(",")
    }
}

/// One ACL entry of an API client: the operations (bits of [`acl_op`])
/// allowed on keys whose CKA_LABEL starts with `key_label_prefix` (empty:
/// any key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclEntry {
    pub key_label_prefix: String,
    pub operations: u32,
}

/// A registered client as ListClients reports it (no secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    pub client_id: String,
    pub acl: Vec<AclEntry>,
}

/// 1 to 64 characters from `[A-Za-z0-9._-]`.
pub fn valid_client_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_CLIENT_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// The bytes an `Authorized` MAC covers: `"teehsm-auth-v1" || client_id ||
/// timestamp_ms (u64 BE) || nonce || encode_request(0, request)`. The
/// client id is at most 64 bytes from a fixed alphabet and the request
/// encoding is self-delimiting, so the concatenation is unambiguous.
pub fn client_auth_message(client_id: &str, timestamp_ms: u64, nonce: &[u8; CLIENT_NONCE_LEN], request: &Request) -> Vec<u8> {
    let inner = encode_request(0, request);
    let mut m = Vec::with_capacity(CLIENT_AUTH_CONTEXT.len() + client_id.len() + 8 + CLIENT_NONCE_LEN + inner.len());
    m.extend_from_slice(CLIENT_AUTH_CONTEXT);
    m.extend_from_slice(client_id.as_bytes());
    m.extend_from_slice(&timestamp_ms.to_be_bytes());
    m.extend_from_slice(nonce);
    m.extend_from_slice(&inner);
    m
}

fn put_acl(w: &mut Writer, acl: &[AclEntry]) {
    w.u32(acl.len() as u32);
    for e in acl {
        w.str(&e.key_label_prefix).u32(e.operations);
    }
}

fn get_acl(r: &mut Reader<'_>) -> Result<Vec<AclEntry>, DecodeError> {
    let n = r.count("ACL entries", MAX_ACL_ENTRIES, 8)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(AclEntry { key_label_prefix: r.string("key label prefix", MAX_ACL_PREFIX_LEN)?, operations: r.u32("ACL operations")? });
    }
    Ok(v)
}

fn get_client_id(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    r.string("client id", MAX_CLIENT_ID_LEN)
}

/// Information the TA gives about itself.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TaInfo {
    pub version: String,
    pub platform: String,
    pub simulation: bool,
    pub measurement: Vec<u8>,
    pub security_version: u32,
    pub self_tests: Vec<String>,
    pub slots: u32,
}

/// CK_TOKEN_INFO, the parts the TA owns.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TokenInfo {
    pub label: String,
    pub serial: String,
    pub flags: u64,
    pub session_count: u64,
    pub rw_session_count: u64,
    pub min_pin_len: u64,
    pub max_pin_len: u64,
    pub total_objects: u64,
    /// The most objects the token may hold (the TA's `max_token_objects`);
    /// creating more fails with CKR_DEVICE_MEMORY. 0: no limit.
    pub max_objects: u64,
}

/// CK_SESSION_INFO.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SessionInfo {
    pub slot: u64,
    pub state: u64,
    pub flags: u64,
}

/// Result of reading one attribute: its value, or why it is not given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrResult {
    pub ty: u64,
    pub status: Rv,
    pub value: Vec<u8>,
}
impl Drop for AttrResult {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

/// Head of the TA's hash-chained audit log.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AuditHead {
    pub seq: u64,
    pub hash: Vec<u8>,
}

/// Length of the caller's nonce in `Request::GetAttestation`.
pub const ATTESTATION_NONCE_LEN: usize = 32;
/// Longest platform name in a report.
pub const MAX_PLATFORM_NAME_LEN: usize = 64;
/// Longest signed report body (real quotes are a few KiB).
pub const MAX_REPORT_BODY_LEN: usize = 64 * 1024;
/// Longest report signature (may carry a certificate chain for real backends).
pub const MAX_REPORT_SIGNATURE_LEN: usize = 64 * 1024;
/// Longest channel public key (room for hybrid EC + ML-KEM keys).
pub const MAX_CHANNEL_KEY_LEN: usize = 8 * 1024;

/// An attestation report as the TA sends it (`Reply::Attestation`).
///
/// Only `body` is signed (by the platform, format per platform); the other
/// fields repeat what the body says for convenience, and a verifier must
/// check that they agree with the signed body (`teehsm-attest` does).
/// `channel_public_key` (the channel key bundle) is not in the body:
/// `report_data[32..]` is its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestationReport {
    pub platform: String,
    pub simulation: bool,
    pub measurement: [u8; 32],
    pub signer: [u8; 32],
    pub product_id: u16,
    pub security_version: u32,
    pub report_data: [u8; 64],
    pub body: Vec<u8>,
    pub signature: Vec<u8>,
    /// The TA's channel key bundle: P-256 point (65 bytes) || ML-KEM-768
    /// encapsulation key (1184 bytes) || SM2 point (65 bytes); see
    /// [`split_channel_bundle`].
    pub channel_public_key: Vec<u8>,
}

impl AttestationReport {
    fn put(&self, w: &mut Writer) {
        w.str(&self.platform).bool(self.simulation).raw(&self.measurement).raw(&self.signer);
        w.u16(self.product_id).u32(self.security_version).raw(&self.report_data);
        w.bytes(&self.body).bytes(&self.signature).bytes(&self.channel_public_key);
    }

    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(AttestationReport {
            platform: r.string("platform name", MAX_PLATFORM_NAME_LEN)?,
            simulation: r.bool("simulation flag")?,
            measurement: r.array("measurement")?,
            signer: r.array("signer")?,
            product_id: r.u16("product id")?,
            security_version: r.u32("security version")?,
            report_data: r.array("report data")?,
            body: r.bytes("report body", MAX_REPORT_BODY_LEN)?,
            signature: r.bytes("report signature", MAX_REPORT_SIGNATURE_LEN)?,
            channel_public_key: r.bytes("channel public key", MAX_CHANNEL_KEY_LEN)?,
        })
    }

    /// The report on its own (what `teehsm attest fetch` writes to a file):
    /// a format tag byte then the same fields as in the reply.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(512 + self.body.len() + self.signature.len());
        w.raw(ATTESTATION_FILE_MAGIC);
        self.put(&mut w);
        w.into_vec()
    }

    /// Decodes [`AttestationReport::to_bytes`], refusing trailing bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let magic: [u8; 8] = r.array("report file magic")?;
        if &magic != ATTESTATION_FILE_MAGIC {
            return Err(DecodeError::Invalid { what: "report file magic", why: "not a teehsm attestation report" });
        }
        let rep = Self::get(&mut r)?;
        r.finish()?;
        Ok(rep)
    }
}

/// First bytes of a stored report file.
pub const ATTESTATION_FILE_MAGIC: &[u8; 8] = b"TEEHSMR1";

/// The successful reply to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Done,
    Handle(u64),
    Handles(Vec<u64>),
    Bytes(Vec<u8>),
    KeyPair {
        public: u64,
        private: u64,
    },
    /// `app_ticket` names this connection's application for `JoinApp`; it is
    /// a bearer secret (whoever holds it acts as the application).
    Hello {
        version: u8,
        ta_version: String,
        channel: ChannelMode,
        app_ticket: Vec<u8>,
    },
    TaInfo(TaInfo),
    TokenInfo(TokenInfo),
    SessionInfo(SessionInfo),
    Attributes(Vec<AttrResult>),
    Encapsulated {
        ciphertext: Vec<u8>,
        handle: u64,
    },
    Mechanisms(Vec<u64>),
    MechanismInfo {
        min_key: u64,
        max_key: u64,
        flags: u64,
    },
    AuditHead(AuditHead),
    Attestation(Box<AttestationReport>),
    /// ListClients: the registered API clients and their ACLs.
    Clients(Vec<ClientInfo>),
    /// ApiCall: a gRPC status `code` (0 = OK) with its `message`, the
    /// response message's protobuf encoding (empty unless OK), and the TA's
    /// MAC over [`api_response_message`] with the client's secret (zero
    /// for anonymous calls and for refusals before the client was
    /// authenticated). `algorithm` is the teehsm.v1 `Algorithm` of the key
    /// the call used (0 if none), for the CA's metrics; not MAC-covered.
    Api {
        code: u32,
        message: String,
        body: Vec<u8>,
        mac: [u8; CLIENT_MAC_LEN],
        algorithm: u32,
    },
}

/// A response: the reply, or a status code with a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    Ok(Reply),
    Err { rv: Rv, message: String },
}

impl Response {
    pub fn err(rv: Rv, message: impl Into<String>) -> Self {
        Response::Err { rv, message: message.into() }
    }
}

// ---------------------------------------------------------------- helpers

fn put_template(w: &mut Writer, t: &[Attribute]) {
    w.u32(t.len() as u32);
    for a in t {
        w.u64(a.ty).bytes(&a.value);
    }
}

fn get_template(r: &mut Reader<'_>) -> Result<Vec<Attribute>, DecodeError> {
    let n = r.count("template", MAX_TEMPLATE_LEN, 12)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let ty = r.u64("attribute type")?;
        let value = r.bytes("attribute value", MAX_ATTR_VALUE_LEN)?;
        v.push(Attribute { ty, value });
    }
    Ok(v)
}

/// Encodes a template on its own (used for nested array attributes such as CKA_WRAP_TEMPLATE).
pub fn encode_template(t: &[Attribute]) -> Vec<u8> {
    let mut w = Writer::new();
    put_template(&mut w, t);
    w.into_vec()
}

/// Decodes a template encoded by [`encode_template`], refusing trailing bytes.
pub fn decode_template(b: &[u8]) -> Result<Vec<Attribute>, DecodeError> {
    let mut r = Reader::new(b);
    let t = get_template(&mut r)?;
    r.finish()?;
    Ok(t)
}

fn put_mech(w: &mut Writer, m: &Mechanism) {
    w.u64(m.mech);
    match &m.param {
        MechParam::None => {
            w.u8(0);
        }
        MechParam::Bytes(b) => {
            w.u8(1).bytes(b);
        }
        MechParam::Gcm { iv, aad, tag_bits } => {
            w.u8(2).bytes(iv).bytes(aad).u32(*tag_bits);
        }
        MechParam::Ctr { counter_bits, counter_block } => {
            w.u8(3).u32(*counter_bits).bytes(counter_block);
        }
        MechParam::Pss { hash, mgf, salt_len } => {
            w.u8(4).u64(*hash).u64(*mgf).u64(*salt_len);
        }
        MechParam::Oaep { hash, mgf, source, source_data } => {
            w.u8(5).u64(*hash).u64(*mgf).u64(*source).bytes(source_data);
        }
        MechParam::Ecdh { kdf, shared_data, public_data } => {
            w.u8(6).u64(*kdf).bytes(shared_data).bytes(public_data);
        }
        MechParam::Sm2 { user_id } => {
            w.u8(7).bytes(user_id);
        }
        MechParam::SignContext { hedge, context } => {
            w.u8(8).u64(*hedge).bytes(context);
        }
        MechParam::Eddsa { prehash, context } => {
            w.u8(9).u8(*prehash as u8).bytes(context);
        }
        MechParam::HashSignContext { hedge, context, hash } => {
            w.u8(10).u64(*hedge).bytes(context).u64(*hash);
        }
        MechParam::Ulong(v) => {
            w.u8(11).u64(*v);
        }
        MechParam::CbcEncryptData { iv, data } => {
            w.u8(12).bytes(iv).bytes(data);
        }
        MechParam::Kbkdf(k) => {
            w.u8(13).u64(k.prf).u32(k.data.len() as u32);
            for d in &k.data {
                match d {
                    KdfDataParam::IterationVariable { format: None } => {
                        w.u8(1);
                    }
                    KdfDataParam::IterationVariable { format: Some(f) } => {
                        w.u8(2).u8(f.little_endian as u8).u64(f.width_bits);
                    }
                    KdfDataParam::Counter(f) => {
                        w.u8(3).u8(f.little_endian as u8).u64(f.width_bits);
                    }
                    KdfDataParam::DkmLength { method, format } => {
                        w.u8(4).u64(*method).u8(format.little_endian as u8).u64(format.width_bits);
                    }
                    KdfDataParam::ByteArray(b) => {
                        w.u8(5).bytes(b);
                    }
                }
            }
            w.bytes(&k.iv).u32(k.additional_keys.len() as u32);
            for t in &k.additional_keys {
                put_template(w, t);
            }
        }
    }
}

/// Most data parameters and additional keys in one KBKDF call.
pub const MAX_KDF_PARTS: usize = 32;

fn get_counter_format(r: &mut Reader<'_>) -> Result<CounterFormat, DecodeError> {
    let little_endian = match r.u8("counter endianness")? {
        0 => false,
        1 => true,
        t => return Err(DecodeError::UnknownTag { what: "counter endianness", tag: t as u64 }),
    };
    Ok(CounterFormat { little_endian, width_bits: r.u64("counter width")? })
}

fn get_kbkdf(r: &mut Reader<'_>) -> Result<KbkdfParams, DecodeError> {
    let prf = r.u64("KBKDF PRF")?;
    let n = r.count("KBKDF data parameters", MAX_KDF_PARTS, 1)?;
    let mut data = Vec::with_capacity(n);
    for _ in 0..n {
        data.push(match r.u8("KBKDF data parameter tag")? {
            1 => KdfDataParam::IterationVariable { format: None },
            2 => KdfDataParam::IterationVariable { format: Some(get_counter_format(r)?) },
            3 => KdfDataParam::Counter(get_counter_format(r)?),
            4 => KdfDataParam::DkmLength { method: r.u64("DKM length method")?, format: get_counter_format(r)? },
            5 => KdfDataParam::ByteArray(r.bytes("KBKDF byte array", MAX_PARAM)?),
            t => return Err(DecodeError::UnknownTag { what: "KBKDF data parameter", tag: t as u64 }),
        });
    }
    let iv = r.bytes("KBKDF feedback IV", MAX_PARAM)?;
    let k = r.count("KBKDF additional keys", MAX_KDF_PARTS, 4)?;
    let mut additional_keys = Vec::with_capacity(k);
    for _ in 0..k {
        additional_keys.push(get_template(r)?);
    }
    Ok(KbkdfParams { prf, data, iv, additional_keys })
}

const MAX_PARAM: usize = 64 * 1024;

fn get_mech(r: &mut Reader<'_>) -> Result<Mechanism, DecodeError> {
    let mech = r.u64("mechanism")?;
    let tag = r.u8("mechanism parameter tag")?;
    let param = match tag {
        0 => MechParam::None,
        1 => MechParam::Bytes(r.bytes("mechanism parameter", MAX_PARAM)?),
        2 => MechParam::Gcm { iv: r.bytes("GCM IV", 256)?, aad: r.bytes("GCM AAD", MAX_PARAM)?, tag_bits: r.u32("GCM tag bits")? },
        3 => MechParam::Ctr { counter_bits: r.u32("CTR counter bits")?, counter_block: r.bytes("CTR counter block", 16)? },
        4 => MechParam::Pss { hash: r.u64("PSS hash")?, mgf: r.u64("PSS MGF")?, salt_len: r.u64("PSS salt length")? },
        5 => MechParam::Oaep {
            hash: r.u64("OAEP hash")?,
            mgf: r.u64("OAEP MGF")?,
            source: r.u64("OAEP source")?,
            source_data: r.bytes("OAEP label", MAX_PARAM)?,
        },
        6 => MechParam::Ecdh {
            kdf: r.u64("ECDH KDF")?,
            shared_data: r.bytes("ECDH shared data", MAX_PARAM)?,
            public_data: r.bytes("ECDH public data", MAX_PARAM)?,
        },
        7 => MechParam::Sm2 { user_id: r.bytes("SM2 user ID", 8191)? },
        8 => MechParam::SignContext { hedge: r.u64("hedge variant")?, context: r.bytes("signing context", 255)? },
        9 => MechParam::Eddsa {
            prehash: match r.u8("EdDSA prehash flag")? {
                0 => false,
                1 => true,
                t => return Err(DecodeError::UnknownTag { what: "EdDSA prehash flag", tag: t as u64 }),
            },
            context: r.bytes("EdDSA context", 255)?,
        },
        10 => MechParam::HashSignContext {
            hedge: r.u64("hedge variant")?,
            context: r.bytes("signing context", 255)?,
            hash: r.u64("pre-hash mechanism")?,
        },
        11 => MechParam::Ulong(r.u64("mechanism parameter value")?),
        12 => MechParam::CbcEncryptData { iv: r.bytes("CBC IV", 16)?, data: r.bytes("CBC data", MAX_PARAM)? },
        13 => MechParam::Kbkdf(get_kbkdf(r)?),
        t => return Err(DecodeError::UnknownTag { what: "mechanism parameter", tag: t as u64 }),
    };
    Ok(Mechanism { mech, param })
}

fn get_secret(r: &mut Reader<'_>, what: &'static str) -> Result<Secret, DecodeError> {
    Ok(Secret(r.bytes(what, MAX_PIN_LEN)?))
}

fn get_data(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<u8>, DecodeError> {
    r.bytes(what, MAX_DATA_LEN)
}

// ---------------------------------------------------------------- requests

impl Request {
    /// Short operation name, for logs, metrics and the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "Hello",
            Request::JoinApp { .. } => "JoinApp",
            Request::GetTaInfo => "GetTaInfo",
            Request::GetSlotList => "GetSlotList",
            Request::GetTokenInfo { .. } => "GetTokenInfo",
            Request::GetMechanismList { .. } => "GetMechanismList",
            Request::GetMechanismInfo { .. } => "GetMechanismInfo",
            Request::InitToken { .. } => "InitToken",
            Request::OpenSession { .. } => "OpenSession",
            Request::CloseSession { .. } => "CloseSession",
            Request::CloseAllSessions { .. } => "CloseAllSessions",
            Request::GetSessionInfo { .. } => "GetSessionInfo",
            Request::Login { .. } => "Login",
            Request::Logout { .. } => "Logout",
            Request::InitPin { .. } => "InitPin",
            Request::SetPin { .. } => "SetPin",
            Request::CreateObject { .. } => "CreateObject",
            Request::CopyObject { .. } => "CopyObject",
            Request::DestroyObject { .. } => "DestroyObject",
            Request::GetAttributeValue { .. } => "GetAttributeValue",
            Request::SetAttributeValue { .. } => "SetAttributeValue",
            Request::FindObjects { .. } => "FindObjects",
            Request::GenerateKey { .. } => "GenerateKey",
            Request::GenerateKeyPair { .. } => "GenerateKeyPair",
            Request::Sign { .. } => "Sign",
            Request::Verify { .. } => "Verify",
            Request::Encrypt { .. } => "Encrypt",
            Request::Decrypt { .. } => "Decrypt",
            Request::Digest { .. } => "Digest",
            Request::WrapKey { .. } => "WrapKey",
            Request::UnwrapKey { .. } => "UnwrapKey",
            Request::DeriveKey { .. } => "DeriveKey",
            Request::Encapsulate { .. } => "Encapsulate",
            Request::Decapsulate { .. } => "Decapsulate",
            Request::GenerateRandom { .. } => "GenerateRandom",
            Request::OpInit { .. } => "OpInit",
            Request::OpUpdate { .. } => "OpUpdate",
            Request::OpFinal { .. } => "OpFinal",
            Request::OpSingle { .. } => "OpSingle",
            Request::DigestKey { .. } => "DigestKey",
            Request::GetAuditHead => "GetAuditHead",
            Request::GetAttestation { .. } => "GetAttestation",
            Request::OpenChannel { .. } => "OpenChannel",
            Request::ChannelKeys { .. } => "ChannelKeys",
            Request::RegisterClient { .. } => "RegisterClient",
            Request::SetClientAcl { .. } => "SetClientAcl",
            Request::RemoveClient { .. } => "RemoveClient",
            Request::ListClients { .. } => "ListClients",
            Request::Authorized { .. } => "Authorized",
            Request::ApiCall { .. } => "ApiCall",
            Request::TrustKeydistSigner { .. } => "TrustKeydistSigner",
            Request::UntrustKeydistSigner { .. } => "UntrustKeydistSigner",
            Request::ImportDistributedKey { .. } => "ImportDistributedKey",
            Request::GenerateCsr { .. } => "GenerateCsr",
            Request::ListKeydistSigners { .. } => "ListKeydistSigners",
            Request::ApplyTokenPolicy { .. } => "ApplyTokenPolicy",
        }
    }

    fn encode_body(&self, w: &mut Writer) {
        match self {
            Request::Hello { client, channel } => {
                w.u16(1).str(client).u8(*channel as u8);
            }
            Request::GetTaInfo => {
                w.u16(2);
            }
            Request::GetSlotList => {
                w.u16(3);
            }
            Request::GetTokenInfo { slot } => {
                w.u16(4).u64(*slot);
            }
            Request::GetMechanismList { slot } => {
                w.u16(5).u64(*slot);
            }
            Request::GetMechanismInfo { slot, mech } => {
                w.u16(6).u64(*slot).u64(*mech);
            }
            Request::InitToken { slot, so_pin, label } => {
                w.u16(7).u64(*slot).bytes(&so_pin.0).str(label);
            }
            Request::OpenSession { slot, flags } => {
                w.u16(8).u64(*slot).u64(*flags);
            }
            Request::CloseSession { session } => {
                w.u16(9).u64(*session);
            }
            Request::CloseAllSessions { slot } => {
                w.u16(10).u64(*slot);
            }
            Request::GetSessionInfo { session } => {
                w.u16(11).u64(*session);
            }
            Request::Login { session, user_type, pin } => {
                w.u16(12).u64(*session).u64(*user_type).bytes(&pin.0);
            }
            Request::Logout { session } => {
                w.u16(13).u64(*session);
            }
            Request::InitPin { session, pin } => {
                w.u16(14).u64(*session).bytes(&pin.0);
            }
            Request::SetPin { session, old_pin, new_pin } => {
                w.u16(15).u64(*session).bytes(&old_pin.0).bytes(&new_pin.0);
            }
            Request::CreateObject { session, template } => {
                w.u16(20).u64(*session);
                put_template(w, template);
            }
            Request::CopyObject { session, object, template } => {
                w.u16(21).u64(*session).u64(*object);
                put_template(w, template);
            }
            Request::DestroyObject { session, object } => {
                w.u16(22).u64(*session).u64(*object);
            }
            Request::GetAttributeValue { session, object, types } => {
                w.u16(23).u64(*session).u64(*object).u64s(types);
            }
            Request::SetAttributeValue { session, object, template } => {
                w.u16(24).u64(*session).u64(*object);
                put_template(w, template);
            }
            Request::FindObjects { session, template, max } => {
                w.u16(25).u64(*session);
                put_template(w, template);
                w.u32(*max);
            }
            Request::GenerateKey { session, mechanism, template } => {
                w.u16(30).u64(*session);
                put_mech(w, mechanism);
                put_template(w, template);
            }
            Request::GenerateKeyPair { session, mechanism, public_template, private_template } => {
                w.u16(31).u64(*session);
                put_mech(w, mechanism);
                put_template(w, public_template);
                put_template(w, private_template);
            }
            Request::Sign { session, mechanism, key, data } => {
                w.u16(32).u64(*session);
                put_mech(w, mechanism);
                w.u64(*key).bytes(data);
            }
            Request::Verify { session, mechanism, key, data, signature } => {
                w.u16(33).u64(*session);
                put_mech(w, mechanism);
                w.u64(*key).bytes(data).bytes(signature);
            }
            Request::Encrypt { session, mechanism, key, data } => {
                w.u16(34).u64(*session);
                put_mech(w, mechanism);
                w.u64(*key).bytes(data);
            }
            Request::Decrypt { session, mechanism, key, data } => {
                w.u16(35).u64(*session);
                put_mech(w, mechanism);
                w.u64(*key).bytes(data);
            }
            Request::Digest { session, mechanism, data } => {
                w.u16(36).u64(*session);
                put_mech(w, mechanism);
                w.bytes(data);
            }
            Request::WrapKey { session, mechanism, wrapping_key, key } => {
                w.u16(37).u64(*session);
                put_mech(w, mechanism);
                w.u64(*wrapping_key).u64(*key);
            }
            Request::UnwrapKey { session, mechanism, unwrapping_key, wrapped, template } => {
                w.u16(38).u64(*session);
                put_mech(w, mechanism);
                w.u64(*unwrapping_key).bytes(wrapped);
                put_template(w, template);
            }
            Request::DeriveKey { session, mechanism, base_key, template } => {
                w.u16(39).u64(*session);
                put_mech(w, mechanism);
                w.u64(*base_key);
                put_template(w, template);
            }
            Request::Encapsulate { session, mechanism, public_key, template } => {
                w.u16(40).u64(*session);
                put_mech(w, mechanism);
                w.u64(*public_key);
                put_template(w, template);
            }
            Request::Decapsulate { session, mechanism, private_key, ciphertext, template } => {
                w.u16(41).u64(*session);
                put_mech(w, mechanism);
                w.u64(*private_key).bytes(ciphertext);
                put_template(w, template);
            }
            Request::GenerateRandom { session, len } => {
                w.u16(42).u64(*session).u32(*len);
            }
            Request::GetAuditHead => {
                w.u16(50);
            }
            Request::GetAttestation { nonce } => {
                w.u16(48).bytes(nonce);
            }
            Request::JoinApp { ticket } => {
                w.u16(51).bytes(&ticket.0);
            }
            Request::OpenChannel { nonce } => {
                w.u16(52).raw(nonce);
            }
            Request::ChannelKeys { suite, client_p256, mlkem_ct } => {
                w.u16(53).u8(*suite).bytes(client_p256).bytes(mlkem_ct);
            }
            Request::OpInit { session, kind, mechanism, key } => {
                w.u16(43).u64(*session).u8(*kind as u8);
                put_mech(w, mechanism);
                w.u64(*key);
            }
            Request::OpUpdate { session, kind, data } => {
                w.u16(44).u64(*session).u8(*kind as u8).bytes(data);
            }
            Request::OpFinal { session, kind, signature } => {
                w.u16(45).u64(*session).u8(*kind as u8).bytes(signature);
            }
            Request::OpSingle { session, kind, data, signature } => {
                w.u16(46).u64(*session).u8(*kind as u8).bytes(data).bytes(signature);
            }
            Request::DigestKey { session, key } => {
                w.u16(47).u64(*session).u64(*key);
            }
            Request::RegisterClient { session, client_id, acl } => {
                w.u16(60).u64(*session).str(client_id);
                put_acl(w, acl);
            }
            Request::SetClientAcl { session, client_id, acl } => {
                w.u16(61).u64(*session).str(client_id);
                put_acl(w, acl);
            }
            Request::RemoveClient { session, client_id } => {
                w.u16(62).u64(*session).str(client_id);
            }
            Request::ListClients { session } => {
                w.u16(63).u64(*session);
            }
            Request::Authorized { client_id, timestamp_ms, nonce, mac, request } => {
                w.u16(64).str(client_id).u64(*timestamp_ms).raw(nonce).raw(mac);
                request.encode_body(w);
            }
            Request::ApiCall { client_id, timestamp_ms, nonce, mac, method, body } => {
                w.u16(65).str(client_id).u64(*timestamp_ms).raw(nonce).raw(mac).str(method).bytes(body);
            }
            Request::TrustKeydistSigner { session, public_key } => {
                w.u16(66).u64(*session).bytes(public_key);
            }
            Request::UntrustKeydistSigner { session, public_key } => {
                w.u16(67).u64(*session).bytes(public_key);
            }
            Request::ImportDistributedKey { session, envelope } => {
                w.u16(68).u64(*session).bytes(envelope);
            }
            Request::GenerateCsr { session, key, subject, mechanism } => {
                w.u16(69).u64(*session).u64(*key).str(subject).u64(*mechanism);
            }
            Request::ListKeydistSigners { session } => {
                w.u16(70).u64(*session);
            }
            Request::ApplyTokenPolicy { session, policy } => {
                w.u16(71).u64(*session).bytes(policy);
            }
        }
    }

    /// `nested`: decoding the inner request of `Authorized`, which may not
    /// itself be `Authorized` (so decoding never recurses more than once).
    fn decode_body(r: &mut Reader<'_>, nested: bool) -> Result<Self, DecodeError> {
        let op = r.u16("opcode")?;
        let s = |r: &mut Reader<'_>| r.u64("session handle");
        Ok(match op {
            1 => {
                let client = r.string("client name", 256)?;
                let channel = get_channel_mode(r)?;
                Request::Hello { client, channel }
            }
            2 => Request::GetTaInfo,
            3 => Request::GetSlotList,
            4 => Request::GetTokenInfo { slot: r.u64("slot")? },
            5 => Request::GetMechanismList { slot: r.u64("slot")? },
            6 => Request::GetMechanismInfo { slot: r.u64("slot")?, mech: r.u64("mechanism")? },
            7 => Request::InitToken { slot: r.u64("slot")?, so_pin: get_secret(r, "SO PIN")?, label: r.string("token label", 32)? },
            8 => Request::OpenSession { slot: r.u64("slot")?, flags: r.u64("session flags")? },
            9 => Request::CloseSession { session: s(r)? },
            10 => Request::CloseAllSessions { slot: r.u64("slot")? },
            11 => Request::GetSessionInfo { session: s(r)? },
            12 => Request::Login { session: s(r)?, user_type: r.u64("user type")?, pin: get_secret(r, "PIN")? },
            13 => Request::Logout { session: s(r)? },
            14 => Request::InitPin { session: s(r)?, pin: get_secret(r, "PIN")? },
            15 => Request::SetPin { session: s(r)?, old_pin: get_secret(r, "old PIN")?, new_pin: get_secret(r, "new PIN")? },
            20 => Request::CreateObject { session: s(r)?, template: get_template(r)? },
            21 => Request::CopyObject { session: s(r)?, object: r.u64("object handle")?, template: get_template(r)? },
            22 => Request::DestroyObject { session: s(r)?, object: r.u64("object handle")? },
            23 => Request::GetAttributeValue { session: s(r)?, object: r.u64("object handle")?, types: r.u64s("attribute types", MAX_TEMPLATE_LEN)? },
            24 => Request::SetAttributeValue { session: s(r)?, object: r.u64("object handle")?, template: get_template(r)? },
            25 => Request::FindObjects { session: s(r)?, template: get_template(r)?, max: r.u32("max objects")? },
            30 => Request::GenerateKey { session: s(r)?, mechanism: get_mech(r)?, template: get_template(r)? },
            31 => Request::GenerateKeyPair {
                session: s(r)?,
                mechanism: get_mech(r)?,
                public_template: get_template(r)?,
                private_template: get_template(r)?,
            },
            32 => Request::Sign { session: s(r)?, mechanism: get_mech(r)?, key: r.u64("key handle")?, data: get_data(r, "data")? },
            33 => Request::Verify {
                session: s(r)?,
                mechanism: get_mech(r)?,
                key: r.u64("key handle")?,
                data: get_data(r, "data")?,
                signature: r.bytes("signature", 64 * 1024)?,
            },
            34 => Request::Encrypt { session: s(r)?, mechanism: get_mech(r)?, key: r.u64("key handle")?, data: get_data(r, "data")? },
            35 => Request::Decrypt { session: s(r)?, mechanism: get_mech(r)?, key: r.u64("key handle")?, data: get_data(r, "data")? },
            36 => Request::Digest { session: s(r)?, mechanism: get_mech(r)?, data: get_data(r, "data")? },
            37 => {
                Request::WrapKey { session: s(r)?, mechanism: get_mech(r)?, wrapping_key: r.u64("wrapping key handle")?, key: r.u64("key handle")? }
            }
            38 => Request::UnwrapKey {
                session: s(r)?,
                mechanism: get_mech(r)?,
                unwrapping_key: r.u64("unwrapping key handle")?,
                wrapped: r.bytes("wrapped key", 64 * 1024)?,
                template: get_template(r)?,
            },
            39 => Request::DeriveKey { session: s(r)?, mechanism: get_mech(r)?, base_key: r.u64("base key handle")?, template: get_template(r)? },
            40 => {
                Request::Encapsulate { session: s(r)?, mechanism: get_mech(r)?, public_key: r.u64("public key handle")?, template: get_template(r)? }
            }
            41 => Request::Decapsulate {
                session: s(r)?,
                mechanism: get_mech(r)?,
                private_key: r.u64("private key handle")?,
                ciphertext: r.bytes("ciphertext", 64 * 1024)?,
                template: get_template(r)?,
            },
            42 => Request::GenerateRandom { session: s(r)?, len: r.u32("random length")? },
            43 => Request::OpInit { session: s(r)?, kind: get_op_kind(r)?, mechanism: get_mech(r)?, key: r.u64("key handle")? },
            44 => Request::OpUpdate { session: s(r)?, kind: get_op_kind(r)?, data: get_data(r, "data")? },
            45 => Request::OpFinal { session: s(r)?, kind: get_op_kind(r)?, signature: r.bytes("signature", MAX_SIGNATURE_LEN)? },
            46 => Request::OpSingle {
                session: s(r)?,
                kind: get_op_kind(r)?,
                data: get_data(r, "data")?,
                signature: r.bytes("signature", MAX_SIGNATURE_LEN)?,
            },
            47 => Request::DigestKey { session: s(r)?, key: r.u64("key handle")? },
            48 => Request::GetAttestation { nonce: r.bytes("attestation nonce", 256)? },
            50 => Request::GetAuditHead,
            51 => Request::JoinApp { ticket: Secret(r.bytes("app ticket", MAX_APP_TICKET_LEN)?) },
            52 => Request::OpenChannel { nonce: r.array("channel nonce")? },
            53 => Request::ChannelKeys {
                suite: r.u8("channel suite")?,
                client_p256: r.bytes("client P-256 point", CHANNEL_P256_POINT_LEN)?,
                mlkem_ct: r.bytes("ML-KEM ciphertext", CHANNEL_MLKEM768_CT_LEN)?,
            },
            60 => Request::RegisterClient { session: s(r)?, client_id: get_client_id(r)?, acl: get_acl(r)? },
            61 => Request::SetClientAcl { session: s(r)?, client_id: get_client_id(r)?, acl: get_acl(r)? },
            62 => Request::RemoveClient { session: s(r)?, client_id: get_client_id(r)? },
            63 => Request::ListClients { session: s(r)? },
            64 if nested => return Err(DecodeError::Invalid { what: "authorized request", why: "Authorized may not be nested" }),
            64 => Request::Authorized {
                client_id: get_client_id(r)?,
                timestamp_ms: r.u64("timestamp")?,
                nonce: r.array("client nonce")?,
                mac: r.array("client MAC")?,
                request: Box::new(Request::decode_body(r, true)?),
            },
            65 => Request::ApiCall {
                client_id: {
                    let id = r.string("client id", MAX_CLIENT_ID_LEN)?;
                    if !id.is_empty() && !valid_client_id(&id) {
                        return Err(DecodeError::Invalid { what: "client id", why: "1 to 64 characters from [A-Za-z0-9._-]" });
                    }
                    id
                },
                timestamp_ms: r.u64("timestamp")?,
                nonce: r.array("client nonce")?,
                mac: r.array("client MAC")?,
                method: r.string("API method", MAX_API_METHOD_LEN)?,
                body: r.bytes("API request body", MAX_API_BODY_LEN)?,
            },
            66 => Request::TrustKeydistSigner { session: s(r)?, public_key: r.bytes("signer public key", MAX_KEYDIST_SIGNER_KEY_LEN)? },
            67 => Request::UntrustKeydistSigner { session: s(r)?, public_key: r.bytes("signer public key", MAX_KEYDIST_SIGNER_KEY_LEN)? },
            68 => Request::ImportDistributedKey {
                session: s(r)?,
                envelope: r.bytes("key distribution envelope", crate::keydist::KEYDIST_MAX_ENVELOPE)?,
            },
            69 => Request::GenerateCsr {
                session: s(r)?,
                key: r.u64("key handle")?,
                subject: r.string("CSR subject", MAX_CSR_SUBJECT_LEN)?,
                mechanism: r.u64("mechanism")?,
            },
            70 => Request::ListKeydistSigners { session: s(r)? },
            71 => Request::ApplyTokenPolicy { session: s(r)?, policy: r.bytes("token policy", crate::token_policy::POLICY_LEN)? },
            t => return Err(DecodeError::UnknownTag { what: "opcode", tag: t as u64 }),
        })
    }
}

/// Encodes a request frame payload (without the length prefix).
pub fn encode_request(request_id: u32, req: &Request) -> Vec<u8> {
    let mut w = Writer::with_capacity(64);
    w.u8(PROTOCOL_VERSION).u8(KIND_REQUEST).u32(request_id);
    req.encode_body(&mut w);
    w.into_vec()
}

/// Why a request payload could not be decoded; carries the request id when
/// the header was readable so the reply can be matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest {
    pub request_id: Option<u32>,
    pub rv: Rv,
    pub error: DecodeError,
}

/// Decodes a request frame payload.
pub fn decode_request(payload: &[u8]) -> Result<(u32, Request), BadRequest> {
    let mut r = Reader::new(payload);
    let header = (|| -> Result<(u8, u8, u32), DecodeError> { Ok((r.u8("version")?, r.u8("kind")?, r.u32("request id")?)) })();
    let (version, kind, id) = header.map_err(|error| BadRequest { request_id: None, rv: Rv::TEEHSM_MALFORMED_REQUEST, error })?;
    if version != PROTOCOL_VERSION {
        return Err(BadRequest {
            request_id: Some(id),
            rv: Rv::TEEHSM_PROTOCOL_VERSION,
            error: DecodeError::Invalid { what: "protocol version", why: "unsupported version" },
        });
    }
    if kind != KIND_REQUEST {
        return Err(BadRequest {
            request_id: Some(id),
            rv: Rv::TEEHSM_MALFORMED_REQUEST,
            error: DecodeError::Invalid { what: "frame kind", why: "expected a request" },
        });
    }
    let bad = |error| BadRequest { request_id: Some(id), rv: Rv::TEEHSM_MALFORMED_REQUEST, error };
    let req = Request::decode_body(&mut r, false).map_err(bad)?;
    r.finish().map_err(bad)?;
    Ok((id, req))
}

// ---------------------------------------------------------------- responses

fn put_ta_info(w: &mut Writer, i: &TaInfo) {
    w.str(&i.version).str(&i.platform).bool(i.simulation).bytes(&i.measurement).u32(i.security_version);
    w.u32(i.self_tests.len() as u32);
    for t in &i.self_tests {
        w.str(t);
    }
    w.u32(i.slots);
}

fn get_ta_info(r: &mut Reader<'_>) -> Result<TaInfo, DecodeError> {
    let version = r.string("TA version", 64)?;
    let platform = r.string("platform", 64)?;
    let simulation = r.bool("simulation flag")?;
    let measurement = r.bytes("measurement", 64)?;
    let security_version = r.u32("security version")?;
    let n = r.count("self tests", 256, 4)?;
    let mut self_tests = Vec::with_capacity(n);
    for _ in 0..n {
        self_tests.push(r.string("self test", 256)?);
    }
    let slots = r.u32("slot count")?;
    Ok(TaInfo { version, platform, simulation, measurement, security_version, self_tests, slots })
}

impl Reply {
    fn encode(&self, w: &mut Writer) {
        match self {
            Reply::Done => {
                w.u8(0);
            }
            Reply::Handle(h) => {
                w.u8(1).u64(*h);
            }
            Reply::Handles(v) => {
                w.u8(2).u64s(v);
            }
            Reply::Bytes(b) => {
                w.u8(3).bytes(b);
            }
            Reply::KeyPair { public, private } => {
                w.u8(4).u64(*public).u64(*private);
            }
            Reply::Hello { version, ta_version, channel, app_ticket } => {
                w.u8(5).u8(*version).str(ta_version).u8(*channel as u8).bytes(app_ticket);
            }
            Reply::TaInfo(i) => {
                w.u8(6);
                put_ta_info(w, i);
            }
            Reply::TokenInfo(t) => {
                w.u8(7).str(&t.label).str(&t.serial).u64(t.flags).u64(t.session_count).u64(t.rw_session_count);
                w.u64(t.min_pin_len).u64(t.max_pin_len).u64(t.total_objects).u64(t.max_objects);
            }
            Reply::SessionInfo(s) => {
                w.u8(8).u64(s.slot).u64(s.state).u64(s.flags);
            }
            Reply::Attributes(v) => {
                w.u8(9).u32(v.len() as u32);
                for a in v {
                    w.u64(a.ty).u32(a.status.0).bytes(&a.value);
                }
            }
            Reply::Encapsulated { ciphertext, handle } => {
                w.u8(10).bytes(ciphertext).u64(*handle);
            }
            Reply::Mechanisms(v) => {
                w.u8(11).u64s(v);
            }
            Reply::MechanismInfo { min_key, max_key, flags } => {
                w.u8(12).u64(*min_key).u64(*max_key).u64(*flags);
            }
            Reply::AuditHead(h) => {
                w.u8(13).u64(h.seq).bytes(&h.hash);
            }
            Reply::Attestation(a) => {
                w.u8(14);
                a.put(w);
            }
            Reply::Clients(v) => {
                w.u8(15).u32(v.len() as u32);
                for c in v {
                    w.str(&c.client_id);
                    put_acl(w, &c.acl);
                }
            }
            Reply::Api { code, message, body, mac, algorithm } => {
                w.u8(16).u32(*code).str(message).bytes(body).raw(mac).u32(*algorithm);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8("reply tag")? {
            0 => Reply::Done,
            1 => Reply::Handle(r.u64("handle")?),
            2 => Reply::Handles(r.u64s("handles", MAX_HANDLES)?),
            3 => Reply::Bytes(r.bytes("reply bytes", MAX_FRAME_LEN)?),
            4 => Reply::KeyPair { public: r.u64("public key handle")?, private: r.u64("private key handle")? },
            5 => Reply::Hello {
                version: r.u8("protocol version")?,
                ta_version: r.string("TA version", 64)?,
                channel: get_channel_mode(r)?,
                app_ticket: r.bytes("app ticket", MAX_APP_TICKET_LEN)?,
            },
            6 => Reply::TaInfo(get_ta_info(r)?),
            7 => Reply::TokenInfo(TokenInfo {
                label: r.string("label", 64)?,
                serial: r.string("serial", 64)?,
                flags: r.u64("flags")?,
                session_count: r.u64("session count")?,
                rw_session_count: r.u64("rw session count")?,
                min_pin_len: r.u64("min PIN length")?,
                max_pin_len: r.u64("max PIN length")?,
                total_objects: r.u64("object count")?,
                max_objects: r.u64("object capacity")?,
            }),
            8 => Reply::SessionInfo(SessionInfo { slot: r.u64("slot")?, state: r.u64("state")?, flags: r.u64("flags")? }),
            9 => {
                let n = r.count("attributes", MAX_TEMPLATE_LEN, 16)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(AttrResult {
                        ty: r.u64("attribute type")?,
                        status: Rv(r.u32("attribute status")?),
                        value: r.bytes("attribute value", MAX_ATTR_VALUE_LEN)?,
                    });
                }
                Reply::Attributes(v)
            }
            10 => Reply::Encapsulated { ciphertext: r.bytes("ciphertext", 64 * 1024)?, handle: r.u64("handle")? },
            11 => Reply::Mechanisms(r.u64s("mechanisms", 4096)?),
            12 => Reply::MechanismInfo { min_key: r.u64("min key")?, max_key: r.u64("max key")?, flags: r.u64("flags")? },
            13 => Reply::AuditHead(AuditHead { seq: r.u64("audit seq")?, hash: r.bytes("audit hash", 64)? }),
            14 => Reply::Attestation(Box::new(AttestationReport::get(r)?)),
            15 => {
                let n = r.count("clients", MAX_CLIENTS, 8)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(ClientInfo { client_id: get_client_id(r)?, acl: get_acl(r)? });
                }
                Reply::Clients(v)
            }
            16 => Reply::Api {
                code: r.u32("API status code")?,
                message: r.string("API status message", MAX_API_MESSAGE_LEN)?,
                body: r.bytes("API response body", MAX_API_BODY_LEN)?,
                mac: r.array("API response MAC")?,
                algorithm: r.u32("API key algorithm")?,
            },
            t => return Err(DecodeError::UnknownTag { what: "reply", tag: t as u64 }),
        })
    }
}

/// Encodes a response frame payload (without the length prefix).
pub fn encode_response(request_id: u32, resp: &Response) -> Vec<u8> {
    let mut w = Writer::with_capacity(64);
    w.u8(PROTOCOL_VERSION).u8(KIND_RESPONSE).u32(request_id);
    match resp {
        Response::Ok(reply) => {
            w.u32(Rv::OK.0);
            reply.encode(&mut w);
        }
        Response::Err { rv, message } => {
            // An error never carries status OK; clamp so the peer cannot misread it.
            let rv = if rv.is_ok() { Rv::GENERAL_ERROR } else { *rv };
            let msg = if message.len() > MAX_TEXT_LEN { &message[..floor_char_boundary(message, MAX_TEXT_LEN)] } else { message };
            w.u32(rv.0).str(msg);
        }
    }
    w.into_vec()
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Decodes a response frame payload into (request id, response).
pub fn decode_response(payload: &[u8]) -> Result<(u32, Response), DecodeError> {
    let mut r = Reader::new(payload);
    if r.u8("version")? != PROTOCOL_VERSION {
        return Err(DecodeError::Invalid { what: "protocol version", why: "unsupported version" });
    }
    if r.u8("kind")? != KIND_RESPONSE {
        return Err(DecodeError::Invalid { what: "frame kind", why: "expected a response" });
    }
    let id = r.u32("request id")?;
    let rv = Rv(r.u32("status")?);
    let resp =
        if rv.is_ok() { Response::Ok(Reply::decode(&mut r)?) } else { Response::Err { rv, message: r.string("error message", MAX_TEXT_LEN)? } };
    r.finish()?;
    Ok((id, resp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ck::*;

    fn round_trip(req: Request) {
        let bytes = encode_request(7, &req);
        let (id, back) = decode_request(&bytes).expect("decodes");
        assert_eq!(id, 7);
        assert_eq!(format!("{back:?}"), format!("{req:?}"));
        // Every strict prefix is refused, never accepted or panicking.
        for cut in 0..bytes.len() {
            assert!(decode_request(&bytes[..cut]).is_err(), "prefix of {cut} bytes accepted");
        }
    }

    #[test]
    fn every_mechanism_parameter_round_trips() {
        let params = [
            MechParam::Eddsa { prehash: true, context: b"ctx".to_vec() },
            MechParam::HashSignContext { hedge: 1, context: vec![], hash: CKM_SHA256 },
            MechParam::Ulong(42),
            MechParam::CbcEncryptData { iv: vec![1; 16], data: vec![2; 32] },
            MechParam::Kbkdf(KbkdfParams {
                prf: CKM_SHA256_HMAC,
                data: vec![
                    KdfDataParam::IterationVariable { format: Some(CounterFormat { little_endian: false, width_bits: 16 }) },
                    KdfDataParam::IterationVariable { format: None },
                    KdfDataParam::Counter(CounterFormat { little_endian: true, width_bits: 8 }),
                    KdfDataParam::DkmLength { method: 1, format: CounterFormat { little_endian: false, width_bits: 32 } },
                    KdfDataParam::ByteArray(b"label".to_vec()),
                ],
                iv: vec![9; 4],
                additional_keys: vec![vec![Attribute::ulong(CKA_VALUE_LEN, 16)], vec![]],
            }),
        ];
        for p in params {
            round_trip(Request::DeriveKey { session: 1, mechanism: Mechanism::with(CKM_SHA256_HMAC, p), base_key: 2, template: vec![] });
        }
        round_trip(Request::JoinApp { ticket: Secret(vec![5; 32]) });
        round_trip(Request::OpInit { session: 3, kind: OpKind::Sign, mechanism: Mechanism::new(CKM_ECDSA_SHA256), key: 9 });
        round_trip(Request::OpUpdate { session: 3, kind: OpKind::Digest, data: vec![1; 40] });
        round_trip(Request::OpFinal { session: 3, kind: OpKind::Verify, signature: vec![2; 64] });
        round_trip(Request::OpSingle { session: 3, kind: OpKind::Sign, data: vec![7; 32], signature: vec![] });
        round_trip(Request::DigestKey { session: 3, key: 12 });
    }

    #[test]
    fn client_requests_round_trip() {
        let acl = vec![
            AclEntry { key_label_prefix: "payments/".into(), operations: acl_op::SIGN | acl_op::VERIFY },
            AclEntry { key_label_prefix: String::new(), operations: acl_op::GET_PUBLIC },
        ];
        round_trip(Request::RegisterClient { session: 1, client_id: "svc-a.prod_1".into(), acl: acl.clone() });
        round_trip(Request::SetClientAcl { session: 1, client_id: "svc-a".into(), acl: vec![] });
        round_trip(Request::RemoveClient { session: 1, client_id: "svc-a".into() });
        round_trip(Request::ListClients { session: 1 });
        round_trip(Request::ApiCall {
            client_id: "svc-a".into(),
            timestamp_ms: 5,
            nonce: [1; 16],
            mac: [2; 32],
            method: "/teehsm.v1.KeyManagementService/Sign".into(),
            body: vec![1, 2, 3],
        });
        round_trip(Request::ApiCall {
            client_id: String::new(),
            timestamp_ms: 0,
            nonce: [0; 16],
            mac: [0; 32],
            method: "/teehsm.v1.KeyManagementService/GenerateRandom".into(),
            body: vec![],
        });
        let inner = Request::Sign { session: 3, mechanism: Mechanism::new(CKM_ECDSA_SHA256), key: 9, data: vec![1; 32] };
        let auth = Request::Authorized {
            client_id: "svc-a".into(),
            timestamp_ms: 1_700_000_000_000,
            nonce: [7; CLIENT_NONCE_LEN],
            mac: [9; CLIENT_MAC_LEN],
            request: Box::new(inner.clone()),
        };
        round_trip(auth.clone());
        // Nested Authorized is refused without recursing further.
        let nested = Request::Authorized { client_id: "x".into(), timestamp_ms: 0, nonce: [0; 16], mac: [0; 32], request: Box::new(auth) };
        assert!(decode_request(&encode_request(1, &nested)).is_err());
        // Over-long client ids and ACLs are refused.
        let long = Request::RemoveClient { session: 1, client_id: "a".repeat(MAX_CLIENT_ID_LEN + 1) };
        assert!(decode_request(&encode_request(1, &long)).is_err());
        let many = Request::SetClientAcl { session: 1, client_id: "a".into(), acl: vec![acl[0].clone(); MAX_ACL_ENTRIES + 1] };
        assert!(decode_request(&encode_request(1, &many)).is_err());
        // Replies.
        let resp =
            Response::Ok(Reply::Clients(vec![ClientInfo { client_id: "svc-a".into(), acl }, ClientInfo { client_id: "b".into(), acl: vec![] }]));
        let bytes = encode_response(4, &resp);
        assert_eq!(decode_response(&bytes).expect("decodes"), (4, resp));
        // The MAC input.
        let m = client_auth_message("svc-a", 0x0102, &[7; 16], &inner);
        assert!(m.starts_with(b"teehsm-auth-v1svc-a\0\0\0\0\0\0\x01\x02"));
        assert!(m.ends_with(&encode_request(0, &inner)));
        assert!(valid_client_id("a.B-9_") && !valid_client_id("") && !valid_client_id("a b") && !valid_client_id(&"a".repeat(65)));
        assert_eq!(acl_op::names(acl_op::SIGN | acl_op::GET_PUBLIC), "sign,get_public");
    }

    #[test]
    fn keydist_requests_round_trip() {
        round_trip(Request::TrustKeydistSigner { session: 1, public_key: vec![7; 32] });
        round_trip(Request::UntrustKeydistSigner { session: 2, public_key: vec![] });
        round_trip(Request::ImportDistributedKey { session: 3, envelope: vec![1, 2, 3] });
        round_trip(Request::ListKeydistSigners { session: 6 });
        round_trip(Request::ApplyTokenPolicy { session: 6, policy: vec![1; crate::token_policy::POLICY_LEN] });
        round_trip(Request::GenerateCsr { session: 4, key: 5, subject: "CN=a\\,b,O=x".into(), mechanism: 0x1044 });
        let long = Request::GenerateCsr { session: 4, key: 5, subject: "a".repeat(MAX_CSR_SUBJECT_LEN + 1), mechanism: 0 };
        assert!(decode_request(&encode_request(1, &long)).is_err());
        let big = Request::ImportDistributedKey { session: 3, envelope: vec![0; crate::keydist::KEYDIST_MAX_ENVELOPE + 1] };
        assert!(decode_request(&encode_request(1, &big)).is_err());
        let long_key = Request::TrustKeydistSigner { session: 1, public_key: vec![0; MAX_KEYDIST_SIGNER_KEY_LEN + 1] };
        assert!(decode_request(&encode_request(1, &long_key)).is_err());
    }

    #[test]
    fn api_call_and_reply() {
        let resp = Response::Ok(Reply::Api { code: 5, message: "no key".into(), body: vec![9; 3], mac: [3; 32], algorithm: 1 });
        assert_eq!(decode_response(&encode_response(2, &resp)).expect("decodes"), (2, resp));
        // A malformed client id is refused; the empty one means anonymous.
        let bad = Request::ApiCall { client_id: "a b".into(), timestamp_ms: 0, nonce: [0; 16], mac: [0; 32], method: "/x".into(), body: vec![] };
        assert!(decode_request(&encode_request(1, &bad)).is_err());
        let m = api_auth_message("svc", 0x0102, &[7; 16], "/m", b"body");
        let mut want = b"teehsm-api-v1\x03svc\0\0\0\0\0\0\x01\x02".to_vec();
        want.extend_from_slice(&[7; 16]);
        want.extend_from_slice(b"\0\x02/mbody");
        assert_eq!(m, want);
        let r = api_response_message(&[1; 32], 7, "no", b"b");
        assert!(r.starts_with(b"teehsm-api-resp-v1\x01") && r.ends_with(b"\0\0\0\x07\0\0\0\x02nob"));
    }

    fn sample_report() -> AttestationReport {
        AttestationReport {
            platform: "sim".into(),
            simulation: true,
            measurement: [1; 32],
            signer: [2; 32],
            product_id: 7,
            security_version: 3,
            report_data: [4; 64],
            body: vec![5; 190],
            signature: vec![6; 64],
            channel_public_key: vec![4; 65],
        }
    }

    #[test]
    fn channel_requests_and_layout_helpers() {
        round_trip(Request::OpenChannel { nonce: [5; ATTESTATION_NONCE_LEN] });
        round_trip(Request::ChannelKeys { suite: 1, client_p256: vec![4; CHANNEL_P256_POINT_LEN], mlkem_ct: vec![1; CHANNEL_MLKEM768_CT_LEN] });
        round_trip(Request::ChannelKeys { suite: 2, client_p256: vec![4; CHANNEL_SM2_POINT_LEN], mlkem_ct: vec![] });
        // Unknown suite ids decode (the TA refuses them).
        round_trip(Request::ChannelKeys { suite: 200, client_p256: vec![], mlkem_ct: vec![] });
        for s in [ChannelSuite::Hybrid, ChannelSuite::Sm2] {
            assert_eq!(ChannelSuite::from_id(s.id()), Some(s));
        }
        assert_eq!(ChannelSuite::from_id(0), None);
        assert_eq!(ChannelSuite::from_id(3), None);
        assert_eq!((ChannelSuite::Hybrid.key_len(), ChannelSuite::Sm2.key_len()), (32, 16));
        assert_eq!(ChannelSuite::Sm2.name(), "SM2/SM3/SM4-GCM");
        round_trip(Request::Hello { client: "c".into(), channel: ChannelMode::Secure });
        // Oversized handshake fields are refused before allocation.
        let big = encode_request(1, &Request::ChannelKeys { suite: 1, client_p256: vec![4; CHANNEL_P256_POINT_LEN + 1], mlkem_ct: vec![] });
        assert!(decode_request(&big).is_err());
        let big = encode_request(1, &Request::ChannelKeys { suite: 1, client_p256: vec![], mlkem_ct: vec![0; CHANNEL_MLKEM768_CT_LEN + 1] });
        assert!(decode_request(&big).is_err());
        assert!(split_channel_bundle(&[0; CHANNEL_BUNDLE_LEN - 1]).is_none());
        let b: Vec<u8> = (0..CHANNEL_BUNDLE_LEN).map(|i| i as u8).collect();
        let parts = split_channel_bundle(&b).unwrap();
        assert_eq!((parts.p256.len(), parts.mlkem.len(), parts.p256[0], parts.mlkem[0]), (65, 1184, 0, 65));
        assert_eq!((parts.sm2.len(), parts.sm2[0]), (65, (65 + 1184) as u8));
        assert!(split_channel_bundle(&[0; CHANNEL_BUNDLE_LEN + 1]).is_none());
        assert_eq!(channel_nonce(&[0; 12], 0x0102), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(channel_nonce(&[0xff; 12], 1)[11], 0xfe);
        assert_eq!(channel_aad(CHANNEL_DIR_TA_TO_CLIENT, 3), [2, 0, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(channel_transcript(b"a", b"", b"bc", b"d"), [0, 0, 0, 1, b'a', 0, 0, 0, 0, 0, 0, 0, 2, b'b', b'c', 0, 0, 0, 1, b'd']);
    }

    #[test]
    fn attestation_request_round_trips() {
        round_trip(Request::GetAttestation { nonce: vec![9; ATTESTATION_NONCE_LEN] });
        // Other lengths decode (the TA refuses them with CKR_ARGUMENTS_BAD) ...
        round_trip(Request::GetAttestation { nonce: vec![] });
        round_trip(Request::GetAttestation { nonce: vec![1; 256] });
        // ... up to a bound, checked before anything is allocated.
        let mut too_long = encode_request(1, &Request::GetAttestation { nonce: vec![1; 257] });
        assert!(matches!(decode_request(&too_long), Err(BadRequest { error: DecodeError::TooLong { .. }, .. })));
        too_long.truncate(12);
        too_long.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode_request(&too_long).is_err());
    }

    #[test]
    fn attestation_reply_round_trips() {
        let resp = Response::Ok(Reply::Attestation(Box::new(sample_report())));
        let bytes = encode_response(9, &resp);
        let (id, back) = decode_response(&bytes).expect("decodes");
        assert_eq!(id, 9);
        assert_eq!(back, resp);
        for cut in 0..bytes.len() {
            assert!(decode_response(&bytes[..cut]).is_err(), "prefix of {cut} bytes accepted");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(decode_response(&trailing), Err(DecodeError::Trailing(1))));
    }

    #[test]
    fn attestation_reply_bounds_are_enforced() {
        let mut big = sample_report();
        big.body = vec![0; MAX_REPORT_BODY_LEN + 1];
        let bytes = encode_response(1, &Response::Ok(Reply::Attestation(Box::new(big))));
        assert!(matches!(decode_response(&bytes), Err(DecodeError::TooLong { what: "report body", .. })));
        let mut big = sample_report();
        big.channel_public_key = vec![0; MAX_CHANNEL_KEY_LEN + 1];
        let bytes = encode_response(1, &Response::Ok(Reply::Attestation(Box::new(big))));
        assert!(matches!(decode_response(&bytes), Err(DecodeError::TooLong { what: "channel public key", .. })));
        let mut big = sample_report();
        big.platform = "x".repeat(MAX_PLATFORM_NAME_LEN + 1);
        let bytes = encode_response(1, &Response::Ok(Reply::Attestation(Box::new(big))));
        assert!(matches!(decode_response(&bytes), Err(DecodeError::TooLong { what: "platform name", .. })));
        // A simulation flag other than 0 or 1 is refused.
        let mut bytes = encode_response(1, &Response::Ok(Reply::Attestation(Box::new(sample_report()))));
        let flag_at = 1 + 1 + 4 + 4 + 1 + 4 + 3;
        assert_eq!(bytes[flag_at], 1);
        bytes[flag_at] = 2;
        assert!(decode_response(&bytes).is_err());
    }

    #[test]
    fn attestation_report_file_round_trips() {
        let r = sample_report();
        let bytes = r.to_bytes();
        assert_eq!(AttestationReport::from_bytes(&bytes).unwrap(), r);
        for cut in 0..bytes.len() {
            assert!(AttestationReport::from_bytes(&bytes[..cut]).is_err());
        }
        let mut extra = bytes.clone();
        extra.push(1);
        assert!(AttestationReport::from_bytes(&extra).is_err());
        let mut wrong = bytes;
        wrong[0] ^= 1;
        assert!(AttestationReport::from_bytes(&wrong).is_err());
    }
}
