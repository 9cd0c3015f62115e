//! Target `connect_response`: the proxy's answer to `CONNECT`, read by
//! `extsvc_client::connect::Tunnel` from a scripted proxy stream.
//!
//! Input layout: 6 header bytes, then the proxy's answer.
//! - byte 0: bit 0 = the proxy URL has credentials; bits 1–2 = which target; bits 3–4 =
//!   how the stream ends (EOF, an `InvalidData` error, a reset);
//! - bytes 1–4: read sizes (cycled) — the answer arrives in pieces of these sizes, so
//!   partial heads are parsed again and again;
//! - byte 5: bit i set = the (i mod 8)-th read returns `Pending` first.
//!
//! Invariants beyond "no panic":
//! - the reader never consumes more than `MAX_RESPONSE_HEAD` bytes;
//! - success only for an answer whose status is 2xx, and the bytes kept for the target
//!   are exactly what followed the head (a suffix of what was read);
//! - failures are proxy errors of a proxy kind, and never print the proxy password;
//! - the request sent is one `CONNECT` head, with `Proxy-Authorization` exactly when the
//!   proxy URL has credentials.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use extsvc_client::connect::{Tunnel, MAX_RESPONSE_HEAD};
use extsvc_client::ErrorKind;
use extsvc_config::ProxyUrl;
use http::Uri;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tower::{Service, ServiceExt};

const PASSWORD: &str = "Pw7xQzProxySecret";
const TARGETS: &[&str] = &[
    "http://target.example:443",
    "http://[::1]:8443",
    "http://10.0.0.1:80",
    "http://Target.Example.:6379",
];

/// How the scripted stream ends once the answer is used up.
#[derive(Clone, Copy, Debug)]
enum End {
    Eof,
    InvalidData,
    Reset,
}

/// A proxy that has `answer` to say, in pieces.
struct ScriptedProxy {
    answer: Arc<[u8]>,
    position: usize,
    sizes: [u8; 4],
    pending: u8,
    reads: usize,
    was_pending: bool,
    end: End,
    consumed: Arc<AtomicUsize>,
    written: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for ScriptedProxy {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let read = this.reads;
        if !this.was_pending && this.pending & (1 << (read % 8)) != 0 {
            this.was_pending = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.was_pending = false;
        this.reads += 1;
        let left = &this.answer[this.position..];
        if left.is_empty() {
            return Poll::Ready(match this.end {
                End::Eof => Ok(()),
                End::InvalidData => Err(io::Error::new(io::ErrorKind::InvalidData, "scripted bad data")),
                End::Reset => Err(io::Error::new(io::ErrorKind::ConnectionReset, "scripted reset")),
            });
        }
        let size = usize::from(this.sizes[read % 4].max(1))
            .min(left.len())
            .min(buf.remaining());
        buf.put_slice(&left[..size]);
        this.position += size;
        this.consumed.store(this.position, Ordering::SeqCst);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ScriptedProxy {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.written.lock().expect("not poisoned").extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}


/// Whether `answer` starts (after the empty lines httparse skips) with an HTTP/1.x
/// status line whose code is 2xx.
fn has_2xx_status(answer: &[u8]) -> bool {
    let start = answer
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(answer.len());
    let line = &answer[start..];
    line.len() >= 12
        && line.starts_with(b"HTTP/1.")
        && line[9] == b'2'
        && line[10].is_ascii_digit()
        && line[11].is_ascii_digit()
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut header = [0u8; 6];
    let split = data.len().min(header.len());
    header[..split].copy_from_slice(&data[..split]);
    let answer: Arc<[u8]> = Arc::from(&data[split..]);
    let credentials = header[0] & 1 != 0;
    let target = TARGETS[usize::from(header[0] >> 1) % TARGETS.len()];
    let end = match (header[0] >> 3) % 3 {
        0 => End::Eof,
        1 => End::InvalidData,
        _ => End::Reset,
    };
    let proxy_text = if credentials {
        format!("http://fuzz:{PASSWORD}@proxy.test:3128")
    } else {
        "http://proxy.test:3128".to_owned()
    };
    let proxy = Arc::new(ProxyUrl::parse(&proxy_text).expect("a valid proxy URL"));

    let consumed = Arc::new(AtomicUsize::new(0));
    let written = Arc::new(Mutex::new(Vec::new()));
    let stream = ScriptedProxy {
        answer: answer.clone(),
        position: 0,
        sizes: [header[1], header[2], header[3], header[4]],
        pending: header[5],
        reads: 0,
        was_pending: false,
        end,
        consumed: consumed.clone(),
        written: written.clone(),
    };
    let slot = Arc::new(Mutex::new(Some(stream)));
    let connector = tower::service_fn(move |_: Uri| {
        let stream = slot
            .lock()
            .expect("not poisoned")
            .take()
            .expect("the tunnel connects once");
        std::future::ready(Ok::<_, Infallible>(stream))
    });
    let mut tunnel = Tunnel::new(proxy, connector);
    let uri: Uri = target.parse().expect("a valid target URI");
    let result = crate::runtime().block_on(async {
        let ready = tunnel.ready().await.expect("the scripted connector is always ready");
        ready.call(uri).await
    });

    let consumed = consumed.load(Ordering::SeqCst);
    assert!(
        consumed <= MAX_RESPONSE_HEAD,
        "read {consumed} bytes of the answer, more than MAX_RESPONSE_HEAD"
    );
    let request =
        String::from_utf8(written.lock().expect("not poisoned").clone()).expect("the CONNECT request is text");
    assert!(
        request.starts_with("CONNECT ") && request.ends_with("\r\n\r\n"),
        "request: {request:?}"
    );
    assert_eq!(request.matches("\r\n\r\n").count(), 1, "request: {request:?}");
    assert_eq!(
        request.contains("\r\nProxy-Authorization: Basic "),
        credentials,
        "request: {request:?}"
    );
    match result {
        Ok(stream) => {
            let read = &answer[..consumed];
            assert!(
                has_2xx_status(read),
                "a tunnel opened on a non-2xx answer: {:?}",
                String::from_utf8_lossy(read)
            );
            assert!(stream.prefix().len() < consumed, "the kept bytes include the head");
            assert!(
                read.ends_with(stream.prefix()),
                "the kept bytes are not what followed the head"
            );
        }
        Err(error) => {
            assert!(
                matches!(
                    error.kind(),
                    ErrorKind::ProxyConnect | ErrorKind::ProxyAuth | ErrorKind::ProxyStatus | ErrorKind::ProxyProtocol
                ),
                "unexpected error kind {:?}: {error}",
                error.kind()
            );
            assert!(error.is_proxy(), "not a proxy error: {error}");
            let text = format!("{error} {error:?}");
            let answer_has_marker = answer.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes());
            assert!(
                answer_has_marker || !text.contains(PASSWORD),
                "the proxy password was printed: {text}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_oracle_accepts_only_2xx_status_lines() {
        assert!(has_2xx_status(b"HTTP/1.1 200 OK\r\n\r\n"));
        assert!(has_2xx_status(b"\r\n\r\nHTTP/1.0 299 x\r\n"));
        assert!(!has_2xx_status(b"HTTP/1.1 407 Proxy Authentication Required\r\n"));
        assert!(!has_2xx_status(b"HTTP/1.1 20"));
        assert!(!has_2xx_status(b"SSH-2.0-OpenSSH 200 OK"));
    }

    #[test]
    fn seeds_take_the_paths_they_are_named_for() {
        // A 200 answer read in 1-, 2-, 3- and 5-byte pieces with Pending in between.
        run(b"\x01\x01\x02\x03\x05\xaaHTTP/1.0 200 OK\r\nProxy-Agent: t\r\n\r\nHELLO");
        // A refusal and garbage are errors, not panics, with every invariant checked.
        run(b"\x01\x10\x10\x10\x10\x00HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
        run(b"\x10\x03\x03\x03\x03\xffSSH-2.0-OpenSSH_9.2\r\n");
        run(b"");
    }
}
