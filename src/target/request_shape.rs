//! sfko's requests have the shape mainstream SDKs give theirs, so a deviation it reports is the server's, never
//! an artefact of sfko's request shape.
//!
//! Where the Rust SDK frames a request differently from boto3 in a way a server may refuse, [`MainstreamShape`]
//! frames it as boto3 does, before the request is signed:
//! - a bodiless PUT, POST or DELETE (UploadPartCopy, CopyObject, CreateMultipartUpload, DeleteObject,
//!   AbortMultipartUpload, DeleteBucket …) goes out with `Content-Length: 0`; the Rust SDK sends no Content-Length,
//!   and some S3 servers answer that with `411 MissingContentLength` (one did for UploadPartCopy, another for
//!   DeleteObject);
//! - an object with its own Content-Encoding sent with a trailing checksum gets *one* Content-Encoding header,
//!   `gzip,aws-chunked`, as botocore sends it; the Rust SDK appends a second header line, which a server reading one
//!   line takes for a plain `gzip` body (s3s answers it `400 InvalidRequest`). Both forms sign the same value.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Aligns a request's framing headers with boto3's.
#[derive(Debug, Default)]
pub struct MainstreamShape;

impl Intercept for MainstreamShape {
    fn name(&self) -> &'static str {
        "sfko-mainstream-shape"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let bodiless = request.body().content_length() == Some(0);
        let framed =
            request.headers().contains_key("content-length") || request.headers().contains_key("transfer-encoding");
        if bodiless && !framed && matches!(request.method(), "PUT" | "POST" | "DELETE") {
            request.headers_mut().insert("content-length", "0");
        }
        Ok(())
    }

    /// After signing, because the SDK appends `aws-chunked` while it signs. SigV4 signs repeated headers as their
    /// values joined by commas, so the joined line carries the same signature.
    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let encodings: Vec<String> = request.headers().get_all("content-encoding").map(str::to_string).collect();
        if encodings.len() > 1 {
            request.headers_mut().insert("content-encoding", encodings.join(","));
        }
        Ok(())
    }
}
