//! `#[cached]` and `#[cache_invalidate]` on axum handlers with extractors stay handlers.
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use cache_core::{cache_invalidate, cached, Cache};

#[derive(Clone)]
struct AppState {
    cache: Cache,
}

#[derive(serde::Deserialize)]
struct Page {
    page: u32,
}

#[cached(key = "item:{id}:{q.page}", ttl = "5m", cache = state.cache)]
async fn show(State(state): State<AppState>, Path(id): Path<u64>, Query(q): Query<Page>) -> Result<String, StatusCode> {
    Ok(format!("{id}:{}", q.page))
}

#[cached(ttl = 60)]
async fn list(State(_state): State<AppState>, Query(q): Query<Vec<(String, String)>>) -> String {
    format!("{}", q.len())
}

#[cache_invalidate(patterns = ["item:{id}:*"], cache = state.cache)]
async fn delete(State(state): State<AppState>, Path(id): Path<u64>) -> StatusCode {
    let _ = (state, id);
    StatusCode::NO_CONTENT
}

fn main() {
    let _app: axum::Router = axum::Router::new()
        .route("/items", get(list))
        .route("/items/{id}", get(show).delete(delete))
        .with_state(AppState { cache: Cache::memory() });
}
