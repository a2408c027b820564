//! S3's flexible checksums (`x-amz-checksum-*`): the algorithms, their wire form, and the seeded choice of how a
//! write sends one.
//!
//! Every current AWS SDK sends a checksum with every upload, as a header or as an `aws-chunked` trailer, and
//! S3-compatible servers broke on exactly that in 2025. sfko therefore sends them too — a seeded choice per write,
//! recorded in the journal and re-sent identically by replay — and its model predicts the checksum a read must
//! return. Values are computed from the generated content, streaming, like the MD5s and blake3s.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::content::{self, ContentKey};

/// The checksum algorithms S3 knows (its `x-amz-checksum-<name>` headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Algorithm {
    pub const ALL: &'static [Algorithm] =
        &[Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme, Algorithm::Sha1, Algorithm::Sha256];

    /// The name S3 uses (`x-amz-sdk-checksum-algorithm`, `ChecksumAlgorithm`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    /// Parses a name in any case (`crc32`, `CRC64NVME`), or says which are known.
    pub fn parse(name: &str) -> Result<Algorithm, String> {
        Algorithm::ALL.iter().copied().find(|a| a.name().eq_ignore_ascii_case(name.trim())).ok_or_else(|| {
            let known: Vec<String> = Algorithm::ALL.iter().map(|a| a.name().to_lowercase()).collect();
            format!("unknown checksum algorithm '{name}'; known: {}", known.join(", "))
        })
    }

    /// A streaming hasher for this algorithm.
    pub fn hasher(self) -> Hasher {
        use sha2::Digest as _;
        match self {
            Algorithm::Crc32 => Hasher::Crc(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc), 4),
            Algorithm::Crc32c => Hasher::Crc(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi), 4),
            Algorithm::Crc64Nvme => Hasher::Crc(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme), 8),
            Algorithm::Sha1 => Hasher::Sha1(sha1::Sha1::default()),
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    /// The checksum of `len` bytes of `content` from `offset`, in S3's wire form (base64 of the big-endian value).
    pub fn of_content(self, key: &ContentKey, offset: u64, len: u64) -> String {
        let mut hasher = self.hasher();
        let mut buf = vec![0u8; (64 * 1024).min(len.max(1) as usize)];
        let mut at = 0u64;
        while at < len {
            let n = (buf.len() as u64).min(len - at) as usize;
            content::fill(key, offset + at, &mut buf[..n]);
            hasher.update(&buf[..n]);
            at += n as u64;
        }
        hasher.finish()
    }

    /// A value of this algorithm's shape that is not `right` (what a deliberately wrong checksum sends).
    pub fn wrong(self, right: &str) -> String {
        let mut bytes = base64::engine::general_purpose::STANDARD.decode(right).unwrap_or_default();
        match bytes.first_mut() {
            Some(first) => *first ^= 0xff,
            None => bytes = vec![0xff; self.width()],
        }
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Bytes of a value.
    fn width(self) -> usize {
        match self {
            Algorithm::Crc32 | Algorithm::Crc32c => 4,
            Algorithm::Crc64Nvme => 8,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One running checksum.
pub enum Hasher {
    /// A CRC and its width in bytes.
    Crc(crc_fast::Digest, usize),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Crc(digest, _) => digest.update(bytes),
            Hasher::Sha1(digest) => sha1::Digest::update(digest, bytes),
            Hasher::Sha256(digest) => sha2::Digest::update(digest, bytes),
        }
    }

    /// base64 of the big-endian value, as S3 sends it.
    pub fn finish(self) -> String {
        let bytes: Vec<u8> = match self {
            Hasher::Crc(digest, width) => digest.finalize().to_be_bytes()[8 - width..].to_vec(),
            Hasher::Sha1(digest) => sha1::Digest::finalize(digest).to_vec(),
            Hasher::Sha256(digest) => sha2::Digest::finalize(digest).to_vec(),
        };
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

/// How a write carries its checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Carrier {
    /// `x-amz-checksum-<alg>: <value>` computed by sfko before sending (what SDKs do for in-memory bodies).
    Header,
    /// `aws-chunked` body with the value in an `x-amz-checksum-<alg>` trailer, computed by the SDK while it streams
    /// (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`: what SDKs do for streamed bodies).
    Trailer,
}

/// The checksum a write sends: a seeded choice, recorded so that replay re-sends it byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub algorithm: Algorithm,
    pub carrier: Carrier,
    /// A deliberately wrong value (header only): the server must refuse the write and keep what the key held.
    pub wrong: bool,
}

impl Sent {
    /// `CRC32 header`, `SHA256 trailer`, `CRC32C header (wrong)`.
    pub fn describe(&self) -> String {
        let carrier = match self.carrier {
            Carrier::Header => "header",
            Carrier::Trailer => "trailer",
        };
        format!("{} {carrier}{}", self.algorithm, if self.wrong { " (wrong)" } else { "" })
    }
}

/// The checksum a multipart upload declares at CreateMultipartUpload (`x-amz-checksum-algorithm` and
/// `x-amz-checksum-type`): each part then sends that algorithm's checksum, and the completed object carries a
/// checksum of its part checksums (COMPOSITE, `…-N`) or of its whole content (FULL_OBJECT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declared {
    pub algorithm: Algorithm,
    pub full_object: bool,
}

impl Declared {
    /// The `x-amz-checksum-type` it sends.
    pub fn kind(&self) -> &'static str {
        if self.full_object {
            "FULL_OBJECT"
        } else {
            "COMPOSITE"
        }
    }

    /// Whether S3 accepts the pair: CRC64NVME is full-object only, the SHAs are composite only.
    pub fn valid(&self) -> bool {
        match self.algorithm {
            Algorithm::Crc64Nvme => self.full_object,
            Algorithm::Sha1 | Algorithm::Sha256 => !self.full_object,
            Algorithm::Crc32 | Algorithm::Crc32c => true,
        }
    }

    /// `CRC32 COMPOSITE`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.algorithm, self.kind())
    }
}

/// A composite checksum in S3's wire form: the `algorithm` checksum of the parts' checksums (their decoded bytes,
/// one after another), then `-` and the number of parts. `None` if a part's value is not base64.
pub fn composite(algorithm: Algorithm, parts: &[&str]) -> Option<String> {
    let mut hasher = algorithm.hasher();
    for part in parts {
        hasher.update(&base64::engine::general_purpose::STANDARD.decode(part).ok()?);
    }
    Some(format!("{}-{}", hasher.finish(), parts.len()))
}

/// A checksum a server returned: algorithm name as S3 spells it, base64 value, and `x-amz-checksum-type` if sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Returned {
    pub algorithm: String,
    pub value: String,
    pub kind: Option<String>,
}

impl Returned {
    /// A composite (checksum-of-part-checksums) value: `…-N`, or declared COMPOSITE. It covers the parts, not the
    /// bytes, so it is not compared with a checksum of the content.
    pub fn composite(&self) -> bool {
        self.value.contains('-') || self.kind.as_deref() == Some("COMPOSITE")
    }

    /// `CRC32 3QTe4A==`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.algorithm, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins each algorithm's wire form on the standard check input, so a crate update cannot move a value.
    #[test]
    fn values_are_s3s_wire_form() {
        let check = |algorithm: Algorithm| {
            let mut hasher = algorithm.hasher();
            hasher.update(b"123456789");
            hasher.finish()
        };
        // CRC32 0xCBF43926, CRC32C 0xE3069283, CRC64/NVME 0xAE8B14860A799888.
        assert_eq!(
            check(Algorithm::Crc32),
            base64::engine::general_purpose::STANDARD.encode(0xCBF4_3926u32.to_be_bytes())
        );
        assert_eq!(
            check(Algorithm::Crc32c),
            base64::engine::general_purpose::STANDARD.encode(0xE306_9283u32.to_be_bytes())
        );
        assert_eq!(
            check(Algorithm::Crc64Nvme),
            base64::engine::general_purpose::STANDARD.encode(0xAE8B_1486_0A79_9888u64.to_be_bytes())
        );
        assert_eq!(check(Algorithm::Sha1), "98O8HYCOBHMq32eZZczDTKeuNEE=");
        assert_eq!(check(Algorithm::Sha256), "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=");
    }

    /// A composite value is the checksum of the decoded part checksums, `-N`: pinned on two CRC32 parts.
    #[test]
    fn composite_values_hash_the_part_checksums() {
        let std = base64::engine::general_purpose::STANDARD;
        let parts = [std.encode(0x1122_3344u32.to_be_bytes()), std.encode(0x5566_7788u32.to_be_bytes())];
        let mut hasher = Algorithm::Crc32.hasher();
        hasher.update(&[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
        let expected = format!("{}-2", hasher.finish());
        assert_eq!(composite(Algorithm::Crc32, &[&parts[0], &parts[1]]), Some(expected));
        assert_eq!(composite(Algorithm::Crc32, &["not base64!"]), None);
    }

    #[test]
    fn content_checksums_stream_and_wrong_ones_differ() {
        let key = ContentKey([7; 32]);
        for &algorithm in Algorithm::ALL {
            let whole = algorithm.of_content(&key, 0, 200_000);
            let mut hasher = algorithm.hasher();
            hasher.update(&content::bytes(&key, 0, 200_000));
            assert_eq!(whole, hasher.finish(), "{algorithm}");
            assert_ne!(algorithm.wrong(&whole), whole);
            assert_eq!(algorithm.wrong(&whole).len(), whole.len());
        }
        assert!(Algorithm::parse("crc64nvme").is_ok());
        let declared = |algorithm, full_object| Declared { algorithm, full_object }.valid();
        assert!(declared(Algorithm::Crc64Nvme, true) && !declared(Algorithm::Crc64Nvme, false));
        assert!(declared(Algorithm::Sha256, false) && !declared(Algorithm::Sha1, true));
        assert!(Algorithm::parse("md5").unwrap_err().contains("crc32c"));
    }
}
