//! `socks5://` and `socks5h://` proxies as an operator meets them in the `extsvc` command:
//! `resolve` and `route` show the URL with its password as `***` and the reason, and `probe`
//! goes through a real SOCKS5 proxy (microsocks), with its errors counted by kind.

mod common;

use std::path::Path;
use std::process::Output;

use common::json;
use extsvc_tests::microsocks::{Microsocks, MicrosocksOptions};
use extsvc_tests::squid::ProxyCredentials;
use extsvc_tests::target::{TargetOptions, TestTarget};

const SECRET: &str = "s0cks-s3cret";

fn extsvc(dir: &Path, config: &str, args: &[&str]) -> Output {
    std::fs::write(dir.join("tyk.conf"), config).unwrap();
    let mut all = args.to_vec();
    all.extend_from_slice(&["--config", "tyk.conf"]);
    common::run(dir, &all, &[])
}

fn assert_no_secret(out: &Output) {
    let all = common::text(out);
    assert!(!all.contains(SECRET), "the password was printed: {all}");
}

#[test]
fn route_and_resolve_show_the_socks_url_redacted_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"{{"external_services": {{"storage": {{"proxy": {{"enabled": true,
            "https_proxy": "socks5h://gw:{SECRET}@socks.internal",
            "bypass_proxy": "redis.local"}}}}}}}}"#
    );
    let out = extsvc(
        dir.path(),
        &config,
        &[
            "route",
            "--service",
            "storage",
            "https://redis.example:6380/",
            "--format",
            "json",
        ],
    );
    assert_no_secret(&out);
    let route = json(&out);
    assert_eq!(route["route"], "proxy", "{route}");
    assert_eq!(route["proxy"], "socks5h://gw:***@socks.internal:1080", "{route}");
    assert!(
        route["reason"]
            .as_str()
            .unwrap()
            .contains("file:external_services.storage.proxy.https_proxy"),
        "{route}"
    );
    let out = extsvc(
        dir.path(),
        &config,
        &["route", "--service", "storage", "https://redis.local/"],
    );
    assert_no_secret(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("direct") && text.contains("redis.local"), "{text}");

    let out = extsvc(dir.path(), &config, &["resolve", "--format", "json"]);
    assert_no_secret(&out);
    let resolved = json(&out);
    assert_eq!(
        resolved["services"]["storage"]["proxy"]["https_proxy"]["value"],
        "socks5h://gw:***@socks.internal:1080"
    );
    let out = extsvc(dir.path(), &config, &["resolve"]);
    assert_no_secret(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("socks5h://gw:***@socks.internal:1080"));
}

#[test]
fn socks4_is_a_config_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(r#"{{"external_services": {{"global": {{"http_proxy": "socks4://u:{SECRET}@p"}}}}}}"#);
    let out = extsvc(dir.path(), &config, &["resolve"]);
    assert_eq!(out.status.code(), Some(2));
    assert_no_secret(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            r#"external_services.global.http_proxy: invalid proxy URL "socks4://u:***@p": unsupported scheme "socks4""#
        ),
        "{stderr}"
    );
}

#[test]
fn probe_through_microsocks_counts_auth_errors_and_pooled_connections() {
    let target = TestTarget::http(TargetOptions::default());
    let proxy = Microsocks::start(MicrosocksOptions {
        credentials: Some(ProxyCredentials::new("gw", SECRET)),
        bind_outgoing: None,
    });
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/probe", target.url());
    let config = |proxy_url: &str| {
        format!(r#"{{"external_services": {{"global": {{"enabled": true, "http_proxy": "{proxy_url}"}}}}}}"#)
    };

    let right = config(&proxy.url_with_credentials("socks5"));
    let out = extsvc(
        dir.path(),
        &right,
        &["probe", "--service", "health", &url, "--count", "5", "--format", "json"],
    );
    assert_no_secret(&out);
    let summary = json(&out);
    assert_eq!(out.status.code(), Some(0), "{summary}");
    assert_eq!(
        (summary["ok"].as_u64(), summary["route"].as_str()),
        (Some(5), Some("proxy"))
    );
    assert_eq!(summary["proxy"], format!("socks5://gw:***@{}", proxy.addr()));
    assert_eq!(summary["connections_opened"], 1, "{summary}");

    let wrong = config(&format!("socks5://gw:wrong@{}", proxy.addr()));
    let out = extsvc(
        dir.path(),
        &wrong,
        &["probe", "--service", "health", &url, "--count", "2", "--format", "json"],
    );
    let summary = json(&out);
    assert_eq!(out.status.code(), Some(1), "{summary}");
    assert_eq!(summary["errors"]["proxy_auth"], 2, "{summary}");
    assert_eq!(summary["connections_opened"], 2, "{summary}");
    let error = summary["error"].as_str().unwrap();
    assert!(
        error.contains("rejected the credentials") && error.contains("SOCKS5 handshake"),
        "{error}"
    );
    assert_eq!(
        target.requests().len(),
        5,
        "only the right credentials reached the target"
    );
}
