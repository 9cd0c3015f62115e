//! Rotation end to end: the extsvc client (built by `ExternalServices`) against a real nginx
//! that demands a client certificate. A client certificate and a CA rotated in a directory
//! store, in files swapped the Kubernetes way (a `..data` symlink flip) and in Redis reach
//! the next new connection; nginx's `$ssl_client_s_dn` says which certificate it saw.
//!
//! Every request sends `Connection: close`, so each one is a new connection (pooled
//! connections keep their handshake until closed: that is the pool's lifetime setting).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use extsvc_client::{ErrorKind, ExternalServices, ServiceClient};
use extsvc_config::{EnvSnapshot, ServiceKind};
use extsvc_tests::client::{get_closing, resolve_conf};
use extsvc_tests::nginx::{Nginx, NginxClientVerify, NginxProtocols};
use extsvc_tests::pki::TestPki;
use extsvc_tests::redis::{RedisOptions, RedisServer};
use extsvc_tls::{CertificateStore, DirectoryStore, Material, RedisStore, TlsOptions};
use serde_json::json;

const INTERVAL: Duration = Duration::from_millis(50);
/// How long a rotation may take to reach a new connection in these tests.
const ROTATION_BOUND: Duration = Duration::from_secs(10);

fn nginx(pki: &TestPki) -> Nginx {
    Nginx::start(pki.nginx_options(NginxClientVerify::On, NginxProtocols::Both))
}

/// Every service's client for an `oauth.mtls` block, rotating every [`INTERVAL`].
async fn services(mtls: serde_json::Value, store: Option<Arc<dyn CertificateStore>>) -> ExternalServices {
    let env = EnvSnapshot::empty();
    let text = json!({ "external_services": { "oauth": { "mtls": mtls } } }).to_string();
    let resolution = resolve_conf(&text, &env);
    let options = TlsOptions::default().with_refresh_interval(Some(INTERVAL));
    ExternalServices::build(&resolution, store, &options).await.unwrap()
}

/// One GET on a new connection: nginx's `$ssl_client_s_dn`, or the client's error kind.
async fn client_dn(client: &ServiceClient, url: &str) -> Result<String, ErrorKind> {
    let head = get_closing(client, url).await.map_err(|e| e.kind())?;
    assert_eq!(head.status, 200);
    Ok(head
        .headers
        .get("x-ssl-client-s-dn")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default())
}

/// Requests on new connections until one is answered as `expected` says; panics after
/// [`ROTATION_BOUND`] with the last answer.
async fn until(client: &ServiceClient, url: &str, what: &str, expected: impl Fn(&Result<String, ErrorKind>) -> bool) {
    let deadline = Instant::now() + ROTATION_BOUND;
    loop {
        let answer = client_dn(client, url).await;
        if expected(&answer) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {answer:?} after {ROTATION_BOUND:?}"
        );
        tokio::time::sleep(INTERVAL / 2).await;
    }
}

/// nginx saw a client certificate with this common name.
fn presents(common_name: &str) -> impl Fn(&Result<String, ErrorKind>) -> bool {
    let common_name = format!("CN={common_name}");
    move |answer| matches!(answer, Ok(dn) if dn.contains(&common_name))
}

fn refused_by_the_client(answer: &Result<String, ErrorKind>) -> bool {
    *answer == Err(ErrorKind::Tls)
}

/// Writes `contents` next to `path` and renames it over `path` (what a careful writer does).
fn replace(path: &Path, contents: &str) {
    let staged = path.with_extension("staged");
    std::fs::write(&staged, contents).unwrap();
    std::fs::rename(&staged, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_and_a_ca_rotated_in_a_directory_store() {
    let pki = TestPki::generate();
    let server = nginx(&pki);
    let url = server.https_url();
    let dir = tempfile::tempdir().unwrap();
    let store = DirectoryStore::new(dir.path());
    std::fs::write(store.path_of("oauth-client"), pki.client.bundle_pem()).unwrap();
    // The CA entry trusts the wrong root first: nginx's certificate does not verify.
    std::fs::write(store.path_of("oauth-ca"), &pki.rogue_ca_cert_pem).unwrap();
    let services = services(
        json!({ "enabled": true, "cert_id": "oauth-client", "ca_cert_ids": ["oauth-ca"] }),
        Some(Arc::new(store.clone())),
    )
    .await;
    let client = services.client(ServiceKind::Oauth);
    assert_eq!(client_dn(&client, &url).await, Err(ErrorKind::Tls));

    replace(&store.path_of("oauth-ca"), &pki.ca_cert_pem);
    until(&client, &url, "CA rotated in", presents("extsvc test client")).await;

    let rotated = pki.issue_client("rotated-dir", "rotated in a directory");
    replace(&store.path_of("oauth-client"), &rotated.bundle_pem());
    until(
        &client,
        &url,
        "client certificate rotated",
        presents("rotated in a directory"),
    )
    .await;

    // And the trust taken away again: the next connection refuses nginx.
    replace(&store.path_of("oauth-ca"), &pki.rogue_ca_cert_pem);
    until(&client, &url, "CA rotated out", refused_by_the_client).await;
}

/// A Kubernetes secret volume: `name -> ..data/name`, `..data -> ..<timestamp>`; an update
/// writes a new timestamped directory and renames a new `..data` symlink over the old one.
struct SecretVolume {
    dir: tempfile::TempDir,
    version: u32,
}

impl SecretVolume {
    fn new(files: &[(&str, &str)]) -> SecretVolume {
        let mut volume = SecretVolume {
            dir: tempfile::tempdir().unwrap(),
            version: 0,
        };
        volume.update(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), volume.path(name)).unwrap();
        }
        volume
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// Writes every file into a new version directory and flips `..data` to it atomically.
    fn update(&mut self, files: &[(&str, &str)]) {
        self.version += 1;
        let version = format!("..2026_12_01_{:02}", self.version);
        std::fs::create_dir(self.path(&version)).unwrap();
        for (name, contents) in files {
            std::fs::write(self.path(&version).join(name), contents).unwrap();
        }
        let staged = self.path("..data_tmp");
        std::os::unix::fs::symlink(&version, &staged).unwrap();
        std::fs::rename(&staged, self.path("..data")).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_and_a_ca_rotated_in_a_kubernetes_secret_volume() {
    let pki = TestPki::generate();
    let server = nginx(&pki);
    let url = server.https_url();
    let mut volume = SecretVolume::new(&[
        ("tls.crt", &pki.client.chain_pem),
        ("tls.key", &pki.client.key_pem),
        ("ca.crt", &pki.ca_cert_pem),
    ]);
    let services = services(
        json!({
            "enabled": true,
            "cert_file": volume.path("tls.crt"),
            "key_file": volume.path("tls.key"),
            "ca_file": volume.path("ca.crt"),
        }),
        None,
    )
    .await;
    let client = services.client(ServiceKind::Oauth);
    assert!(presents("extsvc test client")(&client_dn(&client, &url).await));

    let rotated = pki.issue_client("rotated-k8s", "rotated in a secret volume");
    volume.update(&[
        ("tls.crt", &rotated.chain_pem),
        ("tls.key", &rotated.key_pem),
        ("ca.crt", &pki.ca_cert_pem),
    ]);
    until(
        &client,
        &url,
        "client certificate rotated",
        presents("rotated in a secret volume"),
    )
    .await;

    volume.update(&[
        ("tls.crt", &rotated.chain_pem),
        ("tls.key", &rotated.key_pem),
        ("ca.crt", &pki.rogue_ca_cert_pem),
    ]);
    until(&client, &url, "CA rotated out", refused_by_the_client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_and_a_ca_rotated_in_redis_and_reloaded_on_demand() {
    let pki = TestPki::generate();
    let server = nginx(&pki);
    let url = server.https_url();
    let redis = RedisServer::start(RedisOptions::default());
    redis.set("cert-raw-oauth-client", &pki.client.bundle_pem());
    redis.set("cert-raw-oauth-ca", &pki.rogue_ca_cert_pem);
    let store = RedisStore::from_url(&redis.url()).unwrap().with_key_prefix("cert-");
    let services = services(
        json!({ "enabled": true, "cert_id": "oauth-client", "ca_cert_ids": ["oauth-ca"] }),
        Some(Arc::new(store)),
    )
    .await;
    let client = services.client(ServiceKind::Oauth);
    assert_eq!(client_dn(&client, &url).await, Err(ErrorKind::Tls));

    // Polled: the CA, then the client certificate.
    redis.set("cert-raw-oauth-ca", &pki.ca_cert_pem);
    until(&client, &url, "CA rotated in", presents("extsvc test client")).await;
    let rotated = pki.issue_client("rotated-redis", "rotated in redis");
    redis.set("cert-raw-oauth-client", &rotated.bundle_pem());
    until(
        &client,
        &url,
        "client certificate rotated",
        presents("rotated in redis"),
    )
    .await;

    // On demand: `reload` reports per service what changed and what failed. Whatever the
    // refresh task has already picked up, one more reload after it finds nothing new.
    let again = pki.issue_client("again-redis", "reloaded from redis");
    redis.set("cert-raw-oauth-client", &again.bundle_pem());
    redis.set("cert-raw-oauth-ca", "not a certificate");
    let reports = services.reload().await;
    assert_eq!(reports.len(), 5);
    let oauth = reports.iter().find(|r| r.service == ServiceKind::Oauth).unwrap();
    assert!(
        oauth.changed.is_empty() || oauth.changed == [Material::ClientCertificate],
        "{oauth:?}"
    );
    assert_eq!(oauth.failed.len(), 1, "{oauth:?}");
    let failure = oauth.failed[0].to_string();
    assert!(
        failure.contains("ca_cert_ids") && failure.contains("oauth-ca"),
        "{failure}"
    );
    assert!(reports
        .iter()
        .filter(|r| r.service != ServiceKind::Oauth)
        .all(|r| r.is_unchanged()));
    // The broken CA entry kept the last good roots; the new certificate is presented.
    assert!(presents("reloaded from redis")(&client_dn(&client, &url).await));
}
