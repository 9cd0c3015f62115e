//! The `redis_pipeline` scenario: Redis as Tyk's sliding-log rate limiter uses it — one
//! pipeline of `ZREMRANGEBYSCORE`, `ZCARD`, `ZADD`, `EXPIRE` on one key per request
//! ([`Op::SlidingLog`]) — at concurrency 16 and 64 against one redis-server on
//! 127.0.0.1, through extsvc's `RedisClient`, redis-rs's own `MultiplexedConnection` on a
//! plain `TcpStream`, and go-redis v9 (Tyk's client; `bench/go-redis`, a Go program this
//! process drives window by window over its standard input). Interleaved window by window
//! as the other scenarios are; the go-redis column is skipped, with the reason, when
//! there is no `go` or the program does not build.

use std::io::{self, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context as _};
use extsvc_tests::redis::{RedisOptions, RedisServer};
use rustls::ClientConfig;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::load::{median, median_of_ratios};
use crate::redis_scenario::{self, record, round3, run_window, Figures, Op, Window};
use crate::Method;

/// The concurrencies of this scenario (a gateway's request workers hitting the limiter).
pub(crate) const CONCURRENCIES: [usize; 2] = [16, 64];

/// One concurrency's figures.
#[derive(Debug, Clone)]
struct Run {
    concurrency: usize,
    extsvc: Figures,
    redis_rs: Figures,
    go_redis: Option<Figures>,
}

/// The median over rounds of `ours`' rate divided by `theirs`' in the same round.
fn ratio(ours: &Figures, theirs: &Figures) -> Option<f64> {
    median_of_ratios(&ours.rps_rounds, &theirs.rps_rounds)
}

impl Run {
    fn clients(&self) -> impl Iterator<Item = (&'static str, &Figures)> {
        [("extsvc", &self.extsvc), ("redis_rs_direct", &self.redis_rs)]
            .into_iter()
            .chain(self.go_redis.as_ref().map(|f| ("go_redis", f)))
    }

    fn json(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("concurrency".into(), json!(self.concurrency));
        for (name, f) in self.clients() {
            f.insert_json(&mut map, name);
        }
        if let Some(r) = ratio(&self.extsvc, &self.redis_rs) {
            map.insert("extsvc_vs_redis_rs_direct".into(), json!(round3(r)));
        }
        if let Some(r) = self.go_redis.as_ref().and_then(|go| ratio(&self.extsvc, go)) {
            map.insert("extsvc_vs_go_redis".into(), json!(round3(r)));
        }
        map
    }
}

/// What the scenario measured.
#[derive(Debug, Clone)]
pub(crate) struct PipelineReport {
    runs: Vec<Run>,
    go_redis_skipped: Option<String>,
    extsvc_connections_opened: u64,
}

impl PipelineReport {
    /// The highest concurrency's figures at the top level, the others under `cN`; the
    /// top-level ratios are those of the highest concurrency, `lowest_*` the lowest of
    /// any concurrency.
    pub(crate) fn to_json(&self) -> Value {
        let mut root = redis_scenario::by_concurrency(self.runs.iter().map(|r| (r.concurrency, r.json())));
        let lowest = |theirs: fn(&Run) -> Option<&Figures>| {
            self.runs
                .iter()
                .filter_map(|r| ratio(&r.extsvc, theirs(r)?))
                .min_by(f64::total_cmp)
                .map(round3)
        };
        root.insert(
            "lowest_extsvc_vs_redis_rs_direct".into(),
            json!(lowest(|r| Some(&r.redis_rs))),
        );
        root.insert(
            "lowest_extsvc_vs_go_redis".into(),
            json!(lowest(|r| r.go_redis.as_ref())),
        );
        root.insert("commands_per_request".into(), json!(4));
        root.insert(
            "sliding_log_per_seconds".into(),
            json!(redis_scenario::SLIDING_LOG_PER_SECONDS),
        );
        root.insert(
            "extsvc_connections_opened".into(),
            json!(self.extsvc_connections_opened),
        );
        if let Some(reason) = &self.go_redis_skipped {
            root.insert("go_redis_skipped".into(), json!(reason));
        }
        Value::Object(root)
    }

    pub(crate) fn write_table(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "{:<14} {:>4}  {:>10} {:>12} {:>8} {:>12} {:>8}",
            "redis_pipeline", "conc", "extsvc/s", "redis-rs/s", "÷rs", "go-redis/s", "÷go"
        )?;
        for run in &self.runs {
            let rate = |f: &Figures| median(&mut f.rps_rounds.clone());
            let text = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}×"));
            writeln!(
                out,
                "{:<14} {:>4}  {:>10.0} {:>12.0} {:>8} {:>12} {:>8}",
                "sliding_log",
                run.concurrency,
                rate(&run.extsvc),
                rate(&run.redis_rs),
                text(ratio(&run.extsvc, &run.redis_rs)),
                run.go_redis
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |f| format!("{:.0}", rate(f))),
                text(run.go_redis.as_ref().and_then(|go| ratio(&run.extsvc, go))),
            )?;
            for (name, f) in run.clients() {
                if let Some(error) = &f.first_error {
                    writeln!(out, "{:<14} {name} first error ({} errors): {error}", "", f.errors)?;
                }
            }
        }
        if let Some(reason) = &self.go_redis_skipped {
            writeln!(out, "go-redis column skipped: {reason}")?;
        }
        writeln!(out)
    }
}

/// The go-redis program, running, answering one window per command.
struct GoRedis {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

/// How much longer than its window a go-redis window may take to answer.
const GO_WINDOW_GRACE: Duration = Duration::from_secs(10);

impl GoRedis {
    fn start(binary: &Path, port: u16) -> anyhow::Result<GoRedis> {
        let mut child = tokio::process::Command::new(binary)
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdin = child.stdin.take().context("go-redis stdin")?;
        let stdout = child.stdout.take().context("go-redis stdout")?;
        Ok(GoRedis {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        })
    }

    async fn window(&mut self, concurrency: usize, duration: Duration) -> anyhow::Result<Window> {
        let command = format!("window {concurrency} {}\n", duration.as_millis());
        self.stdin.write_all(command.as_bytes()).await?;
        self.stdin.flush().await?;
        let line = match tokio::time::timeout(duration + GO_WINDOW_GRACE, self.lines.next_line()).await {
            Err(_) => bail!("go-redis did not answer within {:?}", duration + GO_WINDOW_GRACE),
            Ok(line) => line?.context("go-redis exited")?,
        };
        let answer: Value = serde_json::from_str(&line).with_context(|| format!("go-redis answered {line:?}"))?;
        let number = |key: &str| answer[key].as_u64().with_context(|| format!("no {key} in {line:?}"));
        Ok(Window {
            requests: number("requests")?,
            errors: number("errors")?,
            first_error: answer["first_error"].as_str().map(str::to_owned),
            elapsed: Duration::from_nanos(number("elapsed_ns")?),
            p50_us: number("p50_ns")? as f64 / 1000.0,
        })
    }
}

impl Drop for GoRedis {
    fn drop(&mut self) {
        // kill_on_drop: the child goes with the handle; start_kill makes it prompt.
        let _ = self.child.start_kill();
    }
}

/// Runs the scenario: per concurrency a warm-up window of each client, then rounds of
/// one window per client (extsvc, redis-rs, go-redis).
pub(crate) async fn run(method: &Method, tls: &std::sync::Arc<ClientConfig>) -> anyhow::Result<PipelineReport> {
    let server = RedisServer::start(RedisOptions::default());
    let extsvc = redis_scenario::extsvc_client(&server.url(), tls)?;
    extsvc.connect().await.context("extsvc's Redis client cannot connect")?;
    let direct = redis_scenario::redis_rs_direct(server.port()).await?;
    let (mut go, go_redis_skipped) = match crate::go_program::build("go-redis").await {
        Ok(binary) => (Some(GoRedis::start(&binary, server.port())?), None),
        Err(reason) => {
            eprintln!("redis_pipeline: go-redis column skipped: {reason}");
            (None, Some(reason))
        }
    };
    let mut runs = Vec::new();
    for concurrency in CONCURRENCIES {
        eprintln!("redis_pipeline sliding_log at concurrency {concurrency}");
        run_window(&extsvc, Op::SlidingLog, concurrency, method.warmup).await;
        run_window(&direct, Op::SlidingLog, concurrency, method.warmup).await;
        if let Some(go) = &mut go {
            go.window(concurrency, method.warmup).await?;
        }
        let mut run = Run {
            concurrency,
            extsvc: Figures::default(),
            redis_rs: Figures::default(),
            go_redis: go.as_ref().map(|_| Figures::default()),
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
            if let (Some(go), Some(figures)) = (&mut go, &mut run.go_redis) {
                record(figures, go.window(concurrency, method.window).await?);
            }
        }
        runs.push(run);
    }
    Ok(PipelineReport {
        runs,
        go_redis_skipped,
        extsvc_connections_opened: extsvc.connections_opened(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(rounds: &[f64]) -> Figures {
        Figures {
            rps_rounds: rounds.to_vec(),
            p50_rounds: vec![100.0; rounds.len()],
            requests: 10,
            ..Figures::default()
        }
    }

    #[test]
    fn ratios_are_per_round_and_the_go_column_is_optional() {
        let report = PipelineReport {
            runs: vec![
                Run {
                    concurrency: 16,
                    extsvc: figures(&[100.0, 100.0, 100.0]),
                    redis_rs: figures(&[100.0, 125.0, 50.0]),
                    go_redis: None,
                },
                Run {
                    concurrency: 64,
                    extsvc: figures(&[90.0, 100.0, 110.0]),
                    redis_rs: figures(&[100.0, 100.0, 100.0]),
                    go_redis: None,
                },
            ],
            go_redis_skipped: Some("go is not installed".into()),
            extsvc_connections_opened: 1,
        };
        let json = report.to_json();
        assert_eq!(json["concurrency"], 64);
        assert_eq!(json["extsvc_vs_redis_rs_direct"], 1.0);
        assert_eq!(json["c16"]["extsvc_vs_redis_rs_direct"], 1.0);
        assert_eq!(json["lowest_extsvc_vs_redis_rs_direct"], 1.0);
        assert!(json.get("extsvc_vs_go_redis").is_none());
        assert_eq!(json["lowest_extsvc_vs_go_redis"], Value::Null);
        assert_eq!(json["go_redis_skipped"], "go is not installed");
        let mut text = Vec::new();
        report.write_table(&mut text).unwrap();
        assert!(String::from_utf8(text)
            .unwrap()
            .contains("go-redis column skipped: go is not installed"));
    }

    /// The pipeline against a real redis-server: every client's pipeline leaves the
    /// worker's sorted set with what the last second added and an expiry of 1 s.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sliding_log_pipeline_runs_against_redis_server() {
        let pki = crate::bench_pki::BenchPki::generate().unwrap();
        let server = RedisServer::start(RedisOptions::default());
        let extsvc = redis_scenario::extsvc_client(&server.url(), &pki.client).unwrap();
        let direct = redis_scenario::redis_rs_direct(server.port()).await.unwrap();
        for window in [
            run_window(&extsvc, Op::SlidingLog, 4, Duration::from_millis(50)).await,
            run_window(&direct, Op::SlidingLog, 4, Duration::from_millis(50)).await,
        ] {
            assert_eq!(window.errors, 0, "{:?}", window.first_error);
            assert!(window.requests > 0);
        }
        let mut connection = direct.clone();
        let key = redis_scenario::sliding_log_key(3);
        let (count, ttl): (u64, i64) = redis::pipe()
            .cmd("ZCARD")
            .arg(&key)
            .cmd("PTTL")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(count > 0, "worker 3 added to its key");
        assert!(ttl > 0 && ttl <= 1000, "EXPIRE 1: {ttl} ms left");
    }
}
