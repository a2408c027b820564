//! The S3 model `random-ops` judges every answer against: what a correct S3 holds after the operations it
//! acknowledged, and so what it must answer next — bodies (by blake3), sizes, ETags, version chains and delete
//! markers, listings (order, pages, common prefixes) and error codes.
//!
//! A [`World`] is one possible state of the buckets. The model advances a world op by op with the answers the
//! server gave; where the answer does not settle the state (a write that failed with a 5xx or no answer at all, or
//! any answer the model did not predict) the key becomes *unknown* and is not judged again until a write settles it,
//! so one bug is reported once rather than in every later read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use md5::{Digest as _, Md5};

use super::program::Step;
use crate::checksum::Algorithm;
use crate::content::{self, ContentKey, Digest, MIN_PART_SIZE};
use crate::journal::{Assertion, Body, DateCondition, Outcome, PageEntry, Precondition, ReadCondition, Request};
use crate::metadata::Metadata;
use crate::plan::BucketPlan;

/// What the model requires of one answer, and the rule that requires it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    pub rule: &'static str,
    /// Acceptable answers: each a list of assertions that must all hold (several where S3 leaves the choice open,
    /// e.g. which of two errors a request with both gets).
    pub alternatives: Vec<Vec<Assertion>>,
}

impl Prediction {
    fn new(rule: &'static str, expect: Vec<Assertion>) -> Option<Prediction> {
        Some(Prediction { rule, alternatives: vec![expect] })
    }

    fn fails(rule: &'static str, code: &str, status: u16) -> Option<Prediction> {
        Prediction::new(rule, vec![Assertion::Fails { code: code.into(), status }])
    }

    /// Whether `outcome` satisfies every assertion of some alternative.
    pub fn holds(&self, outcome: &Outcome) -> bool {
        self.alternatives.iter().any(|all| all.iter().all(|a| a.violation(outcome).is_none()))
    }
}

/// An object version's bytes: the request bodies it was assembled from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Object {
    segments: Vec<Body>,
    size: u64,
    /// Unquoted; `None` where S3 leaves the ETag to the implementation (copies).
    etag: Option<String>,
    digest: Digest,
    /// The checksum it was written with (algorithm and value); `None` = none was sent, or S3 leaves it open.
    checksum: Option<(Algorithm, String)>,
    /// What its write stored with it (`None`: nothing; a HEAD or GET must then answer no `x-amz-meta-*`).
    metadata: Option<Box<Metadata>>,
    /// Completed from parts: its segments are the parts a GET or HEAD by `partNumber` answers. Otherwise it was
    /// written in one piece (a PutObject or a copy), and its one part is the whole object.
    multipart: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    /// The step that made it (its version id is whatever that step got back).
    made_by: u64,
    /// The `null` version (written while versioning was off or suspended).
    null: bool,
    /// `None` = delete marker.
    object: Option<Object>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyState {
    /// Versions oldest first; the last is current. Empty = no such key.
    Known(Vec<Version>),
    /// An answer the model could not account for: not judged until a write settles it.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Versioning {
    Off,
    Enabled,
    Suspended,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    body: Body,
    md5: [u8; 16],
    /// Its UploadPart answered a checksum (the completion lists it with the part; without one, a server may
    /// refuse the completion of an upload that declared a checksum).
    answered_checksum: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum UploadState {
    Open,
    Closed,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Upload {
    key: String,
    state: UploadState,
    parts: BTreeMap<u32, Part>,
    /// MD5 of the body each UploadPart step sent (its ETag), by step.
    part_ops: BTreeMap<u64, [u8; 16]>,
    /// What CreateMultipartUpload asked the completed object to carry.
    metadata: Option<Box<Metadata>>,
    /// The checksum algorithm and type it declared.
    checksum: Option<crate::checksum::Declared>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct BucketModel {
    versioning: Versioning,
    keys: BTreeMap<String, KeyState>,
    uploads: BTreeMap<u64, Upload>,
    /// Steps that made a `null` version (a reference to one reads whatever null version exists now).
    null_made: BTreeSet<u64>,
}

/// A key no op has written.
static NEVER_WRITTEN: KeyState = KeyState::Known(Vec::new());

/// One possible state of every bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct World {
    buckets: BTreeMap<String, BucketModel>,
}

/// A request body by content key, offset and length.
type BodyId = (ContentKey, u64, u64);

/// MD5s, blake3s and checksums of request bodies, computed once (bodies are regenerated from their content key).
#[derive(Default)]
pub struct Hashes {
    bodies: Mutex<HashMap<BodyId, ([u8; 16], Digest)>>,
    checksums: Mutex<HashMap<(BodyId, Algorithm), String>>,
    /// The ETag (unquoted) each write step got back, which a later `If-Match` sends.
    etags: Mutex<HashMap<u64, String>>,
    /// The version id each write step got back, which a version listing's markers name.
    version_ids: Mutex<HashMap<u64, String>>,
}

impl Hashes {
    /// Remembers the version id write step `n` got back.
    pub fn remember_version_id(&self, n: u64, id: &str) {
        if let Ok(mut ids) = self.version_ids.lock() {
            ids.insert(n, id.to_string());
        }
    }

    fn version_got(&self, n: u64) -> Option<String> {
        self.version_ids.lock().ok()?.get(&n).cloned()
    }

    /// Remembers the ETag write step `n` got back.
    pub fn remember_etag(&self, n: u64, etag: &str) {
        if let Ok(mut etags) = self.etags.lock() {
            etags.insert(n, content::normalize_etag(etag).to_string());
        }
    }

    fn etag_got(&self, n: u64) -> Option<String> {
        self.etags.lock().ok()?.get(&n).cloned()
    }

    /// The `algorithm` checksum of `body`, in S3's wire form.
    fn checksum(&self, body: &Body, algorithm: Algorithm) -> String {
        let id = ((body.content, body.offset, body.len), algorithm);
        if let Some(found) = self.checksums.lock().ok().and_then(|m| m.get(&id).cloned()) {
            return found;
        }
        let value = algorithm.of_content(&body.content, body.offset, body.len);
        if let Ok(mut map) = self.checksums.lock() {
            map.insert(id, value.clone());
        }
        value
    }

    fn of(&self, body: &Body) -> ([u8; 16], Digest) {
        let id = (body.content, body.offset, body.len);
        if let Some(found) = self.bodies.lock().ok().and_then(|m| m.get(&id).copied()) {
            return found;
        }
        let mut md5 = Md5::new();
        let mut blake = blake3::Hasher::new();
        stream(body, 0, body.len, |chunk| {
            md5.update(chunk);
            blake.update(chunk);
        });
        let out: ([u8; 16], Digest) = (md5.finalize().into(), blake.finalize().into());
        if let Ok(mut map) = self.bodies.lock() {
            map.insert(id, out);
        }
        out
    }
}

/// Feeds `len` bytes of `body` from `from` (relative to the body) to `sink`, in chunks.
fn stream(body: &Body, from: u64, len: u64, mut sink: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = from;
    let end = from + len;
    while at < end {
        let n = (buf.len() as u64).min(end - at) as usize;
        content::fill(&body.content, body.offset + at, &mut buf[..n]);
        sink(&buf[..n]);
        at += n as u64;
    }
}

/// GET or HEAD of part `number` of `object` (`None`: no object). A completed upload's part `n` is its `n`-th part,
/// with the part count and the **whole object's** ETag; an object written in one piece is one part, the whole of
/// it. A part beyond the last is `416 InvalidPartNumber`.
fn predict_part(object: Option<&Object>, number: u32, head: bool) -> Option<Prediction> {
    let Some(object) = object else {
        return Prediction::fails(if head { "head-after-delete" } else { "read-after-delete" }, "NoSuchKey", 404);
    };
    let index = number.checked_sub(1)? as usize;
    let (offset, len) = match object.multipart {
        true => {
            let part = object.segments.get(index);
            let offset = object.segments.iter().take(index).map(|s| s.len).sum();
            (offset, part.map(|p| p.len))
        }
        false => (0, (index == 0).then_some(object.size)),
    };
    let Some(len) = len else { return Prediction::fails("part-number", "InvalidPartNumber", 416) };
    let mut expect = vec![Assertion::Succeeded, Assertion::Size(len)];
    if object.multipart {
        expect.push(Assertion::PartsCount(object.segments.len() as u32));
    }
    expect.extend(object.etag.clone().map(Assertion::Etag));
    if !head {
        expect.push(Assertion::BodyDigest(slice_digest(&object.segments, offset, len)));
    }
    Prediction::new("part-read", expect)
}

/// blake3 of bytes `offset..offset+len` of an object made of `segments`.
fn slice_digest(segments: &[Body], offset: u64, len: u64) -> Digest {
    let mut blake = blake3::Hasher::new();
    let mut start = 0u64;
    for segment in segments {
        let (seg_start, seg_end) = (start, start + segment.len);
        let (from, to) = (offset.max(seg_start), (offset + len).min(seg_end));
        if from < to {
            stream(segment, from - seg_start, to - from, |chunk| {
                blake.update(chunk);
            });
        }
        start = seg_end;
    }
    blake.finalize().into()
}

/// The `algorithm` checksum of an object made of `segments`.
fn segments_checksum(segments: &[Body], algorithm: Algorithm, hashes: &Hashes) -> String {
    if let [one] = segments {
        return hashes.checksum(one, algorithm);
    }
    let mut hasher = algorithm.hasher();
    for segment in segments {
        stream(segment, 0, segment.len, |chunk| hasher.update(chunk));
    }
    hasher.finish()
}

/// The whole-object checksum `observed` claims, if it claims one of a known algorithm.
fn claimed(observed: &Outcome) -> Option<Algorithm> {
    let returned = observed.checksum.as_ref().filter(|c| !c.composite())?;
    Algorithm::parse(&returned.algorithm).ok()
}

/// A read of `object` answers the metadata its write stored: exactly its `x-amz-meta-*` (none if it was written with
/// none) and every standard header it set.
fn metadata_expectation(object: &Object) -> Assertion {
    Assertion::Metadata(object.metadata.clone().unwrap_or_default())
}

/// What an answer naming a declared multipart checksum says: that value (of that algorithm), of that type.
fn checksum_of_declared(declared: &crate::checksum::Declared, value: &str) -> [Assertion; 2] {
    [
        Assertion::ChecksumIfAny { algorithm: declared.algorithm.name().to_string(), value: value.to_string() },
        Assertion::ChecksumTypeIfAny(declared.kind().to_string()),
    ]
}

/// What a full read of `object` may say about its checksum: the one it was written with (for a multipart upload
/// that declared one, of the type it declared: a composite value ends in `-N`), or (none was sent) a right value
/// of whatever algorithm the server chose to compute (S3 computes CRC64NVME for every new object).
fn checksum_expectation(object: &Object, observed: &Outcome, hashes: &Hashes) -> Vec<Assertion> {
    let (algorithm, value) = match &object.checksum {
        Some((algorithm, value)) => (*algorithm, value.clone()),
        None => match claimed(observed) {
            Some(algorithm) => (algorithm, segments_checksum(&object.segments, algorithm, hashes)),
            None => return Vec::new(),
        },
    };
    let mut expect = Vec::with_capacity(2);
    if object.multipart && object.checksum.is_some() {
        let kind = if value.contains('-') { "COMPOSITE" } else { "FULL_OBJECT" };
        expect.push(Assertion::ChecksumTypeIfAny(kind.to_string()));
    }
    expect.push(Assertion::ChecksumIfAny { algorithm: algorithm.name().to_string(), value });
    expect
}

/// The error codes servers give a write whose checksum does not match its body.
const CHECKSUM_MISMATCH_CODES: &[&str] =
    &["BadDigest", "InvalidRequest", "XAmzContentChecksumMismatch", "InvalidDigest"];

/// A write whose checksum does not match its body is refused, with any of [`CHECKSUM_MISMATCH_CODES`].
fn checksum_refused(rule: &'static str) -> Prediction {
    let alternatives =
        CHECKSUM_MISMATCH_CODES.iter().map(|code| vec![Assertion::Fails { code: code.to_string(), status: 400 }]);
    Prediction { rule, alternatives: alternatives.collect() }
}

/// Whether an answer says nothing about what the server did: no answer at all, or a server error.
fn ambiguous(outcome: &Outcome) -> bool {
    outcome.status == 0 || (outcome.status >= 500 && !outcome.unsupported())
}

impl World {
    /// Empty buckets, with versioning as the plan set it up.
    pub fn new(buckets: &[BucketPlan]) -> World {
        World {
            buckets: buckets
                .iter()
                .map(|b| {
                    let model = BucketModel {
                        versioning: if b.versioning { Versioning::Enabled } else { Versioning::Off },
                        keys: BTreeMap::new(),
                        uploads: BTreeMap::new(),
                        null_made: BTreeSet::new(),
                    };
                    (b.name.clone(), model)
                })
                .collect(),
        }
    }

    /// Predicts `step`'s answer, compares it with `observed`, and moves this world on. Returns the prediction
    /// (`None` = not judged) and whether it held. `pages` gives the answers of earlier listing steps.
    pub fn advance(
        &mut self,
        step: &Step,
        observed: &Outcome,
        pages: &BTreeMap<u64, Outcome>,
        hashes: &Hashes,
    ) -> (Option<Prediction>, bool) {
        if observed.error_code.as_deref() == Some("SfkoMissingReference") {
            return (None, true);
        }
        let n = u64::from(step.n);
        // A completion's prediction and the object it makes come from one pass over the parts (hashing them is the
        // model's most expensive step, and it runs once per possible world).
        let (prediction, made) = match &step.request {
            Request::CompleteMultipartUpload { bucket, key, create_op, parts, precondition } => self
                .predict_complete(bucket, key, *create_op, parts, precondition.as_ref(), hashes)
                .map_or((None, None), |(p, made)| (Some(p), made)),
            request => (self.predict(request, observed, pages, hashes), None),
        };
        let held = prediction.as_ref().is_none_or(|p| p.holds(observed));
        if observed.unsupported() {
            return (prediction, true);
        }
        let settled = held && prediction.is_some() && !ambiguous(observed);
        self.apply(n, &step.request, observed, settled, made, hashes);
        self.note_null_version(n, &step.request, observed);
        (prediction, held)
    }

    /// A write answered with version id `null` made (or replaced) its key's null version, whatever the model could
    /// predict of the write itself (a write to a key in an unknown state is not applied): a later request naming
    /// that op's version sends `null`, which names the null version of whichever key it is sent for.
    fn note_null_version(&mut self, n: u64, request: &Request, observed: &Outcome) {
        let bucket = match request {
            Request::PutObject { bucket, .. }
            | Request::CompleteMultipartUpload { bucket, .. }
            | Request::CopyObject { bucket, .. }
            | Request::DeleteObject { bucket, .. } => bucket,
            _ => return,
        };
        if observed.succeeded() && observed.version_id.as_deref() == Some("null") {
            if let Some(model) = self.buckets.get_mut(bucket) {
                model.null_made.insert(n);
            }
        }
    }

    fn bucket(&self, name: &str) -> Option<&BucketModel> {
        self.buckets.get(name)
    }

    fn key(&self, bucket: &str, key: &str) -> Option<&KeyState> {
        let model = self.bucket(bucket)?;
        Some(model.keys.get(key).unwrap_or(&NEVER_WRITTEN))
    }

    /// The current object, `Ok(None)` for none (or a delete marker), `Err(())` when unknown.
    fn current(&self, bucket: &str, key: &str) -> Result<Option<&Object>, ()> {
        match self.key(bucket, key) {
            Some(KeyState::Known(versions)) => Ok(versions.last().and_then(|v| v.object.as_ref())),
            _ => Err(()),
        }
    }

    /// What a correct S3 answers to `request`. `observed` only tells which checksum algorithm the answer claims, so
    /// that the model computes the one value to compare it with.
    fn predict(
        &self,
        request: &Request,
        observed: &Outcome,
        pages: &BTreeMap<u64, Outcome>,
        hashes: &Hashes,
    ) -> Option<Prediction> {
        match request {
            Request::PutObject { bucket, key, body, checksum, precondition, .. } => {
                if checksum.is_some_and(|c| c.wrong) {
                    return Some(checksum_refused("bad-checksum-refused"));
                }
                let rule = match precondition {
                    None => "write-ack",
                    Some(precondition) => match self.precondition_holds(bucket, key, precondition, hashes)? {
                        Ok(rule) => rule,
                        Err(refusal) => return Some(refusal),
                    },
                };
                let (md5, _) = hashes.of(body);
                let mut expect = vec![Assertion::Succeeded, Assertion::Etag(hex::encode(md5))];
                let algorithm = checksum.map(|c| c.algorithm).or_else(|| claimed(observed));
                if let Some(algorithm) = algorithm {
                    let value = hashes.checksum(body, algorithm);
                    expect.push(Assertion::ChecksumIfAny { algorithm: algorithm.name().to_string(), value });
                }
                Prediction::new(rule, expect)
            }
            Request::GetObject { bucket, key, range } => match (self.current(bucket, key).ok()?, range) {
                (None, _) => Prediction::fails("read-after-delete", "NoSuchKey", 404),
                (Some(object), Some((start, end))) => {
                    if *start >= object.size {
                        return Prediction::fails("range-past-end", "InvalidRange", 416);
                    }
                    let len = (*end).min(object.size - 1) - start + 1;
                    let digest = slice_digest(&object.segments, *start, len);
                    let mut expect = vec![Assertion::Succeeded, Assertion::Size(len), Assertion::BodyDigest(digest)];
                    // A checksum of the whole object on part of it would fail every client that validates it.
                    if len < object.size {
                        expect.push(Assertion::NoWholeChecksum);
                    }
                    Prediction::new("ranged-read", expect)
                }
                (Some(object), None) => {
                    let mut expect =
                        vec![Assertion::Succeeded, Assertion::Size(object.size), Assertion::BodyDigest(object.digest)];
                    expect.extend(checksum_expectation(object, observed, hashes));
                    expect.push(metadata_expectation(object));
                    Prediction::new("read-after-write", expect)
                }
            },
            Request::HeadObject { bucket, key } => match self.current(bucket, key).ok()? {
                None => Prediction::fails("head-after-delete", "NoSuchKey", 404),
                Some(object) => {
                    let mut expect = vec![Assertion::Succeeded, Assertion::Size(object.size)];
                    expect.extend(object.etag.clone().map(Assertion::Etag));
                    expect.extend(checksum_expectation(object, observed, hashes));
                    expect.push(metadata_expectation(object));
                    Prediction::new("head-after-write", expect)
                }
            },
            Request::ReadIf { bucket, key, condition, date, head } => {
                self.predict_read_if(bucket, key, *condition, *date, *head, observed, hashes)
            }
            Request::GetObjectPart { bucket, key, part_number, head } => {
                predict_part(self.current(bucket, key).ok()?, *part_number, *head)
            }
            Request::DeleteObject { .. } => Prediction::new("delete-ack", vec![Assertion::Succeeded]),
            Request::DeleteObjectIf { bucket, key, etag_op } => {
                let matches = Precondition::Matches { etag_op: *etag_op };
                match self.precondition_holds(bucket, key, &matches, hashes)? {
                    Ok(_) => Prediction::new("delete-if-match", vec![Assertion::Succeeded]),
                    // No object: S3 documents 204 (nothing to delete); 412 and 404 refuse it as plainly.
                    Err(mut refusal) if self.current(bucket, key).ok()?.is_none() => {
                        refusal.alternatives.push(vec![Assertion::Succeeded]);
                        Some(Prediction { rule: "delete-if-match-absent", ..refusal })
                    }
                    Err(refusal) => Some(Prediction { rule: "delete-if-match", ..refusal }),
                }
            }
            Request::DeleteObjects { keys, quiet, .. } => Prediction::new(
                "batch-delete-ack",
                vec![Assertion::Succeeded, Assertion::BatchDeleted { keys: keys.clone(), quiet: *quiet }],
            ),
            Request::CopyObject { source_bucket, source_key, .. } => {
                match self.current(source_bucket, source_key).ok()? {
                    None => Prediction::fails("copy-of-deleted", "NoSuchKey", 404),
                    Some(_) => Prediction::new("copy-ack", vec![Assertion::Succeeded]),
                }
            }
            Request::CreateMultipartUpload { .. } => Prediction::new("upload-create", vec![Assertion::Succeeded]),
            Request::UploadPart { bucket, create_op, body, checksum, .. } => {
                let upload = self.bucket(bucket)?.uploads.get(create_op)?;
                let wrong = checksum.is_some_and(|c| c.wrong);
                match upload.state {
                    UploadState::Open if wrong => Some(checksum_refused("bad-part-checksum-refused")),
                    UploadState::Open => {
                        let (md5, _) = hashes.of(body);
                        let mut expect = vec![Assertion::Succeeded, Assertion::Etag(hex::encode(md5))];
                        if let Some(sent) = checksum {
                            let value = hashes.checksum(body, sent.algorithm);
                            expect.push(Assertion::ChecksumIfAny { algorithm: sent.algorithm.name().into(), value });
                        }
                        Prediction::new("part-ack", expect)
                    }
                    UploadState::Closed => {
                        let mut refused = Prediction::fails("part-after-close", "NoSuchUpload", 404)?;
                        // S3 does not say whether it looks at the upload or at the checksum first.
                        if wrong {
                            refused.alternatives.extend(checksum_refused("part-after-close").alternatives);
                        }
                        Some(refused)
                    }
                    UploadState::Unknown => None,
                }
            }
            Request::CompleteMultipartUpload { bucket, key, create_op, parts, precondition } => {
                self.predict_complete(bucket, key, *create_op, parts, precondition.as_ref(), hashes).map(|(p, _)| p)
            }
            Request::AbortMultipartUpload { bucket, create_op, .. } => {
                match self.bucket(bucket)?.uploads.get(create_op)?.state {
                    UploadState::Open => Prediction::new("abort-ack", vec![Assertion::Succeeded]),
                    UploadState::Closed => Prediction::fails("abort-after-close", "NoSuchUpload", 404),
                    UploadState::Unknown => None,
                }
            }
            Request::ListObjectsV2 { bucket, prefix, delimiter, max_keys, after_op, .. }
            | Request::ListObjects { bucket, prefix, delimiter, max_keys, after_op } => {
                // A v1 page continues from the server's NextMarker; S3's is the page's last item, so a marker that
                // skips or repeats items shows as a wrong next page. A first V2 page with `start-after` lists
                // only keys after it (a continued page resumes after the last item, which is later still).
                let start_after = match request {
                    Request::ListObjectsV2 { start_after, .. } => start_after.clone(),
                    _ => None,
                };
                let marker = match after_op {
                    None => start_after.map(|after| Marker { after, prefix: false }),
                    Some(page) => Some(continuation(pages.get(page)?)?),
                };
                self.predict_list(bucket, prefix.as_deref().unwrap_or(""), delimiter.as_deref(), *max_keys, marker)
            }
            Request::ListObjectVersions { bucket, prefix, max_keys, after_op } => {
                let marker = match after_op {
                    None => None,
                    Some(page) => {
                        let cursor = pages.get(page)?.next_page.clone()?;
                        Some((cursor.key_marker?, cursor.version_id_marker))
                    }
                };
                self.predict_versions(bucket, prefix.as_deref().unwrap_or(""), *max_keys, marker, hashes)
            }
            Request::GetObjectVersion { bucket, key, version_op } => {
                let KeyState::Known(versions) = self.key(bucket, key)? else { return None };
                let null = self.bucket(bucket)?.null_made.contains(version_op);
                match versions.iter().find(|v| if null { v.null } else { v.made_by == *version_op }) {
                    Some(Version { object: None, .. }) => {
                        Prediction::new("delete-marker-by-version", vec![Assertion::Refused])
                    }
                    Some(Version { object: Some(object), .. }) => {
                        let mut expect = vec![
                            Assertion::Succeeded,
                            Assertion::Size(object.size),
                            Assertion::BodyDigest(object.digest),
                        ];
                        expect.extend(checksum_expectation(object, observed, hashes));
                        expect.push(metadata_expectation(object));
                        Prediction::new("version-read", expect)
                    }
                    None => Prediction::fails("deleted-version", "NoSuchVersion", 404),
                }
            }
            Request::DeleteObjectVersion { bucket, key, version_op } => {
                let KeyState::Known(versions) = self.key(bucket, key)? else { return None };
                let null = self.bucket(bucket)?.null_made.contains(version_op);
                // A version the key does not hold (deleted already, or another key's) is no error: S3 answers 204
                // and changes nothing.
                let held = versions.iter().any(|v| if null { v.null } else { v.made_by == *version_op });
                let rule = if held { "version-delete" } else { "absent-version-delete" };
                Prediction::new(rule, vec![Assertion::Succeeded])
            }
            Request::PutBucketVersioning { .. } => Prediction::new("versioning-ack", vec![Assertion::Succeeded]),
            _ => None,
        }
    }

    /// A conditional GET or HEAD: the object when the conditions hold, else 412 or 304, evaluated in the order of
    /// RFC 9110 §13.2.2 as S3 documents it — `If-Match`, then (only without one) `If-Unmodified-Since`, then
    /// `If-None-Match`, then (only without one) `If-Modified-Since`. So an `If-Match` that holds overrides an
    /// `If-Unmodified-Since` that does not (200), and an `If-None-Match` that fails overrides an `If-Modified-Since`
    /// (304). Where only RFC 9110 speaks (an `If-None-Match` beside an `If-Unmodified-Since` that fails: 412), what
    /// the `If-None-Match` alone would give is accepted too. An ETag condition is not judged where the model does not
    /// know the current ETag (a copy's) or the one named.
    #[allow(clippy::too_many_arguments)]
    fn predict_read_if(
        &self,
        bucket: &str,
        key: &str,
        condition: Option<ReadCondition>,
        date: Option<DateCondition>,
        head: bool,
        observed: &Outcome,
        hashes: &Hashes,
    ) -> Option<Prediction> {
        let named = match condition {
            Some(condition) => Some(hashes.etag_got(condition.etag_op())?),
            None => None,
        };
        let precondition_failed = || vec![Assertion::Fails { code: "PreconditionFailed".into(), status: 412 }];
        let unmodified_fails = date == Some(DateCondition::UnmodifiedSinceLongAgo);
        let Some(object) = self.current(bucket, key).ok()? else {
            // If-Match on no object: 404, or 412 as for any other mismatch (S3 leaves it open, as for writes); the
            // same for an If-Unmodified-Since that could not hold.
            let mut alternatives = vec![vec![Assertion::not_found()]];
            if matches!(condition, Some(ReadCondition::Matches { .. })) || unmodified_fails {
                alternatives.push(precondition_failed());
            }
            return Some(Prediction { rule: "conditional-read-of-deleted", alternatives });
        };
        let matches = match &named {
            Some(named) => Some(object.etag.as_ref()? == named),
            None => None,
        };
        let mut expect = vec![Assertion::Succeeded, Assertion::Size(object.size)];
        if head {
            expect.extend(object.etag.clone().map(Assertion::Etag));
        } else {
            expect.push(Assertion::BodyDigest(object.digest));
        }
        expect.extend(checksum_expectation(object, observed, hashes));
        let not_modified = || vec![Assertion::Fails { code: "NotModified".into(), status: 304 }];
        let (rule, alternatives) = match (condition, matches) {
            (Some(ReadCondition::Matches { .. }), Some(false)) => ("read-if-match", vec![precondition_failed()]),
            (Some(ReadCondition::Matches { .. }), _) => match date {
                Some(DateCondition::UnmodifiedSinceLongAgo) => ("read-if-match-over-unmodified-since", vec![expect]),
                _ => ("read-if-match", vec![expect]),
            },
            (Some(ReadCondition::Differs { .. }), Some(true)) if unmodified_fails => {
                ("read-if-unmodified-since", vec![precondition_failed(), not_modified()])
            }
            (Some(ReadCondition::Differs { .. }), Some(true)) => ("read-if-none-match", vec![not_modified()]),
            (Some(ReadCondition::Differs { .. }), _) if unmodified_fails => {
                ("read-if-unmodified-since", vec![precondition_failed(), expect])
            }
            (Some(ReadCondition::Differs { .. }), _) => ("read-if-none-match", vec![expect]),
            (None, _) if unmodified_fails => ("read-if-unmodified-since", vec![precondition_failed()]),
            (None, _) => ("read-if-modified-date", vec![expect]),
        };
        Some(Prediction { rule, alternatives })
    }

    /// Whether a conditional write of `bucket/key` may go ahead: `Ok(rule)` if so, `Err(the refusal)` if S3 refuses
    /// it, `None` when the model cannot tell (the key or the ETag named is unknown).
    fn precondition_holds(
        &self,
        bucket: &str,
        key: &str,
        precondition: &Precondition,
        hashes: &Hashes,
    ) -> Option<Result<&'static str, Prediction>> {
        // 412, or 409 ConditionalRequestConflict: S3's answer when a racing write got there first.
        let refused = |rule: &'static str, extra: Option<Assertion>| {
            let mut alternatives = vec![
                vec![Assertion::Fails { code: "PreconditionFailed".into(), status: 412 }],
                vec![Assertion::Fails { code: "ConditionalRequestConflict".into(), status: 409 }],
            ];
            alternatives.extend(extra.map(|a| vec![a]));
            Err(Prediction { rule, alternatives })
        };
        let current = self.current(bucket, key).ok()?;
        Some(match precondition {
            Precondition::Absent => match current {
                None => Ok("create-if-absent"),
                Some(_) => refused("create-if-absent", None),
            },
            Precondition::Matches { etag_op } => {
                let named = hashes.etag_got(*etag_op)?;
                match current {
                    // If-Match on no object: AWS's own answer is disputed (404 or 412); either refuses the write.
                    None => {
                        refused("overwrite-if-match", Some(Assertion::Fails { code: "NoSuchKey".into(), status: 404 }))
                    }
                    Some(object) => match &object.etag {
                        None => return None,
                        Some(etag) if *etag == named => Ok("overwrite-if-match"),
                        Some(_) => refused("overwrite-if-match", None),
                    },
                }
            }
        })
    }

    /// The answer to a CompleteMultipartUpload, and on success the object it makes. A conditional one refused
    /// (412, or 409 for a racing completion) makes nothing and leaves the upload open.
    fn predict_complete(
        &self,
        bucket: &str,
        key: &str,
        create_op: u64,
        parts: &[crate::journal::CompletedPart],
        precondition: Option<&Precondition>,
        hashes: &Hashes,
    ) -> Option<(Prediction, Option<Object>)> {
        let upload = self.bucket(bucket)?.uploads.get(&create_op)?;
        match upload.state {
            UploadState::Unknown => return None,
            UploadState::Closed => {
                return Some((Prediction::fails("complete-after-close", "NoSuchUpload", 404)?, None))
            }
            UploadState::Open => {}
        }
        // S3 does not say which error a request with several faults gets: any of them will do.
        let mut errors: Vec<(&'static str, &str)> = Vec::new();
        if parts.windows(2).any(|w| w[0].part_number >= w[1].part_number) {
            errors.push(("part-order", "InvalidPartOrder"));
        }
        let mut chosen = Vec::with_capacity(parts.len());
        for part in parts {
            // The ETag sent is whatever that UploadPart step got back; the model knows it as the MD5 it sent.
            let claimed = upload.part_ops.get(&part.upload_part_op)?;
            match upload.parts.get(&part.part_number) {
                Some(uploaded) if uploaded.md5 == *claimed => chosen.push(uploaded),
                _ => {
                    if !errors.iter().any(|e| e.1 == "InvalidPart") {
                        errors.push(("unknown-part", "InvalidPart"));
                    }
                }
            }
        }
        let listed_small = parts
            .iter()
            .rev()
            .skip(1)
            .any(|listed| upload.parts.get(&listed.part_number).is_some_and(|p| p.body.len < MIN_PART_SIZE));
        if listed_small {
            errors.push(("part-too-small", "EntityTooSmall"));
        }
        let refusal = match precondition {
            None => None,
            Some(precondition) => self.precondition_holds(bucket, key, precondition, hashes)?.err(),
        };
        if let Some((rule, _)) = errors.first() {
            let mut alternatives: Vec<Vec<Assertion>> =
                errors.iter().map(|(_, code)| vec![Assertion::Fails { code: code.to_string(), status: 400 }]).collect();
            // A refused precondition too: S3 does not say which it checks first.
            alternatives.extend(refusal.into_iter().flat_map(|r| r.alternatives));
            return Some((Prediction { rule, alternatives }, None));
        }
        if let Some(refusal) = refusal {
            return Some((refusal, None));
        }
        let mut of_parts = Md5::new();
        for part in &chosen {
            of_parts.update(part.md5);
        }
        let etag = format!("{}-{}", hex::encode(of_parts.finalize()), chosen.len());
        let segments: Vec<Body> = chosen.iter().map(|p| p.body).collect();
        let size = segments.iter().map(|s| s.len).sum();
        let checksum = upload.checksum.and_then(|declared| {
            let value = match declared.full_object {
                true => segments_checksum(&segments, declared.algorithm, hashes),
                false => {
                    let values: Vec<String> = segments.iter().map(|s| hashes.checksum(s, declared.algorithm)).collect();
                    crate::checksum::composite(
                        declared.algorithm,
                        &values.iter().map(String::as_str).collect::<Vec<_>>(),
                    )?
                }
            };
            Some((declared, value))
        });
        let object = Object {
            digest: slice_digest(&segments, 0, size),
            segments,
            size,
            etag: Some(etag.clone()),
            checksum: checksum.as_ref().map(|(declared, value)| (declared.algorithm, value.clone())),
            metadata: upload.metadata.clone(),
            multipart: true,
        };
        let mut expect = vec![Assertion::Succeeded, Assertion::Etag(etag)];
        expect.extend(checksum.iter().flat_map(|(declared, value)| checksum_of_declared(declared, value)));
        let mut prediction = Prediction::new("complete-ack", expect)?;
        if upload.checksum.is_some() && chosen.iter().any(|p| !p.answered_checksum) {
            // A part answered no checksum, so the completion could list none for it: a server may refuse that.
            prediction.alternatives.push(vec![Assertion::Fails { code: "InvalidRequest".into(), status: 400 }]);
        }
        Some((prediction, Some(object)))
    }

    fn predict_list(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        max_keys: Option<u32>,
        marker: Option<Marker>,
    ) -> Option<Prediction> {
        enum Item<'a> {
            Key(&'a str, &'a Object),
            Prefix(String),
        }
        let model = self.bucket(bucket)?;
        let mut items: Vec<Item> = Vec::new();
        for (key, state) in model.keys.range(prefix.to_string()..) {
            if !key.starts_with(prefix) {
                break;
            }
            let KeyState::Known(versions) = state else { return None };
            let Some(object) = versions.last().and_then(|v| v.object.as_ref()) else { continue };
            let rest = &key[prefix.len()..];
            match delimiter.and_then(|d| rest.find(d).map(|at| at + d.len())) {
                Some(end) => {
                    let rolled = format!("{prefix}{}", &rest[..end]);
                    if !matches!(items.last(), Some(Item::Prefix(p)) if *p == rolled) {
                        items.push(Item::Prefix(rolled));
                    }
                }
                None => items.push(Item::Key(key, object)),
            }
        }
        if let Some(marker) = &marker {
            items.retain(|item| match item {
                Item::Key(key, _) => *key > marker.after.as_str() && !marker.rolled_up(key),
                Item::Prefix(p) => p.as_str() > marker.after.as_str(),
            });
        }
        let limit = max_keys.unwrap_or(1000) as usize;
        let truncated = items.len() > limit;
        items.truncate(limit);
        let mut entries = Vec::new();
        let mut prefixes = Vec::new();
        for item in items {
            match item {
                Item::Key(key, object) => entries.push(PageEntry {
                    key: key.to_string(),
                    size: object.size,
                    etag: object.etag.clone(),
                    is_latest: true,
                    delete_marker: false,
                }),
                Item::Prefix(p) => prefixes.push(p),
            }
        }
        let mut expect = vec![Assertion::Succeeded, Assertion::Page { entries, truncated }];
        if delimiter.is_some() {
            expect.push(Assertion::Prefixes(prefixes));
        }
        Prediction::new("list-after-write", expect)
    }

    /// One page of ListObjectVersions: every version and delete marker, by key and newest first, after `marker`
    /// (the key and version id the page before ended at, as the server named them).
    fn predict_versions(
        &self,
        bucket: &str,
        prefix: &str,
        max_keys: Option<u32>,
        marker: Option<(String, Option<String>)>,
        hashes: &Hashes,
    ) -> Option<Prediction> {
        let model = self.bucket(bucket)?;
        let mut entries = Vec::new();
        // This run's version id of each entry (`None`: the step that made it got none back).
        let mut ids: Vec<Option<String>> = Vec::new();
        for (key, state) in model.keys.range(prefix.to_string()..) {
            if !key.starts_with(prefix) {
                break;
            }
            let KeyState::Known(versions) = state else { return None };
            for (i, version) in versions.iter().rev().enumerate() {
                entries.push(PageEntry {
                    key: key.clone(),
                    size: version.object.as_ref().map_or(0, |o| o.size),
                    etag: version.object.as_ref().and_then(|o| o.etag.clone()),
                    is_latest: i == 0,
                    delete_marker: version.object.is_none(),
                });
                ids.push(if version.null { Some("null".to_string()) } else { hashes.version_got(version.made_by) });
            }
        }
        let start = match &marker {
            None => 0,
            // A key marker alone: the keys after it.
            Some((key, None)) => entries.iter().position(|e| e.key > *key).unwrap_or(entries.len()),
            Some((key, Some(id))) => {
                let at = entries.iter().zip(&ids).position(|(e, i)| e.key == *key && i.as_deref() == Some(id))?;
                at + 1
            }
        };
        let mut entries = entries.split_off(start.min(entries.len()));
        let limit = max_keys.unwrap_or(1000) as usize;
        if max_keys.is_none() && entries.len() > limit {
            return None;
        }
        let truncated = entries.len() > limit;
        entries.truncate(limit);
        let rule = if marker.is_some() { "version-list-page" } else { "version-list" };
        Prediction::new(rule, vec![Assertion::Succeeded, Assertion::Page { entries, truncated }])
    }

    /// Moves the world on by `request` (made by step `n`); `settled` = the answer was the predicted, definite one;
    /// `made` = the object a CompleteMultipartUpload makes, if it succeeds.
    fn apply(
        &mut self,
        n: u64,
        request: &Request,
        observed: &Outcome,
        settled: bool,
        made: Option<Object>,
        hashes: &Hashes,
    ) {
        let failed_cleanly = !observed.succeeded() && !ambiguous(observed);
        match request {
            Request::PutObject { bucket, key, body, checksum, metadata, .. } => {
                if settled && observed.succeeded() {
                    let (md5, digest) = hashes.of(body);
                    let checksum = checksum.map(|c| (c.algorithm, hashes.checksum(body, c.algorithm)));
                    let object = Object {
                        segments: vec![*body],
                        size: body.len,
                        etag: Some(hex::encode(md5)),
                        digest,
                        checksum,
                        metadata: metadata.clone(),
                        multipart: false,
                    };
                    self.write(bucket, key, n, Some(object));
                } else if !failed_cleanly {
                    self.forget(bucket, key);
                }
            }
            Request::DeleteObject { bucket, key } => {
                if settled {
                    self.write(bucket, key, n, None);
                } else if !failed_cleanly {
                    self.forget(bucket, key);
                }
            }
            Request::DeleteObjectIf { bucket, key, .. } => {
                let had_object = matches!(self.current(bucket, key), Ok(Some(_)));
                let versioned = self.buckets.get(bucket.as_str()).is_some_and(|m| m.versioning != Versioning::Off);
                match (settled && observed.succeeded(), had_object) {
                    (true, true) => self.write(bucket, key, n, None),
                    // Nothing to delete: a bucket without versioning stays as it was; whether a versioned one
                    // gains a delete marker, S3 does not say.
                    (true, false) if versioned => self.forget(bucket, key),
                    (true, false) => {}
                    (false, _) if !failed_cleanly => self.forget(bucket, key),
                    (false, _) => {}
                }
            }
            Request::DeleteObjects { bucket, keys, version_ops, .. } => {
                for (i, key) in keys.iter().enumerate() {
                    match version_ops.get(i).copied().flatten() {
                        Some(version_op) => self.delete_version(bucket, key, version_op, settled, failed_cleanly),
                        None if settled => self.write(bucket, key, n, None),
                        None if !failed_cleanly => self.forget(bucket, key),
                        None => {}
                    }
                }
            }
            Request::CopyObject { bucket, key, source_bucket, source_key, metadata: replaced } => {
                let source = self.current(source_bucket, source_key).ok().flatten().cloned();
                match source {
                    Some(object) if settled && observed.succeeded() => {
                        // No directive: the copy keeps the source's metadata; REPLACE: only the new set.
                        let metadata = replaced.clone().or(object.metadata.clone());
                        self.write(
                            bucket,
                            key,
                            n,
                            Some(Object { etag: None, checksum: None, metadata, multipart: false, ..object }),
                        )
                    }
                    _ if settled => {}
                    _ if failed_cleanly && !observed.succeeded() => {}
                    _ => self.forget(bucket, key),
                }
            }
            Request::CreateMultipartUpload { bucket, key, metadata, checksum } => {
                if let (true, Some(model)) = (observed.succeeded(), self.buckets.get_mut(bucket)) {
                    let upload = Upload {
                        key: key.clone(),
                        state: UploadState::Open,
                        parts: BTreeMap::new(),
                        part_ops: BTreeMap::new(),
                        metadata: metadata.clone(),
                        checksum: *checksum,
                    };
                    model.uploads.insert(n, upload);
                }
            }
            Request::UploadPart { bucket, create_op, part_number, body, .. } => {
                let (md5, _) = hashes.of(body);
                let Some(upload) = self.buckets.get_mut(bucket).and_then(|m| m.uploads.get_mut(create_op)) else {
                    return;
                };
                upload.part_ops.insert(n, md5);
                if settled && observed.succeeded() {
                    let answered_checksum = observed.checksum.is_some();
                    upload.parts.insert(*part_number, Part { body: *body, md5, answered_checksum });
                } else if !settled {
                    upload.state = UploadState::Unknown;
                }
            }
            Request::CompleteMultipartUpload { bucket, key, create_op, .. } => match (settled, made) {
                (true, Some(object)) => {
                    self.close(bucket, *create_op, UploadState::Closed);
                    self.write(bucket, key, n, Some(object));
                }
                (true, None) => {}
                (false, _) => {
                    self.close(bucket, *create_op, UploadState::Unknown);
                    self.forget(bucket, key);
                }
            },
            Request::AbortMultipartUpload { bucket, create_op, .. } => {
                let state = if settled { UploadState::Closed } else { UploadState::Unknown };
                self.close(bucket, *create_op, state);
            }
            Request::DeleteObjectVersion { bucket, key, version_op } => {
                self.delete_version(bucket, key, *version_op, settled, failed_cleanly)
            }
            Request::PutBucketVersioning { bucket, enabled } => {
                if let (true, Some(model)) = (settled, self.buckets.get_mut(bucket)) {
                    model.versioning = if *enabled { Versioning::Enabled } else { Versioning::Suspended };
                }
            }
            // A read the model did not predict means the server holds something else: stop judging the key.
            Request::GetObject { bucket, key, .. }
            | Request::HeadObject { bucket, key }
            | Request::ReadIf { bucket, key, .. }
            | Request::GetObjectPart { bucket, key, .. }
            | Request::GetObjectVersion { bucket, key, .. }
                if !settled && !ambiguous(observed) =>
            {
                self.forget(bucket, key);
            }
            _ => {}
        }
    }

    /// After a delete of the version step `version_op` made (its `null` version, if that step made one): gone when
    /// the delete settled, unchanged when it cleanly failed, unknown otherwise.
    fn delete_version(&mut self, bucket: &str, key: &str, version_op: u64, settled: bool, failed_cleanly: bool) {
        let null = self.buckets.get(bucket).is_some_and(|m| m.null_made.contains(&version_op));
        let Some(model) = self.buckets.get_mut(bucket) else { return };
        match model.keys.get_mut(key) {
            Some(KeyState::Known(versions)) if settled || failed_cleanly => {
                if settled {
                    versions.retain(|v| if null { !v.null } else { v.made_by != version_op });
                }
            }
            _ => {
                model.keys.insert(key.to_string(), KeyState::Unknown);
            }
        }
    }

    /// A new current version (or delete marker, `object = None`) of `key`, made by step `n`.
    fn write(&mut self, bucket: &str, key: &str, n: u64, object: Option<Object>) {
        let Some(model) = self.buckets.get_mut(bucket) else { return };
        let versioning = model.versioning;
        let state = model.keys.entry(key.to_string()).or_insert_with(|| KeyState::Known(Vec::new()));
        let KeyState::Known(versions) = state else {
            // The history is unknown, but an unversioned key is whatever was written last.
            if versioning == Versioning::Off {
                let version = Version { made_by: n, null: true, object };
                *state = KeyState::Known(if version.object.is_some() { vec![version] } else { Vec::new() });
            }
            return;
        };
        match versioning {
            Versioning::Off => {
                versions.clear();
                if object.is_some() {
                    versions.push(Version { made_by: n, null: true, object });
                }
            }
            Versioning::Enabled => versions.push(Version { made_by: n, null: false, object }),
            Versioning::Suspended => {
                versions.retain(|v| !v.null);
                versions.push(Version { made_by: n, null: true, object });
            }
        }
        if versioning != Versioning::Enabled {
            model.null_made.insert(n);
        }
    }

    fn forget(&mut self, bucket: &str, key: &str) {
        if let Some(model) = self.buckets.get_mut(bucket) {
            model.keys.insert(key.to_string(), KeyState::Unknown);
        }
    }

    fn close(&mut self, bucket: &str, create_op: u64, state: UploadState) {
        if let Some(upload) = self.buckets.get_mut(bucket).and_then(|m| m.uploads.get_mut(&create_op)) {
            upload.state = state;
        }
    }
}

/// Where a continued listing resumes: after the last key or common prefix of the page before.
struct Marker {
    after: String,
    /// The last item was a common prefix: everything under it was rolled up already.
    prefix: bool,
}

impl Marker {
    fn rolled_up(&self, key: &str) -> bool {
        self.prefix && key.starts_with(&self.after)
    }
}

/// The resume point a page's answer implies, if it was truncated.
fn continuation(page: &Outcome) -> Option<Marker> {
    let listing = page.listing.as_ref().filter(|l| l.truncated)?;
    let last_key = listing.entries.last().map(|e| e.key.clone());
    let last_prefix = listing.common_prefixes.last().cloned();
    match (last_key, last_prefix) {
        (Some(k), Some(p)) if p > k => Some(Marker { after: p, prefix: true }),
        (Some(k), _) => Some(Marker { after: k, prefix: false }),
        (None, Some(p)) => Some(Marker { after: p, prefix: true }),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{ListEntry, Listing};
    use crate::plan::{Backend, BucketPlan};

    fn world(versioning: bool) -> World {
        World::new(&[BucketPlan {
            index: 0,
            name: "b".into(),
            backend: Backend::target_itself(),
            replication: None,
            versioning,
            transient: false,
            expiration_secs: None,
            clouds: vec![],
            objects: Vec::new().into(),
        }])
    }

    fn ok() -> Outcome {
        Outcome { status: 200, ..Outcome::default() }
    }

    /// Applies `step` as acknowledged (a PUT's answer carries the right ETag).
    fn acked(w: &mut World, step: &Step) {
        let mut outcome = ok();
        if let Request::PutObject { body, .. } = &step.request {
            outcome.etag = Some(hex::encode(Hashes::default().of(body).0));
        }
        let (_, held) = w.advance(step, &outcome, &BTreeMap::new(), &Hashes::default());
        assert!(held, "{step:?}");
    }

    impl Step {
        fn body(&self) -> Body {
            match &self.request {
                Request::PutObject { body, .. } => *body,
                _ => panic!("not a put"),
            }
        }
    }

    fn step(n: u32, request: Request) -> Step {
        Step { n, kind: "test", request }
    }

    fn put(n: u32, key: &str, len: u64) -> Step {
        let body = Body { content: ContentKey([n as u8; 32]), offset: 0, len };
        let request = Request::PutObject {
            bucket: "b".into(),
            key: key.into(),
            body,
            checksum: None,
            precondition: None,
            metadata: None,
        };
        step(n, request)
    }

    #[test]
    fn a_part_read_answers_the_part_with_the_whole_objects_etag() {
        let segment = |n: u8, len| Body { content: ContentKey([n; 32]), offset: 0, len };
        let segments = vec![segment(1, 4096), segment(2, 3)];
        let object = Object {
            digest: slice_digest(&segments, 0, 4099),
            size: 4099,
            segments: segments.clone(),
            etag: Some("abc-2".into()),
            checksum: None,
            metadata: None,
            multipart: true,
        };
        let expect = |number, head| predict_part(Some(&object), number, head).map(|p| p.alternatives);
        let second =
            vec![Assertion::Succeeded, Assertion::Size(3), Assertion::PartsCount(2), Assertion::Etag("abc-2".into())];
        let body = Assertion::BodyDigest(slice_digest(&segments, 4096, 3));
        assert_eq!(expect(2, false), Some(vec![[second.clone(), vec![body]].concat()]));
        assert_eq!(expect(2, true), Some(vec![second]), "HEAD: no body");
        let beyond = vec![vec![Assertion::Fails { code: "InvalidPartNumber".into(), status: 416 }]];
        assert_eq!(expect(3, false), Some(beyond.clone()));
        let single = Object { multipart: false, etag: Some("d41d".into()), ..object.clone() };
        let whole = predict_part(Some(&single), 1, true).map(|p| p.alternatives);
        let all = vec![Assertion::Succeeded, Assertion::Size(4099), Assertion::Etag("d41d".into())];
        assert_eq!(whole, Some(vec![all]), "written in one piece: part 1 is the whole object, no part count");
        assert_eq!(predict_part(Some(&single), 2, false).map(|p| p.alternatives), Some(beyond));
        let gone = predict_part(None, 1, false).map(|p| p.alternatives);
        assert_eq!(gone, Some(vec![vec![Assertion::Fails { code: "NoSuchKey".into(), status: 404 }]]));
    }

    fn list(n: u32, prefix: &str, max_keys: u32, after_op: Option<u64>) -> Step {
        step(
            n,
            Request::ListObjectsV2 {
                bucket: "b".into(),
                prefix: Some(prefix.into()),
                delimiter: Some("/".into()),
                max_keys: Some(max_keys),
                start_after: None,
                after_op,
                url: false,
                fetch_owner: false,
            },
        )
    }

    fn expect(world: &World, step: &Step, pages: &BTreeMap<u64, Outcome>) -> Vec<Vec<Assertion>> {
        world.predict(&step.request, &ok(), pages, &Hashes::default()).map(|p| p.alternatives).unwrap_or_default()
    }

    #[test]
    fn listings_roll_up_prefixes_and_continue_after_the_last_item() {
        let mut w = world(false);
        let pages = BTreeMap::new();
        for (n, key) in ["a/1", "a/2", "b", "c/x/y", "c0"].iter().enumerate() {
            acked(&mut w, &put(n as u32, key, 3));
        }
        let first = expect(&w, &list(10, "", 2, None), &pages);
        let Assertion::Page { entries, truncated } = &first[0][1] else { panic!("{first:?}") };
        assert_eq!(entries.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["b"]);
        assert!(*truncated);
        assert_eq!(first[0][2], Assertion::Prefixes(vec!["a/".into()]));
        // The server's first page ended at `b`: the next starts after it.
        let answered = Outcome {
            listing: Some(Listing {
                entries: vec![ListEntry { key: "b".into(), size: 3, is_latest: true, ..ListEntry::default() }],
                common_prefixes: vec!["a/".into()],
                truncated: true,
            }),
            ..ok()
        };
        let pages = BTreeMap::from([(10, answered)]);
        let second = expect(&w, &list(11, "", 2, Some(10)), &pages);
        let Assertion::Page { entries, truncated } = &second[0][1] else { panic!("{second:?}") };
        assert_eq!(entries.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["c0"]);
        assert!(!*truncated);
        assert_eq!(second[0][2], Assertion::Prefixes(vec!["c/".into()]));
    }

    #[test]
    fn suspended_versioning_replaces_only_the_null_version() {
        let mut w = world(true);
        let pages = BTreeMap::new();
        acked(&mut w, &put(1, "k", 1));
        acked(&mut w, &step(2, Request::DeleteObject { bucket: "b".into(), key: "k".into() }));
        acked(&mut w, &step(3, Request::PutBucketVersioning { bucket: "b".into(), enabled: false }));
        acked(&mut w, &put(4, "k", 2));
        acked(&mut w, &put(5, "k", 3));
        let versions =
            step(6, Request::ListObjectVersions { bucket: "b".into(), prefix: None, max_keys: None, after_op: None });
        let expected = expect(&w, &versions, &pages);
        let Assertion::Page { entries, .. } = &expected[0][1] else { panic!("{expected:?}") };
        // The null version (3 bytes, replacing the 2-byte one), then the marker, then the first version.
        let shape: Vec<(u64, bool, bool)> = entries.iter().map(|e| (e.size, e.delete_marker, e.is_latest)).collect();
        assert_eq!(shape, [(3, false, true), (0, true, false), (1, false, false)]);
        // The version step 4 made was the null one, since replaced: reading it by id reads the current null.
        let read = step(7, Request::GetObjectVersion { bucket: "b".into(), key: "k".into(), version_op: 4 });
        assert_eq!(expect(&w, &read, &pages)[0][1], Assertion::Size(3));
    }

    #[test]
    fn conditional_writes_create_only_absent_keys_and_overwrite_only_the_named_etag() {
        let mut w = world(false);
        let hashes = Hashes::default();
        let pages = BTreeMap::new();
        let conditional = |n: u32, precondition: Precondition| {
            let body = Body { content: ContentKey([n as u8; 32]), offset: 0, len: 4 };
            let request = Request::PutObject {
                bucket: "b".into(),
                key: "k".into(),
                body,
                checksum: None,
                precondition: Some(precondition),
                metadata: None,
            };
            step(n, request)
        };
        let rule_and_first = |w: &World, s: &Step| {
            let p = w.predict(&s.request, &ok(), &pages, &hashes).expect("judged");
            (p.rule, p.alternatives[0][0].clone())
        };
        // A fresh key: the create goes ahead.
        assert_eq!(
            rule_and_first(&w, &conditional(1, Precondition::Absent)),
            ("create-if-absent", Assertion::Succeeded)
        );
        acked(&mut w, &put(2, "k", 3));
        let refused = Assertion::Fails { code: "PreconditionFailed".into(), status: 412 };
        assert_eq!(rule_and_first(&w, &conditional(3, Precondition::Absent)), ("create-if-absent", refused.clone()));
        // If-Match: the ETag step 2 got back is the current one; another step's is not.
        hashes.remember_etag(2, &format!("\"{}\"", hex::encode(hashes.of(&put(2, "k", 3).body()).0)));
        hashes.remember_etag(9, "\"0123456789abcdef0123456789abcdef\"");
        let matches = |etag_op| conditional(4, Precondition::Matches { etag_op });
        assert_eq!(rule_and_first(&w, &matches(2)), ("overwrite-if-match", Assertion::Succeeded));
        assert_eq!(rule_and_first(&w, &matches(9)), ("overwrite-if-match", refused));
        assert!(w.predict(&matches(5).request, &ok(), &pages, &hashes).is_none(), "an ETag never seen: not judged");
    }

    #[test]
    fn a_conditional_delete_deletes_only_the_named_etag() {
        let mut w = world(false);
        let hashes = Hashes::default();
        let pages = BTreeMap::new();
        let delete =
            |n: u32, etag_op| step(n, Request::DeleteObjectIf { bucket: "b".into(), key: "k".into(), etag_op });
        acked(&mut w, &put(1, "k", 3));
        hashes.remember_etag(1, &format!("\"{}\"", hex::encode(hashes.of(&put(1, "k", 3).body()).0)));
        hashes.remember_etag(9, "\"0123456789abcdef0123456789abcdef\"");
        let refused = Assertion::Fails { code: "PreconditionFailed".into(), status: 412 };
        let predicted = |w: &World, s: &Step| w.predict(&s.request, &ok(), &pages, &hashes).expect("judged");
        assert_eq!(predicted(&w, &delete(2, 9)).alternatives[0], vec![refused.clone()], "another ETag: refused");
        let named = delete(3, 1);
        assert_eq!(predicted(&w, &named).alternatives, vec![vec![Assertion::Succeeded]]);
        let (_, held) = w.advance(&named, &ok(), &pages, &hashes);
        assert!(held);
        let get = step(4, Request::GetObject { bucket: "b".into(), key: "k".into(), range: None });
        assert_eq!(expect(&w, &get, &pages)[0][0], Assertion::not_found());
        // Nothing left to match: refused, or (as S3 documents) 204 with nothing deleted.
        let gone = predicted(&w, &delete(5, 1));
        assert_eq!(gone.rule, "delete-if-match-absent");
        assert!(gone.alternatives.contains(&vec![refused]) && gone.alternatives.contains(&vec![Assertion::Succeeded]));
    }

    #[test]
    fn a_batch_delete_deletes_each_key_existing_or_not() {
        let mut w = world(true);
        let pages = BTreeMap::new();
        acked(&mut w, &put(1, "a", 3));
        let keys: Vec<String> = vec!["a".into(), "never".into()];
        let batch = step(
            2,
            Request::DeleteObjects { bucket: "b".into(), keys: keys.clone(), quiet: false, version_ops: vec![] },
        );
        let want = expect(&w, &batch, &pages);
        assert_eq!(
            want,
            vec![vec![Assertion::Succeeded, Assertion::BatchDeleted { keys: keys.clone(), quiet: false }]]
        );
        let answered =
            Outcome { batch: Some(crate::journal::BatchAnswer { deleted: keys.clone(), errors: vec![] }), ..ok() };
        let (_, held) = w.advance(&batch, &answered, &pages, &Hashes::default());
        assert!(held);
        let get = step(3, Request::GetObject { bucket: "b".into(), key: "a".into(), range: None });
        assert_eq!(expect(&w, &get, &pages)[0][0], Assertion::not_found());
        // On a versioned bucket each key gets a delete marker, missing or not.
        let versions =
            step(4, Request::ListObjectVersions { bucket: "b".into(), prefix: None, max_keys: None, after_op: None });
        let Assertion::Page { entries, .. } = &expect(&w, &versions, &pages)[0][1] else { panic!() };
        let shape: Vec<(&str, bool)> = entries.iter().map(|e| (e.key.as_str(), e.delete_marker)).collect();
        assert_eq!(shape, [("a", true), ("a", false), ("never", true)]);
        // An answer with an error for one key settles nothing: both keys become unknown.
        let partial = Outcome {
            batch: Some(crate::journal::BatchAnswer {
                deleted: vec!["a".into()],
                errors: vec![("never".into(), "InternalError".into())],
            }),
            ..ok()
        };
        let (_, held) = w.advance(&batch, &partial, &pages, &Hashes::default());
        assert!(!held);
        assert!(w.predict(&get.request, &ok(), &pages, &Hashes::default()).is_none());
    }

    #[test]
    fn conditional_reads_answer_the_object_412_or_304() {
        let mut w = world(false);
        let hashes = Hashes::default();
        let pages = BTreeMap::new();
        acked(&mut w, &put(1, "k", 3));
        hashes.remember_etag(1, &hex::encode(hashes.of(&put(1, "k", 3).body()).0));
        hashes.remember_etag(2, "0123456789abcdef0123456789abcdef");
        let dated = |condition, date, head| {
            step(9, Request::ReadIf { bucket: "b".into(), key: "k".into(), condition, date, head })
        };
        let read = |condition, head| dated(Some(condition), None, head);
        let first = |s: &Step| {
            let p = w.predict(&s.request, &ok(), &pages, &hashes).expect("judged");
            (p.rule, p.alternatives[0][0].clone())
        };
        let matches = |etag_op| ReadCondition::Matches { etag_op };
        let differs = |etag_op| ReadCondition::Differs { etag_op };
        assert_eq!(first(&read(matches(1), false)), ("read-if-match", Assertion::Succeeded));
        let failed = Assertion::Fails { code: "PreconditionFailed".into(), status: 412 };
        assert_eq!(first(&read(matches(2), true)), ("read-if-match", failed.clone()));
        let not_modified = Assertion::Fails { code: "NotModified".into(), status: 304 };
        assert_eq!(first(&read(differs(1), false)), ("read-if-none-match", not_modified.clone()));
        assert_eq!(first(&read(differs(2), true)), ("read-if-none-match", Assertion::Succeeded));
        assert!(w.predict(&read(matches(5), false).request, &ok(), &pages, &hashes).is_none(), "an unseen ETag");

        // Dates: If-Unmodified-Since long ago fails alone, but an If-Match that holds overrides it; If-Modified-Since
        // long ago holds; an If-None-Match that fails overrides it.
        let (ago, ahead) = (DateCondition::UnmodifiedSinceLongAgo, DateCondition::UnmodifiedSinceFarAhead);
        let since = DateCondition::ModifiedSinceLongAgo;
        assert_eq!(first(&dated(None, Some(ago), false)), ("read-if-unmodified-since", failed.clone()));
        assert_eq!(first(&dated(None, Some(ahead), true)), ("read-if-modified-date", Assertion::Succeeded));
        assert_eq!(first(&dated(None, Some(since), false)), ("read-if-modified-date", Assertion::Succeeded));
        let overridden = first(&dated(Some(matches(1)), Some(ago), false));
        assert_eq!(overridden, ("read-if-match-over-unmodified-since", Assertion::Succeeded));
        assert_eq!(first(&dated(Some(matches(2)), Some(ahead), false)), ("read-if-match", failed.clone()));
        assert_eq!(first(&dated(Some(differs(1)), Some(since), true)), ("read-if-none-match", not_modified));
        assert_eq!(first(&dated(Some(differs(2)), Some(ago), true)), ("read-if-unmodified-since", failed));
    }

    #[test]
    fn a_conditional_completion_over_an_object_is_refused_and_leaves_the_upload_open() {
        let mut w = world(false);
        let hashes = Hashes::default();
        let pages = BTreeMap::new();
        acked(&mut w, &put(1, "k", 3));
        acked(
            &mut w,
            &step(
                2,
                Request::CreateMultipartUpload { bucket: "b".into(), key: "k".into(), metadata: None, checksum: None },
            ),
        );
        let body = Body { content: ContentKey([3; 32]), offset: 0, len: 10 };
        let part = Request::UploadPart {
            bucket: "b".into(),
            key: "k".into(),
            create_op: 2,
            part_number: 1,
            body,
            checksum: None,
        };
        let part_etag = hex::encode(hashes.of(&body).0);
        let answered = Outcome { etag: Some(part_etag), ..ok() };
        assert!(w.advance(&step(3, part), &answered, &pages, &hashes).1);
        let complete = |n, precondition| {
            let parts = vec![crate::journal::CompletedPart { part_number: 1, upload_part_op: 3 }];
            step(
                n,
                Request::CompleteMultipartUpload {
                    bucket: "b".into(),
                    key: "k".into(),
                    create_op: 2,
                    parts,
                    precondition,
                },
            )
        };
        let refused = Outcome { status: 412, error_code: Some("PreconditionFailed".into()), ..Outcome::default() };
        let (prediction, held) = w.advance(&complete(4, Some(Precondition::Absent)), &refused, &pages, &hashes);
        assert!(held, "{prediction:?}");
        // The upload is still open: a plain completion now succeeds.
        let plain = w.predict(&complete(5, None).request, &ok(), &pages, &hashes).expect("judged");
        assert_eq!(plain.rule, "complete-ack");
    }

    /// An upload that declared CRC32 COMPOSITE: a part with a wrong checksum must be refused (and keeps no part), a
    /// right one answers its CRC32; the completion and a later GET answer the CRC32 of the part CRC32s, `-N`.
    #[test]
    fn a_declared_multipart_checksum_is_predicted_for_parts_completion_and_reads() {
        use crate::checksum::{Carrier, Declared, Returned, Sent};
        let mut w = world(false);
        let hashes = Hashes::default();
        let pages = BTreeMap::new();
        let declared = Declared { algorithm: Algorithm::Crc32, full_object: false };
        let create = Request::CreateMultipartUpload {
            bucket: "b".into(),
            key: "k".into(),
            metadata: None,
            checksum: Some(declared),
        };
        acked(&mut w, &step(1, create));
        let body = Body { content: ContentKey([3; 32]), offset: 0, len: 10 };
        let crc = hashes.checksum(&body, Algorithm::Crc32);
        let part = |wrong| Request::UploadPart {
            bucket: "b".into(),
            key: "k".into(),
            create_op: 1,
            part_number: 1,
            body,
            checksum: Some(Sent { algorithm: Algorithm::Crc32, carrier: Carrier::Header, wrong }),
        };
        let refused = Outcome { status: 400, error_code: Some("BadDigest".into()), ..Outcome::default() };
        assert!(w.advance(&step(2, part(true)), &refused, &pages, &hashes).1, "a wrong part checksum is refused");
        let accepted = w.clone().advance(&step(3, part(true)), &ok(), &pages, &hashes).1;
        assert!(!accepted, "and accepting it is a deviation");
        let returned = |value: &str, kind: Option<&str>| Returned {
            algorithm: "CRC32".into(),
            value: value.into(),
            kind: kind.map(str::to_string),
        };
        let answered =
            Outcome { etag: Some(hex::encode(hashes.of(&body).0)), checksum: Some(returned(&crc, None)), ..ok() };
        assert!(w.advance(&step(4, part(false)), &answered, &pages, &hashes).1);
        let parts = vec![crate::journal::CompletedPart { part_number: 1, upload_part_op: 4 }];
        let (prediction, _) = w.predict_complete("b", "k", 1, &parts, None, &hashes).expect("judged");
        let complete = Request::CompleteMultipartUpload {
            bucket: "b".into(),
            key: "k".into(),
            create_op: 1,
            parts,
            precondition: None,
        };
        let expected = crate::checksum::composite(Algorithm::Crc32, &[&crc]).expect("composite");
        let alternative = &prediction.alternatives[0];
        assert!(alternative.contains(&Assertion::ChecksumIfAny { algorithm: "CRC32".into(), value: expected.clone() }));
        assert!(alternative.contains(&Assertion::ChecksumTypeIfAny("COMPOSITE".into())));
        let etag = alternative.iter().find_map(|a| match a {
            Assertion::Etag(etag) => Some(etag.clone()),
            _ => None,
        });
        let completed = Outcome { etag, checksum: Some(returned(&expected, Some("COMPOSITE"))), ..ok() };
        assert!(w.advance(&step(5, complete), &completed, &pages, &hashes).1);
        let get = Request::GetObject { bucket: "b".into(), key: "k".into(), range: None };
        let read = |value: &str, kind| Outcome { checksum: Some(returned(value, kind)), ..ok() };
        let judged = w.predict(&get, &read(&expected, Some("COMPOSITE")), &pages, &hashes).expect("judged");
        let checksums = || judged.alternatives[0].iter().filter(|a| a.fields() == ["checksum"]);
        assert_eq!(checksums().count(), 2, "{judged:?}");
        assert!(checksums().all(|a| a.violation(&read(&expected, Some("COMPOSITE"))).is_none()));
        let wrong_type = checksums().find_map(|a| a.violation(&read(&expected, Some("FULL_OBJECT"))));
        assert_eq!(wrong_type.as_deref(), Some("checksum type FULL_OBJECT"));
        let whole = hashes.checksum(&body, Algorithm::Crc32);
        let not_composite = checksums().find_map(|a| a.violation(&read(&whole, None)));
        assert!(not_composite.as_deref().is_some_and(|v| v.starts_with("checksum CRC32")), "{not_composite:?}");
    }

    #[test]
    fn an_ambiguous_write_makes_the_key_unknown_and_unjudged() {
        let mut w = world(false);
        let hashes = Hashes::default();
        let pages = BTreeMap::new();
        let failed = Outcome { status: 503, error_code: Some("SlowDown".into()), ..Outcome::default() };
        let (prediction, held) = w.advance(&put(1, "k", 5), &failed, &pages, &hashes);
        assert!(prediction.is_some() && !held);
        let get = step(2, Request::GetObject { bucket: "b".into(), key: "k".into(), range: None });
        assert!(w.predict(&get.request, &ok(), &pages, &hashes).is_none());
        acked(&mut w, &put(3, "k", 7));
        assert!(w.predict(&get.request, &ok(), &pages, &hashes).is_some(), "a later acknowledged write settles it");
    }
}
