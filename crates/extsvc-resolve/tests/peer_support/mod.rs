//! The harness the peers' tables share (`peer_*.rs`): a configuration, an environment
//! and a target URL in, the route extsvc takes out, as one short string.
//!
//! Each table row says which peer file and test it was transcribed from (cases, not
//! code) and either [`Expect::Same`] — SPEC agrees with the peer, the row must hold — or
//! [`Expect::Differs`] — SPEC deliberately decides otherwise: the row names the SPEC rule
//! and asserts *our* outcome, so the difference is pinned rather than hidden.

// Each peer table uses part of this harness.
#![allow(dead_code)]

use extsvc_config::{load_str, EnvSnapshot, LoadOptions, ServiceKind};
use extsvc_resolve::{resolve, Route, TargetScheme};

/// What a row expects; outcomes are written as [`route`] returns them.
#[derive(Debug)]
pub(crate) enum Expect {
    /// The peer and SPEC agree on this outcome.
    Same(&'static str),
    /// SPEC differs from the peer on purpose.
    Differs {
        /// What the peer does, in its own words.
        peer: &'static str,
        /// What extsvc does.
        ours: &'static str,
        /// The SPEC rule that decides.
        rule: &'static str,
    },
}

/// One transcribed case.
#[derive(Debug)]
pub(crate) struct Row {
    /// Peer file and test (or table) the case comes from.
    pub(crate) from: &'static str,
    /// tyk.conf contents.
    pub(crate) config: &'static str,
    /// The environment.
    pub(crate) env: &'static [(&'static str, &'static str)],
    /// The target URL.
    pub(crate) url: &'static str,
    /// The outcome.
    pub(crate) expect: Expect,
}

/// A config that turns global proxying on and sets nothing else, so the standard
/// variables decide — what Go's `httpproxy.Config`, curl and reqwest read.
pub(crate) const ENV_ONLY: &str = r#"{"external_services": {"global": {"enabled": true}}}"#;

/// `direct`, `proxy <url as displayed>`, `config error: …` or `refused: …` (a target
/// extsvc does not route: a scheme other than http/https, a host an `http::Uri` rejects).
pub(crate) fn route(config: &str, env: &[(&str, &str)], url: &str) -> String {
    let env = EnvSnapshot::from_iter(env.iter().copied());
    let loaded = match load_str(config, "tyk.conf", &env, &LoadOptions::default()) {
        Ok(loaded) => loaded,
        Err(e) => return format!("config error: {e}"),
    };
    let uri: http::Uri = match url.parse() {
        Ok(uri) => uri,
        Err(e) => return format!("refused: {e}"),
    };
    let (scheme, default_port) = match uri.scheme_str() {
        Some("http") => (TargetScheme::Http, 80),
        Some("https") => (TargetScheme::Https, 443),
        other => return format!("refused: scheme {other:?}"),
    };
    let Some(host) = uri.host() else {
        return "refused: no host".to_owned();
    };
    let resolution = resolve(&loaded.config, &env);
    let decision = resolution
        .service(ServiceKind::Oauth)
        .route(scheme, host, uri.port_u16().unwrap_or(default_port));
    match decision.route {
        Route::Direct => "direct".to_owned(),
        Route::Proxy(proxy) => format!("proxy {proxy}"),
    }
}

/// A bypass-list case: `NO_PROXY` is `no_proxy`, `HTTP_PROXY` and `HTTPS_PROXY` are
/// [`PROXY`], global proxying is on; outcomes are [`DIRECT`] or [`PROXIED`].
#[derive(Debug)]
pub(crate) struct NoProxyRow {
    /// Peer file and test (or table) the case comes from.
    pub(crate) from: &'static str,
    /// The `NO_PROXY` value.
    pub(crate) no_proxy: &'static str,
    /// The target URL.
    pub(crate) url: &'static str,
    /// The outcome.
    pub(crate) expect: Expect,
}

/// The proxy of [`NoProxyRow`]s.
pub(crate) const PROXY: &str = "http://proxy:3128";
/// Outcome: straight to the target.
pub(crate) const DIRECT: &str = "direct";
/// Outcome: through [`PROXY`].
pub(crate) const PROXIED: &str = "proxy http://proxy:3128";

/// Checks every row, reporting all failures at once; returns how many rows differ from
/// the peer on purpose, so that a table cannot lose them silently.
pub(crate) fn check(rows: &[Row]) -> usize {
    check_all(
        rows.iter()
            .map(|r| (r.from, r.config, r.env.to_vec(), r.url, &r.expect)),
    )
}

/// [`check`] for bypass-list rows.
pub(crate) fn check_no_proxy(rows: &[NoProxyRow]) -> usize {
    check_all(rows.iter().map(|r| {
        let env = vec![("NO_PROXY", r.no_proxy), ("HTTP_PROXY", PROXY), ("HTTPS_PROXY", PROXY)];
        (r.from, ENV_ONLY, env, r.url, &r.expect)
    }))
}

type Case<'a> = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    &'static str,
    &'a Expect,
);

fn check_all<'a>(cases: impl Iterator<Item = Case<'a>>) -> usize {
    let mut failures = Vec::new();
    let mut differing = 0;
    for (from, config, env, url, expect) in cases {
        let got = route(config, &env, url);
        let (want, note) = match expect {
            Expect::Same(want) => (*want, String::new()),
            Expect::Differs { peer, ours, rule } => {
                differing += 1;
                (*ours, format!(" (peer: {peer}; SPEC: {rule})"))
            }
        };
        if !got.starts_with(want) {
            failures.push(format!("{from}: {url} env {env:?} -> {got:?}, want {want:?}{note}"));
        }
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
    differing
}
