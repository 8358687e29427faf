//! A real S3 protocol server for tests: s3s-fs (objects are files in a temporary directory;
//! SigV4 signatures are verified) started in-process on 127.0.0.1:<random port>, behind a fault
//! layer that can answer chosen requests with S3 error responses (500, 503 SlowDown, ...).
//!
//! Include with `#[path = "common/s3_server.rs"] mod s3_server;`.

#![allow(dead_code)]

use std::io::Read;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

/// Access key the server accepts.
pub const ACCESS_KEY: &str = "AKIAC1PIPELINETEST";
/// Secret key the server accepts.
pub const SECRET_KEY: &str = "c1-pipeline-test-secret-key-0123456789abcd";
/// Region the clients sign for.
pub const REGION: &str = "us-east-1";

/// Answer the next `remaining` requests matching `method` (and `query`, if set) with an error.
#[derive(Clone, Debug)]
pub struct FaultRule {
    /// HTTP method to match (`PUT`, `POST`, ...).
    pub method: &'static str,
    /// A substring the query string must contain (`uploadId`, `partNumber=2`), if set.
    pub query: Option<&'static str>,
    /// How many more matching requests fail.
    pub remaining: usize,
    /// The HTTP status of the error.
    pub status: u16,
    /// The S3 error code (`SlowDown`, `InternalError`, `ServiceUnavailable`).
    pub code: &'static str,
}

/// Requests seen and faults to inject.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
    /// Every request: method and path with query.
    pub requests: Mutex<Vec<(String, String)>>,
    /// How many requests were answered by a fault.
    pub injected: Mutex<usize>,
    /// For each `PUT` with a body (objects, parts): whether it carried `Content-MD5`.
    pub put_has_content_md5: Mutex<Vec<(String, bool)>>,
    /// Access-control headers (`x-amz-acl`, `x-amz-grant-*`) of every request: method, path
    /// with query, header name and value.
    pub acl_headers: Mutex<Vec<(String, String, String, String)>>,
}

impl Faults {
    /// Adds a rule.
    pub fn add(&self, rule: FaultRule) {
        self.rules.lock().unwrap().push(rule);
    }

    /// Removes every rule: requests succeed again.
    pub fn clear(&self) {
        self.rules.lock().unwrap().clear();
    }

    fn take(&self, method: &str, query: &str) -> Option<FaultRule> {
        let mut rules = self.rules.lock().unwrap();
        let rule = rules.iter_mut().find(|rule| {
            rule.remaining > 0
                && rule.method == method
                && rule.query.is_none_or(|wanted| query.contains(wanted))
        })?;
        rule.remaining -= 1;
        *self.injected.lock().unwrap() += 1;
        Some(rule.clone())
    }

    /// Requests whose method is `method` and whose path+query contains `text`.
    pub fn count(&self, method: &str, text: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, uri)| m == method && uri.contains(text))
            .count()
    }
}

/// A running server; stopped when dropped.
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Fault injection and request log.
    pub faults: Arc<Faults>,
    /// The directory holding the buckets.
    pub root: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One stored object, read back.
#[derive(Debug)]
pub struct StoredObject {
    /// Its key.
    pub key: String,
    /// Its bytes as stored (compressed).
    pub body: Vec<u8>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
}

impl StoredObject {
    /// The body decompressed by its `Content-Encoding`.
    pub fn decoded(&self) -> Vec<u8> {
        match self.content_encoding.as_deref() {
            Some("gzip") => {
                let mut out = Vec::new();
                flate2::read::MultiGzDecoder::new(&self.body[..])
                    .read_to_end(&mut out)
                    .expect("a valid gzip object");
                out
            }
            Some("zstd") => zstd::decode_all(&self.body[..]).expect("a valid zstd object"),
            _ => self.body.clone(),
        }
    }

    /// The decompressed body as JSON lines.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.decoded()).expect("UTF-8 NDJSON");
        assert!(
            text.ends_with('\n'),
            "{}: NDJSON ends with a newline",
            self.key
        );
        text.lines()
            .map(|line| serde_json::from_str(line).expect("each line is JSON"))
            .collect()
    }
}

impl S3Server {
    /// What a pipeline's S3 component needs to reach this server, as TOML lines: `endpoint`,
    /// `region` and the static credentials.
    pub fn connection(&self) -> String {
        format!(
            "endpoint = \"{}\"\nregion = \"us-east-1\"\n\
             auth.access_key_id = \"{ACCESS_KEY}\"\nauth.secret_access_key = \"{SECRET_KEY}\"",
            self.endpoint
        )
    }

    /// A `conductorone_s3` source's options for `bucket` and `prefix` on this server (TOML
    /// lines, without `type`).
    pub fn source_options(&self, bucket: &str, prefix: &str) -> String {
        let connection = self.connection();
        format!("bucket = \"{bucket}\"\nprefix = \"{prefix}\"\n{connection}")
    }

    /// An `aws_s3` sink table `[sinks.s3]` reading `input` and writing JSON to `bucket` on this
    /// server (TOML lines; more options may follow).
    pub fn sink_table(&self, input: &str, bucket: &str) -> String {
        let connection = self.connection();
        format!(
            "[sinks.s3]\ntype = \"aws_s3\"\ninputs = [\"{input}\"]\nbucket = \"{bucket}\"\n\
             {connection}\nencoding.codec = \"json\""
        )
    }

    /// [`Self::start`], with `bucket` created.
    pub async fn with_bucket(bucket: &str) -> Self {
        let server = Self::start().await;
        server.create_bucket(bucket).await;
        server
    }

    /// Starts a server on the current Tokio runtime.
    pub async fn start() -> Self {
        let root = tempfile::tempdir().expect("temporary directory");
        let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs root");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let faults = Arc::new(Faults::default());
        let shared = Arc::clone(&faults);
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let service = service.clone();
                let faults = Arc::clone(&shared);
                tokio::spawn(async move {
                    let handler = service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let service = service.clone();
                            let faults = Arc::clone(&faults);
                            async move {
                                let method = request.method().as_str().to_owned();
                                let query = request.uri().query().unwrap_or("").to_owned();
                                faults.requests.lock().unwrap().push((
                                    method.clone(),
                                    request
                                        .uri()
                                        .path_and_query()
                                        .map(|p| p.as_str().to_owned())
                                        .unwrap_or_default(),
                                ));
                                for (name, value) in request.headers() {
                                    let name = name.as_str();
                                    if name == "x-amz-acl" || name.starts_with("x-amz-grant-") {
                                        faults.acl_headers.lock().unwrap().push((
                                            method.clone(),
                                            request.uri().to_string(),
                                            name.to_owned(),
                                            value.to_str().unwrap_or("").to_owned(),
                                        ));
                                    }
                                }
                                // An object or part (a key after the bucket), not CreateBucket.
                                let has_key = request
                                    .uri()
                                    .path()
                                    .trim_start_matches('/')
                                    .split_once('/')
                                    .is_some_and(|(_, key)| !key.is_empty());
                                if method == "PUT" && has_key {
                                    let has_md5 = request.headers().contains_key("content-md5");
                                    faults
                                        .put_has_content_md5
                                        .lock()
                                        .unwrap()
                                        .push((request.uri().to_string(), has_md5));
                                }
                                if let Some(rule) = faults.take(&method, &query) {
                                    // Read the body first, as a real server would.
                                    use http_body_util::BodyExt as _;
                                    let _ = request.into_body().collect().await;
                                    let body = format!(
                                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>injected fault</Message><RequestId>fault</RequestId></Error>",
                                        rule.code
                                    );
                                    let response = hyper::Response::builder()
                                        .status(rule.status)
                                        .header("content-type", "application/xml")
                                        .body(s3s::Body::from(body))
                                        .unwrap();
                                    return Ok::<_, s3s::HttpError>(response);
                                }
                                hyper::service::Service::call(&service, request).await
                            }
                        },
                    );
                    let _ = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(socket), handler)
                        .await;
                });
            }
        });
        Self {
            endpoint,
            faults,
            root,
            task,
        }
    }

    /// A client with the server's credentials.
    pub fn client(&self) -> Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
            .build();
        Client::from_conf(config)
    }

    /// Creates a bucket.
    pub async fn create_bucket(&self, bucket: &str) {
        self.client()
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("create bucket");
    }

    /// Every object in `bucket`, sorted by key.
    pub async fn objects(&self, bucket: &str) -> Vec<StoredObject> {
        let client = self.client();
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = client
                .list_objects_v2()
                .bucket(bucket)
                .set_continuation_token(token)
                .send()
                .await
                .expect("list objects");
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        keys.sort();
        let mut objects = Vec::new();
        for key in keys {
            let object = client
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .expect("get object");
            let content_type = object.content_type().map(str::to_owned);
            let content_encoding = object.content_encoding().map(str::to_owned);
            let body = object.body.collect().await.expect("object body").to_vec();
            objects.push(StoredObject {
                key,
                body,
                content_type,
                content_encoding,
            });
        }
        objects
    }
}
