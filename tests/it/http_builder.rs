//! The request builder and Go's client behaviour (redirects, gzip, body limit,
//! User-Agent) against the in-process HTTP peer through a real squid: the issue's
//! "Done when" program, `crates/extsvc/examples/gateway_http.rs`, run as it is.

use extsvc_tests::http_peer::{GatewayPeers, HttpPeer};
use extsvc_tests::pki::{ServerTlsOptions, TestPki};

#[allow(
    dead_code,
    unreachable_pub,
    reason = "the example's `main` is not run here; its items are the example's API"
)]
#[path = "../../crates/extsvc/examples/gateway_http.rs"]
mod gateway_http;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_program_runs_through_squid() {
    let peers = GatewayPeers::start();
    let [proxy, ca, https_base, http_base] = peers.args();
    let lines = gateway_http::tour(&proxy, &ca, &https_base, &http_base)
        .await
        .unwrap_or_else(|e| panic!("{e}\nsquid: {}", peers.squid.log_tail()));
    let (https, http, squid) = (&peers.https, &peers.http, &peers.squid);
    assert_eq!(lines.len(), 8, "{lines:#?}");
    // Every request went through squid, in CONNECT tunnels (origin form inside).
    let seen = https.requests();
    assert!(seen.iter().all(|r| r.uri.starts_with('/')), "{seen:?}");
    let tunnels = squid.wait_for_requests(1, std::time::Duration::from_secs(10)).await;
    let authority = https.url().replace("https://", "");
    assert!(
        tunnels.iter().any(|t| t.method == "CONNECT" && t.target == authority),
        "{tunnels:?}"
    );
    // The refused hop never reached the plain peer.
    assert!(http.requests().is_empty(), "{:?}", http.requests());
}

use extsvc::{EnvSnapshot, ErrorKind, ExternalServices, RedirectPolicy, ServiceClient, ServiceKind};
use extsvc_tests::fault_proxy::{FaultMode, FaultProxy};
use extsvc_tests::http_peer::redirect_to;

/// The oauth client trusting the test CA, with `proxy` as its proxy block and `policy`.
async fn oauth(pki: &TestPki, proxy: serde_json::Value, policy: RedirectPolicy) -> ServiceClient {
    let conf = serde_json::json!({ "external_services": { "oauth": {
        "proxy": proxy,
        "mtls": { "enabled": true, "ca_file": pki.ca_cert_path.display().to_string() }
    }}})
    .to_string();
    ExternalServices::builder()
        .tyk_conf_str(conf, "tyk.conf")
        .env(EnvSnapshot::empty())
        .redirect_policy(ServiceKind::Oauth, policy)
        .build()
        .await
        .unwrap()
        .client(ServiceKind::Oauth)
}

async fn echo(response: http::Response<extsvc::ResponseBody>) -> serde_json::Value {
    assert_eq!(response.status(), 200);
    response.into_body().json().await.unwrap()
}

#[tokio::test]
async fn redirects_change_method_keep_bodies_and_drop_credentials_as_go_does() {
    let pki = TestPki::generate();
    let peer = HttpPeer::https(pki.server_config(ServerTlsOptions::default()));
    let client = oauth(&pki, serde_json::json!({}), RedirectPolicy::default()).await;
    let via = |status: u16, to: &str| format!("{}/redirect/{status}?to={}", peer.url(), redirect_to(to));

    // 303 after a POST: a GET without the body or its headers.
    let seen = echo(
        client
            .post(via(303, &format!("{}/echo/after", peer.url())))
            .json(&serde_json::json!({"a": 1}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(seen["method"], "GET");
    assert_eq!(seen["body"], "");
    assert!(seen["headers"].get("content-type").is_none(), "{seen}");

    // 307 and 308: the same method and body again.
    for status in [307, 308] {
        let seen = echo(
            client
                .put(via(status, &format!("{}/echo/again", peer.url())))
                .body("payload")
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (seen["method"].as_str(), seen["body"].as_str()),
            (Some("PUT"), Some("payload"))
        );
    }

    // Same origin: Authorization stays. Another host (127.0.0.1, same server): dropped.
    let same = echo(
        client
            .get(via(302, &format!("{}/echo/same", peer.url())))
            .bearer_auth("tok")
            .header("cookie", "a=b")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(same["headers"]["authorization"], "Bearer tok");
    let other = echo(
        client
            .get(via(302, &format!("{}/echo/other", peer.ip_url())))
            .bearer_auth("tok")
            .header("cookie", "a=b")
            .await
            .unwrap(),
    )
    .await;
    assert!(other["headers"].get("authorization").is_none(), "{other}");
    assert!(other["headers"].get("cookie").is_none(), "{other}");

    // A relative Location.
    let seen = echo(client.get(via(301, "/echo/relative")).await.unwrap()).await;
    assert_eq!(seen["uri"], "/echo/relative");

    // A streaming body cannot be sent again: the 307 is the answer.
    let streamed = http::Request::put(via(307, &format!("{}/echo/x", peer.url())))
        .body(http_body_util::Full::new(bytes::Bytes::from_static(b"once")))
        .unwrap();
    assert_eq!(client.request(streamed).await.unwrap().status(), 307);
}

#[tokio::test]
async fn the_redirect_policy_bounds_the_chain() {
    let pki = TestPki::generate();
    let peer = HttpPeer::https(pki.server_config(ServerTlsOptions::default()));
    let final_url = format!("{}/json", peer.url());
    let one = format!("{}/redirect/302?to={}", peer.url(), redirect_to(&final_url));
    let two = format!("{}/redirect/302?to={}", peer.url(), redirect_to(&one));

    let none = oauth(&pki, serde_json::json!({}), RedirectPolicy::none()).await;
    let response = none.get(&one).await.unwrap();
    assert_eq!(response.status(), 302);
    assert!(response.headers().contains_key("location"));

    let limited = oauth(&pki, serde_json::json!({}), RedirectPolicy::limited(1)).await;
    assert_eq!(limited.get(&one).await.unwrap().status(), 200);
    let err = limited.get(&two).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redirect, "{err}");
    assert!(err.to_string().contains("stopped after 1 redirects"), "{err}");
}

/// The in-process fault proxy (normal mode) records each CONNECT as it comes; squid logs a
/// tunnel only when it closes, and the first hop's connection stays pooled.
#[tokio::test]
async fn each_hop_is_routed_anew() {
    let pki = TestPki::generate();
    let first = HttpPeer::https(pki.server_config(ServerTlsOptions::default()));
    let second = HttpPeer::https(pki.server_config(ServerTlsOptions::default()));
    let proxy = FaultProxy::start(FaultMode::Normal);
    let first_authority = first.url().replace("https://", "");
    let second_authority = second.url().replace("https://", "");
    // The first peer's port is bypassed (direct); the second one goes through the proxy.
    let block = serde_json::json!({
        "enabled": true, "https_proxy": proxy.url(), "bypass_proxy": first_authority
    });
    let client = oauth(&pki, block, RedirectPolicy::default()).await;
    let hop = format!(
        "{}/redirect/302?to={}",
        first.url(),
        redirect_to(&format!("{}/json", second.url()))
    );
    let response = client.get(&hop).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.into_body().text().await.unwrap(), r#"{"answer": 42}"#);
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("CONNECT", second_authority.as_str())
    );
    assert_eq!((first.requests().len(), second.requests().len()), (1, 1));
}

#[tokio::test]
async fn gzip_is_asked_for_and_decoded_unless_the_caller_sets_accept_encoding() {
    let pki = TestPki::generate();
    let peer = HttpPeer::https(pki.server_config(ServerTlsOptions::default()));
    let client = oauth(&pki, serde_json::json!({}), RedirectPolicy::default()).await;

    let response = client.get(format!("{}/gzip", peer.url())).await.unwrap();
    assert!(response.headers().get("content-encoding").is_none());
    let json: serde_json::Value = response.into_body().json().await.unwrap();
    assert_eq!(json["compressed"], true);
    let asked = &peer.requests()[0];
    assert_eq!(asked.header("accept-encoding"), Some("gzip"));
    assert!(asked.header("user-agent").is_some_and(|ua| ua.starts_with("extsvc/")));

    // The caller's own Accept-Encoding (and User-Agent): the raw bytes.
    let response = client
        .get(format!("{}/gzip", peer.url()))
        .header("accept-encoding", "gzip")
        .header("user-agent", "my-gateway/1")
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let raw = response.into_body().bytes().await.unwrap();
    assert_eq!(&raw[..2], &[0x1f, 0x8b]);
    assert_eq!(peer.requests()[1].header("user-agent"), Some("my-gateway/1"));

    // The bomb: body_too_large after decompression, the service's own limit.
    let small = ExternalServices::builder()
        .tyk_conf_str(
            serde_json::json!({ "external_services": { "oauth": { "mtls": {
                "enabled": true, "ca_file": pki.ca_cert_path.display().to_string() } } } })
            .to_string(),
            "tyk.conf",
        )
        .env(EnvSnapshot::empty())
        .max_response_body(ServiceKind::Oauth, 1024 * 1024)
        .build()
        .await
        .unwrap()
        .client(ServiceKind::Oauth);
    let err = small
        .get(format!("{}/bomb", peer.url()))
        .await
        .unwrap()
        .into_body()
        .bytes()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BodyTooLarge, "{err}");
    assert!(err.to_string().contains("larger than 1048576 bytes"), "{err}");
}

#[tokio::test]
async fn building_errors_surface_at_send_without_echoing_values() {
    let pki = TestPki::generate();
    let client = oauth(&pki, serde_json::json!({}), RedirectPolicy::default()).await;
    let err = client
        .get("https://localhost:1/")
        .header("x-token", "s3cret\nvalue")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
    let err = client.get("not a uri").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
}
