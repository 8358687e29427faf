//! The packaging under `distribution/`: the systemd unit passes `systemd-analyze verify` (when
//! the tool is installed), the Kubernetes example's pipeline is a valid configuration, and the
//! Dockerfile builds and runs the way the README says.

#![cfg(unix)]

use std::path::Path;
use std::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_c1-pipeline");

fn read(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_systemd_unit_verifies_and_reloads_with_sighup() {
    let unit = read("distribution/systemd/c1-pipeline.service");
    for line in [
        "Type=exec",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "StateDirectory=c1-pipeline",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "RestartPreventExitStatus=78",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing `{line}`");
    }
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: only the unit's text was checked");
        return;
    };
    assert!(version.status.success());
    // The unit as installed, with the binary where this build put it.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c1-pipeline.service");
    std::fs::write(&path, unit.replace("/usr/bin/c1-pipeline", BINARY)).expect("unit written");
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze runs");
    let stderr = String::from_utf8_lossy(&verified.stderr);
    assert!(verified.status.success(), "{stderr}");
    assert!(
        !stderr.contains("c1-pipeline.service"),
        "warnings about the unit:\n{stderr}"
    );
}

/// The `pipeline.toml` of the Kubernetes example's ConfigMap, unindented.
fn kubernetes_pipeline(manifest: &str) -> String {
    let mut lines = manifest
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("pipeline.toml: |"))
        .skip(1)
        .take_while(|line| !line.starts_with("---"));
    let mut text = String::new();
    for line in &mut lines {
        text.push_str(line.strip_prefix("    ").unwrap_or(line.trim()));
        text.push('\n');
    }
    text
}

#[test]
fn the_kubernetes_example_probes_health_and_its_pipeline_is_valid() {
    let manifest = read("distribution/kubernetes/deployment.yaml");
    for needle in [
        "path: /health",
        "readinessProbe:",
        "livenessProbe:",
        "prometheus.io/scrape: \"true\"",
        "prometheus.io/port: \"9598\"",
        "runAsNonRoot: true",
    ] {
        assert!(manifest.contains(needle), "missing `{needle}`");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pipeline.toml");
    std::fs::write(&path, kubernetes_pipeline(&manifest)).expect("written");
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let secret = c1_pipeline::test_support::format_secret(&key);
    let validated = Command::new(BINARY)
        .args(["validate", "--no-environment", "--config"])
        .arg(&path)
        .env("C1_CLIENT_ID", "clever-fox-42195@acme.conductor.one/spc")
        .env("C1_CLIENT_SECRET", secret.expose())
        .env("SPLUNK_HEC_ENDPOINT", "https://splunk.example.com:8088")
        .env("SPLUNK_HEC_TOKEN", "00000000-0000-0000-0000-000000000000")
        .env_remove("C1_PIPELINE_CONFIG")
        .output()
        .expect("validate runs");
    assert!(
        validated.status.success(),
        "{}",
        String::from_utf8_lossy(&validated.stderr)
    );
}

#[test]
fn the_dockerfile_builds_as_the_readme_and_runs_unprivileged() {
    let dockerfile = read("distribution/docker/Dockerfile");
    let readme = read("README.md");
    assert!(readme.contains("cargo build --release"));
    for needle in [
        "cargo build --release --locked --bin c1-pipeline",
        "USER 10001:10001",
        "VOLUME [\"/var/lib/c1-pipeline\"]",
        "\"--config-dir\", \"/etc/c1-pipeline\"",
    ] {
        assert!(dockerfile.contains(needle), "missing `{needle}`");
    }
    assert_eq!(
        dockerfile.matches("\nFROM ").count() + usize::from(dockerfile.starts_with("FROM ")),
        2,
        "a build stage and a runtime stage"
    );
}
