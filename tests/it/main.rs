//! The interop and cross-crate tests, in one binary: one link instead of one per file,
//! and one `tls_support` module shared by the `tls_*` tests.

mod client_body;
mod client_nginx;
mod client_pool;
mod client_proxy;
mod client_redis;
mod client_redis_socks;
mod client_services;
mod client_squid;
mod client_stream;
mod compose;
mod faults;
mod front_door;
mod hostile_config_in_code;
mod peers_fault_proxy;
mod peers_nginx;
mod peers_redis;
mod peers_squid;
mod peers_target;
mod pool_controls;
mod recovery;
mod rotation_lifetime;
mod socks;
mod storage_redis;
mod tls_check;
mod tls_errors;
mod tls_interop;
mod tls_redis_store;
mod tls_renegotiation;
mod tls_rotation;
mod tls_rotation_nginx;
mod tls_rotation_proxy;
mod tls_support;
mod tls_tyk_store;
mod tyk_https_fallback;
