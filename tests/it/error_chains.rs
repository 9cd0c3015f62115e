//! Every error type prints each message once in a chain: its `Display` carries the
//! causes and `source()` is `None` (the rule in `extsvc::Error`'s docs), so `{:#}` in
//! anyhow, or any loop over `source()`, shows no line twice.

use extsvc::{EnvSnapshot, ExternalServices, ServiceKind};

/// Every message of the chain, as a chain printer walks it.
fn chain(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut messages = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        messages.push(cause.to_string());
        source = cause.source();
    }
    messages
}

fn assert_once(error: &(dyn std::error::Error + 'static), cause: &str) {
    let messages = chain(error);
    assert_eq!(messages.len(), 1, "a source() repeats the message: {messages:#?}");
    assert_eq!(messages[0].matches(cause).count(), 1, "{messages:#?}");
}

#[tokio::test]
async fn setup_client_and_tls_errors_each_say_it_once() {
    // A configuration error.
    let err = ExternalServices::builder()
        .tyk_conf_str(
            r#"{"external_services": {"oauth": {"proxy": {"enabled": true, "http_proxy": "http://proxy:wrong_port"}}}}"#,
            "gw.conf",
        )
        .env(EnvSnapshot::empty())
        .build()
        .await
        .unwrap_err();
    assert_once(&err, "external_services.oauth.proxy.http_proxy");

    // A TLS build error: a missing file, its I/O cause in the one message.
    let err = ExternalServices::builder()
        .tyk_conf_str(
            r#"{"external_services": {"oauth": {"mtls": {"enabled": true, "ca_file": "/nonexistent/ca.pem"}}}}"#,
            "gw.conf",
        )
        .env(EnvSnapshot::empty())
        .build()
        .await
        .unwrap_err();
    assert_once(&err, "No such file or directory");
    let extsvc::SetupError::Build(build) = &err else {
        panic!("{err}")
    };
    assert_once(build, "No such file or directory");
    assert_once(&build.cause, "No such file or directory");

    // A client error with an I/O cause: connection refused.
    let services = ExternalServices::builder()
        .env(EnvSnapshot::empty())
        .build()
        .await
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = services
        .client(ServiceKind::Health)
        .get(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap_err();
    assert_once(&err, "os error 111");
}

#[tokio::test]
async fn library_messages_name_no_cli_flag() {
    let err = ExternalServices::builder()
        .tyk_conf_str(
            r#"{"external_services": {"oauth": {"mtls": {"enabled": true, "cert_id": "gw-client"}}}}"#,
            "gw.conf",
        )
        .env(EnvSnapshot::empty())
        .build()
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("no certificate store given"), "{message}");
    assert!(!message.contains("--"), "{message}");
}
