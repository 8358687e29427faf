//! # c1-pipeline
//!
//! Gets ConductorOne's system log (OCSF events) into the places security teams read it. A
//! Vector-style pipeline — **sources → transforms → sinks** — defined in TOML, with the
//! same component names and options as Vector where Vector has the component.
//!
//! * Events are [`vrl::value::Value`] objects: the OCSF object itself ([`event`]).
//! * Batches move between one task per component over bounded channels ([`topology`]).
//! * Delivery is acknowledged end to end ([`ack`]): a source learns when every copy of every
//!   event it emitted has reached every sink, which is what checkpointing sources build on.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use c1_pipeline::config::Config;
//! let env = |name: &str| std::env::var(name).ok();
//! let (config, graph) = Config::load_with_graph(&["pipeline.toml".into()], &env)?;
//! c1_pipeline::topology::run(&config, &graph, std::future::pending(), Default::default()).await?;
//! # Ok(()) }
//! ```

pub mod ack;
pub mod aws;
pub mod codecs;
pub mod component;
pub mod config;
pub mod dedupe;
pub mod event;
pub mod metrics;
pub mod ocsf;
pub mod options;
pub mod retry;
pub mod secrets;
pub mod sinks;
pub mod sources;
pub mod state;
pub mod stdio;
pub mod template;
pub mod topology;
pub mod transforms;

#[cfg(test)]
mod test_alloc;
#[cfg(test)]
mod test_s3;

pub use config::Config;
pub use event::{Batch, Event};
