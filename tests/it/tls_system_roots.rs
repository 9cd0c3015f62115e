//! Trust what Go trusts (SPEC section 3): a client without `ca_file` verifies a real nginx
//! against the operating system's roots, found as Go finds them — a CA given only through
//! `SSL_CERT_FILE`, then only through `SSL_CERT_DIR` (hashed with `openssl rehash`, as
//! `update-ca-certificates` leaves `/etc/ssl/certs`) — and refuses the same server
//! without either. The variables come from the environment snapshot, never the process.

use std::process::Command;

use extsvc_client::ServiceClient;
use extsvc_config::{EnvSnapshot, ServiceKind};
use extsvc_tests::client::get_status as get;
use extsvc_tests::client::service_client;
use extsvc_tests::nginx::{Nginx, NginxClientVerify, NginxOptions, NginxProtocols, NginxTls};
use extsvc_tests::pki::TestPki;

async fn webhooks(env: &[(&str, &str)]) -> ServiceClient {
    service_client("{}", EnvSnapshot::from_iter(env.iter().copied()), ServiceKind::Webhooks)
        .await
        .expect("the client builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_given_through_ssl_cert_file_or_ssl_cert_dir_is_trusted_and_nothing_else() {
    let pki = TestPki::generate();
    let server = Nginx::start(NginxOptions {
        tls: Some(NginxTls {
            cert_chain_path: pki.server_chain_path.clone(),
            key_path: pki.server_key_path.clone(),
            client_ca_path: None,
            verify_client: NginxClientVerify::Off,
            protocols: NginxProtocols::Both,
        }),
        plain_http: false,
    });
    let url = format!("{}/hook", server.https_url());

    // Only SSL_CERT_FILE.
    let ca_file = pki.ca_cert_path.to_str().unwrap();
    let client = webhooks(&[("SSL_CERT_FILE", ca_file)]).await;
    assert_eq!(get(&client, &url).await.unwrap(), 200);

    // Only SSL_CERT_DIR: a directory holding the CA and the hash link `openssl rehash` makes.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&pki.ca_cert_path, dir.path().join("corporate-ca.pem")).unwrap();
    let rehash = Command::new("openssl")
        .arg("rehash")
        .arg(dir.path())
        .status()
        .expect("openssl runs (apt-get install openssl)");
    assert!(rehash.success());
    let links = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".0"))
        .count();
    assert_eq!(links, 1, "openssl rehash made the hash link");
    let client = webhooks(&[("SSL_CERT_DIR", dir.path().to_str().unwrap())]).await;
    assert_eq!(get(&client, &url).await.unwrap(), 200);

    // Neither: the platform bundle does not hold the test CA, and webpki-roots neither.
    let client = webhooks(&[]).await;
    let error = get(&client, &url).await.unwrap_err();
    assert!(error.is_tls(), "{error}");
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");

    // A configured ca_file still replaces the roots: another CA there refuses the server
    // even with the right one in SSL_CERT_FILE.
    let other = TestPki::generate();
    let text = serde_json::json!({"external_services": {"webhooks": {"mtls": {
        "enabled": true, "ca_file": other.ca_cert_path }}}})
    .to_string();
    let client = service_client(
        &text,
        EnvSnapshot::from_iter([("SSL_CERT_FILE", ca_file)]),
        ServiceKind::Webhooks,
    )
    .await
    .unwrap();
    assert!(get(&client, &url).await.unwrap_err().is_tls());
}
