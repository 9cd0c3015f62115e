use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use http::HeaderValue;
use percent_encoding::percent_decode_str;

/// How extsvc talks to a forward proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(
    clippy::exhaustive_enums,
    reason = "closed set: the proxy URL schemes SPEC section 2 accepts, which callers match"
)]
pub enum ProxyScheme {
    /// `http://`: plain TCP to the proxy.
    Http,
    /// `https://`: TLS to the proxy itself, then HTTP (absolute form or CONNECT) inside it.
    Https,
    /// `socks5://`: SOCKS5 (RFC 1928); the client resolves the target's name and asks the
    /// proxy for the address.
    Socks5,
    /// `socks5h://`: SOCKS5 with the target's name sent to the proxy, which resolves it.
    Socks5h,
}

impl ProxyScheme {
    /// `"http"`, `"https"`, `"socks5"` or `"socks5h"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProxyScheme::Http => "http",
            ProxyScheme::Https => "https",
            ProxyScheme::Socks5 => "socks5",
            ProxyScheme::Socks5h => "socks5h",
        }
    }

    /// True for `socks5://` and `socks5h://`.
    pub const fn is_socks(self) -> bool {
        matches!(self, ProxyScheme::Socks5 | ProxyScheme::Socks5h)
    }

    const fn default_port(self) -> u16 {
        match self {
            ProxyScheme::Http => 80,
            ProxyScheme::Https => 443,
            ProxyScheme::Socks5 | ProxyScheme::Socks5h => 1080,
        }
    }
}

/// A parsed, validated forward-proxy URL.
///
/// The password never leaves this type in text: [`Display`](fmt::Display) and
/// [`Debug`](fmt::Debug) show credentials as `user:***@`, and the ready-made
/// `Proxy-Authorization` value is marked sensitive. Everything a connector needs per
/// request (authority, header value) is computed once, here. For a SOCKS proxy the
/// credentials are RFC 1929 username/password ([`ProxyUrl::socks_credentials`]) and there
/// is no header value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProxyUrl {
    scheme: ProxyScheme,
    /// Host as written in an authority: IPv6 literals keep their brackets.
    host: String,
    port: u16,
    /// Decoded, for `Proxy-Authorization` or SOCKS authentication.
    username: Option<String>,
    /// As written (percent-encoded), for display: see `user_for_display` in `redact`.
    username_shown: Option<String>,
    password: Option<String>,
    authorization: Option<HeaderValue>,
    scheme_assumed: bool,
}

/// Why a proxy URL was rejected. Displays as the reason alone (`invalid port`); the
/// loader adds the key path and the (redacted) value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
#[non_exhaustive]
pub struct InvalidProxyUrl {
    /// What is wrong, e.g. `invalid port "wrong_port"`.
    pub reason: String,
}

fn invalid(reason: impl Into<String>) -> InvalidProxyUrl {
    InvalidProxyUrl { reason: reason.into() }
}

impl ProxyUrl {
    /// Parses `http://[user[:password]@]host[:port][/]`, `https://…`, `socks5://…`,
    /// `socks5h://…`, or a scheme-less `host:port` (taken as `http://`; see
    /// [`ProxyUrl::scheme_assumed`]).
    ///
    /// The port defaults to 80 for `http://`, 443 for `https://` and 1080 for SOCKS.
    /// Credentials are percent-decoded; a SOCKS proxy's need a user name and a password of
    /// 1 to 255 bytes each (RFC 1929).
    pub fn parse(input: &str) -> Result<ProxyUrl, InvalidProxyUrl> {
        let input = input.trim();
        if input.is_empty() {
            return Err(invalid("empty URL"));
        }
        let (scheme, rest, scheme_assumed) = match input.split_once("://") {
            Some((scheme, rest)) => {
                let scheme = match scheme.to_ascii_lowercase().as_str() {
                    "http" => ProxyScheme::Http,
                    "https" => ProxyScheme::Https,
                    "socks5" => ProxyScheme::Socks5,
                    "socks5h" => ProxyScheme::Socks5h,
                    other => {
                        return Err(invalid(format!(
                            "unsupported scheme \"{}\": expected http://, https://, socks5:// or socks5h://",
                            crate::escaped(other)
                        )))
                    }
                };
                (scheme, rest, false)
            }
            None => (ProxyScheme::Http, input, true),
        };
        // The userinfo ends at the *last* `@`: a password may contain `/`, `?` or `#`,
        // so the path is looked for only after it.
        let host_start = rest.rfind('@').map_or(0, |at| at + 1);
        let authority = match rest[host_start..].find(['/', '?', '#']) {
            Some(i) => {
                let tail = &rest[host_start + i..];
                if tail != "/" {
                    return Err(invalid(format!(
                        "unexpected path, query or fragment \"{}\"",
                        crate::escaped(tail)
                    )));
                }
                &rest[..host_start + i]
            }
            None => rest,
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport)?;
        let port = match port {
            None => scheme.default_port(),
            Some(p) => parse_port(p)?,
        };
        let (username, username_shown, password) = match userinfo {
            None => (None, None, None),
            // Unencoded, these would make the URL ambiguous (`http://proxy:3128/x@evil`
            // reads as user `proxy` at host `evil`): refuse rather than guess, and say so
            // without repeating the credentials.
            Some(info) if info.contains(['/', '?', '#']) => {
                return Err(invalid(
                    "the user name or password contains '/', '?' or '#': percent-encode it (%2F, %3F, %23)",
                ))
            }
            Some(info) => {
                let (user, pass) = match info.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (info, None),
                };
                let shown = crate::redact::user_for_display(user);
                let user = decode_userinfo(user, "user name")?;
                let pass = pass.map(|p| decode_userinfo(p, "password")).transpose()?;
                // Userinfo without `:` is often a token used as a password
                // (`http://TOKEN@proxy:3128`): it is never shown.
                (Some(user), pass.is_some().then_some(shown), pass)
            }
        };
        if scheme.is_socks() {
            check_socks_credentials(username.as_deref(), password.as_deref())?;
        }
        let authorization = username.as_ref().filter(|_| !scheme.is_socks()).map(|user| {
            let raw = format!("{user}:{}", password.as_deref().unwrap_or(""));
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            let mut value =
                HeaderValue::from_str(&format!("Basic {encoded}")).expect("base64 output is a valid header value");
            value.set_sensitive(true);
            value
        });
        Ok(ProxyUrl {
            scheme,
            host,
            port,
            username,
            username_shown,
            password,
            authorization,
            scheme_assumed,
        })
    }

    /// `http`, `https`, `socks5` or `socks5h`.
    pub fn scheme(&self) -> ProxyScheme {
        self.scheme
    }

    /// The host, as in an authority (IPv6 literals in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host without IPv6 brackets, for DNS or socket addresses.
    pub fn host_unbracketed(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// The port (explicit, or the scheme's default).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user name from the URL's userinfo, if any, percent-decoded (`u%40x` gives
    /// `u@x`). Display shows it as written instead.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// Whether the URL carries credentials.
    pub fn has_credentials(&self) -> bool {
        self.username.is_some()
    }

    /// The ready `Proxy-Authorization: Basic …` value (marked sensitive), when the URL
    /// has credentials and is an HTTP proxy's. Send it to the proxy only, never to the
    /// target.
    pub fn proxy_authorization(&self) -> Option<&HeaderValue> {
        self.authorization.as_ref()
    }

    /// The RFC 1929 user name and password (percent-decoded) of a SOCKS proxy URL with
    /// credentials. Never format them.
    pub fn socks_credentials(&self) -> Option<(&str, &str)> {
        match (&self.username, &self.password) {
            (Some(user), Some(password)) if self.scheme.is_socks() => Some((user, password)),
            _ => None,
        }
    }

    /// True when the input had no scheme and `http://` was assumed (the loader warns).
    pub fn scheme_assumed(&self) -> bool {
        self.scheme_assumed
    }

    /// `host:port`, for the CONNECT request line and the `Host` header.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The URL with credentials shown as `user:***@`, the user as written
    /// (percent-encoded); the same text as `Display`.
    pub fn redacted(&self) -> String {
        self.to_string()
    }
}

fn split_host_port(hostport: &str) -> Result<(String, Option<&str>), InvalidProxyUrl> {
    if let Some(rest) = hostport.strip_prefix('[') {
        let (addr, after) = rest
            .split_once(']')
            .ok_or_else(|| invalid("unterminated IPv6 literal: missing \"]\""))?;
        addr.parse::<Ipv6Addr>()
            .map_err(|_| invalid(format!("invalid IPv6 address \"{}\"", crate::escaped(addr))))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| invalid(format!("unexpected \"{}\" after IPv6 address", crate::escaped(after))))?,
            ),
        };
        return Ok((format!("[{}]", addr.to_ascii_lowercase()), port));
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (hostport, None),
    };
    if host.is_empty() {
        return Err(invalid("empty host"));
    }
    if host.contains(':') {
        return Err(invalid("IPv6 addresses must be in brackets, e.g. http://[::1]:3128"));
    }
    if let Some(bad) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        return Err(invalid(format!(
            "invalid character '{}' in host",
            crate::escaped(&bad.to_string())
        )));
    }
    Ok((
        ipv4_if_numeric(host)?.unwrap_or_else(|| host.to_ascii_lowercase()),
        port,
    ))
}

/// A host that "ends in a number" (WHATWG URL: its last label, a trailing dot ignored, is
/// all digits or a `0x` hex number) is an IPv4 address or nothing: it is never looked up
/// as a name. Only the dotted-decimal form is accepted (`10.0.0.1`, normalized without a
/// trailing dot). The short and hex forms that WHATWG and `inet_aton` read (`1.2.3`,
/// `0x7f.1`, `010.0.0.1` as octal) are refused, because Go, curl and the resolver
/// disagree on them; so is every value out of range (`10.0.0.256`).
fn ipv4_if_numeric(host: &str) -> Result<Option<String>, InvalidProxyUrl> {
    let without_dot = host.strip_suffix('.').unwrap_or(host);
    let last = without_dot.rsplit('.').next().unwrap_or("");
    let hex = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_hexdigit()));
    let ends_in_a_number = !last.is_empty() && (last.bytes().all(|b| b.is_ascii_digit()) || hex);
    if !ends_in_a_number {
        return Ok(None);
    }
    match without_dot.parse::<Ipv4Addr>() {
        Ok(addr) => Ok(Some(addr.to_string())),
        Err(_) => Err(invalid(format!(
            "host \"{}\" looks like an IPv4 address but is not one: write four decimal numbers 0-255, e.g. 10.0.0.1",
            crate::escaped(host)
        ))),
    }
}

/// RFC 1929 carries each of the user name and the password in 1 to 255 bytes.
fn check_socks_credentials(user: Option<&str>, password: Option<&str>) -> Result<(), InvalidProxyUrl> {
    let Some(user) = user else { return Ok(()) };
    let fits = |s: &str| (1..=255).contains(&s.len());
    if !fits(user) || !password.is_some_and(fits) {
        return Err(invalid(
            "SOCKS5 authentication (RFC 1929) needs a user name and a password of 1 to 255 bytes each (user:password@)",
        ));
    }
    Ok(())
}

fn parse_port(port: &str) -> Result<u16, InvalidProxyUrl> {
    match port.parse::<u16>() {
        Ok(p) if p != 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err(invalid(format!("invalid port \"{}\"", crate::escaped(port)))),
    }
}

fn decode_userinfo(part: &str, what: &str) -> Result<String, InvalidProxyUrl> {
    percent_decode_str(part)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| invalid(format!("the {what} is not valid UTF-8 after percent-decoding")))
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        match (&self.username_shown, &self.username) {
            (Some(user), _) => write!(f, "{user}:***@")?,
            (None, Some(_)) => f.write_str("***@")?,
            (None, None) => {}
        }
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::redact_url_credentials;

    #[test]
    fn parses_the_forms_operators_write() {
        let p = ProxyUrl::parse("http://localhost:3128").unwrap();
        assert_eq!((p.scheme(), p.host(), p.port()), (ProxyScheme::Http, "localhost", 3128));
        let p = ProxyUrl::parse("https://proxy.example.com").unwrap();
        assert_eq!((p.scheme(), p.port()), (ProxyScheme::Https, 443));
        let p = ProxyUrl::parse("proxy:8080").unwrap();
        assert!(p.scheme_assumed());
        assert_eq!(p.to_string(), "http://proxy:8080");
        let p = ProxyUrl::parse("http://[::1]:3128/").unwrap();
        assert_eq!((p.host(), p.host_unbracketed(), p.port()), ("[::1]", "::1", 3128));
    }

    #[test]
    fn credentials_are_decoded_and_never_displayed() {
        let p = ProxyUrl::parse("http://alice:p%40ss%3Aword@proxy:3128").unwrap();
        assert_eq!(p.username(), Some("alice"));
        assert_eq!(p.to_string(), "http://alice:***@proxy:3128");
        assert!(!format!("{p:?}").contains("p@ss"));
        let header = p.proxy_authorization().unwrap();
        assert!(header.is_sensitive());
        // base64("alice:p@ss:word")
        assert_eq!(header.to_str().unwrap(), "Basic YWxpY2U6cEBzczp3b3Jk");
    }

    #[test]
    fn rejects_what_cannot_be_a_proxy() {
        for (input, reason) in [
            ("http://badproxy:wrong_port", "invalid port \"wrong_port\""),
            ("http://:3128", "empty host"),
            (
                "socks4://proxy:1080",
                "unsupported scheme \"socks4\": expected http://, https://, socks5:// or socks5h://",
            ),
            (
                "socks5://user@proxy:1080",
                "SOCKS5 authentication (RFC 1929) needs a user name and a password of 1 to 255 bytes each (user:password@)",
            ),
            (
                "socks5h://:pw@proxy",
                "SOCKS5 authentication (RFC 1929) needs a user name and a password of 1 to 255 bytes each (user:password@)",
            ),
            ("http://proxy:0", "invalid port \"0\""),
            ("http://proxy:3128/path", "unexpected path, query or fragment \"/path\""),
            (
                "http://::1:3128",
                "IPv6 addresses must be in brackets, e.g. http://[::1]:3128",
            ),
            ("http://pro xy:3128", "invalid character ' ' in host"),
        ] {
            assert_eq!(ProxyUrl::parse(input).unwrap_err().reason, reason, "{input}");
        }
    }

    #[test]
    fn a_host_that_ends_in_a_number_must_be_a_dotted_decimal_ipv4_address() {
        for input in [
            "http://10.0.0.256:3128",
            "http://421.627.718.469:3128",
            "http://1.2.3:3128",
            "http://0x7f.1:3128",
            "http://0x7f000001:3128",
            "http://010.0.0.1:3128",
            "http://2130706433:3128",
            "http://proxy.3:3128",
            "http://proxy.0x:3128",
            "10.0.0.256:8080",
        ] {
            let reason = ProxyUrl::parse(input).unwrap_err().reason;
            assert!(
                reason.contains("looks like an IPv4 address but is not one: write four decimal numbers 0-255"),
                "{input}: {reason}"
            );
        }
        for (input, host) in [
            ("http://10.0.0.1:3128", "10.0.0.1"),
            ("http://10.0.0.1.:3128", "10.0.0.1"),
            ("http://255.255.255.255:3128", "255.255.255.255"),
            ("127.0.0.1:8080", "127.0.0.1"),
            // Not numeric in the last label: names, looked up as names.
            ("http://proxy1:3128", "proxy1"),
            ("http://10.0.0.1x:3128", "10.0.0.1x"),
            ("http://0xg.example:3128", "0xg.example"),
            ("http://1.2.3.example:3128", "1.2.3.example"),
        ] {
            assert_eq!(ProxyUrl::parse(input).unwrap().host(), host, "{input}");
        }
    }

    #[test]
    fn raw_values_are_redacted_in_errors() {
        assert_eq!(redact_url_credentials("http://u:secret@host:x"), "http://u:***@host:x");
        assert_eq!(redact_url_credentials("http://host:x"), "http://host:x");
        assert_eq!(
            redact_url_credentials("http://gw:se/cr@et@proxy:3128/x"),
            "http://gw:***@proxy:3128/x"
        );
    }

    #[test]
    fn the_user_is_displayed_as_written_percent_encoded() {
        let p = ProxyUrl::parse("http://u%40x:p%3Ass@h:1").unwrap();
        assert_eq!(p.username(), Some("u@x"));
        assert_eq!(p.to_string(), "http://u%40x:***@h:1");
        assert_eq!(p.redacted(), "http://u%40x:***@h:1");
        assert_eq!(format!("{p:?}"), "ProxyUrl(http://u%40x:***@h:1)");
        assert!(!format!("{p} {p:?}").contains("p%3Ass") && !format!("{p} {p:?}").contains("p:ss"));
        // base64("u@x:p:ss"): the header carries the decoded values.
        assert_eq!(p.proxy_authorization().unwrap().to_str().unwrap(), "Basic dUB4OnA6c3M=");
        // Escapes are kept as written (case included); what would be ambiguous or
        // unprintable unencoded is encoded.
        for (input, shown) in [
            ("http://%61lice%2f:pw@h:1", "http://%61lice%2f:***@h:1"),
            ("http://u@x:pw@h:1", "http://u%40x:***@h:1"),
            ("http://a%zz%:pw@h:1", "http://a%25zz%25:***@h:1"),
            ("http://j%C3%BCrgen:pw@h:1", "http://j%C3%BCrgen:***@h:1"),
            ("http://jürgen:pw@h:1", "http://j%C3%BCrgen:***@h:1"),
            ("http://a b:pw@h:1", "http://a%20b:***@h:1"),
            (
                "http://tok-en_1.~!$&'()*+,;=:pw@h:1",
                "http://tok-en_1.~!$&'()*+,;=:***@h:1",
            ),
            // Without a colon the userinfo may be a token: not shown at all.
            ("http://tok-en_1.~!$&'()*+,;=@h:1", "http://***@h:1"),
        ] {
            assert_eq!(ProxyUrl::parse(input).unwrap().to_string(), shown, "{input}");
        }
    }

    #[test]
    fn redaction_keeps_the_written_user_and_hides_every_password() {
        assert_eq!(
            redact_url_credentials("http://u%40x:p%3Ass@h:1"),
            "http://u%40x:***@h:1"
        );
        assert_eq!(redact_url_credentials("http://u@x:secret@h:1"), "http://u%40x:***@h:1");
        assert_eq!(redact_url_credentials("u%40x:secret@h:1"), "u%40x:***@h:1");
        // `://` inside a scheme-less value's password is not a scheme.
        let shown = redact_url_credentials("user:pa://ss@h:1");
        assert_eq!(shown, "user:***@h:1");
        assert!(!shown.contains("pa") && !shown.contains("ss"));
        assert_eq!(redact_url_credentials("HTTPS+x.y-z://u:pw@h"), "HTTPS+x.y-z://u:***@h");
        // Userinfo without a colon is a token: hidden whole, in both forms.
        assert_eq!(
            redact_url_credentials("http://TOKEN@proxy:3128"),
            "http://***@proxy:3128"
        );
        assert_eq!(
            ProxyUrl::parse("http://TOKEN@proxy:3128").unwrap().to_string(),
            "http://***@proxy:3128"
        );
        assert!(!format!("{:?}", ProxyUrl::parse("http://TOKEN@proxy:3128").unwrap()).contains("TOKEN"));
    }

    #[test]
    fn a_password_may_contain_at_signs_but_slashes_must_be_encoded() {
        let p = ProxyUrl::parse("http://gw:hunt%2Fer@2@proxy:3128").unwrap();
        assert_eq!((p.host(), p.port(), p.username()), ("proxy", 3128, Some("gw")));
        assert_eq!(p.to_string(), "http://gw:***@proxy:3128");
        // base64("gw:hunt/er@2")
        assert_eq!(
            p.proxy_authorization().unwrap().to_str().unwrap(),
            "Basic Z3c6aHVudC9lckAy"
        );
        for ambiguous in [
            "http://gw:hunt/er2@proxy:3128",
            "http://proxy:3128/x@evil",
            "http://a?b@proxy:1",
        ] {
            let reason = ProxyUrl::parse(ambiguous).unwrap_err().reason;
            assert_eq!(
                reason,
                "the user name or password contains '/', '?' or '#': percent-encode it (%2F, %3F, %23)"
            );
        }
    }

    #[test]
    fn socks5_urls_default_to_port_1080_and_keep_credentials_for_rfc_1929() {
        let p = ProxyUrl::parse("socks5://proxy.example").unwrap();
        assert_eq!(
            (p.scheme(), p.host(), p.port()),
            (ProxyScheme::Socks5, "proxy.example", 1080)
        );
        assert!(p.scheme().is_socks() && p.socks_credentials().is_none());
        assert_eq!(p.to_string(), "socks5://proxy.example:1080");
        let p = ProxyUrl::parse("SOCKS5H://gw%40corp:s%3Acret@[::1]:9050/").unwrap();
        assert_eq!((p.scheme(), p.host(), p.port()), (ProxyScheme::Socks5h, "[::1]", 9050));
        assert_eq!(p.socks_credentials(), Some(("gw@corp", "s:cret")));
        // No HTTP header for a SOCKS proxy, and the password is never shown.
        assert!(p.proxy_authorization().is_none());
        assert_eq!(p.to_string(), "socks5h://gw%40corp:***@[::1]:9050");
        assert_eq!(format!("{p:?}"), "ProxyUrl(socks5h://gw%40corp:***@[::1]:9050)");
        // HTTP proxies have no SOCKS credentials.
        assert!(ProxyUrl::parse("http://u:p@h:1").unwrap().socks_credentials().is_none());
        let long = "x".repeat(256);
        assert!(ProxyUrl::parse(&format!("socks5://{long}:pw@h")).is_err());
        assert!(ProxyUrl::parse(&format!("socks5://u:{}@h", "y".repeat(255))).is_ok());
    }
}
