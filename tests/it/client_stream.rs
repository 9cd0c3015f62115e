//! `storage`'s stream connector against a real redis-server: `redis://` tunnelled through
//! squid with `CONNECT`, `rediss://` with the service's client certificate (directly and
//! through squid's `https_proxy`), and the connect deadline.

use std::sync::Arc;
use std::time::Duration;

use extsvc_client::{ErrorKind, Phase, StreamConnector};
use extsvc_config::ServiceKind;
use extsvc_resolve::ResolvedService;
use extsvc_tests::client::{resolved_service, service_conf};
use extsvc_tests::pki::TestPki;
use extsvc_tests::redis::{RedisOptions, RedisServer, RedisTls};
use extsvc_tests::squid::{Squid, SquidOptions};
use extsvc_tls::{build_service_tls, TlsOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn storage(proxy: serde_json::Value, pki: &TestPki) -> ResolvedService {
    resolved_service(
        &service_conf(ServiceKind::Storage, proxy, pki.client_mtls()),
        ServiceKind::Storage,
    )
}

async fn connector(service: ResolvedService) -> StreamConnector {
    let tls = build_service_tls(&service, None, &TlsOptions::default()).await.unwrap();
    StreamConnector::new(Arc::new(service), tls.target, tls.proxy)
}

async fn ping(connector: &StreamConnector, url: &str) -> Result<String, extsvc_client::Error> {
    let mut stream = connector.connect(url.parse().unwrap()).await?;
    stream.write_all(b"PING\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn redis(pki: &TestPki) -> RedisServer {
    RedisServer::start(RedisOptions {
        plain: true,
        tls: Some(RedisTls::requiring_client_certificates(pki)),
        password: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_and_rediss_direct_and_through_squid() {
    let pki = TestPki::generate();
    let redis = redis(&pki);
    let squid = Squid::start(SquidOptions::default());

    let direct = connector(storage(serde_json::json!({}), &pki)).await;
    assert_eq!(ping(&direct, &redis.url()).await.unwrap(), "+PONG\r\n");
    // TLS with the client certificate redis requires.
    assert_eq!(ping(&direct, &redis.tls_url()).await.unwrap(), "+PONG\r\n");

    let proxied = connector(storage(
        serde_json::json!({ "enabled": true, "http_proxy": squid.url(), "https_proxy": squid.url() }),
        &pki,
    ))
    .await;
    assert_eq!(ping(&proxied, &redis.url()).await.unwrap(), "+PONG\r\n");
    assert_eq!(ping(&proxied, &redis.tls_url()).await.unwrap(), "+PONG\r\n");
    let log = squid.wait_for_requests(2, Duration::from_secs(10)).await;
    let connects: Vec<_> = log
        .iter()
        .filter(|e| e.method == "CONNECT")
        .map(|e| e.target.clone())
        .collect();
    assert_eq!(connects.len(), 2, "{log:?}");
    assert!(
        connects.contains(&format!("127.0.0.1:{}", redis.port())),
        "{connects:?}"
    );
    assert!(
        connects.contains(&format!("localhost:{}", redis.tls_port())),
        "{connects:?}"
    );
}

#[tokio::test]
async fn the_connect_deadline_names_its_phase_and_other_schemes_are_refused() {
    let pki = TestPki::generate();
    // A "proxy" that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let _keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let connector = connector(storage(serde_json::json!({ "enabled": true, "http_proxy": url }), &pki))
        .await
        .with_timeout(Duration::from_millis(300));
    let err = ping(&connector, "redis://127.0.0.1:6390").await.unwrap_err();
    assert!(err.is_timeout() && err.is_proxy(), "{err}");
    assert_eq!(err.phase(), Some(Phase::ProxyConnect), "{err}");
    assert!(err.to_string().contains("redis://127.0.0.1:6390"), "{err}");

    let err = ping(&connector, "http://127.0.0.1:80/").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
}
