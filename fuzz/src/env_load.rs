//! Target `env_load`: environment variables → `EnvSnapshot` → `load_str("{}")` →
//! `resolve` → routes.
//!
//! Input: UTF-8 text, one `NAME=VALUE` per line (split at the first `=`; lines without
//! one are skipped). A line `#prefix=P` sets the loader's prefix (default `TYK_GW_`).
//! Text, so a regression file reads as the environment it is; the dictionary
//! `dictionaries/env_load.dict` holds every variable name, so the fuzzer finds them.
//!
//! Invariants beyond "no panic":
//! - a failed load reports at least one error;
//! - a proxy password never appears in any warning, error, Debug or Display output. The
//!   marker `Pw7xQz` is checked when it stands only as the password of proxy URL
//!   variables written plainly (`[scheme://]user:Pw7xQz@host[:port]`): elsewhere it may
//!   be quoted legitimately (an invalid boolean names its value).

use extsvc_config::{load_str, EnvSnapshot, LoadOptions};
use extsvc_config::internal::{KEYS};

/// The password the leak check looks for.
const PASSWORD_MARKER: &str = "Pw7xQz";

/// Whether `name` is read as a proxy URL (whose password must never be printed).
fn is_proxy_url_variable(name: &str, prefix: &str) -> bool {
    matches!(name, "HTTP_PROXY" | "http_proxy" | "HTTPS_PROXY" | "https_proxy")
        || KEYS
            .iter()
            .filter(|k| matches!(k.name(), "http_proxy" | "https_proxy"))
            .any(|k| k.env_var(prefix) == name || k.tyk_env_var(prefix) == name)
}

/// `[scheme://]user:MARKER@host[:port][/]` with plain characters only: a URL whose
/// password is unambiguously the marker.
fn is_plain_url_with_marker_password(value: &str) -> bool {
    let rest = value.split_once("://").map_or(value, |(scheme, rest)| {
        if scheme.chars().all(|c| c.is_ascii_alphabetic()) {
            rest
        } else {
            ""
        }
    });
    let Some((userinfo, hostport)) = rest.split_once('@') else {
        return false;
    };
    let Some(user) = userinfo.strip_suffix(&format!(":{PASSWORD_MARKER}")) else {
        return false;
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    let hostport = hostport.strip_suffix('/').unwrap_or(hostport);
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "1"));
    !user.is_empty()
        && user.chars().all(plain)
        && !host.is_empty()
        && host.chars().all(plain)
        && !port.is_empty()
        && port.chars().all(|c| c.is_ascii_digit())
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut prefix = "TYK_GW_";
    let mut vars = Vec::new();
    for line in text.split('\n') {
        if let Some(p) = line.strip_prefix("#prefix=") {
            prefix = p;
        } else if let Some((name, value)) = line.split_once('=') {
            vars.push((name, value));
        }
    }
    // Later lines win, as they would in a shell.
    let env = EnvSnapshot::from_iter(vars.iter().copied());
    let marker_count = text.matches(PASSWORD_MARKER).count();
    let check_secret = marker_count > 0
        && env
            .iter()
            .filter(|(name, value)| name.contains(PASSWORD_MARKER) || value.contains(PASSWORD_MARKER))
            .all(|(name, value)| is_proxy_url_variable(name, prefix) && is_plain_url_with_marker_password(value))
        && !prefix.contains(PASSWORD_MARKER);

    let options = LoadOptions::default().with_env_prefix(prefix);
    let output = match load_str("{}", "fuzz.conf", &env, &options) {
        Ok(loaded) => {
            let resolution = extsvc_resolve::resolve(&loaded.config, &env);
            let mut out = crate::exercise_resolution(&resolution);
            out.push_str(&format!("{loaded:?}"));
            for warning in &loaded.warnings {
                out.push('\n');
                out.push_str(warning);
            }
            out
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "load_str failed without an error");
            format!("{errors}\n{errors:?}")
        }
    };
    if check_secret {
        assert!(
            !output.contains(PASSWORD_MARKER),
            "a proxy password was printed:\n{output}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leak_check_applies_only_to_plain_proxy_passwords() {
        assert!(is_plain_url_with_marker_password(
            "http://alice:Pw7xQz@proxy.internal:3128"
        ));
        assert!(is_plain_url_with_marker_password("alice:Pw7xQz@proxy"));
        assert!(!is_plain_url_with_marker_password("http://Pw7xQz@proxy"));
        assert!(!is_plain_url_with_marker_password("http://a:Pw7xQz@b@c"));
        assert!(!is_plain_url_with_marker_password("http://a:Pw7xQzX@b"));
        assert!(is_proxy_url_variable(
            "TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTPS_PROXY",
            "TYK_GW_"
        ));
        assert!(is_proxy_url_variable(
            "TYK_GW_EXTERNALSERVICES_GLOBAL_HTTPPROXY",
            "TYK_GW_"
        ));
        assert!(is_proxy_url_variable("TYK_GW_HTTPPROXY", "TYK_GW_"));
        assert!(is_proxy_url_variable("HTTPS_PROXY", "TYK_GW_"));
        assert!(!is_proxy_url_variable(
            "TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_ENABLED",
            "TYK_GW_"
        ));
    }
}
