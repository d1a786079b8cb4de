//! `EtagLayer::wrap` in an axum app as people build them: nested and merged routers, path
//! parameters, layers added afterwards, 404 and 405, `If-Unmodified-Since`, validator mode.
//! Run with: cargo test -p cache-axum --test etag_wrap_memory

mod support;

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::routing::get;
use axum::Router;
use cache_axum::observe::{HttpStats, StatsLayer};
use cache_axum::{EtagLayer, ResponseCacheLayer};
use cache_core::{key::KeyBuf, Cache};
use support::Client;

/// Names by user id; `PUT` renames.
#[derive(Clone, Default)]
struct Users(Arc<Mutex<Vec<String>>>);

impl Users {
    fn with(names: &[&str]) -> Self {
        Users(Arc::new(Mutex::new(
            names.iter().map(|n| n.to_string()).collect(),
        )))
    }
    fn name(&self, id: usize) -> Option<String> {
        self.0.lock().unwrap().get(id).cloned()
    }
}

async fn get_user(State(users): State<Users>, Path(id): Path<usize>) -> Result<String, StatusCode> {
    users.name(id).ok_or(StatusCode::NOT_FOUND)
}

async fn put_user(State(users): State<Users>, Path(id): Path<usize>, name: String) -> StatusCode {
    match users.0.lock().unwrap().get_mut(id) {
        Some(slot) => {
            *slot = name;
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

fn user_routes(users: &Users) -> Router {
    Router::new()
        .route("/users/{id}", get(get_user).put(put_user))
        .route("/only-get", get(|| async { "read only" }))
        .with_state(users.clone())
}

#[tokio::test]
async fn nested_and_merged_routers_check_preconditions_with_their_path_parameters() {
    let (nested, merged) = (Users::with(&["ada"]), Users::with(&["bob"]));
    let app = Router::new()
        .nest("/api", EtagLayer::new().wrap(user_routes(&nested)))
        .merge(
            EtagLayer::new().wrap(
                Router::new()
                    .route("/people/{id}", get(get_user).put(put_user))
                    .with_state(merged.clone()),
            ),
        );
    let c = Client::new(support::serve(app).await);
    for (path, users) in [("/api/users/0", &nested), ("/people/0", &merged)] {
        let before = users.name(0).unwrap();
        let etag = c.get(path).await.h("etag").expect("etag").to_owned();
        let stale = c
            .send_body("PUT", path, &[("if-match", "\"stale\"")], "eve")
            .await;
        assert_eq!(stale.status, 412, "{path}");
        assert_eq!(users.name(0).unwrap(), before, "{path}: the handler ran");
        // The probe `GET` extracts `Path<usize>`: a second pass through routing must not
        // give it the parameters twice.
        let ok = c
            .send_body("PUT", path, &[("if-match", &etag)], "eve")
            .await;
        assert_eq!(ok.status, 204, "{path}");
        assert_eq!(users.name(0).unwrap(), "eve");
        let again = c
            .send_body("PUT", path, &[("if-match", &etag)], "mallory")
            .await;
        assert_eq!(again.status, 412, "{path}: the lost update");
        assert_eq!(users.name(0).unwrap(), "eve");
    }
}

#[tokio::test]
async fn the_router_answers_404_and_405_as_before() {
    let users = Users::with(&["ada"]);
    let c = Client::new(support::serve(EtagLayer::new().wrap(user_routes(&users))).await);
    assert_eq!(c.get("/nowhere").await.status, 404);
    assert_eq!(c.send("PUT", "/nowhere", &[]).await.status, 404);
    assert_eq!(c.send("DELETE", "/users/0", &[]).await.status, 405);
    // "Only if it does not exist" holds where nothing exists, and routing answers as usual.
    let create = c.send("PUT", "/nowhere", &[("if-none-match", "*")]).await;
    assert_eq!(create.status, 404);
    // A user the handler does not know: If-Match cannot hold, If-None-Match: * does.
    assert_eq!(
        c.send_body("PUT", "/users/9", &[("if-match", "*")], "x")
            .await
            .status,
        412
    );
    assert_eq!(
        c.send_body("PUT", "/users/9", &[("if-none-match", "*")], "x")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn layers_added_after_wrap_see_the_matched_route_and_run_once() {
    let users = Users::with(&["ada"]);
    let stats = HttpStats::new();
    let app = EtagLayer::new()
        .wrap(user_routes(&users))
        .layer(ResponseCacheLayer::new(Cache::memory()))
        .layer(StatsLayer::with_stats(stats.clone()));
    let c = Client::new(support::serve(app).await);
    let etag = c.get("/users/0").await.h("etag").unwrap().to_owned();
    let r = c
        .send_body("PUT", "/users/0", &[("if-match", "\"stale\"")], "eve")
        .await;
    assert_eq!(r.status, 412);
    let ok = c
        .send_body("PUT", "/users/0", &[("if-match", &etag)], "eve")
        .await;
    assert_eq!(ok.status, 204);
    let routes = stats.routes();
    let user = routes
        .iter()
        .find(|r| r.route == "/users/{id}")
        .unwrap_or_else(|| panic!("no /users/{{id}} in {routes:?}"));
    // One GET and two PUTs: the probes did not go through the layers added after `wrap`.
    assert_eq!(user.total, 3, "{routes:?}");
    assert!(routes.iter().all(|r| r.route != "other"), "{routes:?}");
}

#[tokio::test]
async fn if_unmodified_since_refuses_a_write_to_a_newer_representation() {
    const MODIFIED: &str = "Sun, 06 May 2001 10:00:00 GMT";
    let writes = Arc::new(Mutex::new(0));
    let routes = Router::new()
        .route(
            "/doc",
            get(|| async { ([(header::LAST_MODIFIED, MODIFIED)], "v1") }).put(
                |State(writes): State<Arc<Mutex<u32>>>| async move {
                    *writes.lock().unwrap() += 1;
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(writes.clone());
    let c = Client::new(support::serve(EtagLayer::new().wrap(routes)).await);
    let put = |since: &'static str| {
        let c = c.clone();
        async move {
            c.send("PUT", "/doc", &[("if-unmodified-since", since)])
                .await
                .status
        }
    };
    assert_eq!(put("Sat, 05 May 2001 10:00:00 GMT").await, 412);
    assert_eq!(*writes.lock().unwrap(), 0);
    assert_eq!(put(MODIFIED).await, 204);
    assert_eq!(put("Mon, 07 May 2001 10:00:00 GMT").await, 204);
    // Not a date: ignored (RFC 9110 §13.1.4).
    assert_eq!(put("yesterday").await, 204);
    // With If-Match, If-Unmodified-Since is not evaluated.
    let etag = c.get("/doc").await.h("etag").unwrap().to_owned();
    let both = c
        .send(
            "PUT",
            "/doc",
            &[
                ("if-match", &etag),
                ("if-unmodified-since", "Sat, 05 May 2001 10:00:00 GMT"),
            ],
        )
        .await;
    assert_eq!(both.status, 204);
    assert_eq!(*writes.lock().unwrap(), 4);
}

#[tokio::test]
async fn validator_mode_checks_if_match_against_the_stamp() {
    let cache = Cache::memory();
    let users = Users::with(&["ada"]);
    let key = |id: &str| KeyBuf::new().lit("user:").arg(id).finish();
    cache.set(&key("0"), &"ada").await.unwrap();
    let app = EtagLayer::new()
        .validator(cache.clone(), move |req| {
            Some(key(req.uri.path().strip_prefix("/users/")?))
        })
        .wrap(user_routes(&users));
    let c = Client::new(support::serve(app).await);
    let etag = c.get("/users/0").await.h("etag").unwrap().to_owned();
    assert!(etag.starts_with("\"k"), "a stamp: {etag}");
    let ok = c
        .send_body("PUT", "/users/0", &[("if-match", &etag)], "eve")
        .await;
    assert_eq!(ok.status, 204);
    // The write changes the stored value, and so the stamp.
    cache.set(&key("0"), &"eve").await.unwrap();
    let stale = c
        .send_body("PUT", "/users/0", &[("if-match", &etag)], "mallory")
        .await;
    assert_eq!(stale.status, 412);
    assert_eq!(users.name(0).unwrap(), "eve");
}
