//! Smoke tests of the nginx launcher (`extsvc_tests::nginx`): client certificates required,
//! optional and absent, TLS version pinning, the plain listener and connection counting.

use std::time::Duration;

use extsvc_tests::nginx::{Nginx, NginxClientVerify, NginxOptions, NginxProtocols};
use extsvc_tests::pki::TestPki;
use extsvc_tests::raw_client::{get, send_request, tls_client_config, tls_connect, ClientVersions};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

fn tls_options(pki: &TestPki, verify_client: NginxClientVerify, protocols: NginxProtocols) -> NginxOptions {
    pki.nginx_options(verify_client, protocols)
}

async fn https_get(nginx: &Nginx, config: std::sync::Arc<rustls::ClientConfig>) -> http::Response<bytes::Bytes> {
    let tcp = TcpStream::connect(("127.0.0.1", nginx.https_port())).await.unwrap();
    let tls = tls_connect(tcp, config, "localhost").await.unwrap();
    send_request(tls, get(&format!("{}/", nginx.https_url()), None))
        .await
        .unwrap()
}

#[tokio::test]
async fn required_client_cert_is_verified_and_its_dn_shown() {
    let pki = TestPki::generate();
    let nginx = Nginx::start(tls_options(&pki, NginxClientVerify::On, NginxProtocols::Both));

    let with_cert = tls_client_config(
        pki.root_store(),
        Some((pki.client.chain_der.clone(), pki.client.key_der())),
        ClientVersions::Both,
    );
    let response = https_get(&nginx, with_cert).await;
    assert_eq!(response.status(), 200, "{}", nginx.log_tail());
    let dn = response.headers()["x-ssl-client-s-dn"].to_str().unwrap().to_owned();
    assert!(dn.contains("CN=extsvc test client"), "{dn}");
    assert_eq!(response.headers()["x-ssl-client-verify"], "SUCCESS");
    let body = String::from_utf8(response.body().to_vec()).unwrap();
    assert!(body.contains("verify=SUCCESS\n"), "{body}");
    assert!(body.contains(&format!("dn={dn}\n")), "{body}");

    let without_cert = tls_client_config(pki.root_store(), None, ClientVersions::Both);
    let response = https_get(&nginx, without_cert).await;
    assert_eq!(response.status(), 400);
    let body = String::from_utf8(response.body().to_vec()).unwrap();
    assert!(body.contains("No required SSL certificate was sent"), "{body}");

    let entries = nginx.wait_for_requests(2, Duration::from_secs(5)).await;
    assert_eq!(entries.len(), 2);
    assert_eq!((entries[0].status, entries[0].client_verify.as_str()), (200, "SUCCESS"));
    assert_eq!(entries[0].client_dn, dn);
    assert_eq!((entries[1].status, entries[1].client_verify.as_str()), (400, "NONE"));
}

#[tokio::test]
async fn optional_client_cert_serves_clients_without_one() {
    let pki = TestPki::generate();
    let nginx = Nginx::start(tls_options(&pki, NginxClientVerify::Optional, NginxProtocols::Both));
    let response = https_get(&nginx, tls_client_config(pki.root_store(), None, ClientVersions::Both)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-ssl-client-verify"], "NONE");
    // A certificate from a CA nginx does not trust is refused.
    let rogue = tls_client_config(
        pki.root_store(),
        Some((pki.rogue_client.chain_der.clone(), pki.rogue_client.key_der())),
        ClientVersions::Both,
    );
    let response = https_get(&nginx, rogue).await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn tls12_only_server_negotiates_tls12() {
    let pki = TestPki::generate();
    let nginx = Nginx::start(tls_options(&pki, NginxClientVerify::Off, NginxProtocols::Tls12Only));
    let response = https_get(&nginx, tls_client_config(pki.root_store(), None, ClientVersions::Both)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-ssl-protocol"], "TLSv1.2");
    let body = String::from_utf8(response.body().to_vec()).unwrap();
    assert!(body.starts_with("protocol=TLSv1.2\n"), "{body}");

    let tcp = TcpStream::connect(("127.0.0.1", nginx.https_port())).await.unwrap();
    let tls13_only = tls_client_config(pki.root_store(), None, ClientVersions::Tls13Only);
    assert!(tls_connect(tcp, tls13_only, "localhost").await.is_err());
}

#[tokio::test]
async fn tls13_only_server_negotiates_tls13() {
    let pki = TestPki::generate();
    let nginx = Nginx::start(tls_options(&pki, NginxClientVerify::Off, NginxProtocols::Tls13Only));
    let response = https_get(&nginx, tls_client_config(pki.root_store(), None, ClientVersions::Both)).await;
    assert_eq!(response.headers()["x-ssl-protocol"], "TLSv1.3");
    let tcp = TcpStream::connect(("127.0.0.1", nginx.https_port())).await.unwrap();
    let tls12_only = tls_client_config(pki.root_store(), None, ClientVersions::Tls12Only);
    assert!(tls_connect(tcp, tls12_only, "localhost").await.is_err());
}

#[tokio::test]
async fn plain_listener_and_connections_seen() {
    let nginx = Nginx::start(NginxOptions {
        tls: None,
        plain_http: true,
    });
    // Two requests on one keep-alive connection, then one on a second connection.
    let stream = TcpStream::connect(("127.0.0.1", nginx.http_port())).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    for _ in 0..2 {
        let request = http::Request::get("/a")
            .header("host", "127.0.0.1")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.unwrap();
    }
    let stream = TcpStream::connect(("127.0.0.1", nginx.http_port())).await.unwrap();
    let response = send_request(stream, get(&format!("{}/b", nginx.http_url()), None))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // nginx leaves out a header whose value is empty: no TLS here.
    assert!(response.headers().get("x-ssl-protocol").is_none());
    assert!(String::from_utf8_lossy(response.body()).starts_with("protocol=\n"));

    let entries = nginx.wait_for_requests(3, Duration::from_secs(5)).await;
    let numbers: Vec<u64> = entries.iter().map(|e| e.connection_requests).collect();
    assert_eq!(numbers, [1, 2, 1]);
    assert_eq!(entries[2].uri, "/b");
    assert_eq!(entries[0].ssl_protocol, "");
    assert_eq!(nginx.connections_seen(), 2);
}

#[test]
fn a_peer_that_cannot_start_panics_with_its_log_tail() {
    let pki = TestPki::generate();
    let mut options = tls_options(&pki, NginxClientVerify::Off, NginxProtocols::Both);
    if let Some(tls) = options.tls.as_mut() {
        tls.cert_chain_path = pki.dir().join("no-such-cert.pem");
    }
    let panic = std::panic::catch_unwind(|| Nginx::start(options)).unwrap_err();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("nginx: exited with"), "{message}");
    assert!(
        message.contains("no-such-cert.pem"),
        "the error log tail names the file: {message}"
    );
}
