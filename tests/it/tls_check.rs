//! `extsvc_tls::check` on good and broken setups: every problem on its own line naming the
//! key path and file or id, expiry and clientAuth warnings, and no key material anywhere.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::tls_support::{file_value, resolution};
use extsvc_config::{ExternalServicesConfig, MtlsSettings, ServiceKind};
use extsvc_tests::pki::TestPki;
use extsvc_tls::{check, check_services, CertificateStore, MemoryStore};

fn configure(config: &mut ExternalServicesConfig, kind: ServiceKind, settings: impl FnOnce(&mut MtlsSettings)) {
    let mtls = &mut config.service_mut(kind).mtls;
    mtls.enabled = file_value(kind, "enabled", true);
    settings(mtls);
}

fn files(kind: ServiceKind, cert: PathBuf, key: PathBuf, ca: PathBuf) -> impl FnOnce(&mut MtlsSettings) {
    move |m| {
        m.cert_file = file_value(kind, "cert_file", cert);
        m.key_file = file_value(kind, "key_file", key);
        m.ca_file = file_value(kind, "ca_file", ca);
    }
}

fn assert_no_key_material(pki: &TestPki, text: &str) {
    for issued in [
        &pki.client,
        &pki.client_rsa,
        &pki.client_expiring,
        &pki.client_no_client_auth,
        &pki.rogue_client,
    ] {
        let body = issued.key_pem_body();
        for chunk in body.as_bytes().chunks(24) {
            assert!(
                !text.contains(std::str::from_utf8(chunk).unwrap()),
                "key material in: {text}"
            );
        }
    }
}

#[tokio::test]
async fn a_good_setup_has_no_problem_and_no_warning() {
    let pki = TestPki::generate();
    let mut config = ExternalServicesConfig::default();
    configure(
        &mut config,
        ServiceKind::Oauth,
        files(
            ServiceKind::Oauth,
            pki.client_chain_path.clone(),
            pki.client_key_path.clone(),
            pki.ca_cert_path.clone(),
        ),
    );
    let store = MemoryStore::new();
    store
        .insert_pem("storage-client", pki.client_rsa.bundle_pem().as_bytes())
        .unwrap();
    store.insert_pem("root", pki.ca_cert_pem.as_bytes()).unwrap();
    configure(&mut config, ServiceKind::Storage, |m| {
        m.cert_id = file_value(ServiceKind::Storage, "cert_id", "storage-client".to_owned());
        m.ca_cert_ids = file_value(ServiceKind::Storage, "ca_cert_ids", vec!["root".to_owned()]);
    });
    let report = check(
        &resolution(&config),
        Some(&store as &dyn CertificateStore),
        SystemTime::now(),
    )
    .await;
    assert!(report.is_ok(), "{report}");
    assert!(report.warnings.is_empty(), "{report}");
    assert_eq!(report.to_string(), "");
}

#[tokio::test]
async fn every_problem_of_every_service_is_reported() {
    let pki = TestPki::generate();
    let missing = pki.dir().join("missing.crt");
    let mut config = ExternalServicesConfig::default();
    // oauth: certificate file missing AND ca_file is a key: both reported.
    configure(
        &mut config,
        ServiceKind::Oauth,
        files(
            ServiceKind::Oauth,
            missing.clone(),
            pki.client_key_path.clone(),
            pki.client_key_path.clone(),
        ),
    );
    // storage: ids but no store.
    configure(&mut config, ServiceKind::Storage, |m| {
        m.cert_id = file_value(ServiceKind::Storage, "cert_id", "storage-client".to_owned());
    });
    // webhooks: key does not match.
    configure(
        &mut config,
        ServiceKind::Webhooks,
        files(
            ServiceKind::Webhooks,
            pki.client_chain_path.clone(),
            pki.rogue_client.key_path.clone(),
            pki.ca_cert_path.clone(),
        ),
    );
    let report = check(&resolution(&config), None, SystemTime::now()).await;
    assert!(!report.is_ok());
    assert_eq!(
        report.problems,
        vec![
            format!(
                "external_services.oauth.mtls.cert_file: failed to load client certificate {}: No such file or directory (os error 2)",
                missing.display()
            ),
            format!(
                "external_services.oauth.mtls.ca_file: failed to load CA certificates {}: no CERTIFICATE PEM block found",
                pki.client_key_path.display()
            ),
            "external_services.storage.mtls.cert_id: cert_id storage-client configured but no certificate store given"
                .to_owned(),
            format!(
                "external_services.webhooks.mtls.key_file: private key {} does not match client certificate {}",
                pki.rogue_client.key_path.display(),
                pki.client_chain_path.display()
            ),
        ]
    );
    let text = format!("{report} {report:?}");
    assert_eq!(report.to_string().lines().count(), 4);
    assert_no_key_material(&pki, &text);

    // With a store that lacks the id, the storage line names the id.
    let store = MemoryStore::new();
    let report = check(
        &resolution(&config),
        Some(&store as &dyn CertificateStore),
        SystemTime::now(),
    )
    .await;
    assert!(report.problems.contains(
        &"external_services.storage.mtls.cert_id: certificate not found in store: storage-client".to_owned()
    ));
}

#[tokio::test]
async fn expiry_and_client_auth_usage_are_warned_about() {
    let pki = TestPki::generate();
    let mut config = ExternalServicesConfig::default();
    configure(
        &mut config,
        ServiceKind::Health,
        files(
            ServiceKind::Health,
            pki.client_expiring.chain_path.clone(),
            pki.client_expiring.key_path.clone(),
            pki.ca_cert_path.clone(),
        ),
    );
    configure(
        &mut config,
        ServiceKind::Discovery,
        files(
            ServiceKind::Discovery,
            pki.client_no_client_auth.chain_path.clone(),
            pki.client_no_client_auth.key_path.clone(),
            pki.ca_cert_path.clone(),
        ),
    );
    let now = SystemTime::now();
    let report = check(&resolution(&config), None, now).await;
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.warnings.len(), 2, "{report}");
    let expiring = &report.warnings[0];
    assert!(
        expiring.starts_with(&format!(
            "external_services.health.mtls.cert_file: client certificate 1 of 2 in {} expires on ",
            pki.client_expiring.chain_path.display()
        )),
        "{expiring}"
    );
    // The date: 10 days from generation (allow for the day boundary).
    let in_days = |days: u64| {
        let at = now + Duration::from_secs(days * 86_400);
        let secs = at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        civil(secs / 86_400)
    };
    assert!(
        expiring.contains(&in_days(10)) || expiring.contains(&in_days(9)),
        "{expiring}"
    );
    assert!(
        expiring.ends_with("(in 9 days)") || expiring.ends_with("(in 10 days)"),
        "{expiring}"
    );
    assert_eq!(
        report.warnings[1],
        format!(
            "external_services.discovery.mtls.cert_file: client certificate 1 of 2 in {} lacks the clientAuth extended key usage; servers will reject it as a client certificate",
            pki.client_no_client_auth.chain_path.display()
        )
    );

    // 40 days later the same certificate is expired: a problem. The 10-year CAs are fine.
    let later = check(&resolution(&config), None, now + Duration::from_secs(40 * 86_400)).await;
    assert_eq!(later.problems.len(), 1, "{later}");
    assert!(later.problems[0].contains("client certificate 1 of 2 in") && later.problems[0].contains("expired on"));
    // The same 30-day window for CA certificates, as warnings.
    let near_ca_end = check(&resolution(&config), None, now + Duration::from_secs(3640 * 86_400)).await;
    assert!(
        near_ca_end.warnings.iter().any(
            |w| w.starts_with("external_services.discovery.mtls.ca_file: CA certificate") && w.contains("expires on")
        ),
        "{near_ca_end}"
    );
}

#[tokio::test]
async fn insecure_mode_is_warned_once_by_resolution_and_not_repeated_by_check() {
    let mut config = ExternalServicesConfig::default();
    configure(&mut config, ServiceKind::Oauth, |m| {
        m.insecure_skip_verify = file_value(ServiceKind::Oauth, "insecure_skip_verify", true);
    });
    let resolution = resolution(&config);
    assert_eq!(
        resolution.warnings,
        vec!["external_services.oauth.mtls.insecure_skip_verify: true: certificates of oauth targets are not verified; do not use this in production"]
    );
    let report = check(&resolution, None, SystemTime::now()).await;
    assert!(report.is_ok());
    assert_eq!(report.warnings, Vec::<String>::new());
}

#[tokio::test]
async fn every_piece_of_one_service_is_its_own_problem_and_what_loaded_is_still_checked() {
    let pki = TestPki::generate();
    let absent = |name: &str| pki.dir().join(name);
    let mut config = ExternalServicesConfig::default();
    // oauth: certificate, key and CA files all missing: three lines.
    configure(
        &mut config,
        ServiceKind::Oauth,
        files(
            ServiceKind::Oauth,
            absent("c.crt"),
            absent("k.key"),
            absent("absent-ca.crt"),
        ),
    );
    // storage: a store certificate that expires soon, and two of three CA ids missing.
    let store = MemoryStore::new();
    store
        .insert_pem("expiring", pki.client_expiring.bundle_pem().as_bytes())
        .unwrap();
    store.insert_pem("root", pki.ca_cert_pem.as_bytes()).unwrap();
    configure(&mut config, ServiceKind::Storage, |m| {
        m.cert_id = file_value(ServiceKind::Storage, "cert_id", "expiring".to_owned());
        let ids = ["missing-1", "root", "missing-2"].map(str::to_owned).to_vec();
        m.ca_cert_ids = file_value(ServiceKind::Storage, "ca_cert_ids", ids);
    });
    // health: a certificate without clientAuth whose key file is missing.
    configure(
        &mut config,
        ServiceKind::Health,
        files(
            ServiceKind::Health,
            pki.client_no_client_auth.chain_path.clone(),
            absent("health.key"),
            pki.ca_cert_path.clone(),
        ),
    );
    let report = check(
        &resolution(&config),
        Some(&store as &dyn CertificateStore),
        SystemTime::now(),
    )
    .await;
    let enoent = "No such file or directory (os error 2)";
    assert_eq!(
        report.problems,
        vec![
            format!(
                "external_services.oauth.mtls.cert_file: failed to load client certificate {}: {enoent}",
                absent("c.crt").display()
            ),
            format!(
                "external_services.oauth.mtls.key_file: failed to load private key {}: {enoent}",
                absent("k.key").display()
            ),
            format!(
                "external_services.oauth.mtls.ca_file: failed to load CA certificates {}: {enoent}",
                absent("absent-ca.crt").display()
            ),
            "external_services.storage.mtls.ca_cert_ids: certificate not found in store: missing-1".to_owned(),
            "external_services.storage.mtls.ca_cert_ids: certificate not found in store: missing-2".to_owned(),
            format!(
                "external_services.health.mtls.key_file: failed to load private key {}: {enoent}",
                absent("health.key").display()
            ),
        ],
        "{report}"
    );
    assert_eq!(report.warnings.len(), 2, "{report}");
    assert!(
        report.warnings[0].starts_with(
            "external_services.storage.mtls.cert_id: client certificate 1 of 2 in store entry expiring expires on "
        ),
        "{report}"
    );
    assert!(
        report.warnings[1].starts_with("external_services.health.mtls.cert_file: client certificate 1 of 2 in ")
            && report.warnings[1].contains("lacks the clientAuth extended key usage"),
        "{report}"
    );
    assert_no_key_material(&pki, &format!("{report} {report:?}"));

    // A certificate and a key that both load but do not match: the match is checked.
    let mut config = ExternalServicesConfig::default();
    configure(
        &mut config,
        ServiceKind::Webhooks,
        files(
            ServiceKind::Webhooks,
            pki.client_expiring.chain_path.clone(),
            pki.rogue_client.key_path.clone(),
            absent("absent-ca.crt"),
        ),
    );
    let report = check(&resolution(&config), None, SystemTime::now()).await;
    assert_eq!(report.problems.len(), 2, "{report}");
    assert!(
        report.problems[0].contains("does not match client certificate"),
        "{report}"
    );
    assert!(
        report.problems[1].contains("external_services.webhooks.mtls.ca_file"),
        "{report}"
    );
    assert!(report.warnings.iter().any(|w| w.contains("expires on")), "{report}");
}

#[tokio::test]
async fn check_services_checks_only_the_services_given() {
    let mut config = ExternalServicesConfig::default();
    for kind in [ServiceKind::Oauth, ServiceKind::Storage] {
        configure(&mut config, kind, |m| {
            m.ca_file = file_value(kind, "ca_file", PathBuf::from("/nonexistent/extsvc/ca.crt"));
        });
    }
    let resolution = resolution(&config);
    let report = check_services(
        resolution
            .services()
            .values()
            .iter()
            .filter(|s| s.kind != ServiceKind::Oauth),
        None,
        SystemTime::now(),
    )
    .await;
    assert_eq!(report.problems.len(), 1, "{report}");
    assert!(
        report.problems[0].starts_with("external_services.storage.mtls.ca_file: "),
        "{report}"
    );
}

/// `YYYY-MM-DD` of a day number since 1970-01-01 (test-side, by counting).
fn civil(mut days: u64) -> String {
    let mut year = 1970;
    loop {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let len = if leap { 366 } else { 365 };
        if days < len {
            let months = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            let mut month = 0;
            while days >= months[month] {
                days -= months[month];
                month += 1;
            }
            return format!("{year:04}-{:02}-{:02}", month + 1, days + 1);
        }
        days -= len;
        year += 1;
    }
}
