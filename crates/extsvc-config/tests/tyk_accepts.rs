//! tyk.conf and environment shapes that a running Tyk accepts (SPEC section 1): each
//! loads here too, with the value Tyk would use, and never silently — a warning names
//! what was read differently from the documented form — and `--strict`
//! ([`LoadOptions::strict`]) turns that warning into an error.
//!
//! Each row names the Go rule it follows: Tyk reads tyk.conf with Go's `encoding/json`
//! (`config/config.go`: `json.Unmarshal` into `config.Config`) and the environment with
//! `kelseyhightower/envconfig`, whose booleans are `strconv.ParseBool`.

mod support;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use extsvc_config::{load_str, EnvSnapshot, LoadOptions, Loaded, ServiceKind, TlsVersion};

/// One shape: the Go rule, the file, the environment, a check of the value Tyk uses, and
/// the start of the warning that must say what happened.
struct Row {
    go_rule: &'static str,
    json: &'static str,
    env: &'static [(&'static str, &'static str)],
    check: fn(&Loaded) -> bool,
    warning: &'static str,
}

fn oauth_insecure(loaded: &Loaded) -> Option<bool> {
    loaded
        .config
        .service(ServiceKind::Oauth)
        .mtls
        .insecure_skip_verify
        .as_ref()
        .map(|s| s.value)
}

const ROWS: &[Row] = &[
    Row {
        go_rule: "encoding/json: keys match struct fields case-insensitively (\"Global\", \"Enabled\")",
        json: r#"{"external_services": {"Global": {"Enabled": true, "HTTPS_Proxy": "http://p:3128"}}}"#,
        env: &[],
        check: |l| {
            l.config.global.enabled.as_ref().is_some_and(|e| e.value)
                && l.config.global.https_proxy.as_ref().is_some_and(|p| p.value.is_some())
        },
        warning: "external_services.Global: key matched case-insensitively",
    },
    Row {
        go_rule: "encoding/json: the top-level keys too (\"External_Services\", \"Security\")",
        json: r#"{"External_Services": {"oauth": {"mtls": {"enabled": true, "insecure_skip_verify": true}}}}"#,
        env: &[],
        check: |l| oauth_insecure(l) == Some(true),
        warning: "External_Services: key matched case-insensitively",
    },
    Row {
        go_rule: "encoding/json: of two equal keys the last one wins",
        json: "{\"external_services\": {\"oauth\": {\"mtls\": {\"enabled\": true,\n  \"insecure_skip_verify\": true,\n  \"insecure_skip_verify\": false, \"ca_file\": \"/ca\"}}}}",
        env: &[],
        check: |l| oauth_insecure(l) == Some(false),
        warning: "external_services.oauth.mtls.insecure_skip_verify: duplicate key at tyk.conf:2:3 and tyk.conf:3:3",
    },
    Row {
        go_rule: "encoding/json: two keys equal but for case are one field, the last wins",
        json: r#"{"external_services": {"global": {"enabled": true, "Enabled": false}}}"#,
        env: &[],
        check: |l| l.config.global.enabled.as_ref().is_some_and(|e| !e.value),
        warning: "external_services.global.Enabled: duplicate key at tyk.conf:1:35 and tyk.conf:1:52",
    },
    Row {
        go_rule: "encoding/json: an unknown key is ignored",
        json: r#"{"external_services": {"oauth": {"mtls": {"enabled": true, "ca_file": "/ca", "cert_fiel": "/c"}}}}"#,
        env: &[],
        check: |l| l.config.service(ServiceKind::Oauth).mtls.ca_file.is_some(),
        warning: "external_services.oauth.mtls.cert_fiel: unknown key, ignored (as Tyk ignores it); did you mean cert_file?",
    },
    Row {
        go_rule: "Tyk's schema: external_services.analytics exists (no connection of ours uses it)",
        json: r#"{"external_services": {"analytics": {"proxy": {"enabled": true}}}}"#,
        env: &[],
        check: |l| l.config.global.enabled.is_none(),
        warning: "external_services.analytics: accepted and ignored",
    },
    Row {
        go_rule: "strconv.ParseBool: \"T\" is true",
        json: "{}",
        env: &[("TYK_GW_EXTERNALSERVICES_GLOBAL_ENABLED", "T")],
        check: |l| l.config.global.enabled.as_ref().is_some_and(|e| e.value),
        warning: "",
    },
    Row {
        go_rule: "strconv.ParseBool: \"f\" is false",
        json: r#"{"external_services": {"global": {"enabled": true}}}"#,
        env: &[("TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED", "f")],
        check: |l| l.config.global.enabled.as_ref().is_some_and(|e| !e.value),
        warning: "",
    },
    Row {
        go_rule: "config.Load: TYK_GW_OMITCONFIGFILE (strconv.ParseBool) skips the file",
        json: r#"{"external_services": {"global": {"enabled": true}}}"#,
        env: &[("TYK_GW_OMITCONFIGFILE", "1")],
        check: |l| l.config.global.enabled.is_none(),
        warning: "TYK_GW_OMITCONFIGFILE: true, so the configuration file tyk.conf is not read",
    },
    Row {
        go_rule: "Tyk's storage TLS: tls_min_version \"1.0\" is accepted (here: 1.2, never weaker)",
        json: r#"{"external_services": {"oauth": {"mtls": {"enabled": true, "ca_file": "/ca", "tls_min_version": "1.0"}}}}"#,
        env: &[],
        check: |l| {
            l.config
                .service(ServiceKind::Oauth)
                .mtls
                .tls_min_version
                .as_ref()
                .is_some_and(|v| v.value == TlsVersion::Tls12)
        },
        warning: "external_services.oauth.mtls.tls_min_version: TLS version \"1.0\" is below 1.2: using 1.2",
    },
    Row {
        go_rule: "Tyk's merge: a service block with a proxy URL replaces the global block",
        json: r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://g:1"},
                  "oauth": {"proxy": {"enabled": true, "https_proxy": "http://o:2"}}}}"#,
        env: &[],
        check: |l| l.config.global.http_proxy.is_some(),
        warning: "external_services.oauth.proxy: sets https_proxy, so Tyk uses this block alone and would send oauth's http:// targets direct; extsvc inherits the global http_proxy (http://g:1)",
    },
    Row {
        go_rule: "Tyk has no top-level http_proxy: external_services.global overrides the legacy key",
        json: r#"{"http_proxy": "http://legacy:1", "external_services": {"global": {"http_proxy": "http://g:1"}}}"#,
        env: &[],
        check: |l| l.config.legacy.http_proxy.is_some(),
        warning: "http_proxy: the legacy key (legacy:http_proxy) is overridden by external_services.global.http_proxy",
    },
];

fn options(strict: bool) -> LoadOptions {
    LoadOptions::default().with_strict(strict)
}

#[test]
fn every_shape_tyk_accepts_loads_with_tyks_value_and_a_warning() {
    for row in ROWS {
        let env = EnvSnapshot::from_iter(row.env.iter().copied());
        let loaded = load_str(row.json, "tyk.conf", &env, &options(false))
            .unwrap_or_else(|e| panic!("{}: refused: {e}", row.go_rule));
        assert!(
            (row.check)(&loaded),
            "{}: wrong value: {:?}",
            row.go_rule,
            loaded.config
        );
        if row.warning.is_empty() {
            assert_eq!(loaded.warnings, Vec::<String>::new(), "{}", row.go_rule);
        } else {
            assert!(
                loaded.warnings.iter().any(|w| w.starts_with(row.warning)),
                "{}: no warning starting {:?} in {:#?}",
                row.go_rule,
                row.warning,
                loaded.warnings
            );
        }
    }
}

#[test]
fn strict_turns_each_warning_into_an_error() {
    for row in ROWS.iter().filter(|r| !r.warning.is_empty()) {
        let env = EnvSnapshot::from_iter(row.env.iter().copied());
        let errors = load_str(row.json, "tyk.conf", &env, &options(true))
            .err()
            .unwrap_or_else(|| panic!("{}: --strict accepted it", row.go_rule));
        let text = errors.to_string();
        // The unknown key keeps its own error; every other warning is said as it was.
        let expected = row
            .warning
            .split(": unknown key, ignored (as Tyk ignores it)")
            .next()
            .unwrap_or(row.warning);
        assert!(text.contains(expected), "{}: {text}", row.go_rule);
    }
}

#[test]
fn go_booleans_in_every_spelling_and_nothing_else() {
    for (text, want) in [
        ("1", true),
        ("t", true),
        ("T", true),
        ("TRUE", true),
        ("true", true),
        ("True", true),
        ("0", false),
        ("f", false),
        ("F", false),
        ("FALSE", false),
        ("false", false),
        ("False", false),
    ] {
        let env = EnvSnapshot::from_iter([("TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_ENABLED", text)]);
        let loaded = load_str("{}", "tyk.conf", &env, &options(true)).unwrap();
        let enabled = loaded.config.service(ServiceKind::Oauth).proxy.enabled.clone().unwrap();
        assert_eq!(enabled.value, want, "{text}");
    }
    for text in ["yes", "on", "2", "tr"] {
        let env = EnvSnapshot::from_iter([("TYK_GW_OMITCONFIGFILE", text)]);
        let errors = load_str("{}", "tyk.conf", &env, &options(false)).unwrap_err();
        assert!(
            errors.to_string().starts_with("TYK_GW_OMITCONFIGFILE: invalid boolean"),
            "{errors}"
        );
    }
}

/// A value that is not UTF-8 (here Latin-1 `true\xa0`) in a variable we read is an error
/// naming it: it was skipped, and a client was built without the mTLS it asked for.
#[test]
fn a_value_that_is_not_utf8_is_an_error_naming_the_variable() {
    let latin1 = |bytes: &[u8]| OsString::from_vec(bytes.to_vec());
    for name in [
        "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_ENABLED",
        "TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_ENABLED",
        "TYK_GW_HTTPPROXY",
        "TYK_GW_SECRET",
        "TYK_GW_OMITCONFIGFILE",
    ] {
        let env = EnvSnapshot::from_os_vars([
            (OsString::from(name), latin1(b"true\xa0")),
            (
                OsString::from("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE"),
                OsString::from("/c.pem"),
            ),
            (
                OsString::from("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_KEY_FILE"),
                OsString::from("/k.pem"),
            ),
        ]);
        let errors = load_str("{}", "tyk.conf", &env, &options(false)).unwrap_err();
        assert!(
            errors
                .0
                .iter()
                .any(|e| e.to_string() == format!("{name}: the value is not valid UTF-8")),
            "{name}: {errors}"
        );
    }
}

#[test]
fn omitting_the_file_still_applies_the_environment() {
    let env = EnvSnapshot::from_iter([
        ("TYK_GW_OMITCONFIGFILE", "true"),
        ("TYK_GW_EXTERNAL_SERVICES_HEALTH_PROXY_ENABLED", "true"),
    ]);
    let loaded = load_str("not even JSON", "tyk.conf", &env, &options(false)).unwrap();
    assert!(loaded.config.service(ServiceKind::Health).proxy.enabled.is_some());
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
}

#[test]
fn a_tls_maximum_below_1_2_stays_an_error() {
    let json =
        r#"{"external_services": {"oauth": {"mtls": {"enabled": true, "ca_file": "/ca", "tls_max_version": "1.1"}}}}"#;
    let errors = support::error_lines(json, &[]);
    assert_eq!(
        errors,
        [
            r#"external_services.oauth.mtls.tls_max_version: TLS version "1.1" is not supported: rustls implements only TLS 1.2 and 1.3"#
        ]
    );
}

/// `secrets://NAME` reads tyk.conf's `secrets` map; `TYK_GW_SECRETS` (Go's map syntax)
/// replaces it whole, as Tyk's envconfig does. Values are never shown.
#[test]
fn the_secrets_map_comes_from_the_file_or_replaces_it_from_the_environment() {
    let json = r#"{"secrets": {"gw-cert": "/etc/tyk/gw.pem", "other": "x"}}"#;
    let loaded = load_str(json, "tyk.conf", &EnvSnapshot::empty(), &options(false)).unwrap();
    let secrets = &loaded.config.secrets;
    assert_eq!(secrets.values["gw-cert"].expose(), "/etc/tyk/gw.pem");
    assert_eq!(secrets.source.as_ref().unwrap().to_string(), "file:secrets");
    assert!(!format!("{:?}", loaded.config).contains("/etc/tyk/gw.pem"));

    let env = EnvSnapshot::from_iter([("TYK_GW_SECRETS", "gw-cert:/run/secrets/gw.pem")]);
    let loaded = load_str(json, "tyk.conf", &env, &options(false)).unwrap();
    let secrets = &loaded.config.secrets;
    assert_eq!(secrets.values.len(), 1);
    assert_eq!(secrets.values["gw-cert"].expose(), "/run/secrets/gw.pem");
    assert_eq!(secrets.source.as_ref().unwrap().to_string(), "env:TYK_GW_SECRETS");

    let errors = load_str(
        r#"{"secrets": {"n": 1}}"#,
        "tyk.conf",
        &EnvSnapshot::empty(),
        &options(false),
    )
    .unwrap_err();
    assert_eq!(errors.to_string(), "secrets.n: expected a string, found a number");
}
