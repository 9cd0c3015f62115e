//! Smoke tests of the in-process targets (`extsvc_tests::target`): what they count, record
//! and how their slow modes behave. Real traffic over tokio sockets, no extsvc client.

use std::time::{Duration, Instant};

use extsvc_tests::pki::{ClientAuthMode, ServerTlsOptions, TestPki};
use extsvc_tests::raw_client::{get, send_request, tls_client_config, tls_connect, ClientVersions};
use extsvc_tests::target::{TargetOptions, TestTarget};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[tokio::test]
async fn plain_target_counts_connections_and_requests_and_records_headers() {
    let target = TestTarget::http(TargetOptions::default());
    let stream = TcpStream::connect(target.addr()).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    for n in 1..=2u32 {
        let request = http::Request::get("/hello")
            .header("host", target.authority())
            .header("x-probe", n.to_string())
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-target-connection"], "1");
        assert_eq!(response.headers()["x-target-request"], n.to_string().as_str());
        assert_eq!(response.headers()["x-target-proxy-authorization"], "absent");
        assert!(response.headers().get("x-target-tls").is_none());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"ok");
    }
    let stats = target.stats();
    assert_eq!((stats.accepted, stats.open, stats.requests), (1, 1, 2));
    let records = target.requests();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].headers["x-probe"], "2");
    assert_eq!(records[1].uri.path(), "/hello");
    assert_eq!(records[0].connection_id, 1);
    drop(sender);
    let stats = target.wait_open_at_most(0, Duration::from_secs(5)).await;
    assert_eq!(
        stats.open, 0,
        "the connection is counted closed once the client drops it"
    );
}

#[tokio::test]
async fn peak_open_tracks_concurrent_connections() {
    let target = TestTarget::http(TargetOptions::default());
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(TcpStream::connect(target.addr()).await.unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while target.stats().open < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(target.stats().peak_open, 3);
    drop(streams);
    let stats = target.wait_open_at_most(0, Duration::from_secs(5)).await;
    assert_eq!((stats.open, stats.peak_open, stats.accepted), (0, 3, 3));
}

#[tokio::test]
async fn query_parameters_set_status_size_and_delay() {
    let target = TestTarget::http(TargetOptions::default());
    let stream = TcpStream::connect(target.addr()).await.unwrap();
    let started = Instant::now();
    let uri = format!("{}/x?status=503&bytes=1000&delay_ms=300", target.url());
    let response = send_request(stream, get(&uri, None)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(response.status(), 503);
    assert_eq!(response.body().len(), 1000);
}

#[tokio::test]
async fn trickle_sends_headers_at_once_and_the_body_slowly() {
    let target = TestTarget::http(TargetOptions {
        body: bytes::Bytes::from_static(b"0123456789"),
        trickle: Some(Duration::from_millis(50)),
        ..TargetOptions::default()
    });
    let stream = TcpStream::connect(target.addr()).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let started = Instant::now();
    let request = http::Request::get("/")
        .header("host", target.authority())
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let headers_after = started.elapsed();
    // Only a sanity bound: two loaded cores can stall a task for hundreds of
    // milliseconds, so no tight latency budget here; the trickle is checked below.
    assert!(headers_after < Duration::from_secs(2), "headers took {headers_after:?}");
    assert_eq!(response.headers()["content-length"], "10");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"0123456789");
    // Ten bytes, the first at once, then one per 50 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "body took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn tls_target_requiring_client_certs_reports_version_and_certificate() {
    let pki = TestPki::generate();
    let target = TestTarget::https(
        TargetOptions::default(),
        pki.server_config(ServerTlsOptions {
            client_auth: ClientAuthMode::Required,
            ..Default::default()
        }),
    );
    assert!(target.url().starts_with("https://127.0.0.1:"));

    let with_cert = tls_client_config(
        pki.root_store(),
        Some((pki.client.chain_der.clone(), pki.client.key_der())),
        ClientVersions::Both,
    );
    let tcp = TcpStream::connect(target.addr()).await.unwrap();
    let tls = tls_connect(tcp, with_cert, "localhost").await.unwrap();
    let response = send_request(tls, get(&format!("{}/", target.localhost_url()), None))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-target-tls"], "TLSv1_3");
    assert_eq!(response.headers()["x-target-client-cert"], "present");
    assert!(target.requests()[0].client_cert_presented);

    let without_cert = tls_client_config(pki.root_store(), None, ClientVersions::Both);
    let tcp = TcpStream::connect(target.addr()).await.unwrap();
    // With TLS 1.3 the client may finish its side of the handshake before the server refuses;
    // then the refusal shows on the first request.
    let refused = match tls_connect(tcp, without_cert, "localhost").await {
        Err(_) => true,
        Ok(tls) => send_request(tls, get(&format!("{}/", target.localhost_url()), None))
            .await
            .is_err(),
    };
    assert!(
        refused,
        "a TLS target requiring client certs served a client without one"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while target.stats().tls_handshake_failures == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(target.stats().tls_handshake_failures, 1);
    assert_eq!(target.stats().requests, 1);
}
