//! Tyk's own external-services client factory, transcribed: the proxy cases of
//! `internal/httpclient/factory_test.go` (TykTechnologies/tyk @ cecb893) —
//! `TestExternalHTTPClientFactory_CreateClient`, `_getServiceConfig`,
//! `_getProxyFunction` — and, since those tests assert little about routes, the
//! behaviour of `createCustomProxyFunc` / `shouldBypassProxy` / `getServiceConfig` in
//! `internal/httpclient/factory.go` (@ 1a6c9f1) as rows of their own. Tyk matches
//! `bypass_proxy` by exact, case-sensitive `host[:port]` string equality (plus
//! `localhost` == `127.0.0.1`); SPEC's bypass list is richer on purpose. Rows route an
//! `oauth` target; see `peer_support`.

mod peer_support;

use peer_support::{check, Expect::*, Row, DIRECT};

const BYPASS: &str = "SPEC section 2, bypass list: case-insensitive domains with subdomains, IP literals, CIDR, `*`, \
                      ports (default ports count); Tyk compares host[:port] strings exactly";
const INHERIT: &str = "SPEC section 2: each field resolves on its own, so a service with only `enabled` and \
                       `bypass_proxy` inherits the global URLs (seed examples 3 and 4); Tyk then reads only the environment";
const NOT_CONFIGURED: &str =
    "SPEC section 2: with neither global nor service proxying active the service connects directly";

macro_rules! tyk_test {
    ($test:literal) => {
        concat!("tyk internal/httpclient/factory_test.go ", $test)
    };
}
macro_rules! tyk_code {
    ($func:literal) => {
        concat!("tyk internal/httpclient/factory.go ", $func)
    };
}

const GLOBAL_8080: &str = r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://proxy:8080"}}}"#;
const SERVICE_OVER_GLOBAL: &str = r#"{"external_services": {
    "global": {"enabled": true, "http_proxy": "http://global-proxy:8080"},
    "oauth": {"proxy": {"enabled": true, "http_proxy": "http://oauth-proxy:8080"}}}}"#;
const GLOBAL_ENABLED_ONLY: &str = r#"{"external_services": {"global": {"enabled": true}}}"#;
const SERVICE_ENABLED_ONLY: &str = r#"{"external_services": {"oauth": {"proxy": {"enabled": true}}}}"#;
const SERVICE_HTTP_8080: &str =
    r#"{"external_services": {"oauth": {"proxy": {"enabled": true, "http_proxy": "http://proxy:8080"}}}}"#;

const ROWS: &[Row] = &[
    Row {
        from: tyk_test!("CreateClient: no configuration"),
        config: "{}",
        env: &[("HTTP_PROXY", "http://env:1")],
        url: "http://example.com",
        expect: Differs {
            peer: "error: external services not configured for service type: oauth",
            ours: DIRECT,
            rule: NOT_CONFIGURED,
        },
    },
    Row {
        from: tyk_test!("CreateClient: global proxy configuration"),
        config: GLOBAL_8080,
        env: &[],
        url: "http://example.com",
        expect: Same("proxy http://proxy:8080"),
    },
    Row {
        from: tyk_test!("CreateClient: service-specific proxy overrides global"),
        config: SERVICE_OVER_GLOBAL,
        env: &[],
        url: "http://example.com",
        expect: Same("proxy http://oauth-proxy:8080"),
    },
    Row {
        from: tyk_test!("CreateClient: environment proxy configuration"),
        config: GLOBAL_ENABLED_ONLY,
        env: &[("HTTP_PROXY", "http://env:3128")],
        url: "http://example.com",
        expect: Same("proxy http://env:3128"),
    },
    Row {
        from: tyk_test!("CreateClient: environment proxy configuration, https (ProxyFromEnvironment)"),
        config: GLOBAL_ENABLED_ONLY,
        env: &[("HTTP_PROXY", "http://env:3128")],
        url: "https://example.com",
        expect: Same(DIRECT),
    },
    Row {
        from: tyk_test!("CreateClient: mTLS configuration (wantProxy false)"),
        config: r#"{"external_services": {"oauth": {"mtls": {"enabled": true, "cert_id": "test-cert-123", "insecure_skip_verify": true}}}}"#,
        env: &[("HTTP_PROXY", "http://env:1")],
        url: "http://example.com",
        expect: Same(DIRECT),
    },
    Row {
        from: tyk_test!("getServiceConfig: OAuth service gets specific config"),
        config: SERVICE_OVER_GLOBAL,
        env: &[],
        url: "http://example.com",
        expect: Same("proxy http://oauth-proxy:8080"),
    },
    Row {
        from: tyk_test!("getProxyFunction: no proxy config"),
        config: "{}",
        env: &[],
        url: "http://example.com",
        expect: Same(DIRECT),
    },
    Row {
        from: tyk_test!("getProxyFunction: HTTP proxy configured"),
        config: SERVICE_HTTP_8080,
        env: &[],
        url: "http://example.com",
        expect: Same("proxy http://proxy:8080"),
    },
    Row {
        from: tyk_test!("getProxyFunction: environment proxy"),
        config: SERVICE_ENABLED_ONLY,
        env: &[("HTTP_PROXY", "http://env:3128")],
        url: "http://example.com",
        expect: Same("proxy http://env:3128"),
    },
    // createCustomProxyFunc: scheme choice and the https fallback (SPEC section 2, step 4).
    Row {
        from: tyk_code!("createCustomProxyFunc: https falls back to http_proxy"),
        config: SERVICE_HTTP_8080,
        env: &[],
        url: "https://idp.example.com/jwks",
        expect: Same("proxy http://proxy:8080"),
    },
    Row {
        from: tyk_code!("createCustomProxyFunc: https falls back to the global http_proxy"),
        config: GLOBAL_8080,
        env: &[],
        url: "https://idp.example.com/jwks",
        expect: Same("proxy http://proxy:8080"),
    },
    Row {
        from: tyk_code!("createCustomProxyFunc: an empty https_proxy falls back too"),
        config: r#"{"external_services": {"oauth": {"proxy": {"enabled": true, "http_proxy": "http://h:1", "https_proxy": ""}}}}"#,
        env: &[],
        url: "https://idp.example.com/",
        expect: Same("proxy http://h:1"),
    },
    Row {
        from: tyk_code!("createCustomProxyFunc: https_proxy for https"),
        config: r#"{"external_services": {"oauth": {"proxy": {"enabled": true, "http_proxy": "http://h:1", "https_proxy": "http://s:2"}}}}"#,
        env: &[],
        url: "https://idp.example.com/",
        expect: Same("proxy http://s:2"),
    },
    Row {
        from: tyk_code!("createCustomProxyFunc: http never takes https_proxy"),
        config: r#"{"external_services": {"oauth": {"proxy": {"enabled": true, "https_proxy": "http://s:2"}}}}"#,
        env: &[],
        url: "http://idp.example.com/",
        expect: Same(DIRECT),
    },
    // shouldBypassProxy
    Row {
        from: tyk_code!("shouldBypassProxy: exact host"),
        config: r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://p:1", "bypass_proxy": "api.example.com"}}}"#,
        env: &[],
        url: "https://api.example.com/",
        expect: Same(DIRECT),
    },
    Row {
        from: tyk_code!("shouldBypassProxy: exact host:port"),
        config: r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://p:1", "bypass_proxy": "api.example.com:8443"}}}"#,
        env: &[],
        url: "https://api.example.com:8443/",
        expect: Same(DIRECT),
    },
    Row {
        from: tyk_code!("shouldBypassProxy: localhost covers 127.0.0.1"),
        config: r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://p:1", "bypass_proxy": "localhost"}}}"#,
        env: &[],
        url: "http://127.0.0.1/",
        expect: Same(DIRECT),
    },
    Row {
        from: tyk_code!("shouldBypassProxy: other hosts proxied"),
        config: r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://p:1", "bypass_proxy": "api.example.com"}}}"#,
        env: &[],
        url: "https://other.example.com/",
        expect: Same("proxy http://p:1"),
    },
    Row {
        from: tyk_code!("shouldBypassProxy: no subdomains"),
        config: r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://p:1", "bypass_proxy": "example.com"}}}"#,
        env: &[],
        url: "https://sub.example.com/",
        expect: Differs {
            peer: "proxied",
            ours: DIRECT,
            rule: BYPASS,
        },
    },
    Row {
        from: tyk_code!("shouldBypassProxy: case-sensitive"),
        config: r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://p:1", "bypass_proxy": "API.example.com"}}}"#,
        env: &[],
        url: "https://api.example.com/",
        expect: Differs {
            peer: "proxied",
            ours: DIRECT,
            rule: BYPASS,
        },
    },
    Row {
        from: tyk_code!("shouldBypassProxy: default port not implied"),
        config: r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://p:1", "bypass_proxy": "example.com:443"}}}"#,
        env: &[],
        url: "https://example.com/",
        expect: Differs {
            peer: "proxied (URL host has no port)",
            ours: DIRECT,
            rule: BYPASS,
        },
    },
    Row {
        from: tyk_code!("shouldBypassProxy: an entry without port is exact"),
        config: r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://p:1", "bypass_proxy": "example.com"}}}"#,
        env: &[],
        url: "https://example.com:8443/",
        expect: Differs {
            peer: "proxied",
            ours: DIRECT,
            rule: BYPASS,
        },
    },
    Row {
        from: tyk_code!("shouldBypassProxy: 127.0.0.1 does not cover localhost"),
        config: r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://p:1", "bypass_proxy": "127.0.0.1"}}}"#,
        env: &[],
        url: "http://localhost/",
        expect: Differs {
            peer: "proxied",
            ours: DIRECT,
            rule: BYPASS,
        },
    },
    Row {
        from: tyk_code!("shouldBypassProxy: no CIDR"),
        config: r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://p:1", "bypass_proxy": "10.0.0.0/8"}}}"#,
        env: &[],
        url: "http://10.1.2.3/",
        expect: Differs {
            peer: "proxied",
            ours: DIRECT,
            rule: BYPASS,
        },
    },
    Row {
        from: tyk_code!("shouldBypassProxy: no wildcard"),
        config: r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://p:1", "bypass_proxy": "*"}}}"#,
        env: &[],
        url: "http://anything.example/",
        expect: Differs {
            peer: "proxied",
            ours: DIRECT,
            rule: BYPASS,
        },
    },
    // getServiceConfig: the global URLs are merged only into a service block that sets
    // neither URL nor `enabled`.
    Row {
        from: tyk_code!("getServiceConfig: enabled service with only bypass_proxy"),
        config: r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://g:1"}, "oauth": {"proxy": {"enabled": true, "bypass_proxy": "internal"}}}}"#,
        env: &[],
        url: "http://idp.example.com/",
        expect: Differs {
            peer: "environment only (direct here)",
            ours: "proxy http://g:1",
            rule: INHERIT,
        },
    },
];

#[test]
fn tyks_factory_cases() {
    assert_eq!(check(ROWS), 9);
}
