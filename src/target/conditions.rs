//! GET and HEAD preconditions, which s3s-fs 0.14.1 ignores: `If-Match` answers 412 Precondition Failed unless the
//! object's current ETag is one of those named, `If-None-Match` answers 304 Not Modified when it is (RFC 9110, as S3
//! applies them). Called with the key's stripe held, so the ETag compared is the one the read then serves.

use s3s::dto::ETagCondition;
use s3s::{s3_error, S3Result};

use super::fs_layout::FsLayout;

/// Whether a read of `bucket/key` (its current version) may go ahead. No object: s3s-fs answers NoSuchKey itself.
pub async fn check_read(
    layout: &FsLayout,
    bucket: &str,
    key: &str,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<()> {
    if if_match.is_none() && if_none_match.is_none() {
        return Ok(());
    }
    let Some(current) = layout.live_etag(bucket, key).await? else { return Ok(()) };
    let names = |condition: &ETagCondition| match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(etag) => etag.value().trim_matches('"') == current,
    };
    if if_match.is_some_and(|c| !names(c)) {
        return Err(s3_error!(PreconditionFailed, "At least one of the preconditions you specified did not hold"));
    }
    if if_none_match.is_some_and(names) {
        return Err(s3_error!(NotModified));
    }
    Ok(())
}
