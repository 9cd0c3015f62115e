//! A TLS 1.2 target that asks to renegotiate after the handshake (issue 10, item 8):
//! `openssl s_server -tls1_2` sends a HelloRequest while the client waits for the response;
//! rustls refuses (a `no_renegotiation` warning) and the server ends the session with a
//! fatal alert. The client's error is a `tls` error that names renegotiation and does not
//! send the user to check the client certificate (which the server had accepted).

use std::time::Duration;

use extsvc_client::{ErrorKind, ExternalServices};
use extsvc_config::{EnvSnapshot, ServiceKind};
use extsvc_tests::openssl_server::OpensslServer;
use extsvc_tests::pki::TestPki;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renegotiation_request_is_reported_as_such_not_as_a_client_certificate_problem() {
    let pki = TestPki::generate();
    let mut server = OpensslServer::start_tls12(&pki);
    let conf = json!({ "external_services": { "oauth": { "mtls": pki.client_mtls() } } }).to_string();
    let services = ExternalServices::builder()
        .tyk_conf_str(conf, "tyk.conf")
        .env(EnvSnapshot::empty())
        .build()
        .await
        .unwrap();
    let client = services.client(ServiceKind::Oauth);
    let url = format!("{}/renegotiate-me", server.https_url());
    let request = tokio::spawn(async move {
        tokio::time::timeout(Duration::from_secs(20), client.get(&url))
            .await
            .expect("the request hung past its deadline")
    });

    // The request arrived over a completed TLS 1.2 handshake with the client certificate:
    // only now does the server ask to renegotiate.
    let arrived =
        tokio::task::block_in_place(|| server.wait_for_output("GET /renegotiate-me HTTP/1.1", Duration::from_secs(10)));
    assert!(arrived, "the request never reached s_server:\n{}", server.log_tail());
    let output = server.output();
    assert!(
        output.contains("CN=extsvc test client") || output.contains("CN = extsvc test client"),
        "s_server did not see the client certificate:\n{output}"
    );
    server.request_renegotiation();

    let err = request.await.unwrap().expect_err("s_server never answers the request");
    let message = err.to_string();
    assert_eq!(err.kind(), ErrorKind::Tls, "{message}\n{}", server.log_tail());
    assert!(message.contains("renegotiat"), "{message}");
    assert!(message.contains("TLS 1.2"), "{message}");
    assert!(
        !message.contains("client certificate") && !message.contains("cert_file"),
        "blames the client certificate: {message}"
    );
    // The server's side agrees: it asked, and the client said no (OpenSSL's reason for
    // its fatal alert is "no renegotiation").
    let refused = tokio::task::block_in_place(|| server.wait_for_output("no renegotiation", Duration::from_secs(10)));
    assert!(
        refused,
        "s_server's log does not show the refused renegotiation:\n{}",
        server.log_tail()
    );
}
