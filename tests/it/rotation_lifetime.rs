//! Pooled connections move to a rotated client certificate at the reload (issue 20; issue
//! 13 needed `max_connection_lifetime` for it): a client certificate rotated in a directory
//! store, against a real nginx that demands client certificates and answers with
//! `$ssl_client_s_dn` and `$connection`, while the client keeps sending requests on pooled
//! keep-alive connections.
//!
//! A client with `PoolSettings::with_max_connection_lifetime` and the control without one
//! both present the new certificate from the first request after the reload, on a new
//! connection, which they keep reusing.
//!
//! And a client that never idles: workers sending back to back on keep-alive connections
//! (nginx keeps them 60 s) and a reload in the middle. Every request sent after the reload
//! returned presents the new certificate; busy connections of the old one finished their
//! exchange and were not reused; a second rotation with every connection idle closes them
//! at once, not at the idle timeout.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use extsvc_client::{ExternalServices, ServiceClient};
use extsvc_config::{EnvSnapshot, ServiceKind};
use extsvc_resolve::PoolSettings;
use extsvc_tests::nginx::{Nginx, NginxClientVerify, NginxProtocols};
use extsvc_tests::pki::TestPki;
use extsvc_tls::{DirectoryStore, Material, TlsOptions};
use http_body_util::BodyExt;
use serde_json::json;

const LIFETIME: Duration = Duration::from_secs(2);
/// How long both clients keep sending after the reload.
const SENDING: Duration = Duration::from_millis(1500);
/// Between two requests of one client.
const PACE: Duration = Duration::from_millis(100);

const OLD: &str = "CN=extsvc test client";
const NEW: &str = "CN=rotated under a lifetime";
const BUSY_NEW: &str = "CN=rotated on the wire";
/// Workers of the client that never idles.
const WORKERS: usize = 4;

fn nginx(pki: &TestPki) -> Nginx {
    Nginx::start(pki.nginx_options(NginxClientVerify::On, NginxProtocols::Both))
}

/// The test PKI, nginx demanding its client certificates, and a directory store holding
/// the client certificate (`oauth-client`) and the CA (`oauth-ca`).
struct Setup {
    pki: TestPki,
    server: Nginx,
    dir: tempfile::TempDir,
    store: DirectoryStore,
}

impl Setup {
    fn new() -> Setup {
        let pki = TestPki::generate();
        let server = nginx(&pki);
        let dir = tempfile::tempdir().unwrap();
        let store = DirectoryStore::new(dir.path());
        std::fs::write(store.path_of("oauth-client"), pki.client.bundle_pem()).unwrap();
        std::fs::write(store.path_of("oauth-ca"), &pki.ca_cert_pem).unwrap();
        Setup {
            pki,
            server,
            dir,
            store,
        }
    }

    /// Replaces the store's client certificate with a new one named `common_name`, as a
    /// careful writer does (written aside, renamed over).
    fn rotate(&self, name: &str, common_name: &str) {
        let rotated = self.pki.issue_client(name, common_name);
        let staged = self.dir.path().join("oauth-client.staged");
        std::fs::write(&staged, rotated.bundle_pem()).unwrap();
        std::fs::rename(&staged, self.store.path_of("oauth-client")).unwrap();
    }
}

/// The front door with `oauth` taking its client certificate and CA from `store`, with
/// `pool` when given; no periodic refresh: the test reloads on demand.
async fn services(store: &DirectoryStore, pool: Option<PoolSettings>) -> ExternalServices {
    let conf = json!({ "external_services": { "oauth": { "mtls": {
        "enabled": true, "cert_id": "oauth-client", "ca_cert_ids": ["oauth-ca"]
    } } } })
    .to_string();
    let mut builder = ExternalServices::builder()
        .tyk_conf_str(conf, "tyk.conf")
        .env(EnvSnapshot::empty())
        .cert_store(Arc::new(store.clone()))
        .tls_options(TlsOptions::default().with_refresh_interval(None));
    if let Some(pool) = pool {
        builder = builder.pool(ServiceKind::Oauth, pool);
    }
    builder.build().await.unwrap()
}

/// What nginx saw of one keep-alive request: the client certificate's DN and its
/// connection serial number.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    dn: String,
    connection: String,
}

async fn seen(client: &ServiceClient, url: &str) -> Seen {
    let req = http::Request::get(url)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    seen_of(client, req).await
}

async fn seen_of(client: &ServiceClient, req: http::Request<http_body_util::Empty<Bytes>>) -> Seen {
    let run = async {
        let response = client.request(req).await.unwrap();
        assert_eq!(response.status(), 200);
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let seen = Seen {
            dn: header("x-ssl-client-s-dn"),
            connection: header("x-connection"),
        };
        response.into_body().collect().await.unwrap();
        seen
    };
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the request hung past its deadline")
}

/// Requests every [`PACE`] until `until`, each with the time it was sent at.
async fn keep_sending(client: &ServiceClient, url: &str, until: Instant) -> Vec<(Instant, Seen)> {
    let mut answers = Vec::new();
    while Instant::now() < until {
        let sent = Instant::now();
        answers.push((sent, seen(client, url).await));
        tokio::time::sleep(PACE).await;
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_move_to_a_rotated_client_certificate_at_the_reload_lifetime_or_not() {
    let setup = Setup::new();
    let store = &setup.store;
    let url = format!("{}/lifetime", setup.server.https_url());

    let with_lifetime = services(
        store,
        Some(PoolSettings::for_service(ServiceKind::Oauth).with_max_connection_lifetime(LIFETIME)),
    )
    .await;
    let control = services(store, None).await;
    let (lifetime_client, control_client) = (
        with_lifetime.client(ServiceKind::Oauth),
        control.client(ServiceKind::Oauth),
    );

    // Both clients hold a pooled connection made with the old certificate.
    let before = seen(&lifetime_client, &url).await;
    let control_before = seen(&control_client, &url).await;
    assert!(before.dn.contains(OLD), "{before:?}");
    assert!(control_before.dn.contains(OLD), "{control_before:?}");
    assert_eq!(seen(&lifetime_client, &url).await, before, "the connection is kept");

    // Rotate the client certificate in the store and reload both.
    setup.rotate("rotated-lifetime", "rotated under a lifetime");
    for services in [&with_lifetime, &control] {
        let reports = services.reload().await;
        let oauth = reports.iter().find(|r| r.service == ServiceKind::Oauth).unwrap();
        assert_eq!(oauth.changed, [Material::ClientCertificate], "{oauth:?}");
        assert!(oauth.failed.is_empty(), "{oauth:?}");
    }

    // Both keep sending, side by side.
    let until = Instant::now() + SENDING;
    let (answers, control_answers) = tokio::join!(
        keep_sending(&lifetime_client, &url, until),
        keep_sending(&control_client, &url, until)
    );

    // Rotation reaches the wire at the reload, lifetime or not (SPEC section 4): the
    // connection made before it is idle here and closed with the reload, so the very
    // first request after it presents the new certificate, on a new connection, and the
    // following ones reuse that connection.
    for (answers, before) in [(&answers, &before), (&control_answers, &control_before)] {
        assert!(answers.len() >= 10, "{answers:?}");
        for (_, seen) in answers {
            assert!(
                seen.dn.contains(NEW),
                "the old certificate after the reload: {answers:?}"
            );
            assert_ne!(seen.connection, before.connection, "{answers:?}");
        }
        let connections: HashSet<_> = answers.iter().map(|(_, seen)| &seen.connection).collect();
        assert!(connections.len() <= 3, "pooled, not one per request: {answers:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_client_certificate_reaches_busy_keep_alive_connections_after_their_exchange() {
    let setup = Setup::new();
    let store = &setup.store;
    let url = format!("{}/busy", setup.server.https_url());
    // No refresh task: the test reloads, so it knows when the new generation is out (the
    // refresh task publishes a generation the same way).
    let services = services(store, None).await;
    let client = services.client(ServiceKind::Oauth);

    // Workers send back to back until told to stop.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (client, url, stop) = (client.clone(), url.clone(), stop.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let sent = Instant::now();
                    let answer = seen(&client, &url).await;
                    answers.push((sent, answer, Instant::now()));
                }
                answers
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    setup.rotate("rotated-on-the-wire", "rotated on the wire");
    let reloading = Instant::now();
    let reports = services.reload().await;
    let reloaded = Instant::now();
    let oauth = reports.iter().find(|r| r.service == ServiceKind::Oauth).unwrap();
    assert_eq!(oauth.changed, [Material::ClientCertificate], "{oauth:?}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answers = Vec::new();
    for worker in workers {
        answers.extend(worker.await.unwrap());
    }

    // (Requests in flight while the reload ran may have either certificate: one that
    // waited for a new connection during the reload gets the new one.)
    let before: Vec<&Seen> = answers
        .iter()
        .filter(|(_, _, done)| *done < reloading)
        .map(|(_, s, _)| s)
        .collect();
    let after: Vec<(Instant, &Seen)> = answers
        .iter()
        .filter(|(sent, _, _)| *sent >= reloaded)
        .map(|(t, s, _)| (*t, s))
        .collect();
    // Before the reload: the old certificate, on kept connections (keep-alive in use).
    assert!(before.len() >= 20, "{} requests before the reload", before.len());
    assert!(before.iter().all(|s| s.dn.contains(OLD)), "{before:?}");
    let old_connections: HashSet<&str> = before.iter().map(|s| s.connection.as_str()).collect();
    assert!(
        old_connections.len() <= WORKERS + 2,
        "keep-alive was not in use: {} connections for {} requests",
        old_connections.len(),
        before.len()
    );
    // After it: every request sent presents the new certificate, on new connections,
    // which are kept in turn.
    assert!(after.len() >= 20, "{} requests after the reload", after.len());
    for (sent, s) in &after {
        assert!(
            s.dn.contains(BUSY_NEW) && !old_connections.contains(s.connection.as_str()),
            "a request sent {:?} after the reload went out on {s:?}",
            *sent - reloaded
        );
    }
    // A connection whose slot was granted just before the reload is tagged with the old
    // generation (the safe side) and closed after one exchange: up to one per worker more.
    let new_connections: HashSet<&str> = after.iter().map(|(_, s)| s.connection.as_str()).collect();
    assert!(new_connections.len() <= 2 * WORKERS + 2, "{new_connections:?}");

    // Idle connections of an older generation are closed when the material rotates, not
    // at the idle timeout (30 s): rotate again with every connection idle.
    let stats = client.stats();
    assert!(stats.idle >= 1, "{stats:?}");
    setup.rotate("rotated-again", "rotated while idle");
    services.reload().await;
    let deadline = Instant::now() + Duration::from_secs(2);
    while client.stats().idle > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(client.stats().idle, 0, "{:?}", client.stats());
    assert!(seen(&client, &url).await.dn.contains("CN=rotated while idle"));
}
