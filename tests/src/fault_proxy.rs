//! An in-process forward proxy on 127.0.0.1 with fault knobs. Nothing to install.
//!
//! It speaks just enough HTTP/1.1 by hand (so it can misbehave at byte level): absolute-form
//! requests (`GET http://host:port/path`) and `CONNECT host:port`. In [`FaultMode::Normal`] it
//! really forwards: CONNECT opens a tunnel; an absolute-form request goes to the target in
//! origin-form with `Connection: close` and without `Proxy-Authorization` /
//! `Proxy-Connection`, and the proxy connection closes after the response (one request per
//! proxy connection). The other modes are the faults; [`FaultProxy::set_mode`] switches the
//! mode at run time (it applies to requests read after the switch).
//!
//! The `Socks*` modes make it a SOCKS5 peer instead: it reads a SOCKS5 greeting rather than
//! an HTTP head, and misbehaves during the handshake, or relays the session to a real
//! SOCKS5 proxy ([`FaultMode::SocksRelay`]) while recording what the client asked for.
//!
//! It records every request head it read ([`FaultProxy::requests`]) and counts connections
//! ([`FaultProxy::stats`]). It runs on its own runtime thread and stops, closing every
//! connection, when dropped.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::server_thread::{ConnectionCounters, ServerThread};

/// Bytes the target may send through a CONNECT tunnel before [`FaultMode::ResetMidBody`] cuts
/// it; use a target response well above it (e.g. `?bytes=131072` on a [`crate::target`]).
pub const RESET_AFTER_TUNNEL_BYTES: usize = 16 * 1024;

/// Size of the header block [`FaultMode::HugeHeaders`] sends (about 2 MiB).
pub const HUGE_HEADERS_BYTES: usize = 2 * 1024 * 1024;

/// The longest request head the proxy reads; longer heads get a 431 and a close.
const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// How the proxy answers the next requests.
#[derive(Clone, PartialEq, Eq)]
pub enum FaultMode {
    /// A working proxy: CONNECT tunnels and absolute-form forwarding.
    Normal,
    /// Accepts and reads the request, then never answers (the connection stays open).
    AcceptAndHang,
    /// Answers bytes that are not HTTP, then closes.
    Garbage,
    /// Answers `200` followed by [`HUGE_HEADERS_BYTES`] of header lines.
    HugeHeaders,
    /// Answers a CONNECT with `200 Connection established`, then closes at once. Any other
    /// request is closed without an answer.
    CloseAfterConnect200,
    /// Forwards like [`FaultMode::Normal`] but cuts the target's response with a TCP RST:
    /// an absolute-form response after its headers and half its body; a CONNECT tunnel after
    /// [`RESET_AFTER_TUNNEL_BYTES`] bytes from the target.
    ResetMidBody,
    /// Sends its answer one byte per interval: the CONNECT `200` (then tunnels normally), or
    /// a canned `200` with body `ok` for an absolute-form request.
    Trickle(Duration),
    /// Answers every request with this status (e.g. 502, 503) and closes.
    Status(u16),
    /// Demands `Proxy-Authorization: Basic base64(user:password)`: without it (or with other
    /// credentials) answers `407` with `Proxy-Authenticate` and closes; with it, acts as
    /// [`FaultMode::Normal`].
    Require407 {
        /// Expected user.
        user: String,
        /// Expected password.
        password: String,
    },
    /// SOCKS5: relays each session to the real SOCKS5 proxy at this address, recording the
    /// connect request's target as a [`ProxyRequestRecord`] with method `SOCKS5` and target
    /// `name:port` (a name the client sent, `socks5h`) or `ip:port` (an address).
    SocksRelay(SocketAddr),
    /// SOCKS5: reads the greeting, answers bytes that are not SOCKS5, then closes.
    SocksGarbage,
    /// SOCKS5: reads the greeting and never answers (the connection stays open).
    SocksSilent,
    /// SOCKS5: accepts "no authentication", reads the connect request (recorded), then closes
    /// without a reply.
    SocksCloseMidHandshake,
    /// SOCKS5: accepts "no authentication" and answers the connect request (recorded) with
    /// this reply code and a zero address, then closes.
    SocksReply(u8),
}

impl fmt::Debug for FaultMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Normal => f.write_str("Normal"),
            Self::AcceptAndHang => f.write_str("AcceptAndHang"),
            Self::Garbage => f.write_str("Garbage"),
            Self::HugeHeaders => f.write_str("HugeHeaders"),
            Self::CloseAfterConnect200 => f.write_str("CloseAfterConnect200"),
            Self::ResetMidBody => f.write_str("ResetMidBody"),
            Self::Trickle(interval) => f.debug_tuple("Trickle").field(interval).finish(),
            Self::Status(code) => f.debug_tuple("Status").field(code).finish(),
            Self::Require407 { user, .. } => f
                .debug_struct("Require407")
                .field("user", user)
                .field("password", &"***")
                .finish(),
            Self::SocksRelay(upstream) => f.debug_tuple("SocksRelay").field(upstream).finish(),
            Self::SocksGarbage => f.write_str("SocksGarbage"),
            Self::SocksSilent => f.write_str("SocksSilent"),
            Self::SocksCloseMidHandshake => f.write_str("SocksCloseMidHandshake"),
            Self::SocksReply(code) => f.debug_tuple("SocksReply").field(code).finish(),
        }
    }
}

/// One request head the proxy read.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyRequestRecord {
    /// Method (`CONNECT`, `GET`, ...).
    pub method: String,
    /// Request target as sent: `host:port` for CONNECT, the absolute URL otherwise.
    pub target: String,
    /// The `Proxy-Authorization` header value, if the client sent one. It holds a
    /// credential: compare it, don't print it (Debug shows only whether it is present).
    pub proxy_authorization: Option<String>,
    /// Id of the proxy connection it arrived on (1 for the first accepted connection).
    pub connection_id: u64,
}

impl ProxyRequestRecord {
    /// Whether the client sent `Proxy-Authorization`.
    pub fn has_proxy_authorization(&self) -> bool {
        self.proxy_authorization.is_some()
    }
}

impl fmt::Debug for ProxyRequestRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyRequestRecord")
            .field("method", &self.method)
            .field("target", &self.target)
            .field("proxy_authorization", &self.proxy_authorization.as_ref().map(|_| "***"))
            .field("connection_id", &self.connection_id)
            .finish()
    }
}

/// Counters of a [`FaultProxy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultProxyStats {
    /// Connections accepted so far.
    pub accepted: u64,
    /// Connections open right now.
    pub open: u64,
    /// The most connections open at the same time.
    pub peak_open: u64,
    /// Request heads read so far.
    pub requests: u64,
}

#[derive(Debug)]
struct ProxyState {
    mode: Mutex<FaultMode>,
    connections: Arc<ConnectionCounters>,
    requests: AtomicU64,
    records: Mutex<Vec<ProxyRequestRecord>>,
}

/// The in-process proxy; stops on drop.
#[derive(Debug)]
pub struct FaultProxy {
    state: Arc<ProxyState>,
    addr: SocketAddr,
    server: Option<ServerThread>,
}

impl FaultProxy {
    /// Starts the proxy on a free port of 127.0.0.1 in `mode`.
    pub fn start(mode: FaultMode) -> Self {
        let state = Arc::new(ProxyState {
            mode: Mutex::new(mode),
            connections: Arc::default(),
            requests: AtomicU64::new(0),
            records: Mutex::new(Vec::new()),
        });
        let server_state = Arc::clone(&state);
        let server = ServerThread::start("fault-proxy", move |listener| accept_loop(listener, server_state));
        Self {
            state,
            addr: server.addr(),
            server: Some(server),
        }
    }

    /// Switches the mode for requests read from now on.
    pub fn set_mode(&self, mode: FaultMode) {
        *self.state.mode.lock().expect("mode lock is not poisoned") = mode;
    }

    /// The current mode.
    pub fn mode(&self) -> FaultMode {
        self.state.mode.lock().expect("mode lock is not poisoned").clone()
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `http://user:password@127.0.0.1:PORT` (no percent-encoding: pass plain values).
    pub fn url_with_credentials(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.addr())
    }

    /// Stops listening and closes every connection (clients then get "connection refused");
    /// the counters and records stay.
    pub fn stop(&mut self) {
        self.server = None;
    }

    /// Listens again on the SAME port (stopping first if running), with the current mode.
    /// Retries for a few seconds while the port is still busy.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match std::net::TcpListener::bind(self.addr) {
                Ok(listener) => break listener,
                Err(e) if std::time::Instant::now() >= deadline => {
                    panic!("fault proxy cannot listen on {} again: {e}", self.addr)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let state = Arc::clone(&self.state);
        self.server = Some(ServerThread::start_on("fault-proxy", listener, move |listener| {
            accept_loop(listener, state)
        }));
    }

    /// Whether the proxy is listening (not [`FaultProxy::stop`]ped).
    pub fn is_running(&self) -> bool {
        self.server.is_some()
    }

    /// Every request head read so far, in arrival order.
    pub fn requests(&self) -> Vec<ProxyRequestRecord> {
        self.state.records.lock().expect("records lock is not poisoned").clone()
    }

    /// Current counters.
    pub fn stats(&self) -> FaultProxyStats {
        let (accepted, open, peak_open) = self.state.connections.snapshot();
        FaultProxyStats {
            accepted,
            open,
            peak_open,
            requests: self.state.requests.load(SeqCst),
        }
    }
}

/// The value of a `Proxy-Authorization: Basic` header for `user:password`.
pub fn basic_proxy_authorization(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

async fn accept_loop(listener: tokio::net::TcpListener, state: Arc<ProxyState>) {
    loop {
        let Ok((stream, _peer)) = listener.accept().await else {
            continue;
        };
        let open = state.connections.accept();
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            handle_connection(stream, open.id, &state).await;
            drop(open);
        });
    }
}

/// A parsed request (or response) head plus whatever bytes followed it in the same reads.
struct Head {
    start_line: String,
    headers: Vec<(String, String)>,
    rest: Vec<u8>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads up to the blank line ending a head. `None` on EOF, error or an oversize head.
async fn read_head(stream: &mut TcpStream, limit: usize) -> Option<Head> {
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find_blank_line(&buffer) {
            let text = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let mut lines = text.split("\r\n");
            let start_line = lines.next().unwrap_or("").to_owned();
            let headers = lines
                .filter_map(|line| line.split_once(':'))
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .collect();
            return Some(Head {
                start_line,
                headers,
                rest: buffer[end + 4..].to_vec(),
            });
        }
        if buffer.len() > limit {
            return None;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

fn find_blank_line(buffer: &[u8]) -> Option<usize> {
    buffer.windows(4).position(|w| w == b"\r\n\r\n")
}

async fn handle_connection(mut client: TcpStream, connection_id: u64, state: &ProxyState) {
    let mode = state.mode.lock().expect("mode lock is not poisoned").clone();
    if mode.is_socks() {
        handle_socks(client, connection_id, state, mode).await;
        return;
    }
    let Some(head) = read_head(&mut client, MAX_REQUEST_HEAD).await else {
        let _ = client
            .write_all(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await;
        return;
    };
    let mut parts = head.start_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    state.requests.fetch_add(1, SeqCst);
    state
        .records
        .lock()
        .expect("records lock is not poisoned")
        .push(ProxyRequestRecord {
            method: method.clone(),
            target: target.clone(),
            proxy_authorization: head.header("proxy-authorization").map(str::to_owned),
            connection_id,
        });
    let mode = state.mode.lock().expect("mode lock is not poisoned").clone();
    let is_connect = method.eq_ignore_ascii_case("CONNECT");

    match mode {
        // Switched to a SOCKS mode after this connection's head was read: close it.
        FaultMode::SocksRelay(_)
        | FaultMode::SocksGarbage
        | FaultMode::SocksSilent
        | FaultMode::SocksCloseMidHandshake
        | FaultMode::SocksReply(_) => {
            let _ = client.shutdown().await;
        }
        FaultMode::Normal => forward(client, &method, &target, &head, false).await,
        FaultMode::ResetMidBody => forward(client, &method, &target, &head, true).await,
        FaultMode::Require407 { user, password } => {
            let expected = basic_proxy_authorization(&user, &password);
            let given = head.header("proxy-authorization").unwrap_or("");
            if credentials_match(given, &expected) {
                forward(client, &method, &target, &head, false).await;
            } else {
                let _ = client
                    .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"fault-proxy\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
                let _ = client.shutdown().await;
            }
        }
        FaultMode::AcceptAndHang => {
            // Hold the connection open until the proxy is dropped.
            std::future::pending::<()>().await;
        }
        FaultMode::Garbage => {
            let _ = client
                .write_all(b"\x00\x01\x02GARBAGE: this is not an HTTP response \xff\xfe\r\n\r\n")
                .await;
            let _ = client.shutdown().await;
        }
        FaultMode::HugeHeaders => {
            let status = if is_connect {
                "HTTP/1.1 200 Connection established\r\n"
            } else {
                "HTTP/1.1 200 OK\r\n"
            };
            let mut response = Vec::with_capacity(HUGE_HEADERS_BYTES + 1024);
            response.extend_from_slice(status.as_bytes());
            let filler = "a".repeat(1000);
            let mut n = 0;
            while response.len() < HUGE_HEADERS_BYTES {
                response.extend_from_slice(format!("X-Filler-{n}: {filler}\r\n").as_bytes());
                n += 1;
            }
            response.extend_from_slice(b"Content-Length: 0\r\n\r\n");
            // The client is expected to give up part-way; write errors are the point.
            let _ = client.write_all(&response).await;
            let _ = client.shutdown().await;
        }
        FaultMode::CloseAfterConnect200 => {
            if is_connect {
                let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
            }
            let _ = client.shutdown().await;
        }
        FaultMode::Trickle(interval) => {
            let mut upstream = None;
            let answer: &[u8] = if is_connect {
                match TcpStream::connect(&target).await {
                    Ok(stream) => upstream = Some(stream),
                    Err(_) => {
                        let _ = client.write_all(BAD_GATEWAY).await;
                        return;
                    }
                }
                b"HTTP/1.1 200 Connection established\r\n\r\n"
            } else {
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            };
            for byte in answer {
                if client.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(interval).await;
            }
            match upstream {
                Some(mut upstream) => {
                    if upstream.write_all(&head.rest).await.is_ok() {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                }
                None => {
                    let _ = client.shutdown().await;
                }
            }
        }
        FaultMode::Status(code) => {
            let reason = http::StatusCode::from_u16(code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Status");
            let response = format!("HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = client.write_all(response.as_bytes()).await;
            let _ = client.shutdown().await;
        }
    }
}

const BAD_GATEWAY: &[u8] = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

fn credentials_match(given: &str, expected: &str) -> bool {
    // The scheme is case-insensitive; the base64 token is not.
    match (given.split_once(' '), expected.split_once(' ')) {
        (Some((gs, gt)), Some((es, et))) => gs.eq_ignore_ascii_case(es) && gt.trim() == et,
        _ => false,
    }
}

/// Forwards one request (CONNECT tunnel or absolute-form), optionally cutting the response.
async fn forward(mut client: TcpStream, method: &str, target: &str, head: &Head, reset: bool) {
    if method.eq_ignore_ascii_case("CONNECT") {
        let Ok(mut upstream) = TcpStream::connect(target).await else {
            let _ = client.write_all(BAD_GATEWAY).await;
            return;
        };
        if client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .is_err()
            || upstream.write_all(&head.rest).await.is_err()
        {
            return;
        }
        if reset {
            tunnel_then_reset(client, upstream).await;
        } else {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
        return;
    }

    let Ok(uri) = target.parse::<http::Uri>() else {
        let _ = client
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
        return;
    };
    let (Some(host), Some("http")) = (uri.host(), uri.scheme_str()) else {
        let _ = client
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
        return;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(80);
    let Ok(mut upstream) = TcpStream::connect((host, port)).await else {
        let _ = client.write_all(BAD_GATEWAY).await;
        return;
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut forwarded = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in &head.headers {
        let skip = ["proxy-authorization", "proxy-connection", "connection", "keep-alive"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h));
        if !skip {
            forwarded.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    if upstream.write_all(forwarded.as_bytes()).await.is_err() || upstream.write_all(&head.rest).await.is_err() {
        return;
    }
    if !reset {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        return;
    }
    // Cut the response after its head and half its body.
    let Some(response) = read_head(&mut upstream, MAX_REQUEST_HEAD * 16).await else {
        return;
    };
    let length: usize = response
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = response.rest;
    let half = length / 2;
    let mut chunk = [0u8; 4096];
    while body.len() < half {
        match upstream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(half);
    let mut out = response.start_line.into_bytes();
    out.extend_from_slice(b"\r\n");
    for (name, value) in &response.headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    let _ = client.write_all(&out).await;
    let _ = client.flush().await;
    reset_connection(client);
}

/// Relays both ways until the target sent [`RESET_AFTER_TUNNEL_BYTES`], then resets.
async fn tunnel_then_reset(mut client: TcpStream, mut upstream: TcpStream) {
    let mut sent = 0usize;
    let mut from_client = [0u8; 4096];
    let mut from_upstream = [0u8; 4096];
    loop {
        tokio::select! {
            read = client.read(&mut from_client) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if upstream.write_all(&from_client[..n]).await.is_err() {
                        break;
                    }
                }
            },
            read = upstream.read(&mut from_upstream) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let n = n.min(RESET_AFTER_TUNNEL_BYTES - sent);
                    if client.write_all(&from_upstream[..n]).await.is_err() {
                        break;
                    }
                    sent += n;
                    if sent >= RESET_AFTER_TUNNEL_BYTES {
                        break;
                    }
                }
            },
        }
    }
    reset_connection(client);
}

/// Closes with a TCP RST instead of a FIN.
fn reset_connection(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

impl FaultMode {
    fn is_socks(&self) -> bool {
        matches!(
            self,
            Self::SocksRelay(_)
                | Self::SocksGarbage
                | Self::SocksSilent
                | Self::SocksCloseMidHandshake
                | Self::SocksReply(_)
        )
    }
}

impl FaultProxy {
    /// `SCHEME://127.0.0.1:PORT` (for the `Socks*` modes: `socks5` or `socks5h`).
    pub fn socks_url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr())
    }
}

/// Reads a SOCKS5 greeting (version, methods); `None` on EOF or when it is not SOCKS5.
async fn read_socks_greeting(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await.ok()?;
    let mut methods = vec![0u8; usize::from(head[1])];
    stream.read_exact(&mut methods).await.ok()?;
    (head[0] == 5).then(|| [head.to_vec(), methods].concat())
}

/// Reads an RFC 1929 username/password request whole.
async fn read_socks_auth(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut bytes = vec![0u8; 2];
    stream.read_exact(&mut bytes).await.ok()?;
    let mut user_and_plen = vec![0u8; usize::from(bytes[1]) + 1];
    stream.read_exact(&mut user_and_plen).await.ok()?;
    let plen = usize::from(*user_and_plen.last()?);
    bytes.extend_from_slice(&user_and_plen);
    let mut password = vec![0u8; plen];
    stream.read_exact(&mut password).await.ok()?;
    bytes.extend_from_slice(&password);
    Some(bytes)
}

/// Reads a SOCKS5 request whole; returns its bytes and its target as `host:port`.
async fn read_socks_request(stream: &mut TcpStream) -> Option<(Vec<u8>, String)> {
    let mut bytes = vec![0u8; 4];
    stream.read_exact(&mut bytes).await.ok()?;
    let address_len = match bytes[3] {
        1 => 4,
        4 => 16,
        3 => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len).await.ok()?;
            bytes.push(len[0]);
            usize::from(len[0])
        }
        _ => return None,
    };
    let start = bytes.len();
    bytes.resize(start + address_len + 2, 0);
    stream.read_exact(&mut bytes[start..]).await.ok()?;
    let address = &bytes[start..start + address_len];
    let port = u16::from_be_bytes([bytes[start + address_len], bytes[start + address_len + 1]]);
    let host = match bytes[3] {
        1 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(address).ok()?).to_string(),
        4 => format!("[{}]", std::net::Ipv6Addr::from(<[u8; 16]>::try_from(address).ok()?)),
        _ => String::from_utf8_lossy(address).into_owned(),
    };
    Some((bytes, format!("{host}:{port}")))
}

fn record_socks_request(state: &ProxyState, connection_id: u64, target: String) {
    state.requests.fetch_add(1, SeqCst);
    state
        .records
        .lock()
        .expect("records lock is not poisoned")
        .push(ProxyRequestRecord {
            method: "SOCKS5".to_owned(),
            target,
            proxy_authorization: None,
            connection_id,
        });
}

async fn handle_socks(mut client: TcpStream, connection_id: u64, state: &ProxyState, mode: FaultMode) {
    let Some(greeting) = read_socks_greeting(&mut client).await else {
        return;
    };
    match mode {
        FaultMode::SocksGarbage => {
            let _ = client
                .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                .await;
            let _ = client.shutdown().await;
        }
        FaultMode::SocksSilent => std::future::pending::<()>().await,
        FaultMode::SocksCloseMidHandshake | FaultMode::SocksReply(_) => {
            if client.write_all(&[5, 0]).await.is_err() {
                return;
            }
            let Some((_, target)) = read_socks_request(&mut client).await else {
                return;
            };
            record_socks_request(state, connection_id, target);
            if let FaultMode::SocksReply(code) = mode {
                let _ = client.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).await;
            }
            let _ = client.shutdown().await;
        }
        FaultMode::SocksRelay(upstream) => {
            let Ok(mut upstream) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = upstream.set_nodelay(true);
            let mut method = [0u8; 2];
            if upstream.write_all(&greeting).await.is_err()
                || upstream.read_exact(&mut method).await.is_err()
                || client.write_all(&method).await.is_err()
            {
                return;
            }
            if method == [5, 2] {
                let mut status = [0u8; 2];
                let Some(auth) = read_socks_auth(&mut client).await else {
                    return;
                };
                if upstream.write_all(&auth).await.is_err()
                    || upstream.read_exact(&mut status).await.is_err()
                    || client.write_all(&status).await.is_err()
                {
                    return;
                }
            }
            let Some((request, target)) = read_socks_request(&mut client).await else {
                return;
            };
            record_socks_request(state, connection_id, target);
            if upstream.write_all(&request).await.is_ok() {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            }
        }
        _ => unreachable!("handle_socks runs only in SOCKS modes"),
    }
}
