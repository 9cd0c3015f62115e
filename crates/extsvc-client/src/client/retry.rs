//! The one retry: when a reused keep-alive connection turned out closed, whether the
//! request may go once more ([`ServiceClient::request`](super::ServiceClient::request)).

use http::Request;
use http_body::Body;

use super::{empty_body, RequestBody};

/// The first I/O error in the causes of `e` (hyper wraps the transport's error).
pub(super) fn io_cause(e: &hyper::Error) -> Option<&std::io::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = cause.source();
    }
    None
}

/// True when the connection ended (closed or reset) before a response came.
pub(super) fn closed_before_response(e: &hyper::Error) -> bool {
    if e.is_incomplete_message() || e.is_canceled() {
        return true;
    }
    io_cause(e).is_some_and(|io| {
        matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionAborted
        )
    })
}

/// A copy of `req` to send again should its connection turn out closed: only for
/// idempotent methods without a body (nothing to replay but the head).
pub(super) fn replayable(req: &Request<RequestBody>) -> Option<Request<RequestBody>> {
    let idempotent = matches!(
        *req.method(),
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS | http::Method::TRACE
    );
    if !idempotent || !req.body().is_end_stream() {
        return None;
    }
    let mut copy = Request::new(empty_body());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    Some(copy)
}
