//! Targets as URIs name them: the scheme ([`UriScheme`], which holds every scheme rule
//! of the crate: default port, TLS, the proxy field, forwarding), host and port
//! ([`UriTarget`]); host names with IPv6 literals in brackets (`[::1]`), which DNS, socket
//! addresses and TLS server names want without, and `host:port` authorities, which want
//! them with. Every connector goes through these.

use std::fmt;

use extsvc_resolve::TargetScheme;
use http::Uri;

use crate::error::{Error, ErrorKind};

/// A scheme the connectors know, read case-insensitively from a URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UriScheme {
    Http,
    Https,
    Redis,
    Rediss,
}

impl UriScheme {
    /// The scheme of `uri`; `None` for another one, or none.
    pub(crate) fn of(uri: &Uri) -> Option<UriScheme> {
        let s = uri.scheme_str()?;
        [
            ("http", UriScheme::Http),
            ("https", UriScheme::Https),
            ("redis", UriScheme::Redis),
            ("rediss", UriScheme::Rediss),
        ]
        .into_iter()
        .find_map(|(name, scheme)| s.eq_ignore_ascii_case(name).then_some(scheme))
    }

    /// The port of a URI that gives none: `http` 80, `https` 443, `redis`/`rediss` 6379.
    pub(crate) fn default_port(self) -> u16 {
        match self {
            UriScheme::Http => 80,
            UriScheme::Https => 443,
            UriScheme::Redis | UriScheme::Rediss => 6379,
        }
    }

    /// TLS to the target: `https`, `rediss`.
    pub(crate) fn is_tls(self) -> bool {
        matches!(self, UriScheme::Https | UriScheme::Rediss)
    }

    /// `redis`, `rediss`.
    pub(crate) fn is_redis(self) -> bool {
        matches!(self, UriScheme::Redis | UriScheme::Rediss)
    }

    /// The proxy field it takes: `http`/`redis` → [`TargetScheme::Http`];
    /// `https`/`rediss` → [`TargetScheme::Https`].
    pub(crate) fn target_scheme(self) -> TargetScheme {
        if self.is_tls() {
            TargetScheme::Https
        } else {
            TargetScheme::Http
        }
    }
}

/// The port of `uri`, or the default of its scheme ([`UriScheme::default_port`]).
pub(crate) fn port_of(uri: &Uri) -> Option<u16> {
    uri.port_u16()
        .or_else(|| UriScheme::of(uri).map(UriScheme::default_port))
}

/// What a connector's URI names: its host (as in the URI), port (given, or the
/// scheme's default) and scheme.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UriTarget<'a> {
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    pub(crate) scheme: Option<UriScheme>,
}

impl<'a> UriTarget<'a> {
    /// The target of `uri`, or an [`ErrorKind::InvalidRequest`] naming the URI (userinfo
    /// redacted) when it has no host or no port.
    pub(crate) fn of(uri: &'a Uri) -> Result<UriTarget<'a>, Error> {
        let scheme = UriScheme::of(uri);
        match (
            uri.host(),
            uri.port_u16().or_else(|| scheme.map(UriScheme::default_port)),
        ) {
            (Some(host), Some(port)) => Ok(UriTarget { host, port, scheme }),
            _ => Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("no host or port in URI \"{}\"", RedactedUri(uri)),
            )),
        }
    }

    /// The proxy field it takes; a scheme the connectors do not know as plain `http`.
    pub(crate) fn target_scheme(&self) -> TargetScheme {
        self.scheme.map_or(TargetScheme::Http, UriScheme::target_scheme)
    }
}

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
    fn default_ports() {
        assert_eq!(port_of(&"https://a/".parse().unwrap()), Some(443));
        assert_eq!(port_of(&"redis://a".parse().unwrap()), Some(6379));
        assert_eq!(port_of(&"http://a:8080/".parse().unwrap()), Some(8080));
        assert_eq!(port_of(&"ftp://a/".parse().unwrap()), None);
    }

    #[test]
    fn schemes_are_read_in_any_case_and_pick_tls_and_the_proxy_field() {
        let of = |uri: &str| UriScheme::of(&uri.parse().unwrap());
        assert_eq!(of("HTTPS://a/"), Some(UriScheme::Https));
        assert_eq!(of("Rediss://a"), Some(UriScheme::Rediss));
        assert_eq!(of("ftp://a/"), None);
        assert!(UriScheme::Rediss.is_tls() && UriScheme::Https.is_tls() && !UriScheme::Redis.is_tls());
        assert_eq!(UriScheme::Redis.target_scheme(), TargetScheme::Http);
        assert_eq!(UriScheme::Rediss.target_scheme(), TargetScheme::Https);
    }

    #[test]
    fn a_uri_target_needs_a_host_and_a_port_and_names_the_uri_redacted() {
        let uri: Uri = "rediss://[::1]/0".parse().unwrap();
        let target = UriTarget::of(&uri).unwrap();
        assert_eq!(
            (target.host, target.port, target.target_scheme()),
            ("[::1]", 6379, TargetScheme::Https)
        );
        let uri: Uri = "ftp://user:secret@a/".parse().unwrap();
        let err = UriTarget::of(&uri).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(
            err.to_string().contains("no host or port in URI") && !err.to_string().contains("secret"),
            "{err}"
        );
        let uri: Uri = "/path".parse().unwrap();
        assert!(UriTarget::of(&uri).is_err());
    }

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
