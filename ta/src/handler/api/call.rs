//! One `ApiCall`: authentication (shared with `Authorized`, see
//! `handler::clients`), method and body decoding, the ACL, dispatch to the
//! key records (`keys`) and the per-algorithm code (`algo`), the response
//! MAC and the audit entry.

use super::keys::{self, check_name, check_request_id, destroy_duration, Existing, KeyRecord, NewKey, NewVersion};
use super::{algo, code, ApiError, ApiResult};
use crate::audit::Event;
use crate::handler::clients::{allows, shown_id, AuthError};
use crate::handler::Ta;
use prost::Message;
use teehsm_crypto::digest::HashAlg;
use teehsm_wire::proto::v1::*;
use teehsm_wire::{acl_op, AclEntry, Reply, CLIENT_MAC_LEN, CLIENT_NONCE_LEN, MAX_API_BODY_LEN, MAX_API_MESSAGE_LEN};
use zeroize::Zeroizing;

/// The service's gRPC path prefix.
pub const SERVICE_PATH: &str = "/teehsm.v1.KeyManagementService/";
/// Largest GenerateRandom request.
pub const MAX_RANDOM_BYTES: u32 = 1024;
/// Default and largest ListKeys page.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Largest wrapped key in an ImportKey.
pub const MAX_WRAPPED_KEY_LEN: usize = 64 * 1024;

/// The methods of `KeyManagementService`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    CreateKey,
    ImportKey,
    GetKey,
    ListKeys,
    DestroyKey,
    RestoreKey,
    RotateKey,
    UpdateKeyRotation,
    UpdateKeyVersionState,
    GetPublicKey,
    Sign,
    Verify,
    Encrypt,
    Decrypt,
    MacSign,
    MacVerify,
    Encapsulate,
    Decapsulate,
    GenerateRandom,
    GetAttestation,
}

impl Method {
    pub const ALL: [Method; 20] = [
        Method::CreateKey,
        Method::ImportKey,
        Method::GetKey,
        Method::ListKeys,
        Method::DestroyKey,
        Method::RestoreKey,
        Method::RotateKey,
        Method::UpdateKeyRotation,
        Method::UpdateKeyVersionState,
        Method::GetPublicKey,
        Method::Sign,
        Method::Verify,
        Method::Encrypt,
        Method::Decrypt,
        Method::MacSign,
        Method::MacVerify,
        Method::Encapsulate,
        Method::Decapsulate,
        Method::GenerateRandom,
        Method::GetAttestation,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::CreateKey => "CreateKey",
            Method::ImportKey => "ImportKey",
            Method::GetKey => "GetKey",
            Method::ListKeys => "ListKeys",
            Method::DestroyKey => "DestroyKey",
            Method::RestoreKey => "RestoreKey",
            Method::RotateKey => "RotateKey",
            Method::UpdateKeyRotation => "UpdateKeyRotation",
            Method::UpdateKeyVersionState => "UpdateKeyVersionState",
            Method::GetPublicKey => "GetPublicKey",
            Method::Sign => "Sign",
            Method::Verify => "Verify",
            Method::Encrypt => "Encrypt",
            Method::Decrypt => "Decrypt",
            Method::MacSign => "MacSign",
            Method::MacVerify => "MacVerify",
            Method::Encapsulate => "Encapsulate",
            Method::Decapsulate => "Decapsulate",
            Method::GenerateRandom => "GenerateRandom",
            Method::GetAttestation => "GetAttestation",
        }
    }

    /// The method a full gRPC path names.
    pub fn from_path(path: &str) -> Option<Method> {
        let name = path.strip_prefix(SERVICE_PATH)?;
        Method::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Methods anyone may call without an authenticator.
    fn anonymous(self) -> bool {
        matches!(self, Method::GenerateRandom | Method::GetAttestation)
    }
}

/// A decoded request.
enum Call {
    CreateKey(CreateKeyRequest),
    ImportKey(ImportKeyRequest),
    GetKey(GetKeyRequest),
    ListKeys(ListKeysRequest),
    DestroyKey(DestroyKeyRequest),
    RestoreKey(RestoreKeyRequest),
    RotateKey(RotateKeyRequest),
    UpdateKeyRotation(UpdateKeyRotationRequest),
    UpdateKeyVersionState(UpdateKeyVersionStateRequest),
    GetPublicKey(GetPublicKeyRequest),
    Sign(SignRequest),
    Verify(VerifyRequest),
    Encrypt(EncryptRequest),
    Decrypt(DecryptRequest),
    MacSign(MacSignRequest),
    MacVerify(MacVerifyRequest),
    Encapsulate(EncapsulateRequest),
    Decapsulate(DecapsulateRequest),
    GenerateRandom(GenerateRandomRequest),
    GetAttestation(GetAttestationRequest),
}

fn decode<M: Message + Default>(body: &[u8], what: &str) -> ApiResult<M> {
    M::decode(body).map_err(|e| ApiError::invalid(format!("the request body is not a valid teehsm.v1.{what}: {e}")))
}

impl Call {
    fn decode(m: Method, body: &[u8]) -> ApiResult<Call> {
        Ok(match m {
            Method::CreateKey => Call::CreateKey(decode(body, "CreateKeyRequest")?),
            Method::ImportKey => Call::ImportKey(decode(body, "ImportKeyRequest")?),
            Method::GetKey => Call::GetKey(decode(body, "GetKeyRequest")?),
            Method::ListKeys => Call::ListKeys(decode(body, "ListKeysRequest")?),
            Method::DestroyKey => Call::DestroyKey(decode(body, "DestroyKeyRequest")?),
            Method::RestoreKey => Call::RestoreKey(decode(body, "RestoreKeyRequest")?),
            Method::RotateKey => Call::RotateKey(decode(body, "RotateKeyRequest")?),
            Method::UpdateKeyRotation => Call::UpdateKeyRotation(decode(body, "UpdateKeyRotationRequest")?),
            Method::UpdateKeyVersionState => Call::UpdateKeyVersionState(decode(body, "UpdateKeyVersionStateRequest")?),
            Method::GetPublicKey => Call::GetPublicKey(decode(body, "GetPublicKeyRequest")?),
            Method::Sign => Call::Sign(decode(body, "SignRequest")?),
            Method::Verify => Call::Verify(decode(body, "VerifyRequest")?),
            Method::Encrypt => Call::Encrypt(decode(body, "EncryptRequest")?),
            Method::Decrypt => Call::Decrypt(decode(body, "DecryptRequest")?),
            Method::MacSign => Call::MacSign(decode(body, "MacSignRequest")?),
            Method::MacVerify => Call::MacVerify(decode(body, "MacVerifyRequest")?),
            Method::Encapsulate => Call::Encapsulate(decode(body, "EncapsulateRequest")?),
            Method::Decapsulate => Call::Decapsulate(decode(body, "DecapsulateRequest")?),
            Method::GenerateRandom => Call::GenerateRandom(decode(body, "GenerateRandomRequest")?),
            Method::GetAttestation => Call::GetAttestation(decode(body, "GetAttestationRequest")?),
        })
    }

    /// The key the call is about (for the audit log and the ACL).
    fn key_name(&self) -> Option<&str> {
        Some(match self {
            Call::CreateKey(r) => &r.name,
            Call::ImportKey(r) => &r.name,
            Call::GetKey(r) => &r.name,
            Call::DestroyKey(r) => &r.name,
            Call::RestoreKey(r) => &r.name,
            Call::RotateKey(r) => &r.name,
            Call::UpdateKeyRotation(r) => &r.name,
            Call::UpdateKeyVersionState(r) => &r.name,
            Call::GetPublicKey(r) => &r.name,
            Call::Sign(r) => &r.name,
            Call::Verify(r) => &r.name,
            Call::Encrypt(r) => &r.name,
            Call::Decrypt(r) => &r.name,
            Call::MacSign(r) => &r.name,
            Call::MacVerify(r) => &r.name,
            Call::Encapsulate(r) => &r.name,
            Call::Decapsulate(r) => &r.name,
            Call::ListKeys(_) | Call::GenerateRandom(_) | Call::GetAttestation(_) => return None,
        })
    }

    /// What the call needs from the client's ACL: (key name, operation).
    /// ListKeys filters by `get_public` instead.
    fn needs(&self) -> Vec<(&str, u32)> {
        fn one(name: &str, op: u32) -> Vec<(&str, u32)> {
            vec![(name, op)]
        }
        match self {
            Call::CreateKey(r) => one(&r.name, acl_op::GENERATE),
            Call::RotateKey(r) => one(&r.name, acl_op::GENERATE),
            Call::UpdateKeyRotation(r) => one(&r.name, acl_op::GENERATE),
            Call::UpdateKeyVersionState(r) => one(&r.name, acl_op::DESTROY),
            Call::ImportKey(r) => vec![(r.name.as_str(), acl_op::GENERATE), (r.wrapping_key_name.as_str(), acl_op::UNWRAP)],
            Call::GetKey(r) => one(&r.name, acl_op::GET_PUBLIC),
            Call::GetPublicKey(r) => one(&r.name, acl_op::GET_PUBLIC),
            Call::DestroyKey(r) => one(&r.name, acl_op::DESTROY),
            Call::RestoreKey(r) => one(&r.name, acl_op::DESTROY),
            Call::Sign(r) => one(&r.name, acl_op::SIGN),
            Call::MacSign(r) => one(&r.name, acl_op::SIGN),
            Call::Verify(r) => one(&r.name, acl_op::VERIFY),
            Call::MacVerify(r) => one(&r.name, acl_op::VERIFY),
            Call::Encrypt(r) => one(&r.name, acl_op::ENCRYPT),
            Call::Decrypt(r) => one(&r.name, acl_op::DECRYPT),
            Call::Encapsulate(r) => one(&r.name, acl_op::ENCAPSULATE),
            Call::Decapsulate(r) => one(&r.name, acl_op::DECAPSULATE),
            Call::ListKeys(_) | Call::GenerateRandom(_) | Call::GetAttestation(_) => vec![],
        }
    }
}

/// An authenticated client.
pub struct Caller {
    pub id: String,
    pub slot: u64,
    pub acl: Vec<AclEntry>,
}

impl Caller {
    fn may(&self, name: &str, op: u32) -> bool {
        allows(&self.acl, name.as_bytes(), op)
    }

    fn require(&self, name: &str, op: u32) -> ApiResult<()> {
        if self.may(name, op) {
            return Ok(());
        }
        let op = acl_op::name(op);
        Err(ApiError::permission_denied(format!(
            "API client {:?} may not {op} with key {name:?}: no entry of its ACL grants \"{op}\" on a prefix of this name (the token SO changes ACLs with `teehsm client acl`)",
            self.id
        )))
    }
}

/// What the audit entry and the response MAC need to know about a call.
#[derive(Default)]
struct Outcome {
    /// The client's secret, once its MAC verified.
    secret: Option<Zeroizing<Vec<u8>>>,
    slot: Option<u64>,
    key: Option<String>,
    algorithm: u32,
}

/// The successful answer of a method: its response encoding.
type Answer = ApiResult<Vec<u8>>;

fn answer<M: Message>(m: &M) -> Answer {
    let body = m.encode_to_vec();
    if body.len() > MAX_API_BODY_LEN {
        return Err(ApiError::new(
            code::RESOURCE_EXHAUSTED,
            format!("the response would be {} bytes, more than the {MAX_API_BODY_LEN} an API reply carries", body.len()),
        ));
    }
    Ok(body)
}

/// `s` cut to at most `max` bytes at a character boundary.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl Ta {
    /// Runs one `ApiCall` and answers it (never a PKCS#11 error: every
    /// outcome is a gRPC status in `Reply::Api`).
    #[allow(clippy::too_many_arguments)] // the fields of Request::ApiCall
    pub(in crate::handler) fn api_call(
        &self,
        app: &str,
        client_id: &str,
        timestamp_ms: u64,
        nonce: &[u8; CLIENT_NONCE_LEN],
        mac: &[u8; CLIENT_MAC_LEN],
        method: &str,
        body: &[u8],
    ) -> Reply {
        let mut out = Outcome::default();
        let m = Method::from_path(method);
        let result = self.api_call_inner(&mut out, client_id, timestamp_ms, nonce, mac, method, m, body);
        let (code, message, body) = match result {
            Ok(b) => (code::OK, String::new(), b),
            Err(e) => (e.code, truncate(e.message, MAX_API_MESSAGE_LEN), Vec::new()),
        };
        let response_mac = match &out.secret {
            Some(secret) => {
                let msg = teehsm_wire::api_response_message(mac, code, &message, &body);
                match teehsm_crypto::mac::hmac(HashAlg::Sha256, secret, &msg) {
                    Ok(t) => t.as_slice().try_into().unwrap_or([0u8; CLIENT_MAC_LEN]),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot MAC an API response");
                        [0u8; CLIENT_MAC_LEN]
                    }
                }
            }
            None => [0u8; CLIENT_MAC_LEN],
        };
        let op = match m {
            Some(m) => format!("Api:{}", m.name()),
            None => "Api:<unknown method>".to_string(),
        };
        let app = if app.is_empty() { String::new() } else { format!("{app} ") };
        let who = if client_id.is_empty() { "<anonymous>" } else { shown_id(client_id) };
        self.audit.append(Event {
            op,
            client: Some(format!("{app}api-client:{who}")),
            slot: out.slot,
            session: None,
            object: None,
            mechanism: None,
            key: out.key,
            rv: code,
        });
        if code != code::OK {
            tracing::debug!(method, code, message = %message, "API call refused");
        }
        Reply::Api { code, message, body, mac: response_mac, algorithm: out.algorithm }
    }

    #[allow(clippy::too_many_arguments)]
    fn api_call_inner(
        &self,
        out: &mut Outcome,
        client_id: &str,
        timestamp_ms: u64,
        nonce: &[u8; CLIENT_NONCE_LEN],
        mac: &[u8; CLIENT_MAC_LEN],
        path: &str,
        method: Option<Method>,
        body: &[u8],
    ) -> Answer {
        if client_id.is_empty() {
            let m = method.ok_or_else(|| unimplemented(path))?;
            if !m.anonymous() {
                return Err(ApiError::unauthenticated(format!(
                    "{} needs a client authenticator (x-teehsm-* metadata); only GenerateRandom and GetAttestation may be called without one",
                    m.name()
                )));
            }
            let call = Call::decode(m, body)?;
            return self.api_execute(out, None, call);
        }
        let msg = teehsm_wire::api_auth_message(client_id, timestamp_ms, nonce, path, body);
        let client = match self.authenticate(client_id, timestamp_ms, &msg, mac) {
            Ok(c) => c,
            Err(e) => {
                if e.after_mac() {
                    out.secret = self.client(client_id).map(|c| c.secret);
                }
                return Err(auth_error(&e, client_id));
            }
        };
        out.secret = Some(client.secret.clone());
        out.slot = Some(client.slot);
        let m = method.ok_or_else(|| unimplemented(path))?;
        let call = Call::decode(m, body)?;
        out.key = call.key_name().map(keys::shorten);
        let caller = Caller { id: client_id.to_string(), slot: client.slot, acl: client.acl };
        for (name, op) in call.needs() {
            check_name(if op == acl_op::UNWRAP { "wrapping_key_name" } else { "name" }, name)?;
            caller.require(name, op)?;
        }
        // The nonce is recorded once the request passed every check, so
        // refused requests cannot fill the replay cache.
        self.consume_nonce(client_id, timestamp_ms, nonce).map_err(|e| auth_error(&e, client_id))?;
        self.api_execute(out, Some(&caller), call)
    }

    fn api_execute(&self, out: &mut Outcome, caller: Option<&Caller>, call: Call) -> Answer {
        let caller = match (&call, caller) {
            (Call::GenerateRandom(r), _) => return random(r),
            (Call::GetAttestation(r), _) => return self.api_attestation(r),
            (_, Some(c)) => c,
            (_, None) => return Err(ApiError::unauthenticated("this method needs a client authenticator (x-teehsm-* metadata)")),
        };
        let slot = caller.slot;
        // The key the call uses, for the reply's `algorithm`.
        let mut used = |rec: &KeyRecord| out.algorithm = rec.algorithm as i32 as u32;
        match call {
            Call::CreateKey(r) => {
                let alg = algorithm_of(r.algorithm)?;
                check_request_id(&r.request_id)?;
                let destroy_seconds = destroy_duration(r.destroy_scheduled_duration_seconds)?;
                let rotation = keys::rotation_schedule(alg, r.rotation_period_seconds, r.next_rotation_time_ms, keys::now_ms())?;
                let rec = match self.api_existing(slot, &r.name, alg, &r.request_id)? {
                    Some(Existing::Same(rec)) => rec,
                    Some(Existing::Taken) => return Err(keys::already_exists(&r.name)),
                    None => {
                        let material = algo::generate(alg)?;
                        let k = NewKey { slot, name: &r.name, algorithm: alg, destroy_seconds, creator: &caller.id, rotation };
                        self.api_create(k, NewVersion { material, imported: false, request_id: r.request_id })?
                    }
                };
                used(&rec);
                answer(&rec.to_proto())
            }
            Call::ImportKey(r) => {
                let alg = algorithm_of(r.algorithm)?;
                check_request_id(&r.request_id)?;
                let destroy_seconds = destroy_duration(r.destroy_scheduled_duration_seconds)?;
                if r.wrapped_key.len() > MAX_WRAPPED_KEY_LEN {
                    return Err(ApiError::invalid(format!(
                        "wrapped_key is {} bytes; at most {MAX_WRAPPED_KEY_LEN} are allowed",
                        r.wrapped_key.len()
                    )));
                }
                // A repeated request returns what the first one made, before any unwrapping.
                if r.as_new_version {
                    let rec = self.api_versionable(slot, &r.name)?;
                    if let Some(same) = Self::api_repeated_version(&rec, &r.request_id) {
                        used(&same);
                        return answer(&same.to_proto());
                    }
                } else {
                    match self.api_existing(slot, &r.name, alg, &r.request_id)? {
                        Some(Existing::Same(rec)) => {
                            used(&rec);
                            return answer(&rec.to_proto());
                        }
                        Some(Existing::Taken) => return Err(keys::already_exists(&r.name)),
                        None => {}
                    }
                }
                let wrapping = self.api_key(slot, &r.wrapping_key_name)?;
                if !matches!(wrapping.algorithm, Algorithm::RsaDecryptOaep2048Sha256 | Algorithm::RsaDecryptOaep3072Sha256) {
                    return Err(ApiError::failed_precondition(format!(
                        "wrapping key {:?} is {}; ImportKey needs an RSA_DECRYPT_OAEP_2048_SHA256 or RSA_DECRYPT_OAEP_3072_SHA256 key",
                        wrapping.name,
                        wrapping.algorithm.as_str_name()
                    )));
                }
                let (_, wk) = self.api_version_key(&wrapping, r.wrapping_key_version)?;
                let raw = algo::unwrap_import(&wk, &r.wrapped_key)?;
                let material = algo::import(alg, &raw)?;
                let new = NewVersion { material, imported: true, request_id: r.request_id };
                let rec = if r.as_new_version {
                    self.api_add_version(slot, &r.name, alg, new)?
                } else {
                    self.api_create(NewKey { slot, name: &r.name, algorithm: alg, destroy_seconds, creator: &caller.id, rotation: (0, 0) }, new)?
                };
                used(&rec);
                answer(&rec.to_proto())
            }
            Call::GetKey(r) => {
                let rec = self.api_key(slot, &r.name)?;
                used(&rec);
                answer(&rec.to_proto())
            }
            Call::ListKeys(r) => self.api_list(caller, &r),
            Call::DestroyKey(r) => {
                let rec = self.api_destroy(slot, &r.name)?;
                used(&rec);
                answer(&rec.to_proto())
            }
            Call::RestoreKey(r) => {
                let rec = self.api_restore(slot, &r.name)?;
                used(&rec);
                answer(&rec.to_proto())
            }
            Call::RotateKey(r) => {
                check_request_id(&r.request_id)?;
                let rec = self.api_versionable(slot, &r.name)?;
                used(&rec);
                if let Some(same) = Self::api_repeated_version(&rec, &r.request_id) {
                    return answer(&same.to_proto());
                }
                let material = algo::generate(rec.algorithm)?;
                let rec = self.api_add_version(slot, &r.name, rec.algorithm, NewVersion { material, imported: false, request_id: r.request_id })?;
                answer(&rec.to_proto())
            }
            Call::UpdateKeyVersionState(r) => {
                let enabled = match KeyVersionState::try_from(r.state) {
                    Ok(KeyVersionState::Enabled) => true,
                    Ok(KeyVersionState::Disabled) => false,
                    _ => return Err(ApiError::invalid("state must be ENABLED or DISABLED; DestroyKey and RestoreKey handle destruction")),
                };
                let rec = self.api_set_version_enabled(slot, &r.name, r.version, enabled)?;
                used(&rec);
                answer(&rec.to_proto())
            }
            Call::UpdateKeyRotation(r) => {
                let rec = self.api_update_rotation(slot, &r.name, r.rotation_period_seconds, r.next_rotation_time_ms)?;
                used(&rec);
                answer(&rec.to_proto())
            }
            Call::GetPublicKey(r) => {
                let rec = self.api_key(slot, &r.name)?;
                used(&rec);
                let (v, k) = self.api_version_key(&rec, r.version)?;
                answer(&algo::get_public_key(rec.algorithm, &k, &rec.name, v)?)
            }
            Call::Sign(r) => {
                let rec = self.api_key(slot, &r.name)?;
                used(&rec);
                let (v, k) = self.api_version_key(&rec, r.version)?;
                answer(&algo::sign(rec.algorithm, &k, &rec.name, v, &r)?)
            }
            Call::Verify(r) => {
                let rec = self.api_key(slot, &r.name)?;
                used(&rec);
                let (_, k) = self.api_version_key(&rec, r.version)?;
                answer(&algo::verify(rec.algorithm, &k, &r)?)
            }
            Call::Encrypt(r) => {
                let rec = self.api_key(slot, &r.name)?;
                used(&rec);
                let version = if rec.purpose() == KeyPurpose::EncryptDecrypt {
                    if r.version != 0 && r.version != rec.primary {
                        return Err(ApiError::invalid(format!(
                            "key {:?} is an AEAD key: Encrypt always uses its primary version ({}); leave version 0",
                            rec.name, rec.primary
                        )));
                    }
                    0
                } else {
                    r.version
                };
                let (v, k) = self.api_version_key(&rec, version)?;
                answer(&algo::encrypt(rec.algorithm, &k, &rec.name, v, &r)?)
            }
            Call::Decrypt(r) => {
                let rec = self.api_key(slot, &r.name)?;
                used(&rec);
                let version = match algo::aead_ciphertext_version(rec.algorithm, &r.ciphertext)? {
                    Some(named) => {
                        if r.version != 0 && r.version != named {
                            return Err(ApiError::invalid(format!(
                                "the ciphertext was made with version {named} of key {:?} but the request names version {}; leave version 0",
                                rec.name, r.version
                            )));
                        }
                        if named == 0 {
                            return Err(ApiError::invalid("the ciphertext names version 0, which no key has: it is not an Encrypt output"));
                        }
                        named
                    }
                    None => r.version,
                };
                let (v, k) = self.api_version_key(&rec, version)?;
                answer(&algo::decrypt(rec.algorithm, &k, v, &r)?)
            }
            Call::MacSign(r) => {
                let rec = self.api_key(slot, &r.name)?;
                used(&rec);
                let (v, k) = self.api_version_key(&rec, r.version)?;
                answer(&algo::mac_sign(rec.algorithm, &k, v, &r)?)
            }
            Call::MacVerify(r) => {
                let rec = self.api_key(slot, &r.name)?;
                used(&rec);
                let (_, k) = self.api_version_key(&rec, r.version)?;
                answer(&algo::mac_verify(rec.algorithm, &k, &r)?)
            }
            Call::Encapsulate(r) => {
                let rec = self.api_key(slot, &r.name)?;
                used(&rec);
                let (v, k) = self.api_version_key(&rec, r.version)?;
                answer(&algo::encapsulate(rec.algorithm, &k, v)?)
            }
            Call::Decapsulate(r) => {
                let rec = self.api_key(slot, &r.name)?;
                used(&rec);
                let (_, k) = self.api_version_key(&rec, r.version)?;
                answer(&algo::decapsulate(rec.algorithm, &k, &r)?)
            }
            // Answered above, without a caller.
            Call::GenerateRandom(r) => random(&r),
            Call::GetAttestation(r) => self.api_attestation(&r),
        }
    }

    /// ListKeys: the keys of the caller's token it has `get_public` on.
    fn api_list(&self, caller: &Caller, r: &ListKeysRequest) -> Answer {
        let page_size = match r.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n > MAX_PAGE_SIZE => {
                return Err(ApiError::invalid(format!("page_size is {n}; use 1 to {MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE})")))
            }
            n => n,
        } as usize;
        if !r.name_prefix.is_empty() && (r.name_prefix.len() > keys::MAX_NAME_LEN || !r.name_prefix.bytes().all(keys::name_byte)) {
            return Err(ApiError::invalid(format!(
                "name_prefix {:?} cannot start a key name: use at most {} characters from [A-Za-z0-9._/-]",
                keys::shorten(&r.name_prefix),
                keys::MAX_NAME_LEN
            )));
        }
        let after = if r.page_token.is_empty() { None } else { Some(page_token_name(&r.page_token)?) };
        let all: Vec<KeyRecord> =
            self.api_keys(caller.slot, &r.name_prefix)?.into_iter().filter(|k| caller.may(&k.name, acl_op::GET_PUBLIC)).collect();
        let total_size = all.len() as u32;
        let rest: Vec<&KeyRecord> = all.iter().filter(|k| after.as_deref().is_none_or(|a| k.name.as_str() > a)).collect();
        let mut resp = ListKeysResponse { keys: Vec::new(), next_page_token: String::new(), total_size };
        // Room for the token and the total beside the keys.
        let budget = MAX_API_BODY_LEN - 512;
        let mut used = 0usize;
        for k in rest.iter().take(page_size) {
            let key = k.to_proto();
            let len = key.encoded_len() + 8;
            if used + len > budget && !resp.keys.is_empty() {
                break;
            }
            used += len;
            resp.keys.push(key);
        }
        if resp.keys.len() < rest.len() {
            if let Some(last) = resp.keys.last() {
                resp.next_page_token = hex::encode(last.name.as_bytes());
            }
        }
        answer(&resp)
    }

    fn api_attestation(&self, r: &GetAttestationRequest) -> Answer {
        if r.nonce.len() != teehsm_wire::ATTESTATION_NONCE_LEN {
            return Err(ApiError::invalid(format!("nonce must be exactly {} bytes, got {}", teehsm_wire::ATTESTATION_NONCE_LEN, r.nonce.len())));
        }
        match self.make_attestation(&r.nonce) {
            Ok(Reply::Attestation(rep)) => answer(&GetAttestationResponse {
                report: rep.to_bytes(),
                platform: rep.platform.clone(),
                measurement: rep.measurement.to_vec(),
                signer: rep.signer.to_vec(),
                security_version: rep.security_version,
            }),
            Ok(_) => Err(ApiError::internal("internal error while making the attestation report")),
            Err(d) => Err(ApiError::new(code::UNAVAILABLE, d.message)),
        }
    }
}

fn random(r: &GenerateRandomRequest) -> Answer {
    if r.length_bytes == 0 || r.length_bytes > MAX_RANDOM_BYTES {
        return Err(ApiError::invalid(format!("length_bytes is {}; use 1 to {MAX_RANDOM_BYTES}", r.length_bytes)));
    }
    let mut data = vec![0u8; r.length_bytes as usize];
    teehsm_crypto::rng::fill(&mut data).map_err(|e| ApiError::new(code::UNAVAILABLE, format!("the TA's random generator failed: {e}")))?;
    let data_crc32c = teehsm_wire::proto::crc32c(&data);
    answer(&GenerateRandomResponse { data, data_crc32c })
}

/// The name a ListKeys page token continues after.
fn page_token_name(token: &str) -> ApiResult<String> {
    let bad = || ApiError::invalid("page_token is not one ListKeys returned; pass next_page_token unchanged, or leave it empty for the first page");
    let bytes = hex::decode(token).map_err(|_| bad())?;
    let name = String::from_utf8(bytes).map_err(|_| bad())?;
    check_name("page_token", &name).map_err(|_| bad())?;
    Ok(name)
}

fn algorithm_of(v: i32) -> ApiResult<Algorithm> {
    match Algorithm::try_from(v) {
        Ok(Algorithm::Unspecified) => Err(ApiError::invalid("algorithm must be set (for example EC_SIGN_P256_SHA256); see the Algorithm enum")),
        Ok(a) if algo::purpose(a) == KeyPurpose::Unspecified => {
            Err(ApiError::invalid(format!("algorithm {} is not supported by this TA", a.as_str_name())))
        }
        Ok(a) => Ok(a),
        Err(_) => Err(ApiError::invalid(format!("algorithm {v} is not a teehsm.v1.Algorithm value"))),
    }
}

fn unimplemented(path: &str) -> ApiError {
    let shown: String = path.chars().take(teehsm_wire::MAX_API_METHOD_LEN).collect();
    ApiError::new(code::UNIMPLEMENTED, format!("method {shown:?} is not a teehsm.v1.KeyManagementService method"))
}

fn auth_error(e: &AuthError, client_id: &str) -> ApiError {
    match e {
        AuthError::Replay => {
            ApiError::unauthenticated(format!("API client {:?}: nonce already used (replayed request); send a fresh nonce", shown_id(client_id)))
        }
        AuthError::TooManyRequests => ApiError::new(code::RESOURCE_EXHAUSTED, e.message(client_id)),
        AuthError::Internal(_) => ApiError::internal(e.message(client_id)),
        _ => ApiError::unauthenticated(e.message(client_id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_paths() {
        for m in Method::ALL {
            assert_eq!(Method::from_path(&teehsm_wire::proto::method_path(m.name())), Some(m));
        }
        assert_eq!(Method::from_path("/teehsm.v1.KeyManagementService/Nope"), None);
        assert_eq!(Method::from_path("Sign"), None);
        assert_eq!(Method::from_path("/other.Service/Sign"), None);
    }

    #[test]
    fn page_tokens() {
        assert_eq!(page_token_name(&hex::encode("pay/k1")).unwrap(), "pay/k1");
        assert!(page_token_name("zz").is_err());
        assert!(page_token_name(&hex::encode("a b")).is_err());
    }

    #[test]
    fn messages_are_cut_at_char_boundaries() {
        assert_eq!(truncate("ab".into(), 5), "ab");
        assert_eq!(truncate("aé".into(), 2), "a");
    }
}
