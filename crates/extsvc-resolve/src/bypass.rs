//! The bypass-list index: "does `host:port` skip the proxy, and because of which entry?"
//! The structure and its cost are documented on [`BypassList`]; the rules in
//! `docs/bypass.md`.

use std::fmt;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use extsvc_config::BypassEntry;
use hashbrown::HashTable;
use ipnet::IpNet;

/// The index's maps. foldhash, not std's SipHash: a decision hashes one to three
/// short keys, where SipHash was most of its cost at 10 entries (docs/performance.md);
/// seeded per process like std's.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

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
/// - **Domains**: a hash table from the normalized domain (`example.com`) to its entries.
///   A host name is lower-cased into a stack buffer and each of its label suffixes
///   (`a.b.example.com`, `b.example.com`, `example.com`, `com`) is looked up: at most one
///   lookup per label, O(length × labels) bytes hashed, independent of the list length.
/// - **IP addresses and CIDRs**: one hash map per (family, prefix length); an address is
///   a `/32` or `/128`, a CIDR has its own prefix length. An IP target is masked once
///   per *distinct* prefix length present, longest first, and looked up until one hits:
///   at most 33 (IPv4) or 129 (IPv6) lookups, whatever the number of entries.
/// - **`localhost` and loopback**: two precomputed port rules. One holds the `localhost`
///   entries (asked for a loopback IP target: `127.0.0.0/8`, `::1`); the other holds
///   every address or CIDR entry covering `127.0.0.1` or `::1` (asked for the target
///   names `localhost` and `*.localhost`, RFC 6761 section 6.3). O(1) each.
/// - **Ports**: every key holds the first entry without a port and the first entry per
///   port (sorted, binary-searched).
///
/// # Which entry is returned
///
/// When several entries match, the **most specific** one is returned (it is the route
/// reason), in this order:
///
/// 1. the same host: an equal IP address (or a `/32`, `/128` CIDR), or a domain entry;
///    among domains the longest (`a.example.com` before `example.com`);
/// 2. the `localhost` rule: the entry `localhost` for a loopback IP target, or an entry
///    covering `127.0.0.1` / `::1` for the target `localhost`;
/// 3. a CIDR, the longest prefix first;
/// 4. `*`.
///
/// Within one of those, an entry naming the target's port comes before one without a
/// port, and then the entry written first in the list wins. Every step is a lookup that
/// stops at its first hit; nothing walks the list.
///
/// # Memory
///
/// The index holds no copy of a name: the domain table stores 4-byte slots (the
/// position of a key's entry, or of its port rule when several entries share the key)
/// and compares a target with the entries' own normalized domains; the IP tables map
/// masked addresses to slots. With the entries themselves (40 bytes and their written
/// form, [`BypassEntry`]), a list costs about 80 bytes per entry (1,000,000 entries,
/// docs/performance.md).
///
/// ```
/// use extsvc::config::internal::parse_bypass_list;
/// use extsvc::resolve::BypassList;
///
/// let (entries, _) = parse_bypass_list(".internal, 10.0.0.0/8, example.org:443, localhost");
/// let list = BypassList::new(entries);
/// assert_eq!(list.matches("API.Internal.", 80).map(ToString::to_string).as_deref(), Some(".internal"));
/// assert_eq!(list.matches("10.1.2.3", 8080).map(ToString::to_string).as_deref(), Some("10.0.0.0/8"));
/// assert!(list.matches("example.org", 443).is_some());
/// assert!(list.matches("example.org", 80).is_none());
/// assert!(list.matches("notinternal", 80).is_none());
/// assert_eq!(list.matches("[::1]", 8080).map(ToString::to_string).as_deref(), Some("localhost"));
///
/// // An entry covering 127.0.0.1 also covers the name `localhost`, port included.
/// let (entries, _) = parse_bypass_list("127.0.0.1:8080, 10.0.0.0/8, 10.1.2.3");
/// let list = BypassList::new(entries);
/// assert_eq!(list.matches("LocalHost.", 8080).map(ToString::to_string).as_deref(), Some("127.0.0.1:8080"));
/// assert!(list.matches("localhost", 80).is_none());
/// // The exact address wins over the network that also contains it.
/// assert_eq!(list.matches("10.1.2.3", 80).map(ToString::to_string).as_deref(), Some("10.1.2.3"));
/// ```
///
/// Cloning is cheap: the entries and the index are shared (every service that inherits
/// the global list or `NO_PROXY`, and every client built from it, holds the same one).
#[derive(Clone, Default)]
pub struct BypassList {
    entries: Arc<[BypassEntry]>,
    index: Arc<Index>,
}

/// Where the entries for one key are: a [`Slot`] is either the position of the key's
/// only entry (most keys) or, with [`Slot::RULE`] set, the position of its [`PortRule`]
/// in `Index::rules`. Four bytes per key, so a million-entry list costs tens of bytes
/// per entry (docs/performance.md).
#[derive(Clone, Copy)]
struct Slot(u32);

impl Slot {
    const RULE: u32 = 1 << 31;
}

/// Positions into `BypassList::entries`, keyed for lookup. The keys are not copied:
/// the domain table holds slots only and compares a target with the entries' own
/// normalized domains; the IP tables' keys are the masked addresses.
#[derive(Clone, Default)]
struct Index {
    /// The first `*` entry.
    any: Option<u32>,
    /// Whether any entry other than `*` exists (else a decision needs no lookup).
    has_specific: bool,
    /// Hashes the domain keys (of entries and targets alike).
    hasher: foldhash::fast::RandomState,
    /// Normalized domain (lower-case, no trailing dot) → slot, hashed with `hasher`.
    domains: HashTable<Slot>,
    /// Per prefix length (ascending): network address masked to that length → slot.
    v4: Vec<(u8, HashMap<u32, Slot>)>,
    /// As `v4`, for IPv6.
    v6: Vec<(u8, HashMap<u128, Slot>)>,
    /// The port rules of keys with more than one entry.
    rules: Vec<PortRule>,
    /// The `localhost` entries, for loopback IP targets (`127.0.0.0/8`, `::1`).
    localhost_entries: PortRule,
    /// The address and CIDR entries covering `127.0.0.1` or `::1`, for the target names
    /// `localhost` and `*.localhost`.
    loopback_entries: PortRule,
}

/// The earliest entries under one key: without a port, and per port.
#[derive(Clone, Default)]
struct PortRule {
    any_port: Option<u32>,
    /// Sorted by port, one element per port.
    ports: Vec<(u16, u32)>,
}

impl PortRule {
    /// Records entry `pos`; entries are added in list order, so an existing one stays.
    fn add(&mut self, port: Option<u16>, pos: u32) {
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

    /// The entry for `port`: one naming that port before one without a port.
    fn lookup(&self, port: u16) -> Option<u32> {
        self.ports
            .binary_search_by_key(&port, |&(p, _)| p)
            .ok()
            .map(|at| self.ports[at].1)
            .or(self.any_port)
    }

    /// One of its entries (they share the key).
    fn any_entry(&self) -> Option<u32> {
        self.any_port.or_else(|| self.ports.first().map(|&(_, pos)| pos))
    }

    fn is_empty(&self) -> bool {
        self.any_port.is_none() && self.ports.is_empty()
    }
}

/// Per byte of a host name, its lower-case form; `0` for a byte no name may contain
/// (allowed: letters, digits, `-`, `_` and the `.` between labels). One load per byte
/// validates and lower-cases a target.
const NAME_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.' {
            table[b] = c.to_ascii_lowercase();
        }
        b += 1;
    }
    table
};

/// `127.0.0.1` and `::1`: what the name `localhost` resolves to.
const LOOPBACK_V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const LOOPBACK_V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// Whether `name` (lower-case, no trailing dot) is `localhost` or under it: RFC 6761
/// section 6.3 makes every such name a loopback name.
fn is_localhost_name(name: &[u8]) -> bool {
    name.strip_suffix(b"localhost")
        .is_some_and(|rest| rest.is_empty() || rest.ends_with(b"."))
}

fn mask_v4(addr: u32, len: u8) -> u32 {
    addr & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask_v6(addr: u128, len: u8) -> u128 {
    addr & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// The normalized domain of the domain entry at `pos`.
fn domain_at(entries: &[BypassEntry], pos: u32) -> &str {
    entries
        .get(pos as usize)
        .and_then(BypassEntry::domain)
        .unwrap_or_default()
}

/// One entry of a key's slot (they all share the key).
fn key_entry(rules: &[PortRule], slot: Slot) -> u32 {
    if slot.0 & Slot::RULE == 0 {
        return slot.0;
    }
    rules
        .get((slot.0 & !Slot::RULE) as usize)
        .and_then(PortRule::any_entry)
        .unwrap_or(u32::MAX)
}

impl Index {
    /// Indexes `entries` in list order. Positions are `u32` (below [`Slot::RULE`]): a
    /// list of 2^31 entries would need over 80 GB before it got here.
    fn build(entries: &[BypassEntry]) -> Index {
        let mut index = Index::default();
        for (pos, entry) in (0..Slot::RULE).zip(entries) {
            let port = entry.port();
            if entry.is_any() {
                index.any.get_or_insert(pos);
                continue;
            }
            index.has_specific = true;
            let net = if let Some(domain) = entry.domain() {
                index.add_domain(entries, domain, port, pos);
                if domain == "localhost" {
                    index.localhost_entries.add(port, pos);
                }
                continue;
            } else if let Some(ip) = entry.ip() {
                IpNet::from(ip)
            } else if let Some(net) = entry.network() {
                net
            } else {
                continue;
            };
            if net.contains(&LOOPBACK_V4) || net.contains(&LOOPBACK_V6) {
                index.loopback_entries.add(port, pos);
            }
            index.add_net(entries, net, port, pos);
        }
        index
    }

    /// Records entry `pos` (with `port`) in `slot`, which already holds earlier entries
    /// of the same key: a single entry becomes a port rule.
    fn add_to_slot(rules: &mut Vec<PortRule>, entries: &[BypassEntry], slot: &mut Slot, port: Option<u16>, pos: u32) {
        if slot.0 & Slot::RULE != 0 {
            if let Some(rule) = rules.get_mut((slot.0 & !Slot::RULE) as usize) {
                rule.add(port, pos);
            }
            return;
        }
        let mut rule = PortRule::default();
        let first = slot.0;
        rule.add(entries.get(first as usize).and_then(BypassEntry::port), first);
        rule.add(port, pos);
        // Fewer rules than entries, so this stays below `Slot::RULE`.
        *slot = Slot(Slot::RULE | rules.len() as u32);
        rules.push(rule);
    }

    fn add_domain(&mut self, entries: &[BypassEntry], domain: &str, port: Option<u16>, pos: u32) {
        let Index {
            hasher, domains, rules, ..
        } = self;
        let hash = hasher.hash_one(domain.as_bytes());
        let found = domains.find_mut(hash, |&slot| domain_at(entries, key_entry(rules, slot)) == domain);
        match found {
            Some(slot) => Index::add_to_slot(rules, entries, slot, port, pos),
            None => {
                domains.insert_unique(hash, Slot(pos), |&slot| {
                    hasher.hash_one(domain_at(entries, key_entry(rules, slot)).as_bytes())
                });
            }
        }
    }

    fn add_net(&mut self, entries: &[BypassEntry], net: IpNet, port: Option<u16>, pos: u32) {
        fn group<K>(groups: &mut Vec<(u8, HashMap<K, Slot>)>, len: u8) -> &mut HashMap<K, Slot> {
            let at = match groups.binary_search_by_key(&len, |(l, _)| *l) {
                Ok(at) => at,
                Err(at) => {
                    groups.insert(at, (len, HashMap::default()));
                    at
                }
            };
            &mut groups[at].1
        }
        let len = net.prefix_len();
        let (slot, new) = match net.trunc() {
            IpNet::V4(net) => {
                let key = mask_v4(u32::from(net.network()), len);
                let group = group(&mut self.v4, len);
                let new = !group.contains_key(&key);
                (group.entry(key).or_insert(Slot(pos)), new)
            }
            IpNet::V6(net) => {
                let key = mask_v6(u128::from(net.network()), len);
                let group = group(&mut self.v6, len);
                let new = !group.contains_key(&key);
                (group.entry(key).or_insert(Slot(pos)), new)
            }
        };
        if !new {
            Index::add_to_slot(&mut self.rules, entries, slot, port, pos);
        }
    }

    /// The entry a slot gives for `port`: one naming that port before one without.
    fn in_slot(&self, entries: &[BypassEntry], slot: Slot, port: u16) -> Option<u32> {
        if slot.0 & Slot::RULE != 0 {
            return self.rules.get((slot.0 & !Slot::RULE) as usize)?.lookup(port);
        }
        let entry_port = entries.get(slot.0 as usize)?.port();
        (entry_port.is_none() || entry_port == Some(port)).then_some(slot.0)
    }

    /// The most specific IPv4 match: the address itself, then the `localhost` rule for a
    /// loopback target, then CIDRs longest prefix first. O(distinct prefix lengths).
    fn lookup_v4(&self, entries: &[BypassEntry], addr: Ipv4Addr, port: u16) -> Option<u32> {
        let loopback = addr.is_loopback();
        let addr = u32::from(addr);
        let in_group = |(len, nets): &(u8, HashMap<u32, Slot>)| {
            nets.get(&mask_v4(addr, *len))
                .and_then(|&slot| self.in_slot(entries, slot, port))
        };
        let (exact, networks) = match self.v4.split_last() {
            Some((last, rest)) if last.0 == 32 => (in_group(last), rest),
            _ => (None, &self.v4[..]),
        };
        exact
            .or_else(|| self.localhost_rule(loopback, port))
            .or_else(|| networks.iter().rev().find_map(in_group))
    }

    /// As [`Index::lookup_v4`], for IPv6 (`/128` is the address itself).
    fn lookup_v6(&self, entries: &[BypassEntry], addr: Ipv6Addr, port: u16) -> Option<u32> {
        let loopback = addr.is_loopback();
        let addr = u128::from(addr);
        let in_group = |(len, nets): &(u8, HashMap<u128, Slot>)| {
            nets.get(&mask_v6(addr, *len))
                .and_then(|&slot| self.in_slot(entries, slot, port))
        };
        let (exact, networks) = match self.v6.split_last() {
            Some((last, rest)) if last.0 == 128 => (in_group(last), rest),
            _ => (None, &self.v6[..]),
        };
        exact
            .or_else(|| self.localhost_rule(loopback, port))
            .or_else(|| networks.iter().rev().find_map(in_group))
    }

    /// The `localhost` entries, when the target address is a loopback one.
    fn localhost_rule(&self, loopback: bool, port: u16) -> Option<u32> {
        loopback.then(|| self.localhost_entries.lookup(port)).flatten()
    }

    /// The most specific name match: the name itself, then each suffix after a dot
    /// (longest first), then, for `localhost` and `*.localhost`, the entries covering a
    /// loopback address. O(labels) lookups.
    fn lookup_name(&self, entries: &[BypassEntry], name: &[u8], port: u16) -> Option<u32> {
        let mut suffix = name;
        let domain = if self.domains.is_empty() {
            None
        } else {
            loop {
                let found = self
                    .domains
                    .find(self.hasher.hash_one(suffix), |&slot| {
                        domain_at(entries, key_entry(&self.rules, slot)).as_bytes() == suffix
                    })
                    .and_then(|&slot| self.in_slot(entries, slot, port));
                if found.is_some() {
                    break found;
                }
                match suffix.iter().position(|&b| b == b'.') {
                    Some(dot) => suffix = &suffix[dot + 1..],
                    None => break None,
                }
            }
        };
        domain.or_else(|| {
            (!self.loopback_entries.is_empty() && is_localhost_name(name))
                .then(|| self.loopback_entries.lookup(port))
                .flatten()
        })
    }
}

/// A request target's host, classified without allocating.
enum Target<'b> {
    Ip(IpAddr),
    /// Lower-case name without a trailing dot (ASCII), in the caller's stack buffer.
    Name(&'b [u8]),
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
        for (out, &b) in buf.iter_mut().zip(bytes) {
            let lower = NAME_BYTES[usize::from(b)];
            if lower == b'.' {
                if label_len == 0 {
                    return Target::Invalid;
                }
                label_len = 0;
            } else if lower == 0 {
                return Target::Invalid;
            } else {
                label_len += 1;
                if label_len > MAX_LABEL_LEN {
                    return Target::Invalid;
                }
            }
            *out = lower;
        }
        if label_len == 0 {
            return Target::Invalid;
        }
        Target::Name(&buf[..bytes.len()])
    }
}

impl BypassList {
    /// Indexes parsed entries. Cost O(entries); the list keeps their order.
    pub fn new(entries: Vec<BypassEntry>) -> BypassList {
        let index = Index::build(&entries);
        BypassList {
            entries: entries.into(),
            index: Arc::new(index),
        }
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
    /// When several entries match, the most specific one is returned (see "Which entry
    /// is returned" on [`BypassList`]). A host that is neither a valid host name nor an
    /// IP literal matches only `*`. No DNS, no allocation, no scan of the list (see
    /// "Cost of a lookup").
    pub fn matches(&self, host: &str, port: u16) -> Option<&BypassEntry> {
        let found = if self.index.has_specific {
            let mut buf = [0u8; MAX_NAME_LEN];
            let entries = &self.entries[..];
            match Target::classify(host, &mut buf) {
                Target::Ip(IpAddr::V4(v4)) => self.index.lookup_v4(entries, v4, port),
                Target::Ip(IpAddr::V6(v6)) => self.index.lookup_v6(entries, v6, port),
                Target::Name(name) => self.index.lookup_name(entries, name, port),
                Target::Invalid => None,
            }
        } else {
            None
        };
        found.or(self.index.any).and_then(|pos| self.entries.get(pos as usize))
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
    use extsvc_config::internal::parse_bypass_list;

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
    fn the_most_specific_entry_wins() {
        // Longest domain first; on one key the entry naming the port first.
        let l = list("example.com:443, a.example.com, example.com, *");
        assert_eq!(matched(&l, "a.example.com", 443).as_deref(), Some("a.example.com"));
        assert_eq!(matched(&l, "b.example.com", 443).as_deref(), Some("example.com:443"));
        assert_eq!(matched(&l, "b.example.com", 80).as_deref(), Some("example.com"));
        assert_eq!(matched(&l, "other.org", 80).as_deref(), Some("*"));
        let l = list("example.com, example.com:443");
        assert_eq!(matched(&l, "example.com", 443).as_deref(), Some("example.com:443"));
        // Address, then the localhost rule, then CIDRs longest prefix first.
        let l = list("10.0.0.0/8, 10.1.0.0/16, 10.1.2.3, localhost, 127.0.0.0/8");
        assert_eq!(matched(&l, "10.1.2.3", 1).as_deref(), Some("10.1.2.3"));
        assert_eq!(matched(&l, "10.1.9.9", 1).as_deref(), Some("10.1.0.0/16"));
        assert_eq!(matched(&l, "10.9.9.9", 1).as_deref(), Some("10.0.0.0/8"));
        assert_eq!(matched(&l, "127.0.0.9", 1).as_deref(), Some("localhost"));
        let l = list("localhost, 127.0.0.1");
        assert_eq!(matched(&l, "127.0.0.1", 80).as_deref(), Some("127.0.0.1"));
        assert_eq!(matched(&l, "127.0.0.2", 80).as_deref(), Some("localhost"));
        assert_eq!(matched(&l, "localhost", 80).as_deref(), Some("localhost"));
        // `*` only when nothing else matches, wherever it is written.
        let l = list("*, a.com, 10.0.0.0/8");
        assert_eq!(matched(&l, "x.a.com", 1).as_deref(), Some("a.com"));
        assert_eq!(matched(&l, "10.2.3.4", 1).as_deref(), Some("10.0.0.0/8"));
        assert_eq!(matched(&l, "b.com", 1).as_deref(), Some("*"));
        // Equally specific: the first in list order.
        let l = list("10.0.0.0/8, 10.9.0.0/8");
        assert_eq!(matched(&l, "10.1.1.1", 1).as_deref(), Some("10.0.0.0/8"));
    }

    #[test]
    fn entries_covering_loopback_cover_the_name_localhost() {
        for entry in [
            "127.0.0.1",
            "127.0.0.0/8",
            "0.0.0.0/0",
            "::1",
            "[::1]",
            "::/0",
            "::ffff:127.0.0.1",
        ] {
            let l = list(entry);
            for host in ["localhost", "LOCALHOST.", "app.localhost", "a.b.Localhost"] {
                assert_eq!(matched(&l, host, 80).as_deref(), Some(entry), "{entry} / {host}");
            }
            for host in ["notlocalhost", "localhost.example.com", "localhostx"] {
                assert_eq!(matched(&l, host, 80), None, "{entry} / {host}");
            }
        }
        for entry in ["127.0.0.2", "10.0.0.0/8", "::2", "fd00::/8", "128.0.0.0/1"] {
            assert_eq!(matched(&list(entry), "localhost", 80), None, "{entry}");
        }
        let l = list("127.0.0.1:8080, [::1]:9090");
        assert_eq!(matched(&l, "localhost", 8080).as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(matched(&l, "localhost", 9090).as_deref(), Some("[::1]:9090"));
        assert_eq!(matched(&l, "localhost", 80), None);
        // A domain entry for the name beats the loopback rule.
        let l = list("127.0.0.1, localhost:80, app.localhost");
        assert_eq!(matched(&l, "localhost", 80).as_deref(), Some("localhost:80"));
        assert_eq!(matched(&l, "localhost", 81).as_deref(), Some("127.0.0.1"));
        assert_eq!(matched(&l, "app.localhost", 81).as_deref(), Some("app.localhost"));
    }

    #[test]
    fn localhost_names_follow_rfc_6761() {
        for (name, expected) in [
            ("localhost", true),
            ("a.localhost", true),
            ("a.b.localhost", true),
            ("xlocalhost", false),
            ("localhost.com", false),
            ("local", false),
        ] {
            assert_eq!(is_localhost_name(name.as_bytes()), expected, "{name}");
        }
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
