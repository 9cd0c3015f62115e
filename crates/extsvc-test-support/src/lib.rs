//! Test support for the unit tests of extsvc's crates, written once (`publish = false`).
//!
//! The interop peers and the PKI live in the `tests/` package (`extsvc-tests`); what the
//! `#[cfg(test)]` modules of `extsvc-client` and `extsvc-tls` both need, and which cannot
//! come from `extsvc-tests` (it depends on those crates), lives here: [`LogCapture`].

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

/// What a `tracing` fmt subscriber wrote (no colours), kept for the test to read.
///
/// ```
/// let logs = extsvc_test_support::LogCapture::new();
/// tracing::subscriber::with_default(logs.subscriber(tracing::Level::INFO), || {
///     tracing::warn!(service = "oauth", "proxy unreachable");
/// });
/// assert!(logs.text().contains("WARN") && logs.text().contains("service=\"oauth\""));
/// ```
#[derive(Debug, Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// An empty capture.
    pub fn new() -> LogCapture {
        LogCapture::default()
    }

    /// A fmt subscriber writing into this capture, up to `level`; install it with
    /// `tracing::subscriber::with_default` or `set_default` (both per thread).
    pub fn subscriber(&self, level: tracing::Level) -> impl tracing::Subscriber + Send + Sync + 'static {
        let sink = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish()
    }

    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

impl io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
