//! `extsvc resolve`: every service's effective settings, each with its source.

use std::fmt::Write as _;
use std::process::ExitCode;

use extsvc::config::{shown, EnvSnapshot, SecretReference, Source, Sourced, StorageSecret, StorageSettings};
use extsvc::resolve::{CaSource, ClientCertificateSource, Resolution, ResolvedService, SystemRoots};
use serde_json::{json, Value};

use crate::args::{ConfigArgs, Format};
use crate::load::load_and_resolve;
use crate::output::{config_errors, print_json, print_stdout, print_warnings, proxy_json, sourced_json};

pub(crate) fn run(args: &ConfigArgs, env: &EnvSnapshot, format: Format) -> ExitCode {
    let loaded = match load_and_resolve(args, env) {
        Ok(loaded) => loaded,
        Err(errors) => return config_errors(&errors),
    };
    let services = loaded.resolution.services().values();
    match format {
        Format::Json => {
            let mut map = serde_json::Map::new();
            for service in services {
                map.insert(service.kind.to_string(), service_json(service));
            }
            print_json(&json!({
                "services": map,
                "certificate_store": certificate_store_json(&loaded.resolution),
                "storage_redis": storage_json(&loaded.storage.0, loaded.storage.1),
                "warnings": loaded.warnings,
            }));
        }
        Format::Text => {
            print_warnings(&loaded.warnings);
            let mut text: Vec<String> = services.iter().map(service_text).collect();
            text.push(certificate_store_text(&loaded.resolution));
            text.push(storage_text(&storage_json(&loaded.storage.0, loaded.storage.1)));
            print_stdout(text.join("\n").trim_end());
        }
    }
    ExitCode::SUCCESS
}

/// SPEC section 5: whether the store's encoding secret is set and where from, never its value.
fn certificate_store_json(resolution: &Resolution) -> Value {
    let secret = resolution.encoding_secret();
    let mut encoding_secret = json!({
        "set": secret.is_some(),
        "source": secret.map_or_else(|| "default".to_owned(), |s| s.source.to_string()),
    });
    // A reference names where the secret is (`vault://…`), not the secret: its notation is
    // shown (SPEC section 6), and `resolve` never looks it up (`check` does).
    let reference = secret.and_then(|s| {
        std::str::from_utf8(s.value.expose())
            .ok()
            .and_then(SecretReference::parse)
    });
    if let Some(reference) = reference {
        encoding_secret["reference"] = json!(reference.notation());
    }
    json!({ "encoding_secret": encoding_secret })
}

/// The notation of a path field that is a secret reference (SPEC section 6): `"vault"`,
/// `"env"`, …; `None` for a plain path. `resolve` shows it and never resolves it.
fn reference(path: &std::path::Path) -> Option<&'static str> {
    path.to_str().and_then(SecretReference::parse).map(|r| r.notation())
}

/// tyk.conf's `storage` section as `storage_redis()` builds it (SPEC section 7): the
/// topology, addresses, TLS and the sources; of the passwords only whether they are set.
fn storage_json(storage: &StorageSettings, mtls_enabled: bool) -> Value {
    let topology = storage.topology();
    let source = |s: Option<&Source>| s.map_or_else(|| "default".to_owned(), ToString::to_string);
    let secret = |s: &Option<Sourced<StorageSecret>>| {
        json!({
            "set": s.as_ref().is_some_and(|p| !p.value.is_empty()),
            "source": source(s.as_ref().map(|p| &p.source)),
        })
    };
    let tls_from = match (storage.use_ssl(), mtls_enabled, storage.has_tls_keys()) {
        (false, _, _) => "none",
        (true, true, _) => "external_services.storage.mtls",
        (true, false, true) => "storage",
        (true, false, false) => "system roots",
    };
    json!({
        "kind": sourced_json(&topology.kind, |k| Value::from(k.as_str())),
        "addresses": sourced_json(&topology.addresses, |a| {
            Value::from(a.iter().map(|a| shown(a).to_string()).collect::<Vec<_>>())
        }),
        "master_name": storage.master_name.as_ref().map_or(Value::Null, |m| sourced_json(m, |m| Value::from(shown(m).to_string()))),
        "database": {"value": storage.database(), "source": source(storage.database.as_ref().map(|d| &d.source))},
        "username": storage.username.as_ref().map_or(Value::Null, |u| sourced_json(u, |u| Value::from(shown(u).to_string()))),
        "password": secret(&storage.password),
        "sentinel_password": secret(&storage.sentinel_password),
        "tls": {
            "use_ssl": {"value": storage.use_ssl(), "source": source(storage.use_ssl.as_ref().map(|u| &u.source))},
            "settings_from": tls_from,
            "insecure_skip_verify": storage.ssl_insecure_skip_verify.as_ref().is_some_and(|i| i.value),
        },
        "timeout_secs": {"value": storage.timeout().as_secs(), "source": source(storage.timeout.as_ref().map(|t| &t.source))},
        "max_active": {"value": storage.max_active(), "source": source(storage.optimisation_max_active.as_ref().map(|m| &m.source))},
    })
}

fn storage_text(json: &Value) -> String {
    let mut text = String::from(
        "storage (tyk.conf's storage section: the gateway's Redis)
",
    );
    let line = |text: &mut String, name: &str, value: &Value| {
        let shown = match &value["value"] {
            Value::String(s) => s.clone(),
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
            other => other.to_string(),
        };
        let _ = writeln!(text, "  {name:<18} {shown}  {}", value["source"].as_str().unwrap_or(""));
    };
    line(&mut text, "kind", &json["kind"]);
    line(&mut text, "addresses", &json["addresses"]);
    if !json["master_name"].is_null() {
        line(&mut text, "master_name", &json["master_name"]);
    }
    line(&mut text, "database", &json["database"]);
    for secret in ["password", "sentinel_password"] {
        let set = if json[secret]["set"] == true {
            "set (value not shown)"
        } else {
            "not set"
        };
        let _ = writeln!(
            text,
            "  {secret:<18} {set}  {}",
            json[secret]["source"].as_str().unwrap_or("")
        );
    }
    line(&mut text, "use_ssl", &json["tls"]["use_ssl"]);
    let _ = writeln!(
        text,
        "  {:<18} {}",
        "tls settings",
        json["tls"]["settings_from"].as_str().unwrap_or("")
    );
    line(&mut text, "timeout_secs", &json["timeout_secs"]);
    text
}

fn certificate_store_text(resolution: &Resolution) -> String {
    let line = match resolution.encoding_secret() {
        Some(secret) => format!("set (value not shown)  {}", secret.source),
        None => "not set (encrypted store keys cannot be decrypted)".to_owned(),
    };
    format!("certificate store\n  encoding secret  {line}\n")
}

fn bypass_strings(service: &ResolvedService) -> Vec<String> {
    service
        .proxy
        .bypass
        .value
        .entries()
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn client_certificate_json(cert: &ClientCertificateSource) -> Value {
    match cert {
        ClientCertificateSource::None => json!({ "kind": "none" }),
        ClientCertificateSource::File {
            cert_file,
            key_file,
            source,
        } => json!({
            "kind": "file", "cert_file": shown(cert_file).to_string(), "key_file": shown(key_file).to_string(), "source": source.to_string(),
            "reference": reference(cert_file), "key_reference": reference(key_file)
        }),
        ClientCertificateSource::Store { cert_id, source } => json!({
            "kind": "store", "cert_id": shown(cert_id).to_string(), "source": source.to_string()
        }),
    }
}

/// The operating system's roots (SPEC section 3): `"system"`, with where they are looked
/// for when a variable says so; `resolve` reads no file, so it does not count them
/// (`check` does).
fn system_roots_json(roots: &SystemRoots) -> Value {
    json!({
        "kind": "system",
        "ssl_cert_file": roots.cert_file.as_ref().map(|f| shown(&f.value).to_string()),
        "ssl_cert_dir": roots.cert_dirs.as_ref().map(|d| d.value.iter().map(|p| shown(p).to_string()).collect::<Vec<_>>()),
        "source": match (&roots.cert_file, &roots.cert_dirs) {
            (None, None) => "default".to_owned(),
            (Some(f), None) => f.source.to_string(),
            (None, Some(d)) => d.source.to_string(),
            (Some(f), Some(d)) => format!("{} {}", f.source, d.source),
        },
    })
}

fn ca_json(ca: &CaSource, roots: &SystemRoots) -> Value {
    match ca {
        CaSource::DefaultRoots => system_roots_json(roots),
        CaSource::File { ca_file, source } => {
            json!({ "kind": "file", "ca_file": shown(ca_file).to_string(), "source": source.to_string(), "reference": reference(ca_file) })
        }
        CaSource::Store { ca_cert_ids, source } => json!({
            "kind": "store",
            "ca_cert_ids": ca_cert_ids.iter().map(|id| shown(id).to_string()).collect::<Vec<_>>(),
            "source": source.to_string()
        }),
    }
}

/// One service in the `resolve --format json` shape of SPEC section 5.
pub(crate) fn service_json(service: &ResolvedService) -> Value {
    let proxy = &service.proxy;
    let mtls = &service.mtls;
    json!({
        "proxy": {
            "enabled": proxy.enabled,
            "http_proxy": sourced_json(&proxy.http_proxy, proxy_json),
            "https_proxy": sourced_json(&proxy.https_proxy, proxy_json),
            "bypass_proxy": sourced_json(&proxy.bypass, |_| json!(bypass_strings(service))),
        },
        "mtls": {
            "enabled": mtls.enabled,
            "client_certificate": client_certificate_json(&mtls.client_certificate),
            "ca": ca_json(&mtls.ca, &mtls.system_roots),
            "insecure_skip_verify": sourced_json(&mtls.insecure_skip_verify, |v| json!(v)),
            "tls_min_version": sourced_json(&mtls.tls_min_version, |v| json!(v.as_str())),
            "tls_max_version": sourced_json(&mtls.tls_max_version, |v| json!(v.as_str())),
        },
        "pool": {
            "max_connections": service.pool.max_connections,
            "max_idle_per_host": service.pool.max_idle_per_host,
            "idle_timeout_secs": service.pool.idle_timeout.as_secs(),
        },
        "timeout_secs": service.timeout.as_secs(),
    })
}

/// One service as a readable block: each value, then where it came from.
/// The widest value column of the text output, in characters.
const MAX_VALUE_COLUMN: usize = 80;

fn service_text(service: &ResolvedService) -> String {
    let proxy = &service.proxy;
    let mtls = &service.mtls;
    let mut rows: Vec<(&str, String, String)> = Vec::new();
    let show_proxy =
        |url: &Option<extsvc::config::ProxyUrl>| url.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string);
    if proxy.enabled {
        rows.push(("proxy", "enabled".into(), String::new()));
        rows.push((
            "http_proxy",
            show_proxy(&proxy.http_proxy.value),
            proxy.http_proxy.source.to_string(),
        ));
        rows.push((
            "https_proxy",
            show_proxy(&proxy.https_proxy.value),
            proxy.https_proxy.source.to_string(),
        ));
        let bypass = bypass_strings(service);
        let bypass = if bypass.is_empty() {
            "-".to_owned()
        } else {
            bypass.join(",")
        };
        rows.push(("bypass_proxy", bypass, proxy.bypass.source.to_string()));
    } else {
        rows.push((
            "proxy",
            "disabled: connects directly, ignores HTTP(S)_PROXY/NO_PROXY".into(),
            String::new(),
        ));
    }
    if mtls.enabled {
        let (cert, cert_source) = match &mtls.client_certificate {
            ClientCertificateSource::None => ("none".to_owned(), String::new()),
            ClientCertificateSource::File {
                cert_file,
                key_file,
                source,
            } => (
                format!("file {} (key {})", shown(cert_file), shown(key_file)),
                source.to_string(),
            ),
            ClientCertificateSource::Store { cert_id, source } => {
                (format!("store id {}", shown(cert_id)), source.to_string())
            }
        };
        rows.push(("client cert", cert, cert_source));
        let (ca, ca_source) = match &mtls.ca {
            CaSource::DefaultRoots => ("system roots (as Go finds them)".to_owned(), String::new()),
            CaSource::File { ca_file, source } => (format!("file {}", shown(ca_file)), source.to_string()),
            CaSource::Store { ca_cert_ids, source } => {
                let ids: Vec<String> = ca_cert_ids.iter().map(|id| shown(id).to_string()).collect();
                (format!("store ids {}", ids.join(",")), source.to_string())
            }
        };
        rows.push(("server CA", ca, ca_source));
    } else {
        rows.push((
            "mtls",
            "disabled: no client certificate, system roots".into(),
            String::new(),
        ));
    }
    let insecure = &mtls.insecure_skip_verify;
    rows.push(("insecure", insecure.value.to_string(), insecure.source.to_string()));
    rows.push((
        "tls_min",
        mtls.tls_min_version.value.to_string(),
        mtls.tls_min_version.source.to_string(),
    ));
    rows.push((
        "tls_max",
        mtls.tls_max_version.value.to_string(),
        mtls.tls_max_version.source.to_string(),
    ));
    let pool = service.pool;
    rows.push((
        "pool",
        format!(
            "{} connections, {} idle per host, idle {}s",
            pool.max_connections,
            pool.max_idle_per_host,
            pool.idle_timeout.as_secs()
        ),
        "built-in".into(),
    ));
    rows.push(("timeout", format!("{}s", service.timeout.as_secs()), "built-in".into()));

    // Values align in a column up to MAX_VALUE_COLUMN wide; a longer value (a long bypass
    // list) runs past it rather than widening every row (and a format width is at most
    // 65,535: wider would panic).
    let value_width = rows
        .iter()
        .map(|(_, v, _)| v.chars().count())
        .max()
        .unwrap_or(0)
        .min(MAX_VALUE_COLUMN);
    let mut out = format!("{}\n", service.kind);
    for (name, value, source) in rows {
        let line = format!("  {name:<13}{value:<value_width$}  {source}");
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}
