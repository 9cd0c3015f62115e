//! Project automation, run as `cargo xtask <command>`.
//!
//! - `cargo xtask ci`: every check CI runs, in order, each step named and timed, with a
//!   one-line hint when a step fails.
//! - `cargo xtask bench [--quick]`: the side-by-side load harness (see docs/performance.md).
//!
//! Few dependencies on purpose: it shells out to `$CARGO` and reads nothing but argv.

use std::env;
use std::process::{Command, ExitCode};
use std::time::Instant;

/// One named step of `cargo xtask ci`.
struct Step {
    name: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    hint: &'static str,
}

const CI_STEPS: &[Step] = &[
    Step {
        name: "fmt",
        args: &["fmt", "--all", "--", "--check"],
        env: &[],
        hint: "run `cargo fmt --all` and commit the result",
    },
    Step {
        name: "clippy",
        args: &["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"],
        env: &[],
        hint: "fix the lints above; an `allow` needs a written reason",
    },
    Step {
        name: "test",
        args: &["test", "--workspace", "--all-features", "--exclude", "extsvc-tests"],
        env: &[],
        hint: "a unit or crate test failed: rerun it with `cargo test -p <crate> <name>`",
    },
    Step {
        name: "doc",
        args: &["doc", "--workspace", "--no-deps", "--all-features"],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
        hint: "fix the rustdoc warnings above (broken intra-doc links, missing docs)",
    },
    Step {
        name: "interop",
        args: &["test", "-p", "extsvc-tests", "--all-features"],
        env: &[],
        hint: "needs squid, nginx, redis-server and htpasswd: `apt-get install -y squid-openssl nginx redis-server apache2-utils`",
    },
];

fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn run_step(step: &Step) -> bool {
    eprintln!("==> {} (cargo {})", step.name, step.args.join(" "));
    let started = Instant::now();
    let mut command = cargo();
    command.args(step.args);
    for (key, value) in step.env {
        command.env(key, value);
    }
    let ok = command.status().map(|s| s.success()).unwrap_or(false);
    let secs = started.elapsed().as_secs_f64();
    if ok {
        eprintln!("<== {} ok in {secs:.1}s", step.name);
    } else {
        eprintln!("<== {} FAILED after {secs:.1}s — hint: {}", step.name, step.hint);
    }
    ok
}

fn ci(only: Option<&str>) -> ExitCode {
    let started = Instant::now();
    let steps: Vec<&Step> = CI_STEPS.iter().filter(|s| only.is_none_or(|o| o == s.name)).collect();
    if steps.is_empty() {
        eprintln!("unknown step {:?}; steps: {}", only.unwrap_or(""), step_names());
        return ExitCode::from(2);
    }
    for step in steps {
        if !run_step(step) {
            return ExitCode::FAILURE;
        }
    }
    eprintln!("ci: all steps passed in {:.1}s", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}

fn step_names() -> String {
    CI_STEPS.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
}

fn bench(args: &[String]) -> ExitCode {
    let mut command = cargo();
    command.args(["run", "--release", "-p", "extsvc-bench", "--"]).args(args);
    match command.status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(args.get(1).map(String::as_str)),
        Some("bench") => bench(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask ci [STEP]   (steps: {})\n       cargo xtask bench [--quick]", step_names());
            ExitCode::from(2)
        }
    }
}
