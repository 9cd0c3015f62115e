//! The log level without `RUST_LOG`: Tyk's own setting (SPEC section 5), so that the
//! seed's troubleshooting advice — `log_level: "debug"` or `TYK_GW_LOGLEVEL=debug` —
//! works on this command as on the gateway.

use extsvc::config::internal::{read_bounded, CONFIG_FILE_LIMIT};
use extsvc::config::EnvSnapshot;

use crate::args::ConfigArgs;
use crate::load::config_path;

/// The `tracing` level for Tyk's level name (`debug`, `info`, `warn`/`warning`, `error`,
/// any case); `None` for anything else.
fn level(name: &str) -> Option<&'static str> {
    match name.trim().to_ascii_lowercase().as_str() {
        "debug" | "trace" => Some("debug"),
        "info" => Some("info"),
        "warn" | "warning" => Some("warn"),
        "error" | "fatal" | "panic" => Some("error"),
        _ => None,
    }
}

/// `<prefix>LOGLEVEL`, else the top-level `log_level` of the tyk.conf the command reads
/// (its key matched in any case, as Tyk does; not when `<prefix>OMITCONFIGFILE` says the
/// file is not read), else `warn`. A value that is not a level is ignored here: loading
/// the configuration reports what matters.
pub(crate) fn tyk_log_level(args: &ConfigArgs, env: &EnvSnapshot) -> &'static str {
    let prefix = &args.env_prefix;
    if let Some(level) = env.get(&format!("{prefix}LOGLEVEL")).and_then(level) {
        return level;
    }
    let omitted = env
        .get(&format!("{prefix}OMITCONFIGFILE"))
        .is_some_and(|v| matches!(v.trim(), "1" | "t" | "T") || v.trim().eq_ignore_ascii_case("true"));
    let from_file = (!omitted)
        .then(|| config_path(args))
        .flatten()
        .and_then(|path| read_bounded(&path, CONFIG_FILE_LIMIT).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|json| {
            json.as_object()?
                .iter()
                .rfind(|(key, _)| key.eq_ignore_ascii_case("log_level"))
                .and_then(|(_, value)| value.as_str().and_then(level))
        });
    from_file.unwrap_or("warn")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tyk_levels() {
        assert_eq!(level("DEBUG"), Some("debug"));
        assert_eq!(level("warning"), Some("warn"));
        assert_eq!(level("info "), Some("info"));
        assert_eq!(level("loud"), None);
    }
}
