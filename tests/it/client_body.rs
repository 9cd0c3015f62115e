//! The response body under the request's deadline: a body read to its end stays read,
//! even when the caller's final poll comes after the deadline.

use std::time::Duration;

use bytes::Bytes;
use extsvc_client::{RequestTimeout, ServiceClient};
use extsvc_config::ServiceKind;
use extsvc_tests::client::resolved_service;
use extsvc_tests::target::{TargetOptions, TestTarget};
use extsvc_tls::{build_service_tls, TlsOptions};
use http_body_util::BodyExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_body_is_not_turned_into_a_timeout_by_a_late_final_poll() {
    let target = TestTarget::http(TargetOptions {
        body: Bytes::from_static(b"complete"),
        ..Default::default()
    });
    let service = resolved_service("{}", ServiceKind::Health);
    let tls = build_service_tls(&service, None, &TlsOptions::default()).await.unwrap();
    let client = ServiceClient::new(service, &tls);

    let mut req = http::Request::get(target.url())
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    req.extensions_mut().insert(RequestTimeout(Duration::from_millis(300)));
    let mut body = Box::pin(client.request(req).await.unwrap().into_body());
    let frame = body.frame().await.expect("one frame").expect("no error");
    assert_eq!(frame.into_data().unwrap(), "complete");
    tokio::time::sleep(Duration::from_millis(500)).await; // past the deadline
    assert!(
        body.frame().await.is_none(),
        "the body had ended; the deadline must not turn it into an error"
    );
    drop(body);
    // And the connection went back to the pool for the next request.
    let again = client.request(
        http::Request::get(target.url())
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap(),
    );
    again.await.unwrap().into_body().collect().await.unwrap();
    assert_eq!(client.stats().opened, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_stops_at_its_limit_and_the_default_reads_a_normal_body() {
    let target = TestTarget::http(TargetOptions {
        body: Bytes::from(vec![b'x'; 64 * 1024]),
        ..Default::default()
    });
    let service = resolved_service("{}", ServiceKind::Oauth);
    let tls = build_service_tls(&service, None, &TlsOptions::default()).await.unwrap();
    let client = ServiceClient::new(service, &tls);

    let whole = client
        .get(target.url())
        .await
        .unwrap()
        .into_body()
        .bytes()
        .await
        .unwrap();
    assert_eq!(whole.len(), 64 * 1024);
    let error = client
        .get(target.url())
        .await
        .unwrap()
        .into_body()
        .bytes_limited(1024)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), extsvc_client::ErrorKind::BodyTooLarge, "{error}");
    assert_eq!(error.phase(), Some(extsvc_client::Phase::ResponseBody), "{error}");
    assert!(error.to_string().contains("larger than 1024 bytes"), "{error}");
}
