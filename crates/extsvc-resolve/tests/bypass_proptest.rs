//! Property test: the [`BypassList`] index agrees with a slow, obviously-correct matcher
//! that scans the list linearly, on random lists (domains, wildcards, IPs, CIDRs, ports,
//! `*`) and random hosts, many of them derived from the list's own entries so that
//! matches are common. The seed is fixed so CI runs the same 512 cases every time.
//! The reference ranks every matching entry by specificity and takes the best, so it
//! also checks *which* entry the index reports when several match.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use extsvc_config::internal::parse_bypass_list;
use extsvc_config::BypassEntry;
use extsvc_resolve::BypassList;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::RngSeed;

// ---------------------------------------------------------------- the reference matcher

/// A target host, classified the plain way.
#[derive(Debug)]
enum RefTarget {
    Ip(IpAddr),
    Name(String),
    Invalid,
}

fn ref_target(host: &str) -> RefTarget {
    if host.starts_with('[') {
        if !host.ends_with(']') || host.len() < 2 {
            return RefTarget::Invalid;
        }
        return match host[1..host.len() - 1].parse::<Ipv6Addr>() {
            Ok(v6) => RefTarget::Ip(IpAddr::V6(v6).to_canonical()),
            Err(_) => RefTarget::Invalid,
        };
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    if let Ok(ip) = host.parse::<IpAddr>() {
        return RefTarget::Ip(ip.to_canonical());
    }
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if valid {
        RefTarget::Name(host.to_ascii_lowercase())
    } else {
        RefTarget::Invalid
    }
}

/// Classes of a match, most specific first (docs/bypass.md, "Several matching entries").
const SAME_HOST: u8 = 0;
const LOCALHOST_RULE: u8 = 1;
const NETWORK: u8 = 2;
const ANY: u8 = 3;

/// The rank of `entry` for the target when it matches it: (class, specificity within the
/// class, larger first, hence negated; whether it lacks a port). Smaller ranks win, then
/// the earlier entry.
fn ref_rank(entry: &BypassEntry, target: &RefTarget, port: u16) -> Option<(u8, i32, bool)> {
    if entry.is_any() {
        return Some((ANY, 0, true));
    }
    if entry.port().is_some_and(|p| p != port) {
        return None;
    }
    let portless = entry.port().is_none();
    let covers_loopback = |net: ipnet::IpNet| {
        net.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)) || net.contains(&IpAddr::V6(Ipv6Addr::LOCALHOST))
    };
    let class = match target {
        RefTarget::Invalid => return None,
        RefTarget::Name(name) => {
            let is_localhost = name == "localhost" || name.ends_with(".localhost");
            if let Some(d) = entry.domain() {
                if name == d || name.ends_with(&format!(".{d}")) {
                    return Some((SAME_HOST, -(d.len() as i32), portless));
                }
                return None;
            }
            let net = entry.ip().map(ipnet::IpNet::from).or_else(|| entry.network())?;
            if is_localhost && covers_loopback(net) {
                (LOCALHOST_RULE, 0)
            } else {
                return None;
            }
        }
        RefTarget::Ip(ip) => {
            if entry.ip() == Some(*ip) {
                (SAME_HOST, 0)
            } else if entry.domain() == Some("localhost") && ip.is_loopback() {
                (LOCALHOST_RULE, 0)
            } else if let Some(net) = entry.network().filter(|net| net.contains(ip)) {
                if net.prefix_len() == net.max_prefix_len() {
                    (SAME_HOST, 0)
                } else {
                    (NETWORK, -i32::from(net.prefix_len()))
                }
            } else {
                return None;
            }
        }
    };
    Some((class.0, class.1, portless))
}

/// The most specific matching entry (ties: the first in list order), by scanning.
fn reference<'a>(entries: &'a [BypassEntry], host: &str, port: u16) -> Option<&'a BypassEntry> {
    let target = ref_target(host);
    entries
        .iter()
        .enumerate()
        .filter_map(|(pos, entry)| ref_rank(entry, &target, port).map(|rank| (rank, pos, entry)))
        .min_by_key(|&(rank, pos, _)| (rank, pos))
        .map(|(_, _, entry)| entry)
}

// ---------------------------------------------------------------- generators

const LABELS: &[&str] = &[
    "a",
    "b",
    "ab",
    "example",
    "com",
    "internal",
    "localhost",
    "x-y",
    "under_s",
    "Mixed",
];
const PORTS: &[u16] = &[80, 443, 8080, 1];
const V6_POOL: &[&str] = &[
    "::1",
    "::2",
    "::",
    "fd00::1",
    "fd00::2",
    "fd00:1::1",
    "fdff:ffff::1",
    "2001:db8::1",
    "2001:db8:0:1::5",
    "::ffff:10.0.0.1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.0",
    "fe80::1",
];

/// Upper-cases the characters whose bit is set in `mask`.
fn mix_case(s: &str, mask: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fn domain() -> impl Strategy<Value = String> {
    prop::collection::vec(select(LABELS), 1..=3).prop_map(|labels| labels.join("."))
}

fn v4() -> impl Strategy<Value = Ipv4Addr> {
    (select(&[10u8, 127, 192, 0][..]), 0u8..2, 0u8..4, 0u8..4).prop_map(|(a, b, c, d)| Ipv4Addr::new(a, b, c, d))
}

fn v6() -> impl Strategy<Value = Ipv6Addr> {
    select(V6_POOL).prop_map(|s| s.parse().unwrap())
}

fn port_suffix() -> impl Strategy<Value = String> {
    prop::option::weighted(0.3, select(PORTS)).prop_map(|p| p.map(|p| format!(":{p}")).unwrap_or_default())
}

fn entry() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("*".to_owned()),
        6 => (select(&["", ".", "*."][..]), domain(), any::<bool>(), port_suffix(), any::<u64>()).prop_map(
            |(prefix, d, dot, port, mask)| format!("{prefix}{}{}{port}", mix_case(&d, mask), if dot { "." } else { "" })
        ),
        2 => Just("localhost".to_owned()),
        3 => (v4(), port_suffix()).prop_map(|(a, port)| format!("{a}{port}")),
        3 => (v6(), any::<bool>(), port_suffix()).prop_map(|(a, brackets, port)| {
            if brackets || !port.is_empty() { format!("[{a}]{port}") } else { a.to_string() }
        }),
        3 => (v4(), 0u8..=32).prop_map(|(a, len)| format!("{a}/{len}")),
        3 => (v6(), 0u8..=128).prop_map(|(a, len)| format!("{a}/{len}")),
    ]
}

fn list() -> impl Strategy<Value = String> {
    prop::collection::vec(entry(), 0..8).prop_map(|entries| entries.join(", "))
}

/// A host that owes nothing to the list.
fn independent_host() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (domain(), any::<bool>(), any::<u64>()).prop_map(|(d, dot, mask)| format!("{}{}", mix_case(&d, mask), if dot { "." } else { "" })),
        3 => v4().prop_map(|a| a.to_string()),
        3 => (v6(), any::<bool>()).prop_map(|(a, brackets)| if brackets { format!("[{a}]") } else { a.to_string() }),
        1 => select(&["", ".", "a..b", "exa mple.com", "[::1", "[10.0.0.1]", "-", "a.b..", "[::1]x"][..]).prop_map(str::to_owned),
    ]
}

/// How to turn one of the list's entries into a host that likely matches it.
#[derive(Debug, Clone)]
struct Derive {
    pick: usize,
    sub_label: Option<&'static str>,
    case_mask: u64,
    trailing_dot: bool,
    brackets: bool,
    mapped: bool,
    host_bits: u128,
    /// For an address or CIDR entry: write the name `localhost` (or a name under it).
    as_localhost: bool,
}

fn derive() -> impl Strategy<Value = Derive> {
    (
        any::<usize>(),
        prop::option::of(select(LABELS)),
        any::<u64>(),
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.2),
        any::<u128>(),
        prop::bool::weighted(0.25),
    )
        .prop_map(
            |(pick, sub_label, case_mask, trailing_dot, brackets, mapped, host_bits, as_localhost)| Derive {
                pick,
                sub_label,
                case_mask,
                trailing_dot,
                brackets,
                mapped,
                host_bits,
                as_localhost,
            },
        )
}

fn write_ip(ip: IpAddr, how: &Derive) -> String {
    match ip {
        IpAddr::V4(v4) if how.mapped => format!("[{}]", v4.to_ipv6_mapped()),
        IpAddr::V4(v4) => format!("{v4}{}", if how.trailing_dot { "." } else { "" }),
        IpAddr::V6(v6) if how.brackets => format!("[{v6}]"),
        IpAddr::V6(v6) => v6.to_string(),
    }
}

fn derived_host(entries: &[BypassEntry], how: &Derive) -> Option<String> {
    let entry = entries.get(how.pick % entries.len().max(1))?;
    if let Some(d) = entry.domain() {
        let name = match how.sub_label {
            Some(label) => format!("{label}.{d}"),
            None => d.to_owned(),
        };
        if d == "localhost" && how.mapped {
            return Some(write_ip(
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, (how.host_bits % 256) as u8)),
                how,
            ));
        }
        return Some(format!(
            "{}{}",
            mix_case(&name, how.case_mask),
            if how.trailing_dot { "." } else { "" }
        ));
    }
    if how.as_localhost && (entry.ip().is_some() || entry.network().is_some()) {
        let name = match how.sub_label {
            Some(label) => format!("{label}.localhost"),
            None => "localhost".to_owned(),
        };
        return Some(format!(
            "{}{}",
            mix_case(&name, how.case_mask),
            if how.trailing_dot { "." } else { "" }
        ));
    }
    if let Some(ip) = entry.ip() {
        return Some(write_ip(ip, how));
    }
    if let Some(net) = entry.network() {
        let ip = match net {
            ipnet::IpNet::V4(n) => {
                let host_mask = u32::MAX.checked_shr(u32::from(n.prefix_len())).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(
                    u32::from(n.network()) | (how.host_bits as u32 & host_mask),
                ))
            }
            ipnet::IpNet::V6(n) => {
                let host_mask = u128::MAX.checked_shr(u32::from(n.prefix_len())).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) | (how.host_bits & host_mask)))
            }
        };
        return Some(write_ip(ip, how));
    }
    None
}

fn position(list: &BypassList, found: Option<&BypassEntry>) -> Option<usize> {
    found.map(|f| {
        list.entries()
            .iter()
            .position(|e| std::ptr::eq(e, f))
            .expect("a reference into the list")
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        rng_seed: RngSeed::Fixed(0x00b1_a55e_d000_5eed),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn index_agrees_with_a_linear_scan(
        input in list(),
        independent in prop::collection::vec(independent_host(), 4),
        derived in prop::collection::vec(derive(), 6),
        ports in prop::collection::vec(select(PORTS), 10),
    ) {
        let (entries, invalid) = parse_bypass_list(&input);
        prop_assert!(invalid.is_empty(), "generated entries rejected: {:?}", invalid);
        for entry in &entries {
            let again: BypassEntry = entry.to_string().parse().unwrap();
            prop_assert_eq!(&again, entry);
        }
        let list = BypassList::new(entries);
        let hosts = independent
            .into_iter()
            .chain(derived.iter().filter_map(|how| derived_host(list.entries(), how)));
        for (host, port) in hosts.zip(ports.iter().cycle().copied()) {
            let fast = position(&list, list.matches(&host, port));
            let slow = position(&list, reference(list.entries(), &host, port));
            prop_assert_eq!(fast, slow, "list {:?}, host {:?}, port {}", input, host, port);
        }
    }

    /// Parsing never panics, and what it accepts displays as written and parses back
    /// to the same entry.
    #[test]
    fn parsing_round_trips(input in "[ -~]{0,40}") {
        let (entries, _) = parse_bypass_list(&input);
        for entry in entries {
            let again: BypassEntry = entry.to_string().parse().unwrap();
            prop_assert_eq!(&again, &entry);
            prop_assert!(input.contains(entry.as_str()));
        }
    }
}

/// The generators must actually produce hits, or the agreement above proves little.
#[test]
fn derived_hosts_hit_often() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        rng_seed: RngSeed::Fixed(7),
        ..ProptestConfig::default()
    });
    let (mut hits, mut total) = (0, 0);
    for _ in 0..200 {
        let input = list().new_tree(&mut runner).unwrap().current();
        let how = derive().new_tree(&mut runner).unwrap().current();
        let (entries, _) = parse_bypass_list(&input);
        let list = BypassList::new(entries);
        let Some(host) = derived_host(list.entries(), &how) else {
            continue;
        };
        total += 1;
        for port in PORTS {
            if list.matches(&host, *port).is_some() {
                hits += 1;
                break;
            }
        }
    }
    assert!(
        total > 100 && hits * 2 > total,
        "{hits} hits out of {total} derived hosts"
    );
}
