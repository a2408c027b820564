//! ListMultipartUploads, which s3s-fs 0.14.1 does not implement (it answers 501): a bucket's open uploads, read from
//! s3s-fs's own files so the answer survives a restart of `sfko serve`. s3s-fs writes an upload's attributes to
//! `.bucket-<b64 bucket>.object-<b64 key>.upload-<id>.metadata.json` when it creates it and removes that file when
//! the upload is completed or aborted; the upload is open while its marker (see [`FsLayout::upload_marker`]) exists.
//!
//! The answer is S3's: uploads sorted by key, then by initiation time; `prefix`; `key-marker` (uploads of later
//! keys) and, with it, `upload-id-marker` (later uploads of the marker's key too); at most `max-uploads` (1,000 at
//! most and by default) with the next page's markers while more remain. A delimiter is not rolled up (answered
//! 501, as the versioned listing answers it). Each call reads the data dir's names once: a reference server's
//! answer, not a fast one.

use std::path::Path;

use base64::Engine as _;
use std::time::SystemTime;

use s3s::dto::{ListMultipartUploadsInput, ListMultipartUploadsOutput, MultipartUpload, StorageClass, Timestamp};
use s3s::{s3_error, S3Result};

use super::fs_layout::FsLayout;

/// Most uploads on one page, and the page size when the request names none.
const MAX_UPLOADS: i32 = 1000;

/// An open upload: its key, when it was created, its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Open {
    key: String,
    initiated: SystemTime,
    id: String,
}

/// One ListMultipartUploads page of `input.bucket`, whose directory is `bucket_dir`. The oldest open upload of each
/// key `hide` names is left out (the `upload-list-drop` fault; a healthy server hides none).
pub async fn list(
    layout: &FsLayout,
    bucket_dir: &Path,
    input: &ListMultipartUploadsInput,
    hide: impl Fn(&str) -> bool,
) -> S3Result<ListMultipartUploadsOutput> {
    if input.delimiter.as_deref().is_some_and(|d| !d.is_empty()) {
        return Err(s3_error!(NotImplemented, "ListMultipartUploads with a delimiter"));
    }
    if !tokio::fs::try_exists(bucket_dir).await.unwrap_or(false) {
        return Err(s3_error!(NoSuchBucket));
    }
    let (layout, bucket) = (layout.clone(), input.bucket.clone());
    let mut open = tokio::task::spawn_blocking(move || open_uploads(&layout, &bucket))
        .await
        .map_err(|e| s3_error!(InternalError, "listing uploads failed: {e}"))??;
    open.sort();
    // Sorted by key, then by initiation: a key's oldest upload is the first of its run.
    let mut previous: Option<String> = None;
    open.retain(|u| {
        let first = previous.as_deref() != Some(u.key.as_str());
        if first {
            previous = Some(u.key.clone());
        }
        !(first && hide(&u.key))
    });
    let max = input.max_uploads.unwrap_or(MAX_UPLOADS).clamp(0, MAX_UPLOADS) as usize;
    let prefix = input.prefix.as_deref().unwrap_or("");
    let after = after_markers(&open, input.key_marker.as_deref(), input.upload_id_marker.as_deref());
    let mut wanted = open.into_iter().skip(after).filter(|u| u.key.starts_with(prefix));
    let page: Vec<Open> = wanted.by_ref().take(max).collect();
    let truncated = max > 0 && wanted.next().is_some();
    let (next_key_marker, next_upload_id_marker) =
        page.last().filter(|_| truncated).map(|last| (last.key.clone(), last.id.clone())).unzip();
    let uploads: Vec<MultipartUpload> = page
        .into_iter()
        .map(|u| MultipartUpload {
            key: Some(u.key),
            upload_id: Some(u.id),
            initiated: Some(Timestamp::from(u.initiated)),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..Default::default()
        })
        .collect();
    Ok(ListMultipartUploadsOutput {
        bucket: Some(input.bucket.clone()),
        prefix: input.prefix.clone(),
        key_marker: input.key_marker.clone(),
        upload_id_marker: input.upload_id_marker.clone(),
        max_uploads: Some(max as i32),
        is_truncated: Some(truncated),
        next_key_marker,
        next_upload_id_marker,
        uploads: (!uploads.is_empty()).then_some(uploads),
        ..Default::default()
    })
}

/// How many of the sorted `open` uploads the markers pass over: every upload of a key up to `key_marker`, except,
/// with `upload_id_marker`, the marker key's uploads after that one (none if it names no upload of that key).
fn after_markers(open: &[Open], key_marker: Option<&str>, upload_id_marker: Option<&str>) -> usize {
    let Some(key_marker) = key_marker else { return 0 };
    let past_key = open.partition_point(|u| u.key.as_str() <= key_marker);
    match upload_id_marker.filter(|id| !id.is_empty()) {
        None => past_key,
        Some(id) => {
            let key_start = open.partition_point(|u| u.key.as_str() < key_marker);
            match open[key_start..past_key].iter().position(|u| u.id == id) {
                Some(at) => key_start + at + 1,
                None => past_key,
            }
        }
    }
}

/// Removes every upload of `bucket`, open or not, with its parts: what deleting the bucket does to them on S3, which
/// deletes a bucket with uploads in progress. s3s-fs keeps upload files beside the buckets, not in them, so
/// without this a bucket made again under the same name would list the old uploads as its own. Blocking.
pub fn forget_bucket(layout: &FsLayout, bucket: &str) -> S3Result<()> {
    let mut parts = Vec::new();
    for upload in upload_files(layout, bucket)? {
        if let Some(marker) = layout.upload_marker(&upload.id) {
            remove(&marker)?;
            // Its parts (`.part-N`) and what the reference server keeps beside them (the declared checksum).
            parts.push(format!(".upload_id-{}.", upload.id));
        }
        remove(&upload.entry.path())?;
    }
    if parts.is_empty() {
        return Ok(());
    }
    for entry in data_dir(layout)? {
        let entry = entry?;
        if entry.file_name().to_str().is_some_and(|name| parts.iter().any(|part| name.starts_with(part.as_str()))) {
            remove(&entry.path())?;
        }
    }
    Ok(())
}

/// Removes a file that may already be gone.
fn remove(path: &Path) -> S3Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(s3_error!(e, InternalError, "cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Every open upload of `bucket`, unsorted, from the names in the data dir.
fn open_uploads(layout: &FsLayout, bucket: &str) -> S3Result<Vec<Open>> {
    let mut open = Vec::new();
    for upload in upload_files(layout, bucket)? {
        let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&upload.key);
        let Some(key) = key.ok().and_then(|k| String::from_utf8(k).ok()) else { continue };
        if !layout.upload_marker(&upload.id).is_some_and(|marker| marker.exists()) {
            continue;
        }
        let initiated = upload.entry.metadata().and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
        open.push(Open { key, initiated, id: upload.id });
    }
    Ok(open)
}

/// The attribute file s3s-fs keeps for an upload of a bucket (`.bucket-<b64 bucket>.object-<b64 key>.upload-<id>
/// .metadata.json`), whether or not the upload is still open.
struct UploadFile {
    entry: std::fs::DirEntry,
    /// The key, still in URL-safe base64.
    key: String,
    id: String,
}

/// Every upload attribute file of `bucket` in the data dir.
fn upload_files(layout: &FsLayout, bucket: &str) -> S3Result<Vec<UploadFile>> {
    let lead = format!(".bucket-{}.object-", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bucket));
    let mut files = Vec::new();
    for entry in data_dir(layout)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(&lead).and_then(|r| r.strip_suffix(".metadata.json")) else { continue };
        // The alphabet of URL-safe base64 has no '.', so the key ends where `.upload-` begins.
        let Some((key, id)) = rest.split_once(".upload-") else { continue };
        let (key, id) = (key.to_string(), id.to_string());
        files.push(UploadFile { entry, key, id });
    }
    Ok(files)
}

/// The entries of the data dir, where s3s-fs keeps its upload and part files.
fn data_dir(layout: &FsLayout) -> S3Result<impl Iterator<Item = S3Result<std::fs::DirEntry>>> {
    let entries = std::fs::read_dir(layout.root()).map_err(|e| s3_error!(e, InternalError))?;
    Ok(entries.map(|entry| entry.map_err(|e| s3_error!(e, InternalError))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(key: &str, at: u64, id: &str) -> Open {
        Open { key: key.into(), initiated: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(at), id: id.into() }
    }

    #[test]
    fn markers_pass_over_the_keys_before_and_the_marker_keys_uploads_up_to_the_id() {
        let mut all = vec![open("b", 2, "y"), open("a", 1, "x"), open("b", 1, "z"), open("c", 0, "w")];
        all.sort();
        let keys = |from: usize| all[from..].iter().map(|u| format!("{}:{}", u.key, u.id)).collect::<Vec<_>>();
        assert_eq!(keys(after_markers(&all, None, Some("x"))), ["a:x", "b:z", "b:y", "c:w"]);
        assert_eq!(keys(after_markers(&all, Some("a"), None)), ["b:z", "b:y", "c:w"]);
        assert_eq!(keys(after_markers(&all, Some("b"), Some("z"))), ["b:y", "c:w"]);
        assert_eq!(keys(after_markers(&all, Some("b"), Some("y"))), ["c:w"]);
        assert_eq!(keys(after_markers(&all, Some("b"), Some("nope"))), ["c:w"]);
        assert_eq!(keys(after_markers(&all, Some("bb"), None)), ["c:w"]);
    }
}
