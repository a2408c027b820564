//! The frame types of a journal. These are a file format: change them only together with `FORMAT_VERSION`.

use serde::{Deserialize, Serialize};

use crate::content::{ContentKey, Digest};
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

/// What was sent. Upload ids refer to the op that created the upload, so a replay can substitute its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    CreateBucket { bucket: String, location: Option<String> },
    DeleteBucket { bucket: String },
    PutBucketVersioning { bucket: String, enabled: bool },
    PutObject { bucket: String, key: String, body: Body },
    CreateMultipartUpload { bucket: String, key: String },
    UploadPart { bucket: String, key: String, create_op: u64, part_number: u32, body: Body },
    CompleteMultipartUpload { bucket: String, key: String, create_op: u64, parts: Vec<CompletedPart> },
    AbortMultipartUpload { bucket: String, key: String, create_op: u64 },
    GetObject { bucket: String, key: String, range: Option<(u64, u64)> },
    HeadObject { bucket: String, key: String },
    DeleteObject { bucket: String, key: String },
    ListObjectsV2 { bucket: String, prefix: Option<String>, max_keys: Option<u32>, start_after: Option<String> },
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
            Request::DeleteObject { .. } => "DeleteObject",
            Request::ListObjectsV2 { .. } => "ListObjectsV2",
        }
    }

    /// `bucket/key` (or `bucket`) the request is about, for messages.
    pub fn subject(&self) -> String {
        match self {
            Request::CreateBucket { bucket, .. }
            | Request::DeleteBucket { bucket }
            | Request::PutBucketVersioning { bucket, .. } => bucket.clone(),
            Request::ListObjectsV2 { bucket, prefix, .. } => format!("{bucket}/{}", prefix.as_deref().unwrap_or("")),
            Request::PutObject { bucket, key, .. }
            | Request::CreateMultipartUpload { bucket, key }
            | Request::UploadPart { bucket, key, .. }
            | Request::CompleteMultipartUpload { bucket, key, .. }
            | Request::AbortMultipartUpload { bucket, key, .. }
            | Request::GetObject { bucket, key, .. }
            | Request::HeadObject { bucket, key }
            | Request::DeleteObject { bucket, key } => format!("{bucket}/{key}"),
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
    /// Keys and sizes of a listing page, and whether it was truncated.
    pub listing: Option<Listing>,
    /// Why there was no usable answer: transport error text when `status == 0`, or why a 2xx could not be decoded.
    /// Never includes credentials.
    pub detail: Option<String>,
}

impl Outcome {
    /// 2xx with a decodable answer.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status) && self.error_code.is_none()
    }

    /// Short form for messages: `200 etag=…` / `404 NoSuchKey`.
    pub fn brief(&self) -> String {
        if self.status == 0 {
            return format!("no response ({})", self.detail.as_deref().unwrap_or("transport error"));
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

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub entries: Vec<(String, u64)>,
    pub truncated: bool,
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
    pub phase: Phase,
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
}

impl Assertion {
    /// `None` if `outcome` satisfies it, else what was found instead.
    pub fn violation(&self, outcome: &Outcome) -> Option<String> {
        match self {
            Assertion::Succeeded => (!outcome.succeeded()).then(|| outcome.brief()),
            Assertion::Fails { code, status } => {
                let matches = outcome.error_code.as_deref() == Some(code.as_str())
                    || (outcome.error_code.is_none() && outcome.status == *status);
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
        }
    }
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
