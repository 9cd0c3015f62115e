//! Shared test support for extsvc's cross-crate and interop tests.
//!
//! - [`client`]: building a service's client from tyk.conf text and an environment, the
//!   way a gateway does (one builder call).
//! - [`pki`]: a throw-away PKI generated with rcgen (CA, intermediate, server, client, rogue CA).
//! - [`redis_topology`]: a real 6-node Redis Cluster and a Sentinel set (master, replica, three
//!   sentinels), with failovers on demand.
//! - [`squid`], [`nginx`], [`redis`], [`microsocks`]: launchers for real peers on 127.0.0.1, started and
//!   stopped (on drop) by the tests; a missing binary is a test failure with an install hint.
//! - [`openssl_server`]: `openssl s_server` speaking TLS 1.2 only, driven over its stdin to ask
//!   the client to renegotiate (what no other peer here does on demand).
//! - [`fault_proxy`]: an in-process proxy with fault knobs (hangs, garbage, resets, …).
//! - [`hostile_resp`]: an in-process Redis peer answering with endless or oversized replies.
//! - [`tyk_store`]: certificate store entries as Tyk writes them (RFC 1423 keys), made by `openssl`.
//! - [`http_peer`]: an in-process peer that echoes requests, redirects and serves gzip
//!   (and a gzip bomb), for the request builder.
//! - [`kv_peer`]: an in-process peer speaking Vault's and Consul's documented KV HTTP APIs
//!   (token header, both Vault KV shapes, 403/404, a stall knob, HTTPS with client certificates).
//! - [`target`]: in-process HTTP/HTTPS targets that count connections and requests.
//! - [`raw_client`]: a bare hyper/tokio-rustls client (and hand-written CONNECT) for checking
//!   the peers themselves without extsvc's client.

#![allow(
    clippy::exhaustive_enums,
    clippy::exhaustive_structs,
    reason = "test support (publish = false): its option types are written as literals by the tests"
)]

pub mod client;
pub mod fault_proxy;
pub mod hostile_resp;
pub mod http_peer;
pub mod kv_peer;
pub mod microsocks;
pub mod nginx;
pub mod openssl_server;
mod peer_process;
pub mod pki;
pub mod raw_client;
pub mod redis;
pub mod redis_topology;
mod server_thread;
pub mod squid;
pub mod target;
pub mod tyk_store;
