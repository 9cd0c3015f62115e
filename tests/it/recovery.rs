//! Recovery: a real squid is killed (SIGKILL) in the middle of a load and started again on
//! the same port. One client, built once, carries the whole run:
//!
//! - requests in flight when squid dies fail, each naming the proxy, within their deadline;
//! - requests sent while squid is down fail at once with a proxy connect error (no retry,
//!   no fallback to a direct connection);
//! - every request sent after squid is back succeeds, on new connections, without
//!   rebuilding anything;
//! - nothing hangs: every request ends within its deadline and every worker stops.
//!
//! Run with `-- --nocapture` to print the figures of `docs/reliability.md`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use extsvc_client::{ErrorKind, Phase, RequestTimeout, ServiceClient};
use extsvc_config::ServiceKind;
use extsvc_tests::client::resolved_service;
use extsvc_tests::pki::{ServerTlsOptions, TestPki};
use extsvc_tests::squid::{Squid, SquidOptions};
use extsvc_tests::target::{TargetOptions, TestTarget};
use extsvc_tls::{build_service_tls, TlsOptions};
use http_body_util::BodyExt;

/// The per-request deadline.
const DEADLINE: Duration = Duration::from_secs(2);
/// How late after its deadline a request may end (scheduling on a busy machine).
const LATE: Duration = Duration::from_secs(2);
/// After the kill, how long the client may take to notice its pooled connections died (a
/// request taking one of those in that moment fails as an in-flight one does).
const SETTLE: Duration = Duration::from_millis(100);
/// Requests in flight at once.
const WORKERS: usize = 16;
/// Each target answers after this long, so that requests are in flight when squid dies.
const TARGET_DELAY_MS: u64 = 200;

/// One request of the run.
#[derive(Debug)]
struct Record {
    started: Instant,
    ended: Instant,
    result: Result<u16, Failure>,
}

/// What a failed request said.
#[derive(Debug)]
struct Failure {
    kind: ErrorKind,
    phase: Option<Phase>,
    is_proxy: bool,
    names_proxy: bool,
    message: String,
}

async fn client(kind: ServiceKind, squid: &Squid, pki: &TestPki) -> ServiceClient {
    let json = serde_json::json!({
        "external_services": {
            kind.as_str(): {
                "proxy": { "enabled": true, "http_proxy": squid.url(), "https_proxy": squid.url() },
                "mtls": { "enabled": true, "ca_file": pki.ca_cert_path.display().to_string() }
            }
        }
    })
    .to_string();
    let service = resolved_service(&json, kind);
    let tls = build_service_tls(&service, None, &TlsOptions::default()).await.unwrap();
    ServiceClient::new(service, &tls)
}

async fn send(client: &ServiceClient, url: &str) -> Record {
    let mut request = http::Request::get(url)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    request.extensions_mut().insert(RequestTimeout(DEADLINE));
    let started = Instant::now();
    let exchange = async {
        let response = client.request(request).await?;
        let status = response.status().as_u16();
        response.into_body().collect().await?;
        Ok::<_, extsvc_client::Error>(status)
    };
    let bound = DEADLINE + LATE + Duration::from_secs(3);
    let result = tokio::time::timeout(bound, exchange)
        .await
        .unwrap_or_else(|_| panic!("GET {url} hung for {bound:?}"))
        .map_err(|e| Failure {
            kind: e.kind(),
            phase: e.phase(),
            is_proxy: e.is_proxy(),
            names_proxy: e.proxy().is_some(),
            message: e.to_string(),
        });
    Record {
        started,
        ended: Instant::now(),
        result,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn squid_killed_mid_load_and_restarted_recovers_without_rebuilding_the_client() {
    let pki = TestPki::generate();
    let https = TestTarget::https(TargetOptions::default(), pki.server_config(ServerTlsOptions::default()));
    let http = TestTarget::http(TargetOptions::default());
    let urls = Arc::new([
        format!("{}/?delay_ms={TARGET_DELAY_MS}", https.url()),
        format!("{}/?delay_ms={TARGET_DELAY_MS}", http.url()),
    ]);
    let mut squid = Squid::start(SquidOptions::default());
    let client = client(ServiceKind::Webhooks, &squid, &pki).await;

    let running = Arc::new(AtomicBool::new(true));
    let records = Arc::new(Mutex::new(Vec::new()));
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..WORKERS {
        let (client, urls, running, records) = (client.clone(), urls.clone(), running.clone(), records.clone());
        workers.spawn(async move {
            let mut n = worker;
            while running.load(Ordering::Relaxed) {
                let record = send(&client, &urls[n % urls.len()]).await;
                let failed = record.result.is_err();
                records.lock().unwrap().push(record);
                if failed {
                    // A gateway would not hammer a dead proxy in a tight loop either.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                n += 1;
            }
        });
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let opened_before_kill = client.stats().opened;
    let kill_started = Instant::now();
    tokio::task::block_in_place(|| squid.stop());
    let kill_done = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let restart_started = Instant::now();
    tokio::task::block_in_place(|| squid.restart());
    let restart_done = Instant::now();
    let opened_at_restart = client.stats().opened;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    running.store(false, Ordering::Relaxed);
    tokio::time::timeout(DEADLINE + LATE + Duration::from_secs(5), workers.join_all())
        .await
        .expect("every worker stops: nothing hangs");

    let records = std::mem::take(&mut *records.lock().unwrap());
    let cap = client.service().pool.max_connections;
    let stats = client.stats();
    assert!(stats.open <= cap, "{stats:?}");

    let mut before = 0;
    let mut in_flight = Vec::new();
    let mut while_down = Vec::new();
    let mut after = 0;
    for record in &records {
        let took = record.ended - record.started;
        assert!(took <= DEADLINE + LATE, "{record:?} took {took:?}");
        if let Err(failure) = &record.result {
            assert!(failure.names_proxy, "every failure names the proxy: {failure:?}");
        }
        if record.ended < kill_started {
            before += 1;
            assert_eq!(record.result.as_ref().ok(), Some(&200), "before the kill: {record:?}");
        } else if record.started < kill_started {
            in_flight.push(record);
        } else if record.started >= kill_done + SETTLE && record.ended < restart_started {
            while_down.push(record);
        } else if record.started >= restart_done {
            after += 1;
            assert_eq!(record.result.as_ref().ok(), Some(&200), "after the restart: {record:?}");
        }
    }

    // In flight when squid died: they fail (the proxy is named), promptly.
    let in_flight_failed: Vec<&Failure> = in_flight.iter().filter_map(|r| r.result.as_ref().err()).collect();
    assert!(
        !in_flight_failed.is_empty(),
        "some requests were in flight when squid died: {in_flight:?}"
    );
    for record in &in_flight {
        assert!(record.ended <= kill_done + DEADLINE, "in flight: {record:?}");
    }
    // While squid was down: each new request is refused by the proxy hop, at once.
    assert!(!while_down.is_empty(), "requests were sent while squid was down");
    for record in &while_down {
        let failure = record
            .result
            .as_ref()
            .expect_err("no request succeeds without the proxy");
        assert!(
            failure.is_proxy && failure.kind == ErrorKind::ProxyConnect,
            "while down: {record:?}"
        );
        assert!(record.ended - record.started < DEADLINE, "refused at once: {record:?}");
    }
    // After the restart: all succeed, on connections opened to the new squid.
    assert!(after >= WORKERS, "requests after the restart: {after}");
    assert!(
        client.stats().opened > opened_at_restart,
        "new connections after the restart"
    );
    assert!(https.stats().requests > 0 && http.stats().requests > 0);

    let kinds = |records: &[&Record]| {
        let mut kinds: Vec<String> = records
            .iter()
            .filter_map(|r| r.result.as_ref().err())
            .map(|f| format!("{} in {}", f.kind, f.phase.map_or("-", Phase::as_str)))
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds.join(", ")
    };
    let slowest = |records: &[&Record]| records.iter().map(|r| r.ended - r.started).max().unwrap_or_default();
    let in_flight_messages: Vec<&str> = in_flight_failed.iter().map(|f| f.message.as_str()).collect();
    eprintln!(
        "| before the kill | {before} requests, all ok |\n\
         | in flight at the kill | {} requests, {} failed ({}), slowest {} ms |\n\
         | squid down ({} ms) | {} requests, all failed ({}), slowest {} ms |\n\
         | after the restart ({} ms to restart) | {after} requests, all ok |\n\
         | connections opened | {opened_before_kill} before the kill, {} in all |\n\
         sample in-flight error: {:?}",
        in_flight.len(),
        in_flight_failed.len(),
        kinds(&in_flight),
        slowest(&in_flight).as_millis(),
        (restart_started - kill_done).as_millis(),
        while_down.len(),
        kinds(&while_down),
        slowest(&while_down).as_millis(),
        (restart_done - restart_started).as_millis(),
        client.stats().opened,
        in_flight_messages.first(),
    );
}
