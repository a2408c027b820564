//! Turning a [`Request`] into one SDK call and its response into an [`Outcome`].

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CompletedMultipartUpload, CompletedPart,
    CreateBucketConfiguration, Delete, ObjectIdentifier, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;

use super::Driver;
use crate::checksum;
use crate::content;
use crate::journal::{
    BatchAnswer, Body, ListEntry, Listing, Outcome, PageCursor, Precondition, ReadCondition, Request,
};
use crate::metadata::Metadata;
use aws_sdk_s3::operation::get_object::GetObjectError;

/// The checksum an SDK output (PutObject, GetObject, HeadObject, CompleteMultipartUpload) carried, with its type;
/// `returned!(out, untyped)` for an output that has no type field (UploadPart).
macro_rules! returned {
    ($out:expr) => {
        returned!($out, $out.checksum_type())
    };
    ($out:expr, untyped) => {
        returned!($out, None)
    };
    ($out:expr, $kind:expr) => {
        returned(
            [
                $out.checksum_crc32(),
                $out.checksum_crc32_c(),
                $out.checksum_crc64_nvme(),
                $out.checksum_sha1(),
                $out.checksum_sha256(),
            ],
            $kind,
        )
    };
}

/// The metadata an SDK output (GetObject, HeadObject) carried, as [`Metadata::answered`] records it. User metadata is
/// sorted by name: the SDK hands it over as a HashMap, whose order is not the server's and not stable.
macro_rules! answered_metadata {
    ($out:expr) => {{
        let mut user: Vec<(String, String)> =
            $out.metadata().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
        user.sort();
        Metadata {
            content_type: $out.content_type().map(str::to_string),
            content_encoding: $out.content_encoding().map(str::to_string),
            content_disposition: $out.content_disposition().map(str::to_string),
            content_language: $out.content_language().map(str::to_string),
            cache_control: $out.cache_control().map(str::to_string),
            expires: $out.expires_string().map(str::to_string),
            user,
        }
        .answered()
    }};
}

/// Sets `metadata` on a PutObject, CreateMultipartUpload or CopyObject call (their setters share names).
macro_rules! with_metadata {
    ($call:expr, $metadata:expr) => {{
        let mut call = $call;
        if let Some(m) = $metadata {
            let user: std::collections::HashMap<String, String> = m.user.iter().cloned().collect();
            call = call
                .set_content_type(m.content_type.clone())
                .set_content_encoding(m.content_encoding.clone())
                .set_content_disposition(m.content_disposition.clone())
                .set_content_language(m.content_language.clone())
                .set_cache_control(m.cache_control.clone())
                .set_expires(m.expires.as_deref().and_then(http_date))
                .set_metadata((!user.is_empty()).then_some(user));
        }
        call
    }};
}

/// Sends a PutObject or UploadPart `call` (their checksum setters share names) with `bytes` as its body and the
/// checksum `sent` asks for: a header sfko computes (or spoils), or an `aws-chunked` trailer the SDK computes while
/// it streams the body. Evaluates to the call's result.
macro_rules! send_with_checksum {
    ($call:expr, $sent:expr, $bytes:expr) => {{
        let (call, sent, bytes): (_, Option<&checksum::Sent>, _) = ($call, $sent, $bytes);
        match sent {
            None => call.body(ByteStream::from(bytes)).send().await,
            Some(sent) => {
                let call = call.checksum_algorithm(sdk_algorithm(sent.algorithm));
                match sent.carrier {
                    checksum::Carrier::Header => {
                        let mut hasher = sent.algorithm.hasher();
                        hasher.update(&bytes);
                        let right = hasher.finish();
                        let value = if sent.wrong { sent.algorithm.wrong(&right) } else { right };
                        let call = match sent.algorithm {
                            checksum::Algorithm::Crc32 => call.checksum_crc32(value),
                            checksum::Algorithm::Crc32c => call.checksum_crc32_c(value),
                            checksum::Algorithm::Crc64Nvme => call.checksum_crc64_nvme(value),
                            checksum::Algorithm::Sha1 => call.checksum_sha1(value),
                            checksum::Algorithm::Sha256 => call.checksum_sha256(value),
                        };
                        call.body(ByteStream::from(bytes)).send().await
                    }
                    checksum::Carrier::Trailer => {
                        // A streamed body (no bytes up front) is what makes the SDK send aws-chunked with a trailer.
                        let streamed = ByteStream::from_body_1_x(http_body_util::Full::new(bytes));
                        let calculate = aws_sdk_s3::config::Builder::default().request_checksum_calculation(
                            aws_sdk_s3::config::RequestChecksumCalculation::WhenSupported,
                        );
                        call.body(streamed).customize().config_override(calculate).send().await
                    }
                }
            }
        }
    }};
}

/// A GET body that sends nothing for this long is treated as no answer (and retried).
const BODY_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Sends one attempt of `request`.
pub(super) async fn send(client: &Client, request: &Request, driver: &Driver) -> Outcome {
    match request {
        Request::CreateBucket { bucket, location } => {
            let mut call = client.create_bucket().bucket(bucket);
            if let Some(location) = location {
                let config = CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(location.as_str()))
                    .build();
                call = call.create_bucket_configuration(config);
            }
            done(call.send().await, |_| Outcome::default())
        }
        Request::DeleteBucket { bucket } => {
            done(client.delete_bucket().bucket(bucket).send().await, |_| Outcome::default())
        }
        Request::PutBucketVersioning { bucket, enabled } => {
            let status = if *enabled { BucketVersioningStatus::Enabled } else { BucketVersioningStatus::Suspended };
            let config = VersioningConfiguration::builder().status(status).build();
            let call = client.put_bucket_versioning().bucket(bucket).versioning_configuration(config);
            done(call.send().await, |_| Outcome::default())
        }
        Request::PutObject { bucket, key, body, checksum, precondition, metadata } => {
            let condition = match condition_of(precondition, driver) {
                Ok(condition) => condition,
                Err(why) => return missing_reference(why),
            };
            put_object(client, bucket, key, body, checksum.as_ref(), condition, metadata.as_deref()).await
        }
        Request::CreateMultipartUpload { bucket, key, metadata, checksum } => {
            let call = with_metadata!(client.create_multipart_upload().bucket(bucket).key(key), metadata.as_deref());
            let call = match checksum {
                None => call,
                Some(declared) => call
                    .checksum_algorithm(sdk_algorithm(declared.algorithm))
                    .checksum_type(aws_sdk_s3::types::ChecksumType::from(declared.kind())),
            };
            done(call.send().await, |out| Outcome {
                upload_id: out.upload_id().map(str::to_string),
                ..Outcome::default()
            })
        }
        Request::UploadPart { bucket, key, create_op, part_number, body, checksum } => {
            let Some(upload_id) = driver.upload_id(*create_op) else {
                return missing_reference(format!("no upload id from op {create_op}"));
            };
            let call = client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(*part_number as i32)
                .content_length(body.len as i64);
            let bytes = content::bytes(&body.content, body.offset, body.len);
            let result = send_with_checksum!(call, checksum.as_ref(), bytes);
            done(result, |out| Outcome {
                etag: out.e_tag().map(str::to_string),
                checksum: returned!(out, untyped),
                ..Outcome::default()
            })
        }
        Request::CompleteMultipartUpload { bucket, key, create_op, parts, precondition } => {
            let Some(upload_id) = driver.upload_id(*create_op) else {
                return missing_reference(format!("no upload id from op {create_op}"));
            };
            let (if_match, if_none_match) = match condition_of(precondition, driver) {
                Ok(None) => (None, None),
                Ok(Some(Condition::IfMatch(etag))) => (Some(etag), None),
                Ok(Some(Condition::IfNoneMatch(tag))) => (None, Some(tag)),
                Err(why) => return missing_reference(why),
            };
            let mut completed = Vec::with_capacity(parts.len());
            for part in parts {
                let Some(etag) = driver.etag_of(part.upload_part_op) else {
                    return missing_reference(format!("no ETag from op {}", part.upload_part_op));
                };
                let mut completed_part = CompletedPart::builder().part_number(part.part_number as i32).e_tag(etag);
                // The checksum the part's upload answered, as SDKs' transfer managers list it.
                if let Some(sum) = driver.part_checksum(part.upload_part_op) {
                    let value = Some(sum.value);
                    completed_part = match checksum::Algorithm::parse(&sum.algorithm) {
                        Ok(checksum::Algorithm::Crc32) => completed_part.set_checksum_crc32(value),
                        Ok(checksum::Algorithm::Crc32c) => completed_part.set_checksum_crc32_c(value),
                        Ok(checksum::Algorithm::Crc64Nvme) => completed_part.set_checksum_crc64_nvme(value),
                        Ok(checksum::Algorithm::Sha1) => completed_part.set_checksum_sha1(value),
                        Ok(checksum::Algorithm::Sha256) => completed_part.set_checksum_sha256(value),
                        Err(_) => completed_part,
                    };
                }
                completed.push(completed_part.build());
            }
            let upload = CompletedMultipartUpload::builder().set_parts(Some(completed)).build();
            let call = client
                .complete_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .multipart_upload(upload)
                .set_if_match(if_match)
                .set_if_none_match(if_none_match);
            done(call.send().await, |out| Outcome {
                etag: out.e_tag().map(str::to_string),
                version_id: out.version_id().map(str::to_string),
                checksum: returned!(out),
                ..Outcome::default()
            })
        }
        Request::AbortMultipartUpload { bucket, key, create_op } => {
            let Some(upload_id) = driver.upload_id(*create_op) else {
                return missing_reference(format!("no upload id from op {create_op}"));
            };
            let call = client.abort_multipart_upload().bucket(bucket).key(key).upload_id(upload_id);
            done(call.send().await, |_| Outcome::default())
        }
        Request::GetObject { bucket, key, range } => get_object(client, bucket, key, *range).await,
        Request::HeadObject { bucket, key } => {
            let call = client.head_object().bucket(bucket).key(key).customize().mutate_request(ask_for_checksum);
            done(call.send().await, head_outcome)
        }
        Request::ReadIf { bucket, key, condition, date, head } => {
            let (mut if_match, mut if_none_match) = (None, None);
            if let Some(condition) = condition {
                let Some(etag) = driver.etag_of(condition.etag_op()) else {
                    return missing_reference(format!("no ETag from op {}", condition.etag_op()));
                };
                match condition {
                    ReadCondition::Matches { .. } => if_match = Some(etag),
                    ReadCondition::Differs { .. } => if_none_match = Some(etag),
                }
            }
            let (modified, unmodified) = date.map(|d| d.dates()).unwrap_or_default();
            let if_modified_since = modified.map(aws_sdk_s3::primitives::DateTime::from_secs);
            let if_unmodified_since = unmodified.map(aws_sdk_s3::primitives::DateTime::from_secs);
            if *head {
                let call = client.head_object().bucket(bucket).key(key).set_if_match(if_match);
                let call = call.set_if_none_match(if_none_match).set_if_modified_since(if_modified_since);
                let call = call.set_if_unmodified_since(if_unmodified_since);
                done(call.customize().mutate_request(ask_for_checksum).send().await, head_outcome)
            } else {
                let call = client.get_object().bucket(bucket).key(key).set_if_match(if_match);
                let call = call.set_if_none_match(if_none_match).set_if_modified_since(if_modified_since);
                let call = call.set_if_unmodified_since(if_unmodified_since);
                read_body(call.customize().mutate_request(ask_for_checksum).send().await).await
            }
        }
        Request::DeleteObject { bucket, key } => {
            done(client.delete_object().bucket(bucket).key(key).send().await, |out| Outcome {
                version_id: out.version_id().map(str::to_string),
                ..Outcome::default()
            })
        }
        Request::DeleteObjectIf { bucket, key, etag_op } => {
            let Some(etag) = driver.etag_of(*etag_op) else {
                return missing_reference(format!("no ETag from op {etag_op}"));
            };
            done(client.delete_object().bucket(bucket).key(key).if_match(etag).send().await, |out| Outcome {
                version_id: out.version_id().map(str::to_string),
                ..Outcome::default()
            })
        }
        Request::DeleteObjects { bucket, keys, quiet, version_ops } => {
            let mut versions = Vec::with_capacity(version_ops.len());
            for op in version_ops {
                match op {
                    Some(op) => match driver.version_id(*op) {
                        Some(id) => versions.push(Some(id)),
                        None => return missing_reference(format!("no version id from op {op}")),
                    },
                    None => versions.push(None),
                }
            }
            delete_objects(client, bucket, keys, &versions, *quiet).await
        }
        Request::ListObjectsV2 { bucket, prefix, delimiter, max_keys, start_after, after_op, url, fetch_owner } => {
            let token = match continued(driver, *after_op, |c| c.token, "continuation token") {
                Ok(token) => token,
                Err(why) => return missing_reference(why),
            };
            let call = client
                .list_objects_v2()
                .bucket(bucket)
                .set_prefix(prefix.clone())
                .set_delimiter(delimiter.clone())
                .set_max_keys(max_keys.map(|n| n as i32))
                .set_start_after(start_after.clone())
                .set_continuation_token(token)
                .set_fetch_owner(fetch_owner.then_some(true))
                .set_encoding_type(url.then_some(aws_sdk_s3::types::EncodingType::Url));
            done(call.send().await, |out| Outcome {
                listing: Some({
                    let listing = object_listing(out.contents(), out.common_prefixes(), out.is_truncated());
                    // As botocore does: decoded only when the answer says it is encoded.
                    match out.encoding_type() {
                        Some(aws_sdk_s3::types::EncodingType::Url) => url_decoded(listing),
                        _ => listing,
                    }
                }),
                next_page: out
                    .next_continuation_token()
                    .map(|t| PageCursor { token: Some(t.to_string()), ..PageCursor::default() }),
                ..Outcome::default()
            })
        }
        Request::ListObjects { bucket, prefix, delimiter, max_keys, after_op } => {
            let marker = match continued(driver, *after_op, |c| c.key_marker, "marker") {
                Ok(marker) => marker,
                Err(why) => return missing_reference(why),
            };
            let call = client
                .list_objects()
                .bucket(bucket)
                .set_prefix(prefix.clone())
                .set_delimiter(delimiter.clone())
                .set_max_keys(max_keys.map(|n| n as i32))
                .set_marker(marker);
            done(call.send().await, |out| {
                let listing = object_listing(out.contents(), out.common_prefixes(), out.is_truncated());
                // Without a NextMarker (S3 gives one only with a delimiter) the next page starts after the last key.
                let last_key = listing.entries.last().map(|e| e.key.clone());
                let next = out.next_marker().map(str::to_string).or(last_key);
                Outcome {
                    next_page: (listing.truncated && next.is_some())
                        .then(|| PageCursor { key_marker: next, ..PageCursor::default() }),
                    listing: Some(listing),
                    ..Outcome::default()
                }
            })
        }
        Request::DeleteObjectVersion { bucket, key, version_op } => {
            let Some(version) = driver.version_id(*version_op) else {
                return missing_reference(format!("no version id from op {version_op}"));
            };
            let call = client.delete_object().bucket(bucket).key(key).version_id(version);
            done(call.send().await, |out| Outcome {
                version_id: out.version_id().map(str::to_string),
                ..Outcome::default()
            })
        }
        Request::GetObjectVersion { bucket, key, version_op } => {
            let Some(version) = driver.version_id(*version_op) else {
                return missing_reference(format!("no version id from op {version_op}"));
            };
            let call = client.get_object().bucket(bucket).key(key).version_id(version);
            read_body(call.customize().mutate_request(ask_for_checksum).send().await).await
        }
        Request::ListObjectVersions { bucket, prefix, max_keys, after_op } => {
            let cursor = match cursor_after(driver, *after_op) {
                Ok(cursor) => cursor,
                Err(why) => return missing_reference(why),
            };
            let call = client
                .list_object_versions()
                .bucket(bucket)
                .set_prefix(prefix.clone())
                .set_max_keys(max_keys.map(|n| n as i32))
                .set_key_marker(cursor.key_marker)
                .set_version_id_marker(cursor.version_id_marker);
            done(call.send().await, |out| {
                let mut entries: Vec<ListEntry> = out
                    .versions()
                    .iter()
                    .map(|v| ListEntry {
                        key: v.key().unwrap_or_default().to_string(),
                        size: v.size().unwrap_or(0).max(0) as u64,
                        etag: v.e_tag().map(str::to_string),
                        version_id: v.version_id().map(str::to_string),
                        is_latest: v.is_latest().unwrap_or(false),
                        delete_marker: false,
                    })
                    .collect();
                entries.extend(out.delete_markers().iter().map(|m| ListEntry {
                    key: m.key().unwrap_or_default().to_string(),
                    version_id: m.version_id().map(str::to_string),
                    is_latest: m.is_latest().unwrap_or(false),
                    delete_marker: true,
                    ..ListEntry::default()
                }));
                // The SDK splits versions and delete markers into two lists; put them back in key order (stable).
                entries.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
                let truncated = out.is_truncated().unwrap_or(false);
                Outcome {
                    listing: Some(Listing { entries, common_prefixes: Vec::new(), truncated }),
                    next_page: truncated.then(|| PageCursor {
                        token: None,
                        key_marker: out.next_key_marker().map(str::to_string),
                        version_id_marker: out.next_version_id_marker().map(str::to_string),
                    }),
                    ..Outcome::default()
                }
            })
        }
        Request::CopyObject { bucket, key, source_bucket, source_key, metadata } => {
            let mut call =
                client.copy_object().bucket(bucket).key(key).copy_source(copy_source(source_bucket, source_key));
            if metadata.is_some() {
                call = with_metadata!(call, metadata.as_deref())
                    .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace);
            }
            done(call.send().await, |out| Outcome {
                etag: out.copy_object_result().and_then(|r| r.e_tag()).map(str::to_string),
                version_id: out.version_id().map(str::to_string),
                ..Outcome::default()
            })
        }
        Request::UploadPartCopy { bucket, key, create_op, part_number, source_bucket, source_key, range } => {
            let Some(upload_id) = driver.upload_id(*create_op) else {
                return missing_reference(format!("no upload id from op {create_op}"));
            };
            let call = client
                .upload_part_copy()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(*part_number as i32)
                .copy_source(copy_source(source_bucket, source_key))
                .copy_source_range(format!("bytes={}-{}", range.0, range.1));
            done(call.send().await, |out| Outcome {
                etag: out.copy_part_result().and_then(|r| r.e_tag()).map(str::to_string),
                ..Outcome::default()
            })
        }
        Request::ListMultipartUploads { bucket, prefix, max_uploads, after_op } => {
            let cursor = match cursor_after(driver, *after_op) {
                Ok(cursor) => cursor,
                Err(why) => return missing_reference(why),
            };
            let call = client
                .list_multipart_uploads()
                .bucket(bucket)
                .set_prefix(prefix.clone())
                .set_max_uploads(max_uploads.map(|n| n as i32))
                .set_key_marker(cursor.key_marker)
                .set_upload_id_marker(cursor.version_id_marker);
            done(call.send().await, |out| Outcome {
                next_page: out.is_truncated().unwrap_or(false).then(|| PageCursor {
                    key_marker: out.next_key_marker().map(str::to_string),
                    version_id_marker: out.next_upload_id_marker().map(str::to_string),
                    ..PageCursor::default()
                }),
                listing: Some(Listing {
                    entries: out
                        .uploads()
                        .iter()
                        .map(|u| ListEntry {
                            key: u.key().unwrap_or_default().to_string(),
                            version_id: u.upload_id().map(str::to_string),
                            // Every open upload is as current as it gets (and so is not described "noncurrent").
                            is_latest: true,
                            ..ListEntry::default()
                        })
                        .collect(),
                    common_prefixes: Vec::new(),
                    truncated: out.is_truncated().unwrap_or(false),
                }),
                ..Outcome::default()
            })
        }
        Request::ListParts { bucket, key, create_op, max_parts, after_op } => {
            let Some(upload_id) = driver.upload_id(*create_op) else {
                return missing_reference(format!("no upload id from op {create_op}"));
            };
            let marker = match continued(driver, *after_op, |c| c.key_marker, "part-number marker") {
                Ok(marker) => marker,
                Err(why) => return missing_reference(why),
            };
            let call = client
                .list_parts()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .set_max_parts(max_parts.map(|n| n as i32))
                .set_part_number_marker(marker);
            done(call.send().await, |out| Outcome {
                listing: Some(Listing {
                    entries: out
                        .parts()
                        .iter()
                        .map(|p| ListEntry {
                            key: p.part_number().unwrap_or(0).to_string(),
                            size: p.size().unwrap_or(0).max(0) as u64,
                            etag: p.e_tag().map(str::to_string),
                            ..ListEntry::default()
                        })
                        .collect(),
                    common_prefixes: Vec::new(),
                    truncated: out.is_truncated().unwrap_or(false),
                }),
                // The part-number marker goes where a listing's key marker goes.
                next_page: out
                    .next_part_number_marker()
                    .map(|marker| PageCursor { key_marker: Some(marker.to_string()), ..PageCursor::default() }),
                ..Outcome::default()
            })
        }
        Request::AbortUploadId { bucket, key, upload_id } => {
            let call = client.abort_multipart_upload().bucket(bucket).key(key).upload_id(upload_id);
            done(call.send().await, |_| Outcome::default())
        }
        Request::DeleteVersionId { bucket, key, version_id } => {
            let call = client.delete_object().bucket(bucket).key(key).version_id(version_id);
            done(call.send().await, |out| Outcome {
                version_id: out.version_id().map(str::to_string),
                ..Outcome::default()
            })
        }
        Request::PutBucketReplication { bucket, role, destination_bucket, storage_class } => {
            use aws_sdk_s3::types::{
                DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination, ReplicationConfiguration,
                ReplicationRule, ReplicationRuleFilter, ReplicationRuleStatus, StorageClass,
            };
            let mut destination = Destination::builder().bucket(destination_bucket);
            if let Some(class) = storage_class {
                destination = destination.storage_class(StorageClass::from(class.as_str()));
            }
            let built = destination.build().and_then(|destination| {
                let rule = ReplicationRule::builder()
                    .id("sfko")
                    .priority(1)
                    .status(ReplicationRuleStatus::Enabled)
                    .filter(ReplicationRuleFilter::builder().prefix("").build())
                    .delete_marker_replication(
                        DeleteMarkerReplication::builder().status(DeleteMarkerReplicationStatus::Disabled).build(),
                    )
                    .destination(destination)
                    .build()?;
                ReplicationConfiguration::builder().role(role).rules(rule).build()
            });
            let config = match built {
                Ok(config) => config,
                Err(e) => return local_error(format!("replication configuration: {e}")),
            };
            let call = client.put_bucket_replication().bucket(bucket).replication_configuration(config);
            done(call.send().await, |_| Outcome::default())
        }
        Request::PutBucketLifecycle { bucket, days } => {
            use aws_sdk_s3::types::{
                BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
            };
            let built = LifecycleRule::builder()
                .id("sfko-expiration")
                .status(ExpirationStatus::Enabled)
                .filter(LifecycleRuleFilter::builder().prefix("").build())
                .expiration(LifecycleExpiration::builder().days(*days as i32).build())
                .build()
                .and_then(|rule| BucketLifecycleConfiguration::builder().rules(rule).build());
            let config = match built {
                Ok(config) => config,
                Err(e) => return local_error(format!("lifecycle configuration: {e}")),
            };
            let call = client.put_bucket_lifecycle_configuration().bucket(bucket).lifecycle_configuration(config);
            done(call.send().await, |_| Outcome::default())
        }
        Request::GetObjectPart { bucket, key, part_number, head: false } => {
            read_body(client.get_object().bucket(bucket).key(key).part_number(*part_number as i32).send().await).await
        }
        Request::GetObjectPart { bucket, key, part_number, head: true } => {
            let call = client.head_object().bucket(bucket).key(key).part_number(*part_number as i32);
            done(call.send().await, head_outcome)
        }
    }
}

/// `bucket/key`, URL-encoded as CopySource wants it.
fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(bucket.len() + key.len() + 1);
    out.push_str(bucket);
    out.push('/');
    for byte in key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Reads the whole body, hashing it on the fly; never keeps it.
async fn get_object(client: &Client, bucket: &str, key: &str, range: Option<(u64, u64)>) -> Outcome {
    let mut call = client.get_object().bucket(bucket).key(key);
    if let Some((first, last)) = range {
        call = call.range(format!("bytes={first}-{last}"));
    }
    read_body(call.customize().mutate_request(ask_for_checksum).send().await).await
}

/// `x-amz-checksum-mode: ENABLED`, as current SDKs send on GetObject, set as a plain header: through the SDK's
/// `checksum_mode` the SDK would validate the body itself and turn a wrong checksum into a transport error, where
/// sfko's model must see the value the server returned.
fn ask_for_checksum(request: &mut aws_smithy_runtime_api::http::Request) {
    request.headers_mut().insert("x-amz-checksum-mode", "ENABLED");
}

/// The SDK's name for an algorithm.
fn sdk_algorithm(algorithm: checksum::Algorithm) -> aws_sdk_s3::types::ChecksumAlgorithm {
    use aws_sdk_s3::types::ChecksumAlgorithm as Sdk;
    match algorithm {
        checksum::Algorithm::Crc32 => Sdk::Crc32,
        checksum::Algorithm::Crc32c => Sdk::Crc32C,
        checksum::Algorithm::Crc64Nvme => Sdk::Crc64Nvme,
        checksum::Algorithm::Sha1 => Sdk::Sha1,
        checksum::Algorithm::Sha256 => Sdk::Sha256,
    }
}

/// PutObject, with the checksum `sent` asks for.
async fn put_object(
    client: &Client,
    bucket: &str,
    key: &str,
    body: &Body,
    sent: Option<&checksum::Sent>,
    condition: Option<Condition>,
    metadata: Option<&Metadata>,
) -> Outcome {
    let bytes = content::bytes(&body.content, body.offset, body.len);
    let call = client.put_object().bucket(bucket).key(key).content_length(body.len as i64);
    let mut call = with_metadata!(call, metadata);
    call = match condition {
        None => call,
        Some(Condition::IfNoneMatch(tag)) => call.if_none_match(tag),
        Some(Condition::IfMatch(etag)) => call.if_match(etag),
    };
    let result = send_with_checksum!(call, sent, bytes);
    done(result, |out| Outcome {
        etag: out.e_tag().map(str::to_string),
        version_id: out.version_id().map(str::to_string),
        checksum: returned!(out),
        ..Outcome::default()
    })
}

/// A precondition header as sent.
enum Condition {
    IfNoneMatch(String),
    IfMatch(String),
}

/// The header a write's precondition sends (`If-Match` names the ETag op `etag_op` got back in this run), or why
/// there is none to send (that op got no ETag).
fn condition_of(precondition: &Option<Precondition>, driver: &Driver) -> Result<Option<Condition>, String> {
    match precondition {
        None => Ok(None),
        Some(Precondition::Absent) => Ok(Some(Condition::IfNoneMatch("*".into()))),
        Some(Precondition::Matches { etag_op }) => match driver.etag_of(*etag_op) {
            Some(etag) => Ok(Some(Condition::IfMatch(etag))),
            None => Err(format!("no ETag from op {etag_op}")),
        },
    }
}

/// The first checksum an answer carried, of the five in [`checksum::Algorithm::ALL`] order.
fn returned(values: [Option<&str>; 5], kind: Option<&aws_sdk_s3::types::ChecksumType>) -> Option<checksum::Returned> {
    let (algorithm, value) = checksum::Algorithm::ALL.iter().zip(values).find_map(|(a, v)| Some((a, v?)))?;
    Some(checksum::Returned {
        algorithm: algorithm.name().to_string(),
        value: value.to_string(),
        kind: kind.map(|k| k.as_str().to_string()),
    })
}

/// Streams a GET answer's body through blake3.
async fn read_body(
    result: Result<aws_sdk_s3::operation::get_object::GetObjectOutput, SdkError<GetObjectError, HttpResponse>>,
) -> Outcome {
    let out = match result {
        Ok(out) => out,
        Err(err) => return failure(err),
    };
    let mut outcome = Outcome {
        // The SDK hides the status; a Content-Range header is what marks a partial answer.
        status: if out.content_range().is_some() { 206 } else { 200 },
        etag: out.e_tag().map(str::to_string),
        version_id: out.version_id().map(str::to_string),
        parts_count: out.parts_count().and_then(|n| u32::try_from(n).ok()),
        checksum: returned!(out),
        metadata: answered_metadata!(out),
        ..Outcome::default()
    };
    let mut body = out.body;
    let mut hasher = blake3::Hasher::new();
    let mut received = 0u64;
    loop {
        let next = match tokio::time::timeout(BODY_IDLE_TIMEOUT, body.try_next()).await {
            Ok(next) => next,
            Err(_) => {
                outcome.status = 0;
                outcome.detail = Some(format!("body stalled for {BODY_IDLE_TIMEOUT:?} after {received} bytes"));
                return outcome;
            }
        };
        match next {
            Ok(Some(chunk)) => {
                received += chunk.len() as u64;
                let _ = super::inflight::CURRENT.try_with(|op| op.read(chunk.len() as u64));
                hasher.update(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                // The response started but the body broke off: as good as no response, and worth a retry.
                outcome.status = 0;
                outcome.detail = Some(format!("body read failed after {received} bytes: {e}"));
                return outcome;
            }
        }
    }
    outcome.size = Some(received);
    outcome.body_digest = Some(hasher.finalize().into());
    outcome
}

/// Status from a successful call, fields from `extract`.
fn done<T, E>(result: Result<T, SdkError<E, HttpResponse>>, extract: impl FnOnce(&T) -> Outcome) -> Outcome
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(out) => {
            let mut outcome = extract(&out);
            outcome.status = 200;
            outcome
        }
        Err(err) => failure(err),
    }
}

fn failure<E>(err: SdkError<E, HttpResponse>) -> Outcome
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    let mut code = err.code().map(str::to_string);
    let mut detail = match &err {
        SdkError::ServiceError(_) => None,
        _ => Some(DisplayErrorContext(&err).to_string()),
    };
    if matches!(err, SdkError::ConstructionFailure(_)) {
        // Nothing was sent (e.g. the request could not be built or signed): retrying will not help.
        code = Some("SfkoLocalError".into());
    }
    if matches!(err, SdkError::ResponseError(_)) {
        // The answer could not be read to its end (the connection closed or reset mid-body): nothing usable
        // arrived, which is a transport failure like no answer at all, not what the server said.
        return Outcome { status: 0, error_code: None, detail, ..Outcome::default() };
    }
    if code.is_none() && (200..300).contains(&status) {
        // A 2xx whose whole body the SDK read and could not decode (e.g. the wrong XML root element): not a success.
        code = Some("SfkoUndecodableResponse".into());
        detail = Some(DisplayErrorContext(&err).to_string());
    }
    Outcome { status, error_code: code, detail, ..Outcome::default() }
}

/// Nothing could be sent (no client for the backend, ...): not retried, not a server's doing.
/// What a HeadObject answered.
fn head_outcome(out: &aws_sdk_s3::operation::head_object::HeadObjectOutput) -> Outcome {
    Outcome {
        etag: out.e_tag().map(str::to_string),
        version_id: out.version_id().map(str::to_string),
        size: out.content_length().and_then(|n| u64::try_from(n).ok()),
        parts_count: out.parts_count().and_then(|n| u32::try_from(n).ok()),
        checksum: returned!(out),
        metadata: answered_metadata!(out),
        ..Outcome::default()
    }
}

/// A ListObjects (v1 or v2) page as the model reads it.
fn object_listing(
    contents: &[aws_sdk_s3::types::Object],
    prefixes: &[aws_sdk_s3::types::CommonPrefix],
    truncated: Option<bool>,
) -> Listing {
    Listing {
        entries: contents
            .iter()
            .map(|o| ListEntry {
                key: o.key().unwrap_or_default().to_string(),
                size: o.size().unwrap_or(0).max(0) as u64,
                etag: o.e_tag().map(str::to_string),
                is_latest: true,
                ..ListEntry::default()
            })
            .collect(),
        common_prefixes: prefixes.iter().map(|p| p.prefix().unwrap_or_default().to_string()).collect(),
        truncated: truncated.unwrap_or(false),
    }
}

/// DeleteObjects as the SDK sends it (with the checksum the operation requires), and its answer key by key.
async fn delete_objects(
    client: &Client,
    bucket: &str,
    keys: &[String],
    versions: &[Option<String>],
    quiet: bool,
) -> Outcome {
    let mut objects = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        let version = versions.get(i).cloned().flatten();
        match ObjectIdentifier::builder().key(key).set_version_id(version).build() {
            Ok(object) => objects.push(object),
            Err(err) => return local_error(format!("DeleteObjects of {key}: {err}")),
        }
    }
    let delete = match Delete::builder().set_objects(Some(objects)).quiet(quiet).build() {
        Ok(delete) => delete,
        Err(err) => return local_error(format!("DeleteObjects: {err}")),
    };
    done(client.delete_objects().bucket(bucket).delete(delete).send().await, |out| Outcome {
        batch: Some(BatchAnswer {
            deleted: out.deleted().iter().map(|d| d.key().unwrap_or_default().to_string()).collect(),
            errors: out
                .errors()
                .iter()
                .map(|e| (e.key().unwrap_or_default().to_string(), e.code().unwrap_or("(no code)").to_string()))
                .collect(),
        }),
        ..Outcome::default()
    })
}

pub(super) fn local_error(why: String) -> Outcome {
    Outcome { status: 0, error_code: Some("SfkoLocalError".into()), detail: Some(why), ..Outcome::default() }
}

/// A later op referred to an earlier op that produced nothing usable (its upload or part failed).
/// Where the next page starts: `pick`ed from the cursor page `after_op` answered with (`Ok(None)` for a first page),
/// or — when that page gave none — why the request cannot be sent (`what` names the missing marker).
fn continued(
    driver: &Driver,
    after_op: Option<u64>,
    pick: impl FnOnce(PageCursor) -> Option<String>,
    what: &str,
) -> Result<Option<String>, String> {
    let Some(op) = after_op else { return Ok(None) };
    match driver.cursor(op).and_then(pick) {
        Some(marker) => Ok(Some(marker)),
        None => Err(format!("no {what} from op {op}")),
    }
}

/// Where the page after `after_op` starts: its cursor (`key-marker` and version-id or upload-id marker), the start
/// of the listing when there is no page before, or why the cursor is unknown.
fn cursor_after(driver: &Driver, after_op: Option<u64>) -> Result<PageCursor, String> {
    let Some(op) = after_op else { return Ok(PageCursor::default()) };
    driver.cursor(op).ok_or_else(|| format!("no listing cursor from op {op}"))
}

fn missing_reference(why: String) -> Outcome {
    Outcome { status: 0, error_code: Some("SfkoMissingReference".into()), detail: Some(why), ..Outcome::default() }
}

/// An HTTP-date as the SDK's date type (what its `expires` setters take).
fn http_date(text: &str) -> Option<aws_smithy_types::DateTime> {
    aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::HttpDate).ok()
}

/// A listing whose keys and prefixes the server percent-encoded (`encoding-type=url`), decoded the way botocore
/// decodes them (`+` is a space). A key that does not decode to UTF-8 stays as sent, so the model sees it is wrong.
fn url_decoded(mut listing: Listing) -> Listing {
    let decode = |text: &mut String| {
        let spaced = text.replace('+', " ");
        if let Ok(decoded) = percent_encoding::percent_decode_str(&spaced).decode_utf8() {
            *text = decoded.into_owned();
        }
    };
    listing.entries.iter_mut().for_each(|e| decode(&mut e.key));
    listing.common_prefixes.iter_mut().for_each(decode);
    listing
}
