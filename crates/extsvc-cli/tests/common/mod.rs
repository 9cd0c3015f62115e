//! What the CLI's test binaries share: running the `extsvc` binary as an operator does
//! (only the environment the test gives, in a directory of the test's own), reading its
//! output, and the keys SPEC section 5 promises in `probe`'s JSON summary.

// Each test binary compiles this module and uses its own part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `extsvc args…` in `dir` with only `env` set (the test process's own environment
/// is never passed on, nor touched).
pub(crate) fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_extsvc"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("extsvc runs")
}

/// Runs `extsvc args…` as [`run`] does, in a fresh empty directory.
pub(crate) fn run_in_empty_dir(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("a temporary directory");
    run(dir.path(), args, env)
}

/// stdout as JSON; a panic naming stdout and stderr when it is not.
pub(crate) fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Writes `json` as a config file in a fresh directory (kept alive by the returned guard),
/// and returns its path.
pub(crate) fn config_file(json: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("tyk.conf");
    std::fs::write(&path, json).expect("the config file is written");
    let path = path.to_str().expect("a UTF-8 path").to_owned();
    (dir, path)
}

/// stdout of a run that succeeded; a panic naming its exit and stderr when it did not.
pub(crate) fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

/// stdout of a run that succeeded, as JSON ([`stdout_of`], then [`json`]).
pub(crate) fn stdout_json(output: &Output) -> Value {
    stdout_of(output);
    json(output)
}

/// stdout then stderr, as text: what an operator sees.
pub(crate) fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The keys of `probe`'s JSON summary that SPEC section 5 lists; later keys (`bytes`,
/// `pool`, `metrics`) come on top of them, never instead.
pub(crate) const PROBE_SPEC_KEYS: [&str; 14] = [
    "service",
    "url",
    "route",
    "proxy",
    "requests",
    "ok",
    "errors",
    "status",
    "tls_version",
    "elapsed_secs",
    "requests_per_sec",
    "latency_us",
    "connections_opened",
    "error",
];

/// Asserts every key of [`PROBE_SPEC_KEYS`] is in `summary`.
pub(crate) fn assert_probe_spec_keys(summary: &Value) {
    for key in PROBE_SPEC_KEYS {
        assert!(summary.get(key).is_some(), "{key} missing: {summary}");
    }
}
