//! `extsvc probe -v`: the operator's `curl -v` of the first request, through a real squid
//! to a TLS target with mTLS, and to a target answering an error; Redis PINGs counted as
//! `PONG`; text and JSON agreeing on connections when the proxy is down.

mod common;

use std::process::Output;

use extsvc_tests::pki::{ClientAuthMode, ServerTlsOptions, TestPki};
use extsvc_tests::redis::{RedisOptions, RedisServer};
use extsvc_tests::squid::{ProxyCredentials, Squid, SquidOptions};
use extsvc_tests::target::{TargetOptions, TestTarget};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn verbose_shows_connect_the_proxy_status_line_and_the_server_certificate_through_squid() {
    let pki = TestPki::generate();
    let target = TestTarget::https(
        TargetOptions::default(),
        pki.server_config(ServerTlsOptions {
            client_auth: ClientAuthMode::Required,
            ..ServerTlsOptions::default()
        }),
    );
    let squid = Squid::start(SquidOptions {
        basic_auth: Some(ProxyCredentials::new("gw", "squid-pw")),
        ..SquidOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({ "external_services": {
        "global": { "enabled": true, "https_proxy": squid.url_with_credentials() },
        "oauth": { "mtls": { "enabled": true, "ca_file": pki.ca_cert_path,
            "cert_file": pki.client_chain_path, "key_file": pki.client_key_path } }
    }});
    std::fs::write(dir.path().join("tyk.conf"), config.to_string()).unwrap();
    let url = format!("{}/status", target.localhost_url());
    let out = common::run(
        dir.path(),
        &[
            "probe",
            "--config",
            "tyk.conf",
            "--service",
            "oauth",
            &url,
            "--count",
            "3",
            "-v",
        ],
        &[],
    );
    let shown = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}\n{}", common::text(&out));
    let authority = url.trim_start_matches("https://").trim_end_matches("/status");
    for expected in [
        "* route: proxy http://gw:***@".to_owned(),
        "TCP connected to 127.0.0.1:".to_owned(),
        format!("CONNECT {authority} HTTP/1.1"),
        "Proxy-Authorization: ***".to_owned(),
        "HTTP/1.1 200 ".to_owned(),
        "TLS with the target: TLSv1_3".to_owned(),
        ", ALPN ".to_owned(),
        "server certificate: subject CN=localhost".to_owned(),
        "names localhost, 127.0.0.1, ::1".to_owned(),
        "client certificate presented: subject CN=".to_owned(),
        "first byte (response headers)".to_owned(),
        "< HTTP/1.1 200 OK".to_owned(),
        "< x-target-client-cert: present".to_owned(),
    ] {
        assert!(shown.contains(&expected), "missing {expected:?} in:\n{shown}");
    }
    // Once, for the first request only; never the proxy password.
    assert_eq!(shown.matches("CONNECT ").count(), 1, "{shown}");
    assert!(!shown.contains("squid-pw"), "{shown}");
}

#[test]
fn verbose_shows_the_start_of_an_error_body() {
    let target = TestTarget::http(TargetOptions {
        status: 503,
        body: "upstream \u{1b}[31mdown\n".repeat(200).into(),
        ..TargetOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tyk.conf"), "{}").unwrap();
    let url = format!("{}/health", target.url());
    let out = common::run(
        dir.path(),
        &[
            "probe",
            "--config",
            "tyk.conf",
            "--service",
            "health",
            &url,
            "--verbose",
        ],
        &[],
    );
    let shown = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("< HTTP/1.1 503 Service Unavailable"), "{shown}");
    assert!(shown.contains("(body, first 1024 bytes, escaped)"), "{shown}");
    // Escaped: no raw escape sequence reaches the terminal.
    assert!(shown.contains("upstream \\x1b[31mdown"), "{shown}");
    assert!(!shown.contains('\u{1b}'), "{shown}");
}

#[test]
fn redis_pings_count_pong_and_verbose_shows_the_connection() {
    let redis = RedisServer::start(RedisOptions::default());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tyk.conf"), "{}").unwrap();
    let url = format!("redis://127.0.0.1:{}", redis.port());
    let out = common::run(
        dir.path(),
        &[
            "probe",
            "--config",
            "tyk.conf",
            "--format",
            "json",
            "--service",
            "storage",
            &url,
            "--count",
            "5",
            "-v",
        ],
        &[],
    );
    let json = common::json(&out);
    assert_eq!(json["status"], serde_json::json!({"PONG": 5}), "{json}");
    assert_eq!(json["ok"], 5);
    let shown = stderr(&out);
    assert!(shown.contains("TCP connected to 127.0.0.1:"), "{shown}");
    assert!(shown.contains("answered PONG"), "{shown}");
}

#[test]
fn text_and_json_agree_on_connections_when_the_proxy_is_down() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({ "external_services": {
        "global": { "enabled": true, "https_proxy": format!("http://127.0.0.1:{port}") }
    }});
    std::fs::write(dir.path().join("tyk.conf"), config.to_string()).unwrap();
    let args = [
        "probe",
        "--config",
        "tyk.conf",
        "--service",
        "oauth",
        "https://example.invalid/",
    ];
    let text = common::text(&common::run(dir.path(), &args, &[]));
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let json = common::json(&common::run(dir.path(), &json_args, &[]));
    assert_eq!(json["connections_opened"], 0, "{json}");
    assert_eq!(json["pool"]["opened"], 0, "{json}");
    assert!(text.contains("0 connections opened"), "{text}");
    assert!(text.contains("pool: 0 opened"), "{text}");
    assert!(text.contains("open or connecting"), "{text}");
}
