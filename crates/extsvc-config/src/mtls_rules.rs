//! The rules an `mtls` block must follow, checked on the model itself: the loader applies
//! them to what it parsed, and [`ExternalServicesConfig::mtls_errors`] to a configuration
//! built in code — so code that skips the loader cannot skip them. `extsvc-resolve` carries
//! the result into each resolved service, and building its TLS fails on any of them.

use crate::error::ConfigError;
use crate::{ExternalServicesConfig, LegacySettings, MtlsSettings, ServiceKind, TlsVersion};

/// The problems of one service's `mtls` block. `was_rejected(field)` tells that a key was
/// set to a value the loader rejected (it counts as set: no second error about it).
pub(crate) fn mtls_problems(
    kind: ServiceKind,
    settings: &MtlsSettings,
    legacy: &LegacySettings,
    was_rejected: impl Fn(&str) -> bool,
) -> Vec<ConfigError> {
    let block = format!("external_services.{kind}.mtls");
    let mut problems = Vec::new();
    let min = settings.tls_min_version.as_ref().map_or(TlsVersion::Tls12, |v| v.value);
    let max = settings.tls_max_version.as_ref().map_or(TlsVersion::Tls13, |v| v.value);
    if min > max {
        problems.push(ConfigError::TlsVersionRange {
            path: block.clone(),
            min,
            max,
        });
    }
    if !settings.enabled.as_ref().is_some_and(|e| e.value) {
        return problems;
    }
    // The block's own key, else (oauth only) the legacy one: what `extsvc-resolve`
    // applies to an enabled block. Resolution also warns when it is true.
    let legacy_insecure = legacy
        .jwt_ssl_insecure_skip_verify
        .as_ref()
        .filter(|_| kind == ServiceKind::Oauth);
    let insecure = settings
        .insecure_skip_verify
        .as_ref()
        .or(legacy_insecure)
        .is_some_and(|s| s.value);
    let set = |present: bool, field: &str| present || was_rejected(&format!("{block}.{field}"));
    let cert_id = set(settings.cert_id.is_some(), "cert_id");
    let cert_file = set(settings.cert_file.is_some(), "cert_file");
    let key_file = set(settings.key_file.is_some(), "key_file");
    let ca = set(settings.ca_file.is_some(), "ca_file") || set(settings.ca_cert_ids.is_some(), "ca_cert_ids");
    let insecure = set(insecure, "insecure_skip_verify");
    if !cert_id && cert_file != key_file {
        problems.push(ConfigError::IncompleteClientCertificate { path: block.clone() });
    }
    if !cert_id && !cert_file && !key_file && !ca && !insecure {
        problems.push(ConfigError::NoCertificateConfiguration { path: block.clone() });
    }
    // What the loader turns into "not set", built in code: refused rather than guessed.
    let empty = |field: &str, is_empty: bool| {
        is_empty.then(|| ConfigError::Invalid {
            path: format!("{block}.{field}"),
            message: "empty value".to_owned(),
        })
    };
    problems.extend(
        [
            empty(
                "cert_file",
                settings
                    .cert_file
                    .as_ref()
                    .is_some_and(|v| v.value.as_os_str().is_empty()),
            ),
            empty(
                "key_file",
                settings
                    .key_file
                    .as_ref()
                    .is_some_and(|v| v.value.as_os_str().is_empty()),
            ),
            empty(
                "ca_file",
                settings
                    .ca_file
                    .as_ref()
                    .is_some_and(|v| v.value.as_os_str().is_empty()),
            ),
            empty("cert_id", settings.cert_id.as_ref().is_some_and(|v| v.value.is_empty())),
            empty(
                "ca_cert_ids",
                settings
                    .ca_cert_ids
                    .as_ref()
                    .is_some_and(|v| v.value.is_empty() || v.value.iter().any(|id| id.trim().is_empty())),
            ),
        ]
        .into_iter()
        .flatten(),
    );
    problems
}

impl ExternalServicesConfig {
    /// The problems of one service's `mtls` block: the rules the loader enforces
    /// (`cert_file` and `key_file` together, something configured when enabled, versions
    /// in order, no empty value), with the loader's messages. Empty for a configuration the
    /// loader returned; for one built in code, `extsvc-resolve` puts them in the
    /// resolution and building the service's TLS fails with them.
    ///
    /// ```
    /// use std::path::PathBuf;
    /// use extsvc_config::{ExternalServicesConfig, ServiceKind, Source, Sourced};
    ///
    /// let mut config = ExternalServicesConfig::default();
    /// let mtls = &mut config.service_mut(ServiceKind::Oauth).mtls;
    /// mtls.enabled = Some(Sourced::new(true, Source::Default));
    /// mtls.cert_file = Some(Sourced::new(PathBuf::from("/c.pem"), Source::Default));
    /// let errors = config.mtls_errors(ServiceKind::Oauth);
    /// assert_eq!(
    ///     errors[0].to_string(),
    ///     "external_services.oauth.mtls: invalid mTLS configuration: both cert_file and key_file must be specified for file-based configuration"
    /// );
    /// ```
    pub fn mtls_errors(&self, kind: ServiceKind) -> Vec<ConfigError> {
        mtls_problems(kind, &self.service(kind).mtls, &self.legacy, |_| false)
    }
}
