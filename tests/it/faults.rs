//! Hostile peers: every [`FaultMode`] of the in-process proxy, for every service kind and
//! both proxy hops (`CONNECT` tunnel to an `https://` target, absolute-form forwarding of an
//! `http://` target), ends in a typed error naming its phase within the deadline; so do a
//! hanging, trickling, refusing or impostor target on the direct route. The same holds for
//! a hostile SOCKS5 peer (garbage greeting, silence, a close mid-handshake, a refusal).
//!
//! Each case runs under a per-request deadline ([`DEADLINE`], via `RequestTimeout`) so the
//! suite is fast; `each_service_enforces_its_own_configured_timeout` shows that without the
//! override the service's own timeout is the one enforced, and that the built-in timeouts are
//! the seed's table.
//!
//! Run with `-- --nocapture --test-threads=1` to print (on stderr) the rows of the table in
//! `docs/reliability.md`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use extsvc_client::{ErrorKind, ExternalServices, Phase, RequestTimeout, ServiceClient};
use extsvc_config::ServiceKind;
use extsvc_resolve::ResolvedService;
use extsvc_tests::client::{client_of, resolved_service};
use extsvc_tests::fault_proxy::{basic_proxy_authorization, FaultMode, FaultProxy};
use extsvc_tests::pki::{ServerTlsOptions, TestPki};
use extsvc_tests::target::{TargetOptions, TestTarget};
use extsvc_tls::{build_service_tls, TlsOptions};
use http_body_util::BodyExt;

/// The per-request deadline of every case.
const DEADLINE: Duration = Duration::from_millis(800);
/// How late after its deadline a case may end (scheduling on a busy 2-core machine).
const LATE: Duration = Duration::from_secs(2);
/// How early before its deadline a timeout may fire.
const EARLY: Duration = Duration::from_millis(50);
/// Large enough that [`FaultMode::ResetMidBody`] cuts it (above `RESET_AFTER_TUNNEL_BYTES`).
const PATH: &str = "/fault?bytes=131072";

/// How a request reaches the target through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    /// `https://` target: `CONNECT` tunnel, then TLS to the target.
    Tunnel,
    /// `http://` target: absolute-form request to the proxy.
    Forward,
}

/// What a case must end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A response with this status, body read to its end.
    Status(u16),
    /// An error of this kind in this phase.
    Fails(ErrorKind, Phase),
}

/// How a case ended.
struct Outcome {
    kind: ServiceKind,
    hop: Hop,
    result: Result<u16, extsvc_client::Error>,
    elapsed: Duration,
}

impl Outcome {
    fn cell(&self) -> String {
        let ms = self.elapsed.as_millis();
        match &self.result {
            Ok(status) => format!("response {status}, {ms} ms"),
            Err(e) => match e.phase() {
                Some(phase) => format!("`{}` in `{}`, {ms} ms", e.kind(), phase.as_str()),
                None => format!("`{}`, {ms} ms", e.kind()),
            },
        }
    }
}

/// The mode's name for messages and the table (credentials left out).
fn mode_label(mode: &FaultMode) -> String {
    match mode {
        FaultMode::Require407 { .. } => "Require407".to_owned(),
        other => format!("{other:?}"),
    }
}

/// A tyk.conf that sends `kind` through `proxy_url` for both schemes and trusts the test CA.
fn tyk_conf(kind: ServiceKind, proxy_url: Option<&str>, pki: &TestPki) -> String {
    let ca = pki.ca_cert_path.display().to_string();
    let proxy = match proxy_url {
        Some(url) => serde_json::json!({ "enabled": true, "http_proxy": url, "https_proxy": url }),
        None => serde_json::json!({}),
    };
    serde_json::json!({
        "external_services": {
            kind.as_str(): {
                "proxy": proxy,
                "mtls": { "enabled": true, "ca_file": ca }
            }
        }
    })
    .to_string()
}

fn resolved(kind: ServiceKind, proxy_url: Option<&str>, pki: &TestPki) -> ResolvedService {
    let json = tyk_conf(kind, proxy_url, pki);
    resolved_service(&json, kind)
}

/// GET `url` (body read to its end) with `deadline`; also bounded from outside, so a hang
/// is a failed assertion rather than a stuck test.
async fn get(
    client: &ServiceClient,
    url: &str,
    deadline: Option<Duration>,
) -> (Result<u16, extsvc_client::Error>, Duration) {
    let mut request = http::Request::get(url)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    if let Some(deadline) = deadline {
        request.extensions_mut().insert(RequestTimeout(deadline));
    }
    let started = Instant::now();
    let exchange = async {
        let response = client.request(request).await?;
        let status = response.status().as_u16();
        response.into_body().collect().await?;
        Ok(status)
    };
    let bound = deadline.unwrap_or_else(|| client.service().timeout) + LATE + Duration::from_secs(3);
    let result = tokio::time::timeout(bound, exchange)
        .await
        .unwrap_or_else(|_| panic!("GET {url} hung for {bound:?}"));
    (result, started.elapsed())
}

/// Asserts `outcome` is `expect`, within the deadline, with the phase in the message.
fn check(outcome: &Outcome, expect: Expect, deadline: Duration, label: &str) {
    let what = format!("{label} {} {:?}", outcome.kind, outcome.hop);
    match (&outcome.result, expect) {
        (Ok(status), Expect::Status(want)) => assert_eq!(*status, want, "{what}"),
        (Err(e), Expect::Fails(kind, phase)) => {
            assert_eq!((e.kind(), e.phase()), (kind, Some(phase)), "{what}: {e}");
            let message = e.to_string();
            assert!(
                message.contains(&phase.to_string()),
                "{what}: the message names the phase: {message}"
            );
            if kind == ErrorKind::Timeout {
                assert!(e.is_timeout(), "{what}");
                assert!(
                    outcome.elapsed + EARLY >= deadline,
                    "{what}: timed out early, after {:?}",
                    outcome.elapsed
                );
            }
        }
        (got, want) => panic!("{what}: expected {want:?}, got {got:?}"),
    }
    assert!(
        outcome.elapsed <= deadline + LATE,
        "{what}: ended after {:?}, deadline {deadline:?}",
        outcome.elapsed
    );
}

/// The targets of a run: the same content over HTTPS (tunnelled) and plain HTTP (forwarded).
struct Targets {
    pki: TestPki,
    https: TestTarget,
    http: TestTarget,
}

impl Targets {
    fn start() -> Targets {
        let pki = TestPki::generate();
        let https = TestTarget::https(TargetOptions::default(), pki.server_config(ServerTlsOptions::default()));
        let http = TestTarget::http(TargetOptions::default());
        Targets { pki, https, http }
    }

    fn url(&self, hop: Hop, path: &str) -> String {
        match hop {
            Hop::Tunnel => format!("{}{path}", self.https.url()),
            Hop::Forward => format!("{}{path}", self.http.url()),
        }
    }

    fn target(&self, hop: Hop) -> &TestTarget {
        match hop {
            Hop::Tunnel => &self.https,
            Hop::Forward => &self.http,
        }
    }
    /// One GET to [`PATH`] per service kind and hop through `proxy_url`, all at once,
    /// each under [`DEADLINE`]; sorted by kind, the tunnelled case first.
    async fn every_service_and_hop(&self, proxy_url: &str) -> Vec<Outcome> {
        let mut cases = tokio::task::JoinSet::new();
        for kind in ServiceKind::ALL {
            let client = client_of(resolved(kind, Some(proxy_url), &self.pki)).await;
            for hop in [Hop::Tunnel, Hop::Forward] {
                let client = client.clone();
                let url = self.url(hop, PATH);
                cases.spawn(async move {
                    let (result, elapsed) = get(&client, &url, Some(DEADLINE)).await;
                    Outcome {
                        kind,
                        hop,
                        result,
                        elapsed,
                    }
                });
            }
        }
        let mut outcomes = cases.join_all().await;
        outcomes.sort_by_key(|o| (o.kind.index(), o.hop == Hop::Forward));
        outcomes
    }
}

/// Runs every service kind over both hops through a proxy in `mode`, concurrently, and
/// checks each case. `reaches_target`: whether the proxy passes the request on.
async fn fault_matrix(mode: FaultMode, tunnel: Expect, forward: Expect, reaches_target: bool) {
    let targets = Targets::start();
    let proxy = FaultProxy::start(mode.clone());
    let outcomes = targets.every_service_and_hop(&proxy.url()).await;

    let label = mode_label(&mode);
    let mut rows = String::new();
    for pair in outcomes.chunks(2) {
        check(&pair[0], tunnel, DEADLINE, &label);
        check(&pair[1], forward, DEADLINE, &label);
        for outcome in pair {
            if let Err(e) = &outcome.result {
                assert!(
                    e.proxy().is_some_and(|p| p.contains(&proxy.addr().port().to_string())),
                    "{label} {:?}: the error names the proxy: {e}",
                    outcome.hop
                );
            }
        }
        rows.push_str(&format!(
            "| {label} | {} | {} | {} |\n",
            pair[0].kind,
            pair[0].cell(),
            pair[1].cell()
        ));
    }
    eprintln!("{rows}");

    // Each request went to the proxy exactly once: no retry, no fallback to a direct route.
    let seen = proxy.requests();
    assert_eq!(seen.len(), 2 * ServiceKind::ALL.len(), "{label}: {seen:?}");
    let connects = seen
        .iter()
        .filter(|r| r.method == "CONNECT" && r.target == targets.https.authority())
        .count();
    assert_eq!(connects, ServiceKind::ALL.len(), "{label}: {seen:?}");
    let wanted = if reaches_target {
        ServiceKind::ALL.len() as u64
    } else {
        0
    };
    for hop in [Hop::Tunnel, Hop::Forward] {
        assert_eq!(
            targets.target(hop).stats().requests,
            wanted,
            "{label} {hop:?}: requests at the target"
        );
    }
}

#[tokio::test]
async fn normal_proxy_serves_every_service_on_both_hops() {
    fault_matrix(FaultMode::Normal, Expect::Status(200), Expect::Status(200), true).await;
}

#[tokio::test]
async fn proxy_that_accepts_and_hangs_times_out_in_the_proxy_phase() {
    fault_matrix(
        FaultMode::AcceptAndHang,
        Expect::Fails(ErrorKind::Timeout, Phase::ProxyConnect),
        Expect::Fails(ErrorKind::Timeout, Phase::ResponseHeaders),
        false,
    )
    .await;
}

#[tokio::test]
async fn proxy_answering_garbage_is_a_protocol_error() {
    fault_matrix(
        FaultMode::Garbage,
        Expect::Fails(ErrorKind::ProxyProtocol, Phase::ProxyConnect),
        Expect::Fails(ErrorKind::Http, Phase::ResponseHeaders),
        false,
    )
    .await;
}

#[tokio::test]
async fn proxy_sending_huge_headers_is_cut_off() {
    fault_matrix(
        FaultMode::HugeHeaders,
        Expect::Fails(ErrorKind::ProxyProtocol, Phase::ProxyConnect),
        Expect::Fails(ErrorKind::Http, Phase::ResponseHeaders),
        false,
    )
    .await;
}

#[tokio::test]
async fn proxy_closing_after_connect_200_fails_the_target_handshake() {
    fault_matrix(
        FaultMode::CloseAfterConnect200,
        Expect::Fails(ErrorKind::Tls, Phase::Tls),
        Expect::Fails(ErrorKind::Http, Phase::ResponseHeaders),
        false,
    )
    .await;
}

#[tokio::test]
async fn proxy_resetting_mid_body_fails_the_body() {
    // Through the tunnel the cut (after 16 KiB from the target, handshake included) lands in
    // the first TLS record, which carries the response head: the headers fail. Forwarded,
    // the head arrives whole and half the body follows.
    fault_matrix(
        FaultMode::ResetMidBody,
        Expect::Fails(ErrorKind::Http, Phase::ResponseHeaders),
        Expect::Fails(ErrorKind::Http, Phase::ResponseBody),
        true,
    )
    .await;
}

#[tokio::test]
async fn proxy_trickling_its_answer_times_out_in_the_proxy_phase() {
    fault_matrix(
        FaultMode::Trickle(Duration::from_millis(50)),
        Expect::Fails(ErrorKind::Timeout, Phase::ProxyConnect),
        Expect::Fails(ErrorKind::Timeout, Phase::ResponseHeaders),
        false,
    )
    .await;
}

#[tokio::test]
async fn proxy_answering_502_is_a_proxy_status_error() {
    // A forwarding proxy's 502 is an HTTP response like any other: it is returned as such.
    fault_matrix(
        FaultMode::Status(502),
        Expect::Fails(ErrorKind::ProxyStatus, Phase::ProxyConnect),
        Expect::Status(502),
        false,
    )
    .await;
}

#[tokio::test]
async fn proxy_answering_503_is_a_proxy_status_error() {
    fault_matrix(
        FaultMode::Status(503),
        Expect::Fails(ErrorKind::ProxyStatus, Phase::ProxyConnect),
        Expect::Status(503),
        false,
    )
    .await;
}

#[tokio::test]
async fn proxy_demanding_credentials_is_a_proxy_auth_error() {
    fault_matrix(
        FaultMode::Require407 {
            user: "gw".to_owned(),
            password: "s3cret-pw".to_owned(),
        },
        // Forwarded, the 407 is the proxy's answer to the request itself: the same error,
        // in the phase where it arrives.
        Expect::Fails(ErrorKind::ProxyAuth, Phase::ProxyConnect),
        Expect::Fails(ErrorKind::ProxyAuth, Phase::ResponseHeaders),
        false,
    )
    .await;
}

/// Runs every service kind over both hops through the hostile SOCKS5 peer in `mode`
/// (`socks5h://` for both schemes): every case ends in `expect`, its message contains
/// `says`, and the peer read a connect request per case when `reads_requests`.
async fn socks_fault_matrix(mode: FaultMode, expect: Expect, says: &str, reads_requests: bool) {
    let targets = Targets::start();
    let proxy = FaultProxy::start(mode.clone());
    let url = proxy.socks_url("socks5h");
    let outcomes = targets.every_service_and_hop(&url).await;
    let label = mode_label(&mode);
    let mut rows = String::new();
    for pair in outcomes.chunks(2) {
        for outcome in pair {
            check(outcome, expect, DEADLINE, &label);
            let e = outcome.result.as_ref().unwrap_err();
            assert!(e.is_proxy() && e.is_connect(), "{label}: {e}");
            assert!(e.to_string().contains(says), "{label}: {e}");
            assert!(
                e.proxy().is_some_and(|p| p.starts_with("socks5h://")),
                "{label}: the error names the SOCKS proxy: {e}"
            );
        }
        rows.push_str(&format!(
            "| {label} (socks5h) | {} | {} | {} |\n",
            pair[0].kind,
            pair[0].cell(),
            pair[1].cell()
        ));
    }
    eprintln!("{rows}");
    // One proxy connection per case: no retry, no fallback to a direct route.
    assert_eq!(proxy.stats().accepted, 2 * ServiceKind::ALL.len() as u64, "{label}");
    let wanted = if reads_requests { 2 * ServiceKind::ALL.len() } else { 0 };
    let seen = proxy.requests();
    assert_eq!(seen.len(), wanted, "{label}: {seen:?}");
    assert!(seen.iter().all(|r| r.method == "SOCKS5"), "{seen:?}");
    for hop in [Hop::Tunnel, Hop::Forward] {
        assert_eq!(targets.target(hop).stats().requests, 0, "{label} {hop:?}");
    }
}

#[tokio::test]
async fn socks_peer_answering_garbage_is_a_protocol_error() {
    socks_fault_matrix(
        FaultMode::SocksGarbage,
        Expect::Fails(ErrorKind::ProxyProtocol, Phase::SocksHandshake),
        "not SOCKS5",
        false,
    )
    .await;
}

#[tokio::test]
async fn socks_peer_staying_silent_times_out_in_the_socks_handshake() {
    socks_fault_matrix(
        FaultMode::SocksSilent,
        Expect::Fails(ErrorKind::Timeout, Phase::SocksHandshake),
        "during the SOCKS5 handshake with the proxy",
        false,
    )
    .await;
}

#[tokio::test]
async fn socks_peer_closing_mid_handshake_is_a_proxy_connect_error() {
    socks_fault_matrix(
        FaultMode::SocksCloseMidHandshake,
        Expect::Fails(ErrorKind::ProxyConnect, Phase::SocksHandshake),
        "closed the connection in the middle of the SOCKS5 handshake",
        true,
    )
    .await;
}

#[tokio::test]
async fn socks_peer_refusing_the_connect_names_the_reply() {
    socks_fault_matrix(
        FaultMode::SocksReply(2),
        Expect::Fails(ErrorKind::ProxyStatus, Phase::SocksHandshake),
        "connection not allowed by ruleset (reply 2)",
        true,
    )
    .await;
}

/// Wrong credentials: a 407 error that never shows the password; right ones: served, and
/// the target never sees `Proxy-Authorization`.
#[tokio::test]
async fn proxy_credentials_are_sent_only_to_the_proxy_and_never_printed() {
    let targets = Targets::start();
    let proxy = FaultProxy::start(FaultMode::Require407 {
        user: "gw".to_owned(),
        password: "s3cret-pw".to_owned(),
    });
    for kind in ServiceKind::ALL {
        let wrong = client_of(resolved(
            kind,
            Some(&proxy.url_with_credentials("gw", "wr0ng-pw")),
            &targets.pki,
        ))
        .await;
        for (hop, phase) in [
            (Hop::Tunnel, Phase::ProxyConnect),
            (Hop::Forward, Phase::ResponseHeaders),
        ] {
            let (result, elapsed) = get(&wrong, &targets.url(hop, "/"), Some(DEADLINE)).await;
            let e = result.unwrap_err();
            assert_eq!(
                (e.kind(), e.phase()),
                (ErrorKind::ProxyAuth, Some(phase)),
                "{kind} {hop:?}: {e}"
            );
            assert!(e.is_proxy() && elapsed < DEADLINE, "{kind}: {e} after {elapsed:?}");
            for shown in [e.to_string(), format!("{e:?}"), format!("{wrong:?}")] {
                assert!(!shown.contains("wr0ng-pw"), "{kind}: password shown: {shown}");
            }
            assert!(e.to_string().contains("gw:***@"), "{kind}: {e}");
            assert!(e.to_string().contains("rejected the credentials"), "{kind}: {e}");
        }

        let right = client_of(resolved(
            kind,
            Some(&proxy.url_with_credentials("gw", "s3cret-pw")),
            &targets.pki,
        ))
        .await;
        for hop in [Hop::Tunnel, Hop::Forward] {
            let mut request = http::Request::get(targets.url(hop, "/"))
                .body(http_body_util::Empty::<Bytes>::new())
                .unwrap();
            request.extensions_mut().insert(RequestTimeout(DEADLINE));
            let response = right
                .request(request)
                .await
                .unwrap_or_else(|e| panic!("{kind} {hop:?}: {e}"));
            assert_eq!(response.status(), 200, "{kind} {hop:?}");
            assert_eq!(
                response.headers()["x-target-proxy-authorization"],
                "absent",
                "{kind} {hop:?}"
            );
        }
    }
    let expected = basic_proxy_authorization("gw", "s3cret-pw");
    let accepted = proxy
        .requests()
        .iter()
        .filter(|r| r.proxy_authorization.as_deref() == Some(expected.as_str()))
        .count();
    assert_eq!(
        accepted,
        2 * ServiceKind::ALL.len(),
        "the right credentials reached the proxy on both hops"
    );
}

/// Hostile targets on the direct route: a target that never answers, one that trickles its
/// body, a closed port and an impostor certificate.
#[tokio::test]
async fn hostile_targets_on_the_direct_route_fail_in_their_phase() {
    let targets = Targets::start();
    let impostor = TestTarget::https(
        TargetOptions::default(),
        targets.pki.server_config(ServerTlsOptions {
            rogue_server_cert: true,
            ..ServerTlsOptions::default()
        }),
    );
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let slow_headers = format!("{}/?delay_ms=5000", targets.https.url());
    let slow_body = format!("{}/?bytes=100&trickle_ms=50", targets.http.url());
    let refused = format!("http://127.0.0.1:{closed_port}/");
    let rogue = format!("{}/", impostor.url());
    let cases = [
        (
            "target delays its headers",
            slow_headers,
            Expect::Fails(ErrorKind::Timeout, Phase::ResponseHeaders),
        ),
        (
            "target trickles its body",
            slow_body,
            Expect::Fails(ErrorKind::Timeout, Phase::ResponseBody),
        ),
        (
            "target port closed",
            refused,
            Expect::Fails(ErrorKind::Connect, Phase::Connect),
        ),
        (
            "target certificate from an unknown CA",
            rogue,
            Expect::Fails(ErrorKind::Tls, Phase::Tls),
        ),
    ];
    let mut rows = String::new();
    for kind in ServiceKind::ALL {
        let client = client_of(resolved(kind, None, &targets.pki)).await;
        let mut running = tokio::task::JoinSet::new();
        for (label, url, expect) in cases.clone() {
            let client = client.clone();
            running.spawn(async move {
                let (result, elapsed) = get(&client, &url, Some(DEADLINE)).await;
                (
                    label,
                    expect,
                    Outcome {
                        kind,
                        hop: Hop::Forward,
                        result,
                        elapsed,
                    },
                )
            });
        }
        let mut done = running.join_all().await;
        done.sort_by_key(|(label, ..)| *label);
        for (label, expect, outcome) in done {
            check(&outcome, expect, DEADLINE, label);
            if let Err(e) = &outcome.result {
                assert!(!e.is_proxy() && e.proxy().is_none(), "{label} {kind}: {e}");
            }
            rows.push_str(&format!("| {label} | {kind} | {} |\n", outcome.cell()));
        }
    }
    eprintln!("{rows}");
    assert_eq!(
        impostor.stats().requests,
        0,
        "no request is sent over an unverified connection"
    );
}

/// The built-in timeouts are the seed's table, and without a per-request override the
/// service's own timeout is the one enforced (shortened here so the test is fast).
#[tokio::test]
async fn each_service_enforces_its_own_configured_timeout() {
    let seed = [
        (ServiceKind::Oauth, 15),
        (ServiceKind::Health, 10),
        (ServiceKind::Storage, 20),
        (ServiceKind::Discovery, 10),
        (ServiceKind::Webhooks, 30),
    ];
    let targets = Targets::start();
    let proxy = FaultProxy::start(FaultMode::AcceptAndHang);
    let parts = service_parts(&targets.pki, &proxy.url()).await;
    let services = ExternalServices::from_parts(parts);
    for (kind, secs) in seed {
        let client = services.client(kind);
        assert_eq!(client.service().timeout, Duration::from_secs(secs), "{kind}");

        let mut shortened = client.service().clone();
        shortened.timeout = Duration::from_millis(600 + 100 * kind.index() as u64);
        let deadline = shortened.timeout;
        let client = client_of(shortened).await;
        let (result, elapsed) = get(&client, &targets.url(Hop::Tunnel, "/"), None).await;
        let outcome = Outcome {
            kind,
            hop: Hop::Tunnel,
            result,
            elapsed,
        };
        check(
            &outcome,
            Expect::Fails(ErrorKind::Timeout, Phase::ProxyConnect),
            deadline,
            "configured timeout",
        );
        let e = outcome.result.unwrap_err();
        assert!(e.is_proxy(), "{kind}: {e}");
        assert!(
            e.to_string().contains(&format!("{deadline:?}")),
            "{kind}: the message gives the budget: {e}"
        );
    }
}

/// Every service's resolution and TLS, through `proxy_url`, for [`ExternalServices::from_parts`].
async fn service_parts(pki: &TestPki, proxy_url: &str) -> Vec<(ResolvedService, extsvc_tls::ServiceTls)> {
    let mut parts = Vec::new();
    for kind in ServiceKind::ALL {
        let service = resolved(kind, Some(proxy_url), pki);
        let tls = build_service_tls(&service, None, &TlsOptions::default()).await.unwrap();
        parts.push((service, tls));
    }
    parts
}

/// `storage`'s stream connector (Redis and other non-HTTP clients) through the same
/// hostile proxies: `redis://` is always tunnelled with `CONNECT`, and the whole connect
/// runs under the connector's deadline.
#[tokio::test]
async fn storage_stream_connector_fails_typed_through_a_hostile_proxy() {
    let targets = Targets::start();
    let cases = [
        (FaultMode::Normal, None),
        (FaultMode::AcceptAndHang, Some(ErrorKind::Timeout)),
        (FaultMode::Trickle(Duration::from_millis(50)), Some(ErrorKind::Timeout)),
        (FaultMode::Garbage, Some(ErrorKind::ProxyProtocol)),
        (FaultMode::HugeHeaders, Some(ErrorKind::ProxyProtocol)),
        (FaultMode::Status(502), Some(ErrorKind::ProxyStatus)),
        (
            FaultMode::Require407 {
                user: "gw".to_owned(),
                password: "s3cret-pw".to_owned(),
            },
            Some(ErrorKind::ProxyAuth),
        ),
    ];
    let destination: http::Uri = format!("redis://{}", targets.http.authority()).parse().unwrap();
    let mut rows = String::new();
    for (mode, expected) in cases {
        let proxy = FaultProxy::start(mode.clone());
        let service = resolved(ServiceKind::Storage, Some(&proxy.url()), &targets.pki);
        let tls = build_service_tls(&service, None, &TlsOptions::default()).await.unwrap();
        let connector =
            extsvc_client::StreamConnector::new(Arc::new(service), tls.target, tls.proxy).with_timeout(DEADLINE);
        let started = Instant::now();
        let result = tokio::time::timeout(DEADLINE + LATE, connector.connect(destination.clone()))
            .await
            .unwrap_or_else(|_| panic!("{mode:?}: the connect hung"));
        let elapsed = started.elapsed();
        assert!(elapsed <= DEADLINE + LATE, "{mode:?}: {elapsed:?}");
        let cell = match (result, expected) {
            (Ok(_stream), None) => format!("connected, {} ms", elapsed.as_millis()),
            (Err(e), Some(kind)) => {
                assert_eq!(
                    (e.kind(), e.phase()),
                    (kind, Some(Phase::ProxyConnect)),
                    "{mode:?}: {e}"
                );
                assert!(e.is_proxy(), "{mode:?}: {e}");
                if kind == ErrorKind::Timeout {
                    assert!(elapsed + EARLY >= DEADLINE, "{mode:?}: early, {elapsed:?}");
                } else {
                    assert!(elapsed < DEADLINE, "{mode:?}: {elapsed:?}");
                }
                format!("`{}` in `proxy_connect`, {} ms", e.kind(), elapsed.as_millis())
            }
            (got, want) => panic!("{mode:?}: expected {want:?}, got {:?}", got.map(|_| "a stream")),
        };
        let seen = proxy.requests();
        assert_eq!(seen.len(), 1, "{mode:?}: one CONNECT, no retry: {seen:?}");
        assert_eq!(seen[0].method, "CONNECT", "{mode:?}");
        let label = mode_label(&mode);
        rows.push_str(&format!("| {label} | {cell} |\n"));
    }
    eprintln!("{rows}");
}
