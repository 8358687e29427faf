//! Helpers shared by the configuration tests.
#![allow(dead_code)] // each test crate uses a different subset

use std::path::Path;

use c1_pipeline::config::ConfigError;

/// A variable lookup that finds nothing.
pub fn no_env(_: &str) -> Option<String> {
    None
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
