//! The module's log lines. A library loaded into someone else's process
//! must not install a logger of its own, so lines go to standard error,
//! prefixed `teehsm-pkcs11:`, at the level `TEEHSM_PKCS11_LOG` sets
//! (`off`, `error` (default), `debug`).

use std::sync::OnceLock;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Off,
    Error,
    Debug,
}

pub const LOG_ENV: &str = "TEEHSM_PKCS11_LOG";

fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| match std::env::var(LOG_ENV).as_deref() {
        Ok("off") | Ok("none") => Level::Off,
        Ok("debug") | Ok("trace") => Level::Debug,
        _ => Level::Error,
    })
}

pub fn error(message: impl std::fmt::Display) {
    if level() >= Level::Error {
        eprintln!("teehsm-pkcs11: error: {message}");
    }
}

pub fn debug(message: impl std::fmt::Display) {
    if level() >= Level::Debug {
        eprintln!("teehsm-pkcs11: debug: {message}");
    }
}
