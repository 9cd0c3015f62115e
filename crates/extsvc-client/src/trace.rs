//! [`ExchangeTrace`]: an opt-in record of how one request's connection was set up — DNS,
//! TCP, the proxy's `CONNECT` or SOCKS5 exchange, each TLS handshake — for a `curl -v`
//! view (`extsvc probe -v`).
//!
//! It costs nothing when not asked for: a request carries an `ExchangeTrace` in its
//! extensions only when the caller put one there, and only then does the client run the
//! exchange inside a tokio task-local scope that the connectors write to (`note`).
//! Without one, a connector's `note` is one failed task-local lookup per connection
//! set up (never per pooled request), and the event is never built.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustls::pki_types::CertificateDer;

tokio::task_local! {
    static CURRENT: ExchangeTrace;
}

/// Which TLS session a [`TraceEvent::TlsHandshake`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsLeg {
    /// TLS to an `https://` proxy.
    Proxy,
    /// TLS to the target (inside a tunnel when proxied).
    Target,
}

/// A certificate as an operator reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateSummary {
    /// The subject's distinguished name.
    pub subject: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// DNS names and IP addresses of the subject alternative names.
    pub names: Vec<String>,
    /// The end of validity (`notAfter`).
    pub not_after: String,
}

impl CertificateSummary {
    /// Parses a DER certificate; `None` when it is not X.509.
    pub fn of(der: &[u8]) -> Option<CertificateSummary> {
        use x509_parser::extensions::GeneralName;
        use x509_parser::prelude::{FromDer, X509Certificate};
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let names = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|name| match name {
                        GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                        GeneralName::IPAddress(ip) => match ip.len() {
                            4 => <[u8; 4]>::try_from(*ip)
                                .ok()
                                .map(|a| std::net::IpAddr::from(a).to_string()),
                            16 => <[u8; 16]>::try_from(*ip)
                                .ok()
                                .map(|a| std::net::IpAddr::from(a).to_string()),
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(CertificateSummary {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            names,
            not_after: cert.validity().not_after.to_string(),
        })
    }
}

/// One step of setting a connection up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TraceEvent {
    /// The resolver's answer for a host (the target's, or the proxy's).
    Dns {
        /// The name asked for.
        host: String,
        /// The addresses it gave, in the order tried.
        addresses: Vec<SocketAddr>,
    },
    /// A TCP connection is up.
    TcpConnected {
        /// The address it connected to.
        address: SocketAddr,
    },
    /// The `CONNECT` request sent to the proxy: its lines, `Proxy-Authorization` as `***`.
    ConnectRequest {
        /// Request line and headers, one per line, without CRLF.
        lines: Vec<String>,
    },
    /// The proxy's answer to `CONNECT`: its status line (escaped).
    ConnectResponse {
        /// E.g. `HTTP/1.1 200 Connection established`.
        status_line: String,
    },
    /// The SOCKS5 proxy's reply to the connect request.
    SocksReply {
        /// E.g. `succeeded (reply 0), bound 127.0.0.1:40000`.
        reply: String,
    },
    /// A TLS handshake finished.
    TlsHandshake {
        /// To the proxy or the target.
        leg: TlsLeg,
        /// E.g. `TLSv1_3`.
        version: String,
        /// The cipher suite.
        cipher: String,
        /// The protocol agreed by ALPN.
        alpn: Option<String>,
        /// The server's certificate.
        server_certificate: Option<Box<CertificateSummary>>,
        /// The client certificate presented, when the server asked for one and the
        /// service has one; `None` when none was presented.
        client_certificate: Option<Box<CertificateSummary>>,
    },
}

/// A shared record of the [`TraceEvent`]s of one request, each with its time. Put it in
/// a request's extensions (cheap to clone; the clone records into the same list):
///
/// ```no_run
/// use extsvc::client::trace::ExchangeTrace;
/// # async fn run(client: extsvc::ServiceClient) -> Result<(), extsvc::Error> {
/// let trace = ExchangeTrace::new();
/// let mut request = extsvc::http::Request::get("https://idp.example.com/").body(String::new()).unwrap();
/// request.extensions_mut().insert(trace.clone());
/// let response = client.request(request).await?;
/// for (at, event) in trace.events() {
///     eprintln!("{:?} {event:?}", at.duration_since(trace.started()));
/// }
/// # drop(response);
/// # Ok(())
/// # }
/// ```
///
/// Only the first hop of a request is traced (not the hops of its redirects), and only
/// while its connection is set up: a pooled connection shows no events.
#[derive(Clone)]
pub struct ExchangeTrace {
    started: Instant,
    events: Arc<Mutex<Vec<(Instant, TraceEvent)>>>,
}

impl ExchangeTrace {
    /// An empty trace, started now.
    pub fn new() -> ExchangeTrace {
        ExchangeTrace {
            started: Instant::now(),
            events: Arc::default(),
        }
    }

    /// When the trace was made.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The events so far, with the time of each.
    pub fn events(&self) -> Vec<(Instant, TraceEvent)> {
        self.events.lock().map(|events| events.clone()).unwrap_or_default()
    }

    /// Runs `fut` with this trace receiving what the connectors it drives do — for a
    /// connector used on its own (the storage `StreamConnector`, a Redis client's first
    /// command); a [`ServiceClient`](crate::ServiceClient) request takes the trace from
    /// its extensions instead.
    pub async fn record<F: Future>(&self, fut: F) -> F::Output {
        CURRENT.scope(self.clone(), fut).await
    }

    fn push(&self, event: TraceEvent) {
        if let Ok(mut events) = self.events.lock() {
            events.push((Instant::now(), event));
        }
    }
}

impl Default for ExchangeTrace {
    fn default() -> ExchangeTrace {
        ExchangeTrace::new()
    }
}

impl fmt::Debug for ExchangeTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeTrace")
            .field("events", &self.events.lock().map(|e| e.len()).unwrap_or(0))
            .finish()
    }
}

/// Runs `fut` with `trace` receiving the connectors' notes.
pub(crate) async fn scope<F: Future>(trace: ExchangeTrace, fut: F) -> F::Output {
    CURRENT.scope(trace, fut).await
}

/// True when the exchange being polled is traced (to skip preparing a note's data).
pub(crate) fn active() -> bool {
    CURRENT.try_with(|_| ()).is_ok()
}

/// Records the event `make` builds, when the exchange being polled is traced; `make`
/// runs only then.
pub(crate) fn note(make: impl FnOnce() -> TraceEvent) {
    let _ = CURRENT.try_with(|trace| trace.push(make()));
}

/// The handshake event of a finished TLS session.
pub(crate) fn tls_handshake(
    leg: TlsLeg,
    connection: &rustls::ClientConnection,
    client_certificate: Option<Box<CertificateSummary>>,
) -> TraceEvent {
    TraceEvent::TlsHandshake {
        leg,
        version: connection
            .protocol_version()
            .map_or_else(|| "unknown".to_owned(), |v| format!("{v:?}")),
        cipher: connection
            .negotiated_cipher_suite()
            .map_or_else(|| "unknown".to_owned(), |s| format!("{:?}", s.suite())),
        alpn: connection
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        server_certificate: connection
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| CertificateSummary::of(leaf))
            .map(Box::new),
        client_certificate,
    }
}

/// For a traced handshake only: `config` with its client certificate resolver wrapped,
/// so that the certificate rustls presents (when the server asks) is known; and where it
/// will be found. Untraced handshakes use `config` as it is.
pub(crate) fn observed_config(config: Arc<rustls::ClientConfig>) -> (Arc<rustls::ClientConfig>, Option<PresentedSlot>) {
    if !active() {
        return (config, None);
    }
    let presented = Arc::new(Mutex::new(None));
    let mut observed = (*config).clone();
    observed.client_auth_cert_resolver = Arc::new(PresentedCertificate {
        inner: config.client_auth_cert_resolver.clone(),
        presented: presented.clone(),
    });
    (Arc::new(observed), Some(presented))
}

/// Where a traced handshake keeps the client certificate rustls presented.
pub(crate) type PresentedSlot = Arc<Mutex<Option<CertificateDer<'static>>>>;

/// The summary of the client certificate `slot` saw presented.
pub(crate) fn presented(slot: Option<&PresentedSlot>) -> Option<Box<CertificateSummary>> {
    let slot = slot?.lock().ok()?;
    slot.as_ref().and_then(|der| CertificateSummary::of(der)).map(Box::new)
}

/// Wraps a resolver and keeps the leaf of what it handed rustls.
#[derive(Debug)]
struct PresentedCertificate {
    inner: Arc<dyn rustls::client::ResolvesClientCert>,
    presented: PresentedSlot,
}

impl rustls::client::ResolvesClientCert for PresentedCertificate {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let key = self.inner.resolve(root_hint_subjects, sigschemes)?;
        if let (Some(leaf), Ok(mut slot)) = (key.cert.first(), self.presented.lock()) {
            *slot = Some(leaf.clone());
        }
        Some(key)
    }

    fn has_certs(&self) -> bool {
        self.inner.has_certs()
    }
}
