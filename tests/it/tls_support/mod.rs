//! Support for the `tls_*` tests: an in-process rustls server that records each handshake,
//! a client connect/ping, and building a `ResolvedService` from mtls settings.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "shared by several test modules; each uses a part"
)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use extsvc_config::{EnvSnapshot, ExternalServicesConfig, MtlsSettings, ServiceKind, Source, Sourced};
use extsvc_resolve::ResolvedService;
use extsvc_tls::RotatingConfig;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, ServerConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// What the server saw of one handshake.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The client's end-entity certificate, if it presented one.
    pub peer_leaf: Option<CertificateDer<'static>>,
    /// The negotiated version.
    pub version: Option<ProtocolVersion>,
    /// Why the handshake failed, if it did.
    pub error: Option<String>,
    /// The session was resumed (no full handshake).
    pub resumed: bool,
}

/// A TLS "pong" server on 127.0.0.1: answers each `ping\n` line with `pong\n`.
pub struct TlsServer {
    pub addr: SocketAddr,
    handshakes: Arc<Mutex<Vec<Handshake>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsServer {
    pub async fn start(config: Arc<ServerConfig>) -> TlsServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let recorded = handshakes.clone();
        let acceptor = TlsAcceptor::from(config);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    match acceptor.accept(tcp).await {
                        Err(e) => recorded.lock().unwrap().push(Handshake {
                            peer_leaf: None,
                            version: None,
                            error: Some(e.to_string()),
                            resumed: false,
                        }),
                        Ok(stream) => {
                            let (_, connection) = stream.get_ref();
                            recorded.lock().unwrap().push(Handshake {
                                peer_leaf: connection.peer_certificates().and_then(|c| c.first().cloned()),
                                version: connection.protocol_version(),
                                error: None,
                                resumed: connection.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
                            });
                            let mut stream = BufReader::new(stream);
                            let mut line = String::new();
                            loop {
                                line.clear();
                                match stream.read_line(&mut line).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(_) => {
                                        if stream.get_mut().write_all(b"pong\n").await.is_err() {
                                            return;
                                        }
                                    }
                                }
                            }
                        }
                    }
                });
            }
        });
        TlsServer { addr, handshakes, task }
    }

    /// Every handshake so far.
    pub fn handshakes(&self) -> Vec<Handshake> {
        self.handshakes.lock().unwrap().clone()
    }

    /// Waits (up to 5 s) for the `n`-th handshake (1-based) to be recorded and returns it.
    pub async fn handshake(&self, n: usize) -> Handshake {
        for _ in 0..500 {
            if let Some(h) = self.handshakes.lock().unwrap().get(n - 1) {
                return h.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no handshake #{n} recorded; have {:?}", self.handshakes());
    }
}

/// TLS-connects to `addr` as `localhost` with the current generation of `config`, as the
/// client's connectors do for each new connection.
pub async fn connect(config: &RotatingConfig, addr: SocketAddr) -> std::io::Result<TlsStream<TcpStream>> {
    connect_with(config.current(), addr).await
}

/// TLS-connects to `addr` as `localhost` with `config`.
pub async fn connect_with(config: Arc<ClientConfig>, addr: SocketAddr) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// Sends `ping\n`, expects `pong\n`. Errors when the server rejected the handshake.
pub async fn ping(stream: &mut TlsStream<TcpStream>) -> std::io::Result<()> {
    stream.write_all(b"ping\n").await?;
    stream.flush().await?;
    let mut line = Vec::new();
    let mut reader = BufReader::new(&mut *stream);
    let n = tokio::time::timeout(Duration::from_secs(5), reader.read_until(b'\n', &mut line))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no pong"))??;
    if n == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
    }
    assert_eq!(line, b"pong\n");
    Ok(())
}

/// Connects and pings once; the negotiated version on success.
pub async fn connect_and_ping(config: &RotatingConfig, addr: SocketAddr) -> std::io::Result<ProtocolVersion> {
    let mut stream = connect(config, addr).await?;
    ping(&mut stream).await?;
    Ok(stream.get_ref().1.protocol_version().unwrap())
}

/// A value set in the config file at `external_services.<kind>.mtls.<field>`.
pub fn file_value<T>(kind: ServiceKind, field: &str, value: T) -> Option<Sourced<T>> {
    Some(Sourced::new(
        value,
        Source::File(format!("external_services.{kind}.mtls.{field}")),
    ))
}

/// The resolved `kind` service after `mtls.enabled: true` and `settings`.
pub fn resolved(kind: ServiceKind, settings: impl FnOnce(&mut MtlsSettings)) -> ResolvedService {
    let mut config = ExternalServicesConfig::default();
    let mtls = &mut config.service_mut(kind).mtls;
    mtls.enabled = file_value(kind, "enabled", true);
    settings(mtls);
    extsvc_resolve::resolve(&config, &EnvSnapshot::empty())
        .service(kind)
        .clone()
}

/// The resolution of a whole config.
pub fn resolution(config: &ExternalServicesConfig) -> extsvc_resolve::Resolution {
    extsvc_resolve::resolve(config, &EnvSnapshot::empty())
}
