//! `extsvc probe -v`: the operator's `curl -v` for the service's path, for the first
//! request only — route and rule, DNS, TCP, the proxy's `CONNECT` or SOCKS5 reply, each
//! TLS handshake, time to first byte, the response head and, on status >= 400, the
//! first KiB of the body. Written to stderr (stdout carries the summary); never a
//! secret (`Authorization` and `Proxy-Authorization` are `***`).

use std::fmt::Write as _;
use std::time::Instant;

use extsvc::client::trace::{CertificateSummary, ExchangeTrace, TlsLeg, TraceEvent};
use extsvc::config::escaped;
use extsvc::http;

/// How much of an error response's body is shown.
pub(crate) const BODY_SHOWN: usize = 1024;

/// What the verbose view shows beside the trace: the response (for HTTP).
pub(crate) struct ResponseSeen {
    pub(crate) status: u16,
    pub(crate) headers: http::HeaderMap,
    /// When the response headers arrived.
    pub(crate) first_byte: Instant,
    /// The first [`BODY_SHOWN`] bytes of the body, kept for status >= 400.
    pub(crate) body_start: Vec<u8>,
}

/// The lines of the verbose view.
pub(crate) fn render(
    route: &str,
    request_line: &str,
    trace: &ExchangeTrace,
    response: Option<&ResponseSeen>,
    outcome: &str,
) -> String {
    let started = trace.started();
    let at = |instant: Instant| {
        format!(
            "+{:.1}ms",
            instant.saturating_duration_since(started).as_secs_f64() * 1000.0
        )
    };
    let mut out = String::new();
    let _ = writeln!(out, "* route: {route}");
    for (instant, event) in trace.events() {
        let t = at(instant);
        match event {
            TraceEvent::Dns { host, addresses } => {
                let list: Vec<String> = addresses.iter().map(ToString::to_string).collect();
                let _ = writeln!(out, "* {t} DNS {}: {}", escaped(&host), list.join(", "));
            }
            TraceEvent::TcpConnected { address } => {
                let _ = writeln!(out, "* {t} TCP connected to {address}");
            }
            TraceEvent::ConnectRequest { lines } => {
                for line in lines {
                    let _ = writeln!(out, "> {t} {}", escaped(&line));
                }
            }
            TraceEvent::ConnectResponse { status_line } => {
                let _ = writeln!(out, "< {t} {status_line}");
            }
            TraceEvent::SocksReply { reply } => {
                let _ = writeln!(out, "< {t} SOCKS5 {}", escaped(&reply));
            }
            TraceEvent::TlsHandshake {
                leg,
                version,
                cipher,
                alpn,
                server_certificate,
                client_certificate,
            } => {
                let leg = match leg {
                    TlsLeg::Proxy => "proxy",
                    _ => "target",
                };
                let _ = writeln!(
                    out,
                    "* {t} TLS with the {leg}: {version}, {cipher}, ALPN {}",
                    alpn.as_deref()
                        .map_or_else(|| "none".to_owned(), |p| escaped(p).to_string())
                );
                match server_certificate {
                    Some(cert) => {
                        let _ = writeln!(out, "*   server certificate: {}", certificate(&cert));
                    }
                    None => {
                        let _ = writeln!(out, "*   server certificate: none");
                    }
                }
                match client_certificate {
                    Some(cert) => {
                        let _ = writeln!(
                            out,
                            "*   client certificate presented: subject {}",
                            escaped(&cert.subject)
                        );
                    }
                    None => {
                        let _ = writeln!(out, "*   client certificate: none presented");
                    }
                }
            }
            _ => {}
        }
    }
    let _ = writeln!(out, "> {request_line}");
    if let Some(response) = response {
        let _ = writeln!(out, "* {} first byte (response headers)", at(response.first_byte));
        let reason = http::StatusCode::from_u16(response.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let _ = writeln!(out, "< HTTP/1.1 {} {reason}", response.status);
        for (name, value) in &response.headers {
            let shown = if name == http::header::AUTHORIZATION || name == http::header::PROXY_AUTHORIZATION {
                "***".to_owned()
            } else {
                escaped(&String::from_utf8_lossy(value.as_bytes())).to_string()
            };
            let _ = writeln!(out, "< {name}: {shown}");
        }
        if response.status >= 400 && !response.body_start.is_empty() {
            let _ = writeln!(out, "< (body, first {} bytes, escaped)", response.body_start.len());
            // In pieces under `escaped`'s cap, so the whole KiB shows.
            let text: Vec<char> = String::from_utf8_lossy(&response.body_start).chars().collect();
            for piece in text.chunks(128) {
                let piece: String = piece.iter().collect();
                let _ = writeln!(out, "< {}", escaped(&piece));
            }
        }
    }
    let _ = write!(out, "* {outcome}");
    out
}

fn certificate(cert: &CertificateSummary) -> String {
    format!(
        "subject {}; issuer {}; names {}; expires {}",
        escaped(&cert.subject),
        escaped(&cert.issuer),
        escaped(&cert.names.join(", ")),
        escaped(&cert.not_after)
    )
}
