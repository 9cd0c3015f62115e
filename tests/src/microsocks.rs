//! A real SOCKS5 proxy on 127.0.0.1: microsocks.
//!
//! Needs Debian's `microsocks` package (`/usr/bin/microsocks`). It speaks SOCKS5 CONNECT
//! with "no authentication" or, with [`MicrosocksOptions::credentials`], RFC 1929
//! username/password only (`-u`/`-P`); it resolves names sent by `socks5h` clients itself.
//! [`MicrosocksOptions::bind_outgoing`] (`-b`) binds its connections to targets to another
//! loopback address (e.g. [`OUTGOING_ADDRESS`]), so a target that sees that peer address
//! proves the request crossed the proxy.
//!
//! Each [`Microsocks`] has its own temporary directory (its stdout/stderr in
//! `microsocks.log`), runs in the foreground and is killed and reaped on drop.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

use crate::peer_process::{
    find_binary, free_port, log_tails, relaunch, wait_until_refusing, PeerProcess, START_ATTEMPTS,
};
use crate::squid::ProxyCredentials;

/// A loopback address other than 127.0.0.1 for [`MicrosocksOptions::bind_outgoing`].
pub const OUTGOING_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// How to start a [`Microsocks`].
#[derive(Debug, Clone, Default)]
pub struct MicrosocksOptions {
    /// Require RFC 1929 username/password with these credentials (`-u`, `-P`).
    pub credentials: Option<ProxyCredentials>,
    /// Bind outgoing connections to this address (`-b`).
    pub bind_outgoing: Option<IpAddr>,
}

/// A running microsocks; killed and reaped on drop.
pub struct Microsocks {
    dir: TempDir,
    binary: PathBuf,
    port: u16,
    options: MicrosocksOptions,
    process: Option<PeerProcess>,
}

impl fmt::Debug for Microsocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Microsocks")
            .field("dir", &self.dir.path())
            .field("port", &self.port)
            .field("options", &self.options)
            .finish()
    }
}

impl Microsocks {
    /// Starts microsocks on a free port and waits until it listens; panics with its log's
    /// tail when it does not start, or with an install hint when it is missing.
    pub fn start(options: MicrosocksOptions) -> Self {
        let binary = find_binary("microsocks", "microsocks");
        let dir = tempfile::Builder::new()
            .prefix("extsvc-microsocks-")
            .tempdir()
            .expect("create microsocks' temporary directory");
        let mut proxy = Self {
            dir,
            binary,
            port: 0,
            options,
            process: None,
        };
        for attempt in 1..=START_ATTEMPTS {
            proxy.port = free_port();
            match proxy.launch() {
                Ok(()) => return proxy,
                // The port was taken between picking and binding it: pick a fresh one.
                Err(message) if attempt == START_ATTEMPTS => panic!("{message}"),
                Err(_) => {}
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `SCHEME://127.0.0.1:PORT` for `scheme` `socks5` or `socks5h`.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr())
    }

    /// [`Microsocks::url`] with the configured credentials; panics without
    /// [`MicrosocksOptions::credentials`] (plain values: pass ones without `%`, `@`, `:`).
    pub fn url_with_credentials(&self, scheme: &str) -> String {
        let c = self.credentials();
        format!("{scheme}://{}:{}@{}", c.user, c.password, self.addr())
    }

    /// The configured credentials; panics without [`MicrosocksOptions::credentials`].
    pub fn credentials(&self) -> &ProxyCredentials {
        self.options
            .credentials
            .as_ref()
            .expect("microsocks was started without credentials")
    }

    /// Kills microsocks; its port refuses connections when this returns.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
            wait_until_refusing(self.port);
        }
    }

    /// Starts microsocks again on the SAME port (stopping it first if it runs). Retries for
    /// a few seconds while the port is still busy.
    pub fn restart(&mut self) {
        self.stop();
        relaunch("microsocks", || self.launch());
    }

    /// Whether the microsocks process is running.
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(PeerProcess::is_running)
    }

    /// The tail of its log (for failure messages).
    pub fn log_tail(&self) -> String {
        log_tails(&[self.log_path().as_path()])
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("microsocks.log")
    }

    fn launch(&mut self) -> Result<(), String> {
        let log_path = self.log_path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open microsocks.log");
        let mut command = Command::new(&self.binary);
        command.args(["-i", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(c) = &self.options.credentials {
            command.args(["-u", &c.user, "-P", &c.password]);
        }
        if let Some(ip) = self.options.bind_outgoing {
            command.args(["-b", &ip.to_string()]);
        }
        command
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log file handle"))
            .stderr(log);
        let logs: [&Path; 1] = [&log_path];
        let mut process = PeerProcess::spawn("microsocks", command, &logs);
        process.wait_until_listening(&[self.port], &logs)?;
        self.process = Some(process);
        Ok(())
    }
}
