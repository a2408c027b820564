//! sfko's requests are framed as boto3 frames them: captured from a raw socket, every bodiless PUT, POST and DELETE
//! carries `Content-Length: 0` (some servers answer 411 MissingContentLength without it), and a body with its own
//! Content-Encoding sent with a trailing checksum carries one Content-Encoding header, as botocore sends it.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

mod support;

use sfko::target::client::{build, ClientCredentials};

/// A listener that records every request head and answers `200 OK` with an empty body.
fn recorder() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut pending = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    while !pending.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf) {
                            Ok(n) if n > 0 => pending.extend_from_slice(&buf[..n]),
                            _ => return,
                        }
                    }
                    let end = pending.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
                    let head = String::from_utf8_lossy(&pending[..end]).to_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:").and_then(|v| v.trim().parse::<usize>().ok()))
                        .unwrap_or(0);
                    while pending.len() < end + 4 + length {
                        match stream.read(&mut buf) {
                            Ok(n) if n > 0 => pending.extend_from_slice(&buf[..n]),
                            _ => return,
                        }
                    }
                    pending.drain(..end + 4 + length);
                    if let Ok(mut heads) = seen.lock() {
                        heads.push(head);
                    }
                    if stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    (endpoint, heads)
}

#[tokio::test]
async fn bodiless_puts_posts_and_deletes_carry_content_length_zero() {
    let (endpoint, heads) = recorder();
    let credentials = ClientCredentials::Static { access_key: "ak".into(), secret_key: "sk".into() };
    let client = build(&endpoint, "us-east-1", &credentials);
    // The answers are empty, so some calls fail to decode: only what was sent matters here.
    let _ = client.copy_object().bucket("b").key("k").copy_source("b/src").send().await;
    let _ = client
        .upload_part_copy()
        .bucket("b")
        .key("k")
        .upload_id("u")
        .part_number(1)
        .copy_source("b/src")
        .copy_source_range("bytes=0-9")
        .send()
        .await;
    let _ = client.create_multipart_upload().bucket("b").key("k").send().await;
    let _ = client.create_bucket().bucket("b").send().await;
    let _ = client.delete_object().bucket("b").key("k").send().await;
    let _ = client.delete_object().bucket("b").key("k").version_id("v1").if_match("\"e\"").send().await;
    let _ = client.abort_multipart_upload().bucket("b").key("k").upload_id("u").send().await;
    let _ = client.delete_bucket().bucket("b").send().await;
    let heads = heads.lock().map(|h| h.clone()).unwrap_or_default();
    assert_eq!(heads.len(), 8, "{heads:#?}");
    for head in &heads {
        assert!(head.lines().any(|l| l.trim() == "content-length: 0"), "no Content-Length: 0 in:\n{head}");
    }
}

#[tokio::test]
async fn an_encoded_body_with_a_trailing_checksum_carries_one_content_encoding() {
    let (endpoint, heads) = recorder();
    let credentials = ClientCredentials::Static { access_key: "ak".into(), secret_key: "sk".into() };
    let client = build(&endpoint, "us-east-1", &credentials);
    // A streamed body, as sfko's driver sends a trailing checksum (an in-memory one gets it as a header).
    let bytes = bytes::Bytes::from(vec![7u8; 70_000]);
    let body = aws_sdk_s3::primitives::ByteStream::from_body_1_x(http_body_util::Full::new(bytes));
    let calculate = aws_sdk_s3::config::Builder::default()
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenSupported);
    let _ = client
        .put_object()
        .bucket("b")
        .key("k")
        .content_length(70_000)
        .content_encoding("gzip")
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
        .body(body)
        .customize()
        .config_override(calculate)
        .send()
        .await;
    let heads = heads.lock().map(|h| h.clone()).unwrap_or_default();
    let head = heads.first().unwrap_or_else(|| panic!("nothing sent: {heads:#?}"));
    let encodings: Vec<&str> = head.lines().filter(|l| l.starts_with("content-encoding:")).collect();
    assert!(head.contains("x-amz-trailer: x-amz-checksum-crc32"), "{head}");
    assert_eq!(encodings, ["content-encoding: gzip,aws-chunked"], "{head}");
}

/// A TCP proxy to `upstream` that records each request's head (normalised) and a blake3 of its body bytes — once
/// the server has begun to answer it. (A request sent on a connection the server had just closed is re-sent by
/// the HTTP client on another one without sfko's knowing; only the one that was answered counts.)
fn capturing_proxy(upstream: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(&upstream) else { return };
            let (Ok(back_from), Ok(back_to)) = (server.try_clone(), client.try_clone()) else { return };
            let unanswered = Arc::new(Mutex::new(Vec::new()));
            let (seen, waiting) = (seen.clone(), unanswered.clone());
            std::thread::spawn(move || relay_answers(back_from, back_to, &waiting, &seen));
            std::thread::spawn(move || relay_requests(client, server, &unanswered));
        }
    });
    (endpoint, requests)
}

/// Forwards the server's answers to the client; the first bytes of an answer make the requests sent before it
/// count (recorded before they are forwarded, so sfko cannot see an answer, and exit, ahead of the record).
fn relay_answers(
    mut server: std::net::TcpStream,
    mut client: std::net::TcpStream,
    unanswered: &Mutex<Vec<String>>,
    seen: &Mutex<Vec<String>>,
) {
    let mut buf = [0u8; 65536];
    loop {
        let n = match server.read(&mut buf) {
            Ok(n) if n > 0 => n,
            _ => break,
        };
        if let (Ok(mut waiting), Ok(mut seen)) = (unanswered.lock(), seen.lock()) {
            seen.append(&mut waiting);
        }
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    // The server closed: so does the client's side, or its next request would go nowhere.
    let _ = client.shutdown(std::net::Shutdown::Both);
}

/// Forwards what `client` sends to `server` as it arrives, noting each request found in it as unanswered: its head
/// as soon as it is complete (a server may answer before the body is in, e.g. 412 to a conditional write), and the
/// blake3 of its body once that is.
fn relay_requests(mut client: std::net::TcpStream, mut server: std::net::TcpStream, unanswered: &Mutex<Vec<String>>) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 65536];
    // The head of the request whose body is still coming, and whether it is noted yet.
    let mut noted = false;
    loop {
        let n = match client.read(&mut buf) {
            Ok(n) if n > 0 => n,
            _ => return,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4) {
            let head = String::from_utf8_lossy(&pending[..end]).to_string();
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_lowercase().strip_prefix("content-length:").and_then(|v| v.trim().parse::<usize>().ok())
                })
                .unwrap_or(0);
            let Ok(mut waiting) = unanswered.lock() else { return };
            if pending.len() < end + length {
                if !noted {
                    waiting.push(format!("{}body ?", normalise(&head)));
                    noted = true;
                }
                break;
            }
            let mut body: Vec<u8> = pending.drain(..end + length).skip(end).collect();
            blank_signatures(&mut body);
            let record = format!("{}body {}", normalise(&head), blake3::hash(&body));
            match (noted, waiting.last_mut()) {
                // Still unanswered: the body is known now.
                (true, Some(last)) if last.ends_with("body ?") => *last = record,
                // Answered before its body was in: it stays recorded without one.
                (true, _) => {}
                (false, _) => waiting.push(record),
            }
            noted = false;
        }
        if server.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// Signed `aws-chunked` bodies sign each chunk and the trailer with the request's time: those signatures differ
/// from run to run, the bytes around them must not.
fn blank_signatures(body: &mut [u8]) {
    for marker in [&b"chunk-signature="[..], &b"x-amz-trailer-signature:"[..]] {
        let mut at = 0;
        while let Some(found) = body[at..].windows(marker.len()).position(|w| w == marker) {
            let start = at + found + marker.len();
            let end = (start + 64).min(body.len());
            body[start..end].fill(b'0');
            at = end;
        }
    }
}

/// The request line without ids a server chose, and the headers that say what was sent (not when, or by whom).
fn normalise(head: &str) -> String {
    const KEPT: &[&str] = &[
        "content-length",
        "content-type",
        "content-md5",
        "content-encoding",
        "range",
        "x-amz-content-sha256",
        "x-amz-decoded-content-length",
        "x-amz-trailer",
        "x-amz-sdk-checksum-algorithm",
        "x-amz-checksum-mode",
        "x-amz-copy-source",
        "x-amz-copy-source-range",
        "if-match",
        "if-none-match",
    ];
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let target = request_line.split(' ').nth(1).unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut params: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("x-id="))
        .map(|p| match p.split_once('=') {
            Some((name, _)) if ["uploadId", "versionId", "continuation-token"].contains(&name) => format!("{name}=*"),
            _ => p.to_string(),
        })
        .collect();
    params.sort();
    let mut out = format!("{} {path}?{}\n", request_line.split(' ').next().unwrap_or_default(), params.join("&"));
    let mut headers: Vec<String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(name, value)| (name.trim().to_lowercase(), value.trim().to_string()))
        .filter(|(name, _)| KEPT.contains(&name.as_str()) || name.starts_with("x-amz-checksum-"))
        .map(|(name, value)| format!("{name}: {value}\n"))
        .collect();
    headers.sort();
    out.extend(headers);
    out
}

/// Object requests of a run (PUT and GET of a key: not listings, which cleanup issues its own way), sorted and
/// each once: a transport failure makes sfko send an identical retry, which says nothing about the replay. (ops of one round go out in any order).
fn object_requests(requests: &Mutex<Vec<String>>) -> Vec<String> {
    let mut out: Vec<String> = requests
        .lock()
        .map(|r| r.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            let path = r.split(' ').nth(1).unwrap_or_default().split('?').next().unwrap_or_default();
            let key = path.trim_start_matches('/').split_once('/').map_or("", |(_, key)| key);
            !key.is_empty() && (r.starts_with("PUT ") || r.starts_with("GET "))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A replay re-sends what the run sent, byte for byte: the seeded checksums (headers, trailers, wrong values, on
/// PutObject and on UploadPart) and preconditions included. One op at a time: which of two racing conditional writes wins is the server's choice,
/// and it decides whether a later `If-Match` has an ETag to send. Captured on the wire in front of `sfko serve`, for the run and for its replay.
#[test]
fn a_replay_resends_the_runs_requests_byte_for_byte() {
    let work = support::Workdir::new();
    work.scenarios(
        "- name: sums\n  tests: [random-ops]\n  random_ops: {ops: 100, concurrency: 1, keys: 3, weights: {put: 8, \
         put-if-absent: 2, put-if-match: 2, get: 3, head: 1, bad-checksum: 2, get-range: 1, copy: 0, list: 0, \
         mpu-create: 2, mpu-part: 3, bad-part-checksum: 1, mpu-complete: 0, mpu-complete-if-absent: 0, \
         bad-complete: 0, mpu-abort: 0, mpu-late: 0, list-v1: 0, get-if: 0, delete-batch: 0}}\n",
    );
    let server = support::Server::s3s_fs(&[], 1, 4);
    let (endpoint, requests) = capturing_proxy(server.endpoint.trim_start_matches("http://").to_string());
    let out = work.sfko(&["--seed", "3", "--endpoint", &endpoint, "--format", "json"]);
    assert_eq!(support::code(&out), 0, "{}", support::stderr(&out));
    let run = object_requests(&requests);
    let sent = |needle: &str| run.iter().filter(|r| r.contains(needle)).count();
    assert!(sent("x-amz-trailer: x-amz-checksum-") > 0, "a trailer was sent: {run:#?}");
    // Over plain HTTP the SDK signs each chunk (over HTTPS it sends STREAMING-UNSIGNED-PAYLOAD-TRAILER).
    assert!(sent("x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") > 0, "{run:#?}");
    assert!(sent("x-amz-checksum-mode: ENABLED") > 0, "{run:#?}");
    let algorithms = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];
    let headers = algorithms.iter().filter(|a| sent(&format!("x-amz-checksum-{a}: ")) > 0).count();
    assert!(headers >= 3, "checksum headers of several algorithms: {run:#?}");
    assert!(sent("if-none-match: *") > 0 && sent("if-match: ") > 0, "conditional writes: {run:#?}");
    // Parts of uploads that declared a checksum carry it (the upload id is the replay's own, and blanked).
    let parts = |needle: &str| run.iter().filter(|r| r.contains("uploadId=*") && r.contains(needle)).count();
    assert!(parts("x-amz-sdk-checksum-algorithm: ") > 0, "{run:#?}");
    requests.lock().map(|mut r| r.clear()).unwrap_or_default();
    let journal = support::json(&out)["journal"].as_str().expect("journal").to_string();
    let out = work.sfko(&["replay", &journal, "--endpoint", &endpoint, "--format", "json"]);
    assert_eq!(support::code(&out), 0, "{}", support::stderr(&out));
    let replay = object_requests(&requests);
    // A request answered before its body was in (`body ?`) matches the same head with any body.
    let same = |x: &str, y: &str| {
        let head = |r: &str| r.rsplit_once("body ").map_or(r.to_string(), |(h, _)| h.to_string());
        x == y || ((x.ends_with("body ?") || y.ends_with("body ?")) && head(x) == head(y))
    };
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        let mut rest = b.to_vec();
        a.iter()
            .filter(|r| match rest.iter().position(|x| same(x, r)) {
                Some(at) => {
                    rest.remove(at);
                    false
                }
                None => true,
            })
            .cloned()
            .collect()
    };
    let replayed = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(only(&run, &replay), Vec::<String>::new(), "sent by the run, not by the replay: {replayed}");
    assert_eq!(only(&replay, &run), Vec::<String>::new(), "sent by the replay, not by the run");
}

/// Config `write_checksum: crc64nvme`: every scripted single PutObject carries that checksum as a header, as an SDK
/// configured with the algorithm sends it, and the target stores and checks it.
#[test]
fn scripted_puts_send_the_configured_checksum() {
    let work = support::Workdir::new();
    work.scenarios("- name: puts\n  objects: {count: 6, size: {min: 0B, max: 64K}}\n  tests: [put, get]\n  checks: [check-backend]\n");
    let server = support::Server::s3s_fs(&[], 1, 4);
    let (endpoint, requests) = capturing_proxy(server.endpoint.trim_start_matches("http://").to_string());
    std::fs::write(work.path().join("sfko.yaml"), "write_checksum: crc64nvme\n").expect("config");
    let out = work.sfko(&["--seed", "5", "--config", "sfko.yaml", "--endpoint", &endpoint, "--format", "json"]);
    assert_eq!(support::code(&out), 0, "{}", support::stderr(&out));
    let puts: Vec<String> = object_requests(&requests).into_iter().filter(|r| r.starts_with("PUT ")).collect();
    assert_eq!(puts.len(), 6, "{puts:#?}");
    assert!(puts.iter().all(|r| r.contains("x-amz-checksum-crc64nvme: ")), "{puts:#?}");
    let out = work.sfko(&["--seed", "5", "--config", "sfko.yaml", "--dry-run", "--format", "json"]);
    assert_eq!(support::json(&out)["plans"][0]["plan"]["setup"]["write_checksum"], "Crc64Nvme");
}
