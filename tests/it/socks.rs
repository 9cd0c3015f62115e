//! The service clients through a real SOCKS5 proxy (microsocks on 127.0.0.1, its outgoing
//! side bound to 127.0.0.2 so the targets see who connected): `https://` with mTLS to nginx
//! (TLS inside the SOCKS stream), `http://` in origin form, `socks5h` letting the proxy
//! resolve the name, RFC 1929 auth accepted / refused / missing, the proxy down and back,
//! 200 requests on one pooled connection, and Redis TLS through the storage stream
//! connector.

use std::sync::Arc;
use std::time::Duration;

use extsvc_client::{Connected, ErrorKind, Hop, Phase, ServiceClient, StreamConnector};
use extsvc_config::ServiceKind;
use extsvc_resolve::ResolvedService;
use extsvc_tests::client::{get_verified, proxied, resolved_service, service_conf};
use extsvc_tests::fault_proxy::{FaultMode, FaultProxy};
use extsvc_tests::microsocks::{Microsocks, MicrosocksOptions, OUTGOING_ADDRESS};
use extsvc_tests::nginx::{Nginx, NginxClientVerify, NginxProtocols};
use extsvc_tests::pki::TestPki;
use extsvc_tests::redis::{RedisOptions, RedisServer, RedisTls};
use extsvc_tests::squid::ProxyCredentials;
use extsvc_tests::target::{TargetOptions, TestTarget};
use extsvc_tls::{build_service_tls, TlsOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "socks-s3cret-pw";

/// `kind` with `proxy_url` for both schemes and mTLS with the test client certificate.
fn resolved(kind: ServiceKind, proxy_url: &str, pki: &TestPki) -> ResolvedService {
    resolved_service(&service_conf(kind, proxied(proxy_url), pki.client_mtls()), kind)
}

async fn client(kind: ServiceKind, proxy_url: &str, pki: &TestPki) -> ServiceClient {
    extsvc_tests::client::client_of(resolved(kind, proxy_url, pki)).await
}

/// Status, `x-ssl-client-verify` and what the connection knew, of one GET.
async fn get(client: &ServiceClient, url: &str) -> Result<(u16, String, Connected), extsvc_client::Error> {
    let seen = get_verified(client, url).await?;
    Ok((seen.status, seen.verify, seen.connected))
}

fn nginx_demanding_client_certificates(pki: &TestPki) -> Nginx {
    Nginx::start(pki.nginx_options(NginxClientVerify::On, NginxProtocols::Both))
}

fn microsocks(credentials: Option<ProxyCredentials>) -> Microsocks {
    Microsocks::start(MicrosocksOptions {
        credentials,
        bind_outgoing: Some(OUTGOING_ADDRESS),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_mtls_and_http_in_origin_form_through_microsocks() {
    let pki = TestPki::generate();
    let nginx = nginx_demanding_client_certificates(&pki);
    let plain = TestTarget::http(TargetOptions::default());
    let proxy = microsocks(None);
    for scheme in ["socks5", "socks5h"] {
        let client = client(ServiceKind::Oauth, &proxy.url(scheme), &pki).await;
        // TLS to nginx inside the SOCKS stream, with the client certificate nginx demands.
        let (status, verify, connected) = get(&client, &format!("{}/jwks", nginx.https_url()))
            .await
            .unwrap_or_else(|e| panic!("{scheme}: {e}\n{}", proxy.log_tail()));
        assert_eq!((status, verify.as_str()), (200, "SUCCESS"), "{scheme}");
        assert_eq!(connected.hop, Hop::Tunnel);
        assert!(connected.tls_version.is_some(), "TLS to the target");
        assert_eq!(connected.proxy_tls_version, None, "no TLS to a SOCKS proxy");
        let seen = nginx.requests();
        let last = seen.last().unwrap();
        assert_eq!(
            (last.remote_addr.as_str(), last.client_verify.as_str()),
            ("127.0.0.2", "SUCCESS"),
            "{scheme}: nginx verified the client certificate on a connection from the proxy"
        );

        // http:// goes in origin form, as if direct, with no proxy header.
        let (status, _, connected) = get(&client, &format!("{}/plain?x=1", plain.url())).await.unwrap();
        assert_eq!((status, connected.hop, connected.tls_version), (200, Hop::Tunnel, None));
        let request = plain.requests().pop().unwrap();
        assert_eq!(request.uri.to_string(), "/plain?x=1", "{scheme}: origin form");
        assert!(!request.headers.contains_key("proxy-authorization"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks5h_lets_the_proxy_resolve_the_name_and_socks5_sends_an_address() {
    let pki = TestPki::generate();
    let nginx = nginx_demanding_client_certificates(&pki);
    let proxy = microsocks(None);
    // A recording relay in front of microsocks shows what the client asked the proxy for.
    let relay = FaultProxy::start(FaultMode::SocksRelay(proxy.addr()));
    let url = format!("{}/name", nginx.https_url());
    assert!(url.starts_with("https://localhost:"), "{url}");

    let by_proxy = client(ServiceKind::Discovery, &relay.socks_url("socks5h"), &pki).await;
    assert_eq!(get(&by_proxy, &url).await.unwrap().0, 200);
    let by_client = client(ServiceKind::Discovery, &relay.socks_url("socks5"), &pki).await;
    assert_eq!(get(&by_client, &url).await.unwrap().0, 200);

    let port = nginx.https_port();
    let asked: Vec<String> = relay.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(
        asked,
        [format!("localhost:{port}"), format!("127.0.0.1:{port}")],
        "socks5h sends the name (the proxy resolved it), socks5 the address the client resolved"
    );
    let from: Vec<String> = nginx.requests().into_iter().map(|r| r.remote_addr).collect();
    assert_eq!(from, ["127.0.0.2", "127.0.0.2"], "both crossed microsocks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc_1929_credentials_accepted_refused_and_missing() {
    let pki = TestPki::generate();
    let nginx = nginx_demanding_client_certificates(&pki);
    let proxy = microsocks(Some(ProxyCredentials::new("gw", PASSWORD)));
    let url = format!("{}/auth", nginx.https_url());

    let right = client(ServiceKind::Webhooks, &proxy.url_with_credentials("socks5h"), &pki).await;
    assert_eq!(get(&right, &url).await.unwrap().0, 200);

    let wrong_url = format!("socks5h://gw:wr0ng-pw@{}", proxy.addr());
    let wrong = client(ServiceKind::Webhooks, &wrong_url, &pki).await;
    let err = get(&wrong, &url).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.phase()),
        (ErrorKind::ProxyAuth, Some(Phase::SocksHandshake))
    );
    assert!(err.is_proxy(), "{err}");
    assert!(err.to_string().contains("rejected the credentials"), "{err}");
    assert!(err.to_string().contains("socks5h://gw:***@127.0.0.1"), "{err}");
    for shown in [err.to_string(), format!("{err:?}"), format!("{wrong:?}")] {
        assert!(!shown.contains("wr0ng-pw") && !shown.contains(PASSWORD), "{shown}");
    }

    let missing = client(ServiceKind::Webhooks, &proxy.url("socks5h"), &pki).await;
    let err = get(&missing, &url).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.phase()),
        (ErrorKind::ProxyAuth, Some(Phase::SocksHandshake))
    );
    assert!(err.to_string().contains("add user:password@"), "{err}");
    // nginx logs a request as it finishes it: wait (bounded) for the line.
    let logged = nginx.wait_for_requests(1, Duration::from_secs(5)).await;
    assert_eq!(logged.len(), 1, "only the accepted credentials reached nginx");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_down_is_a_proxy_connect_error_and_its_return_needs_no_rebuild() {
    let pki = TestPki::generate();
    let target = TestTarget::http(TargetOptions::default());
    let mut proxy = microsocks(None);
    let client = client(ServiceKind::Health, &proxy.url("socks5"), &pki).await;
    let url = format!("{}/health", target.url());
    assert_eq!(get(&client, &url).await.unwrap().0, 200);

    proxy.stop();
    // A fresh connection is needed: the pooled one died with the proxy.
    let err = loop {
        match get(&client, &url).await {
            Err(e) => break e,
            Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    assert_eq!(
        (err.kind(), err.phase()),
        (ErrorKind::ProxyConnect, Some(Phase::Connect)),
        "{err}"
    );
    assert!(
        err.is_proxy() && err.to_string().contains("socks5://127.0.0.1"),
        "{err}"
    );

    proxy.restart();
    assert_eq!(get(&client, &url).await.unwrap().0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_requests_reuse_one_pooled_connection_through_the_proxy() {
    let pki = TestPki::generate();
    let nginx = nginx_demanding_client_certificates(&pki);
    let proxy = microsocks(None);
    let relay = FaultProxy::start(FaultMode::SocksRelay(proxy.addr()));
    let client = client(ServiceKind::Oauth, &relay.socks_url("socks5h"), &pki).await;
    let url = format!("{}/pooled", nginx.https_url());
    for i in 0..200 {
        let (status, verify, _) = get(&client, &url).await.unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!((status, verify.as_str()), (200, "SUCCESS"), "request {i}");
    }
    assert_eq!(client.stats().opened, 1, "one connection opened for 200 requests");
    assert_eq!(relay.stats().accepted, 1, "one SOCKS session at the proxy");
    assert_eq!(nginx.connections_seen(), 1, "one TLS connection at nginx");
    assert_eq!(nginx.wait_for_requests(200, Duration::from_secs(5)).await.len(), 200);
}

async fn storage_connector(proxy_url: &str, pki: &TestPki) -> StreamConnector {
    let service = resolved(ServiceKind::Storage, proxy_url, pki);
    let tls = build_service_tls(&service, None, &TlsOptions::default()).await.unwrap();
    StreamConnector::new(Arc::new(service), tls.target, tls.proxy)
}

/// Sends a RESP command on a fresh stream and returns the first reply bytes.
async fn command(connector: &StreamConnector, url: &str, line: &str) -> Result<String, extsvc_client::Error> {
    let mut stream = connector.connect(url.parse().unwrap()).await?;
    stream.write_all(line.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("redis answered")
        .unwrap();
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_tls_with_a_client_certificate_through_socks5h() {
    let pki = TestPki::generate();
    let redis = RedisServer::start(RedisOptions {
        plain: true,
        tls: Some(RedisTls::requiring_client_certificates(&pki)),
        password: None,
    });
    let proxy = microsocks(None);
    let relay = FaultProxy::start(FaultMode::SocksRelay(proxy.addr()));
    let connector = storage_connector(&relay.socks_url("socks5h"), &pki).await;

    // rediss://localhost: the name goes to the proxy; TLS with the client certificate
    // redis requires runs inside the SOCKS stream.
    assert_eq!(
        command(&connector, &redis.tls_url(), "PING\r\n").await.unwrap(),
        "+PONG\r\n"
    );
    let info = command(&connector, &redis.tls_url(), "CLIENT INFO\r\n").await.unwrap();
    assert!(info.contains("addr=127.0.0.2:"), "redis saw the proxy's side: {info}");
    // redis:// (plain) through the same proxy.
    assert_eq!(
        command(&connector, &redis.url(), "PING\r\n").await.unwrap(),
        "+PONG\r\n"
    );
    let asked: Vec<String> = relay.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(
        asked,
        [
            format!("localhost:{}", redis.tls_port()),
            format!("localhost:{}", redis.tls_port()),
            format!("127.0.0.1:{}", redis.port()),
        ]
    );

    // A SOCKS handshake that never completes is bounded by the connector's deadline.
    let silent = FaultProxy::start(FaultMode::SocksSilent);
    let connector = storage_connector(&silent.socks_url("socks5h"), &pki)
        .await
        .with_timeout(Duration::from_millis(500));
    let started = std::time::Instant::now();
    let err = command(&connector, &redis.tls_url(), "PING\r\n").await.unwrap_err();
    assert_eq!(
        (err.kind(), err.phase()),
        (ErrorKind::Timeout, Some(Phase::SocksHandshake)),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

/// The SOCKS connector on its own, composed over a plain TCP connector as a user would in
/// another client: the stream it yields carries the target's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socks5_connector_composes_over_a_tcp_connector() {
    use tower::ServiceExt;

    let target = TestTarget::http(TargetOptions::default());
    let proxy = microsocks(Some(ProxyCredentials::new("gw", PASSWORD)));
    let url = extsvc_config::ProxyUrl::parse(&proxy.url_with_credentials("socks5h")).unwrap();
    let connector = extsvc_client::connect::Socks5::new(Arc::new(url), extsvc_client::connect::TcpConnector::new());
    let dst: http::Uri = format!("{}/composed", target.localhost_url()).parse().unwrap();
    let mut stream = tokio::time::timeout(Duration::from_secs(10), connector.oneshot(dst))
        .await
        .unwrap()
        .unwrap();
    stream
        .write_all(b"GET /composed HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    assert!(
        response.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&response)
    );
    assert_eq!(target.requests().pop().unwrap().uri.to_string(), "/composed");
}
