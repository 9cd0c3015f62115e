//! tyk.conf's top-level `storage` section: the gateway's Redis (SPEC section 7).
//!
//! Tyk configures its Redis here (`StorageOptionsConf`), not with a URL: `host`/`port`,
//! `addrs`, `enable_cluster`, `master_name`, `use_ssl`, … and the variables
//! `TYK_GW_STORAGE_*`. This module reads the section from the parsed file and from the
//! environment (variables win), each value with its [`Source`], and decides the topology
//! as Tyk does ([`StorageSettings::topology`]). It is separate from the `external_services`
//! key table: the section belongs to the gateway, and its keys are Tyk's own, with Tyk's
//! types (numbers for `port`, `database`, `timeout`).
//!
//! Names in the file match case-insensitively, as Go's `encoding/json` matches them (a
//! warning names the canonical spelling); variables take the documented spelling
//! (`TYK_GW_STORAGE_MASTER_NAME`) and Tyk's (`TYK_GW_STORAGE_MASTERNAME`); booleans take
//! what Go's `strconv.ParseBool` takes. Passwords ([`StorageSecret`]) are never shown.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;

use crate::error::{ConfigError, Diagnostics};
use crate::json_tree::describe_type;
use crate::{EnvSnapshot, Source, Sourced, TlsVersion};

/// Tyk's default of `storage.timeout`: 5 seconds per command.
#[doc(hidden)]
pub const DEFAULT_STORAGE_TIMEOUT: Duration = Duration::from_secs(5);

/// Tyk's default of `storage.optimisation_max_active`: 500 connections per node.
#[doc(hidden)]
pub const DEFAULT_MAX_ACTIVE: u32 = 500;

/// The address used when the section names none (go-redis's default).
#[doc(hidden)]
pub const DEFAULT_ADDRESS: &str = "localhost:6379";

/// A password of the `storage` section (`password`, `sentinel_password`).
///
/// `Display` and `Debug` show `***`; [`StorageSecret::expose`] gives the value, as written
/// in the file or the variable. The value is read in one place, the storage client's
/// setup, so that a reference (`vault://…`) can be resolved there.
#[derive(Clone, PartialEq, Eq)]
pub struct StorageSecret(Arc<str>);

impl StorageSecret {
    /// Wraps a password.
    pub fn new(secret: impl Into<Arc<str>>) -> StorageSecret {
        StorageSecret(secret.into())
    }

    /// The password as written. Never print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True for `""`, which Tyk treats as no password.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for StorageSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StorageSecret(***)")
    }
}

impl fmt::Display for StorageSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How the gateway reaches its Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageKind {
    /// One node.
    Standalone,
    /// Redis Cluster, the addresses as seeds (`enable_cluster`).
    Cluster,
    /// Sentinel: the addresses are sentinels, asked for the master named `master_name`.
    Sentinel,
}

impl StorageKind {
    /// `standalone`, `cluster` or `sentinel` (the `probe --storage` JSON's `topology.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            StorageKind::Standalone => "standalone",
            StorageKind::Cluster => "cluster",
            StorageKind::Sentinel => "sentinel",
        }
    }
}

impl fmt::Display for StorageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The topology Tyk would build from a [`StorageSettings`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageTopology {
    /// Standalone, Cluster or Sentinel, and the key that decided it.
    pub kind: Sourced<StorageKind>,
    /// `host:port` of the node, the cluster's seeds or the sentinels, and the key they
    /// came from (`addrs`, `hosts` or `host`/`port`).
    pub addresses: Sourced<Vec<String>>,
}

/// The `storage` section as read (`None`: not set). Built by the loader; `Default` is
/// an empty section (one node at [`DEFAULT_ADDRESS`]).
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageSettings {
    /// `type` (Tyk knows only `redis`).
    pub kind_name: Option<Sourced<String>>,
    /// `host`.
    pub host: Option<Sourced<String>>,
    /// `port` (0 counts as not set, as in Tyk).
    pub port: Option<Sourced<u16>>,
    /// `addrs`: `host:port` entries.
    pub addrs: Option<Sourced<Vec<String>>>,
    /// The deprecated `hosts` map (`host` → `port`), as `host:port` entries in name order.
    pub hosts: Option<Sourced<Vec<String>>>,
    /// `username` (Redis 6 ACL).
    pub username: Option<Sourced<String>>,
    /// `password`.
    pub password: Option<Sourced<StorageSecret>>,
    /// `database`.
    pub database: Option<Sourced<u32>>,
    /// `enable_cluster`.
    pub enable_cluster: Option<Sourced<bool>>,
    /// `master_name`: set, the addresses are sentinels.
    pub master_name: Option<Sourced<String>>,
    /// `sentinel_password`.
    pub sentinel_password: Option<Sourced<StorageSecret>>,
    /// `use_ssl`.
    pub use_ssl: Option<Sourced<bool>>,
    /// `ssl_insecure_skip_verify`.
    pub ssl_insecure_skip_verify: Option<Sourced<bool>>,
    /// `ca_file`.
    pub ca_file: Option<Sourced<PathBuf>>,
    /// `cert_file`.
    pub cert_file: Option<Sourced<PathBuf>>,
    /// `key_file`.
    pub key_file: Option<Sourced<PathBuf>>,
    /// `tls_max_version`.
    pub tls_max_version: Option<Sourced<TlsVersion>>,
    /// `tls_min_version`.
    pub tls_min_version: Option<Sourced<TlsVersion>>,
    /// `timeout` in seconds (0 counts as not set).
    pub timeout: Option<Sourced<Duration>>,
    /// `optimisation_max_idle`.
    pub optimisation_max_idle: Option<Sourced<u32>>,
    /// `optimisation_max_active` (0 counts as not set).
    pub optimisation_max_active: Option<Sourced<u32>>,
}

impl fmt::Debug for StorageSettings {
    /// Every field; the passwords as `***` (or `None`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = |s: &Option<Sourced<StorageSecret>>| s.as_ref().map(|s| format!("*** ({})", s.source));
        f.debug_struct("StorageSettings")
            .field("type", &self.kind_name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("addrs", &self.addrs)
            .field("hosts", &self.hosts)
            .field("username", &self.username)
            .field("password", &secret(&self.password))
            .field("database", &self.database)
            .field("enable_cluster", &self.enable_cluster)
            .field("master_name", &self.master_name)
            .field("sentinel_password", &secret(&self.sentinel_password))
            .field("use_ssl", &self.use_ssl)
            .field("ssl_insecure_skip_verify", &self.ssl_insecure_skip_verify)
            .field("ca_file", &self.ca_file.as_ref().map(|p| crate::shown(&p.value)))
            .field("cert_file", &self.cert_file.as_ref().map(|p| crate::shown(&p.value)))
            .field("key_file", &self.key_file.as_ref().map(|p| crate::shown(&p.value)))
            .field("tls_max_version", &self.tls_max_version)
            .field("tls_min_version", &self.tls_min_version)
            .field("timeout", &self.timeout)
            .field("optimisation_max_idle", &self.optimisation_max_idle)
            .field("optimisation_max_active", &self.optimisation_max_active)
            .finish()
    }
}

fn is_true(value: &Option<Sourced<bool>>) -> bool {
    value.as_ref().is_some_and(|v| v.value)
}

impl StorageSettings {
    /// The topology, as Tyk chooses it: `master_name` set → Sentinel (Tyk checks it
    /// first; `enable_cluster` is then ignored), else `enable_cluster` → Cluster, else one
    /// node; the addresses from `addrs`, else the deprecated `hosts`, else `host`:`port`
    /// (else [`DEFAULT_ADDRESS`]).
    pub fn topology(&self) -> StorageTopology {
        let kind = match (&self.master_name, &self.enable_cluster) {
            (Some(name), _) if !name.value.is_empty() => Sourced::new(StorageKind::Sentinel, name.source.clone()),
            (_, Some(cluster)) if cluster.value => Sourced::new(StorageKind::Cluster, cluster.source.clone()),
            _ => Sourced::default_value(StorageKind::Standalone),
        };
        let listed = |list: &Option<Sourced<Vec<String>>>| list.clone().filter(|l| !l.value.is_empty());
        let addresses = listed(&self.addrs)
            .or_else(|| listed(&self.hosts))
            .or_else(|| {
                let port = self.port.as_ref().filter(|p| p.value != 0)?;
                let host = self.host.as_ref().map_or("", |h| h.value.as_str());
                let host = if host.is_empty() { "localhost" } else { host };
                Some(Sourced::new(
                    vec![join_host_port(host, port.value)],
                    port.source.clone(),
                ))
            })
            .unwrap_or_else(|| Sourced::default_value(vec![DEFAULT_ADDRESS.to_owned()]));
        StorageTopology { kind, addresses }
    }

    /// The deadline of each command: `timeout` seconds, default 5 (0 means the default,
    /// as in Tyk).
    pub fn timeout(&self) -> Duration {
        self.timeout
            .as_ref()
            .map(|t| t.value)
            .filter(|t| !t.is_zero())
            .unwrap_or(DEFAULT_STORAGE_TIMEOUT)
    }

    /// The cap on connections per node: `optimisation_max_active`, default 500.
    pub fn max_active(&self) -> u32 {
        self.optimisation_max_active
            .as_ref()
            .map(|m| m.value)
            .filter(|m| *m != 0)
            .unwrap_or(DEFAULT_MAX_ACTIVE)
    }

    /// `use_ssl`.
    pub fn use_ssl(&self) -> bool {
        is_true(&self.use_ssl)
    }

    /// `database`, default 0.
    pub fn database(&self) -> u32 {
        self.database.as_ref().map_or(0, |d| d.value)
    }

    /// True when any of the section's own TLS keys is set (`ca_file`, `cert_file`,
    /// `key_file`, the versions, `ssl_insecure_skip_verify`): with `use_ssl`, they apply
    /// when `external_services.storage.mtls` is not enabled.
    pub fn has_tls_keys(&self) -> bool {
        self.ca_file.is_some()
            || self.cert_file.is_some()
            || self.key_file.is_some()
            || self.tls_min_version.is_some()
            || self.tls_max_version.is_some()
            || is_true(&self.ssl_insecure_skip_verify)
    }
}

/// `host:port`, with brackets around an IPv6 literal.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The shape of one key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    String,
    Secret,
    Path,
    Port,
    Count,
    Seconds,
    Bool,
    Addresses,
    HostMap,
    TlsVersion,
}

/// The section's keys: Tyk's JSON names (`StorageOptionsConf`) and their shapes.
const KEYS: [(&str, Shape); 21] = [
    ("type", Shape::String),
    ("host", Shape::String),
    ("port", Shape::Port),
    ("addrs", Shape::Addresses),
    ("hosts", Shape::HostMap),
    ("username", Shape::String),
    ("password", Shape::Secret),
    ("database", Shape::Count),
    ("enable_cluster", Shape::Bool),
    ("master_name", Shape::String),
    ("sentinel_password", Shape::Secret),
    ("use_ssl", Shape::Bool),
    ("ssl_insecure_skip_verify", Shape::Bool),
    ("ca_file", Shape::Path),
    ("cert_file", Shape::Path),
    ("key_file", Shape::Path),
    ("tls_max_version", Shape::TlsVersion),
    ("tls_min_version", Shape::TlsVersion),
    ("timeout", Shape::Seconds),
    ("optimisation_max_idle", Shape::Count),
    ("optimisation_max_active", Shape::Count),
];

/// The names of the section's keys, in Tyk's order (for the configuration reference).
#[doc(hidden)]
pub fn storage_key_names() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|(name, _)| *name)
}

/// One value, read.
enum Value {
    Text(String),
    Number(u64),
    Bool(bool),
    List(Vec<String>),
}

/// Reads the `storage` section of `root` (the parsed tyk.conf, `None` without a file) and
/// the `<prefix>STORAGE_*` variables; every problem is reported with its key path or
/// variable.
pub(crate) fn read_storage(
    root: Option<&Json>,
    env: &EnvSnapshot,
    prefix: &str,
    diagnostics: &mut Diagnostics,
) -> StorageSettings {
    let mut settings = StorageSettings::default();
    if let Some(section) = root.and_then(|r| section_of(r, diagnostics)) {
        read_file_section(section, &mut settings, diagnostics);
    }
    read_env_section(env, prefix, &mut settings, diagnostics);
    check_settings(&settings, diagnostics);
    settings
}

/// The top-level `storage` object (matched case-insensitively, as Go does).
fn section_of<'j>(root: &'j Json, diagnostics: &mut Diagnostics) -> Option<&'j serde_json::Map<String, Json>> {
    let Json::Object(top) = root else { return None };
    let (name, value) = top
        .get_key_value("storage")
        .or_else(|| top.iter().find(|(k, _)| k.eq_ignore_ascii_case("storage")))?;
    match value {
        Json::Object(section) => {
            if name != "storage" {
                diagnostics.warn(format!(
                    "{}: read as storage (Go matches key names case-insensitively; write storage)",
                    crate::escaped(name)
                ));
            }
            Some(section)
        }
        Json::Null => None,
        other => {
            diagnostics.error(
                "storage",
                ConfigError::WrongType {
                    path: "storage".to_owned(),
                    expected: "an object",
                    found: describe_type(other),
                },
            );
            None
        }
    }
}

fn read_file_section(
    section: &serde_json::Map<String, Json>,
    settings: &mut StorageSettings,
    diagnostics: &mut Diagnostics,
) {
    for (written, value) in section {
        let canonical = KEYS
            .iter()
            .find(|(name, _)| name == written)
            .or_else(|| KEYS.iter().find(|(name, _)| name.eq_ignore_ascii_case(written)));
        let Some(&(name, shape)) = canonical else {
            let suggestion = crate::suggest::closest(written, storage_key_names())
                .map(|s| format!("; did you mean {s}?"))
                .unwrap_or_default();
            diagnostics.warn(format!(
                "storage.{}: unknown key, ignored (Tyk ignores it too){suggestion}",
                crate::escaped(written)
            ));
            continue;
        };
        let path = format!("storage.{name}");
        if name != written {
            diagnostics.warn(format!(
                "storage.{}: read as {path} (Go matches key names case-insensitively; write {name})",
                crate::escaped(written)
            ));
        }
        if value.is_null() {
            continue;
        }
        let read = match (shape, value) {
            (Shape::String | Shape::Secret | Shape::Path | Shape::TlsVersion, Json::String(s)) => {
                Ok(Value::Text(s.clone()))
            }
            (Shape::Port | Shape::Count | Shape::Seconds, Json::Number(n)) => {
                n.as_u64().map(Value::Number).ok_or("a whole number from 0 up")
            }
            (Shape::Bool, Json::Bool(b)) => Ok(Value::Bool(*b)),
            (Shape::Addresses, Json::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(|s| s.trim().to_owned()))
                .collect::<Option<Vec<_>>>()
                .map(Value::List)
                .ok_or("an array of \"host:port\" strings"),
            (Shape::HostMap, Json::Object(map)) => map
                .iter()
                .map(|(host, port)| {
                    let port = match port {
                        Json::String(p) => Some(p.clone()),
                        Json::Number(n) => Some(n.to_string()),
                        _ => None,
                    };
                    port.map(|p| format!("{host}:{p}"))
                })
                .collect::<Option<Vec<_>>>()
                .map(Value::List)
                .ok_or("an object of host → port"),
            (shape, _) => Err(expected(shape)),
        };
        match read {
            Ok(value) => store(settings, name, &path, value, Source::File(path.clone()), diagnostics),
            Err(expected) => diagnostics.error(
                path.clone(),
                ConfigError::WrongType {
                    path,
                    expected,
                    found: if shape == Shape::Secret {
                        // Never the value of a password.
                        describe_type(value)
                    } else {
                        format!("{} {}", describe_type(value), crate::shown(&value.to_string()))
                    },
                },
            ),
        }
    }
}

fn expected(shape: Shape) -> &'static str {
    match shape {
        Shape::String | Shape::Secret | Shape::Path | Shape::TlsVersion => "a string",
        Shape::Port => "a port number (0 to 65535)",
        Shape::Count | Shape::Seconds => "a whole number from 0 up",
        Shape::Bool => "true or false",
        Shape::Addresses => "an array of \"host:port\" strings",
        Shape::HostMap => "an object of host → port",
    }
}

/// `TYK_GW_STORAGE_MASTER_NAME` (documented) and `TYK_GW_STORAGE_MASTERNAME` (Tyk's): the
/// documented spelling wins when both are set; a warning when they differ.
fn read_env_section(env: &EnvSnapshot, prefix: &str, settings: &mut StorageSettings, diagnostics: &mut Diagnostics) {
    let section = format!("{prefix}STORAGE_");
    for (variable, _) in env.with_prefix(&section) {
        let name = &variable[section.len()..];
        let known = KEYS
            .iter()
            .any(|(key, _)| name == key.to_ascii_uppercase() || name == key.replace('_', "").to_ascii_uppercase());
        if !known {
            let suggestion = crate::suggest::closest(name, storage_key_names())
                .map(|s| format!("; did you mean {section}{}?", s.to_ascii_uppercase()))
                .unwrap_or_default();
            diagnostics.warn(format!(
                "{}: unknown variable, ignored{suggestion}",
                crate::shown(variable)
            ));
        }
    }
    for &(name, shape) in &KEYS {
        let documented = format!("{prefix}STORAGE_{}", name.to_ascii_uppercase());
        let tyk = format!("{prefix}STORAGE_{}", name.replace('_', "").to_ascii_uppercase());
        // A value that is not UTF-8 is an error naming the variable, never skipped.
        let mut checked = |name: &str| match env.get_checked(name) {
            Ok(value) => value,
            Err(error) => {
                diagnostics.error(format!("storage.{name}"), error);
                None
            }
        };
        let (documented_value, tyk_value) = (checked(&documented), checked(&tyk));
        let (variable, text) = match (documented_value, tyk_value) {
            (Some(a), Some(b)) if documented != tyk && a != b => {
                diagnostics.warn(format!(
                    "{documented} and {tyk} are both set and differ; {documented} is used"
                ));
                (documented, a)
            }
            (Some(a), _) => (documented, a),
            (None, Some(b)) => (tyk, b),
            (None, None) => continue,
        };
        let path = format!("storage.{name}");
        let invalid = |message: String| ConfigError::InvalidEnvValue {
            variable: variable.clone(),
            message,
        };
        let read = match shape {
            Shape::String | Shape::Secret | Shape::Path | Shape::TlsVersion => Ok(Value::Text(text.to_owned())),
            Shape::Port | Shape::Count | Shape::Seconds => {
                text.trim().parse::<u64>().map(Value::Number).map_err(|_| {
                    invalid(format!(
                        "invalid number \"{}\": expected {}",
                        crate::shown(&text),
                        expected(shape)
                    ))
                })
            }
            Shape::Bool => crate::env_layer::parse_go_bool(text).map(Value::Bool).map_err(invalid),
            Shape::Addresses => Ok(Value::List(split_list(text))),
            Shape::HostMap => Ok(Value::List(split_list(text))),
        };
        match read {
            Ok(value) => store(
                settings,
                name,
                &variable,
                value,
                Source::Env(variable.clone()),
                diagnostics,
            ),
            Err(error) => diagnostics.error(path, error),
        }
    }
}

/// Comma separated, entries trimmed, empty ones dropped (envconfig's lists and maps:
/// `host:port,host:port`).
fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Puts `value` of key `name` into `settings`; `shown_as` (the key path or variable)
/// names it in errors.
fn store(
    settings: &mut StorageSettings,
    name: &str,
    shown_as: &str,
    value: Value,
    source: Source,
    diagnostics: &mut Diagnostics,
) {
    let path = format!("storage.{name}");
    let error = |diagnostics: &mut Diagnostics, message: String| {
        diagnostics.error(
            path.clone(),
            ConfigError::Invalid {
                path: shown_as.to_owned(),
                message,
            },
        )
    };
    match (name, value) {
        ("type", Value::Text(t)) => settings.kind_name = Some(Sourced::new(t, source)),
        ("host", Value::Text(t)) => settings.host = Some(Sourced::new(t, source)),
        ("username", Value::Text(t)) => settings.username = Some(Sourced::new(t, source)),
        ("master_name", Value::Text(t)) => settings.master_name = Some(Sourced::new(t, source)),
        ("password", Value::Text(t)) => settings.password = Some(Sourced::new(StorageSecret::new(t), source)),
        ("sentinel_password", Value::Text(t)) => {
            settings.sentinel_password = Some(Sourced::new(StorageSecret::new(t), source))
        }
        ("ca_file" | "cert_file" | "key_file", Value::Text(t)) => {
            // `""` is Tyk's zero value: not set.
            if t.is_empty() {
                return;
            }
            let file = Some(Sourced::new(PathBuf::from(t), source));
            match name {
                "ca_file" => settings.ca_file = file,
                "cert_file" => settings.cert_file = file,
                _ => settings.key_file = file,
            }
        }
        ("tls_max_version" | "tls_min_version", Value::Text(t)) => {
            if t.is_empty() {
                return;
            }
            match TlsVersion::parse(&t) {
                Ok(version) => {
                    let version = Some(Sourced::new(version, source));
                    if name == "tls_max_version" {
                        settings.tls_max_version = version;
                    } else {
                        settings.tls_min_version = version;
                    }
                }
                Err(_) if name == "tls_min_version" && matches!(t.trim(), "1.0" | "1.1") => {
                    // As a minimum, Tyk's 1.0/1.1 mean "at least": 1.2 here (SPEC section 3).
                    diagnostics.warn(format!(
                        "{shown_as}: TLS {} is not offered (rustls implements only 1.2 and 1.3); the minimum is 1.2",
                        t.trim()
                    ));
                    settings.tls_min_version = Some(Sourced::new(TlsVersion::Tls12, source));
                }
                Err(e) => error(diagnostics, e),
            }
        }
        ("port", Value::Number(n)) => match u16::try_from(n) {
            Ok(port) => settings.port = Some(Sourced::new(port, source)),
            Err(_) => error(diagnostics, format!("port {n} is not from 0 to 65535")),
        },
        ("database" | "optimisation_max_idle" | "optimisation_max_active", Value::Number(n)) => {
            let Ok(n32) = u32::try_from(n) else {
                return error(diagnostics, format!("{n} is too large"));
            };
            match name {
                "database" => settings.database = Some(Sourced::new(n32, source)),
                "optimisation_max_idle" => settings.optimisation_max_idle = Some(Sourced::new(n32, source)),
                _ => settings.optimisation_max_active = Some(Sourced::new(n32, source)),
            }
        }
        ("timeout", Value::Number(n)) => {
            // A year at most: a bigger deadline is none, and must not overflow a clock.
            settings.timeout = Some(Sourced::new(Duration::from_secs(n.min(365 * 24 * 3600)), source))
        }
        ("enable_cluster", Value::Bool(b)) => settings.enable_cluster = Some(Sourced::new(b, source)),
        ("use_ssl", Value::Bool(b)) => settings.use_ssl = Some(Sourced::new(b, source)),
        ("ssl_insecure_skip_verify", Value::Bool(b)) => {
            settings.ssl_insecure_skip_verify = Some(Sourced::new(b, source))
        }
        ("addrs" | "hosts", Value::List(entries)) => {
            let mut good = Vec::with_capacity(entries.len());
            for (i, entry) in entries.iter().enumerate() {
                match check_address(entry) {
                    Ok(()) => good.push(entry.clone()),
                    Err(reason) => error(diagnostics, format!("entry {i} \"{}\": {reason}", crate::shown(entry))),
                }
            }
            if name == "addrs" {
                settings.addrs = Some(Sourced::new(good, source));
            } else {
                if !good.is_empty() {
                    diagnostics.warn(format!(
                        "{shown_as}: deprecated (Tyk reads it only when addrs is empty); write the addresses in storage.addrs"
                    ));
                }
                settings.hosts = Some(Sourced::new(good, source));
            }
        }
        _ => unreachable!("each key's shape is read into its value kind"),
    }
}

/// `host:port` with a port from 1 to 65535 (IPv6 literals in brackets).
fn check_address(entry: &str) -> Result<(), &'static str> {
    let (host, port) = entry.rsplit_once(':').ok_or("expected host:port")?;
    if host.is_empty() || host == "[]" {
        return Err("no host");
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err("an IPv6 address needs brackets: [addr]:port");
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '@'))
    {
        return Err("the host has characters a host name cannot have");
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(()),
        _ => Err("the port must be a number from 1 to 65535"),
    }
}

/// Warnings about combinations Tyk accepts but would surprise an operator.
fn check_settings(settings: &StorageSettings, diagnostics: &mut Diagnostics) {
    if let Some(kind) = &settings.kind_name {
        if !kind.value.is_empty() && !kind.value.eq_ignore_ascii_case("redis") {
            diagnostics.warn(format!(
                "storage.type ({}): \"{}\" is not redis; storage is read as Redis (the only type Tyk supports)",
                kind.source,
                crate::shown(&kind.value)
            ));
        }
    }
    let topology = settings.topology();
    if topology.kind.value == StorageKind::Sentinel && is_true(&settings.enable_cluster) {
        diagnostics.warn(
            "storage.enable_cluster: ignored, because storage.master_name is set (Sentinel; Tyk checks master_name first)",
        );
    }
    if topology.kind.value == StorageKind::Standalone && topology.addresses.value.len() > 1 {
        diagnostics.warn(format!(
            "storage: {} addresses but neither enable_cluster nor master_name; one node is used, {} (as Tyk)",
            topology.addresses.value.len(),
            crate::shown(&topology.addresses.value[0])
        ));
    }
    if let (Some(min), Some(max)) = (&settings.tls_min_version, &settings.tls_max_version) {
        if min.value > max.value {
            diagnostics.error(
                "storage.tls_min_version",
                ConfigError::TlsVersionRange {
                    path: "storage".to_owned(),
                    min: min.value,
                    max: max.value,
                },
            );
        }
    }
    if settings.cert_file.is_some() != settings.key_file.is_some() {
        diagnostics.error(
            "storage.cert_file",
            ConfigError::IncompleteClientCertificate {
                path: "storage".to_owned(),
            },
        );
    }
    if settings.has_tls_keys() && !settings.use_ssl() {
        diagnostics.warn("storage: TLS keys are set but use_ssl is not true; Redis is reached without TLS (as Tyk)");
    }
    if is_true(&settings.ssl_insecure_skip_verify) && settings.use_ssl() {
        diagnostics.warn(
            "storage.ssl_insecure_skip_verify: the Redis server's certificate is not verified; do not use in production",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str, env: &[(&str, &str)]) -> (StorageSettings, Diagnostics) {
        let mut diagnostics = Diagnostics::default();
        let root: Json = serde_json::from_str(json).unwrap();
        let env = EnvSnapshot::from_iter(env.iter().copied());
        let settings = read_storage(Some(&root), &env, "TYK_GW_", &mut diagnostics);
        (settings, diagnostics)
    }

    #[test]
    fn tyk_precedence_addrs_over_hosts_over_host_and_port() {
        let (s, d) = read(
            r#"{"storage": {"host": "h", "port": 6380, "hosts": {"a": "1", "b": "2"}, "addrs": ["x:7000", "y:7001"], "enable_cluster": true}}"#,
            &[],
        );
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        let t = s.topology();
        assert_eq!(t.kind.value, StorageKind::Cluster);
        assert_eq!(t.kind.source.to_string(), "file:storage.enable_cluster");
        assert_eq!(t.addresses.value, ["x:7000", "y:7001"]);
        assert_eq!(t.addresses.source.to_string(), "file:storage.addrs");
        assert!(
            d.warnings.iter().any(|w| w.contains("storage.hosts: deprecated")),
            "{:?}",
            d.warnings
        );

        let (s, _) = read(r#"{"storage": {"host": "h", "port": 6380, "hosts": {"a": "1"}}}"#, &[]);
        assert_eq!(s.topology().addresses.value, ["a:1"]);
        let (s, _) = read(r#"{"storage": {"host": "h", "port": 6380}}"#, &[]);
        let t = s.topology();
        assert_eq!(
            (t.kind.value, t.addresses.value.as_slice()),
            (StorageKind::Standalone, &["h:6380".to_owned()][..])
        );
        let (s, _) = read(r#"{}"#, &[]);
        assert_eq!(s.topology().addresses.value, [DEFAULT_ADDRESS]);
        assert_eq!((s.timeout(), s.max_active()), (Duration::from_secs(5), 500));
    }

    #[test]
    fn master_name_means_sentinel_even_with_enable_cluster_and_env_wins() {
        let (s, d) = read(
            r#"{"Storage": {"Master_Name": "mymaster", "enable_cluster": true, "addrs": ["s1:26379"], "timeout": 2}}"#,
            &[
                ("TYK_GW_STORAGE_ADDRS", "s1:26379, s2:26380"),
                ("TYK_GW_STORAGE_SENTINELPASSWORD", "sentinel-s3cret"),
                ("TYK_GW_STORAGE_USESSL", "T"),
            ],
        );
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        let t = s.topology();
        assert_eq!(t.kind.value, StorageKind::Sentinel);
        assert_eq!(t.addresses.value, ["s1:26379", "s2:26380"]);
        assert_eq!(t.addresses.source.to_string(), "env:TYK_GW_STORAGE_ADDRS");
        assert!(s.use_ssl());
        assert_eq!(s.timeout(), Duration::from_secs(2));
        let warnings = d.warnings.join("\n");
        assert!(warnings.contains("enable_cluster: ignored"), "{warnings}");
        assert!(
            warnings.contains("Master_Name: read as storage.master_name"),
            "{warnings}"
        );
        assert!(warnings.contains("Storage: read as storage"), "{warnings}");
        let shown = format!("{s:?}");
        assert!(!shown.contains("sentinel-s3cret") && shown.contains("***"), "{shown}");
    }

    #[test]
    fn bad_values_name_their_key_or_variable_and_never_show_a_password() {
        let (_, d) = read(
            r#"{"storage": {"port": 70000, "addrs": ["nohost", "h:0"], "password": 12345, "use_ssl": "yes", "cert_file": "/c.pem", "tls_min_version": "1.3", "tls_max_version": "1.2", "colour": 1}}"#,
            &[
                ("TYK_GW_STORAGE_ENABLE_CLUSTER", "yes"),
                ("TYK_GW_STORAGE_TIMEOUT", "5s"),
            ],
        );
        let errors: Vec<String> = d.errors.iter().map(ToString::to_string).collect();
        let all = errors.join("\n");
        for expected in [
            "storage.port: port 70000 is not from 0 to 65535",
            "storage.addrs: entry 0 \"nohost\": expected host:port",
            "storage.addrs: entry 1 \"h:0\": the port must be",
            "storage.password: expected a string, found a number",
            "storage.use_ssl: expected true or false",
            "TYK_GW_STORAGE_ENABLE_CLUSTER: invalid boolean \"yes\"",
            "TYK_GW_STORAGE_TIMEOUT: invalid number \"5s\"",
            "storage: tls_min_version 1.3 is greater than tls_max_version 1.2",
            "storage: invalid mTLS configuration: both cert_file and key_file",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in\n{all}");
        }
        assert!(!all.contains("12345"), "{all}");
        assert!(
            d.warnings.iter().any(|w| w.contains("storage.colour: unknown key")),
            "{:?}",
            d.warnings
        );
    }

    #[test]
    fn the_sections_tls_keys_apply_when_the_mtls_block_is_not_enabled() {
        let (s, _) = read(
            r#"{"storage": {"use_ssl": true, "ca_file": "/ca.pem", "ssl_insecure_skip_verify": true}}"#,
            &[],
        );
        let with = |storage: &StorageSettings, block: crate::MtlsSettings| {
            let mut config = crate::ExternalServicesConfig {
                storage: storage.clone(),
                ..Default::default()
            };
            config.service_mut(crate::ServiceKind::Storage).mtls = block;
            config.storage_mtls()
        };
        let block = with(&s, crate::MtlsSettings::default()).unwrap();
        assert!(block.enabled.unwrap().value);
        assert_eq!(block.ca_file.unwrap().value, PathBuf::from("/ca.pem"));
        assert!(block.insecure_skip_verify.unwrap().value);
        let enabled = crate::MtlsSettings {
            enabled: Some(Sourced::default_value(true)),
            cert_id: Some(Sourced::default_value("id".to_owned())),
            ..Default::default()
        };
        let merged = with(&s, enabled.clone()).unwrap();
        assert_eq!((merged.cert_id.unwrap().value.as_str(), merged.ca_file), ("id", None));
        let (plain, _) = read(r#"{"storage": {"ca_file": "/ca.pem"}}"#, &[]);
        assert_eq!(with(&plain, enabled), None);
        let (bare, _) = read(r#"{"storage": {"use_ssl": true}}"#, &[]);
        assert_eq!(with(&bare, crate::MtlsSettings::default()), None);
    }

    #[test]
    fn go_booleans_and_both_variable_spellings() {
        let (s, d) = read(
            "{}",
            &[("TYK_GW_STORAGE_USESSL", "T"), ("TYK_GW_STORAGE_ENABLE_CLUSTER", "0")],
        );
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        assert!(s.use_ssl() && !s.enable_cluster.unwrap().value);
        let (s, d) = read(
            "{}",
            &[("TYK_GW_STORAGE_MASTER_NAME", "a"), ("TYK_GW_STORAGE_MASTERNAME", "b")],
        );
        assert_eq!(s.master_name.unwrap().value, "a");
        assert!(d.warnings[0].contains("both set and differ"), "{:?}", d.warnings);
        let (_, d) = read("{}", &[("TYK_GW_STORAGE_MASTER_NAM", "a")]);
        assert_eq!(
            d.warnings,
            ["TYK_GW_STORAGE_MASTER_NAM: unknown variable, ignored; did you mean TYK_GW_STORAGE_MASTER_NAME?"]
        );
    }
}
