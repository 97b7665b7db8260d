//! API key records (docs/grpc-api.md, "Keys and versions").
//!
//! A key is one metadata record (internal class `CKO_TEEHSM_API_KEY`, its
//! name in `CKA_TEEHSM_API_KEY_NAME`, which the store indexes, and its
//! metadata in `CKA_TEEHSM_API_KEY_META`) plus one ordinary key object per
//! live version, marked with `CKA_TEEHSM_API_KEY_VERSION` and
//! `CKA_TEEHSM_API_KEY_RECORD`. All are token objects in the slot of the
//! client that created the key, so they are sealed, durable and
//! rollback-checked like every token object, and `policy::visible` hides
//! them from PKCS#11.
//!
//! Reads (every key operation) take only the store's read lock and a map
//! lookup; changes (create, rotate, import, destroy, restore, expiry) are
//! serialized by one lock and committed as one store batch each.

use super::{ApiError, ApiResult};
use crate::handler::Ta;
use crate::keys::LoadedKey;
use crate::object::{
    Object, CKA_TEEHSM_API_KEY_META, CKA_TEEHSM_API_KEY_NAME, CKA_TEEHSM_API_KEY_RECORD, CKA_TEEHSM_API_KEY_VERSION, CKO_TEEHSM_API_KEY,
};
use crate::store::Op;
use std::sync::Arc;
use teehsm_wire::ck::*;
use teehsm_wire::codec::{Reader, Writer};
use teehsm_wire::proto::v1::{Algorithm, Key, KeyPurpose, KeyVersion, KeyVersionState};
use teehsm_wire::Attribute;
use zeroize::Zeroizing;

/// Longest key name.
pub const MAX_NAME_LEN: usize = 128;
/// Longest request id.
pub const MAX_REQUEST_ID_LEN: usize = 128;
/// destroy_scheduled_duration_seconds when the request leaves it 0.
pub const DEFAULT_DESTROY_SECONDS: u64 = 86_400;
/// Longest destroy_scheduled_duration_seconds.
pub const MAX_DESTROY_SECONDS: u64 = 365 * 86_400;
/// Most versions one key may have (rotations and imports).
pub const MAX_VERSIONS: usize = 1000;

/// Format of the record metadata: 2 adds the rotation schedule and each
/// version's disabled flag (1 is still read).
const META_FORMAT: u8 = 2;
/// The shortest and longest automatic rotation periods (as Cloud KMS: a day to 100 years).
pub const MIN_ROTATION_SECONDS: u64 = 86_400;
pub const MAX_ROTATION_SECONDS: u64 = 100 * 365 * 86_400;

/// Checks a key name: 1-128 characters from `[A-Za-z0-9._/-]`.
pub fn check_name(what: &str, name: &str) -> ApiResult<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.bytes().all(name_byte) {
        return Err(ApiError::invalid(format!(
            "{what} {:?} is not a valid key name: use 1 to {MAX_NAME_LEN} characters from [A-Za-z0-9._/-]",
            shorten(name)
        )));
    }
    Ok(())
}

/// True for the bytes a key name may contain.
pub fn name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-')
}

/// A name for a message, cut to a readable length.
pub fn shorten(s: &str) -> String {
    if s.len() <= MAX_NAME_LEN {
        s.to_string()
    } else {
        let mut end = MAX_NAME_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    }
}

pub fn check_request_id(id: &str) -> ApiResult<()> {
    if id.len() > MAX_REQUEST_ID_LEN {
        return Err(ApiError::invalid(format!("request_id is {} bytes; at most {MAX_REQUEST_ID_LEN} are allowed", id.len())));
    }
    Ok(())
}

/// The destroy_scheduled_duration a request asks for, in seconds.
pub fn destroy_duration(requested: u64) -> ApiResult<u64> {
    match requested {
        0 => Ok(DEFAULT_DESTROY_SECONDS),
        s if s > MAX_DESTROY_SECONDS => Err(ApiError::invalid(format!(
            "destroy_scheduled_duration_seconds is {s}; at most {MAX_DESTROY_SECONDS} (365 days) is allowed, 0 means {DEFAULT_DESTROY_SECONDS}"
        ))),
        s => Ok(s),
    }
}

pub use teehsm_wire::time::fmt_time;

pub fn now_ms() -> i64 {
    crate::handler::clients::now_ms() as i64
}

/// One version of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionRecord {
    pub version: u32,
    pub state: KeyVersionState,
    pub create_ms: i64,
    /// When DESTROY_SCHEDULED: when the material goes; when DESTROYED: when it went.
    pub destroy_ms: i64,
    pub imported: bool,
    /// The request_id of the call that made this version.
    pub request_id: String,
    /// The key object holding the material (gone once DESTROYED).
    pub object: u64,
    /// Disabled (UpdateKeyVersionState): refused for every operation; kept
    /// through DestroyKey/RestoreKey.
    pub disabled: bool,
}

/// A key's metadata record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// Object id of the record.
    pub id: u64,
    pub slot: u64,
    pub name: String,
    pub algorithm: Algorithm,
    pub primary: u32,
    pub create_ms: i64,
    pub destroy_seconds: u64,
    pub creator: String,
    /// The request_id of the call that created the key.
    pub request_id: String,
    pub versions: Vec<VersionRecord>,
    /// Automatic rotation: the period (0: none) and when the next is due (Unix ms).
    pub rotation_period_s: u64,
    pub next_rotation_ms: i64,
}

fn state_code(s: KeyVersionState) -> u8 {
    match s {
        KeyVersionState::Unspecified => 0,
        // DISABLED is the `disabled` flag on an ENABLED version, never a stored state.
        KeyVersionState::Enabled | KeyVersionState::Disabled => 1,
        KeyVersionState::DestroyScheduled => 2,
        KeyVersionState::Destroyed => 3,
    }
}

fn corrupt(name: &str) -> ApiError {
    ApiError::internal(format!("the record of key {name:?} is damaged"))
}

impl KeyRecord {
    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64 + self.versions.len() * 48);
        w.u8(META_FORMAT)
            .u32(self.algorithm as i32 as u32)
            .u32(self.primary)
            .u64(self.create_ms as u64)
            .u64(self.destroy_seconds)
            .str(&self.creator)
            .str(&self.request_id)
            .u32(self.versions.len() as u32);
        for v in &self.versions {
            w.u32(v.version)
                .u8(state_code(v.state))
                .u64(v.create_ms as u64)
                .u64(v.destroy_ms as u64)
                .bool(v.imported)
                .str(&v.request_id)
                .u64(v.object);
        }
        w.u64(self.rotation_period_s).u64(self.next_rotation_ms as u64);
        for v in &self.versions {
            w.bool(v.disabled);
        }
        w.into_vec()
    }

    /// Reads a metadata record object.
    fn decode(o: &Object) -> ApiResult<KeyRecord> {
        let name = o.get(CKA_TEEHSM_API_KEY_NAME).and_then(|n| String::from_utf8(n.to_vec()).ok()).ok_or_else(|| corrupt("?"))?;
        let meta = o.get(CKA_TEEHSM_API_KEY_META).ok_or_else(|| corrupt(&name))?;
        let bad = |_| corrupt(&name);
        let mut r = Reader::new(meta);
        let format = r.u8("format").map_err(bad)?;
        if !(1..=META_FORMAT).contains(&format) {
            return Err(corrupt(&name));
        }
        let algorithm = Algorithm::try_from(r.u32("algorithm").map_err(bad)? as i32).map_err(|_| corrupt(&name))?;
        let primary = r.u32("primary").map_err(bad)?;
        let create_ms = r.u64("create time").map_err(bad)? as i64;
        let destroy_seconds = r.u64("destroy duration").map_err(bad)?;
        let creator = r.string("creator", teehsm_wire::MAX_CLIENT_ID_LEN).map_err(bad)?;
        let request_id = r.string("request id", MAX_REQUEST_ID_LEN).map_err(bad)?;
        let n = r.count("versions", MAX_VERSIONS, 34).map_err(bad)?;
        let mut versions = Vec::with_capacity(n);
        for _ in 0..n {
            let version = r.u32("version").map_err(bad)?;
            let state = match r.u8("state").map_err(bad)? {
                1 => KeyVersionState::Enabled,
                2 => KeyVersionState::DestroyScheduled,
                3 => KeyVersionState::Destroyed,
                _ => return Err(corrupt(&name)),
            };
            versions.push(VersionRecord {
                version,
                state,
                create_ms: r.u64("version create time").map_err(bad)? as i64,
                destroy_ms: r.u64("version destroy time").map_err(bad)? as i64,
                imported: r.bool("imported").map_err(bad)?,
                request_id: r.string("version request id", MAX_REQUEST_ID_LEN).map_err(bad)?,
                object: r.u64("version object").map_err(bad)?,
                disabled: false,
            });
        }
        let (rotation_period_s, next_rotation_ms) =
            if format >= 2 { (r.u64("rotation period").map_err(bad)?, r.u64("next rotation").map_err(bad)? as i64) } else { (0, 0) };
        if format >= 2 {
            for v in versions.iter_mut() {
                v.disabled = r.bool("version disabled").map_err(bad)?;
            }
        }
        r.finish().map_err(bad)?;
        Ok(KeyRecord {
            id: o.id,
            slot: o.slot,
            name,
            algorithm,
            primary,
            create_ms,
            destroy_seconds,
            creator,
            request_id,
            versions,
            rotation_period_s,
            next_rotation_ms,
        })
    }

    fn to_object(&self) -> Object {
        let mut o = Object::new(self.id, self.slot);
        o.set_ulong(CKA_CLASS, CKO_TEEHSM_API_KEY);
        o.set_bool(CKA_TOKEN, true);
        o.set_bool(CKA_PRIVATE, true);
        o.attrs.insert(CKA_TEEHSM_API_KEY_NAME, self.name.as_bytes().to_vec());
        o.attrs.insert(CKA_TEEHSM_API_KEY_META, self.encode());
        o
    }

    pub fn purpose(&self) -> KeyPurpose {
        super::algo::purpose(self.algorithm)
    }

    /// The key as the API shows it.
    pub fn to_proto(&self) -> Key {
        Key {
            name: self.name.clone(),
            algorithm: self.algorithm as i32,
            purpose: self.purpose() as i32,
            primary_version: self.primary,
            versions: self
                .versions
                .iter()
                .map(|v| KeyVersion {
                    version: v.version,
                    state: if v.disabled && v.state == KeyVersionState::Enabled { KeyVersionState::Disabled as i32 } else { v.state as i32 },
                    create_time_ms: v.create_ms,
                    destroy_time_ms: v.destroy_ms,
                    imported: v.imported,
                })
                .collect(),
            create_time_ms: self.create_ms,
            destroy_scheduled_duration_seconds: self.destroy_seconds,
            creator: self.creator.clone(),
            rotation_period_seconds: self.rotation_period_s,
            next_rotation_time_ms: if self.rotation_period_s > 0 { self.next_rotation_ms } else { 0 },
        }
    }

    /// Whether an automatic rotation is due: scheduled, time reached, and
    /// the key in use (not scheduled for destruction, not destroyed).
    pub fn rotation_due(&self, now: i64) -> bool {
        self.rotation_period_s > 0 && self.next_rotation_ms <= now && self.check_usable().is_ok()
    }

    /// When the key's destruction is scheduled (DestroyKey), the time it happens.
    pub fn scheduled_at(&self) -> Option<i64> {
        self.versions.iter().find(|v| v.state == KeyVersionState::DestroyScheduled).map(|v| v.destroy_ms)
    }

    /// True when every version is destroyed.
    pub fn destroyed(&self) -> bool {
        self.versions.iter().all(|v| v.state == KeyVersionState::Destroyed)
    }

    fn due(&self, now: i64) -> bool {
        self.versions.iter().any(|v| v.state == KeyVersionState::DestroyScheduled && v.destroy_ms <= now)
    }

    /// Refuses use of a key scheduled for destruction or destroyed.
    pub fn check_usable(&self) -> ApiResult<()> {
        if let Some(at) = self.scheduled_at() {
            return Err(ApiError::failed_precondition(format!(
                "key {:?} is scheduled for destruction at {}; RestoreKey cancels it",
                self.name,
                fmt_time(at)
            )));
        }
        if self.destroyed() {
            let at = self.versions.iter().map(|v| v.destroy_ms).max().unwrap_or(0);
            return Err(ApiError::failed_precondition(format!("key {:?} was destroyed at {}; its name cannot be reused", self.name, fmt_time(at))));
        }
        Ok(())
    }

    /// The version `v` names (0 = the primary).
    pub fn version(&self, v: u32) -> ApiResult<&VersionRecord> {
        let want = if v == 0 { self.primary } else { v };
        let found = self.versions.iter().find(|x| x.version == want).ok_or_else(|| {
            ApiError::not_found(format!("key {:?} has no version {want} (its versions are 1 to {})", self.name, self.versions.len()))
        })?;
        match found.state {
            KeyVersionState::Enabled if found.disabled => {
                Err(ApiError::failed_precondition(format!("version {want} of key {:?} is disabled; UpdateKeyVersionState enables it", self.name)))
            }
            KeyVersionState::Enabled => Ok(found),
            KeyVersionState::DestroyScheduled => Err(ApiError::failed_precondition(format!(
                "version {want} of key {:?} is scheduled for destruction at {}; RestoreKey cancels it",
                self.name,
                fmt_time(found.destroy_ms)
            ))),
            _ => Err(ApiError::failed_precondition(format!("version {want} of key {:?} was destroyed at {}", self.name, fmt_time(found.destroy_ms)))),
        }
    }

    fn next_version(&self) -> u32 {
        self.versions.iter().map(|v| v.version).max().unwrap_or(0) + 1
    }
}

/// Key material for a new version, from `algo::generate` or `algo::import`.
pub struct NewVersion {
    pub material: super::algo::Material,
    pub imported: bool,
    pub request_id: String,
}

/// A new key.
pub struct NewKey<'a> {
    pub slot: u64,
    pub name: &'a str,
    pub algorithm: Algorithm,
    pub destroy_seconds: u64,
    pub creator: &'a str,
    /// Automatic rotation (period in seconds, next due in Unix ms), from [`rotation_schedule`].
    pub rotation: (u64, i64),
}

/// Checks an automatic rotation schedule for a key of `alg`: `(0, 0)` for
/// none; else a symmetric key, a period of a day to 100 years, and the
/// first rotation at `next_ms` (0: `now` + the period).
pub fn rotation_schedule(alg: Algorithm, period_s: u64, next_ms: i64, now: i64) -> ApiResult<(u64, i64)> {
    if period_s == 0 {
        if next_ms != 0 {
            return Err(ApiError::invalid("next_rotation_time_ms needs a rotation_period_seconds"));
        }
        return Ok((0, 0));
    }
    if !matches!(super::algo::purpose(alg), KeyPurpose::EncryptDecrypt | KeyPurpose::Mac) {
        return Err(ApiError::invalid(format!(
            "automatic rotation is for symmetric keys (AES/SM4-GCM, HMAC), as in Cloud KMS; a {} key's public key is handed out, so rotate it with RotateKey",
            alg.as_str_name()
        )));
    }
    if !(MIN_ROTATION_SECONDS..=MAX_ROTATION_SECONDS).contains(&period_s) {
        return Err(ApiError::invalid(format!(
            "rotation_period_seconds must be {MIN_ROTATION_SECONDS} (a day) to {MAX_ROTATION_SECONDS} (100 years), got {period_s}"
        )));
    }
    if next_ms < 0 {
        return Err(ApiError::invalid("next_rotation_time_ms must be a Unix time in ms (0: now + the period)"));
    }
    let next = if next_ms == 0 { now.saturating_add(period_s as i64 * 1000) } else { next_ms };
    Ok((period_s, next))
}

/// What a create found when the name was already taken.
pub enum Existing {
    /// The same request again: this is the key it made.
    Same(KeyRecord),
    /// A different key has the name.
    Taken,
}

impl Ta {
    /// The record of key `name` in `slot`, as stored (no expiry).
    fn api_key_stored(&self, slot: u64, name: &str) -> ApiResult<Option<KeyRecord>> {
        let o = {
            let st = self.store.state();
            let probe = [Attribute::new(CKA_TEEHSM_API_KEY_NAME, name.as_bytes().to_vec())];
            let found = st.candidates(&probe).find(|o| o.slot == slot && o.class() == CKO_TEEHSM_API_KEY && o.matches(&probe)).cloned();
            found
        };
        o.map(|o| KeyRecord::decode(&o)).transpose()
    }

    /// The record of key `name`, with versions whose scheduled destruction
    /// is due destroyed first and a due automatic rotation made. NOT_FOUND
    /// if there is none.
    pub(super) fn api_key(&self, slot: u64, name: &str) -> ApiResult<KeyRecord> {
        let rec = self.api_key_stored(slot, name)?.ok_or_else(|| ApiError::not_found(format!("no key named {name:?}")))?;
        let now = now_ms();
        if rec.due(now) || rec.rotation_due(now) {
            return self.api_expire(slot, name);
        }
        Ok(rec)
    }

    /// Destroys the versions of `name` whose scheduled destruction is due:
    /// their key objects are deleted, their state becomes DESTROYED.
    fn api_expire(&self, slot: u64, name: &str) -> ApiResult<KeyRecord> {
        let _g = self.api_key_lock().map_err(|e| ApiError::internal(e.message("")))?;
        self.api_key_locked(slot, name)
    }

    fn commit_api(&self, ops: Vec<Op>) -> ApiResult<()> {
        self.check_capacity(&ops).map_err(|f| ApiError::new(super::code::RESOURCE_EXHAUSTED, f.message()))?;
        self.store.commit(ops).map_err(|e| {
            tracing::error!(error = %e, "store failure");
            ApiError::new(super::code::UNAVAILABLE, format!("the TA could not persist the change: {e}"))
        })
    }

    /// The key object of one version: the material with the attributes
    /// `crate::keys::load` needs, sensitive and never extractable, marked as
    /// an API key version so PKCS#11 never sees it.
    fn version_object(&self, slot: u64, record: u64, version: u32, m: &super::algo::Material) -> ApiResult<Object> {
        let mut o = Object::new(self.store.alloc_id(), slot);
        for (ty, v) in &m.attrs {
            o.attrs.insert(*ty, v.clone());
        }
        o.set_bool(CKA_TOKEN, true);
        o.set_bool(CKA_PRIVATE, true);
        o.set_bool(CKA_SENSITIVE, true);
        o.set_bool(CKA_EXTRACTABLE, false);
        o.set_bool(CKA_MODIFIABLE, false);
        o.set_ulong(CKA_TEEHSM_API_KEY_VERSION, u64::from(version));
        o.set_ulong(CKA_TEEHSM_API_KEY_RECORD, record);
        o.secret = Some(Zeroizing::new(m.secret.to_vec()));
        // Parse it now: material that does not load is a bug, not a key.
        crate::keys::load(&o).map_err(|d| ApiError::internal(format!("the new key material does not load: {}", d.message)))?;
        self.crypto_rules(slot).check_key(&o).map_err(|d| ApiError::new(super::code::FAILED_PRECONDITION, d.message))?;
        Ok(o)
    }

    /// What a create of `name` finds: None when the name is free.
    pub(super) fn api_existing(&self, slot: u64, name: &str, algorithm: Algorithm, request_id: &str) -> ApiResult<Option<Existing>> {
        Ok(self.api_key_stored(slot, name)?.map(|rec| {
            if !request_id.is_empty() && rec.request_id == request_id && rec.algorithm == algorithm {
                Existing::Same(rec)
            } else {
                Existing::Taken
            }
        }))
    }

    /// Creates a key with its first version, or returns the key an earlier
    /// identical request created (idempotency by request_id).
    pub(super) fn api_create(&self, k: NewKey<'_>, first: NewVersion) -> ApiResult<KeyRecord> {
        let _g = self.api_key_lock().map_err(|e| ApiError::internal(e.message("")))?;
        match self.api_existing(k.slot, k.name, k.algorithm, &first.request_id)? {
            Some(Existing::Same(rec)) => return Ok(rec),
            Some(Existing::Taken) => return Err(already_exists(k.name)),
            None => {}
        }
        let now = now_ms();
        let id = self.store.alloc_id();
        let vo = self.version_object(k.slot, id, 1, &first.material)?;
        let rec = KeyRecord {
            id,
            slot: k.slot,
            name: k.name.to_string(),
            algorithm: k.algorithm,
            primary: 1,
            create_ms: now,
            destroy_seconds: k.destroy_seconds,
            creator: k.creator.to_string(),
            request_id: first.request_id.clone(),
            rotation_period_s: k.rotation.0,
            next_rotation_ms: k.rotation.1,
            versions: vec![VersionRecord {
                version: 1,
                state: KeyVersionState::Enabled,
                create_ms: now,
                destroy_ms: 0,
                imported: first.imported,
                request_id: first.request_id,
                object: vo.id,
                disabled: false,
            }],
        };
        self.commit_api(vec![Op::PutObject(Arc::new(vo)), Op::PutObject(Arc::new(rec.to_object()))])?;
        Ok(rec)
    }

    /// The key unchanged if its newest version came from `request_id`
    /// (a repeated RotateKey or ImportKey), else None.
    pub(super) fn api_repeated_version(rec: &KeyRecord, request_id: &str) -> Option<KeyRecord> {
        let newest = rec.versions.iter().max_by_key(|v| v.version)?;
        (!request_id.is_empty() && newest.request_id == request_id).then(|| rec.clone())
    }

    /// Checks that `name` may get a new version; returns its record.
    pub(super) fn api_versionable(&self, slot: u64, name: &str) -> ApiResult<KeyRecord> {
        versionable(self.api_key(slot, name)?)
    }

    /// Adds a version to `name` and makes it the primary (RotateKey,
    /// ImportKey with as_new_version). `algorithm` must be the key's.
    pub(super) fn api_add_version(&self, slot: u64, name: &str, algorithm: Algorithm, new: NewVersion) -> ApiResult<KeyRecord> {
        let _g = self.api_key_lock().map_err(|e| ApiError::internal(e.message("")))?;
        let mut rec = versionable(self.api_key_locked(slot, name)?)?;
        if let Some(same) = Self::api_repeated_version(&rec, &new.request_id) {
            return Ok(same);
        }
        if rec.algorithm != algorithm {
            return Err(ApiError::invalid(format!(
                "key {name:?} is {}, not {}: a new version must have the key's algorithm",
                rec.algorithm.as_str_name(),
                algorithm.as_str_name()
            )));
        }
        let version = rec.next_version();
        let vo = self.version_object(slot, rec.id, version, &new.material)?;
        rec.versions.push(VersionRecord {
            version,
            state: KeyVersionState::Enabled,
            create_ms: now_ms(),
            destroy_ms: 0,
            imported: new.imported,
            request_id: new.request_id,
            object: vo.id,
            disabled: false,
        });
        rec.primary = version;
        self.commit_api(vec![Op::PutObject(Arc::new(vo)), Op::PutObject(Arc::new(rec.to_object()))])?;
        Ok(rec)
    }

    /// DestroyKey: schedules every enabled version's destruction.
    pub(super) fn api_destroy(&self, slot: u64, name: &str) -> ApiResult<KeyRecord> {
        let _g = self.api_key_lock().map_err(|e| ApiError::internal(e.message("")))?;
        let mut rec = self.api_key_locked(slot, name)?;
        rec.check_usable()?;
        let at = now_ms().saturating_add((rec.destroy_seconds as i64).saturating_mul(1000));
        for v in rec.versions.iter_mut().filter(|v| v.state == KeyVersionState::Enabled) {
            v.state = KeyVersionState::DestroyScheduled;
            v.destroy_ms = at;
        }
        self.commit_api(vec![Op::PutObject(Arc::new(rec.to_object()))])?;
        Ok(rec)
    }

    /// UpdateKeyVersionState: disables or enables version `v` (0: the primary).
    pub(super) fn api_set_version_enabled(&self, slot: u64, name: &str, v: u32, enabled: bool) -> ApiResult<KeyRecord> {
        let _g = self.api_key_lock().map_err(|e| ApiError::internal(e.message("")))?;
        let mut rec = self.api_key_locked(slot, name)?;
        let want = if v == 0 { rec.primary } else { v };
        let key_name = rec.name.clone();
        let found = rec
            .versions
            .iter_mut()
            .find(|x| x.version == want)
            .ok_or_else(|| ApiError::not_found(format!("key {key_name:?} has no version {want}")))?;
        if found.state != KeyVersionState::Enabled {
            return Err(ApiError::failed_precondition(format!(
                "version {want} of key {key_name:?} is {}; only a version in use can be disabled or enabled",
                found.state.as_str_name()
            )));
        }
        if found.disabled != enabled {
            return Ok(rec);
        }
        found.disabled = !enabled;
        self.commit_api(vec![Op::PutObject(Arc::new(rec.to_object()))])?;
        tracing::info!(key = %name, slot, version = want, enabled, "API key version state changed");
        Ok(rec)
    }

    /// RestoreKey: cancels a scheduled destruction.
    pub(super) fn api_restore(&self, slot: u64, name: &str) -> ApiResult<KeyRecord> {
        let _g = self.api_key_lock().map_err(|e| ApiError::internal(e.message("")))?;
        let mut rec = self.api_key_locked(slot, name)?;
        if rec.scheduled_at().is_none() {
            return Err(ApiError::failed_precondition(if rec.destroyed() {
                format!("key {name:?} is already destroyed; it cannot be restored")
            } else {
                format!("key {name:?} is not scheduled for destruction; there is nothing to restore")
            }));
        }
        for v in rec.versions.iter_mut().filter(|v| v.state == KeyVersionState::DestroyScheduled) {
            v.state = KeyVersionState::Enabled;
            v.destroy_ms = 0;
        }
        self.commit_api(vec![Op::PutObject(Arc::new(rec.to_object()))])?;
        Ok(rec)
    }

    /// Like `api_key` for a caller that already holds the key lock: due
    /// versions are destroyed in the same way.
    fn api_key_locked(&self, slot: u64, name: &str) -> ApiResult<KeyRecord> {
        let mut rec = self.api_key_stored(slot, name)?.ok_or_else(|| ApiError::not_found(format!("no key named {name:?}")))?;
        let now = now_ms();
        if rec.due(now) {
            let mut ops = Vec::new();
            for v in rec.versions.iter_mut() {
                if v.state == KeyVersionState::DestroyScheduled && v.destroy_ms <= now {
                    v.state = KeyVersionState::Destroyed;
                    ops.push(Op::DeleteObject(v.object));
                }
            }
            ops.push(Op::PutObject(Arc::new(rec.to_object())));
            self.commit_api(ops)?;
            tracing::info!(key = %name, slot, "API key versions destroyed after their scheduled time");
        }
        if rec.rotation_due(now) {
            self.api_rotate_due(&mut rec, now)?;
        }
        Ok(rec)
    }

    /// Makes the due automatic rotation of `rec` (key lock held): a new
    /// version from fresh material becomes the primary, and the next
    /// rotation is the first period boundary after `now` (a key nobody used
    /// for several periods rotates once, not once per missed period).
    fn api_rotate_due(&self, rec: &mut KeyRecord, now: i64) -> ApiResult<()> {
        let material = super::algo::generate(rec.algorithm)?;
        let version = rec.next_version();
        let vo = self.version_object(rec.slot, rec.id, version, &material)?;
        rec.versions.push(VersionRecord {
            version,
            state: KeyVersionState::Enabled,
            create_ms: now,
            destroy_ms: 0,
            imported: false,
            request_id: String::new(),
            object: vo.id,
            disabled: false,
        });
        rec.primary = version;
        let period_ms = (rec.rotation_period_s as i64).saturating_mul(1000).max(1);
        let missed = (now - rec.next_rotation_ms) / period_ms + 1;
        rec.next_rotation_ms = rec.next_rotation_ms.saturating_add(missed.saturating_mul(period_ms));
        self.commit_api(vec![Op::PutObject(Arc::new(vo)), Op::PutObject(Arc::new(rec.to_object()))])?;
        self.audit.append(crate::audit::Event {
            op: "Api:AutoRotate".into(),
            slot: Some(rec.slot),
            key: Some(rec.name.clone()),
            ..Default::default()
        });
        tracing::info!(key = %rec.name, slot = rec.slot, version, next_rotation_ms = rec.next_rotation_ms, "API key rotated on its schedule");
        Ok(())
    }

    /// UpdateKeyRotation: sets or removes `name`'s automatic rotation.
    pub(super) fn api_update_rotation(&self, slot: u64, name: &str, period_s: u64, next_ms: i64) -> ApiResult<KeyRecord> {
        let _g = self.api_key_lock().map_err(|e| ApiError::internal(e.message("")))?;
        let mut rec = self.api_key_locked(slot, name)?;
        rec.check_usable()?;
        let (period, next) = rotation_schedule(rec.algorithm, period_s, next_ms, now_ms())?;
        rec.rotation_period_s = period;
        rec.next_rotation_ms = next;
        self.commit_api(vec![Op::PutObject(Arc::new(rec.to_object()))])?;
        Ok(rec)
    }

    /// Every key record of `slot` whose name starts with `prefix`, sorted by
    /// name, with due destructions carried out.
    pub(super) fn api_keys(&self, slot: u64, prefix: &str) -> ApiResult<Vec<KeyRecord>> {
        let objects: Vec<Arc<Object>> = {
            let st = self.store.state();
            st.objects
                .values()
                .filter(|o| {
                    o.slot == slot
                        && o.class() == CKO_TEEHSM_API_KEY
                        && o.get(CKA_TEEHSM_API_KEY_NAME).is_some_and(|n| n.starts_with(prefix.as_bytes()))
                })
                .cloned()
                .collect()
        };
        let now = now_ms();
        let mut v = Vec::with_capacity(objects.len());
        for o in objects {
            let rec = KeyRecord::decode(&o)?;
            v.push(if rec.due(now) || rec.rotation_due(now) { self.api_expire(slot, &rec.name)? } else { rec });
        }
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    /// The usable key of version `v` (0 = primary) of `rec`: parsed once
    /// and cached on its object. Takes no write lock and touches no file.
    pub(super) fn api_version_key(&self, rec: &KeyRecord, v: u32) -> ApiResult<(u32, Arc<LoadedKey>)> {
        rec.check_usable()?;
        let ver = rec.version(v)?;
        // The key object and the token's rules from one read of the store state.
        let (o, rules) = {
            let st = self.store.state();
            let o = st.objects.get(&ver.object).cloned().ok_or_else(|| corrupt(&rec.name))?;
            let rules = crate::handler::keydist::token_policy::policy_in(&st, o.slot).map(|p| p.crypto).unwrap_or_default();
            (o, rules)
        };
        if o.ulong(CKA_TEEHSM_API_KEY_RECORD) != Some(rec.id) {
            return Err(corrupt(&rec.name));
        }
        if !rules.is_empty() {
            rules.check_key(&o).map_err(|d| ApiError::new(super::code::FAILED_PRECONDITION, d.message))?;
        }
        let k = crate::keys::load(&o).map_err(ApiError::from)?;
        Ok((ver.version, k))
    }
}

/// `rec` if it may get a new version: usable, and below the version limit.
fn versionable(rec: KeyRecord) -> ApiResult<KeyRecord> {
    rec.check_usable()?;
    if rec.versions.len() >= MAX_VERSIONS {
        return Err(ApiError::new(
            super::code::RESOURCE_EXHAUSTED,
            format!("key {:?} has {MAX_VERSIONS} versions, the most a key may have; create a new key", rec.name),
        ));
    }
    Ok(rec)
}

pub fn already_exists(name: &str) -> ApiError {
    ApiError::already_exists(format!(
        "a key named {name:?} already exists; choose another name, or repeat the original request_id to get the key it created"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("name", "pay/k-1_v.2").is_ok());
        assert!(check_name("name", "").is_err());
        assert!(check_name("name", "a b").is_err());
        assert!(check_name("name", "ключ").is_err());
        assert!(check_name("name", &"a".repeat(128)).is_ok());
        assert!(check_name("name", &"a".repeat(129)).is_err());
    }

    #[test]
    fn times() {}

    #[test]
    fn rotation_schedules() {
        let now = 1_000_000;
        assert_eq!(rotation_schedule(Algorithm::Aes256Gcm, 0, 0, now).unwrap(), (0, 0));
        assert_eq!(rotation_schedule(Algorithm::Aes256Gcm, 86_400, 0, now).unwrap(), (86_400, now + 86_400_000));
        assert_eq!(rotation_schedule(Algorithm::HmacSm3, 86_400 * 30, 5, now).unwrap(), (86_400 * 30, 5));
        for (alg, period, next) in [
            (Algorithm::Aes256Gcm, 0, 5),
            (Algorithm::Aes256Gcm, 3_600, 0),
            (Algorithm::Aes256Gcm, MAX_ROTATION_SECONDS + 1, 0),
            (Algorithm::Aes256Gcm, 86_400, -1),
            (Algorithm::EcSignP256Sha256, 86_400, 0),
            (Algorithm::RsaDecryptOaep2048Sha256, 86_400, 0),
        ] {
            assert_eq!(rotation_schedule(alg, period, next, now).unwrap_err().code, super::super::code::INVALID_ARGUMENT, "{alg:?} {period} {next}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(destroy_duration(0).unwrap(), DEFAULT_DESTROY_SECONDS);
        assert_eq!(destroy_duration(1).unwrap(), 1);
        assert_eq!(destroy_duration(MAX_DESTROY_SECONDS).unwrap(), MAX_DESTROY_SECONDS);
        assert_eq!(destroy_duration(MAX_DESTROY_SECONDS + 1).unwrap_err().code, super::super::code::INVALID_ARGUMENT);
    }

    #[test]
    fn record_round_trip() {
        let rec = KeyRecord {
            id: 9,
            slot: 0,
            name: "pay/k1".into(),
            algorithm: Algorithm::EcSignP256Sha256,
            primary: 2,
            create_ms: 5,
            destroy_seconds: 86_400,
            creator: "svc".into(),
            request_id: "r1".into(),
            versions: vec![
                VersionRecord {
                    version: 1,
                    state: KeyVersionState::Destroyed,
                    create_ms: 5,
                    destroy_ms: 7,
                    imported: false,
                    request_id: "r1".into(),
                    object: 10,
                    disabled: false,
                },
                VersionRecord {
                    version: 2,
                    state: KeyVersionState::Enabled,
                    create_ms: 6,
                    destroy_ms: 0,
                    imported: true,
                    request_id: String::new(),
                    object: 11,
                    disabled: true,
                },
            ],
            rotation_period_s: 86_400,
            next_rotation_ms: 1_800_000_000_000,
        };
        let back = KeyRecord::decode(&rec.to_object()).unwrap();
        assert_eq!(back, rec);
        // A record written before rotation schedules (format 1) reads as "no rotation".
        let mut v1 = rec.to_object().get(CKA_TEEHSM_API_KEY_META).unwrap().to_vec();
        v1[0] = 1;
        v1.truncate(v1.len() - 16 - rec.versions.len());
        let mut o1 = rec.to_object();
        o1.attrs.insert(CKA_TEEHSM_API_KEY_META, v1);
        let old = KeyRecord::decode(&o1).unwrap();
        assert_eq!((old.rotation_period_s, old.next_rotation_ms, old.versions.len()), (0, 0, 2));
        assert!(old.versions.iter().all(|v| !v.disabled), "format 1 has no disabled versions");
        let mut o = rec.to_object();
        o.attrs.insert(CKA_TEEHSM_API_KEY_META, vec![1, 2]);
        assert_eq!(KeyRecord::decode(&o).unwrap_err().code, super::super::code::INTERNAL);
    }
}
