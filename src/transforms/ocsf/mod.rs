//! `ocsf`: derive the fields that follow from an event's ids and validate it against the
//! official OCSF schema (any class, every embedded version); invalid events go to
//! `<id>.invalid` with their problems in `%ocsf.errors`.

mod config;
mod functions;
mod transform;

pub use config::{INVALID_OUTPUT, OcsfConfig};
pub(crate) use functions::vrl_functions;

/// An API Activity event with its ids and none of the names derived from them, for the unit
/// tests (valid once derived).
#[cfg(test)]
const STRIPPED_6003: &str = r#"{"class_uid": 6003, "activity_id": 2, "severity_id": 1,
        "time": 1767225600123, "metadata": {"version": "1.3.0",
        "product": {"name": "ConductorOne", "vendor_name": "ConductorOne"}},
        "actor": {"app_name": "c1"}, "api": {"operation": "Get"},
        "src_endpoint": {"ip": "192.0.2.1"}}"#;
