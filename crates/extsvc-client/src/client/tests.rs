use super::*;
use crate::io::Hop;
use crate::ErrorKind;
use extsvc_config::{EnvSnapshot, ExternalServicesConfig, ServiceKind};
use http::header::{HOST, PROXY_AUTHORIZATION};
use http::uri::Authority;
use http::HeaderValue;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) fn plain_tls() -> Arc<rustls::ClientConfig> {
    let provider = extsvc_tls::crypto_provider();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    Arc::new(config)
}

fn direct_client(kind: ServiceKind) -> ServiceClient {
    let resolution = extsvc_resolve::resolve(&ExternalServicesConfig::default(), &EnvSnapshot::empty());
    let tls = plain_tls();
    ServiceClient::from_parts(resolution.service(kind).clone(), tls.clone(), tls)
}

fn boxed(body: &'static str) -> RequestBody {
    box_body(http_body_util::Full::new(Bytes::from_static(body.as_bytes())), None)
}

#[test]
fn a_target_is_read_once_with_its_port_and_proxy_field() {
    let target = Target::of(&"HTTPS://Example.com/x".parse().unwrap()).unwrap();
    assert_eq!((target.host(), target.port), ("Example.com", 443));
    assert_eq!(target.target_scheme, extsvc_resolve::TargetScheme::Https);
    assert_eq!(target.to_string(), "https://Example.com");
    let target = Target::of(&"http://[::1]:8080/".parse().unwrap()).unwrap();
    assert_eq!((target.host(), target.port), ("[::1]", 8080));
    assert_eq!(target.target_scheme, extsvc_resolve::TargetScheme::Http);
    for refused in ["redis://cache:6379", "/relative", "https://user:secret@a/"] {
        let err = Target::of(&refused.parse().unwrap()).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{refused}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}

#[test]
fn forward_hops_keep_absolute_form_and_get_proxy_credentials() {
    let proxy = ProxyUrl::parse("http://gw:secret@proxy:3128").unwrap();
    let mut req = Request::get("http://target:8080/a?b=1").body(boxed("")).unwrap();
    let authority = Authority::from_static("target:8080");
    prepare(
        &mut req,
        Hop::Forward,
        Some(&proxy),
        &authority,
        &HeaderValue::from_static("x"),
    )
    .unwrap();
    assert_eq!(req.uri(), "http://target:8080/a?b=1");
    assert_eq!(req.headers()[HOST], "target:8080");
    assert_eq!(req.headers()[PROXY_AUTHORIZATION], proxy.proxy_authorization().unwrap());
    assert!(req.headers()[PROXY_AUTHORIZATION].is_sensitive());
}

#[test]
fn direct_and_tunnel_hops_use_origin_form_and_never_proxy_credentials() {
    let proxy = ProxyUrl::parse("http://gw:secret@proxy:3128").unwrap();
    for hop in [Hop::Direct, Hop::Tunnel] {
        let mut req = Request::get("https://target/x")
            .header(PROXY_AUTHORIZATION, "Basic Zm9vOmJhcg==")
            .header(HOST, "virtual.example")
            .body(boxed(""))
            .unwrap();
        let cached = HeaderValue::from_static("target");
        prepare(&mut req, hop, Some(&proxy), &Authority::from_static("target"), &cached).unwrap();
        assert_eq!(req.uri(), "/x");
        assert!(!req.headers().contains_key(PROXY_AUTHORIZATION), "{hop:?}");
        assert_eq!(req.headers()[HOST], "virtual.example", "a Host set by the caller stays");
    }
    let mut req = Request::get("http://target").body(boxed("")).unwrap();
    let cached = HeaderValue::from_static("target");
    prepare(&mut req, Hop::Direct, None, &Authority::from_static("target"), &cached).unwrap();
    assert_eq!(req.headers()[HOST], "target");
    assert_eq!(req.uri(), "/");
    // No path before a fragment or a query: still `/`.
    for (uri, origin) in [
        ("http://target:8080#frag", "/"),
        ("http://target:8080?q=1", "/?q=1"),
        ("http://target:8080/p#f", "/p"),
    ] {
        let mut req = Request::get(uri).body(boxed("")).unwrap();
        prepare(&mut req, Hop::Direct, None, &Authority::from_static("target"), &cached).unwrap();
        assert_eq!(req.uri(), origin, "{uri}");
    }
}

#[test]
fn the_debug_output_names_the_proxy_redacted() {
    let env = EnvSnapshot::empty();
    let json = r#"{"external_services":{"global":{"enabled":true,"https_proxy":"http://gw:hunter2@proxy:3128"}}}"#;
    let loaded = extsvc_config::load_str(json, "tyk.conf", &env, &Default::default()).unwrap();
    let resolution = extsvc_resolve::resolve(&loaded.config, &env);
    let tls = plain_tls();
    let client = ServiceClient::from_parts(resolution.service(ServiceKind::Oauth).clone(), tls.clone(), tls);
    let debug = format!("{client:?}");
    assert!(debug.contains("http://gw:***@proxy:3128"), "{debug}");
    assert!(!debug.contains("hunter2"), "{debug}");
}

#[tokio::test]
async fn relative_uris_are_refused() {
    let client = direct_client(ServiceKind::Health);
    let err = client
        .request(Request::get("/relative").body(String::new()).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
}

#[tokio::test]
async fn a_uri_with_credentials_is_refused_and_they_are_never_repeated() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = direct_client(ServiceKind::Webhooks);
    for uri in [
        format!("http://alice:s3cr3t@{addr}/hook"),
        format!("https://alice:s3cr3t@{addr}/hook"),
        "ftp://alice:s3cr3t@example.com/file".to_owned(),
    ] {
        let err = client
            .request(Request::post(uri.as_str()).body(String::from("payload")).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{uri}: {err}");
        let text = format!("{err} | {err:?}");
        assert!(text.contains("user:***@"), "{text}");
        assert!(!text.contains("s3cr3t") && !text.contains("alice"), "{text}");
    }
    // Nothing was sent: no connection was even opened.
    assert_eq!(client.stats().opened, 0);
    let accepted = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
    assert!(accepted.is_err(), "the client connected to the target");
}

/// A server on its own thread that answers the first request of each connection
/// with `ok` and `Connection: keep-alive`; it closes the first connection when told,
/// and reports when it has.
fn closing_server() -> (String, std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (close, close_rx) = std::sync::mpsc::channel::<()>();
    let (closed_tx, closed) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok");
            if n == 0 {
                let _ = close_rx.recv();
                drop(stream);
                let _ = closed_tx.send(());
            }
        }
    });
    (url, close, closed)
}

/// Reads a response to its end; its status.
async fn status_of(response: Response<ResponseBody>) -> u16 {
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    status
}

/// Lets the server close the idle connection while this (single-threaded) runtime
/// does not look: the client still believes the connection is open.
async fn server_closes_idle_connection(close: &std::sync::mpsc::Sender<()>, closed: &std::sync::mpsc::Receiver<()>) {
    tokio::time::sleep(Duration::from_millis(50)).await; // the connection settles idle
    close.send(()).unwrap();
    closed.recv_timeout(Duration::from_secs(5)).unwrap();
    // Blocking on purpose: the FIN arrives, the runtime does not poll it.
    std::thread::sleep(Duration::from_millis(50));
}

#[tokio::test]
async fn a_get_on_a_keep_alive_connection_the_server_closed_is_sent_once_more() {
    let (url, close, closed) = closing_server();
    let client = direct_client(ServiceKind::Health);
    let first = client.request(Request::get(url.as_str()).body(String::new()).unwrap());
    assert_eq!(status_of(first.await.unwrap()).await, 200);
    assert_eq!(client.stats().idle, 1);
    server_closes_idle_connection(&close, &closed).await;

    let second = client.request(Request::get(url.as_str()).body(String::new()).unwrap());
    assert_eq!(status_of(second.await.unwrap()).await, 200);
    assert_eq!(client.stats().opened, 2, "sent again on a new connection");
}

#[tokio::test]
async fn a_post_with_a_body_is_not_sent_again() {
    let (url, close, closed) = closing_server();
    let client = direct_client(ServiceKind::Webhooks);
    let first = client.request(Request::get(url.as_str()).body(String::new()).unwrap());
    assert_eq!(status_of(first.await.unwrap()).await, 200);
    server_closes_idle_connection(&close, &closed).await;

    // Written to the closed connection: the server may have acted on it, so no retry.
    let err = client
        .request(Request::post(url.as_str()).body(String::from("charge")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Http, "{err}");
    assert_eq!(client.stats().opened, 1, "not sent again");
}

/// A server that reads `read_limit` bytes of each connection and then never answers.
async fn silent_server(read_limit: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut read = 0;
                let mut buf = vec![0u8; 8192];
                while read < read_limit {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                }
                tokio::time::sleep(Duration::from_secs(30)).await;
                let _ = socket.write_all(b"").await;
            });
        }
    });
    url
}

async fn post(client: &ServiceClient, url: &str, body: Vec<u8>) -> Error {
    let mut req = Request::post(url)
        .body(http_body_util::Full::new(Bytes::from(body)))
        .unwrap();
    req.extensions_mut().insert(RequestTimeout(Duration::from_millis(300)));
    tokio::time::timeout(Duration::from_secs(5), client.request(req))
        .await
        .unwrap()
        .unwrap_err()
}

#[tokio::test]
async fn a_body_the_server_does_not_read_times_out_in_the_request_phase() {
    let client = direct_client(ServiceKind::Webhooks);
    // Far more than the socket buffers hold, and the server reads only 1 byte.
    let url = silent_server(1).await;
    let err = post(&client, &url, vec![b'x'; 16 * 1024 * 1024]).await;
    assert!(err.is_timeout());
    assert_eq!(err.phase(), Some(Phase::Request), "{err}");
}

#[tokio::test]
async fn a_server_that_read_everything_and_stays_silent_times_out_waiting_for_headers() {
    let client = direct_client(ServiceKind::Webhooks);
    let body = vec![b'y'; 1000];
    let url = silent_server(1000).await;
    let err = post(&client, &url, body).await;
    assert!(err.is_timeout());
    assert_eq!(err.phase(), Some(Phase::ResponseHeaders), "{err}");
    assert!(err.to_string().contains("300ms"), "{err}");
}

#[tokio::test]
async fn a_request_timeout_of_duration_max_is_clamped_not_a_panic() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = socket.read(&mut buf).await.unwrap();
        socket
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    let client = direct_client(ServiceKind::Health);
    let mut req = Request::get(url).body(String::new()).unwrap();
    req.extensions_mut().insert(RequestTimeout(Duration::MAX));
    let response = client.request(req).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"ok");
}

/// A server that answers one `GET /x` on one connection with `hello` and keeps the
/// connection open a while; its URL.
async fn hello_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/x", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut seen = Vec::new();
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        assert!(seen.starts_with(b"GET /x HTTP/1.1\r\n"));
        socket
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    url
}

#[tokio::test]
async fn the_client_is_a_tower_service() {
    use tower::ServiceExt;
    let url = hello_server().await;
    let client = direct_client(ServiceKind::Discovery);
    let response = client
        .clone()
        .oneshot(Request::get(url).body(http_body_util::Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hello");
    // Read to its end: the connection is back in the pool.
    assert_eq!(
        client.stats(),
        ClientStats {
            opened: 1,
            open: 1,
            idle: 1,
            peak_open: 1,
            ..ClientStats::default()
        }
    );
}

/// A server answering every request with `Connection: close` and closing.
async fn closing_after_each_response_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                    .await;
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_connection_close_responses_the_stats_agree_with_each_other() {
    let url = closing_after_each_response_server().await;
    let client = direct_client(ServiceKind::Health);
    for _ in 0..20 {
        let response = client.request(Request::get(url.as_str()).body(String::new()).unwrap());
        assert_eq!(status_of(response.await.unwrap()).await, 200);
        let stats = client.stats();
        assert!(stats.idle <= stats.open, "{stats:?}");
    }
    // Every connection's driver ends: nothing open, nothing idle (the health
    // service's idle timeout is 15 s, so no reaper is involved).
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.stats().open > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats = client.stats();
    assert_eq!((stats.open, stats.idle), (0, 0), "{stats:?}");
    assert_eq!((stats.opened, stats.closed), (20, 20), "{stats:?}");
}

#[tokio::test]
async fn requests_are_recorded_with_method_status_and_error_labels() {
    use crate::instruments::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let url = closing_after_each_response_server().await;
    let client = direct_client(ServiceKind::Discovery);
    for _ in 0..2 {
        let response = client.request(Request::get(url.as_str()).body(String::new()).unwrap());
        assert_eq!(status_of(response.await.unwrap()).await, 200);
    }
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let refused = client
        .request(
            Request::post(format!("http://127.0.0.1:{closed_port}/"))
                .body(String::new())
                .unwrap(),
        )
        .await;
    assert!(refused.is_err());
    let snapshot = snapshotter.snapshot().into_vec();
    let find = |labels: &[(&str, &str)]| {
        snapshot
            .iter()
            .filter(|(k, _, _, _)| {
                k.key().name() == REQUEST_DURATION
                    && labels
                        .iter()
                        .all(|(ek, ev)| k.key().labels().any(|l| l.key() == *ek && l.value() == *ev))
            })
            .map(|(k, unit, _, v)| (k.key().labels().count(), *unit, v))
            .collect::<Vec<_>>()
    };
    let ok = find(&[
        (LABEL_SERVICE, "discovery"),
        (LABEL_ROUTE, "direct"),
        (LABEL_SERVER_ADDRESS, "127.0.0.1"),
        (LABEL_METHOD, "GET"),
        (LABEL_STATUS_CODE, "200"),
    ]);
    assert_eq!(ok.len(), 1, "{snapshot:?}");
    assert_eq!(ok[0].0, 5, "no error.type on a 200");
    assert_eq!(ok[0].1, Some(metrics::Unit::Seconds));
    assert!(matches!(ok[0].2, DebugValue::Histogram(v) if v.len() == 2));
    let failed = find(&[(LABEL_METHOD, "POST"), (LABEL_ERROR_TYPE, "connect")]);
    assert_eq!(failed.len(), 1, "{snapshot:?}");
    assert!(matches!(failed[0].2, DebugValue::Histogram(v) if v.len() == 1));
}

#[tokio::test]
async fn the_request_span_names_service_and_route_but_no_secret() {
    // A forwarding proxy that answers every absolute-form request itself.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(String::new()));
    let seen_by_proxy = seen.clone();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            head.extend_from_slice(&buf[..n]);
        }
        *seen_by_proxy.lock().unwrap() = String::from_utf8_lossy(&head).into_owned();
        socket.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    let env = EnvSnapshot::empty();
    let json = format!(
        r#"{{"external_services":{{"health":{{"proxy":{{"enabled":true,"http_proxy":"http://gw:hunter2@{proxy_addr}"}}}}}}}}"#
    );
    let loaded = extsvc_config::load_str(&json, "tyk.conf", &env, &Default::default()).unwrap();
    let service = extsvc_resolve::resolve(&loaded.config, &env)
        .service(ServiceKind::Health)
        .clone();

    let logs = extsvc_test_support::LogCapture::new();
    let _guard = tracing::subscriber::set_default(logs.subscriber(tracing::Level::TRACE));
    // Tests on other threads install WARN-level subscribers of their own; a callsite first
    // seen under one of those may have cached "never" before this one was registered.
    tracing::callsite::rebuild_interest_cache();

    let tls = plain_tls();
    let client = ServiceClient::from_parts(service, tls.clone(), tls.clone());
    let response = client
        .request(
            Request::get("http://target.invalid:8080/health")
                .body(String::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(response.body().connected().hop, Hop::Forward);
    let proxy_saw = seen.lock().unwrap().clone();
    assert!(
        proxy_saw.starts_with("GET http://target.invalid:8080/health HTTP/1.1\r\n"),
        "{proxy_saw}"
    );
    // base64("gw:hunter2")
    assert!(
        proxy_saw.contains("proxy-authorization: Basic Z3c6aHVudGVyMg=="),
        "{proxy_saw}"
    );

    let text = logs.text();
    assert!(text.contains("extsvc.request"), "{text}");
    assert!(
        text.contains("service=\"health\"") || text.contains("service=health"),
        "{text}"
    );
    assert!(
        text.contains(&format!("route=proxy http://gw:***@{proxy_addr}")),
        "{text}"
    );
    assert!(!text.contains("hunter2") && !text.contains("Z3c6aHVudGVyMg"), "{text}");
}

/// A keep-alive server: `/fast` answers at once, `/slow` after 400 ms, `/slow-body`
/// sends its headers and half its body at once and the rest after 400 ms.
async fn paced_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end + 4);
                    let pause = Duration::from_millis(400);
                    let written = if head.starts_with("GET /slow-body ") {
                        let first = stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nok")
                            .await;
                        tokio::time::sleep(pause).await;
                        first.and(stream.write_all(b"ok").await)
                    } else {
                        if head.starts_with("GET /slow ") {
                            tokio::time::sleep(pause).await;
                        }
                        stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .await
                    };
                    if written.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

async fn get_within(client: &ServiceClient, url: String, timeout: Duration) -> Result<Bytes, Error> {
    let mut req = Request::get(url).body(http_body_util::Empty::<Bytes>::new()).unwrap();
    req.extensions_mut().insert(RequestTimeout(timeout));
    client.request(req).await?.into_body().bytes().await
}

/// Each connection keeps one deadline timer and resets it per request: a timer that
/// fired while its connection was idle must neither cut the next request short nor keep
/// a later one from timing out at its own deadline, in the headers or in the body.
#[tokio::test]
async fn a_reused_connection_times_each_request_by_its_own_deadline() {
    let base = paced_server().await;
    let client = direct_client(ServiceKind::Webhooks);
    let budget = Duration::from_millis(200);
    assert_eq!(get_within(&client, format!("{base}/fast"), budget).await.unwrap(), "ok");
    // The connection's timer (reset to that request's deadline) fires while it is idle.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get_within(&client, format!("{base}/fast"), budget).await.unwrap(), "ok");
    assert_eq!(client.stats().opened, 1, "the connection was reused");

    let started = Instant::now();
    let err = get_within(&client, format!("{base}/slow"), budget).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(err.phase(), Some(Phase::ResponseHeaders), "{err}");
    assert!(started.elapsed() >= budget && started.elapsed() < Duration::from_millis(390));

    // A timed-out exchange closes its connection; warm a new one, then time out its body.
    assert_eq!(get_within(&client, format!("{base}/fast"), budget).await.unwrap(), "ok");
    let started = Instant::now();
    let err = get_within(&client, format!("{base}/slow-body"), budget)
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(err.phase(), Some(Phase::ResponseBody), "{err}");
    assert!(started.elapsed() >= budget && started.elapsed() < Duration::from_millis(390));
    assert_eq!(client.stats().opened, 2);
}

/// A waker that counts its live clones and wakes the task it wraps.
struct CountedWaker(std::task::Waker);

impl std::task::Wake for CountedWaker {
    fn wake(self: Arc<Self>) {
        self.0.wake_by_ref();
    }
}

/// An idle pooled connection holds nothing of the request that used it: its timer kept
/// the request task's waker (and with it the finished task's memory, for up to the
/// service's timeout) until it let go of it when the body ended.
#[tokio::test]
async fn an_idle_pooled_connection_keeps_no_waker_of_the_request_that_used_it() {
    let url = hello_server().await;
    let client = direct_client(ServiceKind::Discovery);
    let mut counted: Option<Arc<CountedWaker>> = None;
    let exchange = async {
        let response = client
            .request(Request::get(url).body(http_body_util::Empty::<Bytes>::new()).unwrap())
            .await
            .unwrap();
        response.into_body().collect().await.unwrap().to_bytes()
    };
    let mut exchange = std::pin::pin!(exchange);
    let body = std::future::poll_fn(|cx| {
        // Every poll goes through a counted waker of this test's own.
        let waker = counted.get_or_insert_with(|| Arc::new(CountedWaker(cx.waker().clone())));
        let waker = std::task::Waker::from(waker.clone());
        exchange.as_mut().poll(&mut Context::from_waker(&waker))
    })
    .await;
    assert_eq!(&body[..], b"hello");
    assert_eq!(client.stats().idle, 1, "the connection is back in the pool");
    let counted = counted.expect("polled at least once");
    assert_eq!(
        Arc::strong_count(&counted),
        1,
        "something (the connection's timer) still holds the request's waker"
    );
}
