//! An `ExternalServicesConfig` built in code (public fields, `Default`) skips the loader;
//! the mTLS rules must hold all the same. Every combination of mTLS fields, driven through
//! `resolve`, `build_service_tls` and `ExternalServices::build`: no service that asks for a
//! client certificate builds without one, and every invalid combination fails with the
//! loader's message.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use extsvc_client::ExternalServices;
use extsvc_config::{EnvSnapshot, ExternalServicesConfig, MtlsSettings, ServiceKind, Source, Sourced, TlsVersion};
use extsvc_tests::pki::TestPki;
use extsvc_tls::{build_service_tls, CertificateStore, MemoryStore, TlsOptions};
use proptest::prelude::*;

fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(TestPki::generate)
}

fn set<T>(value: T) -> Option<Sourced<T>> {
    Some(Sourced::new(value, Source::Default))
}

/// A path: a good one, a missing one, or empty.
fn path(good: fn(&TestPki) -> PathBuf) -> impl Strategy<Value = Option<PathBuf>> {
    prop_oneof![
        Just(None),
        Just(Some(good(pki()))),
        Just(Some(PathBuf::from("/nonexistent/x.pem"))),
        Just(Some(PathBuf::new())),
    ]
}

fn mtls() -> impl Strategy<Value = MtlsSettings> {
    let version = prop_oneof![Just(None), Just(Some(TlsVersion::Tls12)), Just(Some(TlsVersion::Tls13))];
    (
        prop_oneof![Just(None), any::<bool>().prop_map(Some)],
        path(|p| p.client_cert_path.clone()),
        path(|p| p.client_key_path.clone()),
        path(|p| p.ca_cert_path.clone()),
        prop_oneof![Just(None), Just(Some("client".to_owned())), Just(Some(String::new()))],
        prop_oneof![Just(None), Just(Some(vec!["ca".to_owned()])), Just(Some(Vec::new()))],
        prop_oneof![Just(None), any::<bool>().prop_map(Some)],
        version.clone(),
        version,
    )
        .prop_map(
            |(enabled, cert, key, ca, cert_id, ca_ids, insecure, min, max)| MtlsSettings {
                enabled: enabled.and_then(set),
                cert_file: cert.and_then(set),
                key_file: key.and_then(set),
                ca_file: ca.and_then(set),
                cert_id: cert_id.and_then(set),
                ca_cert_ids: ca_ids.and_then(set),
                insecure_skip_verify: insecure.and_then(set),
                tls_min_version: min.and_then(set),
                tls_max_version: max.and_then(set),
            },
        )
}

fn store() -> Arc<dyn CertificateStore> {
    let store = MemoryStore::new();
    store
        .insert_pem("client", pki().client.bundle_pem().as_bytes())
        .unwrap();
    store
        .insert_pem("ca", std::fs::read(&pki().ca_cert_path).unwrap().as_slice())
        .unwrap();
    Arc::new(store)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn no_configuration_built_in_code_silently_loses_its_client_certificate(
        blocks in proptest::array::uniform5(mtls()),
        legacy_insecure in prop_oneof![Just(None), any::<bool>().prop_map(Some)],
    ) {
        let mut config = ExternalServicesConfig::default();
        for (kind, block) in ServiceKind::ALL.into_iter().zip(blocks) {
            config.service_mut(kind).mtls = block;
        }
        config.legacy.jwt_ssl_insecure_skip_verify = legacy_insecure.and_then(set);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let resolution = extsvc_resolve::resolve(&config, &EnvSnapshot::empty());
        let store = store();
        let mut all_built = true;
        for kind in ServiceKind::ALL {
            let mtls = &config.service(kind).mtls;
            let enabled = mtls.enabled.as_ref().is_some_and(|e| e.value);
            let asks_for_a_certificate =
                enabled && (mtls.cert_file.is_some() || mtls.key_file.is_some() || mtls.cert_id.is_some());
            let built = runtime.block_on(build_service_tls(
                resolution.service(kind),
                Some(store.clone()),
                &TlsOptions::default(),
            ));
            let errors = config.mtls_errors(kind);
            match built {
                Ok(tls) => {
                    prop_assert!(errors.is_empty(), "{kind} built despite {errors:?}");
                    if asks_for_a_certificate {
                        prop_assert!(
                            tls.target.current().client_auth_cert_resolver.has_certs(),
                            "{kind} asked for a client certificate and built without one: {mtls:?}"
                        );
                    }
                }
                Err(error) => {
                    all_built = false;
                    // The rules' errors come first, with the loader's message.
                    if let Some(first) = errors.first() {
                        prop_assert_eq!(error.to_string(), first.to_string());
                    }
                }
            }
        }
        let services = runtime.block_on(ExternalServices::build(&resolution, Some(store), &TlsOptions::default()));
        prop_assert_eq!(services.is_ok(), all_built);
        prop_assert_eq!(resolution.errors().count() == 0, ServiceKind::ALL.iter().all(|k| config.mtls_errors(*k).is_empty()));
    }
}

#[tokio::test]
async fn every_invalid_mtls_combination_built_in_code_fails_with_the_loaders_message() {
    let pki = pki();
    let cert = || set(pki.client_cert_path.clone());
    let key = || set(pki.client_key_path.clone());
    let cases: Vec<(&str, MtlsSettings, &str)> = vec![
        (
            "cert_file without key_file",
            MtlsSettings { enabled: set(true), cert_file: cert(), ..Default::default() },
            "external_services.oauth.mtls: invalid mTLS configuration: both cert_file and key_file must be specified for file-based configuration",
        ),
        (
            "key_file without cert_file",
            MtlsSettings { enabled: set(true), key_file: key(), ca_file: set(pki.ca_cert_path.clone()), ..Default::default() },
            "external_services.oauth.mtls: invalid mTLS configuration: both cert_file and key_file must be specified for file-based configuration",
        ),
        (
            "enabled with nothing",
            MtlsSettings { enabled: set(true), ..Default::default() },
            "external_services.oauth.mtls: mTLS enabled but no certificate configuration provided",
        ),
        (
            "versions out of order",
            MtlsSettings {
                enabled: set(true),
                cert_file: cert(),
                key_file: key(),
                tls_min_version: set(TlsVersion::Tls13),
                tls_max_version: set(TlsVersion::Tls12),
                ..Default::default()
            },
            "external_services.oauth.mtls: tls_min_version 1.3 is greater than tls_max_version 1.2",
        ),
        (
            "empty key_file",
            MtlsSettings { enabled: set(true), cert_file: cert(), key_file: set(PathBuf::new()), ..Default::default() },
            "external_services.oauth.mtls.key_file: empty value",
        ),
        (
            "empty ca_cert_ids",
            MtlsSettings { enabled: set(true), cert_file: cert(), key_file: key(), ca_cert_ids: set(Vec::new()), ..Default::default() },
            "external_services.oauth.mtls.ca_cert_ids: empty value",
        ),
    ];
    for (name, block, message) in cases {
        let mut config = ExternalServicesConfig::default();
        config.service_mut(ServiceKind::Oauth).mtls = block;
        let resolution = extsvc_resolve::resolve(&config, &EnvSnapshot::empty());
        let error = ExternalServices::build(&resolution, None, &TlsOptions::default())
            .await
            .expect_err(name);
        assert_eq!(error.cause.to_string(), message, "{name}");
        assert_eq!(
            error.to_string(),
            format!("cannot build the oauth client: {message}"),
            "{name}"
        );
        assert_eq!(
            resolution.errors().next().map(ToString::to_string).as_deref(),
            Some(message),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_key_pasted_as_a_path_or_id_never_reaches_display_or_debug() {
    let pki = pki();
    let key = std::fs::read_to_string(&pki.client_key_path).unwrap();
    for block in [
        MtlsSettings {
            enabled: set(true),
            cert_file: set(pki.client_cert_path.clone()),
            key_file: set(PathBuf::from(&key)),
            ..Default::default()
        },
        MtlsSettings {
            enabled: set(true),
            cert_id: set(key.clone()),
            ca_cert_ids: set(vec![key.clone()]),
            ..Default::default()
        },
    ] {
        let mut config = ExternalServicesConfig::default();
        config.service_mut(ServiceKind::Oauth).mtls = block;
        let resolution = extsvc_resolve::resolve(&config, &EnvSnapshot::empty());
        let error = ExternalServices::build(&resolution, Some(store()), &TlsOptions::default())
            .await
            .unwrap_err();
        let report = extsvc_tls::check(&resolution, Some(store().as_ref()), std::time::SystemTime::now()).await;
        let text = format!("{error}\n{error:?}\n{config:?}\n{resolution:?}\n{report}");
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        assert!(!text.contains(key.lines().nth(1).unwrap()), "{text}");
        assert!(text.contains(&format!("<PEM text, {} bytes>", key.len())), "{text}");
    }
}
