//! A minimal in-process `CONNECT` proxy: read the request head, connect to the target,
//! answer `200`, then copy bytes both ways. No authentication, no plain forwarding.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The longest request head accepted.
const MAX_HEAD: usize = 8 * 1024;

/// A running proxy; it serves until the process ends.
pub(crate) struct ConnectProxy {
    /// Where it listens (127.0.0.1, an ephemeral port).
    pub(crate) addr: SocketAddr,
    tunnels: Arc<AtomicU64>,
}

impl ConnectProxy {
    /// Starts the proxy on the current tokio runtime.
    pub(crate) async fn start() -> anyhow::Result<ConnectProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let tunnels = Arc::new(AtomicU64::new(0));
        let counter = tunnels.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    if tunnel(stream, &counter).await.is_err() {
                        // The client sees the connection close.
                    }
                });
            }
        });
        Ok(ConnectProxy { addr, tunnels })
    }

    /// Tunnels opened so far.
    pub(crate) fn tunnels(&self) -> u64 {
        self.tunnels.load(Ordering::Relaxed)
    }
}

async fn tunnel(mut client: TcpStream, counter: &AtomicU64) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let end = loop {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if head.len() > MAX_HEAD {
            client
                .write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n")
                .await?;
            return Ok(());
        }
    };
    let authority = std::str::from_utf8(&head[..end])
        .ok()
        .and_then(|text| text.lines().next())
        .and_then(|line| line.strip_prefix("CONNECT "))
        .and_then(|rest| rest.split(' ').next())
        .map(str::to_owned);
    let Some(authority) = authority else {
        client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    let Ok(mut target) = TcpStream::connect(authority.as_str()).await else {
        client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    target.set_nodelay(true)?;
    counter.fetch_add(1, Ordering::Relaxed);
    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await?;
    if end < head.len() {
        target.write_all(&head[end..]).await?;
    }
    tokio::io::copy_bidirectional(&mut client, &mut target).await?;
    Ok(())
}
