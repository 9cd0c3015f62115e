//! Configuration set in code: [`ExternalServicesConfig::builder`].
//!
//! A gateway with its own settings format sets the same keys a tyk.conf would, through
//! typed setters; [`ExternalServicesConfigBuilder::build`] hands them to the loader in
//! place of the file, so they get the same validation, warnings and key-path errors,
//! with [`Source::Code`](crate::Source::Code) as their source.

use crate::error::{ConfigError, Diagnostics};
use crate::keys::find_key;
use crate::layer::{Layer, LayerKind, RawValue};
use crate::load::load_layers;
use crate::{ConfigErrors, EnvSnapshot, ExternalServicesConfig, LoadOptions, Loaded, ServiceKind};

impl ExternalServicesConfig {
    /// Sets the configuration in code instead of reading a tyk.conf.
    ///
    /// Each setter stands for one key of `external_services` and takes the value as the
    /// file would hold it; [`build`](ExternalServicesConfigBuilder::build) validates them
    /// all, exactly as [`load_str`](crate::load_str) validates a file, and reports every
    /// problem with its key path. Tyk's `TYK_GW_` variables do not apply to it (the
    /// standard `HTTP_PROXY`/`NO_PROXY` variables still do, at resolution).
    ///
    /// ```
    /// use extsvc::config::{ExternalServicesConfig, MtlsBuilder, ProxyBuilder, ServiceKind};
    ///
    /// let loaded = ExternalServicesConfig::builder()
    ///     .global(ProxyBuilder::new().enabled(true).https_proxy("proxy.internal:3128"))
    ///     .mtls(ServiceKind::Oauth, MtlsBuilder::new().enabled(true).cert_file("/c.pem").key_file("/k.pem"))
    ///     .build()
    ///     .unwrap();
    /// let cert = loaded.config.service(ServiceKind::Oauth).mtls.cert_file.clone().unwrap();
    /// assert_eq!(cert.source.to_string(), "code:external_services.oauth.mtls.cert_file");
    /// assert_eq!(loaded.warnings, ["external_services.global.https_proxy: no scheme in \"proxy.internal:3128\", assuming http://"]);
    ///
    /// let errors = ExternalServicesConfig::builder()
    ///     .proxy(ServiceKind::Webhooks, ProxyBuilder::new().http_proxy("http://proxy:99999"))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(errors.to_string().starts_with("external_services.webhooks.proxy.http_proxy: "), "{errors}");
    /// ```
    pub fn builder() -> ExternalServicesConfigBuilder {
        ExternalServicesConfigBuilder::default()
    }
}

/// The values of an [`ExternalServicesConfig`] set in code; see
/// [`ExternalServicesConfig::builder`].
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until it is built"]
pub struct ExternalServicesConfigBuilder {
    values: Vec<(String, RawValue)>,
}

impl ExternalServicesConfigBuilder {
    /// `external_services.global`: the proxy settings every service inherits.
    pub fn global(mut self, proxy: ProxyBuilder) -> Self {
        self.extend("external_services.global", proxy.values);
        self
    }

    /// `external_services.<kind>.proxy`.
    pub fn proxy(mut self, kind: ServiceKind, proxy: ProxyBuilder) -> Self {
        self.extend(&format!("external_services.{kind}.proxy"), proxy.values);
        self
    }

    /// `external_services.<kind>.mtls`.
    pub fn mtls(mut self, kind: ServiceKind, mtls: MtlsBuilder) -> Self {
        self.extend(&format!("external_services.{kind}.mtls"), mtls.values);
        self
    }

    fn extend(&mut self, block: &str, values: Vec<(&'static str, RawValue)>) {
        for (field, value) in values {
            let path = format!("{block}.{field}");
            self.values.retain(|(p, _)| *p != path);
            self.values.push((path, value));
        }
    }

    /// Validates the values as the loader validates a file: every problem, each with its
    /// key path; on success the configuration and its warnings.
    pub fn build(self) -> Result<Loaded, ConfigErrors> {
        let mut layer = Layer::new(LayerKind::Code, "code");
        let mut diagnostics = Diagnostics::default();
        for (path, value) in self.values {
            match find_key(&path) {
                Some(key) => layer.push(key, value),
                // The setters name only known keys; reported rather than panicking.
                None => diagnostics.error(path.clone(), ConfigError::UnknownKey { path, suggestion: None }),
            }
        }
        load_layers(layer, diagnostics, &EnvSnapshot::empty(), &LoadOptions::default())?.into_result()
    }
}

/// A proxy block set in code: `external_services.global` or `external_services.<service>.proxy`.
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until it is passed to ExternalServicesConfigBuilder"]
pub struct ProxyBuilder {
    values: Vec<(&'static str, RawValue)>,
}

impl ProxyBuilder {
    /// An empty block: nothing set.
    pub fn new() -> Self {
        ProxyBuilder::default()
    }

    fn set(mut self, field: &'static str, value: RawValue) -> Self {
        self.values.push((field, value));
        self
    }

    /// `enabled`.
    pub fn enabled(self, enabled: bool) -> Self {
        self.set("enabled", RawValue::Bool(enabled))
    }

    /// `http_proxy`: a proxy URL (`http://…`, `https://…` or `host:port`); `""` sets "no proxy".
    pub fn http_proxy(self, url: impl Into<String>) -> Self {
        self.set("http_proxy", RawValue::String(url.into()))
    }

    /// `https_proxy`: as [`http_proxy`](Self::http_proxy), for `https://` targets.
    pub fn https_proxy(self, url: impl Into<String>) -> Self {
        self.set("https_proxy", RawValue::String(url.into()))
    }

    /// `bypass_proxy`: a comma-separated bypass list (hosts, `.domains`, IPs, CIDRs, `*`).
    pub fn bypass_proxy(self, list: impl Into<String>) -> Self {
        self.set("bypass_proxy", RawValue::String(list.into()))
    }
}

/// An mTLS block set in code: `external_services.<service>.mtls`.
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until it is passed to ExternalServicesConfigBuilder"]
pub struct MtlsBuilder {
    values: Vec<(&'static str, RawValue)>,
}

impl MtlsBuilder {
    /// An empty block: nothing set.
    pub fn new() -> Self {
        MtlsBuilder::default()
    }

    fn set(mut self, field: &'static str, value: RawValue) -> Self {
        self.values.push((field, value));
        self
    }

    /// `enabled`.
    pub fn enabled(self, enabled: bool) -> Self {
        self.set("enabled", RawValue::Bool(enabled))
    }

    /// `cert_file`: the client certificate chain (PEM).
    pub fn cert_file(self, path: impl Into<String>) -> Self {
        self.set("cert_file", RawValue::String(path.into()))
    }

    /// `key_file`: the client certificate's private key (PEM).
    pub fn key_file(self, path: impl Into<String>) -> Self {
        self.set("key_file", RawValue::String(path.into()))
    }

    /// `ca_file`: the CA certificates that verify the target (PEM).
    pub fn ca_file(self, path: impl Into<String>) -> Self {
        self.set("ca_file", RawValue::String(path.into()))
    }

    /// `cert_id`: the client certificate's id in the certificate store.
    pub fn cert_id(self, id: impl Into<String>) -> Self {
        self.set("cert_id", RawValue::String(id.into()))
    }

    /// `ca_cert_ids`: ids of CA certificates in the certificate store.
    pub fn ca_cert_ids<I: Into<String>>(self, ids: impl IntoIterator<Item = I>) -> Self {
        self.set("ca_cert_ids", RawValue::List(ids.into_iter().map(Into::into).collect()))
    }

    /// `insecure_skip_verify`: do not verify the target's certificate (logged as a warning).
    pub fn insecure_skip_verify(self, skip: bool) -> Self {
        self.set("insecure_skip_verify", RawValue::Bool(skip))
    }

    /// `tls_min_version`: `"1.2"` or `"1.3"`.
    pub fn tls_min_version(self, version: impl Into<String>) -> Self {
        self.set("tls_min_version", RawValue::String(version.into()))
    }

    /// `tls_max_version`: `"1.2"` or `"1.3"`.
    pub fn tls_max_version(self, version: impl Into<String>) -> Self {
        self.set("tls_max_version", RawValue::String(version.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load_str, Source};

    #[test]
    fn debug_never_shows_a_password_or_an_inline_key() {
        let key = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n";
        let builder = ExternalServicesConfig::builder()
            .global(ProxyBuilder::new().http_proxy("http://gw:s3cret@proxy:3128"))
            .mtls(ServiceKind::Oauth, MtlsBuilder::new().enabled(true).cert_id(key));
        let debug = format!("{builder:?}");
        assert!(!debug.contains("s3cret") && !debug.contains("c2VjcmV0"), "{debug}");
        assert!(debug.contains("proxy:3128") && debug.contains("<PEM text"), "{debug}");
    }

    #[test]
    fn an_environment_snapshot_shows_names_not_values() {
        let env = EnvSnapshot::from_iter([("TYK_GW_SECRET", "s3cret"), ("HTTP_PROXY", "http://u:pw@p:1")]);
        let debug = format!("{env:?}");
        assert!(
            debug.contains("TYK_GW_SECRET") && debug.contains("HTTP_PROXY"),
            "{debug}"
        );
        assert!(!debug.contains("s3cret") && !debug.contains("pw@"), "{debug}");
    }

    #[test]
    fn code_and_file_give_the_same_configuration_and_warnings_with_their_own_sources() {
        let json = r#"{"external_services": {
            "global": {"enabled": true, "http_proxy": "proxy:3128", "bypass_proxy": "localhost,.internal"},
            "oauth": {"mtls": {"enabled": true, "cert_id": "c1", "ca_cert_ids": ["ca1", " ", "ca2"],
                               "tls_min_version": "1.2", "insecure_skip_verify": true}}}}"#;
        let file = load_str(json, "tyk.conf", &EnvSnapshot::empty(), &LoadOptions::default()).unwrap();
        let code = ExternalServicesConfig::builder()
            .global(
                ProxyBuilder::new()
                    .enabled(true)
                    .http_proxy("proxy:3128")
                    .bypass_proxy("localhost,.internal"),
            )
            .mtls(
                ServiceKind::Oauth,
                MtlsBuilder::new()
                    .enabled(true)
                    .cert_id("c1")
                    .ca_cert_ids(["ca1", " ", "ca2"])
                    .tls_min_version("1.2")
                    .insecure_skip_verify(true),
            )
            .build()
            .unwrap();
        assert_eq!(code.warnings, file.warnings);
        assert!(!code.warnings.is_empty());
        let oauth = code.config.service(ServiceKind::Oauth);
        assert_eq!(
            oauth.mtls.ca_cert_ids.as_ref().unwrap().value,
            file.config
                .service(ServiceKind::Oauth)
                .mtls
                .ca_cert_ids
                .as_ref()
                .unwrap()
                .value
        );
        assert_eq!(
            code.config.global.http_proxy.as_ref().unwrap().source,
            Source::Code("external_services.global.http_proxy".to_owned())
        );
        // Same values once the sources are set aside.
        assert_eq!(
            format!("{:?}", code.config).replace("Code(", "File("),
            format!("{:?}", file.config)
        );
    }

    #[test]
    fn code_gets_every_error_with_its_key_path_as_a_file_does() {
        let json = r#"{"external_services": {
            "health": {"proxy": {"https_proxy": "ftp://p"}},
            "oauth": {"mtls": {"enabled": true, "cert_file": "/c.pem", "tls_min_version": "1.3", "tls_max_version": "1.2"}}}}"#;
        let file = load_str(json, "tyk.conf", &EnvSnapshot::empty(), &LoadOptions::default()).unwrap_err();
        let code = ExternalServicesConfig::builder()
            .proxy(ServiceKind::Health, ProxyBuilder::new().https_proxy("ftp://p"))
            .mtls(
                ServiceKind::Oauth,
                MtlsBuilder::new()
                    .enabled(true)
                    .cert_file("/c.pem")
                    .tls_min_version("1.3")
                    .tls_max_version("1.2"),
            )
            .build()
            .unwrap_err();
        assert!(code.0.len() >= 2, "{code}");
        assert_eq!(code.to_string(), file.to_string());
        assert!(
            code.to_string().contains("external_services.health.proxy.https_proxy"),
            "{code}"
        );
    }

    #[test]
    fn a_later_setting_of_a_key_replaces_the_earlier() {
        let loaded = ExternalServicesConfig::builder()
            .global(ProxyBuilder::new().enabled(false))
            .global(ProxyBuilder::new().enabled(true))
            .build()
            .unwrap();
        assert!(loaded.config.global.enabled.unwrap().value);
    }

    /// The setters are written by hand (typed arguments, their own docs), so this is where
    /// they are checked against the key lists: calling every setter sets every key of
    /// the global block, a service's proxy block and its mtls block, and no other.
    #[test]
    fn every_key_of_a_block_has_a_setter() {
        let every_proxy_setter = || {
            ProxyBuilder::new()
                .enabled(false)
                .http_proxy("")
                .https_proxy("")
                .bypass_proxy("")
        };
        let builder = ExternalServicesConfig::builder()
            .global(every_proxy_setter())
            .proxy(ServiceKind::Health, every_proxy_setter())
            .mtls(
                ServiceKind::Health,
                MtlsBuilder::new()
                    .enabled(false)
                    .cert_file("/c.pem")
                    .key_file("/k.pem")
                    .ca_file("/ca.pem")
                    .cert_id("c")
                    .ca_cert_ids(["ca"])
                    .insecure_skip_verify(false)
                    .tls_min_version("1.2")
                    .tls_max_version("1.3"),
            );
        let mut set: Vec<&str> = builder.values.iter().map(|(path, _)| path.as_str()).collect();
        set.sort_unstable();
        let mut keys: Vec<&str> = crate::keys::KEYS
            .iter()
            .map(|k| k.path)
            .filter(|p| p.starts_with("external_services.global.") || p.starts_with("external_services.health."))
            .collect();
        keys.sort_unstable();
        assert_eq!(set, keys);
        builder.build().unwrap();
    }
}
