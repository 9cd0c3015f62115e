//! The bench's Go programs (`bench/go-redis`, `bench/go-idle`): built with the `go` on
//! `PATH` into `<target>/bench/go/`, or skipped with the reason when there is no `go` or
//! the build fails (go-redis comes from the Go module proxy).
//!
//! Where the module proxy cannot be reached, [`GO_MODULES_VAR`] names local checkouts of
//! the modules (`module=directory`, comma-separated): the program is then built from a
//! scratch copy under `<target>/bench/go/` whose `go.mod` replaces each module with a
//! copy of its checkout, with `GOPROXY=off`. Nothing in `bench/` is changed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// Local checkouts of Go modules, `module=directory,…` (see the module doc).
const GO_MODULES_VAR: &str = "EXTSVC_BENCH_GO_MODULES";

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
    match std::env::var(GO_MODULES_VAR) {
        Ok(modules) => {
            let scratch = with_local_modules(name, &modules)?;
            command.current_dir(scratch).env("GOPROXY", "off");
        }
        Err(_) => {
            command.current_dir(source_dir(name));
        }
    }
    command
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
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

/// A scratch copy of `bench/<name>` whose `go.mod` replaces each module of `modules`
/// (`module=directory,…`) with a copy of that directory (its `.git` left out; a
/// `go.mod` naming the module written where the checkout has none, as the module proxy
/// does for a repository from before modules).
fn with_local_modules(name: &str, modules: &str) -> Result<PathBuf, String> {
    let failed = |what: &str, e: std::io::Error| format!("{GO_MODULES_VAR}: {what}: {e}");
    let root = output_path(name).with_file_name(format!("{name}-local-modules"));
    let _ = std::fs::remove_dir_all(&root);
    let program = root.join("program");
    copy_tree(&source_dir(name), &program).map_err(|e| failed("copying the program", e))?;
    let mut replaces = String::new();
    for (i, pair) in modules.split(',').filter(|p| !p.trim().is_empty()).enumerate() {
        let Some((module, dir)) = pair.trim().split_once('=') else {
            return Err(format!("{GO_MODULES_VAR}: {pair:?} is not module=directory"));
        };
        let copy = root.join("modules").join(i.to_string());
        copy_tree(Path::new(dir), &copy).map_err(|e| failed(dir, e))?;
        if !copy.join("go.mod").exists() {
            std::fs::write(copy.join("go.mod"), format!("module {module}\n")).map_err(|e| failed(dir, e))?;
        }
        replaces.push_str(&format!("\nreplace {module} => {}\n", copy.display()));
    }
    let go_mod = program.join("go.mod");
    let text = std::fs::read_to_string(&go_mod).map_err(|e| failed("reading go.mod", e))?;
    std::fs::write(&go_mod, text + &replaces).map_err(|e| failed("writing go.mod", e))?;
    Ok(program)
}

/// Copies the files and directories under `from` to `to`, `.git` and symbolic links left out.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() && entry.file_name() != ".git" {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
