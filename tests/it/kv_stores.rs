//! `vault://` and `consul://` references (SPEC section 6) against in-process peers that
//! speak Vault's and Consul's documented KV HTTP APIs: Vault and Consul servers cannot be
//! installed from this machine's package registries, so these peers answer as the
//! documentation says — Vault KV v2 `GET /v1/<mount>/data/<path>` →
//! `{"data": {"data": {…}}}`, KV v1 `GET /v1/<mount>/<path>` → `{"data": {…}}`, both
//! checking `X-Vault-Token` (403 without it, 404 for a missing path); Consul
//! `GET /v1/kv/<key>?dc=…` → `[{"Key": …, "Value": <base64>}]`, checking
//! `X-Consul-Token`. A peer that never answers shows the lookup's deadline.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use extsvc_config::{load_str, EnvSnapshot, LoadOptions, SecretReference};
use extsvc_tls::SecretSources;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP/1.1 peer: `routes` maps a request target to (status, body); `token` is the
/// value the `header` must carry, else 403. `silent` never answers.
async fn peer(header: &'static str, token: &'static str, routes: HashMap<String, String>, silent: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    let Ok(n) = stream.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    head.extend_from_slice(&buf[..n]);
                }
                if silent {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    return;
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let target = text.split(' ').nth(1).unwrap_or("").to_owned();
                let authorised = text
                    .lines()
                    .any(|l| l.to_ascii_lowercase() == format!("{header}: {token}"));
                let (status, body) = if !authorised {
                    ("403 Forbidden", r#"{"errors":["permission denied"]}"#.to_owned())
                } else {
                    match routes.get(&target) {
                        Some(body) => ("200 OK", body.clone()),
                        None => ("404 Not Found", r#"{"errors":[]}"#.to_owned()),
                    }
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

fn sources(conf: &str) -> SecretSources {
    let loaded = load_str(conf, "tyk.conf", &EnvSnapshot::empty(), &LoadOptions::default()).unwrap();
    SecretSources::from_config(&EnvSnapshot::empty(), &loaded.config)
        .unwrap()
        .with_timeout(Duration::from_millis(500))
}

async fn resolve(sources: &SecretSources, reference: &str) -> Result<String, String> {
    sources
        .resolve(&SecretReference::parse(reference).unwrap())
        .await
        .map(|v| v.expose().to_owned())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn vault_kv_v2_and_v1_with_the_token_header() {
    let v2 = peer(
        "x-vault-token",
        "s.gw",
        HashMap::from([(
            "/v1/secret/data/tyk/gw".to_owned(),
            r#"{"data": {"data": {"cert": "/etc/tyk/gw.pem", "n": 1}, "metadata": {"version": 3}}}"#.to_owned(),
        )]),
        false,
    )
    .await;
    let conf = format!(r#"{{"kv": {{"vault": {{"address": "http://{v2}", "token": "s.gw", "kv_version": 2}}}}}}"#);
    let vault = sources(&conf);
    assert_eq!(
        resolve(&vault, "vault://secret/tyk/gw.cert").await.unwrap(),
        "/etc/tyk/gw.pem"
    );
    assert_eq!(
        resolve(&vault, "kv://vault/secret/tyk/gw.cert").await.unwrap(),
        "/etc/tyk/gw.pem"
    );
    let missing = resolve(&vault, "vault://secret/tyk/other.cert").await.unwrap_err();
    assert_eq!(missing, "vault://secret/tyk/other.cert: not found in the vault store");
    assert!(resolve(&vault, "vault://secret/tyk/gw.nokey")
        .await
        .unwrap_err()
        .contains("not found"));
    assert!(resolve(&vault, "vault://secret/tyk/gw.n")
        .await
        .unwrap_err()
        .contains("not a string"));

    // A wrong token: Vault's 403, named, and the token never in the message.
    let conf = conf.replace("s.gw", "s.wrong");
    let denied = resolve(&sources(&conf), "vault://secret/tyk/gw.cert")
        .await
        .unwrap_err();
    assert!(denied.contains("permission denied (403)"), "{denied}");
    assert!(!denied.contains("s.wrong"), "{denied}");

    let v1 = peer(
        "x-vault-token",
        "root",
        HashMap::from([(
            "/v1/kv/gw".to_owned(),
            r#"{"data": {"key": "/etc/tyk/gw.key"}}"#.to_owned(),
        )]),
        false,
    )
    .await;
    let conf = format!(r#"{{"kv": {{"vault": {{"address": "http://{v1}", "token": "root", "kv_version": 1}}}}}}"#);
    assert_eq!(
        resolve(&sources(&conf), "vault://kv/gw.key").await.unwrap(),
        "/etc/tyk/gw.key"
    );
}

#[tokio::test]
async fn consul_kv_with_token_and_datacenter() {
    let value = base64::engine::general_purpose::STANDARD
        .encode("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    let addr = peer(
        "x-consul-token",
        "c-token",
        HashMap::from([(
            "/v1/kv/tyk/gw/cert?dc=dc1".to_owned(),
            format!(r#"[{{"Key": "tyk/gw/cert", "Flags": 0, "Value": "{value}"}}]"#),
        )]),
        false,
    )
    .await;
    let conf = format!(
        r#"{{"kv": {{"consul": {{"address": "{addr}", "scheme": "http", "token": "c-token", "datacenter": "dc1"}}}}}}"#
    );
    let consul = sources(&conf);
    assert!(resolve(&consul, "consul://tyk/gw/cert")
        .await
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(
        resolve(&consul, "consul://tyk/gw/key").await.unwrap_err(),
        "consul://tyk/gw/key: not found in the consul store"
    );
}

#[tokio::test]
async fn a_store_that_never_answers_costs_its_deadline_only() {
    let addr = peer("x-vault-token", "t", HashMap::new(), true).await;
    let conf = format!(r#"{{"kv": {{"vault": {{"address": "http://{addr}", "token": "t"}}}}}}"#);
    let started = Instant::now();
    let error = resolve(&sources(&conf), "vault://secret/gw.cert").await.unwrap_err();
    assert!(error.contains("the vault store did not answer within 500ms"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn an_unusable_store_address_is_an_error_naming_its_key() {
    let loaded = load_str(
        r#"{"kv": {"vault": {"address": "ftp://vault:1"}}}"#,
        "tyk.conf",
        &EnvSnapshot::empty(),
        &LoadOptions::default(),
    )
    .unwrap();
    let error = SecretSources::from_config(&EnvSnapshot::empty(), &loaded.config).unwrap_err();
    assert!(error.starts_with("kv.vault.address: unsupported scheme"), "{error}");
}
