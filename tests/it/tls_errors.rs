//! Every TLS material error of SPEC section 3, as users see it: the key path (which names
//! the service), the file or id, and never any key material.

use std::path::Path;
use std::sync::Arc;

use crate::tls_support::{file_value, resolved};
use extsvc_config::ServiceKind;
use extsvc_tests::pki::{pem_body, TestPki};
use extsvc_tls::{build_service_tls, CertificateStore, DirectoryStore, MemoryStore, TlsError, TlsOptions};

const OAUTH: ServiceKind = ServiceKind::Oauth;

fn files(kind: ServiceKind, cert: &Path, key: &Path) -> extsvc_resolve::ResolvedService {
    resolved(kind, |m| {
        m.cert_file = file_value(kind, "cert_file", cert.to_owned());
        m.key_file = file_value(kind, "key_file", key.to_owned());
    })
}

async fn error_of(service: &extsvc_resolve::ResolvedService, store: Option<Arc<dyn CertificateStore>>) -> TlsError {
    build_service_tls(service, store, &TlsOptions::default())
        .await
        .expect_err("the build must fail")
}

/// No key PEM body of the PKI appears in `text`.
fn assert_no_key_material(pki: &TestPki, text: &str) {
    for issued in [&pki.client, &pki.client_rsa, &pki.rogue_client, &pki.server] {
        let body = issued.key_pem_body();
        for chunk in body.as_bytes().chunks(24) {
            let chunk = std::str::from_utf8(chunk).unwrap();
            assert!(!text.contains(chunk), "key material in: {text}");
        }
    }
    for path in [&pki.client_key_sec1_path, &pki.client_rsa_key_pkcs1_path] {
        let body = pem_body(&std::fs::read_to_string(path).unwrap());
        assert!(!text.contains(&body[..32]), "key material in: {text}");
    }
}

#[tokio::test]
async fn missing_certificate_file() {
    let pki = TestPki::generate();
    let missing = Path::new("/etc/tyk/certs/oauth-client.crt");
    let error = error_of(&files(OAUTH, missing, &pki.client_key_path), None).await;
    assert_eq!(
        error.to_string(),
        "external_services.oauth.mtls.cert_file: failed to load client certificate /etc/tyk/certs/oauth-client.crt: No such file or directory (os error 2)"
    );
    assert_eq!(error.service(), OAUTH);
    assert_eq!(error.key_path(), "external_services.oauth.mtls.cert_file");

    let missing_key = pki.dir().join("absent.key");
    let error = error_of(&files(ServiceKind::Health, &pki.client_chain_path, &missing_key), None).await;
    assert_eq!(
        error.to_string(),
        format!(
            "external_services.health.mtls.key_file: failed to load private key {}: No such file or directory (os error 2)",
            missing_key.display()
        )
    );

    let missing_ca = pki.dir().join("absent-ca.crt");
    let service = resolved(ServiceKind::Storage, |m| {
        m.ca_file = file_value(ServiceKind::Storage, "ca_file", missing_ca.clone())
    });
    let error = error_of(&service, None).await;
    assert_eq!(
        error.to_string(),
        format!(
            "external_services.storage.mtls.ca_file: failed to load CA certificates {}: No such file or directory (os error 2)",
            missing_ca.display()
        )
    );
}

#[tokio::test]
async fn empty_pem_files_are_errors_not_empty_trust_stores() {
    let pki = TestPki::generate();
    let empty = pki.dir().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let error = error_of(&files(OAUTH, &empty, &pki.client_key_path), None).await;
    assert_eq!(
        error.to_string(),
        format!(
            "external_services.oauth.mtls.cert_file: failed to load client certificate {}: no CERTIFICATE PEM block found",
            empty.display()
        )
    );
    let service = resolved(OAUTH, |m| m.ca_file = file_value(OAUTH, "ca_file", empty.clone()));
    let error = error_of(&service, None).await;
    assert_eq!(
        error.to_string(),
        format!(
            "external_services.oauth.mtls.ca_file: failed to load CA certificates {}: no CERTIFICATE PEM block found",
            empty.display()
        )
    );
    let error = error_of(&files(OAUTH, &pki.client_chain_path, &empty), None).await;
    assert_eq!(
        error.to_string(),
        format!(
            "external_services.oauth.mtls.key_file: failed to load private key {}: no PRIVATE KEY (PKCS#8, RSA PKCS#1 or EC SEC1) PEM block found",
            empty.display()
        )
    );
}

#[tokio::test]
async fn wrong_pem_types_are_named() {
    let pki = TestPki::generate();
    // A key file given as ca_file.
    let service = resolved(OAUTH, |m| {
        m.ca_file = file_value(OAUTH, "ca_file", pki.client_key_path.clone())
    });
    let error = error_of(&service, None).await;
    assert_eq!(
        error.to_string(),
        format!(
            "external_services.oauth.mtls.ca_file: failed to load CA certificates {}: no CERTIFICATE PEM block found",
            pki.client_key_path.display()
        )
    );
    assert_no_key_material(&pki, &format!("{error} {error:?}"));
    // Certificate and key swapped.
    let error = error_of(&files(OAUTH, &pki.client_key_path, &pki.client_chain_path), None).await;
    assert!(error
        .to_string()
        .starts_with("external_services.oauth.mtls.cert_file: failed to load client certificate"));
    assert_no_key_material(&pki, &format!("{error} {error:?}"));
    let error = error_of(&files(OAUTH, &pki.client_chain_path, &pki.client_chain_path), None).await;
    assert!(
        error
            .to_string()
            .starts_with("external_services.oauth.mtls.key_file: failed to load private key"),
        "{error}"
    );
}

#[tokio::test]
async fn malformed_pem_never_echoes_the_key() {
    let pki = TestPki::generate();
    let truncated = pki.dir().join("truncated.key");
    let key = std::fs::read_to_string(&pki.client_key_path).unwrap();
    std::fs::write(&truncated, key.replace("-----END PRIVATE KEY-----", "")).unwrap();
    let error = error_of(&files(OAUTH, &pki.client_chain_path, &truncated), None).await;
    assert!(error.to_string().contains("malformed PEM"), "{error}");
    assert_no_key_material(&pki, &format!("{error} {error:?}"));
}

#[tokio::test]
async fn a_key_that_does_not_match_the_certificate() {
    let pki = TestPki::generate();
    let error = error_of(&files(OAUTH, &pki.client_chain_path, &pki.rogue_client.key_path), None).await;
    assert_eq!(
        error.to_string(),
        format!(
            "external_services.oauth.mtls.key_file: private key {} does not match client certificate {}",
            pki.rogue_client.key_path.display(),
            pki.client_chain_path.display()
        )
    );
    assert!(matches!(error, TlsError::KeyMismatch { .. }));
    assert_no_key_material(&pki, &format!("{error} {error:?}"));

    // The same in a store entry.
    let store = Arc::new(MemoryStore::new());
    let bundle = format!("{}{}", pki.client.chain_pem, pki.client_rsa.key_pem);
    store.insert_pem("mixed", bundle.as_bytes()).unwrap();
    let service = resolved(OAUTH, |m| m.cert_id = file_value(OAUTH, "cert_id", "mixed".to_owned()));
    let error = error_of(&service, Some(store)).await;
    assert_eq!(
        error.to_string(),
        "external_services.oauth.mtls.cert_id: private key store entry mixed does not match client certificate store entry mixed"
    );
}

#[tokio::test]
async fn ids_not_in_the_store() {
    let pki = TestPki::generate();
    let by_id = resolved(OAUTH, |m| {
        m.cert_id = file_value(OAUTH, "cert_id", "oauth-client-cert".to_owned())
    });
    let memory: Arc<dyn CertificateStore> = Arc::new(MemoryStore::new());
    let error = error_of(&by_id, Some(memory)).await;
    assert_eq!(
        error.to_string(),
        "external_services.oauth.mtls.cert_id: certificate not found in store: oauth-client-cert"
    );

    let directory: Arc<dyn CertificateStore> = Arc::new(DirectoryStore::new(pki.dir()));
    let error = error_of(&by_id, Some(directory.clone())).await;
    assert_eq!(
        error.to_string(),
        "external_services.oauth.mtls.cert_id: certificate not found in store: oauth-client-cert"
    );

    let ca_ids = resolved(ServiceKind::Discovery, |m| {
        m.ca_cert_ids = file_value(
            ServiceKind::Discovery,
            "ca_cert_ids",
            vec!["ca".to_owned(), "missing-ca".to_owned()],
        );
    });
    // `ca.pem` exists in a DirectoryStore over this directory? It is `ca.crt`: make `ca.pem`.
    std::fs::copy(&pki.ca_cert_path, pki.dir().join("ca.pem")).unwrap();
    let error = error_of(&ca_ids, Some(directory.clone())).await;
    assert_eq!(
        error.to_string(),
        "external_services.discovery.mtls.ca_cert_ids: certificate not found in store: missing-ca"
    );

    // A CA-only entry asked for as a client certificate: no key.
    let ca_as_client = resolved(OAUTH, |m| m.cert_id = file_value(OAUTH, "cert_id", "ca".to_owned()));
    let error = error_of(&ca_as_client, Some(directory.clone())).await;
    assert_eq!(
        error.to_string(),
        "external_services.oauth.mtls.cert_id: certificate store entry ca: no PRIVATE KEY (PKCS#8, RSA PKCS#1 or EC SEC1) PEM block found"
    );

    // An id that would escape the directory: the directory store refuses it; as an id the
    // store cannot hold, it is then tried as a file (Tyk's reading, relative to the working
    // directory, not the store's), and that file does not exist.
    let refused = directory.client_certificate("../etc/passwd").await.unwrap_err();
    assert!(
        refused.to_string().contains("invalid certificate id \"../etc/passwd\""),
        "{refused}"
    );
    let sneaky = resolved(OAUTH, |m| {
        m.cert_id = file_value(OAUTH, "cert_id", "../etc/passwd".to_owned())
    });
    let error = error_of(&sneaky, Some(directory)).await;
    assert_eq!(
        error.to_string(),
        "external_services.oauth.mtls.cert_id: certificate not found in store: ../etc/passwd"
    );
}

#[tokio::test]
async fn ids_without_a_store() {
    let by_id = resolved(OAUTH, |m| {
        m.cert_id = file_value(OAUTH, "cert_id", "oauth-client-cert".to_owned())
    });
    let error = error_of(&by_id, None).await;
    assert_eq!(
        error.to_string(),
        "external_services.oauth.mtls.cert_id: cert_id oauth-client-cert configured but no certificate store given"
    );
    let ca_ids = resolved(OAUTH, |m| {
        m.ca_cert_ids = file_value(OAUTH, "ca_cert_ids", vec!["a".to_owned(), "b".to_owned()])
    });
    // Each id on its own: without a store an id can still be inline PEM or a file (Tyk's
    // reading), so the first one that is neither is the error.
    let error = error_of(&ca_ids, None).await;
    assert_eq!(
        error.to_string(),
        "external_services.oauth.mtls.ca_cert_ids: ca_cert_ids a configured but no certificate store given"
    );
}

#[tokio::test]
async fn env_sourced_keys_name_the_variable() {
    let missing = Path::new("/nonexistent/client.crt");
    let mut service = files(OAUTH, missing, missing);
    if let extsvc_resolve::ClientCertificateSource::File { source, .. } = &mut service.mtls.client_certificate {
        *source = extsvc_config::Source::Env("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE".to_owned());
    }
    let error = error_of(&service, None).await;
    assert!(
        error.to_string().starts_with(
            "external_services.oauth.mtls.cert_file (env TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE): failed to load client certificate /nonexistent/client.crt:"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn built_configs_and_stores_show_no_key_material() {
    let pki = TestPki::generate();
    let store = Arc::new(MemoryStore::new());
    store.insert_pem("id", pki.client.bundle_pem().as_bytes()).unwrap();
    let by_id = resolved(OAUTH, |m| m.cert_id = file_value(OAUTH, "cert_id", "id".to_owned()));
    let tls = build_service_tls(&by_id, Some(store.clone()), &TlsOptions::default())
        .await
        .unwrap();
    let client = store.client_certificate("id").await.unwrap();
    let text = format!("{tls:?} {:?} {store:?} {client:?}", tls.target.current());
    assert!(
        text.contains("SingleCertAndKey"),
        "the resolver is in the Debug output: {text}"
    );
    assert_no_key_material(&pki, &text);
}

#[tokio::test]
async fn versions_that_leave_nothing_to_offer_fail_the_build() {
    // extsvc-config rejects min > max; a hand-made resolution still fails loudly here.
    // (`insecure_skip_verify` only so that the block is otherwise valid: an enabled block
    // with nothing configured is refused before versions are looked at.)
    let mut service = resolved(OAUTH, |m| {
        m.insecure_skip_verify = file_value(OAUTH, "insecure_skip_verify", true);
    });
    service.mtls.tls_min_version = file_value(OAUTH, "tls_min_version", extsvc_config::TlsVersion::Tls13).unwrap();
    service.mtls.tls_max_version = file_value(OAUTH, "tls_max_version", extsvc_config::TlsVersion::Tls12).unwrap();
    let error = error_of(&service, None).await;
    assert!(matches!(error, TlsError::Build { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("external_services.oauth.mtls: cannot build the TLS configuration:"),
        "{error}"
    );
}

/// One DER TLV (definite length).
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A self-signed X.509 **v1** certificate (no version field, no extensions) for `name`,
/// properly signed with a fresh P-256 key, as `(certificate PEM, key PEM)`. rcgen only
/// writes v3; this is what `openssl x509 -req` without extensions produces.
fn v1_certificate(name: &str) -> (String, String) {
    use base64::Engine as _;
    let key = rcgen::KeyPair::generate().unwrap();
    let ecdsa_sha256 = der(0x30, &der(0x06, &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]));
    let common_name = [der(0x06, &[0x55, 0x04, 0x03]), der(0x0C, name.as_bytes())].concat();
    let dn = der(0x30, &der(0x31, &der(0x30, &common_name)));
    let validity = der(
        0x30,
        &[der(0x17, b"250101000000Z"), der(0x17, b"491231235959Z")].concat(),
    );
    let tbs = der(
        0x30,
        &[
            der(0x02, &[0x01, 0x23]),
            ecdsa_sha256.clone(),
            dn.clone(),
            validity,
            dn,
            key.public_key_der(),
        ]
        .concat(),
    );
    let private = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let signer = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(private)
        .unwrap()
        .choose_scheme(&[rustls::SignatureScheme::ECDSA_NISTP256_SHA256])
        .unwrap();
    let signature = [&[0u8][..], &signer.sign(&tbs).unwrap()].concat();
    let certificate = der(0x30, &[tbs, ecdsa_sha256, der(0x03, &signature)].concat());
    let body = base64::engine::general_purpose::STANDARD.encode(certificate);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    );
    (pem, key.serialize_pem())
}

#[tokio::test]
async fn a_v1_client_certificate_is_named_with_a_readable_reason() {
    let (cert_pem, key_pem) = v1_certificate("v1 client");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("v1.crt"), dir.path().join("v1.key"));
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, &key_pem).unwrap();
    let error = error_of(&files(OAUTH, &cert, &key), None).await;
    assert_eq!(
        error.to_string(),
        format!(
            "external_services.oauth.mtls.cert_file: invalid client certificate in {}: X.509 v1 certificates are not supported by rustls/webpki; reissue as v3",
            cert.display()
        )
    );

    let store = Arc::new(MemoryStore::new());
    store
        .insert_pem("v1-client", format!("{cert_pem}{key_pem}").as_bytes())
        .unwrap();
    let by_id = resolved(ServiceKind::Storage, |m| {
        m.cert_id = file_value(ServiceKind::Storage, "cert_id", "v1-client".to_owned())
    });
    let error = error_of(&by_id, Some(store)).await;
    assert_eq!(
        error.to_string(),
        "external_services.storage.mtls.cert_id: invalid client certificate in store entry v1-client: X.509 v1 certificates are not supported by rustls/webpki; reissue as v3"
    );
    let body = pem_body(&key_pem);
    assert!(!format!("{error} {error:?}").contains(&body[..32]));
}
