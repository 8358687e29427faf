//! The `prometheus_exporter` sink's `tls`: `/metrics` over HTTPS with a certificate made here
//! (rcgen), plain HTTP refused on that port, client certificates required with
//! `verify_certificate = true`, and each unusable option a configuration error naming it.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use c1_pipeline::Pipeline;
use c1_pipeline::config::Config;
use c1_pipeline::topology::check_build;
use common::{errors_of, no_env};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

const LIMIT: Duration = Duration::from_secs(30);

/// A CA, a server certificate for `127.0.0.1` and a client certificate, both signed by it,
/// written as PEM files in a temporary directory.
struct Certificates {
    dir: tempfile::TempDir,
    ca_pem: String,
    client_pem: String,
}

impl Certificates {
    fn new() -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().expect("a key");
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("the CA");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text).expect("written");
        };
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let server_key = KeyPair::generate().expect("a key");
        let server = (CertificateParams::new(names).expect("server params"))
            .signed_by(&server_key, &ca)
            .expect("the server certificate");
        let client_key = KeyPair::generate().expect("a key");
        let client = (CertificateParams::new(vec!["scraper".to_owned()]).expect("params"))
            .signed_by(&client_key, &ca)
            .expect("the client certificate");
        let other_key = KeyPair::generate().expect("a key");
        write("ca.pem", &ca.pem());
        write("server.pem", &server.pem());
        write("server.key", &server_key.serialize_pem());
        write("other.key", &other_key.serialize_pem());
        Self {
            ca_pem: ca.pem(),
            client_pem: format!("{}\n{}", client.pem(), client_key.serialize_pem()),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A local address nothing listens on now.
fn free_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// `internal_metrics` into a `prometheus_exporter` on `address` with the `tls` lines.
fn exporter_config(address: &str, tls: &[String]) -> String {
    let tls: String = tls.iter().map(|line| format!("tls.{line}\n")).collect();
    format!(
        r#"
[sources.self]
type = "internal_metrics"
scrape_interval_secs = 0.1

[sinks.prom]
type = "prometheus_exporter"
inputs = ["self"]
address = "{address}"
{tls}"#
    )
}

/// `tls` lines serving with the server certificate.
fn serving(certificates: &Certificates) -> Vec<String> {
    let path = |name: &str| certificates.path(name).display().to_string();
    vec![
        "enabled = true".to_owned(),
        format!("crt_file = {:?}", path("server.pem")),
        format!("key_file = {:?}", path("server.key")),
    ]
}

/// A client trusting only the test CA, presenting `identity` (PEM certificate and key).
fn client(certificates: &Certificates, identity: Option<&str>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(certificates.ca_pem.as_bytes()).expect("the CA");
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(5));
    if let Some(pem) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("PEM"));
    }
    builder.build().expect("a client")
}

/// The body of a successful `GET url`, or why there is none.
async fn scrape(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = client.get(url).send().await.map_err(|e| format!("{e:?}"))?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    response.text().await.map_err(|e| format!("{e:?}"))
}

/// Scrapes `url` until the internal metrics are served.
async fn scrape_metrics(client: &reqwest::Client, url: &str) -> String {
    let started = Instant::now();
    loop {
        match scrape(client, url).await {
            Ok(body) if body.contains("vector_component_received_events_total") => return body,
            other => assert!(started.elapsed() < LIMIT, "no metrics at {url}: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `config` until `check` returns, then stops it.
async fn with_pipeline<F: Future<Output = ()>>(config: &str, check: impl FnOnce() -> F) {
    let pipeline = Pipeline::from_toml(config).unwrap_or_else(|errors| panic!("{errors}"));
    let handle = pipeline.start().unwrap_or_else(|errors| panic!("{errors}"));
    check().await;
    handle.stop();
    (tokio::time::timeout(LIMIT, handle.wait()))
        .await
        .expect("the pipeline stops")
        .expect("cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_over_tls_and_plain_http_is_refused() {
    let certificates = Certificates::new();
    let address = free_address();
    let config = exporter_config(&address.to_string(), &serving(&certificates));
    with_pipeline(&config, || async {
        let https = format!("https://{address}/metrics");
        let body = scrape_metrics(&client(&certificates, None), &https).await;
        assert!(body.contains("component_id=\"prom\""), "{body}");
        let plain = scrape(
            &reqwest::Client::new(),
            &format!("http://{address}/metrics"),
        )
        .await;
        assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
        // The listener still serves TLS after the refused plain request.
        scrape_metrics(&client(&certificates, None), &https).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_certificate_requires_a_client_certificate_signed_by_ca_file() {
    let certificates = Certificates::new();
    let address = free_address();
    let mut tls = serving(&certificates);
    tls.push("verify_certificate = true".to_owned());
    tls.push(format!(
        "ca_file = {:?}",
        certificates.path("ca.pem").display().to_string()
    ));
    let config = exporter_config(&address.to_string(), &tls);
    with_pipeline(&config, || async {
        let https = format!("https://{address}/metrics");
        let with_certificate = client(&certificates, Some(&certificates.client_pem));
        scrape_metrics(&with_certificate, &https).await;
        let refused = scrape(&client(&certificates, None), &https).await;
        assert!(
            refused.is_err(),
            "served without a client certificate: {refused:?}"
        );
    })
    .await;
}

/// A reload serves the same listener again, still over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_serving_over_tls_on_the_same_address() {
    let certificates = Certificates::new();
    let address = free_address();
    let config = exporter_config(&address.to_string(), &serving(&certificates));
    let pipeline = Pipeline::from_toml(&config).unwrap_or_else(|errors| panic!("{errors}"));
    let handle = pipeline.start().unwrap_or_else(|errors| panic!("{errors}"));
    let https = format!("https://{address}/metrics");
    let client = client(&certificates, None);
    scrape_metrics(&client, &https).await;
    let next = Pipeline::from_toml(&config).unwrap_or_else(|errors| panic!("{errors}"));
    handle
        .reload(next)
        .await
        .expect("the same configuration is valid");
    scrape_metrics(&client, &https).await;
    handle.stop();
    (tokio::time::timeout(LIMIT, handle.wait()))
        .await
        .expect("the pipeline stops")
        .expect("cleanly");
}

/// The one build error of `tls` lines: its field, message and help.
fn tls_error(tls: &[String]) -> (String, String, String) {
    let text = exporter_config("127.0.0.1:0", tls);
    let config = Config::from_toml(&text, Path::new("test.toml"), &no_env)
        .unwrap_or_else(|errors| panic!("{errors}"));
    let errors = errors_of(check_build(&config), "build errors", &text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = &errors[0];
    assert_eq!(error.component.as_deref(), Some("sinks.prom"), "{error:?}");
    (
        error.field.clone().unwrap_or_default(),
        error.message.clone(),
        error.help.clone().unwrap_or_default(),
    )
}

#[test]
fn each_unusable_tls_option_is_a_configuration_error_naming_it() {
    let certificates = Certificates::new();
    let path = |name: &str| format!("{:?}", certificates.path(name).display().to_string());
    let crt = format!("crt_file = {}", path("server.pem"));
    let key = format!("key_file = {}", path("server.key"));
    let enabled = "enabled = true".to_owned();
    let cases: [(Vec<String>, &str, &str); 7] = [
        (vec![enabled.clone()], "tls.crt_file", "is required"),
        (
            vec![enabled.clone(), crt.clone()],
            "tls.key_file",
            "is required",
        ),
        (
            vec![
                enabled.clone(),
                "crt_file = \"/no/such/crt.pem\"".into(),
                key.clone(),
            ],
            "tls.crt_file",
            "cannot read /no/such/crt.pem",
        ),
        (
            vec![
                enabled.clone(),
                crt.clone(),
                "key_file = \"/no/such/key.pem\"".into(),
            ],
            "tls.key_file",
            "cannot read /no/such/key.pem",
        ),
        (
            vec![
                enabled.clone(),
                crt.clone(),
                format!("key_file = {}", path("other.key")),
            ],
            "tls.key_file",
            "not the private key",
        ),
        (
            vec![
                enabled.clone(),
                crt.clone(),
                key.clone(),
                "verify_certificate = true".into(),
            ],
            "tls.ca_file",
            "is required",
        ),
        (
            vec![
                enabled.clone(),
                crt.clone(),
                key.clone(),
                "key_pass = \"secret\"".into(),
            ],
            "tls.key_pass",
            "encrypted private keys are not supported",
        ),
    ];
    for (tls, field, message) in cases {
        let (got_field, got_message, help) = tls_error(&tls);
        assert_eq!(got_field, field, "{tls:?}: {got_message}");
        assert!(got_message.contains(message), "{tls:?}: {got_message}");
        if message == "is required" || field == "tls.key_pass" {
            assert!(!help.is_empty(), "{tls:?}: no help");
        }
    }
    // Disabled, the files are not read.
    let text = exporter_config(
        "127.0.0.1:0",
        &["crt_file = \"/no/such/crt.pem\"".to_owned()],
    );
    let config = Config::from_toml(&text, Path::new("test.toml"), &no_env).expect("valid");
    check_build(&config).expect("tls is off");
}
