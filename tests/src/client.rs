//! How the tests build an extsvc client: the front door a gateway uses,
//! [`ExternalServices::builder`] with tyk.conf text and an explicit environment
//! ([`service_client`]), or from one resolved service ([`client_of`]).

use extsvc::client::Connected;
use extsvc::config::{load_str, LoadOptions};
use extsvc::resolve::{resolve, Resolution, ResolvedService};
use extsvc::tls::build_service_tls;
use extsvc::{EnvSnapshot, ExternalServices, ServiceClient, ServiceKind, SetupError, TlsOptions};

/// tyk.conf text with one service block: `kind` with these `proxy` and `mtls` blocks.
pub fn service_conf(kind: ServiceKind, proxy: serde_json::Value, mtls: serde_json::Value) -> String {
    serde_json::json!({ "external_services": { kind.as_str(): { "proxy": proxy, "mtls": mtls } } }).to_string()
}

/// A `proxy` block sending every scheme through `url`.
pub fn proxied(url: &str) -> serde_json::Value {
    serde_json::json!({ "enabled": true, "http_proxy": url, "https_proxy": url })
}

/// The resolution of `tyk_conf` (JSON text, which must load) under `env`.
pub fn resolve_conf(tyk_conf: &str, env: &EnvSnapshot) -> Resolution {
    let loaded = load_str(tyk_conf, "tyk.conf", env, &LoadOptions::default()).expect("the test's tyk.conf loads");
    resolve(&loaded.config, env)
}

/// `kind` resolved from `tyk_conf` (JSON text, which must load) with an empty environment.
pub fn resolved_service(tyk_conf: &str, kind: ServiceKind) -> ResolvedService {
    resolve_conf(tyk_conf, &EnvSnapshot::empty()).service(kind).clone()
}

/// The client of `kind` for `tyk_conf` (JSON text) and `env`; every problem as the
/// builder reports it.
pub async fn service_client(tyk_conf: &str, env: EnvSnapshot, kind: ServiceKind) -> Result<ServiceClient, SetupError> {
    let services = ExternalServices::builder()
        .tyk_conf_str(tyk_conf, "tyk.conf")
        .env(env)
        .build()
        .await?;
    Ok(services.client(kind))
}

/// The client of an already resolved `service`: its TLS built from files (no store), with
/// default options. For tests that start from a `ResolvedService` (one service, no
/// builder); panics when the TLS material does not build.
pub async fn client_of(service: ResolvedService) -> ServiceClient {
    let tls = build_service_tls(&service, None, &TlsOptions::default())
        .await
        .expect("the service's TLS material builds");
    ServiceClient::new(service, &tls)
}

/// Sends `request` and reads the response body to its end: the response head and what
/// the connection was, or the client's error. Panics when the exchange outlives 30 s (a
/// missing deadline, not a slow peer).
async fn exchange(
    client: &ServiceClient,
    request: http::Request<http_body_util::Empty<bytes::Bytes>>,
) -> Result<(http::response::Parts, Connected), extsvc::Error> {
    use http_body_util::BodyExt as _;
    let run = async {
        let (head, body) = client.request(request).await?.into_parts();
        let connected = body.connected();
        body.collect().await?;
        Ok((head, connected))
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), run)
        .await
        .expect("the request hung past its deadline")
}

fn get(url: &str) -> http::request::Builder {
    http::Request::get(url)
}

/// A GET of `url` whose body is read to its end: the status, or the client's error.
/// Panics when the exchange outlives 30 s (a missing deadline, not a slow peer).
pub async fn get_status(client: &ServiceClient, url: &str) -> Result<u16, extsvc::Error> {
    let request = get(url).body(http_body_util::Empty::new()).expect("a valid request");
    Ok(exchange(client, request).await?.0.status.as_u16())
}

/// A GET of `url` on a connection of its own (`Connection: close`, so none is reused
/// after it), its body read to its end: the response head, or the client's error.
pub async fn get_closing(client: &ServiceClient, url: &str) -> Result<http::response::Parts, extsvc::Error> {
    let request = get(url)
        .header(http::header::CONNECTION, "close")
        .body(http_body_util::Empty::new())
        .expect("a valid request");
    Ok(exchange(client, request).await?.0)
}

/// What one GET to nginx (`tests/src/nginx.rs`) saw: the status, its
/// `x-ssl-client-verify` header (empty when absent) and what the connection was.
#[derive(Debug)]
pub struct Verified {
    /// The response's status.
    pub status: u16,
    /// Its `x-ssl-client-verify` header: `SUCCESS`, `NONE`, `FAILED:…`, or empty.
    pub verify: String,
    /// What the connection was (hop, negotiated TLS versions).
    pub connected: Connected,
}

/// A GET of `url` whose body is read to its end, with nginx's verdict on the client
/// certificate; panics when the exchange outlives 30 s.
pub async fn get_verified(client: &ServiceClient, url: &str) -> Result<Verified, extsvc::Error> {
    let request = get(url).body(http_body_util::Empty::new()).expect("a valid request");
    let (head, connected) = exchange(client, request).await?;
    let verify = head
        .headers
        .get("x-ssl-client-verify")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    Ok(Verified {
        status: head.status.as_u16(),
        verify,
        connected,
    })
}
