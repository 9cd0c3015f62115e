//! The `extsvc` binary as an operator meets it: exit statuses, JSON shapes of SPEC
//! section 5, warnings on stderr, secrets redacted. Each run gets an explicit, cleared
//! environment (the test process's own environment is never touched).

mod common;

use common::{config_file, run_in_empty_dir as extsvc, stdout_json};

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn example_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/tyk.conf")
}

#[test]
fn resolve_json_has_all_five_services_with_values_and_sources() {
    let config = example_config();
    let out = extsvc(
        &["resolve", "--config", config.to_str().unwrap(), "--format", "json"],
        &[],
    );
    let json = stdout_json(&out);
    let services = json["services"].as_object().unwrap();
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    for kind in ["oauth", "storage", "webhooks", "health", "discovery"] {
        assert!(names.contains(&kind), "{kind} missing from {names:?}");
    }
    let oauth = &json["services"]["oauth"];
    assert_eq!(oauth["proxy"]["enabled"], true);
    assert_eq!(
        oauth["proxy"]["https_proxy"]["value"],
        "http://oauth-proxy.example.com:3129"
    );
    assert_eq!(
        oauth["proxy"]["https_proxy"]["source"],
        "file:external_services.oauth.proxy.https_proxy"
    );
    assert_eq!(
        oauth["proxy"]["http_proxy"]["source"],
        "file:external_services.global.http_proxy"
    );
    assert_eq!(oauth["mtls"]["client_certificate"]["kind"], "file");
    assert_eq!(
        oauth["mtls"]["client_certificate"]["cert_file"],
        "/etc/tyk/certs/oauth-client.crt"
    );
    assert_eq!(oauth["mtls"]["ca"]["kind"], "file");
    assert_eq!(oauth["mtls"]["tls_min_version"]["value"], "1.2");
    assert_eq!(oauth["mtls"]["tls_max_version"]["source"], "default");
    assert_eq!(oauth["pool"]["max_connections"], 50);
    assert_eq!(oauth["timeout_secs"], 15);
    let storage = &json["services"]["storage"];
    assert_eq!(storage["mtls"]["client_certificate"]["kind"], "store");
    assert_eq!(storage["mtls"]["client_certificate"]["cert_id"], "redis-client-prod");
    assert_eq!(storage["mtls"]["ca"]["ca_cert_ids"][0], "redis-ca-prod");
    assert_eq!(storage["proxy"]["bypass_proxy"]["value"][2], "redis.internal");
    let discovery = &json["services"]["discovery"];
    assert_eq!(discovery["mtls"]["client_certificate"]["kind"], "none");
    assert_eq!(discovery["mtls"]["ca"]["kind"], "system");
    assert_eq!(discovery["pool"]["max_idle_per_host"], 5);
    assert!(json["warnings"].is_array());
}

#[test]
fn credentials_never_reach_any_output() {
    let config = example_config();
    for format in ["json", "text"] {
        let out = extsvc(
            &["resolve", "--config", config.to_str().unwrap(), "--format", format],
            &[],
        );
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success());
        assert!(all.contains("gw:***@proxy.example.com"), "{all}");
        assert!(!all.contains("s3cret"), "{all}");
    }
    let out = extsvc(
        &[
            "route",
            "--service",
            "webhooks",
            "https://hooks.example.com/",
            "--config",
            config.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[("RUST_LOG", "trace")],
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("s3cret"), "{all}");
    assert_eq!(stdout_json(&out)["proxy"], "http://gw:***@proxy.example.com:3128");
}

#[test]
fn route_json_names_the_rule_that_decided() {
    let config = example_config();
    let cfg = config.to_str().unwrap();
    let route = |svc: &str, url: &str| {
        stdout_json(&extsvc(
            &["route", "--service", svc, url, "--config", cfg, "--format", "json"],
            &[],
        ))
    };

    let proxied = route("oauth", "https://idp.example.com/.well-known/jwks.json");
    assert_eq!(proxied["service"], "oauth");
    assert_eq!(proxied["url"], "https://idp.example.com/.well-known/jwks.json");
    assert_eq!(proxied["route"], "proxy");
    assert_eq!(proxied["proxy"], "http://oauth-proxy.example.com:3129");
    assert_eq!(
        proxied["reason"],
        "https_proxy from file:external_services.oauth.proxy.https_proxy"
    );

    let bypassed = route("webhooks", "https://billing.internal/hook");
    assert_eq!(bypassed["route"], "direct");
    assert_eq!(bypassed["proxy"], Value::Null);
    assert_eq!(
        bypassed["reason"],
        "bypass entry \".internal\" matches (file:external_services.global.bypass_proxy)"
    );

    let direct = route("discovery", "http://consul.example.com:8500/v1/catalog");
    assert_eq!(direct["route"], "proxy");
    assert_eq!(direct["proxy"], "http://proxy.example.com:3128");

    let star = route("health", "https://anything.example.com/");
    assert_eq!(star["route"], "direct");
}

#[test]
fn environment_overrides_the_file_and_says_so() {
    let config = example_config();
    let out = extsvc(
        &["resolve", "--config", config.to_str().unwrap(), "--format", "json"],
        &[(
            "TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTPS_PROXY",
            "http://env-proxy:9000",
        )],
    );
    let json = stdout_json(&out);
    assert_eq!(
        json["services"]["oauth"]["proxy"]["https_proxy"]["value"],
        "http://env-proxy:9000"
    );
    assert_eq!(
        json["services"]["oauth"]["proxy"]["https_proxy"]["source"],
        "env:TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTPS_PROXY"
    );
}

#[test]
fn without_config_reads_tyk_conf_in_the_working_directory_else_nothing() {
    let out = extsvc(&["resolve", "--format", "json"], &[]);
    let json = stdout_json(&out);
    assert_eq!(json["services"]["oauth"]["proxy"]["enabled"], false);
    assert_eq!(json["services"]["oauth"]["proxy"]["https_proxy"]["source"], "default");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tyk.conf"),
        r#"{"external_services": {"global": {"enabled": true, "https_proxy": "http://p:1"}}}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_extsvc"))
        .args(["resolve", "--format", "json"])
        .env_clear()
        .current_dir(dir.path())
        .output()
        .unwrap();
    let json = stdout_json(&out);
    assert_eq!(
        json["services"]["health"]["proxy"]["https_proxy"]["value"],
        "http://p:1"
    );
}

/// Malformed configurations: each exits with status 2 and names the key path (or the
/// file position, or the variable) on stderr. None panics.
#[test]
fn malformed_configurations_exit_2_naming_the_key_path() {
    /// (tyk.conf text, environment, what stderr must name)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (
            r#"{"external_services": {"globl": {}}}"#,
            &[],
            "external_services.globl",
        ),
        (
            r#"{"external_services": {"oauth": {"proxi": {}}}}"#,
            &[],
            "external_services.oauth.proxi",
        ),
        (
            r#"{"external_services": {"oauth": {"mtls": {"cert_fiel": "x"}}}}"#,
            &[],
            "external_services.oauth.mtls.cert_fiel",
        ),
        (
            r#"{"external_services": {"global": {"enabled": "yes"}}}"#,
            &[],
            "external_services.global.enabled",
        ),
        (
            r#"{"external_services": {"global": {"http_proxy": 3128}}}"#,
            &[],
            "external_services.global.http_proxy",
        ),
        (
            r#"{"external_services": {"global": {"http_proxy": "http://badproxy:wrong_port"}}}"#,
            &[],
            "external_services.global.http_proxy: invalid proxy URL \"http://badproxy:wrong_port\": invalid port",
        ),
        (
            r#"{"external_services": {"oauth": {"proxy": {"https_proxy": "socks4://p:1080"}}}}"#,
            &[],
            "external_services.oauth.proxy.https_proxy",
        ),
        (
            r#"{"external_services": {"storage": {"proxy": {"http_proxy": "http://:3128"}}}}"#,
            &[],
            "external_services.storage.proxy.http_proxy",
        ),
        (
            r#"{"external_services": {"global": {"bypass_proxy": "10.0.0.0/33"}}}"#,
            &[],
            "external_services.global.bypass_proxy",
        ),
        (
            r#"{"external_services": {"webhooks": {"proxy": {"bypass_proxy": "host:notaport"}}}}"#,
            &[],
            "external_services.webhooks.proxy.bypass_proxy",
        ),
        (
            r#"{"external_services": {"oauth": {"mtls": {"enabled": true, "insecure_skip_verify": true, "tls_min_version": "1.0"}}}}"#,
            &[],
            "external_services.oauth.mtls.tls_min_version",
        ),
        (
            r#"{"external_services": {"oauth": {"mtls": {"enabled": true, "insecure_skip_verify": true, "tls_max_version": "2.0"}}}}"#,
            &[],
            "external_services.oauth.mtls.tls_max_version",
        ),
        (
            r#"{"external_services": {"oauth": {"mtls": {"enabled": true, "insecure_skip_verify": true, "tls_min_version": "1.3", "tls_max_version": "1.2"}}}}"#,
            &[],
            "external_services.oauth.mtls",
        ),
        (
            r#"{"external_services": {"storage": {"mtls": {"enabled": true, "cert_file": "/c.pem"}}}}"#,
            &[],
            "both cert_file and key_file must be specified",
        ),
        (
            r#"{"external_services": {"health": {"mtls": {"enabled": true}}}}"#,
            &[],
            "mTLS enabled but no certificate configuration provided",
        ),
        (
            r#"{"external_services": {"oauth": {"mtls": {"ca_cert_ids": "not-a-list"}}}}"#,
            &[],
            "external_services.oauth.mtls.ca_cert_ids",
        ),
        (r#"{"external_services": []}"#, &[], "external_services"),
        (
            r#"{"external_services": {"global": {"enabled": true,}}}"#,
            &[],
            "tyk.conf:1:",
        ),
        (
            "{}",
            &[("TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED", "maybe")],
            "TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED",
        ),
        (
            "{}",
            &[("TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTP_PROXY", "http://x:y")],
            "TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTP_PROXY",
        ),
        (
            "{}",
            &[("TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_INSECURESKIPVERIFY", "sure")],
            "TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_INSECURESKIPVERIFY",
        ),
        (r#"{"http_proxy": "ftp://legacy:21"}"#, &[], "http_proxy"),
        (
            r#"{"jwt_ssl_insecure_skip_verify": "true"}"#,
            &[],
            "jwt_ssl_insecure_skip_verify",
        ),
    ];
    assert!(cases.len() >= 20);
    for (json, env, needle) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tyk.conf");
        std::fs::write(&path, json).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_extsvc"))
            // Strict: the unknown keys among the cases are warnings without it (Tyk
            // ignores them; tests/strict.rs).
            .args(["resolve", "--config", "tyk.conf", "--strict"])
            .env_clear()
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{json} {env:?}: expected exit 2, stderr: {stderr}"
        );
        assert!(
            stderr.contains(needle),
            "{json} {env:?}: stderr does not name {needle:?}:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(out.stdout.is_empty(), "stdout must stay empty on errors");
    }
}

#[test]
fn route_rejects_bad_urls_and_services_with_status_2() {
    for args in [
        &["route", "--service", "oauth", "ftp://x/"][..],
        &["route", "--service", "oauth", "not a url"][..],
        &["route", "--service", "mail", "https://x/"][..],
    ] {
        let out = extsvc(args, &[]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn redis_urls_are_routed_and_probed_for_storage_only() {
    for command in ["route", "probe"] {
        let out = extsvc(&[command, "--service", "oauth", "redis://:s3cret@cache:6379"], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(stderr.contains("use --service storage"), "{command}: {stderr}");
        assert!(!stderr.contains("s3cret"), "{command}: {stderr}");
    }
    let json = stdout_json(&extsvc(
        &[
            "route",
            "--service",
            "storage",
            "rediss://cache:6380",
            "--format",
            "json",
        ],
        &[],
    ));
    assert_eq!(json["route"], "direct");
}

#[test]
fn route_bypasses_localhost_for_an_entry_covering_loopback_and_names_the_exact_entry() {
    let route = |bypass: &str, url: &str| {
        let (_dir, cfg) = config_file(&format!(
            r#"{{"external_services":{{"global":{{"enabled":true,"http_proxy":"http://p:3128","bypass_proxy":"{bypass}"}}}}}}"#
        ));
        stdout_json(&extsvc(
            &["route", "--service", "oauth", url, "--config", &cfg, "--format", "json"],
            &[],
        ))
    };
    let reason = |entry: &str| format!("bypass entry \"{entry}\" matches (file:external_services.global.bypass_proxy)");

    // The proxy must not be asked for its own localhost.
    let local = route("127.0.0.1", "http://localhost:8080/");
    assert_eq!(
        (&local["route"], &local["proxy"]),
        (&Value::from("direct"), &Value::Null)
    );
    assert_eq!(local["reason"], reason("127.0.0.1"));
    assert_eq!(route("::1", "http://LOCALHOST.:8080/")["reason"], reason("::1"));
    assert_eq!(
        route("127.0.0.0/8", "http://app.localhost/")["reason"],
        reason("127.0.0.0/8")
    );
    // A port on the entry still restricts it.
    assert_eq!(route("127.0.0.1:8080", "http://localhost:8080/")["route"], "direct");
    assert_eq!(route("127.0.0.1:8080", "http://localhost/")["route"], "proxy");
    // Not loopback, not localhost.
    assert_eq!(route("127.0.0.2", "http://localhost/")["route"], "proxy");
    assert_eq!(route("127.0.0.1", "http://localhost.example.com/")["route"], "proxy");

    // The most specific entry is the reason, whatever the order.
    assert_eq!(
        route("localhost,127.0.0.1", "http://127.0.0.1/x")["reason"],
        reason("127.0.0.1")
    );
    assert_eq!(
        route("127.0.0.1,localhost", "http://localhost/x")["reason"],
        reason("localhost")
    );
    assert_eq!(
        route("localhost,127.0.0.1", "http://127.0.0.2/x")["reason"],
        reason("localhost")
    );
    assert_eq!(
        route("*,10.0.0.0/8,10.1.2.3", "http://10.1.2.3/")["reason"],
        reason("10.1.2.3")
    );
}

#[test]
fn a_percent_encoded_proxy_user_is_shown_as_written_and_the_password_never() {
    let (_dir, cfg) = config_file("{}");
    let env = [
        ("TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_ENABLED", "true"),
        (
            "TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTP_PROXY",
            "http://u%40x:p%3Ass@h:1",
        ),
    ];
    for format in ["json", "text"] {
        let out = extsvc(&["resolve", "--config", &cfg, "--format", format], &env);
        assert!(out.status.success());
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains("http://u%40x:***@h:1"), "{all}");
        assert!(
            !all.contains("u@x") && !all.contains("p%3Ass") && !all.contains("p:ss"),
            "{all}"
        );
    }
    let out = extsvc(
        &[
            "route",
            "--service",
            "oauth",
            "http://target.example/",
            "--config",
            &cfg,
            "--format",
            "json",
        ],
        &env,
    );
    assert_eq!(stdout_json(&out)["proxy"], "http://u%40x:***@h:1");
}

#[test]
fn a_service_disabled_under_the_global_proxy_is_warned_about() {
    let (_dir, cfg) = config_file(
        r#"{"external_services":{"global":{"enabled":true,"http_proxy":"http://p:3128","https_proxy":"http://p:3128"},"oauth":{"proxy":{"enabled":false}}}}"#,
    );
    let out = extsvc(&["resolve", "--config", &cfg, "--format", "json"], &[]);
    let json = stdout_json(&out);
    let expected = "external_services.oauth.proxy.enabled is false, but global proxying still applies to oauth; \
                    to send oauth direct, set external_services.oauth.proxy.enabled to true and \
                    external_services.oauth.proxy.bypass_proxy to \"*\"";
    assert_eq!(json["warnings"], serde_json::json!([expected]));
    assert_eq!(json["services"]["oauth"]["proxy"]["enabled"], true);
    let text = extsvc(&["resolve", "--config", &cfg, "--format", "text"], &[]);
    assert!(text.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&text.stdout),
        String::from_utf8_lossy(&text.stderr)
    );
    assert!(all.contains(&format!("warning: {expected}")), "{all}");
}

#[test]
fn resolve_says_where_the_store_secret_came_from_and_never_what_it_is() {
    let (_dir, path) = config_file(
        r#"{"secret": "node-s3cr3t-value", "security": {"private_certificate_encoding_secret": ""},
            "external_services": {"oauth": {"mtls": {"enabled": true,
                "cert_id": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\ninline-key-bytes\n-----END PRIVATE KEY-----"}}}}"#,
    );
    let cases: [(&[(&str, &str)], Value); 3] = [
        (&[], serde_json::json!({"set": true, "source": "legacy:secret"})),
        (
            &[("TYK_GW_SECURITY_PRIVATECERTIFICATEENCODINGSECRET", "env-s3cr3t-value")],
            serde_json::json!({"set": true, "source": "env:TYK_GW_SECURITY_PRIVATECERTIFICATEENCODINGSECRET"}),
        ),
        (
            &[("TYK_GW_SECRET", "")],
            serde_json::json!({"set": false, "source": "default"}),
        ),
    ];
    for (env, want) in cases {
        let json = stdout_json(&extsvc(&["resolve", "--config", &path, "--format", "json"], env));
        assert_eq!(json["certificate_store"]["encoding_secret"], want, "{env:?}");
        let cert_id = json["services"]["oauth"]["mtls"]["client_certificate"]["cert_id"]
            .as_str()
            .unwrap();
        assert!(cert_id.starts_with("<PEM text, "), "{cert_id}");
        for format in ["json", "text"] {
            let out = extsvc(
                &["resolve", "--config", &path, "--format", format],
                &[env, &[("RUST_LOG", "trace")]].concat(),
            );
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!all.contains("s3cr3t") && !all.contains("inline-key-bytes"), "{all}");
            if format == "text" {
                assert!(all.contains("encoding secret"), "{all}");
            }
        }
    }
}

/// `resolve` shows tyk.conf's `storage` section as `storage_redis()` builds it: the
/// topology kind, the addresses, TLS and each source — and of the passwords only that they
/// are set (SPEC section 7), in JSON and text.
#[test]
fn resolve_shows_the_storage_topology_with_sources_and_never_its_passwords() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tyk.conf"),
        r#"{"storage": {"master_name": "gwmaster", "enable_cluster": true, "addrs": ["s1:26379"],
            "password": "redis-pw-123", "sentinel_password": "sentinel-pw-456", "use_ssl": true, "ca_file": "/ca.pem"}}"#,
    )
    .unwrap();
    let env = [
        ("TYK_GW_STORAGE_ADDRS", "s1:26379,s2:26379"),
        ("TYK_GW_STORAGE_TIMEOUT", "3"),
    ];
    let out = common::run(
        dir.path(),
        &["resolve", "--config", "tyk.conf", "--format", "json"],
        &env,
    );
    let json = stdout_json(&out);
    let storage = &json["storage_redis"];
    assert_eq!(storage["kind"]["value"], "sentinel", "{storage}");
    assert_eq!(storage["kind"]["source"], "file:storage.master_name");
    assert_eq!(
        storage["addresses"]["value"],
        serde_json::json!(["s1:26379", "s2:26379"])
    );
    assert_eq!(storage["addresses"]["source"], "env:TYK_GW_STORAGE_ADDRS");
    assert_eq!(
        storage["password"],
        serde_json::json!({"set": true, "source": "file:storage.password"})
    );
    assert_eq!(storage["tls"]["settings_from"], "storage");
    assert_eq!(storage["timeout_secs"]["value"], 3);
    let warnings = json["warnings"].to_string();
    assert!(warnings.contains("enable_cluster: ignored"), "{warnings}");
    let text = common::run(dir.path(), &["resolve", "--config", "tyk.conf"], &env);
    let all = format!(
        "{}{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&text.stdout),
        String::from_utf8_lossy(&text.stderr)
    );
    assert!(
        all.contains("sentinel") && all.contains("set (value not shown)"),
        "{all}"
    );
    assert!(
        !all.contains("redis-pw-123") && !all.contains("sentinel-pw-456"),
        "{all}"
    );
}
