//! sfko's requests are framed as boto3 frames them: captured from a raw socket, every bodiless PUT and POST carries
//! `Content-Length: 0` (some servers answer 411 MissingContentLength without it).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

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
async fn bodiless_puts_and_posts_carry_content_length_zero() {
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
    let heads = heads.lock().map(|h| h.clone()).unwrap_or_default();
    assert_eq!(heads.len(), 4, "{heads:#?}");
    for head in &heads {
        let method = head.split(' ').next().unwrap_or_default();
        if method == "put" || method == "post" {
            assert!(head.lines().any(|l| l.trim() == "content-length: 0"), "no Content-Length: 0 in:\n{head}");
        }
    }
}
