//! An in-process HTTP/1.1 peer (plain or TLS) for the request builder's tests: it echoes
//! requests, redirects, and serves gzip bodies and a gzip bomb. No installable server
//! serves all of this on demand (nginx cannot echo a request's headers and body as JSON,
//! nor make a 100 MiB gzip bomb), so this peer speaks plain HTTP/1.1 (RFC 9112) and gzip
//! (RFC 1952) itself, on hyper and flate2.
//!
//! Paths:
//! - `/echo…` (any method, any suffix and query): `200` with JSON `{"method", "uri",
//!   "headers": {name: value, …} (lowercase names, repeated values joined with ", "),
//!   "body"}`;
//! - `/redirect/<status>?to=<percent-encoded URL>`: that status with `Location: <URL>`
//!   (and a short HTML body, as servers send);
//! - `/json`: `{"answer": 42}`;
//! - `/gzip`: gzip-encoded JSON `{"compressed": true, "padding": "…"}`, with
//!   `Content-Encoding: gzip` — whatever `Accept-Encoding` said, so a caller that asked
//!   for none can see the raw bytes;
//! - `/bomb`: 100 MiB of zeros as one gzip member (about 100 KiB on the wire),
//!   `Content-Encoding: gzip`.

use std::convert::Infallible;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::server_thread::ServerThread;

/// The size of `/bomb` once inflated.
pub const BOMB_INFLATED: usize = 100 * 1024 * 1024;

/// One request as the peer saw it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// Method.
    pub method: String,
    /// Request target as sent.
    pub uri: String,
    /// Every header (lowercase name, value).
    pub headers: Vec<(String, String)>,
}

impl SeenRequest {
    /// The first value of `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The peer; stops on drop.
#[derive(Debug)]
pub struct HttpPeer {
    scheme: &'static str,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    server: ServerThread,
}

impl HttpPeer {
    /// A plain `http://` peer.
    pub fn http() -> HttpPeer {
        HttpPeer::start(None)
    }

    /// An `https://` peer with `tls` (e.g. [`crate::pki::TestPki::server_config`]).
    pub fn https(tls: Arc<rustls::ServerConfig>) -> HttpPeer {
        HttpPeer::start(Some(tls))
    }

    fn start(tls: Option<Arc<rustls::ServerConfig>>) -> HttpPeer {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let server_seen = Arc::clone(&seen);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let server = ServerThread::start("http-peer", move |listener| accept_loop(listener, server_seen, tls));
        HttpPeer { scheme, seen, server }
    }

    /// `scheme://localhost:PORT` (the test certificates name `localhost`).
    pub fn url(&self) -> String {
        format!("{}://localhost:{}", self.scheme, self.server.addr().port())
    }

    /// `scheme://127.0.0.1:PORT`: the same peer under another host name (another origin).
    pub fn ip_url(&self) -> String {
        format!("{}://{}", self.scheme, self.server.addr())
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().expect("not poisoned").clone()
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let seen = Arc::clone(&seen);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                None => serve(stream, seen).await,
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serve(stream, seen).await;
                    }
                }
            }
        });
    }
}

async fn serve<S>(stream: S, seen: Arc<Mutex<Vec<SeenRequest>>>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let seen = Arc::clone(&seen);
        async move { Ok::<_, Infallible>(answer(request, &seen).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn answer(request: Request<Incoming>, seen: &Mutex<Vec<SeenRequest>>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    seen.lock().expect("not poisoned").push(SeenRequest {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: headers.clone(),
    });
    let path = parts.uri.path();
    if path.starts_with("/echo") {
        let mut map = serde_json::Map::new();
        for (name, value) in &headers {
            let joined = match map.get(name).and_then(|v| v.as_str()) {
                Some(before) => format!("{before}, {value}"),
                None => value.clone(),
            };
            map.insert(name.clone(), joined.into());
        }
        let json = serde_json::json!({
            "method": parts.method.as_str(),
            "uri": parts.uri.to_string(),
            "headers": map,
            "body": String::from_utf8_lossy(&body),
        });
        return json_response(json.to_string().into());
    }
    if let Some(status) = path.strip_prefix("/redirect/") {
        let to = parts
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .find_map(|pair| pair.strip_prefix("to="))
            .map(percent_decode)
            .unwrap_or_default();
        let status = status.parse::<u16>().ok().and_then(|s| StatusCode::from_u16(s).ok());
        let mut response = Response::new(Full::new(Bytes::from_static(b"<html>moved</html>")));
        *response.status_mut() = status.unwrap_or(StatusCode::FOUND);
        if let Ok(location) = HeaderValue::from_str(&to) {
            response.headers_mut().insert(http::header::LOCATION, location);
        }
        return response;
    }
    match path {
        "/json" => json_response(Bytes::from_static(br#"{"answer": 42}"#)),
        "/gzip" => {
            let json = serde_json::json!({"compressed": true, "padding": "a".repeat(4096)});
            gzip_response(gzip(json.to_string().as_bytes()).into())
        }
        "/bomb" => gzip_response(bomb()),
        _ => {
            let mut response = Response::new(Full::new(Bytes::from_static(b"not found")));
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
    }
}

fn json_response(body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn gzip_response(body: Bytes) -> Response<Full<Bytes>> {
    let mut response = json_response(body);
    response
        .headers_mut()
        .insert(http::header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    response
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("writes to a Vec");
    encoder.finish().expect("writes to a Vec")
}

/// 100 MiB of zeros as one gzip member, made once per test process.
fn bomb() -> Bytes {
    static BOMB: OnceLock<Bytes> = OnceLock::new();
    BOMB.get_or_init(|| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..BOMB_INFLATED / zeros.len() {
            encoder.write_all(&zeros).expect("writes to a Vec");
        }
        encoder.finish().expect("writes to a Vec").into()
    })
    .clone()
}

/// `%XX` decoded (the `to=` parameter); invalid escapes are kept as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(byte) = text.get(i + 1..i + 3).and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `url` percent-encoded for the `to=` parameter of `/redirect/…`.
pub fn redirect_to(url: &str) -> String {
    url.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What the gateway program of `crates/extsvc/examples/gateway_http.rs` runs against: an
/// https peer, a plain one (for the refused hop), and a real squid in between.
#[derive(Debug)]
pub struct GatewayPeers {
    /// The PKI whose CA the program trusts.
    pub pki: crate::pki::TestPki,
    /// The https peer.
    pub https: HttpPeer,
    /// The plain http peer.
    pub http: HttpPeer,
    /// squid, without credentials.
    pub squid: crate::squid::Squid,
}

impl GatewayPeers {
    /// Starts them all.
    pub fn start() -> GatewayPeers {
        let pki = crate::pki::TestPki::generate();
        let https = HttpPeer::https(pki.server_config(crate::pki::ServerTlsOptions::default()));
        GatewayPeers {
            pki,
            https,
            http: HttpPeer::http(),
            squid: crate::squid::Squid::start(crate::squid::SquidOptions::default()),
        }
    }

    /// The program's arguments: proxy URL, CA file, https base URL, http base URL.
    pub fn args(&self) -> [String; 4] {
        [
            self.squid.url(),
            self.pki.ca_cert_path.display().to_string(),
            self.https.url(),
            self.http.url(),
        ]
    }
}
