//! The rustls crypto provider of every configuration this crate builds, chosen when
//! extsvc is built, by Cargo features (the facade `extsvc` and `extsvc-client` forward
//! them):
//!
//! | feature | provider | key exchange offered, in order |
//! |---|---|---|
//! | `post-quantum` (default) | aws-lc-rs | X25519MLKEM768 (hybrid post-quantum), X25519, P-256, P-384 |
//! | `aws-lc-rs` | aws-lc-rs | X25519, P-256, P-384 |
//! | `ring` | ring | X25519, P-256, P-384 |
//! | `fips` | aws-lc-rs's FIPS module | rustls' FIPS default (`rustls::crypto::default_fips_provider`) |
//!
//! Features add up across a build (two crates asking for different ones get both), so
//! when several are on the strongest wins: `fips`, then `post-quantum`, then `aws-lc-rs`,
//! then `ring`. A build with ring (no C toolchain needed) turns the default features off
//! (`default-features = false, features = ["ring"]`). [`CRYPTO_PROVIDER`] names
//! the one in use; `docs/performance.md` has what each costs per handshake.

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;

#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
compile_error!(
    "extsvc-tls needs a crypto provider: enable one of the features `post-quantum` (the default), \
     `aws-lc-rs`, `ring` or `fips`"
);

/// The provider this build uses: `fips`, `aws-lc-rs+post-quantum`, `aws-lc-rs` or `ring`,
/// by extsvc-tls's features of those names (`post-quantum`: aws-lc-rs offering
/// X25519MLKEM768 first, the default; several on: the strongest wins).
#[doc(hidden)]
pub const CRYPTO_PROVIDER: &str = if cfg!(feature = "fips") {
    "fips"
} else if cfg!(feature = "post-quantum") {
    "aws-lc-rs+post-quantum"
} else if cfg!(feature = "aws-lc-rs") {
    "aws-lc-rs"
} else {
    "ring"
};

/// The crypto provider of every configuration extsvc builds ([`CRYPTO_PROVIDER`] names
/// it), made once. For a caller's own rustls configurations that should match extsvc's
/// (a test server, a health endpoint).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(build())).clone()
}

/// [`crypto_provider`], under the name the crate's modules use.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    crypto_provider()
}

#[cfg(feature = "fips")]
fn build() -> CryptoProvider {
    rustls::crypto::default_fips_provider()
}

#[cfg(all(feature = "aws-lc-rs", not(feature = "fips")))]
fn build() -> CryptoProvider {
    use rustls::crypto::aws_lc_rs::{default_provider, kx_group};
    // Explicit, rather than rustls' DEFAULT_KX_GROUPS, whose order depends on rustls'
    // own `prefer-post-quantum` feature (on in rustls' defaults, which anything else in
    // the build may turn on) and changed between 0.23 releases.
    let classical = [kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1];
    let kx_groups = if cfg!(feature = "post-quantum") {
        std::iter::once(kx_group::X25519MLKEM768).chain(classical).collect()
    } else {
        classical.to_vec()
    };
    CryptoProvider {
        kx_groups,
        ..default_provider()
    }
}

/// rustls 0.23.48 deprecates ring's `default_provider` ("no support for post-quantum
/// algorithms") and has no other constructor for it; ring stays selectable on purpose
/// (no C toolchain needed), and the `post-quantum` feature is the way to PQ.
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
#[allow(deprecated)]
fn build() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_is_made_once_and_matches_its_name() {
        let provider = crypto_provider();
        assert!(Arc::ptr_eq(&provider, &crypto_provider()));
        let names: Vec<String> = provider
            .kx_groups
            .iter()
            .map(|group| format!("{:?}", group.name()))
            .collect();
        match CRYPTO_PROVIDER {
            "aws-lc-rs+post-quantum" => assert_eq!(names[0], "X25519MLKEM768", "{names:?}"),
            "fips" => assert!(provider.fips(), "{names:?}"),
            _ => assert!(names.iter().all(|n| !n.contains("MLKEM")), "{names:?}"),
        }
        assert!(names.iter().any(|n| n == "X25519" || n == "secp256r1"), "{names:?}");
    }
}
