//! Flexible checksums on multipart uploads, which s3s-fs 0.14.1 ignores: it neither stores the algorithm and type
//! a CreateMultipartUpload declares, nor checks or answers a part's checksum, nor gives the completed object one.
//! The reference server does what S3 does:
//!
//! - CreateMultipartUpload declares an algorithm and a type (COMPOSITE, or FULL_OBJECT; CRC64NVME is full-object
//!   only, the SHAs composite only; CRC64NVME defaults to full-object, the rest to composite). The declaration is
//!   kept beside the upload's parts, under the prefix s3s-fs's own abort removes.
//! - UploadPart hashes the body as s3s-fs stores it, with the algorithm the part sends (header or `aws-chunked`
//!   trailer) or else the one its upload declared; a value that does not match is refused `BadDigest` and the part
//!   that number had before stays ([`super::rollback`]); the answer carries the part's checksum.
//! - CompleteMultipartUpload re-reads the listed parts before s3s-fs consumes them: a part listed with a checksum
//!   that is not its own is `InvalidPart`; the object gets the checksum of the part checksums, `-N` (COMPOSITE), or
//!   of its whole content (FULL_OBJECT), stored where s3s-fs keeps a PUT's checksum, so GET and HEAD (and versions,
//!   which archive that file) answer it.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use s3s::dto::{
    ChecksumAlgorithm, ChecksumType, CompleteMultipartUploadInput, CreateMultipartUploadInput, StreamingBlob,
    UploadPartInput,
};
use s3s::stream::{ByteStream, RemainingLength};
use s3s::{s3_error, S3Request, S3Result, StdError};
use tokio::io::AsyncReadExt as _;

use super::fs_layout::FsLayout;
use crate::checksum::{self, Algorithm, Declared};

/// The five checksum fields of an s3s input, output or completed part, in [`Algorithm::ALL`] order — as references
/// to read them, or (`set`: to `algorithm`'s `value`, the rest `None`) to write them.
macro_rules! checksum_fields {
    ($o:expr) => {
        [&$o.checksum_crc32, &$o.checksum_crc32c, &$o.checksum_crc64nvme, &$o.checksum_sha1, &$o.checksum_sha256]
    };
    ($o:expr, set $algorithm:expr, $value:expr) => {
        [$o.checksum_crc32, $o.checksum_crc32c, $o.checksum_crc64nvme, $o.checksum_sha1, $o.checksum_sha256] =
            $crate::target::part_checksums::fields($algorithm, $value)
    };
}
pub(super) use checksum_fields;

/// The algorithm and type `input` declares, as S3 reads them (`None`: it declares none).
pub fn declaration(input: &CreateMultipartUploadInput) -> S3Result<Option<Declared>> {
    let Some(algorithm) = &input.checksum_algorithm else {
        return match input.checksum_type {
            Some(_) => Err(s3_error!(InvalidRequest, "x-amz-checksum-type requires x-amz-checksum-algorithm")),
            None => Ok(None),
        };
    };
    let algorithm = Algorithm::parse(algorithm.as_str()).map_err(|why| s3_error!(InvalidRequest, "{why}"))?;
    let full_object = match input.checksum_type.as_ref().map(ChecksumType::as_str) {
        None => algorithm == Algorithm::Crc64Nvme,
        Some(ChecksumType::FULL_OBJECT) => true,
        Some(ChecksumType::COMPOSITE) => false,
        Some(other) => return Err(s3_error!(InvalidRequest, "unknown checksum type {other}")),
    };
    let declared = Declared { algorithm, full_object };
    match declared.valid() {
        true => Ok(Some(declared)),
        false => Err(s3_error!(
            InvalidRequest,
            "The {} checksum algorithm does not support the {} checksum type",
            declared.algorithm,
            declared.kind()
        )),
    }
}

/// The algorithm and type as a CreateMultipartUpload answer carries them.
pub fn answered(declared: &Declared) -> (ChecksumAlgorithm, ChecksumType) {
    (ChecksumAlgorithm::from(declared.algorithm.name().to_string()), ChecksumType::from(declared.kind().to_string()))
}

/// Where an upload's declaration lives: under `.upload_id-<id>`, whose files s3s-fs's abort removes (and which no
/// s3s-fs part listing reads: those start `.upload_id-<id>.part-`).
fn declaration_path(layout: &FsLayout, upload_id: &str) -> Option<PathBuf> {
    let id = uuid::Uuid::parse_str(upload_id).ok()?;
    Some(layout.root().join(format!(".upload_id-{id}.sfko-checksum.json")))
}

/// Keeps `declared` for the upload s3s-fs just created.
pub async fn remember(layout: &FsLayout, upload_id: &str, declared: &Declared) -> S3Result<()> {
    let path = declaration_path(layout, upload_id).ok_or_else(|| s3_error!(InternalError, "bad upload id"))?;
    let json = serde_json::to_vec(declared).map_err(|e| s3_error!(e, InternalError))?;
    tokio::fs::write(&path, json).await.map_err(|e| s3_error!(e, InternalError))
}

/// What the upload declared (`None`: nothing, or no such upload).
pub async fn declared(layout: &FsLayout, upload_id: &str) -> S3Result<Option<Declared>> {
    let Some(path) = declaration_path(layout, upload_id) else { return Ok(None) };
    match tokio::fs::read(&path).await {
        Ok(json) => serde_json::from_slice(&json).map(Some).map_err(|e| s3_error!(e, InternalError)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(s3_error!(e, InternalError)),
    }
}

/// Drops the declaration of a completed upload.
pub async fn forget(layout: &FsLayout, upload_id: &str) {
    if let Some(path) = declaration_path(layout, upload_id) {
        let _ = tokio::fs::remove_file(path).await;
    }
}

/// The checksum an UploadPart sends: its algorithm, and its value when it came as a header (a trailer's comes after
/// the body). `None`: it sends none.
pub fn part_sent(req: &S3Request<UploadPartInput>) -> S3Result<Option<(Algorithm, Option<String>)>> {
    let i = &req.input;
    let values = checksum_fields!(i);
    if let Some((algorithm, value)) = Algorithm::ALL.iter().zip(values).find_map(|(a, v)| Some((*a, v.clone()?))) {
        return Ok(Some((algorithm, Some(value))));
    }
    let named = match (&i.checksum_algorithm, req.headers.get("x-amz-trailer")) {
        (Some(algorithm), _) => algorithm.as_str().to_string(),
        (None, Some(trailer)) => match trailer.to_str().ok().and_then(|t| t.strip_prefix("x-amz-checksum-")) {
            Some(name) => name.to_string(),
            None => return Ok(None),
        },
        (None, None) => return Ok(None),
    };
    let algorithm = Algorithm::parse(&named).map_err(|why| s3_error!(InvalidRequest, "{why}"))?;
    Ok(Some((algorithm, None)))
}

/// The checksum header (or trailer) named for `algorithm`: `x-amz-checksum-crc64nvme`.
pub fn header_name(algorithm: Algorithm) -> String {
    format!("x-amz-checksum-{}", algorithm.name().to_ascii_lowercase())
}

/// The five checksum fields of an answer (in [`Algorithm::ALL`] order), with `value` in `algorithm`'s.
pub fn fields(algorithm: Algorithm, value: &str) -> [Option<String>; 5] {
    let mut fields: [Option<String>; 5] = Default::default();
    for (field, a) in fields.iter_mut().zip(Algorithm::ALL) {
        if *a == algorithm {
            *field = Some(value.to_string());
        }
    }
    fields
}

/// Hashes what s3s-fs reads of a body on its way through.
struct Hashing {
    body: StreamingBlob,
    hasher: Arc<Mutex<Option<checksum::Hasher>>>,
}

impl Stream for Hashing {
    type Item = Result<Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = Pin::new(&mut self.body).poll_next(cx);
        if let Poll::Ready(Some(Ok(bytes))) = &next {
            if let Some(hasher) = self.hasher.lock().ok().as_mut().and_then(|h| h.as_mut()) {
                hasher.update(bytes);
            }
        }
        next
    }
}

impl ByteStream for Hashing {
    fn remaining_length(&self) -> RemainingLength {
        self.body.remaining_length()
    }
}

/// The checksum of a body, once it has been read through [`hash_body`].
pub struct BodyChecksum(Arc<Mutex<Option<checksum::Hasher>>>);

impl BodyChecksum {
    pub fn value(&self) -> Option<String> {
        self.0.lock().ok()?.take().map(checksum::Hasher::finish)
    }
}

/// Swaps `body` for one that hashes what is read of it with `algorithm`.
pub fn hash_body(body: &mut Option<StreamingBlob>, algorithm: Algorithm) -> Option<BodyChecksum> {
    let original = body.take()?;
    let hasher = Arc::new(Mutex::new(Some(algorithm.hasher())));
    *body = Some(StreamingBlob::new(Hashing { body: original, hasher: hasher.clone() }));
    Some(BodyChecksum(hasher))
}

/// The checksum a completion gives the object of an upload that declared `declared`, from the parts `input` lists
/// (read before s3s-fs consumes them). A part listed with a checksum of the declared algorithm that is not its own
/// is refused `InvalidPart`, as S3 refuses a wrong ETag. Call after the part list was checked.
pub async fn of_completion(
    layout: &FsLayout,
    input: &CompleteMultipartUploadInput,
    declared: Declared,
) -> S3Result<String> {
    let parts = input.multipart_upload.as_ref().and_then(|m| m.parts.as_deref()).unwrap_or_default();
    let algorithm = declared.algorithm;
    let mut whole = algorithm.hasher();
    let mut of_parts = Vec::with_capacity(parts.len());
    let mut buf = vec![0u8; 1 << 20];
    for part in parts {
        let number = part.part_number.unwrap_or_default();
        let missing = || s3_error!(InvalidPart, "Part {number} was not uploaded");
        let path = layout.part_path(&input.upload_id, number).ok_or_else(missing)?;
        let mut file = tokio::fs::File::open(&path).await.map_err(|_| missing())?;
        let mut hasher = algorithm.hasher();
        loop {
            let n = file.read(&mut buf).await.map_err(|e| s3_error!(e, InternalError))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            if declared.full_object {
                whole.update(&buf[..n]);
            }
        }
        let value = hasher.finish();
        let listed = checksum_fields!(part);
        let claimed = Algorithm::ALL.iter().zip(listed).find_map(|(a, v)| (*a == algorithm).then_some(v.as_ref()));
        if claimed.flatten().is_some_and(|claimed| *claimed != value) {
            return Err(s3_error!(InvalidPart, "Part {number}'s {algorithm} checksum does not match the one listed"));
        }
        of_parts.push(value);
    }
    match declared.full_object {
        true => Ok(whole.finish()),
        false => {
            let values: Vec<&str> = of_parts.iter().map(String::as_str).collect();
            checksum::composite(algorithm, &values).ok_or_else(|| s3_error!(InternalError, "unreadable checksum"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(algorithm: Option<&str>, kind: Option<&str>) -> CreateMultipartUploadInput {
        let mut input = CreateMultipartUploadInput::builder().bucket("b".into()).key("k".into()).build().unwrap();
        input.checksum_algorithm = algorithm.map(|a| ChecksumAlgorithm::from(a.to_string()));
        input.checksum_type = kind.map(|k| ChecksumType::from(k.to_string()));
        input
    }

    #[test]
    fn declarations_follow_s3s_pairings_and_defaults() {
        let declared = |a, k| declaration(&create(a, k)).map(|d| d.map(|d| d.describe()));
        assert_eq!(declared(None, None).ok(), Some(None));
        assert_eq!(declared(Some("CRC32"), None).ok().flatten().as_deref(), Some("CRC32 COMPOSITE"));
        assert_eq!(declared(Some("CRC64NVME"), None).ok().flatten().as_deref(), Some("CRC64NVME FULL_OBJECT"));
        assert_eq!(declared(Some("CRC32C"), Some("FULL_OBJECT")).ok().flatten().as_deref(), Some("CRC32C FULL_OBJECT"));
        assert!(declared(Some("CRC64NVME"), Some("COMPOSITE")).is_err());
        assert!(declared(Some("SHA256"), Some("FULL_OBJECT")).is_err());
        assert!(declared(None, Some("COMPOSITE")).is_err());
        assert!(declared(Some("MD5"), None).is_err());
    }
}
