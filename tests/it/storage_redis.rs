//! `ExternalServices::storage_redis()` from tyk.conf's `storage` section against real
//! Redis topologies: one node (password, database, through squid), a 6-node Redis Cluster
//! and a Sentinel set, each through squid's `CONNECT` and through microsocks, and each
//! failing over while commands run: commands fail for the failover window, then succeed
//! on the same handle.
//!
//! The cluster and the Sentinel set start once per test (a few seconds each), and every
//! scenario of that topology runs in that one test, the failover last.

use std::time::{Duration, Instant};

use extsvc::{EnvSnapshot, ExternalServices, StorageKind, StorageRedis};
use extsvc_tests::microsocks::{Microsocks, MicrosocksOptions, OUTGOING_ADDRESS};
use extsvc_tests::pki::TestPki;
use extsvc_tests::redis::{RedisOptions, RedisServer};
use extsvc_tests::redis_topology::{
    redis_cli, ClusterTls, RedisCluster, RedisSentinels, MASTER_NAME, SENTINEL_PASSWORD, TOPOLOGY_PASSWORD,
};
use extsvc_tests::squid::{Squid, SquidOptions};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use redis::AsyncCommands;

/// The longest a failover may keep commands failing.
const FAILOVER: Duration = Duration::from_secs(30);

/// The services for `storage` (tyk.conf's section) through `proxy` (a URL for both
/// schemes, or none).
async fn services(storage: serde_json::Value, proxy: Option<&str>) -> ExternalServices {
    let mut conf = serde_json::json!({ "storage": storage });
    if let Some(proxy) = proxy {
        conf["external_services"] = serde_json::json!({ "storage": { "proxy": {
            "enabled": true, "http_proxy": proxy, "https_proxy": proxy } } });
    }
    ExternalServices::builder()
        .tyk_conf_str(conf.to_string(), "tyk.conf")
        .env(EnvSnapshot::empty())
        .build()
        .await
        .unwrap()
}

/// SET, GET and DEL of `count` keys (spread over every slot of a cluster).
async fn set_get_del(redis: &mut StorageRedis, tag: &str, count: usize) -> redis::RedisResult<()> {
    for i in 0..count {
        let key = format!("{tag}-{i}");
        redis.set::<_, _, ()>(&key, i).await?;
        let got: usize = redis.get(&key).await?;
        assert_eq!(got, i);
        let deleted: usize = redis.del(&key).await?;
        assert_eq!(deleted, 1);
    }
    Ok(())
}

/// Runs rounds of SET/GET/DEL over keys of every slot range until a whole round succeeds
/// after failed ones, for at most [`FAILOVER`]; returns how many rounds failed and how
/// long until the first whole round after them.
async fn through_a_failover(redis: &mut StorageRedis, tag: &str) -> (usize, Duration) {
    let started = Instant::now();
    let mut failed = 0;
    for round in 0.. {
        match set_get_del(redis, &format!("{tag}-{round}"), 12).await {
            Ok(()) if failed > 0 => return (failed, started.elapsed()),
            Ok(()) => {}
            Err(_) => failed += 1,
        }
        assert!(
            started.elapsed() < FAILOVER,
            "no whole round within {FAILOVER:?} after {failed} failed ones"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    unreachable!("the loop returns or panics")
}

fn connects_in(squid: &Squid) -> Vec<String> {
    squid
        .requests()
        .into_iter()
        .filter(|r| r.method == "CONNECT")
        .map(|r| r.target)
        .collect()
}

/// The peer addresses of `port`'s clients (`CLIENT LIST`).
fn client_addresses(port: u16) -> String {
    redis_cli(port, Some(TOPOLOGY_PASSWORD), &["CLIENT", "LIST"]).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_with_password_and_database_through_squid() {
    let server = RedisServer::start(RedisOptions {
        password: Some(TOPOLOGY_PASSWORD.to_owned()),
        ..RedisOptions::default()
    });
    let squid = Squid::start(SquidOptions::default());
    let services = services(
        serde_json::json!({ "host": "127.0.0.1", "port": server.port(), "password": TOPOLOGY_PASSWORD,
                            "database": 3, "timeout": 2 }),
        Some(&squid.url()),
    )
    .await;
    // A recorder of this test only: the node clients register their handles when made.
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let guard = metrics::set_default_local_recorder(&recorder);
    let mut redis = services.storage_redis().unwrap();
    drop(guard);
    assert_eq!(redis.kind(), StorageKind::Standalone);
    let shown = format!("{redis:?} {:?}", services.storage_settings());
    assert!(!shown.contains(TOPOLOGY_PASSWORD), "{shown}");
    set_get_del(&mut redis, "one", 5).await.unwrap();
    redis.set::<_, _, ()>("kept", "x").await.unwrap();
    // SELECT 3: database 0 (where redis-cli looks) does not have the key.
    assert_eq!(server.get("kept"), None);
    let counts = redis.topology().await.unwrap();
    assert_eq!((counts.primaries, counts.replicas), (1, 0));

    // Metrics: every command's duration and the one connection, labelled by the node and
    // `db.system.name=redis`, never a key or a password.
    let node = format!("127.0.0.1:{}", server.port());
    let mut commands = 0;
    let mut opened = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let labels: Vec<(String, String)> = key
            .key()
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        let shown = format!("{labels:?}");
        assert!(!shown.contains("kept") && !shown.contains(TOPOLOGY_PASSWORD), "{shown}");
        assert!(labels.contains(&("db.system.name".into(), "redis".into())), "{shown}");
        assert!(labels.contains(&("server.address".into(), node.clone())), "{shown}");
        match (key.key().name(), value) {
            (extsvc::client::instruments::DB_OPERATION_DURATION, DebugValue::Histogram(durations))
                if !labels.iter().any(|(k, _)| k == "error.type") =>
            {
                commands += durations.len()
            }
            (extsvc::client::instruments::REDIS_CONNECTIONS_OPENED, DebugValue::Counter(n)) => opened += n,
            _ => {}
        }
    }
    assert_eq!((commands, opened), (5 * 3 + 1, 1));
    drop(redis);
    let connects = squid.wait_for_requests(1, Duration::from_secs(5)).await;
    assert!(
        connects
            .iter()
            .any(|r| r.method == "CONNECT" && r.target == format!("127.0.0.1:{}", server.port())),
        "{connects:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_through_squid_and_microsocks_survives_a_primary_failover() {
    let mut cluster = RedisCluster::start();
    let storage = serde_json::json!({
        "enable_cluster": true, "addrs": cluster.addresses()[..2], "password": TOPOLOGY_PASSWORD, "timeout": 1
    });

    // Through squid: every primary reached with CONNECT, MOVED-free routing by slot.
    let squid = Squid::start(SquidOptions::default());
    let services_squid = services(storage.clone(), Some(&squid.url())).await;
    let mut redis = services_squid.storage_redis().unwrap();
    assert_eq!(redis.kind(), StorageKind::Cluster);
    set_get_del(&mut redis, "squid", 60).await.unwrap();
    let counts = redis.topology().await.unwrap();
    assert_eq!((counts.primaries, counts.replicas), (3, 3));
    let primaries = redis.primaries().await.unwrap();
    assert_eq!(primaries.len(), 3);
    let opened = redis.connections_opened();
    drop((redis, primaries));
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut connects = connects_in(&squid);
    while connects.len() < opened as usize && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        connects = connects_in(&squid);
    }
    for port in cluster.primaries() {
        assert!(
            connects.contains(&format!("127.0.0.1:{port}")),
            "no CONNECT to primary {port}: {connects:?}"
        );
    }

    // Through microsocks, which connects to the nodes from 127.0.0.2.
    let socks = Microsocks::start(MicrosocksOptions {
        credentials: None,
        bind_outgoing: Some(OUTGOING_ADDRESS),
    });
    let services_socks = services(storage.clone(), Some(&socks.url("socks5"))).await;
    let mut redis = services_socks.storage_redis().unwrap();
    set_get_del(&mut redis, "socks", 30).await.unwrap();
    let primary = cluster.primaries()[0];
    assert!(
        client_addresses(primary).contains("addr=127.0.0.2:"),
        "{}",
        client_addresses(primary)
    );

    // A primary dies while commands run: they fail for the failover window, then the
    // same handle serves every slot again (the replica promoted, the map asked again).
    let mut redis = services_squid.storage_redis().unwrap();
    set_get_del(&mut redis, "before", 30).await.unwrap();
    let killed = cluster.kill_primary();
    let (failed, took) = through_a_failover(&mut redis, "during").await;
    eprintln!("cluster failover: primary {killed} killed, {failed} rounds failed, served again after {took:?}");
    assert!(failed > 0, "no command failed while the primary was down");
    cluster.wait_until_ok();
    set_get_del(&mut redis, "after", 60).await.unwrap();
    let counts = redis.topology().await.unwrap();
    assert_eq!(counts.primaries, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_through_squid_and_microsocks_skips_a_down_sentinel_and_follows_a_failover() {
    let mut set = RedisSentinels::start();
    let storage = serde_json::json!({
        "master_name": MASTER_NAME, "addrs": set.sentinel_addresses(), "password": TOPOLOGY_PASSWORD,
        "sentinel_password": SENTINEL_PASSWORD, "timeout": 1
    });

    let squid = Squid::start(SquidOptions::default());
    let services_squid = services(storage.clone(), Some(&squid.url())).await;
    let mut redis = services_squid.storage_redis().unwrap();
    assert_eq!(redis.kind(), StorageKind::Sentinel);
    set_get_del(&mut redis, "squid", 10).await.unwrap();
    let counts = redis.topology().await.unwrap();
    assert_eq!((counts.primaries, counts.replicas), (1, 1));
    drop(redis);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut connects = connects_in(&squid);
    let wanted = [set.sentinel_ports()[0], set.master_port()].map(|p| format!("127.0.0.1:{p}"));
    while !wanted.iter().all(|w| connects.contains(w)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        connects = connects_in(&squid);
    }
    assert!(
        wanted.iter().all(|w| connects.contains(w)),
        "{connects:?} lacks {wanted:?}"
    );

    // A wrong sentinel password: the error names the sentinels' refusal, not the password.
    let mut wrong = storage.clone();
    wrong["sentinel_password"] = "not-it".into();
    let err = services(wrong, None)
        .await
        .storage_redis()
        .unwrap()
        .connect()
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("not-it"), "{err}");

    // Through microsocks, with the first sentinel down: it is skipped.
    set.kill_sentinel(0);
    let socks = Microsocks::start(MicrosocksOptions {
        credentials: None,
        bind_outgoing: Some(OUTGOING_ADDRESS),
    });
    let services_socks = services(storage.clone(), Some(&socks.url("socks5"))).await;
    let mut redis = services_socks.storage_redis().unwrap();
    set_get_del(&mut redis, "socks", 10).await.unwrap();
    assert!(client_addresses(set.master_port()).contains("addr=127.0.0.2:"));

    // The master dies: commands fail until the sentinels promote the replica, then the
    // same handle asks them again and goes on with the new master.
    let mut redis = services_squid.storage_redis().unwrap();
    set_get_del(&mut redis, "before", 5).await.unwrap();
    set.kill_master();
    let (failed, took) = through_a_failover(&mut redis, "during").await;
    eprintln!("sentinel failover: {failed} rounds failed, served again after {took:?}");
    assert!(failed > 0, "no command failed while the master was down");
    assert_eq!(set.wait_for_new_master(), set.replica_port());
    set_get_del(&mut redis, "after", 10).await.unwrap();
}

/// A cluster on TLS only (`tls-cluster yes`, client certificates required), its TLS keys
/// in the `storage` section itself (`use_ssl`, `ca_file`, `cert_file`, `key_file`; no
/// mtls block): every node reached through squid's `CONNECT` (`https_proxy`, TLS inside the
/// tunnel), a `MOVED`-free SET/GET/DEL over every slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_with_client_certificates_from_the_storage_keys_through_squid() {
    let pki = TestPki::generate();
    let cluster = RedisCluster::start_tls(ClusterTls {
        cert_chain_path: pki.server_chain_path.clone(),
        key_path: pki.server_key_path.clone(),
        ca_path: pki.ca_cert_path.clone(),
        client_chain_path: pki.client_chain_path.clone(),
        client_key_path: pki.client_key_path.clone(),
    });
    let squid = Squid::start(SquidOptions::default());
    let storage = serde_json::json!({
        "enable_cluster": true, "addrs": cluster.addresses(), "password": TOPOLOGY_PASSWORD, "use_ssl": true,
        "ca_file": pki.ca_cert_path, "cert_file": pki.client_chain_path, "key_file": pki.client_key_path
    });
    let through_squid = services(storage.clone(), Some(&squid.url())).await;
    let mut redis = through_squid.storage_redis().unwrap();
    set_get_del(&mut redis, "tls", 40).await.unwrap();
    let counts = redis.topology().await.unwrap();
    assert_eq!((counts.primaries, counts.replicas), (3, 3));
    drop(redis);
    let deadline = Instant::now() + Duration::from_secs(5);
    let primaries = cluster.primaries();
    let mut connects = connects_in(&squid);
    while !primaries.iter().all(|p| connects.contains(&format!("127.0.0.1:{p}"))) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        connects = connects_in(&squid);
    }
    for port in primaries {
        assert!(
            connects.contains(&format!("127.0.0.1:{port}")),
            "no CONNECT to {port}: {connects:?}"
        );
    }

    // Without the client certificate the nodes refuse: a TLS error, not a hang.
    let mut without = storage;
    without.as_object_mut().unwrap().remove("cert_file");
    without.as_object_mut().unwrap().remove("key_file");
    let refused = services(without, None).await;
    let err = refused.storage_redis().unwrap().connect().await.unwrap_err();
    assert!(err.is_tls() || err.to_string().contains("TLS"), "{err}");
}
