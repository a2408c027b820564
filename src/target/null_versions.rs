//! ListObjectVersions of a bucket that was never versioned: S3 lists every object as its one version, id `null`,
//! latest. s3s-fs answers 501, which left sfko's own cleanup, `list-versions` and `check-list` on such buckets judged
//! "not implemented" against its reference server.
//!
//! The page is a ListObjectsV2 page of the same bucket (the listing snapshot: sorted, paged, deletes seen) turned
//! into versions. With one version per key, `key-marker` alone and `key-marker` + `version-id-marker=null` both mean
//! "the keys after this one".

use s3s::dto::*;
use s3s::{s3_error, S3Result};

/// The version id S3 gives an object written while versioning was never enabled.
const NULL: &str = "null";
/// S3's page limit, also its default page size.
const MAX_KEYS: i32 = 1000;

/// The ListObjectsV2 request whose page answers `input`, or the error that answers it instead.
pub fn as_plain_listing(input: &ListObjectVersionsInput) -> S3Result<ListObjectsV2Input> {
    if input.delimiter.as_deref().is_some_and(|d| !d.is_empty()) {
        // Refused rather than ignored, as on versioned buckets: a listing without its roll-up would be wrong.
        return Err(s3_error!(NotImplemented, "ListObjectVersions with a delimiter"));
    }
    Ok(ListObjectsV2Input {
        bucket: input.bucket.clone(),
        prefix: input.prefix.clone(),
        start_after: input.key_marker.clone().filter(|k| !k.is_empty()),
        max_keys: Some(input.max_keys.unwrap_or(MAX_KEYS).clamp(0, MAX_KEYS)),
        ..Default::default()
    })
}

/// The version listing that `page` (the answer to [`as_plain_listing`]) stands for.
pub fn versions_page(input: &ListObjectVersionsInput, page: ListObjectsV2Output) -> ListObjectVersionsOutput {
    let objects = page.contents.unwrap_or_default();
    let truncated = page.is_truncated.unwrap_or(false);
    let next_key_marker = objects.last().filter(|_| truncated).and_then(|o| o.key.clone());
    let versions: Vec<ObjectVersion> = objects
        .into_iter()
        .map(|o| ObjectVersion {
            e_tag: o.e_tag,
            is_latest: Some(true),
            key: o.key,
            last_modified: o.last_modified,
            size: o.size,
            storage_class: Some(ObjectVersionStorageClass::from_static(ObjectVersionStorageClass::STANDARD)),
            version_id: Some(NULL.to_string()),
            ..Default::default()
        })
        .collect();
    ListObjectVersionsOutput {
        name: Some(input.bucket.clone()),
        prefix: input.prefix.clone(),
        key_marker: input.key_marker.clone(),
        version_id_marker: input.version_id_marker.clone(),
        max_keys: page.max_keys,
        is_truncated: Some(truncated),
        next_version_id_marker: next_key_marker.as_ref().map(|_| NULL.to_string()),
        next_key_marker,
        versions: (!versions.is_empty()).then_some(versions),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str) -> Object {
        Object { key: Some(key.into()), size: Some(3), e_tag: Some(ETag::Strong("abc".into())), ..Default::default() }
    }

    #[test]
    fn a_truncated_page_names_its_last_key_and_the_null_version() {
        let input = ListObjectVersionsInput { bucket: "b".into(), max_keys: Some(2), ..Default::default() };
        let plain = as_plain_listing(&input).unwrap();
        assert_eq!(plain.max_keys, Some(2));
        let page = ListObjectsV2Output {
            contents: Some(vec![object("a"), object("b")]),
            is_truncated: Some(true),
            max_keys: Some(2),
            ..Default::default()
        };
        let out = versions_page(&input, page);
        assert_eq!(out.next_key_marker.as_deref(), Some("b"));
        assert_eq!(out.next_version_id_marker.as_deref(), Some("null"));
        let versions = out.versions.unwrap();
        assert!(versions.iter().all(|v| v.version_id.as_deref() == Some("null") && v.is_latest == Some(true)));
        assert_eq!(versions[1].size, Some(3));
    }

    #[test]
    fn the_key_marker_starts_the_plain_listing_after_it_and_a_delimiter_is_refused() {
        let input = ListObjectVersionsInput {
            bucket: "b".into(),
            key_marker: Some("k".into()),
            version_id_marker: Some("null".into()),
            ..Default::default()
        };
        assert_eq!(as_plain_listing(&input).unwrap().start_after.as_deref(), Some("k"));
        let delimited = ListObjectVersionsInput { delimiter: Some("/".into()), ..input };
        assert!(as_plain_listing(&delimited).is_err());
    }
}
