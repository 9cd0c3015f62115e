//! Smoke tests of the in-process fault proxy (`extsvc_tests::fault_proxy`): one per knob,
//! each showing the fault on the wire with a bare tokio/hyper client.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use extsvc_tests::fault_proxy::{basic_proxy_authorization, FaultMode, FaultProxy};
use extsvc_tests::pki::{ServerTlsOptions, TestPki};
use extsvc_tests::raw_client::{connect_tunnel, get, send_request, tls_client_config, tls_connect, ClientVersions};
use extsvc_tests::target::{TargetOptions, TestTarget};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(proxy: &FaultProxy) -> TcpStream {
    TcpStream::connect(proxy.addr()).await.unwrap()
}

#[tokio::test]
async fn normal_forwards_absolute_form_and_strips_proxy_authorization() {
    let proxy = FaultProxy::start(FaultMode::Normal);
    let target = TestTarget::http(TargetOptions::default());
    let uri = format!("{}/through?bytes=5", target.url());
    let credentials = basic_proxy_authorization("alice", "s3cret");
    let response = send_request(connect(&proxy).await, get(&uri, Some(&credentials)))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(&response.body()[..], b"xxxxx");
    assert_eq!(response.headers()["x-target-proxy-authorization"], "absent");

    let seen = &target.requests()[0];
    assert_eq!(seen.uri, "/through?bytes=5", "the target gets origin-form");
    assert!(!seen.headers.contains_key("proxy-authorization"));
    let recorded = proxy.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].method, "GET");
    assert_eq!(recorded[0].target, uri);
    assert_eq!(recorded[0].proxy_authorization.as_deref(), Some(credentials.as_str()));
    assert!(
        !format!("{:?}", recorded[0]).contains(&credentials),
        "Debug hides the credential"
    );
}

#[tokio::test]
async fn normal_tunnels_connect_to_a_tls_target() {
    let pki = TestPki::generate();
    let proxy = FaultProxy::start(FaultMode::Normal);
    let target = TestTarget::https(TargetOptions::default(), pki.server_config(ServerTlsOptions::default()));
    let mut stream = connect(&proxy).await;
    let answer = connect_tunnel(&mut stream, &target.authority(), None).await.unwrap();
    assert_eq!(answer.status, 200);
    let config = tls_client_config(pki.root_store(), None, ClientVersions::Both);
    let tls = tls_connect(stream, config, "localhost").await.unwrap();
    let response = send_request(tls, get(&format!("{}/", target.localhost_url()), None))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-target-tls"], "TLSv1_3");
    assert_eq!(proxy.requests()[0].method, "CONNECT");
    assert_eq!(proxy.requests()[0].target, target.authority());
    assert!(!proxy.requests()[0].has_proxy_authorization());
    assert_eq!(proxy.stats().accepted, 1);
}

#[tokio::test]
async fn accept_and_hang_never_answers() {
    let proxy = FaultProxy::start(FaultMode::AcceptAndHang);
    let mut stream = connect(&proxy).await;
    let waited = tokio::time::timeout(
        Duration::from_millis(500),
        connect_tunnel(&mut stream, "127.0.0.1:9", None),
    )
    .await;
    assert!(waited.is_err(), "the proxy answered: {waited:?}");
    let stats = proxy.stats();
    assert_eq!(
        (stats.accepted, stats.open, stats.requests),
        (1, 1, 1),
        "accepted, read, held open"
    );
}

#[tokio::test]
async fn garbage_answers_bytes_that_are_not_http() {
    let proxy = FaultProxy::start(FaultMode::Garbage);
    let mut stream = connect(&proxy).await;
    let error = connect_tunnel(&mut stream, "127.0.0.1:9", None).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidData, "{error}");
    let target = TestTarget::http(TargetOptions::default());
    let result = send_request(connect(&proxy).await, get(&format!("{}/", target.url()), None)).await;
    assert!(result.unwrap_err().is_parse(), "hyper sees a parse error");
    assert_eq!(target.stats().accepted, 0);
}

#[tokio::test]
async fn huge_headers_sends_megabytes_of_header_lines() {
    let proxy = FaultProxy::start(FaultMode::HugeHeaders);
    let mut stream = connect(&proxy).await;
    let error = connect_tunnel(&mut stream, "127.0.0.1:9", None).await.unwrap_err();
    assert!(error.to_string().contains("over 64 KiB"), "{error}");
    // Read the rest: megabytes follow.
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.unwrap();
    assert!(rest.len() > 1024 * 1024, "only {} more bytes", rest.len());
}

#[tokio::test]
async fn close_after_connect_200_closes_the_tunnel_at_once() {
    let proxy = FaultProxy::start(FaultMode::CloseAfterConnect200);
    let target = TestTarget::http(TargetOptions::default());
    let mut stream = connect(&proxy).await;
    let answer = connect_tunnel(&mut stream, &target.authority(), None).await.unwrap();
    assert_eq!(answer.status, 200);
    let mut byte = [0u8; 1];
    assert_eq!(stream.read(&mut byte).await.unwrap(), 0, "EOF right after the 200");
    assert_eq!(target.stats().accepted, 0, "no tunnel was opened");
}

#[tokio::test]
async fn reset_mid_body_cuts_a_forwarded_response() {
    let proxy = FaultProxy::start(FaultMode::ResetMidBody);
    let target = TestTarget::http(TargetOptions::default());
    let uri = format!("{}/big?bytes=100000", target.url());
    let error = send_request(connect(&proxy).await, get(&uri, None)).await.unwrap_err();
    assert!(!error.is_parse(), "the head arrived intact: {error}");
    assert_eq!(target.stats().requests, 1);

    // On the wire: the head and part of the body, then a TCP reset (not a clean EOF).
    let mut stream = connect(&proxy).await;
    let request = format!("GET {uri} HTTP/1.1\r\nHost: {}\r\n\r\n", target.authority());
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        match stream.read(&mut chunk).await {
            Ok(0) => break None,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) => break Some(e.kind()),
        }
    };
    assert_eq!(end, Some(ErrorKind::ConnectionReset));
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        &text[..text.len().min(200)]
    );
    assert!(received.len() < 100_000, "got {} bytes", received.len());
}

#[tokio::test]
async fn reset_mid_body_cuts_a_connect_tunnel() {
    let pki = TestPki::generate();
    let proxy = FaultProxy::start(FaultMode::ResetMidBody);
    let target = TestTarget::https(TargetOptions::default(), pki.server_config(ServerTlsOptions::default()));
    let mut stream = connect(&proxy).await;
    assert_eq!(
        connect_tunnel(&mut stream, &target.authority(), None)
            .await
            .unwrap()
            .status,
        200
    );
    let tls = tls_connect(
        stream,
        tls_client_config(pki.root_store(), None, ClientVersions::Both),
        "localhost",
    )
    .await
    .unwrap();
    let uri = format!("{}/big?bytes=131072", target.localhost_url());
    let result = send_request(tls, get(&uri, None)).await;
    assert!(
        result.is_err(),
        "the cut response was complete: {:?}",
        result.map(|r| r.body().len())
    );
    assert_eq!(target.stats().requests, 1, "the request reached the target");
}

#[tokio::test]
async fn trickle_sends_the_connect_answer_one_byte_per_interval() {
    let proxy = FaultProxy::start(FaultMode::Trickle(Duration::from_millis(20)));
    let target = TestTarget::http(TargetOptions::default());
    let mut stream = connect(&proxy).await;
    let started = Instant::now();
    let answer = connect_tunnel(&mut stream, &target.authority(), None).await.unwrap();
    // "HTTP/1.1 200 Connection established\r\n\r\n" is 39 bytes.
    assert!(
        started.elapsed() >= Duration::from_millis(38 * 20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(answer.status, 200);
    // The tunnel then works.
    let response = send_request(stream, get(&format!("{}/", target.url()), None))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn status_answers_connect_and_absolute_form_with_the_code() {
    let proxy = FaultProxy::start(FaultMode::Status(502));
    let mut stream = connect(&proxy).await;
    assert_eq!(
        connect_tunnel(&mut stream, "127.0.0.1:9", None).await.unwrap().status,
        502
    );
    proxy.set_mode(FaultMode::Status(503));
    assert_eq!(proxy.mode(), FaultMode::Status(503));
    let mut stream = connect(&proxy).await;
    let answer = connect_tunnel(&mut stream, "127.0.0.1:9", None).await.unwrap();
    assert_eq!(answer.status, 503);
    assert!(
        answer.head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{}",
        answer.head
    );
    let target = TestTarget::http(TargetOptions::default());
    let response = send_request(connect(&proxy).await, get(&format!("{}/", target.url()), None))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(target.stats().accepted, 0);
}

#[tokio::test]
async fn require_407_demands_the_right_basic_credentials() {
    let proxy = FaultProxy::start(FaultMode::Require407 {
        user: "alice".into(),
        password: "s3cret".into(),
    });
    assert!(!format!("{:?}", proxy.mode()).contains("s3cret"));
    let target = TestTarget::http(TargetOptions::default());

    let mut stream = connect(&proxy).await;
    let answer = connect_tunnel(&mut stream, &target.authority(), None).await.unwrap();
    assert_eq!(answer.status, 407);
    assert!(answer.head.contains("Proxy-Authenticate: Basic"), "{}", answer.head);

    let wrong = basic_proxy_authorization("alice", "wrong");
    let mut stream = connect(&proxy).await;
    assert_eq!(
        connect_tunnel(&mut stream, &target.authority(), Some(&wrong))
            .await
            .unwrap()
            .status,
        407
    );

    let right = basic_proxy_authorization("alice", "s3cret");
    let mut stream = connect(&proxy).await;
    assert_eq!(
        connect_tunnel(&mut stream, &target.authority(), Some(&right))
            .await
            .unwrap()
            .status,
        200
    );
    let response = send_request(stream, get(&format!("{}/", target.url()), None))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let response = send_request(
        connect(&proxy).await,
        get(&format!("{}/abs", target.url()), Some(&right)),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-target-proxy-authorization"], "absent");
    let auth_seen: Vec<bool> = proxy.requests().iter().map(|r| r.has_proxy_authorization()).collect();
    assert_eq!(auth_seen, [false, true, true, true]);
}

#[tokio::test]
async fn set_mode_switches_a_running_proxy() {
    let proxy = FaultProxy::start(FaultMode::Status(503));
    let target = TestTarget::http(TargetOptions::default());
    let uri = format!("{}/", target.url());
    assert_eq!(
        send_request(connect(&proxy).await, get(&uri, None))
            .await
            .unwrap()
            .status(),
        503
    );
    proxy.set_mode(FaultMode::Normal);
    assert_eq!(
        send_request(connect(&proxy).await, get(&uri, None))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(proxy.stats().accepted, 2);
    assert_eq!(proxy.stats().requests, 2);
}

#[tokio::test]
async fn stop_and_restart_keep_the_same_port() {
    let mut proxy = FaultProxy::start(FaultMode::Normal);
    let addr = proxy.addr();
    let target = TestTarget::http(TargetOptions::default());
    let uri = format!("{}/", target.url());
    assert_eq!(
        send_request(connect(&proxy).await, get(&uri, None))
            .await
            .unwrap()
            .status(),
        200
    );
    proxy.stop();
    assert!(!proxy.is_running());
    let refused = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    proxy.restart();
    assert_eq!(proxy.addr(), addr);
    assert_eq!(
        send_request(connect(&proxy).await, get(&uri, None))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(proxy.stats().requests, 2, "counters survive the restart");
}
