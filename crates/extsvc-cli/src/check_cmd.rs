//! `extsvc check`: build every service's TLS material for real and report every problem.

use std::process::ExitCode;
use std::time::SystemTime;

use extsvc::config::EnvSnapshot;

use crate::args::{ConfigArgs, EXIT_USAGE};
use crate::cert_store::CertStoreArgs;
use crate::load::load_and_resolve_leniently;
use crate::output::print_stdout;

/// Exit status 1: something does not build.
const EXIT_PROBLEMS: u8 = 1;

pub(crate) fn run(args: &ConfigArgs, store_args: &CertStoreArgs, env: &EnvSnapshot) -> ExitCode {
    // `--strict`: a warning of loading or resolving is a configuration error (exit 2, as
    // for every command), before anything is built.
    if args.strict {
        if let Err(errors) = crate::load::load_and_resolve(args, env) {
            return crate::output::config_errors(&errors);
        }
    }
    // Configuration errors are problems like any other here: one per line, exit 1. They
    // hide nothing else: every service whose TLS settings they leave usable is built too.
    let loaded = match load_and_resolve_leniently(args, env) {
        Ok(loaded) => loaded,
        Err(errors) => {
            print_stdout(&errors.join("\n"));
            return ExitCode::from(EXIT_PROBLEMS);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let store = match store_args.open_with(args, env, &runtime) {
        Ok(store) => store,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let report = runtime.block_on(extsvc::tls::check_services_within(
        loaded.tls_buildable(),
        store.as_deref(),
        SystemTime::now(),
        &store_args.tls_options().with_secrets(loaded.secrets.clone()),
    ));
    let ok = loaded.errors.is_empty() && report.is_ok();
    let mut lines: Vec<String> = loaded
        .errors
        .iter()
        .chain(&report.problems)
        .map(|problem| with_flag_hint(problem))
        .collect();
    lines.extend(
        loaded
            .warnings
            .iter()
            .chain(&report.warnings)
            .map(|w| format!("warning: {w}")),
    );
    lines.extend(report.notes.iter().map(|n| format!("info: {n}")));
    if ok {
        lines.push("ok: every service's TLS material builds".to_owned());
    }
    print_stdout(&lines.join("\n"));
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEMS)
    }
}

/// The library names no CLI flag; here, the flag that gives what a message says is
/// missing is added to it.
pub(crate) fn with_flag_hint(message: &str) -> String {
    if message.ends_with("no certificate store given") {
        format!("{message} (--cert-store)")
    } else {
        message.to_owned()
    }
}
