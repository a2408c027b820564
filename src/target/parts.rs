//! GET and HEAD by `partNumber`, answered as S3 answers them. s3s-fs 0.14.1 ignores the parameter: a part GET gets
//! the whole object, with no `x-amz-mp-parts-count`, so sfko's `check-mpu` could not run on its own server.
//!
//! S3's rules, which this follows: part `n` of an object completed from `N` parts is that part's bytes (206, with
//! `Content-Range` of the whole object), with `x-amz-mp-parts-count: N` and the **whole object's** ETag (the `-N` one,
//! not the part's); `n > N` is `416 InvalidPartNumber`. An object written in one piece is one part: part 1 is the
//! whole object, any other number is refused the same way. `partNumber` together with a `Range` is `400
//! InvalidRequest`. The part sizes come from what the layer recorded at completion ([`super::fs_layout`]).

use s3s::dto::{ContentRange, PartsCount, Range};
use s3s::{s3_error, S3Error, S3ErrorCode, S3Result};

/// Where part `number` lies in its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The whole object: it was written in one piece and part 1 was asked for.
    Whole,
    /// `len` bytes from `first` of an object of `total` bytes completed from `count` parts.
    Of { first: u64, len: u64, total: u64, count: usize },
}

impl Part {
    /// Part `number` of an object whose completion recorded `sizes` (`None`: written in one piece).
    pub fn locate(sizes: Option<&[u64]>, number: PartsCount, range: Option<&Range>) -> S3Result<Part> {
        if range.is_some() {
            return Err(s3_error!(InvalidRequest, "Cannot specify both Range header and partNumber query parameter"));
        }
        let index = usize::try_from(number).ok().and_then(|n| n.checked_sub(1));
        let Some(sizes) = sizes else {
            return match index {
                Some(0) => Ok(Part::Whole),
                _ => Err(not_satisfiable(number)),
            };
        };
        let Some(len) = index.and_then(|i| sizes.get(i)).copied() else { return Err(not_satisfiable(number)) };
        let first = sizes[..index.unwrap_or(0)].iter().sum();
        Ok(Part::Of { first, len, total: sizes.iter().sum(), count: sizes.len() })
    }

    /// The byte range to read for it (`None`: the whole object). A zero-length part has no byte range.
    pub fn range(self) -> Option<Range> {
        match self {
            Part::Of { first, len, .. } if len > 0 => Some(Range::Int { first, last: Some(first + len - 1) }),
            _ => None,
        }
    }

    /// `x-amz-mp-parts-count` (none for an object written in one piece).
    pub fn count(self) -> Option<PartsCount> {
        match self {
            Part::Of { count, .. } => PartsCount::try_from(count).ok(),
            Part::Whole => None,
        }
    }

    /// `Content-Length` and `Content-Range` of the answer, for a HEAD (s3s-fs's HEAD describes the whole object).
    pub fn head_fields(self) -> Option<(i64, ContentRange)> {
        let Part::Of { first, len, total, .. } = self else { return None };
        let length = i64::try_from(len).ok()?;
        let range = match len {
            0 => format!("bytes */{total}"),
            _ => format!("bytes {first}-{}/{total}", first + len - 1),
        };
        Some((length, range))
    }
}

/// `416 InvalidPartNumber` (not one of s3s's named codes).
fn not_satisfiable(number: PartsCount) -> S3Error {
    let mut error = S3Error::with_message(
        S3ErrorCode::Custom("InvalidPartNumber".into()),
        format!("The requested partnumber is not satisfiable: the object has no part {number}"),
    );
    error.set_status_code(hyper::StatusCode::RANGE_NOT_SATISFIABLE);
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_located_by_their_recorded_sizes() {
        let sizes = [5, 5, 2];
        assert_eq!(Part::locate(Some(&sizes), 1, None).ok(), Some(Part::Of { first: 0, len: 5, total: 12, count: 3 }));
        assert_eq!(Part::locate(Some(&sizes), 3, None).ok(), Some(Part::Of { first: 10, len: 2, total: 12, count: 3 }));
        let third = Part::Of { first: 10, len: 2, total: 12, count: 3 };
        assert_eq!(third.range(), Some(Range::Int { first: 10, last: Some(11) }));
        assert_eq!(third.head_fields(), Some((2, "bytes 10-11/12".to_string())));
        for number in [0, 4, -1] {
            let refused = Part::locate(Some(&sizes), number, None).err().map(|e| e.status_code());
            assert_eq!(refused, Some(Some(hyper::StatusCode::RANGE_NOT_SATISFIABLE)), "part {number}");
        }
    }

    #[test]
    fn an_object_written_in_one_piece_is_part_one() {
        assert_eq!(Part::locate(None, 1, None).ok(), Some(Part::Whole));
        assert_eq!(Part::Whole.range(), None);
        assert_eq!(Part::Whole.count(), None);
        assert!(Part::locate(None, 2, None).is_err());
        let range = Range::Int { first: 0, last: Some(1) };
        let both = Part::locate(None, 1, Some(&range)).err().map(|e| e.code().clone());
        assert_eq!(both, Some(S3ErrorCode::InvalidRequest));
    }
}
