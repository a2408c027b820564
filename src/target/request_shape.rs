//! sfko's requests have the shape mainstream SDKs give theirs, so a deviation it reports is the server's, never
//! an artefact of sfko's request shape.
//!
//! The Rust SDK sends a bodiless PUT or POST (UploadPartCopy, CopyObject, CreateMultipartUpload …) without a
//! `Content-Length` header; boto3 and the AWS CLI send `Content-Length: 0`, and some S3 servers answer the former
//! with `411 MissingContentLength`. [`MainstreamShape`] adds the header before the request is signed.

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
        if bodiless && !framed && matches!(request.method(), "PUT" | "POST") {
            request.headers_mut().insert("content-length", "0");
        }
        Ok(())
    }
}
