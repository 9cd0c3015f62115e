//! The table of every configuration key. OWNER: config helper.

/// The type of a key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// true/false.
    Bool,
    /// A string.
    String,
    /// A list of strings (comma separated in the environment).
    StringList,
}

/// One configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// Dotted path from the top of tyk.conf, e.g. `external_services.oauth.mtls.cert_file`.
    pub path: &'static str,
    /// Its type.
    pub ty: KeyType,
    /// One line of documentation.
    pub doc: &'static str,
}

/// Every key extsvc reads.
pub static KEYS: &[KeySpec] = &[];
