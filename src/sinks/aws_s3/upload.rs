//! S3 requests with the sink's retry policy: `PutObject`, and the multipart upload calls.
//!
//! Every request names its object key before the first attempt, so a retry overwrites the same
//! object (or part number) instead of adding a duplicate. Bodies carry `Content-MD5`, which
//! Object Lock buckets require.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, StorageClass,
};
use base64::Engine as _;
use bytes::Bytes;
use md5::Digest as _;

use crate::aws::{ErrorKind, classify};
use crate::retry::{Backoff, Retries, Verdict, retry};

/// Headers set on every object.
#[derive(Clone, Debug, Default)]
pub struct ObjectOptions {
    /// `Content-Type`.
    pub content_type: String,
    /// `Content-Encoding`, if any.
    pub content_encoding: Option<String>,
    /// `x-amz-storage-class`.
    pub storage_class: Option<StorageClass>,
    /// `x-amz-server-side-encryption`.
    pub server_side_encryption: Option<ServerSideEncryption>,
    /// KMS key for `aws:kms` encryption.
    pub ssekms_key_id: Option<String>,
    /// `x-amz-tagging`, already form-encoded.
    pub tagging: Option<String>,
}

/// `request.*` retry settings.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub retry_attempts: usize,
    /// The first backoff ceiling.
    pub initial_backoff: Duration,
    /// The cap on one backoff.
    pub max_backoff: Duration,
}

/// A request that failed for good (permanently, or after the retries ran out).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{operation} s3://{bucket}/{key} failed: {message}")]
pub struct UploadError {
    /// Whether the last failure was transient (retries ran out) or permanent.
    pub kind: ErrorKind,
    /// `PutObject`, `UploadPart`, ...
    pub operation: &'static str,
    /// The bucket.
    pub bucket: String,
    /// The object key.
    pub key: String,
    /// The service's description.
    pub message: String,
}

/// Writes objects to one bucket.
#[derive(Clone, Debug)]
pub struct Uploader {
    client: Client,
    bucket: String,
    options: ObjectOptions,
    retry: RetryPolicy,
}

impl Uploader {
    /// An uploader for `bucket`.
    pub fn new(client: Client, bucket: String, options: ObjectOptions, retry: RetryPolicy) -> Self {
        Self {
            client,
            bucket,
            options,
            retry,
        }
    }

    /// The bucket written to.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Writes a whole object with one `PutObject`.
    pub async fn put_object(&self, key: &str, body: Bytes) -> Result<(), UploadError> {
        let md5 = content_md5(&body);
        self.with_retries("PutObject", key, || {
            let options = &self.options;
            let request = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(ByteStream::from(body.clone()))
                .content_md5(&md5)
                .content_type(&options.content_type)
                .set_content_encoding(options.content_encoding.clone())
                .set_storage_class(options.storage_class.clone())
                .set_server_side_encryption(options.server_side_encryption.clone())
                .set_ssekms_key_id(options.ssekms_key_id.clone())
                .set_tagging(options.tagging.clone());
            async move { request.send().await.map(drop).map_err(|e| classify(&e)) }
        })
        .await
    }

    /// Starts a multipart upload of `key`; returns its upload id.
    pub async fn create_multipart(&self, key: &str) -> Result<String, UploadError> {
        let output = self
            .with_retries("CreateMultipartUpload", key, || {
                let options = &self.options;
                let request = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .content_type(&options.content_type)
                    .set_content_encoding(options.content_encoding.clone())
                    .set_storage_class(options.storage_class.clone())
                    .set_server_side_encryption(options.server_side_encryption.clone())
                    .set_ssekms_key_id(options.ssekms_key_id.clone())
                    .set_tagging(options.tagging.clone());
                async move { request.send().await.map_err(|e| classify(&e)) }
            })
            .await?;
        output.upload_id.ok_or_else(|| UploadError {
            kind: ErrorKind::Permanent,
            operation: "CreateMultipartUpload",
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            message: "the response has no UploadId".into(),
        })
    }

    /// Uploads part `part_number` (from 1) of a multipart upload.
    pub async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: i32,
        body: Bytes,
    ) -> Result<CompletedPart, UploadError> {
        let md5 = content_md5(&body);
        let output = self
            .with_retries("UploadPart", key, || {
                let request = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(part_number)
                    .content_md5(&md5)
                    .body(ByteStream::from(body.clone()));
                async move { request.send().await.map_err(|e| classify(&e)) }
            })
            .await?;
        Ok(CompletedPart::builder()
            .part_number(part_number)
            .set_e_tag(output.e_tag)
            .set_checksum_crc32(output.checksum_crc32)
            .set_checksum_crc32_c(output.checksum_crc32_c)
            .set_checksum_crc64_nvme(output.checksum_crc64_nvme)
            .set_checksum_sha1(output.checksum_sha1)
            .set_checksum_sha256(output.checksum_sha256)
            .build())
    }

    /// Completes a multipart upload from its parts, in order.
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<CompletedPart>,
    ) -> Result<(), UploadError> {
        let upload = CompletedMultipartUpload::builder()
            .set_parts(Some(parts))
            .build();
        self.with_retries("CompleteMultipartUpload", key, || {
            let request = self
                .client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .multipart_upload(upload.clone());
            async move { request.send().await.map(drop).map_err(|e| classify(&e)) }
        })
        .await
    }

    /// Aborts a multipart upload so its parts stop costing storage; failures are only logged
    /// (a bucket lifecycle rule for incomplete uploads is the backstop).
    pub async fn abort_multipart(&self, key: &str, upload_id: &str) {
        let result = self
            .with_retries("AbortMultipartUpload", key, || {
                let request = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id);
                async move { request.send().await.map(drop).map_err(|e| classify(&e)) }
            })
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, "could not abort the failed multipart upload");
        }
    }

    /// Runs `attempt` until it succeeds, fails permanently, or the retries run out.
    async fn with_retries<T, F, Fut>(
        &self,
        operation: &'static str,
        key: &str,
        attempt: F,
    ) -> Result<T, UploadError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, (ErrorKind, String)>>,
    {
        let backoff = Backoff::new(self.retry.initial_backoff, self.retry.max_backoff);
        let mut retries = Retries::new(backoff, Some(self.retry.retry_attempts as u64));
        let started = Instant::now();
        let on_retry = |(_, message): &(ErrorKind, String), retry: u64, delay: Duration| {
            tracing::warn!(
                operation,
                bucket = %self.bucket,
                key,
                error = %message,
                retry,
                delay_ms = delay.as_millis() as u64,
                elapsed_secs = started.elapsed().as_secs(),
                "S3 request failed; retrying"
            );
        };
        retry(&s3_policy, &mut retries, attempt, on_retry)
            .await
            .map_err(|(kind, message)| UploadError {
                kind,
                operation,
                bucket: self.bucket.clone(),
                key: key.to_owned(),
                message,
            })
    }
}

/// S3's retry policy: what [`classify`] calls transient is retried.
fn s3_policy((kind, _): &(ErrorKind, String)) -> Verdict {
    if *kind == ErrorKind::Permanent {
        Verdict::Stop
    } else {
        Verdict::Retry { after: None }
    }
}

/// Base64 of the body's MD5, for `Content-MD5`.
fn content_md5(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body))
}
