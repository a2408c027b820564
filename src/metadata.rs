//! What an object carries besides its bytes: the standard headers S3 stores with it (Content-Type, -Encoding,
//! -Disposition, -Language, Cache-Control, Expires) and its user metadata (`x-amz-meta-*`), as sfko sends them and as
//! it reads them back from HEAD and GET.
//!
//! The seeded sets ([`Metadata::draw`]) stay inside what every S3 implementation must round-trip unchanged: printable
//! ASCII values with no leading, trailing or doubled spaces (HTTP trims the first two, and SigV4 collapses the
//! third while signing), names of letters, digits and `-` in mixed case (S3 lowercases them), and at most
//! [`USER_LIMIT`] bytes of user metadata — S3's limit is 2 KB of names and values; counted here with each
//! `x-amz-meta-` prefix too, since servers differ on whether it counts. Non-ASCII values are left out on purpose: AWS answers
//! them RFC 2047-encoded and SDKs disagree on sending them raw, so a difference there would not be a server's bug.

use serde::{Deserialize, Serialize};

use crate::seed::Stream;

/// Most bytes of user metadata a drawn set holds, counting each `x-amz-meta-` prefix, name and value: near S3's
/// 2 KB limit, and under it however a server counts.
pub const USER_LIMIT: usize = 2_000;

const PREFIX: &str = "x-amz-meta-";

/// An object's metadata. `None` / absent means "not set" when sent, and "not returned" when read back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    /// An HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`).
    pub expires: Option<String>,
    /// `x-amz-meta-<name>` = value, in the order sent (names as sent; S3 answers them lowercased).
    pub user: Vec<(String, String)>,
}

/// Content-Types a server answers when none was stored: reading one back is the same as reading none.
const DEFAULT_CONTENT_TYPES: &[&str] = &["binary/octet-stream", "application/octet-stream"];

impl Metadata {
    /// Nothing set.
    pub fn is_empty(&self) -> bool {
        *self == Metadata::default()
    }

    /// The standard headers, by name (Expires last).
    pub fn standard(&self) -> [(&'static str, Option<&str>); 6] {
        [
            ("Content-Type", self.content_type.as_deref()),
            ("Content-Encoding", self.content_encoding.as_deref()),
            ("Content-Disposition", self.content_disposition.as_deref()),
            ("Content-Language", self.content_language.as_deref()),
            ("Cache-Control", self.cache_control.as_deref()),
            ("Expires", self.expires.as_deref()),
        ]
    }

    /// A seeded set, one of three shapes: every standard header plus a few user keys; user keys only, many of them,
    /// close to the 2 KB limit; or a single standard header and one key.
    pub fn draw(stream: &mut Stream) -> Metadata {
        let tag = stream.between(1, 9_999);
        let shape = stream.below(3);
        let mut out = Metadata::default();
        if shape != 1 {
            out.content_type = Some(pick(stream, &CONTENT_TYPES).replace('#', &tag.to_string()));
        }
        if shape == 0 {
            out.content_encoding = Some(pick(stream, &["identity", "x-sfko"]).to_string());
            out.content_disposition = Some(format!("attachment; filename=\"sfko-{tag}.bin\""));
            out.content_language = Some(pick(stream, &["en-US", "de-CH", "ja", "pt-BR"]).to_string());
            out.cache_control =
                Some(pick(stream, &["no-cache", "private, max-age=#", "max-age=#"]).replace('#', &tag.to_string()));
            out.expires = Some(http_date(1_900_000_000 + stream.below(100_000_000) as i64));
        }
        let keys = match shape {
            1 => 40,
            0 => stream.between(1, 4),
            _ => 1,
        };
        let mut budget = USER_LIMIT;
        for n in 0..keys {
            let name = name(stream, n);
            let max_value = if shape == 1 { 44 } else { 64 };
            let len = stream.between(1, max_value) as usize;
            let value = value(stream, len);
            let cost = PREFIX.len() + name.len() + value.len();
            if cost > budget {
                break;
            }
            budget -= cost;
            out.user.push((name, value));
        }
        out
    }

    /// Compresses what a HEAD or GET answered the way [`Metadata::mismatch`] reads it: `None` when the answer carried
    /// nothing but (at most) a default Content-Type, so plain reads cost the journal one byte.
    pub fn answered(mut self) -> Option<Box<Metadata>> {
        if self.content_type.as_deref().is_some_and(|t| DEFAULT_CONTENT_TYPES.contains(&t)) {
            self.content_type = None;
        }
        (!self.is_empty()).then(|| Box::new(self))
    }

    /// What is wrong with `got` (what a read answered; `None` = nothing) for an object stored with `self`: every
    /// standard header that was set must come back unchanged (one that was not set may come back with a server's
    /// default), and the user metadata must be exactly the set sent — none lost, none changed, none added.
    pub fn mismatch(&self, got: Option<&Metadata>) -> Option<String> {
        let empty = Metadata::default();
        let got = got.unwrap_or(&empty);
        let mut wrong = Vec::new();
        for ((header, sent), (_, answered)) in self.standard().into_iter().zip(got.standard()) {
            let Some(sent) = sent else { continue };
            let same = match header {
                "Expires" => answered.is_some_and(|answered| same_date(sent, answered)),
                _ => answered == Some(sent),
            };
            if !same {
                wrong.push(format!("{header} {} (sent {sent:?})", shown(answered)));
            }
        }
        let lower = |pairs: &[(String, String)]| -> std::collections::BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect()
        };
        let (sent, answered) = (lower(&self.user), lower(&got.user));
        for (name, value) in &sent {
            match answered.get(name) {
                None => wrong.push(format!("x-amz-meta-{name} missing")),
                Some(v) if v != value => wrong.push(format!("x-amz-meta-{name} = {v:?} (sent {value:?})")),
                Some(_) => {}
            }
        }
        let extra: Vec<&String> = answered.keys().filter(|k| !sent.contains_key(*k)).collect();
        if !extra.is_empty() {
            let names: Vec<String> = extra.iter().map(|k| format!("x-amz-meta-{k}")).collect();
            wrong.push(format!("not sent but returned: {}", names.join(", ")));
        }
        if wrong.is_empty() {
            return None;
        }
        let total = wrong.len();
        wrong.truncate(4);
        let more = if total > 4 { format!(" and {} more", total - 4) } else { String::new() };
        Some(format!("metadata: {}{more}", wrong.join("; ")))
    }
}

const CONTENT_TYPES: [&str; 4] = ["text/plain; charset=utf-8", "application/json", "image/png", "application/x-sfko-#"];

fn pick<'a>(stream: &mut Stream, from: &[&'a str]) -> &'a str {
    from[stream.index(from.len()).unwrap_or(0)]
}

/// A user-metadata name: mixed case, letters, digits and `-`, unique within the set by its index.
fn name(stream: &mut Stream, n: u64) -> String {
    const STEMS: [&str; 6] = ["Color", "trace-Id", "OWNER", "x-Build", "Checksum-Note", "k"];
    format!("{}-{n}", pick(stream, &STEMS))
}

/// A printable-ASCII value of `len` bytes: no leading, trailing or doubled space.
fn value(stream: &mut Stream, len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.,;:=/+()!*'~@";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let c = CHARS[stream.below(CHARS.len() as u64) as usize] as char;
        let at_edge = out.is_empty() || out.len() + 1 == len;
        if c == ' ' && (at_edge || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
    }
    out
}

/// `secs` since the epoch as an HTTP-date.
fn http_date(secs: i64) -> String {
    aws_smithy_types::DateTime::from_secs(secs)
        .fmt(aws_smithy_types::date_time::Format::HttpDate)
        .unwrap_or_else(|_| secs.to_string())
}

/// Two renderings of the same instant (to the second), or the same text.
fn same_date(a: &str, b: &str) -> bool {
    use aws_smithy_types::date_time::Format;
    let parse = |s: &str| aws_smithy_types::DateTime::from_str(s, Format::HttpDate).ok().map(|d| d.secs());
    a == b || matches!((parse(a), parse(b)), (Some(x), Some(y)) if x == y)
}

fn shown(value: Option<&str>) -> String {
    match value {
        Some(v) => format!("{v:?}"),
        None => "missing".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Seed;

    #[test]
    fn drawn_sets_stay_within_what_s3_must_round_trip() {
        for n in 0..200 {
            let m = Metadata::draw(&mut Seed(n).stream("metadata", &[]));
            let bytes: usize = m.user.iter().map(|(k, v)| PREFIX.len() + k.len() + v.len()).sum();
            assert!(bytes <= USER_LIMIT, "seed {n}: {bytes} bytes");
            for (k, v) in &m.user {
                assert!(k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'), "{k}");
                assert!(!v.starts_with(' ') && !v.ends_with(' ') && !v.contains("  "), "{v:?}");
                assert!(v.bytes().all(|b| b.is_ascii_graphic() || b == b' '), "{v:?}");
            }
            assert_eq!(m.mismatch(Some(&m)), None);
        }
    }

    #[test]
    fn the_shapes_cover_every_header_and_the_near_limit_set() {
        let sets: Vec<Metadata> = (0..60).map(|n| Metadata::draw(&mut Seed(n).stream("metadata", &[]))).collect();
        assert!(sets.iter().any(|m| m.expires.is_some() && m.cache_control.is_some()));
        let largest = sets.iter().map(|m| m.user.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()).max();
        assert!(largest.unwrap_or(0) > 1_000, "{largest:?}");
    }

    #[test]
    fn a_mismatch_names_what_was_lost_changed_or_added() {
        let sent = Metadata {
            content_type: Some("application/json".into()),
            expires: Some(http_date(1_900_000_000)),
            user: vec![("Color".into(), "red".into()), ("Size".into(), "L".into())],
            ..Metadata::default()
        };
        let mut got = sent.clone();
        got.user = vec![("color".into(), "red".into()), ("size".into(), "L".into())];
        assert_eq!(sent.mismatch(Some(&got)), None, "names compare without case");
        got.user = vec![("color".into(), "blue".into()), ("extra".into(), "1".into())];
        got.content_type = None;
        let why = sent.mismatch(Some(&got)).unwrap_or_default();
        for part in
            ["Content-Type missing", "x-amz-meta-color = \"blue\"", "x-amz-meta-size missing", "x-amz-meta-extra"]
        {
            assert!(why.contains(part), "{why}");
        }
        assert!(sent.mismatch(None).is_some());
        assert_eq!(Metadata::default().mismatch(None), None);
    }

    #[test]
    fn a_default_content_type_alone_is_recorded_as_nothing() {
        let plain = Metadata { content_type: Some("binary/octet-stream".into()), ..Metadata::default() };
        assert_eq!(plain.answered(), None);
        let typed = Metadata { content_type: Some("text/plain".into()), ..Metadata::default() };
        assert!(typed.answered().is_some());
    }

    #[test]
    fn expires_compares_as_an_instant() {
        assert!(same_date("Sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT"));
        assert!(!same_date("Sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:38 GMT"));
    }
}
