//! The console's Ed25519 key distribution signing key: PKCS#8 PEM
//! (`PRIVATE KEY`, file mode 0600) and its public key as PEM (`PUBLIC KEY`).

use super::{read, KeydistError};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use std::path::Path;
use teehsm_wire::keydist::{pem_decode, pem_encode, signer_public_key_pem, Envelope, KEYDIST_SIGNER_LEN};
use zeroize::Zeroizing;

/// The console's key distribution signing key.
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", hex::encode(self.public_key()))
    }
}

impl SigningKey {
    /// A fresh key and its PKCS#8 PEM.
    pub fn generate() -> Result<(SigningKey, Zeroizing<String>), KeydistError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeydistError::Crypto("generating the Ed25519 signing key"))?;
        let der = Zeroizing::new(doc.as_ref().to_vec());
        let pem = Zeroizing::new(pem_encode("PRIVATE KEY", &der));
        Ok((Self::from_pkcs8(&der)?, pem))
    }

    /// From PKCS#8 DER (v1 or v2).
    pub fn from_pkcs8(der: &[u8]) -> Result<SigningKey, KeydistError> {
        let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|e| KeydistError::SigningKey(format!("not an Ed25519 PKCS#8 private key: {e}")))?;
        Ok(SigningKey { pair })
    }

    /// From PKCS#8 PEM (`PRIVATE KEY`) or DER.
    pub fn parse(bytes: &[u8]) -> Result<SigningKey, KeydistError> {
        match std::str::from_utf8(bytes) {
            Ok(text) if text.contains("-----BEGIN") => {
                let der = Zeroizing::new(pem_decode("PRIVATE KEY", text).map_err(KeydistError::SigningKey)?);
                Self::from_pkcs8(&der)
            }
            _ => Self::from_pkcs8(bytes),
        }
    }

    /// Reads [`SigningKey::parse`] from a file.
    pub fn load(path: &Path) -> Result<SigningKey, KeydistError> {
        let bytes = Zeroizing::new(read(path)?);
        Self::parse(&bytes).map_err(|e| KeydistError::SigningKey(format!("{}: {e}", path.display())))
    }

    /// Generates a key and writes it to `private_path` (mode 0600, never
    /// overwriting) and its public key to `public_path`.
    pub fn generate_to_files(private_path: &Path, public_path: &Path) -> Result<SigningKey, KeydistError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let (key, pem) = Self::generate()?;
        let io = |p: &Path| {
            let path = p.display().to_string();
            move |source| KeydistError::Io { path, source }
        };
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(private_path).map_err(io(private_path))?;
        f.write_all(pem.as_bytes()).and_then(|()| f.sync_all()).map_err(io(private_path))?;
        std::fs::write(public_path, key.public_key_pem()).map_err(io(public_path))?;
        Ok(key)
    }

    /// The raw 32-byte public key (what the TA registers).
    pub fn public_key(&self) -> [u8; KEYDIST_SIGNER_LEN] {
        let mut k = [0u8; KEYDIST_SIGNER_LEN];
        let pk = self.pair.public_key().as_ref();
        if pk.len() == KEYDIST_SIGNER_LEN {
            k.copy_from_slice(pk);
        }
        k
    }

    /// The public key as PEM, for `teehsm keydist trust --console-key`.
    pub fn public_key_pem(&self) -> String {
        signer_public_key_pem(&self.public_key())
    }

    /// Signs the envelope (its header names the signer: seal it with this
    /// key's [`SigningKey::public_key`], or the TA finds no trusted signer
    /// or a bad signature).
    pub fn sign(&self, env: &mut Envelope) {
        let sig = self.pair.sign(&env.signed_message());
        let sig = sig.as_ref();
        if sig.len() == env.signature.len() {
            env.signature.copy_from_slice(sig);
        }
    }

    /// Signs a token policy (docs/key-distribution.md, "Token policy"),
    /// setting its signer to this key.
    pub fn sign_policy(&self, p: &mut teehsm_wire::token_policy::TokenPolicy) {
        p.signer = self.public_key();
        let sig = self.pair.sign(&p.signed_message());
        if sig.as_ref().len() == p.signature.len() {
            p.signature.copy_from_slice(sig.as_ref());
        }
    }
}
