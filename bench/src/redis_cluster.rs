//! The `redis_cluster` scenario: Tyk's sliding-log rate limiter ([`Op::SlidingLog`], one
//! pipeline of four commands on one key per worker) against a Redis Cluster of three
//! primaries and three replicas on 127.0.0.1 (the tests' launcher), at concurrency 16
//! and 64, through extsvc's `StorageRedis` (tyk.conf's `storage` section with
//! `enable_cluster`: one kept connection per node, its own slot map) and redis-rs's own
//! cluster client (`cluster_async::ClusterConnection`, plain TCP, redis-rs's defaults),
//! interleaved window by window as the other scenarios are. One key per worker spreads
//! the workers over the three primaries' slots, as Tyk's per-API-key limiters do.

use std::io::{self, Write};

use anyhow::Context as _;
use extsvc_client::{ExternalServices, StorageRedis};
use extsvc_config::EnvSnapshot;
use extsvc_tests::redis_topology::{RedisCluster, TOPOLOGY_PASSWORD};
use serde_json::{json, Map, Value};

use crate::load::{median, median_of_ratios};
use crate::redis_pipeline::CONCURRENCIES;
use crate::redis_scenario::{record, round3, run_window, Figures, Op};
use crate::Method;

/// One concurrency's figures.
#[derive(Debug, Clone)]
struct Run {
    concurrency: usize,
    extsvc: Figures,
    redis_rs: Figures,
}

impl Run {
    fn ratio(&self) -> Option<f64> {
        median_of_ratios(&self.extsvc.rps_rounds, &self.redis_rs.rps_rounds)
    }

    fn json(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("concurrency".into(), json!(self.concurrency));
        for (name, f) in [("extsvc", &self.extsvc), ("redis_rs_cluster", &self.redis_rs)] {
            f.insert_json(&mut map, name);
        }
        if let Some(r) = self.ratio() {
            map.insert("extsvc_vs_redis_rs_cluster".into(), json!(round3(r)));
        }
        map
    }
}

/// What the scenario measured.
#[derive(Debug, Clone)]
pub(crate) struct ClusterReport {
    runs: Vec<Run>,
    primaries: usize,
    extsvc_connections_opened: u64,
}

impl ClusterReport {
    /// The highest concurrency's figures at the top level, the others under `cN`, and the
    /// lowest ratio of any concurrency as `lowest_extsvc_vs_redis_rs_cluster`.
    pub(crate) fn to_json(&self) -> Value {
        let mut root = crate::redis_scenario::by_concurrency(self.runs.iter().map(|r| (r.concurrency, r.json())));
        let lowest = self.runs.iter().filter_map(Run::ratio).min_by(f64::total_cmp);
        root.insert("lowest_extsvc_vs_redis_rs_cluster".into(), json!(lowest.map(round3)));
        root.insert("workload".into(), json!("sliding_log"));
        root.insert("commands_per_request".into(), json!(4));
        root.insert("primaries".into(), json!(self.primaries));
        root.insert(
            "extsvc_connections_opened".into(),
            json!(self.extsvc_connections_opened),
        );
        Value::Object(root)
    }

    pub(crate) fn write_table(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "{:<14} {:>4}  {:>10} {:>18} {:>8}",
            "redis_cluster", "conc", "extsvc/s", "redis-rs cluster/s", "÷rs"
        )?;
        for run in &self.runs {
            let rate = |f: &Figures| median(&mut f.rps_rounds.clone());
            writeln!(
                out,
                "{:<14} {:>4}  {:>10.0} {:>18.0} {:>8}",
                "sliding_log",
                run.concurrency,
                rate(&run.extsvc),
                rate(&run.redis_rs),
                run.ratio().map_or_else(|| "-".to_owned(), |r| format!("{r:.2}×")),
            )?;
            for (name, f) in [("extsvc", &run.extsvc), ("redis-rs", &run.redis_rs)] {
                if let Some(error) = &f.first_error {
                    writeln!(out, "{:<14} {name} first error ({} errors): {error}", "", f.errors)?;
                }
            }
        }
        writeln!(
            out,
            "{} primaries; extsvc connections opened: {}",
            self.primaries, self.extsvc_connections_opened
        )?;
        writeln!(out)
    }
}

/// extsvc's client of `cluster`: tyk.conf's `storage` section, `enable_cluster` with
/// every node's address as Tyk's `addrs`.
pub(crate) async fn extsvc_client(cluster: &RedisCluster) -> anyhow::Result<StorageRedis> {
    let conf = json!({ "storage": {
        "enable_cluster": true, "addrs": cluster.addresses(), "password": TOPOLOGY_PASSWORD
    } });
    let services = ExternalServices::builder()
        .tyk_conf_str(conf.to_string(), "bench.conf")
        .env(EnvSnapshot::empty())
        .build()
        .await
        .map_err(|e| anyhow::anyhow!("bench configuration: {e}"))?;
    let redis = services.storage_redis().map_err(|e| anyhow::anyhow!("{e}"))?;
    redis.connect().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(redis)
}

/// redis-rs's own cluster client of `cluster`, with its defaults.
pub(crate) async fn redis_rs_cluster(
    cluster: &RedisCluster,
) -> anyhow::Result<redis::cluster_async::ClusterConnection> {
    let nodes = cluster.addresses().into_iter().map(|a| format!("redis://{a}"));
    let client = redis::cluster::ClusterClientBuilder::new(nodes)
        .password(TOPOLOGY_PASSWORD)
        .build()?;
    Ok(client.get_async_connection().await?)
}

/// Runs the scenario: per concurrency a warm-up window of each client, then rounds of
/// one window per client (extsvc, then redis-rs).
pub(crate) async fn run(method: &Method) -> anyhow::Result<ClusterReport> {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start).await?;
    let extsvc = extsvc_client(&cluster).await.context("extsvc's cluster client")?;
    let direct = redis_rs_cluster(&cluster).await.context("redis-rs's cluster client")?;
    let primaries = extsvc.topology().await.map_err(|e| anyhow::anyhow!("{e}"))?.primaries;
    let mut runs = Vec::new();
    for concurrency in CONCURRENCIES {
        eprintln!("redis_cluster sliding_log at concurrency {concurrency}");
        run_window(&extsvc, Op::SlidingLog, concurrency, method.warmup).await;
        run_window(&direct, Op::SlidingLog, concurrency, method.warmup).await;
        let mut run = Run {
            concurrency,
            extsvc: Figures::default(),
            redis_rs: Figures::default(),
        };
        for _ in 0..method.rounds {
            record(
                &mut run.extsvc,
                run_window(&extsvc, Op::SlidingLog, concurrency, method.window).await,
            );
            record(
                &mut run.redis_rs,
                run_window(&direct, Op::SlidingLog, concurrency, method.window).await,
            );
        }
        runs.push(run);
    }
    let extsvc_connections_opened = extsvc.connections_opened();
    drop((extsvc, direct));
    tokio::task::spawn_blocking(move || drop(cluster)).await?;
    Ok(ClusterReport {
        runs,
        primaries,
        extsvc_connections_opened,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Both clients against a real cluster: the pipeline runs without errors and lands
    /// on the primary of each worker's key (redis-cli `-c` follows the slot).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_cluster_clients_run_the_sliding_log_against_a_real_cluster() {
        let cluster = tokio::task::spawn_blocking(RedisCluster::start).await.unwrap();
        let extsvc = extsvc_client(&cluster).await.unwrap();
        let direct = redis_rs_cluster(&cluster).await.unwrap();
        for window in [
            run_window(&extsvc, Op::SlidingLog, 8, Duration::from_millis(100)).await,
            run_window(&direct, Op::SlidingLog, 8, Duration::from_millis(100)).await,
        ] {
            assert_eq!(window.errors, 0, "{:?}", window.first_error);
            assert!(window.requests > 0);
        }
        assert_eq!(extsvc.topology().await.unwrap().primaries, 3);
        // The workers' keys are spread over more than one primary.
        let mut owners = std::collections::BTreeSet::new();
        for worker in 0..8 {
            let key = crate::redis_scenario::sliding_log_key(worker);
            let owner = cluster
                .primaries()
                .into_iter()
                .find(|&port| {
                    cluster
                        .cli(port, &["ZCARD", &key])
                        .is_ok_and(|reply| reply.trim().parse::<u64>().is_ok_and(|n| n > 0))
                })
                .expect("some primary holds the worker's key");
            owners.insert(owner);
        }
        assert!(owners.len() > 1, "{owners:?}");
        drop((extsvc, direct));
        tokio::task::spawn_blocking(move || drop(cluster)).await.unwrap();
    }
}
