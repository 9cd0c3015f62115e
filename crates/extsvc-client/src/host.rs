//! Host names as they appear in URIs: IPv6 literals in brackets (`[::1]`), which DNS,
//! socket addresses and TLS server names want without, and `host:port` authorities,
//! which want them with. Every connector goes through these two.

use std::fmt;

use http::Uri;

/// `host` without the brackets of an IPv6 literal (`[::1]` → `::1`); other hosts as
/// they are.
pub(crate) fn unbracketed(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host)
}

/// `host:port`, bracketing a bare IPv6 literal (`::1`, 443 → `[::1]:443`); a host
/// already in brackets is written as it is.
#[derive(Clone, Copy)]
pub(crate) struct HostPort<'a>(pub(crate) &'a str, pub(crate) u16);

impl fmt::Display for HostPort<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let HostPort(host, port) = *self;
        if host.contains(':') && !host.starts_with('[') {
            write!(f, "[{host}]:{port}")
        } else {
            write!(f, "{host}:{port}")
        }
    }
}

/// A URI for error messages: userinfo (`user:password@`, e.g. in a Redis URL) shows as
/// `***@`; anything else as it is.
#[derive(Clone, Copy)]
pub(crate) struct RedactedUri<'a>(pub(crate) &'a Uri);

impl fmt::Display for RedactedUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let uri = self.0;
        let Some((_userinfo, host_port)) = uri.authority().and_then(|a| a.as_str().rsplit_once('@')) else {
            return fmt::Display::fmt(uri, f);
        };
        if let Some(scheme) = uri.scheme_str() {
            write!(f, "{scheme}://")?;
        }
        write!(f, "***@{host_port}")?;
        match uri.path_and_query() {
            Some(path) => write!(f, "{path}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_come_off_ipv6_literals_only() {
        assert_eq!(unbracketed("[::1]"), "::1");
        assert_eq!(unbracketed("::1"), "::1");
        assert_eq!(unbracketed("example.com"), "example.com");
        assert_eq!(unbracketed("[broken"), "[broken");
    }

    #[test]
    fn userinfo_is_hidden_in_uris() {
        let uri: Uri = "redis+x://default:hunter2@cache:6379/0".parse().unwrap();
        assert_eq!(RedactedUri(&uri).to_string(), "redis+x://***@cache:6379/0");
        let uri: Uri = "http://example.com/a?b".parse().unwrap();
        assert_eq!(RedactedUri(&uri).to_string(), "http://example.com/a?b");
    }

    #[test]
    fn ipv6_authorities_are_bracketed_once() {
        assert_eq!(HostPort("::1", 443).to_string(), "[::1]:443");
        assert_eq!(HostPort("[::1]", 443).to_string(), "[::1]:443");
        assert_eq!(HostPort("example.com", 80).to_string(), "example.com:80");
    }
}
