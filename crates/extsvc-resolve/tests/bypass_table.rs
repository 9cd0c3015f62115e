//! Table-driven test of the bypass rules of SPEC.md section 2: each row is a bypass
//! list, a target host as it appears in a URL, the effective port, and the entry that
//! must match (as the operator wrote it), or `None` when the proxy must be used.

use extsvc_config::internal::parse_bypass_list;
use extsvc_resolve::BypassList;

/// (bypass list, URL host, effective port, expected matching entry)
type Row = (&'static str, &'static str, u16, Option<&'static str>);

const ROWS: &[Row] = &[
    // ---- domains: the domain itself and every subdomain, on label boundaries
    ("example.com", "example.com", 443, Some("example.com")),
    ("example.com", "www.example.com", 443, Some("example.com")),
    ("example.com", "a.b.example.com", 80, Some("example.com")),
    ("example.com", "notexample.com", 443, None),
    ("example.com", "www.notexample.com", 443, None),
    ("example.com", "example.com.evil.org", 443, None),
    ("example.com", "com", 443, None),
    ("example.com", "example.co", 443, None),
    ("www.example.com", "example.com", 443, None),
    (".example.com", "example.com", 443, Some(".example.com")),
    (".example.com", "api.example.com", 443, Some(".example.com")),
    (".example.com", "notexample.com", 443, None),
    ("*.example.com", "example.com", 443, Some("*.example.com")),
    ("*.example.com", "deep.api.example.com", 443, Some("*.example.com")),
    ("*.example.com", "notexample.com", 443, None),
    // `.internal` and `internal` are the same rule; Display keeps what was written.
    (".internal", "internal", 80, Some(".internal")),
    (".internal", "svc.internal", 80, Some(".internal")),
    ("internal", "svc.internal", 80, Some("internal")),
    (".internal", "notinternal", 80, None),
    ("internal", "internal.example.com", 80, None),
    ("*.local", "printer.local", 631, Some("*.local")),
    ("my_service", "my_service", 8080, Some("my_service")),
    // ---- case-insensitive, trailing dots ignored on host and entry
    ("EXAMPLE.com", "www.Example.COM", 443, Some("EXAMPLE.com")),
    ("example.com", "WWW.EXAMPLE.COM", 80, Some("example.com")),
    ("example.com.", "www.example.com", 443, Some("example.com.")),
    ("example.com", "example.com.", 443, Some("example.com")),
    ("*.Example.com.", "API.EXAMPLE.COM.", 443, Some("*.Example.com.")),
    ("example.com", "example.com..", 443, None),
    // ---- `*` bypasses everything, names and IP literals alike
    ("*", "anything.example", 1, Some("*")),
    ("*", "10.1.2.3", 80, Some("*")),
    ("*", "[::1]", 8080, Some("*")),
    ("*", "[2001:db8::1]", 443, Some("*")),
    ("example.com, *", "example.com", 443, Some("example.com")),
    ("example.com, *", "example.org", 443, Some("*")),
    // ---- IP literals, IPv6 normalized, brackets optional on either side
    ("127.0.0.1", "127.0.0.1", 80, Some("127.0.0.1")),
    ("127.0.0.1", "127.0.0.2", 80, None),
    ("127.0.0.2", "localhost", 80, None),
    ("10.0.0.1", "10.0.0.1.", 80, Some("10.0.0.1")),
    ("::1", "[::1]", 80, Some("::1")),
    ("[::1]", "[::1]", 80, Some("[::1]")),
    ("[::1]", "::1", 80, Some("[::1]")),
    ("0:0::1", "[::1]", 80, Some("0:0::1")),
    ("::1", "[0:0:0:0:0:0:0:1]", 80, Some("::1")),
    ("::1", "[::2]", 80, None),
    ("2001:DB8::1", "[2001:db8::1]", 443, Some("2001:DB8::1")),
    ("10.0.0.1", "10.0.0.1.example.com", 80, None),
    // IPv4-mapped IPv6 is the IPv4 address it carries.
    ("::ffff:10.0.0.1", "10.0.0.1", 80, Some("::ffff:10.0.0.1")),
    ("10.0.0.1", "[::ffff:10.0.0.1]", 80, Some("10.0.0.1")),
    ("10.0.0.1", "::ffff:10.0.0.1", 80, Some("10.0.0.1")),
    // ---- CIDRs: any IP literal inside, edges included
    ("10.0.0.0/8", "10.0.0.0", 80, Some("10.0.0.0/8")),
    ("10.0.0.0/8", "10.255.255.255", 80, Some("10.0.0.0/8")),
    ("10.0.0.0/8", "11.0.0.0", 80, None),
    ("10.0.0.0/8", "9.255.255.255", 80, None),
    ("192.168.1.0/24", "192.168.1.77", 80, Some("192.168.1.0/24")),
    ("192.168.1.0/24", "192.168.2.1", 80, None),
    ("10.0.0.5/32", "10.0.0.5", 80, Some("10.0.0.5/32")),
    ("10.0.0.5/32", "10.0.0.6", 80, None),
    ("10.1.2.3/8", "10.200.0.1", 80, Some("10.1.2.3/8")),
    ("0.0.0.0/0", "203.0.113.9", 80, Some("0.0.0.0/0")),
    ("0.0.0.0/0", "[2001:db8::1]", 80, None),
    ("10.0.0.0/8", "10.example.com", 80, None),
    ("fd00::/8", "[fd12:3456::1]", 443, Some("fd00::/8")),
    ("fd00::/8", "[fe80::1]", 443, None),
    ("2001:db8::/32", "[2001:db8:ffff::1]", 443, Some("2001:db8::/32")),
    ("2001:db8::/32", "[2001:db9::1]", 443, None),
    ("::/0", "[2001:db8::1]", 80, Some("::/0")),
    // An IPv4 target is never inside an IPv6 CIDR, except through the mapped range.
    ("fd00::/8", "10.1.2.3", 80, None),
    ("::/0", "10.1.2.3", 80, None),
    ("::ffff:10.0.0.0/104", "10.9.9.9", 80, Some("::ffff:10.0.0.0/104")),
    ("10.0.0.0/8", "[::ffff:10.9.9.9]", 80, Some("10.0.0.0/8")),
    // ---- port-specific entries (the caller passes the effective port)
    ("example.org:443", "example.org", 443, Some("example.org:443")),
    ("example.org:443", "example.org", 80, None),
    ("example.org:443", "www.example.org", 443, Some("example.org:443")),
    ("example.org.:443", "EXAMPLE.ORG.", 443, Some("example.org.:443")),
    (
        "example.org:80, example.org:443",
        "example.org",
        443,
        Some("example.org:443"),
    ),
    (
        "*.example.com:8443",
        "api.example.com",
        8443,
        Some("*.example.com:8443"),
    ),
    ("*.example.com:8443", "api.example.com", 443, None),
    ("[::1]:8080", "[::1]", 8080, Some("[::1]:8080")),
    ("[::1]:8080", "[::1]", 8081, None),
    ("[::1]:8080", "::1", 8080, Some("[::1]:8080")),
    ("10.0.0.1:8080", "10.0.0.1", 8080, Some("10.0.0.1:8080")),
    ("10.0.0.1:8080", "10.0.0.1", 80, None),
    ("10.0.0.1:8080, 10.0.0.1", "10.0.0.1", 80, Some("10.0.0.1")),
    // ---- localhost also means the loopback IP literals
    ("localhost", "localhost", 80, Some("localhost")),
    ("localhost", "LOCALHOST.", 80, Some("localhost")),
    ("localhost", "127.0.0.1", 80, Some("localhost")),
    ("localhost", "127.0.0.2", 80, Some("localhost")),
    ("localhost", "127.255.255.254", 80, Some("localhost")),
    ("localhost", "[::1]", 80, Some("localhost")),
    ("localhost", "[::ffff:127.0.0.1]", 80, Some("localhost")),
    ("localhost", "128.0.0.1", 80, None),
    ("localhost", "[::2]", 80, None),
    ("localhost", "app.localhost", 80, Some("localhost")),
    ("localhost", "localhost.example.com", 80, None),
    ("localhost:8080", "127.0.0.1", 8080, Some("localhost:8080")),
    ("localhost:8080", "127.0.0.1", 80, None),
    ("localhost:8080", "[::1]", 8080, Some("localhost:8080")),
    // ---- and the reverse: an entry covering 127.0.0.1 or ::1 covers the name localhost
    // (and *.localhost, RFC 6761 section 6.3), with the entry's port constraint
    ("127.0.0.1", "localhost", 80, Some("127.0.0.1")),
    ("127.0.0.1", "LocalHost.", 8080, Some("127.0.0.1")),
    ("127.0.0.1", "app.localhost", 80, Some("127.0.0.1")),
    ("127.0.0.1", "localhost.example.com", 80, None),
    ("127.0.0.1", "notlocalhost", 80, None),
    ("127.0.0.1:8080", "localhost", 8080, Some("127.0.0.1:8080")),
    ("127.0.0.1:8080", "localhost", 80, None),
    ("127.0.0.1/32", "localhost", 80, Some("127.0.0.1/32")),
    ("127.0.0.0/8", "localhost", 80, Some("127.0.0.0/8")),
    ("0.0.0.0/0", "localhost", 80, Some("0.0.0.0/0")),
    ("::ffff:127.0.0.1", "localhost", 80, Some("::ffff:127.0.0.1")),
    ("::1", "localhost", 80, Some("::1")),
    ("[::1]:8080", "localhost", 8080, Some("[::1]:8080")),
    ("[::1]:8080", "localhost", 80, None),
    ("::/0", "localhost", 80, Some("::/0")),
    ("127.0.0.2", "app.localhost", 80, None),
    ("10.0.0.0/8", "localhost", 80, None),
    ("fd00::/8", "localhost", 80, None),
    ("127.0.0.1", "[::1]", 80, None),
    // ---- several matches: the most specific entry is the reason
    ("localhost,127.0.0.1", "127.0.0.1", 80, Some("127.0.0.1")),
    ("localhost,127.0.0.1", "127.0.0.2", 80, Some("localhost")),
    ("127.0.0.1,localhost", "localhost", 80, Some("localhost")),
    ("127.0.0.0/8, localhost", "127.0.0.5", 80, Some("localhost")),
    ("::/0, localhost", "[::1]", 80, Some("localhost")),
    ("10.0.0.0/8, 10.1.2.3", "10.1.2.3", 80, Some("10.1.2.3")),
    ("10.0.0.0/8, 10.1.0.0/16", "10.1.2.3", 80, Some("10.1.0.0/16")),
    ("10.0.0.0/8, 10.1.0.0/16", "10.2.0.1", 80, Some("10.0.0.0/8")),
    ("*, example.com", "example.com", 443, Some("example.com")),
    ("*, 10.0.0.0/8", "10.1.1.1", 80, Some("10.0.0.0/8")),
    (
        "example.com, api.example.com",
        "x.api.example.com",
        443,
        Some("api.example.com"),
    ),
    (
        "example.com, example.com:443",
        "example.com",
        443,
        Some("example.com:443"),
    ),
    ("10.0.0.1, 10.0.0.1:8080", "10.0.0.1", 8080, Some("10.0.0.1:8080")),
    (
        "example.com:80, a.example.com",
        "a.example.com",
        80,
        Some("a.example.com"),
    ),
    // ---- the seed's lists
    (
        "localhost,127.0.0.1,.internal,*.local",
        "127.0.0.1",
        80,
        Some("127.0.0.1"),
    ),
    ("localhost,127.0.0.1,.internal,*.local", "[::1]", 80, Some("localhost")),
    (
        "localhost,127.0.0.1,.internal,*.local",
        "vault.internal",
        8200,
        Some(".internal"),
    ),
    (
        "localhost,127.0.0.1,.internal,*.local",
        "nas.local",
        443,
        Some("*.local"),
    ),
    ("localhost,127.0.0.1,.internal,*.local", "api.example.com", 443, None),
    (
        "localhost,127.0.0.1,redis.internal",
        "redis.internal",
        6379,
        Some("redis.internal"),
    ),
    ("localhost,127.0.0.1,redis.internal", "cache.internal", 6379, None),
    (
        "localhost,127.0.0.1,.company.internal",
        "sso.company.internal",
        443,
        Some(".company.internal"),
    ),
    (
        "localhost,127.0.0.1,.company.internal",
        "company.internal.example",
        443,
        None,
    ),
    // ---- empty lists and hosts that are neither names nor IP literals
    ("", "example.com", 443, None),
    (" , ,", "localhost", 80, None),
    ("example.com", "exa mple.example.com", 443, None),
    ("example.com", ".example.com", 443, None),
    ("example.com", "a..example.com", 443, None),
    ("10.0.0.0/8", "[10.0.0.1]", 80, None),
    ("::1", "[::1", 80, None),
];

#[test]
fn every_row_of_the_table_holds() {
    assert!(ROWS.len() >= 60, "the table must cover at least 60 cases");
    let mut failures = Vec::new();
    for &(input, host, port, expected) in ROWS {
        let (entries, invalid) = parse_bypass_list(input);
        assert!(invalid.is_empty(), "row {input:?}: entries rejected: {invalid:?}");
        let list = BypassList::new(entries);
        let got = list.matches(host, port).map(ToString::to_string);
        if got.as_deref() != expected {
            failures.push(format!(
                "list {input:?}, host {host:?}, port {port}: expected {expected:?}, got {got:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The same rows again, but every list of a row merged into one big list: the answer
/// must then be "some entry" exactly when the row expected one (the index must not lose
/// matches when many kinds of entries share it).
#[test]
fn one_big_list_matches_whenever_a_row_expected_a_match() {
    let all: Vec<&str> = ROWS
        .iter()
        .map(|(input, ..)| *input)
        .filter(|i| !i.contains('*'))
        .collect();
    let (entries, invalid) = parse_bypass_list(&all.join(","));
    assert!(invalid.is_empty());
    let list = BypassList::new(entries);
    for &(input, host, port, expected) in ROWS {
        if input.contains('*') {
            continue;
        }
        if expected.is_some() {
            assert!(
                list.matches(host, port).is_some(),
                "{host:?}:{port} (from row {input:?})"
            );
        }
    }
}

/// `https://example.org/` has the effective port 443 and `http://example.org/` 80: the
/// caller applies the defaults, so a port-specific entry matches URLs without a port.
#[test]
fn default_ports_come_from_the_url_scheme() {
    let (entries, _) = parse_bypass_list("example.org:443, plain.example:80");
    let list = BypassList::new(entries);
    for (url, expected) in [
        ("https://example.org/", Some("example.org:443")),
        ("http://example.org/", None),
        ("https://example.org:443/x", Some("example.org:443")),
        ("http://example.org:443/", Some("example.org:443")),
        ("http://plain.example/", Some("plain.example:80")),
        ("https://plain.example/", None),
        ("https://[::1]/", None),
    ] {
        let uri: http::Uri = url.parse().unwrap();
        let default = if uri.scheme_str() == Some("https") { 443 } else { 80 };
        let port = uri.port_u16().unwrap_or(default);
        let got = list.matches(uri.host().unwrap(), port).map(ToString::to_string);
        assert_eq!(got.as_deref(), expected, "{url}");
    }
}

#[test]
fn entries_keep_their_order_and_written_form() {
    let (entries, _) = parse_bypass_list(" .internal , *.local,[::1]:8080, 10.1.2.3/8 ");
    let list = BypassList::new(entries);
    let shown: Vec<String> = list.entries().iter().map(ToString::to_string).collect();
    assert_eq!(shown, [".internal", "*.local", "[::1]:8080", "10.1.2.3/8"]);
}
