//! Every example configuration of the seed document, resolved for all five services:
//! each field's value *and* source. Plus the standard-environment fallback rules.

use extsvc_config::{load_str, EnvSnapshot, LoadOptions, ServiceKind};
use extsvc_resolve::{resolve, CaSource, ClientCertificateSource, ResolvedService, Route, TargetScheme};

/// One service's resolution as one line: `field=value@source`, so a whole example is a
/// short table that can be compared at once and read in a failure message.
fn line(service: &ResolvedService) -> String {
    let p = &service.proxy;
    let m = &service.mtls;
    let url = |u: &Option<extsvc_config::ProxyUrl>| u.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string);
    let bypass: Vec<String> = p.bypass.value.entries().iter().map(ToString::to_string).collect();
    let cert = match &m.client_certificate {
        ClientCertificateSource::None => "none".to_owned(),
        ClientCertificateSource::File {
            cert_file,
            key_file,
            source,
        } => {
            format!("file:{}+{}@{source}", cert_file.display(), key_file.display())
        }
        ClientCertificateSource::Store { cert_id, source } => format!("store:{cert_id}@{source}"),
    };
    let ca = match &m.ca {
        CaSource::DefaultRoots => "default_roots".to_owned(),
        CaSource::File { ca_file, source } => format!("file:{}@{source}", ca_file.display()),
        CaSource::Store { ca_cert_ids, source } => format!("store:{}@{source}", ca_cert_ids.join("+")),
    };
    format!(
        "{kind}: proxy={on} http={http}@{hs} https={https}@{hss} bypass=[{bypass}]@{bs} mtls={mon} cert={cert} ca={ca} insecure={ins}@{inss} min={min}@{mins} max={max}@{maxs}",
        kind = service.kind,
        on = p.enabled,
        http = url(&p.http_proxy.value),
        hs = p.http_proxy.source,
        https = url(&p.https_proxy.value),
        hss = p.https_proxy.source,
        bypass = bypass.join(","),
        bs = p.bypass.source,
        mon = m.enabled,
        ins = m.insecure_skip_verify.value,
        inss = m.insecure_skip_verify.source,
        min = m.tls_min_version.value,
        mins = m.tls_min_version.source,
        max = m.tls_max_version.value,
        maxs = m.tls_max_version.source,
    )
}

fn resolve_lines(json: &str, env: &[(&str, &str)]) -> Vec<String> {
    let env = EnvSnapshot::from_iter(env.iter().copied());
    let loaded =
        load_str(json, "tyk.conf", &env, &LoadOptions::default()).unwrap_or_else(|e| panic!("config rejected:\n{e}"));
    let resolution = resolve(&loaded.config, &env);
    resolution.services().values().iter().map(line).collect()
}

fn assert_lines(actual: Vec<String>, expected: &[&str]) {
    let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    assert_eq!(actual, expected, "\nactual:\n{}\n", actual.join("\n"));
}

const NO_MTLS: &str = "mtls=false cert=none ca=default_roots insecure=false@default min=1.2@default max=1.3@default";
const G: &str = "file:external_services.global";

fn global_line(kind: &str, http: &str, https: &str, bypass: &str) -> String {
    format!("{kind}: proxy=true http={http}@{G}.http_proxy https={https}@{G}.https_proxy bypass=[{bypass}]@{G}.bypass_proxy {NO_MTLS}")
}

#[test]
fn example_1_basic_proxy_setup_applies_to_every_service() {
    let json = r#"{
      "external_services": {
        "global": {
          "enabled": true,
          "http_proxy": "http://localhost:3128",
          "https_proxy": "https://localhost:3128",
          "bypass_proxy": "localhost,127.0.0.1,.internal"
        }
      }
    }"#;
    let expected: Vec<String> = ServiceKind::ALL
        .iter()
        .map(|k| {
            global_line(
                k.as_str(),
                "http://localhost:3128",
                "https://localhost:3128",
                "localhost,127.0.0.1,.internal",
            )
        })
        .collect();
    assert_eq!(resolve_lines(json, &[]), expected);
}

const EXAMPLE_2_GLOBAL: &str = r#""global": {
      "enabled": true,
      "http_proxy": "http://localhost:3128",
      "https_proxy": "https://localhost:3128",
      "bypass_proxy": "localhost,127.0.0.1"
    },
    "oauth": {
      "proxy": {
        "enabled": true,
        "http_proxy": "http://localhost:3129",
        "https_proxy": "https://localhost:3129"
      },"#;

fn example_2_others() -> Vec<String> {
    ["storage", "webhooks", "health", "discovery"]
        .iter()
        .map(|k| {
            global_line(
                k,
                "http://localhost:3128",
                "https://localhost:3128",
                "localhost,127.0.0.1",
            )
        })
        .collect()
}

#[test]
fn example_2_oauth_dedicated_proxy_and_file_mtls() {
    let json = format!(
        r#"{{"external_services": {{ {EXAMPLE_2_GLOBAL}
      "mtls": {{
        "enabled": true,
        "cert_file": "/etc/tyk/certs/oauth-client.crt",
        "key_file": "/etc/tyk/certs/oauth-client.key",
        "ca_file": "/etc/tyk/certs/oauth-ca.crt",
        "tls_min_version": "1.2"
      }} }} }} }}"#
    );
    let o = "file:external_services.oauth";
    let mut expected = vec![format!(
        "oauth: proxy=true http=http://localhost:3129@{o}.proxy.http_proxy https=https://localhost:3129@{o}.proxy.https_proxy \
         bypass=[localhost,127.0.0.1]@{G}.bypass_proxy mtls=true \
         cert=file:/etc/tyk/certs/oauth-client.crt+/etc/tyk/certs/oauth-client.key@{o}.mtls.cert_file \
         ca=file:/etc/tyk/certs/oauth-ca.crt@{o}.mtls.ca_file insecure=false@default min=1.2@{o}.mtls.tls_min_version max=1.3@default"
    )];
    expected.extend(example_2_others());
    assert_eq!(resolve_lines(&json, &[]), expected);
}

#[test]
fn example_2_oauth_dedicated_proxy_and_certificate_store() {
    let json = format!(
        r#"{{"external_services": {{ {EXAMPLE_2_GLOBAL}
      "mtls": {{
        "enabled": true,
        "cert_id": "oauth-client-cert",
        "ca_cert_ids": ["oauth-ca-cert"],
        "tls_min_version": "1.2"
      }} }} }} }}"#
    );
    let o = "file:external_services.oauth";
    let mut expected = vec![format!(
        "oauth: proxy=true http=http://localhost:3129@{o}.proxy.http_proxy https=https://localhost:3129@{o}.proxy.https_proxy \
         bypass=[localhost,127.0.0.1]@{G}.bypass_proxy mtls=true cert=store:oauth-client-cert@{o}.mtls.cert_id \
         ca=store:oauth-ca-cert@{o}.mtls.ca_cert_ids insecure=false@default min=1.2@{o}.mtls.tls_min_version max=1.3@default"
    )];
    expected.extend(example_2_others());
    assert_eq!(resolve_lines(&json, &[]), expected);
}

#[test]
fn example_3_storage_inherits_urls_and_overrides_bypass_webhooks_use_own_proxy() {
    let json = r#"{
      "external_services": {
        "global": {
          "enabled": true,
          "http_proxy": "http://localhost:3128",
          "https_proxy": "https://localhost:3128",
          "bypass_proxy": "localhost,127.0.0.1,redis"
        },
        "storage": {
          "proxy": { "enabled": true, "bypass_proxy": "localhost,127.0.0.1,redis.internal" },
          "mtls": {
            "enabled": true,
            "cert_file": "/etc/tyk/certs/redis-client.crt",
            "key_file": "/etc/tyk/certs/redis-client.key"
          }
        },
        "webhooks": {
          "proxy": { "enabled": true, "http_proxy": "http://localhost:3130", "https_proxy": "https://localhost:3130" }
        }
      }
    }"#;
    let s = "file:external_services.storage";
    let w = "file:external_services.webhooks";
    let global_bypass = "localhost,127.0.0.1,redis";
    assert_lines(
        resolve_lines(json, &[]),
        &[
            &global_line("oauth", "http://localhost:3128", "https://localhost:3128", global_bypass),
            &format!(
                "storage: proxy=true http=http://localhost:3128@{G}.http_proxy https=https://localhost:3128@{G}.https_proxy \
                 bypass=[localhost,127.0.0.1,redis.internal]@{s}.proxy.bypass_proxy mtls=true \
                 cert=file:/etc/tyk/certs/redis-client.crt+/etc/tyk/certs/redis-client.key@{s}.mtls.cert_file \
                 ca=default_roots insecure=false@default min=1.2@default max=1.3@default"
            ),
            &format!(
                "webhooks: proxy=true http=http://localhost:3130@{w}.proxy.http_proxy https=https://localhost:3130@{w}.proxy.https_proxy \
                 bypass=[{global_bypass}]@{G}.bypass_proxy {NO_MTLS}"
            ),
            &global_line("health", "http://localhost:3128", "https://localhost:3128", global_bypass),
            &global_line("discovery", "http://localhost:3128", "https://localhost:3128", global_bypass),
        ],
    );
}

#[test]
fn example_4_production_enterprise() {
    let json = r#"{
      "external_services": {
        "global": {
          "enabled": true,
          "http_proxy": "http://proxy.company.com:8080",
          "https_proxy": "https://proxy.company.com:8080",
          "bypass_proxy": "localhost,127.0.0.1,.company.internal"
        },
        "oauth": {
          "mtls": {
            "enabled": true,
            "cert_file": "/etc/tyk/certs/oauth-client.crt",
            "key_file": "/etc/tyk/certs/oauth-client.key",
            "ca_file": "/etc/tyk/certs/company-ca.crt",
            "insecure_skip_verify": false,
            "tls_min_version": "1.2"
          }
        },
        "webhooks": {
          "proxy": { "enabled": true },
          "mtls": {
            "enabled": true,
            "cert_file": "/etc/tyk/certs/webhook-client.crt",
            "key_file": "/etc/tyk/certs/webhook-client.key"
          }
        }
      }
    }"#;
    let o = "file:external_services.oauth.mtls";
    let w = "file:external_services.webhooks.mtls";
    let (http, https, bypass) = (
        "http://proxy.company.com:8080",
        "https://proxy.company.com:8080",
        "localhost,127.0.0.1,.company.internal",
    );
    let proxy = format!(
        "proxy=true http={http}@{G}.http_proxy https={https}@{G}.https_proxy bypass=[{bypass}]@{G}.bypass_proxy"
    );
    assert_lines(
        resolve_lines(json, &[]),
        &[
            &format!(
                "oauth: {proxy} mtls=true cert=file:/etc/tyk/certs/oauth-client.crt+/etc/tyk/certs/oauth-client.key@{o}.cert_file \
                 ca=file:/etc/tyk/certs/company-ca.crt@{o}.ca_file insecure=false@{o}.insecure_skip_verify \
                 min=1.2@{o}.tls_min_version max=1.3@default"
            ),
            &global_line("storage", http, https, bypass),
            &format!(
                "webhooks: {proxy} mtls=true cert=file:/etc/tyk/certs/webhook-client.crt+/etc/tyk/certs/webhook-client.key@{w}.cert_file \
                 ca=default_roots insecure=false@default min=1.2@default max=1.3@default"
            ),
            &global_line("health", http, https, bypass),
            &global_line("discovery", http, https, bypass),
        ],
    );
}

#[test]
fn example_5_production_certificate_store() {
    let json = r#"{
      "external_services": {
        "global": {
          "enabled": true,
          "http_proxy": "http://proxy.company.com:8080",
          "https_proxy": "https://proxy.company.com:8080",
          "bypass_proxy": "localhost,127.0.0.1,.company.internal"
        },
        "oauth": { "mtls": { "enabled": true, "cert_id": "oauth-client-prod", "ca_cert_ids": ["oauth-ca-prod", "intermediate-ca"], "tls_min_version": "1.2" } },
        "storage": { "mtls": { "enabled": true, "cert_id": "redis-client-prod", "ca_cert_ids": ["redis-ca-prod"] } },
        "webhooks": { "mtls": { "enabled": true, "cert_id": "webhook-client-prod", "ca_cert_ids": ["webhook-ca-prod"] } }
      }
    }"#;
    let (http, https, bypass) = (
        "http://proxy.company.com:8080",
        "https://proxy.company.com:8080",
        "localhost,127.0.0.1,.company.internal",
    );
    let proxy = format!(
        "proxy=true http={http}@{G}.http_proxy https={https}@{G}.https_proxy bypass=[{bypass}]@{G}.bypass_proxy"
    );
    let store = |svc: &str, id: &str, ca: &str, min: &str| {
        let m = format!("file:external_services.{svc}.mtls");
        format!(
            "{svc}: {proxy} mtls=true cert=store:{id}@{m}.cert_id ca=store:{ca}@{m}.ca_cert_ids insecure=false@default {min} max=1.3@default"
        )
    };
    assert_lines(
        resolve_lines(json, &[]),
        &[
            &store(
                "oauth",
                "oauth-client-prod",
                "oauth-ca-prod+intermediate-ca",
                "min=1.2@file:external_services.oauth.mtls.tls_min_version",
            ),
            &store("storage", "redis-client-prod", "redis-ca-prod", "min=1.2@default"),
            &store("webhooks", "webhook-client-prod", "webhook-ca-prod", "min=1.2@default"),
            &global_line("health", http, https, bypass),
            &global_line("discovery", http, https, bypass),
        ],
    );
}

#[test]
fn migration_before_legacy_keys_activate_the_global_proxy() {
    let json = r#"{ "http_proxy": "http://localhost:3128", "jwt_ssl_insecure_skip_verify": true }"#;
    let line_for = |kind: &str, insecure: &str| {
        format!(
            "{kind}: proxy=true http=http://localhost:3128@legacy:http_proxy \
             https=http://localhost:3128@fallback:legacy:http_proxy bypass=[]@default \
             mtls=false cert=none ca=default_roots insecure={insecure} min=1.2@default max=1.3@default"
        )
    };
    assert_lines(
        resolve_lines(json, &[]),
        &[
            &line_for("oauth", "true@legacy:jwt_ssl_insecure_skip_verify"),
            &line_for("storage", "false@default"),
            &line_for("webhooks", "false@default"),
            &line_for("health", "false@default"),
            &line_for("discovery", "false@default"),
        ],
    );
}

const MIGRATION_AFTER_CORRECTED: &str = r#"{
  "external_services": {
    "global": {
      "enabled": true,
      "http_proxy": "http://localhost:3128"
    },
    "oauth": {
      "mtls": {
        "enabled": true,
        "insecure_skip_verify": true
      }
    }
  }
}"#;

#[test]
fn migration_after_corrected_is_valid_with_only_insecure_skip_verify() {
    let line_for = |kind: &str, mtls: &str| {
        format!("{kind}: proxy=true http=http://localhost:3128@{G}.http_proxy https=http://localhost:3128@fallback:{G}.http_proxy bypass=[]@default {mtls}")
    };
    assert_lines(
        resolve_lines(MIGRATION_AFTER_CORRECTED, &[]),
        &[
            &line_for(
                "oauth",
                "mtls=true cert=none ca=default_roots insecure=true@file:external_services.oauth.mtls.insecure_skip_verify min=1.2@default max=1.3@default",
            ),
            &line_for("storage", NO_MTLS),
            &line_for("webhooks", NO_MTLS),
            &line_for("health", NO_MTLS),
            &line_for("discovery", NO_MTLS),
        ],
    );
}

#[test]
fn migration_after_exactly_as_printed_fails_with_line_and_column() {
    let as_printed = "{\n  \"external_services\": {\n    \"global\": {\n      \"enabled\": true,\n      \"http_proxy\": \"http://localhost:3128\",\n    },\n    \"oauth\": {\n      \"mtls\": {\n        \"enabled\": true,\n        \"insecure_skip_verify\": true\n      }\n    }\n  }\n}";
    let err = load_str(as_printed, "tyk.conf", &EnvSnapshot::empty(), &LoadOptions::default()).unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("tyk.conf:6:5:"), "{message}");
}

#[test]
fn standard_environment_fills_unset_fields_only_when_proxying_is_active() {
    let env = [
        ("HTTPS_PROXY", "http://env-proxy:8080"),
        ("NO_PROXY", ".corp,localhost"),
        ("http_proxy", "http://lower:1"),
    ];
    let lines = resolve_lines(MIGRATION_AFTER_CORRECTED, &env);
    // The global http_proxy is set, so it wins over the environment; https_proxy and the
    // bypass list are unset everywhere, so they come from the environment.
    assert!(
        lines[1].starts_with(&format!(
            "storage: proxy=true http=http://localhost:3128@{G}.http_proxy https=http://env-proxy:8080@env:HTTPS_PROXY bypass=[.corp,localhost]@env:NO_PROXY "
        )),
        "{}",
        lines[1]
    );
    // Nothing enabled: the standard variables are ignored entirely.
    let lines = resolve_lines("{}", &env);
    for line in lines {
        assert!(
            line.contains("proxy=false http=-@default https=-@default bypass=[]@default"),
            "{line}"
        );
    }
}

#[test]
fn upper_case_standard_variables_win_over_lower_case() {
    let env = [
        ("HTTP_PROXY", "http://upper:1"),
        ("http_proxy", "http://lower:2"),
        ("https_proxy", "http://lower:3"),
    ];
    let lines = resolve_lines(r#"{"external_services": {"global": {"enabled": true}}}"#, &env);
    assert!(
        lines[0].contains("http=http://upper:1@env:HTTP_PROXY https=http://lower:3@env:https_proxy"),
        "{}",
        lines[0]
    );
}

#[test]
fn service_opts_out_of_the_global_proxy_with_a_star_bypass() {
    let json = r#"{"external_services": {
        "global": {"enabled": true, "https_proxy": "http://proxy:3128"},
        "health": {"proxy": {"enabled": true, "bypass_proxy": "*"}}}}"#;
    let env = EnvSnapshot::empty();
    let loaded = load_str(json, "tyk.conf", &env, &LoadOptions::default()).unwrap();
    let resolution = resolve(&loaded.config, &env);
    let health = resolution
        .service(ServiceKind::Health)
        .route(TargetScheme::Https, "checks.example.com", 443);
    assert_eq!(health.route, Route::Direct);
    assert_eq!(
        health.reason.to_string(),
        "bypass entry \"*\" matches (file:external_services.health.proxy.bypass_proxy)"
    );
    let oauth = resolution
        .service(ServiceKind::Oauth)
        .route(TargetScheme::Https, "idp.example.com", 443);
    assert!(matches!(oauth.route, Route::Proxy(p) if p.to_string() == "http://proxy:3128"));
    assert_eq!(
        oauth.reason.to_string(),
        "https_proxy from file:external_services.global.https_proxy"
    );
    // No cross-fallback: an http:// target has no proxy configured.
    let plain = resolution
        .service(ServiceKind::Oauth)
        .route(TargetScheme::Http, "idp.example.com", 80);
    assert_eq!(
        (plain.route, plain.reason.to_string()),
        (Route::Direct, "no proxy configured for http".to_owned())
    );
}

#[test]
fn a_disabled_service_block_does_not_disable_the_global_proxy() {
    let json = r#"{"external_services": {
        "global": {"enabled": true, "https_proxy": "http://proxy:3128"},
        "webhooks": {"proxy": {"enabled": false, "https_proxy": "http://ignored:1"}}}}"#;
    let lines = resolve_lines(json, &[]);
    assert!(
        lines[2].contains(&format!("https=http://proxy:3128@{G}.https_proxy")),
        "{}",
        lines[2]
    );
}

#[test]
fn service_proxy_enabled_without_global_uses_only_its_own_values_and_the_environment() {
    let json = r#"{"external_services": {
        "global": {"enabled": false, "https_proxy": "http://global-off:1"},
        "oauth": {"proxy": {"enabled": true, "http_proxy": "http://oauth-proxy:3129"}}}}"#;
    let lines = resolve_lines(json, &[("HTTPS_PROXY", "http://env:8080")]);
    assert!(
        lines[0].contains(
            "proxy=true http=http://oauth-proxy:3129@file:external_services.oauth.proxy.http_proxy https=http://env:8080@env:HTTPS_PROXY"
        ),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("proxy=false"), "{}", lines[1]);
}

#[test]
fn a_service_proxy_block_without_enabled_is_ignored_with_a_warning() {
    let json = r#"{"external_services": {"oauth": {"proxy": {"https_proxy": "http://forgot-enabled:3128"}}}}"#;
    let env = EnvSnapshot::empty();
    let loaded = load_str(json, "tyk.conf", &env, &LoadOptions::default()).unwrap();
    let resolution = resolve(&loaded.config, &env);
    assert!(!resolution.service(ServiceKind::Oauth).proxy.enabled);
    assert_eq!(
        resolution.warnings,
        vec!["external_services.oauth.proxy: settings ignored because proxy.enabled is not true".to_owned()]
    );
}

/// The seed's migration example: a tyk.conf with only a legacy `http_proxy` sends its
/// JWKS fetches (https) through it, as Tyk does (SPEC section 2, step 4).
#[test]
fn migration_jwks_fetches_over_https_take_the_legacy_http_proxy() {
    let json = r#"{ "http_proxy": "http://localhost:3128", "jwt_ssl_insecure_skip_verify": true }"#;
    let env = EnvSnapshot::empty();
    let loaded = load_str(json, "tyk.conf", &env, &LoadOptions::default()).unwrap();
    let resolution = resolve(&loaded.config, &env);
    // Only the insecure flag is warned about: no more "only http_proxy is set".
    assert_eq!(resolution.warnings.len(), 1, "{:?}", resolution.warnings);
    assert!(resolution.warnings[0].starts_with("jwt_ssl_insecure_skip_verify: true"));
    let jwks = resolution
        .service(ServiceKind::Oauth)
        .route(TargetScheme::Https, "idp.example.com", 443);
    assert!(matches!(jwks.route, Route::Proxy(p) if p.to_string() == "http://localhost:3128"));
    assert_eq!(
        jwks.reason.to_string(),
        "https_proxy from fallback:legacy:http_proxy (no https_proxy set: Tyk's fallback to the configured http_proxy)"
    );
    // Redis over TLS takes https_proxy, so the fallback too.
    let redis = resolution
        .service(ServiceKind::Storage)
        .route(TargetScheme::Https, "redis.internal", 6380);
    assert!(matches!(redis.route, Route::Proxy(p) if p.to_string() == "http://localhost:3128"));
}

/// (config, environment, expected `https=value@source` of oauth) — one row per source of
/// `http_proxy`, and the cases where the fallback must not apply.
type FallbackRow = (&'static str, &'static [(&'static str, &'static str)], &'static str);

const FALLBACK_ROWS: &[FallbackRow] = &[
    // service, global, legacy key, TYK_GW_ variables (documented, Tyk's spelling, legacy)
    (
        r#"{"external_services": {"oauth": {"proxy": {"enabled": true, "http_proxy": "http://svc:1"}}}}"#,
        &[],
        "https=http://svc:1@fallback:file:external_services.oauth.proxy.http_proxy",
    ),
    (
        r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://g:1"}}}"#,
        &[],
        "https=http://g:1@fallback:file:external_services.global.http_proxy",
    ),
    (
        r#"{"http_proxy": "http://legacy:1"}"#,
        &[],
        "https=http://legacy:1@fallback:legacy:http_proxy",
    ),
    (
        r#"{"external_services": {"oauth": {"proxy": {"enabled": true}}}}"#,
        &[("TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTP_PROXY", "http://env:1")],
        "https=http://env:1@fallback:env:TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTP_PROXY",
    ),
    (
        r#"{"external_services": {"oauth": {"proxy": {"enabled": true}}}}"#,
        &[("TYK_GW_EXTERNALSERVICES_OAUTH_PROXY_HTTPPROXY", "http://env:1")],
        "https=http://env:1@fallback:env:TYK_GW_EXTERNALSERVICES_OAUTH_PROXY_HTTPPROXY",
    ),
    (
        "{}",
        &[("TYK_GW_HTTPPROXY", "http://legacy-env:1")],
        "https=http://legacy-env:1@fallback:env:TYK_GW_HTTPPROXY",
    ),
    // A set-but-empty https_proxy resolves to nothing too (Tyk reads "" as unset), and
    // it stops the precedence list: the global https_proxy is not consulted.
    (
        r#"{"external_services": {"global": {"enabled": true, "https_proxy": "http://g-https:1"},
            "oauth": {"proxy": {"enabled": true, "http_proxy": "http://svc:1", "https_proxy": ""}}}}"#,
        &[],
        "https=http://svc:1@fallback:file:external_services.oauth.proxy.http_proxy",
    ),
    // Any https_proxy of steps 1-3 wins over the fallback, HTTPS_PROXY included.
    (
        r#"{"http_proxy": "http://legacy:1"}"#,
        &[("HTTPS_PROXY", "http://std-https:1")],
        "https=http://std-https:1@env:HTTPS_PROXY",
    ),
    (
        r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://g:1", "https_proxy": "http://gs:2"}}}"#,
        &[],
        "https=http://gs:2@file:external_services.global.https_proxy",
    ),
    // Never from the standard HTTP_PROXY / http_proxy (Go and curl don't).
    (
        r#"{"external_services": {"global": {"enabled": true}}}"#,
        &[("HTTP_PROXY", "http://std:1"), ("http_proxy", "http://std:2")],
        "https=-@default",
    ),
    // An http_proxy set to "" has nothing to fall back to; the empty https_proxy keeps its source.
    (
        r#"{"external_services": {"oauth": {"proxy": {"enabled": true, "http_proxy": "", "https_proxy": ""}}}}"#,
        &[("HTTP_PROXY", "http://std:1")],
        "https=-@file:external_services.oauth.proxy.https_proxy",
    ),
    // Proxying not active: nothing at all.
    (
        r#"{"external_services": {"global": {"enabled": false, "http_proxy": "http://g:1"}}}"#,
        &[],
        "https=-@default",
    ),
];

#[test]
fn tyks_https_fallback_takes_only_a_configured_http_proxy() {
    for (json, env, expected) in FALLBACK_ROWS {
        let oauth = &resolve_lines(json, env)[0];
        assert!(oauth.contains(&format!(" {expected} ")), "{json} {env:?}\n{oauth}");
    }
}

#[test]
fn http_targets_never_use_https_proxy() {
    let json = r#"{"external_services": {"global": {"enabled": true, "https_proxy": "http://only-https:1"}}}"#;
    let env = EnvSnapshot::empty();
    let loaded = load_str(json, "tyk.conf", &env, &LoadOptions::default()).unwrap();
    let resolution = resolve(&loaded.config, &env);
    assert_eq!(resolution.warnings, Vec::<String>::new());
    let plain = resolution
        .service(ServiceKind::Webhooks)
        .route(TargetScheme::Http, "hooks.example.com", 80);
    assert_eq!(
        (plain.route, plain.reason.to_string()),
        (Route::Direct, "no proxy configured for http".to_owned())
    );
}

#[test]
fn legacy_jwt_insecure_flag_yields_to_an_explicit_oauth_value_even_in_a_disabled_block() {
    let json = r#"{"jwt_ssl_insecure_skip_verify": true,
        "external_services": {"oauth": {"mtls": {"insecure_skip_verify": false}}}}"#;
    let lines = resolve_lines(json, &[]);
    // The block's own value applies even when the block is not enabled (SPEC section 3).
    assert!(
        lines[0].contains("insecure=false@file:external_services.oauth.mtls.insecure_skip_verify"),
        "{}",
        lines[0]
    );
    let lines = resolve_lines(r#"{"jwt_ssl_insecure_skip_verify": true}"#, &[]);
    assert!(
        lines[0].contains("insecure=true@legacy:jwt_ssl_insecure_skip_verify"),
        "{}",
        lines[0]
    );
}
