//! Test support: keys of every algorithm, loaded the way the executor loads
//! them (an `Object` built from a `Material`, parsed by `keys::load`), and
//! cached per algorithm because RSA generation is slow.

use super::material::{generate, Material};
use crate::keys::LoadedKey;
use crate::object::Object;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use teehsm_wire::proto::v1::Algorithm;

pub const ALL: &[Algorithm] = &[
    Algorithm::EcSignP256Sha256,
    Algorithm::EcSignP384Sha384,
    Algorithm::Sm2SignSm3,
    Algorithm::RsaSignPss2048Sha256,
    Algorithm::RsaSignPss3072Sha256,
    Algorithm::RsaSignPkcs12048Sha256,
    Algorithm::RsaSignPkcs13072Sha256,
    Algorithm::MlDsa44,
    Algorithm::MlDsa65,
    Algorithm::MlDsa87,
    Algorithm::RsaDecryptOaep2048Sha256,
    Algorithm::RsaDecryptOaep3072Sha256,
    Algorithm::Sm2Encrypt,
    Algorithm::Aes128Gcm,
    Algorithm::Aes256Gcm,
    Algorithm::Sm4Gcm,
    Algorithm::HmacSha256,
    Algorithm::HmacSm3,
    Algorithm::MlKem512,
    Algorithm::MlKem768,
    Algorithm::MlKem1024,
];

/// Parses `m` as the executor does.
pub fn load(m: &Material) -> Arc<LoadedKey> {
    let mut o = Object::new(1, 0);
    for (t, v) in &m.attrs {
        o.attrs.insert(*t, v.clone());
    }
    o.secret = Some(m.secret.clone());
    crate::keys::load(&o).expect("material loads")
}

/// A loaded key and the material it came from.
pub type TestKey = (Arc<LoadedKey>, Arc<Material>);

/// A (cached) key of `alg` and its material.
pub fn key(alg: Algorithm) -> TestKey {
    static CACHE: OnceLock<Mutex<HashMap<i32, TestKey>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(k) = cache.lock().expect("cache").get(&(alg as i32)) {
        return k.clone();
    }
    let m = generate(alg).expect("generate");
    let k = (load(&m), Arc::new(m));
    cache.lock().expect("cache").entry(alg as i32).or_insert(k).clone()
}
