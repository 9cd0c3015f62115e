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

/// A Vault token — written in tyk.conf, given through `TYK_GW_KV_VAULT_TOKEN`, or the
/// value an `env://` token reference reads — never appears in `resolve` or `check`
/// output, whatever fails (here: nothing listens at the Vault address); a token reference
/// that cannot be resolved is named by its key.
#[test]
fn vault_tokens_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let conf = |token: &str| {
        format!(
            r#"{{"kv": {{"vault": {{"address": "http://127.0.0.1:1", "token": "{token}", "timeout": 2000000000}}}},
                "external_services": {{"oauth": {{"mtls": {{"enabled": true,
                    "cert_file": "vault://secret/gw.cert", "key_file": "vault://secret/gw.key"}}}}}}}}"#
        )
    };
    for (token, env) in [
        ("s.file-token-1234", vec![]),
        (
            "env://vault_token",
            vec![("TYK_SECRET_VAULT_TOKEN", "s.ref-token-5678")],
        ),
        ("", vec![("TYK_GW_KV_VAULT_TOKEN", "s.env-token-9012")]),
    ] {
        std::fs::write(dir.path().join("tyk.conf"), conf(token)).unwrap();
        for args in [&["check"][..], &["resolve", "--format", "json"][..]] {
            let out = run(dir.path(), args, &env);
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            for secret in ["s.file-token-1234", "s.ref-token-5678", "s.env-token-9012"] {
                assert!(!text.contains(secret), "{args:?}: {text}");
            }
            if args[0] == "check" {
                assert!(
                    text.contains("vault://secret/gw.cert: the vault store failed: cannot connect"),
                    "{text}"
                );
            }
        }
    }
    std::fs::write(dir.path().join("tyk.conf"), conf("env://missing")).unwrap();
    let out = run(dir.path(), &["check"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("kv.vault.token: env://missing: not found in the env store"),
        "{text}"
    );
}
