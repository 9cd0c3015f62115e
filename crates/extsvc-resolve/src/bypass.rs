//! The bypass-list index: "does `host:port` skip the proxy, and because of which entry?"
//! The structure and its cost are documented on [`BypassList`]; the rules in
//! `docs/bypass.md`.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use extsvc_config::BypassEntry;
use ipnet::IpNet;

/// The longest host name that can match (RFC 1035, without the trailing dot).
const MAX_NAME_LEN: usize = 253;
/// The longest label that can match (RFC 1035).
const MAX_LABEL_LEN: usize = 63;

/// A bypass list, indexed once so a decision never scans the list.
///
/// [`BypassList::new`] builds the index in O(entries); [`BypassList::matches`] then
/// answers per request without scanning the list, without DNS and without allocating.
///
/// # Cost of a lookup
///
/// - **`*`**: the position of the first `*` entry, O(1).
/// - **Domains**: a hash map from the normalized domain (`example.com`) to its port
///   rule. A host name is lower-cased into a stack buffer and each of its label suffixes
///   (`a.b.example.com`, `b.example.com`, `example.com`, `com`) is looked up: at most one
///   lookup per label, O(length × labels) bytes hashed, independent of the list length.
/// - **IP addresses and CIDRs**: one hash map per (family, prefix length); an address is
///   a `/32` or `/128`, a CIDR has its own prefix length. An IP target is masked once
///   per *distinct* prefix length present and looked up: at most 33 (IPv4) or 129
///   (IPv6) lookups, whatever the number of entries. `localhost` adds `127.0.0.0/8` and
///   `::1/128`.
/// - **Ports**: every key holds the first entry without a port and the first entry per
///   port (sorted, binary-searched).
///
/// When several entries match, the one written **first** in the list is returned: each
/// lookup yields the earliest list position it knows, and the smallest position wins.
///
/// ```
/// use extsvc_config::parse_bypass_list;
/// use extsvc_resolve::BypassList;
///
/// let (entries, _) = parse_bypass_list(".internal, 10.0.0.0/8, example.org:443, localhost");
/// let list = BypassList::new(entries);
/// assert_eq!(list.matches("API.Internal.", 80).map(ToString::to_string).as_deref(), Some(".internal"));
/// assert_eq!(list.matches("10.1.2.3", 8080).map(ToString::to_string).as_deref(), Some("10.0.0.0/8"));
/// assert!(list.matches("example.org", 443).is_some());
/// assert!(list.matches("example.org", 80).is_none());
/// assert!(list.matches("notinternal", 80).is_none());
/// assert_eq!(list.matches("[::1]", 8080).map(ToString::to_string).as_deref(), Some("localhost"));
/// ```
#[derive(Clone, Default)]
pub struct BypassList {
    entries: Vec<BypassEntry>,
    index: Index,
}

/// Positions into `BypassList::entries`, keyed for lookup.
#[derive(Clone, Default)]
struct Index {
    /// The first `*` entry.
    any: Option<usize>,
    /// Normalized domain (lower-case, no trailing dot) → rule.
    domains: HashMap<Box<str>, PortRule>,
    /// Per prefix length (ascending): network address masked to that length → rule.
    v4: Vec<(u8, HashMap<u32, PortRule>)>,
    /// As `v4`, for IPv6.
    v6: Vec<(u8, HashMap<u128, PortRule>)>,
}

/// The earliest entries under one key: without a port, and per port.
#[derive(Clone, Default)]
struct PortRule {
    any_port: Option<usize>,
    /// Sorted by port, one element per port.
    ports: Vec<(u16, usize)>,
}

impl PortRule {
    /// Records entry `pos`; entries are added in list order, so an existing one stays.
    fn add(&mut self, port: Option<u16>, pos: usize) {
        match port {
            None => {
                self.any_port.get_or_insert(pos);
            }
            Some(port) => {
                if let Err(at) = self.ports.binary_search_by_key(&port, |&(p, _)| p) {
                    self.ports.insert(at, (port, pos));
                }
            }
        }
    }

    fn lookup(&self, port: u16) -> Option<usize> {
        let on_port = self
            .ports
            .binary_search_by_key(&port, |&(p, _)| p)
            .ok()
            .map(|at| self.ports[at].1);
        earliest(self.any_port, on_port)
    }
}

/// The smaller of two optional positions.
fn earliest(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn mask_v4(addr: u32, len: u8) -> u32 {
    addr & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask_v6(addr: u128, len: u8) -> u128 {
    addr & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

impl Index {
    fn build(entries: &[BypassEntry]) -> Index {
        let mut index = Index::default();
        for (pos, entry) in entries.iter().enumerate() {
            let port = entry.port();
            if entry.is_any() {
                index.any.get_or_insert(pos);
            } else if let Some(domain) = entry.domain() {
                index.domains.entry(domain.into()).or_default().add(port, pos);
                if domain == "localhost" {
                    index.add_net(IpNet::V4("127.0.0.0/8".parse().expect("valid CIDR")), port, pos);
                    index.add_net(IpNet::V6("::1/128".parse().expect("valid CIDR")), port, pos);
                }
            } else if let Some(ip) = entry.ip() {
                index.add_net(IpNet::from(ip), port, pos);
            } else if let Some(net) = entry.network() {
                index.add_net(net, port, pos);
            }
        }
        index
    }

    fn add_net(&mut self, net: IpNet, port: Option<u16>, pos: usize) {
        fn group<K>(groups: &mut Vec<(u8, HashMap<K, PortRule>)>, len: u8) -> &mut HashMap<K, PortRule> {
            let at = match groups.binary_search_by_key(&len, |(l, _)| *l) {
                Ok(at) => at,
                Err(at) => {
                    groups.insert(at, (len, HashMap::new()));
                    at
                }
            };
            &mut groups[at].1
        }
        let len = net.prefix_len();
        match net.trunc() {
            IpNet::V4(net) => {
                let key = mask_v4(u32::from(net.network()), len);
                group(&mut self.v4, len).entry(key).or_default().add(port, pos);
            }
            IpNet::V6(net) => {
                let key = mask_v6(u128::from(net.network()), len);
                group(&mut self.v6, len).entry(key).or_default().add(port, pos);
            }
        }
    }

    /// O(distinct IPv4 prefix lengths) lookups.
    fn lookup_v4(&self, addr: Ipv4Addr, port: u16) -> Option<usize> {
        let addr = u32::from(addr);
        self.v4.iter().fold(None, |best, (len, nets)| {
            earliest(best, nets.get(&mask_v4(addr, *len)).and_then(|rule| rule.lookup(port)))
        })
    }

    /// O(distinct IPv6 prefix lengths) lookups.
    fn lookup_v6(&self, addr: Ipv6Addr, port: u16) -> Option<usize> {
        let addr = u128::from(addr);
        self.v6.iter().fold(None, |best, (len, nets)| {
            earliest(best, nets.get(&mask_v6(addr, *len)).and_then(|rule| rule.lookup(port)))
        })
    }

    /// O(labels) lookups: the name itself, then each suffix after a dot.
    fn lookup_name(&self, name: &str, port: u16) -> Option<usize> {
        if self.domains.is_empty() {
            return None;
        }
        let mut best = None;
        let mut suffix = name;
        loop {
            if let Some(rule) = self.domains.get(suffix) {
                best = earliest(best, rule.lookup(port));
            }
            match suffix.split_once('.') {
                Some((_, rest)) => suffix = rest,
                None => return best,
            }
        }
    }
}

/// A request target's host, classified without allocating.
enum Target<'b> {
    Ip(IpAddr),
    /// Lower-case name without a trailing dot, in the caller's stack buffer.
    Name(&'b str),
    /// Neither a valid host name nor an IP literal: only `*` matches it.
    Invalid,
}

impl<'b> Target<'b> {
    /// Classifies `host`; a name is lower-cased into `buf`.
    fn classify(host: &str, buf: &'b mut [u8; MAX_NAME_LEN]) -> Target<'b> {
        if let Some(inside) = host.strip_prefix('[') {
            return match inside.strip_suffix(']').and_then(|v6| v6.parse::<Ipv6Addr>().ok()) {
                Some(v6) => Target::Ip(IpAddr::V6(v6).to_canonical()),
                None => Target::Invalid,
            };
        }
        let host = host.strip_suffix('.').unwrap_or(host);
        // An IPv4 literal ends in a digit and an IPv6 one has a ':'; a host name like
        // `idp.example.com` is neither, and skips two failing parses.
        let maybe_ip = host.ends_with(|c: char| c.is_ascii_digit()) || host.contains(':');
        if let Some(ip) = maybe_ip.then(|| host.parse::<IpAddr>().ok()).flatten() {
            return Target::Ip(ip.to_canonical());
        }
        Target::lower_name(host, buf)
    }

    /// Copies `host` lower-cased into a stack buffer when it is a valid host name:
    /// letters, digits, `-`, `_` in non-empty labels of at most 63 bytes, 253 in all.
    fn lower_name(host: &str, buf: &'b mut [u8; MAX_NAME_LEN]) -> Target<'b> {
        let bytes = host.as_bytes();
        if bytes.is_empty() || bytes.len() > MAX_NAME_LEN {
            return Target::Invalid;
        }
        let mut label_len = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'.' {
                if label_len == 0 {
                    return Target::Invalid;
                }
                label_len = 0;
            } else if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                label_len += 1;
                if label_len > MAX_LABEL_LEN {
                    return Target::Invalid;
                }
            } else {
                return Target::Invalid;
            }
            buf[i] = b.to_ascii_lowercase();
        }
        if label_len == 0 {
            return Target::Invalid;
        }
        // Only ASCII bytes were copied, so this never fails.
        std::str::from_utf8(&buf[..bytes.len()]).map_or(Target::Invalid, Target::Name)
    }
}

impl BypassList {
    /// Indexes parsed entries. Cost O(entries); the list keeps their order.
    pub fn new(entries: Vec<BypassEntry>) -> BypassList {
        let index = Index::build(&entries);
        BypassList { entries, index }
    }

    /// The entries, as configured.
    pub fn entries(&self) -> &[BypassEntry] {
        &self.entries
    }

    /// Whether the list has no entries (nothing bypasses).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry that makes `host:port` bypass the proxy, if any. `host` is as in a URI
    /// (IPv6 literals may keep their brackets), in any case, with or without a trailing dot;
    /// `port` is the effective port (the scheme's default when the URL has none).
    ///
    /// When several entries match, the first one in list order is returned. A host that
    /// is neither a valid host name nor an IP literal matches only `*`. No DNS, no
    /// allocation, no scan of the list (see "Cost of a lookup" on [`BypassList`]).
    pub fn matches(&self, host: &str, port: u16) -> Option<&BypassEntry> {
        if self.index.any == Some(0) {
            return self.entries.first();
        }
        let mut buf = [0u8; MAX_NAME_LEN];
        let found = match Target::classify(host, &mut buf) {
            Target::Ip(IpAddr::V4(v4)) => self.index.lookup_v4(v4, port),
            Target::Ip(IpAddr::V6(v6)) => self.index.lookup_v6(v6, port),
            Target::Name(name) => self.index.lookup_name(name, port),
            Target::Invalid => None,
        };
        earliest(self.index.any, found).map(|pos| &self.entries[pos])
    }
}

impl PartialEq for BypassList {
    /// Lists are equal when their entries are (the index follows from them).
    fn eq(&self, other: &BypassList) -> bool {
        self.entries == other.entries
    }
}

impl Eq for BypassList {}

impl fmt::Debug for BypassList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BypassList")
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use extsvc_config::parse_bypass_list;

    fn list(input: &str) -> BypassList {
        let (entries, invalid) = parse_bypass_list(input);
        assert!(invalid.is_empty(), "{invalid:?}");
        BypassList::new(entries)
    }

    fn matched(list: &BypassList, host: &str, port: u16) -> Option<String> {
        list.matches(host, port).map(ToString::to_string)
    }

    #[test]
    fn masks_cover_the_edges() {
        assert_eq!(mask_v4(0xffff_ffff, 0), 0);
        assert_eq!(mask_v4(0xffff_ffff, 8), 0xff00_0000);
        assert_eq!(mask_v4(0xffff_ffff, 32), 0xffff_ffff);
        assert_eq!(mask_v6(u128::MAX, 0), 0);
        assert_eq!(mask_v6(u128::MAX, 1), 1 << 127);
        assert_eq!(mask_v6(u128::MAX, 128), u128::MAX);
    }

    #[test]
    fn first_entry_in_list_order_wins() {
        let l = list("example.com:443, a.example.com, example.com, *");
        assert_eq!(matched(&l, "a.example.com", 443).as_deref(), Some("example.com:443"));
        assert_eq!(matched(&l, "a.example.com", 80).as_deref(), Some("a.example.com"));
        assert_eq!(matched(&l, "b.example.com", 80).as_deref(), Some("example.com"));
        assert_eq!(matched(&l, "other.org", 80).as_deref(), Some("*"));
        let l = list("10.0.0.0/8, 10.1.0.0/16, 10.1.2.3, localhost, 127.0.0.0/8");
        assert_eq!(matched(&l, "10.1.2.3", 1).as_deref(), Some("10.0.0.0/8"));
        assert_eq!(matched(&l, "127.0.0.9", 1).as_deref(), Some("localhost"));
        let l = list("10.1.2.3, 10.1.0.0/16");
        assert_eq!(matched(&l, "10.1.2.3", 1).as_deref(), Some("10.1.2.3"));
        assert_eq!(matched(&l, "10.1.9.9", 1).as_deref(), Some("10.1.0.0/16"));
        let l = list("a.com, *, b.com");
        assert_eq!(matched(&l, "b.com", 1).as_deref(), Some("*"));
        assert_eq!(matched(&l, "x.a.com", 1).as_deref(), Some("a.com"));
    }

    #[test]
    fn duplicate_keys_keep_the_first_entry() {
        let l = list("Example.com, example.com., .example.com, x.org:80, X.ORG:80");
        assert_eq!(matched(&l, "example.com", 1).as_deref(), Some("Example.com"));
        assert_eq!(matched(&l, "x.org", 80).as_deref(), Some("x.org:80"));
    }

    #[test]
    fn invalid_hosts_match_only_star() {
        let l = list("example.com, 10.0.0.0/8");
        let long = format!("{}.example.com", "a".repeat(64));
        for host in [
            "",
            ".",
            "a..example.com",
            ".example.com",
            "exa mple.com",
            "[10.0.0.1]",
            "[::1",
            &long,
            "é.example.com",
        ] {
            assert_eq!(matched(&l, host, 80), None, "{host:?}");
        }
        let star = list("*");
        assert_eq!(matched(&star, "exa mple.com", 80).as_deref(), Some("*"));
        assert_eq!(matched(&star, "", 80).as_deref(), Some("*"));
    }

    #[test]
    fn equality_and_debug_follow_the_entries() {
        assert_eq!(list("a.com, 10.0.0.0/8"), list(" a.com ,10.0.0.0/8"));
        assert_ne!(list("a.com"), list("A.com"));
        assert_eq!(BypassList::default(), list(""));
        assert!(BypassList::default().is_empty());
        assert!(format!("{:?}", list("a.com")).contains("a.com"));
    }
}
