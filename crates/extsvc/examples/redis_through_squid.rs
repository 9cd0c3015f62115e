//! Redis through a forward proxy with TLS and a client certificate: `SET` then `GET`.
//!
//! ```text
//! cargo run -p extsvc --example redis_through_squid -- \
//!     http://127.0.0.1:3128 rediss://:password@localhost:6380/0 ca.pem client-chain.pem client-key.pem
//! ```
//!
//! The proxy may be `http://` or `https://` (TLS to squid, then `CONNECT`); the Redis URL
//! `redis://` or `rediss://`. The storage service's configuration is written here as a
//! tyk.conf would hold it and handed to the front door, [`ExternalServices::builder`]; a
//! gateway points the builder at its own file instead (`.tyk_conf(path)`).
//!
//! The interop tests run [`set_then_get`] against a real squid and a redis-server with
//! `tls-auth-clients yes` (`tests/it/client_redis_socks.rs`).

use extsvc::client::ExternalServices;
use extsvc::config::EnvSnapshot;
use extsvc::redis::AsyncCommands;

#[tokio::main]
#[allow(clippy::print_stdout, reason = "an example prints what it got")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [proxy, redis_url, ca, cert, key] = args.as_slice() else {
        eprintln!("usage: redis_through_squid PROXY_URL REDIS_URL CA_FILE CERT_FILE KEY_FILE");
        std::process::exit(2);
    };
    let (value, opened) = set_then_get(proxy, redis_url, ca, cert, key).await?;
    println!("GET extsvc:example = {value:?} ({opened} connection(s) opened)");
    Ok(())
}

/// From the front door to a Redis handle; `SET extsvc:example`, then `GET` it back.
/// Returns the value read and how many connections the handle opened.
pub(crate) async fn set_then_get(
    proxy: &str,
    redis_url: &str,
    ca: &str,
    cert: &str,
    key: &str,
) -> Result<(String, u64), Box<dyn std::error::Error>> {
    // Debug formatting quotes and escapes each value as JSON needs.
    let conf = format!(
        r#"{{"external_services": {{"storage": {{
            "proxy": {{"enabled": true, "http_proxy": {proxy:?}, "https_proxy": {proxy:?}}},
            "mtls": {{"enabled": true, "ca_file": {ca:?}, "cert_file": {cert:?}, "key_file": {key:?}}}
        }}}}}}"#
    );
    let services = ExternalServices::builder()
        .tyk_conf_str(conf, "example.conf")
        // Only this configuration: no HTTP_PROXY / NO_PROXY from the process.
        .env(EnvSnapshot::empty())
        .build()
        .await?;

    let mut redis = services.redis(redis_url)?;
    // Proxy, TLS (the client certificate included), AUTH and SELECT, checked now.
    redis.connect().await?;
    redis
        .set::<_, _, ()>("extsvc:example", "hello through the proxy")
        .await?;
    let value: String = redis.get("extsvc:example").await?;
    Ok((value, redis.connections_opened()))
}
