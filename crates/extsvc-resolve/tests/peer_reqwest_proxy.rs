//! reqwest's proxy tests, transcribed: `src/proxy.rs` `mod tests` (seanmonstar/reqwest
//! @ 01a3ce4, before the matcher moved to hyper-util) — the tests that read
//! `HTTP_PROXY`, `NO_PROXY` and friends (`test_sys_no_proxy`, `test_wildcard_sys_no_proxy`,
//! `test_empty_sys_no_proxy`, `test_no_proxy_load`, `test_get_sys_proxies_*`,
//! `test_proxy_no_proxy_interception_for_proxy_types`), plus `test_http` / `test_https`
//! / `test_all` and the proxy-URL parsing tests. `Proxy::http(u)` stands for
//! `HTTP_PROXY=u`, `Proxy::https` for `HTTPS_PROXY`, `Proxy::all` for `ALL_PROXY`.
//! See `peer_support`.

mod peer_support;

use extsvc_config::ProxyUrl;
use peer_support::{check, check_no_proxy, Expect::*, NoProxyRow, Row, DIRECT, ENV_ONLY, PROXIED};

const ALL_PROXY: &str = "SPEC section 2, step 3: ALL_PROXY / all_proxy are not used (Go and Tyk ignore them); \
                         a warning names them";
const TARGET: &str = "http://example.domain/";
const VIA_TARGET: &str = "proxy http://example.domain:80";

macro_rules! rq {
    ($test:literal) => {
        concat!("reqwest src/proxy.rs ", $test)
    };
}

macro_rules! sys_no_proxy {
    ($url:literal, $expect:expr) => {
        NoProxyRow {
            from: rq!("test_sys_no_proxy"),
            no_proxy: ".foo.bar, bar.baz,10.42.1.1/24,::1,10.124.7.8,2001::/17",
            url: $url,
            expect: $expect,
        }
    };
}

const NO_PROXY_ROWS: &[NoProxyRow] = &[
    sys_no_proxy!("http://hyper.rs", Same(PROXIED)),
    sys_no_proxy!("http://notfoo.bar", Same(PROXIED)),
    sys_no_proxy!("http://notbar.baz", Same(PROXIED)),
    sys_no_proxy!("http://10.43.1.1", Same(PROXIED)),
    sys_no_proxy!("http://10.124.7.7", Same(PROXIED)),
    sys_no_proxy!("http://[ffff:db8:a0b:12f0::1]", Same(PROXIED)),
    sys_no_proxy!("http://[2005:db8:a0b:12f0::1]", Same(PROXIED)),
    sys_no_proxy!("http://hello.foo.bar", Same(DIRECT)),
    sys_no_proxy!("http://bar.baz", Same(DIRECT)),
    sys_no_proxy!("http://BAR.baz", Same(DIRECT)),
    sys_no_proxy!("http://foo.bar.baz", Same(DIRECT)),
    sys_no_proxy!("http://foo.bar", Same(DIRECT)),
    sys_no_proxy!("http://10.42.1.100", Same(DIRECT)),
    sys_no_proxy!("http://[::1]", Same(DIRECT)),
    sys_no_proxy!("http://[2001:db8:a0b:12f0::1]", Same(DIRECT)),
    sys_no_proxy!("http://10.124.7.8", Same(DIRECT)),
    NoProxyRow {
        from: rq!("test_wildcard_sys_no_proxy"),
        no_proxy: "*",
        url: "http://foo.bar",
        expect: Same(DIRECT),
    },
    NoProxyRow {
        from: rq!("test_empty_sys_no_proxy"),
        no_proxy: ",",
        url: "http://hyper.rs",
        expect: Same(PROXIED),
    },
];

const ROWS: &[Row] = &[
    Row {
        from: rq!("test_http"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", TARGET)],
        url: "http://hyper.rs",
        expect: Same(VIA_TARGET),
    },
    Row {
        from: rq!("test_http"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", TARGET)],
        url: "https://hyper.rs",
        expect: Same(DIRECT),
    },
    Row {
        from: rq!("test_https"),
        config: ENV_ONLY,
        env: &[("HTTPS_PROXY", TARGET)],
        url: "http://hyper.rs",
        expect: Same(DIRECT),
    },
    Row {
        from: rq!("test_https"),
        config: ENV_ONLY,
        env: &[("HTTPS_PROXY", TARGET)],
        url: "https://hyper.rs",
        expect: Same(VIA_TARGET),
    },
    Row {
        from: rq!("test_all"),
        config: ENV_ONLY,
        env: &[("ALL_PROXY", TARGET)],
        url: "http://hyper.rs",
        expect: Differs {
            peer: TARGET,
            ours: DIRECT,
            rule: ALL_PROXY,
        },
    },
    Row {
        from: rq!("test_all"),
        config: ENV_ONLY,
        env: &[("ALL_PROXY", TARGET)],
        url: "https://hyper.rs",
        expect: Differs {
            peer: TARGET,
            ours: DIRECT,
            rule: ALL_PROXY,
        },
    },
    Row {
        from: rq!("test_all"),
        config: ENV_ONLY,
        env: &[("ALL_PROXY", TARGET)],
        url: "x-youve-never-heard-of-me-mr-proxy://hyper.rs",
        expect: Differs {
            peer: TARGET,
            ours: "refused: scheme",
            rule: "SPEC section 5: routes are for http://, https:// (and redis:// for storage) targets only",
        },
    },
    // test_get_sys_proxies_parsing
    Row {
        from: rq!("test_get_sys_proxies_parsing: nothing set"),
        config: ENV_ONLY,
        env: &[],
        url: "http://hyper.rs",
        expect: Same(DIRECT),
    },
    Row {
        from: rq!("test_get_sys_proxies_parsing: invalid http_proxy"),
        config: ENV_ONLY,
        env: &[("http_proxy", "file://123465")],
        url: "http://hyper.rs",
        expect: Same(DIRECT),
    },
    Row {
        from: rq!("test_get_sys_proxies_parsing: scheme-less http_proxy"),
        config: ENV_ONLY,
        env: &[("http_proxy", "127.0.0.1/")],
        url: "http://hyper.rs",
        expect: Same("proxy http://127.0.0.1:80"),
    },
    Row {
        from: rq!("test_get_sys_proxies_parsing: ALL_PROXY for http"),
        config: ENV_ONLY,
        env: &[("http_proxy", "127.0.0.1/"), ("ALL_PROXY", "127.0.0.2/")],
        url: "http://hyper.rs",
        expect: Differs {
            peer: "127.0.0.2 (ALL_PROXY wins)",
            ours: "proxy http://127.0.0.1:80",
            rule: ALL_PROXY,
        },
    },
    Row {
        from: rq!("test_get_sys_proxies_parsing: ALL_PROXY for https"),
        config: ENV_ONLY,
        env: &[("http_proxy", "127.0.0.1/"), ("ALL_PROXY", "127.0.0.2/")],
        url: "https://hyper.rs",
        expect: Differs {
            peer: "127.0.0.2",
            ours: DIRECT,
            rule: ALL_PROXY,
        },
    },
    // test_get_sys_proxies_in_cgi
    Row {
        from: rq!("test_get_sys_proxies_in_cgi: not CGI"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", "http://evil/")],
        url: "http://hyper.rs",
        expect: Same("proxy http://evil:80"),
    },
    Row {
        from: rq!("test_get_sys_proxies_in_cgi: CGI"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", "http://evil/"), ("REQUEST_METHOD", "GET")],
        url: "http://hyper.rs",
        expect: Same(DIRECT),
    },
    // test_no_proxy_load
    Row {
        from: rq!("test_no_proxy_load: no_proxy"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", TARGET), ("no_proxy", "lower.case")],
        url: "http://lower.case",
        expect: Same(DIRECT),
    },
    Row {
        from: rq!("test_no_proxy_load: NO_PROXY"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", TARGET), ("NO_PROXY", "upper.case")],
        url: "http://upper.case",
        expect: Same(DIRECT),
    },
    Row {
        from: rq!("test_no_proxy_load: neither"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", TARGET)],
        url: "http://hyper.rs",
        expect: Same(VIA_TARGET),
    },
    // test_proxy_no_proxy_interception_for_proxy_types (no_proxy ".no.proxy.tld")
    Row {
        from: rq!("test_proxy_no_proxy_interception_for_proxy_types: all"),
        config: ENV_ONLY,
        env: &[("ALL_PROXY", TARGET), ("NO_PROXY", ".no.proxy.tld")],
        url: "http://hyper.rs",
        expect: Differs {
            peer: TARGET,
            ours: DIRECT,
            rule: ALL_PROXY,
        },
    },
    Row {
        from: rq!("test_proxy_no_proxy_interception_for_proxy_types: all"),
        config: ENV_ONLY,
        env: &[("ALL_PROXY", TARGET), ("NO_PROXY", ".no.proxy.tld")],
        url: "https://hello.no.proxy.tld",
        expect: Same(DIRECT),
    },
    Row {
        from: rq!("test_proxy_no_proxy_interception_for_proxy_types: http"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", TARGET), ("NO_PROXY", ".no.proxy.tld")],
        url: "http://hyper.rs",
        expect: Same(VIA_TARGET),
    },
    Row {
        from: rq!("test_proxy_no_proxy_interception_for_proxy_types: http"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", TARGET), ("NO_PROXY", ".no.proxy.tld")],
        url: "http://hello.no.proxy.tld",
        expect: Same(DIRECT),
    },
    Row {
        from: rq!("test_proxy_no_proxy_interception_for_proxy_types: http"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", TARGET), ("NO_PROXY", ".no.proxy.tld")],
        url: "https://hyper.rs",
        expect: Same(DIRECT),
    },
    Row {
        from: rq!("test_proxy_no_proxy_interception_for_proxy_types: https"),
        config: ENV_ONLY,
        env: &[("HTTPS_PROXY", TARGET), ("NO_PROXY", ".no.proxy.tld")],
        url: "https://hyper.rs",
        expect: Same(VIA_TARGET),
    },
    Row {
        from: rq!("test_proxy_no_proxy_interception_for_proxy_types: https"),
        config: ENV_ONLY,
        env: &[("HTTPS_PROXY", TARGET), ("NO_PROXY", ".no.proxy.tld")],
        url: "https://hello.no.proxy.tld",
        expect: Same(DIRECT),
    },
    Row {
        from: rq!("test_proxy_no_proxy_interception_for_proxy_types: https"),
        config: ENV_ONLY,
        env: &[("HTTPS_PROXY", TARGET), ("NO_PROXY", ".no.proxy.tld")],
        url: "http://hyper.rs",
        expect: Same(DIRECT),
    },
];

#[test]
fn reqwests_no_proxy_cases() {
    assert_eq!(check_no_proxy(NO_PROXY_ROWS), 0);
}

#[test]
fn reqwests_environment_cases() {
    assert_eq!(check(ROWS), 6);
}

/// test_proxy_scheme_parse, test_proxy_scheme_ip_address_default_http,
/// test_proxy_scheme_parse_default_http_with_auth.
#[test]
fn reqwests_proxy_url_cases() {
    for (from, input, shown, basic) in [
        (
            rq!("test_proxy_scheme_parse"),
            "http://foo:bar@localhost:1239",
            "http://foo:***@localhost:1239",
            Some("Basic Zm9vOmJhcg=="),
        ),
        (
            rq!("test_proxy_scheme_ip_address_default_http"),
            "192.168.1.1:8888",
            "http://192.168.1.1:8888",
            None,
        ),
        (
            rq!("test_proxy_scheme_parse_default_http_with_auth"),
            "foo:bar@localhost:1239",
            "http://foo:***@localhost:1239",
            Some("Basic Zm9vOmJhcg=="),
        ),
    ] {
        let url = ProxyUrl::parse(input).unwrap_or_else(|e| panic!("{from}: {e}"));
        assert_eq!(url.to_string(), shown, "{from}");
        let header = url.proxy_authorization().map(|h| h.to_str().unwrap().to_owned());
        assert_eq!(header.as_deref(), basic, "{from}");
    }
}
