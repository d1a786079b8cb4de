//! The warnings for a precondition the layer could not evaluate, or evaluated against an error.
//!
//! An `EtagLayer` added with `Router::layer` (or `route_layer`, or on a `MethodRouter`) sits
//! behind routing: axum gives each method of each route its own copy, so the copy that sees a
//! `PUT` cannot `GET` the current representation. Without a validator stamp the request then
//! runs as if it had no precondition, which silently gives up the lost-update protection the
//! client asked for. That is logged as a `warn` the first time per route (per layer), and at
//! `debug` after that, so a busy route does not flood the log.
//!
//! With [`EtagLayer::wrap`](super::EtagLayer::wrap), the `GET` that reads the current
//! representation runs through the router without the layers added after `wrap`; if the `GET`
//! handler depends on one of them (an `Extension`, authentication), that `GET` fails, and the
//! preconditions are evaluated as if the resource had no representation. That is logged the
//! same way.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::MatchedPath;
use http::request::Parts;
use http::StatusCode;

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

/// The route template axum matched for the request, for the logs.
fn route_of(parts: &Parts) -> &str {
    parts
        .extensions
        .get::<MatchedPath>()
        .map_or("<unmatched>", MatchedPath::as_str)
}

/// Logs that `fields` of this request were not evaluated and the request ran anyway.
pub(super) fn report(warned: &Warned, parts: &Parts, fields: &[&'static str]) {
    let route = route_of(parts);
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

/// Logs that the `GET` for the current representation answered `status`, an error that says
/// nothing about the resource.
pub(super) fn probe_failed(warned: &Warned, parts: &Parts, status: StatusCode) {
    let route = route_of(parts);
    let method = parts.method.as_str();
    let path = parts.uri.path();
    let status = status.as_u16();
    if warned.first(&format!("GET {route}")) {
        tracing::warn!(
            target: "cache_axum",
            method,
            path,
            route,
            status,
            "the GET that reads the current representation of {path} for the preconditions \
             of a {method} answered {status}; they were evaluated as if {path} had none. If \
             the GET handler needs a layer added after `EtagLayer::wrap` (an Extension, \
             authentication), add that layer to the router before `wrap` (further cases on \
             route {route} are logged at debug level)"
        );
    } else {
        tracing::debug!(
            target: "cache_axum",
            method,
            path,
            route,
            status,
            "the GET for the preconditions answered an error"
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
