//! The `idle_connections` scenario: what a gateway pays in memory for a pool it keeps
//! warm — the resident set (RSS) growth of a process holding [`CONNECTIONS`] idle pooled
//! HTTPS connections (TLS 1.3, HTTP/1.1) to one nginx, per connection, through extsvc's
//! client, bare hyper-util (the `hyper_util` column of the load scenarios) and Go's
//! net/http (`bench/go-idle`, when `go` is installed).
//!
//! Each measurement runs in a child process of its own (this binary's `idle-child`
//! command, or the Go program), so nothing else of the bench is in its heap: the child
//! sends one request (its connection stays idle: code, TLS configuration and runtime
//! are in place), reads its RSS and open sockets, then sends `CONNECTIONS` requests at
//! once and holds every response until all have arrived — so each has a connection of
//! its own — reads the bodies, lets the connections go idle into the pool, and reads RSS
//! and sockets again. Figure: RSS growth ÷ sockets opened. Rounds alternate the
//! clients; the ratio is the median of the per-round ratios.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use extsvc_tests::pki::TestPki;
use http_body_util::{BodyExt, Empty};
use serde_json::{json, Map, Value};

use crate::clients::{BenchClient, ClientKind, Pooling, Route, Target};
use crate::load::median;

/// Idle connections each client opens (nginx's test config allows 4096 per worker; at
/// 1024 it closed connections being set up near 1,000).
const CONNECTIONS: usize = 1000;
/// Between two children: nginx closes the last child's connections before the next
/// child opens its own (all of them together would pass its `worker_connections`).
const PAUSE: Duration = Duration::from_secs(2);
/// Rounds of one child per client.
const ROUNDS: usize = 3;
/// Connections opened at once (the next wave once this one holds its responses): all of
/// them today. Lower it if a child fails with `tls handshake eof` at a larger
/// [`CONNECTIONS`]: a wave's handshakes wait in nginx's listen backlog (511).
const WAVE: usize = CONNECTIONS;
/// How long a child may take.
const CHILD_DEADLINE: Duration = Duration::from_secs(120);

/// One child's measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    rss_before: u64,
    rss_after: u64,
    sockets_before: u64,
    sockets_after: u64,
}

impl Sample {
    fn bytes_per_connection(&self) -> f64 {
        let opened = self.sockets_after.saturating_sub(self.sockets_before).max(1);
        self.rss_after.saturating_sub(self.rss_before) as f64 / opened as f64
    }

    fn json_line(&self) -> String {
        json!({
            "rss_before": self.rss_before,
            "rss_after": self.rss_after,
            "sockets_before": self.sockets_before,
            "sockets_after": self.sockets_after,
        })
        .to_string()
    }

    fn parse(line: &str) -> anyhow::Result<Sample> {
        let value: Value = serde_json::from_str(line).with_context(|| format!("child answered {line:?}"))?;
        let field = |key: &str| value[key].as_u64().with_context(|| format!("no {key} in {line:?}"));
        Ok(Sample {
            rss_before: field("rss_before")?,
            rss_after: field("rss_after")?,
            sockets_before: field("sockets_before")?,
            sockets_after: field("sockets_after")?,
        })
    }
}

/// The resident set of this process, bytes (`VmRSS` of `/proc/self/status`).
fn rss() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/self/status")?;
    Ok(kb * 1024)
}

/// Open sockets of this process.
fn sockets() -> anyhow::Result<u64> {
    let mut n = 0;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        if std::fs::read_link(entry?.path()).is_ok_and(|target| target.to_string_lossy().starts_with("socket:")) {
            n += 1;
        }
    }
    Ok(n)
}

/// `idle-child CLIENT URL CA_FILE N`: measures one client (see the module docs) and
/// prints one JSON line.
pub(crate) async fn child(args: &[String]) -> anyhow::Result<()> {
    let [client, url, ca, n] = args else {
        bail!("usage: extsvc-bench idle-child extsvc|hyper_util URL CA_FILE N");
    };
    let kind = ClientKind::from_name(client).with_context(|| format!("unknown client {client:?}"))?;
    let n: usize = n.parse().context("N must be a number")?;
    let tls = Arc::new(client_tls(Path::new(ca))?);
    let target = Arc::new(Target::new(url)?);
    let client = Arc::new(BenchClient::build(
        kind,
        Route::Direct,
        &tls,
        Pooling::KeepAliveUpTo(n),
    )?);
    client
        .get(&target)
        .await
        .map_err(|e| anyhow::anyhow!("first request: {e}"))?;
    settle().await;
    let (rss_before, sockets_before) = (rss()?, sockets()?);
    // Every task and this one: the bodies are read once every response has arrived.
    let barrier = Arc::new(tokio::sync::Barrier::new(n + 1));
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::with_capacity(n);
    for wave in (0..n).collect::<Vec<_>>().chunks(WAVE) {
        for _ in wave {
            let (client, target, barrier, arrived) =
                (client.clone(), target.clone(), barrier.clone(), arrived_tx.clone());
            tasks.push(tokio::spawn(async move {
                hold_then_read(&client, &target, &barrier, &arrived).await
            }));
        }
        // The next wave opens its connections once this one holds its responses.
        for _ in wave {
            arrived.recv().await.context("a request task ended early")?;
        }
    }
    barrier.wait().await;
    for task in tasks {
        task.await.context("a request task panicked")??;
    }
    settle().await;
    let sample = Sample {
        rss_before,
        rss_after: rss()?,
        sockets_before,
        sockets_after: sockets()?,
    };
    // The child's one answer to its parent.
    writeln!(io::stdout(), "{}", sample.json_line())?;
    Ok(())
}

/// Lets pooled connections come back (hyper-util returns them on a task of its own).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// Sends one request, says so on `arrived`, waits until every task has its response
/// (so no connection is free for another request before then), then reads the body: the
/// connection goes back to the pool idle.
async fn hold_then_read(
    client: &BenchClient,
    target: &Target,
    barrier: &tokio::sync::Barrier,
    arrived: &tokio::sync::mpsc::UnboundedSender<()>,
) -> anyhow::Result<()> {
    let request = || {
        let mut req = http::Request::new(Empty::<bytes::Bytes>::new());
        *req.uri_mut() = target.uri().clone();
        req
    };
    // Every task reaches the barrier, a failed one too (or the others would wait for ever).
    match client {
        BenchClient::Extsvc(client) => {
            let response = client.request(request()).await;
            let _ = arrived.send(());
            barrier.wait().await;
            response?.into_body().collect().await?;
        }
        BenchClient::HyperUtilDirect(client) => {
            let response = client.request(request()).await;
            let _ = arrived.send(());
            barrier.wait().await;
            response?.into_body().collect().await?;
        }
        _ => {
            let _ = arrived.send(());
            barrier.wait().await;
            bail!("idle-child measures extsvc and hyper_util");
        }
    }
    Ok(())
}

/// ring, TLS 1.2 and 1.3, trusting the CA in `ca`.
fn client_tls(ca: &Path) -> anyhow::Result<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        rustls_pki_types::CertificateDer::pem_file_iter(ca).with_context(|| format!("reading {}", ca.display()))?
    {
        roots.add(cert?)?;
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(crate::bench_pki::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Runs one child to the end (bounded) and parses its line.
fn run_child(mut command: Command) -> anyhow::Result<Sample> {
    let child = command
        // The error alone, not a backtrace or the INFO log of the client being built.
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting a child")?;
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(CHILD_DEADLINE) {
        Ok(output) => output.context("waiting for a child")?,
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
            bail!("a child took over {CHILD_DEADLINE:?}");
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some(line) = stdout.lines().rev().find(|l| l.starts_with('{')) else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        bail!(
            "a child printed no figures ({}): {}",
            output.status,
            tail[tail.len().saturating_sub(4)..].join(" / ")
        );
    };
    Sample::parse(line)
}

/// What the scenario measured.
#[derive(Debug, Clone)]
pub(crate) struct IdleReport {
    extsvc: Vec<Sample>,
    hyper_util: Vec<Sample>,
    go: Option<Vec<Sample>>,
    go_skipped: Option<String>,
}

fn median_bytes(samples: &[Sample]) -> f64 {
    median(&mut samples.iter().map(Sample::bytes_per_connection).collect::<Vec<_>>())
}

fn ratio(ours: &[Sample], theirs: &[Sample]) -> f64 {
    median(
        &mut ours
            .iter()
            .zip(theirs)
            .map(|(o, t)| o.bytes_per_connection() / t.bytes_per_connection())
            .collect::<Vec<_>>(),
    )
}

impl IdleReport {
    pub(crate) fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("connections".into(), json!(CONNECTIONS));
        map.insert("rounds".into(), json!(self.extsvc.len()));
        let columns = [
            ("extsvc", Some(&self.extsvc)),
            ("hyper_util", Some(&self.hyper_util)),
            ("go_net_http", self.go.as_ref()),
        ];
        for (name, samples) in columns {
            let Some(samples) = samples else { continue };
            map.insert(
                format!("{name}_bytes_per_connection"),
                json!(median_bytes(samples).round()),
            );
            let opened: Vec<u64> = samples
                .iter()
                .map(|s| s.sockets_after.saturating_sub(s.sockets_before))
                .collect();
            map.insert(format!("{name}_connections_opened"), json!(opened));
        }
        map.insert(
            "extsvc_vs_hyper_util_bytes".into(),
            json!((ratio(&self.extsvc, &self.hyper_util) * 1000.0).round() / 1000.0),
        );
        if let Some(go) = &self.go {
            map.insert(
                "extsvc_vs_go_net_http_bytes".into(),
                json!((ratio(&self.extsvc, go) * 1000.0).round() / 1000.0),
            );
        }
        if let Some(reason) = &self.go_skipped {
            map.insert("go_skipped".into(), json!(reason));
        }
        Value::Object(map)
    }

    pub(crate) fn write_table(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "idle_connections ({CONNECTIONS} idle pooled HTTPS connections to nginx), bytes of RSS per connection: \
             extsvc {:.0}, hyper-util {:.0} (extsvc ÷ hyper-util {:.2}×){}",
            median_bytes(&self.extsvc),
            median_bytes(&self.hyper_util),
            ratio(&self.extsvc, &self.hyper_util),
            match &self.go {
                Some(go) => format!(
                    ", Go net/http {:.0} (extsvc ÷ Go {:.2}×)",
                    median_bytes(go),
                    ratio(&self.extsvc, go)
                ),
                None => String::new(),
            }
        )?;
        if let Some(reason) = &self.go_skipped {
            writeln!(out, "idle_connections: Go column skipped: {reason}")?;
        }
        writeln!(out)
    }
}

/// Runs the scenario: nginx with TLS, then `ROUNDS` rounds of one child per client.
pub(crate) async fn run() -> anyhow::Result<IdleReport> {
    let pki = TestPki::generate();
    let nginx = crate::probe_vs_wrk::start_nginx(&pki, false);
    let url = format!("https://127.0.0.1:{}/", nginx.https_port());
    let exe: PathBuf = std::env::current_exe().context("this binary's path")?;
    let (go, go_skipped) = match crate::go_program::build("go-idle").await {
        Ok(binary) => (Some(binary), None),
        Err(reason) => {
            eprintln!("idle_connections: Go column skipped: {reason}");
            (None, Some(reason))
        }
    };
    let ca = pki.ca_cert_path.clone();
    let n = CONNECTIONS.to_string();
    tokio::task::spawn_blocking(move || {
        let mut report = IdleReport {
            extsvc: Vec::new(),
            hyper_util: Vec::new(),
            go: go.as_ref().map(|_| Vec::new()),
            go_skipped,
        };
        for round in 0..ROUNDS {
            eprintln!("idle_connections round {}", round + 1);
            for (kind, samples) in [("extsvc", &mut report.extsvc), ("hyper_util", &mut report.hyper_util)] {
                std::thread::sleep(PAUSE);
                let mut command = Command::new(&exe);
                command.arg("idle-child").arg(kind).arg(&url).arg(&ca).arg(&n);
                let sample = run_child(command).with_context(|| format!("{kind}'s child; nginx: {}", nginx.log_tail()));
                samples.push(sample?);
            }
            if let (Some(binary), Some(samples)) = (&go, &mut report.go) {
                std::thread::sleep(PAUSE);
                let mut command = Command::new(binary);
                command.arg(&url).arg(&ca).arg(&n);
                let sample = run_child(command).with_context(|| format!("Go's child; nginx: {}", nginx.log_tail()));
                samples.push(sample?);
            }
        }
        drop(nginx);
        Ok(report)
    })
    .await
    .context("the idle_connections scenario")?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_round_trips_and_divides_by_the_sockets_opened() {
        let sample = Sample {
            rss_before: 10_000_000,
            rss_after: 40_000_000,
            sockets_before: 2,
            sockets_after: 1002,
        };
        assert_eq!(Sample::parse(&sample.json_line()).unwrap(), sample);
        assert_eq!(sample.bytes_per_connection(), 30_000.0);
        assert!(Sample::parse("{}").is_err());
    }
}
