//! Drawing a `random-ops` program: a seeded sequence of S3 requests over a small key space, and its packing into
//! rounds of requests issued together.
//!
//! The program is a pure function of the plan (seed, options, buckets): it never depends on what the server answered.
//! Requests refer to earlier steps (the upload a part belongs to, the write whose version is read, the page a listing
//! continues) by step position; the runner maps positions to journal op indices when it issues them.

use std::collections::BTreeSet;

use crate::checksum::{Algorithm, Carrier, Declared, Sent};
use crate::content::{ContentKey, MIN_PART_SIZE};
use crate::journal::{Body, CompletedPart, DateCondition, Precondition, ReadCondition, Request};
use crate::metadata::Metadata;
use crate::scenario::{NastyKeys, RandomOpsSpec, OP_KINDS};
use crate::seed::Stream;

/// One drawn operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Position in the drawn sequence (stable under shrinking: `keep` lists these).
    pub n: u32,
    pub kind: &'static str,
    /// References are step positions, not op indices.
    pub request: Request,
}

/// Kinds that need a bucket with versioning.
const VERSIONED_KINDS: &[&str] = &["versioning", "list-versions", "get-version", "delete-version"];

/// Sizes around the boundaries servers get wrong.
const EDGE_SIZES: &[u64] =
    &[0, 1, 2, 15, 16, 17, 255, 256, 257, 1023, 1024, 1025, 4095, 4096, 4097, 65535, 65536, 65537];

/// A bucket as the generator sees it.
pub struct GenBucket {
    pub name: String,
    pub versioned: bool,
}

#[derive(Default)]
struct Upload {
    create: u32,
    bucket: usize,
    key: String,
    /// (part number, step), in upload order.
    parts: Vec<(u32, u32)>,
    /// Its last part was short: no more parts may follow it.
    sealed: bool,
    /// Completed or aborted (as far as the program knows).
    closed: bool,
    /// The checksum it declared: every part sends that algorithm's.
    checksum: Option<Declared>,
}

struct Generator<'a> {
    buckets: &'a [GenBucket],
    /// The checksum algorithms writes may send (the target's config may leave some out).
    checksums: &'a [Algorithm],
    keys: Vec<String>,
    stream: Stream,
    steps: Vec<Step>,
    uploads: Vec<Upload>,
    /// Steps that may have made a version: (bucket, key, step).
    versions: Vec<(usize, String, u32)>,
    /// PutObject steps, whose ETag an `If-Match` may name: (bucket, key, step).
    writes: Vec<(usize, String, u32)>,
    /// Which buckets have had versioning switched on by now: the scenario's versioned ones from the start, and a
    /// plain one from the first `versioning` step on it (so objects written before versioning existed become
    /// null versions, as on a real bucket switched over in use).
    versioned_now: Vec<bool>,
}

/// Draws `spec.ops` steps; writes send checksums of the `checksums` algorithms.
pub fn draw(spec: &RandomOpsSpec, buckets: &[GenBucket], checksums: &[Algorithm], stream: Stream) -> Vec<Step> {
    let mut stream = stream;
    let keys = key_space(spec, &mut stream);
    let mut generator = Generator {
        buckets,
        checksums,
        keys,
        stream,
        steps: Vec::new(),
        uploads: Vec::new(),
        versions: Vec::new(),
        writes: Vec::new(),
        versioned_now: buckets.iter().map(|b| b.versioned).collect(),
    };
    let any_versioned = buckets.iter().any(|b| b.versioned);
    let kinds: Vec<(&'static str, u64)> = OP_KINDS
        .iter()
        .map(|(kind, _)| (*kind, u64::from(spec.weight(kind))))
        .filter(|(kind, weight)| *weight > 0 && (any_versioned || !VERSIONED_KINDS.contains(kind)))
        .collect();
    let total: u64 = kinds.iter().map(|(_, w)| w).sum();
    if total == 0 || buckets.is_empty() {
        return Vec::new();
    }
    // A plan read from a journal is input like any other: keep its numbers within what a scenario may ask for.
    let ops = spec.ops.min(crate::scenario::RANDOM_OPS_MAX_OPS);
    while (generator.steps.len() as u64) < ops {
        let kind = weighted(&kinds, generator.stream.below(total));
        generator.step(kind);
    }
    generator.steps.truncate(ops as usize);
    generator.steps
}

/// The kind whose share of the cumulative weights holds `roll` (`roll` < the sum of the weights).
fn weighted(kinds: &[(&'static str, u64)], roll: u64) -> &'static str {
    let mut left = roll;
    for (kind, weight) in kinds {
        if left < *weight {
            return kind;
        }
        left -= weight;
    }
    "get"
}

/// The keys every bucket uses: few, so that operations collide (at least one, whatever the plan says).
pub fn key_space(spec: &RandomOpsSpec, stream: &mut Stream) -> Vec<String> {
    (0..spec.keys.clamp(1, crate::scenario::RANDOM_OPS_MAX_KEYS))
        .map(|i| {
            let kind = match spec.nasty_keys {
                NastyKeys::All => stream.below(11),
                NastyKeys::Portable => [0, 1, 2, 3, 4, 8, 10][stream.below(7) as usize],
                NastyKeys::Plain => [0, 1, 10][stream.below(3) as usize],
            };
            match kind {
                1 => format!("d{}/k{i}", i % 3),
                2 => format!("sp ace {i}"),
                3 => format!("plus+{i}"),
                4 => format!("pct%25{i}"),
                5 => format!("dbl//{i}"),
                6 => format!("dots/../{i}"),
                7 => format!("trail{i}/"),
                8 => format!("ünï/😀{i}"),
                9 => {
                    let mut key = format!("long{i}-");
                    while key.len() < 1024 {
                        key.push('x');
                    }
                    key
                }
                10 => format!("d{}/deep/k{i}", i % 3),
                _ => format!("k{i}"),
            }
        })
        .collect()
}

impl Generator<'_> {
    fn next_n(&self) -> u32 {
        self.steps.len() as u32
    }

    fn push(&mut self, kind: &'static str, request: Request) -> u32 {
        let n = self.next_n();
        self.steps.push(Step { n, kind, request });
        n
    }

    /// A bucket for a step of `kind`: any, for most kinds; one with versioning on by now, for the version kinds.
    /// A `versioning` change may pick any bucket — a plain one too, switched from never versioned to enabled or
    /// suspended — but only in a scenario with a versioned bucket, whose set-up proved the target has versioning.
    fn bucket(&mut self, kind: &str) -> Option<usize> {
        let versioned_only = VERSIONED_KINDS.contains(&kind) && kind != "versioning";
        let choices: Vec<usize> =
            (0..self.buckets.len()).filter(|&i| !versioned_only || self.versioned_now[i]).collect();
        self.stream.index(choices.len()).map(|i| choices[i])
    }

    fn key(&mut self) -> String {
        let i = self.stream.below(self.keys.len() as u64) as usize;
        self.keys[i].clone()
    }

    fn size(&mut self) -> u64 {
        let roll = self.stream.below(100);
        if roll < 45 {
            EDGE_SIZES[self.stream.below(EDGE_SIZES.len() as u64) as usize]
        } else if roll < 85 {
            self.stream.below(256 * 1024)
        } else if roll < 97 {
            (1 << 20) + self.stream.below(3) - 1
        } else {
            MIN_PART_SIZE + self.stream.below(3) - 1
        }
    }

    fn body(&mut self, len: u64) -> Body {
        Body { content: ContentKey(self.stream.key()), offset: 0, len }
    }

    /// The checksum a write sends: none about a third of the time (the old behaviour, and what older clients do),
    /// otherwise a header or a trailer of one allowed algorithm. Always three draws, so that restricting the
    /// algorithms leaves the rest of the program as it was.
    fn checksum(&mut self) -> Option<Sent> {
        let roll = self.stream.below(100);
        let pick = self.stream.below(self.checksums.len().max(1) as u64) as usize;
        let carrier = if self.stream.chance(1, 2) { Carrier::Header } else { Carrier::Trailer };
        let algorithm = *self.checksums.get(pick)?;
        (roll >= 35).then_some(Sent { algorithm, carrier, wrong: false })
    }

    /// The checksum a multipart upload declares: none about a third of the time, otherwise one allowed algorithm
    /// with a type S3 accepts for it (CRC32 and CRC32C either; CRC64NVME full-object, the SHAs composite only).
    /// Always three draws.
    fn declared_checksum(&mut self) -> Option<Declared> {
        let roll = self.stream.below(100);
        let pick = self.stream.below(self.checksums.len().max(1) as u64) as usize;
        let coin = self.stream.chance(1, 2);
        let algorithm = *self.checksums.get(pick)?;
        let full_object = match algorithm {
            Algorithm::Crc64Nvme => true,
            Algorithm::Sha1 | Algorithm::Sha256 => false,
            Algorithm::Crc32 | Algorithm::Crc32c => coin,
        };
        (roll >= 35).then_some(Declared { algorithm, full_object })
    }

    /// The checksum a part of an upload that declared `declared` sends: that algorithm's, as a header or a
    /// trailer, or (`wrong`) a wrong header, which the server must refuse, keeping the part it had.
    fn part_checksum(&mut self, declared: Option<Declared>, wrong: bool) -> Option<Sent> {
        let algorithm = declared?.algorithm;
        let carrier = if self.stream.chance(1, 2) { Carrier::Header } else { Carrier::Trailer };
        Some(match wrong {
            true => Sent { algorithm, carrier: Carrier::Header, wrong: true },
            false => Sent { algorithm, carrier, wrong: false },
        })
    }

    /// A seeded earlier PutObject step of bucket `b` (its key and step), whose ETag a conditional request names.
    fn earlier_write(&mut self, b: usize) -> Option<(String, u32)> {
        let mine: Vec<usize> = (0..self.writes.len()).filter(|&i| self.writes[i].0 == b).collect();
        let i = self.stream.index(mine.len())?;
        let (_, key, step) = self.writes[mine[i]].clone();
        Some((key, step))
    }

    /// A seeded metadata set for a write, one time in `one_in`.
    fn metadata(&mut self, one_in: u64) -> Option<Box<Metadata>> {
        self.stream.chance(1, one_in).then(|| Box::new(Metadata::draw(&mut self.stream)))
    }

    fn remember_version(&mut self, bucket: usize, key: &str, step: u32) {
        if self.versioned_now[bucket] {
            self.versions.push((bucket, key.to_string(), step));
        }
    }

    /// Draws one step of `kind` (or of a kind it falls back to when its prerequisites are missing).
    fn step(&mut self, kind: &'static str) {
        let Some(b) = self.bucket(kind) else { return self.step("get") };
        let bucket = self.buckets[b].name.clone();
        match kind {
            "put" | "put-if-absent" => {
                let key = self.key();
                let size = self.size();
                let body = self.body(size);
                let checksum = self.checksum();
                let precondition = (kind == "put-if-absent").then_some(Precondition::Absent);
                let metadata = self.metadata(3);
                let request = Request::PutObject { bucket, key: key.clone(), body, checksum, precondition, metadata };
                let n = self.push(kind, request);
                self.remember_version(b, &key, n);
                self.writes.push((b, key, n));
            }
            "put-if-match" => {
                let Some((key, etag_op)) = self.earlier_write(b) else { return self.step("put") };
                let size = self.size();
                let body = self.body(size);
                let checksum = self.checksum();
                let precondition = Some(Precondition::Matches { etag_op: u64::from(etag_op) });
                let metadata = self.metadata(3);
                let request = Request::PutObject { bucket, key: key.clone(), body, checksum, precondition, metadata };
                let n = self.push(kind, request);
                self.remember_version(b, &key, n);
                self.writes.push((b, key, n));
            }
            "get-if" => {
                // If-Match or If-None-Match with the ETag an earlier write of the key got back (current or not);
                // one in three adds a date precondition, and one in six sends only one.
                let Some((key, etag_op)) = self.earlier_write(b) else { return self.step("get") };
                let etag_op = u64::from(etag_op);
                let mut condition = Some(match self.stream.chance(1, 2) {
                    true => ReadCondition::Matches { etag_op },
                    false => ReadCondition::Differs { etag_op },
                });
                let dates = [
                    DateCondition::ModifiedSinceLongAgo,
                    DateCondition::UnmodifiedSinceLongAgo,
                    DateCondition::UnmodifiedSinceFarAhead,
                ];
                let date = dates[self.stream.below(3) as usize];
                let date = match self.stream.below(6) {
                    0 => {
                        condition = None;
                        Some(date)
                    }
                    1 | 2 => Some(date),
                    _ => None,
                };
                let head = self.stream.chance(1, 3);
                self.push(kind, Request::ReadIf { bucket, key, condition, date, head });
            }
            "bad-checksum" => {
                let key = self.key();
                let size = self.size();
                let body = self.body(size);
                let pick = self.stream.below(self.checksums.len().max(1) as u64) as usize;
                let Some(&algorithm) = self.checksums.get(pick) else { return self.step("put") };
                let checksum = Some(Sent { algorithm, carrier: Carrier::Header, wrong: true });
                // Refused, it makes no version; were it accepted, the model forgets the key.
                self.push(kind, Request::PutObject { bucket, key, body, checksum, precondition: None, metadata: None });
            }
            "get" | "head" | "get-range" | "bad-range" => {
                let key = self.key();
                let request = match kind {
                    "head" => Request::HeadObject { bucket, key },
                    "get" => Request::GetObject { bucket, key, range: None },
                    "bad-range" => Request::GetObject { bucket, key, range: Some((1 << 40, (1 << 40) + 99)) },
                    _ => {
                        let starts = [0, 1, 100, 4095, 4096, 65536, self.stream.below(70_000)];
                        let lens = [1, 2, 100, 4096, self.stream.below(100_000) + 1];
                        let start = starts[self.stream.below(starts.len() as u64) as usize];
                        let len = lens[self.stream.below(lens.len() as u64) as usize];
                        Request::GetObject { bucket, key, range: Some((start, start + len - 1)) }
                    }
                };
                self.push(kind, request);
            }
            "get-part" => {
                // Mostly a key some upload of this bucket was for, so that completed objects are read by part.
                let uploaded: Vec<usize> = (0..self.uploads.len()).filter(|&i| self.uploads[i].bucket == b).collect();
                let key = match self.stream.index(uploaded.len()) {
                    Some(i) if self.stream.chance(3, 4) => self.uploads[uploaded[i]].key.clone(),
                    _ => self.key(),
                };
                let part_number = 1 + self.stream.below(3) as u32;
                let head = self.stream.chance(1, 2);
                self.push(kind, Request::GetObjectPart { bucket, key, part_number, head });
            }
            "delete" => {
                let key = self.key();
                let n = self.push(kind, Request::DeleteObject { bucket, key: key.clone() });
                self.remember_version(b, &key, n);
            }
            "delete-if-match" => {
                let Some((key, etag_op)) = self.earlier_write(b) else { return self.step("delete") };
                let n =
                    self.push(kind, Request::DeleteObjectIf { bucket, key: key.clone(), etag_op: u64::from(etag_op) });
                self.remember_version(b, &key, n);
            }
            "delete-batch" => {
                // Distinct keys, existing or not (a batch delete of a missing key reports it deleted, as S3 does).
                let wanted = 1 + self.stream.below(self.keys.len().min(6) as u64) as usize;
                let mut keys: Vec<String> = Vec::with_capacity(wanted);
                for _ in 0..wanted * 2 {
                    let key = self.key();
                    if keys.len() < wanted && !keys.contains(&key) {
                        keys.push(key);
                    }
                }
                let quiet = self.stream.chance(1, 2);
                // On a versioned bucket, one key in three names a version an earlier step made of it: that version
                // goes for good (a delete marker too), as by DeleteObject with a version id.
                let mut version_ops = Vec::new();
                if self.versioned_now[b] {
                    for key in &keys {
                        let made: Vec<u32> = self
                            .versions
                            .iter()
                            .filter(|(vb, vk, _)| *vb == b && vk == key)
                            .map(|(_, _, step)| *step)
                            .collect();
                        let pick = self.stream.index(made.len()).filter(|_| self.stream.chance(1, 3));
                        version_ops.push(pick.map(|i| u64::from(made[i])));
                    }
                    if version_ops.iter().all(Option::is_none) {
                        version_ops.clear();
                    }
                }
                // No version is remembered: each key's delete marker has its own id, which no later step names.
                self.push(kind, Request::DeleteObjects { bucket, keys, quiet, version_ops });
            }
            "copy" => {
                let source_key = self.key();
                let key = self.key();
                let other = if self.buckets.len() > 1 && self.stream.chance(1, 4) { self.bucket("copy") } else { None };
                let (source_b, source_bucket) = match other {
                    Some(o) => (o, self.buckets[o].name.clone()),
                    None => (b, bucket.clone()),
                };
                if source_b == b && source_key == key {
                    return self.step("put");
                }
                // Mostly no directive (the copy keeps the source's metadata), sometimes REPLACE with a new set.
                let metadata = self.metadata(4);
                let copy = Request::CopyObject { bucket, key: key.clone(), source_bucket, source_key, metadata };
                let n = self.push(kind, copy);
                self.remember_version(b, &key, n);
            }
            "list" => self.list(bucket, false),
            "list-v1" => self.list(bucket, true),
            "mpu-create" => {
                let key = self.key();
                let metadata = self.metadata(3);
                let checksum = self.declared_checksum();
                let request = Request::CreateMultipartUpload { bucket, key: key.clone(), metadata, checksum };
                let create = self.push(kind, request);
                self.uploads.push(Upload { create, bucket: b, key, checksum, ..Upload::default() });
            }
            "mpu-part" | "bad-part-checksum" => self.upload_part(kind),
            "mpu-complete" | "bad-complete" | "mpu-complete-if-absent" => self.complete(kind),
            "mpu-abort" | "mpu-late" => {
                let late = kind == "mpu-late";
                if late && self.stream.chance(1, 2) {
                    return self.upload_part(kind);
                }
                let candidates: Vec<usize> =
                    (0..self.uploads.len()).filter(|&i| self.uploads[i].closed == late).collect();
                let Some(i) = self.stream.index(candidates.len()) else { return self.step("mpu-create") };
                let upload = &mut self.uploads[candidates[i]];
                upload.closed = true;
                let request = Request::AbortMultipartUpload {
                    bucket: self.buckets[upload.bucket].name.clone(),
                    key: upload.key.clone(),
                    create_op: u64::from(upload.create),
                };
                self.push(kind, request);
            }
            "versioning" => {
                let enabled = self.stream.chance(1, 2);
                self.push(kind, Request::PutBucketVersioning { bucket, enabled });
                self.versioned_now[b] = true;
            }
            "list-versions" => self.list_versions(bucket),
            "get-version" | "delete-version" => {
                let mine: Vec<usize> = (0..self.versions.len()).filter(|&i| self.versions[i].0 == b).collect();
                let Some(i) = self.stream.index(mine.len()) else { return self.step("put") };
                let (_, mut key, step) = self.versions[mine[i]].clone();
                if kind == "delete-version" && self.stream.chance(1, 5) {
                    // Another key's version id: one this key does not hold (S3 answers 204 and deletes nothing).
                    key = self.key();
                }
                let version_op = u64::from(step);
                let request = if kind == "get-version" {
                    Request::GetObjectVersion { bucket, key, version_op }
                } else {
                    Request::DeleteObjectVersion { bucket, key, version_op }
                };
                self.push(kind, request);
            }
            _ => {}
        }
    }

    fn prefix(&mut self) -> Option<String> {
        match self.stream.below(4) {
            0 => None,
            1 => Some("d0/".into()),
            2 => {
                let key = self.key();
                Some(key.chars().take(1).collect())
            }
            _ => {
                let key = self.key();
                let cut = key.char_indices().map(|(i, _)| i).nth(1 + self.stream.below(4) as usize);
                Some(cut.map_or(key.clone(), |at| key[..at].to_string()))
            }
        }
    }

    /// A listing (ListObjectsV2, or `v1`: ListObjects), maybe in small pages: the continuation pages are steps of
    /// their own.
    fn list(&mut self, bucket: String, v1: bool) {
        let prefix = self.prefix();
        let delimiter = self.stream.chance(1, 2).then(|| "/".to_string());
        let max_keys = [1u32, 2, 3, 1000][self.stream.below(4) as usize];
        let mut after_op = None;
        let pages = if max_keys < 1000 { 1 + self.stream.below(3) } else { 1 };
        // One V2 listing in three asks for url-encoded keys (nasty keys are where servers get the encoding wrong).
        let url = !v1 && self.stream.chance(1, 3);
        // One in four asks for owners, as `aws s3api list-objects-v2 --fetch-owner` does: the entries stay the same.
        let fetch_owner = !v1 && self.stream.chance(1, 4);
        // One undelimited V2 listing in three starts after a key (existing or not), as a client resuming a walk
        // does; the SDK's paginator repeats it on every page, beside the continuation token, and so does this.
        let start_after = (!v1 && delimiter.is_none() && self.stream.chance(1, 3)).then(|| self.key());
        for _ in 0..pages {
            let (bucket, prefix, delimiter, max_keys, start_after) =
                (bucket.clone(), prefix.clone(), delimiter.clone(), Some(max_keys), start_after.clone());
            let (kind, request) = match v1 {
                false => (
                    "list",
                    Request::ListObjectsV2 {
                        bucket,
                        prefix,
                        delimiter,
                        max_keys,
                        start_after,
                        after_op,
                        url,
                        fetch_owner,
                    },
                ),
                true => ("list-v1", Request::ListObjects { bucket, prefix, delimiter, max_keys, after_op }),
            };
            after_op = Some(u64::from(self.push(kind, request)));
        }
    }

    /// A version listing, maybe in small pages continued by the markers the page before gave (`key-marker`,
    /// `version-id-marker`).
    fn list_versions(&mut self, bucket: String) {
        let prefix = self.prefix();
        let max_keys = [None, Some(1u32), Some(2), Some(3)][self.stream.below(4) as usize];
        let pages = if max_keys.is_some() { 1 + self.stream.below(3) } else { 1 };
        let mut after_op = None;
        for _ in 0..pages {
            let request =
                Request::ListObjectVersions { bucket: bucket.clone(), prefix: prefix.clone(), max_keys, after_op };
            after_op = Some(u64::from(self.push("list-versions", request)));
        }
    }

    /// A part for an open upload (`mpu-part`), one with a wrong checksum for an open upload that declared one
    /// (`bad-part-checksum`), or one for an upload already completed or aborted (`mpu-late`); the server must refuse
    /// the last two.
    fn upload_part(&mut self, kind: &'static str) {
        let wrong = kind == "bad-part-checksum";
        let candidates: Vec<usize> = (0..self.uploads.len())
            .filter(|&i| {
                let upload = &self.uploads[i];
                match kind {
                    "mpu-late" => upload.closed,
                    "bad-part-checksum" => !upload.closed && upload.checksum.is_some(),
                    _ => !upload.closed && !upload.sealed,
                }
            })
            .collect();
        let Some(i) = self.stream.index(candidates.len()) else {
            // No upload to send a wrong checksum to (none open declared one): a plain read instead.
            return self.step(if wrong { "get" } else { "mpu-create" });
        };
        let u = candidates[i];
        let reupload = !self.uploads[u].parts.is_empty() && self.stream.chance(1, 10);
        let part_number = if reupload {
            let parts = &self.uploads[u].parts;
            parts[self.stream.below(parts.len() as u64) as usize].0
        } else {
            self.uploads[u].parts.iter().map(|p| p.0).max().unwrap_or(0) + 1
        };
        let roll = self.stream.below(100);
        let (size, last) = match roll {
            0..=79 => (MIN_PART_SIZE, false),
            80..=84 => (MIN_PART_SIZE + 1, false),
            85..=92 => (1, true),
            _ => (self.stream.below(64 * 1024), true),
        };
        let body = self.body(size);
        let checksum = self.part_checksum(self.uploads[u].checksum, wrong);
        let upload = &self.uploads[u];
        let request = Request::UploadPart {
            bucket: self.buckets[upload.bucket].name.clone(),
            key: upload.key.clone(),
            create_op: u64::from(upload.create),
            part_number,
            body,
            checksum,
        };
        let n = self.push(kind, request);
        if wrong {
            return; // refused: the upload keeps the parts it had
        }
        let upload = &mut self.uploads[u];
        upload.parts.retain(|p| p.0 != part_number);
        upload.parts.push((part_number, n));
        // A short part must be the last; a re-uploaded one may shorten a middle part, which the model judges.
        upload.sealed |= last && !reupload;
    }

    /// A CompleteMultipartUpload of an open upload: with its parts in order (`mpu-complete`; `If-None-Match: *` for
    /// `mpu-complete-if-absent`), or with a part list S3 refuses (`bad-complete`).
    fn complete(&mut self, kind: &'static str) {
        let bad = kind == "bad-complete";
        let precondition = (kind == "mpu-complete-if-absent").then_some(Precondition::Absent);
        let candidates: Vec<usize> =
            (0..self.uploads.len()).filter(|&i| !self.uploads[i].closed && !self.uploads[i].parts.is_empty()).collect();
        let Some(i) = self.stream.index(candidates.len()) else { return self.step("mpu-part") };
        let u = candidates[i];
        let mut parts: Vec<CompletedPart> = self.uploads[u]
            .parts
            .iter()
            .map(|(number, step)| CompletedPart { part_number: *number, upload_part_op: u64::from(*step) })
            .collect();
        parts.sort_by_key(|p| p.part_number);
        if bad {
            if parts.len() >= 2 && self.stream.chance(1, 2) {
                parts.reverse(); // InvalidPartOrder
            } else if let Some(first) = parts.first().copied() {
                // InvalidPart: a part number never uploaded, with a real part's ETag.
                let missing = parts.iter().map(|p| p.part_number).max().unwrap_or(0) + 1;
                parts.push(CompletedPart { part_number: missing, upload_part_op: first.upload_part_op });
            }
        }
        let upload = &mut self.uploads[u];
        let (bucket, key, create) = (upload.bucket, upload.key.clone(), upload.create);
        if !bad {
            upload.closed = true;
        }
        let request = Request::CompleteMultipartUpload {
            bucket: self.buckets[bucket].name.clone(),
            key: key.clone(),
            create_op: u64::from(create),
            parts,
            precondition,
        };
        let n = self.push(kind, request);
        if !bad {
            self.remember_version(bucket, &key, n);
        }
    }
}

/// The steps a request refers to (as positions).
pub fn references(request: &Request) -> Vec<u64> {
    match request {
        Request::UploadPart { create_op, .. } | Request::AbortMultipartUpload { create_op, .. } => vec![*create_op],
        Request::CompleteMultipartUpload { create_op, parts, precondition, .. } => {
            let mut refs = vec![*create_op];
            refs.extend(parts.iter().map(|p| p.upload_part_op));
            if let Some(Precondition::Matches { etag_op }) = precondition {
                refs.push(*etag_op);
            }
            refs
        }
        Request::GetObjectVersion { version_op, .. } | Request::DeleteObjectVersion { version_op, .. } => {
            vec![*version_op]
        }
        Request::ListObjectsV2 { after_op, .. }
        | Request::ListObjects { after_op, .. }
        | Request::ListObjectVersions { after_op, .. } => after_op.iter().copied().collect(),
        Request::PutObject { precondition: Some(Precondition::Matches { etag_op }), .. }
        | Request::DeleteObjectIf { etag_op, .. } => vec![*etag_op],
        Request::ReadIf { condition, .. } => condition.iter().map(|c| c.etag_op()).collect(),
        Request::DeleteObjects { version_ops, .. } => version_ops.iter().flatten().copied().collect(),
        _ => Vec::new(),
    }
}

/// Rewrites every reference of `request` through `map`; `None` if one cannot be mapped.
pub fn remap(request: &Request, map: impl Fn(u64) -> Option<u64>) -> Option<Request> {
    let mut request = request.clone();
    match &mut request {
        Request::UploadPart { create_op, .. } | Request::AbortMultipartUpload { create_op, .. } => {
            *create_op = map(*create_op)?
        }
        Request::CompleteMultipartUpload { create_op, parts, precondition, .. } => {
            *create_op = map(*create_op)?;
            for part in parts {
                part.upload_part_op = map(part.upload_part_op)?;
            }
            if let Some(Precondition::Matches { etag_op }) = precondition {
                *etag_op = map(*etag_op)?;
            }
        }
        Request::GetObjectVersion { version_op, .. } | Request::DeleteObjectVersion { version_op, .. } => {
            *version_op = map(*version_op)?
        }
        Request::ListObjectsV2 { after_op: Some(op), .. }
        | Request::ListObjects { after_op: Some(op), .. }
        | Request::ListObjectVersions { after_op: Some(op), .. } => *op = map(*op)?,
        Request::PutObject { precondition: Some(Precondition::Matches { etag_op }), .. }
        | Request::DeleteObjectIf { etag_op, .. } => *etag_op = map(*etag_op)?,
        Request::ReadIf { condition, .. } => {
            *condition = match *condition {
                Some(ReadCondition::Matches { etag_op }) => Some(ReadCondition::Matches { etag_op: map(etag_op)? }),
                Some(ReadCondition::Differs { etag_op }) => Some(ReadCondition::Differs { etag_op: map(etag_op)? }),
                None => None,
            }
        }
        Request::DeleteObjects { version_ops, .. } => {
            for op in version_ops.iter_mut().flatten() {
                *op = map(*op)?;
            }
        }
        _ => {}
    }
    Some(request)
}

/// What a step touches, for packing rounds.
#[derive(Default)]
struct Footprint {
    reads: Vec<(String, String)>,
    writes: Vec<(String, String)>,
    /// Listings: read every key of the bucket.
    scans: Option<String>,
    /// Versioning changes: touch everything in the bucket.
    toggles: Option<String>,
    upload: Option<u64>,
    copy: bool,
    /// A batch delete: it may race one other op at most (its keys are deleted one by one, in an order the server
    /// chooses, so two racing partners could see it in any combination of orders, which the model does not try).
    batch: bool,
}

impl Footprint {
    fn shares_key(&self, other: &Footprint) -> bool {
        self.reads.iter().chain(&self.writes).any(|k| other.reads.contains(k) || other.writes.contains(k))
    }
}

fn footprint(step: &Step) -> Footprint {
    let key = |b: &String, k: &String| (b.clone(), k.clone());
    let mut f = Footprint::default();
    match &step.request {
        Request::PutObject { bucket, key: k, .. }
        | Request::DeleteObject { bucket, key: k }
        | Request::DeleteObjectIf { bucket, key: k, .. }
        | Request::DeleteObjectVersion { bucket, key: k, .. } => f.writes.push(key(bucket, k)),
        Request::DeleteObjects { bucket, keys, .. } => {
            f.writes.extend(keys.iter().map(|k| key(bucket, k)));
            f.batch = true;
        }
        Request::GetObject { bucket, key: k, .. }
        | Request::HeadObject { bucket, key: k }
        | Request::ReadIf { bucket, key: k, .. }
        | Request::GetObjectPart { bucket, key: k, .. }
        | Request::GetObjectVersion { bucket, key: k, .. } => f.reads.push(key(bucket, k)),
        Request::CopyObject { bucket, key: k, source_bucket, source_key, .. } => {
            f.writes.push(key(bucket, k));
            f.reads.push(key(source_bucket, source_key));
            f.copy = true;
        }
        Request::CreateMultipartUpload { .. } => f.upload = Some(u64::from(step.n)),
        Request::UploadPart { create_op, .. } | Request::AbortMultipartUpload { create_op, .. } => {
            f.upload = Some(*create_op)
        }
        Request::CompleteMultipartUpload { bucket, key: k, create_op, .. } => {
            f.upload = Some(*create_op);
            f.writes.push(key(bucket, k));
        }
        Request::ListObjectsV2 { bucket, .. }
        | Request::ListObjects { bucket, .. }
        | Request::ListObjectVersions { bucket, .. } => f.scans = Some(bucket.clone()),
        Request::PutBucketVersioning { bucket, .. } => f.toggles = Some(bucket.clone()),
        _ => {}
    }
    f
}

/// Packs steps (in order) into rounds of at most `concurrency` that may be issued together: nothing in a round
/// depends on another op of it, a listing shares its round with no write to its bucket, and each key is touched by
/// at most two ops of a round (a *race*, judged in both orders). Copies and versioning changes never race.
pub fn rounds(steps: &[Step], concurrency: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut prints: Vec<Footprint> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let print = footprint(step);
        let refs: BTreeSet<u64> = references(&step.request).into_iter().collect();
        let fits = current.len() < concurrency.max(1)
            && !current.iter().any(|&j| refs.contains(&u64::from(steps[j].n)))
            && prints.iter().all(|other| compatible(&print, other))
            && print.reads.iter().chain(&print.writes).all(|k| touching(&prints, k) < 2)
            && batches_race_once(&prints, &print);
        if !fits && !current.is_empty() {
            out.push(std::mem::take(&mut current));
            prints.clear();
        }
        current.push(i);
        prints.push(print);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Pairs of positions in `round` that touch the same key, at least one of them writing: the races the model judges
/// in both orders. (Packing keeps copies and versioning changes out of races.)
pub fn races(steps: &[Step], round: &[usize]) -> Vec<(usize, usize)> {
    let prints: Vec<Footprint> = round.iter().map(|&i| footprint(&steps[i])).collect();
    let mut out = Vec::new();
    for a in 0..prints.len() {
        for b in a + 1..prints.len() {
            let (x, y) = (&prints[a], &prints[b]);
            let writes_into =
                |w: &Footprint, o: &Footprint| w.writes.iter().any(|k| o.reads.contains(k) || o.writes.contains(k));
            if writes_into(x, y) || writes_into(y, x) {
                out.push((a, b));
            }
        }
    }
    out
}

/// Whether `print` may join a round of `prints` with every batch delete in it racing one other op at most.
fn batches_race_once(prints: &[Footprint], print: &Footprint) -> bool {
    let partners = |p: &Footprint| prints.iter().filter(|o| !std::ptr::eq(*o, p) && o.shares_key(p)).count();
    if print.batch && partners(print) > 1 {
        return false;
    }
    prints.iter().filter(|b| b.batch && b.shares_key(print)).all(|b| partners(b) == 0)
}

fn touching(prints: &[Footprint], key: &(String, String)) -> usize {
    prints.iter().filter(|p| p.reads.contains(key) || p.writes.contains(key)).count()
}

fn compatible(a: &Footprint, b: &Footprint) -> bool {
    let bucket_of = |f: &Footprint| -> Vec<String> { f.reads.iter().chain(&f.writes).map(|k| k.0.clone()).collect() };
    let writes_in = |f: &Footprint, bucket: &str| f.writes.iter().any(|k| k.0 == bucket) || f.upload.is_some();
    let shares_key = a.shares_key(b);
    if a.upload.is_some() && a.upload == b.upload {
        return false;
    }
    if (a.copy || b.copy) && shares_key {
        return false;
    }
    for (x, y) in [(a, b), (b, a)] {
        if let Some(bucket) = &x.scans {
            if writes_in(y, bucket) || y.toggles.as_ref() == Some(bucket) {
                return false;
            }
        }
        if let Some(bucket) = &x.toggles {
            if bucket_of(y).contains(bucket) || y.scans.is_some() || y.toggles.is_some() || y.upload.is_some() {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Seed;

    fn buckets() -> Vec<GenBucket> {
        vec![GenBucket { name: "a".into(), versioned: false }, GenBucket { name: "b".into(), versioned: true }]
    }

    fn program_digest(steps: &[Step]) -> String {
        let requests: Vec<&Request> = steps.iter().map(|s| &s.request).collect();
        let bytes = bincode::serde::encode_to_vec(&requests, bincode::config::standard()).unwrap();
        blake3::hash(&bytes).to_hex().to_string()
    }

    /// Pins seed → program: if this changes, old seeds run different operations. Bump PLAN_FORMAT.
    #[test]
    fn the_program_is_a_function_of_the_seed() {
        let spec = RandomOpsSpec { nasty_keys: NastyKeys::All, ..RandomOpsSpec::default() };
        let one = draw(&spec, &buckets(), Algorithm::ALL, Seed(1).stream("random-ops", &[0]));
        let again = draw(&spec, &buckets(), Algorithm::ALL, Seed(1).stream("random-ops", &[0]));
        let other = draw(&spec, &buckets(), Algorithm::ALL, Seed(2).stream("random-ops", &[0]));
        assert_eq!(one, again);
        assert_ne!(one, other);
        assert_eq!(one.len(), spec.ops as usize);
        assert_eq!(program_digest(&one), GOLDEN_PROGRAM);
    }

    const GOLDEN_PROGRAM: &str = "4e3c1c5ffbcc6345ce5fb09e22520aa9608bb70e6ebde711073422e90de4c029";

    /// A plain bucket beside a versioned one may be switched to versioning mid-run, with objects written before;
    /// the version kinds follow it from then on, never before.
    #[test]
    fn a_plain_bucket_is_switched_to_versioning_in_use() {
        let spec = RandomOpsSpec { ops: 2_000, ..RandomOpsSpec::default() };
        let on_a = |s: &Step| s.request.subject().starts_with("a/") || s.request.subject() == "a";
        // The first of a few seeds whose 2,000 steps switch it (the draw makes that likely, not certain).
        let (steps, switch) = (1..=8)
            .map(|seed| draw(&spec, &buckets(), Algorithm::ALL, Seed(seed).stream("random-ops", &[0])))
            .find_map(|steps| {
                let switch = steps.iter().position(|s| s.kind == "versioning" && on_a(s))?;
                Some((steps, switch))
            })
            .expect("the plain bucket is switched in 2,000 steps of one of 8 seeds");
        assert!(steps[..switch].iter().any(|s| s.kind == "put" && on_a(s)), "objects are written before the switch");
        let versioned_kinds = |s: &&Step| VERSIONED_KINDS.contains(&s.kind) && s.kind != "versioning" && on_a(s);
        assert_eq!(steps[..switch].iter().filter(versioned_kinds).count(), 0, "no version kind before the switch");
        assert!(steps[switch..].iter().filter(versioned_kinds).count() > 0, "version kinds on it after the switch");
        let plain_only = [GenBucket { name: "a".into(), versioned: false }];
        let steps = draw(&spec, &plain_only, Algorithm::ALL, Seed(3).stream("random-ops", &[0]));
        assert!(!steps.iter().any(|s| s.kind == "versioning"), "a scenario without versioning never switches it on");
    }

    #[test]
    fn rounds_keep_dependencies_and_listings_apart() {
        let spec = RandomOpsSpec { ops: 2_000, concurrency: 8, keys: 3, ..RandomOpsSpec::default() };
        let steps = draw(&spec, &buckets(), Algorithm::ALL, Seed(7).stream("random-ops", &[0]));
        let rounds = rounds(&steps, 8);
        assert_eq!(rounds.iter().map(Vec::len).sum::<usize>(), steps.len());
        assert!(rounds.iter().any(|r| r.len() > 1), "something runs concurrently");
        assert!(steps.iter().any(|s| s.kind == "delete-batch"), "the default weights draw batch deletes");
        for round in &rounds {
            assert!(round.len() <= 8);
            let numbers: BTreeSet<u64> = round.iter().map(|&i| u64::from(steps[i].n)).collect();
            for &i in round {
                assert!(references(&steps[i].request).iter().all(|r| !numbers.contains(r)), "{:?}", steps[i]);
                let print = footprint(&steps[i]);
                if print.batch {
                    let partners = round.iter().filter(|&&j| j != i && footprint(&steps[j]).shares_key(&print));
                    assert!(partners.count() <= 1, "a batch delete races one op at most: {:?}", steps[i]);
                }
                if let Some(bucket) = print.scans {
                    let writers = round.iter().filter(|&&j| footprint(&steps[j]).writes.iter().any(|k| k.0 == bucket));
                    assert_eq!(writers.count(), 0, "a listing shares its round with a write to its bucket");
                }
            }
        }
    }

    #[test]
    fn a_plan_from_a_journal_cannot_ask_for_no_keys() {
        let spec = RandomOpsSpec { ops: 50, keys: 0, ..RandomOpsSpec::default() };
        let steps = draw(&spec, &buckets(), Algorithm::ALL, Seed(5).stream("random-ops", &[0]));
        assert_eq!(steps.len(), 50);
    }

    #[test]
    fn nasty_keys_include_the_classics() {
        let spec = RandomOpsSpec { keys: 200, nasty_keys: NastyKeys::All, ..RandomOpsSpec::default() };
        let keys = key_space(&spec, &mut Seed(3).stream("keys", &[]));
        for needle in ["+", "%", "//", "/../", " ", "😀"] {
            assert!(keys.iter().any(|k| k.contains(needle)), "{needle}");
        }
        assert!(keys.iter().any(|k| k.ends_with('/')));
        assert!(keys.iter().any(|k| k.len() == 1024));
    }
}
