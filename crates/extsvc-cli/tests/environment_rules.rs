//! Tyk's https fallback and the standard-environment rules of SPEC section 2 as the
//! `extsvc resolve` / `extsvc route` output shows them (SPEC section 5). Each run gets an
//! explicit, cleared environment.

mod common;

use common::{config_file, run_in_empty_dir as extsvc, stdout_json, stdout_of};

use serde_json::json;

/// The seed's migration example: only a legacy `http_proxy`; the JWKS fetch is https.
const MIGRATION: &str = r#"{ "http_proxy": "http://localhost:3128", "jwt_ssl_insecure_skip_verify": true }"#;
const JWKS: &str = "https://idp.example.com/.well-known/jwks.json";
const FALLBACK_REASON: &str =
    "https_proxy from fallback:legacy:http_proxy (no https_proxy set: Tyk's fallback to the configured http_proxy)";

#[test]
fn route_sends_the_migration_examples_jwks_fetch_through_the_legacy_http_proxy() {
    let (_dir, cfg) = config_file(MIGRATION);
    let out = extsvc(
        &[
            "route",
            "--service",
            "oauth",
            JWKS,
            "--config",
            &cfg,
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(
        stdout_json(&out),
        json!({"service": "oauth", "url": JWKS, "route": "proxy", "proxy": "http://localhost:3128", "reason": FALLBACK_REASON})
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("only http_proxy is set"), "{stderr}");

    let text = stdout_of(&extsvc(&["route", "--service", "oauth", JWKS, "--config", &cfg], &[]));
    assert_eq!(
        text.trim_end(),
        format!("oauth {JWKS} -> proxy http://localhost:3128\n  because: {FALLBACK_REASON}")
    );
    // Redis over TLS takes https_proxy, hence the fallback too.
    let redis = stdout_json(&extsvc(
        &[
            "route",
            "--service",
            "storage",
            "rediss://redis.internal:6380",
            "--config",
            &cfg,
            "--format",
            "json",
        ],
        &[],
    ));
    assert_eq!(
        (&redis["proxy"], &redis["reason"]),
        (&json!("http://localhost:3128"), &json!(FALLBACK_REASON))
    );
}

#[test]
fn resolve_shows_the_fallback_and_its_source_in_json_and_text() {
    let (_dir, cfg) = config_file(MIGRATION);
    let out = stdout_json(&extsvc(&["resolve", "--config", &cfg, "--format", "json"], &[]));
    for kind in ["oauth", "storage", "webhooks", "health", "discovery"] {
        assert_eq!(
            out["services"][kind]["proxy"]["https_proxy"],
            json!({"value": "http://localhost:3128", "source": "fallback:legacy:http_proxy"}),
            "{kind}"
        );
    }
    let text = stdout_of(&extsvc(&["resolve", "--config", &cfg], &[]));
    let https_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("https_proxy"))
        .unwrap();
    assert!(
        https_line.contains("http://localhost:3128") && https_line.trim_end().ends_with("fallback:legacy:http_proxy"),
        "{https_line}"
    );

    // From a TYK_GW_ variable (Tyk's spelling), with credentials redacted.
    let (_dir, cfg) = config_file(r#"{"external_services": {"webhooks": {"proxy": {"enabled": true}}}}"#);
    let out = extsvc(
        &["resolve", "--config", &cfg, "--format", "json"],
        &[(
            "TYK_GW_EXTERNALSERVICES_WEBHOOKS_PROXY_HTTPPROXY",
            "http://gw:s3cret@p:3128",
        )],
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cret"));
    assert_eq!(
        stdout_json(&out)["services"]["webhooks"]["proxy"]["https_proxy"],
        json!({"value": "http://gw:***@p:3128", "source": "fallback:env:TYK_GW_EXTERNALSERVICES_WEBHOOKS_PROXY_HTTPPROXY"})
    );
}

#[test]
fn the_standard_http_proxy_never_carries_over_to_https() {
    let (_dir, cfg) = config_file(r#"{"external_services": {"global": {"enabled": true}}}"#);
    let out = stdout_json(&extsvc(
        &[
            "route",
            "--service",
            "oauth",
            JWKS,
            "--config",
            &cfg,
            "--format",
            "json",
        ],
        &[("HTTP_PROXY", "http://std:3128")],
    ));
    assert_eq!(
        (&out["route"], &out["reason"]),
        (&json!("direct"), &json!("no proxy configured for https"))
    );
}

#[test]
fn cgi_all_proxy_and_scheme_less_variables_are_warned_about_on_stderr() {
    let (_dir, cfg) = config_file(r#"{"external_services": {"global": {"enabled": true}}}"#);
    let out = extsvc(
        &[
            "route",
            "--service",
            "webhooks",
            "http://hooks.example.com/",
            "--config",
            &cfg,
            "--format",
            "json",
        ],
        &[
            ("REQUEST_METHOD", "GET"),
            ("HTTP_PROXY", "http://from-a-header:1"),
            ("http_proxy", "127.0.0.1:8080"),
            ("ALL_PROXY", "socks5://all:1080"),
        ],
    );
    let json = stdout_json(&out);
    assert_eq!(
        (&json["proxy"], &json["reason"]),
        (
            &json!("http://127.0.0.1:8080"),
            &json!("http_proxy from env:http_proxy")
        )
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "HTTP_PROXY: ignored because REQUEST_METHOD is set",
        r#"http_proxy: no scheme in "127.0.0.1:8080", assuming http://"#,
        "ALL_PROXY set but not used",
    ] {
        assert!(stderr.contains(expected), "{expected}\n{stderr}");
    }
}

#[test]
fn an_ipv4_look_alike_proxy_host_exits_2_naming_the_key_and_value() {
    let (_dir, cfg) = config_file(
        r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://421.627.718.469:3128"}}}"#,
    );
    let out = extsvc(&["resolve", "--config", &cfg], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            r#"external_services.global.http_proxy: invalid proxy URL "http://421.627.718.469:3128": host "421.627.718.469" looks like an IPv4 address but is not one"#
        ),
        "{stderr}"
    );
}
