//! sfko's reference server (the embedded target and `sfko serve`) answers multipart requests and racing reads as S3
//! does, while plain s3s-fs 0.14.1 keeps the deviations the README lists under "Findings": each case runs against
//! both, so a fix upstream (or a regression in sfko's layer) shows up here.

mod support;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use sfko::target::client::{build, ClientCredentials};
use sfko::target::embedded::{EmbeddedServer, EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY};
use support::Server;

const MIB: usize = 1024 * 1024;

fn client_of(endpoint: &str) -> Client {
    client_with(endpoint, EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY)
}

fn client_with(endpoint: &str, access_key: &str, secret_key: &str) -> Client {
    let credentials = ClientCredentials::Static { access_key: access_key.into(), secret_key: secret_key.into() };
    build(endpoint, "us-east-1", &credentials)
}

/// The reference server, and plain s3s-fs, each with a fresh bucket `bkt`.
async fn both() -> [(EmbeddedServer, Client); 2] {
    let reference = EmbeddedServer::start().await.expect("reference server");
    let plain = EmbeddedServer::start_plain().await.expect("plain s3s-fs");
    [reference, plain].map(|server| {
        let client = client_of(server.endpoint());
        (server, client)
    })
}

async fn bucket(client: &Client) {
    client.create_bucket().bucket("bkt").send().await.expect("CreateBucket");
}

/// An upload of `key` with the given parts uploaded; returns its id and each part's (number, ETag).
async fn upload(client: &Client, key: &str, parts: &[(i32, usize)]) -> (String, Vec<(i32, String)>) {
    let created = client.create_multipart_upload().bucket("bkt").key(key).send().await.expect("CreateMPU");
    let id = created.upload_id().expect("upload id").to_string();
    let mut etags = Vec::new();
    for &(number, size) in parts {
        let out = client
            .upload_part()
            .bucket("bkt")
            .key(key)
            .upload_id(&id)
            .part_number(number)
            .body(ByteStream::from(vec![number as u8; size]))
            .send()
            .await
            .expect("UploadPart");
        etags.push((number, out.e_tag().unwrap_or_default().to_string()));
    }
    (id, etags)
}

async fn complete(client: &Client, key: &str, id: &str, parts: &[(i32, String)]) -> Result<String, (String, u16)> {
    let listed = parts.iter().map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(e).build()).collect();
    client
        .complete_multipart_upload()
        .bucket("bkt")
        .key(key)
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(listed)).build())
        .send()
        .await
        .map(|out| out.e_tag().unwrap_or_default().to_string())
        .map_err(|e| refusal(&e))
}

/// The error code and HTTP status of a refusal.
fn refusal<E: ProvideErrorMetadata>(
    e: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> (String, u16) {
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    (e.code().unwrap_or("(none)").to_string(), status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_on_a_closed_upload_get_no_such_upload() {
    let [(_r, reference), (_p, plain)] = both().await;
    for (client, expected) in [(&reference, ("NoSuchUpload", 404)), (&plain, ("AccessDenied", 403))] {
        bucket(client).await;
        let (id, _) = upload(client, "k", &[(1, 10)]).await;
        client.abort_multipart_upload().bucket("bkt").key("k").upload_id(&id).send().await.expect("Abort");
        let again = client.abort_multipart_upload().bucket("bkt").key("k").upload_id(&id).send().await;
        let again = again.map(|_| ()).map_err(|e| refusal(&e));
        assert_eq!(again, Err((expected.0.to_string(), expected.1)), "a second abort");
        let part = client
            .upload_part()
            .bucket("bkt")
            .key("k")
            .upload_id(&id)
            .part_number(2)
            .body(ByteStream::from(vec![1u8; 10]))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| refusal(&e));
        assert_eq!(part, Err((expected.0.to_string(), expected.1)), "a part after the abort");
    }
    // ListParts of an aborted upload: plain s3s-fs never checks the id and answers 200.
    let (id, _) = upload(&reference, "l", &[(1, 10)]).await;
    reference.abort_multipart_upload().bucket("bkt").key("l").upload_id(&id).send().await.expect("Abort");
    let listed = reference.list_parts().bucket("bkt").key("l").upload_id(&id).send().await;
    assert_eq!(listed.map(|_| ()).map_err(|e| refusal(&e)), Err(("NoSuchUpload".into(), 404)));
    let (id, _) = upload(&plain, "l", &[(1, 10)]).await;
    plain.abort_multipart_upload().bucket("bkt").key("l").upload_id(&id).send().await.expect("Abort");
    assert!(plain.list_parts().bucket("bkt").key("l").upload_id(&id).send().await.is_ok(), "the s3s-fs finding");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_completion_leaves_the_upload_usable() {
    let [(_r, reference), (_p, plain)] = both().await;
    for client in [&reference, &plain] {
        bucket(client).await;
    }
    let parts = [(1, 5 * MIB), (2, 5 * MIB), (3, 1)];

    // Reference: each bad list gets S3's code, and the corrected retry completes the untouched upload.
    let (id, etags) = upload(&reference, "k", &parts).await;
    let reversed: Vec<_> = etags.iter().rev().cloned().collect();
    let missing = vec![etags[0].clone(), (4, etags[1].1.clone())];
    let wrong_etag = vec![etags[0].clone(), (2, etags[0].1.clone()), etags[2].clone()];
    for (list, code) in [
        (reversed.clone(), "InvalidPartOrder"),
        (missing.clone(), "InvalidPart"),
        (wrong_etag.clone(), "InvalidPart"),
        (vec![], "MalformedXML"),
    ] {
        assert_eq!(complete(&reference, "k", &id, &list).await, Err((code.to_string(), 400)), "{list:?}");
    }
    let (small_id, small_etags) = upload(&reference, "s", &[(1, 5 * MIB), (2, 1), (3, 1)]).await;
    let small = vec![small_etags[0].clone(), small_etags[1].clone(), small_etags[2].clone()];
    assert_eq!(complete(&reference, "s", &small_id, &small).await, Err(("EntityTooSmall".into(), 400)));
    let done = complete(&reference, "k", &id, &etags).await.expect("the corrected completion succeeds");
    assert!(done.ends_with("-3\""), "{done}");

    // Plain s3s-fs: parts out of order answer InvalidRequest and destroy the upload; the retry is refused.
    let (id, etags) = upload(&plain, "k", &parts).await;
    let reversed: Vec<_> = etags.iter().rev().cloned().collect();
    assert_eq!(complete(&plain, "k", &id, &reversed).await, Err(("InvalidRequest".into(), 400)));
    assert_eq!(complete(&plain, "k", &id, &etags).await, Err(("AccessDenied".into(), 403)), "the upload is gone");
    // ... and part ETags are never compared.
    let (id, etags) = upload(&plain, "e", &parts).await;
    let wrong_etag = vec![etags[0].clone(), (2, etags[0].1.clone()), etags[2].clone()];
    assert!(complete(&plain, "e", &id, &wrong_etag).await.is_ok(), "the s3s-fs finding");
}

/// A refusal that comes before the body is read (a failed precondition, a part for a closed upload) reaches a client
/// still sending a big body: the reference server reads the body to its end first, as S3 does, so the SDK gets the
/// 412 or the NoSuchUpload rather than a broken pipe. (Plain s3s-fs answers at once and closes; whether the client
/// then sees the answer is a race, so only the reference server is pinned here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_before_the_body_still_reaches_the_client() {
    let server = EmbeddedServer::start().await.expect("reference server");
    let client = client_of(server.endpoint());
    bucket(&client).await;
    client.put_object().bucket("bkt").key("k").body(ByteStream::from_static(b"old")).send().await.expect("Put");
    for round in 0..5 {
        let body = vec![round as u8; 4 * MIB];
        let refused = client
            .put_object()
            .bucket("bkt")
            .key("k")
            .if_none_match("*")
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .body(ByteStream::from(body))
            .send()
            .await;
        assert_eq!(refused.map(|_| ()).map_err(|e| refusal(&e)), Err(("PreconditionFailed".into(), 412)));
        let (id, _) = upload(&client, "m", &[(1, 10)]).await;
        client.abort_multipart_upload().bucket("bkt").key("m").upload_id(&id).send().await.expect("Abort");
        let late = client
            .upload_part()
            .bucket("bkt")
            .key("m")
            .upload_id(&id)
            .part_number(2)
            .body(ByteStream::from(vec![1u8; 5 * MIB]))
            .send()
            .await;
        assert_eq!(late.map(|_| ()).map_err(|e| refusal(&e)), Err(("NoSuchUpload".into(), 404)));
    }
}

/// GetObject and HeadObject with `If-Match`/`If-None-Match`: the reference server answers 412 and 304 as S3 does;
/// plain s3s-fs 0.14.1 ignores both and answers 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_reads_answer_412_and_304() {
    let [(_r, reference), (_p, plain)] = both().await;
    for (client, enforced) in [(&reference, true), (&plain, false)] {
        bucket(client).await;
        let put = client.put_object().bucket("bkt").key("k").body(ByteStream::from_static(b"x")).send().await;
        let etag = put.expect("Put").e_tag().unwrap_or_default().to_string();
        let other = "\"0123456789abcdef0123456789abcdef\"";
        let get = |if_match: Option<&str>, if_none_match: Option<&str>| {
            let call = client.get_object().bucket("bkt").key("k");
            call.set_if_match(if_match.map(str::to_string)).set_if_none_match(if_none_match.map(str::to_string)).send()
        };
        let status = |r: Result<u16, (String, u16)>| r.unwrap_or_else(|(_, status)| status);
        let answers = [
            status(get(Some(&etag), None).await.map(|_| 200).map_err(|e| refusal(&e))),
            status(get(Some(other), None).await.map(|_| 200).map_err(|e| refusal(&e))),
            status(get(None, Some(&etag)).await.map(|_| 200).map_err(|e| refusal(&e))),
            status(get(None, Some(other)).await.map(|_| 200).map_err(|e| refusal(&e))),
        ];
        let head = client.head_object().bucket("bkt").key("k").if_none_match(&etag).send().await;
        let head = status(head.map(|_| 200).map_err(|e| refusal(&e)));
        match enforced {
            true => assert_eq!((answers, head), ([200, 412, 304, 200], 304)),
            false => assert_eq!((answers, head), ([200; 4], 200), "the s3s-fs finding"),
        }
        // Dates, in RFC 9110's order: If-Unmodified-Since long ago fails alone but not beside an If-Match that
        // holds; If-Modified-Since long ago holds; an If-None-Match that fails wins over it.
        let (ago, ahead) = (DateTime::from_secs(946_684_800), DateTime::from_secs(4_102_444_800));
        let dated = |if_match: Option<&str>, if_none_match: Option<&str>, since, unmodified_since| {
            let call = client.get_object().bucket("bkt").key("k").set_if_match(if_match.map(str::to_string));
            let call = call.set_if_none_match(if_none_match.map(str::to_string));
            call.set_if_modified_since(since).set_if_unmodified_since(unmodified_since).send()
        };
        let answers = [
            status(dated(None, None, None, Some(ago)).await.map(|_| 200).map_err(|e| refusal(&e))),
            status(dated(None, None, None, Some(ahead)).await.map(|_| 200).map_err(|e| refusal(&e))),
            status(dated(Some(&etag), None, None, Some(ago)).await.map(|_| 200).map_err(|e| refusal(&e))),
            status(dated(None, None, Some(ago), None).await.map(|_| 200).map_err(|e| refusal(&e))),
            status(dated(None, Some(&etag), Some(ago), None).await.map(|_| 200).map_err(|e| refusal(&e))),
        ];
        match enforced {
            true => assert_eq!(answers, [412, 200, 200, 200, 304]),
            false => assert_eq!(answers, [200; 5], "the s3s-fs finding"),
        }
    }
}

/// DeleteObjects deletes every key it names, existing or not, and lists each as deleted — none when `Quiet` (plain
/// s3s-fs lists every key either way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_delete_answers_each_key_and_honours_quiet() {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let [(_r, reference), (_p, plain)] = both().await;
    for (client, quiet_lists) in [(&reference, 0), (&plain, 3)] {
        bucket(client).await;
        for key in ["a", "b"] {
            client.put_object().bucket("bkt").key(key).body(ByteStream::from_static(b"x")).send().await.expect("Put");
        }
        for quiet in [false, true] {
            let objects = ["a", "b", "never"].map(|k| ObjectIdentifier::builder().key(k).build().expect("id"));
            let delete = Delete::builder().set_objects(Some(objects.to_vec())).quiet(quiet).build().expect("delete");
            let out = client.delete_objects().bucket("bkt").delete(delete).send().await.expect("DeleteObjects");
            let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
            deleted.sort_unstable();
            assert!(out.errors().is_empty(), "{:?}", out.errors());
            match quiet {
                false => assert_eq!(deleted, ["a", "b", "never"]),
                true => assert_eq!(deleted.len(), quiet_lists, "{deleted:?}"),
            }
        }
        let left = client.list_objects_v2().bucket("bkt").send().await.expect("List");
        assert!(left.contents().is_empty(), "{:?}", left.contents());
    }
}

/// A PutObject whose checksum header does not match its body is refused (400 BadDigest) by both, but plain s3s-fs
/// compares only after it has renamed the new bytes over the object: the key has lost what it held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_checksum_keeps_what_the_key_held() {
    let [(_r, reference), (_p, plain)] = both().await;
    for (client, keeps) in [(&reference, true), (&plain, false)] {
        bucket(client).await;
        client.put_object().bucket("bkt").key("k").body(ByteStream::from_static(b"old")).send().await.expect("Put");
        // CRC32 of "new" is not 0xDEADBEEF.
        let refused = client
            .put_object()
            .bucket("bkt")
            .key("k")
            .checksum_crc32("3q2+7w==")
            .body(ByteStream::from_static(b"new"))
            .send()
            .await;
        assert_eq!(refused.map(|_| ()).map_err(|e| refusal(&e)), Err(("BadDigest".into(), 400)));
        let read = client.get_object().bucket("bkt").key("k").send().await.expect("Get");
        let bytes = read.body.collect().await.expect("body").into_bytes();
        assert_eq!(bytes.as_ref() == b"old", keeps, "{:?}", bytes);
    }
}

/// A PutObject of an object with its own Content-Encoding and a trailing checksum: the AWS Rust SDK appends a second
/// `Content-Encoding: aws-chunked` header line. S3 stores the object's own encoding; s3s 0.14.1 refuses two lines
/// with `400 InvalidRequest`. sfko's own client joins them into one line as botocore does; plain s3s-fs takes that
/// but stores `gzip,aws-chunked` as the object's encoding. The reference server joins them for any client and
/// stores `gzip`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_encoding_beside_a_trailing_checksum_is_stored() {
    let [(reference_server, reference), (plain_server, plain)] = both().await;
    let vanilla = |endpoint: &str| {
        let credentials =
            aws_sdk_s3::config::Credentials::new(EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY, None, None, "t");
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version_latest()
            .endpoint_url(endpoint)
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(credentials)
            .force_path_style(true)
            .build();
        Client::from_conf(config)
    };
    bucket(&reference).await;
    bucket(&plain).await;
    let cases = [
        (vanilla(reference_server.endpoint()), true),
        (vanilla(plain_server.endpoint()), false),
        (reference, true),
        (plain, true),
    ];
    for (n, (client, stores)) in cases.iter().enumerate() {
        let key = format!("k{n}");
        let body = ByteStream::from_body_1_x(http_body_util::Full::new(bytes::Bytes::from_static(b"zipped")));
        let put = client
            .put_object()
            .bucket("bkt")
            .key(&key)
            .content_encoding("gzip")
            .content_length(6)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(body)
            .customize()
            .config_override(
                aws_sdk_s3::config::Builder::default()
                    .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenSupported),
            )
            .send()
            .await;
        if !stores {
            assert_eq!(put.map(|_| ()).map_err(|e| refusal(&e)), Err(("InvalidRequest".into(), 400)), "case {n}");
            continue;
        }
        put.unwrap_or_else(|e| panic!("case {n}: PutObject with Content-Encoding and a trailer: {e:?}"));
        let head = client.head_object().bucket("bkt").key(&key).send().await.expect("Head");
        // Given one joined line, plain s3s-fs takes it but stores the transfer encoding as the object's own.
        let stored = if n == 3 { "gzip,aws-chunked" } else { "gzip" };
        assert_eq!(head.content_encoding(), Some(stored), "case {n}");
    }
}

/// ListObjectsV2 with `encoding-type=url`: plain s3s-fs echoes `EncodingType: url` but sends the keys raw, so a
/// client that decodes (as botocore does) reads `plus+1` as `plus 1`; the reference server encodes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_encoded_listing_is_encoded() {
    let [(_r, reference), (_p, plain)] = both().await;
    for (client, encodes) in [(&reference, true), (&plain, false)] {
        bucket(client).await;
        client
            .put_object()
            .bucket("bkt")
            .key("plus+1 ü")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect("Put");
        let listing = client
            .list_objects_v2()
            .bucket("bkt")
            .encoding_type(aws_sdk_s3::types::EncodingType::Url)
            .send()
            .await
            .expect("ListObjectsV2");
        assert_eq!(listing.encoding_type(), Some(&aws_sdk_s3::types::EncodingType::Url));
        let key = listing.contents().first().and_then(|o| o.key()).unwrap_or_default();
        assert_eq!(key, if encodes { "plus%2B1%20%C3%BC" } else { "plus+1 ü" });
    }
}

/// CompleteMultipartUpload over a key that held an object written with a checksum: plain s3s-fs rewrites only the
/// ETag of its stored info, so the new object claims the old one's checksum; the reference server claims none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_upload_claims_no_stale_checksum() {
    let [(_r, reference), (_p, plain)] = both().await;
    for (client, stale) in [(&reference, false), (&plain, true)] {
        bucket(client).await;
        let put =
            client.put_object().bucket("bkt").key("k").checksum_algorithm(ChecksumAlgorithm::Sha256).checksum_sha256(
                // SHA256 of "old".
                "y6BrVzb69n5UsHtWHq6UOV53TFF6fZEKVDaeEmPM+9Q=",
            );
        put.body(ByteStream::from_static(b"old")).send().await.expect("Put with a checksum");
        let (id, etags) = upload(client, "k", &[(1, 10)]).await;
        complete(client, "k", &id, &etags).await.expect("Complete");
        let head = client
            .head_object()
            .bucket("bkt")
            .key("k")
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
            .await
            .expect("Head");
        assert_eq!(head.checksum_sha256().is_some(), stale, "{head:?}");
    }
}

/// GET and HEAD by `partNumber`: the reference server answers the part's bytes and length with the part count and
/// the whole object's ETag (on a version read by id too); plain s3s-fs ignores `partNumber` and answers the whole
/// object with no part count (a README finding).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_is_read_by_its_number() {
    let [(_r, reference), (_p, plain)] = both().await;
    for (client, layered) in [(&reference, true), (&plain, false)] {
        bucket(client).await;
        let (id, etags) = upload(client, "k", &[(1, 5 * MIB), (2, 3)]).await;
        let etag = complete(client, "k", &id, &etags).await.expect("Complete");
        let get = client.get_object().bucket("bkt").key("k").part_number(2).send().await.expect("GET part 2");
        let (count, tag, range) = (get.parts_count(), get.e_tag().map(str::to_string), get.content_range());
        let range = range.map(str::to_string);
        let body = get.body.collect().await.expect("body").into_bytes();
        let head = client.head_object().bucket("bkt").key("k").part_number(2).send().await.expect("HEAD part 2");
        let copied = client.copy_object().bucket("bkt").key("copy").copy_source("bkt/k").send().await.expect("Copy");
        let copy_etag = copied.copy_object_result().and_then(|r| r.e_tag()).map(str::to_string);
        if !layered {
            assert_eq!((body.len(), count), (5 * MIB + 3, None), "the s3s-fs finding: the whole object");
            assert_eq!(copy_etag, Some(etag), "the s3s-fs finding: a copy keeps the multipart source's ETag");
            continue;
        }
        assert_eq!(&body[..], &[2u8; 3][..], "part 2's bytes");
        assert_eq!(
            (count, tag.as_deref(), range.as_deref()),
            (Some(2), Some(etag.as_str()), Some("bytes 5242880-5242882/5242883"))
        );
        assert_eq!((head.content_length(), head.parts_count(), head.e_tag()), (Some(3), Some(2), Some(etag.as_str())));
        let beyond = client.get_object().bucket("bkt").key("k").part_number(3).send().await;
        assert_eq!(beyond.map(|_| ()).map_err(|e| refusal(&e)), Err(("InvalidPartNumber".into(), 416)));
        // A copy is one piece: its ETag is its content's MD5, and part 1 is all of it.
        assert!(copy_etag.as_deref().is_some_and(|e| !e.contains('-')), "a copy's ETag is one MD5: {copy_etag:?}");
        let part =
            client.head_object().bucket("bkt").key("copy").part_number(1).send().await.expect("HEAD copy part 1");
        assert_eq!((part.content_length(), part.parts_count()), (Some(5 * MIB as i64 + 3), None));
        let beyond = client.head_object().bucket("bkt").key("copy").part_number(2).send().await;
        assert_eq!(beyond.map(|_| ()).map_err(|e| refusal(&e)).map_err(|(_, status)| status), Err(416));
    }
}

/// `sfko serve --plain` is the same plain s3s-fs, as its own process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sfko_serve_plain_serves_s3s_fs_as_published() {
    let server = Server::s3s_fs_with(&[], 1, 4, &["--plain"]);
    let client = client_with(&server.endpoint, support::ACCESS_KEY, support::SECRET_KEY);
    bucket(&client).await;
    let (id, _) = upload(&client, "k", &[(1, 10)]).await;
    client.abort_multipart_upload().bucket("bkt").key("k").upload_id(&id).send().await.expect("Abort");
    let again = client.abort_multipart_upload().bucket("bkt").key("k").upload_id(&id).send().await;
    assert_eq!(again.map(|_| ()).map_err(|e| refusal(&e)), Err(("AccessDenied".into(), 403)));
}

#[test]
fn plain_refuses_the_reference_layers_options() {
    let out = support::sfko_command(std::path::Path::new("."))
        .args(["serve", "--plain", "--faults", "lost-write"])
        .output()
        .expect("run sfko serve");
    assert_eq!(support::code(&out), 2, "{}", support::stderr(&out));
}

/// How many of `writers` concurrent `If-None-Match: *` PutObjects of one fresh key succeed.
async fn racing_creates(client: &Client, key: &str, writers: u8) -> usize {
    let puts = (0..writers).map(|w| {
        client.put_object().bucket("bkt").key(key).if_none_match("*").body(ByteStream::from(vec![w; 64])).send()
    });
    futures::future::join_all(puts).await.iter().filter(|answer| answer.is_ok()).count()
}

/// Conditional creates racing on one key: the reference server lets exactly one win (the others 412). Plain s3s-fs
/// 0.14.1 checks the precondition and then writes, unlocked, so several writers of one key all succeed — the
/// finding `conditional-race` reports on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_conditional_creates_have_one_winner() {
    let [(_r, reference), (_p, plain)] = both().await;
    bucket(&reference).await;
    bucket(&plain).await;
    for key in 0..8 {
        assert_eq!(racing_creates(&reference, &format!("k{key}"), 16).await, 1, "key k{key}");
    }
    // A race needs the writers to overlap, which a loaded machine makes rarer: try keys until one shows it.
    let mut several = 0;
    for key in 0..64 {
        several += usize::from(racing_creates(&plain, &format!("k{key}"), 16).await > 1);
        if several > 0 {
            break;
        }
    }
    assert!(several > 0, "plain s3s-fs let one writer win each of 64 races: the s3s-fs finding is gone");
}

/// DeleteObject with `If-Match`: the reference server deletes only the object whose ETag is named (412 otherwise,
/// the object kept). Plain s3s-fs 0.14.1 ignores the header and deletes whatever the key holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conditional_delete_deletes_only_the_named_etag() {
    let [(_r, reference), (_p, plain)] = both().await;
    for (client, honours) in [(&reference, true), (&plain, false)] {
        bucket(client).await;
        let put = client.put_object().bucket("bkt").key("k").body(ByteStream::from_static(b"one")).send().await;
        let etag = put.expect("PutObject").e_tag().unwrap_or_default().to_string();
        let wrong = client.delete_object().bucket("bkt").key("k").if_match("\"0123456789abcdef0123456789abcdef\"");
        let wrong = wrong.send().await.map(|_| ()).map_err(|e| refusal(&e));
        let kept = client.head_object().bucket("bkt").key("k").send().await.is_ok();
        if honours {
            assert_eq!(wrong, Err(("PreconditionFailed".into(), 412)), "another ETag named");
            assert!(kept, "a refused conditional delete keeps the object");
            client.delete_object().bucket("bkt").key("k").if_match(&etag).send().await.expect("the ETag named");
            assert!(client.head_object().bucket("bkt").key("k").send().await.is_err(), "deleted");
        } else {
            assert_eq!(wrong, Ok(()), "the s3s-fs finding: If-Match ignored");
            assert!(!kept, "and the object deleted");
        }
    }
}

/// ListParts in pages: the reference server lists parts in number order with their ETags, `max-parts` at a time,
/// continued by the part-number marker. Plain s3s-fs 0.14.1 answers every part at once, with no ETag, not truncated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_parts_pages_by_part_number() {
    let [(_r, reference), (_p, plain)] = both().await;
    let numbers = [1, 2, 3, 5, 8, 13, 21];
    let sizes: Vec<(i32, usize)> = numbers.iter().map(|&n| (n, 10)).collect();
    for (client, pages) in [(&reference, true), (&plain, false)] {
        bucket(client).await;
        let (id, etags) = upload(client, "k", &sizes).await;
        let mut listed: Vec<(i32, String)> = Vec::new();
        let mut marker: Option<String> = None;
        let mut truncated_pages = 0;
        for _ in 0..10 {
            let call = client.list_parts().bucket("bkt").key("k").upload_id(&id).max_parts(3);
            let page = call.set_part_number_marker(marker.clone()).send().await.expect("ListParts");
            listed.extend(page.parts().iter().map(|p| (p.part_number().unwrap_or(0), p.e_tag().unwrap_or("").into())));
            if !page.is_truncated().unwrap_or(false) {
                break;
            }
            truncated_pages += 1;
            marker = page.next_part_number_marker().map(str::to_string);
        }
        if pages {
            assert_eq!(truncated_pages, 2, "7 parts in pages of 3");
            assert_eq!(listed, etags, "every part once, in number order, with its ETag");
        } else {
            assert_eq!(truncated_pages, 0, "the s3s-fs finding: one page whatever max-parts says");
            assert_eq!(listed.len(), numbers.len());
            assert!(listed.iter().all(|(_, etag)| etag.is_empty()), "and no ETags: {listed:?}");
        }
    }
}

/// ListMultipartUploads in pages: the reference server lists the open uploads by key, then by creation, `max-uploads`
/// at a time, continued by the key and upload-id markers; completed and aborted ones are gone. Plain s3s-fs 0.14.1
/// does not implement it (501).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_multipart_uploads_pages_the_open_uploads() {
    let [(_r, reference), (_p, plain)] = both().await;
    bucket(&plain).await;
    let refused = plain.list_multipart_uploads().bucket("bkt").send().await.expect_err("s3s-fs has none");
    assert_eq!(refusal(&refused), ("NotImplemented".to_string(), 501), "the s3s-fs finding");
    // Plain s3s-fs deletes a bucket with an upload in progress and keeps the upload: made again, the bucket takes
    // parts for it (S3 removes the uploads with the bucket: NoSuchUpload).
    let kept = plain.create_multipart_upload().bucket("bkt").key("k").send().await.expect("Create on s3s-fs");
    plain.delete_bucket().bucket("bkt").send().await.expect("DeleteBucket with an upload open");
    bucket(&plain).await;
    let late = plain.upload_part().bucket("bkt").key("k").upload_id(kept.upload_id().unwrap_or_default());
    late.part_number(1)
        .body(vec![1u8; 8].into())
        .send()
        .await
        .expect("the s3s-fs finding: the upload outlived its bucket");

    bucket(&reference).await;
    let mut open = Vec::new();
    for key in ["b", "a", "b", "c", "b", "gone"] {
        let created = reference.create_multipart_upload().bucket("bkt").key(key).send().await.expect("Create");
        open.push((key.to_string(), created.upload_id().unwrap_or_default().to_string()));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (gone_key, gone_id) = open.pop().expect("the last upload");
    let abort = reference.abort_multipart_upload().bucket("bkt").key(&gone_key).upload_id(&gone_id);
    abort.send().await.expect("AbortMultipartUpload");
    // S3's order: by key, then by creation (the sort is stable, so the three `b` uploads keep theirs).
    open.sort_by(|x, y| x.0.cmp(&y.0));

    let mut listed = Vec::new();
    let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
    let mut truncated_pages = 0;
    for _ in 0..10 {
        let call = reference.list_multipart_uploads().bucket("bkt").max_uploads(2);
        let page = call.set_key_marker(key_marker.clone()).set_upload_id_marker(id_marker.clone());
        let page = page.send().await.expect("ListMultipartUploads");
        listed.extend(
            page.uploads().iter().map(|u| (u.key().unwrap_or("").to_string(), u.upload_id().unwrap_or("").to_string())),
        );
        if !page.is_truncated().unwrap_or(false) {
            break;
        }
        truncated_pages += 1;
        (key_marker, id_marker) =
            (page.next_key_marker().map(Into::into), page.next_upload_id_marker().map(Into::into));
    }
    assert_eq!(listed, open, "every open upload once, by key then by creation");
    assert_eq!(truncated_pages, 2, "5 uploads in pages of 2");
    let by_prefix = reference.list_multipart_uploads().bucket("bkt").prefix("b").send().await.expect("with a prefix");
    assert_eq!(by_prefix.uploads().len(), 3);
    let missing = reference.list_multipart_uploads().bucket("nope").send().await.expect_err("no such bucket");
    assert_eq!(refusal(&missing).0, "NoSuchBucket");

    // S3 deletes a bucket with uploads in progress, and them with it: the same name made again lists none (s3s-fs
    // keeps upload files beside the buckets, so without sfko's layer they came back with the name).
    reference.delete_bucket().bucket("bkt").send().await.expect("DeleteBucket with uploads open");
    bucket(&reference).await;
    let again = reference.list_multipart_uploads().bucket("bkt").send().await.expect("ListMultipartUploads");
    assert!(again.uploads().is_empty(), "{:?}", again.uploads());
    let (key, id) = &open[0];
    let late = reference.upload_part().bucket("bkt").key(key).upload_id(id).part_number(1);
    let late = late.body(vec![1u8; 8].into()).send().await.expect_err("the upload went with its bucket");
    assert_eq!(refusal(&late).0, "NoSuchUpload");
}

/// A bucket never versioned lists each object as its one version, `null` and latest, paged by key marker; deleting
/// that version by id deletes the object. Plain s3s-fs answers 501, which left sfko's cleanup and `list-versions`
/// unjudged on such buckets.
#[tokio::test]
async fn a_bucket_never_versioned_lists_null_versions() {
    let [(_r, reference), (_p, plain)] = both().await;
    bucket(&plain).await;
    let refused = plain.list_object_versions().bucket("bkt").send().await.expect_err("s3s-fs has none");
    assert_eq!(refusal(&refused), ("NotImplemented".to_string(), 501), "the s3s-fs finding");

    bucket(&reference).await;
    for key in ["c", "a", "b/x", "b/y"] {
        let put = reference.put_object().bucket("bkt").key(key).body(ByteStream::from_static(b"four"));
        put.send().await.expect("PutObject");
    }
    let mut listed = Vec::new();
    let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
    for _ in 0..10 {
        let call = reference.list_object_versions().bucket("bkt").max_keys(3);
        let page = call.set_key_marker(key_marker.clone()).set_version_id_marker(id_marker.clone());
        let page = page.send().await.expect("ListObjectVersions");
        for v in page.versions() {
            assert_eq!((v.version_id(), v.is_latest(), v.size()), (Some("null"), Some(true), Some(4)));
            listed.push(v.key().unwrap_or("").to_string());
        }
        if !page.is_truncated().unwrap_or(false) {
            break;
        }
        (key_marker, id_marker) =
            (page.next_key_marker().map(Into::into), page.next_version_id_marker().map(Into::into));
        assert_eq!(id_marker.as_deref(), Some("null"));
    }
    assert_eq!(listed, ["a", "b/x", "b/y", "c"], "every object once, by key");
    let by_prefix = reference.list_object_versions().bucket("bkt").prefix("b/").send().await.expect("a prefix");
    assert_eq!(by_prefix.versions().len(), 2);

    let delete = reference.delete_object().bucket("bkt").key("a").version_id("null");
    delete.send().await.expect("DeleteObject of the null version");
    let after = reference.list_object_versions().bucket("bkt").send().await.expect("ListObjectVersions");
    assert_eq!(after.versions().len(), 3, "the deleted object is gone");
    assert!(after.delete_markers().is_empty(), "and no marker took its place");
    let missing = reference.list_object_versions().bucket("nope").send().await.expect_err("no such bucket");
    assert_eq!(refusal(&missing).0, "NoSuchBucket");
}

/// The `algorithm` checksum of `bytes`, in S3's wire form.
fn checksum_of(algorithm: sfko::checksum::Algorithm, bytes: &[u8]) -> String {
    let mut hasher = algorithm.hasher();
    hasher.update(bytes);
    hasher.finish()
}

/// Multipart checksums: the reference server keeps the algorithm and type an upload declares, refuses a part whose
/// CRC32 does not match (`BadDigest`, keeping the part it had), answers each part's checksum, and gives the object
/// the CRC32 of the part CRC32s, `-2`, type COMPOSITE, on completion and on HEAD. A full-object CRC64NVME upload
/// gets the CRC64NVME of its whole content; a composite CRC64NVME is refused. Plain s3s-fs ignores all of it: it
/// stores the wrong part and the object has no checksum (a README finding).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_checksums_are_declared_checked_and_combined() {
    use aws_sdk_s3::types::{ChecksumMode, ChecksumType};
    use sfko::checksum::{composite, Algorithm};
    let [(_r, reference), (_p, plain)] = both().await;
    let first = vec![1u8; 5 * MIB];
    let second = b"the last part".to_vec();
    let (crc1, crc2) = (checksum_of(Algorithm::Crc32, &first), checksum_of(Algorithm::Crc32, &second));
    for (client, reference) in [(&reference, true), (&plain, false)] {
        bucket(client).await;
        let created = client
            .create_multipart_upload()
            .bucket("bkt")
            .key("k")
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .checksum_type(ChecksumType::Composite)
            .send()
            .await
            .expect("CreateMPU");
        assert_eq!(created.checksum_type() == Some(&ChecksumType::Composite), reference, "{created:?}");
        let id = created.upload_id().expect("upload id").to_string();
        let part = |number: i32, bytes: &[u8], crc32: &str| {
            let call = client.upload_part().bucket("bkt").key("k").upload_id(&id).part_number(number);
            call.checksum_crc32(crc32).body(ByteStream::from(bytes.to_vec())).send()
        };
        let one = part(1, &first, &crc1).await.expect("part 1");
        assert_eq!(one.checksum_crc32() == Some(crc1.as_str()), reference, "{one:?}");
        // Part 2 with part 1's CRC32: refused by the reference server (and nothing stored), taken by s3s-fs.
        let wrong = part(2, &second, &crc1).await;
        match reference {
            true => assert_eq!(wrong.map(|_| ()).map_err(|e| refusal(&e)), Err(("BadDigest".into(), 400))),
            false => assert!(wrong.is_ok(), "{wrong:?}"),
        }
        let two = part(2, &second, &crc2).await.expect("part 2");
        let listed = [(1, one.e_tag(), &crc1), (2, two.e_tag(), &crc2)].map(|(number, etag, crc32)| {
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(etag.map(str::to_string))
                .checksum_crc32(crc32)
                .build()
        });
        let done = client
            .complete_multipart_upload()
            .bucket("bkt")
            .key("k")
            .upload_id(&id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(listed.to_vec())).build())
            .send()
            .await
            .expect("Complete");
        let expected = composite(Algorithm::Crc32, &[&crc1, &crc2]).expect("composite");
        let head = client.head_object().bucket("bkt").key("k").checksum_mode(ChecksumMode::Enabled).send().await;
        let head = head.expect("Head");
        match reference {
            true => {
                assert_eq!(done.checksum_crc32(), Some(expected.as_str()), "{done:?}");
                assert_eq!(done.checksum_type(), Some(&ChecksumType::Composite));
                assert_eq!(head.checksum_crc32(), Some(expected.as_str()), "{head:?}");
                assert_eq!(head.checksum_type(), Some(&ChecksumType::Composite));
                assert_eq!(head.content_length(), Some((first.len() + second.len()) as i64));
            }
            false => assert_eq!(head.checksum_crc32(), None, "{head:?}"),
        }
    }

    // Full-object CRC64NVME: the checksum of the whole content, whatever the parts.
    let created = reference
        .create_multipart_upload()
        .bucket("bkt")
        .key("full")
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .send()
        .await
        .expect("CreateMPU CRC64NVME");
    assert_eq!(created.checksum_type(), Some(&ChecksumType::FullObject));
    let id = created.upload_id().expect("upload id").to_string();
    let mut listed = Vec::new();
    for (number, bytes) in [(1, &first), (2, &second)] {
        let crc = checksum_of(Algorithm::Crc64Nvme, bytes);
        let call = reference.upload_part().bucket("bkt").key("full").upload_id(&id).part_number(number);
        let out = call.checksum_crc64_nvme(&crc).body(ByteStream::from(bytes.clone())).send().await.expect("part");
        let part = CompletedPart::builder().part_number(number).set_e_tag(out.e_tag().map(str::to_string));
        listed.push(part.checksum_crc64_nvme(crc).build());
    }
    let upload = CompletedMultipartUpload::builder().set_parts(Some(listed)).build();
    let call = reference.complete_multipart_upload().bucket("bkt").key("full").upload_id(&id);
    call.multipart_upload(upload).send().await.expect("Complete full object");
    let head = reference.head_object().bucket("bkt").key("full").checksum_mode(ChecksumMode::Enabled).send().await;
    let head = head.expect("Head");
    let whole = checksum_of(Algorithm::Crc64Nvme, &[first.as_slice(), second.as_slice()].concat());
    assert_eq!(head.checksum_crc64_nvme(), Some(whole.as_str()), "{head:?}");
    assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
    let refused = reference
        .create_multipart_upload()
        .bucket("bkt")
        .key("bad")
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .checksum_type(ChecksumType::Composite)
        .send()
        .await;
    assert_eq!(refused.map(|_| ()).map_err(|e| refusal(&e)), Err(("InvalidRequest".into(), 400)));
}
