//! `extsvc`: see why a gateway's outbound connection goes where it goes.
//!
//! Subcommands: `resolve` (what every service uses, and where each value came from),
//! `route` (direct or which proxy for one URL, and why), `check` (build every service's
//! TLS material for real), `probe` (real requests through a service's client).
//!
//! This binary reads the process environment once, with `EnvSnapshot::from_process_env`
//! (the library's one reader of it); everything below takes that explicit snapshot.
//! It depends on the `extsvc` facade alone.
//! stdout carries only the command's output; logs and warnings go to stderr.

mod args;
mod cert_store;
mod check_cmd;
mod load;
mod log_level;
mod output;
mod probe_cmd;
mod probe_load;
mod probe_verbose;
mod resolve_cmd;
mod route_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use extsvc::config::{EnvSnapshot, ServiceKind};

use crate::args::{parse_service, ConfigArgs, Format, EXIT_USAGE};

/// Command-line interface of `extsvc`.
#[derive(Debug, Parser)]
#[command(
    name = "extsvc",
    version,
    about = "Resolve, route, check and probe a Tyk gateway's external_services configuration"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what every service uses and where each value came from. Reads configuration only.
    Resolve {
        #[command(flatten)]
        config: ConfigArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Build every service's TLS material for real (files, store ids, key/certificate match, expiry).
    Check {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(flatten)]
        store: cert_store::CertStoreArgs,
    },
    /// Send real requests through a service's client and summarise them.
    Probe {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(flatten)]
        store: cert_store::CertStoreArgs,
        #[command(flatten)]
        probe: probe_cmd::ProbeArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show whether a URL goes direct or through a proxy for one service, and why.
    Route {
        #[command(flatten)]
        config: ConfigArgs,
        /// The service whose settings apply.
        #[arg(long, value_parser = parse_service)]
        service: ServiceKind,
        /// The target URL (http, https, redis, rediss).
        url: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

fn main() -> ExitCode {
    let cli = Cli::try_parse().unwrap_or_else(|error| usage_error(&error));
    let env = EnvSnapshot::from_process_env();
    init_tracing(&cli.command, &env);
    match cli.command {
        Command::Resolve { config, format } => resolve_cmd::run(&config, &env, format),
        Command::Route {
            config,
            service,
            url,
            format,
        } => route_cmd::run(&config, &env, service, &url, format),
        Command::Check { config, store } => check_cmd::run(&config, &store, &env),
        Command::Probe {
            config,
            store,
            probe,
            format,
        } => probe_cmd::run(&config, &store, &env, &probe, format),
    }
}

/// Prints clap's error and exits (status 2 for usage errors). clap quotes a refused
/// argument as it was given; when an argument has control characters, is long or holds
/// userinfo, the arguments are parsed again each through `shown` (escaped, capped,
/// redacted), so the message quotes that form, as every echoed value does.
fn usage_error(error: &clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        error.exit()
    }
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let shown: Vec<String> = args
        .iter()
        .map(
            |arg| match arg.split_once('=').filter(|(flag, _)| flag.starts_with("--")) {
                Some((flag, value)) => format!("{flag}={}", extsvc::config::shown(value)),
                None => extsvc::config::shown(arg).to_string(),
            },
        )
        .collect();
    let error = if shown == args {
        error.render()
    } else {
        match Cli::try_parse_from(&shown) {
            Err(again) => again.render(),
            Ok(_) => clap::builder::StyledStr::from(format!(
                "error: invalid arguments: {}\n",
                shown.get(1..).unwrap_or_default().join(" ")
            )),
        }
    };
    eprint!("{error}");
    std::process::exit(EXIT_USAGE.into())
}

/// Logs to stderr at `RUST_LOG`; without it, at tyk.conf's `log_level` or
/// `TYK_GW_LOGLEVEL` (SPEC section 5), else `warn`.
fn init_tracing(command: &Command, env: &EnvSnapshot) {
    use tracing_subscriber::EnvFilter;
    let config = match command {
        Command::Resolve { config, .. }
        | Command::Check { config, .. }
        | Command::Probe { config, .. }
        | Command::Route { config, .. } => config,
    };
    let filter = match env.get("RUST_LOG").filter(|v| !v.is_empty()) {
        Some(directives) => EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("warn")),
        None => EnvFilter::new(log_level::tyk_log_level(config, env)),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
