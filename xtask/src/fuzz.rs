//! `cargo xtask fuzz`: runs the cargo-fuzz targets under `fuzz/` and sums up what a run
//! found.
//!
//! cargo-fuzz passes nightly-only flags to rustc (`-Zsanitizer=…`, sanitizer-coverage
//! passes), so the child `cargo fuzz` gets `RUSTC_BOOTSTRAP=1`, which lets a stable
//! toolchain accept them. Only that child: nothing else in the build sees it, and
//! `cargo xtask ci` never needs cargo-fuzz (its `fuzz-replay` step replays the committed
//! inputs on stable instead).

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;
use std::{env, fs};

use crate::{cargo, tool_installed, workspace_root, Tool};

/// Usage lines of `cargo xtask fuzz`.
pub(crate) const USAGE: &str = "       cargo xtask fuzz list
       cargo xtask fuzz <TARGET|all> [--time SECS] [--sanitizer address|none] [--verbose] [-- LIBFUZZER_ARGS…]
       cargo xtask fuzz replay   (seeds and regressions on stable, as `ci` does)";

/// `cargo xtask ci`'s `fuzz-replay` step: the fuzz crate's tests on stable, without
/// libFuzzer, sharing the main target directory ([`share_target_dir`]) so the extsvc
/// crates are not built twice.
pub(crate) const REPLAY_ARGS: &[&str] = &["test", "--manifest-path", "fuzz/Cargo.toml", "--no-default-features"];

/// The fuzz crate is a workspace of its own, so cargo would build it in `fuzz/target`:
/// point it at the main target directory, `$CARGO_TARGET_DIR` when that is set.
pub(crate) fn share_target_dir(command: &mut Command) {
    if env::var_os("CARGO_TARGET_DIR").is_none() {
        command.env("CARGO_TARGET_DIR", workspace_root().join("target"));
    }
}

const CARGO_FUZZ: Tool = Tool {
    probe: &["fuzz", "--version"],
    missing: "cargo-fuzz is not installed: run `cargo install cargo-fuzz --locked` (under a minute on 2 cores)",
};

/// Seconds per target when `--time` is not given.
const DEFAULT_SECONDS: u64 = 60;

/// Inputs larger than libFuzzer's default 4096 bytes, where a limit of the code under test
/// lies beyond it (the CONNECT reader's 16 KiB head limit).
fn max_len(target: &str) -> Option<u32> {
    match target {
        "connect_response" => Some(20 * 1024),
        "pem_load" | "config_load" => Some(8 * 1024),
        _ => None,
    }
}

/// The targets: `fuzz/fuzz_targets/<name>.rs`, sorted.
fn targets() -> Vec<String> {
    let dir = workspace_root().join("fuzz").join("fuzz_targets");
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".rs"))
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

struct Options {
    seconds: u64,
    sanitizer: Option<String>,
    verbose: bool,
    libfuzzer_args: Vec<String>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        seconds: DEFAULT_SECONDS,
        sanitizer: None,
        verbose: false,
        libfuzzer_args: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--time" => {
                let value = args.next().ok_or("--time needs a number of seconds")?;
                options.seconds = value
                    .parse()
                    .map_err(|_| format!("--time {value:?}: not a number of seconds"))?;
            }
            "--sanitizer" => options.sanitizer = Some(args.next().ok_or("--sanitizer needs a value")?.clone()),
            "--verbose" => options.verbose = true,
            "--" => {
                options.libfuzzer_args = args.by_ref().cloned().collect();
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(options)
}

/// What one libFuzzer run printed that matters.
#[derive(Default)]
struct RunSummary {
    started: bool,
    executions: Option<u64>,
    seconds: Option<u64>,
    coverage: Option<String>,
    new_units: Option<u64>,
    findings: Vec<String>,
    crash_lines: Vec<String>,
    /// The line after `panicked at …:` is the panic message.
    panic_message_next: bool,
}

impl RunSummary {
    fn read_line(&mut self, line: &str) {
        let line = line.trim_end();
        if std::mem::take(&mut self.panic_message_next) {
            self.crash_lines.push(format!("  {line}"));
        }
        if line.starts_with("INFO: Seed:") {
            self.started = true;
        }
        if let Some(rest) = line.strip_prefix("Done ") {
            // "Done 345828 runs in 21 second(s)"
            let mut words = rest.split_whitespace();
            self.executions = words.next().and_then(|n| n.parse().ok());
            self.seconds = words.nth(2).and_then(|n| n.parse().ok());
        }
        if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
            self.executions = n.trim().parse().ok().or(self.executions);
        }
        if let Some(n) = line.strip_prefix("stat::new_units_added:") {
            self.new_units = n.trim().parse().ok();
        }
        if line.starts_with('#') && line.contains("cov:") {
            if let Some(at) = line.find("cov:") {
                let stats: Vec<&str> = line[at..].split_whitespace().take(6).collect();
                self.coverage = Some(stats.join(" "));
            }
            if let Some(n) = line[1..].split_whitespace().next().and_then(|n| n.parse().ok()) {
                self.executions = Some(n);
            }
        }
        if let Some(at) = line.find("Test unit written to ") {
            self.findings
                .push(line[at + "Test unit written to ".len()..].trim().to_owned());
        }
        if line.contains("panicked at") || line.starts_with("SUMMARY: ") || line.contains("ERROR: libFuzzer") {
            self.crash_lines.push(line.to_owned());
            self.panic_message_next = line.contains("panicked at");
        }
    }
}

/// Whether a libFuzzer line is hidden unless `--verbose`: the stream of new corpus
/// inputs and newly covered functions.
fn is_noise(line: &str) -> bool {
    line.trim_start().starts_with("NEW_FUNC[")
        || line.starts_with('#')
            && (line.contains("\tNEW ")
                || line.contains("\tREDUCE ")
                || line.contains(" NEW ")
                || line.contains(" REDUCE "))
}

fn run_target(target: &str, options: &Options) -> Result<RunSummary, String> {
    let root = workspace_root();
    let corpus = format!("fuzz/corpus/{target}");
    fs::create_dir_all(root.join(&corpus)).map_err(|e| format!("cannot create {corpus}: {e}"))?;
    let mut command = cargo();
    command
        .current_dir(&root)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "run", "--fuzz-dir", "fuzz"]);
    if let Some(sanitizer) = &options.sanitizer {
        command.args(["--sanitizer", sanitizer]);
    }
    command.args([target, &corpus, &format!("fuzz/seeds/{target}"), "--"]);
    command.arg(format!("-max_total_time={}", options.seconds));
    command.args(["-timeout=10", "-print_final_stats=1"]);
    let dictionary = format!("fuzz/dictionaries/{target}.dict");
    if root.join(&dictionary).is_file() {
        command.arg(format!("-dict={dictionary}"));
    }
    if let Some(len) = max_len(target) {
        command.arg(format!("-max_len={len}"));
    }
    command.args(&options.libfuzzer_args);
    command.stderr(Stdio::piped());

    let mut child = command.spawn().map_err(|e| format!("cannot start cargo fuzz: {e}"))?;
    let mut summary = RunSummary::default();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            summary.read_line(&line);
            if options.verbose || !is_noise(&line) {
                eprintln!("{line}");
            }
        }
    }
    let status = child.wait().map_err(|e| format!("cargo fuzz did not finish: {e}"))?;
    if !summary.started {
        return Err(format!(
            "cargo fuzz could not build or start `{target}` ({status}). cargo-fuzz needs nightly-only rustc flags; \
             this runs them on the installed toolchain with RUSTC_BOOTSTRAP=1. If that toolchain refuses, use a nightly one: \
             `cargo +nightly fuzz run --fuzz-dir fuzz {target}` (docs/fuzzing.md)"
        ));
    }
    if !status.success() && summary.findings.is_empty() {
        summary
            .findings
            .push(format!("(libFuzzer exited with {status}; no input was saved)"));
    }
    Ok(summary)
}

fn report(target: &str, summary: &RunSummary, wall: f64) {
    let executions = summary.executions.map_or_else(|| "?".to_owned(), |n| n.to_string());
    let seconds = summary.seconds.map_or(wall, |s| s as f64);
    let rate = summary
        .executions
        .map_or_else(|| "?".to_owned(), |n| format!("{:.0}", n as f64 / seconds.max(1.0)));
    eprintln!(
        "fuzz {target}: {executions} executions in {seconds:.0}s ({rate}/s); {}; {} new corpus inputs; findings: {}",
        summary.coverage.as_deref().unwrap_or("no coverage line"),
        summary.new_units.map_or_else(|| "?".to_owned(), |n| n.to_string()),
        if summary.findings.is_empty() {
            "none".to_owned()
        } else {
            summary.findings.len().to_string()
        }
    );
    for line in &summary.crash_lines {
        eprintln!("    {line}");
    }
    for finding in &summary.findings {
        eprintln!(
            "    FINDING {finding}\n    reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz {target} {finding}\n    \
             then copy it to fuzz/regressions/{target}/ (docs/fuzzing.md)"
        );
    }
}

/// `cargo xtask fuzz …`.
pub(crate) fn main(args: &[String]) -> ExitCode {
    let all = targets();
    let Some(first) = args.first() else {
        eprintln!("usage:\n{USAGE}\ntargets: {}", all.join(", "));
        return ExitCode::from(2);
    };
    match first.as_str() {
        "list" => {
            #[allow(clippy::print_stdout, reason = "the list is this command's output")]
            for target in &all {
                println!("{target}");
            }
            return ExitCode::SUCCESS;
        }
        "replay" => {
            let mut command = cargo();
            command.current_dir(workspace_root()).args(REPLAY_ARGS);
            share_target_dir(&mut command);
            let ok = command.status().is_ok_and(|s| s.success());
            return if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE };
        }
        _ => {}
    }
    let chosen: Vec<String> = if first == "all" {
        all
    } else if all.contains(first) {
        vec![first.clone()]
    } else {
        eprintln!("unknown fuzz target {first:?}; targets: {}", all.join(", "));
        return ExitCode::from(2);
    };
    let options = match parse_options(&args[1..]) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}\nusage:\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if !tool_installed(&CARGO_FUZZ) {
        eprintln!("{}", CARGO_FUZZ.missing);
        return ExitCode::FAILURE;
    }
    let mut failed = false;
    let mut lines = Vec::new();
    for target in &chosen {
        let started = Instant::now();
        match run_target(target, &options) {
            Ok(summary) => {
                failed |= !summary.findings.is_empty();
                report(target, &summary, started.elapsed().as_secs_f64());
                lines.push(format!(
                    "{target}: {} executions, findings: {}",
                    summary.executions.map_or_else(|| "?".to_owned(), |n| n.to_string()),
                    summary.findings.len()
                ));
            }
            Err(message) => {
                eprintln!("fuzz {target}: {message}");
                return ExitCode::FAILURE;
            }
        }
    }
    if chosen.len() > 1 {
        eprintln!("fuzz summary:\n  {}", lines.join("\n  "));
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(output: &str) -> RunSummary {
        let mut summary = RunSummary::default();
        for line in output.lines() {
            summary.read_line(line);
        }
        summary
    }

    #[test]
    fn a_clean_run_is_summed_up_from_libfuzzer_output() {
        let s = summary(
            "INFO: Seed: 2106237794\n\
             #5\tINITED cov: 883 ft: 1491 corp: 4/501b exec/s: 0 rss: 46Mb\n\
             #6\tNEW    cov: 884 ft: 1492 corp: 5/524b lim: 210 exec/s: 0 rss: 46Mb L: 23/210 MS: 1 ChangeBinInt-\n\
             #345828\tDONE   cov: 1283 ft: 7481 corp: 1586/446Kb lim: 4096 exec/s: 16468 rss: 504Mb\n\
             Done 345828 runs in 21 second(s)\n\
             stat::number_of_executed_units: 345828\n\
             stat::new_units_added:          4553\n",
        );
        assert!(s.started);
        assert_eq!(s.executions, Some(345_828));
        assert_eq!(s.seconds, Some(21));
        assert_eq!(s.new_units, Some(4553));
        assert_eq!(s.coverage.as_deref(), Some("cov: 1283 ft: 7481 corp: 1586/446Kb"));
        assert!(s.findings.is_empty() && s.crash_lines.is_empty());
    }

    #[test]
    fn a_crash_yields_the_saved_input_and_the_panic_message() {
        let s = summary(
            "INFO: Seed: 1\n\
             thread '<unnamed>' (9996) panicked at fuzz/src/bypass_match.rs:40:9:\n\
             a trailing dot changed the match\n\
             ==9996== ERROR: libFuzzer: deadly signal\n\
             artifact_prefix='fuzz/artifacts/bypass_match/'; Test unit written to fuzz/artifacts/bypass_match/crash-74a5\n",
        );
        assert_eq!(s.findings, ["fuzz/artifacts/bypass_match/crash-74a5"]);
        assert_eq!(s.crash_lines.len(), 3);
        assert_eq!(s.crash_lines[1], "  a trailing dot changed the match");
    }

    #[test]
    fn a_build_failure_never_counts_as_a_started_run() {
        let s = summary(
            "error: the option `Z` is only accepted on the nightly compiler\nError: failed to build fuzz script\n",
        );
        assert!(!s.started);
    }

    #[test]
    fn progress_noise_is_hidden_but_pulses_are_shown() {
        assert!(is_noise("#6\tNEW    cov: 884 ft: 1492"));
        assert!(is_noise("#7\tREDUCE cov: 884 ft: 1492"));
        assert!(is_noise("\tNEW_FUNC[1/2]: 0x5634 in foo"));
        assert!(!is_noise("#262144\tpulse  cov: 1286 ft: 7569"));
        assert!(!is_noise("INFO: Seed: 1"));
    }

    #[test]
    fn options_parse_and_pass_the_rest_to_libfuzzer() {
        let args: Vec<String> = ["--time", "5", "--sanitizer", "none", "--", "-jobs=2"]
            .map(String::from)
            .to_vec();
        let options = parse_options(&args).unwrap();
        assert_eq!(options.seconds, 5);
        assert_eq!(options.sanitizer.as_deref(), Some("none"));
        assert_eq!(options.libfuzzer_args, ["-jobs=2"]);
        assert!(parse_options(&["--time".to_owned(), "soon".to_owned()]).is_err());
        assert!(parse_options(&["--bogus".to_owned()]).is_err());
    }
}
