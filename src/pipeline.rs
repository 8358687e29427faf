//! [`Pipeline`]: the library's entry point for a host program — a configuration (text or
//! files, plus components added in code), run until a shutdown future resolves, or started in
//! the background with a [`PipelineHandle`] to read its counters, reload a new configuration
//! without losing events, and stop it.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::component::{SinkComponent, SourceComponent};
use crate::config::graph::{self, Graph};
use crate::config::{Config, ConfigErrors, SinkOuter, SourceOuter};
use crate::metrics::{MetricsRegistry, MetricsSnapshot};
use crate::observability::Phase;
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

    /// Runs with `options` (a shared metrics registry, a run state for health probes, the
    /// graceful shutdown limit) instead of the defaults.
    pub fn options(&mut self, options: RunOptions) -> &mut Self {
        self.options = options;
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
        let graph = graph::check(&self.config)?;
        let metrics = Arc::clone(self.options.metrics.get_or_insert_with(Default::default));
        let stop = CancellationToken::new();
        let (reloads, requests) = mpsc::channel(1);
        let task = tokio::spawn(supervise(
            self.config,
            graph,
            self.options,
            stop.clone(),
            requests,
        ));
        Ok(PipelineHandle {
            metrics,
            stop,
            reloads,
            task,
        })
    }
}

/// A request to replace the running configuration, and where to answer it.
struct ReloadRequest {
    config: Config,
    answer: oneshot::Sender<Result<(), ReloadError>>,
}

/// A checked configuration to run next, and the request to answer once it starts.
struct Next {
    config: Config,
    graph: Graph,
    answer: oneshot::Sender<Result<(), ReloadError>>,
}

/// Runs `config`, then each valid configuration a [`ReloadRequest`] brings, one after the
/// other: the running one stops its sources and drains (its events acknowledged, its
/// checkpoints written) before the next starts from those checkpoints. Everything the runs
/// use (components added in code included) lives in this task and ends with it.
async fn supervise(
    mut config: Config,
    mut graph: Graph,
    options: RunOptions,
    stop: CancellationToken,
    mut requests: mpsc::Receiver<ReloadRequest>,
) -> Result<RunSummary, RunError> {
    loop {
        if let Some(state) = &options.state {
            state.set(Phase::Starting);
        }
        let embedded = Embedded::of(&config);
        let mut next = None;
        let shutdown = async {
            next = tokio::select! {
                () = stop.cancelled() => None,
                next = next_valid(&mut requests, &embedded) => next,
            };
        };
        let result = crate::topology::run(&config, &graph, shutdown, options.clone()).await;
        match (next, result) {
            (Some(next), Ok(_)) => {
                tracing::info!("the running pipeline has drained; starting the new configuration");
                (config, graph) = (next.config, next.graph);
                // The caller may have stopped waiting; the reload goes on regardless.
                let _ = next.answer.send(Ok(()));
            }
            (_, result) => return result,
        }
    }
}

/// Waits for a reload request whose configuration is valid, refusing the others; never
/// resolves once every handle is dropped (the pipeline then runs until its sources end).
async fn next_valid(
    requests: &mut mpsc::Receiver<ReloadRequest>,
    embedded: &Embedded,
) -> Option<Next> {
    loop {
        let Some(request) = requests.recv().await else {
            return std::future::pending().await;
        };
        match embedded.checked(request.config) {
            Ok((config, graph)) => {
                return Some(Next {
                    config,
                    graph,
                    answer: request.answer,
                });
            }
            Err(errors) => {
                let _ = request.answer.send(Err(ReloadError::Invalid(errors)));
            }
        }
    }
}

/// The components added in code ([`Pipeline::add_source`], [`Pipeline::add_sink`]), which
/// a reload keeps unless the new configuration has a component of the same id.
#[derive(Debug, Default)]
struct Embedded {
    sources: Vec<(String, SourceOuter)>,
    sinks: Vec<(String, SinkOuter)>,
}

impl Embedded {
    fn of(config: &Config) -> Self {
        let embedded = |config: Option<&str>| config == Some(EMBEDDED_TYPE);
        let registered_source = |outer: &SourceOuter| match &outer.config {
            SourceConfig::Registered(registered) => Some(registered.type_name()),
            _ => None,
        };
        let registered_sink = |outer: &SinkOuter| match &outer.config {
            SinkConfig::Registered(registered) => Some(registered.type_name()),
            _ => None,
        };
        Self {
            sources: (config.sources.iter())
                .filter(|(_, outer)| embedded(registered_source(outer)))
                .map(|(id, outer)| (id.clone(), outer.clone()))
                .collect(),
            sinks: (config.sinks.iter())
                .filter(|(_, outer)| embedded(registered_sink(outer)))
                .map(|(id, outer)| (id.clone(), outer.clone()))
                .collect(),
        }
    }

    /// `config` with these components added, checked as `validate` checks: every component
    /// of `config` built (not these: they are running), then the graph.
    fn checked(&self, mut config: Config) -> Result<(Config, Graph), ConfigErrors> {
        crate::topology::check_build(&config)?;
        self.add_to(&mut config);
        let graph = graph::check(&config)?;
        Ok((config, graph))
    }

    /// Adds the components to `config` where it has no component of the same id.
    fn add_to(&self, config: &mut Config) {
        let taken = |config: &Config, id: &str| {
            config.sources.contains_key(id)
                || config.transforms.contains_key(id)
                || config.sinks.contains_key(id)
        };
        for (id, outer) in &self.sources {
            if !taken(config, id) {
                config.sources.insert(id.clone(), outer.clone());
            }
        }
        for (id, outer) in &self.sinks {
            if !taken(config, id) {
                config.sinks.insert(id.clone(), outer.clone());
            }
        }
    }
}

/// Why [`PipelineHandle::reload`] did not replace the running configuration.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new configuration is not valid (what `validate` reports); the running one goes
    /// on unchanged.
    #[error("{0}")]
    Invalid(ConfigErrors),
    /// The pipeline has stopped (or failed while draining for the reload: see
    /// [`PipelineHandle::wait`]).
    #[error("the pipeline has stopped")]
    Stopped,
}

/// A running pipeline ([`Pipeline::start`]). Awaiting it is the same as [`wait`](Self::wait).
#[derive(Debug)]
pub struct PipelineHandle {
    metrics: Arc<MetricsRegistry>,
    stop: CancellationToken,
    reloads: mpsc::Sender<ReloadRequest>,
    task: tokio::task::JoinHandle<Result<RunSummary, RunError>>,
}

impl std::fmt::Debug for ReloadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadRequest").finish_non_exhaustive()
    }
}

impl PipelineHandle {
    /// Every component's counters now. They keep growing across reloads.
    pub fn metrics(&self) -> Vec<MetricsSnapshot> {
        self.metrics.snapshot()
    }

    /// Replaces the running configuration with `next`'s without losing events, as SIGHUP
    /// does for `c1-pipeline run`: `next` is checked as `validate` checks (every component
    /// built, the graph); if it is not valid the running pipeline goes on unchanged and the
    /// errors are returned. Otherwise the sources stop and checkpoint, the events in flight
    /// are delivered and acknowledged, and `next` starts from the checkpoints; this returns
    /// once it is starting. Components added in code to the running pipeline are kept unless
    /// `next` has a component of the same id. `next`'s run options are not used: the
    /// handle's stay.
    pub async fn reload(&self, next: Pipeline) -> Result<(), ReloadError> {
        let (answer, answered) = oneshot::channel();
        let request = ReloadRequest {
            config: next.config,
            answer,
        };
        self.reloads
            .send(request)
            .await
            .map_err(|_| ReloadError::Stopped)?;
        answered.await.unwrap_or(Err(ReloadError::Stopped))
    }

    /// Starts a graceful shutdown: sources stop, events in flight are delivered.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Waits until the pipeline has ended.
    pub async fn wait(self) -> Result<RunSummary, RunError> {
        self.await
    }
}

impl Future for PipelineHandle {
    type Output = Result<RunSummary, RunError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.task)
            .poll(cx)
            .map(|joined| joined.unwrap_or_else(|error| Err(RunError::Panicked(error.to_string()))))
    }
}
