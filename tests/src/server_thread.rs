//! A tokio runtime on its own thread for the in-process servers ([`crate::target`],
//! [`crate::fault_proxy`]).
//!
//! The servers keep serving whatever the test's own runtime does (a `current_thread` test
//! runtime that blocks on a launcher, a plain `#[test]` without any runtime). Dropping the
//! [`ServerThread`] stops the runtime, which drops every task and so closes every socket.

use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

/// Connection bookkeeping shared by the in-process servers: accepted, open, peak open.
#[derive(Debug, Default)]
pub(crate) struct ConnectionCounters {
    accepted: std::sync::atomic::AtomicU64,
    open: std::sync::atomic::AtomicU64,
    peak_open: std::sync::atomic::AtomicU64,
}

impl ConnectionCounters {
    /// Counts a newly accepted connection; the returned guard counts it closed when dropped.
    /// The guard also carries the connection's id (1 for the first accepted connection).
    pub(crate) fn accept(self: &std::sync::Arc<Self>) -> OpenConnection {
        use std::sync::atomic::Ordering::SeqCst;
        let id = self.accepted.fetch_add(1, SeqCst) + 1;
        let open = self.open.fetch_add(1, SeqCst) + 1;
        self.peak_open.fetch_max(open, SeqCst);
        OpenConnection {
            id,
            counters: std::sync::Arc::clone(self),
        }
    }

    /// (accepted, open, peak open).
    pub(crate) fn snapshot(&self) -> (u64, u64, u64) {
        use std::sync::atomic::Ordering::SeqCst;
        (
            self.accepted.load(SeqCst),
            self.open.load(SeqCst),
            self.peak_open.load(SeqCst),
        )
    }
}

/// One open connection; dropping it counts the connection closed.
#[derive(Debug)]
pub(crate) struct OpenConnection {
    /// 1-based id in accept order.
    pub(crate) id: u64,
    counters: std::sync::Arc<ConnectionCounters>,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.counters.open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A listener on 127.0.0.1 served by a future on a dedicated runtime thread.
#[derive(Debug)]
pub(crate) struct ServerThread {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Binds 127.0.0.1 on a free port and runs `serve(listener)` on a new thread until drop.
    pub(crate) fn start<F, Fut>(name: &str, serve: F) -> Self
    where
        F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener =
            StdTcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{name}: cannot bind 127.0.0.1:0: {e}"));
        Self::start_on(name, listener, serve)
    }

    /// Runs `serve(listener)` for an already bound listener on a new thread until drop.
    pub(crate) fn start_on<F, Fut>(name: &str, listener: StdTcpListener, serve: F) -> Self
    where
        F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{name}: no local address: {e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("{name}: cannot make the listener non-blocking: {e}"));
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let thread_name = format!("{name}-{}", addr.port());
        let thread = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a current-thread runtime builds");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("a non-blocking std listener converts");
                    tokio::spawn(serve(listener));
                    // Either a shutdown message or the owner being dropped ends the runtime.
                    let _ = shutdown_rx.await;
                });
                // Dropping the runtime here drops every task and closes their sockets.
                drop(runtime);
            })
            .unwrap_or_else(|e| panic!("{name}: cannot spawn its thread: {e}"));
        Self {
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The listening address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
