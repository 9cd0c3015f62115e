//! What a pooled connection is kept for: [`PoolKey`] (scheme, host, port, route),
//! with a host that compares and hashes case-insensitively without allocating.

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::Range;
use std::sync::LazyLock;

use extsvc_resolve::TargetScheme;
use http::uri::Authority;

use crate::route::RouteKey;

/// What a connection can be reused for: scheme, host, port and route.
///
/// The host compares case-insensitively. A key made from a request URI's
/// [`Authority`] shares its bytes (no allocation per request). The key's hash is
/// computed once, when it is made: the pool looks a key up three or four times per
/// request, and hashing the host (lower-cased) was most of each lookup.
#[derive(Debug, Clone)]
pub(crate) struct PoolKey {
    scheme: TargetScheme,
    host: HostKey,
    port: u16,
    route: RouteKey,
    hash: u64,
}

impl PoolKey {
    fn with_host(scheme: TargetScheme, host: HostKey, port: u16, route: RouteKey) -> PoolKey {
        let mut hasher = KEY_HASHER.build_hasher();
        scheme.hash(&mut hasher);
        host.hash_lowercase(&mut hasher);
        port.hash(&mut hasher);
        route.hash(&mut hasher);
        PoolKey {
            scheme,
            host,
            port,
            route,
            hash: hasher.finish(),
        }
    }

    /// A key for `host` (as in a URI; any case).
    #[cfg(test)]
    pub(crate) fn new(scheme: TargetScheme, host: &str, port: u16, route: RouteKey) -> PoolKey {
        PoolKey::with_host(scheme, HostKey::Name(host.into()), port, route)
    }

    /// The same key with its host copied out of any request buffer it borrows.
    pub(super) fn to_owned_host(&self) -> PoolKey {
        PoolKey {
            host: HostKey::Name(self.host.as_str().into()),
            ..self.clone()
        }
    }

    /// A key for the host of `authority` (a cheap clone of it), which lies at `host` in
    /// its text.
    pub(crate) fn from_authority(
        scheme: TargetScheme,
        authority: &Authority,
        host: Range<usize>,
        port: u16,
        route: RouteKey,
    ) -> PoolKey {
        let host = HostKey::Authority {
            authority: authority.clone(),
            host,
        };
        PoolKey::with_host(scheme, host, port, route)
    }

    /// The host, as given.
    pub(crate) fn host(&self) -> &str {
        self.host.as_str()
    }

    /// The route.
    pub(crate) fn route(&self) -> RouteKey {
        self.route
    }
}

/// Seeded once per process, like std's `RandomState`: the hosts are the ones the
/// gateway's own requests name, which a webhook's configuration can choose.
static KEY_HASHER: LazyLock<foldhash::fast::RandomState> = LazyLock::new(foldhash::fast::RandomState::default);

impl PartialEq for PoolKey {
    fn eq(&self, other: &PoolKey) -> bool {
        self.hash == other.hash
            && self.port == other.port
            && self.scheme == other.scheme
            && self.route == other.route
            && self.host == other.host
    }
}

impl Eq for PoolKey {}

impl Hash for PoolKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// The host of a [`PoolKey`]: an owned name or a request URI's authority (its host
/// part; the port is a field of the key).
#[derive(Clone)]
enum HostKey {
    Name(Box<str>),
    /// A cheap clone of the URI's authority, and where its host lies in it: found once
    /// per request (`Target::of`), not again on every comparison (`Authority::host` scans
    /// for `@`, `[` and `:` each time).
    Authority {
        authority: Authority,
        host: Range<usize>,
    },
}

impl HostKey {
    fn as_str(&self) -> &str {
        match self {
            HostKey::Name(name) => name,
            HostKey::Authority { authority, host } => &authority.as_str()[host.clone()],
        }
    }

    /// Feeds the host, lower-cased, to `state`.
    fn hash_lowercase<H: Hasher>(&self, state: &mut H) {
        // Case-insensitive, without allocating: lower-cased through a stack buffer and
        // written a chunk at a time (one `write` per byte cost the hasher a round per
        // byte, measured: docs/performance.md). Equal keys have equal lengths, so they
        // are cut into the same chunks; the terminator keeps it prefix-free.
        let mut buf = [0u8; 64];
        for chunk in self.as_str().as_bytes().chunks(buf.len()) {
            let lower = &mut buf[..chunk.len()];
            lower.copy_from_slice(chunk);
            lower.make_ascii_lowercase();
            state.write(lower);
        }
        state.write_u8(0xff);
    }
}

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for HostKey {
    fn eq(&self, other: &HostKey) -> bool {
        let (ours, theirs) = (self.as_str(), other.as_str());
        // Requests to a host nearly always spell it the same way: one `memcmp` then,
        // instead of lower-casing both a byte at a time (measured: four comparisons per
        // request, ~200 instructions each, docs/performance.md).
        ours == theirs || ours.eq_ignore_ascii_case(theirs)
    }
}

impl Eq for HostKey {}
