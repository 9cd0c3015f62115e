//! The network stores of secret references (SPEC section 6): [`VaultSource`] (`vault://`,
//! Vault's KV v1 and v2 HTTP API) and [`ConsulSource`] (`consul://`, Consul's KV HTTP API),
//! configured by tyk.conf's `kv` block.
//!
//! Each lookup is one HTTP/1.1 GET on a new connection, with the store's token header;
//! the answer is read bounded ([`SECRET_LIMIT`] plus room for the JSON around it). TLS
//! for `https://`: Vault verified against the system roots; Consul as its `tls_config`
//! says (CA file and directory, client certificate, server name, `insecure_skip_verify`),
//! each built once with the store, never a silent fall back to plain HTTP or to no client
//! certificate. The caller ([`SecretSources`](crate::SecretSources)) runs a lookup under the
//! store's `timeout` when tyk.conf sets one, else under the store deadline.
//!
//! A token may itself be a reference: `env://` and `secrets://` are read when the store is
//! built; `consul://` for Vault's token (or `vault://` for Consul's) at each lookup, through
//! the other store. A token that resolves through its own store, or two tokens that
//! resolve through each other, are an error naming the key. A token is never formatted.

use std::sync::Arc;

use bytes::Bytes;
use extsvc_config::{
    ConsulSettings, ConsulTlsSettings, EnvSnapshot, ExternalServicesConfig, SecretReference, SecretText, VaultSettings,
};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value as Json;

use crate::secret::{SecretError, SecretFuture, SecretSource, SecretSources, SECRET_LIMIT};

/// The most bytes of an answer read: a secret plus its JSON (base64 grows it by a third).
const ANSWER_LIMIT: usize = SECRET_LIMIT * 2;

/// A store's TLS: the client configuration and the server name to verify.
type ServerTls = (Arc<rustls::ClientConfig>, ServerName<'static>);

/// Where a store listens, and the TLS it is reached with (`None`: plain HTTP).
#[derive(Clone)]
struct Endpoint {
    tls: Option<ServerTls>,
    host: String,
    port: u16,
}

impl Endpoint {
    /// `address` (`host:port` or a URL) with `default_scheme`; `https` reached with
    /// `tls_config` (given the host, the name to verify), built once here.
    fn parse(
        address: &str,
        default_scheme: &str,
        tls_config: impl FnOnce(&str) -> Result<ServerTls, String>,
    ) -> Result<Endpoint, String> {
        let with_scheme = if address.contains("://") {
            address.to_owned()
        } else {
            format!("{default_scheme}://{address}")
        };
        let uri: http::Uri = with_scheme
            .parse()
            .map_err(|_| format!("invalid address \"{}\"", extsvc_config::shown(address)))?;
        let https = match uri.scheme_str() {
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
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https { Some(tls_config(&host)?) } else { None };
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
        match &self.tls {
            Some((config, name)) => {
                let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS to {}: {e}", self.host))?;
                exchange(TokioIo::new(stream), request).await
            }
            None => exchange(TokioIo::new(tcp), request).await,
        }
    }
}

/// The server name to verify: `host` (an IP address or a DNS name).
fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_owned()).map_err(|e| format!("invalid host \"{}\": {e}", extsvc_config::shown(host)))
}

/// A rustls client configuration with `roots` (or no verification) and an optional
/// client certificate.
fn client_config(
    verifier: Verify,
    client: Option<(Vec<CertificateDer<'static>>, rustls::pki_types::PrivateKeyDer<'static>)>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = crate::provider::provider();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match verifier {
        Verify::Roots(roots) => builder.with_root_certificates(roots),
        Verify::Nothing(store) => builder.dangerous().with_custom_certificate_verifier(Arc::new(
            crate::danger::NoServerVerification::for_secret_store(store, provider),
        )),
    };
    let config = match client {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("the client certificate: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// How a store's server certificate is verified.
enum Verify {
    Roots(rustls::RootCertStore),
    /// `insecure_skip_verify`, for the store named.
    Nothing(&'static str),
}

/// Vault's TLS: the system roots (default places).
fn vault_tls(host: &str) -> Result<ServerTls, String> {
    let roots = crate::system_roots::system_roots(&extsvc_resolve::SystemRoots::default())
        .roots
        .clone();
    Ok((client_config(Verify::Roots(roots), None)?, server_name(host)?))
}

/// Consul's TLS from `kv.consul.tls_config`, as Consul's client reads it: `ca_file` and
/// `ca_path` replace the system roots, `cert_file` with `key_file` is the client
/// certificate, `address` (its port ignored) the name to verify. Every file is read here,
/// once; one that cannot be read is an error naming its key and the file.
fn consul_tls(tls: &ConsulTlsSettings, host: &str) -> Result<ServerTls, String> {
    const KEY: &str = CONSUL_TLS;
    let verify = if tls.insecure_skip_verify {
        Verify::Nothing("consul")
    } else if tls.ca_file.is_some() || tls.ca_path.is_some() {
        let mut cas = Vec::new();
        if let Some(file) = &tls.ca_file {
            cas.extend(read_certificates("ca_file", file)?);
        }
        if let Some(dir) = &tls.ca_path {
            cas.extend(ca_directory(dir)?);
        }
        let mut roots = rustls::RootCertStore::empty();
        for ca in cas {
            roots.add(ca).map_err(|e| format!("{KEY}: a CA certificate: {e}"))?;
        }
        Verify::Roots(roots)
    } else {
        Verify::Roots(
            crate::system_roots::system_roots(&extsvc_resolve::SystemRoots::default())
                .roots
                .clone(),
        )
    };
    let client = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let chain = read_certificates("cert_file", cert)?;
            let key = crate::pem::parse_private_key(&read_tls_file("key_file", key)?)
                .map_err(|e| format!("{KEY}.key_file: {}: {e}", extsvc_config::shown(key)))?;
            Some((chain, key))
        }
        (None, None) => None,
        _ => {
            return Err(format!(
                "{KEY}: cert_file and key_file go together (a client certificate needs its key); one is not set"
            ))
        }
    };
    let name = match tls.address.as_deref() {
        Some(address) => address_host(address),
        None => host,
    };
    let config = client_config(verify, client).map_err(|e| format!("{KEY}: {e}"))?;
    Ok((config, server_name(name).map_err(|e| format!("{KEY}.address: {e}"))?))
}

/// The key of the Consul store's TLS settings, which its errors name.
const CONSUL_TLS: &str = "kv.consul.tls_config";

/// The file at `path` of `kv.consul.tls_config.<field>`, bounded like every PEM file; an
/// error names the key and the file.
fn read_tls_file(field: &str, path: &std::path::Path) -> Result<Vec<u8>, String> {
    extsvc_config::internal::read_bounded(path, extsvc_config::internal::PEM_FILE_LIMIT)
        .map_err(|e| format!("{CONSUL_TLS}.{field}: {}: {e}", extsvc_config::shown(path)))
}

/// The certificates of the PEM file at `path` of `kv.consul.tls_config.<field>`.
fn read_certificates(field: &str, path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    crate::pem::parse_certificates(&read_tls_file(field, path)?)
        .map_err(|e| format!("{CONSUL_TLS}.{field}: {}: {e}", extsvc_config::shown(path)))
}

/// The certificates of every regular file in `dir` (Consul's `ca_path`), at most 1,000.
fn ca_directory(dir: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("{CONSUL_TLS}.ca_path: {}: {e}", extsvc_config::shown(dir)))?;
    let mut paths: Vec<std::path::PathBuf> = entries
        .take(1_000)
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    let mut cas = Vec::new();
    for path in paths {
        cas.extend(read_certificates("ca_path", &path)?);
    }
    Ok(cas)
}

/// The host of `host:port`, `[v6]:port`, `host` or `v6`.
fn address_host(address: &str) -> &str {
    let address = address.split_once("://").map_or(address, |(_, rest)| rest);
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => address,
    }
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

/// A store's token: none, its text (also what an `env://` or `secrets://` reference gave
/// when the store was built), or a reference looked up through the other KV store at each
/// lookup.
enum Token {
    None,
    Text(SecretText),
    Through {
        reference: SecretReference,
        store: Arc<dyn SecretSource>,
    },
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::None => f.write_str("None"),
            Token::Text(_) => f.write_str("Text(***)"),
            Token::Through { reference, .. } => write!(f, "Through({reference})"),
        }
    }
}

impl Token {
    /// The token's text now, for the lookup of `reference` in `store`; an error names the
    /// token's key, `kv.<store>.token`, and its reference (never a value).
    async fn text(&self, reference: &str, store: &str) -> Result<Option<SecretText>, SecretError> {
        match self {
            Token::None => Ok(None),
            Token::Text(text) => Ok(Some(text.clone())),
            Token::Through {
                reference: token,
                store: through,
            } => match through.secret(token.key()).await {
                Ok(Some(text)) => Ok(Some(text)),
                Ok(None) => Err(store_error(
                    reference.to_owned(),
                    store,
                    format!("kv.{store}.token: {token}: not found in the {} store", token.store()),
                )),
                Err(e) => Err(store_error(
                    reference.to_owned(),
                    store,
                    format!("kv.{store}.token: {e}"),
                )),
            },
        }
    }
}

/// `GET path_and_query` on a KV store's HTTP API, with its token header when a token is
/// set: the answer's JSON, `None` on 404, and one message per failure (403 names the
/// token's key, `kv.<store>.token`), shared by Vault and Consul.
async fn get_json(
    endpoint: &Endpoint,
    path_and_query: &str,
    token: (&str, &Token),
    reference: &str,
    store: &str,
) -> Result<Option<Json>, SecretError> {
    let (header, token) = token;
    let token = token.text(reference, store).await?;
    let token = token.as_ref().map(SecretText::expose).unwrap_or_default();
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
    token: Token,
    kv_version: u8,
    timeout: Option<std::time::Duration>,
}

impl std::fmt::Debug for VaultSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultSource")
            .field("host", &self.endpoint.host)
            .field("port", &self.endpoint.port)
            .field("kv_version", &self.kv_version)
            .field("timeout", &self.timeout)
            .field("token", &self.token)
            .finish()
    }
}

impl VaultSource {
    /// The store `kv.vault` describes, with its token as written (a reference in it is
    /// [`SecretSources::from_config`]'s to resolve); an error names what is wrong with its
    /// address.
    pub fn new(settings: &VaultSettings) -> Result<VaultSource, String> {
        VaultSource::with_token(settings, settings.token.clone().map_or(Token::None, Token::Text))
    }

    fn with_token(settings: &VaultSettings, token: Token) -> Result<VaultSource, String> {
        Ok(VaultSource {
            endpoint: Endpoint::parse(&settings.address, "http", vault_tls)
                .map_err(|e| format!("kv.vault.address: {e}"))?,
            token,
            kv_version: settings.kv_version,
            timeout: settings.timeout,
        })
    }
}

impl SecretSource for VaultSource {
    fn deadline(&self) -> Option<std::time::Duration> {
        self.timeout
    }

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
            let token = ("x-vault-token", &self.token);
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

/// What a Consul key keeps unencoded in the request path: RFC 3986's unreserved characters
/// and `/` (the key's own separator).
const CONSUL_KEY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// `consul://<key>`: Consul's KV over its HTTP API, `GET /v1/kv/<key>` (answer
/// `[{"Key": …, "Value": <base64>}]`), with `X-Consul-Token` and `?dc=`.
#[doc(hidden)]
pub struct ConsulSource {
    endpoint: Endpoint,
    token: Token,
    datacenter: Option<String>,
    timeout: Option<std::time::Duration>,
}

impl std::fmt::Debug for ConsulSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsulSource")
            .field("host", &self.endpoint.host)
            .field("port", &self.endpoint.port)
            .field("tls", &self.endpoint.tls.is_some())
            .field("datacenter", &self.datacenter)
            .field("timeout", &self.timeout)
            .field("token", &self.token)
            .finish()
    }
}

impl ConsulSource {
    /// The store `kv.consul` describes (its TLS files read now), with its token as written;
    /// an error names the key that is wrong (address, `tls_config` file).
    pub fn new(settings: &ConsulSettings) -> Result<ConsulSource, String> {
        ConsulSource::with_token(settings, settings.token.clone().map_or(Token::None, Token::Text))
    }

    fn with_token(settings: &ConsulSettings, token: Token) -> Result<ConsulSource, String> {
        // As Consul's client: `scheme: https` is never reverted to http by an `http://`
        // address, and `tls_config` material is never dropped for plain HTTP.
        let address = match settings.address.strip_prefix("http://") {
            Some(rest) if settings.scheme.eq_ignore_ascii_case("https") => rest,
            _ => settings.address.as_str(),
        };
        let scheme = settings.scheme.to_ascii_lowercase();
        let endpoint = Endpoint::parse(address, &scheme, |host| consul_tls(&settings.tls, host)).map_err(|e| {
            if e.starts_with("kv.") {
                e
            } else {
                format!("kv.consul.address: {e}")
            }
        })?;
        if endpoint.tls.is_none() && settings.tls.has_material() {
            return Err(
                "kv.consul.tls_config: a CA or client certificate is set, but Consul is reached over plain http; \
                 set kv.consul.scheme to https (or an https:// address)"
                    .to_owned(),
            );
        }
        Ok(ConsulSource {
            endpoint,
            token,
            datacenter: settings.datacenter.clone(),
            timeout: settings.timeout,
        })
    }
}

impl SecretSource for ConsulSource {
    fn deadline(&self) -> Option<std::time::Duration> {
        self.timeout
    }

    fn secret<'a>(&'a self, key: &'a str) -> SecretFuture<'a> {
        Box::pin(async move {
            use base64::Engine as _;
            let reference = format!("consul://{}", extsvc_config::escaped(key));
            let encoded = percent_encoding::utf8_percent_encode(key, CONSUL_KEY).to_string();
            let mut url = format!("/v1/kv/{encoded}");
            if let Some(dc) = &self.datacenter {
                url.push_str("?dc=");
                url.push_str(
                    &percent_encoding::utf8_percent_encode(dc, percent_encoding::NON_ALPHANUMERIC).to_string(),
                );
            }
            let token = ("x-consul-token", &self.token);
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

/// How a KV store's token is given.
enum TokenSetting {
    /// Text, or what an `env://` / `secrets://` reference gave.
    Ready(Token),
    /// A reference through the other KV store (`vault` or `consul`).
    Through(SecretReference),
}

/// `kv.<store>.token` read: plain text, or a reference — `env://` and `secrets://` resolved
/// now, the other KV store's kept for each lookup; through the store itself, or another
/// store, an error naming the key and the reference.
fn token_setting(
    token: Option<&SecretText>,
    store: &str,
    other: &str,
    env: &EnvSnapshot,
    config: &ExternalServicesConfig,
) -> Result<TokenSetting, String> {
    let key = format!("kv.{store}.token");
    let Some(text) = token else {
        return Ok(TokenSetting::Ready(Token::None));
    };
    let Some(reference) = SecretReference::parse(text.expose()) else {
        return Ok(TokenSetting::Ready(Token::Text(text.clone())));
    };
    let found = match reference.store() {
        "env" => crate::secret::env_secret(env, reference.key()).map_err(|e| format!("{key}: {e}"))?,
        "secrets" => config.secrets.values.get(reference.key()).cloned(),
        s if s == other => return Ok(TokenSetting::Through(reference)),
        s if s == store => {
            return Err(format!(
                "{key}: {reference}: the {store} store's token cannot be read from the {store} store itself"
            ))
        }
        s => {
            return Err(format!(
                "{key}: {reference}: a KV store's token is read from env://, secrets:// or the {other} store, not \
                 the {s} store"
            ))
        }
    };
    match found {
        Some(text) => Ok(TokenSetting::Ready(Token::Text(text))),
        None => Err(format!(
            "{key}: {reference}: not found in the {} store",
            reference.store()
        )),
    }
}

/// Why `kv.<store>.token`, a reference through the `other` store, cannot be read: that
/// store is not configured, or (`looped`) its own token is read through this one.
fn through_error(store: &str, other: &str, reference: &SecretReference, looped: bool) -> String {
    if looped {
        format!(
            "kv.{store}.token: {reference}: read through the {other} store, whose token (kv.{other}.token) is read \
             through the {store} store: a loop"
        )
    } else {
        format!("kv.{store}.token: {reference}: no {other} store is configured (kv.{other}.address)")
    }
}

impl SecretSources {
    /// [`SecretSources::standard`] plus the `vault` and `consul` stores of tyk.conf's `kv`
    /// block, when configured; an unusable address, TLS file or token reference is an
    /// error naming its key.
    pub fn from_config(env: &EnvSnapshot, config: &ExternalServicesConfig) -> Result<Self, String> {
        let mut sources = SecretSources::standard(env, config);
        let vault_token = match &config.kv.vault {
            Some(vault) => Some(token_setting(vault.token.as_ref(), "vault", "consul", env, config)?),
            None => None,
        };
        let consul_token = match &config.kv.consul {
            Some(consul) => Some(token_setting(consul.token.as_ref(), "consul", "vault", env, config)?),
            None => None,
        };
        // First the stores whose token is ready, then those whose token is read through
        // the other (which must not read its own token back through the first).
        let (mut vault, mut consul) = (None, None);
        let (mut vault_through, mut consul_through) = (None, None);
        if let (Some(settings), Some(token)) = (&config.kv.vault, vault_token) {
            match token {
                TokenSetting::Ready(token) => vault = Some(Arc::new(VaultSource::with_token(settings, token)?)),
                TokenSetting::Through(reference) => vault_through = Some((settings, reference)),
            }
        }
        if let (Some(settings), Some(token)) = (&config.kv.consul, consul_token) {
            match token {
                TokenSetting::Ready(token) => consul = Some(Arc::new(ConsulSource::with_token(settings, token)?)),
                TokenSetting::Through(reference) => consul_through = Some((settings, reference)),
            }
        }
        if let Some((settings, reference)) = vault_through {
            let Some(store) = consul.clone() else {
                return Err(through_error("vault", "consul", &reference, consul_through.is_some()));
            };
            vault = Some(Arc::new(VaultSource::with_token(
                settings,
                Token::Through { reference, store },
            )?));
        }
        if let Some((settings, reference)) = consul_through {
            let Some(store) = vault.clone() else {
                return Err(through_error("consul", "vault", &reference, false));
            };
            consul = Some(Arc::new(ConsulSource::with_token(
                settings,
                Token::Through { reference, store },
            )?));
        }
        if let Some(vault) = vault {
            sources = sources.with("vault", vault);
        }
        if let Some(consul) = consul {
            sources = sources.with("consul", consul);
        }
        Ok(sources)
    }
}
