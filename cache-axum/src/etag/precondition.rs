//! The preconditions of an unsafe request (RFC 9110 §13.2.2, steps 1 to 3): `If-Match`, then
//! `If-Unmodified-Since` when there is no `If-Match`, then `If-None-Match`, each checked against
//! the current representation of the target.
//!
//! A malformed `If-Match` or `If-None-Match` cannot be shown to hold, so it fails: the client
//! asked for a guarded write, and writing anyway could lose an update. A malformed
//! `If-Unmodified-Since` is ignored, as §13.1.4 requires.

use std::time::SystemTime;

use http::header::{self, HeaderMap, HeaderValue};

use crate::conditional::{self, EtagList};

/// The current representation of a request's target, as far as it is known.
#[derive(Debug, Clone, Default)]
pub(super) struct Current {
    /// The target has a current representation (a `GET` would succeed).
    pub(super) exists: bool,
    /// Its entity-tag, if it has one a client could have seen.
    pub(super) etag: Option<HeaderValue>,
    /// Its `Last-Modified` date.
    pub(super) last_modified: Option<SystemTime>,
    /// Whether `last_modified` was looked up (a validator stamp alone carries no date).
    pub(super) dated: bool,
}

/// The precondition fields of one request.
#[derive(Debug)]
pub(super) struct Preconditions {
    if_match: Option<Result<EtagList, ()>>,
    if_none_match: Option<Result<EtagList, ()>>,
    /// `If-Unmodified-Since` as a valid date; a field that is not one is ignored (§13.1.4).
    if_unmodified_since: Option<SystemTime>,
}

impl Preconditions {
    pub(super) fn of(headers: &HeaderMap) -> Self {
        let mut dates = headers.get_all(header::IF_UNMODIFIED_SINCE).iter();
        // More than one field is a list of dates, which is not a valid value either.
        let if_unmodified_since = match (dates.next(), dates.next()) {
            (Some(v), None) => v.to_str().ok().and_then(crate::date::parse),
            _ => None,
        };
        Self {
            if_match: conditional::parse_list(headers, &header::IF_MATCH),
            if_none_match: conditional::parse_list(headers, &header::IF_NONE_MATCH),
            if_unmodified_since,
        }
    }

    /// No precondition to evaluate.
    pub(super) fn is_empty(&self) -> bool {
        self.if_match.is_none() && self.if_none_match.is_none() && !self.needs_date()
    }

    /// The evaluation needs the entity-tag (or the existence) of the current representation.
    pub(super) fn needs_tag(&self) -> bool {
        self.if_match.is_some() || self.if_none_match.is_some()
    }

    /// The evaluation needs the modification date of the current representation: step 2 runs
    /// only without `If-Match`.
    pub(super) fn needs_date(&self) -> bool {
        self.if_match.is_none() && self.if_unmodified_since.is_some()
    }

    /// The names of the fields that take part in the evaluation, for logs.
    pub(super) fn fields(&self) -> Vec<&'static str> {
        let mut out = Vec::with_capacity(3);
        if self.if_match.is_some() {
            out.push("If-Match");
        }
        if self.needs_date() {
            out.push("If-Unmodified-Since");
        }
        if self.if_none_match.is_some() {
            out.push("If-None-Match");
        }
        out
    }

    /// Whether the request must be refused with `412 Precondition Failed`. A step whose input
    /// is unknown (the date of a `Current` that is not `dated`) is not evaluated here; the
    /// caller reports it.
    pub(super) fn fail(&self, current: &Current) -> bool {
        let etag = current.etag.as_ref().and_then(|v| v.to_str().ok());
        // Step 1: If-Match, strong comparison (§13.1.1).
        match &self.if_match {
            Some(Err(())) => return true,
            Some(Ok(EtagList::Any)) if !current.exists => return true,
            Some(Ok(EtagList::Tags(tags))) => {
                let holds = current.exists
                    && etag.is_some_and(|cur| tags.iter().any(|t| conditional::strong_eq(t, cur)));
                if !holds {
                    return true;
                }
            }
            _ => {}
        }
        // Step 2: If-Unmodified-Since, only without If-Match (§13.1.4).
        if let (true, Some(since), Some(modified)) = (
            self.needs_date() && current.dated && current.exists,
            self.if_unmodified_since,
            current.last_modified,
        ) {
            if modified > since {
                return true;
            }
        }
        // Step 3: If-None-Match, weak comparison (§13.1.2).
        match &self.if_none_match {
            Some(Err(())) => true,
            Some(Ok(EtagList::Any)) => current.exists,
            Some(Ok(EtagList::Tags(tags))) => {
                current.exists
                    && etag.is_some_and(|cur| tags.iter().any(|t| conditional::weak_eq(t, cur)))
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pre(fields: &[(&'static str, &str)]) -> Preconditions {
        let mut h = HeaderMap::new();
        for (n, v) in fields {
            h.append(*n, HeaderValue::from_str(v).unwrap());
        }
        Preconditions::of(&h)
    }

    fn current(etag: &'static str, modified: &str) -> Current {
        Current {
            exists: true,
            etag: Some(HeaderValue::from_static(etag)),
            last_modified: crate::date::parse(modified),
            dated: true,
        }
    }

    const MAY: &str = "Sun, 06 May 2001 10:00:00 GMT";
    const JUNE: &str = "Wed, 06 Jun 2001 10:00:00 GMT";

    #[test]
    fn if_match_compares_strongly_and_star_needs_a_representation() {
        let cur = current("\"v1\"", MAY);
        assert!(!pre(&[("if-match", "\"v1\"")]).fail(&cur));
        assert!(!pre(&[("if-match", "\"a\", \"v1\"")]).fail(&cur));
        assert!(pre(&[("if-match", "W/\"v1\"")]).fail(&cur));
        assert!(pre(&[("if-match", "\"bogus\"")]).fail(&cur));
        assert!(pre(&[("if-match", "garbage")]).fail(&cur));
        assert!(!pre(&[("if-match", "*")]).fail(&cur));
        assert!(pre(&[("if-match", "*")]).fail(&Current::default()));
        assert!(pre(&[("if-match", "\"v1\"")]).fail(&Current::default()));
    }

    #[test]
    fn if_none_match_star_refuses_to_overwrite() {
        let cur = current("\"v1\"", MAY);
        assert!(pre(&[("if-none-match", "*")]).fail(&cur));
        assert!(!pre(&[("if-none-match", "*")]).fail(&Current::default()));
        assert!(pre(&[("if-none-match", "W/\"v1\"")]).fail(&cur));
        assert!(!pre(&[("if-none-match", "\"v2\"")]).fail(&cur));
        assert!(pre(&[("if-none-match", "garbage")]).fail(&cur));
    }

    #[test]
    fn if_none_match_is_evaluated_after_a_holding_if_match() {
        let cur = current("\"v1\"", MAY);
        let both = pre(&[("if-match", "\"v1\""), ("if-none-match", "\"v1\"")]);
        assert!(both.fail(&cur));
    }

    #[test]
    fn if_unmodified_since_refuses_a_newer_representation() {
        let since_may = pre(&[("if-unmodified-since", MAY)]);
        assert!(since_may.needs_date() && !since_may.needs_tag());
        assert!(!since_may.fail(&current("\"v1\"", MAY)));
        assert!(since_may.fail(&current("\"v1\"", JUNE)));
        assert!(!pre(&[("if-unmodified-since", JUNE)]).fail(&current("\"v1\"", MAY)));
        // No date to compare with: the field may be ignored (§13.1.4).
        let undated = Current {
            last_modified: None,
            ..current("\"v1\"", MAY)
        };
        assert!(!since_may.fail(&undated));
    }

    #[test]
    fn if_unmodified_since_is_ignored_with_if_match_or_when_invalid() {
        let with_match = pre(&[("if-match", "\"v1\""), ("if-unmodified-since", MAY)]);
        assert!(!with_match.needs_date());
        assert!(!with_match.fail(&current("\"v1\"", JUNE)));
        for bad in [
            pre(&[("if-unmodified-since", "yesterday")]),
            pre(&[("if-unmodified-since", MAY), ("if-unmodified-since", JUNE)]),
        ] {
            assert!(bad.is_empty());
            assert!(!bad.fail(&current("\"v1\"", JUNE)));
        }
    }

    #[test]
    fn fields_name_what_is_evaluated() {
        assert!(pre(&[]).is_empty());
        let all = pre(&[
            ("if-match", "\"v1\""),
            ("if-none-match", "*"),
            ("if-unmodified-since", MAY),
        ]);
        assert_eq!(all.fields(), ["If-Match", "If-None-Match"]);
        assert_eq!(
            pre(&[("if-unmodified-since", MAY)]).fields(),
            ["If-Unmodified-Since"]
        );
    }
}
