//! Process plumbing shared by the real-peer launchers ([`crate::squid`], [`crate::nginx`],
//! [`crate::redis`]): finding the binary, picking a free port, waiting until the port
//! accepts, and killing and reaping the process on drop.

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
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let fallbacks = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from);
    path_dirs
        .into_iter()
        .chain(fallbacks)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` not found in PATH or /usr/sbin, /usr/bin: install it: apt-get install -y {package}")
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
}

impl PeerProcess {
    /// Spawns `command`; `logs` name the files whose tails go into panic messages.
    pub(crate) fn spawn(name: &'static str, mut command: Command, logs: &[&Path]) -> Self {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot spawn {command:?}: {e}\n{}", log_tails(logs)));
        Self { name, child }
    }

    /// Waits until every port accepts a TCP connection. Errs (with the log tails) when the
    /// process exits first (e.g. a port was taken meanwhile) or [`START_TIMEOUT`] passes; the
    /// caller retries or panics with the message.
    pub(crate) fn wait_until_accepting(&mut self, ports: &[u16], logs: &[&Path]) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        for &port in ports {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            loop {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Err(format!(
                        "{}: exited with {status} before accepting on {addr}\n{}",
                        self.name,
                        log_tails(logs)
                    ));
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    break;
                }
                if Instant::now() >= deadline {
                    self.kill();
                    return Err(format!(
                        "{}: not accepting on {addr} after {START_TIMEOUT:?}\n{}",
                        self.name,
                        log_tails(logs)
                    ));
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        Ok(())
    }

    /// Kills (SIGKILL) and reaps the process.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// The tails of `logs`, each under its file name.
pub(crate) fn log_tails(logs: &[&Path]) -> String {
    logs.iter()
        .map(|path| format!("--- {} (last 40 lines) ---\n{}", path.display(), tail(path, 40)))
        .collect::<Vec<_>>()
        .join("\n")
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
