//! `extsvc-bench profile-redis CLIENT OP CONCURRENCY COMMANDS`: one Redis client sending a
//! fixed number of commands, for `callgrind` (instructions per command whatever else the
//! machine runs) and for the server's own count of reads per command (`INFO stats`),
//! which tells how deeply a client pipelines.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use extsvc_tests::redis::{RedisOptions, RedisServer};
use extsvc_tests::redis_topology::RedisCluster;

use crate::redis_scenario::{extsvc_client, redis_rs_direct, sliding_log_key, Op, KEY, VALUE_BYTES};

/// `profile-redis CLIENT OP CONCURRENCY COMMANDS`: one client (`extsvc` or `redis_rs`
/// against a redis-server of its own, `extsvc_cluster` or `redis_rs_cluster` against a
/// cluster of its own) sends `COMMANDS` of `OP` (`ping`, `get`, `sliding_log`) from
/// `CONCURRENCY` workers, after a warm-up; for `perf stat -e instructions:u`
/// (the bench's instructions per command, whatever else the machine runs) or callgrind.
pub(crate) async fn profile(args: &[String]) -> anyhow::Result<()> {
    let [client, op, concurrency, commands] = args else {
        anyhow::bail!(
            "usage: extsvc-bench profile-redis extsvc|redis_rs|extsvc_cluster|redis_rs_cluster \
             ping|get|sliding_log CONCURRENCY COMMANDS"
        );
    };
    let op = [Op::Ping, Op::Get, Op::SlidingLog]
        .into_iter()
        .find(|o| o.name() == op)
        .with_context(|| format!("unknown operation {op:?}"))?;
    let concurrency: usize = concurrency.parse().context("CONCURRENCY must be a number")?;
    let commands: u64 = commands.parse().context("COMMANDS must be a number")?;
    let server = RedisServer::start(RedisOptions::default());
    server.set(KEY, &"x".repeat(VALUE_BYTES));
    let server_stats = |name: &str| -> u64 {
        extsvc_tests::redis_topology::redis_cli(server.port(), None, &["INFO", "stats"])
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
            .unwrap_or(0)
    };
    let elapsed = match client.as_str() {
        "extsvc" => {
            let pki = crate::bench_pki::BenchPki::generate()?;
            let extsvc = extsvc_client(&server.url(), &pki.client)?;
            extsvc.connect().await?;
            send_count(&extsvc, op, concurrency, commands).await?
        }
        "redis_rs" => send_count(&redis_rs_direct(server.port()).await?, op, concurrency, commands).await?,
        "extsvc_cluster" | "redis_rs_cluster" => {
            let cluster = tokio::task::spawn_blocking(RedisCluster::start).await?;
            let elapsed = if client == "extsvc_cluster" {
                let extsvc = crate::redis_cluster::extsvc_client(&cluster).await?;
                send_count(&extsvc, op, concurrency, commands).await?
            } else {
                let direct = crate::redis_cluster::redis_rs_cluster(&cluster).await?;
                send_count(&direct, op, concurrency, commands).await?
            };
            let stats = |name: &str| -> u64 {
                cluster
                    .primaries()
                    .into_iter()
                    .filter_map(|port| cluster.cli(port, &["INFO", "stats"]).ok())
                    .flat_map(|info| {
                        info.lines()
                            .filter_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse::<u64>().ok())
                            .collect::<Vec<_>>()
                    })
                    .sum()
            };
            let commands_done = stats("total_commands_processed").max(1) as f64;
            eprintln!(
                "the primaries' reads per command {:.3}, writes per command {:.3}",
                stats("total_reads_processed") as f64 / commands_done,
                stats("total_writes_processed") as f64 / commands_done
            );
            tokio::task::spawn_blocking(move || drop(cluster)).await?;
            elapsed
        }
        other => anyhow::bail!("unknown client {other:?} (extsvc, redis_rs, extsvc_cluster, redis_rs_cluster)"),
    };
    if !client.ends_with("cluster") {
        let commands_done = server_stats("total_commands_processed").max(1) as f64;
        eprintln!(
            "the server's reads per command {:.3}",
            server_stats("total_reads_processed") as f64 / commands_done
        );
    }
    eprintln!(
        "{client} {}: {commands} at concurrency {concurrency} in {:.3} s ({:.0}/s)",
        op.name(),
        elapsed.as_secs_f64(),
        commands as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// `concurrency` workers send `op` until `commands` were sent (after 1,000 of warm-up).
async fn send_count<C>(connection: &C, op: Op, concurrency: usize, commands: u64) -> anyhow::Result<Duration>
where
    C: redis::aio::ConnectionLike + Clone + Send + 'static,
{
    let mut warm = connection.clone();
    for _ in 0..1000 {
        op.run(&mut warm, &sliding_log_key(0)).await?;
    }
    let left = Arc::new(std::sync::atomic::AtomicU64::new(commands));
    let syscalls_before = read_write_syscalls();
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (mut connection, left) = (connection.clone(), left.clone());
            let key = sliding_log_key(worker);
            tokio::spawn(async move {
                while left
                    .fetch_update(
                        std::sync::atomic::Ordering::Relaxed,
                        std::sync::atomic::Ordering::Relaxed,
                        |n| n.checked_sub(1),
                    )
                    .is_ok()
                {
                    op.run(&mut connection, &key).await?;
                }
                Ok::<_, redis::RedisError>(())
            })
        })
        .collect();
    for worker in workers {
        worker.await??;
    }
    let elapsed = start.elapsed();
    let (reads, writes) = read_write_syscalls();
    eprintln!(
        "read syscalls per command {:.2}, write syscalls per command {:.2}",
        reads.saturating_sub(syscalls_before.0) as f64 / commands as f64,
        writes.saturating_sub(syscalls_before.1) as f64 / commands as f64
    );
    Ok(elapsed)
}

/// This process's read and write system calls so far (`syscr`, `syscw` of
/// `/proc/self/io`; zeros where there is no such file).
fn read_write_syscalls() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("syscr:"), field("syscw:"))
}
