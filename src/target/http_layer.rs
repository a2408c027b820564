//! What the reference server does to a request before s3s sees it, and to an answer after s3s-fs gives it, where
//! s3s 0.14.1 and s3s-fs 0.14.1 part from what S3 does on the wire.
//!
//! `encoding-type=url` on ListObjectsV2: s3s-fs echoes `EncodingType: url` but sends keys raw, so a client that
//! decodes (botocore, sfko) reads `plus+1` as `plus 1` and `pct%251` as `pct%1`. [`url_encode_listing`] encodes what
//! S3 encodes.
//!
//! An SDK that streams a body as `aws-chunked` (a trailing checksum) *appends* `Content-Encoding: aws-chunked` to
//! the request, so an object with its own Content-Encoding (`gzip`) goes out with two Content-Encoding headers —
//! the AWS Rust SDK does this, and botocore joins them into one. S3 accepts both and stores the object's own
//! encoding. s3s answers the two headers `400 InvalidRequest`. This layer joins repeated Content-Encoding headers
//! into one, comma-separated — exactly the value SigV4 signs for repeated headers, so the signature still holds —
//! and [`without_aws_chunked`] later drops the transfer encoding from what is stored.

use hyper::header::{HeaderValue, CONTENT_ENCODING};

/// Wraps an HTTP service (s3s's) so that, when `enabled`, it sees one Content-Encoding header at most.
#[derive(Clone)]
pub struct JoinContentEncoding<S> {
    pub inner: S,
    /// Off for `sfko serve --plain` (s3s as published).
    pub enabled: bool,
}

impl<S, B> hyper::service::Service<hyper::Request<B>> for JoinContentEncoding<S>
where
    S: hyper::service::Service<hyper::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, mut request: hyper::Request<B>) -> S::Future {
        if self.enabled {
            join_repeated(request.headers_mut());
        }
        self.inner.call(request)
    }
}

/// Joins repeated Content-Encoding headers into one, in order.
fn join_repeated(headers: &mut hyper::HeaderMap) {
    if headers.get_all(CONTENT_ENCODING).iter().count() < 2 {
        return;
    }
    let values: Vec<&str> = headers.get_all(CONTENT_ENCODING).iter().filter_map(|v| v.to_str().ok()).collect();
    if let Ok(joined) = HeaderValue::from_str(&values.join(",")) {
        headers.insert(CONTENT_ENCODING, joined);
    }
}

/// The object's own Content-Encoding: the request's, without the `aws-chunked` transfer encoding (S3 does not
/// store it); `None` when nothing else is left.
pub fn without_aws_chunked(encoding: Option<String>) -> Option<String> {
    let encoding = encoding?;
    let kept: Vec<&str> = encoding
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(","))
}

/// What S3 leaves as it is in a url-encoded listing: letters, digits, `-`, `_`, `.`, `~` and `/`.
const URL_KEPT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// Percent-encodes the keys and prefixes of a ListObjectsV2 answer that says it is url-encoded.
pub fn url_encode_listing(out: &mut s3s::dto::ListObjectsV2Output) {
    if out.encoding_type.as_ref().map(|e| e.as_str()) != Some(s3s::dto::EncodingType::URL) {
        return;
    }
    let encode = |text: &mut String| *text = percent_encoding::utf8_percent_encode(text, URL_KEPT).to_string();
    let keys = out.contents.iter_mut().flatten().filter_map(|o| o.key.as_mut());
    let prefixes = out.common_prefixes.iter_mut().flatten().filter_map(|p| p.prefix.as_mut());
    let echoed = [&mut out.prefix, &mut out.delimiter, &mut out.start_after].into_iter().flatten();
    keys.chain(prefixes).chain(echoed).for_each(encode);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_content_encodings_become_one_and_aws_chunked_is_not_stored() {
        let mut headers = hyper::HeaderMap::new();
        headers.append(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        headers.append(CONTENT_ENCODING, HeaderValue::from_static("aws-chunked"));
        join_repeated(&mut headers);
        let all: Vec<&HeaderValue> = headers.get_all(CONTENT_ENCODING).iter().collect();
        assert_eq!(all, [HeaderValue::from_static("gzip,aws-chunked")]);
        assert_eq!(without_aws_chunked(Some("gzip,aws-chunked".into())), Some("gzip".into()));
        assert_eq!(without_aws_chunked(Some("aws-chunked".into())), None);
        assert_eq!(without_aws_chunked(None), None);
    }

    #[test]
    fn a_url_encoded_listing_encodes_what_s3_encodes() {
        let mut out = s3s::dto::ListObjectsV2Output {
            encoding_type: Some(s3s::dto::EncodingType::from_static(s3s::dto::EncodingType::URL)),
            contents: Some(vec![s3s::dto::Object { key: Some("sp ace/plus+1%ü".into()), ..Default::default() }]),
            ..Default::default()
        };
        url_encode_listing(&mut out);
        let key = out.contents.as_ref().and_then(|c| c[0].key.clone());
        assert_eq!(key.as_deref(), Some("sp%20ace/plus%2B1%25%C3%BC"));
    }
}
