//! The `external_services` section of a Tyk Gateway `tyk.conf`, as data.
//!
//! This crate exists so that every other extsvc crate works on *validated* values
//! that remember where they came from. It:
//! - parses the file into a private serde model, with every field optional and unknown
//!   keys inside `external_services` rejected;
//! - loads a tyk.conf and an explicit [`EnvSnapshot`] into an [`ExternalServicesConfig`]
//!   whose every value is [`Sourced`] (`file:…`, `env:…`, `legacy:…`);
//! - validates everything that needs no I/O and reports *every* problem with its key path;
//!   [`load_file_lenient`] returns the model *with* its errors ([`LoadReport`]), so that
//!   `extsvc check` can still check what the errors leave usable;
//! - lets a gateway with its own settings format set the same keys in code
//!   ([`ExternalServicesConfig::builder`]), validated the same way.
//!
//! It does no network I/O and never parses certificate files (it provides `read_bounded`,
//! the size- and type-checked read that `extsvc-tls` uses for them, in the hidden
//! `internal` module); the process
//! environment is read only by [`EnvSnapshot::from_process_env`], when a caller asks for
//! it. `extsvc-resolve` applies the precedence rules on top of it.

mod bounded_file;
mod bypass_entry;
mod code;
mod encoding_secret;
mod env;
mod env_layer;
mod error;
mod file;
mod file_layer;
mod json_tree;
mod keys;
mod kv;
mod kv_keys;
mod layer;
mod load;
mod model;
mod mtls_rules;
mod per_service;
mod proxy_url;
mod redact;
mod reference;
mod secret_reference;
mod service;
mod shown;
mod source;
mod storage;
mod suggest;
mod tls_version;
mod tyk_merge;
mod validate;

pub use bypass_entry::{BypassEntry, InvalidBypassEntry};
pub use code::{ExternalServicesConfigBuilder, MtlsBuilder, ProxyBuilder};
pub use encoding_secret::EncodingSecret;
pub use env::EnvSnapshot;
pub use error::{ConfigError, ConfigErrors};
pub use load::{load_env, load_file, load_file_lenient, load_str, load_str_lenient, LoadOptions, LoadReport, Loaded};
pub use model::{
    CertificateStoreSettings, ExternalServicesConfig, LegacySettings, MtlsSettings, ProxySettings, ServiceSettings,
};
pub use per_service::PerService;
pub use proxy_url::{InvalidProxyUrl, ProxyScheme, ProxyUrl};
pub use secret_reference::{
    ConsulSettings, ConsulTlsSettings, KvSettings, SecretReference, SecretText, SecretsSettings, VaultSettings,
};
pub use service::{ServiceKind, UnknownServiceKind};
// How the workspace echoes values in messages (escaped, capped, userinfo redacted): a
// rule of this workspace's own messages, hidden from a user's view.
#[doc(hidden)]
pub use shown::{escaped, shown, SHOWN_LIMIT};
pub use source::{Source, Sourced};
pub use storage::{
    storage_key_names, StorageKind, StorageSecret, StorageSettings, StorageTopology, DEFAULT_ADDRESS,
    DEFAULT_MAX_ACTIVE, DEFAULT_STORAGE_TIMEOUT,
};
pub use tls_version::TlsVersion;

/// What the workspace's other crates, its tests, fuzz targets and bench call below the
/// documented surface: the bounded file reader (extsvc-tls reads PEM files with it), the
/// key table and the generated reference, the bypass-list parser and URL redaction. Not
/// part of the API: no stability promise, hidden from the docs (rustls' `internal`
/// pattern).
#[doc(hidden)]
pub mod internal {
    pub use crate::bounded_file::{read_bounded, BoundedReadError, CONFIG_FILE_LIMIT, PEM_FILE_LIMIT};
    pub use crate::bypass_entry::parse_bypass_list;
    pub use crate::keys::{find_key, KeySpec, KeyType, KEYS};
    pub use crate::redact::redact_url_credentials;
    pub use crate::reference::configuration_reference_markdown;
}
