//! Tyk's https fallback through a real squid (SPEC section 2, step 4): the seed's
//! migration example — a tyk.conf with only a legacy `http_proxy` — sends `oauth`'s https
//! JWKS fetch through that proxy as a CONNECT; the standard `HTTP_PROXY` never carries
//! over to https. Redis over TLS (`rediss://`) follows `https_proxy`, hence the fallback.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use extsvc_client::{ServiceClient, StreamConnector};
use extsvc_config::{EnvSnapshot, ServiceKind, Source};
use extsvc_resolve::ResolvedService;
use extsvc_tests::client::{resolve_conf, resolved_service};
use extsvc_tests::pki::{ServerTlsOptions, TestPki};
use extsvc_tests::redis::{RedisOptions, RedisServer, RedisTls};
use extsvc_tests::squid::{Squid, SquidOptions};
use extsvc_tests::target::{TargetOptions, TestTarget};
use extsvc_tls::{build_service_tls, TlsOptions};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn oauth(json: &str, env: &[(&str, &str)]) -> ResolvedService {
    let env = EnvSnapshot::from_iter(env.iter().copied());
    resolve_conf(json, &env).service(ServiceKind::Oauth).clone()
}

async fn fetch_jwks(service: ResolvedService, target: &TestTarget) -> u16 {
    let tls = build_service_tls(&service, None, &TlsOptions::default()).await.unwrap();
    let client = ServiceClient::new(service, &tls);
    let req = http::Request::get(format!("{}/.well-known/jwks.json", target.url()))
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let run = async {
        let response = client.request(req).await.unwrap();
        let status = response.status().as_u16();
        response.into_body().collect().await.unwrap();
        status
    };
    // The client is dropped here, closing any tunnel, so squid logs it.
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the request hung past its deadline")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_http_proxy_carries_https_jwks_fetches_and_the_standard_one_does_not() {
    let pki = TestPki::generate();
    let idp = TestTarget::https(TargetOptions::default(), pki.server_config(ServerTlsOptions::default()));
    let squid = Squid::start(SquidOptions::default());

    // The standard HTTP_PROXY with global proxying on: https goes direct.
    let standard = oauth(
        r#"{"external_services": {"global": {"enabled": true}}, "jwt_ssl_insecure_skip_verify": true}"#,
        &[("HTTP_PROXY", &squid.url())],
    );
    assert_eq!(standard.proxy.https_proxy.value, None);
    assert_eq!(fetch_jwks(standard, &idp).await, 200);
    assert_eq!(idp.requests().len(), 1);

    // The seed's migration example, "before": only the legacy keys.
    let migration = oauth(
        &format!(
            r#"{{"http_proxy": "{}", "jwt_ssl_insecure_skip_verify": true}}"#,
            squid.url()
        ),
        &[],
    );
    assert_eq!(
        migration.proxy.https_proxy.source,
        Source::Fallback(Box::new(Source::Legacy("http_proxy".into())))
    );
    assert_eq!(fetch_jwks(migration, &idp).await, 200);
    assert_eq!(idp.requests().len(), 2);

    let log = squid.wait_for_requests(1, Duration::from_secs(10)).await;
    assert_eq!(log.len(), 1, "only the fallback crossed squid: {log:?}");
    assert_eq!(
        (log[0].method.as_str(), log[0].target.clone()),
        ("CONNECT", idp.authority())
    );
    assert_eq!(log[0].status, 200, "{log:?}");
}

/// Redis over TLS takes `https_proxy`, so the fallback too: `rediss://` through squid with
/// only a legacy `http_proxy`, the client certificate presented inside the tunnel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_takes_the_legacy_http_proxy_through_the_fallback() {
    let pki = TestPki::generate();
    let redis = RedisServer::start(RedisOptions {
        plain: false,
        tls: Some(RedisTls::requiring_client_certificates(&pki)),
        password: None,
    });
    let squid = Squid::start(SquidOptions::default());
    let json = serde_json::json!({
        "http_proxy": squid.url(),
        "external_services": {"storage": {"mtls": pki.client_mtls()}}
    })
    .to_string();
    let storage = resolved_service(&json, ServiceKind::Storage);
    assert_eq!(
        storage.proxy.https_proxy.source.to_string(),
        "fallback:legacy:http_proxy"
    );
    let tls = build_service_tls(&storage, None, &TlsOptions::default()).await.unwrap();
    let connector = StreamConnector::new(Arc::new(storage), tls.target, tls.proxy);

    let ping = async {
        let mut stream = connector.connect(redis.tls_url().parse().unwrap()).await.unwrap();
        stream.write_all(b"PING\r\n").await.unwrap();
        let mut buf = [0u8; 16];
        let n = stream.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let pong = tokio::time::timeout(Duration::from_secs(30), ping)
        .await
        .expect("PING hung");
    assert_eq!(pong, "+PONG\r\n");
    drop(connector);
    let log = squid.wait_for_requests(1, Duration::from_secs(10)).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (log[0].method.as_str(), log[0].target.clone()),
        ("CONNECT", format!("localhost:{}", redis.tls_port()))
    );
}
