//! `extsvc probe -v`: the operator's `curl -v` of the first request, through a real squid
//! to a TLS target with mTLS, and to a target answering an error; Redis PINGs counted as
//! `PONG`; text and JSON agreeing on connections when the proxy is down.

mod common;

use std::process::Output;

use extsvc_tests::microsocks::{Microsocks, MicrosocksOptions};
use extsvc_tests::nginx::{Nginx, NginxClientVerify, NginxOptions, NginxProtocols, NginxTls};
use extsvc_tests::pki::{ClientAuthMode, ServerTlsOptions, TestPki};
use extsvc_tests::redis::{RedisOptions, RedisServer};
use extsvc_tests::squid::{ProxyCredentials, Squid, SquidOptions};
use extsvc_tests::target::{TargetOptions, TestTarget};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `extsvc probe --config tyk.conf ARGS` in a directory whose tyk.conf is `config`.
fn probe(config: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tyk.conf"), config).unwrap();
    let mut all = vec!["probe", "--config", "tyk.conf"];
    all.extend_from_slice(args);
    common::run(dir.path(), &all, &[])
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
    let config = serde_json::json!({ "external_services": {
        "global": { "enabled": true, "https_proxy": squid.url_with_credentials() },
        "oauth": { "mtls": { "enabled": true, "ca_file": pki.ca_cert_path,
            "cert_file": pki.client_chain_path, "key_file": pki.client_key_path } }
    }});
    let url = format!("{}/status", target.localhost_url());
    let out = probe(&config.to_string(), &["--service", "oauth", &url, "--count", "3", "-v"]);
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
    let url = format!("{}/health", target.url());
    let out = probe("{}", &["--service", "health", &url, "--verbose"]);
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
    let url = format!("redis://127.0.0.1:{}", redis.port());
    let out = probe(
        "{}",
        &["--format", "json", "--service", "storage", &url, "--count", "5", "-v"],
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
    let config = serde_json::json!({ "external_services": {
        "global": { "enabled": true, "https_proxy": format!("http://127.0.0.1:{port}") }
    }})
    .to_string();
    let args = ["--service", "oauth", "https://example.invalid/"];
    let text = common::text(&probe(&config, &args));
    let json = common::json(&probe(&config, &[&args[..], &["--format", "json"]].concat()));
    assert_eq!(json["connections_opened"], 0, "{json}");
    assert_eq!(json["pool"]["opened"], 0, "{json}");
    assert!(text.contains("0 connections opened"), "{text}");
    assert!(text.contains("pool: 0 opened"), "{text}");
    assert!(text.contains("open or connecting"), "{text}");
}

/// The real peers all the way: squid, then nginx demanding a client certificate (and
/// offering ALPN).
#[test]
fn verbose_through_squid_to_nginx_with_mtls_shows_alpn_and_the_client_certificate() {
    let pki = TestPki::generate();
    let nginx = Nginx::start(NginxOptions {
        tls: Some(NginxTls {
            cert_chain_path: pki.server_chain_path.clone(),
            key_path: pki.server_key_path.clone(),
            client_ca_path: Some(pki.ca_cert_path.clone()),
            verify_client: NginxClientVerify::On,
            protocols: NginxProtocols::Tls12Only,
        }),
        plain_http: false,
    });
    let squid = Squid::start(SquidOptions::default());
    let config = serde_json::json!({ "external_services": {
        "global": { "enabled": true, "https_proxy": squid.url() },
        "oauth": { "mtls": { "enabled": true, "ca_file": pki.ca_cert_path,
            "cert_file": pki.client_chain_path, "key_file": pki.client_key_path } }
    }});
    let url = format!("https://localhost:{}/", nginx.https_port());
    let out = probe(&config.to_string(), &["--service", "oauth", &url, "-v"]);
    let shown = stderr(&out);
    for expected in [
        format!("CONNECT localhost:{} HTTP/1.1", nginx.https_port()),
        "< ".to_owned() + "+",
        "HTTP/1.1 200 ".to_owned(),
        "TLS with the target: TLSv1_2".to_owned(),
        "ALPN http/1.1".to_owned(),
        "server certificate: subject CN=localhost".to_owned(),
        "client certificate presented: subject CN=".to_owned(),
        "< server: nginx".to_owned(),
    ] {
        assert!(shown.contains(&expected), "missing {expected:?} in:\n{shown}");
    }
}

#[test]
fn verbose_shows_the_socks5_reply() {
    let target = TestTarget::http(TargetOptions::default());
    let socks = Microsocks::start(MicrosocksOptions {
        credentials: None,
        bind_outgoing: None,
    });
    let config = serde_json::json!({ "external_services": {
        "global": { "enabled": true, "http_proxy": socks.url("socks5h") }
    }});
    let url = format!("{}/probe", target.localhost_url());
    let out = probe(&config.to_string(), &["--service", "health", &url, "-v"]);
    let shown = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.contains("< +"), "{shown}");
    assert!(shown.contains("SOCKS5 succeeded (reply 0), bound "), "{shown}");
    assert!(shown.contains("< HTTP/1.1 200 OK"), "{shown}");
}
