//! Every value a message echoes goes through `extsvc_config::shown` (SPEC sections 2 and 5):
//! control characters escaped (`\x1b`), at most 256 characters then `… (N bytes)`, userinfo
//! redacted — Redis passwords written without `@` included.
//!
//! Each error path of the binary is fed a hostile value: 10 MB in tyk.conf (under the
//! 16 MiB file limit), 100 kB in the environment and in arguments (Linux refuses a single
//! argument or variable over 128 KiB), each starting with an ESC sequence and CR/LF and a
//! forged log line. The whole output must stay small, carry no raw control character, and
//! no line may start with the forged text.

mod common;

use std::path::Path;

use common::text;
use serde_json::{json, Value};

/// The forged line a value tries to start.
const FORGED: &str = "FORGED WARN";

/// A hostile value of about `len` bytes: an ESC sequence, CR/LF, a forged log line, filler.
fn hostile(len: usize) -> String {
    let mut value = format!("\u{1b}[2J\r\n{FORGED} x\u{1b}]0;title\u{7}");
    value.push_str(&"A".repeat(len.saturating_sub(value.len())));
    value
}

/// What is wrong with what an operator sees of one run, if anything: unbounded, a raw
/// control character, or a line the value started.
fn problem(output: &str) -> Option<String> {
    let excerpt = || {
        let at = output.find(['\u{1b}', '\r', '\u{7}']).unwrap_or(0).saturating_sub(200);
        let at = (0..=at).rev().find(|&i| output.is_char_boundary(i)).unwrap_or(0);
        output[at..].chars().take(400).collect::<String>()
    };
    if output.len() >= 32 * 1024 {
        return Some(format!("{} bytes of output: {:?}", output.len(), excerpt()));
    }
    if output.contains(['\u{1b}', '\r', '\u{7}']) {
        return Some(format!("a raw control character: {:?}", excerpt()));
    }
    if output.lines().any(|line| line.starts_with(FORGED)) {
        return Some(format!("a value started a line of its own: {output:?}"));
    }
    None
}

/// Runs each case and panics naming every case whose output has a [`problem`].
struct Runs {
    failures: Vec<String>,
}

impl Runs {
    fn new() -> Runs {
        Runs { failures: Vec::new() }
    }

    fn run(&mut self, dir: &Path, what: &str, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = common::run(dir, args, env);
        let output = text(&out);
        if out.status.code().is_none_or(|c| c > 2) {
            let head: String = output.chars().take(2000).collect();
            self.failures.push(format!("{what}: {:?}\n{head}", out.status));
        }
        if let Some(problem) = problem(&output) {
            self.failures.push(format!("{what}: {problem}"));
        }
        output
    }

    fn finish(self) {
        assert!(self.failures.is_empty(), "{}", self.failures.join("\n\n"));
    }
}

/// `value` set at the dotted `path` inside `external_services`.
fn at(path: &str, value: Value) -> Value {
    let mut root = json!({});
    let mut node = &mut root;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        node = node.as_object_mut().unwrap().entry(*part).or_insert_with(|| json!({}));
    }
    node[parts[parts.len() - 1]] = value;
    root
}

#[test]
fn ten_megabyte_values_in_tyk_conf_are_echoed_capped_and_escaped() {
    let mut runs = Runs::new();
    let dir = tempfile::tempdir().unwrap();
    let evil = hostile(10 << 20);
    let mtls_on = |field: &str, value: Value| {
        let mut conf = at(&format!("oauth.mtls.{field}"), value);
        conf["oauth"]["mtls"]["enabled"] = json!(true);
        conf
    };
    let cases: Vec<(&str, Value)> = vec![
        ("oauth http_proxy", {
            let mut c = at("oauth.proxy.http_proxy", json!(evil));
            c["oauth"]["proxy"]["enabled"] = json!(true);
            c
        }),
        ("global https_proxy", {
            let mut c = at("global.https_proxy", json!(format!("http://{evil}")));
            c["global"]["enabled"] = json!(true);
            c
        }),
        ("global bypass_proxy", {
            let mut c = at("global.bypass_proxy", json!(format!("ok.example,{evil}")));
            c["global"]["enabled"] = json!(true);
            c
        }),
        ("bypass with credentials", {
            let mut c = at("global.bypass_proxy", json!(format!("u:pw@{evil}")));
            c["global"]["enabled"] = json!(true);
            c
        }),
        (
            "proxy.enabled of the wrong type",
            at("oauth.proxy.enabled", json!(evil)),
        ),
        ("an unknown key", at(&format!("oauth.{evil}"), json!(1))),
        ("an unknown service", at(&format!("{evil}.mtls.enabled"), json!(true))),
        ("cert_file + key_file", {
            let mut c = mtls_on("cert_file", json!(evil));
            c["oauth"]["mtls"]["key_file"] = json!(format!("/{evil}"));
            c
        }),
        ("ca_file", mtls_on("ca_file", json!(evil))),
        ("cert_id", mtls_on("cert_id", json!(evil))),
        ("ca_cert_ids", mtls_on("ca_cert_ids", json!([evil]))),
        ("tls_min_version", mtls_on("tls_min_version", json!(evil))),
        ("tls_max_version", {
            let mut c = mtls_on("tls_max_version", json!(evil));
            c["oauth"]["mtls"]["insecure_skip_verify"] = json!(true);
            c
        }),
    ];
    for (what, services) in cases {
        let conf = json!({ "external_services": services });
        std::fs::write(dir.path().join("tyk.conf"), conf.to_string()).unwrap();
        for command in ["resolve", "check"] {
            runs.run(dir.path(), &format!("{what} ({command})"), &[command], &[]);
        }
        runs.run(
            dir.path(),
            &format!("{what} (route)"),
            &["route", "--service", "oauth", "https://idp.example/"],
            &[],
        );
    }
    // Outside external_services: the legacy proxy keys, an unknown top-level key.
    for (what, conf) in [
        ("legacy http_proxy", json!({ "http_proxy": evil })),
        (
            "legacy https_proxy",
            json!({ "https_proxy": format!("socks4://{evil}") }),
        ),
        (
            "a top-level key near external_services",
            json!({ "external_service": { evil.clone(): 1 } }),
        ),
        ("an unknown top-level key", json!({ evil: 1, "external_services": {} })),
    ] {
        std::fs::write(dir.path().join("tyk.conf"), conf.to_string()).unwrap();
        for command in ["resolve", "check"] {
            runs.run(dir.path(), &format!("{what} ({command})"), &[command], &[]);
        }
    }
    runs.finish();
}

#[test]
fn hostile_environment_values_and_names_are_echoed_capped_and_escaped() {
    let mut runs = Runs::new();
    let dir = tempfile::tempdir().unwrap();
    let evil = hostile(100_000);
    let global_on = json!({ "external_services": { "global": { "enabled": true } } });
    std::fs::write(dir.path().join("tyk.conf"), global_on.to_string()).unwrap();
    let url_evil = format!("http://{evil}");
    let unknown = format!("TYK_GW_EXTERNAL_SERVICES_OAUTH_{evil}");
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("HTTP_PROXY", vec![("HTTP_PROXY", &evil)]),
        ("HTTPS_PROXY", vec![("HTTPS_PROXY", &url_evil)]),
        ("NO_PROXY", vec![("NO_PROXY", &evil)]),
        ("ALL_PROXY", vec![("ALL_PROXY", &evil)]),
        (
            "our http_proxy",
            vec![("TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTP_PROXY", &evil)],
        ),
        (
            "Tyk's http_proxy",
            vec![("TYK_GW_EXTERNALSERVICES_GLOBAL_HTTPPROXY", &evil)],
        ),
        (
            "both spellings",
            vec![
                ("TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTP_PROXY", "http://a:1"),
                ("TYK_GW_EXTERNALSERVICES_GLOBAL_HTTPPROXY", &url_evil),
            ],
        ),
        (
            "a boolean",
            vec![("TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_ENABLED", &evil)],
        ),
        (
            "a bypass list",
            vec![("TYK_GW_EXTERNAL_SERVICES_GLOBAL_BYPASS_PROXY", &evil)],
        ),
        ("a legacy proxy", vec![("TYK_GW_HTTPPROXY", &evil)]),
        (
            "cert_file",
            vec![
                ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_ENABLED", "true"),
                ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE", &evil),
                ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_KEY_FILE", &evil),
                ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CA_FILE", &evil),
            ],
        ),
        (
            "cert_id",
            vec![
                ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_ENABLED", "true"),
                ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_ID", &evil),
            ],
        ),
        (
            "ca_cert_ids",
            vec![
                ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_ENABLED", "true"),
                ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CA_CERT_IDS", &evil),
            ],
        ),
        (
            "a TLS version",
            vec![
                ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_ENABLED", "true"),
                ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_INSECURE_SKIP_VERIFY", "true"),
                ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_TLS_MIN_VERSION", &evil),
            ],
        ),
        ("an unknown variable", vec![(&unknown, "1")]),
        ("the log level", vec![("TYK_GW_LOGLEVEL", &evil)]),
    ];
    for (what, env) in &cases {
        for command in ["resolve", "check"] {
            runs.run(dir.path(), &format!("{what} ({command})"), &[command], env);
        }
        runs.run(
            dir.path(),
            &format!("{what} (route)"),
            &["route", "--service", "oauth", "https://idp.example/"],
            env,
        );
    }
    runs.finish();
}

#[test]
fn hostile_arguments_are_echoed_capped_and_escaped() {
    let mut runs = Runs::new();
    let dir = tempfile::tempdir().unwrap();
    let evil = hostile(100_000);
    let https = format!("https://{evil}");
    let redis = format!("redis://{evil}");
    let redis_port = format!("redis://host:{evil}");
    let url_cases = [evil.as_str(), &https, &redis, &redis_port, &format!("ftp://{evil}")];
    for url in url_cases {
        runs.run(dir.path(), "route URL", &["route", "--service", "storage", url], &[]);
        runs.run(
            dir.path(),
            "route URL, oauth",
            &["route", "--service", "oauth", url],
            &[],
        );
        runs.run(
            dir.path(),
            "probe URL",
            &["probe", "--service", "storage", url, "--timeout", "1s"],
            &[],
        );
    }
    let long_path = format!("/tmp/{}", "d".repeat(5000));
    for (what, args) in [
        ("--service", vec!["route", "--service", &evil, "https://idp.example/"]),
        ("--config", vec!["resolve", "--config", &evil]),
        ("--config too long", vec!["resolve", "--config", &long_path]),
        ("--cert-store", vec!["check", "--cert-store", &evil]),
        ("--cert-store redis", vec!["check", "--cert-store", &redis]),
        ("--format", vec!["resolve", "--format", &evil]),
        (
            "--count",
            vec!["probe", "--service", "oauth", "https://idp.example/", "--count", &evil],
        ),
        ("a subcommand", vec![&evil]),
    ] {
        runs.run(dir.path(), what, &args, &[]);
    }
    runs.finish();
}

#[test]
fn redis_passwords_written_without_the_at_sign_are_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "redis://default:RdsSecret1",
        "redis://:RdsSecret1",
        "rediss://:RdsSecret1",
        "redis://[::1]:RdsSecret1",
        "redis://:RdsSecret1:6379",
        "redis://default:RdsSecret1@",
    ] {
        for args in [
            vec!["probe", "--service", "storage", url, "--timeout", "1s"],
            vec!["route", "--service", "storage", url],
            vec!["route", "--service", "oauth", url],
            vec!["check", "--cert-store", url],
        ] {
            let out = common::run(dir.path(), &args, &[]);
            let output = text(&out);
            assert!(!output.contains("RdsSecret1"), "{args:?}:\n{output}");
            if args[0] != "check" {
                assert!(
                    output.contains("***"),
                    "{args:?}: the URL is shown, redacted:\n{output}"
                );
            }
        }
    }
}

#[test]
fn the_info_line_of_a_certificate_id_naming_a_file_escapes_the_file() {
    let mut runs = Runs::new();
    let dir = tempfile::tempdir().unwrap();
    let pki = extsvc_tests::pki::TestPki::generate();
    let file = dir
        .path()
        .join(format!("id\u{1b}[2J\r\n{FORGED} {}.pem", "B".repeat(100)));
    std::fs::write(&file, format!("{}{}", pki.client.chain_pem, pki.client.key_pem)).unwrap();
    let conf = json!({ "external_services": { "oauth": { "mtls": {
        "enabled": true, "cert_id": file, "ca_file": pki.ca_cert_path
    } } } });
    std::fs::write(dir.path().join("tyk.conf"), conf.to_string()).unwrap();
    let output = runs.run(dir.path(), "cert_id naming a file", &["check"], &[("RUST_LOG", "info")]);
    assert!(
        output.contains("names a file") && output.contains("\\x1b[2J\\x0d\\x0a"),
        "the INFO line is there, escaped:\n{output}"
    );
    runs.finish();
}
