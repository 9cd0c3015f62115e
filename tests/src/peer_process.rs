//! Process plumbing shared by the real-peer launchers ([`crate::squid`], [`crate::nginx`],
//! [`crate::redis`], [`crate::microsocks`]): finding the binary, picking a free port, waiting until the peer itself
//! listens on it (not merely until something accepts there), and killing and reaping the
//! process on drop.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// How long a peer may take to accept connections after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How many times a launcher tries fresh ports when a peer fails to start (a port picked by
/// [`free_port`] can be taken by another process before the peer binds it).
pub(crate) const START_ATTEMPTS: usize = 3;

/// Finds `name` in `PATH`, `/usr/sbin`, `/usr/bin` or `/sbin`; panics with an install hint
/// naming the Debian `package` when it is missing (a missing peer is a failure, never a skip).
pub(crate) fn find_binary(name: &str, package: &str) -> PathBuf {
    locate_binary(name, package).unwrap_or_else(|hint| panic!("{hint}"))
}

/// [`find_binary`] for callers that can go on without the peer (the benchmark): the install
/// hint is the error.
pub(crate) fn locate_binary(name: &str, package: &str) -> Result<PathBuf, String> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let fallbacks = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from);
    path_dirs
        .into_iter()
        .chain(fallbacks)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            format!("`{name}` not found in PATH or /usr/sbin, /usr/bin: install it: apt-get install -y {package}")
        })
}

/// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// The last `lines` lines of a text file, or a note that it cannot be read.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// A spawned peer, killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub(crate) struct PeerProcess {
    name: &'static str,
    child: Child,
    /// Each log file with its length at spawn time: only what this process wrote is searched
    /// for a bind failure (a restart appends to the same files).
    logs_at_spawn: Vec<(PathBuf, u64)>,
}

/// What a peer writes when a port it was told to use is taken: squid (`commBind`), nginx
/// (`bind() … failed`) and redis-server all end the line with the errno text.
const PORT_TAKEN: &str = "Address already in use";

impl PeerProcess {
    /// Spawns `command`; `logs` name the files whose tails go into panic messages.
    pub(crate) fn spawn(name: &'static str, mut command: Command, logs: &[&Path]) -> Self {
        let logs_at_spawn = logs
            .iter()
            .map(|path| (path.to_path_buf(), std::fs::metadata(path).map_or(0, |m| m.len())))
            .collect();
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot spawn {command:?}: {e}\n{}", log_tails(logs)));
        Self {
            name,
            child,
            logs_at_spawn,
        }
    }

    /// Waits until this process itself listens on every port on 127.0.0.1. Accepting a TCP
    /// connection is not proof: squid keeps running when one of its ports is taken, and the
    /// connection then reaches whoever took it. Errs (with the log tails) when the process
    /// exits first, reports a taken port, or [`START_TIMEOUT`] passes; the caller retries
    /// with fresh ports or panics with the message.
    pub(crate) fn wait_until_listening(&mut self, ports: &[u16], logs: &[&Path]) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{}: exited with {status} before listening on {ports:?}\n{}",
                    self.name,
                    log_tails(logs)
                ));
            }
            let listening = match listening_ports(self.child.id()) {
                Ok(listening) => listening,
                Err(problem) => {
                    self.kill();
                    return Err(format!("{}: {problem}", self.name));
                }
            };
            let missing: Vec<u16> = ports.iter().copied().filter(|p| !listening.contains(p)).collect();
            if missing.is_empty() {
                return Ok(());
            }
            let problem = if self.logged_since_spawn(PORT_TAKEN) {
                Some(format!("port {missing:?} taken by another process"))
            } else if Instant::now() >= deadline {
                Some(format!("not listening on {missing:?} after {START_TIMEOUT:?}"))
            } else {
                None
            };
            if let Some(problem) = problem {
                self.kill();
                return Err(format!("{}: {problem}\n{}", self.name, log_tails(logs)));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Whether a log file got a line containing `needle` since this process was spawned.
    fn logged_since_spawn(&self, needle: &str) -> bool {
        self.logs_at_spawn.iter().any(|(path, offset)| {
            std::fs::read(path).is_ok_and(|bytes| {
                let start = usize::try_from(*offset).unwrap_or(usize::MAX).min(bytes.len());
                String::from_utf8_lossy(&bytes[start..]).contains(needle)
            })
        })
    }

    /// Kills (SIGKILL) and reaps the process.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process's stdin, when it was spawned with `Stdio::piped()`.
    pub(crate) fn stdin(&mut self) -> Option<&mut std::process::ChildStdin> {
        self.child.stdin.as_mut()
    }

    /// Whether the process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The TCP ports process `pid` listens on: the `LISTEN` rows of `/proc/net/tcp{,6}` whose
/// socket inode is one of the process's open file descriptors.
/// Errs when the process's descriptor table cannot be read (another user, `hidepid`).
fn listening_ports(pid: u32) -> Result<Vec<u16>, String> {
    let fd_dir = format!("/proc/{pid}/fd");
    let fds = std::fs::read_dir(&fd_dir).map_err(|e| format!("cannot read {fd_dir} to see its sockets: {e}"))?;
    let inodes: HashSet<String> = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            Some(target.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        // Columns: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
        for row in text.lines().skip(1) {
            let columns: Vec<&str> = row.split_whitespace().collect();
            let (Some(local), Some(&"0A"), Some(inode)) = (columns.get(1), columns.get(3), columns.get(9)) else {
                continue;
            };
            let port = local
                .rsplit_once(':')
                .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok());
            if let (Some(port), true) = (port, inodes.contains(*inode)) {
                ports.push(port);
            }
        }
    }
    Ok(ports)
}

/// The tails of `logs`, each under its file name.
pub(crate) fn log_tails(logs: &[&Path]) -> String {
    logs.iter()
        .map(|path| format!("--- {} (last 40 lines) ---\n{}", path.display(), tail(path, 40)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads a peer's log with `read` until it holds at least `count` entries or `timeout`
/// has passed, and returns the last read (so what is there when the time is up).
pub(crate) async fn wait_for_entries<T>(count: usize, timeout: Duration, read: impl Fn() -> Vec<T>) -> Vec<T> {
    let deadline = Instant::now() + timeout;
    loop {
        let entries = read();
        if entries.len() >= count || Instant::now() >= deadline {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Calls `launch` until it starts the peer again on its same ports, retrying for up to
/// 10 s while a port is still busy; panics naming `what` with the last failure.
pub(crate) fn relaunch<T>(what: &str, mut launch: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match launch() {
            Ok(started) => return started,
            Err(message) if Instant::now() >= deadline => {
                panic!("{what} did not restart on the same port(s): {message}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Waits until `port` on 127.0.0.1 refuses connections (after a stop), up to 10 s.
pub(crate) fn wait_until_refusing(port: u16) {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{addr} still accepts connections 10 s after its process was killed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_ports_sees_this_process_listener_and_not_another_process() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listening_ports(std::process::id()).unwrap().contains(&port));

        let mut sleeper = PeerProcess::spawn("sleep", sleep_command(), &[]);
        assert!(!listening_ports(sleeper.child.id()).unwrap().contains(&port));
        sleeper.kill();
    }

    #[test]
    fn a_port_reported_taken_fails_the_start_at_once_and_kills_the_peer() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("peer.log");
        std::fs::write(&log, "an old run: bind: Address already in use\n").unwrap();
        let mut peer = PeerProcess::spawn("sleep", sleep_command(), &[&log]);
        let port = free_port();

        // An old failure in the same file does not count; the peer is simply not there yet.
        std::thread::sleep(Duration::from_millis(100));
        assert!(!peer.logged_since_spawn(PORT_TAKEN));

        std::fs::write(
            &log,
            "an old run: bind: Address already in use\nnow: Address already in use\n",
        )
        .unwrap();
        let started = Instant::now();
        let err = peer.wait_until_listening(&[port], &[&log]).unwrap_err();
        assert!(err.contains(&format!("port [{port}] taken")), "{err}");
        assert!(
            started.elapsed() < START_TIMEOUT / 2,
            "failed fast: {:?}",
            started.elapsed()
        );
        assert!(!peer.is_running(), "the peer was killed");
    }

    #[test]
    fn a_peer_that_exits_fails_the_start() {
        let mut command = Command::new("sh");
        command.args(["-c", "exit 3"]);
        let mut peer = PeerProcess::spawn("sh", command, &[]);
        let err = peer.wait_until_listening(&[free_port()], &[]).unwrap_err();
        assert!(err.contains("exited with exit status: 3"), "{err}");
    }

    fn sleep_command() -> Command {
        let mut command = Command::new("sleep");
        command.arg("30");
        command
    }
}
