//! Hostile Redis peers against every Redis reader extsvc has (`services.redis(url)`,
//! `services.storage_redis()`, the certificate store): each reply that would grow
//! without end ends its connection with an error naming the limit, within seconds, and
//! the whole run's peak resident memory (`VmHWM`) stays under [`PEAK_RSS_LIMIT_KIB`].
//!
//! The peers are in-process ([`extsvc_tests::hostile_resp`]): no real redis-server sends
//! these replies. This is a test binary of its own because it measures the process's peak
//! resident memory, which any other test in the same process would add to.

use std::time::{Duration, Instant};

use extsvc::{EnvSnapshot, ExternalServices};
use extsvc_tests::hostile_resp::{HostileRedis, Hostility, DENIED, HOSTILE_KEY};
use extsvc_tls::{CertificateStore, RedisStore};

/// The peak resident memory the whole run may reach: 128 MiB (before the limit, one
/// endless bulk string alone reached 2.2 GB).
const PEAK_RSS_LIMIT_KIB: u64 = 128 * 1024;

/// Each hostile exchange must end within this (the trickle runs into the 2 s deadline).
const BOUND: Duration = Duration::from_secs(8);

/// What each endless reply must say: the limit's name.
const NAMES_THE_LIMIT: &str = "max_reply_bytes";

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The storage service with a 2 s timeout (each command's deadline).
async fn services() -> ExternalServices {
    ExternalServices::builder()
        .tyk_conf_str("{}", "tyk.conf")
        .env(EnvSnapshot::empty())
        .timeout(extsvc::ServiceKind::Storage, Duration::from_secs(2))
        .build()
        .await
        .expect("build the services")
}

/// `GET HOSTILE` through `services.redis(url)`: its error's text.
async fn through_redis_client(services: &ExternalServices, peer: &HostileRedis) -> String {
    let mut redis = services.redis(&peer.url()).unwrap();
    let got: redis::RedisResult<Option<String>> = redis::cmd("GET").arg(HOSTILE_KEY).query_async(&mut redis).await;
    let error = got.expect_err("a hostile reply must fail the command");
    // The connection is gone: the next command opens another, which fails the same way.
    error.to_string()
}

/// `GET HOSTILE` through `storage_redis()`, tyk.conf's `storage` section naming the peer.
async fn through_storage_redis(peer: &HostileRedis) -> String {
    let port = peer.address().rsplit_once(':').unwrap().1.to_owned();
    let conf = format!(r#"{{"storage": {{"host": "127.0.0.1", "port": {port}, "timeout": 2}}}}"#);
    let services = ExternalServices::builder()
        .tyk_conf_str(conf, "tyk.conf")
        .env(EnvSnapshot::empty())
        .build()
        .await
        .expect("build the services");
    let mut redis = services.storage_redis().unwrap();
    let got: redis::RedisResult<Option<String>> = redis::cmd("GET").arg(HOSTILE_KEY).query_async(&mut redis).await;
    got.expect_err("a hostile reply must fail the command").to_string()
}

/// The certificate store's lookup of the hostile key, through plain TCP.
async fn through_store(peer: &HostileRedis) -> String {
    // The store reads `cert-raw-HOSTILE`, which names the hostile key.
    let got = RedisStore::new(peer.address()).ca_certificates(HOSTILE_KEY).await;
    got.expect_err("a hostile reply must fail the lookup").to_string()
}

#[test]
fn hostile_replies_end_in_an_error_naming_the_limit_in_bounded_time_and_memory() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let services = services().await;
        for hostility in [
            Hostility::EndlessBulk,
            Hostility::EndlessLine,
            Hostility::EndlessArray,
            Hostility::NestedArrays,
            Hostility::HugeLengthNoData,
            Hostility::Trickle,
        ] {
            let peer = HostileRedis::start(hostility);
            for client in ["services.redis", "storage_redis"] {
                let started = Instant::now();
                let error = if client == "storage_redis" {
                    through_storage_redis(&peer).await
                } else {
                    through_redis_client(&services, &peer).await
                };
                let took = started.elapsed();
                eprintln!("{client}, {hostility:?}: {took:?}: {error}");
                assert!(took < BOUND, "{client}, {hostility:?} took {took:?}");
                match hostility {
                    Hostility::EndlessLine => assert!(error.contains("64 KiB"), "{client}, {hostility:?}: {error}"),
                    Hostility::NestedArrays => assert!(error.contains("levels"), "{client}, {hostility:?}: {error}"),
                    Hostility::Trickle => assert!(error.contains("2s"), "{client}, {hostility:?}: {error}"),
                    _ => assert!(error.contains(NAMES_THE_LIMIT), "{client}, {hostility:?}: {error}"),
                }
            }
        }
        // The store: entries are capped at 1 MiB like files, so even a whole 3 MiB reply
        // is refused without being read.
        for hostility in [
            Hostility::EndlessBulk,
            Hostility::EndlessLine,
            Hostility::EndlessArray,
            Hostility::HugeLengthNoData,
            Hostility::Bulk(3 << 20),
        ] {
            let peer = HostileRedis::start(hostility);
            let started = Instant::now();
            let error = tokio::time::timeout(BOUND, through_store(&peer))
                .await
                .unwrap_or_else(|_| panic!("the store's lookup of {hostility:?} ran past {BOUND:?}"));
            eprintln!("RedisStore, {hostility:?}: {:?}: {error}", started.elapsed());
            match hostility {
                Hostility::EndlessLine => assert!(error.contains("64 KiB"), "{hostility:?}: {error}"),
                _ => assert!(error.contains("larger than 1048576 bytes"), "{hostility:?}: {error}"),
            }
        }
    });
    let peak = peak_rss_kib();
    eprintln!("peak RSS: {peak} KiB");
    assert!(peak < PEAK_RSS_LIMIT_KIB, "peak RSS {peak} KiB");
}

/// A server that refuses at once (protected mode: `-DENIED …`, then close) is reported
/// with its own words, not as a broken pipe.
#[test]
fn a_server_that_refuses_at_once_is_reported_with_its_answer() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let services = services().await;
        let peer = HostileRedis::start(Hostility::Denied);
        let redis = services.redis(&peer.url()).unwrap();
        let error = redis.connect().await.unwrap_err().to_string();
        assert!(error.contains("DENIED Redis is running in protected mode"), "{error}");
        let store = RedisStore::new(peer.address());
        let error = store.ca_certificates("any").await.unwrap_err().to_string();
        assert!(error.contains("DENIED Redis is running in protected mode"), "{error}");
        assert!(!DENIED.is_empty());
    });
}
