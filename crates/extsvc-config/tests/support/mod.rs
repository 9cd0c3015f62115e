//! Shared helpers of the extsvc-config integration tests.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different subset of these helpers"
)]

use std::path::PathBuf;

use extsvc_config::{
    load_str, ConfigErrors, EnvSnapshot, ExternalServicesConfig, LoadOptions, Loaded, MtlsSettings, ProxySettings,
    ServiceKind, Sourced,
};

/// A fixture file's text (`tests/fixtures/<name>`).
pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Loads `json` as `tyk.conf` with the given variables and default options.
pub fn load_with_env(json: &str, vars: &[(&str, &str)]) -> Result<Loaded, ConfigErrors> {
    let env = EnvSnapshot::from_iter(vars.iter().copied());
    load_str(json, "tyk.conf", &env, &LoadOptions::default())
}

/// The error messages of a failed load under `strict` (every warning an error).
pub fn strict_error_lines(json: &str, vars: &[(&str, &str)]) -> Vec<String> {
    let env = EnvSnapshot::from_iter(vars.iter().copied());
    let strict = LoadOptions::default().with_strict(true);
    match load_str(json, "tyk.conf", &env, &strict) {
        Ok(loaded) => panic!("expected errors, loaded {:?}", loaded.config),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

/// Loads `json` as `tyk.conf` with an empty environment.
pub fn load(json: &str) -> Result<Loaded, ConfigErrors> {
    load_with_env(json, &[])
}

/// The error messages of a failed load, one string each.
pub fn error_lines(json: &str, vars: &[(&str, &str)]) -> Vec<String> {
    match load_with_env(json, vars) {
        Ok(loaded) => panic!("expected errors, loaded {:?}", loaded.config),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

fn push<T>(
    out: &mut Vec<(String, String, String)>,
    path: &str,
    value: &Option<Sourced<T>>,
    show: impl Fn(&T) -> String,
) {
    if let Some(v) = value {
        out.push((path.to_owned(), show(&v.value), v.source.to_string()));
    }
}

fn proxy_block(out: &mut Vec<(String, String, String)>, block: &str, p: &ProxySettings) {
    let url = |u: &Option<extsvc_config::ProxyUrl>| u.as_ref().map_or_else(String::new, ToString::to_string);
    push(out, &format!("{block}.enabled"), &p.enabled, ToString::to_string);
    push(out, &format!("{block}.http_proxy"), &p.http_proxy, url);
    push(out, &format!("{block}.https_proxy"), &p.https_proxy, url);
    // Bypass *content* is tested with the bypass parser; here only the entry count.
    push(out, &format!("{block}.bypass_proxy"), &p.bypass_proxy, |e| {
        format!("{} entries", e.len())
    });
}

fn mtls_block(out: &mut Vec<(String, String, String)>, block: &str, m: &MtlsSettings) {
    let path = |p: &PathBuf| p.display().to_string();
    push(out, &format!("{block}.enabled"), &m.enabled, ToString::to_string);
    push(out, &format!("{block}.cert_file"), &m.cert_file, path);
    push(out, &format!("{block}.key_file"), &m.key_file, path);
    push(out, &format!("{block}.ca_file"), &m.ca_file, path);
    push(out, &format!("{block}.cert_id"), &m.cert_id, Clone::clone);
    push(out, &format!("{block}.ca_cert_ids"), &m.ca_cert_ids, |ids| {
        ids.join(",")
    });
    push(
        out,
        &format!("{block}.insecure_skip_verify"),
        &m.insecure_skip_verify,
        ToString::to_string,
    );
    push(
        out,
        &format!("{block}.tls_min_version"),
        &m.tls_min_version,
        ToString::to_string,
    );
    push(
        out,
        &format!("{block}.tls_max_version"),
        &m.tls_max_version,
        ToString::to_string,
    );
}

/// Every key that is set, as `(path, value, source)`, in table order: global, the
/// services, legacy. URLs show as their redacted `Display` (`""` for set-to-none).
pub fn set_values(config: &ExternalServicesConfig) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    proxy_block(&mut out, "external_services.global", &config.global);
    for kind in ServiceKind::ALL {
        proxy_block(
            &mut out,
            &format!("external_services.{kind}.proxy"),
            &config.service(kind).proxy,
        );
        mtls_block(
            &mut out,
            &format!("external_services.{kind}.mtls"),
            &config.service(kind).mtls,
        );
    }
    let url = |u: &Option<extsvc_config::ProxyUrl>| u.as_ref().map_or_else(String::new, ToString::to_string);
    push(&mut out, "http_proxy", &config.legacy.http_proxy, url);
    push(&mut out, "https_proxy", &config.legacy.https_proxy, url);
    push(
        &mut out,
        "jwt_ssl_insecure_skip_verify",
        &config.legacy.jwt_ssl_insecure_skip_verify,
        ToString::to_string,
    );
    out
}

/// `(path, value, source)` rows from string slices, for comparing with [`set_values`].
pub fn rows(expected: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    expected
        .iter()
        .map(|(p, v, s)| ((*p).to_owned(), (*v).to_owned(), (*s).to_owned()))
        .collect()
}

/// `rows` where every source is `file:<path>`.
pub fn file_rows(expected: &[(&str, &str)]) -> Vec<(String, String, String)> {
    expected
        .iter()
        .map(|(p, v)| ((*p).to_owned(), (*v).to_owned(), format!("file:{p}")))
        .collect()
}
