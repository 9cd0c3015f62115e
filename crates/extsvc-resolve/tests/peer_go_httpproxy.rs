//! Go's own proxy tests, transcribed: `golang.org/x/net/http/httpproxy/proxy_test.go`
//! (golang/net @ 29181b8) — `proxyForURLTests` (`TestProxyForURL`), the
//! `FromEnvironment*` tests, `UseProxyTests` with its `noProxy` list (`TestUseProxy`),
//! `TestInvalidNoProxy` and `TestAllNoProxy`. Go's `Config` is what the standard
//! variables give, so each row sets them with global proxying on ([`ENV_ONLY`]).
//! See `peer_support` for how rows are read.

mod peer_support;

use peer_support::{check, check_no_proxy, Expect::*, NoProxyRow, Row, DIRECT, ENV_ONLY, PROXIED};

macro_rules! go {
    ($test:literal) => {
        concat!("x/net httpproxy/proxy_test.go ", $test)
    };
}

const HOST_BITS: &str = "SPEC section 2, bypass list: `.example.com` and `*.example.com` cover the domain itself";
const NO_LOOPBACK_DEFAULT: &str =
    "SPEC section 2, bypass list: nothing bypasses by default; `localhost` matches loopback only when listed";
const SCHEMES: &str = "SPEC section 2: proxy URLs are http://, https://, socks5://, socks5h://; anything else is an \
                       error in the config, and a warning that ignores the variable in the environment";
const TARGETS: &str = "SPEC section 5: routes are for http://, https:// (and redis:// for storage) targets only";
const URI_HOSTS: &str = "targets are `http::Uri`s: an IDN host must arrive in its ASCII (xn--) form; the bypass list \
                         is compared as written, with no IDNA mapping";

const PROXY_FOR_URL: &[Row] = &[
    Row {
        from: go!("proxyForURLTests: scheme-less host:port"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", "127.0.0.1:8080")],
        url: "http://example.com",
        expect: Same("proxy http://127.0.0.1:8080"),
    },
    Row {
        from: go!("proxyForURLTests: scheme-less name:port"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", "cache.corp.example.com:1234")],
        url: "http://example.com",
        expect: Same("proxy http://cache.corp.example.com:1234"),
    },
    Row {
        from: go!("proxyForURLTests: scheme-less name"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", "cache.corp.example.com")],
        url: "http://example.com",
        expect: Same("proxy http://cache.corp.example.com:80"),
    },
    Row {
        from: go!("proxyForURLTests: single label"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", "localhost")],
        url: "http://example.com",
        expect: Same("proxy http://localhost:80"),
    },
    Row {
        from: go!("proxyForURLTests: https proxy"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", "https://cache.corp.example.com")],
        url: "http://example.com",
        expect: Same("proxy https://cache.corp.example.com:443"),
    },
    Row {
        from: go!("proxyForURLTests: http IP"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", "http://127.0.0.1:8080")],
        url: "http://example.com",
        expect: Same("proxy http://127.0.0.1:8080"),
    },
    Row {
        from: go!("proxyForURLTests: https IP"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", "https://127.0.0.1:8080")],
        url: "http://example.com",
        expect: Same("proxy https://127.0.0.1:8080"),
    },
    Row {
        from: go!("proxyForURLTests: unknown scheme preserved"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", "foo://host")],
        url: "http://example.com",
        expect: Differs {
            peer: "foo://host",
            ours: DIRECT,
            rule: SCHEMES,
        },
    },
    Row {
        from: go!("proxyForURLTests: don't use secure for http"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", "http.proxy.tld"), ("HTTPS_PROXY", "secure.proxy.tld")],
        url: "http://insecure.tld/",
        expect: Same("proxy http://http.proxy.tld:80"),
    },
    Row {
        from: go!("proxyForURLTests: use secure for https"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", "http.proxy.tld"), ("HTTPS_PROXY", "secure.proxy.tld")],
        url: "https://secure.tld/",
        expect: Same("proxy http://secure.proxy.tld:80"),
    },
    Row {
        from: go!("proxyForURLTests: https:// https proxy"),
        config: ENV_ONLY,
        env: &[
            ("HTTP_PROXY", "http.proxy.tld"),
            ("HTTPS_PROXY", "https://secure.proxy.tld"),
        ],
        url: "https://secure.tld/",
        expect: Same("proxy https://secure.proxy.tld:443"),
    },
    // The standard HTTP_PROXY never carries over to https (SPEC section 2, step 4).
    Row {
        from: go!("proxyForURLTests: http proxy only, https target"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", "http.proxy.tld")],
        url: "https://secure.tld/",
        expect: Same(DIRECT),
    },
    Row {
        from: go!("proxyForURLTests: ftp target"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", "http.proxy.tld")],
        url: "ftp://insecure.tld/",
        expect: Differs {
            peer: "<nil> (no proxy)",
            ours: "refused: scheme",
            rule: TARGETS,
        },
    },
    // Go answers with an error; we go direct and warn (the warning is pinned in proxy.rs).
    Row {
        from: go!("proxyForURLTests: CGI ignores HTTP_PROXY (issue 16405)"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", "http://10.1.2.3:8080"), ("REQUEST_METHOD", "GET")],
        url: "http://example.com",
        expect: Same(DIRECT),
    },
    Row {
        from: go!("proxyForURLTests: CGI still uses HTTPS_PROXY"),
        config: ENV_ONLY,
        env: &[("HTTPS_PROXY", "https://secure.proxy.tld"), ("REQUEST_METHOD", "GET")],
        url: "https://secure.tld/",
        expect: Same("proxy https://secure.proxy.tld:443"),
    },
    Row {
        from: go!("proxyForURLTests: nothing set"),
        config: ENV_ONLY,
        env: &[],
        url: "http://example.com",
        expect: Same(DIRECT),
    },
    Row {
        from: go!("proxyForURLTests: NoProxy example.com"),
        config: ENV_ONLY,
        env: &[("NO_PROXY", "example.com"), ("HTTP_PROXY", "proxy")],
        url: "http://example.com/",
        expect: Same(DIRECT),
    },
    Row {
        from: go!("proxyForURLTests: NoProxy .example.com vs example.com"),
        config: ENV_ONLY,
        env: &[("NO_PROXY", ".example.com"), ("HTTP_PROXY", "proxy")],
        url: "http://example.com/",
        expect: Differs {
            peer: "http://proxy",
            ours: DIRECT,
            rule: HOST_BITS,
        },
    },
    Row {
        from: go!("proxyForURLTests: NoProxy ample.com"),
        config: ENV_ONLY,
        env: &[("NO_PROXY", "ample.com"), ("HTTP_PROXY", "proxy")],
        url: "http://example.com/",
        expect: Same("proxy http://proxy:80"),
    },
    Row {
        from: go!("proxyForURLTests: NoProxy example.com, subdomain"),
        config: ENV_ONLY,
        env: &[("NO_PROXY", "example.com"), ("HTTP_PROXY", "proxy")],
        url: "http://foo.example.com/",
        expect: Same(DIRECT),
    },
    Row {
        from: go!("proxyForURLTests: NoProxy .foo.com"),
        config: ENV_ONLY,
        env: &[("NO_PROXY", ".foo.com"), ("HTTP_PROXY", "proxy")],
        url: "http://example.com/",
        expect: Same("proxy http://proxy:80"),
    },
    Row {
        from: go!("proxyForURLTests: IDN entry, IDN target"),
        config: ENV_ONLY,
        env: &[("NO_PROXY", ".示例.com"), ("HTTP_PROXY", "proxy")],
        url: "http://www.示例.com",
        expect: Differs {
            peer: "<nil> (bypassed)",
            ours: "refused:",
            rule: URI_HOSTS,
        },
    },
    Row {
        from: go!("proxyForURLTests: punycode entry, IDN target"),
        config: ENV_ONLY,
        env: &[("NO_PROXY", "xn--fsq092h.com"), ("HTTP_PROXY", "proxy")],
        url: "http://www.示例.com",
        expect: Differs {
            peer: "<nil> (bypassed)",
            ours: "refused:",
            rule: URI_HOSTS,
        },
    },
    Row {
        from: go!("proxyForURLTests: IDN entry, punycode target"),
        config: ENV_ONLY,
        env: &[("NO_PROXY", "示例.com"), ("HTTP_PROXY", "proxy")],
        url: "http://www.xn--fsq092h.com",
        expect: Differs {
            peer: "<nil> (bypassed)",
            ours: "proxy http://proxy:80",
            rule: URI_HOSTS,
        },
    },
    Row {
        from: go!("proxyForURLTests: IPv6 zone that ends like a domain"),
        config: ENV_ONLY,
        env: &[("NO_PROXY", "example.com"), ("HTTP_PROXY", "proxy")],
        url: "http://[1000::%25.example.com]:123",
        expect: Same("proxy http://proxy:80"),
    },
    // TestFromEnvironment, TestFromEnvironmentWithRequestMethod, TestFromEnvironmentLowerCase.
    Row {
        from: go!("TestFromEnvironment: empty REQUEST_METHOD is no CGI"),
        config: ENV_ONLY,
        env: &[
            ("HTTP_PROXY", "httpproxy"),
            ("HTTPS_PROXY", "httpsproxy"),
            ("REQUEST_METHOD", ""),
        ],
        url: "http://example.com",
        expect: Same("proxy http://httpproxy:80"),
    },
    Row {
        from: go!("TestFromEnvironment: HTTPS_PROXY"),
        config: ENV_ONLY,
        env: &[
            ("HTTP_PROXY", "httpproxy"),
            ("HTTPS_PROXY", "httpsproxy"),
            ("NO_PROXY", "noproxy"),
        ],
        url: "https://example.com",
        expect: Same("proxy http://httpsproxy:80"),
    },
    Row {
        from: go!("TestFromEnvironment: NO_PROXY"),
        config: ENV_ONLY,
        env: &[("HTTP_PROXY", "httpproxy"), ("NO_PROXY", "noproxy")],
        url: "http://noproxy",
        expect: Same(DIRECT),
    },
    Row {
        from: go!("TestFromEnvironmentWithRequestMethod: PUT"),
        config: ENV_ONLY,
        env: &[
            ("HTTP_PROXY", "httpproxy"),
            ("HTTPS_PROXY", "httpsproxy"),
            ("REQUEST_METHOD", "PUT"),
        ],
        url: "http://example.com",
        expect: Same(DIRECT),
    },
    Row {
        from: go!("TestFromEnvironmentWithRequestMethod: PUT, https"),
        config: ENV_ONLY,
        env: &[
            ("HTTP_PROXY", "httpproxy"),
            ("HTTPS_PROXY", "httpsproxy"),
            ("REQUEST_METHOD", "PUT"),
        ],
        url: "https://example.com",
        expect: Same("proxy http://httpsproxy:80"),
    },
    Row {
        from: go!("TestFromEnvironmentLowerCase"),
        config: ENV_ONLY,
        env: &[
            ("http_proxy", "httpproxy"),
            ("https_proxy", "httpsproxy"),
            ("no_proxy", "noproxy"),
        ],
        url: "http://example.com",
        expect: Same("proxy http://httpproxy:80"),
    },
    Row {
        from: go!("TestFromEnvironmentLowerCase: no_proxy"),
        config: ENV_ONLY,
        env: &[("http_proxy", "httpproxy"), ("no_proxy", "noproxy")],
        url: "http://noproxy",
        expect: Same(DIRECT),
    },
];

/// `var noProxy` of proxy_test.go, as Go's `TestUseProxy` uses it (targets on port 80).
const GO_NO_PROXY: &str = "foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, 192.168.1.2:81, 192.168.1.3:80, \
                           10.0.0.0/30, 2001:db8::52:0:1, [2001:db8::52:0:2]:443, [2001:db8::52:0:3]:80, 2002:db8:a::45/64";

macro_rules! use_proxy {
    ($host:literal, $expect:expr) => {
        NoProxyRow {
            from: go!("UseProxyTests"),
            no_proxy: GO_NO_PROXY,
            url: concat!("http://", $host, ":80/"),
            expect: $expect,
        }
    };
}

const USE_PROXY: &[NoProxyRow] = &[
    use_proxy!(
        "localhost",
        Differs {
            peer: "never proxied",
            ours: PROXIED,
            rule: NO_LOOPBACK_DEFAULT
        }
    ),
    use_proxy!(
        "127.0.0.1",
        Differs {
            peer: "never proxied",
            ours: PROXIED,
            rule: NO_LOOPBACK_DEFAULT
        }
    ),
    use_proxy!(
        "127.0.0.2",
        Differs {
            peer: "never proxied",
            ours: PROXIED,
            rule: NO_LOOPBACK_DEFAULT
        }
    ),
    use_proxy!(
        "[::1]",
        Differs {
            peer: "never proxied",
            ours: PROXIED,
            rule: NO_LOOPBACK_DEFAULT
        }
    ),
    use_proxy!("[::2]", Same(PROXIED)),
    use_proxy!("192.168.1.1", Same(DIRECT)),
    use_proxy!("192.168.1.2", Same(PROXIED)),
    use_proxy!("192.168.1.3", Same(DIRECT)),
    use_proxy!("192.168.1.4", Same(PROXIED)),
    use_proxy!("10.0.0.2", Same(DIRECT)),
    use_proxy!("[2001:db8::52:0:1]", Same(DIRECT)),
    use_proxy!("[2001:db8::52:0:2]", Same(PROXIED)),
    use_proxy!("[2001:db8::52:0:3]", Same(DIRECT)),
    use_proxy!("[2002:db8:a::123]", Same(DIRECT)),
    use_proxy!("[fe80::424b:c8be:1643:a1b6]", Same(PROXIED)),
    use_proxy!(
        "barbaz.net",
        Differs {
            peer: "proxied: .barbaz.net covers subdomains only",
            ours: DIRECT,
            rule: HOST_BITS
        }
    ),
    use_proxy!("www.barbaz.net", Same(DIRECT)),
    use_proxy!("foobar.com", Same(DIRECT)),
    use_proxy!("www.foobar.com", Same(DIRECT)),
    use_proxy!("foofoobar.com", Same(PROXIED)),
    use_proxy!("baz.com", Same(PROXIED)),
    use_proxy!("localhost.net", Same(PROXIED)),
    use_proxy!("local.localhost", Same(PROXIED)),
    use_proxy!("barbarbaz.net", Same(PROXIED)),
    use_proxy!(
        "wildcard.io",
        Differs {
            peer: "proxied: *.wildcard.io covers subdomains only",
            ours: DIRECT,
            rule: HOST_BITS
        }
    ),
    use_proxy!("nested.wildcard.io", Same(DIRECT)),
    use_proxy!("awildcard.io", Same(PROXIED)),
    NoProxyRow {
        from: go!("TestInvalidNoProxy"),
        no_proxy: ":1",
        url: "http://example.com:80/",
        expect: Same(PROXIED),
    },
    NoProxyRow {
        from: go!("TestAllNoProxy: *"),
        no_proxy: "*",
        url: "http://localhost:80/",
        expect: Same(DIRECT),
    },
    NoProxyRow {
        from: go!("TestAllNoProxy: *"),
        no_proxy: "*",
        url: "http://[2001:db8::52:0:2]:80/",
        expect: Same(DIRECT),
    },
    NoProxyRow {
        from: go!("TestAllNoProxy: *"),
        no_proxy: "*",
        url: "http://awildcard.io:80/",
        expect: Same(DIRECT),
    },
];

#[test]
fn gos_proxy_for_url_cases() {
    assert_eq!(check(PROXY_FOR_URL), 6);
}

#[test]
fn gos_use_proxy_cases() {
    assert_eq!(check_no_proxy(USE_PROXY), 6);
}

/// proxyForURLTests: `HTTPProxy: "socks5://127.0.0.1"` → `socks5://127.0.0.1` (default
/// port 1080, SPEC section 2).
#[test]
fn gos_socks5_proxy_row() {
    let got = peer_support::route(ENV_ONLY, &[("HTTP_PROXY", "socks5://127.0.0.1")], "http://example.com");
    let want = "proxy socks5://127.0.0.1:1080";
    assert_eq!(got, want, "x/net httpproxy/proxy_test.go proxyForURLTests: socks5");
}
