//! Helpers shared by the integration tests: configuration checks, and running a pipeline
//! in-process from TOML text.
#![allow(dead_code)] // each test crate uses a different subset

pub mod config;
pub mod source;
pub mod wait;

use std::path::Path;

use c1_pipeline::config::{Config, ConfigError, ConfigErrors};
use c1_pipeline::topology::{self, RunError, RunOptions, RunSummary};

/// A variable lookup that finds nothing.
pub fn no_env(_: &str) -> Option<String> {
    None
}

/// The errors of `result`, which must be a failure; a success panics, naming `what` was
/// expected and showing `text` (the configuration).
#[track_caller]
pub fn errors_of<T: std::fmt::Debug>(
    result: Result<T, ConfigErrors>,
    what: &str,
    text: &str,
) -> Vec<ConfigError> {
    match result {
        Ok(value) => panic!("expected {what}, got {value:#?}\nfor:\n{text}"),
        Err(errors) => errors.0,
    }
}

/// The one error in `all`, which must hold exactly one.
#[track_caller]
pub fn only(mut all: Vec<ConfigError>) -> ConfigError {
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    all.remove(0)
}

/// The first error in `all` whose message contains `text`.
#[track_caller]
pub fn error_containing<'a>(all: &'a [ConfigError], text: &str) -> &'a ConfigError {
    all.iter()
        .find(|e| e.message.contains(text))
        .unwrap_or_else(|| panic!("no error containing {text:?} in {all:#?}"))
}

/// The 1-based line and column of `error`, which must come from `test.toml`.
#[track_caller]
pub fn at(error: &ConfigError) -> (usize, usize) {
    let location = error
        .location
        .as_ref()
        .unwrap_or_else(|| panic!("no location in {error:#?}"));
    assert_eq!(location.file.as_ref(), Path::new("test.toml"));
    (location.line, location.column)
}

/// Parses `text` (named `path` in messages, `${VAR}`s looked up in `vars`), checks its graph and
/// runs the pipeline in-process until its sources finish or `shutdown` resolves. A config that
/// does not load is a test bug and panics. Pipeline logs go to the test's captured output
/// (`RUST_LOG` overrides the level).
pub async fn run_pipeline(
    text: &str,
    path: &Path,
    vars: &[(&str, String)],
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<RunSummary, RunError> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_test_writer()
        .try_init();
    let lookup = |name: &str| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    };
    let config = Config::from_toml(text, path, &lookup)
        .unwrap_or_else(|errors| panic!("{}: {errors}", path.display()));
    let graph = c1_pipeline::config::graph::check(&config)
        .unwrap_or_else(|errors| panic!("{}: {errors}", path.display()));
    topology::run(&config, &graph, shutdown, RunOptions::default()).await
}
