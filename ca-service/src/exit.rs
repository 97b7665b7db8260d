//! What a TA exit means: the TA's exit codes (see `teehsm-ta serve --help`)
//! turned into a reason for operators and a security flag for the backoff.

use std::process::ExitStatus;

pub const EXIT_CONFIG: i32 = 2;
pub const EXIT_SELF_TEST: i32 = 3;
pub const EXIT_ROLLBACK: i32 = 4;
pub const EXIT_CORRUPT: i32 = 5;

/// How one TA run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaExit {
    /// The exit code, or 128 + the signal number if a signal killed it
    /// (the shell convention); this is what `teehsm_ca_ta_last_exit_code` shows.
    pub code: i64,
    /// Exit 3, 4 or 5: the TA refuses to run for a security reason.
    pub security_failure: bool,
    pub reason: String,
}

impl TaExit {
    pub fn from_status(status: ExitStatus) -> TaExit {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(c), _) => TaExit::from_code(c),
            (None, Some(sig)) => TaExit::from_signal(sig),
            (None, None) => TaExit { code: -1, security_failure: false, reason: format!("the TA ended ({status})") },
        }
    }

    pub fn from_code(code: i32) -> TaExit {
        let (security_failure, reason) = match code {
            0 => (false, "the TA exited (status 0) without being asked to stop".to_string()),
            EXIT_CONFIG => (
                false,
                "TA configuration error (exit 2): see the TA's log lines; check --ta-arg, the TA's environment and the state directory".to_string(),
            ),
            EXIT_SELF_TEST => (
                true,
                "TA self-test failure (exit 3): a known-answer test failed, so the TA refuses to serve; the TA build or the platform is faulty".to_string(),
            ),
            EXIT_ROLLBACK => (
                true,
                "sealed store rollback detected (exit 4): the store is older than the platform counter, missing, or from a newer TA security version; refusing to start; restore the newest store or re-provision".to_string(),
            ),
            EXIT_CORRUPT => (
                true,
                "sealed store corrupt (exit 5): refusing to start; restore the store (ta-data/) from a backup or re-provision".to_string(),
            ),
            c => (false, format!("the TA exited with status {c}")),
        };
        TaExit { code: code as i64, security_failure, reason }
    }

    pub fn from_signal(sig: i32) -> TaExit {
        TaExit {
            code: 128 + sig as i64,
            security_failure: false,
            reason: format!("the TA was killed by signal {sig}{}", signal_name(sig).map(|n| format!(" ({n})")).unwrap_or_default()),
        }
    }
}

fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGHUP => "SIGHUP",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_codes() {
        for c in [3, 4, 5] {
            assert!(TaExit::from_code(c).security_failure, "{c}");
        }
        for c in [0, 1, 2, 101] {
            assert!(!TaExit::from_code(c).security_failure, "{c}");
        }
        let e = TaExit::from_code(4);
        assert!(e.reason.contains("rollback detected"));
        assert!(e.reason.contains("restore the newest store or re-provision"));
        assert_eq!(e.code, 4);
    }

    #[test]
    fn signals() {
        let e = TaExit::from_signal(libc::SIGKILL);
        assert_eq!(e.code, 137);
        assert!(e.reason.contains("SIGKILL"));
        assert!(!e.security_failure);
    }

    #[test]
    fn from_real_status() {
        let s = std::process::Command::new("sh").args(["-c", "exit 5"]).status().unwrap();
        assert_eq!(TaExit::from_status(s).code, 5);
        let s = std::process::Command::new("sh").args(["-c", "kill -9 $$"]).status().unwrap();
        assert_eq!(TaExit::from_status(s).code, 137);
    }
}
