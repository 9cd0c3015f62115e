//! `extsvc probe` end to end: real requests from the binary to in-process targets, an
//! in-process proxy with fault knobs and a real redis-server, read back from the SPEC
//! section 5 JSON summary.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use extsvc_tests::fault_proxy::{FaultMode, FaultProxy};
use extsvc_tests::pki::{ClientAuthMode, ServerTlsOptions, ServerVersions, TestPki};
use extsvc_tests::redis::{RedisOptions, RedisServer};
use extsvc_tests::target::{TargetOptions, TestTarget};
use serde_json::Value;

fn probe(dir: &Path, config: &str, args: &[&str]) -> (Output, Value) {
    std::fs::write(dir.join("tyk.conf"), config).unwrap();
    let mut all = vec!["probe", "--config", "tyk.conf", "--format", "json"];
    all.extend_from_slice(args);
    let out = common::run(dir, &all, &[]);
    let json = common::json(&out);
    (out, json)
}

#[test]
fn direct_http_requests_are_counted_and_pooled() {
    let target = TestTarget::http(TargetOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/health", target.url());
    let (out, json) = probe(
        dir.path(),
        "{}",
        &["--service", "health", &url, "--count", "40", "--concurrency", "4"],
    );
    assert_eq!(out.status.code(), Some(0), "{json}");
    assert_eq!(json["service"], "health");
    assert_eq!(json["url"], url);
    assert_eq!(json["route"], "direct");
    assert_eq!(json["proxy"], Value::Null);
    assert_eq!(json["requests"], 40);
    assert_eq!(json["ok"], 40);
    assert_eq!(json["status"]["200"], 40);
    assert_eq!(json["errors"], serde_json::json!({}));
    assert_eq!(json["error"], Value::Null);
    assert_eq!(json["tls_version"], Value::Null);
    let opened = json["connections_opened"].as_u64().unwrap();
    assert!((1..=4).contains(&opened), "{json}");
    assert_eq!(
        target.stats().accepted,
        opened,
        "the client's count matches the server's"
    );
    assert_eq!(target.stats().requests, 40);
    for key in ["p50", "p90", "p99", "max"] {
        assert!(json["latency_us"][key].as_u64().unwrap() > 0, "{json}");
    }
    assert!(json["requests_per_sec"].as_f64().unwrap() > 0.0);
}

#[test]
fn https_through_a_proxy_with_mtls_reports_route_and_tls_version() {
    let pki = TestPki::generate();
    let tls = pki.server_config(ServerTlsOptions {
        client_auth: ClientAuthMode::Required,
        ..Default::default()
    });
    let target = TestTarget::https(TargetOptions::default(), tls);
    let proxy = FaultProxy::start(FaultMode::Require407 {
        user: "gw".into(),
        password: "s3cret p@ss".into(),
    });
    let config = format!(
        r#"{{"external_services": {{
            "global": {{"enabled": true, "https_proxy": "http://gw:s3cret%20p%40ss@{proxy}"}},
            "oauth": {{"mtls": {{"enabled": true, "cert_file": {cert:?}, "key_file": {key:?}, "ca_file": {ca:?}}}}}
        }}}}"#,
        proxy = proxy.addr(),
        cert = pki.client_chain_path,
        key = pki.client_key_path,
        ca = pki.ca_cert_path,
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/jwks", target.localhost_url());
    let (out, json) = probe(dir.path(), &config, &["--service", "oauth", &url, "--count", "3"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{json}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json["route"], "proxy");
    assert_eq!(json["proxy"], format!("http://gw:***@{}", proxy.addr()));
    assert_eq!(json["ok"], 3);
    assert_eq!(json["tls_version"], "1.3");
    let connects: Vec<_> = proxy.requests().into_iter().filter(|r| r.method == "CONNECT").collect();
    assert!(
        !connects.is_empty() && connects.iter().all(|r| r.has_proxy_authorization()),
        "{connects:?}"
    );
    assert!(
        target.requests().iter().all(|r| r.client_cert_presented),
        "the target saw the client certificate"
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("s3cret"), "{all}");
}

#[test]
fn a_proxy_demanding_credentials_fails_with_407_named() {
    let target = TestTarget::http(TargetOptions::default());
    let proxy = FaultProxy::start(FaultMode::Require407 {
        user: "gw".into(),
        password: "pw".into(),
    });
    let config = format!(
        r#"{{"external_services": {{"global": {{"enabled": true, "http_proxy": "http://{0}", "https_proxy": "http://{0}"}}}}}}"#,
        proxy.addr()
    );
    let dir = tempfile::tempdir().unwrap();
    // Refusing the CONNECT of an https:// URL, and answering the forwarded GET of an http://
    // URL: the same error either way.
    for scheme in ["https", "http"] {
        let url = format!("{scheme}://{}/", target.authority());
        let (out, json) = probe(dir.path(), &config, &["--service", "webhooks", &url, "--count", "2"]);
        assert_eq!(out.status.code(), Some(1), "{json}");
        assert_eq!(json["ok"], 0);
        assert_eq!(json["errors"]["proxy_auth"], 2, "{json}");
        assert_eq!(json["status"], serde_json::json!({}), "{json}");
        // Each request opened a connection to the proxy (a 407 connection is not reused).
        assert_eq!(json["connections_opened"], 2, "{json}");
        let error = json["error"].as_str().unwrap();
        assert!(
            error.contains("407") && error.contains(&proxy.addr().to_string()),
            "{error}"
        );
    }
    assert!(target.requests().is_empty(), "nothing reached the target");
}

#[test]
fn a_target_refusing_the_client_certificate_is_a_tls_error_with_either_version() {
    let pki = TestPki::generate();
    let config = format!(
        r#"{{"external_services": {{"oauth": {{"mtls": {{"enabled": true, "ca_file": {ca:?}}}}}}}}}"#,
        ca = pki.ca_cert_path
    );
    let dir = tempfile::tempdir().unwrap();
    // TLS 1.2 refuses inside the handshake; TLS 1.3 after the client's side of it is done,
    // with an alert on the first read. The operator sees the same kind either way.
    for (versions, says) in [
        (ServerVersions::Tls12Only, "refused the TLS handshake"),
        (ServerVersions::Tls13Only, "refuses the client certificate"),
    ] {
        let target = TestTarget::https(
            TargetOptions::default(),
            pki.server_config(ServerTlsOptions {
                client_auth: ClientAuthMode::Required,
                versions,
                ..Default::default()
            }),
        );
        let url = format!("{}/", target.url());
        let (out, json) = probe(dir.path(), &config, &["--service", "oauth", &url, "--count", "1"]);
        assert_eq!(out.status.code(), Some(1), "{json}");
        assert_eq!(json["errors"], serde_json::json!({"tls": 1}), "{versions:?}: {json}");
        let error = json["error"].as_str().unwrap();
        assert!(error.contains(says), "{versions:?}: {error}");
        assert_eq!(json["connections_opened"], 1, "{versions:?}: {json}");
    }
}

#[test]
fn a_hanging_proxy_times_out_naming_the_phase() {
    let proxy = FaultProxy::start(FaultMode::AcceptAndHang);
    let config = format!(
        r#"{{"external_services": {{"global": {{"enabled": true, "https_proxy": "http://{}"}}}}}}"#,
        proxy.addr()
    );
    let dir = tempfile::tempdir().unwrap();
    // An HTTPS target through the HTTP client, and a Redis one through the stream connector.
    for (service, url) in [
        ("discovery", "https://registry.example.com/"),
        ("storage", "rediss://cache.example.com:6380"),
    ] {
        let (out, json) = probe(dir.path(), &config, &["--service", service, url, "--timeout", "300ms"]);
        assert_eq!(out.status.code(), Some(1), "{json}");
        assert_eq!(json["errors"]["timeout"], 1, "{json}");
        let error = json["error"].as_str().unwrap().to_lowercase();
        assert!(error.contains("connect"), "the phase (proxy CONNECT) is named: {error}");
        // The TCP connection to the proxy was up when the deadline ran out.
        assert_eq!(json["connections_opened"], 1, "{service}: {json}");
    }
}

#[test]
fn redis_pings_share_the_kept_connection_of_the_storage_service() {
    let redis = RedisServer::start(RedisOptions {
        password: Some("redis-pw".into()),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let url = format!("redis://:redis-pw@127.0.0.1:{}", redis.port());
    let (out, json) = probe(
        dir.path(),
        "{}",
        &["--service", "storage", &url, "--count", "1000", "--concurrency", "16"],
    );
    assert_eq!(out.status.code(), Some(0), "{json}");
    assert_eq!(json["ok"], 1000);
    // Multiplexed: the PINGs of 16 workers share the client's kept connection(s).
    let opened = json["connections_opened"].as_u64().unwrap();
    assert!((1..=4).contains(&opened), "{json}");
    assert_eq!(json["url"], format!("redis://:***@127.0.0.1:{}", redis.port()));

    let wrong = format!("redis://:wrong@127.0.0.1:{}", redis.port());
    let (out, json) = probe(dir.path(), "{}", &["--service", "storage", &wrong]);
    assert_eq!(out.status.code(), Some(1), "{json}");
    assert_eq!(json["errors"]["redis"], 1, "{json}");
    assert!(
        json["error"].as_str().unwrap().contains("AuthenticationFailed"),
        "{json}"
    );
    assert!(!json.to_string().contains(":wrong@"), "{json}");

    let out = Command::new(env!("CARGO_BIN_EXE_extsvc"))
        .args(["probe", "--service", "oauth", &url])
        .env_clear()
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "redis URLs belong to storage");
}

#[test]
fn text_mode_prints_a_readable_summary() {
    let target = TestTarget::http(TargetOptions::default());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tyk.conf"), "{}").unwrap();
    let url = format!("{}/ping", target.url());
    let out = Command::new(env!("CARGO_BIN_EXE_extsvc"))
        .args([
            "probe",
            "--config",
            "tyk.conf",
            "--service",
            "health",
            &url,
            "--count",
            "20",
            "--concurrency",
            "2",
        ])
        .env_clear()
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("health {url} via direct (proxying not enabled for this service)")
    );
    assert!(lines[1].starts_with("20 requests, 20 ok, "), "{stdout}");
    assert!(lines[2].starts_with("latency p50 "), "{stdout}");
    assert_eq!(lines[3], "status 200: 20");
}

#[test]
fn passwords_in_urls_never_reach_the_output() {
    // A Redis password may hold '/', and route/probe show every URL redacted.
    let redis = RedisServer::start(RedisOptions {
        password: Some("pa/ss@word".into()),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let url = format!("redis://:pa%2Fss%40word@127.0.0.1:{}", redis.port());
    let (out, json) = probe(dir.path(), "{}", &["--service", "storage", &url]);
    assert_eq!(out.status.code(), Some(0), "{json}");
    let raw = format!("redis://:pa/ss@word@127.0.0.1:{}", redis.port());
    let (out, json) = probe(dir.path(), "{}", &["--service", "storage", &raw]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a raw '/' and '@' in the password work too: {json}"
    );
    assert_eq!(json["url"], format!("redis://:***@127.0.0.1:{}", redis.port()));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("ss@word"));

    for args in [
        &["route", "--service", "storage", raw.as_str()][..],
        &["route", "--service", "storage", raw.as_str(), "--format", "json"][..],
        &["route", "--service", "oauth", "https://u:hunter2@idp.example.com/"][..],
        &["probe", "--service", "oauth", "https://u:hunter2@idp.example.com/"][..],
        &["route", "--service", "oauth", "ftp://u:hunter2@idp.example.com/"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_extsvc"))
            .args(args)
            .env_clear()
            .current_dir(dir.path())
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !all.contains("hunter2") && !all.contains("ss@word") && !all.contains("pa/ss"),
            "{args:?}: {all}"
        );
    }
}

/// `extsvc probe --cert-store redis://…` with a Tyk store entry (key encrypted by openssl,
/// `cert-raw-<id>`) and the secret from the environment: nginx, demanding a client
/// certificate, answers 200.
#[test]
fn probe_presents_a_tyk_store_certificate_decrypted_with_the_env_secret() {
    use extsvc_tests::nginx::{Nginx, NginxClientVerify, NginxProtocols};
    use extsvc_tests::tyk_store::{encrypt_key, tyk_entry, KeyForm, LegacyCipher};

    let secret = "probe-encoding-s3cret";
    let pki = TestPki::generate();
    let nginx = Nginx::start(pki.nginx_options(NginxClientVerify::On, NginxProtocols::Both));
    let redis = RedisServer::start(RedisOptions::default());
    let key = encrypt_key(
        &pki.client_key_sec1_path,
        KeyForm::Sec1,
        LegacyCipher::Aes256Cbc,
        secret,
        true,
    );
    redis.set("cert-raw-org1client", &tyk_entry(&pki.client.chain_pem, &key));
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"{{"external_services": {{"oauth": {{"mtls": {{"enabled": true, "cert_id": "org1client", "ca_file": {ca:?}}}}}}}}}"#,
        ca = pki.ca_cert_path
    );
    std::fs::write(dir.path().join("tyk.conf"), config).unwrap();
    let url = format!("{}/jwks", nginx.https_url());
    let run = |env: &[(&str, &str)]| {
        Command::new(env!("CARGO_BIN_EXE_extsvc"))
            .args([
                "probe",
                "--config",
                "tyk.conf",
                "--format",
                "json",
                "--service",
                "oauth",
                &url,
            ])
            .args(["--count", "3", "--cert-store", &redis.url()])
            .env_clear()
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .output()
            .expect("extsvc runs")
    };
    let out = run(&[("TYK_GW_SECRET", secret)]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    assert!(out.status.success(), "{json}");
    assert_eq!(json["status"], serde_json::json!({"200": 3}), "{json}");
    let verified = nginx.requests().iter().filter(|r| r.client_verify == "SUCCESS").count();
    assert!(verified >= 1, "nginx saw no verified client certificate");

    // Without the secret the client cannot be built: a configuration failure, named.
    let out = run(&[]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains("store entry org1client") && all.contains("no encoding secret is set"),
        "{all}"
    );
    assert!(!all.contains(secret), "{all}");
}

/// `probe --storage --count 120 --interval 100ms` started now (about 12 s), to be waited
/// for with [`long_probe_result`].
fn start_long_probe(dir: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_extsvc"))
        .args(["probe", "--config", "tyk.conf", "--format", "json", "--storage"])
        .args(["--count", "120", "--interval", "100ms"])
        .env_clear()
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// The long probe's JSON, after checking that requests failed during the failover and
/// that, in the same process, many got through after it (about 15 went before the kill).
fn long_probe_result(probe: std::process::Child, what: &str) -> Value {
    let out = probe.wait_with_output().unwrap();
    let json = common::json(&out);
    assert_eq!(json["requests"].as_u64(), Some(120), "{json}");
    let ok = json["ok"].as_u64().unwrap();
    eprintln!(
        "probe --interval across the {what} failover: {ok} ok, {} failed: {json}",
        120 - ok
    );
    assert!(ok < 120, "no request failed during the {what} failover: {json}");
    assert!(
        ok > 30,
        "too few requests got through after the {what} failover: {json}"
    );
    json
}

/// `probe --storage` against a real 6-node Redis Cluster through squid: every PING and
/// SET/GET/DEL gets through, squid's log has a CONNECT for every primary, the JSON says
/// `topology {cluster, 3, 3}`; a probe with `--interval` running while a primary is
/// killed sees requests fail, then get through again in the same process; afterwards
/// every command gets through. `check --cert-store storage` reads a CA
/// from the same cluster.
#[test]
fn storage_probes_a_cluster_through_squid_before_and_after_a_failover() {
    use extsvc_tests::redis_topology::{redis_cli, RedisCluster, TOPOLOGY_PASSWORD};
    use extsvc_tests::squid::{Squid, SquidOptions};

    let mut cluster = RedisCluster::start();
    let squid = Squid::start(SquidOptions::default());
    let pki = TestPki::generate();
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({
        "storage": { "enable_cluster": true, "addrs": cluster.addresses(), "password": TOPOLOGY_PASSWORD, "timeout": 2 },
        "external_services": {
            "storage": { "proxy": { "enabled": true, "http_proxy": squid.url() } },
            "oauth": { "mtls": { "enabled": true, "ca_cert_ids": ["gw-ca"] } }
        }
    })
    .to_string();
    let args = ["--storage", "--count", "60", "--concurrency", "3"];

    let (out, json) = probe(dir.path(), &config, &args);
    assert_eq!(out.status.code(), Some(0), "{json}");
    assert_eq!(
        (json["requests"].as_u64(), json["ok"].as_u64()),
        (Some(60), Some(60)),
        "{json}"
    );
    assert_eq!(
        json["topology"],
        serde_json::json!({"kind": "cluster", "primaries": 3, "replicas": 3})
    );
    assert_eq!(json["route"], "proxy", "{json}");
    assert!(!json.to_string().contains(TOPOLOGY_PASSWORD));
    let primaries = cluster.primaries();
    let connects = squid_connects_to(&squid, &primaries);
    for port in primaries {
        assert!(
            connects.contains(&format!("127.0.0.1:{port}")),
            "no CONNECT to {port}: {connects:?}"
        );
    }

    // The certificate store in the same cluster.
    let ca = std::fs::read_to_string(&pki.ca_cert_path).unwrap();
    redis_cli(
        cluster.ports()[0],
        Some(TOPOLOGY_PASSWORD),
        &["-c", "SET", "cert-raw-gw-ca", &ca],
    )
    .unwrap();
    let out = common::run(
        dir.path(),
        &["check", "--config", "tyk.conf", "--cert-store", "storage"],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let long = start_long_probe(dir.path());
    std::thread::sleep(std::time::Duration::from_millis(1500));
    cluster.kill_primary();
    cluster.wait_until_ok();
    long_probe_result(long, "cluster");
    let (out, json) = probe(dir.path(), &config, &args);
    assert_eq!(out.status.code(), Some(0), "{json}");
    assert_eq!(json["ok"].as_u64(), Some(60), "{json}");
    assert_eq!(json["topology"]["primaries"], 3, "{json}");
}

/// `probe --storage` against a real Sentinel set (master, replica, three sentinels with
/// `requirepass`) through squid: every command gets through, with CONNECTs to the
/// sentinel asked and to the master; a probe with `--interval` running while the master
/// is killed sees requests fail, then get through again in the same process; afterwards
/// every command gets through, to the new master.
#[test]
fn storage_probes_a_sentinel_set_through_squid_before_and_after_a_failover() {
    use extsvc_tests::redis_topology::{RedisSentinels, MASTER_NAME, SENTINEL_PASSWORD, TOPOLOGY_PASSWORD};
    use extsvc_tests::squid::{Squid, SquidOptions};

    let mut set = RedisSentinels::start();
    let squid = Squid::start(SquidOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({
        "storage": { "master_name": MASTER_NAME, "addrs": set.sentinel_addresses(), "password": TOPOLOGY_PASSWORD,
                     "sentinel_password": SENTINEL_PASSWORD, "timeout": 2 },
        "external_services": { "storage": { "proxy": { "enabled": true, "http_proxy": squid.url() } } }
    })
    .to_string();
    let args = ["--storage", "--count", "30", "--concurrency", "3"];

    let (out, json) = probe(dir.path(), &config, &args);
    assert_eq!(out.status.code(), Some(0), "{json}");
    assert_eq!(json["ok"].as_u64(), Some(30), "{json}");
    assert_eq!(
        json["topology"],
        serde_json::json!({"kind": "sentinel", "primaries": 1, "replicas": 1})
    );
    let seen = squid_connects_to(&squid, &[set.sentinel_ports()[0], set.master_port()]);
    for port in [set.sentinel_ports()[0], set.master_port()] {
        assert!(
            seen.contains(&format!("127.0.0.1:{port}")),
            "no CONNECT to {port}: {seen:?}"
        );
    }
    let all = format!("{json}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !all.contains(TOPOLOGY_PASSWORD) && !all.contains(SENTINEL_PASSWORD),
        "{all}"
    );

    // A long probe (one request every 100 ms) while the master dies: the requests fail
    // for the failover window, then the same process gets through again.
    let long = start_long_probe(dir.path());
    std::thread::sleep(std::time::Duration::from_millis(1500));
    set.kill_master();
    let promoted = set.wait_for_new_master();
    long_probe_result(long, "sentinel");

    let (out, json) = probe(dir.path(), &config, &args);
    assert_eq!(out.status.code(), Some(0), "{json}");
    assert_eq!(json["ok"].as_u64(), Some(30), "{json}");
    let seen = squid_connects_to(&squid, &[promoted]);
    assert!(
        seen.contains(&format!("127.0.0.1:{promoted}")),
        "no CONNECT to the new master {promoted}: {seen:?}"
    );
}

/// The targets of squid's CONNECT log lines, once every `127.0.0.1:<port>` of `ports` is
/// among them or 5 s have passed: squid writes a tunnel's line when the tunnel closes,
/// a moment after the client has gone.
fn squid_connects_to(squid: &extsvc_tests::squid::Squid, ports: &[u16]) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let seen: Vec<String> = squid
            .requests()
            .into_iter()
            .filter(|r| r.method == "CONNECT")
            .map(|r| r.target)
            .collect();
        let all = ports.iter().all(|port| seen.contains(&format!("127.0.0.1:{port}")));
        if all || std::time::Instant::now() >= deadline {
            return seen;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
