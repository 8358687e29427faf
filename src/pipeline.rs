//! [`Pipeline`]: the library's entry point for a host program — a configuration (text or
//! files, plus components added in code), run until a shutdown future resolves, or started in
//! the background with a [`PipelineHandle`] to read its counters and stop it.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::component::{SinkComponent, SourceComponent};
use crate::config::{Config, ConfigErrors, SinkOuter, SourceOuter};
use crate::metrics::{MetricsRegistry, MetricsSnapshot};
use crate::registry::Registered;
use crate::sinks::SinkConfig;
use crate::sources::SourceConfig;
use crate::topology::{RunError, RunOptions, RunSummary};

/// The `type` name of components added in code.
const EMBEDDED_TYPE: &str = "embedded";

/// A component added in code has an id that is empty or already used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("component id `{0}` is empty or already used")]
pub struct IdTaken(pub String);

/// A pipeline to run: its configuration and run options.
#[derive(Debug)]
pub struct Pipeline {
    config: Config,
    options: RunOptions,
}

impl Pipeline {
    /// A pipeline from TOML text, `${VAR}`s substituted from the process environment.
    /// Registered types ([`crate::registry`]) must be registered before.
    pub fn from_toml(text: &str) -> Result<Self, ConfigErrors> {
        Self::from_toml_with_env(text, &|name| std::env::var(name).ok())
    }

    /// As [`from_toml`](Self::from_toml), with variables from `lookup`.
    pub fn from_toml_with_env(
        text: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        let config = Config::from_toml(text, Path::new("pipeline.toml"), lookup)?;
        Ok(Self::from_config(config))
    }

    /// A pipeline from configuration files, merged (as `c1-pipeline --config` does).
    pub fn load(paths: &[PathBuf]) -> Result<Self, ConfigErrors> {
        Config::load(paths).map(Self::from_config)
    }

    /// A pipeline running `config`.
    pub fn from_config(config: Config) -> Self {
        Self {
            config,
            options: RunOptions::default(),
        }
    }

    /// The configuration (as loaded, with the components added in code).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How long to wait for events in flight once shutdown starts (default 60 s).
    pub fn graceful_shutdown_limit(&mut self, limit: Duration) -> &mut Self {
        self.options.graceful_shutdown_limit = limit;
        self
    }

    /// Adds source `id` built in code (such as [`crate::embed::host_source`]).
    pub fn add_source(
        &mut self,
        id: &str,
        source: impl SourceComponent + 'static,
    ) -> Result<&mut Self, IdTaken> {
        self.check_new_id(id)?;
        let config = SourceConfig::Registered(Registered::new(EMBEDDED_TYPE, Arc::new(source)));
        self.config.sources.insert(
            id.to_owned(),
            SourceOuter {
                config,
                origin: Default::default(),
            },
        );
        Ok(self)
    }

    /// Adds sink `id` built in code (such as [`crate::embed::host_sink`]), reading `inputs`.
    pub fn add_sink(
        &mut self,
        id: &str,
        inputs: &[&str],
        sink: impl SinkComponent + 'static,
    ) -> Result<&mut Self, IdTaken> {
        self.check_new_id(id)?;
        let config = SinkConfig::Registered(Registered::new(EMBEDDED_TYPE, Arc::new(sink)));
        self.config.sinks.insert(
            id.to_owned(),
            SinkOuter {
                inputs: inputs.iter().map(|input| (*input).to_owned()).collect(),
                config,
                buffer: Default::default(),
                origin: Default::default(),
            },
        );
        Ok(self)
    }

    fn check_new_id(&self, id: &str) -> Result<(), IdTaken> {
        let taken = self.config.sources.contains_key(id)
            || self.config.transforms.contains_key(id)
            || self.config.sinks.contains_key(id);
        if taken || id.is_empty() {
            return Err(IdTaken(id.to_owned()));
        }
        Ok(())
    }

    /// Checks the graph and runs the pipeline until its sources end, or `shutdown` resolves
    /// and the events in flight are delivered (within the graceful shutdown limit).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<RunSummary, RunError> {
        let graph = crate::config::graph::check(&self.config).map_err(RunError::Build)?;
        crate::topology::run(&self.config, &graph, shutdown, self.options).await
    }

    /// Checks the graph and starts the pipeline on the current Tokio runtime.
    pub fn start(mut self) -> Result<PipelineHandle, ConfigErrors> {
        // Checked here, where errors can still be returned, and only here.
        let graph = crate::config::graph::check(&self.config)?;
        let metrics = Arc::new(MetricsRegistry::default());
        self.options.metrics = Some(Arc::clone(&metrics));
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let shutdown = stopped.cancelled_owned();
            crate::topology::run(&self.config, &graph, shutdown, self.options).await
        });
        Ok(PipelineHandle {
            metrics,
            stop,
            task,
        })
    }
}

/// A running pipeline ([`Pipeline::start`]).
#[derive(Debug)]
pub struct PipelineHandle {
    metrics: Arc<MetricsRegistry>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<RunSummary, RunError>>,
}

impl PipelineHandle {
    /// Every component's counters now.
    pub fn metrics(&self) -> Vec<MetricsSnapshot> {
        self.metrics.snapshot()
    }

    /// Starts a graceful shutdown: sources stop, events in flight are delivered.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Waits until the pipeline has ended.
    pub async fn wait(self) -> Result<RunSummary, RunError> {
        match self.task.await {
            Ok(result) => result,
            Err(error) => Err(RunError::Panicked(error.to_string())),
        }
    }
}
