//! A reader that goes away (`extsvc resolve --format json | head -c 10`) ends every command
//! quietly with status 0 (SPEC section 5): no panic, no "Broken pipe" message.
//!
//! Each command runs with its stdout a pipe whose reading end the test closes before the
//! command writes, so every write meets `EPIPE` (with `head` it depends on timing).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use extsvc_tests::target::{TargetOptions, TestTarget};

/// Runs `extsvc args…` in `dir` with stdout a pipe closed at once; returns the exit code
/// and stderr.
fn with_closed_stdout(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_extsvc"))
        .args(args)
        .env_clear()
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("extsvc runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("extsvc ends");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_command_ends_quietly_with_status_0_when_stdout_is_closed() {
    let target = TestTarget::http(TargetOptions::default());
    let dir = tempfile::tempdir().unwrap();
    // Enough output that the pipe's buffer could never hide the closed end.
    let mut bypass: Vec<String> = (0..2_000).map(|n| format!("host{n}.example")).collect();
    bypass.push("127.0.0.1".into());
    let config = serde_json::json!({ "external_services": {
        "global": { "enabled": true, "http_proxy": "http://proxy.invalid:3128", "bypass_proxy": bypass.join(",") }
    } });
    std::fs::write(dir.path().join("tyk.conf"), config.to_string()).unwrap();
    let url = target.url();
    let runs: [&[&str]; 9] = [
        &["resolve"],
        &["resolve", "--format", "json"],
        &["route", "--service", "oauth", "https://idp.example/"],
        &[
            "route",
            "--service",
            "oauth",
            "https://idp.example/",
            "--format",
            "json",
        ],
        &["check"],
        &["probe", "--service", "health", &url, "--count", "3"],
        &["probe", "--service", "health", &url, "--count", "3", "--format", "json"],
        &["probe", "--service", "health", &url, "-v"],
        // A failing probe too: its output is written all the same.
        &["probe", "--service", "health", "http://127.0.0.1:9/", "--timeout", "1s"],
    ];
    for args in runs {
        let (code, stderr) = with_closed_stdout(dir.path(), args);
        assert_eq!(code, Some(0), "{args:?}: exit {code:?}\n{stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.to_lowercase().contains("broken pipe"),
            "{args:?}: {stderr}"
        );
    }
}
