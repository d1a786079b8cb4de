//! Recent invalidations as the changes that caused them: the response cache's own
//! invalidations (its `rc:` keys and `rc-uri:` tags, dropped after a `PUT`, `POST` or `DELETE`
//! and when a write races an invalidation) fold into the application's change they follow,
//! instead of one row per internal key.
//!
//! The log of invalidations in `cache_core` does not say which call caused which, so the fold
//! goes by order and time: an internal invalidation belongs to the row before it when it came
//! at most [`FOLD_WINDOW_MS`] after that row's last invalidation. One with nothing to join
//! starts a row of its own, with no [`kind`](Change::kind), naming the resources whose stored
//! responses went.

use cache_core::stats::{InvalidationEvent, InvalidationKind};
use serde::Serialize;

/// How long after a change (ms) an internal invalidation still counts as caused by it: the
/// response cache invalidates once the handler has answered, which is quick.
///
/// ```
/// assert_eq!(cache_axum::observe::FOLD_WINDOW_MS, 2_000);
/// ```
pub const FOLD_WINDOW_MS: u64 = 2_000;

/// How many resource paths a [`Change`] keeps.
const MAX_RESOURCES: usize = 8;

/// One change in the recent-invalidations list of a [`StatsReport`](super::StatsReport): an
/// invalidation the application made, with the response cache's invalidations that followed
/// it folded in.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use cache_axum::observe::{fold_invalidations, Change};
/// let cache = cache_core::Cache::memory();
/// cache.invalidate_tags(["users:7"]).await?;
/// // What the response cache does after a `PUT /users/7`.
/// cache.delete_many(["rc:/users/7"]).await?;
/// cache.invalidate_tags(["rc-uri:0123456789abcdef0123456789abcdef"]).await?;
/// let changes = fold_invalidations(&cache.recent_invalidations());
/// assert_eq!(changes.len(), 1);
/// assert_eq!(changes[0].targets, ["users:7"]);
/// assert_eq!((changes[0].folded, changes[0].resources.as_slice()), (2, &["/users/7".to_owned()][..]));
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Change {
    /// When it happened (its first invalidation), in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The application's invalidation: `key`, `keys`, `pattern`, `tags`, `clear` or `version`;
    /// `None` (JSON `null`) for a row of internal invalidations alone, such as a `PUT` whose
    /// handler invalidated nothing itself.
    pub kind: Option<InvalidationKind>,
    /// Its keys, pattern or tags (at most [`InvalidationEvent::MAX_TARGETS`]); for a row of
    /// internal invalidations alone, the resources' paths.
    pub targets: Vec<String>,
    /// How many targets it had.
    pub target_count: u64,
    /// Entries the application's invalidation removed (stored responses carrying its tags
    /// included).
    pub deleted: u64,
    /// Stored HTTP responses (and their variant records) the folded internal invalidations
    /// removed besides.
    pub responses_deleted: u64,
    /// The resources those were for (path and query, or the layer's key function's result),
    /// where the internal keys name them (`rc-uri:` tags are hashes and do not); at most 8.
    pub resources: Vec<String>,
    /// How many internal invalidations were folded in.
    pub folded: u64,
    /// The last invalidation folded in (ms since the Unix epoch): where the window is counted
    /// from.
    #[serde(skip)]
    last_ms: u64,
}

/// Whether a key or tag is the response cache's own: an `rc:` key or an `rc-uri:` tag.
fn is_internal_target(target: &str) -> bool {
    target.starts_with("rc:") || target.starts_with("rc-uri:")
}

fn is_internal(e: &InvalidationEvent) -> bool {
    matches!(
        e.kind,
        InvalidationKind::Key | InvalidationKind::Keys | InvalidationKind::Tags
    ) && !e.targets.is_empty()
        && e.targets.iter().all(|t| is_internal_target(t))
}

/// The resource an `rc:` key is for: its escaped identity (up to the next `:`, which names a
/// variant), unescaped. `None` for `rc-uri:` tags and anything else.
fn response_resource(key: &str) -> Option<String> {
    let escaped = key.strip_prefix("rc:")?;
    let escaped = escaped.split(':').next().unwrap_or_default();
    Some(unescape(escaped))
}

/// Undoes `cache_core::key::escape`: `%XX` is the byte `XX`; anything else, a stray `%`
/// included, stays as it is.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' {
            if let (Some(Some(h)), Some(Some(l))) = (
                bytes.get(i + 1).map(|&b| hex(b)),
                bytes.get(i + 2).map(|&b| hex(b)),
            ) {
                // Two hex digits: at most 255.
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Folds `events` (oldest first, as [`Cache::recent_invalidations`] gives them) into changes,
/// newest first.
///
/// [`Cache::recent_invalidations`]: cache_core::Cache::recent_invalidations
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cache = cache_core::Cache::memory();
/// cache.delete("a").await?;
/// cache.delete("b").await?;
/// let changes = cache_axum::observe::fold_invalidations(&cache.recent_invalidations());
/// assert_eq!(changes[0].targets, ["b"]);
/// assert_eq!(changes[1].targets, ["a"]);
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
pub fn fold_invalidations(events: &[InvalidationEvent]) -> Vec<Change> {
    let mut changes: Vec<Change> = Vec::new();
    for e in events {
        if !is_internal(e) {
            changes.push(Change {
                at_ms: e.at_ms,
                kind: Some(e.kind),
                targets: e.targets.clone(),
                target_count: e.target_count,
                deleted: e.deleted,
                last_ms: e.at_ms,
                ..Change::default()
            });
            continue;
        }
        let joins = changes
            .last()
            .is_some_and(|c| e.at_ms.saturating_sub(c.last_ms) <= FOLD_WINDOW_MS);
        if !joins {
            changes.push(Change {
                at_ms: e.at_ms,
                last_ms: e.at_ms,
                ..Change::default()
            });
        }
        let Some(change) = changes.last_mut() else {
            continue;
        };
        change.last_ms = change.last_ms.max(e.at_ms);
        change.folded += 1;
        change.responses_deleted = change.responses_deleted.saturating_add(e.deleted);
        for resource in e.targets.iter().filter_map(|t| response_resource(t)) {
            if change.resources.len() < MAX_RESOURCES && !change.resources.contains(&resource) {
                change.resources.push(resource);
            }
        }
        if change.kind.is_none() {
            change.targets.clone_from(&change.resources);
            change.target_count = change.resources.len() as u64;
            change.deleted = change.responses_deleted;
        }
    }
    changes.reverse();
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(
        at_ms: u64,
        kind: InvalidationKind,
        targets: &[&str],
        deleted: u64,
    ) -> InvalidationEvent {
        // `InvalidationEvent` is non-exhaustive: built from JSON, as a store of them would.
        serde_json::from_value(serde_json::json!({
            "at_ms": at_ms,
            "kind": kind,
            "targets": targets,
            "target_count": targets.len(),
            "deleted": deleted,
        }))
        .unwrap()
    }

    const URI_TAG: &str = "rc-uri:0123456789abcdef0123456789abcdef";

    #[test]
    fn internal_rows_fold_into_the_change_before_them() {
        let events = [
            event(1_000, InvalidationKind::Key, &["user:7"], 1),
            event(1_001, InvalidationKind::Tags, &["users", "user:7"], 4),
            event(1_050, InvalidationKind::Keys, &["rc:/users/7"], 1),
            event(1_051, InvalidationKind::Tags, &[URI_TAG], 2),
        ];
        let changes = fold_invalidations(&events);
        assert_eq!(changes.len(), 2, "{changes:?}");
        let tags = &changes[0];
        assert_eq!(tags.kind, Some(InvalidationKind::Tags));
        assert_eq!(tags.targets, ["users", "user:7"]);
        assert_eq!(
            (tags.deleted, tags.responses_deleted, tags.folded),
            (4, 3, 2)
        );
        assert_eq!(tags.resources, ["/users/7"]);
        assert_eq!(changes[1].targets, ["user:7"]);
        assert_eq!(changes[1].folded, 0);
    }

    #[test]
    fn internal_rows_alone_make_one_row_naming_the_resource() {
        let events = [
            event(1_000, InvalidationKind::Key, &["user:7"], 1),
            // Long after: a `PUT` whose handler invalidated nothing.
            event(
                60_000,
                InvalidationKind::Keys,
                &["rc:/items/1%3Fa%3Ab", "rc:/items"],
                1,
            ),
            event(60_001, InvalidationKind::Tags, &[URI_TAG, URI_TAG], 0),
        ];
        let changes = fold_invalidations(&events);
        assert_eq!(changes.len(), 2, "{changes:?}");
        let own = &changes[0];
        assert_eq!(own.kind, None);
        assert_eq!(own.targets, ["/items/1?a:b", "/items"]);
        assert_eq!((own.deleted, own.responses_deleted, own.folded), (1, 1, 2));
        assert_eq!(changes[1].folded, 0);
        let json = serde_json::to_value(own).unwrap();
        assert!(
            json["kind"].is_null() && json.get("last_ms").is_none(),
            "{json}"
        );
    }

    #[test]
    fn a_later_internal_row_outside_the_window_is_its_own() {
        let events = [
            event(1_000, InvalidationKind::Tags, &["users"], 1),
            event(
                1_000 + FOLD_WINDOW_MS + 1,
                InvalidationKind::Key,
                &["rc:/x"],
                1,
            ),
        ];
        let changes = fold_invalidations(&events);
        assert_eq!(changes.len(), 2);
        assert_eq!(
            (changes[0].kind, changes[0].targets.as_slice()),
            (None, &["/x".to_owned()][..])
        );
        // Mixed targets are the application's.
        let mixed = [event(5, InvalidationKind::Keys, &["rc:/x", "user:1"], 2)];
        assert_eq!(
            fold_invalidations(&mixed)[0].kind,
            Some(InvalidationKind::Keys)
        );
    }

    #[test]
    fn odd_escapes_never_panic() {
        for key in [
            "rc:",
            "rc:%",
            "rc:%4",
            "rc:%zz",
            "rc:%E2%82",
            "rc:%41%",
            "rc:::",
        ] {
            let _ = response_resource(key);
        }
        assert_eq!(response_resource("rc:%41%").as_deref(), Some("A%"));
        assert_eq!(response_resource("rc:%E2%82%AC").as_deref(), Some("€"));
        assert_eq!(
            response_resource("rc:/users/7%3Fx").as_deref(),
            Some("/users/7?x")
        );
        assert_eq!(response_resource("rc:/a:var:0123").as_deref(), Some("/a"));
        assert_eq!(response_resource("rc-uri:0123"), None);
        assert!(is_internal_target("rc:/users/7") && is_internal_target("rc-uri:0123abcd"));
        assert!(!is_internal_target("users:7") && !is_internal_target("rc"));
    }
}
