//! A 1,000,000-entry bypass list: what parsing, indexing and one `route` cost, measured
//! (the figures are in docs/performance.md). The bounds assert they stay proportionate.

use std::time::{Duration, Instant};

use extsvc_config::internal::parse_bypass_list;
use extsvc_config::{EnvSnapshot, ExternalServicesConfig, ServiceKind, Source, Sourced};
use extsvc_resolve::TargetScheme;

fn resident_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_million_entry_bypass_list_costs_tens_of_bytes_per_entry_and_routes_in_microseconds() {
    const ENTRIES: usize = 1_000_000;
    let list: Vec<String> = (0..ENTRIES)
        .map(|i| match i % 4 {
            0 => format!("host-{i}.example.com"),
            1 => format!(".zone-{i}.internal"),
            2 => format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
            _ => format!("svc-{i}.example.net:8443"),
        })
        .collect();
    let text = list.join(",");
    drop(list);
    let text_bytes = text.len();

    let before = resident_kb();
    let started = Instant::now();
    let (entries, invalid) = parse_bypass_list(&text);
    assert!(invalid.is_empty());
    let mut config = ExternalServicesConfig::default();
    config.global.enabled = Some(Sourced::new(true, Source::Default));
    config.global.bypass_proxy = Some(Sourced::new(entries, Source::Default));
    let resolution = extsvc_resolve::resolve(&config, &EnvSnapshot::empty());
    drop(config);
    let built = started.elapsed();
    let after = resident_kb();
    let per_entry = (after.saturating_sub(before) * 1024) as f64 / ENTRIES as f64;

    let service = resolution.service(ServiceKind::Oauth);
    let started = Instant::now();
    let hit = service.route(TargetScheme::Https, "a.zone-1.internal", 443);
    let miss = service.route(TargetScheme::Https, "nowhere.example.org", 443);
    let one_route = started.elapsed() / 2;
    eprintln!(
        "bypass_scale: {ENTRIES} entries ({text_bytes} bytes of text): parse+index {built:?}, \
         {per_entry:.0} bytes/entry resident, one route {one_route:?}"
    );
    assert!(!format!("{:?}", hit.reason).is_empty() && !format!("{:?}", miss.reason).is_empty());
    assert!(one_route < Duration::from_millis(1), "one route took {one_route:?}");
    assert!(per_entry < 100.0, "{per_entry} bytes per entry");
}
