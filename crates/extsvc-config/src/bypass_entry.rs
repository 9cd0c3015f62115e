//! Parsing of bypass lists (`bypass_proxy`, `NO_PROXY`).
//!
//! A list is split on `,`; each entry is trimmed and empty entries are skipped. An
//! entry is one of (matching is case-insensitive and a trailing dot is ignored):
//!
//! | written as | means |
//! |---|---|
//! | `*` | every host, every port |
//! | `example.com`, `.example.com`, `*.example.com` | that domain and every subdomain |
//! | `127.0.0.1`, `::1`, `[::1]` | that address |
//! | `10.0.0.0/8`, `fd00::/8` | every IP literal inside the network |
//! | any of the above but `*` and CIDRs, plus `:port` (`[::1]:8080`) | only that port |
//!
//! `localhost` and loopback meet both ways: the entry `localhost` also matches the
//! loopback literals, and an entry covering `127.0.0.1` or `::1` also matches the names
//! `localhost` and `*.localhost` (RFC 6761).
//!
//! IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are treated as the IPv4 address they
//! carry, and a CIDR inside `::ffff:0:0/96` as the matching IPv4 network. A CIDR with
//! host bits set (`10.1.2.3/8`) means its network (`10.0.0.0/8`), as in Go.
//!
//! The index that answers "does this host bypass?" lives in `extsvc-resolve`
//! (`BypassList`); `docs/bypass.md` compares these rules with curl, Go and hyper-util.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU16;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The longest host name accepted (RFC 1035, without the trailing dot).
const MAX_NAME_LEN: usize = 253;
/// The longest label accepted (RFC 1035).
const MAX_LABEL_LEN: usize = 63;
/// Entries this long or longer are refused before parsing (the longest valid one, a
/// 253-byte domain with `*.`, a trailing dot and a port, is 262 bytes).
const MAX_ENTRY_LEN: u16 = 4096;

/// One parsed entry of a bypass list.
///
/// [`Display`](fmt::Display) shows the entry as the operator wrote it (trimmed), so
/// `.internal` stays `.internal` and `*.local` stays `*.local`; the accessors give the
/// normalized meaning.
///
/// An entry is one allocation and 40 bytes: the normalized domain is a range of the
/// written form when written in lower case (the usual case), and is appended to it
/// otherwise (a list can have a million entries, docs/performance.md).
#[derive(Clone, PartialEq, Eq)]
pub struct BypassEntry {
    /// The written form (`text[..written_len]`), then, for a domain written with
    /// upper-case letters, its lower-case form.
    text: Box<str>,
    written_len: u16,
    pattern: Pattern,
    port: Option<NonZeroU16>,
}

/// What an entry matches, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// `*`.
    Any,
    /// A domain and its subdomains, `text[start..end]`: lower-case, no leading
    /// `.`/`*.`, no trailing dot.
    Domain { start: u16, end: u16 },
    /// One address, IPv4-mapped IPv6 turned into IPv4.
    Ip(IpAddr),
    /// A network, host bits cleared, IPv4-mapped IPv6 turned into IPv4.
    Network(IpNet),
}

/// What a parsed entry means, before it is stored.
enum Meaning {
    Any,
    Domain(String),
    Ip(IpAddr),
    Network(IpNet),
}

impl BypassEntry {
    /// Parses one entry. Surrounding whitespace is ignored; an empty entry is an error
    /// here (a list skips empty entries before calling this).
    ///
    /// ```
    /// use extsvc::config::BypassEntry;
    ///
    /// let entry = BypassEntry::parse("*.Example.COM.:8443").unwrap();
    /// assert_eq!(entry.domain(), Some("example.com"));
    /// assert_eq!(entry.port(), Some(8443));
    /// assert_eq!(entry.to_string(), "*.Example.COM.:8443");
    ///
    /// let bad = BypassEntry::parse("10.0.0.0/33").unwrap_err();
    /// assert!(bad.reason.contains("prefix length 33"));
    /// ```
    pub fn parse(entry: &str) -> Result<BypassEntry, InvalidBypassEntry> {
        let written = entry.trim();
        let invalid = |reason| InvalidBypassEntry {
            entry: written.to_owned(),
            reason,
        };
        // A valid entry is at most a few hundred bytes; this keeps its offsets in `u16`.
        if written.len() >= usize::from(MAX_ENTRY_LEN) {
            return Err(invalid(format!("entry is longer than {MAX_ENTRY_LEN} bytes")));
        }
        let written_len = written.len() as u16;
        let (meaning, port) = parse_entry(written).map_err(invalid)?;
        let (text, pattern) = match meaning {
            Meaning::Any => (written.into(), Pattern::Any),
            Meaning::Ip(addr) => (written.into(), Pattern::Ip(addr)),
            Meaning::Network(net) => (written.into(), Pattern::Network(net)),
            Meaning::Domain(domain) => {
                // The domain is at most 253 bytes and the written form shorter than
                // `MAX_ENTRY_LEN`, so both offsets fit in `u16`.
                let (text, start) = match written.find(&*domain) {
                    Some(start) => (Box::from(written), start as u16),
                    None => (format!("{written}{domain}").into_boxed_str(), written_len),
                };
                let end = start + domain.len() as u16;
                (text, Pattern::Domain { start, end })
            }
        };
        Ok(BypassEntry {
            text,
            written_len,
            pattern,
            port: port.and_then(NonZeroU16::new),
        })
    }

    /// The entry as written, trimmed.
    pub fn as_str(&self) -> &str {
        self.text.get(..usize::from(self.written_len)).unwrap_or_default()
    }

    /// Whether this is the `*` entry (bypass every host on every port).
    pub fn is_any(&self) -> bool {
        matches!(self.pattern, Pattern::Any)
    }

    /// For a domain entry, the domain it covers together with its subdomains: lower-case,
    /// without the leading `.` or `*.` and without a trailing dot.
    pub fn domain(&self) -> Option<&str> {
        match &self.pattern {
            Pattern::Domain { start, end } => self.text.get(usize::from(*start)..usize::from(*end)),
            _ => None,
        }
    }

    /// For an IP entry, its address. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
    /// is returned as the IPv4 address.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.pattern {
            Pattern::Ip(addr) => Some(addr),
            _ => None,
        }
    }

    /// For a CIDR entry, its network with the host bits cleared (`10.1.2.3/8` gives
    /// `10.0.0.0/8`). A network inside `::ffff:0:0/96` is returned as the IPv4 network
    /// it maps (`::ffff:10.0.0.0/104` gives `10.0.0.0/8`).
    pub fn network(&self) -> Option<IpNet> {
        match self.pattern {
            Pattern::Network(net) => Some(net),
            _ => None,
        }
    }

    /// The only port this entry applies to, when it names one.
    pub fn port(&self) -> Option<u16> {
        self.port.map(NonZeroU16::get)
    }
}

impl FromStr for BypassEntry {
    type Err = InvalidBypassEntry;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BypassEntry::parse(s)
    }
}

impl fmt::Debug for BypassEntry {
    /// The written form and what it means, not the storage (offsets, appended text).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut entry = f.debug_struct("BypassEntry");
        entry.field("written", &self.as_str());
        match &self.pattern {
            Pattern::Any => entry.field("any", &true),
            Pattern::Domain { .. } => entry.field("domain", &self.domain()),
            Pattern::Ip(addr) => entry.field("ip", addr),
            Pattern::Network(net) => entry.field("network", net),
        };
        entry.field("port", &self.port()).finish()
    }
}

impl fmt::Display for BypassEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bypass-list entry that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvalidBypassEntry {
    /// The entry as written (trimmed).
    pub entry: String,
    /// Why it was rejected.
    pub reason: String,
}

impl fmt::Display for InvalidBypassEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The entry and the reason (which may quote it) are shown, never echoed: a
        // `u:pw@host` pasted into NO_PROXY must not print the password.
        write!(
            f,
            "invalid bypass entry \"{}\": {}",
            crate::shown(&self.entry),
            crate::shown(&self.reason)
        )
    }
}

impl std::error::Error for InvalidBypassEntry {}

/// Parses a comma-separated bypass list. Empty entries are skipped. Returns the good
/// entries and, separately, every bad one (the config loader turns those into errors,
/// `NO_PROXY` handling into warnings). Both keep the order of the input.
///
/// ```
/// use extsvc::config::internal::parse_bypass_list;
///
/// let (entries, invalid) = parse_bypass_list(" localhost, .internal,,10.0.0.0/33 ");
/// let shown: Vec<String> = entries.iter().map(ToString::to_string).collect();
/// assert_eq!(shown, ["localhost", ".internal"]);
/// assert_eq!(invalid[0].entry, "10.0.0.0/33");
/// ```
pub fn parse_bypass_list(input: &str) -> (Vec<BypassEntry>, Vec<InvalidBypassEntry>) {
    let mut entries = Vec::new();
    let mut invalid = Vec::new();
    for part in input.split(',') {
        if part.trim().is_empty() {
            continue;
        }
        match BypassEntry::parse(part) {
            Ok(entry) => entries.push(entry),
            Err(bad) => invalid.push(bad),
        }
    }
    (entries, invalid)
}

/// Parses a trimmed, entry into its pattern and optional port, or says why it is invalid.
fn parse_entry(s: &str) -> Result<(Meaning, Option<u16>), String> {
    if s.is_empty() {
        return Err("empty entry".to_owned());
    }
    if s == "*" {
        return Ok((Meaning::Any, None));
    }
    if let Some(inside) = s.strip_prefix('[') {
        return parse_bracketed(inside);
    }
    if s.contains(']') {
        return Err("unexpected ']' without a matching '['".to_owned());
    }
    if let Some((addr, prefix)) = s.split_once('/') {
        return parse_cidr(addr, prefix).map(|net| (Meaning::Network(net), None));
    }
    match s.bytes().filter(|&b| b == b':').count() {
        0 => parse_host(s).map(|pattern| (pattern, None)),
        1 => {
            let (host, port) = s.split_once(':').expect("one ':' was counted");
            if host.is_empty() {
                return Err(format!("missing host before ':{port}'"));
            }
            if host == "*" {
                return Err("'*' matches every host and port; it cannot take a port".to_owned());
            }
            let port = parse_port(port)?;
            Ok((parse_host(host)?, Some(port)))
        }
        _ => match s.parse::<Ipv6Addr>() {
            Ok(addr) => Ok((Meaning::Ip(canonical_ip(IpAddr::V6(addr))), None)),
            Err(_) => Err(format!(
                "\"{}\" is not a valid IPv6 address (write an IPv6 address with a port as [address]:port)",
                crate::escaped(s)
            )),
        },
    }
}

/// `inside` is the entry after its leading `[`: `addr]` or `addr]:port`.
fn parse_bracketed(inside: &str) -> Result<(Meaning, Option<u16>), String> {
    let Some((addr, rest)) = inside.split_once(']') else {
        return Err("missing ']' after the bracketed IPv6 address".to_owned());
    };
    let addr: Ipv6Addr = addr.parse().map_err(|_| {
        format!(
            "\"{}\" inside brackets is not a valid IPv6 address",
            crate::escaped(addr)
        )
    })?;
    let port = if rest.is_empty() {
        None
    } else if let Some(port) = rest.strip_prefix(':') {
        Some(parse_port(port)?)
    } else if rest.starts_with('/') {
        return Err("a CIDR is written without brackets, e.g. fd00::/8".to_owned());
    } else {
        return Err(format!(
            "unexpected \"{}\" after ']' (expected nothing or :port)",
            crate::escaped(rest)
        ));
    };
    Ok((Meaning::Ip(canonical_ip(IpAddr::V6(addr))), port))
}

/// `addr/prefix`, host bits cleared, IPv4-mapped networks turned into IPv4.
fn parse_cidr(addr: &str, prefix: &str) -> Result<IpNet, String> {
    let ip: IpAddr = addr.parse().map_err(|_| {
        format!(
            "\"{}\" before '/' is not an IP address (a CIDR looks like 10.0.0.0/8 or fd00::/8)",
            crate::escaped(addr)
        )
    })?;
    if prefix.contains(':') {
        return Err("a CIDR entry cannot have a port".to_owned());
    }
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("prefix length \"{}\" is not a number", crate::escaped(prefix)));
    }
    let max: u8 = if ip.is_ipv4() { 32 } else { 128 };
    let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
    let len = prefix
        .parse::<u8>()
        .ok()
        .filter(|&len| len <= max)
        .ok_or_else(|| format!("prefix length {prefix} is out of range for {family} (0-{max})"))?;
    let net = match ip {
        IpAddr::V4(v4) => IpNet::V4(Ipv4Net::new(v4, len).expect("prefix length was checked").trunc()),
        IpAddr::V6(v6) => {
            let net = Ipv6Net::new(v6, len).expect("prefix length was checked").trunc();
            match net.network().to_ipv4_mapped() {
                Some(v4) if len >= 96 => {
                    IpNet::V4(Ipv4Net::new(v4, len - 96).expect("96..=128 minus 96 is a valid IPv4 prefix"))
                }
                _ => IpNet::V6(net),
            }
        }
    };
    Ok(net)
}

/// A decimal port in 1..=65535.
fn parse_port(port: &str) -> Result<u16, String> {
    if port.is_empty() {
        return Err("missing port after ':'".to_owned());
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port \"{}\" is not a number", crate::escaped(port)));
    }
    match port.parse::<u16>() {
        Ok(0) => Err("port 0 is not a valid port (1-65535)".to_owned()),
        Ok(port) => Ok(port),
        Err(_) => Err(format!("port {port} is out of range (1-65535)")),
    }
}

/// A host part without port or brackets: an IPv4 address or a (wildcard) domain.
fn parse_host(host: &str) -> Result<Meaning, String> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let (name, prefixed) = if let Some(rest) = host.strip_prefix("*.") {
        (rest, true)
    } else if let Some(rest) = host.strip_prefix('.') {
        (rest, true)
    } else {
        (host, false)
    };
    if name.contains('*') {
        return Err("'*' is allowed only as the whole entry or as a leading \"*.\"".to_owned());
    }
    if name.is_empty() {
        return Err("missing host name".to_owned());
    }
    if let Ok(v4) = name.parse::<Ipv4Addr>() {
        if prefixed {
            return Err(
                "a leading \".\" or \"*.\" applies to domain names, not IP addresses (use a CIDR such as 10.0.0.0/8)"
                    .to_owned(),
            );
        }
        return Ok(Meaning::Ip(IpAddr::V4(v4)));
    }
    if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("\"{}\" is not a valid IPv4 address", crate::escaped(name)));
    }
    validate_domain(name)?;
    Ok(Meaning::Domain(name.to_ascii_lowercase()))
}

/// Letters, digits, `-` and `_` in non-empty labels of at most 63 bytes, 253 in all.
fn validate_domain(name: &str) -> Result<(), String> {
    if !name.is_ascii() {
        return Err("non-ASCII host name; write internationalized names in punycode (xn--…)".to_owned());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("host name is longer than {MAX_NAME_LEN} characters"));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label in host name (\"..\" or a leading dot after \"*.\")".to_owned());
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(format!(
                "label \"{}\" is longer than {MAX_LABEL_LEN} characters",
                crate::escaped(label)
            ));
        }
        if let Some(c) = label.chars().find(|&c| !is_name_char(c)) {
            return Err(format!(
                "invalid character '{}' in host name (allowed: letters, digits, '-', '_', '.')",
                crate::escaped(c.encode_utf8(&mut [0; 4]))
            ));
        }
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// IPv4-mapped IPv6 addresses become IPv4; everything else is unchanged.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(entry: &str) -> String {
        match BypassEntry::parse(entry) {
            Ok(parsed) => panic!("{entry:?} parsed as {parsed:?}, expected an error"),
            Err(bad) => {
                assert_eq!(bad.entry, entry.trim());
                bad.reason
            }
        }
    }

    fn ok(entry: &str) -> BypassEntry {
        BypassEntry::parse(entry).unwrap_or_else(|e| panic!("{entry:?}: {}", e.reason))
    }

    #[test]
    fn malformed_entries_say_why() {
        let cases: &[(&str, &str)] = &[
            ("10.0.0.0/33", "prefix length 33 is out of range for IPv4 (0-32)"),
            ("fd00::/129", "prefix length 129 is out of range for IPv6 (0-128)"),
            ("10.0.0.0/", "prefix length \"\" is not a number"),
            ("10.0.0.0/x", "prefix length \"x\" is not a number"),
            ("10.0.0.0/8:80", "a CIDR entry cannot have a port"),
            ("example.com/8", "\"example.com\" before '/' is not an IP address"),
            ("host:notaport", "port \"notaport\" is not a number"),
            ("host:", "missing port after ':'"),
            ("host:0", "port 0 is not a valid port"),
            ("host:65536", "port 65536 is out of range (1-65535)"),
            ("host:99999999999", "port 99999999999 is out of range"),
            (":80", "missing host before ':80'"),
            ("*:80", "'*' matches every host and port; it cannot take a port"),
            ("exa mple.com", "invalid character ' ' in host name"),
            ("a..b", "empty label in host name"),
            ("*.", "'*' is allowed only as the whole entry"),
            (".", "missing host name"),
            (
                "*foo.com",
                "'*' is allowed only as the whole entry or as a leading \"*.\"",
            ),
            ("foo.*.com", "'*' is allowed only as the whole entry"),
            ("**", "'*' is allowed only as the whole entry"),
            ("[::1", "missing ']' after the bracketed IPv6 address"),
            ("[::1]80", "unexpected \"80\" after ']'"),
            ("[::1]:", "missing port after ':'"),
            ("[::1]:70000", "port 70000 is out of range"),
            ("[10.0.0.1]", "\"10.0.0.1\" inside brackets is not a valid IPv6 address"),
            ("[fd00::]/8", "a CIDR is written without brackets"),
            ("::1]", "unexpected ']' without a matching '['"),
            ("::1::2", "\"::1::2\" is not a valid IPv6 address"),
            ("fe80::1%eth0", "is not a valid IPv6 address"),
            ("256.1.1.1", "\"256.1.1.1\" is not a valid IPv4 address"),
            ("10.0.0", "\"10.0.0\" is not a valid IPv4 address"),
            (".10.0.0.1", "applies to domain names, not IP addresses"),
            ("*.10.0.0.1", "applies to domain names, not IP addresses"),
            ("bücher.de", "non-ASCII host name"),
            ("foo@bar.com", "invalid character '@'"),
            ("a.b..", "empty label in host name"),
        ];
        for (entry, expected) in cases {
            let got = reason(entry);
            assert!(
                got.contains(expected),
                "{entry:?}: reason {got:?} does not contain {expected:?}"
            );
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(reason(&long_label).contains("longer than 63"));
        let long_name = ["abcdefghi"; 26].join(".");
        assert!(reason(&long_name).contains("longer than 253"));
        for huge in [format!("10.0.0.0/{}8", "0".repeat(5000)), "a".repeat(70_000)] {
            assert!(reason(&huge).contains("entry is longer than 4096 bytes"));
        }
    }

    #[test]
    fn domains_are_normalized_but_displayed_as_written() {
        for written in [
            "example.com",
            ".example.com",
            "*.example.com",
            "EXAMPLE.com.",
            "*.Example.Com.",
        ] {
            let entry = ok(written);
            assert_eq!(entry.domain(), Some("example.com"), "{written}");
            assert_eq!(entry.port(), None);
            assert_eq!(entry.to_string(), written);
        }
        assert_eq!(ok(" .internal ").to_string(), ".internal");
        assert_eq!(ok("*.local").to_string(), "*.local");
        let with_port = ok("Example.org.:443");
        assert_eq!((with_port.domain(), with_port.port()), (Some("example.org"), Some(443)));
        assert_eq!(ok("my_service").domain(), Some("my_service"));
    }

    #[test]
    fn a_lower_case_domain_is_not_stored_twice() {
        let lower = ok("*.example.com.:443");
        assert_eq!(&*lower.text, "*.example.com.:443");
        assert_eq!(
            (lower.domain(), lower.as_str()),
            (Some("example.com"), "*.example.com.:443")
        );
        let mixed = ok(".Example.com");
        assert_eq!(&*mixed.text, ".Example.comexample.com");
        assert_eq!((mixed.domain(), mixed.as_str()), (Some("example.com"), ".Example.com"));
        assert_eq!(mixed.to_string(), ".Example.com");
        assert!(size_of::<BypassEntry>() <= 40);
        assert_eq!(
            format!("{mixed:?}"),
            r#"BypassEntry { written: ".Example.com", domain: Some("example.com"), port: None }"#
        );
    }

    #[test]
    fn addresses_and_networks() {
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        for written in ["::1", "[::1]", "0:0::1", "[0:0:0:0:0:0:0:1]"] {
            assert_eq!(ok(written).ip(), Some(v6), "{written}");
        }
        let bracketed = ok("[::1]:8080");
        assert_eq!((bracketed.ip(), bracketed.port()), (Some(v6), Some(8080)));
        let v4 = ok("127.0.0.1:80");
        assert_eq!((v4.ip(), v4.port()), (Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), Some(80)));
        assert_eq!(ok("127.0.0.1.").ip(), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        // IPv4-mapped IPv6 is the IPv4 address it carries.
        assert_eq!(ok("::ffff:10.0.0.1").ip(), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(ok("[::ffff:a00:1]:443").ip(), Some("10.0.0.1".parse().unwrap()));
        // Host bits are cleared, like Go's net.ParseCIDR.
        assert_eq!(ok("10.1.2.3/8").network(), Some("10.0.0.0/8".parse().unwrap()));
        assert_eq!(ok("10.1.2.3/8").to_string(), "10.1.2.3/8");
        assert_eq!(ok("fd00::1/8").network(), Some("fd00::/8".parse().unwrap()));
        assert_eq!(ok("::ffff:10.0.0.0/104").network(), Some("10.0.0.0/8".parse().unwrap()));
        assert_eq!(ok("::ffff:0:0/96").network(), Some("0.0.0.0/0".parse().unwrap()));
        assert_eq!(ok("::/0").network(), Some("::/0".parse().unwrap()));
        assert!(ok("*").is_any());
        assert_eq!(ok("*").port(), None);
    }

    #[test]
    fn lists_split_trim_and_skip_empty_entries() {
        let (entries, invalid) = parse_bypass_list(" a.com ,, \t,b.com:8080,[::1], 10.0.0.0/33 ,x y,");
        let shown: Vec<String> = entries.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["a.com", "b.com:8080", "[::1]"]);
        let bad: Vec<&str> = invalid.iter().map(|b| b.entry.as_str()).collect();
        assert_eq!(bad, ["10.0.0.0/33", "x y"]);
        assert_eq!(parse_bypass_list(""), (Vec::new(), Vec::new()));
        assert_eq!(parse_bypass_list(" , ,"), (Vec::new(), Vec::new()));
    }

    #[test]
    fn invalid_entry_display_names_entry_and_reason() {
        let bad = BypassEntry::parse("host:notaport").unwrap_err();
        assert_eq!(
            bad.to_string(),
            "invalid bypass entry \"host:notaport\": port \"notaport\" is not a number"
        );
    }
}
