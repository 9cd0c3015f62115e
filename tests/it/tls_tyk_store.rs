//! Tyk's certificate store as Tyk writes it (SPEC section 3): entries made by `openssl`
//! (RFC 1423 encrypted keys, relabelled `ENCRYPTED PRIVATE KEY` as Tyk does), kept in a real
//! redis-server at `cert-raw-<id>`, and a client presenting them to a real nginx that
//! demands a client certificate. Also the secret's precedence, its errors, inline PEM, the
//! file fallback and CA chain entries.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use extsvc_client::ServiceClient;
use extsvc_config::{EnvSnapshot, LoadOptions, ServiceKind};
use extsvc_tests::client::get_verified;
use extsvc_tests::nginx::{Nginx, NginxClientVerify, NginxProtocols};
use extsvc_tests::pki::{IssuedCert, TestPki};
use extsvc_tests::redis::{RedisOptions, RedisServer};
use extsvc_tests::tyk_store::{encrypt_key, tyk_entry, KeyForm, LegacyCipher};
use extsvc_tls::{build_service_tls, CertificateStore, DirectoryStore, MemoryStore, RedisStore, TlsOptions};
use serde_json::json;

const SECRET: &str = "tyk-encoding-s3cret";

fn nginx(pki: &TestPki) -> Nginx {
    Nginx::start(pki.nginx_options(NginxClientVerify::On, NginxProtocols::Both))
}

/// The oauth client of a whole tyk.conf (`conf`: top-level keys beside
/// `external_services`) and environment, with `store`.
async fn oauth_client(
    conf: serde_json::Value,
    mtls: serde_json::Value,
    env: &[(&str, &str)],
    store: Option<Arc<dyn CertificateStore>>,
) -> Result<ServiceClient, String> {
    let env = EnvSnapshot::from_iter(env.iter().copied());
    let mut conf = conf;
    conf["external_services"] = json!({ "oauth": { "mtls": mtls } });
    let loaded = extsvc_config::load_str(&conf.to_string(), "tyk.conf", &env, &LoadOptions::default())
        .map_err(|e| e.to_string())?;
    let service = extsvc_resolve::resolve(&loaded.config, &env)
        .service(ServiceKind::Oauth)
        .clone();
    let tls = build_service_tls(&service, store, &TlsOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(ServiceClient::new(service, &tls))
}

/// `encrypted` (an RFC 1423 PEM block) with the ciphertext byte at `index` flipped
/// (negative: from the end).
fn corrupted(encrypted: &str, index: isize) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let (head, body): (Vec<&str>, Vec<&str>) = encrypted
        .lines()
        .partition(|l| l.starts_with("-----") || l.contains(':') || l.is_empty());
    let mut bytes = engine.decode(body.concat()).unwrap();
    let at = usize::try_from(index).unwrap_or_else(|_| bytes.len() - index.unsigned_abs());
    bytes[at] ^= 0x5a;
    let begin = head
        .iter()
        .take_while(|l| !l.starts_with("-----END"))
        .copied()
        .collect::<Vec<_>>();
    let end = head.iter().find(|l| l.starts_with("-----END")).unwrap();
    format!(
        "{}\n\n{}\n{end}\n",
        begin.join("\n").trim_end(),
        engine
            .encode(bytes)
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// Status and `x-ssl-client-verify` of one GET.
async fn get(client: &ServiceClient, url: &str) -> (u16, String) {
    let seen = get_verified(client, url).await.unwrap();
    (seen.status, seen.verify)
}

fn by_id(id: &str, pki: &TestPki) -> serde_json::Value {
    json!({ "enabled": true, "cert_id": id, "ca_file": pki.ca_cert_path })
}

/// The key file of `issued` in `form`'s source format, and its chain.
fn key_of(pki: &TestPki, form: KeyForm) -> (&Path, &IssuedCert) {
    match form {
        KeyForm::Pkcs1 => (&pki.client_rsa_key_pkcs1_path, &pki.client_rsa),
        KeyForm::Sec1 => (&pki.client_key_sec1_path, &pki.client),
        KeyForm::Pkcs8 => (&pki.client_key_path, &pki.client),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cipher_and_key_form_from_redis_is_presented_to_nginx() {
    let pki = TestPki::generate();
    let server = nginx(&pki);
    let url = format!("{}/jwks", server.https_url());
    let redis = RedisServer::start(RedisOptions::default());
    let store: Arc<dyn CertificateStore> = Arc::new(RedisStore::from_url(&redis.url()).unwrap());
    let conf = json!({ "security": { "private_certificate_encoding_secret": SECRET } });
    for form in [KeyForm::Pkcs1, KeyForm::Sec1, KeyForm::Pkcs8] {
        for cipher in LegacyCipher::ALL {
            // Tyk's label for most; openssl's own `RSA`/`EC PRIVATE KEY` for AES-128.
            let tyk_label = cipher != LegacyCipher::Aes128Cbc;
            let (key, issued) = key_of(&pki, form);
            let encrypted = encrypt_key(key, form, cipher, SECRET, tyk_label);
            let id = format!("org1{form:?}{}", cipher.dek_name()).to_lowercase();
            redis.set(&format!("cert-raw-{id}"), &tyk_entry(&issued.chain_pem, &encrypted));
            let client = oauth_client(conf.clone(), by_id(&id, &pki), &[], Some(store.clone()))
                .await
                .unwrap_or_else(|e| panic!("{form:?} {cipher:?}: {e}"));
            assert_eq!(
                get(&client, &url).await,
                (200, "SUCCESS".to_owned()),
                "{form:?} {cipher:?}"
            );
        }
    }
    // nginx writes its access log line after the response: wait for the last one.
    let mut requests = server.requests();
    for _ in 0..100 {
        if requests.len() >= 12 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        requests = server.requests();
    }
    assert_eq!(requests.len(), 12);
    assert!(
        requests
            .iter()
            .all(|r| r.client_verify == "SUCCESS" && !r.client_dn.is_empty()),
        "{requests:?}"
    );
}

#[tokio::test]
async fn wrong_and_missing_secrets_name_the_cert_id_and_the_setting() {
    let pki = TestPki::generate();
    let redis = RedisServer::start(RedisOptions::default());
    let store: Arc<dyn CertificateStore> = Arc::new(RedisStore::from_url(&redis.url()).unwrap());
    let encrypted = encrypt_key(
        &pki.client_key_path,
        KeyForm::Pkcs8,
        LegacyCipher::Aes256Cbc,
        SECRET,
        true,
    );
    redis.set("cert-raw-tyk-client", &tyk_entry(&pki.client.chain_pem, &encrypted));

    let wrong = oauth_client(
        json!({ "secret": "not-the-secret" }),
        by_id("tyk-client", &pki),
        &[],
        Some(store.clone()),
    )
    .await
    .err()
    .unwrap(); // a wrong secret fails the build
    assert!(
        wrong.starts_with("external_services.oauth.mtls.cert_id: cannot decrypt the private key of store entry tyk-client: the encoding secret is wrong or the entry is corrupt"),
        "{wrong}"
    );
    assert!(wrong.contains("the encoding secret came from legacy:secret"), "{wrong}");
    assert!(!wrong.contains("not-the-secret"), "{wrong}");

    // With the right secret, an entry corrupted early (the padding holds, the key does
    // not parse) or late (the padding breaks) gets the very message of a wrong secret:
    // nothing tells the cases apart (no padding oracle).
    for index in [0, -1] {
        redis.set(
            "cert-raw-tyk-client",
            &tyk_entry(&pki.client.chain_pem, &corrupted(&encrypted, index)),
        );
        let corrupt = oauth_client(
            json!({ "secret": SECRET }),
            by_id("tyk-client", &pki),
            &[],
            Some(store.clone()),
        )
        .await
        .err()
        .unwrap(); // a corrupt entry fails the build
        assert_eq!(corrupt, wrong, "ciphertext byte {index} changed");
    }
    redis.set("cert-raw-tyk-client", &tyk_entry(&pki.client.chain_pem, &encrypted));

    let missing = oauth_client(json!({}), by_id("tyk-client", &pki), &[], Some(store.clone()))
        .await
        .err()
        .unwrap(); // no secret fails the build
    assert!(
        missing.contains("store entry tyk-client")
            && missing.contains("AES-256-CBC")
            && missing.contains("no encoding secret is set")
            && missing.contains("security.private_certificate_encoding_secret"),
        "{missing}"
    );
    for error in [&wrong, &missing] {
        assert!(!error.contains(&pki.client.key_pem_body()[..24]), "{error}");
        assert!(!error.contains(SECRET), "{error}");
    }

    // A key that decrypts but belongs to another certificate: named like a wrong secret.
    let other = encrypt_key(
        &pki.client_rsa_key_pkcs1_path,
        KeyForm::Pkcs1,
        LegacyCipher::Aes256Cbc,
        SECRET,
        true,
    );
    redis.set("cert-raw-mismatch", &tyk_entry(&pki.client.chain_pem, &other));
    let mismatch = oauth_client(json!({ "secret": SECRET }), by_id("mismatch", &pki), &[], Some(store))
        .await
        .err()
        .unwrap(); // a mismatched key fails the build
    assert!(
        mismatch.contains("store entry mismatch: the encoding secret is wrong or the entry is corrupt")
            && mismatch.contains("legacy:secret"),
        "{mismatch}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_comes_from_the_environment_and_the_encoding_secret_wins() {
    let pki = TestPki::generate();
    let server = nginx(&pki);
    let url = format!("{}/", server.https_url());
    let redis = RedisServer::start(RedisOptions::default());
    let store: Arc<dyn CertificateStore> = Arc::new(RedisStore::from_url(&redis.url()).unwrap());
    let encrypted = encrypt_key(
        &pki.client_key_sec1_path,
        KeyForm::Sec1,
        LegacyCipher::Aes256Cbc,
        SECRET,
        true,
    );
    redis.set("cert-raw-c", &tyk_entry(&pki.client.chain_pem, &encrypted));

    // `secret` from the environment, over a wrong one in the file.
    let client = oauth_client(
        json!({ "secret": "wrong" }),
        by_id("c", &pki),
        &[("TYK_GW_SECRET", SECRET)],
        Some(store.clone()),
    )
    .await
    .unwrap();
    assert_eq!(get(&client, &url).await.0, 200);
    // The encoding secret (env) wins over `secret`.
    let client = oauth_client(
        json!({ "secret": "wrong" }),
        by_id("c", &pki),
        &[("TYK_GW_SECURITY_PRIVATECERTIFICATEENCODINGSECRET", SECRET)],
        Some(store.clone()),
    )
    .await
    .unwrap();
    assert_eq!(get(&client, &url).await.0, 200);
    // An empty encoding secret falls back to `secret` (Tyk's rule).
    let client = oauth_client(
        json!({ "secret": SECRET, "security": { "private_certificate_encoding_secret": "" } }),
        by_id("c", &pki),
        &[],
        Some(store.clone()),
    )
    .await
    .unwrap();
    assert_eq!(get(&client, &url).await.0, 200);
    // The encoding secret set but wrong: `secret` is not tried.
    let error = oauth_client(
        json!({ "secret": SECRET, "security": { "private_certificate_encoding_secret": "wrong" } }),
        by_id("c", &pki),
        &[],
        Some(store),
    )
    .await
    .err()
    .unwrap();
    assert!(
        error.contains("legacy:security.private_certificate_encoding_secret"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_and_memory_stores_decrypt_the_same_entries() {
    let pki = TestPki::generate();
    let server = nginx(&pki);
    let url = format!("{}/", server.https_url());
    let encrypted = encrypt_key(
        &pki.client_rsa_key_pkcs1_path,
        KeyForm::Pkcs1,
        LegacyCipher::DesEde3Cbc,
        SECRET,
        true,
    );
    let entry = tyk_entry(&pki.client_rsa.chain_pem, &encrypted);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rsa.pem"), &entry).unwrap();
    let memory = MemoryStore::new();
    memory.insert_pem("rsa", entry.as_bytes()).unwrap();
    let stores: [Arc<dyn CertificateStore>; 2] = [Arc::new(DirectoryStore::new(dir.path())), Arc::new(memory)];
    for store in stores {
        let client = oauth_client(json!({ "secret": SECRET }), by_id("rsa", &pki), &[], Some(store))
            .await
            .unwrap();
        assert_eq!(get(&client, &url).await, (200, "SUCCESS".to_owned()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_read_as_tyk_reads_them_inline_pem_files_and_chains() {
    let pki = TestPki::generate();
    let server = nginx(&pki);
    let url = format!("{}/", server.https_url());
    let redis = RedisServer::start(RedisOptions::default());
    let store: Arc<dyn CertificateStore> = Arc::new(RedisStore::from_url(&redis.url()).unwrap());
    let encrypted = encrypt_key(
        &pki.client_key_path,
        KeyForm::Pkcs8,
        LegacyCipher::Aes256Cbc,
        SECRET,
        true,
    );
    let entry = tyk_entry(&pki.client.chain_pem, &encrypted);
    let conf = json!({ "secret": SECRET });

    // Inline PEM in cert_id and in ca_cert_ids, with no store at all.
    let inline = json!({ "enabled": true, "cert_id": entry, "ca_cert_ids": [pki.ca_cert_pem] });
    let client = oauth_client(conf.clone(), inline, &[], None).await.unwrap();
    assert_eq!(get(&client, &url).await, (200, "SUCCESS".to_owned()));

    // Ids the store does not hold but that name files: read from the files.
    let dir = tempfile::tempdir().unwrap();
    let entry_file = dir.path().join("client-entry.pem");
    std::fs::write(&entry_file, &entry).unwrap();
    let files = json!({ "enabled": true, "cert_id": entry_file, "ca_cert_ids": [pki.ca_cert_path] });
    let client = oauth_client(conf.clone(), files, &[], Some(store.clone()))
        .await
        .unwrap();
    assert_eq!(get(&client, &url).await, (200, "SUCCESS".to_owned()));

    // A chain entry contributes its CA certificates: the client chain (leaf + intermediate)
    // gives the intermediate, which issued nginx's certificate.
    redis.set("cert-raw-client-chain", &pki.client.chain_pem);
    redis.set("cert-raw-c", &entry);
    let chain = json!({ "enabled": true, "cert_id": "c", "ca_cert_ids": ["client-chain"] });
    let client = oauth_client(conf.clone(), chain, &[], Some(store.clone()))
        .await
        .unwrap();
    assert_eq!(get(&client, &url).await, (200, "SUCCESS".to_owned()));
    // The rogue client's chain contributes only the rogue CA: nginx is not trusted.
    redis.set("cert-raw-rogue-chain", &pki.rogue_client.chain_pem);
    let rogue = json!({ "enabled": true, "cert_id": "c", "ca_cert_ids": ["rogue-chain"] });
    let client = oauth_client(conf.clone(), rogue, &[], Some(store.clone()))
        .await
        .unwrap();
    let req = http::Request::get(&url)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let error = client.request(req).await.err().unwrap(); // nginx's certificate is not trusted
    assert!(error.is_tls(), "{error}");
    // A chain with no CA in it is an error, not an empty trust store.
    let two_leaves = format!("{}{}", pki.client.cert_pem, pki.server.cert_pem);
    redis.set("cert-raw-leaves", &two_leaves);
    let leaves = json!({ "enabled": true, "ca_cert_ids": ["leaves"] });
    let error = oauth_client(conf.clone(), leaves, &[], Some(store.clone()))
        .await
        .err()
        .unwrap();
    assert!(
        error.contains("store entry leaves") && error.contains("without a CA certificate"),
        "{error}"
    );

    // Neither in the store nor a file: Tyk's message.
    let absent = json!({ "enabled": true, "cert_id": "/nonexistent/absent.pem" });
    let error = oauth_client(conf.clone(), absent, &[], Some(store.clone()))
        .await
        .err()
        .unwrap();
    assert_eq!(
        error,
        "external_services.oauth.mtls.cert_id: certificate not found in store: /nonexistent/absent.pem"
    );
    let absent = json!({ "enabled": true, "cert_id": "absent-id" });
    let error = oauth_client(conf, absent, &[], Some(store)).await.err().unwrap();
    assert_eq!(
        error,
        "external_services.oauth.mtls.cert_id: certificate not found in store: absent-id"
    );
}

#[tokio::test]
async fn encrypted_key_files_are_refused_clearly() {
    let pki = TestPki::generate();
    let dir = tempfile::tempdir().unwrap();
    for (name, tyk_label) in [("tyk.key", true), ("openssl.key", false)] {
        let key_file = dir.path().join(name);
        let encrypted = encrypt_key(
            &pki.client_key_sec1_path,
            KeyForm::Sec1,
            LegacyCipher::Aes256Cbc,
            SECRET,
            tyk_label,
        );
        std::fs::write(&key_file, encrypted).unwrap();
        let mtls = json!({ "enabled": true, "cert_file": pki.client_chain_path, "key_file": key_file });
        let error = oauth_client(json!({ "secret": SECRET }), mtls, &[], None)
            .await
            .err()
            .unwrap();
        assert!(
            error.starts_with("external_services.oauth.mtls.key_file: failed to load private key")
                && error.contains("encrypted key files are not supported"),
            "{error}"
        );
    }
}
