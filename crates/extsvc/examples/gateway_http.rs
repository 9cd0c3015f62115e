//! Everyday HTTP from a gateway, through a forward proxy: a webhook POST, a GET with a
//! query and a bearer token, an OAuth introspection form POST with basic auth, a redirect
//! followed to JSON, a gzip JSON body, an `https` → `http` redirect refused, a gzip bomb
//! stopped by the body limit, and `text()`. It depends on `extsvc`, `tokio`, `serde` and
//! `serde_json` only.
//!
//! ```text
//! cargo run -p extsvc --example gateway_http -- \
//!     http://squid.internal:3128 ca.pem https://peer.internal:8443 http://peer.internal:8080
//! ```
//!
//! The peer answers `/echo` (the request as JSON), `/redirect/<status>?to=<url>`, `/json`,
//! `/gzip` and `/bomb` (100 MiB of zeros, gzip): extsvc's interop tests start one
//! (`extsvc_tests::http_peer`) and run this program's [`tour`] against it through squid.

use std::time::Duration;

use extsvc::config::{MtlsBuilder, ProxyBuilder};
use extsvc::{EnvSnapshot, ErrorKind, ExternalServices, ExternalServicesConfig, ServiceKind};
use serde::{Deserialize, Serialize};

/// What `/echo` answers: the request as the peer saw it.
#[derive(Debug, Deserialize)]
struct Echo {
    /// The method.
    pub method: String,
    /// The request target.
    pub uri: String,
    /// Lowercase header names and their values.
    pub headers: std::collections::BTreeMap<String, String>,
    /// The body as text.
    pub body: String,
}

#[derive(Serialize)]
struct KeyEvent<'a> {
    event: &'a str,
    key: &'a str,
}

/// Runs every exchange against `https_base` (and `http_base` for the refused hop) through
/// `proxy`, trusting `ca_file`; one line per exchange, or the first failure.
pub async fn tour(
    proxy: &str,
    ca_file: &str,
    https_base: &str,
    http_base: &str,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let config = ExternalServicesConfig::builder()
        .global(ProxyBuilder::new().enabled(true).http_proxy(proxy).https_proxy(proxy))
        .mtls(ServiceKind::Webhooks, MtlsBuilder::new().enabled(true).ca_file(ca_file))
        .mtls(ServiceKind::Oauth, MtlsBuilder::new().enabled(true).ca_file(ca_file))
        .build()?;
    let services = ExternalServices::builder()
        .config(config)
        .env(EnvSnapshot::empty())
        .build()
        .await?;
    let webhooks = services.client(ServiceKind::Webhooks);
    let oauth = services.client(ServiceKind::Oauth);
    let mut lines = Vec::new();

    // A webhook: header, JSON body, its own timeout.
    let echo: Echo = webhooks
        .post(format!("{https_base}/echo/hook"))
        .header("x-tyk-event", "KeyExpired")
        .json(&KeyEvent {
            event: "KeyExpired",
            key: "abc",
        })
        .timeout(Duration::from_secs(5))
        .send()
        .await?
        .into_body()
        .json()
        .await?;
    check(echo.method == "POST", "the webhook was not a POST")?;
    check(
        echo.headers.get("x-tyk-event").map(String::as_str) == Some("KeyExpired"),
        "header lost",
    )?;
    check(
        echo.headers.get("content-type").map(String::as_str) == Some("application/json"),
        "no JSON content type",
    )?;
    check(
        echo.body == r#"{"event":"KeyExpired","key":"abc"}"#,
        "JSON body changed",
    )?;
    let agent = echo.headers.get("user-agent").cloned().unwrap_or_default();
    check(agent.starts_with("extsvc/"), "no extsvc User-Agent")?;
    lines.push(format!("webhook POST: the server saw User-Agent {agent}"));

    // A GET with a query and a bearer token, awaited directly.
    let response = oauth
        .get(format!("{https_base}/echo/userinfo"))
        .query(&[("scope", "openid profile"), ("id", "7")])
        .bearer_auth("t0ken")
        .await?;
    let echo: Echo = response.into_body().json().await?;
    check(
        echo.uri == "/echo/userinfo?scope=openid+profile&id=7",
        "query not as sent",
    )?;
    check(
        echo.headers.get("authorization").map(String::as_str) == Some("Bearer t0ken"),
        "no bearer token",
    )?;
    lines.push(format!("GET with query and bearer auth: {}", echo.uri));

    // OAuth token introspection: a form POST with basic auth.
    let echo: Echo = oauth
        .post(format!("{https_base}/echo/introspect"))
        .basic_auth("gateway", Some("s3cret"))
        .form(&[("token", "abc"), ("token_type_hint", "access_token")])
        .await?
        .into_body()
        .json()
        .await?;
    check(
        echo.body == "token=abc&token_type_hint=access_token",
        "form body changed",
    )?;
    check(
        echo.headers.get("authorization").map(String::as_str) == Some("Basic Z2F0ZXdheTpzM2NyZXQ="),
        "no basic auth",
    )?;
    lines.push("form POST with basic auth: introspected".to_owned());

    // A redirect followed to JSON.
    #[derive(Deserialize)]
    struct Answer {
        answer: u32,
    }
    let target = format!("{https_base}/json");
    let answer: Answer = oauth
        .get(format!("{https_base}/redirect/302?to={}", encode(&target)))
        .await?
        .into_body()
        .json()
        .await?;
    check(answer.answer == 42, "the redirect did not reach /json")?;
    lines.push(format!("302 followed to JSON: answer {}", answer.answer));

    // A gzip JSON body, decompressed on the way.
    let gzipped: serde_json::Value = oauth
        .get(format!("{https_base}/gzip"))
        .await?
        .into_body()
        .json()
        .await?;
    check(gzipped["compressed"] == true, "gzip body not decoded")?;
    lines.push("gzip JSON: decoded".to_owned());

    // An https -> http redirect is refused, naming the URL.
    let plain = format!("{http_base}/json");
    let refused = oauth
        .get(format!("{https_base}/redirect/302?to={}", encode(&plain)))
        .await
        .expect_err("an https -> http redirect was followed");
    check(refused.kind() == ErrorKind::Redirect, "not a redirect error")?;
    check(refused.to_string().contains(&plain), "the error does not name the URL")?;
    lines.push(format!("https -> http refused: {refused}"));

    // A gzip bomb: the body limit (32 MiB, after decompression) stops it in bounded memory.
    let bomb = oauth.get(format!("{https_base}/bomb")).await?.into_body().bytes().await;
    let error = bomb.expect_err("100 MiB of gzip were read");
    check(error.kind() == ErrorKind::BodyTooLarge, "not body_too_large")?;
    lines.push(format!("gzip bomb stopped: {error}"));

    // text()
    let text = oauth
        .get(format!("{https_base}/json"))
        .await?
        .into_body()
        .text()
        .await?;
    check(text.contains("42"), "text() lost the body")?;
    lines.push(format!("text(): {text}"));
    Ok(lines)
}

fn check(ok: bool, what: &str) -> Result<(), Box<dyn std::error::Error>> {
    if ok {
        Ok(())
    } else {
        Err(what.into())
    }
}

/// `url` percent-encoded as a query value.
fn encode(url: &str) -> String {
    url.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// This process's peak resident memory in MiB (Linux), for the bomb.
#[allow(
    dead_code,
    reason = "the interop test includes this file and runs `tour`, not `main`"
)]
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1024)
}

#[allow(
    dead_code,
    reason = "the interop test includes this file and runs `tour`, not `main`"
)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [proxy, ca_file, https_base, http_base] = args.as_slice() else {
        return Err("usage: gateway_http <proxy-url> <ca.pem> <https-base-url> <http-base-url>".into());
    };
    for line in tour(proxy, ca_file, https_base, http_base).await? {
        eprintln!("{line}");
    }
    // A process of its own: its peak memory is the tour's, bomb included.
    if let Some(peak) = peak_rss_mib() {
        eprintln!("peak RSS {peak} MiB");
        check(peak < 200, "the tour took 200 MB or more")?;
    }
    Ok(())
}
