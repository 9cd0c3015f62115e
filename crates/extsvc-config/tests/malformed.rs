//! Malformed configurations: every one is rejected with a message that names the key
//! path (or variable, or file position), nothing panics, and all problems of one
//! configuration are reported together.

mod support;

use extsvc_config::{load_file_lenient, load_str_lenient, ConfigError, EnvSnapshot, LoadOptions, ServiceKind};
use support::{error_lines, load, strict_error_lines};

/// `(what, tyk.conf, environment, the complete expected error list)`.
type Case = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

const CASES: &[Case] = &[
    (
        "unknown block under external_services",
        r#"{"external_services": {"globl": {"enabled": true}}}"#,
        &[],
        &["external_services.globl: unknown key; did you mean global?"],
    ),
    (
        "unknown block in a service",
        r#"{"external_services": {"oauth": {"mtl": {"enabled": true}}}}"#,
        &[],
        &["external_services.oauth.mtl: unknown key; did you mean mtls?"],
    ),
    (
        "typo in an mtls key",
        r#"{"external_services": {"oauth": {"mtls": {"cert_fiel": "/c.pem"}}}}"#,
        &[],
        &["external_services.oauth.mtls.cert_fiel: unknown key; did you mean cert_file?"],
    ),
    (
        "typo in a proxy key",
        r#"{"external_services": {"webhooks": {"proxy": {"htps_proxy": "https://p:1"}}}}"#,
        &[],
        &["external_services.webhooks.proxy.htps_proxy: unknown key; did you mean https_proxy?"],
    ),
    (
        "key one level too high",
        r#"{"external_services": {"oauth": {"http_proxy": "http://p:1"}}}"#,
        &[],
        &["external_services.oauth.http_proxy: unknown key; did you mean external_services.oauth.proxy.http_proxy?"],
    ),
    (
        "mtls key in the proxy block",
        r#"{"external_services": {"storage": {"proxy": {"cert_file": "/c"}}}}"#,
        &[],
        &["external_services.storage.proxy.cert_file: unknown key; did you mean external_services.storage.mtls.cert_file?"],
    ),
    (
        "unknown key without a plausible suggestion",
        r#"{"external_services": {"global": {"colour": "blue"}}}"#,
        &[],
        &["external_services.global.colour: unknown key"],
    ),
    (
        "string for a boolean",
        r#"{"external_services": {"global": {"enabled": "yes"}}}"#,
        &[],
        &[r#"external_services.global.enabled: expected true or false, found string "yes""#],
    ),
    (
        "number for a proxy URL",
        r#"{"external_services": {"global": {"http_proxy": 3128}}}"#,
        &[],
        &["external_services.global.http_proxy: expected a string, found number 3128"],
    ),
    (
        "string for a list",
        r#"{"external_services": {"oauth": {"mtls": {"enabled": true, "ca_cert_ids": "a,b"}}}}"#,
        &[],
        &[r#"external_services.oauth.mtls.ca_cert_ids: expected an array of strings, found string "a,b""#],
    ),
    (
        "number inside a list",
        r#"{"external_services": {"oauth": {"mtls": {"enabled": true, "ca_cert_ids": ["a", 7]}}}}"#,
        &[],
        &["external_services.oauth.mtls.ca_cert_ids[1]: expected a string, found number 7"],
    ),
    (
        "array for a bypass list",
        r#"{"external_services": {"global": {"bypass_proxy": ["localhost"]}}}"#,
        &[],
        &["external_services.global.bypass_proxy: expected a string (a comma-separated list), found an array"],
    ),
    (
        "boolean for a block",
        r#"{"external_services": {"oauth": true}}"#,
        &[],
        &["external_services.oauth: expected an object, found boolean true"],
    ),
    (
        "array for external_services",
        r#"{"external_services": []}"#,
        &[],
        &["external_services: expected an object, found an array"],
    ),
    (
        "string for the legacy boolean",
        r#"{"jwt_ssl_insecure_skip_verify": "true"}"#,
        &[],
        &[r#"jwt_ssl_insecure_skip_verify: expected true or false, found string "true""#],
    ),
    (
        "bad port (the seed's troubleshooting example)",
        r#"{"external_services": {"oauth": {"proxy": {"enabled": true, "http_proxy": "http://badproxy:wrong_port"}}}}"#,
        &[],
        &[r#"external_services.oauth.proxy.http_proxy: invalid proxy URL "http://badproxy:wrong_port": invalid port "wrong_port""#],
    ),
    (
        "port out of range",
        r#"{"external_services": {"global": {"https_proxy": "https://proxy:70000"}}}"#,
        &[],
        &[r#"external_services.global.https_proxy: invalid proxy URL "https://proxy:70000": invalid port "70000""#],
    ),
    (
        "empty host",
        r#"{"external_services": {"global": {"http_proxy": "http://:3128"}}}"#,
        &[],
        &[r#"external_services.global.http_proxy: invalid proxy URL "http://:3128": empty host"#],
    ),
    (
        "a host that looks like an IPv4 address but is not one (SPEC section 2)",
        r#"{"external_services": {"oauth": {"proxy": {"enabled": true, "https_proxy": "http://10.0.0.256:3128"}}}}"#,
        &[],
        &[r#"external_services.oauth.proxy.https_proxy: invalid proxy URL "http://10.0.0.256:3128": host "10.0.0.256" looks like an IPv4 address but is not one: write four decimal numbers 0-255, e.g. 10.0.0.1"#],
    ),
    (
        "an IPv4 look-alike in a legacy variable",
        "{}",
        &[("TYK_GW_HTTPPROXY", "421.627.718.469:3128")],
        &[r#"TYK_GW_HTTPPROXY: invalid proxy URL "421.627.718.469:3128": host "421.627.718.469" looks like an IPv4 address but is not one: write four decimal numbers 0-255, e.g. 10.0.0.1"#],
    ),
    (
        "unsupported scheme",
        r#"{"external_services": {"health": {"proxy": {"https_proxy": "socks4://proxy:1080"}}}}"#,
        &[],
        &[r#"external_services.health.proxy.https_proxy: invalid proxy URL "socks4://proxy:1080": unsupported scheme "socks4": expected http://, https://, socks5:// or socks5h://"#],
    ),
    (
        "bad legacy proxy URL, password redacted",
        r#"{"http_proxy": "http://alice:s3cret@proxy:port"}"#,
        &[],
        &[r#"http_proxy: invalid proxy URL "http://alice:***@proxy:port": invalid port "port""#],
    ),
    (
        "TLS 1.0 as a maximum (as a minimum it reads as 1.2, with a warning)",
        r#"{"external_services": {"oauth": {"mtls": {"enabled": true, "ca_file": "/ca", "tls_max_version": "1.0"}}}}"#,
        &[],
        &[r#"external_services.oauth.mtls.tls_max_version: TLS version "1.0" is not supported: rustls implements only TLS 1.2 and 1.3"#],
    ),
    (
        "unknown TLS version",
        r#"{"external_services": {"discovery": {"mtls": {"enabled": true, "ca_file": "/ca", "tls_max_version": "1.4"}}}}"#,
        &[],
        &[r#"external_services.discovery.mtls.tls_max_version: invalid TLS version "1.4": expected "1.2" or "1.3""#],
    ),
    (
        "TLS min above max",
        r#"{"external_services": {"oauth": {"mtls": {"enabled": true, "ca_file": "/ca", "tls_min_version": "1.3", "tls_max_version": "TLS1.2"}}}}"#,
        &[],
        &["external_services.oauth.mtls: tls_min_version 1.3 is greater than tls_max_version 1.2"],
    ),
    (
        "certificate without key",
        r#"{"external_services": {"storage": {"mtls": {"enabled": true, "cert_file": "/etc/tyk/certs/redis-client.crt"}}}}"#,
        &[],
        &["external_services.storage.mtls: invalid mTLS configuration: both cert_file and key_file must be specified for file-based configuration"],
    ),
    (
        "key without certificate (the certificate empty)",
        r#"{"external_services": {"webhooks": {"mtls": {"enabled": true, "cert_file": "", "key_file": "/k.pem"}}}}"#,
        &[],
        &["external_services.webhooks.mtls: invalid mTLS configuration: both cert_file and key_file must be specified for file-based configuration"],
    ),
    (
        "enabled with nothing",
        r#"{"external_services": {"oauth": {"mtls": {"enabled": true}}}}"#,
        &[],
        &["external_services.oauth.mtls: mTLS enabled but no certificate configuration provided"],
    ),
    (
        "enabled with only empty values and insecure_skip_verify false",
        r#"{"external_services": {"health": {"mtls": {"enabled": true, "cert_id": "", "ca_cert_ids": [], "ca_file": "", "insecure_skip_verify": false}}}}"#,
        &[],
        &["external_services.health.mtls: mTLS enabled but no certificate configuration provided"],
    ),
    (
        "enabled by the environment with nothing",
        "{}",
        &[("TYK_GW_EXTERNALSERVICES_STORAGE_MTLS_ENABLED", "true")],
        &["external_services.storage.mtls: mTLS enabled but no certificate configuration provided"],
    ),
    (
        "bad boolean in the environment",
        "{}",
        &[("TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_ENABLED", "enabled")],
        &[r#"TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_ENABLED: invalid boolean "enabled": expected true, false, 1 or 0"#],
    ),
    (
        "top level is not an object",
        r#"["external_services"]"#,
        &[],
        &["tyk.conf: expected a JSON object at the top level, found an array"],
    ),
    (
        "unterminated string",
        "{\n  \"external_services\": {\n    \"global\": {\"http_proxy\": \"http://p:1}\n  }\n}\n",
        &[],
        &[r"tyk.conf:3:42: control character (\u0000-\u001F) found while parsing a string"],
    ),
    (
        "comment in the file",
        "{\n  // proxy\n  \"external_services\": {}\n}",
        &[],
        &["tyk.conf:2:3: key must be a string"],
    ),
];

/// Every case, strict: an unknown key is a warning that `--strict` makes an error (Tyk
/// ignores unknown keys; tests/tyk_accepts.rs has the lenient side).
#[test]
fn every_malformed_configuration_is_rejected_naming_the_key() {
    assert!(CASES.len() >= 20);
    for (what, json, env, expected) in CASES {
        let lines = strict_error_lines(json, env);
        assert_eq!(&lines, expected, "{what}");
        if !lines.iter().any(|l| l.contains("unknown key")) {
            assert_eq!(&error_lines(json, env), expected, "{what}, not strict");
        }
    }
}

#[test]
fn error_paths_are_the_key_variable_or_file() {
    for (what, json, env, expected) in CASES {
        let strict = LoadOptions::default().with_strict(true);
        let env_snapshot = EnvSnapshot::from_iter(env.iter().copied());
        let errors = extsvc_config::load_str(json, "tyk.conf", &env_snapshot, &strict).unwrap_err();
        for (error, line) in errors.0.iter().zip(expected.iter()) {
            assert!(
                line.starts_with(&format!("{}:", error.path())),
                "{what}: path {:?} of {line}",
                error.path()
            );
        }
    }
}

/// Bypass-entry errors; needs the bypass parser in `bypass_entry.rs` (owned by the
/// bypass helper) to reject these entries.
#[test]
fn bad_bypass_entries_name_the_key_and_entry() {
    let json = r#"{"external_services": {
        "global": {"bypass_proxy": "localhost, 10.0.0.0/33"},
        "oauth": {"proxy": {"enabled": true, "bypass_proxy": "example.com,host:notaport"}}}}"#;
    let errors = load(json).unwrap_err();
    let bypass: Vec<(&str, &str)> = errors
        .0
        .iter()
        .filter_map(|e| match e {
            ConfigError::InvalidBypassEntry { path, entry, .. } => Some((path.as_str(), entry.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        bypass,
        [
            ("external_services.global.bypass_proxy", "10.0.0.0/33"),
            ("external_services.oauth.proxy.bypass_proxy", "host:notaport"),
        ]
    );
    assert_eq!(errors.0.len(), 2, "{errors}");
    assert!(errors
        .to_string()
        .starts_with("external_services.global.bypass_proxy: invalid bypass entry \"10.0.0.0/33\": "));
}

#[test]
fn all_problems_are_reported_at_once() {
    let json = r#"{
        "log_level": "debug",
        "http_proxy": "ftp://legacy:21",
        "external_services": {
            "global": {"enabled": "true", "http_proxy": "http://badproxy:wrong_port"},
            "oauth": {
                "proxy": {"enabled": true, "https_proxy": "https://:443"},
                "mtls": {"enabled": true, "cert_fiel": "/c.pem", "tls_min_version": "1.1"}
            },
            "storage": {"mtls": {"enabled": true, "key_file": "/k.pem", "tls_min_version": "1.3", "tls_max_version": "1.2"}},
            "webhook": {}
        }
    }"#;
    let env = [
        ("TYK_GW_EXTERNAL_SERVICES_HEALTH_PROXY_ENABLED", "yes"),
        ("TYK_GW_EXTERNALSERVICES_DISCOVERY_PROXY_HTTPPROXY", "http://u:pw@:1"),
    ];
    let lines = strict_error_lines(json, &env);
    assert_eq!(
        lines,
        [
            // The file's structure, in key order.
            r#"external_services.global.enabled: expected true or false, found string "true""#,
            "external_services.oauth.mtls.cert_fiel: unknown key; did you mean cert_file?",
            "external_services.webhook: unknown key; did you mean webhooks?",
            // The environment, by variable name.
            r#"TYK_GW_EXTERNAL_SERVICES_HEALTH_PROXY_ENABLED: invalid boolean "yes": expected true, false, 1 or 0"#,
            // The values, in table order.
            r#"external_services.global.http_proxy: invalid proxy URL "http://badproxy:wrong_port": invalid port "wrong_port""#,
            r#"http_proxy: invalid proxy URL "ftp://legacy:21": unsupported scheme "ftp": expected http://, https://, socks5:// or socks5h://"#,
            r#"external_services.oauth.proxy.https_proxy: invalid proxy URL "https://:443": empty host"#,
            r#"external_services.oauth.mtls.tls_min_version: TLS version "1.1" is below 1.2: using 1.2 as the minimum (TLS 1.0 and 1.1 are not offered; rustls implements only 1.2 and 1.3) (an error in strict mode)"#,
            "external_services.oauth.mtls: mTLS enabled but no certificate configuration provided",
            "external_services.storage.mtls: tls_min_version 1.3 is greater than tls_max_version 1.2",
            "external_services.storage.mtls: invalid mTLS configuration: both cert_file and key_file must be specified for file-based configuration",
            r#"TYK_GW_EXTERNALSERVICES_DISCOVERY_PROXY_HTTPPROXY: invalid proxy URL "http://u:***@:1": empty host"#,
            // The divergences from Tyk's merge, last.
            "http_proxy: the legacy key (legacy:http_proxy) is overridden by external_services.global.http_proxy (file:external_services.global.http_proxy); remove one of them (an error in strict mode)",
        ]
    );
    let all = lines.join("\n");
    assert!(!all.contains("pw@"), "a password leaked: {all}");
}

#[test]
fn valid_edge_cases_are_accepted() {
    let json = r#"{
        "log_level": "debug",
        "some_other_section": {"anything": [1, 2, {"x": null}]},
        "external_services": {
            "global": {"enabled": false, "http_proxy": "", "https_proxy": null, "bypass_proxy": ""},
            "oauth": {"mtls": {"enabled": true, "cert_id": "id", "cert_file": "/ignored-because-cert-id"}},
            "storage": {"mtls": {"enabled": true, "ca_file": "/ca-only.pem"}},
            "webhooks": {"mtls": {"enabled": true, "ca_cert_ids": ["ca"], "tls_min_version": "tls1.3", "tls_max_version": "1.3"}},
            "health": {"mtls": {"enabled": false, "cert_file": "/only-cert-but-disabled"}},
            "discovery": null
        }
    }"#;
    let loaded = load(json).unwrap();
    let config = &loaded.config;
    // A dotted name at the top level is just another unknown top-level key.
    let dotted = load(r#"{"external_services.global.enabled": true}"#).unwrap();
    assert_eq!(dotted.config.global.enabled, None);
    assert_eq!(config.global.http_proxy.as_ref().unwrap().value, None);
    assert_eq!(config.global.https_proxy, None, "null counts as not set");
    assert_eq!(config.global.bypass_proxy.as_ref().unwrap().value, Vec::new());
    assert!(config.service(ServiceKind::Health).mtls.cert_file.is_some());
    assert_eq!(loaded.warnings, Vec::<String>::new());
}

#[test]
fn a_near_miss_of_external_services_at_the_top_level_warns() {
    let loaded = load(r#"{"external_service": {"global": {"enabled": true}}}"#).unwrap();
    assert_eq!(
        loaded.warnings,
        ["external_service: top-level key ignored; did you mean external_services? (only external_services configures external services)"]
    );
    assert_eq!(loaded.config.global.enabled, None);
}

#[test]
fn a_scheme_less_proxy_warns_and_means_http() {
    let loaded = load(r#"{"external_services": {"global": {"https_proxy": "proxy.internal:3128"}}}"#).unwrap();
    let url = loaded.config.global.https_proxy.unwrap().value.unwrap();
    assert_eq!(url.to_string(), "http://proxy.internal:3128");
    assert_eq!(
        loaded.warnings,
        [r#"external_services.global.https_proxy: no scheme in "proxy.internal:3128", assuming http://"#]
    );
}

/// A lenient load of `json` with `vars`.
fn lenient(json: &str, vars: &[(&str, &str)]) -> Result<extsvc_config::LoadReport, extsvc_config::ConfigErrors> {
    let env = EnvSnapshot::from_iter(vars.iter().copied());
    load_str_lenient(json, "tyk.conf", &env, &LoadOptions::default())
}

#[test]
fn a_lenient_load_keeps_the_configuration_and_says_whose_tls_settings_are_usable() {
    let json = r#"{
        "http_proxy": "ftp://legacy:21",
        "external_services": {
            "global": {"enabled": true, "http_proxy": "http://badproxy:wrong_port"},
            "oauth": {"mtls": {"enabled": true, "cert_file": "/c.pem", "key_file": "/k.pem"}, "proxy": {"enabled": true, "https_proxy": "https://:443"}},
            "storage": {"mtls": {"enabled": true}},
            "webhooks": {"mtls": {"enabled": true, "ca_file": "/ca.pem"}, "mtsl": {}},
            "health": {"mtls": {"enabled": true, "ca_file": "/ca.pem", "tls_min_version": "1.0"}},
            "discovery": {"mtls": {"enabled": true, "ca_cert_ids": ["ca"]}}
        }
    }"#;
    let env = [("TYK_GW_EXTERNALSERVICES_DISCOVERY_PROXY_ENABLED", "maybe")];
    let report = lenient(json, &env).unwrap();
    let lines: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    // The same errors as the strict load, in the same order.
    assert_eq!(lines, error_lines(json, &env));
    assert_eq!(lines.len(), 5, "{lines:#?}");
    let usable: Vec<ServiceKind> = ServiceKind::ALL
        .into_iter()
        .filter(|k| report.mtls_usable(*k))
        .collect();
    // oauth and discovery have proxy errors only; storage's mtls block is wrong. Tyk
    // ignores webhooks' unknown key (a warning) and reads health's TLS 1.0 minimum (1.2
    // here, with a warning).
    assert_eq!(
        usable,
        [
            ServiceKind::Oauth,
            ServiceKind::Webhooks,
            ServiceKind::Health,
            ServiceKind::Discovery
        ]
    );
    // What did pass is there, a rejected proxy URL as "no proxy".
    let oauth = &report.config.service(ServiceKind::Oauth);
    assert_eq!(oauth.mtls.cert_file.as_ref().unwrap().value.to_str(), Some("/c.pem"));
    assert_eq!(oauth.proxy.https_proxy.as_ref().unwrap().value, None);
    assert_eq!(
        report
            .config
            .service(ServiceKind::Discovery)
            .mtls
            .ca_cert_ids
            .as_ref()
            .unwrap()
            .value,
        ["ca"]
    );
    assert!(report.into_result().is_err());

    // A variable of an mtls key makes that block unusable, in either spelling.
    let report = lenient(
        r#"{"external_services": {"health": {"mtls": {"enabled": true, "ca_file": "/ca.pem"}}}}"#,
        &[("TYK_GW_EXTERNALSERVICES_HEALTH_MTLS_INSECURESKIPVERIFY", "maybe")],
    )
    .unwrap();
    assert_eq!(report.errors.len(), 1);
    assert!(!report.mtls_usable(ServiceKind::Health));
    assert!(report.mtls_usable(ServiceKind::Oauth));

    // The legacy insecure flag is an oauth TLS setting: a bad one makes oauth's unusable.
    let report = lenient("{}", &[("TYK_GW_JWTSSLINSECURESKIPVERIFY", "maybe")]).unwrap();
    assert_eq!(report.errors.len(), 1);
    assert!(!report.mtls_usable(ServiceKind::Oauth));
    assert!(report.mtls_usable(ServiceKind::Webhooks));

    // A valid configuration: no error, every block usable, and the strict answer is Ok.
    let report = lenient(
        r#"{"external_services": {"oauth": {"mtls": {"enabled": true, "ca_file": "/ca.pem"}}}}"#,
        &[],
    )
    .unwrap();
    assert!(report.errors.is_empty());
    assert!(ServiceKind::ALL.into_iter().all(|k| report.mtls_usable(k)));
    assert!(report.into_result().is_ok());
}

#[test]
fn a_lenient_load_without_a_configuration_is_an_error() {
    let env = [("TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED", "yes")];
    for json in ["{", "[]", r#"{"external_services": "all"}"#] {
        let errors = lenient(json, &env).unwrap_err();
        assert_eq!(errors.0.len(), 2, "{json}: {errors}");
        assert!(
            errors.0[1]
                .to_string()
                .starts_with("TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED: "),
            "{json}: {errors}"
        );
    }
    let missing = std::path::Path::new("/nonexistent/extsvc/tyk.conf");
    let errors = load_file_lenient(Some(missing), &EnvSnapshot::empty(), &LoadOptions::default()).unwrap_err();
    assert!(matches!(&errors.0[..], [ConfigError::Read { .. }]), "{errors}");
}
