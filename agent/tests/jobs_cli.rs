//! `teehsm-agent run` refuses inconsistent job options with exit code 2 and
//! a message that says what to fix, before it connects anywhere.

use std::process::Command;

fn run(extra: &[&str]) -> (Option<i32>, String) {
    let dir = std::env::temp_dir().join(format!("teehsm-agent-jobs-cli-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_teehsm-agent"))
        .args(["run", "--console", "https://127.0.0.1:1", "--token-capacity", "10", "--state-dir"])
        .arg(dir.join("state"))
        .arg("--ca-state-dir")
        .arg(dir.join("ca"))
        .args(extra)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn inconsistent_job_options_are_usage_errors() {
    let root = std::env::temp_dir().join(format!("teehsm-agent-jobs-cli-root-{}", std::process::id()));
    let root_s = root.display().to_string();
    let key = "11".repeat(32);
    let cases: [(&[&str], &str); 5] = [
        (&["--package-root", &root_s], "--package-root needs at least one --vendor-key"),
        (&["--vendor-key", &key], "--vendor-key needs --package-root"),
        (&["--package-root", &root_s, "--vendor-key", "xyz"], "--vendor-key \"xyz\""),
        (&["--package-root", &root_s, "--vendor-key", &key, "--health-timeout-ms", "5"], "--health-timeout-ms must be 100 to 600000"),
        (&["--package-root", &root_s, "--vendor-key", &key, "--drain-timeout-ms", "99999"], "--drain-timeout-ms must be at most 60000"),
    ];
    for (args, want) in cases {
        let (code, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&root);
}
