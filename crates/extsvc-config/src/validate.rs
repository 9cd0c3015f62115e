//! From the effective tyk.conf (file merged with environment) to the validated model.
//!
//! Each value is paired with the [`Source`] figment recorded for it and checked; a bad
//! value is reported against whichever source set it (the dotted key path, the
//! variable, or the legacy key), and every problem is collected.

use std::path::PathBuf;

use crate::bypass_entry::parse_bypass_list;
use crate::error::{ConfigError, Diagnostics};
use crate::file::{GlobalFile, MtlsFile, TykConfFile};
use crate::keys::find_key;
use crate::layer::Layered;
use crate::per_service::PerService;
use crate::redact::redact_url_credentials;
use crate::{
    CertificateStoreSettings, ExternalServicesConfig, LegacySettings, MtlsSettings, ProxySettings, ProxyUrl,
    ServiceKind, ServiceSettings, Source, Sourced, TlsVersion,
};

/// Builds and validates the model.
pub(crate) fn build_config(
    file: &TykConfFile,
    layered: &Layered,
    diagnostics: &mut Diagnostics,
) -> ExternalServicesConfig {
    let mut builder = Builder { layered, diagnostics };
    let external = file.external_services.clone().unwrap_or_default();
    let global = builder.proxy_block("external_services.global", external.global.as_ref());
    let legacy = LegacySettings {
        http_proxy: file.http_proxy.as_ref().map(|v| builder.proxy_url("http_proxy", v)),
        https_proxy: file.https_proxy.as_ref().map(|v| builder.proxy_url("https_proxy", v)),
        jwt_ssl_insecure_skip_verify: file
            .jwt_ssl_insecure_skip_verify
            .map(|v| Sourced::new(v, builder.source("jwt_ssl_insecure_skip_verify"))),
    };
    let services = PerService::from_fn(|kind| {
        let block = external.service(kind);
        let proxy = builder.proxy_block(
            &format!("external_services.{kind}.proxy"),
            block.and_then(|b| b.proxy.as_ref()),
        );
        let mtls = builder.mtls_block(kind, block.and_then(|b| b.mtls.as_ref()), &legacy);
        ServiceSettings { proxy, mtls }
    });
    let certificate_store = CertificateStoreSettings {
        private_certificate_encoding_secret: file
            .security
            .as_ref()
            .and_then(|s| s.private_certificate_encoding_secret.clone())
            .map(|v| Sourced::new(v, builder.source("security.private_certificate_encoding_secret"))),
        secret: file.secret.clone().map(|v| Sourced::new(v, builder.source("secret"))),
    };
    ExternalServicesConfig {
        global,
        services,
        legacy,
        certificate_store,
        // Read beside the model, by `storage` (not a key of this table).
        storage: crate::StorageSettings::default(),
        secrets: crate::SecretsSettings::default(),
        kv: crate::KvSettings::default(),
    }
}

struct Builder<'a> {
    layered: &'a Layered,
    diagnostics: &'a mut Diagnostics,
}

/// The name to put in front of a message about a value from `source`.
fn subject(source: &Source) -> String {
    match source {
        Source::File(path) | Source::Legacy(path) | Source::Env(path) | Source::Code(path) => path.clone(),
        Source::Fallback(http_proxy) => subject(http_proxy),
        Source::Default => "default".to_owned(),
    }
}

impl Builder<'_> {
    fn source(&self, path: &str) -> Source {
        match find_key(path) {
            Some(key) => self.layered.source(key),
            None => Source::File(path.to_owned()),
        }
    }

    fn proxy_block(&mut self, block: &str, file: Option<&GlobalFile>) -> ProxySettings {
        // Destructured without `..`: a field added to the proxy block's list in `keys`
        // does not compile until it is validated here.
        let Some(GlobalFile {
            enabled,
            http_proxy,
            https_proxy,
            bypass_proxy,
        }) = file
        else {
            return ProxySettings::default();
        };
        ProxySettings {
            enabled: enabled.map(|v| Sourced::new(v, self.source(&format!("{block}.enabled")))),
            http_proxy: http_proxy
                .as_ref()
                .map(|v| self.proxy_url(&format!("{block}.http_proxy"), v)),
            https_proxy: https_proxy
                .as_ref()
                .map(|v| self.proxy_url(&format!("{block}.https_proxy"), v)),
            bypass_proxy: bypass_proxy
                .as_ref()
                .map(|v| self.bypass_list(&format!("{block}.bypass_proxy"), v)),
        }
    }

    /// `""` (or blanks) is "set to no proxy"; anything else must parse.
    fn proxy_url(&mut self, path: &str, raw: &str) -> Sourced<Option<ProxyUrl>> {
        let source = self.source(path);
        if raw.trim().is_empty() {
            return Sourced::new(None, source);
        }
        let url = match ProxyUrl::parse(raw) {
            Ok(url) => {
                if url.scheme_assumed() {
                    self.diagnostics.warn(format!(
                        "{}: no scheme in \"{}\", assuming http://",
                        subject(&source),
                        crate::shown(raw.trim())
                    ));
                }
                Some(url)
            }
            Err(e) => {
                self.diagnostics.error(
                    path,
                    ConfigError::InvalidProxyUrl {
                        path: subject(&source),
                        value: crate::shown(raw).to_string(),
                        reason: e.reason,
                    },
                );
                None
            }
        };
        Sourced::new(url, source)
    }

    fn bypass_list(&mut self, path: &str, raw: &str) -> Sourced<Vec<crate::BypassEntry>> {
        let source = self.source(path);
        let (entries, invalid) = parse_bypass_list(raw);
        for bad in invalid {
            // An entry with `user:password@` in it is a mistake, and the parser's reason
            // may quote the password: say what is wrong without it.
            let (entry, reason) = if bad.entry.contains('@') {
                (
                    crate::shown(&bad.entry).to_string(),
                    "a bypass entry cannot contain \"@\" (credentials do not belong here)".to_owned(),
                )
            } else {
                (crate::escaped(&bad.entry).to_string(), bad.reason)
            };
            self.diagnostics.error(
                path,
                ConfigError::InvalidBypassEntry {
                    path: subject(&source),
                    entry,
                    reason,
                },
            );
        }
        Sourced::new(entries, source)
    }

    /// An optional string where `""` counts as not set.
    fn non_empty(&self, path: &str, value: Option<&String>) -> Option<Sourced<String>> {
        value
            .filter(|v| !v.is_empty())
            .map(|v| Sourced::new(v.clone(), self.source(path)))
    }

    fn tls_version(&mut self, path: &str, value: Option<&String>) -> Option<Sourced<TlsVersion>> {
        let raw = value.filter(|v| !v.trim().is_empty())?;
        let source = self.source(path);
        // Tyk accepts 1.0 and 1.1. As a minimum they mean 1.2 here (stricter, never
        // weaker); as a maximum nothing could satisfy them, so they stay an error.
        if path.ends_with(".tls_min_version") && TlsVersion::is_below_tls12(raw) {
            self.diagnostics.warn(format!(
                "{}: TLS version \"{}\" is below 1.2: using 1.2 as the minimum (TLS 1.0 and 1.1 are not offered; \
                 rustls implements only 1.2 and 1.3)",
                subject(&source),
                crate::shown(raw.trim())
            ));
            return Some(Sourced::new(TlsVersion::Tls12, source));
        }
        match TlsVersion::parse(raw) {
            Ok(version) => Some(Sourced::new(version, source)),
            Err(message) => {
                // The message quotes the value; a value with `user:password@` in it is
                // never a version, so parsing the redacted text gives the same message
                // without the password.
                let message = if raw.contains('@') {
                    TlsVersion::parse(&redact_url_credentials(raw)).err().unwrap_or(message)
                } else {
                    message
                };
                self.diagnostics.error(
                    path,
                    ConfigError::InvalidTlsVersion {
                        path: subject(&source),
                        message,
                    },
                );
                None
            }
        }
    }

    fn mtls_block(&mut self, kind: ServiceKind, file: Option<&MtlsFile>, legacy: &LegacySettings) -> MtlsSettings {
        let block = format!("external_services.{kind}.mtls");
        // Destructured without `..`, as in `proxy_block`.
        let Some(MtlsFile {
            enabled,
            cert_file,
            key_file,
            ca_file,
            cert_id,
            ca_cert_ids,
            insecure_skip_verify,
            tls_min_version,
            tls_max_version,
        }) = file
        else {
            return MtlsSettings::default();
        };
        let path = |field: &str| format!("{block}.{field}");
        // As in a variable's comma-separated list (SPEC section 1): entries trimmed,
        // empty ones dropped.
        let ca_cert_ids: Option<Vec<String>> = ca_cert_ids.as_ref().map(|ids| {
            ids.iter()
                .map(|id| id.trim())
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect()
        });
        let settings = MtlsSettings {
            enabled: enabled.map(|v| Sourced::new(v, self.source(&path("enabled")))),
            cert_file: self
                .non_empty(&path("cert_file"), cert_file.as_ref())
                .map(|s| s.map(PathBuf::from)),
            key_file: self
                .non_empty(&path("key_file"), key_file.as_ref())
                .map(|s| s.map(PathBuf::from)),
            ca_file: self
                .non_empty(&path("ca_file"), ca_file.as_ref())
                .map(|s| s.map(PathBuf::from)),
            cert_id: self.non_empty(&path("cert_id"), cert_id.as_ref()),
            ca_cert_ids: ca_cert_ids
                .filter(|ids| !ids.is_empty())
                .map(|ids| Sourced::new(ids, self.source(&path("ca_cert_ids")))),
            insecure_skip_verify: insecure_skip_verify
                .map(|v| Sourced::new(v, self.source(&path("insecure_skip_verify")))),
            tls_min_version: self.tls_version(&path("tls_min_version"), tls_min_version.as_ref()),
            tls_max_version: self.tls_version(&path("tls_max_version"), tls_max_version.as_ref()),
        };

        let diagnostics = &mut *self.diagnostics;
        for problem in crate::mtls_rules::mtls_problems(kind, &settings, legacy, |path| diagnostics.was_rejected(path))
        {
            diagnostics.error(&block, problem);
        }
        settings
    }
}
