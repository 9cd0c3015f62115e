//! `extsvc probe`'s pool flags (`--max-connections-per-host`, `--max-pending`,
//! `--max-connection-lifetime`), its `"pool"` summary and `--metrics`, against nginx
//! (and the in-process target where a slow answer is needed).

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use extsvc_tests::nginx::{Nginx, NginxOptions};
use extsvc_tests::target::{TargetOptions, TestTarget};
use serde_json::Value;

fn extsvc(dir: &Path, args: &[&str]) -> Output {
    std::fs::write(dir.join("tyk.conf"), "{}").unwrap();
    let mut all = vec!["probe", "--config", "tyk.conf"];
    all.extend_from_slice(args);
    common::run(dir, &all, &[])
}

fn probe_json(args: &[&str]) -> (Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = extsvc(dir.path(), &all);
    let json = common::json(&out);
    (out, json)
}

fn nginx() -> Nginx {
    Nginx::start(NginxOptions {
        plain_http: true,
        ..NginxOptions::default()
    })
}

#[test]
fn max_connections_per_host_holds_and_the_pool_summary_reports_it() {
    let nginx = nginx();
    let url = format!("{}/", nginx.http_url());
    let (out, json) = probe_json(&[
        "--service",
        "webhooks",
        &url,
        "--count",
        "60",
        "--concurrency",
        "8",
        "--max-connections-per-host",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{json}");
    assert_eq!(json["ok"], 60);
    let pool = &json["pool"];
    for key in ["opened", "reused", "closed", "peak_open", "peak_waiting"] {
        assert!(pool[key].is_u64(), "{key} in {json}");
    }
    assert!(pool["peak_open"].as_u64().unwrap() <= 2, "{json}");
    assert!(pool["peak_waiting"].as_u64().unwrap() >= 1, "{json}");
    assert_eq!(pool["opened"], json["connections_opened"], "{json}");
    let opened = pool["opened"].as_u64().unwrap();
    assert_eq!(pool["reused"].as_u64().unwrap() + opened, 60, "{json}");
    assert_eq!(nginx.connections_seen() as u64, opened, "nginx agrees");
    assert!(opened <= 2, "{json}");
    // Every existing key is still there.
    common::assert_probe_spec_keys(&json);
    assert!(json.get("metrics").is_none(), "only with --metrics");
}

#[test]
fn max_pending_refuses_at_once_with_pool_full() {
    let target = TestTarget::http(TargetOptions {
        delay: Duration::from_millis(300),
        ..TargetOptions::default()
    });
    let (out, json) = probe_json(&[
        "--service",
        "health",
        &target.url(),
        "--count",
        "4",
        "--concurrency",
        "4",
        "--max-connections-per-host",
        "1",
        "--max-pending",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1), "{json}");
    assert_eq!(json["ok"], 1, "{json}");
    assert_eq!(json["errors"]["pool_full"], 3, "{json}");
    assert!(json["error"].as_str().unwrap().contains("max_pending"), "{json}");
    assert_eq!(json["pool"]["peak_waiting"], 0, "{json}");
    assert_eq!(target.stats().accepted, 1);
}

#[test]
fn max_connection_lifetime_retires_connections() {
    let nginx = nginx();
    let url = format!("{}/", nginx.http_url());
    let (out, json) = probe_json(&[
        "--service",
        "oauth",
        &url,
        "--count",
        "8",
        "--interval",
        "60ms",
        "--max-connection-lifetime",
        "100ms",
    ]);
    assert_eq!(out.status.code(), Some(0), "{json}");
    let opened = json["pool"]["opened"].as_u64().unwrap();
    // Eight requests 60 ms apart with a 100 ms lifetime: a connection serves two.
    assert!((3..=8).contains(&opened), "{json}");
    assert_eq!(nginx.connections_seen() as u64, opened);
}

#[test]
fn metrics_are_printed_in_prometheus_text_after_the_run() {
    let nginx = nginx();
    let url = format!("{}/", nginx.http_url());
    let dir = tempfile::tempdir().unwrap();
    let out = extsvc(
        dir.path(),
        &["--service", "discovery", &url, "--count", "3", "--metrics"],
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for series in [
        "# TYPE http_client_request_duration histogram",
        "# TYPE http_client_open_connections gauge",
        "# TYPE http_client_connection_duration histogram",
        "# TYPE extsvc_pool_wait_duration histogram",
        "# TYPE extsvc_pool_connections_opened counter",
        "# TYPE extsvc_pool_connections_closed counter",
        "http_client_request_duration_count{extsvc_service=\"discovery\",extsvc_route=\"direct\",\
         server_address=\"127.0.0.1\",http_request_method=\"GET\",http_response_status_code=\"200\"} 3",
        "extsvc_pool_connections_opened{extsvc_service=\"discovery\",extsvc_route=\"direct\",\
         server_address=\"127.0.0.1\"} 1",
    ] {
        assert!(text.contains(series), "{series:?} missing:\n{text}");
    }
    assert!(text.starts_with("discovery "), "the summary comes first:\n{text}");

    // With --format json the text is the "metrics" string.
    let (out, json) = probe_json(&["--service", "discovery", &url, "--metrics"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        json["metrics"]
            .as_str()
            .unwrap()
            .contains("# TYPE http_client_request_duration histogram"),
        "{json}"
    );
}

#[test]
fn bad_pool_flag_values_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        ["--max-connections-per-host", "0"],
        ["--max-pending", "many"],
        ["--max-connection-lifetime", "10"],
    ] {
        let mut args = vec!["--service", "health", "http://127.0.0.1:9/"];
        args.extend_from_slice(&bad);
        let out = extsvc(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(bad[0]), "{bad:?}: {stderr}");
    }
}
