//! CA rotation on the TLS leg to an `https://` proxy (a real squid on its TLS port): the
//! proxy is verified against the default roots plus the service's current CA, and
//! `insecure_skip_verify` (which relaxes the target leg) never relaxes it, before or after
//! a rotation.

use extsvc_client::{ErrorKind, ServiceClient};
use extsvc_config::ServiceKind;
use extsvc_tests::client::{get_closing, resolved_service};
use extsvc_tests::pki::TestPki;
use extsvc_tests::squid::{Squid, SquidOptions, SquidTls};
use extsvc_tests::target::{TargetOptions, TestTarget};
use extsvc_tls::{build_service_tls, Material, TlsOptions};

/// One GET through the proxy on a new connection: the status, or the client's error kind.
async fn get(client: &ServiceClient, url: &str) -> Result<u16, ErrorKind> {
    get_closing(client, url)
        .await
        .map(|head| head.status.as_u16())
        .map_err(|e| e.kind())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_ca_reaches_the_proxy_leg_which_insecure_skip_verify_never_relaxes() {
    let pki = TestPki::generate();
    let squid = Squid::start(SquidOptions {
        https: Some(SquidTls::of(&pki)),
        ..SquidOptions::default()
    });
    let target = TestTarget::http(TargetOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    std::fs::copy(&pki.rogue_ca_cert_path, &ca).unwrap();

    let json = serde_json::json!({
        "external_services": { "webhooks": {
            "proxy": { "enabled": true, "http_proxy": squid.https_url(), "https_proxy": squid.https_url() },
            "mtls": { "enabled": true, "ca_file": ca, "insecure_skip_verify": true }
        } }
    })
    .to_string();
    let service = resolved_service(&json, ServiceKind::Webhooks);
    let tls = build_service_tls(&service, None, &TlsOptions::default().with_refresh_interval(None))
        .await
        .unwrap();
    let client = ServiceClient::new(service, &tls);
    let url = format!("{}/hook", target.url());

    let refused = get(&client, &url).await;
    assert_eq!(refused, Err(ErrorKind::ProxyTls));

    std::fs::copy(&pki.ca_cert_path, &ca).unwrap();
    assert_eq!(tls.reload().await.changed, [Material::CaCertificates]);
    assert_eq!(get(&client, &url).await, Ok(200));

    std::fs::copy(&pki.rogue_ca_cert_path, &ca).unwrap();
    assert_eq!(tls.reload().await.changed, [Material::CaCertificates]);
    let refused = get(&client, &url).await;
    assert_eq!(refused, Err(ErrorKind::ProxyTls));
    assert_eq!(target.requests().len(), 1);
}
