//! The front door, as a gateway uses it: one `ExternalServices::builder()` call from a
//! configuration (set in code or as tyk.conf text) and an explicit environment to every
//! client, then a request through a real squid (`CONNECT`, proxy credentials) to a real
//! nginx that demands a client certificate, and the body read with `bytes()`/`text()`.

use std::time::Duration;

use extsvc::config::{MtlsBuilder, ProxyBuilder};
use extsvc::{EnvSnapshot, ExternalServices, ExternalServicesConfig, PoolSettings, ServiceKind, SetupError};
use extsvc_tests::nginx::{Nginx, NginxClientVerify, NginxProtocols};
use extsvc_tests::pki::TestPki;
use extsvc_tests::squid::{ProxyCredentials, Squid, SquidOptions};

fn nginx(pki: &TestPki) -> Nginx {
    Nginx::start(pki.nginx_options(NginxClientVerify::On, NginxProtocols::Both))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_builder_call_fetches_through_squid_with_the_client_certificate() {
    let pki = TestPki::generate();
    let server = nginx(&pki);
    let squid = Squid::start(SquidOptions {
        basic_auth: Some(ProxyCredentials::new("gw", "p@ss word")),
        ..SquidOptions::default()
    });
    let proxy = format!("gw:p%40ss%20word@127.0.0.1:{}", squid.http_port()); // no scheme: a warning
    let config = ExternalServicesConfig::builder()
        .global(ProxyBuilder::new().enabled(true).https_proxy(&proxy))
        .mtls(
            ServiceKind::Webhooks,
            MtlsBuilder::new()
                .enabled(true)
                .cert_file(pki.client_chain_path.to_str().unwrap())
                .key_file(pki.client_key_path.to_str().unwrap())
                .ca_file(pki.ca_cert_path.to_str().unwrap()),
        )
        .build()
        .unwrap();
    let mut pool = PoolSettings::for_service(ServiceKind::Webhooks);
    pool.max_connections = 3;
    let services = ExternalServices::builder()
        .config(config)
        .env(EnvSnapshot::from_iter([("NO_PROXY", "example.invalid")]))
        .pool(ServiceKind::Webhooks, pool)
        .timeout(ServiceKind::Webhooks, Duration::from_secs(7))
        .build()
        .await
        .unwrap();
    let warnings = services.warnings().join("\n");
    assert!(
        warnings.contains("external_services.global.https_proxy: no scheme") && !warnings.contains("p@ss"),
        "{warnings}"
    );
    let webhooks = services.client(ServiceKind::Webhooks);
    assert_eq!(webhooks.service().pool, pool, "the pool override reaches the client");
    assert_eq!(webhooks.service().timeout, Duration::from_secs(7));
    let oauth = services.client(ServiceKind::Oauth);
    assert_eq!(
        oauth.service().pool,
        PoolSettings::for_service(ServiceKind::Oauth),
        "other services keep theirs"
    );

    let url = format!("{}/hook", server.https_url());
    let response = tokio::time::timeout(Duration::from_secs(30), webhooks.get(url.as_str()))
        .await
        .expect("the request hung past its deadline")
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().text().await.unwrap();
    assert!(body.contains("verify=SUCCESS"), "{body}");
    // The connection went back to the pool when the body was read: the second request reuses it.
    let bytes = webhooks
        .get(url.as_str())
        .await
        .unwrap()
        .into_body()
        .bytes()
        .await
        .unwrap();
    assert!(bytes.starts_with(b"protocol=TLSv1.3"), "{bytes:?}");
    assert_eq!(webhooks.stats().opened, 1);

    drop((webhooks, oauth, services)); // closes the tunnel, so squid logs the CONNECT
    let entries = squid.wait_for_requests(1, Duration::from_secs(10)).await;
    let connect = entries
        .iter()
        .find(|e| e.method == "CONNECT")
        .unwrap_or_else(|| panic!("{entries:?}"));
    assert_eq!(connect.user.as_deref(), Some("gw"));
}

#[tokio::test]
async fn every_configuration_problem_comes_back_with_its_key_path_and_no_client() {
    let json = r#"{"external_services": {
        "global": {"http_proxy": "http://proxy:99999"},
        "oauth": {"mtls": {"cert_fiel": "/c.pem"}}}}"#;
    let env = EnvSnapshot::from_iter([("TYK_GW_EXTERNAL_SERVICES_HEALTH_MTLS_ENABLED", "maybe")]);
    // Strict: the unknown key is a warning without it (Tyk ignores it).
    let err = ExternalServices::builder()
        .tyk_conf_str(json, "gw.conf")
        .env(env)
        .strict(true)
        .build()
        .await
        .unwrap_err();
    let SetupError::Config(errors) = &err else {
        panic!("not a configuration error: {err}")
    };
    let text = err.to_string();
    assert_eq!(errors.0.len(), 3, "{text}");
    for path in [
        "external_services.global.http_proxy",
        "external_services.oauth.mtls.cert_fiel",
        "TYK_GW_EXTERNAL_SERVICES_HEALTH_MTLS_ENABLED",
    ] {
        assert!(text.contains(path), "{path} missing from: {text}");
    }
}

#[tokio::test]
async fn an_unreadable_tyk_conf_names_the_file_and_a_broken_certificate_names_the_service() {
    let err = ExternalServices::builder()
        .tyk_conf("/nonexistent/extsvc/tyk.conf")
        .env(EnvSnapshot::empty())
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, SetupError::Config(_)), "{err}");
    assert!(err.to_string().contains("/nonexistent/extsvc/tyk.conf"), "{err}");

    let config = ExternalServicesConfig::builder()
        .mtls(
            ServiceKind::Discovery,
            MtlsBuilder::new()
                .enabled(true)
                .cert_file("/nonexistent/extsvc/client.crt")
                .key_file("/nonexistent/extsvc/client.key"),
        )
        .build()
        .unwrap();
    let err = ExternalServices::builder()
        .config(config)
        .env(EnvSnapshot::empty())
        .build()
        .await
        .unwrap_err();
    let SetupError::Build(build) = &err else {
        panic!("not a build error: {err}")
    };
    assert_eq!(build.service, ServiceKind::Discovery);
    assert!(err.to_string().contains("/nonexistent/extsvc/client.crt"), "{err}");
}
