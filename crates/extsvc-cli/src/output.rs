//! Small shared pieces of the commands' output.

use std::process::ExitCode;

use extsvc::config::{ProxyUrl, Sourced};
use serde_json::{json, Value};

use crate::args::EXIT_USAGE;

/// `{"value": …, "source": "…"}` for a sourced value.
pub(crate) fn sourced_json<T>(sourced: &Sourced<T>, value: impl FnOnce(&T) -> Value) -> Value {
    json!({ "value": value(&sourced.value), "source": sourced.source.to_string() })
}

/// A proxy URL as JSON: its redacted text, or null.
pub(crate) fn proxy_json(url: &Option<ProxyUrl>) -> Value {
    url.as_ref().map_or(Value::Null, |u| Value::String(u.to_string()))
}

/// Writes a JSON document to stdout.
pub(crate) fn print_json(value: &Value) {
    let text = serde_json::to_string_pretty(value).expect("a serde_json::Value always serializes");
    print_stdout(&text);
}

/// Writes one text block to stdout (the only place this binary prints to stdout).
///
/// A reader that has gone away (`extsvc resolve | head -1`) ends the command at once,
/// quietly and with status 0, as a Unix filter does on SIGPIPE (SPEC section 5):
/// `println!` would panic with "failed printing to stdout: Broken pipe". Any other
/// write error is reported on stderr and ends the command with status 1.
pub(crate) fn print_stdout(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            std::process::exit(1);
        }
    }
}

/// Prints warnings to stderr, one per line.
pub(crate) fn print_warnings(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

/// Prints configuration errors to stderr and returns exit status 2.
pub(crate) fn config_errors(errors: &[String]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    ExitCode::from(EXIT_USAGE)
}
