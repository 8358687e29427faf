//! The shared network options (`tls.*`, `proxy.*`, `batch.*`, `request.*`, `compression`):
//! precise configuration errors in every component that takes them, and `proxy.*` routing a
//! sink's requests through a forward proxy (or around it, by `no_proxy`), the AWS clients'
//! included.

mod common;
#[path = "common/s3_server.rs"]
mod s3_server;

use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use c1_pipeline::component::SinkComponent;
use c1_pipeline::config::{Config, ConfigError};
use c1_pipeline::sinks::aws_s3::AwsS3Config;
use c1_pipeline::sinks::splunk_hec_logs::SplunkHecLogsConfig;
use c1_pipeline::test_support::HecClient;
use common::*;
use s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const HEC: &str = r#"[sources.in]
type = "stdin"
[sinks.out]
type = "splunk_hec_logs"
inputs = ["in"]
endpoint = "https://splunk.example.com:8088"
default_token = "t"
encoding.codec = "json"
"#;

const C1: &str = r#"[sinks.out]
type = "console"
inputs = ["c1"]
encoding.codec = "json"
[sources.c1]
type = "conductorone"
client_id = "id@acme.conductor.one/pcc"
client_secret = "secret-token:conductorone.com:v1:x"
"#;

/// The one error of loading `text` as `test.toml`.
#[track_caller]
fn single_error(text: &str) -> ConfigError {
    match Config::from_toml(text, Path::new("test.toml"), &no_env) {
        Ok(config) => panic!("expected an error, got {config:#?}"),
        Err(errors) => {
            assert_eq!(errors.0.len(), 1, "{errors}");
            errors.0.into_iter().next().expect("one error")
        }
    }
}

#[track_caller]
fn check(text: &str, at_: (usize, usize), field: &str, unknown: &str, suggestion: &str) {
    let error = single_error(text);
    assert_eq!(at(&error), at_, "{error:#?}");
    assert_eq!(error.field.as_deref(), Some(field), "{error:#?}");
    assert!(
        error
            .message
            .contains(&format!("unknown field `{unknown}`")),
        "{error:#?}"
    );
    let help = error.help.as_deref().unwrap_or("");
    assert!(
        help.contains(&format!("did you mean `{suggestion}`?")),
        "{error:#?}"
    );
}

#[test]
fn unknown_tls_and_proxy_fields_say_where_and_what_was_meant() {
    check(
        &format!("{HEC}tls.ca_fil = \"/etc/ca.pem\"\n"),
        (9, 5),
        "tls.ca_fil",
        "ca_fil",
        "ca_file",
    );
    check(
        &format!("{HEC}[sinks.out.proxy]\nenabled = true\nno_proxi = [\"localhost\"]\n"),
        (11, 1),
        "proxy.no_proxi",
        "no_proxi",
        "no_proxy",
    );
    check(
        &format!("{C1}tls = {{ server_nam = \"c1.example.com\" }}\n"),
        (9, 9),
        "tls.server_nam",
        "server_nam",
        "server_name",
    );
    check(
        &format!("{C1}proxy.htps = \"http://proxy:3128\"\n"),
        (9, 7),
        "proxy.htps",
        "htps",
        "https",
    );
}

#[test]
fn unknown_batch_and_request_fields_say_what_was_meant() {
    check(
        &format!("{HEC}batch.max_byte = 10\n"),
        (9, 7),
        "batch.max_byte",
        "max_byte",
        "max_bytes",
    );
    check(
        &format!("{HEC}request.retry_attempt = 1\n"),
        (9, 9),
        "request.retry_attempt",
        "retry_attempt",
        "retry_attempts",
    );
}

/// The build error of a config that loads.
fn build_error(text: &str) -> String {
    let config = Config::from_toml(text, Path::new("test.toml"), &no_env)
        .unwrap_or_else(|errors| panic!("{errors}"));
    c1_pipeline::topology::check_build(&config)
        .expect_err(text)
        .to_string()
}

#[test]
fn unusable_values_name_their_option() {
    for (extra, expected) in [
        ("tls.key_pass = \"p\"", "tls.key_pass"),
        ("tls.server_name = \"bad name!\"", "tls.server_name"),
        ("proxy.http = \"socks5://127.0.0.1:1080\"", "proxy.http"),
        ("proxy.https = \"http://[::1\"", "proxy.https"),
        ("compression = \"zstd\"", "compression"),
        ("batch.max_events = 0", "batch.max_events"),
    ] {
        let message = build_error(&format!("{HEC}{extra}\n"));
        assert!(message.contains(expected), "{extra}: {message}");
    }
}

/// A minimal HTTP/1.1 server that records each request line and answers every request with a
/// HEC success: as a forward proxy it sees absolute-form lines (`POST http://host/… HTTP/1.1`).
async fn recording_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("an address").to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let mut line = String::new();
                stream.read_line(&mut line).await.ok()?;
                record.lock().ok()?.push(line.trim_end().to_owned());
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    stream.read_line(&mut header).await.ok()?;
                    let header = header.trim_end().to_ascii_lowercase();
                    if header.is_empty() {
                        break;
                    }
                    if let Some(value) = header.strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                stream.read_exact(&mut body).await.ok()?;
                let answer = r#"{"text":"Success","code":0}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                stream.get_mut().write_all(response.as_bytes()).await.ok()
            });
        }
    });
    (address, seen)
}

fn hec_config(endpoint: &str, proxy: &str) -> SplunkHecLogsConfig {
    toml::from_str(&format!(
        "endpoint = \"http://{endpoint}\"\ndefault_token = \"t\"\nencoding.codec = \"json\"\n{proxy}"
    ))
    .expect("valid options")
}

async fn post_event(config: &SplunkHecLogsConfig) {
    let client = HecClient::new(config).expect("a client");
    let response = client
        .post(
            Bytes::from_static(b"{\"event\":1}\n"),
            false,
            &Default::default(),
        )
        .await
        .expect("an answer");
    assert_eq!(response.status.as_u16(), 200);
    config.healthcheck().await.expect("healthy");
}

#[tokio::test]
async fn a_hec_sink_goes_through_proxy_http_unless_no_proxy_names_the_host() {
    let (hec, hec_seen) = recording_server().await;
    let (proxy, proxy_seen) = recording_server().await;
    // The endpoint host is not resolvable: only the proxy can answer for it.
    let via_proxy = hec_config(
        "splunk.invalid:8088",
        &format!("proxy.http = \"http://{proxy}\""),
    );
    post_event(&via_proxy).await;
    assert_eq!(
        *proxy_seen.lock().expect("the proxy's record"),
        [
            "POST http://splunk.invalid:8088/services/collector/event HTTP/1.1",
            "GET http://splunk.invalid:8088/services/collector/health/1.0 HTTP/1.1",
        ]
    );

    // `no_proxy` naming the host, then `proxy.enabled = false`: straight to the HEC, the
    // proxy sees nothing more.
    let bypassing = [
        format!("proxy.http = \"http://{proxy}\"\nproxy.no_proxy = [\"127.0.0.1\"]"),
        format!("proxy.enabled = false\nproxy.http = \"http://{proxy}\""),
    ];
    for (round, options) in bypassing.iter().enumerate() {
        post_event(&hec_config(&hec, options)).await;
        assert_eq!(proxy_seen.lock().expect("the proxy's record").len(), 2);
        let hec_seen = hec_seen.lock().expect("the HEC's record");
        assert_eq!(hec_seen.len(), 2 * (round + 1), "{options}");
        assert_eq!(
            hec_seen[..2],
            [
                "POST /services/collector/event HTTP/1.1",
                "GET /services/collector/health/1.0 HTTP/1.1",
            ]
        );
    }
}

/// Each AWS component, with `extra` options: an S3 sink, a Security Lake sink, an S3 source.
fn aws_components(extra: &str) -> String {
    let endpoint = "endpoint = \"https://s3.example.com\"\nregion = \"us-east-1\"\n";
    format!(
        "[sources.s3]\ntype = \"conductorone_s3\"\nbucket = \"b\"\n{endpoint}{extra}\n\
         [sinks.s3]\ntype = \"aws_s3\"\ninputs = [\"s3\"]\nbucket = \"b\"\n\
         encoding.codec = \"json\"\n{endpoint}{extra}\n\
         [sinks.lake]\ntype = \"aws_security_lake\"\ninputs = [\"s3\"]\n\
         s3_uri = \"s3://b/ext/x/1.0/\"\naccount_id = \"123456789012\"\nclass_uid = 3002\n\
         {endpoint}{extra}\n"
    )
}

#[test]
fn unusable_tls_and_proxy_options_of_aws_clients_name_their_option() {
    for (extra, expected) in [
        ("tls.ca_file = \"/no/such/ca.pem\"", "tls.ca_file"),
        ("tls.crt_file = \"/no/such/crt.pem\"", "tls.key_file"),
        ("proxy.https = \"socks5://127.0.0.1:1080\"", "proxy.https"),
    ] {
        let config = Config::from_toml(&aws_components(extra), Path::new("test.toml"), &no_env)
            .unwrap_or_else(|errors| panic!("{errors}"));
        let errors = c1_pipeline::topology::check_build(&config).expect_err(extra);
        let ids: Vec<_> = errors.0.iter().map(|e| e.component.clone()).collect();
        assert_eq!(errors.0.len(), 3, "{extra}: {errors}");
        for error in &errors.0 {
            assert_eq!(error.field.as_deref(), Some(expected), "{extra}: {error}");
            // The position is the option's own line in the component's table.
            let line = error.location.as_ref().map(|l| l.line);
            assert!(line.is_some(), "{error}");
        }
        assert!(ids.contains(&Some("sinks.lake".into())), "{ids:?}");
    }
    let missing = build_error(&aws_components("tls.ca_file = \"/no/such/ca.pem\""));
    assert!(missing.contains("cannot read /no/such/ca.pem"), "{missing}");
}

fn s3_sink(endpoint: &str, extra: &str) -> AwsS3Config {
    toml::from_str(&format!(
        "bucket = \"logs\"\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\n\
         auth.access_key_id = \"{ACCESS_KEY}\"\nauth.secret_access_key = \"{SECRET_KEY}\"\n\
         encoding.codec = \"json\"\n{extra}"
    ))
    .expect("valid options")
}

#[tokio::test]
async fn s3_requests_go_through_proxy_http_unless_no_proxy_names_the_host() {
    let (proxy, proxy_seen) = recording_server().await;
    // Only the proxy can answer for this host; it answers `HeadBucket` with a 200.
    let via_proxy = s3_sink(
        "http://s3.invalid:9000",
        &format!("proxy.http = \"http://{proxy}\""),
    );
    via_proxy
        .healthcheck()
        .await
        .expect("healthy through the proxy");
    assert_eq!(
        *proxy_seen.lock().expect("the proxy's record"),
        ["HEAD http://s3.invalid:9000/logs/ HTTP/1.1"]
    );

    // The real S3 server, with the proxy bypassed by `no_proxy`, then by `enabled = false`.
    let s3 = S3Server::with_bucket("logs").await;
    for options in [
        format!("proxy.http = \"http://{proxy}\"\nproxy.no_proxy = [\"127.0.0.1\"]"),
        format!("proxy.enabled = false\nproxy.http = \"http://{proxy}\""),
    ] {
        let direct = s3_sink(&s3.endpoint, &options);
        direct.healthcheck().await.expect("healthy, directly");
        assert_eq!(proxy_seen.lock().expect("the proxy's record").len(), 1);
    }
    let heads = s3.faults.count("HEAD", "");
    assert_eq!(heads, 2, "both checks reached the S3 server");

    // The global `proxy` applies to a component that sets none (Vector's merge).
    let text = format!(
        "proxy.http = \"http://{proxy}\"\n[sources.in]\ntype = \"stdin\"\n\
         [sinks.s3]\ntype = \"aws_s3\"\ninputs = [\"in\"]\nbucket = \"logs\"\n\
         endpoint = \"http://s3.invalid:9000\"\nregion = \"us-east-1\"\n\
         auth.access_key_id = \"{ACCESS_KEY}\"\nauth.secret_access_key = \"{SECRET_KEY}\"\n\
         encoding.codec = \"json\"\n"
    );
    let config = Config::from_toml(&text, Path::new("test.toml"), &no_env)
        .unwrap_or_else(|errors| panic!("{errors}"));
    let sink = &config.sinks["s3"].config;
    sink.component()
        .healthcheck()
        .await
        .expect("healthy through the global proxy");
    assert_eq!(proxy_seen.lock().expect("the proxy's record").len(), 2);
}
