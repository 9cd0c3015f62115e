//! [`RedisClient`] against a real redis-server: `requirepass` and `SELECT` from the URL,
//! `rediss://` with `tls-auth-clients yes` (directly, through squid's `CONNECT`, through
//! an `https://` squid), kept connections, a refused client certificate, a server and a
//! proxy that go away and come back, and a server that never answers.

use std::sync::Arc;
use std::time::Duration;

use extsvc_client::{ErrorKind, ExternalServices, Phase, RedisClient, StreamConnector};
use extsvc_config::{EnvSnapshot, ServiceKind};
use extsvc_resolve::{Resolution, ResolvedService};
use extsvc_tests::client::{resolve_conf, resolved_service, service_conf};
use extsvc_tests::pki::TestPki;
use extsvc_tests::redis::{RedisOptions, RedisServer, RedisTls};
use extsvc_tests::squid::{Squid, SquidOptions, SquidTls};
use extsvc_tls::{build_service_tls, TlsOptions};
use redis::AsyncCommands;

/// A password with characters that must be percent-encoded in the URL.
const PASSWORD: &str = "p@ss/w:rd%1";
const PASSWORD_IN_URL: &str = "p%40ss%2Fw%3Ard%251";

/// The storage service with `proxy` and `mtls` (client certificate and CA by default).
fn resolution(proxy: serde_json::Value, mtls: Option<serde_json::Value>, pki: &TestPki) -> Resolution {
    let env = EnvSnapshot::empty();
    let mtls = mtls.unwrap_or_else(|| pki.client_mtls());
    resolve_conf(&service_conf(ServiceKind::Storage, proxy, mtls), &env)
}

async fn services(proxy: serde_json::Value, pki: &TestPki) -> ExternalServices {
    ExternalServices::build(&resolution(proxy, None, pki), None, &TlsOptions::default())
        .await
        .unwrap()
}

fn tls_redis(pki: &TestPki, plain: bool) -> RedisServer {
    RedisServer::start(RedisOptions {
        plain,
        tls: Some(RedisTls::requiring_client_certificates(pki)),
        password: Some(PASSWORD.to_owned()),
    })
}

/// `redis://:password@127.0.0.1:port/db`.
fn with_auth(url: &str, db: u32) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    format!("{scheme}://:{PASSWORD_IN_URL}@{rest}/{db}")
}

async fn ping(redis: &mut RedisClient) -> redis::RedisResult<String> {
    redis::cmd("PING").query_async(redis).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requirepass_and_select_from_the_url_and_a_handful_of_connections_for_a_thousand_pings() {
    let pki = TestPki::generate();
    let server = RedisServer::start(RedisOptions {
        password: Some(PASSWORD.to_owned()),
        ..RedisOptions::default()
    });
    let services = services(serde_json::json!({}), &pki).await;

    let mut redis = services.redis(&with_auth(&server.url(), 2)).unwrap();
    let shown = format!("{redis:?}");
    assert!(!shown.contains("ss/w") && !shown.contains(PASSWORD_IN_URL), "{shown}");
    redis.connect().await.unwrap();
    redis.set::<_, _, ()>("greeting", "hello").await.unwrap();
    let greeting: String = redis.get("greeting").await.unwrap();
    assert_eq!(greeting, "hello");
    // SELECT 2 happened: database 0 (where redis-cli looks) does not have the key.
    assert_eq!(server.get("greeting"), None);
    // A pipeline works on the client too.
    let (a, b): (String, i64) = redis::pipe()
        .get("greeting")
        .incr("counter", 5)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!((a.as_str(), b), ("hello", 5));

    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let mut redis = redis.clone();
            tokio::spawn(async move {
                for _ in 0..1000 / 16 + 1 {
                    assert_eq!(ping(&mut redis).await.unwrap(), "PONG");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let opened = redis.connections_opened();
    assert!((1..=4).contains(&opened), "opened {opened} connections");

    // A wrong password: a `redis` error at connect that does not show the password.
    let wrong = services
        .redis(&format!("redis://:not-{PASSWORD_IN_URL}@127.0.0.1:{}", server.port()))
        .unwrap();
    let err = wrong.connect().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redis, "{err}");
    let message = format!("{err} {err:?}");
    assert!(!message.contains("not-p"), "{message}");

    // A bad URL names no password either.
    let err = services.redis("redis://:secret@host:notaport").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_client_certificate_direct_through_connect_and_through_an_https_squid() {
    let pki = TestPki::generate();
    let server = tls_redis(&pki, false);
    let squid = Squid::start(SquidOptions {
        https: Some(SquidTls::of(&pki)),
        ..SquidOptions::default()
    });
    let url = with_auth(&server.tls_url(), 0);

    for proxy in [
        serde_json::json!({}),
        serde_json::json!({ "enabled": true, "https_proxy": squid.url() }),
        serde_json::json!({ "enabled": true, "https_proxy": squid.https_url() }),
    ] {
        let services = services(proxy.clone(), &pki).await;
        let mut redis = services.redis(&url).unwrap();
        redis.set::<_, _, ()>("k", "v").await.unwrap();
        for _ in 0..20 {
            let value: String = redis.get("k").await.unwrap();
            assert_eq!(value, "v", "{proxy}");
        }
        assert!(redis.connections_opened() <= 4, "{proxy}");
    }
    // Through squid: one CONNECT per kept connection, not one per command.
    let log = squid.wait_for_requests(2, Duration::from_secs(10)).await;
    let connects = log.iter().filter(|e| e.method == "CONNECT").count();
    assert!((2..=8).contains(&connects), "{log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_client_certificate_is_a_tls_error_at_connect() {
    let pki = TestPki::generate();
    let server = tls_redis(&pki, false);
    // TLS 1.3, the CA but no client certificate: the server refuses after the handshake.
    let mtls = serde_json::json!({
        "enabled": true,
        "ca_file": pki.ca_cert_path.display().to_string(),
        "tls_min_version": "1.3"
    });
    let resolution = resolution(serde_json::json!({}), Some(mtls), &pki);
    let services = ExternalServices::build(&resolution, None, &TlsOptions::default())
        .await
        .unwrap();
    let mut redis = services.redis(&with_auth(&server.tls_url(), 0)).unwrap();
    let err = redis.connect().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("client certificate"), "{err}");
    // A command reports the same, inside redis-rs's error.
    let err = ping(&mut redis).await.unwrap_err();
    let ours = RedisClient::error_of(&err).expect("extsvc's error inside");
    assert_eq!(ours.kind(), ErrorKind::Tls, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_and_restarted_fails_the_next_command_and_then_works_on_the_same_client() {
    let pki = TestPki::generate();
    let mut server = RedisServer::start(RedisOptions::default());
    let services = services(serde_json::json!({}), &pki).await;
    let mut redis = services.redis(&server.url()).unwrap();
    assert_eq!(ping(&mut redis).await.unwrap(), "PONG");

    server.stop();
    let err = ping(&mut redis).await.unwrap_err();
    assert!(err.is_io_error() || err.is_connection_dropped(), "{err}");
    // The next command opens a new connection: refused while the server is down.
    let err = ping(&mut redis).await.unwrap_err();
    let ours = RedisClient::error_of(&err).expect("a connect error");
    assert_eq!(ours.kind(), ErrorKind::Connect, "{err}");

    server.restart();
    assert_eq!(ping(&mut redis).await.unwrap(), "PONG");
    assert_eq!(redis.connections_opened(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_killed_and_restarted_fails_the_next_command_and_then_works_on_the_same_client() {
    let pki = TestPki::generate();
    let server = RedisServer::start(RedisOptions::default());
    let mut squid = Squid::start(SquidOptions::default());
    let services = services(serde_json::json!({ "enabled": true, "http_proxy": squid.url() }), &pki).await;
    let mut redis = services.redis(&server.url()).unwrap();
    assert_eq!(ping(&mut redis).await.unwrap(), "PONG");

    squid.stop();
    let err = ping(&mut redis).await.unwrap_err();
    assert!(err.is_io_error() || err.is_connection_dropped(), "{err}");
    let err = ping(&mut redis).await.unwrap_err();
    let ours = RedisClient::error_of(&err).expect("a proxy error");
    assert_eq!(ours.kind(), ErrorKind::ProxyConnect, "{err}");

    squid.restart();
    assert_eq!(ping(&mut redis).await.unwrap(), "PONG");
    assert_eq!(redis.connections_opened(), 2);
}

/// The storage service without TLS material, for a plain target.
async fn plain_storage() -> (StreamConnector, ResolvedService) {
    let service = resolved_service("{}", ServiceKind::Storage);
    let tls = build_service_tls(&service, None, &TlsOptions::default()).await.unwrap();
    (
        StreamConnector::new(Arc::new(service.clone()), tls.target, tls.proxy),
        service,
    )
}

#[tokio::test]
async fn a_server_that_accepts_and_never_answers_meets_the_deadline() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let _keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let (connector, service) = plain_storage().await;
    let connector = connector.with_timeout(Duration::from_millis(300));
    let mut redis = RedisClient::new(connector, &service, &format!("redis://{address}")).unwrap();

    let started = std::time::Instant::now();
    let err = ping(&mut redis).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert!(err.is_timeout(), "{err}");
    let ours = RedisClient::error_of(&err).expect("extsvc's deadline");
    assert!(ours.is_timeout(), "{ours}");
    assert_eq!(ours.phase(), Some(Phase::ResponseHeaders), "{ours}");
    assert!(ours.to_string().contains(&address.to_string()), "{ours}");
}

/// A kept connection whose server stops answering (`CLIENT PAUSE`): every command in
/// flight on it fails as a timeout, none before its deadline, all within a fraction of
/// it after; the connection is dropped and, once the server answers again, the next
/// command opens another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_on_a_connection_that_stops_answering_fail_at_their_deadline_and_the_next_opens_another() {
    let server = RedisServer::start(RedisOptions::default());
    let (connector, service) = plain_storage().await;
    let timeout = Duration::from_millis(400);
    let redis = RedisClient::new(connector.with_timeout(timeout), &service, &server.url()).unwrap();
    redis.connect().await.unwrap();
    let pause = Duration::from_millis(2500);
    server.pause_clients(pause);
    let paused = std::time::Instant::now();

    let mut commands = tokio::task::JoinSet::new();
    for delay in [0, 150] {
        let mut redis = redis.clone();
        commands.spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let started = std::time::Instant::now();
            let err = ping(&mut redis).await.unwrap_err();
            (err, started.elapsed())
        });
    }
    while let Some(done) = commands.join_next().await {
        let (err, waited) = done.unwrap();
        assert!(err.is_timeout(), "{err}");
        let ours = RedisClient::error_of(&err).expect("extsvc's deadline");
        assert_eq!(
            (ours.kind(), ours.phase()),
            (ErrorKind::Timeout, Some(Phase::ResponseHeaders)),
            "{ours}"
        );
        // The first command's deadline ends the connection: the second (sent later
        // behind it) fails then too, never after its own deadline.
        assert!(waited <= timeout + timeout / 4, "failed after {waited:?}");
    }
    assert!(
        paused.elapsed() >= timeout,
        "the first command failed before its deadline"
    );
    assert_eq!(redis.connections_opened(), 1);

    tokio::time::sleep(pause.saturating_sub(paused.elapsed()) + Duration::from_millis(100)).await;
    assert_eq!(ping(&mut redis.clone()).await.unwrap(), "PONG");
    assert_eq!(redis.connections_opened(), 2);
}
