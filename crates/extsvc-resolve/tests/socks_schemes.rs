//! `socks5://` and `socks5h://` proxy URLs in every field that holds a proxy (SPEC
//! section 2): service, global, legacy top-level, `TYK_GW_` variables and the standard
//! `HTTP_PROXY`/`HTTPS_PROXY`; other schemes stay errors naming the key path.

use extsvc_config::{load_str, EnvSnapshot, LoadOptions, ProxyScheme, ServiceKind};
use extsvc_resolve::{resolve, Route, TargetScheme};

/// The oauth service's proxy for `scheme` as `url@source`, and the route to `example.com`.
fn oauth_proxy(json: &str, env: &[(&str, &str)], scheme: TargetScheme) -> (String, String) {
    let env = EnvSnapshot::from_iter(env.iter().copied());
    let loaded = load_str(json, "tyk.conf", &env, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let resolution = resolve(&loaded.config, &env);
    let oauth = resolution.service(ServiceKind::Oauth);
    let field = oauth.proxy.for_scheme(scheme);
    let url = field.value.as_ref().expect("a proxy is resolved");
    assert!(url.scheme().is_socks(), "{url}");
    let route = match oauth.route(scheme, "example.com", 443).route {
        Route::Direct => "direct".to_owned(),
        Route::Proxy(p) => p.to_string(),
    };
    (format!("{url}@{}", field.source), route)
}

#[test]
fn socks_urls_are_accepted_in_every_proxy_field() {
    let service =
        r#"{"external_services": {"oauth": {"proxy": {"enabled": true, "https_proxy": "socks5h://gw:pw@sp:1081"}}}}"#;
    assert_eq!(
        oauth_proxy(service, &[], TargetScheme::Https),
        (
            "socks5h://gw:***@sp:1081@file:external_services.oauth.proxy.https_proxy".to_owned(),
            "socks5h://gw:***@sp:1081".to_owned()
        )
    );
    let global = r#"{"external_services": {"global": {"enabled": true, "http_proxy": "socks5://gp"}}}"#;
    assert_eq!(
        oauth_proxy(global, &[], TargetScheme::Http).0,
        "socks5://gp:1080@file:external_services.global.http_proxy"
    );
    let legacy = r#"{"https_proxy": "socks5h://legacy:1082"}"#;
    assert_eq!(
        oauth_proxy(legacy, &[], TargetScheme::Https).0,
        "socks5h://legacy:1082@legacy:https_proxy"
    );
    let active = r#"{"external_services": {"oauth": {"proxy": {"enabled": true}}}}"#;
    assert_eq!(
        oauth_proxy(
            active,
            &[("HTTPS_PROXY", "socks5://u%40x:s3cret@envp")],
            TargetScheme::Https
        )
        .0,
        "socks5://u%40x:***@envp:1080@env:HTTPS_PROXY"
    );
    assert_eq!(
        oauth_proxy(active, &[("http_proxy", "socks5h://envp:9050")], TargetScheme::Http).0,
        "socks5h://envp:9050@env:http_proxy"
    );
    assert_eq!(
        oauth_proxy(
            active,
            &[("TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTPS_PROXY", "socks5://tyk:1")],
            TargetScheme::Https
        )
        .0,
        "socks5://tyk:1@env:TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTPS_PROXY"
    );
}

#[test]
fn the_scheme_and_credentials_survive_resolution() {
    let json =
        r#"{"external_services": {"storage": {"proxy": {"enabled": true, "http_proxy": "socks5h://u:p%3Aw@h"}}}}"#;
    let env = EnvSnapshot::empty();
    let loaded = load_str(json, "tyk.conf", &env, &LoadOptions::default()).unwrap();
    let resolution = resolve(&loaded.config, &env);
    let proxy = resolution
        .service(ServiceKind::Storage)
        .proxy
        .http_proxy
        .value
        .clone()
        .unwrap();
    assert_eq!(proxy.scheme(), ProxyScheme::Socks5h);
    assert_eq!(proxy.socks_credentials(), Some(("u", "p:w")));
}

#[test]
fn other_schemes_are_errors_naming_the_key_path_and_hiding_the_password() {
    for (json, expected) in [
        (
            r#"{"external_services": {"webhooks": {"proxy": {"http_proxy": "socks4://u:s3cret@p:1080"}}}}"#,
            r#"external_services.webhooks.proxy.http_proxy: invalid proxy URL "socks4://u:***@p:1080": unsupported scheme "socks4": expected http://, https://, socks5:// or socks5h://"#,
        ),
        (
            r#"{"https_proxy": "socks4a://p"}"#,
            r#"https_proxy: invalid proxy URL "socks4a://p": unsupported scheme "socks4a": expected http://, https://, socks5:// or socks5h://"#,
        ),
        (
            r#"{"external_services": {"global": {"https_proxy": "socks5://onlyuser@p"}}}"#,
            r#"external_services.global.https_proxy: invalid proxy URL "socks5://***@p": SOCKS5 authentication (RFC 1929) needs a user name and a password of 1 to 255 bytes each (user:password@)"#,
        ),
        (
            r#"{"external_services": {"global": {"https_proxy": "socks5h://p:0"}}}"#,
            r#"external_services.global.https_proxy: invalid proxy URL "socks5h://p:0": invalid port "0""#,
        ),
    ] {
        let err = load_str(json, "tyk.conf", &EnvSnapshot::empty(), &LoadOptions::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(expected), "{json}\n got: {text}");
        assert!(!text.contains("s3cret"), "{text}");
    }
}

/// Fail closed (SPEC section 2): the service that reaches an unusable HTTPS_PROXY has an
/// error naming it, never a silent direct connection.
#[test]
fn a_bad_socks_scheme_in_the_standard_environment_is_an_error() {
    let json = r#"{"external_services": {"oauth": {"proxy": {"enabled": true}}}}"#;
    let env = EnvSnapshot::from_iter([("HTTPS_PROXY", "socks4://u:s3cret@p")]);
    let loaded = load_str(json, "tyk.conf", &env, &LoadOptions::default()).unwrap();
    let resolution = resolve(&loaded.config, &env);
    assert!(resolution.service(ServiceKind::Oauth).proxy.https_proxy.value.is_none());
    let errors: Vec<String> = resolution.errors().map(ToString::to_string).collect();
    let errors = errors.join("\n");
    assert!(
        errors.starts_with("HTTPS_PROXY: invalid proxy URL") && errors.contains("socks4"),
        "{errors}"
    );
    assert!(!errors.contains("s3cret"), "{errors}");
}
