//! The extsvc client against a real nginx that demands a client certificate
//! (`ssl_verify_client on`), directly and through a real squid's CONNECT: the configured
//! client certificate is accepted, a missing or rogue one is refused, and the negotiated
//! TLS version follows `tls_min_version` / `tls_max_version`.

use std::path::Path;
use std::time::Duration;

use extsvc_client::{ErrorKind, ServiceClient};
use extsvc_config::{EnvSnapshot, ServiceKind};
use extsvc_tests::client::{get_verified, service_client};
use extsvc_tests::nginx::{Nginx, NginxClientVerify, NginxProtocols};
use extsvc_tests::pki::TestPki;
use extsvc_tests::squid::{ProxyCredentials, Squid, SquidOptions};
use serde_json::json;

fn nginx(pki: &TestPki, protocols: NginxProtocols) -> Nginx {
    Nginx::start(pki.nginx_options(NginxClientVerify::On, protocols))
}

/// The oauth client for an `mtls` block (plus an optional global proxy block).
async fn oauth_client(mtls: serde_json::Value, global: Option<serde_json::Value>) -> Result<ServiceClient, String> {
    let mut services = json!({ "oauth": { "mtls": mtls } });
    if let Some(global) = global {
        services["global"] = global;
    }
    let text = json!({ "external_services": services }).to_string();
    service_client(&text, EnvSnapshot::empty(), ServiceKind::Oauth)
        .await
        .map_err(|e| e.to_string())
}

fn mtls(cert: &Path, key: &Path, ca: &Path) -> serde_json::Value {
    json!({ "enabled": true, "cert_file": cert, "key_file": key, "ca_file": ca })
}

/// Status, `x-ssl-client-verify` and the negotiated version of one GET.
async fn get(
    client: &ServiceClient,
    url: &str,
) -> Result<(u16, String, Option<rustls::ProtocolVersion>), extsvc_client::Error> {
    let seen = get_verified(client, url).await?;
    Ok((seen.status, seen.verify, seen.connected.tls_version))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_client_certificate_is_accepted_missing_and_rogue_are_refused() {
    let pki = TestPki::generate();
    let server = nginx(&pki, NginxProtocols::Both);
    let url = format!("{}/jwks", server.https_url());

    let good = oauth_client(
        mtls(&pki.client_chain_path, &pki.client_key_path, &pki.ca_cert_path),
        None,
    )
    .await
    .unwrap();
    let (status, verify, version) = get(&good, &url).await.unwrap();
    assert_eq!(
        (status, verify.as_str(), version),
        (200, "SUCCESS", Some(rustls::ProtocolVersion::TLSv1_3))
    );
    // The RSA key in PKCS#1 form works the same.
    let rsa = oauth_client(
        mtls(&pki.client_rsa.chain_path, &pki.client_rsa.key_path, &pki.ca_cert_path),
        None,
    )
    .await
    .unwrap();
    assert_eq!(get(&rsa, &url).await.unwrap().0, 200);

    // CA only: the server is verified, no certificate is presented, nginx refuses.
    let ca_only = oauth_client(json!({ "enabled": true, "ca_file": pki.ca_cert_path }), None)
        .await
        .unwrap();
    assert_eq!(
        get(&ca_only, &url).await.unwrap().0,
        400,
        "nginx: no required SSL certificate was sent"
    );

    let rogue = oauth_client(
        mtls(
            &pki.rogue_client.chain_path,
            &pki.rogue_client.key_path,
            &pki.ca_cert_path,
        ),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        get(&rogue, &url).await.unwrap().0,
        400,
        "nginx refuses a certificate from an untrusted CA"
    );

    // nginx's error pages carry no added headers: its access log tells what it verified.
    let log = server.wait_for_requests(4, Duration::from_secs(10)).await;
    let verdicts: Vec<&str> = log.iter().map(|e| e.client_verify.as_str()).collect();
    assert_eq!(verdicts.len(), 4, "{log:?}");
    assert_eq!(&verdicts[..3], ["SUCCESS", "SUCCESS", "NONE"], "{log:?}");
    assert!(verdicts[3].starts_with("FAILED"), "{log:?}");
    assert!(
        log.iter().any(|e| e.client_dn.contains("extsvc test client")),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiated_version_follows_the_configured_bounds() {
    let pki = TestPki::generate();
    let tls12_only = nginx(&pki, NginxProtocols::Tls12Only);
    let tls13_only = nginx(&pki, NginxProtocols::Tls13Only);
    let bounded = |min: &str, max: &str| {
        let mut m = mtls(&pki.client_chain_path, &pki.client_key_path, &pki.ca_cert_path);
        m["tls_min_version"] = json!(min);
        m["tls_max_version"] = json!(max);
        m
    };

    let any = oauth_client(bounded("1.2", "1.3"), None).await.unwrap();
    assert_eq!(
        get(&any, &tls12_only.https_url()).await.unwrap().2,
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(
        get(&any, &tls13_only.https_url()).await.unwrap().2,
        Some(rustls::ProtocolVersion::TLSv1_3)
    );

    let only_12 = oauth_client(bounded("1.2", "1.2"), None).await.unwrap();
    let (status, verify, version) = get(&only_12, &tls12_only.https_url()).await.unwrap();
    assert_eq!(
        (status, verify.as_str(), version),
        (200, "SUCCESS", Some(rustls::ProtocolVersion::TLSv1_2))
    );
    let err = get(&only_12, &tls13_only.https_url()).await.unwrap_err();
    assert!(
        err.is_tls(),
        "a 1.2-only client cannot talk to a 1.3-only server: {err}"
    );

    let only_13 = oauth_client(bounded("1.3", "1.3"), None).await.unwrap();
    let err = get(&only_13, &tls12_only.https_url()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_through_squid_connect_reaches_nginx_with_the_client_certificate() {
    let pki = TestPki::generate();
    let server = nginx(&pki, NginxProtocols::Both);
    let squid = Squid::start(SquidOptions {
        basic_auth: Some(ProxyCredentials::new("gw", "p@ss word")),
        ..SquidOptions::default()
    });
    let global =
        json!({ "enabled": true, "https_proxy": format!("http://gw:p%40ss%20word@127.0.0.1:{}", squid.http_port()) });
    let client = oauth_client(
        mtls(&pki.client_chain_path, &pki.client_key_path, &pki.ca_cert_path),
        Some(global),
    )
    .await
    .unwrap();
    let url = format!("{}/introspect", server.https_url());
    let (status, verify, version) = get(&client, &url).await.unwrap();
    assert_eq!(
        (status, verify.as_str(), version),
        (200, "SUCCESS", Some(rustls::ProtocolVersion::TLSv1_3))
    );
    assert_eq!(
        get(&client, &url).await.unwrap().0,
        200,
        "the pooled tunnel serves a second request"
    );
    assert_eq!(client.stats().opened, 1, "one tunnel for both requests");

    drop(client); // closes the tunnel, so squid writes its CONNECT log line
    let entries = squid.wait_for_requests(1, Duration::from_secs(10)).await;
    let connect = entries
        .iter()
        .find(|e| e.method == "CONNECT")
        .unwrap_or_else(|| panic!("{entries:?}"));
    assert_eq!(connect.target, format!("localhost:{}", server.https_port()));
    assert_eq!(connect.user.as_deref(), Some("gw"));
    assert_eq!(server.wait_for_requests(2, Duration::from_secs(10)).await.len(), 2);
}
