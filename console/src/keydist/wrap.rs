//! Building an envelope: hybrid key agreement with the target's bundle
//! (ephemeral P-256 ECDH + ML-KEM-768 encapsulation), HKDF-SHA-256, then
//! AES-256-GCM over the key material with the header as AAD; then the
//! console's signature (docs/key-distribution.md).

use super::{KeydistError, SigningKey, Target};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::agreement;
use aws_lc_rs::hkdf;
use aws_lc_rs::kem::{EncapsulationKey, ML_KEM_768};
use teehsm_wire::keydist::{
    encode_material, kdf_info, Envelope, KEYDIST_ID_LEN, KEYDIST_MAX_SERIAL_LEN, KEYDIST_OKM_LEN, KEYDIST_SIGNATURE_LEN, KEYDIST_SIGNER_LEN,
};
use teehsm_wire::{Attribute, CHANNEL_P256_POINT_LEN};
use zeroize::Zeroizing;

/// Where and when an envelope is valid.
#[derive(Clone, Debug)]
pub struct WrapParams {
    /// Slot of the target token.
    pub slot: u64,
    /// Serial of the target token (empty: whatever token is in the slot).
    pub token_serial: String,
    /// Creation time, Unix ms.
    pub created_ms: u64,
    /// Expiry, Unix ms (the TA accepts at most 7 days after creation).
    pub expires_ms: u64,
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// An envelope carrying `material` for an object with `template`, wrapped
/// to `target`, naming `signer` (the console's public key, which the header
/// and so the AAD holds) but not yet signed (signature all zero): sign it
/// with [`SigningKey::sign`], or use [`wrap`] for both steps.
pub fn seal(
    target: &Target,
    params: &WrapParams,
    signer: [u8; KEYDIST_SIGNER_LEN],
    template: Vec<Attribute>,
    material: &[Attribute],
) -> Result<Envelope, KeydistError> {
    if params.token_serial.len() > KEYDIST_MAX_SERIAL_LEN {
        return Err(KeydistError::Invalid(format!("a token serial is at most {KEYDIST_MAX_SERIAL_LEN} bytes")));
    }
    if params.expires_ms <= params.created_ms {
        return Err(KeydistError::Invalid("the envelope's expiry must be after its creation time".into()));
    }
    let (ta_p256, ta_mlkem) = target.keys()?;
    let mut id = [0u8; KEYDIST_ID_LEN];
    aws_lc_rs::rand::fill(&mut id).map_err(|_| KeydistError::Crypto("drawing the envelope id"))?;
    let mine = agreement::PrivateKey::generate(&agreement::ECDH_P256).map_err(|_| KeydistError::Crypto("generating the ephemeral P-256 key"))?;
    let eph = mine.compute_public_key().map_err(|_| KeydistError::Crypto("computing the ephemeral P-256 point"))?;
    let ephemeral_p256: [u8; CHANNEL_P256_POINT_LEN] =
        eph.as_ref().try_into().map_err(|_| KeydistError::Crypto("encoding the ephemeral P-256 point"))?;
    let ecdh = agreement::agree(
        &mine,
        agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, ta_p256),
        KeydistError::Invalid("the TA's P-256 channel key is not a valid point".into()),
        |z| Ok(Zeroizing::new(z.to_vec())),
    )?;
    let ek = EncapsulationKey::new(&ML_KEM_768, ta_mlkem).map_err(|_| KeydistError::Invalid("the TA's ML-KEM-768 channel key is invalid".into()))?;
    let (ct, ss) = ek.encapsulate().map_err(|_| KeydistError::Crypto("ML-KEM-768 encapsulation"))?;
    let mut ikm = Zeroizing::new(Vec::with_capacity(64));
    ikm.extend_from_slice(&ecdh);
    ikm.extend_from_slice(ss.as_ref());

    let mut env = Envelope {
        id,
        target: target.bundle_hash,
        slot: params.slot,
        token_serial: params.token_serial.clone(),
        created_ms: params.created_ms,
        expires_ms: params.expires_ms,
        signer,
        ephemeral_p256,
        mlkem_ct: ct.as_ref().to_vec(),
        template,
        ciphertext: Vec::new(),
        signature: [0; KEYDIST_SIGNATURE_LEN],
    };
    let mut okm = Zeroizing::new([0u8; KEYDIST_OKM_LEN]);
    let info = kdf_info(&env.id, &env.target, env.slot);
    hkdf::Salt::new(hkdf::HKDF_SHA256, &env.id)
        .extract(&ikm)
        .expand(&[&info], Len(KEYDIST_OKM_LEN))
        .and_then(|o| o.fill(&mut okm[..]))
        .map_err(|_| KeydistError::Crypto("deriving the wrapping key"))?;
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &okm[..32]).map_err(|_| KeydistError::Crypto("loading the wrapping key"))?);
    let mut iv = [0u8; 12];
    iv.copy_from_slice(&okm[32..]);
    let mut buf = encode_material(material);
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(iv), Aad::from(env.header_bytes()), &mut *buf)
        .map_err(|_| KeydistError::Crypto("sealing the key material"))?;
    env.ciphertext = buf.to_vec();
    Ok(env)
}

/// Wraps `material` to `target` for an object with `template` and signs the
/// envelope with `signer`.
pub fn wrap(
    target: &Target,
    params: &WrapParams,
    template: Vec<Attribute>,
    material: &[Attribute],
    signer: &SigningKey,
) -> Result<Envelope, KeydistError> {
    let mut env = seal(target, params, signer.public_key(), template, material)?;
    signer.sign(&mut env);
    Ok(env)
}
