//! [`RedisClient`] through a real SOCKS5 proxy (microsocks, its outgoing side bound to
//! 127.0.0.2 so redis-server's `CLIENT INFO` shows who connected): plain `redis://` with
//! `requirepass` via `socks5://`, `rediss://` with a client certificate via `socks5h://`,
//! the proxy killed and restarted under one client; and the `redis_through_squid` example
//! (the front door to a Redis handle) run against a real squid and a TLS redis-server
//! demanding client certificates.

use std::time::Duration;

use extsvc_client::{ErrorKind, ExternalServices, RedisClient};
use extsvc_config::{EnvSnapshot, ServiceKind};
use extsvc_tests::client::{proxied, service_conf};
use extsvc_tests::microsocks::{Microsocks, MicrosocksOptions, OUTGOING_ADDRESS};
use extsvc_tests::pki::TestPki;
use extsvc_tests::redis::{RedisOptions, RedisServer, RedisTls};
use extsvc_tests::squid::{Squid, SquidOptions};
use redis::AsyncCommands;

#[allow(dead_code, reason = "the example's main is not called here, only its code path")]
#[path = "../../crates/extsvc/examples/redis_through_squid.rs"]
mod redis_through_squid;

/// A password with characters that must be percent-encoded in the URL.
const PASSWORD: &str = "s0cks:p@ss/1";
const PASSWORD_IN_URL: &str = "s0cks%3Ap%40ss%2F1";

/// Every exchange of these tests ends well within this.
const BOUND: Duration = Duration::from_secs(30);

fn microsocks() -> Microsocks {
    Microsocks::start(MicrosocksOptions {
        credentials: None,
        bind_outgoing: Some(OUTGOING_ADDRESS),
    })
}

/// redis-server with `requirepass`, a plain port and a TLS port with `tls-auth-clients yes`.
fn redis_server(pki: &TestPki) -> RedisServer {
    RedisServer::start(RedisOptions {
        plain: true,
        tls: Some(RedisTls::requiring_client_certificates(pki)),
        password: Some(PASSWORD.to_owned()),
    })
}

/// The front door with the storage service through `proxy_url`, with the test client
/// certificate.
async fn front_door(proxy_url: &str, pki: &TestPki) -> ExternalServices {
    let conf = service_conf(ServiceKind::Storage, proxied(proxy_url), pki.client_mtls());
    ExternalServices::builder()
        .tyk_conf_str(conf, "tyk.conf")
        .env(EnvSnapshot::empty())
        .build()
        .await
        .unwrap()
}

/// `scheme://:password@rest/db`.
fn with_auth(url: &str, db: u32) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    format!("{scheme}://:{PASSWORD_IN_URL}@{rest}/{db}")
}

async fn bounded<T>(what: &str, run: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, run)
        .await
        .unwrap_or_else(|_| panic!("{what} hung past {BOUND:?}"))
}

async fn ping(redis: &mut RedisClient) -> redis::RedisResult<String> {
    bounded("PING", redis::cmd("PING").query_async(redis)).await
}

/// The peer address redis-server saw for this client's connection.
async fn client_addr(redis: &mut RedisClient) -> String {
    let info: String = bounded("CLIENT INFO", redis::cmd("CLIENT").arg("INFO").query_async(redis))
        .await
        .unwrap();
    info.split_whitespace()
        .find_map(|field| field.strip_prefix("addr="))
        .unwrap_or_else(|| panic!("no addr= in {info}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requirepass_via_socks5_and_a_client_certificate_via_socks5h() {
    let pki = TestPki::generate();
    let server = redis_server(&pki);
    let proxy = microsocks();

    // redis:// with the password and database from the URL, through socks5://.
    let services = front_door(&proxy.url("socks5"), &pki).await;
    let mut redis = services.redis(&with_auth(&server.url(), 3)).unwrap();
    bounded("connect", redis.connect()).await.unwrap();
    bounded("SET", redis.set::<_, _, ()>("via", "socks5")).await.unwrap();
    let value: String = bounded("GET", redis.get("via")).await.unwrap();
    assert_eq!(value, "socks5");
    // SELECT 3 happened: database 0 does not have the key.
    assert_eq!(server.get("via"), None);
    let addr = client_addr(&mut redis).await;
    assert!(addr.starts_with("127.0.0.2:"), "redis saw {addr}, not microsocks' side");
    assert_eq!(redis.connections_opened(), 1);

    // A wrong password through the proxy: a redis error that does not show it.
    let wrong = services
        .redis(&format!("redis://:not-{PASSWORD_IN_URL}@127.0.0.1:{}", server.port()))
        .unwrap();
    let err = bounded("connect", wrong.connect()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redis, "{err}");
    assert!(!format!("{err} {err:?}").contains("not-s0cks"), "{err:?}");

    // rediss://localhost with the client certificate redis demands, through socks5h://
    // (microsocks resolves `localhost`); TLS runs inside the SOCKS stream.
    let services = front_door(&proxy.url("socks5h"), &pki).await;
    let mut redis = services.redis(&with_auth(&server.tls_url(), 0)).unwrap();
    bounded("connect", redis.connect()).await.unwrap();
    bounded("SET", redis.set::<_, _, ()>("via", "socks5h")).await.unwrap();
    for _ in 0..20 {
        let value: String = bounded("GET", redis.get("via")).await.unwrap();
        assert_eq!(value, "socks5h");
    }
    let addr = client_addr(&mut redis).await;
    assert!(addr.starts_with("127.0.0.2:"), "redis saw {addr}, not microsocks' side");
    assert_eq!(redis.connections_opened(), 1, "one kept connection for 22 commands");
    assert_eq!(server.get("via").as_deref(), Some("socks5h"));

    // Without the client certificate, the same path is refused: no fallback without mTLS.
    let conf = serde_json::json!({
        "external_services": { "storage": {
            "proxy": { "enabled": true, "https_proxy": proxy.url("socks5h") },
            "mtls": { "enabled": true, "ca_file": pki.ca_cert_path, "tls_min_version": "1.3" }
        } }
    })
    .to_string();
    let bare = ExternalServices::builder()
        .tyk_conf_str(conf, "tyk.conf")
        .env(EnvSnapshot::empty())
        .build()
        .await
        .unwrap();
    let redis = bare.redis(&with_auth(&server.tls_url(), 0)).unwrap();
    let err = bounded("connect", redis.connect()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsocks_killed_and_restarted_fails_the_next_command_and_then_works_on_the_same_client() {
    let pki = TestPki::generate();
    let server = redis_server(&pki);
    let mut proxy = microsocks();
    let services = front_door(&proxy.url("socks5h"), &pki).await;
    let mut redis = services.redis(&with_auth(&server.tls_url(), 0)).unwrap();
    assert_eq!(ping(&mut redis).await.unwrap(), "PONG");
    assert!(client_addr(&mut redis).await.starts_with("127.0.0.2:"));

    proxy.stop();
    // The kept connection died with the proxy: the next command fails, with an I/O error.
    let err = ping(&mut redis).await.unwrap_err();
    assert!(err.is_io_error() || err.is_connection_dropped(), "{err}");
    // The one after opens a new connection: the proxy refuses, and the error says so.
    let err = ping(&mut redis).await.unwrap_err();
    let ours = RedisClient::error_of(&err).expect("extsvc's error inside redis-rs'");
    assert_eq!(ours.kind(), ErrorKind::ProxyConnect, "{err}");
    assert!(
        ours.is_proxy() && ours.to_string().contains("socks5h://127.0.0.1"),
        "{ours}"
    );

    proxy.restart();
    // Same client, nothing rebuilt: the next command goes through the proxy again.
    assert_eq!(ping(&mut redis).await.unwrap(), "PONG");
    assert!(client_addr(&mut redis).await.starts_with("127.0.0.2:"));
    assert_eq!(redis.connections_opened(), 2);
}

/// The `redis_through_squid` example's code, as its users run it: the front door
/// (`ExternalServices::builder`), a Redis handle, `SET`/`GET` through squid's `CONNECT` to
/// a redis-server that demands a client certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_through_squid_example_sets_and_gets_through_a_real_squid_with_a_client_certificate() {
    let pki = TestPki::generate();
    let server = redis_server(&pki);
    let squid = Squid::start(SquidOptions::default());
    let path = |p: &std::path::Path| p.display().to_string();

    let (value, opened) = bounded(
        "the example",
        redis_through_squid::set_then_get(
            &squid.url(),
            &with_auth(&server.tls_url(), 0),
            &path(&pki.ca_cert_path),
            &path(&pki.client_chain_path),
            &path(&pki.client_key_path),
        ),
    )
    .await
    .unwrap();
    assert_eq!((value.as_str(), opened), ("hello through the proxy", 1));
    assert_eq!(server.get("extsvc:example").as_deref(), Some("hello through the proxy"));
    let log = squid.wait_for_requests(1, Duration::from_secs(10)).await;
    let connects = log.iter().filter(|e| e.method == "CONNECT").count();
    assert_eq!(connects, 1, "{log:?}");
}
