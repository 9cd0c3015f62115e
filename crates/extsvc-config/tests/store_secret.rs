//! The certificate store's encoding secret: read from `security.private_certificate_encoding_secret`
//! and `secret` in the file and from their `TYK_GW_` variables, with sources, and never shown.

mod support;

use extsvc_config::{load_str, EncodingSecret, EnvSnapshot, LoadOptions, Source};
use support::{error_lines, load, load_with_env};

#[test]
fn both_keys_are_read_from_the_file_with_their_sources() {
    let loaded = load(
        r#"{"secret": "node-secret", "security": {"private_certificate_encoding_secret": "store-secret",
            "control_api_use_mutual_tls": false}}"#,
    )
    .unwrap();
    let store = &loaded.config.certificate_store;
    let encoding = store.private_certificate_encoding_secret.as_ref().unwrap();
    assert_eq!(encoding.value, EncodingSecret::new("store-secret"));
    assert_eq!(
        encoding.source,
        Source::Legacy("security.private_certificate_encoding_secret".into())
    );
    let secret = store.secret.as_ref().unwrap();
    assert_eq!(secret.value.expose(), b"node-secret");
    assert_eq!(secret.source.to_string(), "legacy:secret");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn variables_win_over_the_file_and_honour_the_prefix() {
    let vars = [
        ("TYK_GW_SECURITY_PRIVATECERTIFICATEENCODINGSECRET", "from-env"),
        ("TYK_GW_SECRET", "node-from-env"),
    ];
    let loaded = load_with_env(
        r#"{"secret": "file", "security": {"private_certificate_encoding_secret": "file"}}"#,
        &vars,
    )
    .unwrap();
    let store = &loaded.config.certificate_store;
    let encoding = store.private_certificate_encoding_secret.as_ref().unwrap();
    assert_eq!(encoding.value.expose(), b"from-env");
    assert_eq!(
        encoding.source.to_string(),
        "env:TYK_GW_SECURITY_PRIVATECERTIFICATEENCODINGSECRET"
    );
    assert_eq!(store.secret.as_ref().unwrap().source.to_string(), "env:TYK_GW_SECRET");

    let env = EnvSnapshot::from_iter([("MYGW_SECRET", "custom")]);
    let options = LoadOptions::default().with_env_prefix("MYGW_");
    let loaded = load_str("{}", "tyk.conf", &env, &options).unwrap();
    let secret = loaded.config.certificate_store.secret.unwrap();
    assert_eq!(secret.value.expose(), b"custom");
    assert_eq!(secret.source.to_string(), "env:MYGW_SECRET");
}

#[test]
fn a_secret_is_never_shown_not_even_with_the_wrong_type() {
    let loaded = load(r#"{"secret": "hunter2-topsecret"}"#).unwrap();
    let debug = format!("{:?}", loaded.config);
    assert!(!debug.contains("hunter2"), "{debug}");
    let errors = error_lines(
        r#"{"secret": 987654321, "security": {"private_certificate_encoding_secret": ["hunter2"]}}"#,
        &[],
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
    for line in &errors {
        assert!(!line.contains("987654321") && !line.contains("hunter2"), "{line}");
    }
    assert!(
        errors
            .iter()
            .any(|l| l.starts_with("secret:") && l.contains("a number")),
        "{errors:?}"
    );
    // A `security` block of another shape is the gateway's business: ignored.
    let loaded = load(r#"{"security": "not an object"}"#).unwrap();
    assert!(loaded
        .config
        .certificate_store
        .private_certificate_encoding_secret
        .is_none());
}
