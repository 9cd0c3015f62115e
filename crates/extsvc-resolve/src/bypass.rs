//! The bypass-list index. OWNER: bypass helper.
use extsvc_config::BypassEntry;

/// A bypass list, indexed once so a decision never scans the list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BypassList {
    entries: Vec<BypassEntry>,
}

impl BypassList {
    /// Indexes parsed entries.
    pub fn new(entries: Vec<BypassEntry>) -> BypassList {
        BypassList { entries }
    }

    /// The entries, as configured.
    pub fn entries(&self) -> &[BypassEntry] {
        &self.entries
    }

    /// The entry that makes `host:port` bypass the proxy, if any. `host` is as in a URI
    /// (IPv6 literals may keep their brackets), in any case, with or without a trailing dot.
    pub fn matches(&self, host: &str, port: u16) -> Option<&BypassEntry> {
        let _ = (host, port);
        None
    }
}
