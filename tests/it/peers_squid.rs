//! Smoke tests of the squid launcher (`extsvc_tests::squid`) with real traffic: absolute-form
//! GET, CONNECT to a TLS target, basic auth, TLS to the proxy, stop and restart.

use std::time::Duration;

use extsvc_tests::fault_proxy::basic_proxy_authorization;
use extsvc_tests::pki::{ServerTlsOptions, TestPki};
use extsvc_tests::raw_client::{connect_tunnel, get, send_request, tls_client_config, tls_connect, ClientVersions};
use extsvc_tests::squid::{ProxyCredentials, Squid, SquidOptions, SquidTls};
use extsvc_tests::target::{TargetOptions, TestTarget};
use rustls::pki_types::pem::PemObject;
use tokio::net::TcpStream;

async fn connect(squid: &Squid) -> TcpStream {
    TcpStream::connect(("127.0.0.1", squid.http_port())).await.unwrap()
}

#[tokio::test]
async fn absolute_form_get_and_connect_go_through_and_are_logged() {
    let pki = TestPki::generate();
    let squid = Squid::start(SquidOptions::default());
    assert_eq!(squid.url(), format!("http://127.0.0.1:{}", squid.http_port()));

    let target = TestTarget::http(TargetOptions::default());
    let uri = format!("{}/via-squid", target.url());
    let response = send_request(connect(&squid).await, get(&uri, None)).await.unwrap();
    assert_eq!(response.status(), 200, "{}", squid.log_tail());
    assert_eq!(&response.body()[..], b"ok");
    assert_eq!(target.requests()[0].uri.path(), "/via-squid");

    let tls_target = TestTarget::https(TargetOptions::default(), pki.server_config(ServerTlsOptions::default()));
    let mut stream = connect(&squid).await;
    let answer = connect_tunnel(&mut stream, &tls_target.authority(), None)
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.head);
    let tls = tls_connect(
        stream,
        tls_client_config(pki.root_store(), None, ClientVersions::Both),
        "localhost",
    )
    .await
    .unwrap();
    let response = send_request(tls, get(&format!("{}/", tls_target.localhost_url()), None))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(tls_target.stats().requests, 1);

    // The CONNECT entry is written when the tunnel closes (send_request dropped it).
    let entries = squid.wait_for_requests(2, Duration::from_secs(10)).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(
        (
            entries[0].method.as_str(),
            entries[0].target.as_str(),
            entries[0].status
        ),
        ("GET", uri.as_str(), 200)
    );
    assert_eq!(entries[0].user, None);
    assert_eq!(entries[1].method, "CONNECT");
    assert_eq!(entries[1].target, tls_target.authority());
    assert_eq!(entries[1].status, 200);
}

#[tokio::test]
async fn basic_auth_answers_407_without_the_right_credentials() {
    let squid = Squid::start(SquidOptions {
        basic_auth: Some(ProxyCredentials::new("alice", "s3cret")),
        ..SquidOptions::default()
    });
    assert_eq!(
        squid.url_with_credentials(),
        format!("http://alice:s3cret@127.0.0.1:{}", squid.http_port())
    );
    assert!(!format!("{squid:?}").contains("s3cret"));
    let target = TestTarget::http(TargetOptions::default());
    let uri = format!("{}/", target.url());

    let response = send_request(connect(&squid).await, get(&uri, None)).await.unwrap();
    assert_eq!(response.status(), 407);
    assert!(response.headers().contains_key("proxy-authenticate"));
    let wrong = basic_proxy_authorization("alice", "wrong");
    let response = send_request(connect(&squid).await, get(&uri, Some(&wrong)))
        .await
        .unwrap();
    assert_eq!(response.status(), 407);
    let right = basic_proxy_authorization("alice", "s3cret");
    let response = send_request(connect(&squid).await, get(&uri, Some(&right)))
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", squid.log_tail());
    assert!(!target.requests()[0].headers.contains_key("proxy-authorization"));

    let mut stream = connect(&squid).await;
    assert_eq!(
        connect_tunnel(&mut stream, &target.authority(), None)
            .await
            .unwrap()
            .status,
        407
    );
    let mut stream = connect(&squid).await;
    assert_eq!(
        connect_tunnel(&mut stream, &target.authority(), Some(&right))
            .await
            .unwrap()
            .status,
        200
    );
    drop(stream);

    let entries = squid.wait_for_requests(5, Duration::from_secs(10)).await;
    let summary: Vec<(&str, u16, Option<&str>)> = entries
        .iter()
        .map(|e| (e.method.as_str(), e.status, e.user.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            ("GET", 407, None),
            ("GET", 407, Some("alice")),
            ("GET", 200, Some("alice")),
            ("CONNECT", 407, None),
            ("CONNECT", 200, Some("alice")),
        ]
    );
}

#[tokio::test]
async fn https_port_takes_tls_to_the_proxy_then_connect() {
    let pki = TestPki::generate();
    let squid = Squid::start(SquidOptions {
        https: Some(SquidTls::of(&pki)),
        ..SquidOptions::default()
    });
    assert_eq!(squid.https_url(), format!("https://localhost:{}", squid.https_port()));
    let tls_target = TestTarget::https(TargetOptions::default(), pki.server_config(ServerTlsOptions::default()));
    let config = tls_client_config(pki.root_store(), None, ClientVersions::Both);

    let tcp = TcpStream::connect(("127.0.0.1", squid.https_port())).await.unwrap();
    let mut to_proxy = tls_connect(tcp, config.clone(), "localhost").await.unwrap();
    let answer = connect_tunnel(&mut to_proxy, &tls_target.authority(), None)
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.head);
    // TLS to the target inside TLS to the proxy.
    let to_target = tls_connect(to_proxy, config, "localhost").await.unwrap();
    let response = send_request(to_target, get(&format!("{}/", tls_target.localhost_url()), None))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-target-tls"], "TLSv1_3");

    // A client that does not trust the proxy's CA fails the handshake with the proxy.
    let rogue_roots = {
        let mut roots = rustls::RootCertStore::empty();
        let rogue = rustls::pki_types::CertificateDer::from_pem_file(&pki.rogue_ca_cert_path).unwrap();
        roots.add(rogue).unwrap();
        roots
    };
    let tcp = TcpStream::connect(("127.0.0.1", squid.https_port())).await.unwrap();
    let refused = tls_connect(
        tcp,
        tls_client_config(rogue_roots, None, ClientVersions::Both),
        "localhost",
    )
    .await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn stop_and_restart_keep_the_same_port() {
    let mut squid = Squid::start(SquidOptions::default());
    let port = squid.http_port();
    let target = TestTarget::http(TargetOptions::default());
    let uri = format!("{}/", target.url());
    assert_eq!(
        send_request(connect(&squid).await, get(&uri, None))
            .await
            .unwrap()
            .status(),
        200
    );

    // Squid writes the entry after the response has gone out: wait for it, or the kill
    // below can come first and the entry is never written.
    assert_eq!(squid.wait_for_requests(1, Duration::from_secs(10)).await.len(), 1);
    squid.stop();
    assert!(!squid.is_running());
    let refused = TcpStream::connect(("127.0.0.1", port)).await;
    assert_eq!(refused.unwrap_err().kind(), std::io::ErrorKind::ConnectionRefused);

    squid.restart();
    assert!(squid.is_running());
    assert_eq!(squid.http_port(), port);
    assert_eq!(
        send_request(connect(&squid).await, get(&uri, None))
            .await
            .unwrap()
            .status(),
        200
    );
    let entries = squid.wait_for_requests(2, Duration::from_secs(10)).await;
    assert_eq!(entries.len(), 2, "the access log keeps entries across the restart");
}
