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
    CompletedMultipartUpload, CompletedPart, ObjectCannedAcl, ServerSideEncryption, StorageClass,
};
use base64::Engine as _;
use bytes::Bytes;
use md5::Digest as _;

use crate::aws::{self, ErrorKind, classify};
use crate::retry::{Retries, retry};

/// Headers set on every object.
#[derive(Clone, Debug, Default)]
pub(crate) struct ObjectOptions {
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
    /// `x-amz-acl` (`acl`).
    pub acl: Option<ObjectCannedAcl>,
    /// `x-amz-grant-full-control`, `-read`, `-read-acp`, `-write-acp` (`grant_*`).
    pub grants: Grants,
}

/// The `grant_*` options, sent as they are written (Vector passes them through too).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Grants {
    /// `grant_full_control`.
    pub full_control: Option<String>,
    /// `grant_read`.
    pub read: Option<String>,
    /// `grant_read_acp`.
    pub read_acp: Option<String>,
    /// `grant_write_acp`.
    pub write_acp: Option<String>,
}

/// `request.*` retry settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RetrySettings {
    /// Attempts after the first one.
    pub retry_attempts: usize,
    /// The first backoff ceiling.
    pub initial_backoff: Duration,
    /// The cap on one backoff.
    pub max_backoff: Duration,
    /// `request.retry_jitter_mode`.
    pub jitter: crate::options::request::JitterMode,
    /// `request.rate_limit_num` per `rate_limit_duration_secs`, when limited.
    pub rate_limit: Option<(u64, Duration)>,
}

impl RetrySettings {
    /// The retry part of checked `request.*` options.
    pub(crate) fn from_request(request: &crate::options::request::RequestSettings) -> Self {
        Self {
            retry_attempts: usize::try_from(request.retry_attempts).unwrap_or(usize::MAX),
            initial_backoff: request.initial_backoff,
            max_backoff: request.max_backoff,
            jitter: request.jitter,
            rate_limit: request.rate_limit,
        }
    }
}

/// A request that failed for good (permanently, or after the retries ran out).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{operation} s3://{bucket}/{key} failed: {message}")]
pub(crate) struct UploadError {
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

/// Sets the headers of an [`ObjectOptions`] on a `PutObject` or `CreateMultipartUpload`
/// request (two builder types with the same setters).
macro_rules! object_headers {
    ($request:expr, $options:expr) => {
        $request
            .content_type(&$options.content_type)
            .set_content_encoding($options.content_encoding.clone())
            .set_storage_class($options.storage_class.clone())
            .set_server_side_encryption($options.server_side_encryption.clone())
            .set_ssekms_key_id($options.ssekms_key_id.clone())
            .set_tagging($options.tagging.clone())
            .set_acl($options.acl.clone())
            .set_grant_full_control($options.grants.full_control.clone())
            .set_grant_read($options.grants.read.clone())
            .set_grant_read_acp($options.grants.read_acp.clone())
            .set_grant_write_acp($options.grants.write_acp.clone())
    };
}

/// Writes objects to one bucket.
#[derive(Clone, Debug)]
pub(crate) struct Uploader {
    client: Client,
    bucket: String,
    options: ObjectOptions,
    retry: RetrySettings,
    /// Shared by every clone: the sink's `request.rate_limit_*`.
    limiter: Option<std::sync::Arc<crate::options::request::RateLimiter>>,
}

impl Uploader {
    /// An uploader for `bucket`.
    pub(crate) fn new(
        client: Client,
        bucket: String,
        options: ObjectOptions,
        retry: RetrySettings,
    ) -> Self {
        let limiter = retry.rate_limit.map(|(num, per)| {
            std::sync::Arc::new(crate::options::request::RateLimiter::new(num, per))
        });
        Self {
            client,
            bucket,
            options,
            retry,
            limiter,
        }
    }

    /// The bucket written to.
    pub(crate) fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Writes a whole object with one `PutObject`.
    pub(crate) async fn put_object(&self, key: &str, body: Bytes) -> Result<(), UploadError> {
        let md5 = content_md5(&body);
        self.with_retries("PutObject", key, || {
            let request = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(ByteStream::from(body.clone()))
                .content_md5(&md5);
            let request = object_headers!(request, self.options);
            async move { request.send().await.map(drop).map_err(|e| classify(&e)) }
        })
        .await
    }

    /// Starts a multipart upload of `key`; returns its upload id.
    pub(crate) async fn create_multipart(&self, key: &str) -> Result<String, UploadError> {
        let output = self
            .with_retries("CreateMultipartUpload", key, || {
                let request = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key);
                let request = object_headers!(request, self.options);
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
    pub(crate) async fn upload_part(
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
    pub(crate) async fn complete_multipart(
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
    pub(crate) async fn abort_multipart(&self, key: &str, upload_id: &str) {
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
        let backoff =
            (self.retry.jitter).backoff(self.retry.initial_backoff, self.retry.max_backoff);
        let mut attempt = attempt;
        let limited = || {
            let request = attempt();
            let limiter = self.limiter.clone();
            async move {
                if let Some(limiter) = limiter {
                    limiter.acquire().await;
                }
                request.await
            }
        };
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
        retry(&aws::retry_policy, &mut retries, limited, on_retry)
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

/// Base64 of the body's MD5, for `Content-MD5`.
fn content_md5(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_s3::{FaultRule, S3Server, client_without_retries};

    const BUCKET: &str = "uploads";

    /// A server with the bucket, and an uploader whose SDK client does not retry by itself
    /// (so every attempt the server sees is one of ours).
    async fn uploader(retry_attempts: usize) -> (S3Server, Uploader) {
        let server = S3Server::start().await;
        server.create_bucket(BUCKET).await;
        let retry = RetrySettings {
            retry_attempts,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            jitter: crate::options::request::JitterMode::Full,
            rate_limit: None,
        };
        let options = ObjectOptions {
            content_type: "application/x-ndjson".into(),
            ..ObjectOptions::default()
        };
        let uploader = Uploader::new(
            client_without_retries(&server),
            BUCKET.into(),
            options,
            retry,
        );
        (server, uploader)
    }

    fn fault(method: &'static str, remaining: usize, status: u16, code: &'static str) -> FaultRule {
        FaultRule {
            method,
            query: None,
            remaining,
            status,
            code,
        }
    }

    #[tokio::test]
    async fn a_put_is_retried_through_transient_errors_with_content_md5_each_time() {
        let (server, uploader) = uploader(3).await;
        server.faults.add(fault("PUT", 2, 503, "SlowDown"));
        uploader
            .put_object("a.log", Bytes::from_static(b"{\"n\":1}\n"))
            .await
            .expect("the third attempt succeeds");
        assert_eq!(server.faults.count("PUT", "/uploads/a.log"), 3);
        let md5 = server.faults.put_has_content_md5.lock().unwrap().clone();
        assert_eq!(md5.len(), 3);
        assert!(md5.iter().all(|(_, has)| *has), "{md5:?}");
        let objects = server.objects(BUCKET).await;
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].body, b"{\"n\":1}\n");
        assert_eq!(
            objects[0].content_type.as_deref(),
            Some("application/x-ndjson")
        );
    }

    #[tokio::test]
    async fn retry_attempts_is_the_number_of_retries_after_the_first_attempt() {
        for (retry_attempts, attempts) in [(0, 1), (1, 2), (4, 5)] {
            let (server, uploader) = uploader(retry_attempts).await;
            server.faults.add(fault("PUT", 10, 500, "InternalError"));
            let error = uploader
                .put_object("b.log", Bytes::from_static(b"x\n"))
                .await
                .expect_err("every attempt fails");
            assert_eq!(error.kind, ErrorKind::Transient);
            assert_eq!(error.operation, "PutObject");
            assert!(error.message.contains("InternalError"), "{error}");
            assert_eq!(
                server.faults.count("PUT", "/uploads/b.log"),
                attempts,
                "retry_attempts = {retry_attempts}"
            );
        }
    }

    #[tokio::test]
    async fn a_permanent_error_is_not_retried() {
        let (server, uploader) = uploader(5).await;
        server.faults.add(fault("PUT", 1, 403, "AccessDenied"));
        let error = uploader
            .put_object("c.log", Bytes::from_static(b"x\n"))
            .await
            .expect_err("access denied");
        assert_eq!(error.kind, ErrorKind::Permanent);
        assert!(error.to_string().contains("s3://uploads/c.log"), "{error}");
        assert_eq!(server.faults.count("PUT", "/uploads/c.log"), 1);
        assert!(server.objects(BUCKET).await.is_empty());
    }

    #[tokio::test]
    async fn a_multipart_upload_retries_a_part_under_its_own_number() {
        let (server, uploader) = uploader(2).await;
        let part = |byte: u8| Bytes::from(vec![byte; 5 * 1024 * 1024]);
        let upload_id = uploader.create_multipart("m.log").await.expect("created");
        server.faults.add(FaultRule {
            query: Some("partNumber=2"),
            ..fault("PUT", 1, 503, "SlowDown")
        });
        let mut parts = Vec::new();
        for (number, byte) in [(1, b'a'), (2, b'b')] {
            let done = uploader
                .upload_part("m.log", &upload_id, number, part(byte))
                .await
                .expect("part uploaded");
            parts.push(done);
        }
        assert_eq!(server.faults.count("PUT", "partNumber=2"), 2);
        assert_eq!(server.faults.count("PUT", "partNumber=1"), 1);
        uploader
            .complete_multipart("m.log", &upload_id, parts)
            .await
            .expect("completed");
        let objects = server.objects(BUCKET).await;
        assert_eq!(objects.len(), 1);
        let mut expected = part(b'a').to_vec();
        expected.extend_from_slice(&part(b'b'));
        assert!(objects[0].body == expected, "the parts in order");
    }

    #[tokio::test]
    async fn an_aborted_multipart_upload_leaves_no_object() {
        let (server, uploader) = uploader(1).await;
        let upload_id = uploader
            .create_multipart("gone.log")
            .await
            .expect("created");
        uploader
            .upload_part("gone.log", &upload_id, 1, Bytes::from_static(b"x"))
            .await
            .expect("part uploaded");
        uploader.abort_multipart("gone.log", &upload_id).await;
        assert_eq!(server.faults.count("DELETE", "uploadId="), 1);
        assert!(server.objects(BUCKET).await.is_empty());
    }
}
