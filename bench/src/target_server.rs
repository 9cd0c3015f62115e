//! The benchmark's target: a lean HTTP/1.1 keep-alive server (plain or behind rustls)
//! answering every request with the same small body, so that the server costs little
//! and the same for every client.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The body of every response (read fully by every client).
pub(crate) const BODY: &[u8] = &[b'x'; 128];

/// A running target server; it serves until the process ends.
pub(crate) struct TargetServer {
    /// Where it listens (127.0.0.1, an ephemeral port).
    pub(crate) addr: SocketAddr,
    accepted: Arc<AtomicU64>,
}

impl TargetServer {
    /// Starts a server on the current tokio runtime: plain HTTP, or TLS with `tls`.
    pub(crate) async fn start(tls: Option<Arc<ServerConfig>>) -> anyhow::Result<TargetServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accepted = Arc::new(AtomicU64::new(0));
        let counter = accepted.clone();
        let acceptor = tls.map(TlsAcceptor::from);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        None => serve(TokioIo::new(stream)).await,
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve(TokioIo::new(stream)).await;
                            }
                        }
                    }
                });
            }
        });
        Ok(TargetServer { addr, accepted })
    }

    /// Connections accepted so far.
    pub(crate) fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

async fn serve<I>(io: I)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(|_req: Request<Incoming>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(BODY))))
    });
    // Keep-alive is hyper's default; a client closing its connection ends this.
    let _ = http1::Builder::new().serve_connection(io, service).await;
}
