//! Rotation reaches the wire (SPEC section 4): when a service's client certificate
//! rotates, its idle pooled connections of the old generation close at once and busy ones
//! are not reused after their current exchange, without `max_connection_lifetime`.
//!
//! Against a real nginx with keep-alive on (`keepalive_timeout 60s`) that demands a client
//! certificate and answers with `$ssl_client_s_dn` and `$connection`: workers that send
//! back to back, so the client's connections are never idle for long, and a reload in the
//! middle. Every request sent after the reload returned presents the new certificate;
//! before it, the old one on a few kept connections.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use extsvc_client::{ExternalServices, ServiceClient};
use extsvc_config::{EnvSnapshot, ServiceKind};
use extsvc_tests::nginx::{Nginx, NginxClientVerify, NginxOptions, NginxProtocols, NginxTls};
use extsvc_tests::pki::TestPki;
use extsvc_tls::{DirectoryStore, Material, TlsOptions};
use http_body_util::BodyExt;
use serde_json::json;

const OLD: &str = "CN=extsvc test client";
const NEW: &str = "CN=rotated on the wire";
const WORKERS: usize = 4;

/// What nginx saw of one request, and when the request was sent.
#[derive(Debug, Clone)]
struct Seen {
    sent: Instant,
    dn: String,
    connection: String,
}

async fn get(client: &ServiceClient, url: &str) -> Seen {
    let sent = Instant::now();
    let req = http::Request::get(url)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
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
        let (dn, connection) = (header("x-ssl-client-s-dn"), header("x-connection"));
        response.into_body().collect().await.unwrap();
        Seen { sent, dn, connection }
    };
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the request hung past its deadline")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_client_certificate_reaches_busy_keep_alive_connections_after_their_exchange() {
    let pki = TestPki::generate();
    let server = Nginx::start(NginxOptions {
        tls: Some(NginxTls {
            cert_chain_path: pki.server_chain_path.clone(),
            key_path: pki.server_key_path.clone(),
            client_ca_path: Some(pki.ca_cert_path.clone()),
            verify_client: NginxClientVerify::On,
            protocols: NginxProtocols::Both,
        }),
        plain_http: false,
    });
    let url = format!("{}/busy", server.https_url());
    let dir = tempfile::tempdir().unwrap();
    let store = DirectoryStore::new(dir.path());
    std::fs::write(store.path_of("oauth-client"), pki.client.bundle_pem()).unwrap();
    let conf = json!({ "external_services": { "oauth": { "mtls": {
        "enabled": true, "cert_id": "oauth-client", "ca_file": pki.ca_cert_path
    } } } })
    .to_string();
    // No refresh task: the test reloads, so it knows when the new generation is out (the
    // refresh task publishes a generation the same way).
    let services = ExternalServices::builder()
        .tyk_conf_str(conf, "tyk.conf")
        .env(EnvSnapshot::empty())
        .cert_store(Arc::new(store.clone()))
        .tls_options(TlsOptions::default().with_refresh_interval(None))
        .build()
        .await
        .unwrap();
    let client = services.client(ServiceKind::Oauth);

    // Workers send back to back until told to stop.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (client, url, stop) = (client.clone(), url.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    seen.push(get(&client, &url).await);
                }
                seen
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    let rotated = pki.issue_client("rotated-on-the-wire", "rotated on the wire");
    let staged = dir.path().join("oauth-client.staged");
    std::fs::write(&staged, rotated.bundle_pem()).unwrap();
    std::fs::rename(&staged, store.path_of("oauth-client")).unwrap();
    let reloading = Instant::now();
    let reports = services.reload().await;
    let reloaded = Instant::now();
    let oauth = reports.iter().find(|r| r.service == ServiceKind::Oauth).unwrap();
    assert_eq!(oauth.changed, [Material::ClientCertificate], "{oauth:?}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut seen = Vec::new();
    for worker in workers {
        seen.extend(worker.await.unwrap());
    }

    // (Requests sent while the reload ran may have either certificate.)
    let before: Vec<&Seen> = seen.iter().filter(|s| s.sent < reloading).collect();
    let after: Vec<&Seen> = seen.iter().filter(|s| s.sent >= reloaded).collect();
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
    for s in &after {
        assert!(
            s.dn.contains(NEW) && !old_connections.contains(s.connection.as_str()),
            "a request sent {:?} after the reload went out on {s:?}",
            s.sent - reloaded
        );
    }
    // A connection whose slot was granted just before the reload is tagged with the old
    // generation (the safe side) and closed after one exchange: up to one per worker more.
    let new_connections: HashSet<&str> = after.iter().map(|s| s.connection.as_str()).collect();
    assert!(new_connections.len() <= 2 * WORKERS + 2, "{new_connections:?}");

    // Idle connections of an older generation are closed when the material rotates, not
    // at the idle timeout (30 s): rotate again with every connection idle.
    let stats = client.stats();
    assert!(stats.idle >= 1, "{stats:?}");
    let again = pki.issue_client("rotated-again", "rotated while idle");
    std::fs::write(&staged, again.bundle_pem()).unwrap();
    std::fs::rename(&staged, store.path_of("oauth-client")).unwrap();
    services.reload().await;
    let deadline = Instant::now() + Duration::from_secs(2);
    while client.stats().idle > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(client.stats().idle, 0, "{:?}", client.stats());
    assert!(get(&client, &url).await.dn.contains("CN=rotated while idle"));
}
