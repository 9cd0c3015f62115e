//! Every client from one builder call, then one request through a forward proxy with
//! mutual TLS to the target, body read.
//!
//! ```text
//! cargo run -p extsvc --example fetch_through_proxy -- \
//!     http://proxy.internal:3128 client.crt client.key ca.pem https://api.internal/status
//! ```
//!
//! The configuration is set in code here (a gateway with its own settings format would do
//! this); `.tyk_conf("tyk.conf")` instead reads the same keys from a file. The process
//! environment is read once, by the builder (`HTTP_PROXY`, `NO_PROXY`, `TYK_GW_…`).

use extsvc::config::{MtlsBuilder, ProxyBuilder};
use extsvc::{ExternalServices, ExternalServicesConfig, ServiceKind};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [proxy, cert_file, key_file, ca_file, url] = args.as_slice() else {
        return Err("usage: fetch_through_proxy <proxy-url> <client.crt> <client.key> <ca.pem> <https-url>".into());
    };
    let config = ExternalServicesConfig::builder()
        .global(ProxyBuilder::new().enabled(true).http_proxy(proxy).https_proxy(proxy))
        .mtls(
            ServiceKind::Webhooks,
            MtlsBuilder::new()
                .enabled(true)
                .cert_file(cert_file)
                .key_file(key_file)
                .ca_file(ca_file),
        )
        .build()?;
    let services = ExternalServices::builder().config(config).build().await?;
    for warning in services.warnings() {
        eprintln!("warning: {warning}");
    }
    let response = services.client(ServiceKind::Webhooks).get(url.as_str()).await?;
    let status = response.status();
    let body = response.into_body().text().await?;
    eprintln!("{status}");
    // An example's output is the body it fetched.
    #[allow(clippy::print_stdout, reason = "the example prints what it fetched")]
    {
        println!("{body}");
    }
    Ok(())
}
