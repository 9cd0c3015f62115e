//! `vault://` and `consul://` references (SPEC section 6) against
//! [`extsvc_tests::kv_peer`], an in-process peer that speaks Vault's and Consul's
//! documented KV HTTP APIs: Vault and Consul servers cannot be installed from this
//! machine's package registries. Vault KV v2 and v1 shapes, the token headers (403 without
//! them, 404 for a missing path), the stores' own `timeout` against a peer that stalls,
//! Consul over HTTPS with `tls_config` against a peer demanding a client certificate,
//! tokens given as references, and the stores configured by `TYK_GW_KV_*` alone.

use std::time::{Duration, Instant};

use extsvc_config::{load_str, EnvSnapshot, LoadOptions, SecretReference};
use extsvc_tests::kv_peer::{consul_value, vault_v1, vault_v2, KvPeer, KvPeerOptions};
use extsvc_tests::pki::{ClientAuthMode, ServerTlsOptions, TestPki};
use extsvc_tls::SecretSources;
use serde_json::json;

/// The stores of `conf` and `env`, each lookup under 500 ms unless the store sets its own.
fn sources_with(conf: &str, env: &[(&str, &str)]) -> Result<SecretSources, String> {
    let env = EnvSnapshot::from_iter(env.iter().copied());
    let loaded = load_str(conf, "tyk.conf", &env, &LoadOptions::default()).map_err(|e| e.to_string())?;
    SecretSources::from_config(&env, &loaded.config).map(|s| s.with_timeout(Duration::from_millis(500)))
}

fn sources(conf: &str) -> SecretSources {
    sources_with(conf, &[]).unwrap()
}

/// Resolves `reference`; a test that would hang fails after 20 s instead.
async fn resolve(sources: &SecretSources, reference: &str) -> Result<String, String> {
    let reference = SecretReference::parse(reference).unwrap();
    tokio::time::timeout(Duration::from_secs(20), sources.resolve(&reference))
        .await
        .expect("the lookup ends within 20 s")
        .map(|v| v.expose().to_owned())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn vault_kv_v2_and_v1_with_the_token_header() {
    let v2 = KvPeer::start(KvPeerOptions::vault(
        "s.gw",
        [(
            "/v1/secret/data/tyk/gw".to_owned(),
            vault_v2(&json!({"cert": "/etc/tyk/gw.pem", "n": 1})),
        )],
    ));
    let conf = json!({"kv": {"vault": {"address": v2.url(), "token": "s.gw", "kv_version": 2}}}).to_string();
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

    let v1 = KvPeer::start(KvPeerOptions::vault(
        "root",
        [("/v1/kv/gw".to_owned(), vault_v1(&json!({"key": "/etc/tyk/gw.key"})))],
    ));
    let conf = json!({"kv": {"vault": {"address": v1.url(), "token": "root", "kv_version": 1}}}).to_string();
    assert_eq!(
        resolve(&sources(&conf), "vault://kv/gw.key").await.unwrap(),
        "/etc/tyk/gw.key"
    );
}

#[tokio::test]
async fn consul_kv_with_token_and_datacenter() {
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let peer = KvPeer::start(KvPeerOptions::consul(
        "c-token",
        [("/v1/kv/tyk/gw/cert?dc=dc1".to_owned(), consul_value("tyk/gw/cert", pem))],
    ));
    let conf = json!({"kv": {"consul": {
        "address": peer.address(), "scheme": "http", "token": "c-token", "datacenter": "dc1"}}})
    .to_string();
    let consul = sources(&conf);
    assert_eq!(resolve(&consul, "consul://tyk/gw/cert").await.unwrap(), pem);
    assert_eq!(
        resolve(&consul, "consul://tyk/gw/key").await.unwrap_err(),
        "consul://tyk/gw/key: not found in the consul store"
    );
}

#[tokio::test]
async fn a_store_that_never_answers_costs_its_deadline_only() {
    let peer = KvPeer::start(KvPeerOptions {
        stall: true,
        ..KvPeerOptions::vault("t", [])
    });
    let conf = json!({"kv": {"vault": {"address": peer.url(), "token": "t"}}}).to_string();
    let started = Instant::now();
    let error = resolve(&sources(&conf), "vault://secret/gw.cert").await.unwrap_err();
    assert!(error.contains("the vault store did not answer within 500ms"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// `kv.vault.timeout` and `kv.consul.timeout` (Go's `time.Duration`: nanoseconds in
/// tyk.conf, `250ms` in `TYK_GW_KV_*`) are each store's lookup deadline, here shorter than
/// the 10 s store deadline, against peers that stall.
#[tokio::test]
async fn each_store_timeout_is_its_own_lookup_deadline() {
    let vault = KvPeer::start(KvPeerOptions {
        stall: true,
        ..KvPeerOptions::vault("t", [])
    });
    let consul = KvPeer::start(KvPeerOptions {
        stall: true,
        ..KvPeerOptions::consul("t", [])
    });
    let conf = json!({"kv": {
        "vault": {"address": vault.url(), "token": "t", "timeout": 200_000_000},
        "consul": {"address": consul.address(), "token": "t"}
    }})
    .to_string();
    let env = [("TYK_GW_KV_CONSUL_TIMEOUT", "250ms")];
    let stores = sources_with(&conf, &env).unwrap().with_timeout(Duration::from_secs(10));
    for (reference, after) in [("vault://secret/gw.cert", "200ms"), ("consul://tyk/gw", "250ms")] {
        let started = Instant::now();
        let error = resolve(&stores, reference).await.unwrap_err();
        assert!(error.ends_with(&format!("did not answer within {after}")), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{reference}: {:?}",
            started.elapsed()
        );
    }

    // What Go refuses for a time.Duration in tyk.conf is an error naming the key.
    let wrong = json!({"kv": {"vault": {"address": vault.url(), "timeout": "5s"}}}).to_string();
    let error = sources_with(&wrong, &[]).unwrap_err();
    assert!(
        error.contains("kv.vault.timeout: expected an integer number of nanoseconds"),
        "{error}"
    );
    // And kv_version of the wrong type no longer silently becomes 2.
    let wrong = json!({"kv": {"vault": {"address": vault.url(), "kv_version": "1"}}}).to_string();
    let error = sources_with(&wrong, &[]).unwrap_err();
    assert!(
        error.contains("kv.vault.kv_version: expected an integer, found string \"1\""),
        "{error}"
    );
}

/// Consul over HTTPS as `kv.consul.tls_config` says, against a peer that demands a client
/// certificate of the test CA: the CA file replaces the system roots, the client
/// certificate is presented, `address` is the name verified; no silent fall back.
#[tokio::test]
async fn consul_tls_config_against_a_peer_demanding_a_client_certificate() {
    let pki = TestPki::generate();
    let peer = KvPeer::start(KvPeerOptions {
        tls: Some(pki.server_config(ServerTlsOptions {
            client_auth: ClientAuthMode::Required,
            ..ServerTlsOptions::default()
        })),
        ..KvPeerOptions::consul(
            "c",
            [("/v1/kv/tyk/gw".to_owned(), consul_value("tyk/gw", "/etc/gw.pem"))],
        )
    });
    let conf = |tls: serde_json::Value, scheme: &str| {
        json!({"kv": {"consul": {"address": peer.address(), "scheme": scheme, "token": "c", "tls_config": tls}}})
            .to_string()
    };
    let full = json!({
        "ca_file": pki.ca_cert_path, "cert_file": pki.client_chain_path, "key_file": pki.client_key_path
    });
    assert_eq!(
        resolve(&sources(&conf(full.clone(), "https")), "consul://tyk/gw")
            .await
            .unwrap(),
        "/etc/gw.pem"
    );
    assert_eq!(peer.requests(), ["/v1/kv/tyk/gw"]);

    // Without the client certificate the peer refuses the handshake: no request.
    let no_cert = json!({"ca_file": pki.ca_cert_path});
    let error = resolve(&sources(&conf(no_cert, "https")), "consul://tyk/gw")
        .await
        .unwrap_err();
    assert!(
        error.starts_with("consul://tyk/gw: the consul store failed:"),
        "{error}"
    );
    assert_eq!(peer.requests().len(), 1, "{error}");
    // Without the CA the test server is not trusted (the system roots do not hold it)...
    let no_ca = json!({"cert_file": pki.client_chain_path, "key_file": pki.client_key_path});
    let error = resolve(&sources(&conf(no_ca.clone(), "https")), "consul://tyk/gw")
        .await
        .unwrap_err();
    assert!(error.contains("TLS to 127.0.0.1"), "{error}");
    // ... unless insecure_skip_verify says so (the client certificate still presented).
    let mut skip = no_ca;
    skip["insecure_skip_verify"] = json!(true);
    assert_eq!(
        resolve(&sources(&conf(skip, "https")), "consul://tyk/gw")
            .await
            .unwrap(),
        "/etc/gw.pem"
    );
    // `address` is the name verified: one the certificate does not name fails.
    let mut other_name = full.clone();
    other_name["address"] = json!("consul.example:8501");
    let error = resolve(&sources(&conf(other_name, "https")), "consul://tyk/gw")
        .await
        .unwrap_err();
    assert!(
        error.contains("TLS to 127.0.0.1") && error.contains("consul.example"),
        "{error}"
    );
    assert_eq!(peer.requests().len(), 2);

    // Never a silent downgrade: material with plain http, half a client certificate, and
    // an unreadable file are errors naming the key (and the file).
    let error = sources_with(&conf(full.clone(), "http"), &[]).unwrap_err();
    assert!(
        error.starts_with(
            "kv.consul.tls_config: a CA or client certificate is set, but Consul is reached over plain http"
        ),
        "{error}"
    );
    let half = json!({"ca_file": pki.ca_cert_path, "cert_file": pki.client_chain_path});
    let error = sources_with(&conf(half, "https"), &[]).unwrap_err();
    assert!(
        error.starts_with("kv.consul.tls_config: cert_file and key_file go together"),
        "{error}"
    );
    let mut missing = full;
    missing["key_file"] = json!("/nonexistent/consul-client.key");
    let error = sources_with(&conf(missing, "https"), &[]).unwrap_err();
    assert!(
        error.starts_with("kv.consul.tls_config.key_file: /nonexistent/consul-client.key: "),
        "{error}"
    );
}

/// A store's token given as a reference: `env://` and `secrets://` read when the store is
/// built, `consul://` for Vault's token through the Consul store; through its own store or
/// in a loop, an error naming the key. The token never appears in `Debug` or errors.
#[tokio::test]
async fn tokens_given_as_references() {
    let vault = KvPeer::start(KvPeerOptions::vault(
        "s.from-ref",
        [(
            "/v1/secret/data/gw".to_owned(),
            vault_v2(&json!({"cert": "/etc/gw.pem"})),
        )],
    ));
    let consul = KvPeer::start(KvPeerOptions::consul(
        "c-token",
        [(
            "/v1/kv/tyk/vault-token".to_owned(),
            consul_value("tyk/vault-token", "s.from-ref"),
        )],
    ));
    let conf = |vault_token: &str, consul_token: &str| {
        json!({
            "secrets": {"vt": "s.from-ref"},
            "kv": {
                "vault": {"address": vault.url(), "token": vault_token},
                "consul": {"address": consul.address(), "token": consul_token}
            }
        })
        .to_string()
    };
    let env = [("TYK_SECRET_VAULT_TOKEN", "s.from-ref")];
    for token in [
        "env://vault_token",
        "secrets://vt",
        "consul://tyk/vault-token",
        "kv://consul/tyk/vault-token",
    ] {
        let stores = sources_with(&conf(token, "c-token"), &env).unwrap();
        assert_eq!(
            resolve(&stores, "vault://secret/gw.cert").await.unwrap(),
            "/etc/gw.pem",
            "{token}"
        );
    }
    // Debug of the settings and of the store: the token never shows.
    let loaded = load_str(
        &conf("s.from-ref", "c-token"),
        "tyk.conf",
        &EnvSnapshot::empty(),
        &LoadOptions::default(),
    )
    .unwrap();
    let settings = loaded.config.kv.vault.unwrap();
    let store = extsvc_tls::VaultSource::new(&settings).unwrap();
    for shown in [format!("{settings:?}"), format!("{store:?}")] {
        assert!(!shown.contains("s.from-ref") && shown.contains("***"), "{shown}");
    }
    // Consul's token wrong: the lookup of Vault's token fails, named.
    let stores = sources_with(&conf("consul://tyk/vault-token", "nope"), &env).unwrap();
    let error = resolve(&stores, "vault://secret/gw.cert").await.unwrap_err();
    assert!(
        error.contains("kv.vault.token: consul://tyk/vault-token: the consul store failed: permission denied (403)"),
        "{error}"
    );

    for (vault_token, consul_token, expected) in [
        ("vault://secret/t.v", "c-token", "kv.vault.token: vault://secret/t.v: the vault store's token cannot be read from the vault store itself"),
        ("consul://tyk/vault-token", "vault://secret/t.c", "kv.vault.token: consul://tyk/vault-token: read through the consul store, whose token (kv.consul.token) is read through the vault store: a loop"),
        ("env://missing", "c-token", "kv.vault.token: env://missing: not found in the env store"),
        ("kv://corp/t", "c-token", "kv.vault.token: kv://corp/t: a KV store's token is read from env://, secrets:// or the consul store, not the corp store"),
    ] {
        let error = sources_with(&conf(vault_token, consul_token), &env).unwrap_err();
        assert_eq!(error, expected);
    }
}

/// Tyk reads the `kv` block from `TYK_GW_KV_*` too (envconfig's names, `KVVERSION`): a
/// Vault configured by the environment alone.
#[tokio::test]
async fn a_vault_configured_by_tyk_gw_kv_variables() {
    let peer = KvPeer::start(KvPeerOptions::vault(
        "s.env",
        [("/v1/kv/gw".to_owned(), vault_v1(&json!({"key": "/etc/gw.key"})))],
    ));
    let url = peer.url();
    let env = [
        ("TYK_GW_KV_VAULT_ADDRESS", url.as_str()),
        ("TYK_GW_KV_VAULT_TOKEN", "s.env"),
        ("TYK_GW_KV_VAULT_KVVERSION", "1"),
    ];
    let stores = sources_with("{}", &env).unwrap();
    assert_eq!(resolve(&stores, "vault://kv/gw.key").await.unwrap(), "/etc/gw.key");
    let error = sources_with(
        "{}",
        &[
            ("TYK_GW_KV_VAULT_ADDRESS", url.as_str()),
            ("TYK_GW_KV_VAULT_TIMEOUT", "5000"),
        ],
    )
    .unwrap_err();
    assert!(
        error.contains("TYK_GW_KV_VAULT_TIMEOUT: invalid duration \"5000\": missing unit"),
        "{error}"
    );
}

#[test]
fn an_unusable_store_address_is_an_error_naming_its_key() {
    let error = sources_with(r#"{"kv": {"vault": {"address": "ftp://vault:1"}}}"#, &[]).unwrap_err();
    assert!(error.starts_with("kv.vault.address: unsupported scheme"), "{error}");
}
