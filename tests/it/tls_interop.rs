//! extsvc-tls against real rustls servers on 127.0.0.1: client certificates accepted and
//! rejected, version bounds, store precedence, CA-only, intermediates by id, insecure mode
//! and the strict proxy leg.

use std::sync::Arc;

use crate::tls_support::{connect, connect_and_ping, file_value, resolved, TlsServer};
use extsvc_config::{ServiceKind, TlsVersion};
use extsvc_tests::pki::{ClientAuthMode, ServerTlsOptions, ServerVersions, TestPki};
use extsvc_tls::{build_service_tls, CertificateStore, MemoryStore, ServiceTls, TlsOptions};
use rustls::ProtocolVersion;

const OAUTH: ServiceKind = ServiceKind::Oauth;

async fn build(service: &extsvc_resolve::ResolvedService, store: Option<Arc<dyn CertificateStore>>) -> ServiceTls {
    build_service_tls(service, store, &TlsOptions::default()).await.unwrap()
}

fn required(versions: ServerVersions) -> ServerTlsOptions {
    ServerTlsOptions {
        client_auth: ClientAuthMode::Required,
        versions,
        rogue_server_cert: false,
    }
}

/// A service presenting `cert`/`key` files and trusting the test root.
fn file_client(pki: &TestPki, cert: &std::path::Path, key: &std::path::Path) -> extsvc_resolve::ResolvedService {
    resolved(OAUTH, |m| {
        m.cert_file = file_value(OAUTH, "cert_file", cert.to_owned());
        m.key_file = file_value(OAUTH, "key_file", key.to_owned());
        m.ca_file = file_value(OAUTH, "ca_file", pki.ca_cert_path.clone());
    })
}

#[tokio::test]
async fn server_demanding_client_certs_accepts_the_configured_client_in_every_key_form() {
    let pki = TestPki::generate();
    let server = TlsServer::start(pki.server_config(required(ServerVersions::Both))).await;
    let forms = [
        (&pki.client_chain_path, &pki.client_key_path, &pki.client),
        (&pki.client_chain_path, &pki.client_key_sec1_path, &pki.client),
        (&pki.client_rsa.chain_path, &pki.client_rsa.key_path, &pki.client_rsa),
        (
            &pki.client_rsa.chain_path,
            &pki.client_rsa_key_pkcs1_path,
            &pki.client_rsa,
        ),
    ];
    for (n, (cert, key, issued)) in forms.into_iter().enumerate() {
        let tls = build(&file_client(&pki, cert, key), None).await;
        connect_and_ping(&tls.target, server.addr)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", key.display()));
        let seen = server.handshake(n + 1).await;
        assert_eq!(seen.peer_leaf.as_ref(), Some(issued.cert_der()), "{}", key.display());
    }
}

#[tokio::test]
async fn server_demanding_client_certs_rejects_missing_and_rogue_ones() {
    let pki = TestPki::generate();
    let server = TlsServer::start(pki.server_config(required(ServerVersions::Both))).await;

    // CA-only: verifies the server, presents nothing.
    let ca_only = resolved(OAUTH, |m| {
        m.ca_file = file_value(OAUTH, "ca_file", pki.ca_cert_path.clone())
    });
    let tls = build(&ca_only, None).await;
    assert!(connect_and_ping(&tls.target, server.addr).await.is_err());
    let seen = server.handshake(1).await;
    assert!(seen.error.is_some() && seen.peer_leaf.is_none(), "{seen:?}");

    let rogue = file_client(&pki, &pki.rogue_client.chain_path, &pki.rogue_client.key_path);
    let tls = build(&rogue, None).await;
    assert!(connect_and_ping(&tls.target, server.addr).await.is_err());
    let seen = server.handshake(2).await;
    assert!(seen.error.as_deref().unwrap().contains("UnknownIssuer"), "{seen:?}");

    // The good client on the same server still gets in: the rejections were about the certs.
    let tls = build(&file_client(&pki, &pki.client_chain_path, &pki.client_key_path), None).await;
    connect_and_ping(&tls.target, server.addr).await.unwrap();
}

#[tokio::test]
async fn ca_only_configuration_verifies_the_server_without_a_client_certificate() {
    let pki = TestPki::generate();
    let server = TlsServer::start(pki.server_config(ServerTlsOptions {
        client_auth: ClientAuthMode::Optional,
        ..Default::default()
    }))
    .await;
    let tls = build(
        &resolved(OAUTH, |m| {
            m.ca_file = file_value(OAUTH, "ca_file", pki.ca_cert_path.clone())
        }),
        None,
    )
    .await;
    connect_and_ping(&tls.target, server.addr).await.unwrap();
    assert_eq!(server.handshake(1).await.peer_leaf, None);

    // The same server is unknown to a service with default roots (the ca_file replaced them
    // above; here mTLS is off, so nothing is configured): verification fails.
    let plain = build(&resolved(OAUTH, |m| m.enabled = None), None).await;
    let error = connect(&plain.target, server.addr).await.unwrap_err();
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");
}

#[tokio::test]
async fn version_bounds_are_what_is_negotiated() {
    let pki = TestPki::generate();
    let tls12 = TlsServer::start(pki.server_config(required(ServerVersions::Tls12Only))).await;
    let tls13 = TlsServer::start(pki.server_config(required(ServerVersions::Tls13Only))).await;
    let with_versions = |min, max| {
        let mut service = file_client(&pki, &pki.client_chain_path, &pki.client_key_path);
        service.mtls.tls_min_version = file_value(OAUTH, "tls_min_version", min).unwrap();
        service.mtls.tls_max_version = file_value(OAUTH, "tls_max_version", max).unwrap();
        service
    };

    let default = build(&with_versions(TlsVersion::Tls12, TlsVersion::Tls13), None).await;
    assert_eq!(
        connect_and_ping(&default.target, tls12.addr).await.unwrap(),
        ProtocolVersion::TLSv1_2
    );
    assert_eq!(
        connect_and_ping(&default.target, tls13.addr).await.unwrap(),
        ProtocolVersion::TLSv1_3
    );
    assert_eq!(tls12.handshake(1).await.version, Some(ProtocolVersion::TLSv1_2));
    assert_eq!(tls13.handshake(1).await.version, Some(ProtocolVersion::TLSv1_3));

    let only13 = build(&with_versions(TlsVersion::Tls13, TlsVersion::Tls13), None).await;
    assert!(connect_and_ping(&only13.target, tls12.addr).await.is_err());
    assert!(tls12.handshake(2).await.error.is_some());
    assert_eq!(
        connect_and_ping(&only13.target, tls13.addr).await.unwrap(),
        ProtocolVersion::TLSv1_3
    );

    let only12 = build(&with_versions(TlsVersion::Tls12, TlsVersion::Tls12), None).await;
    assert!(connect_and_ping(&only12.target, tls13.addr).await.is_err());
    assert_eq!(
        connect_and_ping(&only12.target, tls12.addr).await.unwrap(),
        ProtocolVersion::TLSv1_2
    );
}

#[tokio::test]
async fn store_ids_win_over_files_which_are_never_read() {
    let pki = TestPki::generate();
    let server = TlsServer::start(pki.server_config(required(ServerVersions::Both))).await;
    let store = Arc::new(MemoryStore::new());
    store
        .insert_pem("oauth-client-cert", pki.client_rsa.bundle_pem().as_bytes())
        .unwrap();
    store.insert_pem("test-root", pki.ca_cert_pem.as_bytes()).unwrap();
    let missing = pki.dir().join("never-created.pem");
    let service = resolved(OAUTH, |m| {
        m.cert_id = file_value(OAUTH, "cert_id", "oauth-client-cert".to_owned());
        m.cert_file = file_value(OAUTH, "cert_file", missing.clone());
        m.key_file = file_value(OAUTH, "key_file", missing.clone());
        m.ca_cert_ids = file_value(OAUTH, "ca_cert_ids", vec!["test-root".to_owned()]);
        m.ca_file = file_value(OAUTH, "ca_file", missing.clone());
    });
    let tls = build(&service, Some(store)).await;
    connect_and_ping(&tls.target, server.addr).await.unwrap();
    assert_eq!(
        server.handshake(1).await.peer_leaf.as_ref(),
        Some(pki.client_rsa.cert_der())
    );
}

#[tokio::test]
async fn several_ca_cert_ids_supply_the_intermediate() {
    let pki = TestPki::generate();
    // A server that presents its leaf only: the client must know the intermediate.
    let leaf_only = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.server.cert_der().clone()], pki.server.key_der())
        .unwrap();
    let server = TlsServer::start(Arc::new(leaf_only)).await;
    let store = Arc::new(MemoryStore::new());
    store.insert_pem("rogue-ca", pki.rogue_ca_cert_pem.as_bytes()).unwrap();
    store.insert_pem("root-ca", pki.ca_cert_pem.as_bytes()).unwrap();
    store
        .insert_pem("intermediate-ca", pki.intermediate_cert_pem.as_bytes())
        .unwrap();
    let with_ids = |ids: &[&str]| {
        resolved(OAUTH, |m| {
            m.ca_cert_ids = file_value(OAUTH, "ca_cert_ids", ids.iter().map(|s| s.to_string()).collect());
        })
    };
    let store: Arc<dyn CertificateStore> = store;

    let root_only = build(&with_ids(&["rogue-ca", "root-ca"]), Some(store.clone())).await;
    assert!(connect(&root_only.target, server.addr).await.is_err());

    let with_intermediate = build(&with_ids(&["rogue-ca", "root-ca", "intermediate-ca"]), Some(store)).await;
    connect_and_ping(&with_intermediate.target, server.addr).await.unwrap();
}

#[tokio::test]
async fn insecure_skips_verification_of_the_target_only_and_the_proxy_leg_stays_strict() {
    let pki = TestPki::generate();
    let rogue_server = TlsServer::start(pki.server_config(ServerTlsOptions {
        rogue_server_cert: true,
        ..Default::default()
    }))
    .await;
    let good_server = TlsServer::start(pki.server_config(ServerTlsOptions {
        client_auth: ClientAuthMode::Optional,
        ..Default::default()
    }))
    .await;

    let strict = build(&file_client(&pki, &pki.client_chain_path, &pki.client_key_path), None).await;
    let error = connect(&strict.target, rogue_server.addr).await.unwrap_err();
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");

    let mut insecure_service = file_client(&pki, &pki.client_chain_path, &pki.client_key_path);
    insecure_service.mtls.insecure_skip_verify = file_value(OAUTH, "insecure_skip_verify", true).unwrap();
    let insecure = build(&insecure_service, None).await;
    connect_and_ping(&insecure.target, rogue_server.addr).await.unwrap();

    // The proxy leg never skips verification …
    let error = connect(&insecure.proxy, rogue_server.addr).await.unwrap_err();
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");
    // … trusts the service's CA on top of the default roots, and presents no client certificate.
    connect_and_ping(&insecure.proxy, good_server.addr).await.unwrap();
    assert_eq!(good_server.handshake(1).await.peer_leaf, None);
    connect_and_ping(&insecure.target, good_server.addr).await.unwrap();
    assert_eq!(
        good_server.handshake(2).await.peer_leaf.as_ref(),
        Some(pki.client.cert_der())
    );
}

#[tokio::test]
async fn a_service_without_mtls_gets_the_plain_configuration() {
    let pki = TestPki::generate();
    let server = TlsServer::start(pki.server_config(ServerTlsOptions::default())).await;
    // Settings in a disabled block are ignored: not read, not used.
    let mut config = extsvc_config::ExternalServicesConfig::default();
    let mtls = &mut config.service_mut(ServiceKind::Webhooks).mtls;
    mtls.ca_file = file_value(ServiceKind::Webhooks, "ca_file", pki.ca_cert_path.clone());
    mtls.cert_file = file_value(ServiceKind::Webhooks, "cert_file", pki.dir().join("missing.crt"));
    let service = crate::tls_support::resolution(&config)
        .service(ServiceKind::Webhooks)
        .clone();
    let tls = build(&service, None).await;
    // webpki roots only: the test CA is unknown.
    let error = connect(&tls.target, server.addr).await.unwrap_err();
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");
    assert!(!tls.target.current().client_auth_cert_resolver.has_certs());
    assert!(tls.target.current().alpn_protocols.is_empty() && tls.proxy.current().alpn_protocols.is_empty());
}

#[tokio::test]
async fn legacy_jwt_insecure_skip_verify_applies_to_oauth_without_mtls() {
    let pki = TestPki::generate();
    let rogue_server = TlsServer::start(pki.server_config(ServerTlsOptions {
        rogue_server_cert: true,
        ..Default::default()
    }))
    .await;
    let mut config = extsvc_config::ExternalServicesConfig::default();
    config.legacy.jwt_ssl_insecure_skip_verify = Some(extsvc_config::Sourced::new(
        true,
        extsvc_config::Source::Legacy("jwt_ssl_insecure_skip_verify".to_owned()),
    ));
    let resolution = crate::tls_support::resolution(&config);
    let oauth = build(resolution.service(OAUTH), None).await;
    connect_and_ping(&oauth.target, rogue_server.addr).await.unwrap();
    assert!(connect(&oauth.proxy, rogue_server.addr).await.is_err());
    let health = build(resolution.service(ServiceKind::Health), None).await;
    assert!(connect(&health.target, rogue_server.addr).await.is_err());
}
