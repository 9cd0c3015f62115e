//! Redis through a forward proxy with TLS and a client certificate: `SET` then `GET`.
//!
//! ```text
//! cargo run -p extsvc --example redis_through_squid -- \
//!     http://127.0.0.1:3128 rediss://:password@localhost:6380/0 ca.pem client-chain.pem client-key.pem
//! ```
//!
//! The proxy may be `http://` or `https://` (TLS to squid, then `CONNECT`); the Redis URL
//! `redis://` or `rediss://`. The storage service's configuration is built here as a
//! tyk.conf would hold it; a gateway reads its own file instead.

use extsvc::client::ExternalServices;
use extsvc::config::{load_str, EnvSnapshot, LoadOptions};
use extsvc::redis::AsyncCommands;
use extsvc::tls::TlsOptions;

#[tokio::main]
#[allow(clippy::print_stdout, reason = "an example prints what it got")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [proxy, redis_url, ca, cert, key] = args.as_slice() else {
        eprintln!("usage: redis_through_squid PROXY_URL REDIS_URL CA_FILE CERT_FILE KEY_FILE");
        std::process::exit(2);
    };
    // Debug formatting quotes and escapes each value as JSON needs.
    let conf = format!(
        r#"{{"external_services": {{"storage": {{
            "proxy": {{"enabled": true, "http_proxy": {proxy:?}, "https_proxy": {proxy:?}}},
            "mtls": {{"enabled": true, "ca_file": {ca:?}, "cert_file": {cert:?}, "key_file": {key:?}}}
        }}}}}}"#
    );
    let env = EnvSnapshot::empty();
    let loaded = load_str(&conf, "example.conf", &env, &LoadOptions::default())?;
    let resolution = extsvc::resolve::resolve(&loaded.config, &env);
    let services = ExternalServices::build(&resolution, None, &TlsOptions::default()).await?;

    let mut redis = services.redis(redis_url)?;
    // Proxy, TLS (the client certificate included), AUTH and SELECT, checked now.
    redis.connect().await?;
    redis
        .set::<_, _, ()>("extsvc:example", "hello through the proxy")
        .await?;
    let value: String = redis.get("extsvc:example").await?;
    println!(
        "GET extsvc:example = {value:?} ({} connection(s) opened)",
        redis.connections_opened()
    );
    Ok(())
}
