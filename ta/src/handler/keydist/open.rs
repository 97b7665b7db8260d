//! Opening an envelope: its signature under a trusted signer, then the key
//! material under the TA's channel key bundle (docs/key-distribution.md).

use crate::channel::ChannelKey;
use teehsm_crypto::{aead, eddsa, kdf};
use teehsm_wire::keydist::{kdf_info, signed_message, Envelope, EnvelopeLayout, KEYDIST_OKM_LEN};
use zeroize::Zeroizing;

/// Checks the Ed25519 signature of the envelope whose encoding is `bytes`
/// under `signer` (a trusted 32-byte public key).
pub fn signature_ok(bytes: &[u8], layout: EnvelopeLayout, env: &Envelope, signer: &[u8]) -> bool {
    let Some(body) = bytes.get(..layout.body_len) else { return false };
    eddsa::verify(signer, eddsa::Ed25519Variant::Pure, &[], &signed_message(body), &env.signature).is_ok()
}

/// The key material plaintext: hybrid secret with the channel bundle, the
/// envelope's key schedule, then AES-256-GCM with the header as AAD. Errors
/// say which step failed, never a secret.
pub fn key_material(channel: &ChannelKey, bytes: &[u8], layout: EnvelopeLayout, env: &Envelope) -> Result<Zeroizing<Vec<u8>>, String> {
    let header = bytes.get(..layout.header_len).ok_or("the envelope is shorter than its header")?;
    let ikm = channel.hybrid_secret(&env.ephemeral_p256, &env.mlkem_ct)?;
    let okm = kdf::hkdf_sha256(&ikm, &env.id, &kdf_info(&env.id, &env.target, env.slot), KEYDIST_OKM_LEN)
        .map_err(|e| format!("key derivation failed: {e}"))?;
    if okm.len() != KEYDIST_OKM_LEN {
        return Err("key derivation returned the wrong length".into());
    }
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&okm[..32]);
    let mut iv = [0u8; 12];
    iv.copy_from_slice(&okm[32..KEYDIST_OKM_LEN]);
    aead::aes256gcm_open(&key, &iv, header, &env.ciphertext)
        .map_err(|_| "the wrapped key does not open (AES-256-GCM authentication failed: tampered, or wrapped to another key)".to_string())
}
