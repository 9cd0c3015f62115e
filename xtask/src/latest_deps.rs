//! `cargo xtask ci latest-deps`: builds the facade as a downstream application does, with
//! the newest semver-compatible dependencies (`cargo update` in a scratch copy of the
//! workspace, so the real `Cargo.lock` is left alone), and fails on any warning in
//! extsvc's own crates — a deprecation in a newer rustls (0.23.48 deprecated ring's
//! `default_provider`) shows here before a user meets it. Once with the default features
//! (aws-lc-rs, post-quantum) and once with ring instead. Skipped, with a line saying so, when
//! crates.io cannot be reached.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::cargo;

/// What a workspace build needs: the manifests and the members' sources.
const COPIED: &[&str] = &["Cargo.toml", "Cargo.lock", "crates", "tests", "bench", "xtask"];

/// The facade's feature sets built.
const FEATURE_SETS: &[&[&str]] = &[&[], &["--no-default-features", "--features", "ring,redis"]];

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            if entry.file_name() == "target" {
                continue;
            }
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to).map(|_| ())
    }
}

/// Runs the step for the workspace at `root`; true when it passed or was skipped.
pub(crate) fn run(root: &Path) -> bool {
    let scratch = std::env::temp_dir().join(format!("extsvc-latest-deps-{}", std::process::id()));
    let passed = run_in(root, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    passed
}

fn run_in(root: &Path, scratch: &Path) -> bool {
    if let Err(e) = std::fs::create_dir_all(scratch) {
        eprintln!("latest-deps: creating {}: {e}", scratch.display());
        return false;
    }
    for name in COPIED {
        if let Err(e) = copy_tree(&root.join(name), &scratch.join(name)) {
            eprintln!("latest-deps: copying {name} to {}: {e}", scratch.display());
            return false;
        }
    }
    let update = cargo()
        .args(["update"])
        .current_dir(scratch)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    match update {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            eprintln!(
                "latest-deps: SKIPPED — `cargo update` failed, crates.io unreachable? ({})",
                last.trim()
            );
            return true;
        }
        Err(e) => {
            eprintln!("latest-deps: SKIPPED — could not run `cargo update`: {e}");
            return true;
        }
    }
    // Kept between runs under the real target dir: the dependencies build once.
    let target: PathBuf = root.join("target").join("latest-deps");
    for features in FEATURE_SETS {
        let shown = if features.is_empty() {
            "default features".to_owned()
        } else {
            features.join(" ")
        };
        eprintln!("latest-deps: cargo check -p extsvc --lib ({shown}) with the newest dependencies");
        let ok = cargo()
            .args(["check", "-p", "extsvc", "--lib"])
            .args(*features)
            .current_dir(scratch)
            .env("CARGO_TARGET_DIR", &target)
            // Dependencies' own warnings are capped by cargo; these fail extsvc's crates.
            .env("RUSTFLAGS", "-D warnings")
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "latest-deps: the facade ({shown}) does not build without warnings against the newest dependencies"
            );
            return false;
        }
    }
    true
}
