//! The service client's pool under its connection cap, against in-process targets that
//! count connections on the server side.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use extsvc::{EnvSnapshot, ExternalServices, PoolSettings, ServiceClient, ServiceKind};
use extsvc_tests::client::service_client;
use extsvc_tests::target::{TargetOptions, TestTarget};
use http_body_util::BodyExt;

/// The client of `kind` with its built-in settings.
async fn client(kind: ServiceKind) -> ServiceClient {
    service_client("{}", EnvSnapshot::empty(), kind).await.unwrap()
}

/// The client of `kind` with its pool sizes changed by `change`, through the builder's
/// library-level override.
async fn client_with_pool(kind: ServiceKind, change: impl FnOnce(&mut PoolSettings)) -> ServiceClient {
    let mut pool = PoolSettings::for_service(kind);
    change(&mut pool);
    let services = ExternalServices::builder()
        .env(EnvSnapshot::empty())
        .pool(kind, pool)
        .build()
        .await
        .unwrap();
    services.client(kind)
}

async fn get(client: &ServiceClient, url: &str) -> u16 {
    let req = http::Request::get(url)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = client.request(req).await.unwrap();
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_requests_never_open_more_than_the_cap() {
    let client = client(ServiceKind::Health).await;
    assert_eq!(client.service().pool.max_connections, 20);
    let target = TestTarget::http(TargetOptions {
        delay: Duration::from_millis(50),
        ..Default::default()
    });
    let url = Arc::new(target.url());
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { get(&client, &url).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let stats = target.stats();
    assert_eq!(stats.requests, 64);
    assert!(
        stats.peak_open <= 20,
        "server saw {} connections open at once",
        stats.peak_open
    );
    assert!(stats.peak_open >= 10, "the requests did run concurrently: {stats:?}");
    let client_stats = client.stats();
    assert!(client_stats.open <= 20, "{client_stats:?}");
    assert_eq!(client_stats.opened, stats.accepted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_requests_reuse_a_few_connections() {
    let client = client(ServiceKind::Oauth).await;
    let target = TestTarget::http(TargetOptions::default());
    let url = Arc::new(format!("{}/token", target.url()));
    // Four workers in parallel, each sequential: under `max_idle_per_host` (10).
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                for _ in 0..750 {
                    assert_eq!(get(&client, &url).await, 200);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let stats = target.stats();
    assert_eq!(stats.requests, 3000);
    assert!(stats.accepted <= 8, "3000 requests used {} connections", stats.accepted);
    assert_eq!(client.stats().opened, stats.accepted);
    assert!(client.stats().idle >= 1);
}

#[tokio::test]
async fn a_request_for_another_host_evicts_an_idle_connection_at_the_cap() {
    let client = client_with_pool(ServiceKind::Discovery, |pool| pool.max_connections = 1).await;
    let a = TestTarget::http(TargetOptions::default());
    let b = TestTarget::http(TargetOptions::default());

    assert_eq!(get(&client, &a.url()).await, 200);
    assert_eq!(client.stats().idle, 1);
    // Host B waits for a slot; A's idle connection is closed to make room.
    let answered = tokio::time::timeout(Duration::from_secs(5), get(&client, &b.url())).await;
    assert_eq!(answered.expect("B was starved by A's idle connection"), 200);
    assert_eq!(a.wait_open_at_most(0, Duration::from_secs(5)).await.open, 0);
    assert_eq!(client.stats().open, 1);
    assert_eq!(client.stats().opened, 2);
}

#[tokio::test]
async fn a_waiter_of_the_same_host_gets_the_returned_connection() {
    let client = client_with_pool(ServiceKind::Webhooks, |pool| pool.max_connections = 1).await;
    let target = TestTarget::http(TargetOptions {
        delay: Duration::from_millis(30),
        ..Default::default()
    });
    let url = Arc::new(target.url());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { get(&client, &url).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(target.stats().accepted, 1, "handed over, never reopened");
    assert_eq!(target.stats().requests, 8);
}

#[tokio::test]
async fn idle_connections_expire_after_the_idle_timeout() {
    let client = client_with_pool(ServiceKind::Health, |pool| {
        pool.idle_timeout = Duration::from_millis(200)
    })
    .await;
    let target = TestTarget::http(TargetOptions::default());
    assert_eq!(get(&client, &target.url()).await, 200);
    assert_eq!(client.stats().idle, 1);
    // The background reaper closes it without any further request.
    let stats = target.wait_open_at_most(0, Duration::from_secs(5)).await;
    assert_eq!(stats.open, 0);
    // The client frees the slot when its connection task ends, which can be just after
    // the server saw the close: poll.
    let mut expected = extsvc_client::ClientStats::default();
    (expected.opened, expected.closed, expected.peak_open) = (1, 1, 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while client.stats() != expected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(client.stats(), expected);
}
