//! The one way the tests build an extsvc client: the front door a gateway uses,
//! [`ExternalServices::builder`] with tyk.conf text and an explicit environment.

use extsvc::{EnvSnapshot, ExternalServices, ServiceClient, ServiceKind, SetupError};

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
