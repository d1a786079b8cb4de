//! The cache dashboard in a real headless Chromium, driven over WebDriver by chromedriver.
//!
//! Needs the Debian packages `chromium` and `chromium-driver`: `scripts/ensure-chromium.sh`
//! installs them (`scripts/test.sh` runs it). Fails, never skips, when they are missing.
//! Run with: cargo test -p cache-e2e --test dashboard_browser

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use bytes::Bytes;
use cache_axum::observe::{HttpStats, StatsLayer};
use cache_axum::{Dashboard, ResponseCacheLayer};
use cache_core::{cached, Cache};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

const TOKEN: &str = "s3cret-dashboard-token";
/// The W3C WebDriver element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// chromedriver, killed by PID when dropped (also when the test panics).
struct Driver {
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A minimal W3C WebDriver client: JSON over HTTP to chromedriver on loopback.
struct WebDriver {
    http: Client<HttpConnector, Full<Bytes>>,
    base: String,
    session: String,
}

impl WebDriver {
    async fn call(
        http: &Client<HttpConnector, Full<Bytes>>,
        method: &str,
        url: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = http::Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let res = http.request(req).await.map_err(|e| e.to_string())?;
        let status = res.status();
        let bytes = res.into_body().collect().await.map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_slice(&bytes.to_bytes()).map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(v["value"].clone())
        } else {
            Err(format!("{method} {url}: {status} {v}"))
        }
    }

    async fn start(port: u16, chromium: &str) -> WebDriver {
        let http = Client::builder(TokioExecutor::new()).build_http();
        let base = format!("http://127.0.0.1:{port}");
        // chromedriver takes a moment to listen: bounded wait for /status to say ready.
        let mut last = String::new();
        for _ in 0..300 {
            match Self::call(&http, "GET", &format!("{base}/status"), None).await {
                Ok(v) if v["ready"] == true => break,
                Ok(v) => last = v.to_string(),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("cache-dashboard-chromium-{port}"));
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        }}});
        let v = Self::call(&http, "POST", &format!("{base}/session"), Some(caps))
            .await
            .unwrap_or_else(|e| {
                panic!("chromedriver did not start a session: {e} (last status: {last})")
            });
        let session = v["sessionId"].as_str().expect("a session id").to_owned();
        WebDriver {
            http,
            base,
            session,
        }
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        Self::call(&self.http, method, &url, body)
            .await
            .unwrap_or_else(|e| panic!("webdriver: {e}"))
    }

    async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url }))).await;
    }

    async fn title(&self) -> String {
        self.cmd("GET", "/title", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                "POST",
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .expect("an element reference")
            .to_owned()
    }

    async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        let v = self.cmd("GET", &format!("/element/{id}/text"), None).await;
        v.as_str().unwrap_or_default().to_owned()
    }

    async fn attr(&self, css: &str, name: &str) -> String {
        let id = self.find(css).await;
        let v = self
            .cmd("GET", &format!("/element/{id}/attribute/{name}"), None)
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Whether the element is enabled (a `disabled` form control is not).
    async fn enabled(&self, css: &str) -> bool {
        let id = self.find(css).await;
        let v = self
            .cmd("GET", &format!("/element/{id}/enabled"), None)
            .await;
        v.as_bool().expect("a boolean")
    }

    /// How many elements match.
    async fn count(&self, css: &str) -> usize {
        self.cmd(
            "POST",
            "/elements",
            Some(json!({ "using": "css selector", "value": css })),
        )
        .await
        .as_array()
        .map_or(0, Vec::len)
    }

    /// The texts of every matching element, in document order.
    async fn texts(&self, css: &str) -> Vec<String> {
        let found = self
            .cmd(
                "POST",
                "/elements",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        let mut out = Vec::new();
        for e in found.as_array().cloned().unwrap_or_default() {
            let id = e[ELEMENT]
                .as_str()
                .expect("an element reference")
                .to_owned();
            let v = self.cmd("GET", &format!("/element/{id}/text"), None).await;
            out.push(v.as_str().unwrap_or_default().to_owned());
        }
        out
    }

    async fn fill(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd("POST", &format!("/element/{id}/clear"), Some(json!({})))
            .await;
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})))
            .await;
    }

    async fn screenshot(&self) -> Vec<u8> {
        let v = self.cmd("GET", "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 PNG"))
            .expect("a valid base64 screenshot")
    }

    async fn quit(&self) {
        let _ = Self::call(
            &self.http,
            "DELETE",
            &format!("{}/session/{}", self.base, self.session),
            None,
        )
        .await;
    }
}

/// Polls `read` until `ok` accepts its value: a bounded wait (30 s) for the page's 1 s poll,
/// not a timing assertion.
async fn wait_for<F, Fut>(what: &str, mut read: F, ok: impl Fn(&str) -> bool) -> String
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let mut last = String::new();
    for _ in 0..300 {
        last = read().await;
        if ok(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: never happened; last value: {last:?}");
}

#[cached(key = "browser:item:{id}", cache = cache, tags = ["items"])]
async fn item(cache: &Cache, id: u64) -> String {
    format!("item {id}")
}

/// The dashboard's admin controls, disabled without a token.
const ADMIN: [&str; 4] = [
    "#purge-tag",
    "#purge-token",
    "#purge-submit",
    "#reset-stats",
];

async fn serve(cache: &Cache, token: Option<&str>) -> SocketAddr {
    let (c, w) = (cache.clone(), cache.clone());
    let http = HttpStats::new();
    let app = Router::new()
        .route(
            "/items/{id}",
            get(move |Path(id): Path<u64>| {
                let c = c.clone();
                async move { ([("cache-control", "max-age=60")], item(&c, id).await) }
            })
            // A write invalidates the function's tag; the response cache then drops the URI's
            // stored responses itself.
            .put(move || {
                let w = w.clone();
                async move {
                    w.invalidate_tags(["items"]).await.unwrap();
                    "changed"
                }
            }),
        )
        .layer(ResponseCacheLayer::new(cache.clone()))
        .layer(StatsLayer::with_stats(http.clone()))
        .nest(
            "/cache",
            Dashboard::new(cache.clone())
                .token(token)
                .http_stats(http)
                .router(),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn fetch(addr: SocketAddr, path: &str) -> u16 {
    send(addr, "GET", path).await
}

async fn send(addr: SocketAddr, method: &str, path: &str) -> u16 {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = client.request(req).await.unwrap();
    let status = res.status().as_u16();
    let _ = res.into_body().collect().await.unwrap();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_draws_axes_updates_live_purges_resets_and_is_read_only_without_a_token() {
    let hint = "install them with scripts/ensure-chromium.sh (Debian packages chromium and chromium-driver)";
    let chromium = which(&["chromium", "chromium-browser"])
        .unwrap_or_else(|| panic!("chromium is not installed: {hint}"));
    let chromedriver =
        which(&["chromedriver"]).unwrap_or_else(|| panic!("chromedriver is not installed: {hint}"));

    let cache = Cache::memory();
    let addr = serve(&cache, Some(TOKEN)).await;

    let port = free_port();
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
    let mut driver = Driver { child };
    let wd = WebDriver::start(port, &chromium.display().to_string()).await;

    wd.goto(&format!("http://{addr}/cache")).await;
    assert_eq!(wd.title().await, "Cache dashboard");
    assert_eq!(wd.text("h1").await, "Cache dashboard");

    // The chart has its axes: 0 to 100 % up, time along, the last five minutes to now.
    let y: Vec<String> = wd.texts("#chart .y-label").await;
    assert_eq!(y, ["100 %", "50 %", "0 %"]);
    assert_eq!(wd.text("#y-0").await, "0 %");
    assert_eq!(wd.text("#y-100").await, "100 %");
    let x: Vec<String> = wd.texts("#chart .x-label").await;
    assert_eq!(x.first().map(String::as_str), Some("-5 min"), "{x:?}");
    assert_eq!(wd.text("#x-now").await, "now");
    assert_eq!(wd.count("#chart #x-axis").await, 1);
    assert_eq!(wd.count("#chart #y-axis").await, 1);

    // Not empty on first load: the first /stats answer draws a point, at "now" and at 0 %
    // (nothing counted yet), inside the axes.
    let first = wait_for(
        "a first chart point",
        || wd.attr("#chart", "data-points"),
        |p| p.parse::<u32>().is_ok_and(|n| n >= 1),
    )
    .await;
    let cx: f64 = wd.attr("#chart-now", "cx").await.parse().unwrap();
    let cy: f64 = wd.attr("#chart-now", "cy").await.parse().unwrap();
    assert!(
        (48.0..=590.0).contains(&cx) && cx > 500.0,
        "point at x {cx}"
    );
    assert_eq!(cy, 160.0, "a 0 % point sits on the x axis");
    assert_eq!(wd.text("#hit-ratio").await, "0.0%");
    assert_eq!(wd.text("#ratio-label").await, "no requests yet");
    // With a token the admin controls are enabled and no notice says otherwise.
    for css in ADMIN {
        assert!(wd.enabled(css).await, "{css} is disabled with a token");
    }
    assert_eq!(wd.count("#admin-disabled").await, 0);

    // Traffic: one miss, then hits (the response cache answers; the function ran once).
    for _ in 0..5 {
        assert_eq!(fetch(addr, "/items/1").await, 200);
    }
    let first: u32 = first.parse().unwrap();
    wait_for(
        "more chart points",
        || wd.attr("#chart", "data-points"),
        |p| p.parse::<u32>().is_ok_and(|n| n > first),
    )
    .await;
    let ratio = wait_for(
        "a non-zero hit ratio",
        || wd.text("#hit-ratio"),
        |t| t != "0.0%" && t != "–",
    )
    .await;
    assert!(ratio.ends_with('%'), "{ratio}");
    // The headline counts HTTP requests, and says so: one miss, then four hits.
    wait_for(
        "the HTTP headline",
        || wd.text("#ratio-label"),
        |t| t == "HTTP: 4 of 5 requests answered from the cache",
    )
    .await;
    assert_eq!(wd.text("#hit-ratio").await, "80.0%");
    // A poll may land while the five requests are still being made: wait for one after them.
    wait_for(
        "the route table with 4 hits and 1 miss",
        || wd.text("#routes"),
        |t| t.contains("/items/{id} 4 1"),
    )
    .await;
    wait_for(
        "the function table",
        || wd.text("#functions"),
        |t| t.contains("dashboard_browser::item"),
    )
    .await;

    let png = wd.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(std::env::temp_dir().join("cache-dashboard.png"), &png).unwrap();

    // A wrong token is refused and deletes nothing.
    assert!(cache.exists("browser:item:1").await.unwrap());
    wd.fill("#purge-tag", "items").await;
    wd.fill("#purge-token", "wrong").await;
    wd.click("#purge-submit").await;
    let refused = wait_for(
        "a refusal",
        || wd.text("#purge-result"),
        |t| t.starts_with("refused"),
    )
    .await;
    assert!(
        refused.contains("403") && refused.contains("wrong token"),
        "{refused}"
    );
    assert!(cache.exists("browser:item:1").await.unwrap());

    // The right token purges the tagged entry and says how many went.
    wd.fill("#purge-token", TOKEN).await;
    wd.click("#purge-submit").await;
    let done = wait_for(
        "a purge",
        || wd.text("#purge-result"),
        |t| t.starts_with("purged"),
    )
    .await;
    assert_eq!(done, "purged 1 entries tagged items");
    assert!(!cache.exists("browser:item:1").await.unwrap());
    let inv = wait_for(
        "the invalidation table",
        || wd.text("#invalidations"),
        |t| t.contains("tags"),
    )
    .await;
    assert!(inv.contains("items"), "{inv}");

    // "Reset stats" with a wrong token is refused and the counts stay.
    let before = cache.stats();
    assert!(before.hits + before.misses > 0, "{before:?}");
    wd.fill("#purge-token", "wrong").await;
    wd.click("#reset-stats").await;
    let refused = wait_for(
        "a refused reset",
        || wd.text("#reset-result"),
        |t| t.starts_with("refused"),
    )
    .await;
    assert!(
        refused.contains("403") && refused.contains("wrong token"),
        "{refused}"
    );
    assert_eq!(cache.stats().hits, before.hits);
    assert!(wd.text("#routes").await.contains("/items/{id} 4 1"));

    // With the token, every count goes to zero: the cache's, the route's, the function's.
    wd.fill("#purge-token", TOKEN).await;
    wd.click("#reset-stats").await;
    wait_for(
        "a reset",
        || wd.text("#reset-result"),
        |t| t.starts_with("stats reset"),
    )
    .await;
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.sets), (0, 0, 0), "{s:?}");
    wait_for(
        "the route row at zero",
        || wd.text("#routes"),
        |t| t.contains("/items/{id} 0 0 0 0 0 0"),
    )
    .await;
    wait_for(
        "the function row at zero",
        || wd.text("#functions"),
        |t| t.contains("dashboard_browser::item 0 0 0.0%"),
    )
    .await;
    wait_for(
        "the hit and miss counts at zero",
        || wd.text("#hits-misses"),
        |t| t == "0 / 0",
    )
    .await;
    assert_eq!(wd.text("#hit-ratio").await, "0.0%");

    // Counting goes on from zero: one more request is one more route count.
    assert_eq!(fetch(addr, "/items/2").await, 200);
    wait_for(
        "the route counting again",
        || wd.text("#routes"),
        |t| t.contains("/items/{id} 0 1 0 0 0 0"),
    )
    .await;

    // Without a token: the same page, read-only, saying how to enable purging and resetting.
    let read_only = serve(&Cache::memory(), None).await;
    wd.goto(&format!("http://{read_only}/cache")).await;
    assert_eq!(wd.title().await, "Cache dashboard");
    for css in ADMIN {
        assert!(!wd.enabled(css).await, "{css} is enabled without a token");
    }
    let notice = wd.text("#admin-disabled").await;
    assert!(
        notice.contains("set CACHE_DASHBOARD_TOKEN to enable"),
        "{notice}"
    );
    // Its chart is drawn too, and clicking the disabled button sends nothing.
    wait_for(
        "a first chart point",
        || wd.attr("#chart", "data-points"),
        |p| p.parse::<u32>().is_ok_and(|n| n >= 1),
    )
    .await;
    wd.click("#reset-stats").await;
    assert_eq!(wd.text("#reset-result").await, "");

    // A write lists as one change: the handler's tag, with the stored response of its URI that
    // the response cache dropped folded in, not a row per internal rc:/rc-uri: key.
    assert_eq!(fetch(read_only, "/items/3").await, 200);
    assert_eq!(send(read_only, "PUT", "/items/3").await, 200);
    let changes = wait_for(
        "the write in the invalidation table",
        || wd.text("#invalidations tbody"),
        |t| t.contains("items (+1 cached response of /items/3)"),
    )
    .await;
    assert_eq!(changes.lines().count(), 1, "{changes}");
    assert!(
        !changes.contains("rc:") && !changes.contains("rc-uri:"),
        "{changes}"
    );
    let png = wd.screenshot().await;
    std::fs::write(
        std::env::temp_dir().join("cache-dashboard-read-only.png"),
        &png,
    )
    .unwrap();

    wd.quit().await;
    driver
        .child
        .kill()
        .await
        .expect("stopping chromedriver by its PID");
}
