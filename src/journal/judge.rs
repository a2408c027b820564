//! How an answer is judged: whether an [`Outcome`] satisfies an [`Assertion`], and both in words.
//!
//! Kept apart from the frame types in `record.rs` (a file format, changed only with `FORMAT_VERSION`): a change to
//! how answers are judged changes what a replay concludes from a journal, never how the journal is read.

use super::record::{Assertion, ListEntry, Listing, Outcome, PageEntry};

impl Outcome {
    /// The target gave no usable answer even after retries — no HTTP response at all, 502/503/504, or SlowDown.
    /// That says the target was unavailable, not what it stored: such an op is judged by nothing, and what it
    /// touched becomes unknown. (A 500 is an answer, and judged: servers answer 500 to requests they mishandle.)
    pub fn unavailable(&self) -> bool {
        let code = self.error_code.as_deref();
        let sfko_side = code.is_some_and(|c| c.starts_with("Sfko"));
        (self.status == 0 && !sfko_side) || matches!(self.status, 502..=504) || code == Some("SlowDown")
    }
}

impl Outcome {
    /// sfko could not issue the request at all: it names an id (version, upload, listing cursor) that an earlier
    /// answer never gave. Nothing was asked, so nothing is judged; the earlier answer is where the difference is.
    pub fn not_issued(&self) -> bool {
        self.status == 0 && self.error_code.as_deref() == Some("SfkoMissingReference")
    }
}

impl PageEntry {
    pub(crate) fn describe(&self) -> String {
        let kind = if self.delete_marker { " (delete marker)" } else { "" };
        let latest = if self.is_latest { "" } else { " (noncurrent)" };
        format!(
            "{} {}B{}{}{}",
            self.key,
            self.size,
            self.etag.as_deref().map(|e| format!(" {e}")).unwrap_or_default(),
            kind,
            latest
        )
    }

    pub(crate) fn matches(&self, got: &ListEntry) -> bool {
        // A listing that carries no ETag at all (s3s-fs) cannot be wrong about one; a wrong one is judged.
        let etag_ok = match (&self.etag, got.etag.as_deref()) {
            (Some(expected), Some(got)) => crate::content::normalize_etag(got) == expected,
            _ => true,
        };
        self.key == got.key
            && self.delete_marker == got.delete_marker
            && self.is_latest == got.is_latest
            && (self.delete_marker || (self.size == got.size && etag_ok))
    }
}

/// Whether a DeleteObjects answer reports exactly `keys` deleted and no errors. A quiet answer lists no deleted
/// key; one that lists every key anyway (some servers ignore `Quiet`) loses nothing and passes.
fn batch_violation(keys: &[String], quiet: bool, outcome: &Outcome) -> Option<String> {
    if !outcome.succeeded() {
        return Some(outcome.brief());
    }
    let Some(batch) = &outcome.batch else { return Some("no DeleteObjects answer".into()) };
    if let Some((key, code)) = batch.errors.first() {
        return Some(format!("{} errors, the first for {key}: {code}", batch.errors.len()));
    }
    let want: std::collections::BTreeSet<&str> = keys.iter().map(String::as_str).collect();
    let got: std::collections::BTreeSet<&str> = batch.deleted.iter().map(String::as_str).collect();
    if (quiet && got.is_empty()) || got == want {
        return None;
    }
    let missing: Vec<&str> = want.difference(&got).copied().collect();
    let extra: Vec<&str> = got.difference(&want).copied().collect();
    let mut out = format!("{} of {} keys reported deleted", want.intersection(&got).count(), want.len());
    if !missing.is_empty() {
        out.push_str(&format!("; not reported: {}", missing.join(", ")));
    }
    if !extra.is_empty() {
        out.push_str(&format!("; never asked for: {}", extra.join(", ")));
    }
    Some(out)
}

fn describe_entry(entry: &ListEntry) -> String {
    let kind = if entry.delete_marker { " (delete marker)" } else { "" };
    let latest = if entry.is_latest { "" } else { " (noncurrent)" };
    let etag = entry.etag.as_deref().map(|e| format!(" {}", crate::content::normalize_etag(e))).unwrap_or_default();
    format!("{} {}B{etag}{kind}{latest}", entry.key, entry.size)
}

fn page_violation(expected: &[PageEntry], truncated: bool, listing: Option<&Listing>) -> Option<String> {
    let Some(listing) = listing else {
        return Some("no listing".into());
    };
    // Keys must come in the same order. Within one key, entries are compared as a set: the SDK hands versions and
    // delete markers over in two separate lists, so their interleaving on the wire is not observable.
    let want = group(expected, |e| e.key.as_str());
    let got = group(&listing.entries, |e| e.key.as_str());
    for (i, (key, wants)) in want.iter().enumerate() {
        let Some((got_key, gots)) = got.get(i) else {
            return Some(format!("{} entries; missing {}", listing.entries.len(), wants[0].describe()));
        };
        if got_key != key {
            return Some(format!("{} where {} was expected", describe_entry(gots[0]), wants[0].describe()));
        }
        let mut unmatched: Vec<&ListEntry> = gots.clone();
        for want in wants {
            match unmatched.iter().position(|g| want.matches(g)) {
                Some(at) => {
                    unmatched.remove(at);
                }
                None => {
                    let seen: Vec<String> = gots.iter().map(|g| describe_entry(g)).collect();
                    return Some(format!("{} missing under {key}; got [{}]", want.describe(), seen.join(", ")));
                }
            }
        }
        if let Some(extra) = unmatched.first() {
            return Some(format!("unexpected {}", describe_entry(extra)));
        }
    }
    if let Some((_, extra)) = got.get(want.len()) {
        return Some(format!("{} entries; unexpected {}", listing.entries.len(), describe_entry(extra[0])));
    }
    (listing.truncated != truncated).then(|| format!("truncated = {}", listing.truncated))
}

/// Whether the pages of an upload listing (`pages`' answers, then `last`) name each upload `creates` opened exactly
/// once and nothing else. An answer that is missing (a create or page with no usable answer) leaves it unjudged.
fn uploads_violation<'o>(
    creates: &[(String, u64)],
    pages: &[u64],
    last: &Outcome,
    answer: &dyn Fn(u64) -> Option<&'o Outcome>,
) -> Option<String> {
    let mut opened = Vec::with_capacity(creates.len());
    for (key, op) in creates {
        let id = answer(*op)?.upload_id.as_deref()?;
        opened.push((key.as_str(), id));
    }
    let mut listed = Vec::new();
    for page in pages.iter().map(|&op| answer(op)).chain([Some(last)]) {
        let entries = &page?.listing.as_ref()?.entries;
        listed.extend(entries.iter().map(|e| (e.key.as_str(), e.version_id.as_deref().unwrap_or(""))));
    }
    opened.sort_unstable();
    listed.sort_unstable();
    if let Some(twice) = listed.windows(2).find(|w| w[0] == w[1]) {
        return Some(format!("upload {} of {} listed twice", twice[0].1, twice[0].0));
    }
    if let Some((key, id)) = opened.iter().find(|o| listed.binary_search(o).is_err()) {
        return Some(format!("{} uploads listed; upload {id} of {key} missing", listed.len()));
    }
    listed
        .iter()
        .find(|l| opened.binary_search(l).is_err())
        .map(|(key, id)| format!("{} uploads listed; unexpected upload {id} of {key}", listed.len()))
}

/// How a race of conditional writers ended, judged from their answers and a read of the key after it: one winner
/// (a racer with no usable answer, or an answer other than a refusal, may have been it), and the winner's bytes.
fn sole_winner_violation<'o>(
    racers: &[u64],
    digests: &[crate::content::Digest],
    read: &Outcome,
    answer: &dyn Fn(u64) -> Option<&'o Outcome>,
) -> Option<String> {
    // A 2xx won, even one whose body could not be decoded: the server says it applied the write.
    let (mut won, mut maybe, mut refused) = (Vec::new(), Vec::new(), Vec::new());
    for (at, &op) in racers.iter().enumerate() {
        match answer(op) {
            Some(o) if (200..300).contains(&o.status) => won.push(at),
            Some(o) if matches!(o.status, 409 | 412) => refused.push(at),
            _ => maybe.push(at),
        }
    }
    if won.len() > 1 {
        let ops: Vec<u64> = won.iter().map(|&at| racers[at]).collect();
        return Some(format!("{} writers won: ops {} all succeeded", ops.len(), op_list(&ops)));
    }
    if won.is_empty() && maybe.is_empty() {
        return Some(format!("no writer won: ops {} were all refused", op_list(racers)));
    }
    if !read.succeeded() {
        return Some(read.brief());
    }
    let could_be: Vec<usize> = if won.is_empty() { maybe } else { won };
    let Some(got) = read.body_digest else { return Some(format!("no body ({})", read.brief())) };
    if could_be.iter().any(|&at| digests.get(at) == Some(&got)) {
        return None;
    }
    let whose = match racers.iter().zip(digests).position(|(_, d)| *d == got) {
        Some(at) if refused.contains(&at) => format!(" (op {}'s, which was refused)", racers[at]),
        Some(at) => format!(" (op {}'s)", racers[at]),
        None => String::new(),
    };
    let winner = match could_be.as_slice() {
        [only] => format!("winner op {}", racers[*only]),
        _ => "winner".to_string(),
    };
    Some(format!("blake3 {got}{whose}, not the {winner}'s bytes"))
}

/// [`Assertion::PartRace`] on the read that followed the race (see its doc). The closer's and the re-upload's own
/// status are judged on their own ops; this judges what the key and the upload became.
fn part_race_violation<'o>(
    race: &Assertion,
    read: &Outcome,
    answer: &dyn Fn(u64) -> Option<&'o Outcome>,
) -> Option<String> {
    let Assertion::PartRace { closer, abort, reupload, retry, first, second, before } = race else { return None };
    let (Some(closed), Some(reuploaded)) = (answer(*closer), answer(*reupload)) else { return None };
    let retried = match retry {
        Some(op) => Some(answer(*op)?),
        None => None,
    };
    let holds = |want: Option<&crate::content::Digest>, whose: &str| match (want, read.body_digest) {
        (Some(want), Some(got)) if got == *want => None,
        (Some(_), Some(got)) => Some(format!("blake3 {got}, not {whose}")),
        (Some(_), None) => Some(format!("{} where {whose} was expected", read.brief())),
        (None, _) if read.error_code.as_deref() == Some("NoSuchKey") || read.status == 404 => None,
        (None, _) => Some(format!("{} where no object was expected ({whose})", read.brief())),
    };
    let retry_op = retry.unwrap_or_default();
    // Applied or not, by status: an answer whose body could not be read is judged on its own op; what it did is
    // judged here.
    let applied = |o: &Outcome| (200..300).contains(&o.status);
    if *abort {
        if !applied(closed) {
            return None;
        }
        if retried.is_some_and(applied) {
            return Some(format!("op {retry_op} completed the upload op {closer} had aborted"));
        }
        return holds(before.as_ref(), "what the key held before the aborted upload");
    }
    if applied(closed) {
        // A server may answer a completion of a completed upload with its first result: only the bytes count.
        return holds(Some(first), &format!("the part completion op {closer} named"));
    }
    if closed.error_code.as_deref() != Some("InvalidPart") {
        return None;
    }
    if !applied(reuploaded) {
        return Some(format!(
            "completion op {closer} was refused InvalidPart, yet the re-upload op {reupload} that could have replaced \
             its part was refused ({})",
            reuploaded.brief()
        ));
    }
    match retried {
        Some(done) if applied(done) => {
            holds(Some(second), &format!("the part re-uploaded by op {reupload}")).or_else(|| {
                (!done.succeeded()).then(|| {
                    format!("op {retry_op} completed the upload, but its answer could not be read: {}", done.brief())
                })
            })
        }
        Some(done) => Some(format!(
            "completion op {closer} was refused InvalidPart, but the upload could not then be completed with the \
             re-uploaded part: op {retry_op} answered {}",
            done.brief()
        )),
        None => None,
    }
}

/// `5, 6, 7` (the first few and a count, for long lists).
fn op_list(ops: &[u64]) -> String {
    const SHOWN: usize = 8;
    let mut list = ops.iter().take(SHOWN).map(u64::to_string).collect::<Vec<_>>().join(", ");
    if ops.len() > SHOWN {
        list.push_str(&format!(" … ({} in all)", ops.len()));
    }
    list
}

/// Consecutive entries with the same key, in order.
fn group<'a, T>(entries: &'a [T], key: impl Fn(&T) -> &str) -> Vec<(&'a str, Vec<&'a T>)> {
    let mut groups: Vec<(&'a str, Vec<&'a T>)> = Vec::new();
    for entry in entries {
        let k = key(entry);
        match groups.last_mut() {
            Some((last, members)) if *last == k => members.push(entry),
            _ => groups.push((k, vec![entry])),
        }
    }
    groups
}

impl Assertion {
    /// The answer fields (as [`crate::replay::differences`] names them) this assertion speaks to: a difference in
    /// any other field is one it has no opinion on.
    pub fn fields(&self) -> Vec<&'static str> {
        match self {
            Assertion::Succeeded | Assertion::Fails { .. } | Assertion::Refused => vec!["status"],
            Assertion::Etag(_) => vec!["status", "etag"],
            Assertion::Size(_) => vec!["status", "size"],
            Assertion::BodyDigest(_) => vec!["status", "body_digest", "size"],
            Assertion::Page { .. } => vec!["status", "listing"],
            Assertion::PartsCount(_) => vec!["status", "parts_count"],
            Assertion::Prefixes(_) => vec!["status", "common_prefixes"],
            Assertion::ChecksumIfAny { .. } | Assertion::NoWholeChecksum | Assertion::ChecksumTypeIfAny(_) => {
                vec!["checksum"]
            }
            Assertion::BatchDeleted { .. } => vec!["status", "batch"],
            Assertion::Metadata(_) => vec!["status", "metadata"],
            Assertion::SoleWinner { .. } => vec!["status", "body_digest", "size"],
            Assertion::UploadsListed { .. } => vec!["status", "listing"],
            Assertion::PartRace { .. } => vec!["status", "body_digest", "size"],
            Assertion::Model { alternatives, .. } => {
                let mut fields: Vec<&'static str> = alternatives.iter().flatten().flat_map(Assertion::fields).collect();
                fields.sort_unstable();
                fields.dedup();
                fields
            }
        }
    }

    /// A read of something that must not exist.
    pub fn not_found() -> Assertion {
        Assertion::Fails { code: "NoSuchKey".into(), status: 404 }
    }

    /// `None` if `outcome` satisfies it, else what was found instead. An operation the target does not implement
    /// (501 NotImplemented) violates nothing: it is reported as unsupported, not as a bug.
    pub fn violation(&self, outcome: &Outcome) -> Option<String> {
        self.violation_among(outcome, &|_| None)
    }

    /// The ops besides its own whose answers judging this reads (a race's racers): a replay keeps those answers
    /// until this is judged.
    pub fn ops_read(&self) -> Vec<u64> {
        match self {
            Assertion::SoleWinner { racers, .. } => racers.clone(),
            Assertion::UploadsListed { creates, pages } => {
                creates.iter().map(|(_, op)| *op).chain(pages.iter().copied()).collect()
            }
            Assertion::PartRace { closer, reupload, retry, .. } => {
                [*closer, *reupload].into_iter().chain(retry.iter().copied()).collect()
            }
            Assertion::Model { alternatives, .. } => {
                let mut ops: Vec<u64> = alternatives.iter().flatten().flat_map(Assertion::ops_read).collect();
                ops.sort_unstable();
                ops.dedup();
                ops
            }
            _ => Vec::new(),
        }
    }

    /// [`violation`](Self::violation) for an assertion that also speaks of other ops' answers ([`Assertion::SoleWinner`]):
    /// `answer(op)` is op's usable answer, `None` when it got none (or is unknown here).
    pub fn violation_among<'o>(
        &self,
        outcome: &Outcome,
        answer: &dyn Fn(u64) -> Option<&'o Outcome>,
    ) -> Option<String> {
        if outcome.unsupported() {
            return None;
        }
        match self {
            Assertion::Succeeded => (!outcome.succeeded()).then(|| outcome.brief()),
            Assertion::Fails { code, status } => {
                // HEAD answers carry no body, so no code: the SDK says "NotFound"; the status decides then.
                let matches = outcome.error_code.as_deref() == Some(code.as_str())
                    || (matches!(outcome.error_code.as_deref(), None | Some("NotFound")) && outcome.status == *status);
                (!matches).then(|| outcome.brief())
            }
            Assertion::Etag(expected) => {
                let got = outcome.etag.as_deref().map(crate::content::normalize_etag);
                (got != Some(expected.as_str())).then(|| match got {
                    Some(etag) => format!("ETag {etag}"),
                    None => format!("no ETag ({})", outcome.brief()),
                })
            }
            Assertion::Size(expected) => (outcome.size != Some(*expected)).then(|| match outcome.size {
                Some(size) => format!("{size} bytes"),
                None => format!("no size ({})", outcome.brief()),
            }),
            Assertion::BodyDigest(expected) => {
                (outcome.body_digest != Some(*expected)).then(|| match outcome.body_digest {
                    Some(digest) => format!("blake3 {digest}"),
                    None => format!("no body ({})", outcome.brief()),
                })
            }
            Assertion::Page { entries, truncated } => page_violation(entries, *truncated, outcome.listing.as_ref()),
            Assertion::Refused => (!(400..500).contains(&outcome.status)).then(|| outcome.brief()),
            Assertion::PartsCount(expected) => {
                (outcome.parts_count != Some(*expected)).then(|| match outcome.parts_count {
                    Some(n) => format!("{n} parts"),
                    None => format!("no part count ({})", outcome.brief()),
                })
            }
            Assertion::Prefixes(expected) => {
                let got = outcome.listing.as_ref().map(|l| &l.common_prefixes);
                (got != Some(expected)).then(|| match got {
                    Some(got) => format!("common prefixes [{}]", got.join(", ")),
                    None => format!("no listing ({})", outcome.brief()),
                })
            }
            Assertion::ChecksumIfAny { algorithm, value } => match &outcome.checksum {
                Some(got) if got.algorithm != *algorithm || got.value != *value => {
                    Some(format!("checksum {}", got.describe()))
                }
                _ => None,
            },
            Assertion::NoWholeChecksum => match &outcome.checksum {
                Some(got) if !got.composite() => Some(format!("whole-object checksum {}", got.describe())),
                _ => None,
            },
            Assertion::ChecksumTypeIfAny(expected) => match outcome.checksum.as_ref().and_then(|c| c.kind.as_ref()) {
                Some(got) if got != expected => Some(format!("checksum type {got}")),
                _ => None,
            },
            Assertion::BatchDeleted { keys, quiet } => batch_violation(keys, *quiet, outcome),
            Assertion::Metadata(sent) => sent.mismatch(outcome.metadata.as_deref()),
            Assertion::SoleWinner { racers, digests } => sole_winner_violation(racers, digests, outcome, answer),
            Assertion::UploadsListed { creates, pages } => uploads_violation(creates, pages, outcome, answer),
            Assertion::PartRace { .. } => part_race_violation(self, outcome, answer),
            Assertion::Model { alternatives, .. } => {
                let mut missed = Vec::with_capacity(alternatives.len());
                for alternative in alternatives {
                    match alternative.iter().find_map(|a| a.violation(outcome)) {
                        None => return None,
                        Some(v) if !missed.contains(&v) => missed.push(v),
                        Some(_) => {}
                    }
                }
                Some(match missed.len() {
                    0 => outcome.brief(),
                    1 => missed.remove(0),
                    _ => missed.iter().map(|m| format!("[{m}]")).collect::<Vec<_>>().join(" / "),
                })
            }
        }
    }

    /// The expectation in words.
    pub fn describe(&self) -> String {
        match self {
            Assertion::Succeeded => "success (2xx)".into(),
            Assertion::Fails { code, status } => format!("{status} {code}"),
            Assertion::Etag(etag) => format!("ETag {etag}"),
            Assertion::Size(size) => format!("{size} bytes"),
            Assertion::BodyDigest(digest) => format!("blake3 {digest}"),
            Assertion::Page { entries, truncated } => match (entries.first(), entries.last()) {
                (Some(first), Some(last)) => format!(
                    "{} entries {} .. {}{}",
                    entries.len(),
                    first.describe(),
                    last.describe(),
                    if *truncated { ", truncated" } else { "" }
                ),
                _ => "an empty listing".into(),
            },
            Assertion::PartsCount(n) => format!("{n} parts"),
            Assertion::Prefixes(prefixes) => format!("common prefixes [{}]", prefixes.join(", ")),
            Assertion::ChecksumIfAny { algorithm, value } => format!("checksum {algorithm} {value} or none"),
            Assertion::NoWholeChecksum => "no whole-object checksum".into(),
            Assertion::ChecksumTypeIfAny(kind) => format!("checksum type {kind} or none"),
            Assertion::Metadata(sent) => {
                let set = sent.standard().iter().filter(|(_, value)| value.is_some()).count();
                let plural = if set == 1 { "header" } else { "headers" };
                format!("the metadata sent ({set} standard {plural}, {} x-amz-meta-*)", sent.user.len())
            }
            Assertion::BatchDeleted { keys, quiet: false } => format!("all {} keys reported deleted", keys.len()),
            Assertion::BatchDeleted { keys, quiet: true } => {
                format!("no errors for the {} keys (quiet: no key listed, or all of them)", keys.len())
            }
            Assertion::SoleWinner { racers, .. } => {
                format!("exactly one of ops {} wins (the others refused), and the key holds its bytes", op_list(racers))
            }
            Assertion::UploadsListed { creates, pages } if pages.is_empty() => {
                format!("the {} uploads opened listed once each", creates.len())
            }
            Assertion::UploadsListed { creates, pages } => format!(
                "the {} uploads opened listed once each over {} pages (ops {} and this one)",
                creates.len(),
                pages.len() + 1,
                op_list(pages)
            ),
            Assertion::PartRace { closer, abort: true, reupload, .. } => format!(
                "the upload aborted by op {closer} (racing re-upload op {reupload}) stays closed, and the key holds \
                 what it held before"
            ),
            Assertion::PartRace { closer, reupload, .. } => format!(
                "the key holds the bytes of whichever of completion op {closer} and re-upload op {reupload} went \
                 first (a refused completion leaves the upload usable)"
            ),
            Assertion::Model { rule, alternatives } => {
                let each = |all: &Vec<Assertion>| all.iter().map(Assertion::describe).collect::<Vec<_>>().join(", ");
                match alternatives.as_slice() {
                    [only] => format!("{rule}: {}", each(only)),
                    _ => format!(
                        "{rule}, one of (racing ops, or S3 leaves it open): {}",
                        alternatives.iter().map(|a| format!("[{}]", each(a))).collect::<Vec<_>>().join(" or ")
                    ),
                }
            }
            Assertion::Refused => "a refusal (4xx; S3 answers 405 MethodNotAllowed)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Outcome {
        Outcome { status: 200, ..Outcome::default() }
    }

    fn error(status: u16, code: Option<&str>) -> Outcome {
        Outcome { status, error_code: code.map(str::to_string), ..Outcome::default() }
    }

    fn entry(key: &str, size: u64, latest: bool) -> ListEntry {
        ListEntry { key: key.into(), size, is_latest: latest, ..ListEntry::default() }
    }

    fn want(key: &str, size: u64, latest: bool) -> PageEntry {
        PageEntry { key: key.into(), size, etag: None, is_latest: latest, delete_marker: false }
    }

    fn page(entries: Vec<ListEntry>, truncated: bool) -> Outcome {
        Outcome { listing: Some(Listing { entries, common_prefixes: vec![], truncated }), ..ok() }
    }

    #[test]
    fn success_and_errors() {
        assert_eq!(Assertion::Succeeded.violation(&ok()), None);
        assert_eq!(Assertion::Succeeded.violation(&error(503, Some("SlowDown"))).as_deref(), Some("503 SlowDown"));
        let not_found = Assertion::not_found();
        assert_eq!(not_found.violation(&error(404, Some("NoSuchKey"))), None);
        // A HEAD has no body, so no code: the status decides.
        assert_eq!(not_found.violation(&error(404, None)), None);
        assert_eq!(not_found.violation(&error(404, Some("NotFound"))), None);
        assert!(not_found.violation(&error(404, Some("NoSuchBucket"))).is_some());
        assert!(not_found.violation(&ok()).is_some());
        assert_eq!(Assertion::Refused.violation(&error(405, Some("MethodNotAllowed"))), None);
        assert!(Assertion::Refused.violation(&ok()).is_some());
    }

    #[test]
    fn no_answer_is_unavailability_but_a_500_is_an_answer() {
        assert!(error(0, None).unavailable());
        assert!(error(503, Some("SlowDown")).unavailable() && error(504, None).unavailable());
        assert!(!error(500, Some("InternalError")).unavailable());
        assert!(!error(0, Some("SfkoMissingReference")).unavailable(), "sfko's own refusals are not the target's");
        assert!(!ok().unavailable());
    }

    #[test]
    fn a_501_violates_nothing() {
        let unsupported = error(501, Some("NotImplemented"));
        for assertion in [Assertion::Succeeded, Assertion::Size(3), Assertion::Etag("x".into()), Assertion::not_found()]
        {
            assert_eq!(assertion.violation(&unsupported), None, "{assertion:?}");
        }
    }

    #[test]
    fn etags_are_compared_unquoted() {
        let outcome = Outcome { etag: Some("\"abc\"".into()), ..ok() };
        assert_eq!(Assertion::Etag("abc".into()).violation(&outcome), None);
        assert_eq!(Assertion::Etag("abd".into()).violation(&outcome).as_deref(), Some("ETag abc"));
        assert_eq!(Assertion::Etag("abc".into()).violation(&ok()).as_deref(), Some("no ETag (200)"));
    }

    #[test]
    fn sizes_and_part_counts() {
        let outcome = Outcome { size: Some(5), parts_count: Some(2), ..ok() };
        assert_eq!(Assertion::Size(5).violation(&outcome), None);
        assert_eq!(Assertion::Size(6).violation(&outcome).as_deref(), Some("5 bytes"));
        assert_eq!(Assertion::PartsCount(2).violation(&outcome), None);
        assert_eq!(Assertion::PartsCount(3).violation(&outcome).as_deref(), Some("2 parts"));
    }

    #[test]
    fn pages_compare_order_truncation_and_membership() {
        let expected = Assertion::Page {
            entries: vec![want("a", 1, true), want("b", 2, true), want("b", 3, false)],
            truncated: false,
        };
        // Versions of one key may come in either order (the SDK splits versions and markers into two lists).
        let good = page(vec![entry("a", 1, true), entry("b", 3, false), entry("b", 2, true)], false);
        assert_eq!(expected.violation(&good), None);
        let dropped = page(vec![entry("a", 1, true), entry("b", 2, true)], false);
        assert!(expected.violation(&dropped).unwrap_or_default().contains("missing under b"));
        let reordered = page(vec![entry("b", 2, true), entry("b", 3, false), entry("a", 1, true)], false);
        assert!(expected.violation(&reordered).unwrap_or_default().contains("where a 1B was expected"));
        let extra =
            page(vec![entry("a", 1, true), entry("b", 2, true), entry("b", 3, false), entry("c", 0, true)], false);
        assert!(expected.violation(&extra).unwrap_or_default().contains("unexpected c"));
        let truncated = page(vec![entry("a", 1, true), entry("b", 2, true), entry("b", 3, false)], true);
        assert_eq!(expected.violation(&truncated).as_deref(), Some("truncated = true"));
        assert_eq!(expected.violation(&ok()).as_deref(), Some("no listing"));
    }

    #[test]
    fn a_model_holds_when_one_alternative_holds() {
        let racing = Assertion::Model {
            rule: "read-after-write".into(),
            alternatives: vec![vec![Assertion::Size(1)], vec![Assertion::Size(2)]],
        };
        assert_eq!(racing.violation(&Outcome { size: Some(2), ..ok() }), None);
        assert_eq!(racing.violation(&Outcome { size: Some(3), ..ok() }).as_deref(), Some("3 bytes"));
        assert!(racing.describe().starts_with("read-after-write, one of (racing ops"));
    }

    #[test]
    fn a_batch_delete_must_report_every_key_and_no_error() {
        let keys: Vec<String> = vec!["a".into(), "b".into()];
        let answer = |deleted: &[&str], errors: &[(&str, &str)]| Outcome {
            batch: Some(super::super::record::BatchAnswer {
                deleted: deleted.iter().map(|k| k.to_string()).collect(),
                errors: errors.iter().map(|(k, c)| (k.to_string(), c.to_string())).collect(),
            }),
            ..ok()
        };
        let verbose = Assertion::BatchDeleted { keys: keys.clone(), quiet: false };
        let quiet = Assertion::BatchDeleted { keys, quiet: true };
        assert_eq!(verbose.violation(&answer(&["b", "a"], &[])), None);
        assert_eq!(
            verbose.violation(&answer(&["a"], &[])).as_deref(),
            Some("1 of 2 keys reported deleted; not reported: b")
        );
        assert!(verbose
            .violation(&answer(&["a"], &[("b", "AccessDenied")]))
            .is_some_and(|v| v.contains("AccessDenied")));
        assert_eq!(quiet.violation(&answer(&[], &[])), None);
        assert_eq!(quiet.violation(&answer(&["a", "b"], &[])), None, "a server that ignores Quiet loses nothing");
        assert!(quiet.violation(&answer(&["a"], &[])).is_some());
        assert!(quiet.violation(&error(400, Some("MissingContentMD5"))).is_some());
    }

    use crate::content::Digest;

    #[test]
    fn a_race_has_one_winner_and_the_key_holds_its_bytes() {
        let digests = vec![Digest([1; 32]), Digest([2; 32]), Digest([3; 32])];
        let race = Assertion::SoleWinner { racers: vec![10, 11, 12], digests };
        let read = |byte: u8| Outcome { body_digest: Some(Digest([byte; 32])), ..ok() };
        let answers = |statuses: [u16; 3]| statuses.map(|status| Outcome { status, ..Outcome::default() });
        let judge = |statuses: [u16; 3], byte: u8| {
            let answers = answers(statuses);
            race.violation_among(&read(byte), &|op| {
                answers.get((op as usize).checked_sub(10)?).filter(|o| o.status != 0)
            })
        };
        assert_eq!(judge([412, 200, 409], 2), None);
        assert_eq!(
            judge([412, 200, 409], 1).as_deref(),
            Some(&*format!("blake3 {} (op 10's, which was refused), not the winner op 11's bytes", Digest([1; 32])))
        );
        assert_eq!(judge([200, 200, 412], 1).as_deref(), Some("2 writers won: ops 10, 11 all succeeded"));
        assert_eq!(judge([412, 412, 412], 1).as_deref(), Some("no writer won: ops 10, 11, 12 were all refused"));
        // A writer with no usable answer may have won, and its bytes may be what the key holds.
        assert_eq!(judge([0, 412, 412], 1), None);
        assert!(judge([0, 412, 412], 2).is_some());
        assert_eq!(judge([0, 0, 412], 2), None);
    }

    #[test]
    fn paged_uploads_are_each_listed_once() {
        use crate::journal::{ListEntry, Listing};
        // Creates are ops 0..3 (uploads u0, u1 of "a", u2 of "b"); the walk's first page is op 10, the last op 11.
        let creates = vec![("a".to_string(), 0), ("a".to_string(), 1), ("b".to_string(), 2)];
        let check = Assertion::UploadsListed { creates, pages: vec![10] };
        let created: Vec<Outcome> = (0..3).map(|i| Outcome { upload_id: Some(format!("u{i}")), ..ok() }).collect();
        let upload = |key: &str, id: &str| ListEntry {
            key: key.to_string(),
            version_id: Some(id.to_string()),
            ..Default::default()
        };
        let page = |entries: &[(&str, &str)]| Outcome {
            listing: Some(Listing {
                entries: entries.iter().map(|&(key, id)| upload(key, id)).collect(),
                ..Default::default()
            }),
            ..ok()
        };
        let judge = |first: &[(&str, &str)], last: &[(&str, &str)]| {
            let first = page(first);
            check.violation_among(&page(last), &|op| match op {
                0..=2 => created.get(op as usize),
                10 => Some(&first),
                _ => None,
            })
        };
        assert_eq!(judge(&[("a", "u1"), ("a", "u0")], &[("b", "u2")]), None, "a key's order is not judged");
        assert_eq!(
            judge(&[("a", "u0"), ("a", "u1")], &[("a", "u1"), ("b", "u2")]).as_deref(),
            Some("upload u1 of a listed twice")
        );
        assert_eq!(
            judge(&[("a", "u0"), ("a", "u0")], &[("b", "u2")]).as_deref(),
            Some("upload u0 of a listed twice"),
            "the same count per key hides a skipped upload only from the page-by-page check"
        );
        assert_eq!(judge(&[("a", "u0")], &[("b", "u2")]).as_deref(), Some("2 uploads listed; upload u1 of a missing"));
        assert_eq!(
            judge(&[("a", "u0"), ("a", "u1")], &[("b", "u2"), ("b", "u9")]).as_deref(),
            Some("4 uploads listed; unexpected upload u9 of b")
        );
        assert_eq!(check.ops_read(), vec![0, 1, 2, 10]);
    }

    #[test]
    fn a_part_race_is_judged_by_how_it_went() {
        use crate::content::Digest;
        let (first, second, before) = (Digest([1; 32]), Digest([2; 32]), Digest([3; 32]));
        // The closer is op 5, the re-upload op 6, the retry op 7.
        let race = |abort: bool, retry: bool| Assertion::PartRace {
            closer: 5,
            abort,
            reupload: 6,
            retry: retry.then_some(7),
            first,
            second,
            before: abort.then_some(before),
        };
        let holding = |digest: Digest| Outcome { body_digest: Some(digest), ..ok() };
        let invalid = error(400, Some("InvalidPart"));
        let gone = error(404, Some("NoSuchUpload"));
        let judge = |race: &Assertion, [closer, reupload, retry]: [&Outcome; 3], read: &Outcome| {
            race.violation_among(read, &|op| match op {
                5 => Some(closer),
                6 => Some(reupload),
                7 => Some(retry),
                _ => None,
            })
        };
        let completed = race(false, true);
        assert_eq!(judge(&completed, [&ok(), &gone, &gone], &holding(first)), None, "the completion won");
        assert_eq!(
            judge(&completed, [&ok(), &ok(), &ok()], &holding(first)),
            None,
            "a late part may be accepted, and a completed upload answer its first result again"
        );
        assert!(judge(&completed, [&ok(), &ok(), &ok()], &holding(second)).is_some_and(|v| v.contains("not the part")));
        assert_eq!(judge(&completed, [&invalid, &ok(), &ok()], &holding(second)), None, "the re-upload won");
        assert!(judge(&completed, [&invalid, &ok(), &gone], &holding(first))
            .is_some_and(|v| v.contains("could not then be completed")));
        assert!(judge(&race(false, false), [&invalid, &gone, &gone], &holding(first))
            .is_some_and(|v| v.contains("yet the re-upload op 6")));
        let aborted = race(true, true);
        assert_eq!(judge(&aborted, [&ok(), &ok(), &gone], &holding(before)), None);
        assert!(judge(&aborted, [&ok(), &ok(), &ok()], &holding(second)).is_some_and(|v| v.contains("had aborted")));
        let fresh =
            Assertion::PartRace { closer: 5, abort: true, reupload: 6, retry: None, first, second, before: None };
        assert_eq!(judge(&fresh, [&ok(), &gone, &gone], &error(404, Some("NoSuchKey"))), None);
        assert!(judge(&fresh, [&ok(), &gone, &gone], &holding(first)).is_some_and(|v| v.contains("no object")));
        assert_eq!(
            completed.violation_among(&holding(second), &|op| (op == 6).then_some(&invalid)),
            None,
            "a missing answer leaves it unjudged"
        );
        assert_eq!(completed.ops_read(), vec![5, 6, 7]);
    }
}
