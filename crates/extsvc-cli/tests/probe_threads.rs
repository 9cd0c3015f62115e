//! `extsvc probe --threads`: the same counts and summary whatever the runtime's shape,
//! and the default said in `--help`.

mod common;

use extsvc_tests::target::{TargetOptions, TestTarget};
use serde_json::Value;

fn extsvc(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    common::run(dir, args, &[])
}

#[test]
fn every_thread_count_makes_every_request_and_merges_every_worker() {
    let target = TestTarget::http(TargetOptions::default());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tyk.conf"), "{}").unwrap();
    let url = format!("{}/health", target.url());
    for threads in ["1", "2", "3"] {
        let out = extsvc(
            dir.path(),
            &[
                "probe",
                "--config",
                "tyk.conf",
                "--format",
                "json",
                "--service",
                "health",
                &url,
                "--count",
                "75",
                "--concurrency",
                "8",
                "--threads",
                threads,
            ],
        );
        let json: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(out.status.code(), Some(0), "{json}");
        assert_eq!(json["requests"], 75, "--threads {threads}: {json}");
        assert_eq!(json["ok"], 75, "{json}");
        assert_eq!(json["status"]["200"], 75, "{json}");
        let latency = &json["latency_us"];
        let (p50, p99, max) = (
            latency["p50"].as_u64().unwrap(),
            latency["p99"].as_u64().unwrap(),
            latency["max"].as_u64().unwrap(),
        );
        assert!(0 < p50 && p50 <= p99 && p99 <= max, "{json}");
        let opened = json["connections_opened"].as_u64().unwrap();
        assert!((1..=8).contains(&opened), "at most one connection per worker: {json}");
    }
}

#[test]
fn zero_threads_is_a_usage_error_and_help_names_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let out = extsvc(
        dir.path(),
        &["probe", "--service", "health", "http://127.0.0.1:9/", "--threads", "0"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threads"));
    let help = extsvc(dir.path(), &["probe", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("--threads") && text.contains("[default: 1]"), "{text}");
}
