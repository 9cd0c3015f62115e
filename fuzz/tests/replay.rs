//! Replays every committed input of every fuzz target on stable Rust, without libFuzzer:
//! `seeds/<target>/*` (the starting corpus) and `regressions/<target>/*` (inputs that
//! once crashed a target; see docs/fuzzing.md). A regression that panics again fails
//! this test and names the file.

use std::fs;
use std::panic;
use std::path::Path;

fn inputs(folder: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_seed_and_regression_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, run) in extsvc_fuzz::TARGETS {
        for kind in ["seeds", "regressions"] {
            for file in inputs(&root.join(kind).join(name)) {
                let data = fs::read(&file).expect("readable input");
                ran += 1;
                if panic::catch_unwind(|| run(&data)).is_err() {
                    failures.push(file.display().to_string());
                }
            }
        }
    }
    assert!(ran > 0, "no seeds found under {}", root.display());
    assert!(failures.is_empty(), "these inputs panic:\n{}", failures.join("\n"));
    eprintln!("replayed {ran} inputs");
}

#[test]
fn every_target_has_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, _) in extsvc_fuzz::TARGETS {
        assert!(
            !inputs(&root.join("seeds").join(name)).is_empty(),
            "no seeds for {name}"
        );
        assert!(
            root.join("fuzz_targets").join(format!("{name}.rs")).is_file(),
            "no fuzz_targets/{name}.rs"
        );
    }
}
