//! `extsvc check`: build every service's TLS material for real and report every problem.

use std::process::ExitCode;
use std::time::SystemTime;

use extsvc_config::EnvSnapshot;

use crate::cert_store::CertStoreArgs;
use crate::load::load_and_resolve;
use crate::output::print_stdout;
use crate::{ConfigArgs, EXIT_USAGE};

/// Exit status 1: something does not build.
const EXIT_PROBLEMS: u8 = 1;

pub(crate) fn run(args: &ConfigArgs, store_args: &CertStoreArgs, env: &EnvSnapshot) -> ExitCode {
    let store = match store_args.open() {
        Ok(store) => store,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // Configuration errors are problems like any other here: one per line, exit 1.
    let loaded = match load_and_resolve(args, env) {
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
    let report = runtime.block_on(extsvc_tls::check(
        &loaded.resolution,
        store.as_deref(),
        SystemTime::now(),
    ));
    let mut lines: Vec<String> = report.problems.clone();
    // A warning of the loader and one of the check about the same key (insecure_skip_verify)
    // say the same thing: keep the check's, which names the source.
    let key_path = |w: &str| w.split_once(": ").map_or(w.to_owned(), |(path, _)| path.to_owned());
    let checked: Vec<String> = report.warnings.iter().map(|w| key_path(w)).collect();
    let loader_only = loaded.warnings.iter().filter(|w| !checked.contains(&key_path(w)));
    lines.extend(loader_only.chain(&report.warnings).map(|w| format!("warning: {w}")));
    if report.is_ok() {
        lines.push("ok: every service's TLS material builds".to_owned());
    }
    print_stdout(&lines.join("\n"));
    if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEMS)
    }
}
