//! `extsvc route`: direct or which proxy for one URL, and why.

use std::process::ExitCode;

use extsvc::config::{shown, EnvSnapshot, ServiceKind};
use extsvc::http;
use extsvc::resolve::{Route, TargetScheme};
use extsvc::tls::RedisUrl;
use serde_json::json;

use crate::args::{ConfigArgs, Format, EXIT_USAGE};
use crate::load::load_and_resolve;
use crate::output::{config_errors, print_json, print_stdout, print_warnings};

/// The parts of a target URL that decide its route.
pub(crate) struct Target {
    pub(crate) scheme: TargetScheme,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// For `redis://` and `rediss://`: the whole URL, parsed once (credentials included).
    pub(crate) redis: Option<RedisUrl>,
}

/// Parses an `http`, `https`, `redis` or `rediss` URL for service `kind` into scheme, host
/// and effective port; Redis URLs only for `storage`, the one service with a stream
/// connector. Messages show the URL through `shown`: any password replaced by `***` (a
/// Redis password written without its `@` too), escaped and capped.
pub(crate) fn parse_target(url: &str, kind: ServiceKind) -> Result<Target, String> {
    let shown = shown(url);
    let scheme = url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("redis" | "rediss") if kind != ServiceKind::Storage => Err(format!(
            "\"{shown}\": redis:// and rediss:// URLs go through the storage service: use --service storage"
        )),
        Some("redis" | "rediss") => {
            let redis = RedisUrl::parse(url).map_err(|e| format!("{e} in \"{shown}\""))?;
            let scheme = if redis.tls {
                TargetScheme::Https
            } else {
                TargetScheme::Http
            };
            Ok(Target {
                scheme,
                host: redis.host.clone(),
                port: redis.port,
                redis: Some(redis),
            })
        }
        Some(name @ ("http" | "https")) => {
            let uri: http::Uri = url.parse().map_err(|e| format!("invalid URL \"{shown}\": {e}"))?;
            let (scheme, default_port) = if name == "http" {
                (TargetScheme::Http, 80)
            } else {
                (TargetScheme::Https, 443)
            };
            let host = uri
                .host()
                .filter(|h| !h.is_empty())
                .ok_or_else(|| format!("URL \"{shown}\" has no host"))?;
            Ok(Target {
                scheme,
                host: host.to_owned(),
                port: uri.port_u16().unwrap_or(default_port),
                redis: None,
            })
        }
        Some(other) => Err(format!(
            "unsupported URL scheme \"{}\" in \"{shown}\": expected http, https, redis or rediss",
            extsvc::config::escaped(other)
        )),
        None => Err(format!("URL \"{shown}\" has no scheme: expected e.g. https://host/")),
    }
}

pub(crate) fn run(args: &ConfigArgs, env: &EnvSnapshot, kind: ServiceKind, url: &str, format: Format) -> ExitCode {
    let target = match parse_target(url, kind) {
        Ok(target) => target,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let loaded = match load_and_resolve(args, env) {
        Ok(loaded) => loaded,
        Err(errors) => return config_errors(&errors),
    };
    let service = loaded.resolution.service(kind);
    let decision = service.route(target.scheme, &target.host, target.port);
    let proxy = match decision.route {
        Route::Direct => None,
        Route::Proxy(url) => Some(url.to_string()),
    };
    // JSON here has no warnings field (SPEC section 5): warnings go to stderr either way.
    print_warnings(&loaded.warnings);
    match format {
        Format::Json => print_json(&json!({
            "service": kind.as_str(),
            "url": shown(url).to_string(),
            "route": if proxy.is_some() { "proxy" } else { "direct" },
            "proxy": proxy,
            "reason": decision.reason.to_string(),
        })),
        Format::Text => {
            let route = proxy.map_or_else(|| "direct".to_owned(), |p| format!("proxy {p}"));
            let url = shown(url);
            print_stdout(&format!("{kind} {url} -> {route}\n  because: {}", decision.reason));
        }
    }
    ExitCode::SUCCESS
}
