//! [`RequestBuilder`]: a request put together the way a reqwest user (or Go's caller)
//! expects — headers, query, JSON or form body, bearer or basic auth, a timeout — and sent
//! through the service's client.

use std::fmt;
use std::future::IntoFuture;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri};

use super::{RequestTimeout, ResponseBody, ResponseFuture, ServiceClient};
use crate::error::{Error, ErrorKind};

/// A request being put together for one service's client; [`send`](RequestBuilder::send)
/// it, or `.await` it directly.
///
/// Every method records the first problem (a header name that is not one, a body that
/// does not serialize) and [`send`](RequestBuilder::send) returns it as an
/// [`ErrorKind::InvalidRequest`] error, without sending anything. Messages never repeat
/// a header's value or the URI's query, which may hold secrets.
///
/// ```no_run
/// use std::time::Duration;
/// use extsvc::{EnvSnapshot, ExternalServices, ServiceKind};
///
/// #[derive(serde::Serialize)]
/// struct Event<'a> { kind: &'a str, key_id: u64 }
///
/// # async fn start() -> Result<(), Box<dyn std::error::Error>> {
/// let services = ExternalServices::builder().env(EnvSnapshot::empty()).build().await?;
/// let webhooks = services.client(ServiceKind::Webhooks);
/// let response = webhooks
///     .post("https://hooks.example.com/tyk")
///     .header("x-tyk-event", "KeyExpired")
///     .json(&Event { kind: "key_expired", key_id: 42 })
///     .timeout(Duration::from_secs(5))
///     .await?;
/// assert!(response.status().is_success());
///
/// let oauth = services.client(ServiceKind::Oauth);
/// let token: serde_json::Value = oauth
///     .post("https://idp.example.com/introspect")
///     .basic_auth("gateway", Some("s3cret"))
///     .form(&[("token", "abc"), ("token_type_hint", "access_token")])
///     .await?
///     .into_body()
///     .json()
///     .await?;
/// # drop(token);
/// # Ok(())
/// # }
/// ```
#[must_use = "a request builder does nothing until sent or awaited"]
pub struct RequestBuilder {
    client: ServiceClient,
    parts: Result<Parts, Error>,
    body: Bytes,
}

impl ServiceClient {
    /// A request with `method` to `uri` (`&str`, `String` or [`Uri`]).
    pub fn request_builder<U>(&self, method: Method, uri: U) -> RequestBuilder
    where
        Uri: TryFrom<U>,
        <Uri as TryFrom<U>>::Error: Into<http::Error>,
    {
        let parts = Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .map(|req| req.into_parts().0)
            // The URI is not repeated: it may carry credentials or a token in its query.
            .map_err(|e| Error::new(ErrorKind::InvalidRequest, format!("invalid URI: {e}")));
        RequestBuilder {
            client: self.clone(),
            parts,
            body: Bytes::new(),
        }
    }

    /// A `GET` to `uri`; `.await` it (or [`send`](RequestBuilder::send) it) for the
    /// response. See [`ServiceClient::request`] for what sending does.
    pub fn get<U>(&self, uri: U) -> RequestBuilder
    where
        Uri: TryFrom<U>,
        <Uri as TryFrom<U>>::Error: Into<http::Error>,
    {
        self.request_builder(Method::GET, uri)
    }

    /// A `POST` to `uri`.
    pub fn post<U>(&self, uri: U) -> RequestBuilder
    where
        Uri: TryFrom<U>,
        <Uri as TryFrom<U>>::Error: Into<http::Error>,
    {
        self.request_builder(Method::POST, uri)
    }

    /// A `PUT` to `uri`.
    pub fn put<U>(&self, uri: U) -> RequestBuilder
    where
        Uri: TryFrom<U>,
        <Uri as TryFrom<U>>::Error: Into<http::Error>,
    {
        self.request_builder(Method::PUT, uri)
    }

    /// A `PATCH` to `uri`.
    pub fn patch<U>(&self, uri: U) -> RequestBuilder
    where
        Uri: TryFrom<U>,
        <Uri as TryFrom<U>>::Error: Into<http::Error>,
    {
        self.request_builder(Method::PATCH, uri)
    }

    /// A `DELETE` to `uri`.
    pub fn delete<U>(&self, uri: U) -> RequestBuilder
    where
        Uri: TryFrom<U>,
        <Uri as TryFrom<U>>::Error: Into<http::Error>,
    {
        self.request_builder(Method::DELETE, uri)
    }

    /// A `HEAD` to `uri`.
    pub fn head<U>(&self, uri: U) -> RequestBuilder
    where
        Uri: TryFrom<U>,
        <Uri as TryFrom<U>>::Error: Into<http::Error>,
    {
        self.request_builder(Method::HEAD, uri)
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidRequest, message)
}

impl RequestBuilder {
    /// Applies `f` to the request unless an earlier step failed.
    fn with(mut self, f: impl FnOnce(&mut Parts, &mut Bytes) -> Result<(), Error>) -> RequestBuilder {
        if let Ok(parts) = &mut self.parts {
            if let Err(e) = f(parts, &mut self.body) {
                self.parts = Err(e);
            }
        }
        self
    }

    /// Adds a header (a second value of a name already set is added beside it).
    pub fn header<K, V>(self, name: K, value: V) -> RequestBuilder
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.with(|parts, _| {
            let name = HeaderName::try_from(name).map_err(|e| invalid(format!("invalid header name: {}", e.into())))?;
            let value = HeaderValue::try_from(value)
                .map_err(|e| invalid(format!("invalid value for the header {name}: {}", e.into())))?;
            parts.headers.append(name, value);
            Ok(())
        })
    }

    /// Sets these headers, replacing the values of the names they hold.
    pub fn headers(self, headers: HeaderMap) -> RequestBuilder {
        self.with(|parts, _| {
            parts.headers.extend(headers);
            Ok(())
        })
    }

    /// Appends `query` (a struct, a map or a sequence of pairs, serialized as
    /// `application/x-www-form-urlencoded`) to the URI's query.
    pub fn query<T: serde::Serialize + ?Sized>(self, query: &T) -> RequestBuilder {
        self.with(|parts, _| {
            let encoded =
                serde_urlencoded::to_string(query).map_err(|e| invalid(format!("cannot encode the query: {e}")))?;
            if encoded.is_empty() {
                return Ok(());
            }
            let mut uri = std::mem::take(&mut parts.uri).into_parts();
            let path_and_query = match &uri.path_and_query {
                Some(pq) => match pq.query() {
                    Some(existing) if !existing.is_empty() => format!("{}?{existing}&{encoded}", pq.path()),
                    _ => format!("{}?{encoded}", pq.path()),
                },
                None => format!("/?{encoded}"),
            };
            uri.path_and_query = Some(
                path_and_query
                    .parse()
                    .map_err(|e| invalid(format!("the query makes an invalid URI: {e}")))?,
            );
            parts.uri = Uri::from_parts(uri).map_err(|e| invalid(format!("the query makes an invalid URI: {e}")))?;
            Ok(())
        })
    }

    /// Sets the body to `value` as JSON, and `Content-Type: application/json` unless set.
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> RequestBuilder {
        self.with(|parts, body| {
            let json =
                serde_json::to_vec(value).map_err(|e| invalid(format!("cannot serialize the JSON body: {e}")))?;
            *body = json.into();
            if !parts.headers.contains_key(CONTENT_TYPE) {
                parts
                    .headers
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Ok(())
        })
    }

    /// Sets the body to `form` as `application/x-www-form-urlencoded` (the `Content-Type`
    /// too, unless set): a struct, a map or a sequence of pairs.
    pub fn form<T: serde::Serialize + ?Sized>(self, form: &T) -> RequestBuilder {
        self.with(|parts, body| {
            let encoded =
                serde_urlencoded::to_string(form).map_err(|e| invalid(format!("cannot encode the form: {e}")))?;
            *body = encoded.into();
            if !parts.headers.contains_key(CONTENT_TYPE) {
                parts.headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
            }
            Ok(())
        })
    }

    /// Sets the body. The client keeps it, so a 307/308 redirect can send it again.
    pub fn body(self, body: impl Into<Bytes>) -> RequestBuilder {
        let body = body.into();
        self.with(|_, slot| {
            *slot = body;
            Ok(())
        })
    }

    /// Sets `Authorization: Bearer <token>` (marked sensitive: never logged).
    pub fn bearer_auth<T: fmt::Display>(self, token: T) -> RequestBuilder {
        self.with(|parts, _| {
            let mut value = HeaderValue::try_from(format!("Bearer {token}"))
                .map_err(|_| invalid("the bearer token is not a valid header value"))?;
            value.set_sensitive(true);
            parts.headers.insert(AUTHORIZATION, value);
            Ok(())
        })
    }

    /// Sets `Authorization: Basic <base64(user:password)>` (marked sensitive); `None`
    /// sends `user:`, as Go's `SetBasicAuth(user, "")` does.
    pub fn basic_auth<U: fmt::Display, P: fmt::Display>(self, user: U, password: Option<P>) -> RequestBuilder {
        self.with(|parts, _| {
            let credentials = match password {
                Some(password) => format!("{user}:{password}"),
                None => format!("{user}:"),
            };
            let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
            let mut value = HeaderValue::try_from(format!("Basic {encoded}"))
                .map_err(|_| invalid("the basic credentials are not a valid header value"))?;
            value.set_sensitive(true);
            parts.headers.insert(AUTHORIZATION, value);
            Ok(())
        })
    }

    /// The deadline of this request (redirects and the body included), instead of the
    /// service's `timeout` ([`RequestTimeout`]).
    pub fn timeout(self, timeout: Duration) -> RequestBuilder {
        self.with(|parts, _| {
            parts.extensions.insert(RequestTimeout(timeout));
            Ok(())
        })
    }

    /// Sends the request (see [`ServiceClient::request`]); the first problem met while
    /// building it is returned here, and then nothing is sent.
    pub async fn send(self) -> Result<Response<ResponseBody>, Error> {
        let parts = self.parts?;
        self.client.request_bytes(parts, self.body).await
    }
}

impl IntoFuture for RequestBuilder {
    type Output = Result<Response<ResponseBody>, Error>;
    type IntoFuture = ResponseFuture;

    /// `client.get(url).await` sends the request, as [`RequestBuilder::send`].
    fn into_future(self) -> ResponseFuture {
        ResponseFuture {
            inner: Box::pin(self.send()),
        }
    }
}

impl fmt::Debug for RequestBuilder {
    /// The method and the URI's scheme and authority; never headers or the body.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RequestBuilder");
        match &self.parts {
            Ok(parts) => {
                d.field("method", &parts.method);
                if let (Some(scheme), Some(authority)) = (parts.uri.scheme(), parts.uri.authority()) {
                    d.field(
                        "target",
                        &format_args!("{scheme}://{}", extsvc_config::shown(authority.as_str())),
                    );
                }
            }
            Err(e) => {
                d.field("error", e);
            }
        }
        d.finish_non_exhaustive()
    }
}
