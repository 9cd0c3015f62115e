//! Proxy precedence (SPEC section 2): one function per field, reading like the list.

use extsvc_config::internal::parse_bypass_list;
use extsvc_config::{ConfigError, EnvSnapshot, ExternalServicesConfig, ProxyUrl, ServiceKind, Source, Sourced};

use crate::bypass::BypassList;
use crate::defaults::sourced_default;
use crate::scheme::TargetScheme;

/// The proxy settings one service uses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvedProxy {
    /// True when global or service proxying is active for this service. When false the
    /// service connects directly and the other fields are empty defaults.
    pub enabled: bool,
    /// Proxy for `http://` targets.
    pub http_proxy: Sourced<Option<ProxyUrl>>,
    /// Proxy for `https://` targets (and TLS connections of non-HTTP clients).
    pub https_proxy: Sourced<Option<ProxyUrl>>,
    /// Hosts that go direct.
    pub bypass: Sourced<BypassList>,
    /// A standard variable (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, lower case too) that
    /// one of the fields above reached and that cannot be used: an invalid proxy URL, a
    /// value that is not UTF-8. Building the service fails with it (fail closed, as Go
    /// fails such requests): never a silent direct connection.
    pub errors: Vec<ConfigError>,
}

impl ResolvedProxy {
    /// The proxy field for targets of `scheme`: `http_proxy` for plain ones, `https_proxy`
    /// for TLS ones. It is what [`ResolvedService::route`](crate::ResolvedService::route)
    /// goes through unless the host bypasses it (or proxying is off).
    #[inline]
    pub fn for_scheme(&self, scheme: TargetScheme) -> &Sourced<Option<ProxyUrl>> {
        match scheme {
            TargetScheme::Http => &self.http_proxy,
            TargetScheme::Https => &self.https_proxy,
        }
    }
}

/// A standard variable's value as read: unset, usable, or an error naming the variable
/// (reported only when resolution reaches it).
type Standard<T> = Option<Result<Sourced<T>, ConfigError>>;

/// `HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY` (upper case first), read once.
#[derive(Debug, Default)]
pub(crate) struct StandardProxyEnv {
    http_proxy: Standard<Option<ProxyUrl>>,
    https_proxy: Standard<Option<ProxyUrl>>,
    no_proxy: Standard<BypassList>,
}

/// The first of `names` that is set to a non-empty value (as Go and curl read them); a
/// value that is not UTF-8 counts as set, and comes back as the error naming it.
fn first_set<'a>(env: &'a EnvSnapshot, names: &[&'static str]) -> Option<(&'static str, Result<&'a str, ConfigError>)> {
    names.iter().find_map(|name| match env.get_checked(name) {
        Ok(value) => value.filter(|v| !v.trim().is_empty()).map(|v| (*name, Ok(v))),
        Err(error) => Some((*name, Err(error))),
    })
}

/// The value of a standard variable that resolution reached: an error is recorded
/// (once) and the field resolves to nothing, which building the service refuses.
fn reached<T: Clone>(value: &Standard<T>, errors: &mut Vec<ConfigError>) -> Option<Sourced<T>> {
    match value.as_ref()? {
        Ok(value) => Some(value.clone()),
        Err(error) => {
            if !errors.contains(error) {
                errors.push(error.clone());
            }
            None
        }
    }
}

impl StandardProxyEnv {
    pub(crate) fn read(env: &EnvSnapshot, warnings: &mut Vec<String>) -> StandardProxyEnv {
        // "httpoxy": in a CGI process a request's `Proxy:` header arrives as HTTP_PROXY,
        // so Go, hyper-util and reqwest do not read the upper-case name there.
        let cgi = first_set(env, &["REQUEST_METHOD"]).is_some();
        let http_names: &[&'static str] = if cgi {
            if first_set(env, &["HTTP_PROXY"]).is_some() {
                warnings.push(
                    "HTTP_PROXY: ignored because REQUEST_METHOD is set (a CGI process, where HTTP_PROXY may come \
                     from a request's Proxy header: \"httpoxy\"); http_proxy is still read"
                        .to_owned(),
                );
            }
            &["http_proxy"]
        } else {
            &["HTTP_PROXY", "http_proxy"]
        };
        let mut url = |names: &[&'static str]| -> Standard<Option<ProxyUrl>> {
            let (name, value) = first_set(env, names)?;
            let value = match value {
                Ok(value) => value,
                Err(error) => return Some(Err(error)),
            };
            Some(match ProxyUrl::parse(value) {
                Ok(url) => {
                    if url.scheme_assumed() {
                        warnings.push(format!(
                            "{name}: no scheme in \"{}\", assuming http://",
                            extsvc_config::shown(value.trim())
                        ));
                    }
                    Ok(Sourced::new(Some(url), Source::Env(name.to_owned())))
                }
                // Fail closed (SPEC section 2): Go fails the request, and so does the
                // service that reaches this value.
                Err(e) => Err(ConfigError::InvalidProxyUrl {
                    path: name.to_owned(),
                    value: extsvc_config::shown(value).to_string(),
                    reason: e.reason,
                }),
            })
        };
        let http_proxy = url(http_names);
        let https_proxy = url(&["HTTPS_PROXY", "https_proxy"]);
        let all: Vec<&str> = ["ALL_PROXY", "all_proxy"]
            .into_iter()
            .filter(|name| first_set(env, &[name]).is_some())
            .collect();
        if !all.is_empty() {
            warnings.push(format!(
                "{} set but not used: extsvc, like Go and Tyk, reads only HTTP_PROXY, HTTPS_PROXY and NO_PROXY \
                 (and their lower-case forms); set http_proxy / https_proxy instead",
                all.join(" and ")
            ));
        }
        let no_proxy = first_set(env, &["NO_PROXY", "no_proxy"]).map(|(name, value)| {
            let value = value?;
            let (entries, invalid) = parse_bypass_list(value);
            for bad in invalid {
                warnings.push(format!(
                    "{name}: skipped entry \"{}\": {}",
                    extsvc_config::shown(&bad.entry),
                    extsvc_config::shown(&bad.reason)
                ));
            }
            Ok(Sourced::new(BypassList::new(entries), Source::Env(name.to_owned())))
        });
        StandardProxyEnv {
            http_proxy,
            https_proxy,
            no_proxy,
        }
    }
}

pub(crate) fn resolve_proxy(
    config: &ExternalServicesConfig,
    kind: ServiceKind,
    standard: &StandardProxyEnv,
    global_bypass: &Option<Sourced<BypassList>>,
    warnings: &mut Vec<String>,
) -> ResolvedProxy {
    let global = &config.global;
    let legacy = &config.legacy;
    let service = &config.service(kind).proxy;

    let global_active = match &global.enabled {
        Some(enabled) => enabled.value,
        None => legacy.http_proxy.is_some() || legacy.https_proxy.is_some(),
    };
    let service_active = service.enabled.as_ref().is_some_and(|e| e.value);
    let service_fields_set =
        service.http_proxy.is_some() || service.https_proxy.is_some() || service.bypass_proxy.is_some();
    if service_fields_set && !service_active {
        warnings.push(format!(
            "external_services.{kind}.proxy: settings ignored because proxy.enabled is not true"
        ));
    }
    // SPEC section 2: `enabled: false` on a service does not opt it out of the global
    // proxy; only `bypass_proxy: "*"` (which needs `enabled: true`) does. Say so.
    if let Some(disabled) = service.enabled.as_ref().filter(|e| global_active && !e.value) {
        // A file value is named by the key path already; an environment variable is not.
        let from = match &disabled.source {
            Source::File(_) => String::new(),
            other => format!(" ({other})"),
        };
        warnings.push(format!(
            "external_services.{kind}.proxy.enabled is false{from}, but global proxying still applies to {kind}; \
             to send {kind} direct, set external_services.{kind}.proxy.enabled to true and \
             external_services.{kind}.proxy.bypass_proxy to \"*\""
        ));
    }
    if !global_active && !service_active {
        return ResolvedProxy {
            enabled: false,
            http_proxy: sourced_default(None),
            https_proxy: sourced_default(None),
            bypass: sourced_default(BypassList::default()),
            errors: Vec::new(),
        };
    }
    let mut errors = Vec::new();
    // Each field: the service's own value, then the global one (legacy keys fill in for
    // unset global URLs), then the standard environment, then the default.
    let own = |field: &Option<Sourced<Option<ProxyUrl>>>| field.clone().filter(|_| service_active);
    let inherited = |field: &Option<Sourced<Option<ProxyUrl>>>, legacy_field: &Option<Sourced<Option<ProxyUrl>>>| {
        field.clone().or_else(|| legacy_field.clone()).filter(|_| global_active)
    };

    // The configured (tyk.conf or `TYK_GW_`) value first: only it may carry over to https.
    let configured_http = own(&service.http_proxy).or_else(|| inherited(&global.http_proxy, &legacy.http_proxy));
    let tyk_fallback = configured_http
        .clone()
        .filter(|http| http.value.is_some())
        .map(|http| Sourced::new(http.value, Source::Fallback(Box::new(http.source))));
    let http_proxy = configured_http
        .or_else(|| reached(&standard.http_proxy, &mut errors))
        .unwrap_or_else(|| sourced_default(None));
    // Steps 1-3; a value set to `""` counts as resolving to nothing, as in Tyk (Go's
    // empty string), so a tyk.conf written out with empty defaults behaves as in Tyk.
    let https_proxy = match own(&service.https_proxy)
        .or_else(|| inherited(&global.https_proxy, &legacy.https_proxy))
        .or_else(|| reached(&standard.https_proxy, &mut errors))
    {
        Some(https) if https.value.is_some() => https,
        // Step 4, Tyk's fallback; without it an https_proxy set to `""` keeps its source.
        nothing => tyk_fallback.or(nothing).unwrap_or_else(|| sourced_default(None)),
    };
    // The global list is indexed once (`global_bypass`) and shared by the services.
    let bypass = service
        .bypass_proxy
        .as_ref()
        .filter(|_| service_active)
        .map(|entries| entries.clone().map(BypassList::new))
        .or_else(|| global_bypass.clone().filter(|_| global_active))
        .or_else(|| reached(&standard.no_proxy, &mut errors))
        .unwrap_or_else(|| sourced_default(BypassList::default()));

    ResolvedProxy {
        enabled: true,
        http_proxy,
        https_proxy,
        bypass,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use extsvc_config::{load_str, EnvSnapshot, LoadOptions, ServiceKind};

    use crate::resolve;

    fn warnings(json: &str, env: &[(&str, &str)]) -> Vec<String> {
        let env = EnvSnapshot::from_iter(env.iter().copied());
        let loaded = load_str(json, "tyk.conf", &env, &LoadOptions::default()).expect("valid config");
        resolve(&loaded.config, &env).warnings
    }

    fn disabled_warnings(json: &str, env: &[(&str, &str)]) -> Vec<String> {
        warnings(json, env)
            .into_iter()
            .filter(|w| w.contains("proxy.enabled is false"))
            .collect()
    }

    #[test]
    fn bad_standard_proxy_variables_are_warned_about_only_when_something_proxies() {
        let env = [("NO_PROXY", "10.0.0.0/33,.svc"), ("HTTPS_PROXY", "ftp://nope")];
        assert_eq!(warnings("{}", &env), Vec::<String>::new(), "ignored without proxying");

        let proxying = r#"{"external_services": {"webhooks": {"proxy": {"enabled": true}}}}"#;
        let seen = warnings(proxying, &env);
        assert!(
            seen.iter()
                .any(|w| w.starts_with("NO_PROXY: skipped entry \"10.0.0.0/33\"")),
            "{seen:?}"
        );
        // An invalid HTTPS_PROXY that resolution reaches is an error, not a warning.
        assert!(!seen.iter().any(|w| w.contains("HTTPS_PROXY")), "{seen:?}");
    }

    /// SPEC section 2: an invalid standard proxy variable that a service reaches fails
    /// that service (Go fails the request); one that no service reaches is no concern.
    #[test]
    fn an_invalid_standard_proxy_that_resolution_reaches_is_an_error_naming_it() {
        let env = EnvSnapshot::from_iter([("HTTPS_PROXY", "http://badproxy:wrong_port")]);
        let resolve_json = |json: &str| {
            let loaded = load_str(json, "tyk.conf", &env, &LoadOptions::default()).expect("valid config");
            resolve(&loaded.config, &env)
        };
        assert_eq!(resolve_json("{}").errors().count(), 0, "nothing proxies");
        let configured = r#"{"external_services": {"global": {"enabled": true, "https_proxy": "http://p:1"}}}"#;
        assert_eq!(
            resolve_json(configured).errors().count(),
            0,
            "the configured value wins"
        );
        let reaches = resolve_json(r#"{"external_services": {"oauth": {"proxy": {"enabled": true}}}}"#);
        let errors: Vec<String> = reaches.errors().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [r#"HTTPS_PROXY: invalid proxy URL "http://badproxy:wrong_port": invalid port "wrong_port""#]
        );
        assert_eq!(reaches.proxy_errors().len(), 1);
        assert_eq!(reaches.service(ServiceKind::Oauth).proxy.https_proxy.value, None);
    }

    /// A Latin-1 HTTPS_PROXY was skipped without a word, and the service went direct.
    #[test]
    fn a_standard_variable_that_is_not_utf8_is_an_error_naming_it() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt;
        for name in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "NO_PROXY", "no_proxy"] {
            let env =
                EnvSnapshot::from_os_vars([(OsString::from(name), OsString::from_vec(b"pr\xf6xy:3128".to_vec()))]);
            let json = r#"{"external_services": {"global": {"enabled": true}}}"#;
            let loaded = load_str(json, "tyk.conf", &env, &LoadOptions::default()).expect("valid config");
            let errors: Vec<String> = resolve(&loaded.config, &env)
                .errors()
                .map(ToString::to_string)
                .collect();
            assert!(
                errors.contains(&format!("{name}: the value is not valid UTF-8")),
                "{name}: {errors:?}"
            );
        }
    }

    #[test]
    fn an_empty_legacy_proxy_that_turns_proxying_on_is_warned_about() {
        let seen = warnings(r#"{"http_proxy": ""}"#, &[("HTTPS_PROXY", "http://e:2")]);
        assert_eq!(
            seen[0],
            "http_proxy is set but empty (legacy:http_proxy): it turns global proxying on, so services fall \
             back to HTTP_PROXY / HTTPS_PROXY; remove it, or set external_services.global.enabled"
        );
        assert_eq!(seen.len(), 1, "{seen:?}");
        let explicit = r#"{"http_proxy": "", "external_services": {"global": {"enabled": false}}}"#;
        assert_eq!(warnings(explicit, &[]), Vec::<String>::new());
        // A proxy for one scheme only is no longer warned about: https falls back to a
        // configured http_proxy (SPEC section 2, step 4), and http never uses https_proxy.
        assert_eq!(
            warnings(r#"{"https_proxy": "http://p:3128"}"#, &[]),
            Vec::<String>::new()
        );
        assert_eq!(
            warnings(r#"{"http_proxy": "http://p:3128"}"#, &[]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn under_cgi_upper_case_http_proxy_is_not_read_and_that_is_said() {
        let proxying = r#"{"external_services": {"global": {"enabled": true}}}"#;
        let resolve_with = |env: &[(&str, &str)]| {
            let env = EnvSnapshot::from_iter(env.iter().copied());
            let loaded = load_str(proxying, "tyk.conf", &env, &LoadOptions::default()).expect("valid config");
            resolve(&loaded.config, &env)
        };
        let cgi = resolve_with(&[("REQUEST_METHOD", "GET"), ("HTTP_PROXY", "http://attacker:1")]);
        let oauth = &cgi.service(ServiceKind::Oauth).proxy;
        assert_eq!(oauth.http_proxy.value, None);
        assert_eq!(
            oauth.https_proxy.value, None,
            "and no fallback from the environment either"
        );
        assert_eq!(
            cgi.warnings,
            vec![
                "HTTP_PROXY: ignored because REQUEST_METHOD is set (a CGI process, where HTTP_PROXY may come \
                  from a request's Proxy header: \"httpoxy\"); http_proxy is still read"
                    .to_owned()
            ]
        );
        // Lower case is still read, as Go does; an empty REQUEST_METHOD is no CGI (Go's Getenv).
        let lower = resolve_with(&[
            ("REQUEST_METHOD", "POST"),
            ("HTTP_PROXY", "http://attacker:1"),
            ("http_proxy", "http://lower:2"),
        ]);
        assert_eq!(
            lower.service(ServiceKind::Oauth).proxy.http_proxy.source.to_string(),
            "env:http_proxy"
        );
        let not_cgi = resolve_with(&[("REQUEST_METHOD", ""), ("HTTP_PROXY", "http://upper:1")]);
        assert_eq!(
            not_cgi.service(ServiceKind::Oauth).proxy.http_proxy.source.to_string(),
            "env:HTTP_PROXY"
        );
        assert_eq!(not_cgi.warnings, Vec::<String>::new());
        // Nothing set to ignore: nothing to say.
        assert_eq!(
            resolve_with(&[("REQUEST_METHOD", "GET")]).warnings,
            Vec::<String>::new()
        );
    }

    #[test]
    fn all_proxy_is_never_used_but_named_when_something_proxies() {
        let env = [("ALL_PROXY", "http://all:1"), ("all_proxy", "socks5://all:2")];
        assert_eq!(warnings("{}", &env), Vec::<String>::new(), "nothing proxies");
        let proxying = r#"{"external_services": {"health": {"proxy": {"enabled": true}}}}"#;
        assert_eq!(
            warnings(proxying, &env),
            vec![
                "ALL_PROXY and all_proxy set but not used: extsvc, like Go and Tyk, reads only HTTP_PROXY, \
                  HTTPS_PROXY and NO_PROXY (and their lower-case forms); set http_proxy / https_proxy instead"
                    .to_owned()
            ]
        );
        let seen = warnings(proxying, &[("all_proxy", "http://all:1")]);
        assert!(seen[0].starts_with("all_proxy set but not used"), "{seen:?}");
        let env = EnvSnapshot::from_iter([("ALL_PROXY", "http://all:1")]);
        let loaded = load_str(proxying, "tyk.conf", &env, &LoadOptions::default()).expect("valid config");
        let resolution = resolve(&loaded.config, &env);
        let health = &resolution.service(ServiceKind::Health).proxy;
        assert_eq!((&health.http_proxy.value, &health.https_proxy.value), (&None, &None));
    }

    #[test]
    fn a_scheme_less_standard_proxy_means_http_with_a_warning() {
        let proxying = r#"{"external_services": {"global": {"enabled": true}}}"#;
        let env = [("HTTP_PROXY", "127.0.0.1:8080"), ("https_proxy", "u:secret@proxy:3128")];
        assert_eq!(
            warnings(proxying, &env),
            vec![
                r#"HTTP_PROXY: no scheme in "127.0.0.1:8080", assuming http://"#.to_owned(),
                r#"https_proxy: no scheme in "u:***@proxy:3128", assuming http://"#.to_owned(),
            ]
        );
    }

    #[test]
    fn a_service_disabled_under_an_active_global_proxy_is_warned_about() {
        let json = r#"{"external_services": {
            "global": {"enabled": true, "http_proxy": "http://p:3128", "https_proxy": "http://p:3128"},
            "oauth": {"proxy": {"enabled": false}}}}"#;
        assert_eq!(
            warnings(json, &[]),
            vec![
                "external_services.oauth.proxy.enabled is false, but global proxying still applies to oauth; \
                 to send oauth direct, set external_services.oauth.proxy.enabled to true and \
                 external_services.oauth.proxy.bypass_proxy to \"*\""
                    .to_owned()
            ]
        );
    }

    #[test]
    fn the_warning_names_an_environment_source_and_counts_legacy_global_proxies() {
        let json = r#"{"http_proxy": "http://legacy:3128", "external_services": {}}"#;
        let got = disabled_warnings(json, &[("TYK_GW_EXTERNAL_SERVICES_HEALTH_PROXY_ENABLED", "false")]);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with(
                "external_services.health.proxy.enabled is false (env:TYK_GW_EXTERNAL_SERVICES_HEALTH_PROXY_ENABLED), but global proxying still applies to health;"
            ),
            "{got:?}"
        );
    }

    #[test]
    fn no_warning_unless_global_is_active_and_the_service_says_false() {
        for json in [
            // Global off: `false` is what happens anyway.
            r#"{"external_services": {"global": {"enabled": false, "http_proxy": "http://p:1"}, "oauth": {"proxy": {"enabled": false}}}}"#,
            // No global proxy at all.
            r#"{"external_services": {"oauth": {"proxy": {"enabled": false}}}}"#,
            // Global on, the service block does not say false.
            r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://p:1"}, "oauth": {"proxy": {"enabled": true}}}}"#,
            r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://p:1"}, "oauth": {"proxy": {}}}}"#,
        ] {
            assert_eq!(disabled_warnings(json, &[]), Vec::<String>::new(), "{json}");
        }
    }
}
