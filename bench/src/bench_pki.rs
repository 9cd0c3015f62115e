//! A throw-away CA, a server certificate for `127.0.0.1` / `localhost` and a client
//! certificate, and the rustls configurations every party of the benchmark uses (the
//! ring provider unless the `tls_provider` scenario says otherwise, TLS 1.2 and 1.3,
//! session resumption on as rustls ships it unless a cold scenario turns it off).

use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The generated CA and the TLS configurations derived from it.
pub(crate) struct BenchPki {
    /// For the target server: the server chain, ALPN `http/1.1`.
    pub(crate) server: Arc<ServerConfig>,
    /// For every client: trusts only the bench CA. Clients copy it and set their ALPN.
    pub(crate) client: Arc<ClientConfig>,
    /// For the cold scenarios' target: the same chain, and it demands a client
    /// certificate signed by the bench CA.
    pub(crate) mtls_server: Arc<ServerConfig>,
    /// For the cold scenarios' clients: [`BenchPki::client`] presenting the client
    /// certificate, session resumption as rustls ships it.
    pub(crate) mtls_client: Arc<ClientConfig>,
    /// [`BenchPki::mtls_client`] with session resumption off: every handshake is full.
    pub(crate) mtls_client_no_resumption: Arc<ClientConfig>,
}

pub(crate) fn provider() -> Arc<CryptoProvider> {
    // ring as every column has used since round 1; the `tls_provider` scenario compares it
    // with aws-lc-rs. rustls 0.23.48 deprecates this constructor (no post-quantum).
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates and keys of one run: a CA, a server leaf, a client certificate.
pub(crate) struct Material {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    roots: Arc<RootCertStore>,
    client_chain: Vec<CertificateDer<'static>>,
    client_key: PrivateKeyDer<'static>,
}

impl Material {
    /// Generates an ECDSA P-256 CA, a server leaf for `localhost` and `127.0.0.1`, and a
    /// client certificate.
    pub(crate) fn generate() -> anyhow::Result<Material> {
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name.push(DnType::CommonName, "extsvc bench CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key)?;

        let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned()])?;
        leaf_params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        leaf_params.distinguished_name.push(DnType::CommonName, "localhost");
        let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key)?;

        let client_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut client_params = CertificateParams::new(Vec::<String>::new())?;
        client_params
            .distinguished_name
            .push(DnType::CommonName, "extsvc bench client");
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client_params.signed_by(&client_key, &ca, &ca_key)?;

        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone())?;
        Ok(Material {
            chain: vec![leaf.der().clone(), ca.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            roots: Arc::new(roots),
            client_chain: vec![client_cert.der().clone(), ca.der().clone()],
            client_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(client_key.serialize_der())),
        })
    }
}

impl BenchPki {
    /// Generates the material and every configuration with ring ([`provider`]).
    pub(crate) fn generate() -> anyhow::Result<BenchPki> {
        BenchPki::with_providers(&Material::generate()?, provider(), provider())
    }

    /// The configurations of `material`: the servers' with `server_provider`, the
    /// clients' with `client_provider`.
    pub(crate) fn with_providers(
        material: &Material,
        server_provider: Arc<CryptoProvider>,
        client_provider: Arc<CryptoProvider>,
    ) -> anyhow::Result<BenchPki> {
        let mut server = ServerConfig::builder_with_provider(server_provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(material.chain.clone(), material.key.clone_key())
            .context("server certificate and key")?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];

        let verifier = WebPkiClientVerifier::builder_with_provider(material.roots.clone(), server_provider.clone())
            .build()
            .context("client certificate verifier")?;
        let mut mtls_server = ServerConfig::builder_with_provider(server_provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(material.chain.clone(), material.key.clone_key())
            .context("server certificate and key")?;
        mtls_server.alpn_protocols = vec![b"http/1.1".to_vec()];

        let client = ClientConfig::builder_with_provider(client_provider.clone())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(material.roots.clone())
            .with_no_client_auth();
        let mtls_client = ClientConfig::builder_with_provider(client_provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(material.roots.clone())
            .with_client_auth_cert(material.client_chain.clone(), material.client_key.clone_key())
            .context("client certificate and key")?;
        let mut mtls_client_no_resumption = mtls_client.clone();
        mtls_client_no_resumption.resumption = Resumption::disabled();
        Ok(BenchPki {
            server: Arc::new(server),
            client: Arc::new(client),
            mtls_server: Arc::new(mtls_server),
            mtls_client: Arc::new(mtls_client),
            mtls_client_no_resumption: Arc::new(mtls_client_no_resumption),
        })
    }
}
