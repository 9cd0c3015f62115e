//! Two things a running Tyk accepts, end to end against a real nginx (SPEC section 3):
//! `mtls.insecure_skip_verify` honoured without `mtls.enabled`, and inline PEM whose line
//! breaks were collapsed into spaces (as environment variables and some UIs deliver it)
//! repaired as Tyk's `certs/manager.go` repairs it. Both were unit-tested only.

use std::time::Duration;

use extsvc_config::{EnvSnapshot, ServiceKind};
use extsvc_tests::client::{get_status, service_client};
use extsvc_tests::nginx::{Nginx, NginxClientVerify, NginxProtocols};
use extsvc_tests::pki::TestPki;
use serde_json::json;

/// PEM text with every line break turned into a space, as a one-line variable holds it.
fn collapsed(pem: &str) -> String {
    pem.trim_end().replace('\n', " ")
}

/// nginx serves a certificate of the test CA, which no system root store holds: Tyk's
/// `insecure_skip_verify: true` without `enabled` reaches it (Tyk honours it); without
/// it, the same request fails verification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_skip_verify_without_enabled_reaches_an_untrusted_server() {
    let pki = TestPki::generate();
    let server = Nginx::start(pki.nginx_options(NginxClientVerify::Off, NginxProtocols::Both));
    let url = format!("{}/hook", server.https_url());

    let conf = json!({"external_services": {"webhooks": {"mtls": {"insecure_skip_verify": true}}}}).to_string();
    let client = service_client(&conf, EnvSnapshot::empty(), ServiceKind::Webhooks)
        .await
        .unwrap();
    assert_eq!(get_status(&client, &url).await.unwrap(), 200);
    let log = server.wait_for_requests(1, Duration::from_secs(10)).await;
    assert_eq!(log.len(), 1, "{}", server.log_tail());

    let strict = json!({"external_services": {"webhooks": {"mtls": {"insecure_skip_verify": false}}}}).to_string();
    let client = service_client(&strict, EnvSnapshot::empty(), ServiceKind::Webhooks)
        .await
        .unwrap();
    let error = get_status(&client, &url).await.unwrap_err();
    assert!(error.is_tls(), "{error}");
    assert_eq!(server.requests().len(), 1);
}

/// A client certificate and key given inline with collapsed line breaks — through
/// `env://` references to `TYK_SECRET_*` variables, and as a `cert_id` bundle — reach an
/// nginx that demands a client certificate, which sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collapsed_inline_pem_is_repaired_and_nginx_sees_the_client_certificate() {
    let pki = TestPki::generate();
    let server = Nginx::start(pki.nginx_options(NginxClientVerify::On, NginxProtocols::Both));
    let url = format!("{}/jwks", server.https_url());
    let env = EnvSnapshot::from_iter([
        ("TYK_SECRET_GW_CERT", collapsed(&pki.client.chain_pem)),
        ("TYK_SECRET_GW_KEY", collapsed(&pki.client.key_pem)),
    ]);
    let by_reference = json!({"external_services": {"oauth": {"mtls": {
        "enabled": true, "cert_file": "env://gw_cert", "key_file": "env://gw_key", "ca_file": pki.ca_cert_path
    }}}})
    .to_string();
    let bundle = collapsed(&format!("{}{}", pki.client.chain_pem, pki.client.key_pem));
    let by_cert_id = json!({"external_services": {"oauth": {"mtls": {
        "enabled": true, "cert_id": bundle, "ca_file": pki.ca_cert_path
    }}}})
    .to_string();
    for (n, conf) in [by_reference, by_cert_id].iter().enumerate() {
        let client = service_client(conf, env.clone(), ServiceKind::Oauth).await.unwrap();
        assert_eq!(get_status(&client, &url).await.unwrap(), 200);
        let log = server.wait_for_requests(n + 1, Duration::from_secs(10)).await;
        assert_eq!(log[n].client_verify, "SUCCESS", "{log:?}");
        assert!(log[n].client_dn.contains("extsvc test client"), "{log:?}");
    }
}
