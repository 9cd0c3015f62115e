//! Hostile input at the CLI (issue "hostile input, round 2"): every case ends in bounded
//! time and memory with a message naming the key path and the file, and never echoes a
//! secret or panics.
//!
//! FIFOs, `/dev/zero`, sparse oversize files, a silent TCP "Redis", an endless chunked
//! body and a pasted private key, each against the real binary.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::text;
use extsvc_tests::pki::TestPki;
use extsvc_tests::target::{TargetOptions, TestTarget};
use serde_json::Value;

/// Runs `extsvc args…` in `dir` with only `env` set, and returns its output and run time.
fn extsvc(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, Duration) {
    let started = Instant::now();
    let out = common::run(dir, args, env);
    (out, started.elapsed())
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success());
}

/// A file of `size` bytes that takes no disk space.
fn sparse(path: &Path, size: u64) {
    std::fs::File::create(path).unwrap().set_len(size).unwrap();
}

fn mtls_files(cert: &Path, key: &Path, ca: &Path) -> String {
    serde_json::json!({ "external_services": { "oauth": { "mtls": {
        "enabled": true, "cert_file": cert, "key_file": key, "ca_file": ca
    } } } })
    .to_string()
}

#[test]
fn a_fifo_a_device_and_an_oversize_file_as_pem_material_are_refused_at_once() {
    let pki = TestPki::generate();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("ca.fifo");
    mkfifo(&fifo);
    let big = dir.path().join("big.key");
    sparse(&big, 1 << 30);
    std::fs::write(
        dir.path().join("tyk.conf"),
        mtls_files(Path::new("/dev/zero"), &big, &fifo),
    )
    .unwrap();
    let (out, took) = extsvc(dir.path(), &["check", "--config", "tyk.conf"], &[]);
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    for expected in [
        "external_services.oauth.mtls.cert_file: failed to load client certificate /dev/zero: not a regular file (a device); refused",
        &format!(
            "external_services.oauth.mtls.key_file: failed to load private key {}: file too large: 1073741824 bytes, the limit is 1048576 bytes",
            big.display()
        ),
        &format!(
            "external_services.oauth.mtls.ca_file: failed to load CA certificates {}: not a regular file (a FIFO); refused",
            fifo.display()
        ),
    ] {
        assert!(output.contains(expected), "missing {expected:?} in\n{output}");
    }

    // probe builds the same material: it fails the same way, as fast.
    let good = mtls_files(&pki.client_cert_path, &pki.client_key_path, &fifo);
    std::fs::write(dir.path().join("tyk.conf"), good).unwrap();
    let (out, took) = extsvc(
        dir.path(),
        &[
            "probe",
            "--config",
            "tyk.conf",
            "--service",
            "oauth",
            "https://127.0.0.1:1/",
        ],
        &[],
    );
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        output.contains("external_services.oauth.mtls.ca_file: failed to load CA certificates")
            && output.contains("not a regular file (a FIFO)"),
        "{output}"
    );
}

#[test]
fn a_config_that_is_a_device_a_fifo_or_oversize_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("tyk.fifo");
    mkfifo(&fifo);
    let big = dir.path().join("big.conf");
    sparse(&big, 1 << 30);
    for (file, why) in [
        ("/dev/zero".to_owned(), "not a regular file (a device)"),
        (fifo.display().to_string(), "not a regular file (a FIFO)"),
        (
            big.display().to_string(),
            "file too large: 1073741824 bytes, the limit is 16777216 bytes",
        ),
    ] {
        let (out, took) = extsvc(dir.path(), &["resolve", "--config", &file], &[]);
        let output = text(&out);
        assert_eq!(out.status.code(), Some(2), "{output}");
        assert!(took < Duration::from_secs(5), "{file}: took {took:?}");
        assert!(
            output.contains(&format!("{file}: cannot read the configuration file: {why}")),
            "{output}"
        );
    }
}

#[test]
fn a_directory_store_entry_that_is_a_fifo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir(&store).unwrap();
    mkfifo(&store.join("root.pem"));
    std::fs::write(
        dir.path().join("tyk.conf"),
        r#"{ "external_services": { "oauth": { "mtls": { "enabled": true, "ca_cert_ids": ["root"] } } } }"#,
    )
    .unwrap();
    let (out, took) = extsvc(
        dir.path(),
        &["check", "--config", "tyk.conf", "--cert-store", store.to_str().unwrap()],
        &[],
    );
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        output.contains("external_services.oauth.mtls.ca_cert_ids: certificate store entry root: failed to read")
            && output.contains("root.pem: not a regular file (a FIFO); refused"),
        "{output}"
    );
}

/// A TCP server that accepts connections and never answers (nor closes them).
fn silent_server() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let mut held = Vec::new();
        // Two connections at most (check, then probe); the thread ends with the test binary.
        for stream in listener.incoming().take(2) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(60));
    });
    (addr, thread)
}

#[test]
fn a_redis_store_that_never_answers_times_out_naming_the_store_and_the_id() {
    let (addr, _server) = silent_server();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tyk.conf"),
        r#"{ "external_services": { "oauth": { "mtls": { "enabled": true, "cert_id": "client-1" } } } }"#,
    )
    .unwrap();
    let store = format!("redis://{addr}");
    let store_args = ["--cert-store", &store, "--cert-store-timeout", "300ms"];
    let (out, took) = extsvc(
        dir.path(),
        &[&["check", "--config", "tyk.conf"][..], &store_args].concat(),
        &[],
    );
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        output.contains("external_services.oauth.mtls.cert_id: certificate store entry client-1: no answer from")
            && output.contains(&addr.to_string())
            && output.contains("within 300ms"),
        "{output}"
    );

    let (out, took) = extsvc(
        dir.path(),
        &[
            &[
                "probe",
                "--config",
                "tyk.conf",
                "--service",
                "oauth",
                "https://127.0.0.1:1/",
            ][..],
            &store_args,
        ]
        .concat(),
        &[],
    );
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        output.contains("certificate store entry client-1: no answer"),
        "{output}"
    );
}

#[test]
fn a_private_key_pasted_where_a_path_belongs_is_never_printed() {
    let pki = TestPki::generate();
    let key = std::fs::read_to_string(&pki.client_key_path).unwrap();
    let body_line = key.lines().nth(1).unwrap().to_owned();
    let shown = format!("<PEM text, {} bytes>", key.len());
    let dir = tempfile::tempdir().unwrap();
    let cert = pki.client_cert_path.to_str().unwrap();
    let env = [
        ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_ENABLED", "true"),
        ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE", cert),
        ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_KEY_FILE", key.as_str()),
        ("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_ID", ""),
    ];
    let commands: [&[&str]; 4] = [
        &["resolve"],
        &["resolve", "--format", "json"],
        &["check"],
        &["probe", "--service", "oauth", "https://127.0.0.1:1/"],
    ];
    for args in commands {
        let (out, _) = extsvc(dir.path(), args, &env);
        let output = text(&out);
        assert!(
            !output.contains("PRIVATE KEY") && !output.contains(&body_line),
            "{args:?} printed the key:\n{output}"
        );
        assert!(output.contains(&shown), "{args:?}:\n{output}");
    }
}

#[test]
fn userinfo_of_any_kind_is_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED", "true"),
        ("HTTP_PROXY", "http://TOKEN123@proxy:3128"),
        ("HTTPS_PROXY", "http://TOKEN123@proxy:3128"),
        ("NO_PROXY", "u:pw456@host,.internal"),
    ];
    for args in [&["resolve"][..], &["resolve", "--format", "json"]] {
        let (out, _) = extsvc(dir.path(), args, &env);
        let output = text(&out);
        assert_eq!(out.status.code(), Some(0), "{output}");
        assert!(!output.contains("TOKEN123") && !output.contains("pw456"), "{output}");
        assert!(output.contains("http://***@proxy:3128"), "{output}");
        assert!(
            output.contains("NO_PROXY: skipped entry") && output.contains("u:***@host"),
            "{output}"
        );
    }
}

/// An HTTP/1.1 target that answers every request with an endless chunked body.
fn endless_target() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
                let chunk = [b'x'; 64 * 1024];
                let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
                frame.extend_from_slice(&chunk);
                frame.extend_from_slice(b"\r\n");
                while stream.write_all(&frame).is_ok() {}
            });
        }
    });
    addr
}

/// The peak resident memory of a running process, in kB (Linux).
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn probe_drains_an_endless_body_in_flat_memory_and_keeps_its_deadline() {
    let addr = endless_target();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tyk.conf"), "{}").unwrap();
    let url = format!("http://{addr}/");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_extsvc"))
        .args([
            "probe",
            "--config",
            "tyk.conf",
            "--format",
            "json",
            "--service",
            "health",
        ])
        .args(["--timeout", "2s", &url])
        .env_clear()
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(peak_rss_kb(child.id()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = started.elapsed();
    let out = child.wait_with_output().unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    // The service's `max_response_body` (32 MiB) ends the endless body before the
    // deadline does: one body_too_large error, within the 2 s deadline.
    assert_eq!(json["errors"]["body_too_large"], 1, "{json}");
    // Every existing key is still there, and the bytes received are counted.
    common::assert_probe_spec_keys(&json);
    let bytes = json["bytes"].as_u64().unwrap();
    assert!(bytes > 10 << 20, "only {bytes} bytes drained: {json}");
    assert!(bytes <= 32 << 20, "{bytes} bytes read past the body limit: {json}");
    let latency_ms = json["latency_us"]["max"].as_u64().unwrap() / 1000;
    assert!(latency_ms < 2050, "request took {latency_ms} ms: {json}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
    // Memory flat: the body is not kept (it was hundreds of MB before).
    assert!(peak < 64 * 1024, "peak RSS {peak} kB after {bytes} bytes");
}

#[test]
fn huge_counts_timeouts_and_values_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tyk.conf"), "{}").unwrap();

    // resolve text mode with a value wider than a format width can be (65,535).
    let long_list: Vec<String> = (0..8000).map(|i| format!("host-{i}.example")).collect();
    let long_list = long_list.join(",");
    assert!(long_list.len() > 70_000);
    let config = serde_json::json!({ "external_services": { "global": {
        "enabled": true, "bypass_proxy": long_list
    } } });
    std::fs::write(dir.path().join("long.conf"), config.to_string()).unwrap();
    let (out, _) = extsvc(dir.path(), &["resolve", "--config", "long.conf"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("host-7999.example"));

    // A huge timeout is clamped (no overflow of the clock).
    let target = TestTarget::http(TargetOptions::default());
    let url = format!("{}/", target.url());
    let (out, _) = extsvc(
        dir.path(),
        &[
            "probe",
            "--config",
            "tyk.conf",
            "--service",
            "health",
            "--timeout",
            "18000000000000000000s",
            &url,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The same through the Redis client (its own deadline): a refused connection, no panic.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let redis_url = format!("redis://{}", closed.local_addr().unwrap());
    drop(closed);
    let (out, _) = extsvc(
        dir.path(),
        &[
            "probe",
            "--config",
            "tyk.conf",
            "--service",
            "storage",
            "--timeout",
            "18000000000000000000s",
            &redis_url,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!text(&out).contains("panicked"), "{}", text(&out));

    // A count that is not a number is a usage error.
    let (out, _) = extsvc(
        dir.path(),
        &[
            "probe",
            "--config",
            "tyk.conf",
            "--service",
            "health",
            "--count",
            "1e12",
            &url,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // The largest count allocates nothing up front: the probe runs, small, until stopped.
    let mut child = Command::new(env!("CARGO_BIN_EXE_extsvc"))
        .args([
            "probe",
            "--config",
            "tyk.conf",
            "--service",
            "health",
            "--format",
            "json",
        ])
        .args(["--count", "18446744073709551615", "--interval", "10ms", &url])
        .env_clear()
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let still_running = child.try_wait().unwrap().is_none();
    let peak = peak_rss_kb(child.id()).unwrap_or(0);
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(still_running, "probe exited: {}", String::from_utf8_lossy(&out.stderr));
    assert!(peak < 64 * 1024, "peak RSS {peak} kB");
    assert!(target.stats().requests > 10);
}

#[test]
fn a_peers_huge_reply_with_escape_sequences_is_capped_and_escaped() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                // Every command the client sends (its setup, pipelined, then PING) gets the
                // same error: one reply per RESP array read.
                let mut request = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut request) {
                    let commands = (0..n)
                        .filter(|&i| request[i] == b'*' && (i == 0 || request[i - 1] == b'\n'))
                        .count();
                    let mut reply = Vec::new();
                    for _ in 0..commands {
                        reply.extend_from_slice(b"-ERR \x1b[2J\x1b[31m");
                        reply.extend(std::iter::repeat_n(b'A', 8000));
                        reply.extend_from_slice(b"\r\n");
                    }
                    if stream.write_all(&reply).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tyk.conf"), "{}").unwrap();
    let url = format!("redis://{addr}");
    for format in ["text", "json"] {
        let (out, took) = extsvc(
            dir.path(),
            &[
                "probe",
                "--config",
                "tyk.conf",
                "--service",
                "storage",
                "--format",
                format,
                &url,
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(took < Duration::from_secs(5));
        let output = text(&out);
        assert!(!output.contains('\u{1b}'), "a raw ESC reached the terminal");
        assert!(output.len() < 4096, "{} bytes of output", output.len());
        assert!(output.contains(" bytes)") && output.contains("\\x1b[2J"), "{output}");
    }
}

#[test]
fn duplicate_keys_are_errors_inside_external_services_and_warnings_outside() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tyk.conf"),
        r#"{ "listen_port": 1, "listen_port": 2,
             "external_services": { "oauth": { "mtls": { "enabled": true, "ca_file": "/ca.pem",
                 "insecure_skip_verify": true, "insecure_skip_verify": false } } } }"#,
    )
    .unwrap();
    // Go keeps the last value (a warning); --strict refuses it.
    let (out, _) = extsvc(dir.path(), &["resolve", "--config", "tyk.conf", "--strict"], &[]);
    let output = text(&out);
    assert_eq!(out.status.code(), Some(2), "{output}");
    assert!(
        output.contains("external_services.oauth.mtls.insecure_skip_verify: duplicate key"),
        "{output}"
    );
    std::fs::write(dir.path().join("tyk.conf"), r#"{ "listen_port": 1, "listen_port": 2 }"#).unwrap();
    let (out, _) = extsvc(dir.path(), &["resolve", "--config", "tyk.conf"], &[]);
    let output = text(&out);
    assert_eq!(out.status.code(), Some(0), "{output}");
    assert!(
        output
            .contains("warning: listen_port: duplicate key at tyk.conf:1:3 and tyk.conf:1:21; the last value is used"),
        "{output}"
    );
}

#[test]
fn a_url_with_a_fragment_and_no_path_requests_the_root() {
    let target = TestTarget::http(TargetOptions::default());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tyk.conf"), "{}").unwrap();
    let url = format!("{}#frag", target.url().trim_end_matches('/'));
    let (out, _) = extsvc(
        dir.path(),
        &["probe", "--config", "tyk.conf", "--service", "health", &url],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(target.requests()[0].uri, "/");
}

#[test]
fn unknown_variables_with_huge_names_are_cheap_and_short() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..15)
        .map(|i| format!("TYK_GW_EXTERNAL_SERVICES_OAUTH_{i}{}", "X".repeat(120_000)))
        .collect();
    let env: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let (out, took) = extsvc(dir.path(), &["resolve"], &env);
    let output = text(&out);
    assert_eq!(out.status.code(), Some(0), "{}", &output[..output.len().min(2000)]);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(output.len() < 64 * 1024, "{} bytes of output", output.len());
    assert_eq!(output.matches("unknown variable, ignored").count(), 15);
}

#[test]
fn an_unknown_key_with_a_huge_name_is_reported_short() {
    let dir = tempfile::tempdir().unwrap();
    let key = format!("cert_fiel{}", "x".repeat(120_000));
    let config = serde_json::json!({ "external_services": { "oauth": { "mtls": { key: "/c.pem" } } } });
    std::fs::write(dir.path().join("tyk.conf"), config.to_string()).unwrap();
    let (out, took) = extsvc(dir.path(), &["resolve", "--config", "tyk.conf", "--strict"], &[]);
    let output = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(output.len() < 4096, "{} bytes of output", output.len());
    assert!(
        output.contains("external_services.oauth.mtls.cert_fielxxx") && output.contains("unknown key"),
        "{output}"
    );
}
