//! HTTP `Range` header parsing (RFC 9110 section 14.1.2), single-range only.

use std::ops::Range;

/// Why a `Range` header cannot be served.
///
/// RFC 9110 lets a server *ignore* a `Range` header it does not understand, so the server
/// should answer [`RangeError::Malformed`] with a normal `200` and the full body, and
/// [`RangeError::Unsatisfiable`] with `416 Range Not Satisfiable` and
/// `Content-Range: bytes */<size>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// The header is not a syntactically valid `bytes=` range set.
    #[error("malformed Range header")]
    Malformed,
    /// Valid syntax, but no range overlaps the object (`size` bytes long).
    #[error("range not satisfiable for an object of {size} bytes")]
    Unsatisfiable { size: u64 },
}

/// Parses one HTTP `Range` header value against an object of `size` bytes (RFC 9110:
/// `bytes=a-b`, `bytes=a-`, `bytes=-n`; for multiple ranges only the first satisfiable one is
/// served, because multipart/byteranges answers are not worth their complexity for video).
/// Returns the half-open byte range, clamped to the object. Unsatisfiable or malformed ->
/// [`RangeError`].
pub fn parse_range_header(value: &str, size: u64) -> Result<Range<u64>, RangeError> {
    let value = value.trim();
    let (unit, set) = value.split_once('=').ok_or(RangeError::Malformed)?;
    // The range unit is case-insensitive; `bytes` is the only one we know.
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Err(RangeError::Malformed);
    }
    let mut first_satisfiable = None;
    let mut any = false;
    for spec in set.split(',') {
        let spec = spec.trim();
        // `1#range-spec` allows empty list elements (`bytes=, 0-1`); skip them.
        if spec.is_empty() {
            continue;
        }
        any = true;
        let parsed = parse_spec(spec, size)?;
        if first_satisfiable.is_none() {
            first_satisfiable = parsed;
        }
    }
    if !any {
        return Err(RangeError::Malformed);
    }
    first_satisfiable.ok_or(RangeError::Unsatisfiable { size })
}

/// One `range-spec`: `Ok(None)` when valid but unsatisfiable.
fn parse_spec(spec: &str, size: u64) -> Result<Option<Range<u64>>, RangeError> {
    let (first, last) = spec.split_once('-').ok_or(RangeError::Malformed)?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // Suffix range: the last `n` bytes.
        let n = digits(last)?;
        if n == 0 || size == 0 {
            return Ok(None);
        }
        return Ok(Some(size.saturating_sub(n)..size));
    }
    let start = digits(first)?;
    let end_inclusive = if last.is_empty() {
        None
    } else {
        let end = digits(last)?;
        if end < start {
            return Err(RangeError::Malformed);
        }
        Some(end)
    };
    if start >= size {
        return Ok(None);
    }
    let end = match end_inclusive {
        Some(e) => e.min(size - 1) + 1,
        None => size,
    };
    Ok(Some(start..end))
}

/// `1*DIGIT`, no sign, no spaces; overflow is malformed (no object is that large).
fn digits(s: &str) -> Result<u64, RangeError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RangeError::Malformed);
    }
    s.parse().map_err(|_| RangeError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: &str, size: u64) -> Range<u64> {
        parse_range_header(v, size).unwrap_or_else(|e| panic!("{v}: {e}"))
    }

    #[test]
    fn simple_forms() {
        assert_eq!(ok("bytes=0-99", 1000), 0..100);
        assert_eq!(ok("bytes=100-", 1000), 100..1000);
        assert_eq!(ok("bytes=-100", 1000), 900..1000);
        assert_eq!(ok("bytes=0-0", 1000), 0..1);
        assert_eq!(ok("bytes=999-999", 1000), 999..1000);
        assert_eq!(ok("bytes=0-", 1), 0..1);
    }

    #[test]
    fn clamps_to_the_object() {
        assert_eq!(ok("bytes=500-5000", 1000), 500..1000);
        assert_eq!(ok("bytes=-5000", 1000), 0..1000);
        assert_eq!(ok("bytes=0-18446744073709551615", 10), 0..10);
    }

    #[test]
    fn whitespace_case_and_lists() {
        assert_eq!(ok("  Bytes = 1 - 2 ", 10), 1..3);
        assert_eq!(ok("bytes=0-1, 5-6", 10), 0..2);
        assert_eq!(ok("bytes=, 3-4", 10), 3..5);
        // The first range is unsatisfiable, the second is served.
        assert_eq!(ok("bytes=50-60,2-3", 10), 2..4);
    }

    #[test]
    fn unsatisfiable() {
        let u = Err(RangeError::Unsatisfiable { size: 1000 });
        assert_eq!(parse_range_header("bytes=1000-", 1000), u);
        assert_eq!(parse_range_header("bytes=1000-2000", 1000), u);
        assert_eq!(parse_range_header("bytes=-0", 1000), u);
        assert_eq!(
            parse_range_header("bytes=0-", 0),
            Err(RangeError::Unsatisfiable { size: 0 })
        );
        assert_eq!(
            parse_range_header("bytes=-5", 0),
            Err(RangeError::Unsatisfiable { size: 0 })
        );
    }

    #[test]
    fn malformed() {
        for v in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "items=0-1",
            "bytes=abc",
            "bytes=1",
            "bytes=5-2",
            "bytes=-",
            "bytes=+1-2",
            "bytes=-1-2",
            "bytes=1-2-3",
            "bytes=0x10-",
            "bytes=99999999999999999999999-",
            "bytes=0-1,zz",
        ] {
            assert_eq!(
                parse_range_header(v, 1000),
                Err(RangeError::Malformed),
                "{v:?}"
            );
        }
    }
}
