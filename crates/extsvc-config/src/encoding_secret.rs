//! [`EncodingSecret`]: the certificate store's encoding secret, never shown.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The secret that decrypts private keys kept encrypted in a certificate store, as Tyk
/// writes them (`security.private_certificate_encoding_secret`, else `secret`; SPEC
/// sections 1 and 3).
///
/// `Display`, `Debug` and `Serialize` show `***`; only [`EncodingSecret::expose`] gives the
/// value, for the decryption itself. Clones share one allocation.
///
/// ```
/// let secret = extsvc_config::EncodingSecret::new("s3cr3t");
/// assert_eq!(format!("{secret} {secret:?}"), "*** EncodingSecret(***)");
/// assert_eq!(secret.expose(), b"s3cr3t");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct EncodingSecret(Arc<str>);

impl EncodingSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<Arc<str>>) -> Self {
        EncodingSecret(secret.into())
    }

    /// The secret's bytes (the password of OpenSSL's `EVP_BytesToKey`). Never print them.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// True for `""`, which Tyk treats as not set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for EncodingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncodingSecret(***)")
    }
}

impl fmt::Display for EncodingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for EncodingSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(EncodingSecret::new)
    }
}

/// Serializes as `***`: the serde model is for reading tyk.conf, and a secret written
/// back out would be a leak.
impl Serialize for EncodingSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}
