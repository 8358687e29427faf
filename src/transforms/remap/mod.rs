//! `remap`: modify events with a VRL program (Vector's options and behaviour).

mod config;
mod transform;

pub use config::{DROPPED_OUTPUT, RemapConfig};
