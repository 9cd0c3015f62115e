//! The "Done when" program in a process of its own, so that its peak resident
//! memory is its own: a 100 MiB gzip bomb through squid is stopped by the body limit
//! under 200 MB (the limit is 32 MiB after decompression, read in 64 KiB steps).

use extsvc_tests::http_peer::GatewayPeers;

#[allow(
    dead_code,
    unreachable_pub,
    reason = "the example's `main` is not run here; its items are the example's API"
)]
#[path = "../../crates/extsvc/examples/gateway_http.rs"]
mod gateway_http;

/// This process's peak resident memory, in kB (Linux).
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace()
        .nth(1)
        .and_then(|kb| kb.parse().ok())
        .expect("a number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_bomb_through_squid_stays_under_200_mb() {
    let peers = GatewayPeers::start();
    let [proxy, ca, https_base, http_base] = peers.args();
    // The peer makes the bomb (about 100 KiB compressed) on its first request.
    let before = peak_rss_kb();
    let lines = gateway_http::tour(&proxy, &ca, &https_base, &http_base)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let peak = peak_rss_kb();
    eprintln!(
        "{}\npeak RSS {before} kB before the tour, {peak} kB after",
        lines.join("\n")
    );
    assert!(peak < 200 * 1024, "peak RSS {peak} kB");
}
