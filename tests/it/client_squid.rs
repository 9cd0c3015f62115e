//! The service client through a real squid: absolute-form `http://`, `CONNECT` + TLS for
//! `https://` (also through squid's own TLS port), basic auth on the proxy hop only,
//! bypass going direct, and squid stopped and started again on the same port.

use std::time::Duration;

use extsvc_client::{ErrorKind, Hop, Phase, ServiceClient};
use extsvc_config::{EnvSnapshot, ServiceKind};
use extsvc_tests::client::get_status as get;
use extsvc_tests::client::{service_client, service_conf};
use extsvc_tests::pki::{ServerTlsOptions, TestPki};
use extsvc_tests::squid::{ProxyCredentials, Squid, SquidOptions, SquidTls};
use extsvc_tests::target::{TargetOptions, TestTarget};
use http_body_util::BodyExt;

const PASSWORD: &str = "squid-s3cret-pw";

/// The client of `kind` with `proxy` as its proxy block, trusting the test CA.
async fn client(kind: ServiceKind, proxy: serde_json::Value, pki: &TestPki) -> ServiceClient {
    service_client(
        &service_conf(kind, proxy, pki.trusting_mtls()),
        EnvSnapshot::empty(),
        kind,
    )
    .await
    .unwrap()
}

fn proxied(http: &str, https: &str) -> serde_json::Value {
    serde_json::json!({ "enabled": true, "http_proxy": http, "https_proxy": https })
}

fn squid_with_auth(pki: &TestPki) -> Squid {
    Squid::start(SquidOptions {
        basic_auth: Some(ProxyCredentials::new("gw", PASSWORD)),
        https: Some(SquidTls::of(pki)),
        ..SquidOptions::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_squid_with_basic_auth_both_hops_and_both_proxy_schemes() {
    let pki = TestPki::generate();
    let plain = TestTarget::http(TargetOptions::default());
    let tls = TestTarget::https(TargetOptions::default(), pki.server_config(ServerTlsOptions::default()));
    let squid = squid_with_auth(&pki);

    // http:// proxy for http targets, https:// (TLS to squid) for https targets.
    let client = client(
        ServiceKind::Webhooks,
        proxied(&squid.url_with_credentials(), &squid.https_url_with_credentials()),
        &pki,
    )
    .await;
    assert_eq!(get(&client, &format!("{}/a", plain.url())).await.unwrap(), 200);
    assert_eq!(get(&client, &format!("{}/b", tls.url())).await.unwrap(), 200);

    let at_plain = plain.requests();
    assert_eq!(at_plain.len(), 1);
    assert!(!at_plain[0].headers.contains_key("proxy-authorization"));
    let at_tls = tls.requests();
    assert_eq!(at_tls.len(), 1);
    assert!(!at_tls[0].headers.contains_key("proxy-authorization"));
    assert!(at_tls[0].tls_version.is_some());

    // An http:// target through squid's TLS port: the TLS is to the proxy only, and
    // is reported as such, not as the target's.
    let via_tls_proxy = self::client(
        ServiceKind::Webhooks,
        proxied(&squid.https_url_with_credentials(), &squid.https_url_with_credentials()),
        &pki,
    )
    .await;
    let response = tokio::time::timeout(
        Duration::from_secs(30),
        via_tls_proxy.request(
            http::Request::get(format!("{}/c", plain.url()))
                .body(String::new())
                .unwrap(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.status(), 200);
    let connected = response.body().connected();
    assert_eq!(connected.hop, Hop::Forward);
    assert_eq!(connected.tls_version, None, "no TLS to the http:// target");
    assert!(connected.proxy_tls_version.is_some(), "TLS to the https:// proxy");
    response.into_body().collect().await.unwrap();
    assert_eq!(plain.requests().len(), 2);

    drop(client); // closes the tunnel, so squid logs it
    drop(via_tls_proxy);
    let log = squid.wait_for_requests(3, Duration::from_secs(10)).await;
    let get_line = log.iter().find(|e| e.method == "GET").expect("an absolute-form GET");
    assert_eq!(get_line.target, format!("{}/a", plain.url()));
    assert_eq!(get_line.user.as_deref(), Some("gw"));
    let connect = log.iter().find(|e| e.method == "CONNECT").expect("a CONNECT");
    assert_eq!(connect.target, tls.authority());
    assert_eq!(connect.user.as_deref(), Some("gw"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn squid_wants_credentials_and_bypass_skips_it() {
    let pki = TestPki::generate();
    let tls = TestTarget::https(TargetOptions::default(), pki.server_config(ServerTlsOptions::default()));
    let squid = squid_with_auth(&pki);

    let plain = TestTarget::http(TargetOptions::default());
    let anonymous = client(ServiceKind::Oauth, proxied(&squid.url(), &squid.url()), &pki).await;
    let wrong = format!("http://gw:wrong-{PASSWORD}@127.0.0.1:{}", squid.http_port());
    let rejected = client(ServiceKind::Oauth, proxied(&wrong, &wrong), &pki).await;
    // The same error whether squid refuses the CONNECT or answers the forwarded GET with 407.
    for (target, phase) in [
        (tls.url().to_owned(), Phase::ProxyConnect),
        (plain.url().to_owned(), Phase::ResponseHeaders),
    ] {
        let err = get(&anonymous, &target).await.unwrap_err();
        assert_eq!((err.kind(), err.phase()), (ErrorKind::ProxyAuth, Some(phase)), "{err}");
        assert!(err.to_string().contains("add user:password@"), "{err}");

        let err = get(&rejected, &target).await.unwrap_err();
        assert_eq!((err.kind(), err.phase()), (ErrorKind::ProxyAuth, Some(phase)), "{err}");
        assert!(err.to_string().contains("rejected the credentials"), "{err}");
        assert!(!format!("{err} {err:?} {rejected:?}").contains(PASSWORD), "{err}");
    }
    assert!(
        plain.requests().is_empty(),
        "squid forwarded nothing without credentials"
    );

    let mut block = proxied(&squid.url(), &squid.url());
    block["bypass_proxy"] = "localhost".into();
    let bypassing = client(ServiceKind::Oauth, block, &pki).await;
    // Squid logs a transaction when it ends: let the four refused requests land first, so a
    // late entry of theirs is not mistaken for the bypassed request.
    drop(anonymous);
    drop(rejected);
    let before = squid.wait_for_requests(4, Duration::from_secs(10)).await.len();
    let response = tokio::time::timeout(
        Duration::from_secs(30),
        bypassing.request(http::Request::get(tls.url()).body(String::new()).unwrap()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.status(), 200);
    let connected = response.body().connected();
    assert_eq!(connected.hop, Hop::Direct, "bypassed: straight to the target");
    assert!(connected.tls_version.is_some() && connected.proxy_tls_version.is_none());
    response.into_body().collect().await.unwrap();
    drop(bypassing);
    // Extra evidence from squid's side (the hop above is the real check).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        squid.requests().len(),
        before,
        "the bypassed request never reached squid"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn squid_restarted_on_the_same_port_serves_the_same_client() {
    let pki = TestPki::generate();
    let tls = TestTarget::https(TargetOptions::default(), pki.server_config(ServerTlsOptions::default()));
    let mut squid = Squid::start(SquidOptions::default());
    let client = client(ServiceKind::Health, proxied(&squid.url(), &squid.url()), &pki).await;

    assert_eq!(get(&client, &tls.url()).await.unwrap(), 200);
    squid.stop();
    // The pooled tunnel died with squid; a new connection is refused: an error, no retry.
    let mut errors = Vec::new();
    for _ in 0..2 {
        if let Err(e) = get(&client, &tls.url()).await {
            errors.push(e);
        }
    }
    let refused = errors
        .iter()
        .find(|e| e.kind() == ErrorKind::ProxyConnect)
        .expect("a refused proxy");
    assert!(refused.is_proxy(), "{refused}");
    squid.restart();
    assert_eq!(get(&client, &tls.url()).await.unwrap(), 200);
}
