//! The alert queries of `docs/observability.md` name metrics that exist: a real exchange
//! recorded by `metrics-exporter-prometheus` set up as that document says
//! (`with_recommended_naming`, buckets), rendered, and every metric name of the queries
//! looked up in the text.

use extsvc::{EnvSnapshot, ExternalServices, ServiceKind};
use extsvc_tests::target::{TargetOptions, TestTarget};

const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every metric name in the "What to alert on" table's queries.
fn names_in_alert_queries() -> Vec<String> {
    let doc = include_str!("../../docs/observability.md");
    let table = doc
        .split("## What to alert on")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the alert table");
    let mut names: Vec<String> = table
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| {
            ["http_client_", "extsvc_pool_"]
                .iter()
                .any(|prefix| word.starts_with(prefix))
        })
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_metric_of_the_alert_queries_is_exported_under_that_name() {
    let target = TestTarget::http(TargetOptions::default());
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_recommended_naming(true)
        .set_buckets(&BUCKETS)
        .unwrap()
        .build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let services = ExternalServices::builder()
            .env(EnvSnapshot::empty())
            .build()
            .await
            .unwrap();
        let client = services.client(ServiceKind::Webhooks);
        let response = client.get(target.url()).await.unwrap();
        response.into_body().bytes().await.unwrap();
        // A failed request too, for `error_type`.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        assert!(client.get(closed).await.is_err());
        drop(services);
        drop(client);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    });
    let text = handle.render();
    let names = names_in_alert_queries();
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        assert!(
            text.lines()
                .any(|line| line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))),
            "{name} is in an alert query but not exported:\n{text}"
        );
    }
    for label in ["error_type=", "extsvc_service=", "server_address=", "le="] {
        assert!(text.contains(label), "{label}\n{text}");
    }
}
