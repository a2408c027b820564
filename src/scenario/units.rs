//! Size and duration strings used in scenario files.
//!
//! Both parsers are strict on purpose: a scenario file describes a reproducible
//! run, so anything that could be read two ways (fractions, decimal vs binary
//! units, months vs minutes) is an error instead of a guess.

/// Largest object S3 accepts (5 TiB); bigger sizes can never be written.
pub const MAX_OBJECT_SIZE: u64 = 5 * (1 << 40);

/// Binary size units, largest first so `format_size` picks the biggest exact one.
const SIZE_UNITS: &[(&str, u64)] = &[("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)];

/// What `parse_size` accepts, quoted in its error messages.
const SIZE_HELP: &str = "expected an integer with an optional binary unit: B, K, M, G, T \
     (also KB/KiB, MB/MiB, GB/GiB, TB/TiB, any case; K = 1024), e.g. 0B, 512K, 10M";

/// Duration units in seconds.
const DURATION_UNITS: &[(char, u64)] = &[('w', 604_800), ('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// What `parse_duration_secs` accepts, quoted in its error messages.
const DURATION_HELP: &str = "expected a duration such as '90s', '5h 30m', '1h30m' or '2d' (units: s, m, h, d, w)";

/// Parses a size such as `0B`, `512K`, `10MiB` or `123` into bytes.
///
/// All units are binary (K = 1024) so a size written in a scenario always means
/// the same number of bytes; the result is capped at [`MAX_OBJECT_SIZE`].
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("empty size; {SIZE_HELP}"));
    }
    if t.starts_with('-') {
        return Err(format!("size '{t}' must not be negative"));
    }
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, rest) = t.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!("invalid size '{t}': {SIZE_HELP}"));
    }
    if rest.starts_with('.') || rest.starts_with(',') {
        return Err(format!(
            "invalid size '{t}': fractional sizes are not supported; \
             use an integer with a smaller unit (e.g. 1536K instead of 1.5M)"
        ));
    }
    let multiplier = size_unit(rest.trim_start()).ok_or_else(|| format!("invalid size '{t}': {SIZE_HELP}"))?;
    let number: u64 = digits.parse().map_err(|_| too_large(t))?;
    let bytes = number.checked_mul(multiplier).ok_or_else(|| too_large(t))?;
    check_size_cap(bytes).map_err(|_| too_large(t))
}

/// Rejects sizes S3 could never store.
pub(crate) fn check_size_cap(bytes: u64) -> Result<u64, String> {
    if bytes > MAX_OBJECT_SIZE {
        Err(too_large(&bytes.to_string()))
    } else {
        Ok(bytes)
    }
}

fn too_large(s: &str) -> String {
    format!("size '{s}' is larger than the S3 maximum object size of 5T ({MAX_OBJECT_SIZE} bytes)")
}

/// Maps a unit suffix (case-insensitive) to its multiplier; `None` if unknown.
fn size_unit(unit: &str) -> Option<u64> {
    let u = unit.to_ascii_uppercase();
    if u.is_empty() || u == "B" {
        return Some(1);
    }
    let mut chars = u.chars();
    let prefix = chars.next()?;
    let tail = chars.as_str();
    if !matches!(tail, "" | "B" | "IB") {
        return None;
    }
    SIZE_UNITS.iter().find(|(name, _)| name.starts_with(prefix)).map(|&(_, mult)| mult)
}

/// Formats bytes in the largest binary unit that represents them exactly.
///
/// `10485760` → `10M`, `0` → `0B`, `1536` → `1536B` (never fractions), so the
/// output always parses back to the same value with [`parse_size`].
pub fn format_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0B".to_string();
    }
    for &(name, mult) in SIZE_UNITS {
        if bytes.is_multiple_of(mult) {
            return format!("{}{name}", bytes / mult);
        }
    }
    format!("{bytes}B")
}

/// Parses a duration such as `5h 30m`, `90s`, `2d` or `1h30m` into seconds.
///
/// Every number needs a unit (a bare `30` could mean seconds or days) and the
/// total must be positive, since a zero lifecycle expiration is meaningless.
pub fn parse_duration_secs(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let mut rest = t;
    let mut total: u64 = 0;
    if rest.is_empty() {
        return Err(format!("empty duration; {DURATION_HELP}"));
    }
    while !rest.is_empty() {
        let (secs, tail) = duration_term(rest).map_err(|why| format!("invalid duration '{t}': {why}"))?;
        total = total.checked_add(secs).ok_or_else(|| format!("duration '{t}' is too long"))?;
        rest = tail.trim_start();
    }
    if total == 0 {
        return Err(format!("duration '{t}' must be greater than zero"));
    }
    Ok(total)
}

/// Parses one `<integer><unit>` term; returns its seconds and the remaining text.
fn duration_term(s: &str) -> Result<(u64, &str), String> {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, rest) = s.split_at(digits_end);
    if digits.is_empty() {
        return Err(DURATION_HELP.to_string());
    }
    let rest = rest.trim_start();
    let unit = rest.chars().next().ok_or_else(|| format!("number '{digits}' has no unit; {DURATION_HELP}"))?;
    let mult = DURATION_UNITS
        .iter()
        .find(|(c, _)| *c == unit)
        .map(|&(_, m)| m)
        .ok_or_else(|| format!("unknown unit '{unit}'; {DURATION_HELP}"))?;
    let tail = &rest[unit.len_utf8()..];
    if tail.starts_with(|c: char| c.is_alphabetic()) {
        return Err(format!("unexpected text after unit '{unit}'; {DURATION_HELP}"));
    }
    let n: u64 = digits.parse().map_err(|_| "number is too large".to_string())?;
    let secs = n.checked_mul(mult).ok_or_else(|| "number is too large".to_string())?;
    Ok((secs, tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_every_spelling() {
        let cases: &[(&str, u64)] = &[
            ("0B", 0),
            ("0", 0),
            ("123", 123),
            ("512K", 512 * 1024),
            ("4k", 4096),
            ("512KiB", 512 * 1024),
            ("10M", 10 << 20),
            ("10MB", 10 << 20),
            ("10 mib", 10 << 20),
            ("1G", 1 << 30),
            ("1T", 1 << 40),
            ("5T", MAX_OBJECT_SIZE),
            ("7b", 7),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_size(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn bad_sizes_explain_themselves() {
        assert!(parse_size("10Q").unwrap_err().contains("B, K, M, G, T"));
        assert!(parse_size("1.5M").unwrap_err().contains("fractional"));
        assert!(parse_size("-1K").unwrap_err().contains("negative"));
        assert!(parse_size("6T").unwrap_err().contains("maximum object size"));
        assert!(parse_size("99999999999999999999999").unwrap_err().contains("maximum"));
        assert!(parse_size("").unwrap_err().contains("empty"));
        assert!(parse_size("K").unwrap_err().contains("expected an integer"));
        assert!(parse_size("1KK").is_err());
        assert!(parse_size("1Kib").is_ok());
        assert!(parse_size("1iB").is_err());
        assert!(parse_size("1ä").is_err());
    }

    #[test]
    fn format_size_is_exact_and_round_trips() {
        assert_eq!(format_size(0), "0B");
        assert_eq!(format_size(10 << 20), "10M");
        assert_eq!(format_size(1536), "1536B");
        assert_eq!(format_size(3072), "3K");
        assert_eq!(format_size(1 << 40), "1T");
        assert_eq!(format_size(u64::MAX), format!("{}B", u64::MAX));
        for v in [1, 1023, 1024, 1025, 1 << 20, (1 << 30) + 1024, MAX_OBJECT_SIZE] {
            assert_eq!(parse_size(&format_size(v)), Ok(v), "{v}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_secs("90s"), Ok(90));
        assert_eq!(parse_duration_secs("5h 30m"), Ok(5 * 3600 + 30 * 60));
        assert_eq!(parse_duration_secs("1h30m"), Ok(5400));
        assert_eq!(parse_duration_secs("2d"), Ok(172_800));
        assert_eq!(parse_duration_secs("1w 1s"), Ok(604_801));
        assert_eq!(parse_duration_secs(" 3 m "), Ok(180));
    }

    #[test]
    fn bad_durations_explain_themselves() {
        assert!(parse_duration_secs("0s").unwrap_err().contains("greater than zero"));
        assert!(parse_duration_secs("30").unwrap_err().contains("no unit"));
        assert!(parse_duration_secs("3y").unwrap_err().contains("units: s, m, h, d, w"));
        assert!(parse_duration_secs("").unwrap_err().contains("empty"));
        assert!(parse_duration_secs("5min").unwrap_err().contains("unexpected text"));
        assert!(parse_duration_secs("h").is_err());
        assert!(parse_duration_secs("99999999999999999999w").unwrap_err().contains("too large"));
        assert!(parse_duration_secs("40000000000000w").is_err());
        assert!(parse_duration_secs("1hé").is_err());
    }
}
