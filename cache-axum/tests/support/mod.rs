//! Test support: a scriptable origin handler, a real server on loopback TCP and a real HTTP
//! client (hyper-util).
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use cache_axum::ResponseCacheLayer;
use cache_core::Cache;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client as HyperClient};
use hyper_util::rt::TokioExecutor;

/// What the origin answers for one method and path.
#[derive(Clone, Debug)]
pub struct Spec {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Answer a matching `If-None-Match` (by ETag) or `If-Modified-Since` with a 304 carrying
    /// these headers.
    pub not_modified: Option<Vec<(String, String)>>,
    /// Sleep before answering (to make concurrent requests overlap).
    pub delay: Option<Duration>,
    /// Send the body as a stream of this many 1 KiB chunks (no size hint).
    pub stream_chunks: Option<usize>,
    /// Answer only once this is notified (after `delay`).
    pub gate: Option<Arc<tokio::sync::Notify>>,
}

impl Spec {
    pub fn ok(body: &str) -> Self {
        Spec {
            status: 200,
            headers: Vec::new(),
            body: Bytes::copy_from_slice(body.as_bytes()),
            not_modified: None,
            delay: None,
            stream_chunks: None,
            gate: None,
        }
    }
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    pub fn cc(self, value: &str) -> Self {
        self.header("cache-control", value)
    }
    pub fn revalidates(mut self, headers: &[(&str, &str)]) -> Self {
        self.not_modified = Some(
            headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        );
        self
    }
    pub fn gate(mut self, gate: &Arc<tokio::sync::Notify>) -> Self {
        self.gate = Some(Arc::clone(gate));
        self
    }
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = Some(d);
        self
    }
    pub fn body(mut self, body: Bytes) -> Self {
        self.body = body;
        self
    }
}

/// A scriptable origin: answers by (method, path), counts calls, records requests.
#[derive(Clone, Default)]
pub struct Origin {
    specs: Arc<Mutex<HashMap<(String, String), Spec>>>,
    calls: Arc<Mutex<HashMap<(String, String), usize>>>,
    last: Arc<Mutex<HashMap<(String, String), HeaderMap>>>,
}

impl Origin {
    pub fn set(&self, method: &str, path: &str, spec: Spec) {
        self.specs
            .lock()
            .unwrap()
            .insert((method.into(), path.into()), spec);
    }
    pub fn get(&self, path: &str, spec: Spec) {
        self.set("GET", path, spec);
    }
    /// How many times the origin ran for this method and path (HEAD counts as its own).
    pub fn calls(&self, method: &str, path: &str) -> usize {
        *self
            .calls
            .lock()
            .unwrap()
            .get(&(method.into(), path.into()))
            .unwrap_or(&0)
    }
    pub fn gets(&self, path: &str) -> usize {
        self.calls("GET", path)
    }
    /// The headers of the last request for this method and path.
    pub fn last_headers(&self, method: &str, path: &str) -> HeaderMap {
        self.last
            .lock()
            .unwrap()
            .get(&(method.into(), path.into()))
            .cloned()
            .unwrap_or_default()
    }

    pub async fn handle(&self, req: Request) -> Response {
        let method = req.method().as_str().to_owned();
        let path = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let key = (method.clone(), path.clone());
        *self.calls.lock().unwrap().entry(key.clone()).or_default() += 1;
        self.last
            .lock()
            .unwrap()
            .insert(key.clone(), req.headers().clone());
        let lookup = if method == "HEAD" {
            ("GET".to_owned(), path)
        } else {
            key
        };
        let spec = self.specs.lock().unwrap().get(&lookup).cloned();
        let Some(spec) = spec else {
            return (StatusCode::NOT_FOUND, "no spec").into_response();
        };
        if let Some(d) = spec.delay {
            tokio::time::sleep(d).await;
        }
        if let Some(gate) = &spec.gate {
            gate.notified().await;
        }
        let mut headers = HeaderMap::new();
        for (n, v) in &spec.headers {
            headers.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        if let Some(nm) = &spec.not_modified {
            let etag = headers
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let inm = req
                .headers()
                .get("if-none-match")
                .and_then(|v| v.to_str().ok());
            let lm = headers.get("last-modified").cloned();
            let ims = req.headers().get("if-modified-since").cloned();
            let hit = match (inm, &etag) {
                (Some(inm), Some(etag)) => inm
                    .split(',')
                    .any(|t| t.trim().trim_start_matches("W/") == etag.trim_start_matches("W/")),
                (None, _) => lm.is_some() && lm == ims,
                _ => false,
            };
            if hit {
                let mut res = StatusCode::NOT_MODIFIED.into_response();
                if let Some(etag) = etag {
                    res.headers_mut()
                        .insert("etag", HeaderValue::from_str(&etag).unwrap());
                }
                for (n, v) in nm {
                    res.headers_mut().insert(
                        HeaderName::from_bytes(n.as_bytes()).unwrap(),
                        HeaderValue::from_str(v).unwrap(),
                    );
                }
                return res;
            }
        }
        let body = match spec.stream_chunks {
            Some(n) => {
                let chunk = spec.body.clone();
                let stream = futures_util::stream::iter(
                    (0..n).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
                );
                Body::from_stream(stream)
            }
            None => Body::from(spec.body.clone()),
        };
        let mut res = Response::new(body);
        *res.status_mut() = StatusCode::from_u16(spec.status).unwrap();
        *res.headers_mut() = headers;
        res
    }

    /// A router that sends every request to this origin.
    pub fn router(&self) -> Router {
        let origin = self.clone();
        Router::new().fallback(move |req: Request| {
            let origin = origin.clone();
            async move { origin.handle(req).await }
        })
    }
}

/// Serves `app` on a fresh loopback port.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// Serves a whole service (a `Router` wrapped by a layer, so the layer runs before routing).
pub async fn serve_service<S>(svc: S) -> SocketAddr
where
    S: tower::Service<
            axum::extract::Request,
            Response = Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let make = axum::ServiceExt::<axum::extract::Request>::into_make_service(svc);
    tokio::spawn(async move {
        axum::serve(listener, make).await.unwrap();
    });
    addr
}

/// A response as the client saw it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn h(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn x_cache(&self) -> &str {
        self.h("x-cache").unwrap_or("<none>")
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn age(&self) -> u64 {
        self.h("age")
            .expect("Age header")
            .parse()
            .expect("numeric Age")
    }
}

/// A real HTTP/1.1 client for one server.
#[derive(Clone)]
pub struct Client {
    inner: HyperClient<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Client {
            inner: HyperClient::builder(TokioExecutor::new()).build_http(),
            base: format!("http://{addr}"),
        }
    }

    pub async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send_body(method, path, headers, "").await
    }

    pub async fn send_body(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Resp {
        let mut req = http::Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(format!("{}{path}", self.base));
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let res = self
            .inner
            .request(
                req.body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
                    .unwrap(),
            )
            .await
            .unwrap();
        let (parts, body) = res.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, &[]).await
    }

    /// The `host:port` the client sends in `Host`.
    pub fn host(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send("GET", path, headers).await
    }
}

/// An origin behind a response cache on `cache`, served on loopback.
pub struct Setup {
    pub origin: Origin,
    pub client: Client,
    pub cache: Cache,
}

/// The app under test: the origin behind `ResponseCacheLayer` on `cache`.
pub fn app(
    cache: Cache,
    origin: &Origin,
    configure: impl FnOnce(ResponseCacheLayer) -> ResponseCacheLayer,
) -> Router {
    origin
        .router()
        .layer(configure(ResponseCacheLayer::new(cache)))
}

impl Setup {
    pub async fn new(cache: Cache) -> Self {
        Self::with(cache, |l| l).await
    }

    pub async fn with(
        cache: Cache,
        configure: impl FnOnce(ResponseCacheLayer) -> ResponseCacheLayer,
    ) -> Self {
        let origin = Origin::default();
        let addr = serve(app(cache.clone(), &origin, configure)).await;
        Setup {
            origin,
            client: Client::new(addr),
            cache,
        }
    }
}

/// Waits (bounded) until `cond` holds; for background work such as stale-while-revalidate.
pub async fn eventually(mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached in 5 s");
}

/// An HTTP date `secs` from now (negative: in the past).
pub fn http_date(secs: i64) -> String {
    let now = std::time::SystemTime::now();
    let t = if secs >= 0 {
        now + Duration::from_secs(secs as u64)
    } else {
        now - Duration::from_secs((-secs) as u64)
    };
    httpdate::fmt_http_date(t)
}
