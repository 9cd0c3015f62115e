//! [`TcpConnector`]: DNS and TCP, the innermost connector.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use tokio::net::TcpStream;

use super::future::Connecting;
use crate::error::{Error, ErrorKind, Phase};
use crate::host::{port_of, unbracketed, HostPort, RedactedUri};
use crate::phase;
use crate::trace::{self, TraceEvent};

/// Opens a TCP connection to a URI's host and port (the scheme's default port when
/// none is given), with `TCP_NODELAY` and TCP keepalive (15 s idle, 15 s between
/// probes: Go's default, so Tyk's). Host names are resolved with the system resolver
/// (tokio's, off the runtime's workers); IP literals (IPv6 in brackets) are used as they
/// are. A name's addresses are raced as RFC 8305 says (Happy Eyeballs): IPv6 and IPv4
/// interleaved, IPv6 first; the next attempt starts 250 ms after the previous one, or at
/// once when it fails; the first to connect wins and the others are closed. All of it
/// runs inside the caller's one deadline, so a black-holed address costs 250 ms, not the
/// budget.
///
/// Errors are [`ErrorKind::Connect`] in [`Phase::Dns`] or [`Phase::Connect`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConnector {
    _private: (),
}

impl TcpConnector {
    /// A connector.
    pub fn new() -> TcpConnector {
        TcpConnector { _private: () }
    }
}

impl tower::Service<Uri> for TcpConnector {
    type Response = TcpStream;
    type Error = Error;
    type Future = Connecting<TcpStream>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Connecting<TcpStream> {
        Connecting::new(async move { connect_uri(&dst).await })
    }
}

async fn connect_uri(dst: &Uri) -> Result<TcpStream, Error> {
    let host = dst.host().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidRequest,
            format!("no host in URI \"{}\"", RedactedUri(dst)),
        )
    })?;
    let port = port_of(dst).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidRequest,
            format!("no port in URI \"{}\"", RedactedUri(dst)),
        )
    })?;
    connect(unbracketed(host), port).await
}

/// Resolves `host` (unbracketed) and connects to the first address that answers, racing
/// them (see [`TcpConnector`]).
pub(crate) async fn connect(host: &str, port: u16) -> Result<TcpStream, Error> {
    phase::enter(Phase::Dns);
    let addrs = tokio::net::lookup_host((host, port)).await.map_err(|e| {
        Error::new(ErrorKind::Connect, format!("cannot resolve {host}"))
            .with_phase(Phase::Dns)
            .with_source(e)
    })?;
    let addrs: Vec<SocketAddr> = addrs.collect();
    trace::note(|| TraceEvent::Dns {
        host: host.to_owned(),
        addresses: addrs.clone(),
    });
    phase::enter(Phase::Connect);
    let cause = match race(addrs).await {
        Ok(stream) => {
            let _ = stream.set_nodelay(true);
            let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive());
            if let Ok(address) = stream.peer_addr() {
                trace::note(|| TraceEvent::TcpConnected { address });
            }
            return Ok(stream);
        }
        Err(cause) => cause,
    };
    let what = match cause.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused by",
        io::ErrorKind::ConnectionReset => "connection reset by",
        io::ErrorKind::TimedOut => "connection timed out to",
        _ => "cannot connect to",
    };
    Err(
        Error::new(ErrorKind::Connect, format!("{what} {}", HostPort(host, port)))
            .with_phase(Phase::Connect)
            .with_source(cause),
    )
}

/// RFC 8305's "Connection Attempt Delay": how long an attempt runs alone before the next
/// address is tried beside it.
const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// TCP keepalive as Go's `net.Dialer` sets it by default: probes after 15 s idle, then
/// every 15 s.
fn keepalive() -> socket2::TcpKeepalive {
    socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(15))
        .with_interval(Duration::from_secs(15))
}

/// The order RFC 8305 (section 4) tries addresses in: the families interleaved, IPv6
/// first, each family in the resolver's order.
fn interleaved(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let (v6, v4): (Vec<SocketAddr>, Vec<SocketAddr>) = addrs.into_iter().partition(SocketAddr::is_ipv6);
    let mut v6 = v6.into_iter();
    let mut v4 = v4.into_iter();
    let mut ordered = Vec::with_capacity(v6.len() + v4.len());
    loop {
        match (v6.next(), v4.next()) {
            (None, None) => return ordered,
            (a, b) => ordered.extend(a.into_iter().chain(b)),
        }
    }
}

type Attempt = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;

/// Happy Eyeballs (RFC 8305) over `addrs`: attempts start [`ATTEMPT_DELAY`] apart in
/// [`interleaved`] order, or at once when one fails (RFC 8305 section 5); the first
/// connection wins, and the attempts still running are dropped with this future, which
/// closes their sockets. No timer of its own: the caller's deadline bounds the race. The
/// last error when every address failed.
async fn race(addrs: Vec<SocketAddr>) -> io::Result<TcpStream> {
    let mut next = interleaved(addrs).into_iter();
    let mut running: Vec<Attempt> = Vec::new();
    let mut last_error: Option<io::Error> = None;
    let mut delay = Box::pin(tokio::time::sleep(ATTEMPT_DELAY));
    std::future::poll_fn(move |cx| loop {
        let mut failed = false;
        let mut i = 0;
        while i < running.len() {
            match running[i].as_mut().poll(cx) {
                Poll::Ready(Ok(stream)) => return Poll::Ready(Ok(stream)),
                Poll::Ready(Err(e)) => {
                    drop(running.swap_remove(i));
                    last_error = Some(e);
                    failed = true;
                }
                Poll::Pending => i += 1,
            }
        }
        if failed || running.is_empty() || delay.as_mut().poll(cx).is_ready() {
            if let Some(addr) = next.next() {
                running.push(Box::pin(TcpStream::connect(addr)));
                delay.as_mut().reset(tokio::time::Instant::now() + ATTEMPT_DELAY);
                continue;
            }
        }
        if running.is_empty() {
            return Poll::Ready(Err(last_error
                .take()
                .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no addresses"))));
        }
        return Poll::Pending;
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    /// A listener on `addr` whose accept queue is full: the kernel drops further SYNs, so
    /// a connection attempt to it hangs as to a black-holed address (no iptables here).
    /// Returns it and the connection that fills the queue (both must stay alive).
    fn black_hole(addr: SocketAddr) -> (tokio::net::TcpListener, std::net::TcpStream) {
        let socket = if addr.is_ipv6() {
            tokio::net::TcpSocket::new_v6()
        } else {
            tokio::net::TcpSocket::new_v4()
        }
        .unwrap();
        socket.bind(addr).unwrap();
        let listener = socket.listen(0).unwrap();
        let filler = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (listener, filler)
    }

    #[test]
    fn addresses_are_interleaved_ipv6_first() {
        let a: Vec<SocketAddr> = ["127.0.0.1:1", "127.0.0.2:1", "[::1]:1", "127.0.0.3:1", "[::2]:1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let order: Vec<String> = interleaved(a).iter().map(ToString::to_string).collect();
        assert_eq!(
            order,
            ["[::1]:1", "127.0.0.1:1", "[::2]:1", "127.0.0.2:1", "127.0.0.3:1"]
        );
    }

    /// A name whose first address (IPv6, so tried first) black-holes and whose second
    /// answers: connected to the second one attempt delay later, far inside the deadline.
    /// Tried one after another, the first attempt would hang until the deadline.
    #[tokio::test]
    async fn a_black_holed_first_address_costs_one_attempt_delay_not_the_deadline() {
        let (hole, _filler) = black_hole("[::1]:0".parse().unwrap());
        let port = hole.local_addr().unwrap().port();
        let answering = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        // In the resolver's order: the black hole first.
        let addrs = vec![hole.local_addr().unwrap(), SocketAddr::from(([127, 0, 0, 1], port))];
        let started = std::time::Instant::now();
        let stream = tokio::time::timeout(Duration::from_secs(5), race(addrs))
            .await
            .expect("the black-holed address ate the whole budget")
            .unwrap();
        let took = started.elapsed();
        eprintln!("connected to the second address after {took:?}");
        assert_eq!(stream.peer_addr().unwrap(), answering.local_addr().unwrap());
        assert!(
            took >= ATTEMPT_DELAY - Duration::from_millis(20) && took < Duration::from_secs(2),
            "{took:?}"
        );
    }

    /// Both answer: the first (IPv6) wins at once, and the second is never tried.
    #[tokio::test]
    async fn the_first_address_to_answer_wins_and_the_next_is_not_tried() {
        let first = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
        let port = first.local_addr().unwrap().port();
        let second = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let addrs = vec![second.local_addr().unwrap(), first.local_addr().unwrap()];
        let stream = race(addrs).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), first.local_addr().unwrap());
        let accepted = tokio::time::timeout(ATTEMPT_DELAY * 2, second.accept()).await;
        assert!(accepted.is_err(), "the second address was tried");
    }

    /// A refused address is followed at once by the next, even while another attempt is
    /// still running: here a black hole, a refusal, then one that answers, connected well
    /// before two attempt delays.
    #[tokio::test]
    async fn a_refusal_starts_the_next_attempt_at_once() {
        let (hole, _filler) = black_hole("[::1]:0".parse().unwrap());
        let closed = std::net::TcpListener::bind("127.0.0.2:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let answering = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
        // Interleaved: the hole (v6), the refusal (v4), then the answering one (v6).
        let addrs = vec![hole.local_addr().unwrap(), closed, answering.local_addr().unwrap()];
        let started = std::time::Instant::now();
        let stream = tokio::time::timeout(Duration::from_secs(5), race(addrs))
            .await
            .unwrap()
            .unwrap();
        let took = started.elapsed();
        assert_eq!(stream.peer_addr().unwrap(), answering.local_addr().unwrap());
        assert!(took < ATTEMPT_DELAY * 2 - Duration::from_millis(100), "{took:?}");
    }

    /// Every address refused: the last error, without waiting for attempt delays.
    #[tokio::test]
    async fn refusals_move_on_at_once() {
        let closed: Vec<SocketAddr> = (0..3)
            .map(|_| {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
            })
            .collect();
        let started = std::time::Instant::now();
        let error = race(closed).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
        assert!(started.elapsed() < ATTEMPT_DELAY, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn connections_have_tcp_keepalive_as_go_sets_it() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = connect("127.0.0.1", listener.local_addr().unwrap().port())
            .await
            .unwrap();
        let socket = socket2::SockRef::from(&stream);
        assert!(socket.keepalive().unwrap());
        assert_eq!(socket.tcp_keepalive_time().unwrap(), Duration::from_secs(15));
        assert_eq!(socket.tcp_keepalive_interval().unwrap(), Duration::from_secs(15));
        assert!(stream.nodelay().unwrap());
    }

    #[tokio::test]
    async fn refused_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let uri: Uri = format!("http://127.0.0.1:{port}/").parse().unwrap();
        let err = TcpConnector::new().oneshot(uri).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connect);
        assert_eq!(err.phase(), Some(Phase::Connect));
        assert!(err.to_string().contains("connection refused by 127.0.0.1"), "{err}");
    }
}
