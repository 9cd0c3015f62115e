//! A real nginx HTTPS (and optionally plain HTTP) server on 127.0.0.1, for mTLS interop.
//!
//! Needs Debian's `nginx` package (`/usr/sbin/nginx`, built with the SSL module).
//!
//! Each [`Nginx`] runs as one foreground process (`daemon off; master_process off;`) with
//! its config, pid file, logs and temp paths in its own temporary directory; it is killed and
//! reaped on drop.
//!
//! Every request gets `200` with a body of `key=value` lines and the same facts as headers:
//!
//! | body key | header | nginx variable |
//! |---|---|---|
//! | `protocol` | `x-ssl-protocol` | `$ssl_protocol` (`TLSv1.2`, `TLSv1.3`) |
//! | `verify` | `x-ssl-client-verify` | `$ssl_client_verify` (`SUCCESS`, `NONE`, `FAILED:…`) |
//! | `dn` | `x-ssl-client-s-dn` | `$ssl_client_s_dn` (RFC 2253) |
//! | `connection` | `x-connection` | `$connection` (nginx's connection serial number) |
//!
//! With `ssl_verify_client on`, a client without a certificate gets nginx's own
//! `400 No required SSL certificate was sent`.
//!
//! [`Nginx::requests`] reads the access log (unbuffered), so [`Nginx::connections_seen`]
//! counts the distinct connections that carried requests (pool and cap tests).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::peer_process::{find_binary, free_port, log_tails, wait_for_entries, PeerProcess, START_ATTEMPTS};

/// nginx's `ssl_verify_client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NginxClientVerify {
    /// No client certificate requested.
    #[default]
    Off,
    /// Requested; a request without one is served (`verify=NONE`).
    Optional,
    /// Required: a request without one gets `400`.
    On,
}

/// nginx's `ssl_protocols`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NginxProtocols {
    /// `TLSv1.2 TLSv1.3`.
    #[default]
    Both,
    /// `TLSv1.2` only.
    Tls12Only,
    /// `TLSv1.3` only.
    Tls13Only,
}

/// The HTTPS listener's certificate and client-certificate settings.
#[derive(Debug, Clone)]
pub struct NginxTls {
    /// PEM file: server certificate followed by its intermediates (`ssl_certificate`).
    pub cert_chain_path: PathBuf,
    /// PEM file: the server's private key (`ssl_certificate_key`).
    pub key_path: PathBuf,
    /// PEM file of CAs that client certificates must chain to (`ssl_client_certificate`);
    /// required unless `verify_client` is [`NginxClientVerify::Off`].
    pub client_ca_path: Option<PathBuf>,
    /// `ssl_verify_client`.
    pub verify_client: NginxClientVerify,
    /// `ssl_protocols`.
    pub protocols: NginxProtocols,
}

/// How to start an [`Nginx`]: at least one of `tls` and `plain_http`.
#[derive(Debug, Clone, Default)]
pub struct NginxOptions {
    /// Run an HTTPS listener with these settings.
    pub tls: Option<NginxTls>,
    /// Also run a plain HTTP listener.
    pub plain_http: bool,
}

impl crate::pki::TestPki {
    /// nginx options for an HTTPS listener with this PKI's server chain that asks for
    /// client certificates of this PKI's CA as `verify_client` says, on `protocols`: the
    /// mTLS target most interop tests need.
    pub fn nginx_options(&self, verify_client: NginxClientVerify, protocols: NginxProtocols) -> NginxOptions {
        NginxOptions {
            tls: Some(NginxTls {
                cert_chain_path: self.server_chain_path.clone(),
                key_path: self.server_key_path.clone(),
                client_ca_path: Some(self.ca_cert_path.clone()),
                verify_client,
                protocols,
            }),
            plain_http: false,
        }
    }
}

/// One access-log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxLogEntry {
    /// nginx's connection serial number (`$connection`).
    pub connection: u64,
    /// The request's number on its connection (`$connection_requests`, 1-based).
    pub connection_requests: u64,
    /// Method.
    pub method: String,
    /// Request URI.
    pub uri: String,
    /// Response status.
    pub status: u16,
    /// `$ssl_protocol`, empty on plain HTTP.
    pub ssl_protocol: String,
    /// `$ssl_client_verify`, empty on plain HTTP.
    pub client_verify: String,
    /// `$ssl_client_s_dn`, empty without a client certificate.
    pub client_dn: String,
    /// `$remote_addr`: who connected (`127.0.0.2` for a request through a microsocks bound
    /// there).
    pub remote_addr: String,
}

/// A running nginx; killed and reaped on drop.
#[derive(Debug)]
pub struct Nginx {
    dir: TempDir,
    https_port: Option<u16>,
    http_port: Option<u16>,
    _process: PeerProcess,
}

impl Nginx {
    /// Starts nginx on free ports and waits until they accept; panics with the error log's
    /// tail when it does not start, or with an install hint when it is missing.
    pub fn start(options: NginxOptions) -> Self {
        assert!(
            options.tls.is_some() || options.plain_http,
            "NginxOptions needs `tls` or `plain_http`"
        );
        let binary = find_binary("nginx", "nginx");
        let dir = tempfile::Builder::new()
            .prefix("extsvc-nginx-")
            .tempdir()
            .expect("create nginx's temporary directory");
        for attempt in 1..=START_ATTEMPTS {
            let https_port = options.tls.as_ref().map(|_| free_port());
            let http_port = options.plain_http.then(free_port);
            match launch(&binary, dir.path(), &options, https_port, http_port) {
                Ok(process) => {
                    return Self {
                        dir,
                        https_port,
                        http_port,
                        _process: process,
                    }
                }
                // A port was taken between picking and binding it: pick fresh ones.
                Err(message) if attempt == START_ATTEMPTS => panic!("{message}"),
                Err(_) => {}
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// The HTTPS port; panics without [`NginxOptions::tls`].
    pub fn https_port(&self) -> u16 {
        self.https_port.expect("nginx was started without NginxOptions::tls")
    }

    /// The plain HTTP port; panics without [`NginxOptions::plain_http`].
    pub fn http_port(&self) -> u16 {
        self.http_port
            .expect("nginx was started without NginxOptions::plain_http")
    }

    /// `https://localhost:PORT` (the test server certificate names `localhost`).
    pub fn https_url(&self) -> String {
        format!("https://localhost:{}", self.https_port())
    }

    /// `http://127.0.0.1:PORT`.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port())
    }

    /// Every access-log entry so far, oldest first (nginx writes one when a request ends).
    pub fn requests(&self) -> Vec<NginxLogEntry> {
        let text = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        text.lines().filter_map(parse_log_line).collect()
    }

    /// Waits until the access log holds at least `count` entries (up to `timeout`).
    pub async fn wait_for_requests(&self, count: usize, timeout: Duration) -> Vec<NginxLogEntry> {
        wait_for_entries(count, timeout, || self.requests()).await
    }

    /// How many distinct connections carried the logged requests.
    pub fn connections_seen(&self) -> usize {
        self.requests()
            .iter()
            .map(|entry| entry.connection)
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// The tail of nginx's error log (for failure messages).
    pub fn log_tail(&self) -> String {
        log_tails(&[&self.dir.path().join("error.log")])
    }
}

/// Writes the config for these ports, spawns nginx and waits until it listens on them.
fn launch(
    binary: &Path,
    dir: &Path,
    options: &NginxOptions,
    https_port: Option<u16>,
    http_port: Option<u16>,
) -> Result<PeerProcess, String> {
    std::fs::write(dir.join("nginx.conf"), config(dir, options, https_port, http_port)).expect("write nginx.conf");
    let error_log = dir.join("error.log");
    let stderr_path = dir.join("nginx.stderr");
    let stderr = std::fs::File::create(&stderr_path).expect("create nginx.stderr");
    let mut command = Command::new(binary);
    command
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(&error_log)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let logs = [error_log.as_path(), stderr_path.as_path()];
    let mut process = PeerProcess::spawn("nginx", command, &logs);
    let ports: Vec<u16> = https_port.into_iter().chain(http_port).collect();
    process.wait_until_listening(&ports, &logs)?;
    Ok(process)
}

fn config(dir: &Path, options: &NginxOptions, https_port: Option<u16>, http_port: Option<u16>) -> String {
    let d = dir.display();
    let mut servers = String::new();
    let location = "    location / {\n\
        \x20     default_type text/plain;\n\
        \x20     add_header x-ssl-protocol \"$ssl_protocol\" always;\n\
        \x20     add_header x-ssl-client-verify \"$ssl_client_verify\" always;\n\
        \x20     add_header x-ssl-client-s-dn \"$ssl_client_s_dn\" always;\n\
        \x20     add_header x-connection \"$connection\" always;\n\
        \x20     return 200 \"protocol=$ssl_protocol\\nverify=$ssl_client_verify\\ndn=$ssl_client_s_dn\\nconnection=$connection\\n\";\n\
        \x20   }\n";
    if let (Some(tls), Some(port)) = (&options.tls, https_port) {
        let protocols = match tls.protocols {
            NginxProtocols::Both => "TLSv1.2 TLSv1.3",
            NginxProtocols::Tls12Only => "TLSv1.2",
            NginxProtocols::Tls13Only => "TLSv1.3",
        };
        let verify = match tls.verify_client {
            NginxClientVerify::Off => "off",
            NginxClientVerify::Optional => "optional",
            NginxClientVerify::On => "on",
        };
        servers.push_str(&format!(
            "  server {{\n    listen 127.0.0.1:{port} ssl;\n    server_name localhost;\n    \
             ssl_certificate {};\n    ssl_certificate_key {};\n    ssl_protocols {protocols};\n    \
             ssl_verify_client {verify};\n    ssl_verify_depth 4;\n",
            tls.cert_chain_path.display(),
            tls.key_path.display()
        ));
        match &tls.client_ca_path {
            Some(ca) => servers.push_str(&format!("    ssl_client_certificate {};\n", ca.display())),
            None => assert!(
                tls.verify_client == NginxClientVerify::Off,
                "NginxTls::client_ca_path is needed when verify_client is not Off"
            ),
        }
        servers.push_str(location);
        servers.push_str("  }\n");
    }
    if let Some(port) = http_port {
        servers.push_str(&format!(
            "  server {{\n    listen 127.0.0.1:{port};\n    server_name localhost;\n{location}  }}\n"
        ));
    }
    // worker_connections: the bench's idle_connections scenario keeps 1,000 connections
    // to one nginx; at 1024 nginx closed connections being set up near that.
    format!(
        "daemon off;\n\
         master_process off;\n\
         worker_processes 1;\n\
         pid {d}/nginx.pid;\n\
         lock_file {d}/nginx.lock;\n\
         error_log {d}/error.log info;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n\
         \x20 log_format extsvc '$connection\\t$connection_requests\\t$request_method\\t$request_uri\\t$status\\t$ssl_protocol\\t$ssl_client_verify\\t$ssl_client_s_dn\\t$remote_addr';\n\
         \x20 access_log {d}/access.log extsvc;\n\
         \x20 client_body_temp_path {d}/client_body;\n\
         \x20 proxy_temp_path {d}/proxy;\n\
         \x20 fastcgi_temp_path {d}/fastcgi;\n\
         \x20 uwsgi_temp_path {d}/uwsgi;\n\
         \x20 scgi_temp_path {d}/scgi;\n\
         \x20 keepalive_timeout 60s;\n\
         \x20 keepalive_requests 1000000;\n\
         {servers}\
         }}\n"
    )
}

fn parse_log_line(line: &str) -> Option<NginxLogEntry> {
    let fields: Vec<&str> = line.split('\t').collect();
    let [connection, connection_requests, method, uri, status, protocol, verify, dn, remote] = fields.as_slice() else {
        return None;
    };
    let field = |s: &str| {
        if s == "-" {
            String::new()
        } else {
            s.to_owned()
        }
    };
    Some(NginxLogEntry {
        connection: connection.parse().ok()?,
        connection_requests: connection_requests.parse().ok()?,
        method: (*method).to_owned(),
        uri: (*uri).to_owned(),
        status: status.parse().ok()?,
        ssl_protocol: field(protocol),
        client_verify: field(verify),
        client_dn: field(dn),
        remote_addr: (*remote).to_owned(),
    })
}
