//! Operating the binary: `[api]` (`GET /health`, `GET /components`), the `internal_metrics`
//! source into the `prometheus_exporter` sink (`GET /metrics`, scraped twice), and addresses
//! that cannot be listened on (configuration errors, exit 78).

#![cfg(unix)]

#[path = "common/config.rs"]
mod config;
#[path = "common/process.rs"]
mod process;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use config::Toml;
use process::{Pipeline, tail};

const LIMIT: Duration = Duration::from_secs(60);

/// A local address nothing listens on now.
fn free_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// `GET path` on `address`: the status code and the body, or `None` when nothing answers.
fn get(address: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// Waits until `GET path` answers `status`; the body.
fn wait_for(pipeline: &Pipeline, address: SocketAddr, path: &str, status: u16) -> String {
    let started = Instant::now();
    loop {
        if let Some((code, body)) = get(address, path)
            && code == status
        {
            return body;
        }
        assert!(
            started.elapsed() < LIMIT,
            "GET {path} never answered {status}; stderr:\n{}",
            tail(&pipeline.stderr_snapshot())
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of the series `name{...component_id="id"...}` in Prometheus text.
fn series_value(text: &str, name: &str, id: &str) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .find(|line| line.contains(&format!("component_id=\"{id}\"")))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

fn observed_pipeline(api: SocketAddr, exporter: SocketAddr) -> String {
    let api = format!("address = \"{api}\"");
    let exporter = format!("address = \"{exporter}\"");
    Toml::new()
        .table("api", &["enabled = true", &api])
        .demo_with("demo", &["interval_secs = 0.01"])
        .blackhole("out", &["demo"], &["print_interval_secs = 0"])
        .table(
            "sources.self",
            &[
                r#"type = "internal_metrics""#,
                "scrape_interval_secs = 0.2",
                r#"tags.pid_key = "pid""#,
            ],
        )
        .table(
            "sinks.prom",
            &[
                r#"type = "prometheus_exporter""#,
                r#"inputs = ["self"]"#,
                &exporter,
            ],
        )
        .into()
}

#[test]
fn health_components_and_metrics_scraped_twice() {
    let (api, exporter) = (free_address(), free_address());
    let pipeline = Pipeline::start(&observed_pipeline(api, exporter), &[], None);
    assert_eq!(wait_for(&pipeline, api, "/health", 200), r#"{"ok":true}"#);

    let components: serde_json::Value =
        serde_json::from_str(&wait_for(&pipeline, api, "/components", 200)).expect("JSON");
    let rows = components["components"].as_array().expect("rows");
    let demo = rows
        .iter()
        .find(|row| row["component_id"] == "demo")
        .unwrap_or_else(|| panic!("no row for the demo source: {components}"));
    assert_eq!(demo["component_kind"], "source");
    assert_eq!(demo["component_type"], "conductorone_demo");
    assert!(demo["sent_events_per_sec"].is_number(), "{demo}");

    let name = "vector_component_sent_events_total";
    let sent = |text: &str| series_value(text, name, "demo");
    let started = Instant::now();
    let first = loop {
        let text = wait_for(&pipeline, exporter, "/metrics", 200);
        if let Some(value) = sent(&text).filter(|v| *v > 0.0) {
            assert!(text.contains(&format!("# TYPE {name} counter")), "{text}");
            assert!(
                text.contains(r#"component_kind="source",component_type="conductorone_demo""#),
                "{text}"
            );
            assert!(
                text.contains(&format!("pid=\"{}\"", pipeline.pid())),
                "{text}"
            );
            break value;
        }
        assert!(started.elapsed() < LIMIT, "no counter for demo:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let second = loop {
        std::thread::sleep(Duration::from_millis(300));
        let text = wait_for(&pipeline, exporter, "/metrics", 200);
        let value = sent(&text).expect("the series is still served");
        if value > first {
            break value;
        }
        assert!(started.elapsed() < LIMIT, "the counter stays at {value}");
    };
    assert!(second > first);
    // Event bytes: the demo's events as JSON, each one some hundreds of bytes.
    let text = wait_for(&pipeline, exporter, "/metrics", 200);
    for (name, id) in [
        ("vector_component_sent_event_bytes_total", "demo"),
        ("vector_component_received_event_bytes_total", "out"),
    ] {
        let bytes = series_value(&text, name, id).unwrap_or_else(|| panic!("{name}:\n{text}"));
        let events = series_value(&text, &name.replace("event_bytes", "events"), id).unwrap();
        assert!(
            bytes >= 200.0 * events && events > 0.0,
            "{name}: {bytes} for {events}"
        );
    }
    // The buffers in front of the sinks, as gauges (0 or more: the sinks keep up).
    for name in ["vector_buffer_events", "vector_buffer_byte_size"] {
        assert!(text.contains(&format!("# TYPE {name} gauge")), "{text}");
        let waiting = series_value(&text, name, "out").unwrap_or_else(|| panic!("{name}:\n{text}"));
        assert!(waiting >= 0.0, "{name}: {waiting}");
    }
    let entered = series_value(&text, "vector_buffer_received_events_total", "out");
    assert!(entered.is_some_and(|n| n > 0.0), "{text}");
    assert!(
        (demo["sent_event_bytes_total"].as_u64()).is_some(),
        "/components has bytes: {demo}"
    );
    pipeline.signal(libc::SIGTERM);
    pipeline.wait(LIMIT).assert_success();
}

/// SIGHUP keeps the API's listener (same address): it answers again once the new topology
/// runs, and during the reload it says 503 or keeps the connection waiting, never refuses it.
#[test]
fn the_api_survives_a_reload() {
    let (api, exporter) = (free_address(), free_address());
    let pipeline = Pipeline::start(&observed_pipeline(api, exporter), &[], None);
    wait_for(&pipeline, api, "/health", 200);
    pipeline.signal(libc::SIGHUP);
    let started = Instant::now();
    while !pipeline
        .stderr_snapshot()
        .contains("starting the new configuration")
    {
        assert!(started.elapsed() < LIMIT, "no reload");
        assert!(
            TcpStream::connect(api).is_ok(),
            "the API refused a connection during the reload"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    wait_for(&pipeline, api, "/health", 200);
    wait_for(&pipeline, exporter, "/metrics", 200);
    pipeline.signal(libc::SIGTERM);
    pipeline.wait(LIMIT).assert_success();
}

/// An `[api]` or exporter address already in use is a configuration error: `validate` and
/// `run` exit 78 naming the option and the address.
#[test]
fn addresses_in_use_are_configuration_errors() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("address");
    let api_in_use = observed_pipeline(address, free_address());
    let exporter_in_use = observed_pipeline(free_address(), address);
    for (config, option) in [(&api_in_use, "api.address"), (&exporter_in_use, "address")] {
        for args in [&["validate"][..], &[][..]] {
            let run = Pipeline::start(config, args, None).wait(LIMIT);
            let stderr = run.stderr_text();
            assert_eq!(run.status.code(), Some(78), "{args:?}: {stderr}");
            assert!(
                stderr.contains(option) && stderr.contains(&address.to_string()),
                "{args:?}: the error names {option} and {address}:\n{stderr}"
            );
        }
    }
}

/// `top` against an address where nothing answers, or where something that is not the API
/// answers, says so and how to enable `[api]` (the view itself is tested in-process with
/// ratatui's `TestBackend`, `observability::top`).
#[test]
fn top_explains_when_no_api_answers() {
    let nobody = free_address();
    let output = process::c1_pipeline()
        .args(["top", "--url", &format!("http://{nobody}")])
        .output()
        .expect("top runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("nothing answers") && stderr.contains("[api]\n  enabled = true"),
        "{stderr}"
    );

    let (api, exporter) = (free_address(), free_address());
    let pipeline = Pipeline::start(&observed_pipeline(api, exporter), &[], None);
    wait_for(&pipeline, exporter, "/metrics", 200);
    let output = process::c1_pipeline()
        .args(["top", "--url", &format!("http://{exporter}")])
        .output()
        .expect("top runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a c1-pipeline API"), "{stderr}");
    pipeline.signal(libc::SIGTERM);
    pipeline.wait(LIMIT).assert_success();
}
