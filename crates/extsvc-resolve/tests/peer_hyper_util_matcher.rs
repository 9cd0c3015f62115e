//! hyper-util's proxy matcher tests, transcribed: `src/client/proxy/matcher.rs`
//! (hyper-util 0.1.21, `mod tests`). `DomainMatcher` and `NoProxy` cases run as
//! `NO_PROXY` lists; `Matcher` builder fields become the standard variables they stand
//! for (`http` → `HTTP_PROXY`, `https` → `HTTPS_PROXY`, `all` → `ALL_PROXY`, `no` →
//! `NO_PROXY`, `is_cgi` → `REQUEST_METHOD`). See `peer_support`.

mod peer_support;

use extsvc_config::ProxyUrl;
use peer_support::{check, check_no_proxy, Expect::*, NoProxyRow, Row, DIRECT, ENV_ONLY, PROXIED};

const ALL_PROXY: &str = "SPEC section 2, step 3: ALL_PROXY / all_proxy are not used (Go and Tyk ignore them); \
                         a warning names them";

macro_rules! hu {
    ($test:literal) => {
        concat!("hyper-util client/proxy/matcher.rs ", $test)
    };
}

macro_rules! bypass {
    ($test:literal, $list:literal, $host:literal, $expect:expr) => {
        NoProxyRow {
            from: hu!($test),
            no_proxy: $list,
            url: concat!("http://", $host, "/"),
            expect: $expect,
        }
    };
}

const NO_PROXY_ROWS: &[NoProxyRow] = &[
    // test_domain_matcher: DomainMatcher([".foo.bar", "bar.foo"])
    bypass!("test_domain_matcher", ".foo.bar,bar.foo", "foo.bar", Same(DIRECT)),
    bypass!("test_domain_matcher", ".foo.bar,bar.foo", "FOO.BAR", Same(DIRECT)),
    bypass!("test_domain_matcher", ".foo.bar,bar.foo", "www.foo.bar", Same(DIRECT)),
    bypass!("test_domain_matcher", ".foo.bar,bar.foo", "WWW.FOO.BAR", Same(DIRECT)),
    bypass!("test_domain_matcher", ".foo.bar,bar.foo", "bar.foo", Same(DIRECT)),
    bypass!("test_domain_matcher", ".foo.bar,bar.foo", "Bar.foo", Same(DIRECT)),
    bypass!("test_domain_matcher", ".foo.bar,bar.foo", "www.bar.foo", Same(DIRECT)),
    bypass!("test_domain_matcher", ".foo.bar,bar.foo", "WWW.BAR.FOO", Same(DIRECT)),
    bypass!("test_domain_matcher", ".foo.bar,bar.foo", "notfoo.bar", Same(PROXIED)),
    bypass!("test_domain_matcher", ".foo.bar,bar.foo", "notbar.foo", Same(PROXIED)),
    // test_no_proxy_wildcard
    bypass!("test_no_proxy_wildcard", "*", "any.where", Same(DIRECT)),
    // test_no_proxy_ip_ranges: should_not_match, then should_match
    bypass!(
        "test_no_proxy_ip_ranges",
        ".foo.bar, bar.baz,10.42.1.1/24,::1,10.124.7.8,2001::/17",
        "hyper.rs",
        Same(PROXIED)
    ),
    bypass!(
        "test_no_proxy_ip_ranges",
        ".foo.bar, bar.baz,10.42.1.1/24,::1,10.124.7.8,2001::/17",
        "notfoo.bar",
        Same(PROXIED)
    ),
    bypass!(
        "test_no_proxy_ip_ranges",
        ".foo.bar, bar.baz,10.42.1.1/24,::1,10.124.7.8,2001::/17",
        "notbar.baz",
        Same(PROXIED)
    ),
    bypass!(
        "test_no_proxy_ip_ranges",
        ".foo.bar, bar.baz,10.42.1.1/24,::1,10.124.7.8,2001::/17",
        "10.43.1.1",
        Same(PROXIED)
    ),
    bypass!(
        "test_no_proxy_ip_ranges",
        ".foo.bar, bar.baz,10.42.1.1/24,::1,10.124.7.8,2001::/17",
        "10.124.7.7",
        Same(PROXIED)
    ),
    bypass!(
        "test_no_proxy_ip_ranges",
        ".foo.bar, bar.baz,10.42.1.1/24,::1,10.124.7.8,2001::/17",
        "[ffff:db8:a0b:12f0::1]",
        Same(PROXIED)
    ),
    bypass!(
        "test_no_proxy_ip_ranges",
        ".foo.bar, bar.baz,10.42.1.1/24,::1,10.124.7.8,2001::/17",
        "[2005:db8:a0b:12f0::1]",
        Same(PROXIED)
    ),
    bypass!(
        "test_no_proxy_ip_ranges",
        ".foo.bar, bar.baz,10.42.1.1/24,::1,10.124.7.8,2001::/17",
        "hello.foo.bar",
        Same(DIRECT)
    ),
    bypass!(
        "test_no_proxy_ip_ranges",
        ".foo.bar, bar.baz,10.42.1.1/24,::1,10.124.7.8,2001::/17",
        "bar.baz",
        Same(DIRECT)
    ),
    bypass!(
        "test_no_proxy_ip_ranges",
        ".foo.bar, bar.baz,10.42.1.1/24,::1,10.124.7.8,2001::/17",
        "foo.bar.baz",
        Same(DIRECT)
    ),
    bypass!(
        "test_no_proxy_ip_ranges",
        ".foo.bar, bar.baz,10.42.1.1/24,::1,10.124.7.8,2001::/17",
        "foo.bar",
        Same(DIRECT)
    ),
    bypass!(
        "test_no_proxy_ip_ranges",
        ".foo.bar, bar.baz,10.42.1.1/24,::1,10.124.7.8,2001::/17",
        "10.42.1.100",
        Same(DIRECT)
    ),
    bypass!(
        "test_no_proxy_ip_ranges",
        ".foo.bar, bar.baz,10.42.1.1/24,::1,10.124.7.8,2001::/17",
        "[::1]",
        Same(DIRECT)
    ),
    bypass!(
        "test_no_proxy_ip_ranges",
        ".foo.bar, bar.baz,10.42.1.1/24,::1,10.124.7.8,2001::/17",
        "[2001:db8:a0b:12f0::1]",
        Same(DIRECT)
    ),
    bypass!(
        "test_no_proxy_ip_ranges",
        ".foo.bar, bar.baz,10.42.1.1/24,::1,10.124.7.8,2001::/17",
        "10.124.7.8",
        Same(DIRECT)
    ),
    // test_domain_matcher_case_insensitive: DomainMatcher([".foo.bar"])
    bypass!(
        "test_domain_matcher_case_insensitive",
        ".foo.bar",
        "foo.bar",
        Same(DIRECT)
    ),
    bypass!(
        "test_domain_matcher_case_insensitive",
        ".foo.bar",
        "FOO.BAR",
        Same(DIRECT)
    ),
    bypass!(
        "test_domain_matcher_case_insensitive",
        ".foo.bar",
        "Foo.Bar",
        Same(DIRECT)
    ),
    bypass!(
        "test_domain_matcher_case_insensitive",
        ".foo.bar",
        "www.foo.bar",
        Same(DIRECT)
    ),
    bypass!(
        "test_domain_matcher_case_insensitive",
        ".foo.bar",
        "WWW.FOO.BAR",
        Same(DIRECT)
    ),
    bypass!(
        "test_domain_matcher_case_insensitive",
        ".foo.bar",
        "Www.Foo.Bar",
        Same(DIRECT)
    ),
    // test_no_proxy_case_insensitive (its `all` proxy becomes HTTP_PROXY here: the rows
    // are about the bypass list; ALL_PROXY has its own rows below)
    bypass!(
        "test_no_proxy_case_insensitive",
        ".example.com",
        "example.com",
        Same(DIRECT)
    ),
    bypass!(
        "test_no_proxy_case_insensitive",
        ".example.com",
        "EXAMPLE.COM",
        Same(DIRECT)
    ),
    bypass!(
        "test_no_proxy_case_insensitive",
        ".example.com",
        "Example.com",
        Same(DIRECT)
    ),
    bypass!(
        "test_no_proxy_case_insensitive",
        ".example.com",
        "www.example.com",
        Same(DIRECT)
    ),
    bypass!(
        "test_no_proxy_case_insensitive",
        ".example.com",
        "WWW.EXAMPLE.COM",
        Same(DIRECT)
    ),
    bypass!(
        "test_no_proxy_case_insensitive",
        ".example.com",
        "Www.Example.Com",
        Same(DIRECT)
    ),
];

const MATCHER_ROWS: &[Row] = &[
    Row {
        from: hu!("test_all_proxy"),
        config: ENV_ONLY,
        env: &[("ALL_PROXY", "http://om.nom")],
        url: "http://example.com",
        expect: Differs {
            peer: "http://om.nom",
            ours: DIRECT,
            rule: ALL_PROXY,
        },
    },
    Row {
        from: hu!("test_all_proxy"),
        config: ENV_ONLY,
        env: &[("ALL_PROXY", "http://om.nom")],
        url: "https://example.com",
        expect: Differs {
            peer: "http://om.nom",
            ours: DIRECT,
            rule: ALL_PROXY,
        },
    },
    Row {
        from: hu!("test_specific_overrides_all"),
        config: ENV_ONLY,
        env: &[("ALL_PROXY", "http://no.pe"), ("HTTP_PROXY", "http://y.ep")],
        url: "https://example.com",
        expect: Differs {
            peer: "http://no.pe",
            ours: DIRECT,
            rule: ALL_PROXY,
        },
    },
    Row {
        from: hu!("test_specific_overrides_all"),
        config: ENV_ONLY,
        env: &[("ALL_PROXY", "http://no.pe"), ("HTTP_PROXY", "http://y.ep")],
        url: "http://example.com",
        expect: Same("proxy http://y.ep:80"),
    },
    Row {
        from: hu!("test_parse_no_scheme_defaults_to_http"),
        config: ENV_ONLY,
        env: &[("HTTPS_PROXY", "y.ep"), ("HTTP_PROXY", "127.0.0.1:8887")],
        url: "https://example.local",
        expect: Same("proxy http://y.ep:80"),
    },
    Row {
        from: hu!("test_parse_no_scheme_defaults_to_http"),
        config: ENV_ONLY,
        env: &[("HTTPS_PROXY", "y.ep"), ("HTTP_PROXY", "127.0.0.1:8887")],
        url: "http://example.local",
        expect: Same("proxy http://127.0.0.1:8887"),
    },
    Row {
        from: hu!("test_parse_http_auth (as all)"),
        config: ENV_ONLY,
        env: &[("ALL_PROXY", "http://Aladdin:opensesame@y.ep")],
        url: "https://example.local",
        expect: Differs {
            peer: "http://y.ep with Basic auth",
            ours: DIRECT,
            rule: ALL_PROXY,
        },
    },
    Row {
        from: hu!("test_dont_parse_http_when_is_cgi"),
        config: ENV_ONLY,
        env: &[
            ("HTTP_PROXY", "http://never.gonna.let.you.go"),
            ("REQUEST_METHOD", "GET"),
        ],
        url: "http://rick.roll",
        expect: Same(DIRECT),
    },
];

#[test]
fn hyper_utils_no_proxy_cases() {
    assert_eq!(check_no_proxy(NO_PROXY_ROWS), 0);
}

#[test]
fn hyper_utils_matcher_cases() {
    assert_eq!(check(MATCHER_ROWS), 4);
}

/// test_parse_http_auth, test_parse_http_auth_without_password,
/// test_parse_http_auth_without_scheme: the proxy URL and its `Proxy-Authorization`
/// (which hyper-util's tests read from `all`, extsvc from any proxy field).
#[test]
fn hyper_utils_proxy_credentials_cases() {
    for (from, input, shown, basic) in [
        (
            hu!("test_parse_http_auth"),
            "http://Aladdin:opensesame@y.ep",
            "http://Aladdin:***@y.ep:80",
            "Basic QWxhZGRpbjpvcGVuc2VzYW1l",
        ),
        (
            hu!("test_parse_http_auth_without_password"),
            "http://Aladdin@y.ep",
            // A colon-less userinfo may be a token (`http://TOKEN@proxy`): all of it is hidden.
            "http://***@y.ep:80",
            "Basic QWxhZGRpbjo=",
        ),
        (
            hu!("test_parse_http_auth_without_scheme"),
            "Aladdin:opensesame@y.ep",
            "http://Aladdin:***@y.ep:80",
            "Basic QWxhZGRpbjpvcGVuc2VzYW1l",
        ),
    ] {
        let url = ProxyUrl::parse(input).unwrap_or_else(|e| panic!("{from}: {e}"));
        assert_eq!(url.to_string(), shown, "{from}");
        assert_eq!(url.proxy_authorization().unwrap().to_str().unwrap(), basic, "{from}");
    }
}
