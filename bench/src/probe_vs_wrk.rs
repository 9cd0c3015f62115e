//! `extsvc probe` against `wrk -t1 -c16`, on the same nginx keep-alive listener (plain
//! HTTP and HTTPS), in interleaved rounds: per round one `wrk` window, then the probe
//! with its default `--threads` and with `--threads 2`, each sending about as many
//! requests as `wrk` did in its window. Skipped (with a note) when `wrk`, nginx or the
//! `extsvc` binary beside this one is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context as _};
use extsvc_tests::nginx::{Nginx, NginxOptions, NginxTls};
use extsvc_tests::pki::TestPki;
use serde_json::{json, Value};

use crate::load::median;

/// Connections both tools keep open.
const CONNECTIONS: u64 = 16;

/// One protocol's figures: medians over the rounds.
#[derive(Debug, Clone)]
pub(crate) struct ProbeFigures {
    /// `http` or `https`.
    pub(crate) protocol: &'static str,
    pub(crate) wrk_rps: f64,
    pub(crate) probe_rps: f64,
    pub(crate) probe_threads2_rps: f64,
    /// Median of the per-round ratios probe (default threads) ÷ wrk.
    pub(crate) probe_vs_wrk: f64,
    /// Median of the per-round ratios probe `--threads 2` ÷ wrk.
    pub(crate) probe_threads2_vs_wrk: f64,
}

impl ProbeFigures {
    pub(crate) fn json(&self) -> Value {
        json!({
            "wrk_rps": (self.wrk_rps * 10.0).round() / 10.0,
            "probe_rps": (self.probe_rps * 10.0).round() / 10.0,
            "probe_threads2_rps": (self.probe_threads2_rps * 10.0).round() / 10.0,
            "probe_vs_wrk": (self.probe_vs_wrk * 1000.0).round() / 1000.0,
            "probe_threads2_vs_wrk": (self.probe_threads2_vs_wrk * 1000.0).round() / 1000.0,
        })
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    dirs.into_iter()
        .chain(["/usr/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Why the comparison cannot run here, if it cannot.
pub(crate) fn missing() -> Option<String> {
    if on_path("wrk").is_none() {
        return Some("wrk is not installed".into());
    }
    if on_path("nginx").is_none() {
        return Some("nginx is not installed".into());
    }
    match extsvc_binary() {
        Some(_) => None,
        None => Some("no extsvc binary beside extsvc-bench (cargo build --release -p extsvc-cli)".into()),
    }
}

fn extsvc_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.join("extsvc");
    path.is_file().then_some(path)
}

/// `Requests/sec:` of wrk's report.
fn wrk_rps(report: &str) -> Option<f64> {
    report
        .lines()
        .find_map(|line| line.trim().strip_prefix("Requests/sec:"))
        .and_then(|n| n.trim().parse().ok())
}

fn run_wrk(url: &str, window: Duration) -> anyhow::Result<f64> {
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{CONNECTIONS}"),
            &format!("-d{}s", window.as_secs().max(1)),
            url,
        ])
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    match wrk_rps(&text) {
        Some(rps) if out.status.success() => Ok(rps),
        _ => bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr)),
    }
}

fn run_probe(extsvc: &Path, config: &Path, url: &str, count: u64, threads: Option<u64>) -> anyhow::Result<f64> {
    let mut command = Command::new(extsvc);
    command.args(["probe", "--config"]).arg(config).args([
        "--format",
        "json",
        "--service",
        "oauth",
        url,
        "--count",
        &count.to_string(),
        "--concurrency",
        &CONNECTIONS.to_string(),
    ]);
    if let Some(threads) = threads {
        command.args(["--threads", &threads.to_string()]);
    }
    let out = command.env_clear().output().context("running extsvc probe")?;
    let summary: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("extsvc probe: {}", String::from_utf8_lossy(&out.stderr)))?;
    if !out.status.success() || summary["ok"] != summary["requests"] {
        bail!("extsvc probe failed: {summary}");
    }
    summary["requests_per_sec"]
        .as_f64()
        .context("requests_per_sec in the probe's summary")
}

/// Runs the comparison: `rounds` rounds of `window` per tool and protocol.
pub(crate) fn compare(window: Duration, rounds: usize) -> anyhow::Result<Vec<ProbeFigures>> {
    let extsvc = extsvc_binary().context("the extsvc binary")?;
    let pki = TestPki::generate();
    let nginx = Nginx::start(NginxOptions {
        tls: Some(NginxTls {
            cert_chain_path: pki.server_chain_path.clone(),
            key_path: pki.server_key_path.clone(),
            client_ca_path: None,
            verify_client: Default::default(),
            protocols: Default::default(),
        }),
        plain_http: true,
    });
    let config = pki.dir().join("bench-tyk.conf");
    let conf =
        json!({ "external_services": { "oauth": { "mtls": { "enabled": true, "ca_file": pki.ca_cert_path } } } });
    std::fs::write(&config, conf.to_string()).context("writing the probe's configuration")?;
    let mut figures = Vec::new();
    for (protocol, url) in [
        ("http", format!("http://127.0.0.1:{}/", nginx.http_port())),
        ("https", format!("https://127.0.0.1:{}/", nginx.https_port())),
    ] {
        eprintln!("probe vs wrk -t1 -c{CONNECTIONS}: {protocol}");
        // Warm-up: nginx's first connections and the page cache of both binaries.
        run_wrk(&url, Duration::from_secs(1))?;
        let (mut wrk, mut probe, mut probe2, mut ratio, mut ratio2) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let w = run_wrk(&url, window)?;
            let count = (w * window.as_secs_f64()).max(1000.0) as u64;
            let p = run_probe(&extsvc, &config, &url, count, None)?;
            let p2 = run_probe(&extsvc, &config, &url, count, Some(2))?;
            wrk.push(w);
            probe.push(p);
            probe2.push(p2);
            ratio.push(p / w);
            ratio2.push(p2 / w);
        }
        figures.push(ProbeFigures {
            protocol,
            wrk_rps: median(&mut wrk),
            probe_rps: median(&mut probe),
            probe_threads2_rps: median(&mut probe2),
            probe_vs_wrk: median(&mut ratio),
            probe_threads2_vs_wrk: median(&mut ratio2),
        });
    }
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_report_is_parsed() {
        let report = "Running 2s test @ http://127.0.0.1:1/\n  1 threads and 16 connections\n\
                      Requests/sec:  41234.56\nTransfer/sec:      6.10MB\n";
        assert_eq!(wrk_rps(report), Some(41234.56));
        assert_eq!(wrk_rps("nothing"), None);
    }
}
