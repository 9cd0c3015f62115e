//! The bench's Go programs (`bench/go-redis`, `bench/go-idle`): built with the `go` on
//! `PATH` into `<target>/bench/go/`, or skipped with the reason when there is no `go` or
//! the build fails (go-redis comes from the Go module proxy).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// How long `go build` may take (module download included).
const BUILD_DEADLINE: Duration = Duration::from_secs(300);

/// `bench/<name>`: the program's sources.
fn source_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// `<target>/bench/go/<name>`, the target dir being where this binary was built.
fn output_path(name: &str) -> PathBuf {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("bench").join("go")))
        .unwrap_or_else(|| std::env::temp_dir().join("extsvc-bench-go"));
    dir.join(name)
}

/// Builds `bench/<name>` and returns the binary, or why it cannot (one line, for the
/// table and `summary.json`).
pub(crate) async fn build(name: &str) -> Result<PathBuf, String> {
    let Some(go) = crate::probe_vs_wrk::on_path("go") else {
        return Err("go is not installed (apt-get install -y golang-go)".into());
    };
    let out = output_path(name);
    let mut command = tokio::process::Command::new(go);
    command
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(source_dir(name))
        // go.sum is committed once the modules could be fetched; until then the first
        // build on a machine that reaches the module proxy writes it.
        .env("GOFLAGS", "-mod=mod")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(BUILD_DEADLINE, command.output()).await {
        Err(_) => return Err(format!("go build of bench/{name} took over {BUILD_DEADLINE:?}")),
        Ok(Err(e)) => return Err(format!("running go build for bench/{name}: {e}")),
        Ok(Ok(output)) => output,
    };
    if output.status.success() {
        return Ok(out);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output");
    Err(format!("go build of bench/{name} failed: {}", last.trim()))
}
