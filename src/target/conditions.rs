//! GET and HEAD preconditions (and DeleteObject's `If-Match`), which s3s-fs 0.14.1 ignores, evaluated as RFC 9110
//! §13.2.2 orders them and S3 documents them: `If-Match` answers 412 Precondition Failed unless the object's current
//! ETag is one of those named; without an `If-Match`, `If-Unmodified-Since` answers 412 when the object was modified
//! after the date; then `If-None-Match` answers 304 Not Modified when the ETag is one of those named; without an
//! `If-None-Match`, `If-Modified-Since` answers 304 when the object was not modified after the date. Called with the
//! key's stripe held, so the ETag and date compared are those of the version the read then serves.

use s3s::dto::{ETagCondition, Timestamp};
use s3s::{s3_error, S3Result};

use super::fs_layout::FsLayout;

/// A read's preconditions, as s3s parsed them.
#[derive(Default, Clone, Copy)]
pub struct ReadConditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

impl ReadConditions<'_> {
    fn any(&self) -> bool {
        self.if_match.is_some()
            || self.if_none_match.is_some()
            || self.if_modified_since.is_some()
            || self.if_unmodified_since.is_some()
    }
}

/// Whether a read of `bucket/key` (its current version) may go ahead. No object: s3s-fs answers NoSuchKey itself.
pub async fn check_read(layout: &FsLayout, bucket: &str, key: &str, conditions: ReadConditions<'_>) -> S3Result<()> {
    if !conditions.any() {
        return Ok(());
    }
    let Some(current) = layout.live_etag(bucket, key).await? else { return Ok(()) };
    let modified = match tokio::fs::metadata(layout.object_path(bucket, key)?).await.and_then(|m| m.modified()) {
        Ok(modified) => Timestamp::from(modified),
        Err(_) => return Ok(()),
    };
    let names = |condition: &ETagCondition| match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(etag) => etag.value().trim_matches('"') == current,
    };
    let failed = || s3_error!(PreconditionFailed, "At least one of the preconditions you specified did not hold");
    match conditions.if_match {
        Some(condition) if !names(condition) => return Err(failed()),
        Some(_) => {}
        None if conditions.if_unmodified_since.is_some_and(|date| modified > *date) => return Err(failed()),
        None => {}
    }
    match conditions.if_none_match {
        Some(condition) if names(condition) => Err(s3_error!(NotModified)),
        Some(_) => Ok(()),
        None if conditions.if_modified_since.is_some_and(|date| modified <= *date) => Err(s3_error!(NotModified)),
        None => Ok(()),
    }
}

/// Whether a DeleteObject of `bucket/key` with `If-Match` may go ahead: only if the current version's ETag is the one
/// named (412 otherwise). With no current object it goes ahead as a plain delete, as S3 documents ("if the object
/// doesn't exist, the operation will return a 204"). Called with the key's stripe held.
pub async fn check_delete(
    layout: &FsLayout,
    bucket: &str,
    key: &str,
    if_match: Option<&ETagCondition>,
) -> S3Result<()> {
    let Some(condition) = if_match else { return Ok(()) };
    let Some(current) = layout.live_etag(bucket, key).await? else { return Ok(()) };
    match condition {
        ETagCondition::Any => Ok(()),
        ETagCondition::ETag(etag) if etag.value().trim_matches('"') == current => Ok(()),
        ETagCondition::ETag(_) => {
            Err(s3_error!(PreconditionFailed, "At least one of the preconditions you specified did not hold"))
        }
    }
}
