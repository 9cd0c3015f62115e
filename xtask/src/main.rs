//! Project automation, run as `cargo xtask <command>`.
//!
//! - `cargo xtask ci [STEP]`: every check CI runs, in order, each step named and timed, with
//!   a one-line hint when a step fails.
//! - `cargo xtask layering`: the files and import circles of every crate (the `layering`
//!   step of `ci`, with the figures).
//! - `cargo xtask bench [--quick]`: the side-by-side load harness (see docs/performance.md).
//! - `cargo xtask fuzz …`: the cargo-fuzz targets under `fuzz/` (see docs/fuzzing.md);
//!   `cargo xtask fuzz replay` runs their seeds and regressions on stable.
//!
//! Few dependencies on purpose: it shells out to `$CARGO` and reads nothing but argv.

mod fuzz;
mod latest_deps;
mod layering;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

/// One named step of `cargo xtask ci`.
struct Step {
    name: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    hint: &'static str,
    /// A cargo subcommand the step needs that is not part of the toolchain.
    requires: Option<Tool>,
    /// A check xtask runs itself instead of cargo (`args` then only name it).
    check: Option<fn(&Path) -> bool>,
}

/// A cargo subcommand installed separately (`cargo install …`).
struct Tool {
    /// Cargo arguments that succeed when the tool is installed, e.g. `["deny", "--version"]`.
    probe: &'static [&'static str],
    /// What to say when it is missing.
    missing: &'static str,
}

/// Every feature of the workspace but `fips` (whose aws-lc-fips-sys needs CMake and Go):
/// Redis, and every provider but FIPS (the default, aws-lc-rs with post-quantum key
/// exchange, wins; ring's code is linted by the minimal steps below).
const ALL_BUT_FIPS: &str = "extsvc-client/redis,extsvc-tls/post-quantum";

/// The cargo-deny checks that work offline; `advisories` needs the RustSec database from
/// GitHub (see docs/supply-chain.md).
const DENY_ARGS: &[&str] = &["deny", "check", "bans", "licenses", "sources"];

const CI_STEPS: &[Step] = &[
    Step {
        // Each crate a straight stack: no file imports a file that imports it back.
        name: "layering",
        args: &["xtask", "layering"],
        env: &[],
        hint: "move the item both files need into a file below both (docs/architecture.md, \"Layering\")",
        requires: None,
        check: Some(layering::check),
    },
    Step {
        name: "fmt",
        args: &["fmt", "--all", "--", "--check"],
        env: &[],
        hint: "run `cargo fmt --all` and commit the result",
        requires: None,
        check: None,
    },
    Step {
        // Every feature but `fips` (its own step below: aws-lc-fips-sys needs CMake and Go),
        // so the aws-lc-rs provider's code is linted; ring's is by `clippy-tls-minimal` and
        // `facade-no-redis`.
        name: "clippy",
        args: &["clippy", "--workspace", "--all-targets", "--features", ALL_BUT_FIPS, "--", "-D", "warnings"],
        env: &[],
        hint: "fix the lints above; an `allow` needs a written reason",
        requires: None,
        check: None,
    },
    Step {
        // `--all-features` alone hides code that compiles only with them: the client
        // library as a user without Redis builds it (its default: no `redis` feature)…
        name: "clippy-no-redis",
        args: &["clippy", "-p", "extsvc-client", "--lib", "--", "-D", "warnings"],
        env: &[],
        hint: "extsvc-client without its `redis` feature: fix the lints above (a `cfg(feature = \"redis\")` is usually missing)",
        requires: None,
        check: None,
    },
    Step {
        // …and the TLS crate without its Redis certificate store (with ring: a provider
        // is needed).
        name: "clippy-tls-minimal",
        args: &["clippy", "-p", "extsvc-tls", "--lib", "--no-default-features", "--features", "ring", "--", "-D", "warnings"],
        env: &[],
        hint: "extsvc-tls without its default `redis` feature: fix the lints above (a `cfg(feature = \"redis\")` is usually missing)",
        requires: None,
        check: None,
    },
    Step {
        // …and the facade as a user without Redis builds it (`default-features = false`):
        // no redis crate in the tree, nothing that needs it referenced.
        name: "facade-no-redis",
        args: &["clippy", "-p", "extsvc", "--lib", "--no-default-features", "--features", "ring", "--", "-D", "warnings"],
        env: &[],
        hint: "the facade without its default `redis` feature: a `#[cfg(feature = \"redis\")]` is usually missing",
        requires: None,
        check: None,
    },
    Step {
        // A downstream build resolves the newest rustls, not our lockfile's: build the
        // facade that way (scratch copy, `cargo update`) and fail on warnings.
        name: "latest-deps",
        args: &["xtask", "ci", "latest-deps"],
        env: &[],
        hint: "the facade warns against the newest dependencies (a deprecation?): see the warnings above",
        requires: None,
        check: Some(latest_deps::run),
    },
    Step {
        // The FIPS provider builds (aws-lc-fips-sys: CMake, Go and a C compiler); skipped,
        // with a line saying so, where CMake or Go is missing.
        name: "fips",
        args: &["check", "-p", "extsvc", "--lib", "--no-default-features", "--features", "fips"],
        env: &[],
        hint: "the FIPS provider does not build: see docs/performance.md, \"The crypto provider\"",
        requires: None,
        check: Some(fips_check),
    },
    Step {
        name: "deny",
        args: DENY_ARGS,
        env: &[],
        hint: "a banned crate, a license outside deny.toml's allow-list or a non-crates.io source: see the report above and docs/supply-chain.md",
        requires: Some(Tool {
            probe: &["deny", "--version"],
            missing: "cargo-deny is not installed: run `cargo install cargo-deny --locked` (about 4 minutes on 2 cores); .ci/run installs it",
        }),
        check: None,
    },
    Step {
        // The default provider (aws-lc-rs, post-quantum), as users build it, with Redis.
        name: "test",
        args: &["test", "--workspace", "--features", "extsvc-client/redis", "--exclude", "extsvc-tests"],
        env: &[],
        hint: "a unit or crate test failed: rerun it with `cargo test -p <crate> <name>`",
        requires: None,
        check: None,
    },
    Step {
        name: "fuzz-replay",
        args: fuzz::REPLAY_ARGS,
        env: &[],
        hint: "a fuzz seed or regression input panics, or a fuzz dictionary is stale: see docs/fuzzing.md",
        requires: None,
        check: None,
    },
    Step {
        name: "doc",
        args: &["doc", "--workspace", "--no-deps", "--features", ALL_BUT_FIPS],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
        hint: "fix the rustdoc warnings above (broken intra-doc links, missing docs)",
        requires: None,
        check: None,
    },
    Step {
        name: "interop",
        args: &["test", "-p", "extsvc-tests", "--all-features"],
        env: &[],
        hint: "needs squid, nginx, redis-server and htpasswd: `apt-get install -y squid-openssl nginx redis-server apache2-utils`",
        requires: None,
        check: None,
    },
];

/// `$CARGO`, or `cargo` when run outside cargo.
///
/// Without the variables `cargo run` set for xtask itself (`CARGO_MANIFEST_DIR`,
/// `CARGO_PKG_*`, …): ring's build script reruns when `CARGO_MANIFEST_DIR` changes, so
/// passing xtask's on would rebuild ring and everything above it each time one switches
/// between `cargo xtask …` and plain `cargo test`/`cargo fuzz`.
fn cargo() -> Command {
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || matches!(key, "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE")
        {
            command.env_remove(key);
        }
    }
    command
}

/// The workspace root: the steps and the fuzz paths are relative to it.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Whether `cargo <probe…>` runs: the tool is installed.
fn tool_installed(tool: &Tool) -> bool {
    cargo()
        .args(tool.probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `name` runs (`name <version_arg>` succeeds).
fn on_path(name: &str, version_arg: &str) -> bool {
    Command::new(name)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The `fips` step: the facade with the FIPS provider only, where its toolchain is.
fn fips_check(root: &Path) -> bool {
    let missing: Vec<&str> = [("cmake", "--version"), ("go", "version")]
        .into_iter()
        .filter(|(tool, arg)| !on_path(tool, arg))
        .map(|(tool, _)| tool)
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "fips: SKIPPED — aws-lc-fips-sys needs CMake and Go, missing here: {} (apt-get install -y cmake golang-go)",
            missing.join(", ")
        );
        return true;
    }
    cargo()
        .args([
            "check",
            "-p",
            "extsvc",
            "--lib",
            "--no-default-features",
            "--features",
            "fips",
        ])
        .current_dir(root)
        .status()
        .is_ok_and(|s| s.success())
}

fn run_step(step: &Step) -> (bool, f64) {
    eprintln!("==> {} (cargo {})", step.name, step.args.join(" "));
    let started = Instant::now();
    if let Some(tool) = &step.requires {
        if !tool_installed(tool) {
            eprintln!("<== {} FAILED — {}", step.name, tool.missing);
            return (false, started.elapsed().as_secs_f64());
        }
    }
    if let Some(check) = step.check {
        let ok = check(&workspace_root());
        let secs = started.elapsed().as_secs_f64();
        match ok {
            true => eprintln!("<== {} ok in {secs:.1}s", step.name),
            false => eprintln!("<== {} FAILED after {secs:.1}s — hint: {}", step.name, step.hint),
        }
        return (ok, secs);
    }
    let mut command = cargo();
    command.args(step.args).current_dir(workspace_root());
    if step.args == fuzz::REPLAY_ARGS {
        fuzz::share_target_dir(&mut command);
    }
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
    (ok, secs)
}

fn ci(only: Option<&str>) -> ExitCode {
    let started = Instant::now();
    let steps: Vec<&Step> = CI_STEPS.iter().filter(|s| only.is_none_or(|o| o == s.name)).collect();
    if steps.is_empty() {
        eprintln!("unknown step {:?}; steps: {}", only.unwrap_or(""), step_names());
        return ExitCode::from(2);
    }
    let mut times = Vec::new();
    for step in steps {
        let (ok, secs) = run_step(step);
        times.push(format!("{} {secs:.1}s", step.name));
        if !ok {
            return ExitCode::FAILURE;
        }
    }
    eprintln!(
        "ci: all steps passed in {:.1}s ({})",
        started.elapsed().as_secs_f64(),
        times.join(", ")
    );
    ExitCode::SUCCESS
}

fn step_names() -> String {
    CI_STEPS.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
}

fn bench(args: &[String]) -> ExitCode {
    // The harness compares `extsvc probe` with wrk: it runs the binary beside its own.
    if !matches!(cargo().args(["build", "--release", "-p", "extsvc-cli"]).status(), Ok(s) if s.success()) {
        return ExitCode::FAILURE;
    }
    let mut command = cargo();
    command
        .args(["run", "--release", "-p", "extsvc-bench", "--"])
        .args(args);
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
        Some("fuzz") => fuzz::main(&args[1..]),
        Some("layering") => {
            eprint!("{}", layering::summary(&workspace_root()));
            match layering::check(&workspace_root()) {
                true => ExitCode::SUCCESS,
                false => ExitCode::FAILURE,
            }
        }
        _ => {
            eprintln!(
                "usage: cargo xtask ci [STEP]   (steps: {})\n       cargo xtask layering   (import circles per crate)\n       cargo xtask bench [--quick]\n{}",
                step_names(),
                fuzz::USAGE
            );
            ExitCode::from(2)
        }
    }
}
