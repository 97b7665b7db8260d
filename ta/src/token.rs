//! Token (slot) state that persists: label, PIN verifiers, failure counters.

use teehsm_wire::codec::{DecodeError, Reader, Writer};

/// A salted, slow PIN verifier (PBKDF2-HMAC-SHA-256).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinVerifier {
    pub salt: [u8; 16],
    pub iterations: u32,
    pub hash: [u8; 32],
}

/// Everything about one token that must survive a restart.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TokenRecord {
    pub slot: u64,
    pub label: String,
    pub serial: String,
    pub so_pin: Option<PinVerifier>,
    pub user_pin: Option<PinVerifier>,
    /// Consecutive failed SO logins (persisted before each verification).
    pub so_failures: u32,
    /// Consecutive failed user logins (persisted before each verification).
    pub user_failures: u32,
}

impl TokenRecord {
    pub fn initialized(&self) -> bool {
        self.so_pin.is_some()
    }

    pub fn encode(&self, w: &mut Writer) {
        w.u64(self.slot).str(&self.label).str(&self.serial);
        for p in [&self.so_pin, &self.user_pin] {
            match p {
                Some(v) => {
                    w.u8(1).raw(&v.salt).u32(v.iterations).raw(&v.hash);
                }
                None => {
                    w.u8(0);
                }
            }
        }
        w.u32(self.so_failures).u32(self.user_failures);
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let slot = r.u64("token slot")?;
        let label = r.string("token label", 64)?;
        let serial = r.string("token serial", 64)?;
        let mut pins = [None, None];
        for p in pins.iter_mut() {
            *p = match r.u8("PIN flag")? {
                0 => None,
                1 => {
                    let mut salt = [0u8; 16];
                    for b in salt.iter_mut() {
                        *b = r.u8("PIN salt")?;
                    }
                    let iterations = r.u32("PIN iterations")?;
                    let mut hash = [0u8; 32];
                    for b in hash.iter_mut() {
                        *b = r.u8("PIN hash")?;
                    }
                    Some(PinVerifier { salt, iterations, hash })
                }
                t => return Err(DecodeError::UnknownTag { what: "PIN flag", tag: t as u64 }),
            };
        }
        let [so_pin, user_pin] = pins;
        Ok(TokenRecord { slot, label, serial, so_pin, user_pin, so_failures: r.u32("SO failures")?, user_failures: r.u32("user failures")? })
    }
}
