//! The service client through proxies, against the in-process peers: absolute form for
//! `http://` targets, `CONNECT` + TLS for `https://` targets, credentials only on the
//! proxy hop, bypass going direct, errors that name the proxy redacted, timeouts that
//! name their phase, and recovery when a proxy comes back on the same port.

use std::time::Duration;

use bytes::Bytes;
use extsvc_client::{ErrorKind, Phase, RequestTimeout, ServiceClient};
use extsvc_config::ServiceKind;
use extsvc_resolve::ResolvedService;
use extsvc_tests::client::{client_of, proxied, resolved_service, service_conf};
use extsvc_tests::fault_proxy::{basic_proxy_authorization, FaultMode, FaultProxy};
use extsvc_tests::pki::{ServerTlsOptions, TestPki};
use extsvc_tests::target::{TargetOptions, TestTarget};
use http_body_util::BodyExt;

const PASSWORD: &str = "pa55-w0rd-never-shown";

/// `kind` with this `proxy` block, trusting the test CA.
fn resolved(kind: ServiceKind, proxy: serde_json::Value, pki: &TestPki) -> ResolvedService {
    resolved_service(&service_conf(kind, proxy, pki.trusting_mtls()), kind)
}

async fn get(
    client: &ServiceClient,
    url: &str,
    timeout: Option<Duration>,
) -> Result<(u16, Bytes), extsvc_client::Error> {
    let mut req = http::Request::get(url)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    if let Some(t) = timeout {
        req.extensions_mut().insert(RequestTimeout(t));
    }
    let run = async {
        let response = client.request(req).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the request hung past its deadline")
}

#[tokio::test]
async fn http_targets_go_in_absolute_form_with_credentials_on_the_proxy_hop_only() {
    let pki = TestPki::generate();
    let target = TestTarget::http(TargetOptions::default());
    let proxy = FaultProxy::start(FaultMode::Require407 {
        user: "gw".into(),
        password: PASSWORD.into(),
    });
    let client = client_of(resolved(
        ServiceKind::Webhooks,
        proxied(&proxy.url_with_credentials("gw", PASSWORD)),
        &pki,
    ))
    .await;

    let url = format!("{}/hook?x=1", target.url());
    // A Proxy-Authorization set by the caller is replaced by the proxy URL's.
    let response = client
        .request(
            http::Request::get(&url)
                .header("proxy-authorization", "Basic dXNlcjp1c2Vy")
                .body(String::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"ok");

    let seen = proxy.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, url, "absolute form");
    assert_eq!(
        seen[0].proxy_authorization.as_deref(),
        Some(basic_proxy_authorization("gw", PASSWORD).as_str())
    );
    let at_target = target.requests();
    assert_eq!(at_target.len(), 1);
    assert_eq!(at_target[0].uri, "/hook?x=1", "the proxy forwards in origin form");
    // Whether the target sees Proxy-Authorization is up to the forwarding proxy (this
    // one strips it); the tunnel test below checks the hops where only we decide.
}

#[tokio::test]
async fn https_targets_are_tunnelled_with_connect_and_tls_end_to_end() {
    let pki = TestPki::generate();
    let target = TestTarget::https(TargetOptions::default(), pki.server_config(ServerTlsOptions::default()));
    let proxy = FaultProxy::start(FaultMode::Require407 {
        user: "gw".into(),
        password: PASSWORD.into(),
    });
    let client = client_of(resolved(
        ServiceKind::Oauth,
        proxied(&proxy.url_with_credentials("gw", PASSWORD)),
        &pki,
    ))
    .await;

    // A user-set Proxy-Authorization must not reach the target either.
    let mut req = http::Request::get(format!("{}/jwks", target.url()))
        .header("proxy-authorization", "Basic dXNlcjp1c2Vy")
        .body(String::new())
        .unwrap();
    req.extensions_mut().insert(RequestTimeout(Duration::from_secs(10)));
    let response = client.request(req).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-target-proxy-authorization"], "absent");
    response.into_body().collect().await.unwrap();
    // Reused: a second request over the same tunnel.
    get(&client, &format!("{}/jwks", target.url()), None).await.unwrap();

    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "one CONNECT, the tunnel is pooled: {seen:?}");
    assert_eq!(seen[0].method, "CONNECT");
    assert_eq!(seen[0].target, target.authority());
    assert!(seen[0].has_proxy_authorization());
    let at_target = target.requests();
    assert_eq!(at_target.len(), 2);
    assert!(at_target.iter().all(|r| !r.headers.contains_key("proxy-authorization")));
    assert!(at_target.iter().all(|r| r.uri == "/jwks"));
    assert!(at_target[0].tls_version.is_some());
    assert_eq!(target.stats().accepted, 1);
    assert_eq!(client.stats().opened, 1);
}

#[tokio::test]
async fn bypassed_targets_go_direct_and_the_proxy_sees_nothing() {
    let pki = TestPki::generate();
    let target = TestTarget::http(TargetOptions::default());
    let tls_target = TestTarget::https(TargetOptions::default(), pki.server_config(ServerTlsOptions::default()));
    let proxy = FaultProxy::start(FaultMode::Normal);
    let mut block = proxied(&proxy.url());
    block["bypass_proxy"] = "127.0.0.1,localhost".into();
    let client = client_of(resolved(ServiceKind::Health, block, &pki)).await;

    assert_eq!(get(&client, &target.url(), None).await.unwrap().0, 200);
    assert_eq!(get(&client, &tls_target.localhost_url(), None).await.unwrap().0, 200);
    assert_eq!(proxy.stats().accepted, 0);
    assert_eq!(target.requests().len(), 1);
    assert_eq!(tls_target.requests().len(), 1);
}

#[tokio::test]
async fn proxy_errors_name_the_proxy_redacted_and_never_the_password() {
    let pki = TestPki::generate();
    let target = TestTarget::https(TargetOptions::default(), pki.server_config(ServerTlsOptions::default()));
    let proxy = FaultProxy::start(FaultMode::Require407 {
        user: "gw".into(),
        password: "other".into(),
    });
    let client = client_of(resolved(
        ServiceKind::Oauth,
        proxied(&proxy.url_with_credentials("gw", PASSWORD)),
        &pki,
    ))
    .await;

    let err = get(&client, &target.url(), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ProxyAuth);
    assert!(err.is_proxy() && err.is_connect() && !err.is_timeout());
    let redacted = format!("http://gw:***@{}", proxy.addr());
    let text = format!("{err} | {err:?} | {client:?}");
    assert!(text.contains(&redacted), "{text}");
    assert!(text.contains("407"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");

    proxy.set_mode(FaultMode::Status(502));
    let err = get(&client, &target.url(), None).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.phase()),
        (ErrorKind::ProxyStatus, Some(Phase::ProxyConnect))
    );
    assert!(err.to_string().contains("502"), "{err}");

    proxy.set_mode(FaultMode::Garbage);
    let err = get(&client, &target.url(), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ProxyProtocol, "{err}");
    assert!(!format!("{err} {err:?}").contains(PASSWORD));
}

#[tokio::test]
async fn a_hanging_proxy_and_a_trickling_body_fail_at_the_deadline_in_their_phase() {
    let pki = TestPki::generate();
    let tls_target = TestTarget::https(TargetOptions::default(), pki.server_config(ServerTlsOptions::default()));
    let plain_target = TestTarget::http(TargetOptions::default());
    let proxy = FaultProxy::start(FaultMode::AcceptAndHang);
    let client = client_of(resolved(ServiceKind::Discovery, proxied(&proxy.url()), &pki)).await;
    let short = Some(Duration::from_millis(300));

    let started = std::time::Instant::now();
    let err = get(&client, &tls_target.url(), short).await.unwrap_err();
    assert!(err.is_timeout() && err.is_proxy(), "{err}");
    assert_eq!(err.phase(), Some(Phase::ProxyConnect), "{err}");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );

    let err = get(&client, &plain_target.url(), short).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(err.phase(), Some(Phase::ResponseHeaders), "{err}");

    // Direct: a target that sends headers at once and its body one byte per 100 ms.
    let direct = client_direct(&pki).await;
    let slow = format!("{}/slow?bytes=50&trickle_ms=100", plain_target.url());
    let err = get(&direct, &slow, short).await.unwrap_err();
    assert!(err.is_timeout() && !err.is_proxy(), "{err}");
    assert_eq!(err.phase(), Some(Phase::ResponseBody), "{err}");
    // And headers that never come.
    let late = format!("{}/late?delay_ms=5000", plain_target.url());
    let err = get(&direct, &late, short).await.unwrap_err();
    assert_eq!(err.phase(), Some(Phase::ResponseHeaders), "{err}");
}

async fn client_direct(pki: &TestPki) -> ServiceClient {
    client_of(resolved(ServiceKind::Health, serde_json::json!({}), pki)).await
}

#[tokio::test]
async fn a_proxy_that_comes_back_on_the_same_port_works_without_rebuilding() {
    let pki = TestPki::generate();
    let target = TestTarget::http(TargetOptions::default());
    // A minimal forwarding proxy we can stop and start on one port. The port is bound
    // but not listening at first: connections are refused, and nobody else takes it.
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    // As `TcpListener::bind` does: the port can be bound again while the connections
    // of the first listener linger in TIME_WAIT.
    reserved.set_reuseaddr(true).unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = reserved.local_addr().unwrap();
    let client = client_of(resolved(
        ServiceKind::Webhooks,
        proxied(&format!("http://{addr}")),
        &pki,
    ))
    .await;
    let url = format!("{}/x", target.url());

    let err = get(&client, &url, Some(Duration::from_secs(2))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ProxyConnect, "{err}");
    assert!(err.is_proxy() && !err.is_timeout(), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");

    let proxy = forwarding_proxy(reserved.listen(64).unwrap());
    assert_eq!(get(&client, &url, None).await.unwrap().0, 200);
    proxy.abort();
    let _ = proxy.await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Down again: the pooled connection is gone or fails; a new one is refused.
    let mut saw_failure = false;
    for _ in 0..2 {
        saw_failure |= get(&client, &url, Some(Duration::from_secs(2))).await.is_err();
    }
    assert!(saw_failure);
    let proxy = forwarding_proxy(bind_again(addr).await);
    assert_eq!(get(&client, &url, None).await.unwrap().0, 200);
    proxy.abort();
}

/// Listens on `addr` again, once the old listener's port is free.
async fn bind_again(addr: std::net::SocketAddr) -> tokio::net::TcpListener {
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Forwards absolute-form requests one per connection (enough for the recovery test).
fn forwarding_proxy(listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match inbound.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let line = text.lines().next().unwrap_or_default().to_owned();
                let mut parts = line.split(' ');
                let (method, url) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let uri: http::Uri = url.parse().unwrap();
                let mut outbound = tokio::net::TcpStream::connect(uri.authority().unwrap().as_str())
                    .await
                    .unwrap();
                let request = format!(
                    "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                    uri.path_and_query().unwrap(),
                    uri.authority().unwrap()
                );
                outbound.write_all(request.as_bytes()).await.unwrap();
                let mut response = Vec::new();
                let _ = outbound.read_to_end(&mut response).await;
                let _ = inbound.write_all(&response).await;
            });
        }
    })
}

#[tokio::test]
async fn a_plain_proxy_named_https_gets_a_hint_and_a_rogue_target_a_tls_error() {
    let pki = TestPki::generate();
    let target = TestTarget::https(TargetOptions::default(), pki.server_config(ServerTlsOptions::default()));
    // A plain HTTP proxy answers a TLS ClientHello with a 400 in clear text.
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let https_url = format!("https://{}", plain.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = plain.accept().await {
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
        }
    });
    let client_tls_proxy = client_of(resolved(ServiceKind::Oauth, proxied(&https_url), &pki)).await;
    let err = get(&client_tls_proxy, &target.url(), Some(Duration::from_secs(5)))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.phase()),
        (ErrorKind::ProxyTls, Some(Phase::ProxyTls)),
        "{err}"
    );
    assert!(err.is_tls() && err.is_proxy(), "{err}");
    assert!(err.to_string().contains("use http://"), "{err}");

    let rogue = TestTarget::https(
        TargetOptions::default(),
        pki.server_config(ServerTlsOptions {
            rogue_server_cert: true,
            ..Default::default()
        }),
    );
    let direct = client_direct(&pki).await;
    let err = get(&direct, &rogue.url(), None).await.unwrap_err();
    assert_eq!((err.kind(), err.phase()), (ErrorKind::Tls, Some(Phase::Tls)), "{err}");
    assert!(err.is_tls() && !err.is_proxy(), "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");
}
