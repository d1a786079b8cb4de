//! The warning for a precondition the layer could not evaluate.
//!
//! An `EtagLayer` added with `Router::layer` (or `route_layer`, or on a `MethodRouter`) sits
//! behind routing: axum gives each method of each route its own copy, so the copy that sees a
//! `PUT` cannot `GET` the current representation. Without a validator stamp the request then
//! runs as if it had no precondition, which silently gives up the lost-update protection the
//! client asked for. That is logged as a `warn` the first time per route (per layer), and at
//! `debug` after that, so a busy route does not flood the log.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::MatchedPath;
use http::request::Parts;

/// Routes are few, but unmatched requests all count as one and the set is bounded anyway.
const MAX_ROUTES: usize = 1024;

/// The routes a layer has already warned about; shared by every copy of one layer.
#[derive(Clone, Default)]
pub(crate) struct Warned(Arc<Mutex<HashSet<String>>>);

impl Warned {
    /// True the first time `route` is seen (and while the set has room).
    fn first(&self, route: &str) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(route) || seen.len() >= MAX_ROUTES {
            return false;
        }
        seen.insert(route.to_owned());
        true
    }
}

/// Logs that `fields` of this request were not evaluated and the request ran anyway.
pub(super) fn report(warned: &Warned, parts: &Parts, fields: &[&'static str]) {
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map_or("<unmatched>", MatchedPath::as_str);
    let method = parts.method.as_str();
    let path = parts.uri.path();
    let fields = fields.join(", ");
    if warned.first(route) {
        tracing::warn!(
            target: "cache_axum",
            method,
            path,
            route,
            header = fields,
            "{fields} on {method} {path} not evaluated: EtagLayer sits behind routing (added \
             with Router::layer, route_layer or on a MethodRouter), where it cannot read the \
             current representation, so the request ran as if unconditional; add EtagLayer \
             with `EtagLayer::new().wrap(router)` to evaluate preconditions (further requests \
             on route {route} are logged at debug level)"
        );
    } else {
        tracing::debug!(
            target: "cache_axum",
            method,
            path,
            route,
            header = fields,
            "precondition not evaluated: EtagLayer sits behind routing; use EtagLayer::wrap"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_once_per_route_and_stays_bounded() {
        let warned = Warned::default();
        let copy = warned.clone();
        assert!(warned.first("/doc"));
        assert!(!copy.first("/doc"), "copies of one layer share the set");
        assert!(copy.first("/other"));
        for i in 0..2 * MAX_ROUTES {
            let _ = warned.first(&format!("/r{i}"));
        }
        assert!(!warned.first("/new"), "a full set warns no more");
        assert!(Warned::default().first("/doc"), "another layer warns again");
    }
}
