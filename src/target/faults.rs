//! A fault-seeded S3 server: s3s-fs with seeded misbehaviour, to prove that sfko's checks catch what they claim to.
//!
//! Which objects are hit is decided by hashing (seed, fault, bucket, key), not by arrival order, so the same keys are
//! hit on every run and every replay against a server started with the same seed — whatever the concurrency.
//! Only the operations a fault changes are overridden; the rest pass straight to s3s-fs.
//!
//! With no fault this is sfko's reference server (the embedded target and `sfko serve`): s3s-fs plus the layers
//! that make it answer as S3 does where s3s-fs 0.14.1 does not — versioning ([`super::versioned`]), multipart
//! ([`super::multipart`]) and one version per read ([`super::stripes`]). `sfko serve --plain` serves s3s-fs alone.

use std::path::{Path, PathBuf};

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, S3};
use s3s_fs::FileSystem;

use super::conditions;
use super::drain;
use super::fs_layout::FsLayout;
use super::multipart::Uploads;
use super::null_versions;
use super::part_checksums::{self, checksum_fields};
use super::parts::Part;
use super::rollback::Rollback;
use super::stripes::Stripes;
use super::versioned::{KeyGuard, Versioning};

/// The CRC32 `checksum-ignored` reads claim (0xDEADBEEF), in place of whatever was stored.
const WRONG_CRC32: &str = "3q2+7w==";

/// The checksum type a read answers with its checksum, which s3s-fs never does: a composite value ends `-N`.
macro_rules! with_checksum_type {
    ($o:expr) => {{
        let o = &mut $o;
        if let (None, Some(value)) = (&o.checksum_type, checksum_fields!(o).into_iter().flatten().next()) {
            let kind = if value.contains('-') { ChecksumType::COMPOSITE } else { ChecksumType::FULL_OBJECT };
            o.checksum_type = Some(ChecksumType::from_static(kind));
        }
    }};
}

/// `checksum-ignored` on a read: the answer (GetObject or HeadObject output) claims [`WRONG_CRC32`] and nothing else.
macro_rules! claim_wrong_crc32 {
    ($output:expr) => {{
        let o = &mut $output;
        (o.checksum_crc32, o.checksum_crc32c, o.checksum_crc64nvme) = (Some(WRONG_CRC32.into()), None, None);
        (o.checksum_sha1, o.checksum_sha256) = (None, None);
    }};
}

/// The preconditions of a GetObject or HeadObject input (the two s3s types name them alike).
macro_rules! read_conditions {
    ($input:expr) => {
        conditions::ReadConditions {
            if_match: $input.if_match.as_ref(),
            if_none_match: $input.if_none_match.as_ref(),
            if_modified_since: $input.if_modified_since.as_ref(),
            if_unmodified_since: $input.if_unmodified_since.as_ref(),
        }
    };
}

/// The kinds of misbehaviour the fixture can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Flip one stored byte after a successful write (silent bit rot; the stored ETag stays "right").
    CorruptByte,
    /// Answer CompleteMultipartUpload with a wrong ETag (the stored object is fine).
    WrongMpuEtag,
    /// Leave an object out of ListObjectsV2 answers (it is still stored and readable).
    ListDrop,
    /// The replicator (`--replicate-to`) never copies the object.
    ReplicateSkip,
    /// The replicator flips one byte of the copy.
    ReplicateCorrupt,
    /// The replicator copies a multipart object as one single PUT (content right, ETag and parts wrong).
    ReplicateSinglePart,
    /// The lifecycle fixture (`--lifecycle-day`) never expires the object.
    ExpireSkip,
    /// Acknowledge a PutObject (200, right ETag), then lose it: the key is gone, as when an acknowledged write never
    /// reached durable storage.
    LostWrite,
    /// After an overwrite, GETs keep answering the previous content (a stale replica or cache).
    StaleRead,
    /// Answer PutObject or CopyObject with a wrong ETag (the stored object is fine).
    WrongEtag,
    /// A new version of a versioned object silently drops the version it replaces (no longer listed or readable).
    VersionLost,
    /// PutObject ignores the checksum it is sent (a wrong one is accepted), and GET/HEAD return a wrong one.
    ChecksumIgnored,
    /// PutObject and CompleteMultipartUpload ignore `If-None-Match` and `If-Match` (a conditional write overwrites
    /// whatever the key holds), and so do GetObject and HeadObject (they answer the object whatever ETag was named).
    ConditionalIgnored,
    /// ListObjectVersions leaves out one noncurrent version of the key (it is still stored and readable by id).
    VersionDrop,
    /// DeleteObjects answers the key deleted but leaves it in place.
    BatchDeletePartial,
    /// ListMultipartUploads leaves out the oldest open upload of the key (it is still open: parts can be uploaded to
    /// it, and it can be completed or aborted), as a listing that loses its place at a marker does.
    UploadListDrop,
    /// PutObject and CreateMultipartUpload store the object without its user metadata (`x-amz-meta-*`) and
    /// Cache-Control, as a gateway that forwards only the body and the Content-Type would.
    MetadataLost,
    /// Benign: one object request in `one_in` (any key) is refused with `503 SlowDown` before anything is done, as
    /// a throttling cluster does. A client that retries loses nothing; a checker must not call it a bug.
    SlowDown,
    /// Acknowledge a PutObject (right ETag, readable at once) but keep it only in a volatile cache: the next start
    /// of the server on the same data dir (`sfko serve --root DIR`, after a SIGKILL) has lost it, as a node that
    /// acknowledged before its write was durable loses it when it crashes.
    LostOnCrash,
}

impl Fault {
    pub const ALL: &'static [Fault] = &[
        Fault::CorruptByte,
        Fault::WrongMpuEtag,
        Fault::ListDrop,
        Fault::ReplicateSkip,
        Fault::ReplicateCorrupt,
        Fault::ReplicateSinglePart,
        Fault::ExpireSkip,
        Fault::LostWrite,
        Fault::StaleRead,
        Fault::WrongEtag,
        Fault::VersionLost,
        Fault::ChecksumIgnored,
        Fault::ConditionalIgnored,
        Fault::VersionDrop,
        Fault::BatchDeletePartial,
        Fault::UploadListDrop,
        Fault::MetadataLost,
        Fault::SlowDown,
        Fault::LostOnCrash,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::CorruptByte => "corrupt-byte",
            Fault::WrongMpuEtag => "wrong-mpu-etag",
            Fault::ListDrop => "list-drop",
            Fault::ReplicateSkip => "replicate-skip",
            Fault::ReplicateCorrupt => "replicate-corrupt",
            Fault::ReplicateSinglePart => "replicate-single-part",
            Fault::ExpireSkip => "expire-skip",
            Fault::LostWrite => "lost-write",
            Fault::StaleRead => "stale-read",
            Fault::WrongEtag => "wrong-etag",
            Fault::VersionLost => "version-lost",
            Fault::ChecksumIgnored => "checksum-ignored",
            Fault::ConditionalIgnored => "conditional-ignored",
            Fault::VersionDrop => "version-drop",
            Fault::BatchDeletePartial => "batch-delete-partial",
            Fault::UploadListDrop => "upload-list-drop",
            Fault::MetadataLost => "metadata-lost",
            Fault::SlowDown => "slow-down",
            Fault::LostOnCrash => "lost-on-crash",
        }
    }

    pub fn parse(name: &str) -> Option<Fault> {
        Fault::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// Parses fault names, or says which are known.
    pub fn parse_list(names: &[String]) -> Result<Vec<Fault>, String> {
        names
            .iter()
            .map(|name| {
                Fault::parse(name.trim()).ok_or_else(|| {
                    let known: Vec<_> = Fault::ALL.iter().map(|f| f.name()).collect();
                    format!("unknown fault '{name}'; known faults: {}", known.join(", "))
                })
            })
            .collect()
    }
}

/// `lost-on-crash`'s list of acknowledged writes that are not durable yet, in the data dir (one JSON `[bucket, key]`
/// a line).
const VOLATILE: &str = ".sfko-volatile-writes";

/// `lost-on-crash`, at the server's start on a data dir: every write the last process acknowledged without making
/// it durable is gone.
fn lose_volatile_writes(root: &Path) {
    let list = root.join(VOLATILE);
    let Ok(text) = std::fs::read_to_string(&list) else { return };
    for line in text.lines() {
        let Ok((bucket, key)) = serde_json::from_str::<(String, String)>(line) else { continue };
        if std::fs::remove_file(root.join(&bucket).join(&key)).is_ok() {
            tracing::debug!(bucket, key, "fault fixture: lost an acknowledged write in the crash");
        }
    }
    let _ = std::fs::remove_file(&list);
}

/// Which faults, how often (one object in `one_in`), under which seed.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    pub seed: u64,
    pub faults: Vec<Fault>,
    pub one_in: u64,
}

/// The fault seed when none is given (`--embedded-fault-seed`, `serve --fault-seed`).
pub const DEFAULT_FAULT_SEED: u64 = 1;
/// One key in this many is hit when nothing else is said (`--embedded-fault-one-in`, `serve --fault-one-in`).
pub const DEFAULT_FAULT_ONE_IN: u64 = 4;

impl FaultPlan {
    /// The flags that ask for exactly these faults again: `--embedded-faults a,b --embedded-fault-seed N
    /// --embedded-fault-one-in M` (part of a repro line).
    pub fn flags(&self) -> String {
        let names: Vec<&str> = self.faults.iter().map(|f| f.name()).collect();
        format!(
            "--embedded-faults {} --embedded-fault-seed {} --embedded-fault-one-in {}",
            names.join(","),
            self.seed,
            self.one_in
        )
    }

    /// `lost-write,stale-read (seed 1, 1 key in 4)`, for labels and reports.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.faults.iter().map(|f| f.name()).collect();
        format!("{} (seed {}, 1 key in {})", names.join(","), self.seed, self.one_in)
    }

    /// No faults: a healthy server (the embedded target).
    pub fn none() -> FaultPlan {
        FaultPlan { seed: 0, faults: Vec::new(), one_in: 1 }
    }

    /// Whether `fault` hits `bucket/key`.
    pub fn hits(&self, fault: Fault, bucket: &str, key: &str) -> bool {
        self.faults.contains(&fault) && self.draw(fault, bucket, key).is_multiple_of(self.one_in.max(1))
    }

    /// A seeded 64-bit draw for (fault, bucket, key).
    pub fn draw(&self, fault: Fault, bucket: &str, key: &str) -> u64 {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&self.seed.to_le_bytes());
        hasher.update(fault.name().as_bytes());
        hasher.update(&[0]);
        hasher.update(bucket.as_bytes());
        hasher.update(&[0]);
        hasher.update(key.as_bytes());
        let mut word = [0u8; 8];
        word.copy_from_slice(&hasher.finalize().as_bytes()[..8]);
        u64::from_le_bytes(word)
    }
}

/// s3s-fs with [`FaultPlan`] applied, and optionally standing in for a replicating or expiring cluster.
pub struct FaultyFs {
    inner: FileSystem,
    root: PathBuf,
    plan: FaultPlan,
    replicator: Option<super::fixtures::Replicator>,
    lifecycle: Option<std::sync::Arc<super::fixtures::Lifecycle>>,
    /// `stale-read`: the content each hit key had before its last overwrite, which GETs keep serving.
    stale: std::sync::Mutex<std::collections::BTreeMap<(String, String), bytes::Bytes>>,
    /// Object versioning, which s3s-fs lacks (see [`super::versioned`]).
    versions: Versioning,
    /// Makes each read of a key see one whole version (s3s-fs reads size, ETag and metadata apart).
    keys: Stripes,
    /// Multipart answers as S3 gives them (see [`super::multipart`]).
    uploads: Uploads,
    /// One write at a time per part number of an upload: a part refused for its checksum puts back the part it
    /// replaced, which must not land over (or delete) a re-upload of that number racing it.
    part_writes: Stripes,
    /// ListObjectsV2 pages from a snapshot of key names (s3s-fs walks and stats the whole bucket per page).
    listings: super::listing::Listings,
    /// Object requests so far (`slow-down` draws which to refuse from the count).
    requests: std::sync::atomic::AtomicU64,
}

impl FaultyFs {
    pub fn new(inner: FileSystem, root: &Path, plan: FaultPlan) -> FaultyFs {
        if plan.faults.contains(&Fault::LostOnCrash) {
            lose_volatile_writes(root);
        }
        FaultyFs {
            inner,
            root: root.to_path_buf(),
            plan,
            replicator: None,
            lifecycle: None,
            stale: std::sync::Mutex::new(std::collections::BTreeMap::new()),
            versions: Versioning::new(root),
            keys: Stripes::default(),
            uploads: Uploads::new(FsLayout::new(root)),
            part_writes: Stripes::default(),
            listings: super::listing::Listings::default(),
            requests: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// `slow-down`: whether to refuse this object request with 503 SlowDown (before doing anything).
    fn throttle(&self) -> S3Result<()> {
        if !self.plan.faults.contains(&Fault::SlowDown) {
            return Ok(());
        }
        let n = self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.plan.draw(Fault::SlowDown, "", &n.to_string()).is_multiple_of(self.plan.one_in.max(1)) {
            true => Err(s3s::s3_error!(SlowDown, "Please reduce your request rate (sfko fault fixture: slow-down)")),
            false => Ok(()),
        }
    }

    /// `lost-on-crash`: notes an acknowledged write as not yet durable.
    fn volatile(&self, bucket: &str, key: &str) {
        if !self.plan.hits(Fault::LostOnCrash, bucket, key) {
            return;
        }
        use std::io::Write as _;
        let line = serde_json::to_string(&(bucket, key)).unwrap_or_default();
        let file = std::fs::OpenOptions::new().create(true).append(true).open(self.root.join(VOLATILE));
        if let Err(e) = file.and_then(|mut f| writeln!(f, "{line}")) {
            tracing::warn!("fault fixture: cannot note a volatile write: {e}");
        }
    }

    /// Copies every completed write to another S3 endpoint after a seeded lag (a test stand-in for replication).
    pub fn replicate_to(mut self, replicator: super::fixtures::Replicator) -> FaultyFs {
        self.replicator = Some(replicator);
        self
    }

    /// Honours lifecycle expiration rules with a day of the given length (a test stand-in for a lifecycle worker).
    pub fn expire_with(mut self, lifecycle: std::sync::Arc<super::fixtures::Lifecycle>) -> FaultyFs {
        self.lifecycle = Some(lifecycle);
        self
    }

    /// Sizes of the parts a CompleteMultipartUpload names, read from s3s-fs's part files before it merges them.
    async fn part_sizes(&self, input: &CompleteMultipartUploadInput) -> Option<Vec<u64>> {
        let parts = input.multipart_upload.as_ref()?.parts.as_ref()?;
        let mut sizes = Vec::with_capacity(parts.len());
        for part in parts {
            let number = part.part_number?;
            let path = FsLayout::new(&self.root).part_path(&input.upload_id, number)?;
            sizes.push(tokio::fs::metadata(&path).await.ok()?.len());
        }
        Some(sizes)
    }

    /// Where part `number` of `bucket/key` (its version `version_id`, or the live object) lies, by the part sizes
    /// recorded at its completion (see [`super::parts`]).
    async fn locate_part(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        number: PartNumber,
        range: Option<&Range>,
    ) -> S3Result<Part> {
        let layout = FsLayout::new(&self.root);
        let (data, info) = match (version_id, self.versions.lock(bucket, key).await) {
            (Some(id), Some(guard)) => {
                let info = self.versions.info_file(&guard, Some(id))?;
                (info.clone(), info)
            }
            _ => (layout.object_path(bucket, key)?, layout.side_files(bucket, key)[0].clone()),
        };
        if !tokio::fs::metadata(&data).await.is_ok_and(|m| m.is_file()) {
            // No such object (s3s-fs leaves a deleted object's side files behind): s3s-fs answers that (404),
            // whatever part was asked for.
            return Ok(Part::Whole);
        }
        Part::locate(FsLayout::part_sizes(&info).await.as_deref(), number, range)
    }

    /// `stale-read` serves old content only for the overwrite that made it stale: a delete or another kind of write
    /// ends it (so what a run sees never depends on what an earlier run on the same server left behind).
    fn forget_stale(&self, bucket: &str, key: Option<&str>) {
        if let Ok(mut stale) = self.stale.lock() {
            stale.retain(|(b, k), _| b != bucket || key.is_some_and(|key| key != k));
        }
    }

    /// The `If-Match`/`If-None-Match` of a read of the current version (see [`conditions`]); a key that
    /// `conditional-ignored` hits ignores them.
    async fn preconditions(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        conditions: conditions::ReadConditions<'_>,
    ) -> S3Result<()> {
        if version_id.is_some() || self.plan.hits(Fault::ConditionalIgnored, bucket, key) {
            return Ok(());
        }
        conditions::check_read(&FsLayout::new(&self.root), bucket, key, conditions).await
    }

    /// Flips one byte of the stored object (position drawn from the same hash), if it has any.
    async fn rot(&self, bucket: &str, key: &str) {
        let path = self.root.join(bucket).join(key);
        let Ok(mut bytes) = tokio::fs::read(&path).await else { return };
        if bytes.is_empty() {
            return;
        }
        let at = (self.plan.draw(Fault::CorruptByte, key, bucket) % bytes.len() as u64) as usize;
        bytes[at] ^= 0x5a;
        if tokio::fs::write(&path, bytes).await.is_ok() {
            tracing::debug!(bucket, key, at, "fault fixture: corrupted one stored byte");
        }
    }

    /// After a write to a versioned bucket (`guard` held): records the new version, applying `version-lost`.
    async fn new_version(&self, guard: Option<&KeyGuard>) -> S3Result<Option<String>> {
        let Some(guard) = guard else { return Ok(None) };
        let lose = self.plan.hits(Fault::VersionLost, guard.bucket(), guard.key());
        Ok(Some(self.versions.record_write(guard, lose).await?))
    }

    /// GetObject with the key's read stripe held: a version through the versioning layer, or s3s-fs's object (the
    /// content before the last overwrite, for a key `stale-read` hits).
    /// UploadPart with its checksum checked (see [`part_checksums`]): the part's own algorithm, or its upload's.
    /// Call with the upload shared. Reads the whole body before any refusal ([`drain`]).
    async fn checked_part(&self, mut req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let layout = FsLayout::new(&self.root);
        let checks = async {
            let declared = part_checksums::declared(&layout, &req.input.upload_id).await?;
            let sent = part_checksums::part_sent(&req)?;
            if let (Some(declared), Some((algorithm, _))) = (declared, &sent) {
                if declared.algorithm != *algorithm {
                    return Err(s3s::s3_error!(
                        InvalidRequest,
                        "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {algorithm}",
                        declared.algorithm
                    ));
                }
            }
            Ok((declared, sent))
        };
        let (declared, mut sent) = match checks.await {
            Ok(checked) => checked,
            Err(refused) => return drain::answer_after_body(drain::lend(&mut req.input.body), Err(refused)).await,
        };
        if self.plan.hits(Fault::ChecksumIgnored, &req.input.bucket, &req.input.key) {
            sent = None; // the part's value goes unread: a wrong one is accepted
        }
        let algorithm = sent.as_ref().map(|(algorithm, _)| *algorithm).or(declared.map(|d| d.algorithm));
        let _part = self.part_writes.write(&req.input.upload_id, &req.input.part_number.to_string()).await;
        let hashed = algorithm.and_then(|algorithm| part_checksums::hash_body(&mut req.input.body, algorithm));
        let part = layout.part_path(&req.input.upload_id, req.input.part_number);
        let rollback = match (&sent, part) {
            (Some(_), Some(part)) => Some(Rollback::guard(&layout, part).await),
            _ => None,
        };
        let trailers = req.trailing_headers.clone();
        let body = drain::lend(&mut req.input.body);
        let result = drain::answer_after_body(body, self.inner.upload_part(req).await).await;
        let computed = hashed.and_then(|h| h.value());
        let claimed = match &sent {
            Some((_, Some(header))) => Some(header.clone()),
            Some((algorithm, None)) => trailers.and_then(|t| t.take()).and_then(|t| {
                t.get(part_checksums::header_name(*algorithm)).and_then(|v| v.to_str().ok()).map(str::to_string)
            }),
            None => None,
        };
        let mismatch = result.is_ok() && claimed.is_some() && claimed != computed;
        if let Some(rollback) = rollback {
            let refused = mismatch.then_some(s3s::S3ErrorCode::BadDigest);
            rollback.settle(refused.as_ref()).await;
        }
        if mismatch {
            return Err(s3s::s3_error!(BadDigest, "The part's checksum does not match its content"));
        }
        let mut out = result?;
        if let (Some(algorithm), Some(value)) = (algorithm, computed) {
            checksum_fields!(out.output, set algorithm, &value);
        }
        Ok(out)
    }

    async fn plain_get(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        if let Some(guard) = self.versions.lock(&req.input.bucket, &req.input.key).await {
            let mut out = self.versions.get_object(&self.inner, &guard, req).await?;
            with_checksum_type!(out.output);
            return Ok(out);
        }
        let whole = req.input.range.is_none() && req.input.part_number.is_none();
        let stale = match whole {
            true => {
                self.stale.lock().ok().and_then(|s| s.get(&(req.input.bucket.clone(), req.input.key.clone())).cloned())
            }
            false => None,
        };
        let mut out = self.inner.get_object(req).await?;
        with_checksum_type!(out.output);
        if let Some(old) = stale {
            use md5::Digest as _;
            out.output.e_tag = Some(ETag::Strong(hex::encode(md5::Md5::digest(&old))));
            out.output.content_length = Some(old.len() as i64);
            out.output.body = Some(StreamingBlob::from(s3s::Body::from(old)));
        }
        Ok(out)
    }
}

/// The checksum of a completed upload that declared one, in the answer (and its keep-alive future's result).
fn set_mpu_checksum(output: &mut CompleteMultipartUploadOutput, declared: crate::checksum::Declared, value: String) {
    let set = move |o: &mut CompleteMultipartUploadOutput| {
        checksum_fields!(o, set declared.algorithm, &value);
        o.checksum_type = Some(part_checksums::answered(&declared).1);
    };
    set(output);
    if let Some(answer) = output.future.take() {
        output.future = Some(Box::pin(async move {
            let mut answer = answer.await?;
            set(&mut answer);
            Ok(answer)
        }));
    }
}

/// s3s-fs answers CompleteMultipartUpload through a keep-alive future: the version id must go into its result too.
fn set_mpu_version_id(output: &mut CompleteMultipartUploadOutput, version_id: String) {
    output.version_id = Some(version_id.clone());
    if let Some(answer) = output.future.take() {
        output.future = Some(Box::pin(async move {
            let mut answer = answer.await?;
            answer.version_id = Some(version_id);
            Ok(answer)
        }));
    }
}

/// `checksum-ignored` on a write: the request's checksum headers and trailer are dropped unread.
fn ignore_checksums(req: &mut S3Request<PutObjectInput>) {
    let input = &mut req.input;
    input.checksum_algorithm = None;
    input.checksum_crc32 = None;
    input.checksum_crc32c = None;
    input.checksum_crc64nvme = None;
    input.checksum_sha1 = None;
    input.checksum_sha256 = None;
    req.trailing_headers = None;
}

/// The ETag `wrong-etag` and `wrong-mpu-etag` answer: MD5-shaped, stable per key, and never the right one.
fn wrong_etag(key: &str) -> String {
    blake3::hash(key.as_bytes()).to_hex()[..32].to_string()
}

#[async_trait::async_trait]
impl S3 for FaultyFs {
    async fn put_object(&self, mut req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        if let Err(slow) = self.throttle() {
            return drain::answer_after_body(drain::lend(&mut req.input.body), Err(slow)).await;
        }
        let _touching = self.listings.touching();
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let _held = self.keys.write(&bucket, &key).await;
        let previous = match self.plan.hits(Fault::StaleRead, &bucket, &key) {
            true => tokio::fs::read(self.root.join(&bucket).join(&key)).await.ok(),
            false => None,
        };
        if self.plan.hits(Fault::ChecksumIgnored, &bucket, &key) {
            ignore_checksums(&mut req);
        }
        if self.plan.hits(Fault::ConditionalIgnored, &bucket, &key) {
            (req.input.if_none_match, req.input.if_match) = (None, None);
        }
        if self.plan.hits(Fault::MetadataLost, &bucket, &key) {
            (req.input.metadata, req.input.cache_control) = (None, None);
        }
        req.input.content_encoding = super::http_layer::without_aws_chunked(req.input.content_encoding.take());
        let guard = self.versions.lock(&bucket, &key).await;
        let layout = FsLayout::new(&self.root);
        let rollback = Rollback::before_put(&layout, &req.input, req.trailing_headers.is_some()).await;
        let body = drain::lend(&mut req.input.body);
        let result = drain::answer_after_body(body, self.inner.put_object(req).await).await;
        if let Some(rollback) = rollback {
            rollback.settle(result.as_ref().err().map(|e| e.code())).await;
        }
        let mut out = result?;
        match previous {
            Some(previous) => {
                if let Ok(mut stale) = self.stale.lock() {
                    stale.insert((bucket.clone(), key.clone()), bytes::Bytes::from(previous));
                }
            }
            None => self.forget_stale(&bucket, Some(&key)),
        }
        if self.plan.hits(Fault::CorruptByte, &bucket, &key) {
            self.rot(&bucket, &key).await;
        }
        out.output.version_id = self.new_version(guard.as_ref()).await?;
        self.volatile(&bucket, &key);
        if self.plan.hits(Fault::LostWrite, &bucket, &key)
            && tokio::fs::remove_file(self.root.join(&bucket).join(&key)).await.is_ok()
        {
            tracing::debug!(bucket, key, "fault fixture: lost an acknowledged write");
        }
        if self.plan.hits(Fault::WrongEtag, &bucket, &key) {
            out.output.e_tag = Some(ETag::Strong(wrong_etag(&key)));
        }
        if let Some(replicator) = &self.replicator {
            replicator.copy_later(&self.root, &self.plan, &bucket, &key, None);
        }
        Ok(out)
    }

    async fn complete_multipart_upload(
        &self,
        mut req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.throttle()?;
        let _touching = self.listings.touching();
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        if self.plan.hits(Fault::ConditionalIgnored, &bucket, &key) {
            (req.input.if_none_match, req.input.if_match) = (None, None);
        }
        let _upload = self.uploads.close(&bucket, &req.input.upload_id).await?;
        self.uploads.check_completion(&req.input).await?;
        let layout = FsLayout::new(&self.root);
        let upload_id = req.input.upload_id.clone();
        let checksum = match part_checksums::declared(&layout, &upload_id).await? {
            Some(declared) => Some((declared, part_checksums::of_completion(&layout, &req.input, declared).await?)),
            None => None,
        };
        let _held = self.keys.write(&bucket, &key).await;
        self.forget_stale(&bucket, Some(&key));
        let part_sizes = self.part_sizes(&req.input).await;
        let guard = self.versions.lock(&bucket, &key).await;
        let mut out = self.inner.complete_multipart_upload(req).await?;
        let stored = checksum.as_ref().map(|(declared, value)| (declared.algorithm, value.as_str()));
        layout.finish_multipart(&bucket, &key, part_sizes.as_deref(), stored).await?;
        part_checksums::forget(&layout, &upload_id).await;
        if let Some((declared, value)) = checksum {
            set_mpu_checksum(&mut out.output, declared, value);
        }
        if let Some(replicator) = &self.replicator {
            replicator.copy_later(&self.root, &self.plan, &bucket, &key, part_sizes);
        }
        if self.plan.hits(Fault::CorruptByte, &bucket, &key) {
            self.rot(&bucket, &key).await;
        }
        if let Some(version_id) = self.new_version(guard.as_ref()).await? {
            set_mpu_version_id(&mut out.output, version_id);
        }
        if self.plan.hits(Fault::WrongMpuEtag, &bucket, &key) {
            // The classic gateway bug: the ETag of the whole content instead of the MD5-of-MD5s `-N` form.
            let wrong = wrong_etag(&key);
            out.output.e_tag = Some(ETag::Strong(wrong.clone()));
            // s3s-fs answers through a keep-alive future; the ETag the client sees comes from its result.
            if let Some(answer) = out.output.future.take() {
                out.output.future = Some(Box::pin(async move {
                    let mut answer = answer.await?;
                    answer.e_tag = Some(ETag::Strong(wrong));
                    Ok(answer)
                }));
            }
        }
        Ok(out)
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let _touching = self.listings.touching();
        self.inner.create_bucket(req).await
    }
    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        let Some(lifecycle) = &self.lifecycle else {
            return Err(s3s::s3_error!(
                NotImplemented,
                "start sfko serve with --lifecycle-day to honour lifecycle rules"
            ));
        };
        let days = req
            .input
            .lifecycle_configuration
            .as_ref()
            .and_then(|c| c.rules.iter().find_map(|r| r.expiration.as_ref().and_then(|e| e.days)))
            .unwrap_or(0);
        lifecycle.set_rule(&req.input.bucket, days.max(0) as u64);
        Ok(S3Response::new(PutBucketLifecycleConfigurationOutput::default()))
    }
    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        let _touching = self.listings.touching();
        let bucket = req.input.bucket.clone();
        self.forget_stale(&bucket, None);
        if self.versions.holds_versions(&bucket) {
            return Err(s3s::s3_error!(BucketNotEmpty, "the bucket still holds versions or delete markers"));
        }
        let out = self.inner.delete_bucket(req).await?;
        self.versions.forget_bucket(&bucket).await;
        let layout = FsLayout::new(&self.root);
        tokio::task::spawn_blocking(move || super::upload_listing::forget_bucket(&layout, &bucket))
            .await
            .map_err(|e| s3s::s3_error!(InternalError, "forgetting the bucket's uploads failed: {e}"))??;
        Ok(out)
    }
    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let _touching = self.listings.touching();
        let status = req.input.versioning_configuration.status.as_ref();
        self.versions.set_mode(&req.input.bucket, status).await?;
        Ok(S3Response::new(PutBucketVersioningOutput::default()))
    }
    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        Ok(S3Response::new(self.versions.get_mode(&req.input.bucket)?))
    }
    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        self.throttle()?;
        let bucket = req.input.bucket.clone();
        match self.versions.list(&req.input) {
            Some(listing) => {
                let mut listing = listing?;
                if let Some(versions) = listing.versions.as_mut() {
                    let mut dropped = std::collections::BTreeSet::new();
                    versions.retain(|v| {
                        let Some(key) = v.key.as_deref() else { return true };
                        let drop = v.is_latest != Some(true)
                            && self.plan.hits(Fault::VersionDrop, &bucket, key)
                            && dropped.insert(key.to_string());
                        !drop
                    });
                }
                Ok(S3Response::new(listing))
            }
            None => {
                let plain = null_versions::as_plain_listing(&req.input)?;
                let root = FsLayout::new(&self.root).object_path(&bucket, "")?;
                let page = self.listings.list_v2(root, plain).await?;
                Ok(S3Response::new(null_versions::versions_page(&req.input, page)))
            }
        }
    }
    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.inner.head_bucket(req).await
    }
    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        self.inner.list_buckets(req).await
    }
    async fn get_object(&self, mut req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.throttle()?;
        // Held until s3s-fs has opened the file: the body streams from that open file, which a later write
        // (s3s-fs writes a temp file and renames it) does not change.
        let _held = self.keys.read(&req.input.bucket, &req.input.key).await;
        let i = &req.input;
        self.preconditions(&i.bucket, &i.key, i.version_id.as_deref(), read_conditions!(i)).await?;
        if let Some(number) = req.input.part_number.take() {
            let i = &req.input;
            let part = self.locate_part(&i.bucket, &i.key, i.version_id.as_deref(), number, i.range.as_ref()).await?;
            req.input.range = part.range();
            let mut out = self.plain_get(req).await?;
            out.output.parts_count = part.count();
            return Ok(out);
        }
        if req.input.range.is_none() && self.plan.hits(Fault::ChecksumIgnored, &req.input.bucket, &req.input.key) {
            let mut out = self.plain_get(req).await?;
            claim_wrong_crc32!(out.output);
            return Ok(out);
        }
        self.plain_get(req).await
    }
    async fn head_object(&self, mut req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.throttle()?;
        let _held = self.keys.read(&req.input.bucket, &req.input.key).await;
        let i = &req.input;
        self.preconditions(&i.bucket, &i.key, i.version_id.as_deref(), read_conditions!(i)).await?;
        let part = match req.input.part_number.take() {
            Some(number) => {
                let i = &req.input;
                Some(self.locate_part(&i.bucket, &i.key, i.version_id.as_deref(), number, i.range.as_ref()).await?)
            }
            None => None,
        };
        let wrong = part.is_none() && self.plan.hits(Fault::ChecksumIgnored, &req.input.bucket, &req.input.key);
        let mut out = match self.versions.lock(&req.input.bucket, &req.input.key).await {
            Some(guard) => self.versions.head_object(&self.inner, &guard, req).await?,
            None => self.inner.head_object(req).await?,
        };
        with_checksum_type!(out.output);
        if wrong {
            claim_wrong_crc32!(out.output);
        }
        if let Some((length, range)) = part.and_then(Part::head_fields) {
            // One part of the object: its length, and no whole-object checksum.
            let o = &mut out.output;
            (o.content_length, o.content_range, o.parts_count) =
                (Some(length), Some(range), part.and_then(Part::count));
            (o.checksum_crc32, o.checksum_crc32c, o.checksum_crc64nvme) = (None, None, None);
            (o.checksum_sha1, o.checksum_sha256, o.checksum_type) = (None, None, None);
        }
        Ok(out)
    }
    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.throttle()?;
        // Deleting a version may restore an older one under the key (a name added); a plain delete only removes,
        // and so does deleting the `null` version of a bucket never versioned (sfko's cleanup deletes by the ids
        // it listed: a snapshot thrown away per delete would make emptying a bucket quadratic).
        let versioned = self.versions.mode(&req.input.bucket).is_some();
        let _touching = (versioned && req.input.version_id.is_some()).then(|| self.listings.touching());
        let _held = self.keys.write(&req.input.bucket, &req.input.key).await;
        let i = &req.input;
        if i.version_id.is_none() && !self.plan.hits(Fault::ConditionalIgnored, &i.bucket, &i.key) {
            conditions::check_delete(&FsLayout::new(&self.root), &i.bucket, &i.key, i.if_match.as_ref()).await?;
        }
        self.forget_stale(&req.input.bucket, Some(&req.input.key));
        match self.versions.lock(&req.input.bucket, &req.input.key).await {
            Some(guard) => {
                Ok(S3Response::new(self.versions.delete_object(&guard, req.input.version_id.as_deref()).await?))
            }
            None => {
                let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
                let out = self.inner.delete_object(req).await?;
                FsLayout::new(&self.root).forget_deleted(&bucket, &key).await?;
                Ok(out)
            }
        }
    }
    async fn delete_objects(
        &self,
        mut req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.throttle()?;
        let bucket = req.input.bucket.clone();
        let versioned = self.versions.mode(&bucket).is_some();
        let _touching = (versioned && req.input.delete.objects.iter().any(|o| o.version_id.is_some()))
            .then(|| self.listings.touching());
        let keys: Vec<String> = req.input.delete.objects.iter().map(|o| o.key.clone()).collect();
        let _held = self.keys.write_all(&bucket, &keys).await;
        for key in &keys {
            self.forget_stale(&bucket, Some(key));
        }
        let quiet = req.input.delete.quiet.unwrap_or(false);
        // batch-delete-partial: the hit keys are answered as deleted but never reach the store.
        let (sent, kept): (Vec<ObjectIdentifier>, Vec<ObjectIdentifier>) =
            std::mem::take(&mut req.input.delete.objects)
                .into_iter()
                .partition(|o| !self.plan.hits(Fault::BatchDeletePartial, &bucket, &o.key));
        if !kept.is_empty() {
            tracing::debug!(bucket, kept = kept.len(), "fault fixture: batch delete left keys in place");
        }
        req.input.delete.objects = sent;
        let mut out = if self.versions.mode(&bucket).is_some() {
            self.versions.delete_objects(req.input).await?
        } else {
            let sent: Vec<String> = req.input.delete.objects.iter().map(|o| o.key.clone()).collect();
            let out = self.inner.delete_objects(req).await?.output;
            let layout = FsLayout::new(&self.root);
            for key in &sent {
                layout.forget_deleted(&bucket, key).await?;
            }
            out
        };
        let deleted = out.deleted.get_or_insert_with(Vec::new);
        deleted.extend(kept.into_iter().map(|o| DeletedObject { key: Some(o.key), ..Default::default() }));
        // S3's quiet mode answers only the keys it could not delete (s3s-fs lists every key either way).
        if quiet {
            out.deleted = None;
        }
        Ok(S3Response::new(out))
    }
    async fn copy_object(&self, mut req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        self.throttle()?;
        let _touching = self.listings.touching();
        let source = match &req.input.copy_source {
            CopySource::Bucket { bucket, key, .. } => (bucket.to_string(), key.to_string()),
            _ => (String::new(), String::new()),
        };
        let _held = self.keys.write_reading((&req.input.bucket, &req.input.key), (&source.0, &source.1)).await;
        self.forget_stale(&req.input.bucket, Some(&req.input.key));
        self.versions.resolve_copy_source(&mut req.input).await?;
        let guard = self.versions.lock(&req.input.bucket, &req.input.key).await;
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let mut out = self.inner.copy_object(req).await?;
        if let Some(etag) = FsLayout::new(&self.root).finish_copy(&bucket, &key).await? {
            if let Some(result) = out.output.copy_object_result.as_mut() {
                result.e_tag = Some(ETag::Strong(etag));
            }
        }
        out.output.version_id = self.new_version(guard.as_ref()).await?;
        if self.plan.hits(Fault::WrongEtag, &bucket, &key) {
            if let Some(result) = out.output.copy_object_result.as_mut() {
                result.e_tag = Some(ETag::Strong(wrong_etag(&key)));
            }
        }
        Ok(out)
    }
    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        self.throttle()?;
        self.inner.list_objects(req).await
    }
    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.throttle()?;
        let bucket = req.input.bucket.clone();
        let mut out = if req.input.delimiter.is_none() {
            let root = FsLayout::new(&self.root).object_path(&bucket, "")?;
            S3Response::new(self.listings.list_v2(root, req.input).await?)
        } else {
            self.inner.list_objects_v2(req).await?
        };
        if let Some(contents) = out.output.contents.as_mut() {
            let before = contents.len();
            contents.retain(|o| !o.key.as_deref().is_some_and(|key| self.plan.hits(Fault::ListDrop, &bucket, key)));
            let dropped = (before - contents.len()) as i32;
            if let Some(count) = out.output.key_count.as_mut() {
                *count -= dropped;
            }
        }
        super::http_layer::url_encode_listing(&mut out.output);
        Ok(out)
    }
    async fn create_multipart_upload(
        &self,
        mut req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.throttle()?;
        if self.plan.hits(Fault::MetadataLost, &req.input.bucket, &req.input.key) {
            (req.input.metadata, req.input.cache_control) = (None, None);
        }
        let declared = part_checksums::declaration(&req.input)?;
        let mut out = self.inner.create_multipart_upload(req).await?;
        if let (Some(declared), Some(id)) = (declared, out.output.upload_id.as_deref()) {
            part_checksums::remember(&FsLayout::new(&self.root), id, &declared).await?;
            (out.output.checksum_algorithm, out.output.checksum_type) = {
                let (algorithm, kind) = part_checksums::answered(&declared);
                (Some(algorithm), Some(kind))
            };
        }
        Ok(out)
    }
    async fn upload_part(&self, mut req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let shared = match self.throttle() {
            Ok(()) => self.uploads.share(&req.input.bucket, &req.input.upload_id).await,
            Err(slow) => Err(slow),
        };
        match shared {
            Ok(_upload) => self.checked_part(req).await,
            Err(refused) => drain::answer_after_body(drain::lend(&mut req.input.body), Err(refused)).await,
        }
    }
    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.throttle()?;
        let _upload = self.uploads.share(&req.input.bucket, &req.input.upload_id).await?;
        self.inner.upload_part_copy(req).await
    }
    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.throttle()?;
        let _upload = self.uploads.share(&req.input.bucket, &req.input.upload_id).await?;
        let input = req.input.clone();
        let mut out = self.inner.list_parts(req).await?;
        out.output = self.uploads.page_parts(&input, out.output).await?;
        Ok(out)
    }
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.throttle()?;
        let _upload = self.uploads.close(&req.input.bucket, &req.input.upload_id).await?;
        self.inner.abort_multipart_upload(req).await
    }
    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.throttle()?;
        let layout = FsLayout::new(&self.root);
        let bucket_dir = layout.object_path(&req.input.bucket, "")?;
        let bucket = req.input.bucket.as_str();
        let hide = |key: &str| self.plan.hits(Fault::UploadListDrop, bucket, key);
        Ok(S3Response::new(super::upload_listing::list(&layout, &bucket_dir, &req.input, hide).await?))
    }
    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.inner.get_bucket_location(req).await
    }
}
