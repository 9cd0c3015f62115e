//! A user's own hyper-util client with extsvc's connectors composed in: the route,
//! CONNECT tunnel and TLS rules apply without using `ServiceClient` at all.

use std::sync::Arc;

use bytes::Bytes;
use extsvc_client::connect::{http1_tls_config, ProxyConnector, TcpConnector, TlsConnector};
use extsvc_config::{EnvSnapshot, ServiceKind};
use extsvc_tests::client::resolved_service;
use extsvc_tests::fault_proxy::{FaultMode, FaultProxy};
use extsvc_tests::pki::{ServerTlsOptions, TestPki};
use extsvc_tests::target::{TargetOptions, TestTarget};
use extsvc_tls::{build_service_tls, TlsOptions};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::ServiceBuilder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extsvc_connectors_inside_a_hyper_util_legacy_client() {
    let pki = TestPki::generate();
    let target = TestTarget::https(TargetOptions::default(), pki.server_config(ServerTlsOptions::default()));
    let bypassed = TestTarget::http(TargetOptions::default());
    let proxy = FaultProxy::start(FaultMode::Normal);
    let config = serde_json::json!({ "external_services": {
        "global": { "enabled": true, "https_proxy": proxy.url(), "http_proxy": proxy.url(), "bypass_proxy": bypassed.authority() },
        "webhooks": { "mtls": { "enabled": true, "ca_file": pki.ca_cert_path } }
    }})
    .to_string();
    let service = resolved_service(&config, ServiceKind::Webhooks);
    let tls = build_service_tls(&service, None, &TlsOptions::default()).await.unwrap();

    let connector = ServiceBuilder::new()
        .map_response(TokioIo::new)
        .service(TlsConnector::new(
            http1_tls_config(&tls.target),
            ProxyConnector::new(Arc::new(service), Some(tls.proxy.clone()), TcpConnector::new()),
        ));
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);

    // https://localhost:… is not bypassed (the entry names another port): CONNECT through
    // the proxy, then TLS to the target.
    let response = client.get(target.localhost_url().parse().unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "ok");
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.clone()),
        ("CONNECT", target.localhost_url().replace("https://", ""))
    );

    // 127.0.0.1:<its port> is in the bypass list: straight to the target, the proxy sees
    // nothing new.
    let response = client.get(bypassed.url().parse().unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(proxy.requests().len(), 1);
    assert_eq!(bypassed.stats().requests, 1);
}

/// `ExternalServices::connector` hands out the service's own connector: a hyper-util
/// client built on it needs no second load, resolution or TLS build, presents the same
/// client certificate and goes the same route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_services_connector_composes_into_hyper_util() {
    let pki = TestPki::generate();
    let target = TestTarget::https(
        TargetOptions::default(),
        pki.server_config(ServerTlsOptions {
            client_auth: extsvc_tests::pki::ClientAuthMode::Required,
            ..ServerTlsOptions::default()
        }),
    );
    let proxy = FaultProxy::start(FaultMode::Normal);
    let config = serde_json::json!({ "external_services": {
        "global": { "enabled": true, "https_proxy": proxy.url() },
        "webhooks": { "mtls": pki.client_mtls() }
    }})
    .to_string();
    let services = extsvc::ExternalServices::builder()
        .tyk_conf_str(config, "tyk.conf")
        .env(EnvSnapshot::empty())
        .build()
        .await
        .unwrap();
    let client: Client<_, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(services.connector(ServiceKind::Webhooks));
    let response = client.get(target.localhost_url().parse().unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-target-client-cert"], "present");
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method.as_str(), "CONNECT");
}
