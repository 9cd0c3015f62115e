//! A TLS 1.2 peer that asks the client to renegotiate on demand: `openssl s_server`.
//!
//! nginx and squid never start a renegotiation themselves; `s_server`'s interactive mode
//! does, on the line `r` on its stdin (`SSL_renegotiate` then `SSL_do_handshake`: a
//! HelloRequest to the connected client). It prints what it receives to its stdout (here a
//! log file), so a test can wait for a request to have arrived before asking.
//!
//! Needs the `openssl` binary (Debian's `openssl` package). Each [`OpensslServer`] has its
//! own temporary directory (`s_server.log`), serves one connection at a time, and is killed
//! and reaped on drop.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::peer_process::{find_binary, free_port, log_tails, PeerProcess, START_ATTEMPTS};
use crate::pki::TestPki;

/// A running `openssl s_server -tls1_2`; killed and reaped on drop.
pub struct OpensslServer {
    dir: TempDir,
    port: u16,
    process: PeerProcess,
}

impl fmt::Debug for OpensslServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpensslServer")
            .field("dir", &self.dir.path())
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl OpensslServer {
    /// Starts `s_server` with TLS 1.2 only, the test server certificate (and intermediate)
    /// and a request for a client certificate chaining to the test CA; waits until it
    /// listens. Panics with its log's tail when it does not start.
    pub fn start_tls12(pki: &TestPki) -> Self {
        let binary = find_binary("openssl", "openssl");
        let dir = tempfile::Builder::new()
            .prefix("extsvc-s_server-")
            .tempdir()
            .expect("create s_server's temporary directory");
        let log_path = dir.path().join("s_server.log");
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .expect("open s_server.log");
            let mut command = Command::new(&binary);
            command
                .arg("s_server")
                .args(["-accept", &format!("127.0.0.1:{port}")])
                .arg("-tls1_2")
                .arg("-cert")
                .arg(&pki.server_cert_path)
                .arg("-key")
                .arg(&pki.server_key_path)
                .arg("-cert_chain")
                .arg(&pki.intermediate_cert_path)
                .arg("-CAfile")
                .arg(&pki.ca_cert_path)
                .args(["-verify", "2"])
                .current_dir(dir.path())
                .stdin(Stdio::piped())
                .stdout(log.try_clone().expect("clone the log file handle"))
                .stderr(log);
            let logs: [&Path; 1] = [&log_path];
            let mut process = PeerProcess::spawn("openssl s_server", command, &logs);
            match process.wait_until_listening(&[port], &logs) {
                Ok(()) => return Self { dir, port, process },
                Err(message) if attempt == START_ATTEMPTS => panic!("{message}"),
                Err(_) => {}
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// `https://localhost:PORT` (the test server certificate names `localhost`).
    pub fn https_url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// Waits until `s_server` has printed `needle` (e.g. the request line it received);
    /// false after `timeout`.
    pub fn wait_for_output(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.output().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Everything `s_server` printed so far.
    pub fn output(&self) -> String {
        std::fs::read(self.log_path())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// Asks the connected client to renegotiate: `r` on `s_server`'s stdin.
    pub fn request_renegotiation(&mut self) {
        let stdin = self.process.stdin().expect("s_server's stdin is piped");
        let written = stdin.write_all(b"r\n").and_then(|()| stdin.flush());
        if let Err(e) = written {
            panic!("write to s_server: {e}\n{}", self.log_tail());
        }
    }

    /// The tail of its log (for failure messages).
    pub fn log_tail(&self) -> String {
        log_tails(&[self.log_path().as_path()])
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("s_server.log")
    }
}
