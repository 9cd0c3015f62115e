//! `--strict` on every command (SPEC section 1): what Tyk accepts and extsvc reads with a
//! warning is an error there (exit 2), for CI pipelines; without it, a warning and the
//! command's usual answer. And what fails closed whatever the flag: an unusable standard
//! proxy variable that a service reaches (SPEC section 2).

mod common;

use common::run;

/// Shapes Tyk accepts that extsvc reads with a warning (tests/tyk_accepts.rs in
/// extsvc-config has the Go rule of each).
const WARNED: &[(&str, &[(&str, &str)])] = &[
    (r#"{"external_services": {"Global": {"enabled": false}}}"#, &[]),
    (
        r#"{"external_services": {"global": {"enabled": false, "enabled": false}}}"#,
        &[],
    ),
    (r#"{"external_services": {"global": {"colour": "blue"}}}"#, &[]),
    (r#"{"external_services": {"analytics": {}}}"#, &[]),
    (
        r#"{"external_services": {"oauth": {"mtls": {"enabled": true, "ca_file": "/ca.pem", "tls_min_version": "1.0"}}}}"#,
        &[],
    ),
    ("{}", &[("TYK_GW_OMITCONFIGFILE", "T")]),
    (
        r#"{"http_proxy": "http://legacy:1", "external_services": {"global": {"http_proxy": "http://g:1"}}}"#,
        &[],
    ),
    (
        r#"{"external_services": {"global": {"enabled": true, "http_proxy": "http://g:1"}, "oauth": {"proxy": {"enabled": true, "https_proxy": "http://o:1"}}}}"#,
        &[],
    ),
    // A warning of resolution: the mtls block's other keys are ignored.
    (
        r#"{"external_services": {"health": {"mtls": {"insecure_skip_verify": true}}}}"#,
        &[],
    ),
];

fn commands() -> [Vec<&'static str>; 4] {
    [
        vec!["resolve"],
        vec!["route", "--service", "oauth", "http://example.invalid/"],
        vec!["check"],
        vec!["probe", "--service", "oauth", "http://127.0.0.1:9/", "--count", "1"],
    ]
}

#[test]
fn every_command_exits_2_under_strict_on_each_warning() {
    for (json, env) in WARNED {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tyk.conf"), json).unwrap();
        for command in commands() {
            let mut args = command.clone();
            args.push("--strict");
            let out = run(dir.path(), &args, env);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?} {json} {env:?}: {stderr}");
            assert!(stderr.contains("error:"), "{args:?} {json}: {stderr}");
        }
        // Without --strict, resolve answers with a warning.
        let out = run(dir.path(), &["resolve"], env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{json} {env:?}: {stderr}");
        assert!(stderr.contains("warning:"), "{json}: {stderr}");
    }
}

/// `HTTPS_PROXY=http://badproxy:wrong_port` with proxying on: Go fails the request; here
/// every command stops, naming the variable (it was a warning and a direct connection).
#[test]
fn an_unusable_standard_proxy_fails_closed_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tyk.conf"),
        r#"{"external_services": {"oauth": {"proxy": {"enabled": true}}}}"#,
    )
    .unwrap();
    let env = [("HTTPS_PROXY", "http://badproxy:wrong_port")];
    for command in [
        vec!["resolve"],
        vec!["route", "--service", "oauth", "https://idp.example/"],
    ] {
        let out = run(dir.path(), &command, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(
            stderr.contains(r#"HTTPS_PROXY: invalid proxy URL "http://badproxy:wrong_port": invalid port"#),
            "{command:?}: {stderr}"
        );
    }
    let out = run(dir.path(), &["check"], &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("HTTPS_PROXY: invalid proxy URL"), "{stdout}");
    // A service that does not reach it is no concern: nothing proxies here.
    std::fs::write(dir.path().join("tyk.conf"), "{}").unwrap();
    assert_eq!(run(dir.path(), &["resolve"], &env).status.code(), Some(0));
}

/// The seed's troubleshooting advice: `log_level: "debug"` / `TYK_GW_LOGLEVEL=debug`
/// show the build-time decisions (INFO and DEBUG lines) when `RUST_LOG` is unset.
#[test]
fn the_log_level_follows_tyk_conf_and_tyk_gw_loglevel_without_rust_log() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("tyk.conf");
    std::fs::write(&conf, r#"{"log_level": "info"}"#).unwrap();
    let info_lines = |env: &[(&str, &str)]| {
        let out = run(dir.path(), &["check"], env);
        String::from_utf8_lossy(&out.stderr).contains("INFO")
    };
    assert!(info_lines(&[]), "log_level from tyk.conf");
    std::fs::write(&conf, "{}").unwrap();
    assert!(!info_lines(&[]), "warn by default");
    assert!(info_lines(&[("TYK_GW_LOGLEVEL", "info")]), "TYK_GW_LOGLEVEL");
    assert!(
        !info_lines(&[("TYK_GW_LOGLEVEL", "info"), ("RUST_LOG", "error")]),
        "RUST_LOG wins"
    );
}
