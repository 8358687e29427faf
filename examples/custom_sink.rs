//! A host program adding its own sink type, then running a TOML configuration that uses it
//! by `type` like a built-in.
//!
//! ```text
//! cargo run --example custom_sink
//! ```
//!
//! The `class_counter` sink counts events per OCSF `class_uid` and prints the totals when its
//! input ends; the configuration feeds it 200 events of the built-in demo source.

use std::collections::BTreeMap;

use c1_pipeline::component::{
    BuildError, ComponentError, ComponentTask, SinkComponent, SinkContext,
};
use c1_pipeline::{BatchStatus, Pipeline};
use serde::Deserialize;

/// `[sinks.ID] type = "class_counter"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassCounterConfig {
    /// Printed before the totals.
    #[serde(default = "default_title")]
    title: String,
}

fn default_title() -> String {
    "events per class".to_owned()
}

impl SinkComponent for ClassCounterConfig {
    fn build(&self, mut cx: SinkContext) -> Result<ComponentTask, BuildError> {
        if self.title.is_empty() {
            return Err(BuildError::field("title", "must not be empty"));
        }
        let title = self.title.clone();
        Ok(Box::pin(async move {
            let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
            while let Some(mut batch) = cx.input.recv().await {
                cx.metrics.received_events(&mut batch);
                for event in &batch {
                    let class = event
                        .value
                        .as_object()
                        .and_then(|object| object.get("class_uid"))
                        .and_then(|v| v.as_integer());
                    *counts.entry(class.unwrap_or(0)).or_default() += 1;
                }
                cx.metrics.sent_events(&mut batch);
                c1_pipeline::event::finish_batch(batch, BatchStatus::Delivered);
            }
            println!("{title}:");
            for (class, count) in counts {
                println!("  class_uid {class}: {count}");
            }
            Ok::<(), ComponentError>(())
        }))
    }
}

const CONFIG: &str = r#"
[sources.demo]
type = "conductorone_demo"
count = 200
interval_secs = 0

[sinks.counter]
type = "class_counter"
inputs = ["demo"]
title = "ConductorOne demo events per OCSF class"
"#;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    c1_pipeline::registry::register_sink::<ClassCounterConfig>("class_counter")
        .expect("the name is free");
    let pipeline = match Pipeline::from_toml(CONFIG) {
        Ok(pipeline) => pipeline,
        Err(errors) => {
            eprintln!("custom_sink: {errors}");
            return std::process::ExitCode::from(78);
        }
    };
    match pipeline.run(std::future::pending()).await {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("custom_sink: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
