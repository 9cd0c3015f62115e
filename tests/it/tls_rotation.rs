//! Client certificate rotation through a real rustls server: a certificate replaced in the
//! store (or in its files) is presented by the next new connection, established connections
//! keep working, nothing is rebuilt, failed reloads keep the last good certificate, and the
//! refresh task ends with the config.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::tls_support::{connect, connect_and_ping, file_value, ping, resolved, TlsServer};
use extsvc_config::ServiceKind;
use extsvc_tests::pki::{ClientAuthMode, IssuedCert, ServerTlsOptions, TestPki};
use extsvc_tls::{
    build_service_tls, CertificateStore, ClientCertificate, DirectoryStore, MemoryStore, ServiceTls, StoreFuture,
    TlsOptions,
};
use rustls::pki_types::CertificateDer;

const STORAGE: ServiceKind = ServiceKind::Storage;
const INTERVAL: Duration = Duration::from_millis(50);

fn rotating() -> TlsOptions {
    TlsOptions {
        refresh_interval: Some(INTERVAL),
        ..Default::default()
    }
}

fn by_id(id: &str, pki: &TestPki) -> extsvc_resolve::ResolvedService {
    resolved(STORAGE, |m| {
        m.cert_id = file_value(STORAGE, "cert_id", id.to_owned());
        m.ca_file = file_value(STORAGE, "ca_file", pki.ca_cert_path.clone());
    })
}

async fn mtls_server(pki: &TestPki) -> TlsServer {
    TlsServer::start(pki.server_config(ServerTlsOptions {
        client_auth: ClientAuthMode::Required,
        ..Default::default()
    }))
    .await
}

/// Opens new connections (each pinged) until the server records `expected` as the client
/// certificate; panics after 5 s.
async fn until_presented(tls: &ServiceTls, server: &TlsServer, expected: &IssuedCert) {
    for _ in 0..100 {
        connect_and_ping(&tls.target, server.addr).await.unwrap();
        let last = server.handshakes().last().cloned().unwrap();
        if last.peer_leaf.as_ref() == Some(expected.cert_der()) {
            return;
        }
        tokio::time::sleep(INTERVAL / 2).await;
    }
    panic!("the new certificate was never presented");
}

#[tokio::test]
async fn a_certificate_replaced_in_a_memory_store_is_used_by_new_connections() {
    let pki = TestPki::generate();
    let server = mtls_server(&pki).await;
    let store = Arc::new(MemoryStore::new());
    store
        .insert_pem("storage-client", pki.client.bundle_pem().as_bytes())
        .unwrap();
    let tls = build_service_tls(&by_id("storage-client", &pki), Some(store.clone()), &rotating())
        .await
        .unwrap();
    let config_before = Arc::as_ptr(&tls.target);

    // Several connections first, so that resumable sessions exist.
    let mut established = connect(&tls.target, server.addr).await.unwrap();
    ping(&mut established).await.unwrap();
    for _ in 0..3 {
        connect_and_ping(&tls.target, server.addr).await.unwrap();
    }
    assert!(server
        .handshakes()
        .iter()
        .all(|h| h.peer_leaf.as_ref() == Some(pki.client.cert_der())));

    let rotated = pki.issue_client("rotated", "rotated storage client");
    store
        .insert_pem("storage-client", rotated.bundle_pem().as_bytes())
        .unwrap();
    until_presented(&tls, &server, &rotated).await;
    // From then on every new connection presents the new certificate (no resumption of
    // sessions authenticated with the old one).
    for _ in 0..3 {
        connect_and_ping(&tls.target, server.addr).await.unwrap();
        assert_eq!(
            server.handshakes().last().unwrap().peer_leaf.as_ref(),
            Some(rotated.cert_der())
        );
    }
    // The connection opened before the rotation still works.
    ping(&mut established).await.unwrap();
    assert_eq!(Arc::as_ptr(&tls.target), config_before);
}

#[tokio::test]
async fn a_failed_reload_keeps_the_last_good_certificate() {
    let pki = TestPki::generate();
    let server = mtls_server(&pki).await;
    let store = Arc::new(MemoryStore::new());
    store
        .insert_pem("storage-client", pki.client.bundle_pem().as_bytes())
        .unwrap();
    let tls = build_service_tls(&by_id("storage-client", &pki), Some(store.clone()), &rotating())
        .await
        .unwrap();

    // Gone from the store, then replaced by a bundle whose key does not match.
    assert!(store.remove("storage-client"));
    tokio::time::sleep(INTERVAL * 4).await;
    connect_and_ping(&tls.target, server.addr).await.unwrap();
    let mismatched = format!("{}{}", pki.client_rsa.chain_pem, pki.client.key_pem);
    store.insert_pem("storage-client", mismatched.as_bytes()).unwrap();
    tokio::time::sleep(INTERVAL * 4).await;
    connect_and_ping(&tls.target, server.addr).await.unwrap();
    assert!(server
        .handshakes()
        .iter()
        .all(|h| h.peer_leaf.as_ref() == Some(pki.client.cert_der())));

    // A good one is picked up again.
    store
        .insert_pem("storage-client", pki.client_rsa.bundle_pem().as_bytes())
        .unwrap();
    until_presented(&tls, &server, &pki.client_rsa).await;
}

#[tokio::test]
async fn a_replaced_file_in_a_directory_store_is_used_by_new_connections() {
    let pki = TestPki::generate();
    let server = mtls_server(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(DirectoryStore::new(dir.path()));
    std::fs::write(store.path_of("storage-client"), pki.client.bundle_pem()).unwrap();
    let tls = build_service_tls(&by_id("storage-client", &pki), Some(store.clone()), &rotating())
        .await
        .unwrap();
    connect_and_ping(&tls.target, server.addr).await.unwrap();
    assert_eq!(
        server.handshake(1).await.peer_leaf.as_ref(),
        Some(pki.client.cert_der())
    );

    let staged = dir.path().join("storage-client.pem.new");
    std::fs::write(&staged, pki.client_rsa.bundle_pem()).unwrap();
    std::fs::rename(&staged, store.path_of("storage-client")).unwrap();
    until_presented(&tls, &server, &pki.client_rsa).await;
}

#[tokio::test]
async fn file_based_certificates_reload_only_when_asked() {
    let pki = TestPki::generate();
    let server = mtls_server(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("client.crt");
    let key = dir.path().join("client.key");
    std::fs::copy(&pki.client_chain_path, &cert).unwrap();
    std::fs::copy(&pki.client_key_path, &key).unwrap();
    let service = resolved(STORAGE, |m| {
        m.cert_file = file_value(STORAGE, "cert_file", cert.clone());
        m.key_file = file_value(STORAGE, "key_file", key.clone());
        m.ca_file = file_value(STORAGE, "ca_file", pki.ca_cert_path.clone());
    });
    let fixed = build_service_tls(&service, None, &rotating()).await.unwrap();
    let reloading = build_service_tls(
        &service,
        None,
        &TlsOptions {
            refresh_interval: Some(INTERVAL),
            reload_files: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();

    // Key first, then certificate: in between, the pair does not match and the reload
    // fails, keeping the old pair.
    std::fs::copy(&pki.client_rsa.key_path, &key).unwrap();
    tokio::time::sleep(INTERVAL * 2).await;
    std::fs::copy(&pki.client_rsa.chain_path, &cert).unwrap();
    until_presented(&reloading, &server, &pki.client_rsa).await;

    tokio::time::sleep(INTERVAL * 4).await;
    connect_and_ping(&fixed.target, server.addr).await.unwrap();
    assert_eq!(
        server.handshakes().last().unwrap().peer_leaf.as_ref(),
        Some(pki.client.cert_der())
    );
}

/// A store that counts lookups.
#[derive(Debug)]
struct CountingStore {
    inner: MemoryStore,
    lookups: AtomicUsize,
}

impl CertificateStore for CountingStore {
    fn client_certificate<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ClientCertificate> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.client_certificate(id)
    }

    fn ca_certificates<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<CertificateDer<'static>>> {
        self.inner.ca_certificates(id)
    }
}

#[tokio::test]
async fn the_refresh_task_stops_when_the_config_is_dropped() {
    let pki = TestPki::generate();
    let store = Arc::new(CountingStore {
        inner: MemoryStore::new(),
        lookups: AtomicUsize::new(0),
    });
    store
        .inner
        .insert_pem("storage-client", pki.client.bundle_pem().as_bytes())
        .unwrap();
    let tls = build_service_tls(&by_id("storage-client", &pki), Some(store.clone()), &rotating())
        .await
        .unwrap();
    let clone = tls.target.clone();
    tokio::time::sleep(INTERVAL * 5).await;
    let polled = store.lookups.load(Ordering::SeqCst);
    assert!(polled >= 3, "the store is polled while the config lives ({polled})");

    drop(tls);
    tokio::time::sleep(INTERVAL * 3).await;
    assert!(
        store.lookups.load(Ordering::SeqCst) > polled,
        "a clone of the config keeps it alive"
    );

    drop(clone);
    tokio::time::sleep(INTERVAL * 2).await;
    let after_drop = store.lookups.load(Ordering::SeqCst);
    tokio::time::sleep(INTERVAL * 5).await;
    assert_eq!(
        store.lookups.load(Ordering::SeqCst),
        after_drop,
        "no lookups after the last config is gone"
    );
    // Only the test still holds the store.
    assert_eq!(Arc::strong_count(&store), 1);
}

#[tokio::test]
async fn resumption_is_on_without_rotation_and_off_with_it() {
    let pki = TestPki::generate();
    let server = mtls_server(&pki).await;
    let store = Arc::new(MemoryStore::new());
    store
        .insert_pem("storage-client", pki.client.bundle_pem().as_bytes())
        .unwrap();
    let service = by_id("storage-client", &pki);

    let fixed = build_service_tls(&service, Some(store.clone()), &TlsOptions::default())
        .await
        .unwrap();
    for _ in 0..3 {
        connect_and_ping(&fixed.target, server.addr).await.unwrap();
    }
    let seen = server.handshakes();
    assert!(!seen[0].resumed && seen[1].resumed && seen[2].resumed, "{seen:?}");
    // A resumed session still carries the client's identity.
    assert_eq!(seen[2].peer_leaf.as_ref(), Some(pki.client.cert_der()));

    let rotating_tls = build_service_tls(&service, Some(store), &rotating()).await.unwrap();
    for _ in 0..3 {
        connect_and_ping(&rotating_tls.target, server.addr).await.unwrap();
    }
    assert!(server.handshakes()[3..].iter().all(|h| !h.resumed));
}
