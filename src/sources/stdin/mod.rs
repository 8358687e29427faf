//! `stdin`: newline-delimited events from standard input (Vector's options).
//!
//! A reader thread splits the input into `FrameBatch`es of lines; decoding (JSON parsing,
//! the costliest step of the whole pipeline) runs on every core at once, and each decoded
//! batch is sent on in input order (see [`read_lines`]). The source ends at end of input;
//! before returning it waits for every batch it sent to be acknowledged, and fails (non-zero
//! exit) if any event was not delivered, so `exit 0` means every line reached every sink.

mod config;
mod source;

pub use config::StdinConfig;
pub use source::{read_lines, spawn_reader};
