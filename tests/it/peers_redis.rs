//! Smoke tests of the redis-server launcher (`extsvc_tests::redis`): PING on the plain and
//! TLS ports, client-certificate enforcement, requirepass, and `set`/`get` of PEM bundles.

use extsvc_tests::pki::TestPki;
use extsvc_tests::raw_client::{tls_client_config, tls_connect, ClientVersions};
use extsvc_tests::redis::{RedisOptions, RedisServer, RedisTls, RedisTlsAuthClients};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends one inline command and reads one reply line (e.g. `+PONG`).
async fn command<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, line: &str) -> std::io::Result<String> {
    stream.write_all(format!("{line}\r\n").as_bytes()).await?;
    stream.flush().await?;
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while !reply.ends_with(b"\r\n") {
        if stream.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        reply.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&reply).trim_end().to_owned())
}

fn tls_options(pki: &TestPki, auth_clients: RedisTlsAuthClients, plain: bool) -> RedisOptions {
    RedisOptions {
        plain,
        tls: Some(RedisTls {
            cert_chain_path: pki.server_chain_path.clone(),
            key_path: pki.server_key_path.clone(),
            ca_path: pki.ca_cert_path.clone(),
            auth_clients,
            admin_client: Some((pki.client_chain_path.clone(), pki.client_key_path.clone())),
        }),
        password: None,
    }
}

#[tokio::test]
async fn plain_ping_and_pem_bundles_round_trip() {
    let pki = TestPki::generate();
    let redis = RedisServer::start(RedisOptions::default());
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}", redis.port()));
    let mut stream = TcpStream::connect(("127.0.0.1", redis.port())).await.unwrap();
    assert_eq!(command(&mut stream, "PING").await.unwrap(), "+PONG");

    let bundle = pki.client.bundle_pem();
    redis.set("raw-client", &bundle);
    assert_eq!(
        redis.get("raw-client").as_deref(),
        Some(bundle.as_str()),
        "byte for byte"
    );
    assert_eq!(redis.get("raw-missing"), None);
    assert_eq!(
        command(&mut stream, "STRLEN raw-client").await.unwrap(),
        format!(":{}", bundle.len())
    );
}

#[tokio::test]
async fn tls_only_server_requires_a_client_certificate() {
    let pki = TestPki::generate();
    let redis = RedisServer::start(tls_options(&pki, RedisTlsAuthClients::Yes, false));
    assert_eq!(redis.tls_url(), format!("rediss://localhost:{}", redis.tls_port()));

    let with_cert = tls_client_config(
        pki.root_store(),
        Some((pki.client.chain_der.clone(), pki.client.key_der())),
        ClientVersions::Both,
    );
    let tcp = TcpStream::connect(("127.0.0.1", redis.tls_port())).await.unwrap();
    let mut tls = tls_connect(tcp, with_cert, "localhost").await.unwrap();
    assert_eq!(command(&mut tls, "PING").await.unwrap(), "+PONG");

    // set/get go over TLS with the admin client certificate.
    redis.set("raw-ca", &pki.ca_cert_pem);
    assert_eq!(command(&mut tls, "EXISTS raw-ca").await.unwrap(), ":1");

    let without_cert = tls_client_config(pki.root_store(), None, ClientVersions::Both);
    let tcp = TcpStream::connect(("127.0.0.1", redis.tls_port())).await.unwrap();
    // With TLS 1.3 the refusal may show only on the first read.
    let refused = match tls_connect(tcp, without_cert, "localhost").await {
        Err(_) => true,
        Ok(mut tls) => command(&mut tls, "PING").await.is_err(),
    };
    assert!(refused, "redis served a TLS client without a certificate");
}

#[tokio::test]
async fn tls_port_without_client_auth_and_plain_port_side_by_side() {
    let pki = TestPki::generate();
    let redis = RedisServer::start(tls_options(&pki, RedisTlsAuthClients::No, true));
    let tcp = TcpStream::connect(("127.0.0.1", redis.tls_port())).await.unwrap();
    let mut tls = tls_connect(
        tcp,
        tls_client_config(pki.root_store(), None, ClientVersions::Both),
        "localhost",
    )
    .await
    .unwrap();
    assert_eq!(command(&mut tls, "PING").await.unwrap(), "+PONG");
    let mut plain = TcpStream::connect(("127.0.0.1", redis.port())).await.unwrap();
    assert_eq!(command(&mut plain, "PING").await.unwrap(), "+PONG");
}

#[tokio::test]
async fn requirepass_is_enforced_and_set_authenticates() {
    let redis = RedisServer::start(RedisOptions {
        password: Some("p4ss word".into()),
        ..RedisOptions::default()
    });
    assert!(!format!("{redis:?}").contains("p4ss"));
    let mut stream = TcpStream::connect(("127.0.0.1", redis.port())).await.unwrap();
    assert!(command(&mut stream, "PING").await.unwrap().starts_with("-NOAUTH"));
    assert_eq!(command(&mut stream, "AUTH \"p4ss word\"").await.unwrap(), "+OK");
    assert_eq!(command(&mut stream, "PING").await.unwrap(), "+PONG");
    redis.set("k", "v");
    assert_eq!(redis.get("k").as_deref(), Some("v"));
}
