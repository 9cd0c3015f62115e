//! What every subcommand shares: the configuration options, the output format, the exit
//! status of a usage error, and the value parsers of clap arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use extsvc::config::ServiceKind;

/// Options every subcommand shares.
#[derive(Debug, clap::Args)]
pub(crate) struct ConfigArgs {
    /// The tyk.conf to read (default: ./tyk.conf when present, else an empty config).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Prefix of Tyk's environment variables.
    #[arg(long, value_name = "PREFIX", default_value = "TYK_GW_")]
    pub(crate) env_prefix: String,
    /// Treat every warning as an error (exit 2): keys in another case, duplicate or unknown
    /// keys, TLS 1.0/1.1 minimums, where Tyk's merge routes differently, … For CI.
    #[arg(long)]
    pub(crate) strict: bool,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Human-readable text.
    Text,
    /// JSON (the shapes in SPEC.md section 5).
    Json,
}

/// Parses a service name (`health`, `storage`, …).
pub(crate) fn parse_service(s: &str) -> Result<ServiceKind, String> {
    s.parse().map_err(|e: extsvc::config::UnknownServiceKind| e.to_string())
}

/// Exit status 2: usage or configuration error (SPEC section 5).
pub(crate) const EXIT_USAGE: u8 = 2;

/// Parses `250ms`, `2s`, `1m` (a number and a unit).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected e.g. 100ms, 1s, 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("invalid duration {text:?}: the unit must be ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
