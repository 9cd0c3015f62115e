//! The seed document's examples load to the values (and sources) they spell out.
//!
//! Bypass lists are compared by entry count only; their parsing is tested beside the
//! bypass parser.

mod support;

use extsvc_config::{ConfigError, ProxyScheme, ServiceKind, Source};
use support::{file_rows, fixture, load, rows, set_values};

#[test]
fn example_1_basic_proxy() {
    let loaded = load(&fixture("example1_basic_proxy.json")).unwrap();
    assert_eq!(
        set_values(&loaded.config),
        file_rows(&[
            ("external_services.global.enabled", "true"),
            ("external_services.global.http_proxy", "http://localhost:3128"),
            ("external_services.global.https_proxy", "https://localhost:3128"),
            ("external_services.global.bypass_proxy", "3 entries"),
        ])
    );
    let https = loaded.config.global.https_proxy.unwrap().value.unwrap();
    assert_eq!(
        (https.scheme(), https.host(), https.port()),
        (ProxyScheme::Https, "localhost", 3128)
    );
    assert_eq!(loaded.warnings, Vec::<String>::new());
}

#[test]
fn example_2_oauth_with_certificate_files() {
    let loaded = load(&fixture("example2_oauth_files.json")).unwrap();
    assert_eq!(
        set_values(&loaded.config),
        file_rows(&[
            ("external_services.global.enabled", "true"),
            ("external_services.global.http_proxy", "http://localhost:3128"),
            ("external_services.global.https_proxy", "https://localhost:3128"),
            ("external_services.global.bypass_proxy", "2 entries"),
            ("external_services.oauth.proxy.enabled", "true"),
            ("external_services.oauth.proxy.http_proxy", "http://localhost:3129"),
            ("external_services.oauth.proxy.https_proxy", "https://localhost:3129"),
            ("external_services.oauth.mtls.enabled", "true"),
            (
                "external_services.oauth.mtls.cert_file",
                "/etc/tyk/certs/oauth-client.crt"
            ),
            (
                "external_services.oauth.mtls.key_file",
                "/etc/tyk/certs/oauth-client.key"
            ),
            ("external_services.oauth.mtls.ca_file", "/etc/tyk/certs/oauth-ca.crt"),
            ("external_services.oauth.mtls.tls_min_version", "1.2"),
        ])
    );
    // Tyk's merge takes oauth's proxy block whole (it sets a URL): SPEC section 1 says so.
    assert_eq!(
        loaded.warnings,
        [
            "external_services.oauth.proxy: sets http_proxy, so Tyk uses this block alone and would bypass no host \
          for oauth; extsvc inherits the global bypass_proxy (2 entries, file:external_services.global.bypass_proxy), \
          as the documented precedence says"
        ]
    );
}

#[test]
fn example_2_oauth_with_certificate_store() {
    let loaded = load(&fixture("example2_oauth_store.json")).unwrap();
    let oauth_mtls: Vec<_> = set_values(&loaded.config)
        .into_iter()
        .filter(|(p, _, _)| p.starts_with("external_services.oauth.mtls"))
        .collect();
    assert_eq!(
        oauth_mtls,
        file_rows(&[
            ("external_services.oauth.mtls.enabled", "true"),
            ("external_services.oauth.mtls.cert_id", "oauth-client-cert"),
            ("external_services.oauth.mtls.ca_cert_ids", "oauth-ca-cert"),
            ("external_services.oauth.mtls.tls_min_version", "1.2"),
        ])
    );
    assert_eq!(
        loaded
            .config
            .service(ServiceKind::Oauth)
            .proxy
            .http_proxy
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .unwrap()
            .port(),
        3129
    );
}

#[test]
fn example_3_mixed_storage_inherits_urls_and_overrides_bypass() {
    let loaded = load(&fixture("example3_mixed.json")).unwrap();
    assert_eq!(
        set_values(&loaded.config),
        file_rows(&[
            ("external_services.global.enabled", "true"),
            ("external_services.global.http_proxy", "http://localhost:3128"),
            ("external_services.global.https_proxy", "https://localhost:3128"),
            ("external_services.global.bypass_proxy", "3 entries"),
            // storage sets no URLs: resolution inherits the global ones.
            ("external_services.storage.proxy.enabled", "true"),
            ("external_services.storage.proxy.bypass_proxy", "3 entries"),
            ("external_services.storage.mtls.enabled", "true"),
            (
                "external_services.storage.mtls.cert_file",
                "/etc/tyk/certs/redis-client.crt"
            ),
            (
                "external_services.storage.mtls.key_file",
                "/etc/tyk/certs/redis-client.key"
            ),
            ("external_services.webhooks.proxy.enabled", "true"),
            ("external_services.webhooks.proxy.http_proxy", "http://localhost:3130"),
            ("external_services.webhooks.proxy.https_proxy", "https://localhost:3130"),
        ])
    );
}

#[test]
fn example_4_production_enterprise() {
    let loaded = load(&fixture("example4_enterprise.json")).unwrap();
    assert_eq!(
        set_values(&loaded.config),
        file_rows(&[
            ("external_services.global.enabled", "true"),
            ("external_services.global.http_proxy", "http://proxy.company.com:8080"),
            ("external_services.global.https_proxy", "https://proxy.company.com:8080"),
            ("external_services.global.bypass_proxy", "3 entries"),
            ("external_services.oauth.mtls.enabled", "true"),
            (
                "external_services.oauth.mtls.cert_file",
                "/etc/tyk/certs/oauth-client.crt"
            ),
            (
                "external_services.oauth.mtls.key_file",
                "/etc/tyk/certs/oauth-client.key"
            ),
            ("external_services.oauth.mtls.ca_file", "/etc/tyk/certs/company-ca.crt"),
            ("external_services.oauth.mtls.insecure_skip_verify", "false"),
            ("external_services.oauth.mtls.tls_min_version", "1.2"),
            // webhooks: only `enabled`, so it inherits everything from global.
            ("external_services.webhooks.proxy.enabled", "true"),
            ("external_services.webhooks.mtls.enabled", "true"),
            (
                "external_services.webhooks.mtls.cert_file",
                "/etc/tyk/certs/webhook-client.crt"
            ),
            (
                "external_services.webhooks.mtls.key_file",
                "/etc/tyk/certs/webhook-client.key"
            ),
        ])
    );
    assert_eq!(loaded.warnings, Vec::<String>::new());
}

#[test]
fn example_5_certificate_store_everywhere() {
    let loaded = load(&fixture("example5_cert_store.json")).unwrap();
    let mtls: Vec<_> = set_values(&loaded.config)
        .into_iter()
        .filter(|(p, _, _)| p.contains(".mtls."))
        .collect();
    assert_eq!(
        mtls,
        file_rows(&[
            ("external_services.oauth.mtls.enabled", "true"),
            ("external_services.oauth.mtls.cert_id", "oauth-client-prod"),
            (
                "external_services.oauth.mtls.ca_cert_ids",
                "oauth-ca-prod,intermediate-ca"
            ),
            ("external_services.oauth.mtls.tls_min_version", "1.2"),
            ("external_services.storage.mtls.enabled", "true"),
            ("external_services.storage.mtls.cert_id", "redis-client-prod"),
            ("external_services.storage.mtls.ca_cert_ids", "redis-ca-prod"),
            ("external_services.webhooks.mtls.enabled", "true"),
            ("external_services.webhooks.mtls.cert_id", "webhook-client-prod"),
            ("external_services.webhooks.mtls.ca_cert_ids", "webhook-ca-prod"),
        ])
    );
}

#[test]
fn migration_before_reads_the_legacy_keys() {
    let loaded = load(&fixture("migration_before.json")).unwrap();
    assert_eq!(
        set_values(&loaded.config),
        rows(&[
            ("http_proxy", "http://localhost:3128", "legacy:http_proxy"),
            (
                "jwt_ssl_insecure_skip_verify",
                "true",
                "legacy:jwt_ssl_insecure_skip_verify"
            ),
        ])
    );
    // Whether the flag applies (and the warning that it does) is resolution's business:
    // loading does not warn about it a second time.
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn migration_after_as_printed_fails_at_the_trailing_comma() {
    let errors = load(&fixture("migration_after_as_printed.json")).unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    let ConfigError::Parse { file, line, column, .. } = &errors.0[0] else {
        panic!("expected a parse error, got {errors}");
    };
    assert_eq!((file.as_str(), *line, *column), ("tyk.conf", 6, 5));
    assert_eq!(errors.to_string(), "tyk.conf:6:5: trailing comma");
}

#[test]
fn migration_after_corrected_is_valid_with_only_insecure_skip_verify() {
    let loaded = load(&fixture("migration_after_corrected.json")).unwrap();
    assert_eq!(
        set_values(&loaded.config),
        file_rows(&[
            ("external_services.global.enabled", "true"),
            ("external_services.global.http_proxy", "http://localhost:3128"),
            ("external_services.oauth.mtls.enabled", "true"),
            ("external_services.oauth.mtls.insecure_skip_verify", "true"),
        ])
    );
    // Whether the flag applies (and the warning that it does) is resolution's business:
    // loading does not warn about it a second time.
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn migration_before_and_after_together_prefer_the_new_keys_by_keeping_both() {
    // Both sets present: the loader keeps both, each with its own source; resolution
    // lets external_services win.
    let json = r#"{
        "http_proxy": "http://legacy:3128",
        "jwt_ssl_insecure_skip_verify": false,
        "external_services": {
            "global": { "enabled": true, "http_proxy": "http://new:3128" },
            "oauth": { "mtls": { "enabled": true, "insecure_skip_verify": true } }
        }
    }"#;
    let config = load(json).unwrap().config;
    assert_eq!(
        config.legacy.http_proxy.unwrap().source,
        Source::Legacy("http_proxy".into())
    );
    assert_eq!(config.global.http_proxy.unwrap().value.unwrap().host(), "new");
    assert!(!config.legacy.jwt_ssl_insecure_skip_verify.unwrap().value);
}

#[test]
fn the_config_file_tabs_have_comments_and_are_not_json() {
    for name in ["tab_global_with_comments.json", "tab_oauth_with_comments.json"] {
        let errors = load(&fixture(name)).unwrap_err();
        assert_eq!(errors.0.len(), 1, "{errors}");
        assert!(
            matches!(&errors.0[0], ConfigError::Parse { line: 2, column: 1, .. }),
            "{name}: {errors}"
        );
    }
}
