//! A real redis-server on 127.0.0.1, plain and/or TLS.
//!
//! Needs Debian's `redis-server` package (`/usr/bin/redis-server`, built with TLS) and
//! `redis-tools` (`/usr/bin/redis-cli`, used by [`RedisServer::set`] and
//! [`RedisServer::get`]); both come with `apt-get install -y redis-server`.
//!
//! Each [`RedisServer`] has its own temporary directory (config, log, working dir), no
//! persistence (`save ""`, `appendonly no`), and is killed and reaped on drop.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

use crate::peer_process::{
    find_binary, free_port, log_tails, relaunch, wait_until_refusing, PeerProcess, START_ATTEMPTS,
};

/// redis' `tls-auth-clients`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisTlsAuthClients {
    /// Clients must present a certificate chaining to `ca_path`.
    #[default]
    Yes,
    /// No client certificate asked for.
    No,
    /// A certificate is checked when presented, but not required.
    Optional,
}

/// The TLS port's settings.
#[derive(Debug, Clone)]
pub struct RedisTls {
    /// PEM file: server certificate followed by its intermediates (`tls-cert-file`).
    pub cert_chain_path: PathBuf,
    /// PEM file: the server's private key (`tls-key-file`).
    pub key_path: PathBuf,
    /// PEM file of CAs for client certificates (`tls-ca-cert-file`); also what
    /// [`RedisServer::set`] trusts when it talks TLS.
    pub ca_path: PathBuf,
    /// `tls-auth-clients`.
    pub auth_clients: RedisTlsAuthClients,
    /// Client certificate chain and key that [`RedisServer::set`] / [`RedisServer::get`]
    /// present when they have to use the TLS port (a TLS-only server with
    /// `auth_clients: Yes` needs one).
    pub admin_client: Option<(PathBuf, PathBuf)>,
}

impl RedisTls {
    /// The TLS port with `pki`'s server chain and key, requiring a client certificate
    /// that chains to `pki`'s CA (`tls-auth-clients yes`); no admin client.
    pub fn requiring_client_certificates(pki: &crate::pki::TestPki) -> RedisTls {
        RedisTls {
            cert_chain_path: pki.server_chain_path.clone(),
            key_path: pki.server_key_path.clone(),
            ca_path: pki.ca_cert_path.clone(),
            auth_clients: RedisTlsAuthClients::Yes,
            admin_client: None,
        }
    }
}

/// How to start a [`RedisServer`].
#[derive(Clone)]
pub struct RedisOptions {
    /// Listen on a plain port (`false` with `tls` set gives a TLS-only server: `port 0`).
    pub plain: bool,
    /// Also (or only) listen on a TLS port.
    pub tls: Option<RedisTls>,
    /// `requirepass` (Debug hides it).
    pub password: Option<String>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            plain: true,
            tls: None,
            password: None,
        }
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("plain", &self.plain)
            .field("tls", &self.tls)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A running redis-server; killed and reaped on drop.
pub struct RedisServer {
    dir: TempDir,
    port: Option<u16>,
    tls_port: Option<u16>,
    options: RedisOptions,
    binary: PathBuf,
    process: Option<PeerProcess>,
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("dir", &self.dir.path())
            .field("port", &self.port)
            .field("tls_port", &self.tls_port)
            .field("options", &self.options)
            .finish()
    }
}

impl RedisServer {
    /// Starts redis-server on free ports and waits until they accept; panics with the log's
    /// tail when it does not start, or with an install hint when it is missing.
    pub fn start(options: RedisOptions) -> Self {
        assert!(
            options.plain || options.tls.is_some(),
            "RedisOptions needs `plain` or `tls`"
        );
        let binary = find_binary("redis-server", "redis-server");
        let dir = tempfile::Builder::new()
            .prefix("extsvc-redis-")
            .tempdir()
            .expect("create redis' temporary directory");
        for attempt in 1..=START_ATTEMPTS {
            let port = options.plain.then(free_port);
            let tls_port = options.tls.as_ref().map(|_| free_port());
            match launch(&binary, dir.path(), &options, port, tls_port) {
                Ok(process) => {
                    return Self {
                        dir,
                        port,
                        tls_port,
                        options,
                        binary,
                        process: Some(process),
                    }
                }
                // A port was taken between picking and binding it: pick fresh ones.
                Err(message) if attempt == START_ATTEMPTS => panic!("{message}"),
                Err(_) => {}
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// The plain port; panics on a TLS-only server.
    pub fn port(&self) -> u16 {
        self.port.expect("redis-server was started without a plain port")
    }

    /// The TLS port; panics without [`RedisOptions::tls`].
    pub fn tls_port(&self) -> u16 {
        self.tls_port
            .expect("redis-server was started without RedisOptions::tls")
    }

    /// `redis://127.0.0.1:PORT` (plain).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port())
    }

    /// `rediss://localhost:PORT` (TLS; the test server certificate names `localhost`).
    pub fn tls_url(&self) -> String {
        format!("rediss://localhost:{}", self.tls_port())
    }

    /// `SET key value` (the value read from stdin by `redis-cli -x`, so PEM bundles with
    /// newlines go in byte for byte). Uses the plain port when there is one, else the TLS port.
    pub fn set(&self, key: &str, value: &str) {
        let reply = self.cli(&["-x", "SET", key], Some(value.as_bytes()));
        assert_eq!(reply.trim(), "OK", "redis SET {key} answered {reply:?}");
    }

    /// `GET key` (`None` for a missing key).
    pub fn get(&self, key: &str) -> Option<String> {
        // --no-raw would quote; raw output prints the value as is, and nothing for nil.
        let reply = self.cli(&["--raw", "EXISTS", key], None);
        if reply.trim() != "1" {
            return None;
        }
        let value = self.cli(&["--raw", "GET", key], None);
        // redis-cli appends a newline to the raw value.
        Some(value.strip_suffix('\n').unwrap_or(&value).to_owned())
    }

    /// `CLIENT PAUSE ms ALL`: the server answers no client's command for `pause` (then
    /// answers the commands it held).
    pub fn pause_clients(&self, pause: std::time::Duration) {
        let reply = self.cli(&["CLIENT", "PAUSE", &pause.as_millis().to_string(), "ALL"], None);
        assert_eq!(reply.trim(), "OK", "redis CLIENT PAUSE answered {reply:?}");
    }

    /// The tail of the server's log (for failure messages).
    pub fn log_tail(&self) -> String {
        log_tails(&[&self.dir.path().join("redis.log")])
    }

    /// Runs `redis-cli` against this server and returns its stdout; panics on failure.
    fn cli(&self, args: &[&str], stdin: Option<&[u8]>) -> String {
        let binary = find_binary("redis-cli", "redis-tools");
        let mut command = Command::new(binary);
        command.args(["-e", "-h", "127.0.0.1"]);
        match (self.port, &self.options.tls, self.tls_port) {
            (Some(port), _, _) => {
                command.arg("-p").arg(port.to_string());
            }
            (None, Some(tls), Some(tls_port)) => {
                command
                    .arg("-p")
                    .arg(tls_port.to_string())
                    .arg("--tls")
                    .arg("--cacert")
                    .arg(&tls.ca_path);
                if let Some((cert, key)) = &tls.admin_client {
                    command.arg("--cert").arg(cert).arg("--key").arg(key);
                }
            }
            _ => unreachable!("a server has a plain or a TLS port"),
        }
        if let Some(password) = &self.options.password {
            // From the environment, so the password is not in the process listing.
            command.env("REDISCLI_AUTH", password);
        }
        command
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn redis-cli");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("redis-cli stdin is piped");
            pipe.write_all(input).expect("write to redis-cli");
        }
        let output = child.wait_with_output().expect("wait for redis-cli");
        assert!(
            output.status.success(),
            "redis-cli {args:?} failed ({}): {}{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log_tail()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The server's working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills redis-server; its ports refuse connections when this returns.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
            for port in self.port.into_iter().chain(self.tls_port) {
                wait_until_refusing(port);
            }
        }
    }

    /// Starts redis-server again on the SAME ports (stopping it first if it runs), with
    /// an empty dataset. Retries for a few seconds while a port is still busy.
    pub fn restart(&mut self) {
        self.stop();
        let process = relaunch("redis-server", || {
            launch(&self.binary, self.dir.path(), &self.options, self.port, self.tls_port)
        });
        self.process = Some(process);
    }
}

/// Writes the config for these ports, spawns redis-server and waits until it listens on them.
fn launch(
    binary: &Path,
    dir: &Path,
    options: &RedisOptions,
    port: Option<u16>,
    tls_port: Option<u16>,
) -> Result<PeerProcess, String> {
    let d = dir.display();
    let mut config = format!(
        "bind 127.0.0.1\n\
         port {}\n\
         protected-mode no\n\
         daemonize no\n\
         save \"\"\n\
         appendonly no\n\
         dir {d}\n\
         logfile {d}/redis.log\n\
         pidfile {d}/redis.pid\n",
        port.unwrap_or(0)
    );
    if let (Some(tls), Some(tls_port)) = (&options.tls, tls_port) {
        let auth_clients = match tls.auth_clients {
            RedisTlsAuthClients::Yes => "yes",
            RedisTlsAuthClients::No => "no",
            RedisTlsAuthClients::Optional => "optional",
        };
        config.push_str(&format!(
            "tls-port {tls_port}\n\
             tls-cert-file {}\n\
             tls-key-file {}\n\
             tls-ca-cert-file {}\n\
             tls-auth-clients {auth_clients}\n",
            tls.cert_chain_path.display(),
            tls.key_path.display(),
            tls.ca_path.display()
        ));
    }
    if let Some(password) = &options.password {
        config.push_str(&format!("requirepass \"{password}\"\n"));
    }
    let config_path = dir.join("redis.conf");
    std::fs::write(&config_path, config).expect("write redis.conf");

    let ports: Vec<u16> = port.into_iter().chain(tls_port).collect();
    spawn_redis_server(binary, &[config_path.as_os_str()], dir, &ports)
}

/// Spawns `binary` (redis-server) with `args` in `dir`, its stderr to `dir/redis.stderr`,
/// and waits until it listens on every one of `ports`; the error carries the tails of
/// `redis.log` and `redis.stderr`. The one launch of a redis-server process, for the
/// standalone launcher and the topology (Cluster, Sentinel) launchers.
pub(crate) fn spawn_redis_server(
    binary: &Path,
    args: &[&std::ffi::OsStr],
    dir: &Path,
    ports: &[u16],
) -> Result<PeerProcess, String> {
    let log = dir.join("redis.log");
    let stderr_path = dir.join("redis.stderr");
    let stderr = std::fs::File::create(&stderr_path).expect("create redis.stderr");
    let mut command = Command::new(binary);
    command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let logs = [log.as_path(), stderr_path.as_path()];
    let mut process = PeerProcess::spawn("redis-server", command, &logs);
    process.wait_until_listening(ports, &logs)?;
    Ok(process)
}
