//! The results: a table on stdout and `summary.json`.

use std::io::{self, Write};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::clients::ClientKind;
use crate::decision::BypassReport;
use crate::load::median_of_ratios;
use crate::probe_vs_wrk::ProbeFigures;

/// One client's figures in one scenario at one concurrency (medians of the rounds).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientFigures {
    /// Requests per second.
    pub(crate) rps: f64,
    /// Requests per second of each round, in round order.
    pub(crate) rps_rounds: Vec<f64>,
    /// Median latency, µs.
    pub(crate) p50_us: f64,
    /// 99th percentile latency, µs.
    pub(crate) p99_us: f64,
    /// Requests completed in all measured windows.
    pub(crate) requests: u64,
    /// Failed requests in all measured windows (and warm-up).
    pub(crate) errors: u64,
    /// The first failure, if any.
    pub(crate) first_error: Option<String>,
    /// Connections (or tunnels) the server side saw opened during the measured windows,
    /// when it can count them.
    pub(crate) new_connections: Option<u64>,
    /// Requests the client's metrics recorder counted (`http.client.request.duration`)
    /// at this concurrency, warm-up included: for [`ClientKind::ExtsvcMetrics`] only.
    pub(crate) recorded_requests: Option<u64>,
    /// Time spent draining the recorder's histogram samples after each measured window
    /// (outside the windows): for [`ClientKind::ExtsvcMetrics`] only.
    pub(crate) recorder_upkeep: Option<Duration>,
}

/// All clients in one scenario at one concurrency.
#[derive(Debug, Clone)]
pub(crate) struct ScenarioRun {
    /// Scenario name (`direct_http`, …).
    pub(crate) scenario: &'static str,
    /// Workers sending back to back.
    pub(crate) concurrency: usize,
    /// In [`ClientKind::ALL`] order.
    pub(crate) clients: Vec<(ClientKind, ClientFigures)>,
}

impl ScenarioRun {
    fn figures(&self, kind: ClientKind) -> Option<&ClientFigures> {
        self.clients.iter().find(|(k, _)| *k == kind).map(|(_, f)| f)
    }

    /// extsvc's requests per second over `other`'s: the median of the per-round ratios
    /// (each round runs the clients back to back, so a slow period of the machine hits
    /// both sides of a ratio alike).
    pub(crate) fn rps_ratio(&self, other: ClientKind) -> Option<f64> {
        self.rps_ratio_of(ClientKind::Extsvc, other)
    }

    /// `ours`'s requests per second over `theirs`'s, as [`ScenarioRun::rps_ratio`].
    pub(crate) fn rps_ratio_of(&self, ours: ClientKind, theirs: ClientKind) -> Option<f64> {
        median_of_ratios(&self.figures(ours)?.rps_rounds, &self.figures(theirs)?.rps_rounds)
    }

    fn json(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("concurrency".into(), json!(self.concurrency));
        for (kind, f) in &self.clients {
            let name = kind.name();
            map.insert(format!("{name}_rps"), json!(round(f.rps, 1)));
            map.insert(format!("{name}_p50_us"), json!(round(f.p50_us, 1)));
            map.insert(format!("{name}_p99_us"), json!(round(f.p99_us, 1)));
            map.insert(format!("{name}_requests"), json!(f.requests));
            map.insert(format!("{name}_errors"), json!(f.errors));
            if let Some(error) = &f.first_error {
                map.insert(format!("{name}_first_error"), json!(error));
            }
            if let Some(n) = f.new_connections {
                map.insert(format!("{name}_new_connections"), json!(n));
            }
            if let Some(n) = f.recorded_requests {
                map.insert(format!("{name}_recorded_requests"), json!(n));
            }
            if let (Some(upkeep), true) = (f.recorder_upkeep, f.requests > 0) {
                let ns = upkeep.as_nanos() as f64 / f.requests as f64;
                map.insert(format!("{name}_upkeep_ns_per_request"), json!(round(ns, 1)));
            }
        }
        for other in [ClientKind::HyperUtil, ClientKind::Reqwest] {
            if let Some(ratio) = self.rps_ratio(other) {
                map.insert(format!("extsvc_vs_{}_rps", other.name()), json!(round(ratio, 3)));
            }
        }
        if let Some(ratio) = self.rps_ratio_of(ClientKind::ExtsvcMetrics, ClientKind::Extsvc) {
            map.insert("extsvc_metrics_vs_extsvc_rps".into(), json!(round(ratio, 3)));
        }
        map
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Summary {
    /// Machine and method, as key/values.
    pub(crate) meta: Map<String, Value>,
    /// Load runs, in the order they ran.
    pub(crate) runs: Vec<ScenarioRun>,
    /// The bypass micro-benchmark, when run.
    pub(crate) bypass: Option<BypassReport>,
    /// ns per `resolve` of the full configuration, when run.
    pub(crate) resolve_ns: Option<f64>,
    /// The `redis` scenario.
    pub(crate) redis: Option<crate::redis_scenario::RedisReport>,
    /// The `idle_connections` scenario.
    pub(crate) idle_connections: Option<crate::idle_connections::IdleReport>,
    /// The `tls_provider` scenario.
    pub(crate) tls_provider: Option<crate::tls_provider::ProviderReport>,
    /// The `redis_pipeline` scenario.
    pub(crate) redis_pipeline: Option<crate::redis_pipeline::PipelineReport>,
    /// The `redis_cluster` scenario.
    pub(crate) redis_cluster: Option<crate::redis_cluster::ClusterReport>,
    /// `extsvc probe` against `wrk`, per protocol, when run.
    pub(crate) probe: Vec<ProbeFigures>,
    /// Why the probe comparison did not run.
    pub(crate) probe_skipped: Option<String>,
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// Below this many entries the "flat" ratio is measured against.
const SMALLEST: usize = 10;

impl Summary {
    /// The `summary.json` document: per scenario, concurrency-16 figures at the top
    /// level and the concurrency-1 figures under `c1` (other concurrencies `cN`).
    pub(crate) fn to_json(&self) -> Value {
        let mut root = Map::new();
        root.insert("meta".into(), Value::Object(self.meta.clone()));
        let mut scenarios: Vec<&'static str> = Vec::new();
        for run in &self.runs {
            if !scenarios.contains(&run.scenario) {
                scenarios.push(run.scenario);
            }
        }
        let top_concurrency = self.runs.iter().map(|r| r.concurrency).max().unwrap_or(16);
        for scenario in scenarios {
            let mut map = Map::new();
            for run in self.runs.iter().filter(|r| r.scenario == scenario) {
                if run.concurrency == top_concurrency {
                    map.extend(run.json());
                } else {
                    map.insert(format!("c{}", run.concurrency), Value::Object(run.json()));
                }
            }
            root.insert(scenario.into(), Value::Object(map));
        }
        if let Some(redis) = &self.redis {
            root.insert("redis".into(), redis.to_json());
        }
        if let Some(pipeline) = &self.redis_pipeline {
            root.insert("redis_pipeline".into(), pipeline.to_json());
        }
        if let Some(cluster) = &self.redis_cluster {
            root.insert("redis_cluster".into(), cluster.to_json());
        }
        if let Some(providers) = &self.tls_provider {
            root.insert("tls_provider".into(), providers.to_json());
        }
        if let Some(idle) = &self.idle_connections {
            root.insert("idle_connections".into(), idle.to_json());
        }
        if let Some(bypass) = &self.bypass {
            let sizes: Vec<Value> = bypass
                .sizes
                .iter()
                .map(|f| {
                    json!({
                        "entries": f.entries,
                        "extsvc_ns": round(f.extsvc_ns(), 2),
                        "hyper_util_ns": round(f.hyper_util_ns(), 2),
                        "extsvc_hit_ns": round(f.extsvc_hit_ns, 2),
                        "extsvc_miss_ns": round(f.extsvc_miss_ns, 2),
                        "hyper_util_hit_ns": round(f.hyper_util_hit_ns, 2),
                        "hyper_util_miss_ns": round(f.hyper_util_miss_ns, 2),
                    })
                })
                .collect();
            let mut map = Map::new();
            if let Some(largest) = bypass.sizes.last() {
                map.insert("entries".into(), json!(largest.entries));
                map.insert("extsvc_ns".into(), json!(round(largest.extsvc_ns(), 2)));
                map.insert("hyper_util_ns".into(), json!(round(largest.hyper_util_ns(), 2)));
                map.insert(
                    "extsvc_vs_hyper_util".into(),
                    json!(round(largest.extsvc_ns() / largest.hyper_util_ns(), 3)),
                );
                if let Some(smallest) = bypass.sizes.iter().find(|f| f.entries == SMALLEST) {
                    map.insert(
                        "extsvc_growth_from_10".into(),
                        json!(round(largest.extsvc_ns() / smallest.extsvc_ns(), 3)),
                    );
                    map.insert(
                        "hyper_util_growth_from_10".into(),
                        json!(round(largest.hyper_util_ns() / smallest.hyper_util_ns(), 3)),
                    );
                }
            }
            map.insert(
                "hyper_util_empty_list_ns".into(),
                json!(round(bypass.hyper_util_empty_ns, 2)),
            );
            map.insert("sizes".into(), Value::Array(sizes));
            root.insert("bypass".into(), Value::Object(map));
        }
        if let Some(ns) = self.resolve_ns {
            root.insert("resolve".into(), json!({ "services": 5, "ns": round(ns, 1) }));
        }
        if !self.probe.is_empty() || self.probe_skipped.is_some() {
            let mut map = Map::new();
            for f in &self.probe {
                map.insert(f.protocol.into(), f.json());
            }
            if let Some(reason) = &self.probe_skipped {
                map.insert("skipped".into(), json!(reason));
            }
            root.insert("probe_vs_wrk".into(), Value::Object(map));
        }
        Value::Object(root)
    }

    /// The human-readable table.
    pub(crate) fn write_table(&self, out: &mut impl Write) -> io::Result<()> {
        if !self.runs.is_empty() {
            writeln!(
                out,
                "{:<18} {:>4}  {:<14} {:>10} {:>9} {:>9} {:>8} {:>8} {:>8} {:>6} {:>6}",
                "scenario",
                "conc",
                "client",
                "req/s",
                "p50 µs",
                "p99 µs",
                "÷hyper",
                "÷reqwest",
                "÷extsvc",
                "conns",
                "errors"
            )?;
            for run in &self.runs {
                for (kind, f) in &run.clients {
                    let (vs_hyper, vs_reqwest) = if *kind == ClientKind::Extsvc {
                        (
                            ratio_text(run.rps_ratio(ClientKind::HyperUtil)),
                            ratio_text(run.rps_ratio(ClientKind::Reqwest)),
                        )
                    } else {
                        (String::new(), String::new())
                    };
                    let vs_extsvc = if *kind == ClientKind::ExtsvcMetrics {
                        ratio_text(run.rps_ratio_of(ClientKind::ExtsvcMetrics, ClientKind::Extsvc))
                    } else {
                        String::new()
                    };
                    writeln!(
                        out,
                        "{:<18} {:>4}  {:<14} {:>10.0} {:>9.1} {:>9.1} {:>8} {:>8} {:>8} {:>6} {:>6}",
                        run.scenario,
                        run.concurrency,
                        kind.name(),
                        f.rps,
                        f.p50_us,
                        f.p99_us,
                        vs_hyper,
                        vs_reqwest,
                        vs_extsvc,
                        f.new_connections.map_or_else(|| "-".to_owned(), |n| n.to_string()),
                        f.errors
                    )?;
                    if let Some(error) = &f.first_error {
                        writeln!(out, "{:<18} first error: {error}", "")?;
                    }
                }
            }
            writeln!(out)?;
        }
        if let Some(redis) = &self.redis {
            redis.write_table(out)?;
        }
        if let Some(pipeline) = &self.redis_pipeline {
            pipeline.write_table(out)?;
        }
        if let Some(cluster) = &self.redis_cluster {
            cluster.write_table(out)?;
        }
        if let Some(providers) = &self.tls_provider {
            providers.write_table(out)?;
        }
        if let Some(idle) = &self.idle_connections {
            idle.write_table(out)?;
        }
        if let Some(bypass) = &self.bypass {
            writeln!(
                out,
                "{:<8} {:>12} {:>12} {:>14} {:>14} {:>10}",
                "entries", "extsvc hit", "extsvc miss", "hyper-util hit", "hyper-util miss", "extsvc ÷"
            )?;
            for f in &bypass.sizes {
                writeln!(
                    out,
                    "{:<8} {:>9.1} ns {:>9.1} ns {:>11.1} ns {:>12.1} ns {:>10}",
                    f.entries,
                    f.extsvc_hit_ns,
                    f.extsvc_miss_ns,
                    f.hyper_util_hit_ns,
                    f.hyper_util_miss_ns,
                    ratio_text(Some(f.extsvc_ns() / f.hyper_util_ns()))
                )?;
            }
            writeln!(
                out,
                "hyper-util intercept with an empty list: {:.1} ns",
                bypass.hyper_util_empty_ns
            )?;
            writeln!(out)?;
        }
        if let Some(ns) = self.resolve_ns {
            writeln!(out, "resolve (full configuration, 5 services): {:.2} µs", ns / 1000.0)?;
        }
        for f in &self.probe {
            writeln!(
                out,
                "probe vs wrk -t1 -c16, {:<5}: wrk {:.0} req/s, probe {:.0} ({}), probe --threads 2 {:.0} ({}); \
                 one thread in-process: hyper-util {:.0} ({} wrk), extsvc {:.0} (probe {} of it)",
                f.protocol,
                f.wrk_rps,
                f.probe_rps,
                ratio_text(Some(f.probe_vs_wrk)),
                f.probe_threads2_rps,
                ratio_text(Some(f.probe_threads2_vs_wrk)),
                f.hyper_util_one_thread_rps,
                ratio_text(Some(f.hyper_util_one_thread_vs_wrk)),
                f.extsvc_one_thread_rps,
                ratio_text(Some(f.probe_vs_extsvc_one_thread)),
            )?;
        }
        if let Some(reason) = &self.probe_skipped {
            writeln!(out, "probe vs wrk skipped: {reason}")?;
        }
        Ok(())
    }
}

fn ratio_text(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}×"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(concurrency: usize, extsvc: f64, hyper: f64) -> ScenarioRun {
        let figures = |rps: f64| ClientFigures {
            rps,
            rps_rounds: vec![rps * 0.9, rps, rps * 1.1],
            p50_us: 10.0,
            p99_us: 20.0,
            ..ClientFigures::default()
        };
        ScenarioRun {
            scenario: "direct_http",
            concurrency,
            clients: vec![
                (ClientKind::Extsvc, figures(extsvc)),
                (
                    ClientKind::ExtsvcMetrics,
                    ClientFigures {
                        rps_rounds: vec![extsvc * 0.9 * 0.98, extsvc * 0.96, extsvc * 1.1 * 0.97],
                        recorded_requests: Some(1000),
                        requests: 900,
                        recorder_upkeep: Some(Duration::from_micros(90)),
                        ..figures(extsvc)
                    },
                ),
                (ClientKind::HyperUtil, figures(hyper)),
                (ClientKind::Reqwest, figures(hyper / 2.0)),
            ],
        }
    }

    #[test]
    fn json_puts_the_highest_concurrency_on_top_and_c1_nested() {
        let summary = Summary {
            runs: vec![run(1, 90.0, 100.0), run(16, 950.0, 1000.0)],
            ..Summary::default()
        };
        let json = summary.to_json();
        assert_eq!(json["direct_http"]["extsvc_rps"], 950.0);
        assert_eq!(json["direct_http"]["hyper_util_rps"], 1000.0);
        assert_eq!(json["direct_http"]["extsvc_vs_hyper_util_rps"], 0.95);
        assert_eq!(json["direct_http"]["extsvc_vs_reqwest_rps"], 1.9);
        assert_eq!(json["direct_http"]["c1"]["extsvc_rps"], 90.0);
        assert_eq!(json["direct_http"]["extsvc_p99_us"], 20.0);
        // the median of the per-round ratios 0.98, 0.96, 0.97
        assert_eq!(json["direct_http"]["extsvc_metrics_vs_extsvc_rps"], 0.97);
        assert_eq!(json["direct_http"]["c1"]["extsvc_metrics_vs_extsvc_rps"], 0.97);
        assert_eq!(json["direct_http"]["extsvc_metrics_recorded_requests"], 1000);
        assert_eq!(json["direct_http"]["extsvc_metrics_upkeep_ns_per_request"], 100.0);
        assert!(json["direct_http"].get("hyper_util_recorded_requests").is_none());
    }

    #[test]
    fn table_names_every_client() {
        let summary = Summary {
            runs: vec![run(16, 950.0, 1000.0)],
            ..Summary::default()
        };
        let mut out = Vec::new();
        summary.write_table(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("extsvc") && text.contains("hyper_util") && text.contains("reqwest"));
        assert!(text.contains("0.95×"));
        assert!(text.contains("extsvc_metrics") && text.contains("0.97×"));
    }
}
