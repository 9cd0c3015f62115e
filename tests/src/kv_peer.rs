//! An in-process peer that speaks the documented KV HTTP APIs of HashiCorp Vault and
//! Consul, for `vault://` and `consul://` references (SPEC section 6): neither server can
//! be installed from this machine's package registries, so this peer answers as their
//! documentation says.
//!
//! - Vault: KV v2 `GET /v1/<mount>/data/<path>` → `{"data": {"data": {…}, "metadata": …}}`
//!   ([`vault_v2`]), KV v1 `GET /v1/<mount>/<path>` → `{"data": {…}}` ([`vault_v1`]), the
//!   token in `X-Vault-Token`.
//! - Consul: `GET /v1/kv/<key>?dc=…` → `[{"Key": …, "Flags": 0, "Value": <base64>}]`
//!   ([`consul_value`]), the token in `X-Consul-Token`.
//!
//! A request without the token gets `403` (`{"errors": ["permission denied"]}`), one for a
//! target it does not hold `404`. Knobs: `stall` reads a request and never answers (a
//! store that hangs); `tls` serves HTTPS with a rustls configuration (e.g. one demanding
//! a client certificate, [`crate::pki::TestPki::server_config`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::server_thread::ServerThread;

/// How a [`KvPeer`] answers.
#[derive(Debug, Clone)]
pub struct KvPeerOptions {
    /// The header that must carry `token` (lowercase): `x-vault-token`, `x-consul-token`.
    pub token_header: &'static str,
    /// The token the peer accepts.
    pub token: String,
    /// Request target (path and query, as sent) → JSON body answered with `200`.
    pub routes: HashMap<String, String>,
    /// Read each request and never answer.
    pub stall: bool,
    /// Serve HTTPS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl KvPeerOptions {
    /// A Vault accepting `token`, holding `routes`.
    pub fn vault(token: &str, routes: impl IntoIterator<Item = (String, String)>) -> Self {
        KvPeerOptions {
            token_header: "x-vault-token",
            token: token.to_owned(),
            routes: routes.into_iter().collect(),
            stall: false,
            tls: None,
        }
    }

    /// A Consul accepting `token`, holding `routes`.
    pub fn consul(token: &str, routes: impl IntoIterator<Item = (String, String)>) -> Self {
        KvPeerOptions {
            token_header: "x-consul-token",
            ..KvPeerOptions::vault(token, routes)
        }
    }
}

/// Vault KV v2's answer for a secret holding `data` (a JSON object).
pub fn vault_v2(data: &serde_json::Value) -> String {
    serde_json::json!({"data": {"data": data, "metadata": {"version": 1}}}).to_string()
}

/// Vault KV v1's answer for a secret holding `data`.
pub fn vault_v1(data: &serde_json::Value) -> String {
    serde_json::json!({"data": data}).to_string()
}

/// Consul's answer for `key` holding `value`.
pub fn consul_value(key: &str, value: &str) -> String {
    let value = base64::engine::general_purpose::STANDARD.encode(value);
    serde_json::json!([{"Key": key, "Flags": 0, "Value": value}]).to_string()
}

/// The running peer; stops on drop.
#[derive(Debug)]
pub struct KvPeer {
    tls: bool,
    seen: Arc<Mutex<Vec<String>>>,
    server: ServerThread,
}

impl KvPeer {
    /// Starts the peer on a free port of 127.0.0.1.
    pub fn start(options: KvPeerOptions) -> KvPeer {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let tls = options.tls.is_some();
        let server_seen = Arc::clone(&seen);
        let server = ServerThread::start("kv-peer", move |listener| accept_loop(listener, options, server_seen));
        KvPeer { tls, seen, server }
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        self.server.addr().to_string()
    }

    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` (the test server certificate
    /// names `localhost`).
    pub fn url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.server.addr().port())
        } else {
            format!("http://{}", self.server.addr())
        }
    }

    /// The targets of the requests read so far (after the TLS handshake, if any).
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().expect("not poisoned").clone()
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, options: KvPeerOptions, seen: Arc<Mutex<Vec<String>>>) {
    let options = Arc::new(options);
    let acceptor = options.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (options, seen, acceptor) = (Arc::clone(&options), Arc::clone(&seen), acceptor.clone());
        tokio::spawn(async move {
            match acceptor {
                None => answer(stream, &options, &seen).await,
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        answer(stream, &options, &seen).await;
                    }
                }
            }
        });
    }
}

/// Reads one request head (at most 64 KiB) and answers it, then closes.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, options: &KvPeerOptions, seen: &Mutex<Vec<String>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let target = text.split(' ').nth(1).unwrap_or("").to_owned();
    seen.lock().expect("not poisoned").push(target.clone());
    if options.stall {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return;
    }
    let authorised = text.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case(options.token_header) && value.trim() == options.token
        })
    });
    let (status, body) = if !authorised {
        ("403 Forbidden", r#"{"errors":["permission denied"]}"#.to_owned())
    } else {
        match options.routes.get(&target) {
            Some(body) => ("200 OK", body.clone()),
            None => ("404 Not Found", r#"{"errors":[]}"#.to_owned()),
        }
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}
