//! The network stores of secret references (SPEC section 6): [`VaultSource`] (`vault://`,
//! Vault's KV v1 and v2 HTTP API) and [`ConsulSource`] (`consul://`, Consul's KV HTTP API),
//! configured by tyk.conf's `kv` block.
//!
//! Each lookup is one HTTP/1.1 GET on a new connection (TLS for `https://`, verified
//! against the system roots), with the store's token header; the answer is read bounded
//! ([`SECRET_LIMIT`] plus room for the JSON around it). The caller
//! ([`SecretSources`](crate::SecretSources)) runs it under the store deadline. A token is
//! never formatted.

use std::sync::Arc;

use bytes::Bytes;
use extsvc_config::{ConsulSettings, EnvSnapshot, ExternalServicesConfig, SecretText, VaultSettings};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::Value as Json;

use crate::secret::{SecretError, SecretFuture, SecretSource, SecretSources, SECRET_LIMIT};

/// The most bytes of an answer read: a secret plus its JSON (base64 grows it by a third).
const ANSWER_LIMIT: usize = SECRET_LIMIT * 2;

/// Where a store listens.
#[derive(Clone)]
struct Endpoint {
    tls: bool,
    host: String,
    port: u16,
}

impl Endpoint {
    fn parse(address: &str, default_scheme: &str) -> Result<Endpoint, String> {
        let with_scheme = if address.contains("://") {
            address.to_owned()
        } else {
            format!("{default_scheme}://{address}")
        };
        let uri: http::Uri = with_scheme
            .parse()
            .map_err(|_| format!("invalid address \"{}\"", extsvc_config::shown(address)))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("unsupported scheme in \"{}\"", extsvc_config::shown(address))),
        };
        let host = uri
            .host()
            .ok_or_else(|| format!("no host in \"{}\"", extsvc_config::shown(address)))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Endpoint { tls, host, port })
    }

    /// GET `path_and_query` with `headers`: the status and the body (bounded).
    async fn get(&self, path_and_query: &str, headers: &[(&str, &str)]) -> Result<(u16, Bytes), String> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot connect to {}:{}: {e}", self.host, self.port))?;
        let authority = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let mut request = http::Request::get(path_and_query).header(http::header::HOST, authority);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("invalid request: {e}"))?;
        if self.tls {
            let config = tls_config();
            let name = ServerName::try_from(self.host.clone()).map_err(|e| format!("invalid host: {e}"))?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS to {}: {e}", self.host))?;
            exchange(TokioIo::new(stream), request).await
        } else {
            exchange(TokioIo::new(tcp), request).await
        }
    }
}

/// The client configuration for `https://` stores: the system roots (default places).
fn tls_config() -> Arc<rustls::ClientConfig> {
    let roots = crate::system_roots::system_roots(&extsvc_resolve::SystemRoots::default())
        .roots
        .clone();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(crate::provider::provider())
            .with_safe_default_protocol_versions()
            .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
            .unwrap_or_else(|_| {
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }),
    )
}

async fn exchange<I>(io: I, request: http::Request<Empty<Bytes>>) -> Result<(u16, Bytes), String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let driver = tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(|e| format!("request: {e}"));
    let result = match response {
        Ok(response) => {
            let status = response.status().as_u16();
            Limited::new(response.into_body(), ANSWER_LIMIT)
                .collect()
                .await
                .map(|body| (status, body.to_bytes()))
                .map_err(|e| format!("reading the answer: {e}"))
        }
        Err(e) => Err(e),
    };
    driver.abort();
    result
}

fn store_error(reference: String, store: &str, message: impl Into<String>) -> SecretError {
    SecretError::Store {
        reference,
        store: store.to_owned(),
        message: message.into(),
    }
}

/// `GET path_and_query` on a KV store's HTTP API, with its token header when a token is
/// set: the answer's JSON, `None` on 404, and one message per failure (403 names the
/// token's key, `kv.<store>.token`), shared by Vault and Consul.
async fn get_json(
    endpoint: &Endpoint,
    path_and_query: &str,
    token: (&str, Option<&SecretText>),
    reference: &str,
    store: &str,
) -> Result<Option<Json>, SecretError> {
    let (header, token) = token;
    let token = token.map(SecretText::expose).unwrap_or_default();
    let headers = [(header, token)];
    let headers = if token.is_empty() { &headers[..0] } else { &headers[..] };
    let (status, body) = endpoint
        .get(path_and_query, headers)
        .await
        .map_err(|e| store_error(reference.to_owned(), store, e))?;
    match status {
        200 => {}
        404 => return Ok(None),
        403 => {
            return Err(store_error(
                reference.to_owned(),
                store,
                format!("permission denied (403): check kv.{store}.token"),
            ))
        }
        other => return Err(store_error(reference.to_owned(), store, format!("HTTP status {other}"))),
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|_| store_error(reference.to_owned(), store, "the answer is not JSON"))
}

/// `vault://<mount>/<path>.<key>`: Vault's KV engine over its HTTP API, as Tyk reads it —
/// KV v2 `GET /v1/<mount>/data/<path>` (answer `{"data": {"data": {<key>: …}}}`), KV v1
/// `GET /v1/<mount>/<path>` (answer `{"data": {<key>: …}}`), with `X-Vault-Token`.
#[doc(hidden)]
pub struct VaultSource {
    endpoint: Endpoint,
    token: Option<SecretText>,
    kv_version: u8,
}

impl std::fmt::Debug for VaultSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultSource")
            .field("host", &self.endpoint.host)
            .field("port", &self.endpoint.port)
            .field("kv_version", &self.kv_version)
            .finish_non_exhaustive()
    }
}

impl VaultSource {
    /// The store `kv.vault` describes; an error names what is wrong with its address.
    pub fn new(settings: &VaultSettings) -> Result<VaultSource, String> {
        Ok(VaultSource {
            endpoint: Endpoint::parse(&settings.address, "http").map_err(|e| format!("kv.vault.address: {e}"))?,
            token: settings.token.clone(),
            kv_version: settings.kv_version,
        })
    }
}

impl SecretSource for VaultSource {
    fn secret<'a>(&'a self, key: &'a str) -> SecretFuture<'a> {
        Box::pin(async move {
            let reference = format!("vault://{}", extsvc_config::escaped(key));
            let (path, field) = key
                .rsplit_once('.')
                .ok_or_else(|| store_error(reference.clone(), "vault", "expected vault://<mount>/<path>.<key>"))?;
            let (mount, rest) = path.split_once('/').unwrap_or((path, ""));
            let url = match self.kv_version {
                1 => format!("/v1/{mount}/{rest}"),
                _ => format!("/v1/{mount}/data/{rest}"),
            };
            let url = url.trim_end_matches('/').to_owned();
            let token = ("x-vault-token", self.token.as_ref());
            let Some(json) = get_json(&self.endpoint, &url, token, &reference, "vault").await? else {
                return Ok(None);
            };
            let data = match self.kv_version {
                1 => &json["data"],
                _ => &json["data"]["data"],
            };
            match &data[field] {
                Json::String(value) => Ok(Some(SecretText::new(value.as_str()))),
                Json::Null => Ok(None),
                _ => Err(store_error(reference, "vault", "the value is not a string")),
            }
        })
    }
}

/// `consul://<key>`: Consul's KV over its HTTP API, `GET /v1/kv/<key>` (answer
/// `[{"Key": …, "Value": <base64>}]`), with `X-Consul-Token` and `?dc=`.
#[doc(hidden)]
pub struct ConsulSource {
    endpoint: Endpoint,
    token: Option<SecretText>,
    datacenter: Option<String>,
}

impl std::fmt::Debug for ConsulSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsulSource")
            .field("host", &self.endpoint.host)
            .field("port", &self.endpoint.port)
            .field("datacenter", &self.datacenter)
            .finish_non_exhaustive()
    }
}

impl ConsulSource {
    /// The store `kv.consul` describes; an error names what is wrong with its address.
    pub fn new(settings: &ConsulSettings) -> Result<ConsulSource, String> {
        Ok(ConsulSource {
            endpoint: Endpoint::parse(&settings.address, &settings.scheme)
                .map_err(|e| format!("kv.consul.address: {e}"))?,
            token: settings.token.clone(),
            datacenter: settings.datacenter.clone(),
        })
    }
}

impl SecretSource for ConsulSource {
    fn secret<'a>(&'a self, key: &'a str) -> SecretFuture<'a> {
        Box::pin(async move {
            use base64::Engine as _;
            let reference = format!("consul://{}", extsvc_config::escaped(key));
            let encoded: String = percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
                .replace("%2F", "/");
            let mut url = format!("/v1/kv/{encoded}");
            if let Some(dc) = &self.datacenter {
                url.push_str("?dc=");
                url.push_str(
                    &percent_encoding::utf8_percent_encode(dc, percent_encoding::NON_ALPHANUMERIC).to_string(),
                );
            }
            let token = ("x-consul-token", self.token.as_ref());
            let Some(json) = get_json(&self.endpoint, &url, token, &reference, "consul").await? else {
                return Ok(None);
            };
            let Some(value) = json[0]["Value"].as_str() else {
                return Ok(None);
            };
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|_| store_error(reference.clone(), "consul", "the value is not base64"))?;
            let text =
                String::from_utf8(bytes).map_err(|_| store_error(reference, "consul", "the value is not UTF-8"))?;
            Ok(Some(SecretText::new(text)))
        })
    }
}

impl SecretSources {
    /// [`SecretSources::standard`] plus the `vault` and `consul` stores of tyk.conf's `kv`
    /// block, when configured; an unusable address is an error naming its key.
    pub fn from_config(env: &EnvSnapshot, config: &ExternalServicesConfig) -> Result<Self, String> {
        let mut sources = SecretSources::standard(env, config);
        if let Some(vault) = &config.kv.vault {
            sources = sources.with("vault", Arc::new(VaultSource::new(vault)?));
        }
        if let Some(consul) = &config.kv.consul {
            sources = sources.with("consul", Arc::new(ConsulSource::new(consul)?));
        }
        Ok(sources)
    }
}
