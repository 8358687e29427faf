//! The in-process S3 server of the integration tests (`tests/common/s3_server.rs`), for unit
//! tests of the code that talks to S3.

#[allow(unreachable_pub)]
#[path = "../tests/common/s3_server.rs"]
mod s3_server;

pub(crate) use s3_server::*;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

/// A client of `server` whose SDK does not retry by itself, so every attempt the server sees
/// is one the code under test made.
pub(crate) fn client_without_retries(server: &S3Server) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&server.endpoint)
        .force_path_style(true)
        .retry_config(RetryConfig::disabled())
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
