//! Where s3s-fs keeps an object on disk: the one place that knows s3s-fs's private layout.
//!
//! The embedded target's versioning layer (`versioned.rs`) archives and restores objects by copying s3s-fs's files,
//! so it must know their names — which s3s-fs does not promise:
//! - the data at `root/bucket/key`, with `.`/`..` resolved lexically and `//` collapsed;
//! - the "internal info" (ETag, checksums) at `root/.bucket-<b64 bucket>.object-<b64 key>.internal.json`, a JSON
//!   object whose `e_tag` field is the ETag as S3 answers it (multipart `-N` included);
//! - the user metadata beside it, `….metadata.json` (absent when the object has none);
//! - an open multipart upload as the marker `root/.upload-<uuid>.json` (removed when it is completed or aborted)
//!   and each uploaded part as `root/.upload_id-<uuid>.part-<n>`,
//!
//! with base64 in the URL-safe alphabet, unpadded. This is true of s3s-fs 0.14.1, which `Cargo.toml` pins exactly;
//! the test below writes objects through a real s3s-fs server and fails loudly, naming what moved, if a new
//! release lays them out otherwise.

use std::path::{Component, Path, PathBuf};

use s3s::{s3_error, S3Result};

/// The internal-info field where the reference layer keeps a multipart object's part sizes (not an s3s-fs field).
const PART_SIZES: &str = "sfko_part_sizes";

/// s3s-fs's files under one data dir.
#[derive(Debug, Clone)]
pub struct FsLayout {
    root: PathBuf,
}

impl FsLayout {
    pub fn new(root: &Path) -> FsLayout {
        FsLayout { root: root.to_path_buf() }
    }

    /// The data dir.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where s3s-fs keeps `bucket/key`, resolved the way it does, and never outside the root: the versioning layer
    /// removes and replaces that file, so a key like `/etc/x` must not reach the disk.
    pub fn object_path(&self, bucket: &str, key: &str) -> S3Result<PathBuf> {
        let relative = Path::new(bucket).join(key);
        let mut parts = Vec::new();
        for part in relative.components() {
            match part {
                Component::Normal(name) => parts.push(name),
                Component::CurDir => {}
                Component::ParentDir if parts.pop().is_some() => {}
                _ => return Err(s3_error!(InvalidArgument, "key {key:?} leaves the server's data dir")),
            }
        }
        Ok(parts.into_iter().fold(self.root.clone(), |path, part| path.join(part)))
    }

    /// The internal-info and metadata files of `bucket/key` (names base64-encoded, so always under the root).
    pub fn side_files(&self, bucket: &str, key: &str) -> [PathBuf; 2] {
        use base64::Engine as _;
        let encode = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let side = format!(".bucket-{}.object-{}", encode(bucket), encode(key));
        [self.root.join(format!("{side}.internal.json")), self.root.join(format!("{side}.metadata.json"))]
    }

    /// After s3s-fs deleted `bucket/key` (unversioned): removes its internal info and metadata, which s3s-fs leaves
    /// behind. Left there, they pile up in one flat directory — two files for every key ever written, so a
    /// million-object run's data dir took minutes to remove — and a later object under the key would start from
    /// them. Kept while the data is still there: s3s-fs keeps a non-empty "directory" key (`…/`); any other key's
    /// file is gone once its delete succeeded (the caller holds the key), so that costs no extra lookup per delete.
    pub async fn forget_deleted(&self, bucket: &str, key: &str) -> S3Result<()> {
        if key.ends_with('/') && tokio::fs::try_exists(self.object_path(bucket, key)?).await.unwrap_or(true) {
            return Ok(());
        }
        for path in self.side_files(bucket, key) {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(s3_error!(e, InternalError, "cannot remove {}", path.display())),
            }
        }
        Ok(())
    }

    /// The file that exists exactly while s3s-fs holds `upload_id` open (`None`: not an id s3s-fs could have made).
    pub fn upload_marker(&self, upload_id: &str) -> Option<PathBuf> {
        let id = uuid::Uuid::parse_str(upload_id).ok()?;
        Some(self.root.join(format!(".upload-{id}.json")))
    }

    /// Where s3s-fs keeps part `number` of `upload_id` (`None`: not an id s3s-fs could have made).
    pub fn part_path(&self, upload_id: &str, number: i32) -> Option<PathBuf> {
        let id = uuid::Uuid::parse_str(upload_id).ok()?;
        Some(self.root.join(format!(".upload_id-{id}.part-{number}")))
    }

    /// After s3s-fs completed a multipart upload of `bucket/key`: removes the checksums from its internal info
    /// (s3s-fs's CompleteMultipartUpload rewrites only the ETag there, so the object it makes would claim the
    /// checksum of whatever the key held before) and records the part sizes, which s3s-fs forgets and a GET or
    /// HEAD by `partNumber` needs. They live in the internal info so that every copy of the object's files — the
    /// versioning layer's archive, a version made live again — carries them.
    ///
    /// `checksum` is the one the upload declared, as the completion computed it: s3s-fs answers it from where it
    /// keeps a PUT's (`checksum_<algorithm>`), and reads infer its type from its form (a composite one ends `-N`).
    pub async fn finish_multipart(
        &self,
        bucket: &str,
        key: &str,
        part_sizes: Option<&[u64]>,
        checksum: Option<(crate::checksum::Algorithm, &str)>,
    ) -> S3Result<()> {
        let sizes = part_sizes.map(|sizes| serde_json::Value::from(sizes.to_vec()));
        let checksum = checksum.map(|(algorithm, value)| {
            (format!("checksum_{}", algorithm.name().to_ascii_lowercase()), serde_json::Value::from(value))
        });
        self.edit_info(bucket, key, move |map| {
            map.retain(|name, _| !name.starts_with("checksum_"));
            if let Some((name, value)) = checksum {
                map.insert(name, value);
            }
            match sizes {
                Some(sizes) => map.insert(PART_SIZES.into(), sizes),
                None => map.remove(PART_SIZES),
            };
        })
        .await
    }

    /// After a CopyObject onto `bucket/key`: s3s-fs copies the source's internal info, and keeps the source's ETag.
    /// But a copy is a new object written in one piece: S3 answers its ETag as the MD5 of its content, also when
    /// the source was a multipart object (`…-N`), and it has no parts. Returns the ETag to answer when it changed.
    pub async fn finish_copy(&self, bucket: &str, key: &str) -> S3Result<Option<String>> {
        let [info, _] = self.side_files(bucket, key);
        let multipart = Self::stored_etag(&info).await.is_ok_and(|etag| etag.contains('-'));
        let etag = match multipart {
            true => Some(Self::file_md5(&self.object_path(bucket, key)?).await?),
            false => None,
        };
        let stored = etag.clone();
        self.edit_info(bucket, key, move |map| {
            map.remove(PART_SIZES);
            // A composite checksum covers parts, and a copy has none.
            map.retain(|name, value| {
                !(name.starts_with("checksum_") && value.as_str().is_some_and(|v| v.contains('-')))
            });
            if let Some(etag) = stored {
                map.insert("e_tag".into(), etag.into());
            }
        })
        .await?;
        Ok(etag)
    }

    /// The MD5 (hex) of a file s3s-fs wrote — an object's data or an uploaded part — read in pieces (it may be
    /// gigabytes): the ETag S3 gives content written in one piece.
    pub async fn file_md5(path: &Path) -> S3Result<String> {
        use md5::Digest as _;
        use tokio::io::AsyncReadExt as _;
        let mut file = tokio::fs::File::open(path).await.map_err(|e| s3_error!(e, InternalError))?;
        let mut hasher = md5::Md5::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).await.map_err(|e| s3_error!(e, InternalError))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hex::encode(hasher.finalize()))
    }

    /// The part sizes [`finish_multipart`](Self::finish_multipart) recorded in an internal-info file (`None`: not a
    /// multipart object, or no such file).
    pub async fn part_sizes(internal_info: &Path) -> Option<Vec<u64>> {
        let text = tokio::fs::read(internal_info).await.ok()?;
        let info: serde_json::Value = serde_json::from_slice(&text).ok()?;
        info.get(PART_SIZES)?.as_array()?.iter().map(serde_json::Value::as_u64).collect()
    }

    /// Rewrites `bucket/key`'s internal info (atomically: a temp file renamed over it) when `edit` changed it.
    async fn edit_info(
        &self,
        bucket: &str,
        key: &str,
        edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> S3Result<()> {
        let [info, _] = self.side_files(bucket, key);
        let Ok(text) = tokio::fs::read(&info).await else { return Ok(()) };
        let mut map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&text).map_err(|e| s3_error!(e, InternalError))?;
        let before = map.clone();
        edit(&mut map);
        if map == before {
            return Ok(());
        }
        let json = serde_json::to_vec(&map).map_err(|e| s3_error!(e, InternalError))?;
        let tmp = info.with_extension("json.sfko-tmp");
        tokio::fs::write(&tmp, json).await.map_err(|e| s3_error!(e, InternalError))?;
        tokio::fs::rename(&tmp, &info).await.map_err(|e| s3_error!(e, InternalError))
    }

    /// The ETag (unquoted) of `bucket/key`'s live object as s3s-fs serves it: the stored one, or the data's MD5
    /// where s3s-fs stored none. `None`: no such object.
    pub async fn live_etag(&self, bucket: &str, key: &str) -> S3Result<Option<String>> {
        let data = self.object_path(bucket, key)?;
        match tokio::fs::metadata(&data).await {
            Ok(meta) if meta.is_file() => {}
            _ => return Ok(None),
        }
        let [info, _] = self.side_files(bucket, key);
        if let Ok(etag) = Self::stored_etag(&info).await {
            return Ok(Some(etag));
        }
        Ok(Some(Self::file_md5(&data).await?))
    }

    /// The ETag s3s-fs stored in an internal-info file (multipart `-N` ones included).
    pub async fn stored_etag(internal_info: &Path) -> S3Result<String> {
        let text = tokio::fs::read(internal_info).await.map_err(|e| s3_error!(e, InternalError))?;
        let info: serde_json::Value = serde_json::from_slice(&text).map_err(|e| s3_error!(e, InternalError))?;
        info.get("e_tag")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| s3_error!(InternalError, "s3s-fs stored no ETag"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::client::{build, ClientCredentials};
    use crate::target::embedded::{EmbeddedServer, EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY};

    /// The embedded server (s3s-fs with sfko's layers) and a client of it.
    async fn embedded() -> (EmbeddedServer, aws_sdk_s3::Client) {
        let server = EmbeddedServer::start().await.expect("the embedded server starts");
        let credentials = ClientCredentials::Static {
            access_key: EMBEDDED_ACCESS_KEY.into(),
            secret_key: EMBEDDED_SECRET_KEY.into(),
        };
        let client = build(server.endpoint(), "us-east-1", &credentials);
        (server, client)
    }

    #[tokio::test]
    async fn s3s_fs_keeps_objects_where_this_module_says() {
        let (server, client) = embedded().await;
        client.create_bucket().bucket("layout").send().await.expect("CreateBucket");
        let body = b"where does this go?".to_vec();
        let put = client
            .put_object()
            .bucket("layout")
            .key("a/./b//c")
            .metadata("colour", "blue")
            .body(body.clone().into())
            .send()
            .await
            .expect("PutObject");
        let layout = FsLayout::new(server.root());
        let data = layout.object_path("layout", "a/./b//c").expect("inside the root");
        assert_eq!(data, server.root().join("layout/a/b/c"));
        let stored = std::fs::read(&data).unwrap_or_else(|e| {
            panic!("s3s-fs no longer keeps object data at root/bucket/key ({}): {e}", data.display())
        });
        assert_eq!(stored, body, "the data file holds the object's bytes");
        let [internal, metadata] = layout.side_files("layout", "a/./b//c");
        let etag = FsLayout::stored_etag(&internal).await.unwrap_or_else(|e| {
            panic!("s3s-fs no longer keeps the ETag under `e_tag` in {}: {e:?}", internal.display())
        });
        assert_eq!(Some(etag.as_str()), put.e_tag().map(|e| e.trim_matches('"')), "the stored ETag is the one served");
        assert!(metadata.is_file(), "s3s-fs no longer keeps user metadata at {}", metadata.display());
        assert!(layout.object_path("layout", "../../etc/passwd").is_err(), "a key may not leave the root");

        let upload = client.create_multipart_upload().bucket("layout").key("mpu").send().await.expect("CreateMPU");
        let id = upload.upload_id().unwrap_or_default();
        let marker = layout.upload_marker(id).expect("s3s-fs upload ids are UUIDs");
        assert!(marker.is_file(), "s3s-fs no longer marks an open upload with {}", marker.display());
        let part = b"one part".to_vec();
        client
            .upload_part()
            .bucket("layout")
            .key("mpu")
            .upload_id(id)
            .part_number(1)
            .body(part.clone().into())
            .send()
            .await
            .expect("UploadPart");
        let part_path = layout.part_path(id, 1).expect("a UUID");
        assert_eq!(
            std::fs::read(&part_path).ok(),
            Some(part),
            "s3s-fs no longer keeps parts at {}",
            part_path.display()
        );
        client.abort_multipart_upload().bucket("layout").key("mpu").upload_id(id).send().await.expect("Abort");
        assert!(!marker.exists(), "an aborted upload's marker is removed");
    }

    /// s3s-fs leaves a deleted object's internal info and metadata behind; the reference layer removes them, or a
    /// long run's data dir fills with two files for every key it ever wrote.
    #[tokio::test]
    async fn a_deleted_object_leaves_no_side_files() {
        use aws_sdk_s3::types::{Delete, ObjectIdentifier};
        let (server, client) = embedded().await;
        client.create_bucket().bucket("gone").send().await.expect("CreateBucket");
        let layout = FsLayout::new(server.root());
        for key in ["one", "two/deep", "three"] {
            let put = client.put_object().bucket("gone").key(key).metadata("m", "v").body(b"x".to_vec().into());
            put.send().await.expect("PutObject");
            assert!(layout.side_files("gone", key).iter().all(|f| f.is_file()), "{key}: side files written");
        }
        client.delete_object().bucket("gone").key("one").send().await.expect("DeleteObject");
        let batch = ["two/deep", "three"].map(|k| ObjectIdentifier::builder().key(k).build().expect("a key"));
        let delete = Delete::builder().set_objects(Some(batch.to_vec())).build().expect("a batch");
        client.delete_objects().bucket("gone").delete(delete).send().await.expect("DeleteObjects");
        for key in ["one", "two/deep", "three"] {
            for file in layout.side_files("gone", key) {
                assert!(!file.exists(), "{key}: {} is left behind", file.display());
            }
        }
    }
}
