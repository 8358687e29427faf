//! `ocsf`: derive the fields that follow from an event's ids and validate it against the
//! official OCSF schema (any class, every embedded version); invalid events go to
//! `<id>.invalid` with their problems in `%ocsf.errors`.

mod config;
mod functions;
mod transform;

pub use config::{INVALID_OUTPUT, OcsfConfig};
pub(crate) use functions::vrl_functions;
