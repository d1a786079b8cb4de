//! Lenient HTTP dates (RFC 9110 §5.6.7): a recipient must accept the obsolete formats, and
//! senders get the rest wrong often enough (names in another case, a weekday that does not
//! match the date) that rejecting them would treat fresh responses as already expired.
//!
//! `httpdate` parses the three formats; what it refuses is tried again with the names in the
//! case the formats use, then with each weekday in turn (the date itself decides which is
//! right).

use std::time::SystemTime;

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Parses an HTTP date in any of RFC 9110's three formats, leniently (see the module docs).
pub(crate) fn parse(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    if let Ok(t) = httpdate::parse_http_date(s) {
        return Some(t);
    }
    let cased = recase(s);
    if let Ok(t) = httpdate::parse_http_date(&cased) {
        return Some(t);
    }
    // The weekday is the first word: try each.
    let end = cased.find([',', ' '])?;
    let rest = &cased[end..];
    DAYS.iter()
        .chain(LONG_DAYS.iter())
        .find_map(|day| httpdate::parse_http_date(&format!("{day}{rest}")).ok())
}

/// Words as the formats spell them: `GMT` in capitals, names capitalized.
fn recase(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_inclusive(|c: char| !c.is_ascii_alphabetic()) {
        let alpha_len = word.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (alpha, rest) = word.split_at(alpha_len);
        if alpha.eq_ignore_ascii_case("gmt") {
            out.push_str("GMT");
        } else {
            let mut chars = alpha.chars();
            if let Some(first) = chars.next() {
                out.push(first.to_ascii_uppercase());
                out.extend(chars.map(|c| c.to_ascii_lowercase()));
            }
        }
        out.push_str(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_and_common_mistakes_parse_to_the_same_instant() {
        let t = parse("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        for s in [
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "sun, 06 nov 1994 08:49:37 gmt",
            "SUN, 06 NOV 1994 08:49:37 GMT",
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "Monday, 06-Nov-94 08:49:37 GMT",
            "  Sun, 06 Nov 1994 08:49:37 GMT ",
        ] {
            assert_eq!(parse(s), Some(t), "{s:?}");
        }
        for bad in ["", "yesterday", "Sun, 32 Nov 1994 08:49:37 GMT", "0", "-1"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
