//! The frame types of a journal. These are a file format: change them only together with `FORMAT_VERSION`.

use serde::{Deserialize, Serialize};

use crate::content::{ContentKey, Digest};
use crate::metadata::Metadata;
use crate::plan::Plan;
use crate::seed::Seed;

/// One unit of the journal file. (Variants differ in size; frames are short-lived, so boxing would buy nothing.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Frame {
    Header(Header),
    Plan(Box<Plan>),
    Op(OpRecord),
    Expect(Expectation),
    Trailer(Trailer),
    /// The nemesis schedule (right after the plan) and each fault window as it happened.
    Nemesis(NemesisRecord),
}

/// What a run with a nemesis records about its faults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NemesisRecord {
    /// What to inject where; a replay re-applies it.
    Schedule(crate::plan::nemesis::NemesisPlan),
    /// One window, once the run has left it.
    Window(FaultWindow),
}

/// One fault window as it happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultWindow {
    pub number: u64,
    /// Fault or action name.
    pub fault: String,
    /// Op positions `[start, end)`.
    pub start: u64,
    pub end: u64,
    /// Requests (network) the proxy hit while the window was open, or 1 for an action that ran. (Retries of the
    /// window's ops sent after it was recorded are hit too; the run's summary counts them.)
    pub injected: u64,
    /// Ops of the window that completed before the next window opened, those of them that got no answer after
    /// retries, and those whose answer may echo an earlier attempt (both left unjudged: their keys became unknown).
    /// The run's summary (`nemesis` in its JSON) counts every op.
    pub ops: u64,
    pub unanswered: u64,
    pub ambiguous: u64,
    pub action: Option<ActionRecord>,
}

/// A user action's commands as they ran: exit status (`None`: killed or not started) and duration of each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub run_status: Option<i32>,
    pub run_ms: u64,
    pub heal_status: Option<i32>,
    pub heal_ms: u64,
    /// Whether the health probe passed after healing (true when there is none).
    pub healthy: bool,
}

/// Who recorded the run, on what, with which inputs. Holds no credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format_version: u32,
    pub sfko_version: String,
    pub seed: Seed,
    pub scenario: String,
    pub scenario_digest: String,
    /// blake3 of the non-secret parts of the target configuration.
    pub config_digest: String,
    pub plan_digest: String,
    /// Endpoint URL without credentials, or `embedded`.
    pub target: String,
    pub concurrency: u32,
    /// Wall-clock start, informational only (never feeds a plan).
    pub started_unix_ms: u64,
}

impl Header {
    /// The header of a journal recording `plan` on `target` (its label: an endpoint without credentials) — the one
    /// way a run, a replay or a clean starts a journal, so every journal names the same things.
    pub fn new(plan: &Plan, scenario_digest: String, target: &str, config_digest: &str, concurrency: usize) -> Header {
        Header {
            format_version: crate::journal::FORMAT_VERSION,
            sfko_version: env!("CARGO_PKG_VERSION").into(),
            seed: plan.seed,
            scenario: plan.scenario.clone(),
            scenario_digest,
            config_digest: config_digest.to_string(),
            plan_digest: plan.digest(),
            target: target.to_string(),
            concurrency: concurrency.min(u32::MAX as usize) as u32,
            started_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        }
    }
}

/// Which part of the run issued an op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Setup,
    Workload(String),
    Check(String),
    Cleanup,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Phase::Setup => f.write_str("setup"),
            Phase::Workload(name) | Phase::Check(name) => f.write_str(name),
            Phase::Cleanup => f.write_str("cleanup"),
        }
    }
}

/// A request body, by reference: `len` content bytes from `offset` of the stream `content` generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    pub content: ContentKey,
    pub offset: u64,
    pub len: u64,
}

/// A part of a CompleteMultipartUpload, by the op that uploaded it (its ETag is whatever that op got back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedPart {
    pub part_number: u32,
    pub upload_part_op: u64,
}

/// What a conditional write requires of the key's current object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precondition {
    /// `If-None-Match: *`: write only if the key holds no object (create, never overwrite).
    Absent,
    /// `If-Match: <ETag>` with the ETag op `etag_op` got back (whatever it was in this run): overwrite only that.
    Matches { etag_op: u64 },
}

/// What a conditional read requires of the key's current object, by the ETag an earlier write got back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadCondition {
    /// `If-Match`: answer only if the current ETag is this one (else 412 Precondition Failed).
    Matches { etag_op: u64 },
    /// `If-None-Match`: answer only if the current ETag is not this one (else 304 Not Modified).
    Differs { etag_op: u64 },
}

impl ReadCondition {
    pub fn etag_op(self) -> u64 {
        match self {
            ReadCondition::Matches { etag_op } | ReadCondition::Differs { etag_op } => etag_op,
        }
    }
}

/// A date precondition of a read (`If-Modified-Since` / `If-Unmodified-Since`). The dates are far from any server's
/// clock, so what S3 must answer does not depend on when the object was written or how the clocks agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DateCondition {
    /// `If-Modified-Since` [`LONG_AGO`](DateCondition::LONG_AGO): every object was modified since — the object.
    ModifiedSinceLongAgo,
    /// `If-Unmodified-Since` [`LONG_AGO`](DateCondition::LONG_AGO): no object was — 412, unless an `If-Match` that
    /// holds overrides it (RFC 9110 §13.2.2, as S3 documents it).
    UnmodifiedSinceLongAgo,
    /// `If-Unmodified-Since` [`FAR_AHEAD`](DateCondition::FAR_AHEAD): every object was — the object.
    UnmodifiedSinceFarAhead,
}

impl DateCondition {
    /// 2000-01-01T00:00:00Z, in seconds since the epoch.
    pub const LONG_AGO: i64 = 946_684_800;
    /// 2100-01-01T00:00:00Z.
    pub const FAR_AHEAD: i64 = 4_102_444_800;

    /// The `If-Modified-Since` and `If-Unmodified-Since` it sends, in seconds since the epoch.
    pub fn dates(self) -> (Option<i64>, Option<i64>) {
        match self {
            DateCondition::ModifiedSinceLongAgo => (Some(Self::LONG_AGO), None),
            DateCondition::UnmodifiedSinceLongAgo => (None, Some(Self::LONG_AGO)),
            DateCondition::UnmodifiedSinceFarAhead => (None, Some(Self::FAR_AHEAD)),
        }
    }
}

/// What was sent. Upload ids refer to the op that created the upload, so a replay can substitute its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    CreateBucket {
        bucket: String,
        location: Option<String>,
    },
    DeleteBucket {
        bucket: String,
    },
    PutBucketVersioning {
        bucket: String,
        enabled: bool,
    },
    PutObject {
        bucket: String,
        key: String,
        body: Body,
        /// The flexible checksum it sends, if any.
        checksum: Option<crate::checksum::Sent>,
        /// A conditional write's precondition (`If-None-Match` / `If-Match`).
        precondition: Option<Precondition>,
        /// Content-Type, Cache-Control, … and `x-amz-meta-*` to store with the object.
        metadata: Option<Box<Metadata>>,
    },
    CreateMultipartUpload {
        bucket: String,
        key: String,
        /// The metadata the completed object carries.
        metadata: Option<Box<Metadata>>,
        /// The checksum algorithm and type it declares (each part then sends one, and the completion lists them).
        checksum: Option<crate::checksum::Declared>,
    },
    UploadPart {
        bucket: String,
        key: String,
        create_op: u64,
        part_number: u32,
        body: Body,
        /// The flexible checksum it sends (an upload that declared one sends that algorithm's on every part).
        checksum: Option<crate::checksum::Sent>,
    },
    CompleteMultipartUpload {
        bucket: String,
        key: String,
        create_op: u64,
        parts: Vec<CompletedPart>,
        /// A conditional completion's precondition (`If-None-Match` / `If-Match`), as for PutObject.
        precondition: Option<Precondition>,
    },
    AbortMultipartUpload {
        bucket: String,
        key: String,
        create_op: u64,
    },
    GetObject {
        bucket: String,
        key: String,
        range: Option<(u64, u64)>,
    },
    HeadObject {
        bucket: String,
        key: String,
    },
    /// GetObject (or, `head`, HeadObject) with `If-Match` or `If-None-Match`, a date precondition, or both.
    ReadIf {
        bucket: String,
        key: String,
        condition: Option<ReadCondition>,
        date: Option<DateCondition>,
        head: bool,
    },
    DeleteObject {
        bucket: String,
        key: String,
    },
    /// DeleteObjects (the batch delete) of these distinct keys: each as its own DeleteObject — of the version the op
    /// `version_ops[i]` made where that is given (its version id, whatever it was in this run), else a plain delete.
    /// `version_ops` is empty or as long as `keys`. `quiet`: the answer lists only the keys that could not be deleted.
    DeleteObjects {
        bucket: String,
        keys: Vec<String>,
        quiet: bool,
        version_ops: Vec<Option<u64>>,
    },
    ListObjectsV2 {
        bucket: String,
        prefix: Option<String>,
        /// Roll keys up into common prefixes at this delimiter.
        delimiter: Option<String>,
        max_keys: Option<u32>,
        start_after: Option<String>,
        /// Continue from the page this op returned (its continuation token, whatever it was in this run).
        after_op: Option<u64>,
        /// `encoding-type=url`: the server percent-encodes keys and prefixes in its answer (read back decoded).
        url: bool,
        /// `fetch-owner=true`: each entry carries its owner (not judged; the entries must be the same).
        fetch_owner: bool,
    },
    /// ListObjects, version 1: continued (`after_op`) from the `NextMarker` the page before gave, or its last key
    /// where it gave none (as S3 documents it, and clients do).
    ListObjects {
        bucket: String,
        prefix: Option<String>,
        delimiter: Option<String>,
        max_keys: Option<u32>,
        after_op: Option<u64>,
    },
    /// DeleteObject with `If-Match`: the ETag op `etag_op` got back (whatever it was in this run); delete only that.
    DeleteObjectIf {
        bucket: String,
        key: String,
        etag_op: u64,
    },
    /// Delete one version; `version_op` is the op that created it (its version id, whatever it was in this run).
    DeleteObjectVersion {
        bucket: String,
        key: String,
        version_op: u64,
    },
    GetObjectVersion {
        bucket: String,
        key: String,
        version_op: u64,
    },
    ListObjectVersions {
        bucket: String,
        prefix: Option<String>,
        max_keys: Option<u32>,
        after_op: Option<u64>,
    },
    CopyObject {
        bucket: String,
        key: String,
        source_bucket: String,
        source_key: String,
        /// `MetadataDirective: REPLACE` with this metadata; `None`: no directive (S3's default, COPY: the copy keeps
        /// the source's metadata).
        metadata: Option<Box<Metadata>>,
    },
    UploadPartCopy {
        bucket: String,
        key: String,
        create_op: u64,
        part_number: u32,
        source_bucket: String,
        source_key: String,
        /// Inclusive byte range of the source.
        range: (u64, u64),
    },
    /// ListMultipartUploads: at most `max_uploads` (`None`: the server's own page size), after the key and upload-id
    /// markers the page `after_op` answered with (`None`: from the first upload).
    ListMultipartUploads {
        bucket: String,
        prefix: Option<String>,
        max_uploads: Option<u32>,
        after_op: Option<u64>,
    },
    /// ListParts of the upload `create_op` created: at most `max_parts` (`None`: the server's own page size), after
    /// the part-number marker the page `after_op` answered with (`None`: from the first part).
    ListParts {
        bucket: String,
        key: String,
        create_op: u64,
        max_parts: Option<u32>,
        after_op: Option<u64>,
    },
    /// GET (or, `head`, HEAD) of one part of a multipart object (`partNumber`), which also tells the part count.
    GetObjectPart {
        bucket: String,
        key: String,
        part_number: u32,
        head: bool,
    },
    /// Delete a version found by listing (cleanup only: the id is this run's, and replay does its own cleanup).
    DeleteVersionId {
        bucket: String,
        key: String,
        version_id: String,
    },
    /// One replication rule for the whole bucket: to `destination_bucket` (an ARN), optionally as a storage class
    /// (Zenko names the target location that way).
    PutBucketReplication {
        bucket: String,
        role: String,
        destination_bucket: String,
        storage_class: Option<String>,
    },
    /// One lifecycle rule for the whole bucket: current versions expire after `days`.
    PutBucketLifecycle {
        bucket: String,
        days: u32,
    },
    /// Abort an upload found by listing (cleanup only, like [`Request::DeleteVersionId`]: the id is this run's).
    AbortUploadId {
        bucket: String,
        key: String,
        upload_id: String,
    },
}

impl Request {
    /// Short operation name, as S3 calls it.
    pub fn name(&self) -> &'static str {
        match self {
            Request::CreateBucket { .. } => "CreateBucket",
            Request::DeleteBucket { .. } => "DeleteBucket",
            Request::PutBucketVersioning { .. } => "PutBucketVersioning",
            Request::PutObject { .. } => "PutObject",
            Request::CreateMultipartUpload { .. } => "CreateMultipartUpload",
            Request::UploadPart { .. } => "UploadPart",
            Request::CompleteMultipartUpload { .. } => "CompleteMultipartUpload",
            Request::AbortMultipartUpload { .. } => "AbortMultipartUpload",
            Request::GetObject { .. } => "GetObject",
            Request::HeadObject { .. } => "HeadObject",
            Request::ReadIf { head: false, .. } => "GetObject(conditional)",
            Request::ReadIf { head: true, .. } => "HeadObject(conditional)",
            Request::DeleteObject { .. } => "DeleteObject",
            Request::DeleteObjectIf { .. } => "DeleteObject(conditional)",
            Request::DeleteObjects { .. } => "DeleteObjects",
            Request::ListObjectsV2 { .. } => "ListObjectsV2",
            Request::ListObjects { .. } => "ListObjects",
            Request::DeleteObjectVersion { .. } => "DeleteObject(version)",
            Request::GetObjectVersion { .. } => "GetObject(version)",
            Request::ListObjectVersions { .. } => "ListObjectVersions",
            Request::CopyObject { .. } => "CopyObject",
            Request::UploadPartCopy { .. } => "UploadPartCopy",
            Request::ListMultipartUploads { .. } => "ListMultipartUploads",
            Request::ListParts { .. } => "ListParts",
            Request::GetObjectPart { head: false, .. } => "GetObject(part)",
            Request::GetObjectPart { head: true, .. } => "HeadObject(part)",
            Request::DeleteVersionId { .. } => "DeleteObject(version id)",
            Request::PutBucketReplication { .. } => "PutBucketReplication",
            Request::PutBucketLifecycle { .. } => "PutBucketLifecycleConfiguration",
            Request::AbortUploadId { .. } => "AbortMultipartUpload(listed)",
        }
    }

    /// `bucket/key` (or `bucket`) the request is about, for messages.
    pub fn subject(&self) -> String {
        match self {
            Request::CreateBucket { bucket, .. }
            | Request::DeleteBucket { bucket }
            | Request::PutBucketVersioning { bucket, .. }
            | Request::PutBucketReplication { bucket, .. }
            | Request::PutBucketLifecycle { bucket, .. } => bucket.clone(),
            Request::ListObjectsV2 { bucket, prefix, .. }
            | Request::ListObjects { bucket, prefix, .. }
            | Request::ListObjectVersions { bucket, prefix, .. }
            | Request::ListMultipartUploads { bucket, prefix, .. } => {
                format!("{bucket}/{}", prefix.as_deref().unwrap_or(""))
            }
            Request::DeleteObjects { bucket, keys, .. } => match keys.as_slice() {
                [one] => format!("{bucket}/{one}"),
                [first, rest @ ..] => format!("{bucket}/{first} (+{} more)", rest.len()),
                [] => bucket.clone(),
            },
            Request::DeleteObjectVersion { bucket, key, .. }
            | Request::DeleteObjectIf { bucket, key, .. }
            | Request::GetObjectVersion { bucket, key, .. }
            | Request::CopyObject { bucket, key, .. }
            | Request::UploadPartCopy { bucket, key, .. }
            | Request::ListParts { bucket, key, .. }
            | Request::GetObjectPart { bucket, key, .. }
            | Request::DeleteVersionId { bucket, key, .. }
            | Request::AbortUploadId { bucket, key, .. } => format!("{bucket}/{key}"),
            Request::PutObject { bucket, key, .. }
            | Request::CreateMultipartUpload { bucket, key, .. }
            | Request::UploadPart { bucket, key, .. }
            | Request::CompleteMultipartUpload { bucket, key, .. }
            | Request::AbortMultipartUpload { bucket, key, .. }
            | Request::GetObject { bucket, key, .. }
            | Request::HeadObject { bucket, key }
            | Request::ReadIf { bucket, key, .. }
            | Request::DeleteObject { bucket, key } => format!("{bucket}/{key}"),
        }
    }

    /// `bucket/key` of each object the request reads or writes (not a bucket, a listing or an upload's parts):
    /// what two racing requests must share to race.
    /// The objects an answer depends on: those it writes or reads ([`Request::objects`]) and a copy's source.
    pub fn depends_on(&self) -> Vec<String> {
        let mut objects = self.objects();
        if let Request::CopyObject { source_bucket, source_key, .. } = self {
            objects.push(format!("{source_bucket}/{source_key}"));
        }
        objects
    }

    /// The listing page this request continues from (`after_op`), if it is a next page.
    pub fn continues_from(&self) -> Option<u64> {
        match self {
            Request::ListObjectsV2 { after_op, .. }
            | Request::ListObjects { after_op, .. }
            | Request::ListObjectVersions { after_op, .. }
            | Request::ListMultipartUploads { after_op, .. }
            | Request::ListParts { after_op, .. } => *after_op,
            _ => None,
        }
    }

    pub fn objects(&self) -> Vec<String> {
        match self {
            Request::PutObject { bucket, key, .. }
            | Request::DeleteObject { bucket, key }
            | Request::GetObject { bucket, key, .. }
            | Request::HeadObject { bucket, key }
            | Request::ReadIf { bucket, key, .. }
            | Request::CopyObject { bucket, key, .. }
            | Request::CompleteMultipartUpload { bucket, key, .. }
            | Request::DeleteObjectVersion { bucket, key, .. }
            | Request::DeleteObjectIf { bucket, key, .. }
            | Request::GetObjectVersion { bucket, key, .. }
            | Request::GetObjectPart { bucket, key, .. } => vec![format!("{bucket}/{key}")],
            Request::DeleteObjects { bucket, keys, .. } => keys.iter().map(|key| format!("{bucket}/{key}")).collect(),
            _ => Vec::new(),
        }
    }

    /// Bytes this request uploads.
    pub fn body_len(&self) -> u64 {
        match self {
            Request::PutObject { body, .. } | Request::UploadPart { body, .. } => body.len,
            _ => 0,
        }
    }
}

/// What came back (after retries). Status 0 means no HTTP response at all (connection refused, reset, timeout).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: u16,
    pub error_code: Option<String>,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub upload_id: Option<String>,
    /// Content-Length of a HEAD, bytes received for a GET.
    pub size: Option<u64>,
    pub body_digest: Option<Digest>,
    /// A listing page (objects, versions or uploads), and whether it was truncated.
    pub listing: Option<Listing>,
    /// Where the next listing page starts (token or markers of this run; never compared).
    pub next_page: Option<PageCursor>,
    /// `x-amz-mp-parts-count` of a part GET.
    pub parts_count: Option<u32>,
    /// What a DeleteObjects answered, key by key.
    pub batch: Option<BatchAnswer>,
    /// The flexible checksum the answer carried (GET and HEAD ask for it with `x-amz-checksum-mode: ENABLED`).
    pub checksum: Option<crate::checksum::Returned>,
    /// The metadata a HEAD or GET answered (`None`: none, or a default Content-Type only; see
    /// [`Metadata::answered`]).
    pub metadata: Option<Box<Metadata>>,
    /// Why there was no usable answer: transport error text when `status == 0`, or why a 2xx could not be decoded.
    /// Never includes credentials.
    pub detail: Option<String>,
}

impl Outcome {
    /// 2xx with a decodable answer.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status) && self.error_code.is_none()
    }

    /// The target does not implement this operation at all.
    pub fn unsupported(&self) -> bool {
        self.status == 501 || self.error_code.as_deref() == Some("NotImplemented")
    }

    /// Short form for messages: `200 etag=…` / `404 NoSuchKey`.
    pub fn brief(&self) -> String {
        if self.status == 0 {
            let detail = self.detail.as_deref().unwrap_or("transport error");
            return match &self.error_code {
                Some(code) => format!("no response ({code}: {detail})"),
                None => format!("no response ({detail})"),
            };
        }
        let mut out = self.status.to_string();
        if let Some(code) = &self.error_code {
            out.push(' ');
            out.push_str(code);
        }
        if let (true, Some(detail)) = (self.status != 0, &self.detail) {
            out.push_str(&format!(" ({})", detail.chars().take(300).collect::<String>()));
        }
        out
    }
}

/// The answer to a DeleteObjects: the keys it reports deleted, and those it reports errors for (key, code).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAnswer {
    pub deleted: Vec<String>,
    pub errors: Vec<(String, String)>,
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub entries: Vec<ListEntry>,
    /// Common prefixes of a listing with a delimiter, in the order given.
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
}

/// One listed object, version, delete marker or upload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
    /// Version id (versions, delete markers) or upload id (uploads).
    pub version_id: Option<String>,
    pub is_latest: bool,
    pub delete_marker: bool,
}

/// Opaque continuation of a listing, as the server gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageCursor {
    pub token: Option<String>,
    pub key_marker: Option<String>,
    /// The version-id marker of a version listing, the upload-id marker of an upload listing.
    pub version_id_marker: Option<String>,
}

/// One try of an op; retries of transient errors each leave one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub status: u16,
    pub error_code: Option<String>,
    pub latency_us: u64,
}

/// One S3 operation: what was sent, what came back, and when relative to the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpRecord {
    /// Issue order, from 0.
    pub index: u64,
    /// How many ops had completed when this one was issued: replay waits for those before issuing it.
    pub completed_before: u64,
    /// Completion order, from 0.
    pub completion: u64,
    /// When it was issued, microseconds after the run's first op could be: replay keeps this pacing, so checks that
    /// wait for something (replication, expiration) wait as long again.
    pub issued_at_us: u64,
    pub phase: Phase,
    /// The backend (config name) the request went to directly; `None` = the target.
    pub backend: Option<String>,
    pub request: Request,
    pub outcome: Outcome,
    pub attempts: Vec<Attempt>,
    /// Total latency over all attempts, microseconds.
    pub latency_us: u64,
}

/// What a check (or a workload) required of one op's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Assertion {
    /// 2xx.
    Succeeded,
    /// An error with this S3 code (e.g. `NoSuchKey`) or, when the server sent none, this HTTP status.
    Fails {
        code: String,
        status: u16,
    },
    Etag(String),
    Size(u64),
    BodyDigest(Digest),
    /// Any 4xx refusal (what a read of a delete marker by version id must be: S3 answers 405 MethodNotAllowed; what
    /// matters is that no data comes back).
    Refused,
    /// A listing page holds exactly these entries, in this order (version ids are not compared: they differ from
    /// run to run), and is truncated or not.
    Page {
        entries: Vec<PageEntry>,
        truncated: bool,
    },
    /// A part GET reports this many parts.
    PartsCount(u32),
    /// A listing with a delimiter rolls up exactly these common prefixes, in this order.
    Prefixes(Vec<String>),
    /// The answer carries no checksum, or exactly this one (a server need not return a checksum it was never sent,
    /// but one it returns must be right, and of the algorithm it was stored with).
    ChecksumIfAny {
        algorithm: String,
        value: String,
    },
    /// The answer claims no whole-object checksum (a ranged read covers only some of the bytes).
    NoWholeChecksum,
    /// The answer declares no checksum type (`x-amz-checksum-type`), or this one (COMPOSITE, FULL_OBJECT).
    ChecksumTypeIfAny(String),
    /// A DeleteObjects answer reports every one of `keys` deleted (a quiet one: reports nothing), and no errors.
    BatchDeleted {
        keys: Vec<String>,
        quiet: bool,
    },
    /// The answer carries this metadata (see [`Metadata::mismatch`]).
    Metadata(Box<Metadata>),
    /// Conditional writers raced one key (`racers`, op indices, each sending the content whose blake3 is at the same
    /// position of `digests`): exactly one may win (2xx) — the rest are refused — and this read must return the
    /// winner's bytes. Judged with the racers' answers beside this op's (see `Assertion::violation_among`); a racer
    /// with no usable answer may have won.
    SoleWinner {
        racers: Vec<u64>,
        digests: Vec<Digest>,
    },
    /// The pages of one ListMultipartUploads walk (`pages`, op indices, this op the last) together list each upload
    /// that `creates` (the CreateMultipartUpload ops, with the key each named) opened exactly once — by key and
    /// upload id, as those creates' answers named it — and nothing else. Page by page, [`Assertion::Page`] judges
    /// the order of keys and where the pages break; this judges the ids across them: an upload listed twice or
    /// skipped at a page boundary is one a client paging through never sees (or sees twice).
    UploadsListed {
        creates: Vec<(String, u64)>,
        pages: Vec<u64>,
    },
    /// A read of a key after a re-upload of part 1 (op `reupload`, bytes `second`) raced the CompleteMultipartUpload
    /// naming the first part (bytes `first`) or, `abort`, the AbortMultipartUpload (op `closer`) of a one-part
    /// upload, and `retry` (when the re-upload got an ETag) completed it naming the re-uploaded part. Judged with
    /// those answers beside this op's: a completion that won leaves the first bytes, whatever the retry says; one
    /// refused `InvalidPart` must have lost to the re-upload and left the upload open, so the retry completes it
    /// with the second bytes; an abort leaves the key as it was (`before`, `None`: no object) and the retry must
    /// not complete it. An answer that is missing leaves it unjudged.
    PartRace {
        closer: u64,
        abort: bool,
        reupload: u64,
        retry: Option<u64>,
        first: Digest,
        second: Digest,
        before: Option<Digest>,
    },
    /// What the S3 model (`random-ops`) predicts, and by which rule: the outcome must satisfy every assertion of at
    /// least one alternative (several when racing operations may have taken effect in either order).
    Model {
        rule: String,
        alternatives: Vec<Vec<Assertion>>,
    },
}

/// What one listing entry must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageEntry {
    pub key: String,
    pub size: u64,
    /// Unquoted; `None` = not compared.
    pub etag: Option<String>,
    pub is_latest: bool,
    pub delete_marker: bool,
}

/// One verdict of a check (or workload) on one op, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectation {
    /// The check or workload that asked.
    pub by: String,
    /// `bucket/key` the verdict is about.
    pub subject: String,
    /// The op whose outcome is judged.
    pub op: u64,
    pub assertion: Assertion,
    /// `None` = passed; `Some(what came back)` = failed.
    pub violation: Option<String>,
    /// Ops that raced this one on a key in the recording (issued together, neither waiting for the other): a
    /// failure here may depend on the order they took, and so come back in only some replays.
    pub raced_with: Vec<u64>,
}

/// How a run ended. (Variant names are lowercase in JSON; bincode encodes the variant index.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Skipped,
    /// Stopped before the end (Ctrl-C, harness error); what ran is recorded.
    Incomplete,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Skipped => "skipped",
            Verdict::Incomplete => "incomplete",
        }
    }
}

/// The last frame: totals, verdict, and a blake3 over every byte before this frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    pub ops: u64,
    pub expectations: u64,
    pub failed: u64,
    pub verdict: Verdict,
    /// Why the run was skipped or stopped early.
    pub reason: Option<String>,
    pub digest: Digest,
}
