//! With a lifetime set, pooled connections move over within it (issue 13): a client
//! certificate rotated in a directory store, against a real nginx that demands client
//! certificates and answers with `$ssl_client_s_dn` and `$connection`, while the client
//! keeps sending requests on pooled keep-alive connections.
//!
//! The client built with `PoolSettings::with_max_connection_lifetime` (through the
//! builder's `.pool`) presents the new certificate on every request from the lifetime on
//! (plus a bound for a loaded machine); until then only the connection made before the
//! rotation carries the old one. The control, without a lifetime, keeps its pooled
//! connection and so the old certificate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use extsvc_client::{ExternalServices, ServiceClient};
use extsvc_config::{EnvSnapshot, ServiceKind};
use extsvc_resolve::PoolSettings;
use extsvc_tests::nginx::{Nginx, NginxClientVerify, NginxOptions, NginxProtocols, NginxTls};
use extsvc_tests::pki::TestPki;
use extsvc_tls::{DirectoryStore, Material, TlsOptions};
use http_body_util::BodyExt;
use serde_json::json;

const LIFETIME: Duration = Duration::from_secs(2);
/// Beyond the lifetime, how late the move may be on a loaded machine.
const BOUND: Duration = Duration::from_secs(3);
/// Between two requests of one client.
const PACE: Duration = Duration::from_millis(100);

const OLD: &str = "CN=extsvc test client";
const NEW: &str = "CN=rotated under a lifetime";

fn nginx(pki: &TestPki) -> Nginx {
    Nginx::start(NginxOptions {
        tls: Some(NginxTls {
            cert_chain_path: pki.server_chain_path.clone(),
            key_path: pki.server_key_path.clone(),
            client_ca_path: Some(pki.ca_cert_path.clone()),
            verify_client: NginxClientVerify::On,
            protocols: NginxProtocols::Both,
        }),
        plain_http: false,
    })
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
async fn with_a_lifetime_pooled_connections_move_to_a_rotated_client_certificate_within_it() {
    let pki = TestPki::generate();
    let server = nginx(&pki);
    let url = format!("{}/lifetime", server.https_url());
    let dir = tempfile::tempdir().unwrap();
    let store = DirectoryStore::new(dir.path());
    std::fs::write(store.path_of("oauth-client"), pki.client.bundle_pem()).unwrap();
    std::fs::write(store.path_of("oauth-ca"), &pki.ca_cert_pem).unwrap();

    let with_lifetime = services(
        &store,
        Some(PoolSettings::for_service(ServiceKind::Oauth).with_max_connection_lifetime(LIFETIME)),
    )
    .await;
    let control = services(&store, None).await;
    let (lifetime_client, control_client) = (
        with_lifetime.client(ServiceKind::Oauth),
        control.client(ServiceKind::Oauth),
    );

    let first_connections_from = Instant::now();
    // Both clients hold a pooled connection made with the old certificate.
    let before = seen(&lifetime_client, &url).await;
    let control_before = seen(&control_client, &url).await;
    assert!(before.dn.contains(OLD), "{before:?}");
    assert!(control_before.dn.contains(OLD), "{control_before:?}");
    assert_eq!(seen(&lifetime_client, &url).await, before, "the connection is kept");
    let old_made_by = Instant::now();

    // Rotate the client certificate in the store and reload both.
    let rotated = pki.issue_client("rotated-lifetime", "rotated under a lifetime");
    let staged = dir.path().join("oauth-client.staged");
    std::fs::write(&staged, rotated.bundle_pem()).unwrap();
    std::fs::rename(&staged, store.path_of("oauth-client")).unwrap();
    for services in [&with_lifetime, &control] {
        let reports = services.reload().await;
        let oauth = reports.iter().find(|r| r.service == ServiceKind::Oauth).unwrap();
        assert_eq!(oauth.changed, [Material::ClientCertificate], "{oauth:?}");
        assert!(oauth.failed.is_empty(), "{oauth:?}");
    }

    // Both keep sending, side by side, for the lifetime and the bound.
    let until = old_made_by + LIFETIME + BOUND;
    let (answers, control_answers) = tokio::join!(
        keep_sending(&lifetime_client, &url, until),
        keep_sending(&control_client, &url, until)
    );

    // With the lifetime: the old certificate only on the connection made before the
    // rotation, and nothing after the lifetime; the new one on a new connection, and
    // on every request after the first that had it.
    let moved_at = answers
        .iter()
        .position(|(_, seen)| seen.dn.contains(NEW))
        .unwrap_or_else(|| panic!("never moved within {:?}: {answers:?}", LIFETIME + BOUND));
    // The move is the lifetime's doing: not before the old connection could be that old.
    assert!(
        answers[moved_at].0 >= first_connections_from + LIFETIME,
        "moved before the lifetime: {answers:?}"
    );
    for (sent, seen) in &answers[..moved_at] {
        assert_eq!(seen, &before, "before the move, only the old pooled connection");
        assert!(
            *sent < old_made_by + LIFETIME + BOUND,
            "the old certificate after the lifetime and the bound: {answers:?}"
        );
    }
    for (_, seen) in &answers[moved_at..] {
        assert!(seen.dn.contains(NEW), "back to the old certificate: {answers:?}");
        assert_ne!(seen.connection, before.connection, "{answers:?}");
    }
    // Moved within the lifetime (and the bound), on pooled connections: a handful of
    // connections, not one per request (each new one is itself retired at its lifetime).
    let new_connections: std::collections::HashSet<_> =
        answers[moved_at..].iter().map(|(_, seen)| &seen.connection).collect();
    assert!(
        answers.len() - moved_at >= 3 && new_connections.len() <= 3,
        "{answers:?}"
    );

    // Without a lifetime: the same pooled connection, the old certificate, throughout.
    assert!(control_answers.len() >= 10, "{control_answers:?}");
    for (_, seen) in &control_answers {
        assert_eq!(seen, &control_before, "the control's pooled connection moved");
    }
    // And a new connection of the control presents the new certificate: the reload did
    // reach it, only its pooled connection keeps the old handshake. `Connection: close`
    // ends the pooled connection first, so the next request needs a new one.
    let closing = closing_request(&control_client, &url).await;
    assert_eq!(closing, control_before, "the close went on the pooled connection");
    let fresh = closing_request(&control_client, &url).await;
    assert!(fresh.dn.contains(NEW), "{fresh:?}");
    assert_ne!(fresh.connection, control_before.connection);
}

/// One request with `Connection: close`: it goes on the pooled connection when there is
/// one, and that connection ends with it.
async fn closing_request(client: &ServiceClient, url: &str) -> Seen {
    let req = http::Request::get(url)
        .header(http::header::CONNECTION, "close")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    seen_of(client, req).await
}
