//! Secrets by reference (SPEC section 6) against a real nginx that demands a client
//! certificate: `secrets://` and `env://` references in the mTLS path fields resolve to a
//! real certificate and key and nginx sees the client certificate; a reference that
//! cannot be resolved fails the build naming the key path, the reference and the store;
//! a secret rotated in its store rotates the certificate on `reload()`; hostile stores
//! (missing, slow, huge, not UTF-8) fail in bounded time, never printing a value.
//!
//! The rotating store is an in-process [`SecretSource`] (a gateway's own store plugs in
//! the same way); Vault and Consul themselves are not tested here.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use extsvc_client::{ExternalServices, ServiceClient};
use extsvc_config::{EnvSnapshot, SecretText, ServiceKind};
use extsvc_tests::nginx::{Nginx, NginxClientVerify, NginxOptions, NginxProtocols, NginxTls};
use extsvc_tests::pki::TestPki;
use extsvc_tls::{Material, SecretFuture, SecretSource, TlsOptions};
use http_body_util::BodyExt;
use serde_json::json;

fn nginx(pki: &TestPki) -> Nginx {
    Nginx::start(NginxOptions {
        tls: Some(NginxTls {
            cert_chain_path: pki.server_chain_path.clone(),
            key_path: pki.server_key_path.clone(),
            client_ca_path: Some(pki.ca_cert_path.clone()),
            verify_client: NginxClientVerify::On,
            protocols: NginxProtocols::Both,
        }),
        plain_http: false,
    })
}

/// One GET, with `Connection: close` so that the next one is a new connection (a pooled
/// connection keeps its handshake: that is the pool's lifetime setting).
async fn status(client: &ServiceClient, url: &str) -> u16 {
    let request = http::Request::get(url)
        .header(http::header::CONNECTION, "close")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let run = async {
        let response = client.request(request).await.unwrap();
        let status = response.status().as_u16();
        response.into_body().collect().await.unwrap();
        status
    };
    tokio::time::timeout(Duration::from_secs(30), run).await.unwrap()
}

/// A store whose one value can be replaced, answering after `delay`.
#[derive(Debug, Default)]
struct RotatingStore {
    value: Mutex<String>,
    delay: Duration,
}

impl SecretSource for RotatingStore {
    fn secret<'a>(&'a self, key: &'a str) -> SecretFuture<'a> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            let value = self.value.lock().unwrap().clone();
            Ok((key == "secret/gw.cert").then(|| SecretText::new(value)))
        })
    }
}

fn options() -> TlsOptions {
    TlsOptions::default()
        .with_refresh_interval(None)
        .with_store_timeout(Duration::from_millis(300))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_env_references_reach_nginx_with_the_client_certificate() {
    let pki = TestPki::generate();
    let server = nginx(&pki);
    let url = format!("{}/jwks", server.https_url());
    let conf = json!({
        "secrets": {"gw-cert": pki.client_chain_path, "ca": pki.ca_cert_pem},
        "external_services": {"oauth": {"mtls": {
            "enabled": true,
            "cert_file": "secrets://gw-cert",
            "key_file": "env://gw_key",
            "ca_file": "secrets://ca"
        }}}
    })
    .to_string();
    let env = EnvSnapshot::from_iter([("TYK_SECRET_GW_KEY", pki.client_key_path.to_str().unwrap())]);
    let services = ExternalServices::builder()
        .tyk_conf_str(&conf, "tyk.conf")
        .env(env)
        .tls_options(options())
        .build()
        .await
        .unwrap();
    assert_eq!(status(&services.client(ServiceKind::Oauth), &url).await, 200);
    let log = server.wait_for_requests(1, Duration::from_secs(10)).await;
    assert_eq!(log[0].client_verify, "SUCCESS", "{log:?}");
    assert!(log[0].client_dn.contains("extsvc test client"), "{log:?}");

    // Unresolvable: the key path, the reference and the store; never a value.
    let missing = conf.replace("secrets://gw-cert", "secrets://gw-certificate");
    let error = ExternalServices::builder()
        .tyk_conf_str(&missing, "tyk.conf")
        .env(EnvSnapshot::empty())
        .tls_options(options())
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(
            "external_services.oauth.mtls.cert_file: secrets://gw-certificate: not found in the secrets store"
        ),
        "{error}"
    );
    assert!(!error.contains("BEGIN"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_rotated_in_its_store_rotates_the_certificate_on_reload() {
    let pki = TestPki::generate();
    let server = nginx(&pki);
    let url = format!("{}/jwks", server.https_url());
    let second = pki.issue_client("second", "extsvc second client");
    let store = Arc::new(RotatingStore {
        value: Mutex::new(pki.client.chain_pem.clone()),
        delay: Duration::ZERO,
    });
    let key_store = Arc::new(RotatingStore {
        value: Mutex::new(pki.client.key_pem.clone()),
        delay: Duration::ZERO,
    });
    let conf = json!({"external_services": {"oauth": {"mtls": {
        "enabled": true,
        "cert_file": "vault://secret/gw.cert",
        "key_file": "kv://keys/secret/gw.cert",
        "ca_file": pki.ca_cert_path
    }}}})
    .to_string();
    let services = ExternalServices::builder()
        .tyk_conf_str(&conf, "tyk.conf")
        .env(EnvSnapshot::empty())
        .secret_source("vault", store.clone())
        .secret_source("keys", key_store.clone())
        .tls_options(options())
        .build()
        .await
        .unwrap();
    let oauth = services.client(ServiceKind::Oauth);
    assert_eq!(status(&oauth, &url).await, 200);

    *store.value.lock().unwrap() = second.chain_pem.clone();
    *key_store.value.lock().unwrap() = second.key_pem.clone();
    let reports = services.reload().await;
    assert_eq!(reports[0].changed, [Material::ClientCertificate], "{reports:?}");
    // The next connection presents the rotated certificate.
    for _ in 0..20 {
        assert_eq!(status(&oauth, &url).await, 200);
        let log = server.requests();
        if log.iter().any(|e| e.client_dn.contains("extsvc second client")) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nginx never saw the rotated certificate: {:?}", server.requests());
}

#[tokio::test]
async fn hostile_references_fail_in_bounded_time_naming_the_reference() {
    let conf = |cert_file: &str| {
        json!({"external_services": {"webhooks": {"mtls": {
            "enabled": true, "cert_file": cert_file, "key_file": "/k.pem"}}}})
        .to_string()
    };
    let build = |conf: String, env: EnvSnapshot, store: Option<Arc<RotatingStore>>| async move {
        let mut builder = ExternalServices::builder()
            .tyk_conf_str(&conf, "tyk.conf")
            .env(env)
            .tls_options(options());
        if let Some(store) = store {
            builder = builder.secret_source("vault", store);
        }
        let started = Instant::now();
        let error = builder.build().await.unwrap_err().to_string();
        (error, started.elapsed())
    };
    // Slow store: the lookup's deadline, not the store's pace.
    let slow = Arc::new(RotatingStore {
        value: Mutex::new("/c.pem".to_owned()),
        delay: Duration::from_secs(30),
    });
    let (error, took) = build(conf("vault://secret/gw.cert"), EnvSnapshot::empty(), Some(slow)).await;
    assert!(
        error.contains("vault://secret/gw.cert: the vault store did not answer within"),
        "{error}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    // Huge value.
    let huge = Arc::new(RotatingStore {
        value: Mutex::new("A".repeat(2 * 1024 * 1024)),
        delay: Duration::ZERO,
    });
    let (error, _) = build(conf("vault://secret/gw.cert"), EnvSnapshot::empty(), Some(huge)).await;
    assert!(error.contains("is larger than 1048576 bytes"), "{error}");
    assert!(error.len() < 512, "{} bytes", error.len());
    // No such store configured.
    let (error, _) = build(conf("consul://tyk/gw"), EnvSnapshot::empty(), None).await;
    assert!(
        error.contains("consul://tyk/gw: no secret store named consul is configured"),
        "{error}"
    );
    // Missing variable, and one that is not UTF-8.
    let (error, _) = build(conf("env://gw_cert"), EnvSnapshot::empty(), None).await;
    assert!(error.contains("env://gw_cert: not found in the env store"), "{error}");
    let latin1 = EnvSnapshot::from_os_vars([(
        OsString::from("TYK_SECRET_GW_CERT"),
        OsString::from_vec(b"/etc/\xe9.pem".to_vec()),
    )]);
    let (error, _) = build(conf("env://gw_cert"), latin1, None).await;
    assert!(
        error.contains("TYK_SECRET_GW_CERT: the value is not valid UTF-8"),
        "{error}"
    );
}
