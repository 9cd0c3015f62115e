//! A real squid forward proxy on 127.0.0.1.
//!
//! Needs Debian's `squid-openssl` package (`/usr/sbin/squid`, and
//! `/usr/lib/squid/basic_ncsa_auth` for basic auth; it replaces the `squid` package, same
//! paths) and `htpasswd` from `apache2-utils` for the basic-auth password file. Plain `squid`
//! works too except for [`SquidOptions::https`]: it is the GnuTLS build, whose `https_port`
//! sends only the leaf of the `tls-cert=` file, not its intermediates, so a client trusting
//! only the test root CA cannot verify the proxy. The launcher checks `squid -v` and panics
//! with that hint when `https` is asked of a GnuTLS build.
//!
//! Each [`Squid`] has its own temporary directory (config, pid file, `cache.log`,
//! `access.log`, password file, copies of the TLS files), no disk cache, `cache deny all`,
//! and allows CONNECT to any port (no `SSL_ports` rule, no `to_localhost` denial). It runs in
//! the foreground (`-N`) and is killed and reaped on drop.
//!
//! [`Squid::requests`] reads what the proxy saw from `access.log` (written unbuffered). Squid
//! writes an entry when a transaction ends: a CONNECT tunnel appears once it is closed, so use
//! [`Squid::wait_for_requests`] after closing the client's connections.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::peer_process::{
    find_binary, free_port, locate_binary, log_tails, relaunch, wait_for_entries, wait_until_refusing, PeerProcess,
    START_ATTEMPTS,
};

const NCSA_AUTH_HELPER: &str = "/usr/lib/squid/basic_ncsa_auth";

/// A user and password for proxy basic auth. Debug hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyCredentials {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl ProxyCredentials {
    /// Credentials from plain strings.
    pub fn new(user: &str, password: &str) -> Self {
        Self {
            user: user.to_owned(),
            password: password.to_owned(),
        }
    }
}

impl fmt::Debug for ProxyCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyCredentials")
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

/// The certificate squid presents on its `https_port` (e.g. the [`crate::pki`] server chain).
#[derive(Debug, Clone)]
pub struct SquidTls {
    /// PEM file: the server certificate followed by its intermediates.
    pub cert_chain_path: PathBuf,
    /// PEM file: the server's private key.
    pub key_path: PathBuf,
}

impl SquidTls {
    /// `pki`'s server chain and key.
    pub fn of(pki: &crate::pki::TestPki) -> SquidTls {
        SquidTls {
            cert_chain_path: pki.server_chain_path.clone(),
            key_path: pki.server_key_path.clone(),
        }
    }
}

/// How to start a [`Squid`].
#[derive(Debug, Clone, Default)]
pub struct SquidOptions {
    /// Require basic auth with these credentials (`407` otherwise).
    pub basic_auth: Option<ProxyCredentials>,
    /// Also listen on an `https_port` (TLS to the proxy) with this certificate.
    pub https: Option<SquidTls>,
    /// Write no access log (`access_log none`), so logging does not weigh on a benchmark;
    /// [`Squid::requests`] is then always empty.
    pub without_access_log: bool,
}

/// One line of squid's access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyLogEntry {
    /// Request method (`GET`, `CONNECT`, ...).
    pub method: String,
    /// The URL of an absolute-form request, or `host:port` of a CONNECT.
    pub target: String,
    /// Status squid answered to the client (`407`, `200`, ...).
    pub status: u16,
    /// The authenticated user, `None` when there was none.
    pub user: Option<String>,
    /// Squid's result code (`TCP_MISS`, `TCP_TUNNEL`, `TCP_DENIED`, ...).
    pub result: String,
}

/// A running squid; killed and reaped on drop.
pub struct Squid {
    dir: TempDir,
    binary: PathBuf,
    http_port: u16,
    https_port: Option<u16>,
    options: SquidOptions,
    process: Option<PeerProcess>,
}

impl fmt::Debug for Squid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Squid")
            .field("dir", &self.dir.path())
            .field("http_port", &self.http_port)
            .field("https_port", &self.https_port)
            .field("options", &self.options)
            .finish()
    }
}

impl Squid {
    /// Starts squid on free ports and waits until it listens on every port; panics with the
    /// tail of `cache.log` when it does not start, or with an install hint when it is missing.
    pub fn start(options: SquidOptions) -> Self {
        Self::try_start(options).unwrap_or_else(|message| panic!("{message}"))
    }

    /// [`Squid::start`] for callers that can go on without squid (the benchmark skips its
    /// squid scenario): what `start` would panic with is the error.
    pub fn try_start(options: SquidOptions) -> Result<Self, String> {
        let binary = locate_binary("squid", "squid-openssl")?;
        if options.https.is_some() {
            require_openssl_build(&binary)?;
        }
        if options.basic_auth.is_some() && !Path::new(NCSA_AUTH_HELPER).is_file() {
            return Err(format!(
                "{NCSA_AUTH_HELPER} not found: install it: apt-get install -y squid-openssl"
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("extsvc-squid-")
            .tempdir()
            .expect("create squid's temporary directory");
        // Squid drops to `cache_effective_user proxy`, which must write its logs here.
        set_mode(dir.path(), 0o777);
        let mut squid = Self {
            dir,
            binary,
            http_port: free_port(),
            https_port: options.https.as_ref().map(|_| free_port()),
            options,
            process: None,
        };
        let mut attempt = 1;
        loop {
            squid.write_files();
            match squid.launch() {
                Ok(()) => return Ok(squid),
                Err(message) if attempt >= START_ATTEMPTS => return Err(message),
                Err(_) => {
                    // A port was taken between picking and binding it: pick fresh ones.
                    attempt += 1;
                    squid.http_port = free_port();
                    squid.https_port = squid.https_port.map(|_| free_port());
                }
            }
        }
    }

    /// The plain HTTP proxy port.
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The TLS proxy port; panics when squid was started without [`SquidOptions::https`].
    pub fn https_port(&self) -> u16 {
        self.https_port.expect("squid was started without SquidOptions::https")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// `http://user:password@127.0.0.1:PORT`; panics without [`SquidOptions::basic_auth`].
    pub fn url_with_credentials(&self) -> String {
        let credentials = self.credentials();
        format!(
            "http://{}:{}@127.0.0.1:{}",
            credentials.user, credentials.password, self.http_port
        )
    }

    /// `https://localhost:PORT` (the test server certificate names `localhost` and
    /// `127.0.0.1`).
    pub fn https_url(&self) -> String {
        format!("https://localhost:{}", self.https_port())
    }

    /// `https://user:password@localhost:PORT`.
    pub fn https_url_with_credentials(&self) -> String {
        let credentials = self.credentials();
        format!(
            "https://{}:{}@localhost:{}",
            credentials.user,
            credentials.password,
            self.https_port()
        )
    }

    /// The credentials squid requires; panics without [`SquidOptions::basic_auth`].
    pub fn credentials(&self) -> &ProxyCredentials {
        self.options
            .basic_auth
            .as_ref()
            .expect("squid was started without SquidOptions::basic_auth")
    }

    /// Every request in the access log so far, oldest first. Connections that closed before
    /// sending a request (squid logs them as `- error:transaction-end-before-headers`, e.g.
    /// the launcher's own readiness probes) are left out.
    pub fn requests(&self) -> Vec<ProxyLogEntry> {
        let text = std::fs::read_to_string(self.access_log_path()).unwrap_or_default();
        text.lines()
            .filter_map(parse_log_line)
            .filter(|entry| entry.method != "-")
            .collect()
    }

    /// Waits until the access log holds at least `count` entries (up to `timeout`) and returns
    /// them all; returns what is there when the time is up.
    pub async fn wait_for_requests(&self, count: usize, timeout: Duration) -> Vec<ProxyLogEntry> {
        wait_for_entries(count, timeout, || self.requests()).await
    }

    /// Kills squid; its ports refuse connections when this returns.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
            wait_until_refusing(self.http_port);
            if let Some(port) = self.https_port {
                wait_until_refusing(port);
            }
        }
    }

    /// Starts squid again on the SAME ports (stopping it first if it runs); the access log
    /// keeps its earlier entries. Retries for a few seconds while a port is still busy.
    pub fn restart(&mut self) {
        self.stop();
        relaunch("squid", || self.launch());
    }

    /// Whether the squid process is running.
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(PeerProcess::is_running)
    }

    /// The tail of `cache.log` (for failure messages).
    pub fn log_tail(&self) -> String {
        let paths = self.log_paths();
        log_tails(&[paths[0].as_path(), paths[1].as_path()])
    }

    /// Squid's working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn access_log_path(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    fn log_paths(&self) -> [PathBuf; 2] {
        [self.dir.path().join("cache.log"), self.dir.path().join("squid.stderr")]
    }

    fn write_files(&self) {
        let dir = self.dir.path();
        let mut config = String::new();
        config.push_str(&format!("http_port 127.0.0.1:{}\n", self.http_port));
        if let (Some(tls), Some(port)) = (&self.options.https, self.https_port) {
            // Squid reads these after dropping privileges on some paths: use readable copies.
            let cert = dir.join("proxy-cert.pem");
            let key = dir.join("proxy-key.pem");
            copy_readable(&tls.cert_chain_path, &cert);
            copy_readable(&tls.key_path, &key);
            config.push_str(&format!(
                "https_port 127.0.0.1:{port} tls-cert={} tls-key={}\n",
                cert.display(),
                key.display()
            ));
        }
        match &self.options.basic_auth {
            Some(credentials) => {
                let password_file = dir.join("passwords");
                write_password_file(&password_file, credentials);
                config.push_str(&format!(
                    "auth_param basic program {NCSA_AUTH_HELPER} {}\n",
                    password_file.display()
                ));
                config.push_str("auth_param basic children 2 startup=1 idle=1\n");
                config.push_str("auth_param basic realm extsvc-test-squid\n");
                config.push_str("acl authenticated proxy_auth REQUIRED\n");
                config.push_str("http_access allow authenticated\n");
            }
            None => config.push_str("http_access allow all\n"),
        }
        config.push_str("http_access deny all\n");
        let d = dir.display();
        if self.options.without_access_log {
            config.push_str("access_log none\n");
        } else {
            config.push_str(&format!(
                "logformat extsvc %ts.%03tu %rm %ru %>Hs %un %Ss\n\
                 access_log stdio:{d}/access.log extsvc\n\
                 buffered_logs off\n"
            ));
        }
        config.push_str(&format!(
            "cache deny all\n\
             cache_mem 8 MB\n\
             pid_filename {d}/squid.pid\n\
             coredump_dir {d}\n\
             cache_log {d}/cache.log\n\
             cache_effective_user proxy\n\
             shutdown_lifetime 0 seconds\n\
             pinger_enable off\n\
             max_filedescriptors 1024\n\
             visible_hostname localhost\n\
             netdb_filename none\n\
             logfile_rotate 0\n"
        ));
        std::fs::write(dir.join("squid.conf"), config).expect("write squid.conf");
    }

    fn launch(&mut self) -> Result<(), String> {
        let dir = self.dir.path();
        // A pid file left by a killed squid would make it refuse to start.
        let _ = std::fs::remove_file(dir.join("squid.pid"));
        let stderr = std::fs::File::create(dir.join("squid.stderr")).expect("create squid.stderr");
        let mut command = Command::new(&self.binary);
        command
            .arg("-N")
            .arg("-f")
            .arg(dir.join("squid.conf"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let logs = self.log_paths();
        let logs: Vec<&Path> = logs.iter().map(PathBuf::as_path).collect();
        let mut process = PeerProcess::spawn("squid", command, &logs);
        let mut ports = vec![self.http_port];
        ports.extend(self.https_port);
        process.wait_until_listening(&ports, &logs)?;
        self.process = Some(process);
        Ok(())
    }
}

/// Panics unless `squid -v` says `--with-openssl` (see the module docs).
fn require_openssl_build(binary: &Path) -> Result<(), String> {
    let output = Command::new(binary)
        .arg("-v")
        .output()
        .map_err(|e| format!("run {} -v: {e}", binary.display()))?;
    if String::from_utf8_lossy(&output.stdout).contains("--with-openssl") {
        Ok(())
    } else {
        Err(format!(
            "{} is not built with OpenSSL (its https_port would not send the intermediate \
             certificate): install it: apt-get install -y squid-openssl",
            binary.display()
        ))
    }
}

fn parse_log_line(line: &str) -> Option<ProxyLogEntry> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [_time, method, target, status, user, result] = fields.as_slice() else {
        return None;
    };
    Some(ProxyLogEntry {
        method: (*method).to_owned(),
        target: (*target).to_owned(),
        status: status.parse().ok()?,
        user: (*user != "-").then(|| (*user).to_owned()),
        result: (*result).to_owned(),
    })
}

fn write_password_file(path: &Path, credentials: &ProxyCredentials) {
    let htpasswd = find_binary("htpasswd", "apache2-utils");
    // -i reads the password from stdin so it never shows in a process listing.
    let mut child = Command::new(htpasswd)
        .arg("-c")
        .arg("-i")
        .arg("-m")
        .arg(path)
        .arg(&credentials.user)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn htpasswd");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("htpasswd stdin is piped");
        stdin
            .write_all(credentials.password.as_bytes())
            .expect("write the password to htpasswd");
    }
    let output = child.wait_with_output().expect("wait for htpasswd");
    assert!(
        output.status.success(),
        "htpasswd failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    set_mode(path, 0o644);
}

fn copy_readable(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
    set_mode(to, 0o644);
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}
