//! Object content: generated from a 32-byte content key, never stored.
//!
//! The bytes of an object are the blake3 XOF output keyed by its content key, so any range can be produced in O(1)
//! (seek) and the same key yields the same bytes forever, on every machine. Digests (blake3 over the content, MD5 for
//! the S3 ETag, per-part MD5s for multipart ETags) are computed by streaming the content through the hashers in
//! fixed-size chunks: a 100 GiB object never sits in memory.

use bytes::Bytes;
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};

/// Chunk size used when streaming content through hashers.
const CHUNK: usize = 1 << 20;

/// S3's minimum part size (every part but the last must be at least this big).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// S3's maximum number of parts in one multipart upload.
pub const MAX_PARTS: u64 = 10_000;

/// The key all of an object version's bytes derive from.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContentKey(pub [u8; 32]);

impl std::fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ContentKey({})", &hex::encode(self.0)[..16])
    }
}

/// A blake3 digest, shown as hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl From<blake3::Hash> for Digest {
    fn from(hash: blake3::Hash) -> Digest {
        Digest(*hash.as_bytes())
    }
}

/// The content key of version `n` of an object (version 0 is the object's own key): derived, so every version's
/// bytes are as reproducible as the first's.
pub fn version_key(base: &ContentKey, n: u64) -> ContentKey {
    if n == 0 {
        return *base;
    }
    ContentKey(*blake3::keyed_hash(&base.0, &n.to_le_bytes()).as_bytes())
}

/// Writes `buf.len()` content bytes starting at `offset` into `buf`.
pub fn fill(key: &ContentKey, offset: u64, buf: &mut [u8]) {
    let mut xof = blake3::Hasher::new_keyed(&key.0).finalize_xof();
    xof.set_position(offset);
    xof.fill(buf);
}

/// `len` content bytes starting at `offset`, as one buffer (used for request bodies, at most one part in size).
pub fn bytes(key: &ContentKey, offset: u64, len: u64) -> Bytes {
    let mut buf = vec![0u8; len as usize];
    fill(key, offset, &mut buf);
    Bytes::from(buf)
}

/// How an object is cut into multipart-upload parts: equal parts of `part_size`, the last one shorter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartLayout {
    pub size: u64,
    pub part_size: u64,
}

impl PartLayout {
    /// Number of parts; an empty object is one empty part.
    pub fn count(&self) -> u64 {
        if self.size == 0 || self.part_size == 0 {
            1
        } else {
            self.size.div_ceil(self.part_size)
        }
    }

    /// Byte range `(offset, len)` of 1-based part `number`.
    pub fn part(&self, number: u64) -> (u64, u64) {
        let offset = (number - 1).saturating_mul(self.part_size).min(self.size);
        let len = self.part_size.min(self.size - offset);
        (offset, len)
    }

    /// All parts as `(part_number, offset, len)`.
    pub fn parts(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        (1..=self.count()).map(|n| {
            let (offset, len) = self.part(n);
            (n, offset, len)
        })
    }
}

/// How an object version reached the server, which decides its ETag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteMode {
    /// One PutObject: ETag = MD5 of the content.
    Single,
    /// A multipart upload: ETag = MD5 of the concatenated part MD5s, `-N`.
    Multipart(PartLayout),
}

/// What the server must give back for an object version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    pub size: u64,
    pub digest: Digest,
    /// The S3 ETag, without quotes.
    pub etag: String,
}

/// Streams the content through blake3 and the MD5(s) the write mode needs.
pub fn expected(key: &ContentKey, size: u64, mode: WriteMode) -> Expected {
    let mut blake = blake3::Hasher::new();
    let mut buf = vec![0u8; CHUNK.min(size as usize).max(1)];
    let etag = match mode {
        WriteMode::Single => {
            let mut md5 = Md5::new();
            stream_range(key, 0, size, &mut buf, |chunk| {
                blake.update(chunk);
                md5.update(chunk);
            });
            hex::encode(md5.finalize())
        }
        WriteMode::Multipart(layout) => {
            let mut of_parts = Md5::new();
            for (_, offset, len) in layout.parts() {
                let mut md5 = Md5::new();
                stream_range(key, offset, len, &mut buf, |chunk| {
                    blake.update(chunk);
                    md5.update(chunk);
                });
                of_parts.update(md5.finalize());
            }
            format!("{}-{}", hex::encode(of_parts.finalize()), layout.count())
        }
    };
    Expected { size, digest: blake.finalize().into(), etag }
}

/// blake3 of `len` content bytes from `offset` (for ranged reads and parts).
pub fn range_digest(key: &ContentKey, offset: u64, len: u64) -> Digest {
    let mut blake = blake3::Hasher::new();
    let mut buf = vec![0u8; CHUNK.min(len as usize).max(1)];
    stream_range(key, offset, len, &mut buf, |chunk| {
        blake.update(chunk);
    });
    blake.finalize().into()
}

fn stream_range(key: &ContentKey, offset: u64, len: u64, buf: &mut [u8], mut sink: impl FnMut(&[u8])) {
    let mut xof = blake3::Hasher::new_keyed(&key.0).finalize_xof();
    xof.set_position(offset);
    let mut left = len;
    while left > 0 {
        let n = (buf.len() as u64).min(left) as usize;
        xof.fill(&mut buf[..n]);
        sink(&buf[..n]);
        left -= n as u64;
    }
}

/// ETags compare without their surrounding quotes.
pub fn normalize_etag(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> ContentKey {
        ContentKey([n; 32])
    }

    #[test]
    fn ranges_are_slices_of_the_whole() {
        let whole = bytes(&key(1), 0, 10_000);
        let middle = bytes(&key(1), 4_321, 1_000);
        assert_eq!(&whole[4_321..5_321], &middle[..]);
        assert_eq!(range_digest(&key(1), 4_321, 1_000), Digest(*blake3::hash(&middle).as_bytes()));
    }

    #[test]
    fn single_etag_is_md5_of_content() {
        let body = bytes(&key(2), 0, 3_000_000);
        let exp = expected(&key(2), 3_000_000, WriteMode::Single);
        assert_eq!(exp.etag, hex::encode(Md5::digest(&body)));
        assert_eq!(exp.digest, Digest(*blake3::hash(&body).as_bytes()));
    }

    #[test]
    fn multipart_etag_is_md5_of_part_md5s() {
        let layout = PartLayout { size: 11 * 1024 * 1024 + 1, part_size: MIN_PART_SIZE };
        assert_eq!(layout.count(), 3);
        assert_eq!(layout.part(3), (10 * 1024 * 1024, 1024 * 1024 + 1));
        let body = bytes(&key(3), 0, layout.size);
        let mut of_parts = Md5::new();
        for (_, offset, len) in layout.parts() {
            of_parts.update(Md5::digest(&body[offset as usize..(offset + len) as usize]));
        }
        let exp = expected(&key(3), layout.size, WriteMode::Multipart(layout));
        assert_eq!(exp.etag, format!("{}-3", hex::encode(of_parts.finalize())));
    }

    #[test]
    fn empty_object_is_one_empty_part() {
        let layout = PartLayout { size: 0, part_size: MIN_PART_SIZE };
        assert_eq!(layout.parts().collect::<Vec<_>>(), vec![(1, 0, 0)]);
        assert_eq!(expected(&key(4), 0, WriteMode::Single).etag, "d41d8cd98f00b204e9800998ecf8427e");
    }

    /// Pins seed → content: if this changes, every recorded journal's bodies changed. Bump the journal format.
    #[test]
    fn golden_content_digest() {
        let exp = expected(&ContentKey([7; 32]), 1_048_577, WriteMode::Single);
        assert_eq!(exp.digest.to_string(), GOLDEN_CONTENT);
    }

    const GOLDEN_CONTENT: &str = "744c6806d137a53ec3fa89d087241f99b2a015aeb38c0d24317110627036012d";
}
