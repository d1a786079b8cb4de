//! TTL strings: integer seconds (`"300"`) or humantime durations (`"90s"`, `"5m"`, `"1h30m"`).

use std::time::Duration;

use crate::error::{Error, Result};

/// Parses a TTL: integer seconds or a duration such as `90s`, `5m`, `1h30m`, `2h 15min`.
///
/// The error quotes the input and says what was expected.
///
/// ```
/// use std::time::Duration;
/// use cache_core::ttl::parse;
/// assert_eq!(parse("300")?, Duration::from_secs(300));
/// assert_eq!(parse("1h30m")?, Duration::from_secs(5400));
/// assert_eq!(parse("250ms")?, Duration::from_millis(250));
/// assert!(parse("5 parsecs").unwrap_err().to_string().contains("parsecs"));
/// # Ok::<(), cache_core::Error>(())
/// ```
pub fn parse(s: &str) -> Result<Duration> {
    let t = s.trim();
    if t.is_empty() {
        return Err(Error::Config("empty TTL: expected seconds or a duration like \"5m\"".into()));
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(t).map_err(|e| {
        Error::Config(format!(
            "invalid TTL {s:?}: {e}; expected seconds or a duration like \"90s\", \"5m\", \"1h30m\""
        ))
    })
}
