//! Environment variables: both spellings, precedence over the file, legacy names,
//! value parsing and warnings. Every test passes an explicit map.

mod support;

use extsvc_config::{load_env, load_file, load_str, ConfigError, EnvSnapshot, LoadOptions, ServiceKind, Source};
use support::{error_lines, fixture, load, load_with_env, rows, set_values};

const DOC_ENABLED: &str = "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_ENABLED";
const TYK_ENABLED: &str = "TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_ENABLED";

#[test]
fn documented_spelling_sets_every_type_with_env_sources() {
    let vars = [
        ("TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED", "true"),
        (
            "TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTP_PROXY",
            "http://proxy.example.com:8080",
        ),
        ("TYK_GW_EXTERNAL_SERVICES_GLOBAL_BYPASS_PROXY", "localhost,127.0.0.1"),
        ("TYK_GW_EXTERNAL_SERVICES_HEALTH_MTLS_ENABLED", "1"),
        ("TYK_GW_EXTERNAL_SERVICES_HEALTH_MTLS_CERT_ID", "health-cert"),
        ("TYK_GW_EXTERNAL_SERVICES_HEALTH_MTLS_CA_CERT_IDS", "ca-1, ca-2"),
        ("TYK_GW_EXTERNAL_SERVICES_HEALTH_MTLS_TLS_MAX_VERSION", "TLS1.3"),
    ];
    let loaded = load_with_env("{}", &vars).unwrap();
    assert_eq!(
        set_values(&loaded.config),
        rows(&[
            (
                "external_services.global.enabled",
                "true",
                "env:TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED"
            ),
            (
                "external_services.global.http_proxy",
                "http://proxy.example.com:8080",
                "env:TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTP_PROXY"
            ),
            // Needs the bypass parser (bypass_entry.rs) to count 2 entries.
            (
                "external_services.global.bypass_proxy",
                "2 entries",
                "env:TYK_GW_EXTERNAL_SERVICES_GLOBAL_BYPASS_PROXY"
            ),
            (
                "external_services.health.mtls.enabled",
                "true",
                "env:TYK_GW_EXTERNAL_SERVICES_HEALTH_MTLS_ENABLED"
            ),
            (
                "external_services.health.mtls.cert_id",
                "health-cert",
                "env:TYK_GW_EXTERNAL_SERVICES_HEALTH_MTLS_CERT_ID"
            ),
            (
                "external_services.health.mtls.ca_cert_ids",
                "ca-1,ca-2",
                "env:TYK_GW_EXTERNAL_SERVICES_HEALTH_MTLS_CA_CERT_IDS"
            ),
            (
                "external_services.health.mtls.tls_max_version",
                "1.3",
                "env:TYK_GW_EXTERNAL_SERVICES_HEALTH_MTLS_TLS_MAX_VERSION"
            ),
        ])
    );
    assert_eq!(loaded.warnings, Vec::<String>::new());
}

#[test]
fn tyk_spelling_is_accepted_and_named_in_sources() {
    let vars = [
        ("TYK_GW_EXTERNALSERVICES_OAUTH_PROXY_ENABLED", "TRUE"),
        ("TYK_GW_EXTERNALSERVICES_OAUTH_PROXY_HTTPSPROXY", "https://p:3129"),
        ("TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_ENABLED", "true"),
        ("TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_CERTFILE", "/c.pem"),
        ("TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_KEYFILE", "/k.pem"),
        ("TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_INSECURESKIPVERIFY", "0"),
    ];
    let loaded = load_with_env("{}", &vars).unwrap();
    assert_eq!(
        set_values(&loaded.config),
        rows(&[
            (
                "external_services.oauth.proxy.enabled",
                "true",
                "env:TYK_GW_EXTERNALSERVICES_OAUTH_PROXY_ENABLED"
            ),
            (
                "external_services.oauth.proxy.https_proxy",
                "https://p:3129",
                "env:TYK_GW_EXTERNALSERVICES_OAUTH_PROXY_HTTPSPROXY"
            ),
            (
                "external_services.oauth.mtls.enabled",
                "true",
                "env:TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_ENABLED"
            ),
            (
                "external_services.oauth.mtls.cert_file",
                "/c.pem",
                "env:TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_CERTFILE"
            ),
            (
                "external_services.oauth.mtls.key_file",
                "/k.pem",
                "env:TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_KEYFILE"
            ),
            (
                "external_services.oauth.mtls.insecure_skip_verify",
                "false",
                "env:TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_INSECURESKIPVERIFY"
            ),
        ])
    );
}

#[test]
fn both_spellings_with_different_values_documented_wins_and_warns() {
    let json = r#"{"external_services":{"oauth":{"mtls":{"cert_id":"c"}}}}"#;
    let loaded = load_with_env(json, &[(DOC_ENABLED, "false"), (TYK_ENABLED, "true")]).unwrap();
    let enabled = loaded.config.service(ServiceKind::Oauth).mtls.enabled.clone().unwrap();
    assert!(!enabled.value);
    assert_eq!(enabled.source, Source::Env(DOC_ENABLED.into()));
    assert_eq!(
        loaded.warnings,
        [format!(
            "{DOC_ENABLED} and {TYK_ENABLED} are both set, with different values; using {DOC_ENABLED} (the documented spelling)"
        )]
    );
}

#[test]
fn both_spellings_with_equal_values_do_not_warn() {
    // "1" and "TRUE" are the same boolean.
    let loaded = load_with_env(
        r#"{"external_services":{"oauth":{"mtls":{"cert_id":"c"}}}}"#,
        &[(DOC_ENABLED, "1"), (TYK_ENABLED, "TRUE")],
    )
    .unwrap();
    assert_eq!(
        loaded
            .config
            .service(ServiceKind::Oauth)
            .mtls
            .enabled
            .clone()
            .unwrap()
            .source,
        Source::Env(DOC_ENABLED.into())
    );
    assert_eq!(loaded.warnings, Vec::<String>::new());
}

#[test]
fn conflict_warning_never_prints_the_values() {
    let loaded = load_with_env(
        "{}",
        &[
            ("TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTP_PROXY", "http://alice:s3cret@p:1"),
            ("TYK_GW_EXTERNALSERVICES_GLOBAL_HTTPPROXY", "http://bob:t0psecret@p:2"),
        ],
    )
    .unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    assert!(
        !loaded.warnings[0].contains("s3cret") && !loaded.warnings[0].contains("t0psecret"),
        "{:?}",
        loaded.warnings
    );
    assert_eq!(
        loaded.config.global.http_proxy.unwrap().value.unwrap().to_string(),
        "http://alice:***@p:1"
    );
}

#[test]
fn env_overrides_the_file_key_by_key() {
    let loaded = load_with_env(
        &fixture("example1_basic_proxy.json"),
        &[
            ("TYK_GW_EXTERNALSERVICES_GLOBAL_HTTPPROXY", "http://from-env:1"),
            ("TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED", "false"),
        ],
    )
    .unwrap();
    assert_eq!(
        set_values(&loaded.config),
        rows(&[
            (
                "external_services.global.enabled",
                "false",
                "env:TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED"
            ),
            (
                "external_services.global.http_proxy",
                "http://from-env:1",
                "env:TYK_GW_EXTERNALSERVICES_GLOBAL_HTTPPROXY"
            ),
            (
                "external_services.global.https_proxy",
                "https://localhost:3128",
                "file:external_services.global.https_proxy"
            ),
            (
                "external_services.global.bypass_proxy",
                "3 entries",
                "file:external_services.global.bypass_proxy"
            ),
        ])
    );
}

#[test]
fn an_empty_variable_is_set_and_overrides_the_file() {
    let json = r#"{"external_services":{"global":{"http_proxy":"http://a:1"},
        "storage":{"mtls":{"enabled":true,"cert_file":"/c","key_file":"/k","ca_file":"/ca"}}}}"#;
    let loaded = load_with_env(
        json,
        &[
            ("TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTP_PROXY", ""),
            ("TYK_GW_EXTERNAL_SERVICES_STORAGE_MTLS_CA_FILE", ""),
        ],
    )
    .unwrap();
    // A proxy URL set to "" is set, to "no proxy".
    let http = loaded.config.global.http_proxy.clone().unwrap();
    assert_eq!(
        (http.value, http.source),
        (None, Source::Env("TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTP_PROXY".into()))
    );
    // An empty path counts as not set.
    assert_eq!(loaded.config.service(ServiceKind::Storage).mtls.ca_file, None);
}

#[test]
fn legacy_variables() {
    let vars = [
        ("TYK_GW_HTTPPROXY", "http://legacy:3128"),
        ("TYK_GW_HTTPSPROXY", "legacy:3129"),
        ("TYK_GW_JWTSSLINSECURESKIPVERIFY", "false"),
    ];
    let loaded = load_with_env(&fixture("migration_before.json"), &vars).unwrap();
    assert_eq!(
        set_values(&loaded.config),
        rows(&[
            ("http_proxy", "http://legacy:3128", "env:TYK_GW_HTTPPROXY"),
            ("https_proxy", "http://legacy:3129", "env:TYK_GW_HTTPSPROXY"),
            (
                "jwt_ssl_insecure_skip_verify",
                "false",
                "env:TYK_GW_JWTSSLINSECURESKIPVERIFY"
            ),
        ])
    );
    assert_eq!(
        loaded.warnings,
        [r#"TYK_GW_HTTPSPROXY: no scheme in "legacy:3129", assuming http://"#]
    );
}

#[test]
fn bad_booleans_name_the_variable() {
    let lines = error_lines(
        "{}",
        &[
            ("TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED", "yes"),
            ("TYK_GW_EXTERNALSERVICES_WEBHOOKS_MTLS_INSECURESKIPVERIFY", "2"),
            ("TYK_GW_JWTSSLINSECURESKIPVERIFY", ""),
        ],
    );
    assert_eq!(
        lines,
        [
            r#"TYK_GW_EXTERNALSERVICES_WEBHOOKS_MTLS_INSECURESKIPVERIFY: invalid boolean "2": expected true, false, 1 or 0"#,
            r#"TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED: invalid boolean "yes": expected true, false, 1 or 0"#,
            r#"TYK_GW_JWTSSLINSECURESKIPVERIFY: invalid boolean "": expected true, false, 1 or 0"#,
        ]
    );
}

#[test]
fn file_lists_are_trimmed_without_empty_entries_like_variables() {
    let json =
        r#"{"external_services": {"oauth": {"mtls": {"enabled": true, "ca_cert_ids": ["a", "", " b ", "\tc\n"]}}}}"#;
    let loaded = load(json).unwrap();
    let ids = loaded
        .config
        .service(ServiceKind::Oauth)
        .mtls
        .ca_cert_ids
        .clone()
        .unwrap();
    assert_eq!(ids.value, ["a", "b", "c"]);
    assert_eq!(ids.source.to_string(), "file:external_services.oauth.mtls.ca_cert_ids");
    // The same list from the file and from a variable gives the same ids.
    let var = "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CA_CERT_IDS";
    let from_env = load_with_env(
        r#"{"external_services": {"oauth": {"mtls": {"enabled": true}}}}"#,
        &[(var, "a,, b ,\tc\n")],
    )
    .unwrap();
    assert_eq!(
        from_env
            .config
            .service(ServiceKind::Oauth)
            .mtls
            .ca_cert_ids
            .clone()
            .unwrap()
            .value,
        ids.value
    );
    // Only blank entries: not set, so an enabled block without anything else is an error.
    let errors =
        load(r#"{"external_services": {"oauth": {"mtls": {"enabled": true, "ca_cert_ids": [" ", ""]}}}}"#).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "external_services.oauth.mtls: mTLS enabled but no certificate configuration provided"
    );
}

#[test]
fn lists_are_comma_separated_trimmed_without_empty_entries() {
    let var = "TYK_GW_EXTERNAL_SERVICES_DISCOVERY_MTLS_CA_CERT_IDS";
    let loaded = load_with_env("{}", &[(var, " root-ca ,, intermediate-ca ,")]).unwrap();
    let ids = loaded
        .config
        .service(ServiceKind::Discovery)
        .mtls
        .ca_cert_ids
        .clone()
        .unwrap();
    assert_eq!(ids.value, ["root-ca", "intermediate-ca"]);
    // Only separators: an empty list, which counts as not set.
    let loaded = load_with_env("{}", &[(var, " , ")]).unwrap();
    assert_eq!(loaded.config.service(ServiceKind::Discovery).mtls.ca_cert_ids, None);
}

#[test]
fn unknown_variables_warn_with_a_suggestion() {
    let loaded = load_with_env(
        "{}",
        &[
            ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERTFILE", "/mixed-spelling"),
            ("TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_CERTFIEL", "/typo"),
            ("TYK_GW_EXTERNAL_SERVICES_GLOBL_ENABLED", "true"),
            ("TYK_GW_LOGLEVEL", "debug"),
            ("HTTP_PROXY", "http://not-ours:1"),
        ],
    )
    .unwrap();
    assert_eq!(
        loaded.warnings,
        [
            "TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_CERTFIEL: unknown variable, ignored; did you mean TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_CERTFILE?",
            "TYK_GW_EXTERNAL_SERVICES_GLOBL_ENABLED: unknown variable, ignored; did you mean TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED?",
            "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERTFILE: unknown variable, ignored; did you mean TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE?",
        ]
    );
    assert_eq!(set_values(&loaded.config), rows(&[]));
}

#[test]
fn the_prefix_is_configurable() {
    let env = EnvSnapshot::from_iter([
        ("GW2_EXTERNAL_SERVICES_GLOBAL_ENABLED", "true"),
        ("GW2_HTTPPROXY", "http://legacy:1"),
        ("TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTP_PROXY", "http://ignored:1"),
    ]);
    let options = LoadOptions::default().with_env_prefix("GW2_");
    let loaded = load_str("{}", "tyk.conf", &env, &options).unwrap();
    assert_eq!(
        set_values(&loaded.config),
        rows(&[
            (
                "external_services.global.enabled",
                "true",
                "env:GW2_EXTERNAL_SERVICES_GLOBAL_ENABLED"
            ),
            ("http_proxy", "http://legacy:1", "env:GW2_HTTPPROXY"),
        ])
    );
}

#[test]
fn bad_values_from_the_environment_name_the_variable() {
    let lines = error_lines(
        "{}",
        &[
            (
                "TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTP_PROXY",
                "http://badproxy:wrong_port",
            ),
            // As a maximum 1.1 stays an error (as a minimum it reads as 1.2: tests/tyk_accepts.rs).
            ("TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_TLSMAXVERSION", "1.1"),
        ],
    );
    assert_eq!(
        lines,
        [
            r#"TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTP_PROXY: invalid proxy URL "http://badproxy:wrong_port": invalid port "wrong_port""#,
            r#"TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_TLSMAXVERSION: TLS version "1.1" is not supported: rustls implements only TLS 1.2 and 1.3"#,
        ]
    );
}

#[test]
fn the_seed_environment_tabs_equal_their_config_file_tabs() {
    // The seed shows each example twice: as tyk.conf (with // comments) and as exports.
    let global_env = [
        ("TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED", "true"),
        (
            "TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTP_PROXY",
            "http://proxy.example.com:8080",
        ),
        (
            "TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTPS_PROXY",
            "https://proxy.example.com:8080",
        ),
        (
            "TYK_GW_EXTERNAL_SERVICES_GLOBAL_BYPASS_PROXY",
            "localhost,127.0.0.1,.internal,*.local",
        ),
    ];
    let oauth_env = [
        ("TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_ENABLED", "true"),
        (
            "TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTP_PROXY",
            "http://oauth-proxy.example.com:8080",
        ),
        (
            "TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTPS_PROXY",
            "https://oauth-proxy.example.com:8080",
        ),
        (
            "TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_BYPASS_PROXY",
            "localhost,127.0.0.1,auth.internal",
        ),
        ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_ENABLED", "true"),
        (
            "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE",
            "/etc/tyk/certs/oauth-client.crt",
        ),
        (
            "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_KEY_FILE",
            "/etc/tyk/certs/oauth-client.key",
        ),
        (
            "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CA_FILE",
            "/etc/tyk/certs/oauth-ca.crt",
        ),
        ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_INSECURE_SKIP_VERIFY", "false"),
        ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_TLS_MIN_VERSION", "1.2"),
    ];
    for (tab, env) in [
        ("tab_global_with_comments.json", &global_env[..]),
        ("tab_oauth_with_comments.json", &oauth_env[..]),
    ] {
        let without_comments: String = fixture(tab)
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let from_file = load_with_env(&without_comments, &[]).unwrap();
        let from_env = load_env(&EnvSnapshot::from_iter(env.iter().copied()), &LoadOptions::default()).unwrap();
        let values = |rows: Vec<(String, String, String)>| rows.into_iter().map(|(p, v, _)| (p, v)).collect::<Vec<_>>();
        assert_eq!(
            values(set_values(&from_file.config)),
            values(set_values(&from_env.config)),
            "{tab}"
        );
        assert_eq!(
            from_file.config.global.bypass_proxy.map(|b| b.value),
            from_env.config.global.bypass_proxy.clone().map(|b| b.value)
        );
        // The same values, but each from its variable.
        for (path, _, source) in set_values(&from_env.config) {
            assert!(source.starts_with("env:TYK_GW_EXTERNAL_SERVICES_"), "{path}: {source}");
        }
        assert_eq!(set_values(&from_env.config).len(), env.len());
    }
}

#[test]
fn a_missing_file_is_reported_with_env_errors_too() {
    let env = EnvSnapshot::from_iter([("TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED", "maybe")]);
    let path = std::path::Path::new("/nonexistent/extsvc/tyk.conf");
    let errors = load_file(path, &env, &LoadOptions::default()).unwrap_err();
    assert!(
        matches!(&errors.0[0], ConfigError::Read { file, .. } if file == "/nonexistent/extsvc/tyk.conf"),
        "{errors}"
    );
    assert_eq!(errors.0[1].path(), "TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED");
    assert_eq!(errors.0.len(), 2);
}
