//! Real Redis topologies on 127.0.0.1: a 6-node Redis Cluster ([`RedisCluster`]: 3
//! primaries, 3 replicas, made by `redis-cli --cluster create`) and a Sentinel set
//! ([`RedisSentinels`]: a master, a replica and three `redis-server --sentinel`), all with
//! `requirepass`. Both come with Debian's `redis-server` package (redis-cli from
//! `redis-tools`).
//!
//! Nodes are killed (and reaped) on drop; [`RedisCluster::kill_primary`] and
//! [`RedisSentinels::kill_master`] kill one to make the topology fail over.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::peer_process::{find_binary, log_tails, wait_until_refusing, PeerProcess};
use crate::redis::spawn_redis_server;

/// The password of every node (and of the sentinels, as `sentinel_password`).
pub const TOPOLOGY_PASSWORD: &str = "topology-s3cret";

/// The sentinels' own password (`requirepass` on each sentinel).
pub const SENTINEL_PASSWORD: &str = "sentinel-s3cret";

/// The master name the sentinels monitor.
pub const MASTER_NAME: &str = "gwmaster";

/// How long a topology may take to form or fail over.
const SETTLE: Duration = Duration::from_secs(30);

/// One redis-server (or sentinel) process with its directory.
struct Node {
    port: u16,
    dir: TempDir,
    process: Option<PeerProcess>,
}

impl Node {
    /// Writes `config` (its `port`, `dir`, log lines are added) and starts it; `sentinel`
    /// adds `--sentinel`; waits until it listens on `port` (and `also`).
    fn start(port: u16, config: &str, sentinel: bool, also: &[u16]) -> Result<Node, String> {
        let dir = tempfile::Builder::new()
            .prefix("extsvc-redis-topology-")
            .tempdir()
            .expect("create a node's directory");
        let d = dir.path().display();
        let config = format!(
            "bind 127.0.0.1\nport {port}\nprotected-mode no\ndaemonize no\nsave \"\"\nappendonly no\n\
             dir {d}\nlogfile {d}/redis.log\npidfile {d}/redis.pid\n{config}"
        );
        let path = dir.path().join("node.conf");
        std::fs::write(&path, config).expect("write node.conf");
        let process = spawn(&path, dir.path(), sentinel, port, also)?;
        Ok(Node {
            port,
            dir,
            process: Some(process),
        })
    }

    fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
            wait_until_refusing(self.port);
        }
    }

    fn log_tail(&self) -> String {
        log_tails(&[&self.dir.path().join("redis.log")])
    }
}

fn spawn(config: &Path, dir: &Path, sentinel: bool, port: u16, also: &[u16]) -> Result<PeerProcess, String> {
    let binary = find_binary("redis-server", "redis-server");
    let mut args = vec![config.as_os_str()];
    if sentinel {
        args.push("--sentinel".as_ref());
    }
    let ports: Vec<u16> = std::iter::once(port).chain(also.iter().copied()).collect();
    spawn_redis_server(&binary, &args, dir, &ports)
}

/// `count` free ports on 127.0.0.1 at most 55535 whose port + 10000 (the cluster bus) is
/// free too.
fn free_ports(count: usize) -> Vec<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    // Where the search starts: from the process id, so that test binaries running at once
    // search apart, and moved on by each search, so that launchers of one process running
    // at once never pick the same ports.
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = NEXT.fetch_add(97, Ordering::Relaxed);
    let mut ports = Vec::with_capacity(count);
    let mut listeners = Vec::new();
    let mut candidate: u16 = 20000 + (std::process::id().wrapping_mul(7919).wrapping_add(offset) % 35000) as u16;
    while ports.len() < count {
        candidate = if candidate >= 55535 { 20000 } else { candidate + 1 };
        let main = std::net::TcpListener::bind(("127.0.0.1", candidate));
        let bus = std::net::TcpListener::bind(("127.0.0.1", candidate + 10000));
        if let (Ok(main), Ok(bus)) = (main, bus) {
            ports.push(candidate);
            listeners.push((main, bus));
        }
    }
    ports
}

/// Starts nodes on `count` fresh ports with `start`; when a port was taken meanwhile (by
/// another process), tries again on other ports, three times in all.
fn with_fresh_ports(count: usize, start: impl Fn(&[u16]) -> Result<Vec<Node>, String>) -> (Vec<u16>, Vec<Node>) {
    let mut last = String::new();
    for _ in 0..3 {
        let ports = free_ports(count);
        match start(&ports) {
            Ok(nodes) => return (ports, nodes),
            // The nodes started so far are killed as they drop.
            Err(e) => last = e,
        }
    }
    panic!("{last}")
}

/// `redis-cli -p port [args]` with `password` (from the environment, not the command
/// line); its stdout, or why it failed.
pub fn redis_cli(port: u16, password: Option<&str>, args: &[&str]) -> Result<String, String> {
    let mut command = Command::new(find_binary("redis-cli", "redis-tools"));
    command.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
    if let Some(password) = password {
        command.env("REDISCLI_AUTH", password);
    }
    let output = command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("redis-cli: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() && !stdout.starts_with("ERR") && !stdout.starts_with("NOAUTH") {
        Ok(stdout)
    } else {
        Err(format!(
            "redis-cli {args:?}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool, logs: impl Fn() -> String) {
    let deadline = Instant::now() + SETTLE;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {SETTLE:?}\n{}", logs());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// TLS of a [`RedisCluster`]: every port TLS only (`tls-port`, `port 0`), the cluster bus
/// and replication too (`tls-cluster`, `tls-replication`), client certificates required
/// (`tls-auth-clients yes`).
#[derive(Debug, Clone)]
pub struct ClusterTls {
    /// The server certificate chain and key of every node.
    pub cert_chain_path: PathBuf,
    /// Its key.
    pub key_path: PathBuf,
    /// The CA of clients and nodes.
    pub ca_path: PathBuf,
    /// The client certificate chain the nodes present to each other and redis-cli uses
    /// (a certificate for client authentication).
    pub client_chain_path: PathBuf,
    /// Its key.
    pub client_key_path: PathBuf,
}

/// A running Redis Cluster of 3 primaries and 3 replicas (`requirepass`/`masterauth`
/// [`TOPOLOGY_PASSWORD`], `cluster-node-timeout` 1 s so a failover takes seconds).
pub struct RedisCluster {
    nodes: Vec<Node>,
    tls: Option<ClusterTls>,
}

impl std::fmt::Debug for RedisCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCluster").field("ports", &self.ports()).finish()
    }
}

impl RedisCluster {
    /// Starts six nodes, creates the cluster and waits until every node says
    /// `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        RedisCluster::start_with(None)
    }

    /// The same over TLS only, client certificates required.
    pub fn start_tls(tls: ClusterTls) -> RedisCluster {
        RedisCluster::start_with(Some(tls))
    }

    fn start_with(tls: Option<ClusterTls>) -> RedisCluster {
        let (ports, nodes) = with_fresh_ports(6, |ports| {
            ports
                .iter()
                .map(|&port| {
                    let mut config = format!(
                        "cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-node-timeout 1000\n\
                         cluster-replica-validity-factor 0\nrequirepass \"{TOPOLOGY_PASSWORD}\"\nmasterauth \"{TOPOLOGY_PASSWORD}\"\n"
                    );
                    if let Some(tls) = &tls {
                        config.push_str(&format!(
                            "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\ntls-client-cert-file {}\n\
                             tls-client-key-file {}\ntls-ca-cert-file {}\ntls-auth-clients yes\ntls-cluster yes\n\
                             tls-replication yes\n",
                            tls.cert_chain_path.display(),
                            tls.key_path.display(),
                            tls.client_chain_path.display(),
                            tls.client_key_path.display(),
                            tls.ca_path.display()
                        ));
                    }
                    Node::start(port, &config, false, &[port + 10000])
                })
                .collect()
        });
        let cluster = RedisCluster { nodes, tls };
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addresses.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "1", "--cluster-yes"]);
        cluster
            .cli(ports[0], &args)
            .unwrap_or_else(|e| panic!("{e}\n{}", cluster.log_tails()));
        cluster.wait_until_ok();
        cluster
    }

    /// `redis-cli` against the node on `port` (with the password, and TLS when the
    /// cluster has it): its stdout, or why it failed.
    pub fn cli(&self, port: u16, args: &[&str]) -> Result<String, String> {
        let Some(tls) = &self.tls else {
            return redis_cli(port, Some(TOPOLOGY_PASSWORD), args);
        };
        let paths = [&tls.ca_path, &tls.client_chain_path, &tls.client_key_path].map(|p| p.display().to_string());
        let mut all = vec!["--tls", "--cacert", &paths[0], "--cert", &paths[1], "--key", &paths[2]];
        all.extend_from_slice(args);
        redis_cli(port, Some(TOPOLOGY_PASSWORD), &all)
    }

    /// The ports of every node still running.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.process.is_some())
            .map(|n| n.port)
            .collect()
    }

    /// `127.0.0.1:port` of every node (the seeds for `storage.addrs`).
    pub fn addresses(&self) -> Vec<String> {
        self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect()
    }

    /// The ports of the running primaries (by `ROLE`).
    pub fn primaries(&self) -> Vec<u16> {
        self.ports()
            .into_iter()
            .filter(|&p| self.cli(p, &["ROLE"]).is_ok_and(|r| r.starts_with("master")))
            .collect()
    }

    /// The ports of the running replicas that are connected to their primary (by `ROLE`).
    pub fn replicas(&self) -> Vec<u16> {
        self.ports()
            .into_iter()
            .filter(|&p| {
                self.cli(p, &["ROLE"])
                    .is_ok_and(|r| r.starts_with("slave") && r.contains("connected"))
            })
            .collect()
    }

    /// True when `CLUSTER SLOTS` on every running node names every running node (the
    /// replicas appear there only once the cluster's gossip has spread them).
    fn every_node_sees_every_replica(&self) -> bool {
        let ports = self.ports();
        ports.iter().all(|&p| {
            self.cli(p, &["CLUSTER", "SLOTS"]).is_ok_and(|slots| {
                ports
                    .iter()
                    .all(|q| slots.lines().any(|line| line.trim() == q.to_string()))
            })
        })
    }

    /// Waits until every running node says `cluster_state:ok`, there are 3 primaries and
    /// every other running node is a connected replica.
    pub fn wait_until_ok(&self) {
        wait_for(
            "the cluster is ok",
            || {
                self.ports().iter().all(|&p| {
                    self.cli(p, &["CLUSTER", "INFO"])
                        .is_ok_and(|info| info.contains("cluster_state:ok"))
                }) && self.primaries().len() == 3
                    && self.replicas().len() == self.ports().len() - 3
                    && self.every_node_sees_every_replica()
            },
            || self.log_tails(),
        );
    }

    /// Kills the primary on `port` (its replica is promoted after the node timeout).
    pub fn kill(&mut self, port: u16) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.port == port) {
            node.kill();
        }
    }

    /// The tails of every node's log.
    pub fn log_tails(&self) -> String {
        self.nodes.iter().map(Node::log_tail).collect::<Vec<_>>().join("\n")
    }

    /// Kills one primary and returns its port; [`RedisCluster::wait_until_ok`] then waits
    /// for its replica's promotion.
    pub fn kill_primary(&mut self) -> u16 {
        let port = self.primaries()[0];
        self.kill(port);
        port
    }
}

/// A running Sentinel set: a master, a replica of it and three sentinels (quorum 2)
/// watching it as [`MASTER_NAME`] (`down-after-milliseconds` 1000). The data nodes have
/// `requirepass` [`TOPOLOGY_PASSWORD`]; the sentinels `requirepass`
/// [`SENTINEL_PASSWORD`].
pub struct RedisSentinels {
    master: Node,
    replica: Node,
    sentinels: Vec<Node>,
    /// The directory of the sentinels' config files (sentinels rewrite them).
    _configs: Vec<PathBuf>,
}

impl std::fmt::Debug for RedisSentinels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSentinels")
            .field("master", &self.master.port)
            .field("replica", &self.replica.port)
            .field("sentinels", &self.sentinel_ports())
            .finish()
    }
}

impl RedisSentinels {
    /// Starts the master, the replica and the sentinels, and waits until the sentinels
    /// know the replica and each other.
    pub fn start() -> RedisSentinels {
        let (_, mut nodes) = with_fresh_ports(5, |ports| {
            let auth = format!("requirepass \"{TOPOLOGY_PASSWORD}\"\nmasterauth \"{TOPOLOGY_PASSWORD}\"\n");
            let replica_of = format!("{auth}replicaof 127.0.0.1 {}\n", ports[0]);
            let mut nodes = vec![
                Node::start(ports[0], &auth, false, &[])?,
                Node::start(ports[1], &replica_of, false, &[])?,
            ];
            for &port in &ports[2..] {
                let config = format!(
                    "sentinel monitor {MASTER_NAME} 127.0.0.1 {} 2\n\
                     sentinel auth-pass {MASTER_NAME} {TOPOLOGY_PASSWORD}\n\
                     sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                     sentinel failover-timeout {MASTER_NAME} 5000\n\
                     requirepass \"{SENTINEL_PASSWORD}\"\n\
                     sentinel sentinel-pass {SENTINEL_PASSWORD}\n",
                    ports[0]
                );
                nodes.push(Node::start(port, &config, true, &[])?);
            }
            Ok(nodes)
        });
        let sentinels = nodes.split_off(2);
        let replica = nodes.pop().expect("the replica");
        let master = nodes.pop().expect("the master");
        let set = RedisSentinels {
            master,
            replica,
            sentinels,
            _configs: Vec::new(),
        };
        wait_for(
            "the sentinels know the replica and each other",
            || {
                set.sentinel_ports().iter().all(|&p| {
                    let replicas = redis_cli(p, Some(SENTINEL_PASSWORD), &["SENTINEL", "replicas", MASTER_NAME]);
                    let others = redis_cli(p, Some(SENTINEL_PASSWORD), &["SENTINEL", "sentinels", MASTER_NAME]);
                    replicas.is_ok_and(|r| r.contains(&set.replica.port.to_string()))
                        && others.is_ok_and(|s| s.matches("127.0.0.1").count() >= 2)
                })
            },
            || set.log_tails(),
        );
        set
    }

    /// The sentinels' ports.
    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(|n| n.port).collect()
    }

    /// `127.0.0.1:port` of each sentinel (for `storage.addrs`).
    pub fn sentinel_addresses(&self) -> Vec<String> {
        self.sentinels.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect()
    }

    /// The master's port (before a failover).
    pub fn master_port(&self) -> u16 {
        self.master.port
    }

    /// The replica's port.
    pub fn replica_port(&self) -> u16 {
        self.replica.port
    }

    /// Kills the master; [`RedisSentinels::wait_for_new_master`] waits for the failover.
    pub fn kill_master(&mut self) {
        self.master.kill();
    }

    /// Kills one sentinel (by index).
    pub fn kill_sentinel(&mut self, index: usize) {
        self.sentinels[index].kill();
    }

    /// Waits until a running sentinel names a master other than the first one, and that
    /// master says it is one.
    pub fn wait_for_new_master(&self) -> u16 {
        let mut port = 0;
        wait_for(
            "a new master",
            || {
                let named = self
                    .sentinels
                    .iter()
                    .filter(|s| s.process.is_some())
                    .find_map(|s| {
                        redis_cli(
                            s.port,
                            Some(SENTINEL_PASSWORD),
                            &["SENTINEL", "get-master-addr-by-name", MASTER_NAME],
                        )
                        .ok()
                    })
                    .and_then(|reply| reply.lines().nth(1).and_then(|p| p.trim().parse::<u16>().ok()));
                match named {
                    Some(p) if p != self.master.port => {
                        port = p;
                        redis_cli(p, Some(TOPOLOGY_PASSWORD), &["ROLE"]).is_ok_and(|r| r.starts_with("master"))
                    }
                    _ => false,
                }
            },
            || self.log_tails(),
        );
        port
    }

    /// The tails of every process's log.
    pub fn log_tails(&self) -> String {
        std::iter::once(&self.master)
            .chain(std::iter::once(&self.replica))
            .chain(&self.sentinels)
            .map(Node::log_tail)
            .collect::<Vec<_>>()
            .join("\n")
    }
}
