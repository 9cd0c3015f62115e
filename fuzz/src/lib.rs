//! The bodies of extsvc's fuzz targets, as plain functions over bytes.
//!
//! Each `fuzz_targets/<name>.rs` is a one-line libFuzzer wrapper around `<name>::run`,
//! so the same code runs in three places:
//! - `cargo xtask fuzz <name>` (libFuzzer, coverage-guided; needs nightly features);
//! - `tests/replay.rs` on stable: every file under `seeds/<name>/` and
//!   `regressions/<name>/` is fed to `run`, so a fixed crash stays fixed;
//! - by hand, in a debugger, with a crashing input.
//!
//! A target fails by panicking: either the code under test panicked, or one of the
//! invariants checked here (secrets never printed, matches agree under case changes, …)
//! does not hold.

pub mod bypass_match;
pub mod config_load;
pub mod connect_response;
pub mod env_load;
pub mod pem_decrypt;
pub mod pem_load;

/// The runtime the async targets run their inputs on: one, current-thread, with timers
/// (store lookups and material loads run under deadlines).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime")
    })
}

/// The resolution of a target's fixed tyk.conf, with an empty environment.
fn resolve_config(config: &str) -> extsvc_resolve::Resolution {
    let env = extsvc_config::EnvSnapshot::empty();
    let loaded = extsvc_config::load_str(config, "fuzz.conf", &env, &extsvc_config::LoadOptions::default())
        .expect("the fuzz config is valid");
    extsvc_resolve::resolve(&loaded.config, &env)
}

/// The body of a fuzz target: runs one input, panics on a finding.
pub type TargetBody = fn(&[u8]);

/// Every fuzz target, by name: the name is the `fuzz_targets/<name>.rs` binary and the
/// folder under `seeds/` and `regressions/`.
pub const TARGETS: &[(&str, TargetBody)] = &[
    ("config_load", config_load::run),
    ("env_load", env_load::run),
    ("bypass_match", bypass_match::run),
    ("pem_load", pem_load::run),
    ("pem_decrypt", pem_decrypt::run),
    ("connect_response", connect_response::run),
];

/// Routes every service of `resolution` to a few fixed targets and formats everything
/// (Display and Debug), so resolution, routing and formatting run on fuzzed input too.
/// Returns all the text produced, for secret checks.
pub(crate) fn exercise_resolution(resolution: &extsvc_resolve::Resolution) -> String {
    use extsvc_resolve::TargetScheme;
    use std::fmt::Write as _;

    const HOSTS: &[(&str, u16)] = &[
        ("example.com", 443),
        ("API.Internal.", 80),
        ("127.0.0.1", 6379),
        ("[::1]", 8080),
        ("10.1.2.3", 443),
        ("localhost", 80),
    ];
    let mut text = format!("{resolution:?}");
    for service in resolution.services().values() {
        for scheme in [TargetScheme::Http, TargetScheme::Https] {
            for (host, port) in HOSTS {
                let decision = service.route(scheme, host, *port);
                let _ = write!(text, "\n{decision:?} {}", decision.reason);
                if let extsvc_resolve::Route::Proxy(url) = decision.route {
                    let _ = write!(text, " {url} {url:?} {}", url.redacted());
                }
            }
        }
    }
    for warning in &resolution.warnings {
        text.push('\n');
        text.push_str(warning);
    }
    text
}
