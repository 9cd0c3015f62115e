//! The pool controls (per-host cap, bounded wait queue, connection lifetime) and the
//! client's metrics, against nginx and squid; the in-process target only where a slow
//! answer is needed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use extsvc_client::instruments::*;
use extsvc_client::{ErrorKind, Phase};
use extsvc_config::ServiceKind;
use extsvc_resolve::{PoolSettings, ResolvedService};
use extsvc_tests::client::get_status as get;
use extsvc_tests::client::{client_of, resolved_service};
use extsvc_tests::nginx::{Nginx, NginxOptions};
use extsvc_tests::squid::{ProxyCredentials, Squid, SquidOptions};
use extsvc_tests::target::{TargetOptions, TestTarget};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

fn resolved(kind: ServiceKind, json: &str, pool: impl FnOnce(PoolSettings) -> PoolSettings) -> ResolvedService {
    let mut service = resolved_service(json, kind);
    service.pool = pool(service.pool);
    service
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_host_cap_holds_under_load_against_nginx() {
    let nginx = Nginx::start(NginxOptions {
        plain_http: true,
        ..NginxOptions::default()
    });
    let other = TestTarget::http(TargetOptions {
        delay: Duration::from_millis(300),
        ..TargetOptions::default()
    });
    let client = client_of(resolved(ServiceKind::Webhooks, "{}", |p| {
        p.with_max_connections_per_host(3)
    }))
    .await;
    let nginx_url = Arc::new(format!("{}/", nginx.http_url()));
    let other_url = Arc::new(other.url());
    // 48 at once: 40 workers of 5 requests to nginx, and 8 slow requests to another
    // host: each host is held to 3 connections of its own.
    let tasks: Vec<_> = (0..48)
        .map(|n| {
            let client = client.clone();
            let (url, count) = if n % 6 == 0 {
                (other_url.clone(), 1)
            } else {
                (nginx_url.clone(), 5)
            };
            tokio::spawn(async move {
                for _ in 0..count {
                    assert_eq!(get(&client, &url).await.unwrap(), 200);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let entries = nginx.wait_for_requests(200, Duration::from_secs(5)).await;
    assert_eq!(entries.len(), 200, "{}", nginx.log_tail());
    assert!(
        nginx.connections_seen() <= 3,
        "nginx saw {} connections",
        nginx.connections_seen()
    );
    let stats = client.stats();
    assert!(stats.peak_waiting > 0, "requests queued for nginx: {stats:?}");
    let other_stats = other.stats();
    assert_eq!(
        (other_stats.peak_open, other_stats.accepted, other_stats.requests),
        (3, 3, 8),
        "8 slow requests at once, 3 connections: {other_stats:?}"
    );
    assert!(stats.peak_open <= 6, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_pending_requests_fail_at_once_with_pool_full() {
    // A slow answer keeps the one connection busy while the others arrive.
    let target = TestTarget::http(TargetOptions {
        delay: Duration::from_millis(400),
        ..TargetOptions::default()
    });
    let client = client_of(resolved(ServiceKind::Health, "{}", |p| {
        p.with_max_connections_per_host(1).with_max_pending(2)
    }))
    .await;
    let url = Arc::new(target.url());
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                (get(&client, &url).await, started.elapsed())
            })
        })
        .collect();
    let mut ok = 0;
    let mut full = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (Ok(200), _) => ok += 1,
            (Err(e), elapsed) => {
                assert!(e.is_pool_full(), "{e}");
                assert_eq!(e.kind(), ErrorKind::PoolFull);
                assert_eq!(e.phase(), Some(Phase::PoolWait));
                assert!(e.to_string().contains("max_pending"), "{e}");
                full.push(elapsed);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((ok, full.len()), (3, 3), "one in flight, two waiting, three refused");
    for elapsed in full {
        assert!(
            elapsed < Duration::from_millis(300),
            "refused after {elapsed:?}, not at once"
        );
    }
    assert_eq!(target.stats().accepted, 1);
    assert_eq!(client.stats().peak_waiting, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lifetime_retires_pooled_connections_against_nginx() {
    let nginx = Nginx::start(NginxOptions {
        plain_http: true,
        ..NginxOptions::default()
    });
    let url = format!("{}/", nginx.http_url());
    let lifetime = Duration::from_millis(250);
    let without = client_of(resolved(ServiceKind::Oauth, "{}", |p| p)).await;
    let with = client_of(resolved(ServiceKind::Oauth, "{}", |p| {
        p.with_max_connection_lifetime(lifetime)
    }))
    .await;
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_millis(1200) {
        assert_eq!(get(&without, &url).await.unwrap(), 200);
        assert_eq!(get(&with, &url).await.unwrap(), 200);
        sent += 2;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    nginx.wait_for_requests(sent, Duration::from_secs(5)).await;
    assert_eq!(without.stats().opened, 1, "{:?}", without.stats());
    let opened = with.stats().opened;
    // 1.2 s of sequential requests with connections retired at 250 ms: about 5.
    assert!((4..=7).contains(&opened), "opened {opened}: {:?}", with.stats());
    assert_eq!(nginx.connections_seen() as u64, opened + 1, "nginx agrees");
}

/// The series of `name` in `snapshot`: labels and value. (One snapshot per test: taking
/// one resets the recorder's counters and gauges.)
fn labels_of<'a>(snapshot: &'a Snapshot, name: &str) -> Vec<(Vec<(String, String)>, &'a DebugValue)> {
    snapshot
        .iter()
        .filter(|(key, _, _, _)| key.key().name() == name)
        .map(|(key, _, _, value)| {
            let labels = key
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            (labels, value)
        })
        .collect()
}

type Snapshot = Vec<(
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

fn has(labels: &[(String, String)], key: &str, value: &str) -> bool {
    labels.iter().any(|(k, v)| k == key && v == value)
}

#[test]
fn metrics_through_squid_carry_the_service_and_the_redacted_proxy() {
    const PASSWORD: &str = "metrics-s3cret-pw";
    let nginx = Nginx::start(NginxOptions {
        plain_http: true,
        ..NginxOptions::default()
    });
    let squid = Squid::start(SquidOptions {
        basic_auth: Some(ProxyCredentials::new("gw", PASSWORD)),
        ..SquidOptions::default()
    });
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // A recorder of this test only: the client registers its handles with it while it is
    // the thread's default, and the runtime runs everything on this thread.
    let _guard = metrics::set_default_local_recorder(&recorder);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("{}/hello", nginx.http_url());
    let json = serde_json::json!({"external_services": {"webhooks": {"proxy": {
        "enabled": true, "http_proxy": squid.url_with_credentials() }}}})
    .to_string();
    let client = runtime.block_on(client_of(resolved(ServiceKind::Webhooks, &json, |p| {
        p.with_max_connection_lifetime(Duration::from_secs(60))
    })));
    runtime.block_on(async {
        for _ in 0..3 {
            assert_eq!(get(&client, &url).await.unwrap(), 200);
        }
    });
    let route = format!("127.0.0.1:{}", squid.http_port());
    let snapshot: Snapshot = snapshotter.snapshot().into_vec();
    let requests = labels_of(&snapshot, REQUEST_DURATION);
    let ok: Vec<_> = requests
        .iter()
        .filter(|(labels, _)| {
            has(labels, LABEL_SERVICE, "webhooks")
                && has(labels, LABEL_ROUTE, &route)
                && has(labels, LABEL_SERVER_ADDRESS, "127.0.0.1")
                && has(labels, LABEL_METHOD, "GET")
                && has(labels, LABEL_STATUS_CODE, "200")
        })
        .collect();
    assert_eq!(ok.len(), 1, "{requests:?}");
    assert!(matches!(&ok[0].1, DebugValue::Histogram(v) if v.len() == 3));
    let opened = labels_of(&snapshot, CONNECTIONS_OPENED);
    assert!(
        opened
            .iter()
            .any(|(l, v)| has(l, LABEL_ROUTE, &route) && **v == DebugValue::Counter(1)),
        "{opened:?}"
    );
    let open = labels_of(&snapshot, OPEN_CONNECTIONS);
    assert!(
        open.iter().any(|(l, v)| has(l, LABEL_CONNECTION_STATE, "idle")
            && has(l, LABEL_ROUTE, &route)
            && **v == DebugValue::Gauge(1.0.into())),
        "{open:?}"
    );
    let waits = labels_of(&snapshot, POOL_WAIT_DURATION);
    assert!(
        waits
            .iter()
            .any(|(l, v)| has(l, LABEL_SERVICE, "webhooks") && matches!(v, DebugValue::Histogram(h) if h.len() == 3)),
        "{waits:?}"
    );
    // Never a secret in a label.
    let everything = format!("{snapshot:?}");
    assert!(!everything.contains(PASSWORD), "{everything}");
    // squid logs a request once it has finished with it, which can be just after the
    // client read the response: wait (bounded) for the third line.
    let logged = runtime.block_on(squid.wait_for_requests(3, Duration::from_secs(5)));
    assert_eq!(logged.len(), 3, "every request went through squid");
    drop(client);
    runtime.shutdown_timeout(Duration::from_secs(1));
}
