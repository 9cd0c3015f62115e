//! Secrets by reference in the command (SPEC section 6): `resolve` shows a reference as
//! written with its notation and never looks it up; `check` resolves it, and an
//! unresolvable one is a problem naming the key path, the reference and the store.

mod common;

use common::{json, run};

const CONF: &str = r#"{
    "secrets": {"gw-key": "/etc/tyk/never-read.key"},
    "security": {"private_certificate_encoding_secret": "vault://secret/tyk.encoding"},
    "external_services": {"oauth": {"mtls": {
        "enabled": true,
        "cert_file": "vault://secret/gw.cert",
        "key_file": "secrets://gw-key",
        "ca_file": "env://oauth_ca"
    }}}
}"#;

#[test]
fn resolve_shows_references_and_never_their_values() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tyk.conf"), CONF).unwrap();
    let out = run(dir.path(), &["resolve", "--format", "json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let resolved = json(&out);
    let mtls = &resolved["services"]["oauth"]["mtls"];
    assert_eq!(mtls["client_certificate"]["cert_file"], "vault://secret/gw.cert");
    assert_eq!(mtls["client_certificate"]["reference"], "vault");
    assert_eq!(mtls["client_certificate"]["key_reference"], "secrets");
    assert_eq!(mtls["ca"]["reference"], "env");
    assert_eq!(resolved["certificate_store"]["encoding_secret"]["reference"], "vault");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("never-read.key"), "{text}");
}

#[test]
fn check_resolves_references_and_names_what_failed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tyk.conf"), CONF).unwrap();
    let out = run(dir.path(), &["check"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "external_services.oauth.mtls.cert_file: vault://secret/gw.cert: no secret store named vault is configured"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("external_services.oauth.mtls.ca_file: env://oauth_ca: not found in the env store"),
        "{stdout}"
    );
    // The secrets:// one resolved, to a path that does not exist: named as the path field.
    assert!(
        stdout.contains("external_services.oauth.mtls.key_file: failed to load private key"),
        "{stdout}"
    );
}
