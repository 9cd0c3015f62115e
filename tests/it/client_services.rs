//! `ExternalServices`: all five clients built once from a resolution; a service whose TLS
//! material fails fails the build (never a client without its mTLS).

use bytes::Bytes;
use extsvc_client::ExternalServices;
use extsvc_config::{EnvSnapshot, ServiceKind};
use extsvc_tests::client::resolve_conf;
use extsvc_tests::target::{TargetOptions, TestTarget};
use extsvc_tls::TlsOptions;
use http_body_util::BodyExt;

fn resolution(json: &str) -> extsvc_resolve::Resolution {
    let env = EnvSnapshot::empty();
    resolve_conf(json, &env)
}

#[tokio::test]
async fn every_service_gets_its_client_with_its_own_settings() {
    let services = ExternalServices::build(&resolution("{}"), None, &TlsOptions::default())
        .await
        .unwrap();
    let target = TestTarget::http(TargetOptions::default());
    for kind in ServiceKind::ALL {
        let client = services.client(kind);
        assert_eq!(client.service().kind, kind);
        let response = client
            .request(
                http::Request::get(target.url())
                    .body(http_body_util::Empty::<Bytes>::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.unwrap();
    }
    assert_eq!(services.client(ServiceKind::Health).service().pool.max_connections, 20);
    // Clones share the pool: the connection opened above is reused.
    let oauth = services.client(ServiceKind::Oauth);
    oauth
        .request(
            http::Request::get(target.url())
                .body(http_body_util::Empty::<Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(oauth.stats().opened, 1);
    assert_eq!(target.stats().accepted, 5, "one connection per service");
    assert_eq!(
        services.storage_connector().timeout(),
        services.client(ServiceKind::Storage).service().timeout
    );
}

#[tokio::test]
async fn a_broken_mtls_service_fails_the_build_naming_the_service() {
    let json = r#"{"external_services":{"webhooks":{"mtls":{"enabled":true,
        "cert_file":"/nonexistent/extsvc/client.crt","key_file":"/nonexistent/extsvc/client.key"}}}}"#;
    let err = ExternalServices::build(&resolution(json), None, &TlsOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.service, ServiceKind::Webhooks);
    let text = err.to_string();
    assert!(
        text.contains("webhooks") && text.contains("/nonexistent/extsvc/client.crt"),
        "{text}"
    );
}
