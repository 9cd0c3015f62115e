//! TLS precedence (SPEC section 3): which client certificate, which roots, which versions.

use std::fmt;
use std::path::PathBuf;

use extsvc_config::{
    shown, ConfigError, EncodingSecret, ExternalServicesConfig, ServiceKind, Source, Sourced, TlsVersion,
};

use crate::defaults::sourced_default;

/// Where the client certificate comes from. `Debug` shows paths and ids through
/// [`extsvc_config::shown`] (no pasted PEM text).
#[derive(Clone, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "closed set: SPEC section 3's ways to a client certificate (store, files, none), which callers match"
)]
pub enum ClientCertificateSource {
    /// No client certificate is presented.
    None,
    /// PEM files.
    File {
        /// The certificate chain.
        cert_file: PathBuf,
        /// The private key.
        key_file: PathBuf,
        /// Where `cert_file` was set.
        source: Source,
    },
    /// The certificate store, by id.
    Store {
        /// The id.
        cert_id: String,
        /// Where `cert_id` was set.
        source: Source,
    },
}

/// Which roots verify the server's certificate. `Debug` shows paths and ids through
/// [`extsvc_config::shown`].
#[derive(Clone, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "closed set: SPEC section 3's ways to roots (store, file, default roots), which callers match"
)]
pub enum CaSource {
    /// The operating system's roots ([`ResolvedMtls::system_roots`]), as Go finds them;
    /// webpki-roots only when the system has none. `resolve` shows it as `"system"`.
    DefaultRoots,
    /// A PEM bundle file (replaces the default roots).
    File {
        /// The bundle.
        ca_file: PathBuf,
        /// Where it was set.
        source: Source,
    },
    /// CA certificates from the store (replace the default roots).
    Store {
        /// The ids, in order.
        ca_cert_ids: Vec<String>,
        /// Where they were set.
        source: Source,
    },
}

impl fmt::Debug for ClientCertificateSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientCertificateSource::None => f.write_str("None"),
            ClientCertificateSource::File {
                cert_file,
                key_file,
                source,
            } => f
                .debug_struct("File")
                .field("cert_file", &shown(cert_file))
                .field("key_file", &shown(key_file))
                .field("source", source)
                .finish(),
            ClientCertificateSource::Store { cert_id, source } => f
                .debug_struct("Store")
                .field("cert_id", &shown(cert_id))
                .field("source", source)
                .finish(),
        }
    }
}

impl fmt::Debug for CaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaSource::DefaultRoots => f.write_str("DefaultRoots"),
            CaSource::File { ca_file, source } => f
                .debug_struct("File")
                .field("ca_file", &shown(ca_file))
                .field("source", source)
                .finish(),
            CaSource::Store { ca_cert_ids, source } => f
                .debug_struct("Store")
                .field("ca_cert_ids", &ca_cert_ids.iter().map(shown).collect::<Vec<_>>())
                .field("source", source)
                .finish(),
        }
    }
}

/// The TLS settings one service uses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvedMtls {
    /// `mtls.enabled` was true.
    pub enabled: bool,
    /// The client certificate, if any.
    pub client_certificate: ClientCertificateSource,
    /// The roots for server verification.
    pub ca: CaSource,
    /// Skip verification of the target's certificate (never of a proxy's).
    pub insecure_skip_verify: Sourced<bool>,
    /// Lowest TLS version offered.
    pub tls_min_version: Sourced<TlsVersion>,
    /// Highest TLS version offered.
    pub tls_max_version: Sourced<TlsVersion>,
    /// What is wrong with the block ([`ExternalServicesConfig::mtls_errors`]: e.g.
    /// `cert_file` without `key_file` in a configuration built in code). Building this
    /// service's TLS fails with the first of them: a block that asks for a client
    /// certificate never turns into a client without one.
    pub errors: Vec<ConfigError>,
    /// The secret that decrypts private keys kept encrypted in the certificate store
    /// (the same for every service; see [`Resolution::encoding_secret`](crate::Resolution::encoding_secret)).
    pub encoding_secret: Option<Sourced<EncodingSecret>>,
    /// Where the operating system's roots are found (the same for every service): the
    /// roots of [`CaSource::DefaultRoots`], and of every proxy leg.
    pub system_roots: SystemRoots,
}

/// Where the operating system's trusted roots are looked for, as Go's `crypto/x509`
/// looks on Linux (SPEC section 3), read from the environment snapshot:
/// `SSL_CERT_FILE` replaces the platform's bundle files, `SSL_CERT_DIR` (a `:`-separated
/// list) its certificate directories; an empty variable counts as unset. `extsvc-tls`
/// loads them.
#[doc(hidden)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SystemRoots {
    /// `SSL_CERT_FILE`.
    pub cert_file: Option<Sourced<PathBuf>>,
    /// `SSL_CERT_DIR`, split on `:`.
    pub cert_dirs: Option<Sourced<Vec<PathBuf>>>,
}

impl SystemRoots {
    /// Reads `SSL_CERT_FILE` and `SSL_CERT_DIR` from `env` (paths need not be UTF-8).
    pub fn from_env(env: &extsvc_config::EnvSnapshot) -> SystemRoots {
        let set = |name: &str| env.get_os(name).filter(|v| !v.is_empty());
        SystemRoots {
            cert_file: set("SSL_CERT_FILE")
                .map(|file| Sourced::new(PathBuf::from(file), Source::Env("SSL_CERT_FILE".to_owned()))),
            cert_dirs: set("SSL_CERT_DIR").map(|dirs| {
                let dirs = std::env::split_paths(dirs)
                    .filter(|d| !d.as_os_str().is_empty())
                    .collect();
                Sourced::new(dirs, Source::Env("SSL_CERT_DIR".to_owned()))
            }),
        }
    }
}

/// The certificate store's encoding secret, by Tyk's rule (SPEC sections 1 and 3):
/// `security.private_certificate_encoding_secret` when set and not empty, else the
/// top-level `secret` when set and not empty, else none. Each came from its variable
/// or the file, whichever won in `extsvc-config`.
pub(crate) fn encoding_secret(config: &ExternalServicesConfig) -> Option<Sourced<EncodingSecret>> {
    let store = &config.certificate_store;
    let non_empty = |s: &Option<Sourced<EncodingSecret>>| s.clone().filter(|s| !s.value.is_empty());
    non_empty(&store.private_certificate_encoding_secret).or_else(|| non_empty(&store.secret))
}

pub(crate) fn resolve_mtls(
    config: &ExternalServicesConfig,
    kind: ServiceKind,
    system_roots: &SystemRoots,
    warnings: &mut Vec<String>,
) -> ResolvedMtls {
    let mtls = &config.service(kind).mtls;
    let errors = config.mtls_errors(kind);
    let enabled = mtls.enabled.as_ref().is_some_and(|e| e.value);
    // SPEC section 3: the legacy key applies to oauth only while oauth.mtls.insecure_skip_verify
    // is unset (an explicit `false` in a disabled block still wins over it).
    let legacy_insecure = config
        .legacy
        .jwt_ssl_insecure_skip_verify
        .clone()
        .filter(|_| kind == ServiceKind::Oauth && mtls.insecure_skip_verify.is_none());

    // SPEC section 3: honoured with or without `mtls.enabled`, as Tyk honours it.
    let insecure_skip_verify = mtls
        .insecure_skip_verify
        .clone()
        .or(legacy_insecure)
        .unwrap_or_else(|| sourced_default(false));
    warn_insecure(kind, &insecure_skip_verify, warnings);

    if !enabled {
        let ignored = [
            mtls.cert_file.is_some(),
            mtls.key_file.is_some(),
            mtls.ca_file.is_some(),
            mtls.cert_id.is_some(),
            mtls.ca_cert_ids.is_some(),
            mtls.tls_min_version.is_some(),
            mtls.tls_max_version.is_some(),
        ];
        if ignored.contains(&true) {
            let but = if mtls.insecure_skip_verify.is_some() {
                " (insecure_skip_verify still applies, as in Tyk)"
            } else {
                ""
            };
            warnings.push(format!(
                "external_services.{kind}.mtls: settings ignored because mtls.enabled is not true{but}"
            ));
        }
        return ResolvedMtls {
            enabled: false,
            client_certificate: ClientCertificateSource::None,
            ca: CaSource::DefaultRoots,
            insecure_skip_verify,
            tls_min_version: sourced_default(TlsVersion::Tls12),
            tls_max_version: sourced_default(TlsVersion::Tls13),
            errors,
            encoding_secret: encoding_secret(config),
            system_roots: system_roots.clone(),
        };
    }

    let client_certificate = match (&mtls.cert_id, &mtls.cert_file, &mtls.key_file) {
        (Some(id), files_cert, files_key) => {
            if files_cert.is_some() || files_key.is_some() {
                tracing::info!(service = %kind, cert_id = %shown(&id.value), "cert_id takes precedence: cert_file/key_file are ignored");
            }
            ClientCertificateSource::Store {
                cert_id: id.value.clone(),
                source: id.source.clone(),
            }
        }
        (None, Some(cert), Some(key)) => ClientCertificateSource::File {
            cert_file: cert.value.clone(),
            key_file: key.value.clone(),
            source: cert.source.clone(),
        },
        // A lone cert_file or key_file is in `errors` (extsvc-config's rules), which
        // building the TLS refuses.
        (None, _, _) => ClientCertificateSource::None,
    };
    let ca = match (&mtls.ca_cert_ids, &mtls.ca_file) {
        (Some(ids), file) => {
            if file.is_some() {
                tracing::info!(service = %kind, "ca_cert_ids take precedence: ca_file is ignored");
            }
            CaSource::Store {
                ca_cert_ids: ids.value.clone(),
                source: ids.source.clone(),
            }
        }
        (None, Some(file)) => CaSource::File {
            ca_file: file.value.clone(),
            source: file.source.clone(),
        },
        (None, None) => CaSource::DefaultRoots,
    };
    ResolvedMtls {
        enabled: true,
        client_certificate,
        ca,
        insecure_skip_verify,
        tls_min_version: mtls
            .tls_min_version
            .clone()
            .unwrap_or_else(|| sourced_default(TlsVersion::Tls12)),
        tls_max_version: mtls
            .tls_max_version
            .clone()
            .unwrap_or_else(|| sourced_default(TlsVersion::Tls13)),
        errors,
        encoding_secret: encoding_secret(config),
        system_roots: system_roots.clone(),
    }
}

/// The one warning about `insecure_skip_verify` in effect for `kind`, named after the key,
/// variable or legacy key that set it (the place a user has to change).
fn warn_insecure(kind: ServiceKind, insecure: &Sourced<bool>, warnings: &mut Vec<String>) {
    if !insecure.value {
        return;
    }
    let subject = match &insecure.source {
        Source::File(name) | Source::Env(name) | Source::Legacy(name) | Source::Code(name) => name.as_str(),
        _ => "insecure_skip_verify",
    };
    warnings.push(format!(
        "{subject}: true: certificates of {kind} targets are not verified; do not use this in production"
    ));
}

#[cfg(test)]
mod tests {
    use extsvc_config::{load_str, EnvSnapshot, LoadOptions};

    use super::*;

    /// The warnings of resolving every service's TLS settings.
    fn warnings(json: &str, env: &[(&str, &str)]) -> Vec<String> {
        let env = EnvSnapshot::from_iter(env.iter().copied());
        let loaded = load_str(json, "tyk.conf", &env, &LoadOptions::default()).unwrap();
        let mut warnings = Vec::new();
        for kind in ServiceKind::ALL {
            resolve_mtls(&loaded.config, kind, &SystemRoots::default(), &mut warnings);
        }
        warnings
    }

    fn not_verified(subject: &str, kind: &str) -> String {
        format!("{subject}: true: certificates of {kind} targets are not verified; do not use this in production")
    }

    #[test]
    fn insecure_mode_is_warned_once_naming_what_set_it() {
        assert_eq!(
            warnings(r#"{"jwt_ssl_insecure_skip_verify": true}"#, &[]),
            [not_verified("jwt_ssl_insecure_skip_verify", "oauth")]
        );
        assert_eq!(
            warnings(
                r#"{"external_services": {"health": {"mtls": {"enabled": true, "insecure_skip_verify": true}}}}"#,
                &[]
            ),
            [not_verified(
                "external_services.health.mtls.insecure_skip_verify",
                "health"
            )]
        );
        assert_eq!(
            warnings("{}", &[("TYK_GW_JWTSSLINSECURESKIPVERIFY", "1")]),
            [not_verified("TYK_GW_JWTSSLINSECURESKIPVERIFY", "oauth")]
        );
    }

    #[test]
    fn insecure_mode_that_does_not_apply_is_not_warned_about() {
        // An explicit false in a disabled block wins over the legacy key: nothing to warn.
        let json = r#"{"jwt_ssl_insecure_skip_verify": true,
            "external_services": {"oauth": {"mtls": {"insecure_skip_verify": false}}}}"#;
        assert!(warnings(json, &[]).iter().all(|w| !w.contains("not verified")));
    }

    /// SPEC section 3: Tyk honours `insecure_skip_verify: true` without `mtls.enabled`; so
    /// do we, with the same warning as when enabled, and the rest of the block is ignored.
    #[test]
    fn insecure_without_enabled_is_honoured_with_the_same_warning() {
        let json = r#"{"external_services": {"storage": {"mtls": {"insecure_skip_verify": true}}}}"#;
        assert_eq!(
            warnings(json, &[]),
            [not_verified(
                "external_services.storage.mtls.insecure_skip_verify",
                "storage"
            )]
        );
        let env = EnvSnapshot::empty();
        let loaded = load_str(json, "tyk.conf", &env, &LoadOptions::default()).unwrap();
        let storage = crate::resolve(&loaded.config, &env)
            .service(ServiceKind::Storage)
            .mtls
            .clone();
        assert!(storage.insecure_skip_verify.value && !storage.enabled);
        let json = r#"{"external_services": {"storage": {"mtls": {"insecure_skip_verify": true, "ca_file": "/ca"}}}}"#;
        assert_eq!(
            warnings(json, &[]),
            [
                not_verified("external_services.storage.mtls.insecure_skip_verify", "storage"),
                "external_services.storage.mtls: settings ignored because mtls.enabled is not true \
                 (insecure_skip_verify still applies, as in Tyk)"
                    .to_owned()
            ]
        );
    }
}

#[cfg(test)]
mod encoding_secret_tests {
    use extsvc_config::CertificateStoreSettings;

    use super::*;

    fn config(encoding: Option<&str>, secret: Option<&str>) -> ExternalServicesConfig {
        let sourced =
            |v: Option<&str>, source: &str| v.map(|v| Sourced::new(EncodingSecret::new(v), Source::Env(source.into())));
        ExternalServicesConfig {
            certificate_store: CertificateStoreSettings {
                private_certificate_encoding_secret: sourced(encoding, "E"),
                secret: sourced(secret, "S"),
            },
            ..ExternalServicesConfig::default()
        }
    }

    #[test]
    fn tyks_rule_the_first_non_empty_secret_wins() {
        let source = |c: &ExternalServicesConfig| encoding_secret(c).map(|s| s.source.to_string());
        assert_eq!(source(&config(Some("a"), Some("b"))), Some("env:E".into()));
        assert_eq!(source(&config(Some(""), Some("b"))), Some("env:S".into()));
        assert_eq!(source(&config(None, Some("b"))), Some("env:S".into()));
        assert_eq!(source(&config(Some(""), Some(""))), None);
        assert_eq!(source(&config(None, None)), None);
        let resolved = resolve_mtls(
            &config(None, Some("b")),
            ServiceKind::Oauth,
            &SystemRoots::default(),
            &mut Vec::new(),
        );
        assert_eq!(resolved.encoding_secret.unwrap().value.expose(), b"b");
    }
}
