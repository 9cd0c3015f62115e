//! Rotation through a real rustls server: a certificate replaced in the store (or in its
//! files) is presented by the next new connection, a replaced CA verifies the next one on
//! both legs, established connections keep working, nothing is rebuilt, failed reloads keep
//! the last good material and say why, sessions resume within a generation of the material
//! and never across a swap — however late an old connection reads its tickets — and the
//! refresh task ends with the config.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::tls_support::{connect, connect_and_ping, connect_with, file_value, ping, resolved, TlsServer};
use extsvc_config::ServiceKind;
use extsvc_tests::pki::{ClientAuthMode, IssuedCert, ServerTlsOptions, ServerVersions, TestPki};
use extsvc_tls::{
    build_service_tls, CertificateStore, ClientCertificate, DirectoryStore, Material, MemoryStore, ServiceTls,
    StoreFuture, TlsError, TlsOptions, DEFAULT_REFRESH_INTERVAL,
};
use rustls::pki_types::CertificateDer;

const STORAGE: ServiceKind = ServiceKind::Storage;
const INTERVAL: Duration = Duration::from_millis(50);

/// How long after a swap the previous design (one session store for all generations)
/// dropped the tickets offered; an old connection reading its tickets later than this
/// filed them under the new generation.
const OLD_SETTLE_WINDOW: Duration = Duration::from_secs(5);

fn rotating() -> TlsOptions {
    TlsOptions::default().with_refresh_interval(Some(INTERVAL))
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

/// An mTLS server speaking `versions`; a memory store holding `pki.client` as
/// `storage-client`; and the storage service's TLS built from it with no refresh task (the
/// tests swap the entry and reload by hand).
async fn manual_rotation(pki: &TestPki, versions: ServerVersions) -> (TlsServer, Arc<MemoryStore>, ServiceTls) {
    let server = TlsServer::start(pki.server_config(ServerTlsOptions {
        client_auth: ClientAuthMode::Required,
        versions,
        ..Default::default()
    }))
    .await;
    let store = Arc::new(MemoryStore::new());
    store
        .insert_pem("storage-client", pki.client.bundle_pem().as_bytes())
        .unwrap();
    let manual = TlsOptions::default().with_refresh_interval(None);
    let tls = build_service_tls(&by_id("storage-client", pki), Some(store.clone()), &manual)
        .await
        .unwrap();
    (server, store, tls)
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
    let generation_before = tls.target.current();
    let proxy_before = tls.proxy.current();

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
    // The connection opened before the rotation still works; the leg got a new
    // configuration for the new generation, and the old one is left as it was.
    ping(&mut established).await.unwrap();
    assert!(!Arc::ptr_eq(&tls.target.current(), &generation_before));
    assert!(Arc::ptr_eq(&tls.target.current(), &tls.target.current()));
    assert_eq!(tls.generation(), 1);
    // The proxy leg's material did not change: it keeps its configuration and sessions.
    assert!(Arc::ptr_eq(&tls.proxy.current(), &proxy_before));
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
async fn files_rotate_by_default_a_half_written_pair_keeps_the_last_good_one() {
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
    assert_eq!(TlsOptions::default().refresh_interval, Some(DEFAULT_REFRESH_INTERVAL));
    let fixed = build_service_tls(&service, None, &TlsOptions::default().with_refresh_interval(None))
        .await
        .unwrap();
    let reloading = build_service_tls(&service, None, &rotating()).await.unwrap();

    // Key first, then certificate: in between, the pair does not match; a reload keeps the
    // old pair, says why, and logs a WARN naming the files.
    std::fs::copy(&pki.client_rsa.key_path, &key).unwrap();
    let (report, log) = with_log(fixed.reload()).await;
    assert!(report.changed.is_empty(), "{report:?}");
    assert!(
        matches!(report.failed[..], [TlsError::KeyMismatch { .. }]),
        "{report:?}"
    );
    assert!(
        log.contains("WARN") && log.contains("client.key") && log.contains("client.crt"),
        "{log}"
    );
    tokio::time::sleep(INTERVAL * 2).await;
    connect_and_ping(&reloading.target, server.addr).await.unwrap();
    assert_eq!(
        server.handshakes().last().unwrap().peer_leaf.as_ref(),
        Some(pki.client.cert_der())
    );
    std::fs::copy(&pki.client_rsa.chain_path, &cert).unwrap();
    until_presented(&reloading, &server, &pki.client_rsa).await;

    // With the refresh off, nothing changes until asked.
    tokio::time::sleep(INTERVAL * 4).await;
    connect_and_ping(&fixed.target, server.addr).await.unwrap();
    assert_eq!(
        server.handshakes().last().unwrap().peer_leaf.as_ref(),
        Some(pki.client.cert_der())
    );
    let report = fixed.reload().await;
    assert_eq!(report.changed, [Material::ClientCertificate], "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(fixed.generation(), 1);
    until_presented(&fixed, &server, &pki.client_rsa).await;
    assert!(fixed.reload().await.is_unchanged());
}

/// Runs `future` with a log subscriber on this thread; returns its output and the log.
async fn with_log<T>(future: impl std::future::Future<Output = T>) -> (T, String) {
    let logs = extsvc_test_support::LogCapture::new();
    let output = {
        let _guard = tracing::subscriber::set_default(logs.subscriber(tracing::Level::INFO));
        future.await
    };
    (output, logs.text())
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

/// Sessions resume while the material stays; after a swap the next connection makes a
/// full handshake with the new certificate although tickets of the old one were saved, and
/// the one after it resumes the new generation's session (with its identity) at once.
async fn resumption_follows_the_generation(versions: ServerVersions) {
    let pki = TestPki::generate();
    let (server, store, tls) = manual_rotation(&pki, versions).await;
    for _ in 0..3 {
        connect_and_ping(&tls.target, server.addr).await.unwrap();
    }
    let seen = server.handshakes();
    assert!(!seen[0].resumed && seen[1].resumed && seen[2].resumed, "{seen:?}");
    assert!(seen.iter().all(|h| h.peer_leaf.as_ref() == Some(pki.client.cert_der())));

    store
        .insert_pem("storage-client", pki.client_rsa.bundle_pem().as_bytes())
        .unwrap();
    assert_eq!(tls.reload().await.changed, [Material::ClientCertificate]);
    for _ in 0..3 {
        connect_and_ping(&tls.target, server.addr).await.unwrap();
    }
    let after = &server.handshakes()[3..];
    assert!(!after[0].resumed && after[1].resumed && after[2].resumed, "{after:?}");
    assert!(after
        .iter()
        .all(|h| h.peer_leaf.as_ref() == Some(pki.client_rsa.cert_der())));
}

#[tokio::test]
async fn tls13_sessions_resume_within_a_generation_and_never_across_a_swap() {
    resumption_follows_the_generation(ServerVersions::Tls13Only).await;
}

#[tokio::test]
async fn tls12_sessions_resume_within_a_generation_and_never_across_a_swap() {
    resumption_follows_the_generation(ServerVersions::Tls12Only).await;
}

/// The case that made resumption unsafe with rotation: a connection whose full handshake
/// used the old certificate reads its TLS 1.3 tickets only after the swap — here right
/// after it, and long after it (past the window the previous design relied on, where it
/// resumed the old identity). Those tickets go to the old generation's session store: a
/// new connection presents the new certificate, while the old generation's configuration
/// (kept by the test) does resume them, so they were saved.
#[tokio::test]
async fn tickets_of_a_connection_older_than_the_swap_are_never_resumed_however_late() {
    let pki = TestPki::generate();
    let (server, store, tls) = manual_rotation(&pki, ServerVersions::Tls13Only).await;
    let old_generation = tls.target.current();
    // Handshakes done, tickets still unread on the sockets.
    let mut soon = connect(&tls.target, server.addr).await.unwrap();
    let mut late = connect(&tls.target, server.addr).await.unwrap();
    store
        .insert_pem("storage-client", pki.client_rsa.bundle_pem().as_bytes())
        .unwrap();
    assert_eq!(tls.reload().await.changed, [Material::ClientCertificate]);

    ping(&mut soon).await.unwrap(); // reads (and saves) its old-identity tickets now
    connect_and_ping(&tls.target, server.addr).await.unwrap();
    tokio::time::sleep(OLD_SETTLE_WINDOW + Duration::from_millis(500)).await;
    ping(&mut late).await.unwrap(); // and this one long after the swap
    for _ in 0..2 {
        connect_and_ping(&tls.target, server.addr).await.unwrap();
    }
    let newer = &server.handshakes()[2..];
    assert_eq!(newer.len(), 3);
    assert!(!newer[0].resumed, "{newer:?}");
    assert!(newer
        .iter()
        .all(|h| h.peer_leaf.as_ref() == Some(pki.client_rsa.cert_der())));

    // The old tickets exist: the old generation's configuration resumes them.
    let mut old = connect_with(old_generation, server.addr).await.unwrap();
    ping(&mut old).await.unwrap();
    let last = server.handshakes().last().cloned().unwrap();
    assert!(
        last.resumed && last.peer_leaf.as_ref() == Some(pki.client.cert_der()),
        "{last:?}"
    );
}

/// The client crate's connector takes the current generation for each new connection, sets
/// ALPN on each generation once, and keeps resumption within a generation.
#[tokio::test]
async fn the_client_connector_follows_the_generations_and_resumes_within_one() {
    use tower::ServiceExt;
    let pki = TestPki::generate();
    let (server, store, tls) = manual_rotation(&pki, ServerVersions::Tls13Only).await;
    let http1 = extsvc_client::connect::http1_tls_config(&tls.target);
    let connector =
        extsvc_client::connect::TlsConnector::new(http1.clone(), extsvc_client::connect::TcpConnector::new());
    let uri: http::Uri = format!("https://127.0.0.1:{}/", server.addr.port()).parse().unwrap();
    let connect_and_ping = || async {
        let mut stream = connector.clone().oneshot(uri.clone()).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stream, b"ping\n")
            .await
            .unwrap();
        let mut pong = [0u8; 5];
        tokio::io::AsyncReadExt::read_exact(&mut stream, &mut pong)
            .await
            .unwrap();
        assert_eq!(&pong, b"pong\n");
    };

    let first = http1.current();
    assert_eq!(first.alpn_protocols, [b"http/1.1".to_vec()]);
    for _ in 0..2 {
        connect_and_ping().await;
    }
    assert!(Arc::ptr_eq(&first, &http1.current()), "ALPN is set once per generation");
    store
        .insert_pem("storage-client", pki.client_rsa.bundle_pem().as_bytes())
        .unwrap();
    assert_eq!(tls.reload().await.changed, [Material::ClientCertificate]);
    for _ in 0..2 {
        connect_and_ping().await;
    }
    let second = http1.current();
    assert!(!Arc::ptr_eq(&first, &second) && second.alpn_protocols == [b"http/1.1".to_vec()]);

    let seen = server.handshakes();
    let identities: Vec<(bool, bool)> = seen
        .iter()
        .map(|h| (h.resumed, h.peer_leaf.as_ref() == Some(pki.client.cert_der())))
        .collect();
    // (resumed, old identity): full + resumed with the old, then full + resumed with the new.
    assert_eq!(
        identities,
        [(false, true), (true, true), (false, false), (true, false)],
        "{seen:?}"
    );
    assert!(seen[2..]
        .iter()
        .all(|h| h.peer_leaf.as_ref() == Some(pki.client_rsa.cert_der())));
}

/// CA rotation reaches both legs: the target's roots (replaced by the CA) and the proxy
/// leg's (default roots plus the CA). With `insecure_skip_verify` the target accepts any
/// server all along, while the proxy leg is verified against the current CA.
#[tokio::test]
async fn a_ca_rotates_on_both_legs_and_insecure_skip_verify_never_relaxes_the_proxy_leg() {
    let pki = TestPki::generate();
    let server = TlsServer::start(pki.server_config(ServerTlsOptions::default())).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    std::fs::copy(&pki.rogue_ca_cert_path, &ca).unwrap();
    let verified = resolved(STORAGE, |m| m.ca_file = file_value(STORAGE, "ca_file", ca.clone()));
    let insecure = resolved(STORAGE, |m| {
        m.ca_file = file_value(STORAGE, "ca_file", ca.clone());
        m.insecure_skip_verify = file_value(STORAGE, "insecure_skip_verify", true);
    });
    let manual = TlsOptions::default().with_refresh_interval(None);
    let verified = build_service_tls(&verified, None, &manual).await.unwrap();
    let insecure = build_service_tls(&insecure, None, &manual).await.unwrap();
    assert!(connect_and_ping(&verified.target, server.addr).await.is_err());
    assert!(connect_and_ping(&verified.proxy, server.addr).await.is_err());
    connect_and_ping(&insecure.target, server.addr).await.unwrap();
    assert!(connect_and_ping(&insecure.proxy, server.addr).await.is_err());

    std::fs::copy(&pki.ca_cert_path, &ca).unwrap();
    let insecure_target = insecure.target.current();
    for tls in [&verified, &insecure] {
        let (target, proxy) = (tls.target.current(), tls.proxy.current());
        assert_eq!(tls.reload().await.changed, [Material::CaCertificates]);
        assert!(!Arc::ptr_eq(&proxy, &tls.proxy.current()));
        // The insecure target leg never verifies: new roots leave its configuration be.
        assert_eq!(
            Arc::ptr_eq(&target, &tls.target.current()),
            std::ptr::eq(tls, &insecure)
        );
        connect_and_ping(&tls.target, server.addr).await.unwrap();
        connect_and_ping(&tls.proxy, server.addr).await.unwrap();
    }

    // Trust taken away again: no session verified under the old roots is resumed.
    std::fs::copy(&pki.rogue_ca_cert_path, &ca).unwrap();
    for tls in [&verified, &insecure] {
        assert_eq!(tls.reload().await.changed, [Material::CaCertificates]);
        assert!(connect_and_ping(&tls.proxy, server.addr).await.is_err());
    }
    assert!(connect_and_ping(&verified.target, server.addr).await.is_err());
    connect_and_ping(&insecure.target, server.addr).await.unwrap();
    assert!(Arc::ptr_eq(&insecure_target, &insecure.target.current()));
}

/// Of several `ca_cert_ids`, either all load or the roots in use stay (never a partial set),
/// while the client certificate is still decided on its own.
#[tokio::test]
async fn ca_ids_rotate_all_together_or_not_at_all() {
    let pki = TestPki::generate();
    let server = mtls_server(&pki).await;
    let store = Arc::new(MemoryStore::new());
    store
        .insert_pem("storage-client", pki.client.bundle_pem().as_bytes())
        .unwrap();
    store.insert_pem("root", pki.ca_cert_pem.as_bytes()).unwrap();
    store.insert_pem("extra", pki.rogue_ca_cert_pem.as_bytes()).unwrap();
    let service = resolved(STORAGE, |m| {
        m.cert_id = file_value(STORAGE, "cert_id", "storage-client".to_owned());
        m.ca_cert_ids = file_value(STORAGE, "ca_cert_ids", vec!["root".to_owned(), "extra".to_owned()]);
    });
    let tls = build_service_tls(
        &service,
        Some(store.clone()),
        &TlsOptions::default().with_refresh_interval(None),
    )
    .await
    .unwrap();
    connect_and_ping(&tls.target, server.addr).await.unwrap();

    // "root" now holds the rogue CA, "extra" is gone: nothing of the CA set is swapped, the
    // failure names the id, and the new client certificate still is.
    store.insert_pem("root", pki.rogue_ca_cert_pem.as_bytes()).unwrap();
    assert!(store.remove("extra"));
    store
        .insert_pem("storage-client", pki.client_rsa.bundle_pem().as_bytes())
        .unwrap();
    let report = tls.reload().await;
    assert_eq!(report.changed, [Material::ClientCertificate], "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(report.failed[0].to_string().contains("extra"), "{}", report.failed[0]);
    connect_and_ping(&tls.target, server.addr).await.unwrap();
    assert_eq!(
        server.handshakes().last().unwrap().peer_leaf.as_ref(),
        Some(pki.client_rsa.cert_der())
    );

    // Both ids back: the set swaps, and only the rogue CA is trusted now.
    store.insert_pem("extra", pki.rogue_ca_cert_pem.as_bytes()).unwrap();
    let report = tls.reload().await;
    assert_eq!(report.changed, [Material::CaCertificates], "{report:?}");
    assert!(connect_and_ping(&tls.target, server.addr).await.is_err());
    assert_eq!(tls.generation(), 2);
}
