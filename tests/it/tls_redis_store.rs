//! The Redis certificate store against a real redis-server on 127.0.0.1 (started by
//! `extsvc_tests::redis`): lookups, AUTH and key prefix, rotation, and a connection that
//! goes over TLS with a client certificate through a custom connector.

use std::sync::Arc;
use std::time::Duration;

use crate::tls_support::{connect_and_ping, file_value, resolved, TlsServer};
use extsvc_config::ServiceKind;
use extsvc_tests::pki::{ClientAuthMode, ServerTlsOptions, TestPki};
use extsvc_tests::redis::{RedisOptions, RedisServer, RedisTls};
use extsvc_tls::{build_service_tls, CertificateStore, RedisStore, StoreError, TlsOptions};
use rustls::pki_types::ServerName;

const STORAGE: ServiceKind = ServiceKind::Storage;

fn by_id(id: &str, pki: &TestPki) -> extsvc_resolve::ResolvedService {
    resolved(STORAGE, |m| {
        m.cert_id = file_value(STORAGE, "cert_id", id.to_owned());
        m.ca_file = file_value(STORAGE, "ca_file", pki.ca_cert_path.clone());
    })
}

#[tokio::test]
async fn client_certificates_and_cas_come_from_redis_keys() {
    let pki = TestPki::generate();
    let redis = RedisServer::start(RedisOptions::default());
    redis.set("cert-raw-storage-client", &pki.client.bundle_pem());
    redis.set("cert-raw-test-root", &pki.ca_cert_pem);
    let store = RedisStore::from_url(&redis.url()).unwrap();

    let client = store.client_certificate("storage-client").await.unwrap();
    assert_eq!(client.chain(), pki.client.chain_der.as_slice());
    assert_eq!(
        store.ca_certificates("test-root").await.unwrap(),
        vec![pki.ca_cert_der.clone()]
    );
    let missing = store.client_certificate("nope").await.unwrap_err();
    assert_eq!(missing.to_string(), "certificate not found in store: nope");
    // A CA entry has no key.
    let no_key = store.client_certificate("test-root").await.unwrap_err();
    assert!(matches!(no_key, StoreError::InvalidEntry { .. }), "{no_key}");

    // Used for a real mTLS handshake, CA by id too.
    let server = TlsServer::start(pki.server_config(ServerTlsOptions {
        client_auth: ClientAuthMode::Required,
        ..Default::default()
    }))
    .await;
    let service = resolved(STORAGE, |m| {
        m.cert_id = file_value(STORAGE, "cert_id", "storage-client".to_owned());
        m.ca_cert_ids = file_value(STORAGE, "ca_cert_ids", vec!["test-root".to_owned()]);
    });
    let tls = build_service_tls(&service, Some(Arc::new(store)), &TlsOptions::default())
        .await
        .unwrap();
    connect_and_ping(&tls.target, server.addr).await.unwrap();
    assert_eq!(
        server.handshake(1).await.peer_leaf.as_ref(),
        Some(pki.client.cert_der())
    );
}

#[tokio::test]
async fn auth_and_key_prefix() {
    let pki = TestPki::generate();
    let redis = RedisServer::start(RedisOptions {
        password: Some("s3cret-pw".to_owned()),
        ..Default::default()
    });
    redis.set("cert-raw-storage-client", &pki.client.bundle_pem());
    let port = redis.port();

    let store = RedisStore::from_url(&format!("redis://:s3cret-pw@127.0.0.1:{port}"))
        .unwrap()
        .with_key_prefix("cert-");
    assert!(store.client_certificate("storage-client").await.is_ok());

    // `cert-` is the default (Tyk's); `""` reads `raw-<id>`.
    let default_prefix = RedisStore::from_url(&format!("redis://:s3cret-pw@127.0.0.1:{port}")).unwrap();
    assert!(default_prefix.client_certificate("storage-client").await.is_ok());
    let unprefixed = RedisStore::from_url(&format!("redis://:s3cret-pw@127.0.0.1:{port}"))
        .unwrap()
        .with_key_prefix("");
    let error = unprefixed.client_certificate("storage-client").await.unwrap_err();
    assert_eq!(error.to_string(), "certificate not found in store: storage-client");

    let wrong = RedisStore::from_url(&format!("redis://:wrong-pw@127.0.0.1:{port}"))
        .unwrap()
        .with_key_prefix("cert-");
    let error = wrong.client_certificate("storage-client").await.unwrap_err();
    let text = format!("{error} {error:?} {wrong:?}");
    assert!(text.contains("AUTH failed"), "{text}");
    assert!(!text.contains("wrong-pw"), "{text}");

    let no_auth = RedisStore::new(format!("127.0.0.1:{port}")).with_key_prefix("cert-");
    let error = no_auth.client_certificate("storage-client").await.unwrap_err();
    assert!(error.to_string().contains("NOAUTH"), "{error}");

    let closed = RedisStore::new("127.0.0.1:1");
    let error = closed.client_certificate("storage-client").await.unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("certificate store entry storage-client: failed to read redis 127.0.0.1:1:"),
        "{error}"
    );
}

#[tokio::test]
async fn a_certificate_replaced_in_redis_is_used_by_new_connections() {
    let pki = TestPki::generate();
    let redis = RedisServer::start(RedisOptions::default());
    redis.set("cert-raw-storage-client", &pki.client.bundle_pem());
    let server = TlsServer::start(pki.server_config(ServerTlsOptions {
        client_auth: ClientAuthMode::Required,
        ..Default::default()
    }))
    .await;
    let options = TlsOptions::default().with_refresh_interval(Some(Duration::from_millis(50)));
    let store = Arc::new(RedisStore::from_url(&redis.url()).unwrap());
    let tls = build_service_tls(&by_id("storage-client", &pki), Some(store), &options)
        .await
        .unwrap();
    let mut established = crate::tls_support::connect(&tls.target, server.addr).await.unwrap();
    crate::tls_support::ping(&mut established).await.unwrap();

    let rotated = pki.issue_client("rotated-redis", "rotated via redis");
    redis.set("cert-raw-storage-client", &rotated.bundle_pem());
    let mut presented = false;
    for _ in 0..100 {
        connect_and_ping(&tls.target, server.addr).await.unwrap();
        if server.handshakes().last().unwrap().peer_leaf.as_ref() == Some(rotated.cert_der()) {
            presented = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(presented, "the rotated certificate was never presented");
    crate::tls_support::ping(&mut established).await.unwrap();
}

#[tokio::test]
async fn the_connection_is_pluggable_tls_with_a_client_certificate() {
    let pki = TestPki::generate();
    let redis = RedisServer::start(RedisOptions {
        plain: false,
        tls: Some(RedisTls {
            admin_client: Some((pki.client_chain_path.clone(), pki.client_key_path.clone())),
            ..RedisTls::requiring_client_certificates(&pki)
        }),
        password: None,
    });
    redis.set("cert-raw-test-root", &pki.ca_cert_pem);
    let port = redis.tls_port();

    // The storage service's own TLS (files) carries the store's connection.
    let storage = resolved(STORAGE, |m| {
        m.cert_file = file_value(STORAGE, "cert_file", pki.client_chain_path.clone());
        m.key_file = file_value(STORAGE, "key_file", pki.client_key_path.clone());
        m.ca_file = file_value(STORAGE, "ca_file", pki.ca_cert_path.clone());
    });
    let config = build_service_tls(&storage, None, &TlsOptions::default())
        .await
        .unwrap()
        .target;
    let store = RedisStore::with_connector(move || {
        // The current generation of the storage service's TLS, for each new connection.
        let tls_connector = tokio_rustls::TlsConnector::from(config.current());
        async move {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            tls_connector
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
        }
    });
    assert_eq!(
        store.ca_certificates("test-root").await.unwrap(),
        vec![pki.ca_cert_der.clone()]
    );

    // Without a client certificate redis refuses the connection.
    let ca_only = resolved(STORAGE, |m| {
        m.ca_file = file_value(STORAGE, "ca_file", pki.ca_cert_path.clone())
    });
    let config = build_service_tls(&ca_only, None, &TlsOptions::default())
        .await
        .unwrap()
        .target;
    let refused = RedisStore::with_connector(move || {
        // The current generation of the storage service's TLS, for each new connection.
        let tls_connector = tokio_rustls::TlsConnector::from(config.current());
        async move {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            tls_connector
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
        }
    });
    assert!(refused.ca_certificates("test-root").await.is_err());
}
