//! Running a checked configuration: one task per component, bounded channels between them,
//! fan-out, and graceful shutdown.
//!
//! Shutdown (a signal, or every source reaching the end of its input): sources stop and drop
//! their outputs; each transform finishes what it holds and closes its outputs; each sink
//! drains its input, flushes and finalizes; the run ends when every task has. A deadline
//! bounds the wait, after which the components still running are named.

mod buffer;
pub(crate) mod fanout;

pub use buffer::BufferReceiver;
use buffer::BufferSender;
pub use fanout::{ClosedError, Fanout};
mod transform;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::component::{BuildError, ComponentTask, SinkContext, SourceContext, TransformContext};
use crate::config::graph::{Graph, OutputId};
use crate::config::{Config, ConfigError, ConfigErrors};
use crate::metrics::{ComponentMetrics, MetricsRegistry, MetricsSnapshot};
use crate::observability::{ComponentKind, Phase, component_span};
use crate::state::DataDirLock;
use fanout::{FusedChain, FusedStage};
use tracing::Instrument;

/// Batches a component's input channel holds before its producers wait (backpressure).
/// With sources emitting at most [`MAX_BATCH_EVENTS`] events a batch this bounds the events
/// queued between two components.
pub const CHANNEL_BATCHES: usize = 2;

/// The most events a source puts in one batch.
pub const MAX_BATCH_EVENTS: usize = 64;

/// Parallel workers for decoding: one per core, at most 8 (`C1_PIPELINE_WORKERS` overrides).
/// Batches are decoded in parallel and sent on in input order, so events are never reordered.
pub fn worker_count() -> usize {
    static COUNT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *COUNT.get_or_init(|| {
        env_count("C1_PIPELINE_WORKERS")
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// Parallel workers per transform: 1 by default (`C1_TRANSFORM_WORKERS` overrides).
///
/// With one worker a transform runs each batch in its own task, and tokio runs a task woken
/// by another next on the same core: a batch then stays on the core that decoded it through
/// every transform to the sink. Handing batches to parallel workers moves them between cores,
/// and reading an event another core just built costs more than the transform itself
/// (measured: `bench/README.md`, "Design measurements"). Parallel workers pay off only for
/// VRL programs costlier than decoding their events.
pub fn transform_workers() -> usize {
    static COUNT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *COUNT.get_or_init(|| env_count("C1_TRANSFORM_WORKERS").unwrap_or(1))
}

fn env_count(name: &str) -> Option<usize> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map(|n| n.clamp(1, 8))
}

/// Run-time options.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// How long to wait for in-flight events after shutdown starts. Default 60 s (Vector's).
    pub graceful_shutdown_limit: Duration,
    /// Where the run keeps its counters, for a caller that reads them while it runs
    /// (`MetricsRegistry::snapshot`). Default: a registry of the run's own.
    pub metrics: Option<Arc<MetricsRegistry>>,
    /// Where the run records whether it is starting, running or stopping (`GET /health`).
    pub state: Option<Arc<crate::observability::RunState>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            graceful_shutdown_limit: Duration::from_secs(60),
            metrics: None,
            state: None,
        }
    }
}

/// How a run ended.
#[derive(Debug)]
pub struct RunSummary {
    /// Per-component counters at the end.
    pub metrics: Vec<MetricsSnapshot>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A component could not be built.
    #[error("{0}")]
    Build(ConfigErrors),
    /// `data_dir` could not be locked for this process (another one uses it).
    #[error("{0}")]
    DataDir(crate::state::LockError),
    /// A health check failed and `healthchecks.require_healthy` is set.
    #[error("health check failed for {component}: {message}")]
    Unhealthy {
        /// The component.
        component: String,
        /// What failed.
        message: String,
    },
    /// A component stopped with an error.
    #[error("{component} failed: {message}")]
    Component {
        /// The component.
        component: String,
        /// The error.
        message: String,
        /// Counters at the end.
        metrics: Vec<MetricsSnapshot>,
    },
    /// Components were still busy when the graceful shutdown limit passed.
    #[error("shutdown limit reached; still running: {}", still_running.join(", "))]
    ShutdownTimeout {
        /// Components that had not finished (their in-flight events were not delivered).
        still_running: Vec<String>,
        /// Counters at the end.
        metrics: Vec<MetricsSnapshot>,
    },
    /// The task running the pipeline panicked ([`crate::PipelineHandle::wait`]).
    #[error("the pipeline's task panicked: {0}")]
    Panicked(String),
}

/// Converts a component's build error to a configuration error at the field's position.
pub fn build_error(
    kind: &str,
    id: &str,
    origin: &crate::config::Origin,
    error: BuildError,
) -> ConfigError {
    let location = match (&error.field, error.position_in_value) {
        (Some(field), Some((line, column))) => origin
            .position_in_value(field, line, column)
            .or_else(|| origin.field_location(field)),
        (Some(field), None) => origin.field_location(field),
        (None, _) => origin.location.clone(),
    };
    let mut result = ConfigError::new(error.message)
        .at(location)
        .component(format!("{kind}.{id}"));
    if let Some(field) = error.field {
        result = result.field(field);
    }
    if let Some(help) = error.help {
        result = result.help(help);
    }
    result
}

/// Builds every component without starting it (what `validate` checks beyond syntax).
pub fn check_build(config: &Config) -> Result<(), ConfigErrors> {
    let metrics = Arc::new(MetricsRegistry::default());
    let shutdown = CancellationToken::new();
    let mut errors = Vec::new();
    for (id, source) in &config.sources {
        let cx = SourceContext {
            id: Arc::from(id.as_str()),
            out: Fanout::default(),
            shutdown: shutdown.clone(),
            data_dir: config.data_dir.clone(),
            acknowledgements: false,
            metrics: metrics.component(ComponentKind::Source, id, source.config.type_name()),
            registry: Arc::clone(&metrics),
        };
        if let Err(error) = source.config.component().build(cx) {
            errors.push(build_error("sources", id, &source.origin, error));
        }
    }
    let transform_cx = TransformContext {
        enrichment_tables: config.enrichment(),
    };
    for (id, transform) in &config.transforms {
        if let Err(error) = transform.config.component().build(&transform_cx) {
            errors.push(build_error("transforms", id, &transform.origin, error));
        }
    }
    for (id, sink) in &config.sinks {
        let (_sender, receiver) = mpsc::channel(1);
        let cx = SinkContext {
            id: Arc::from(id.as_str()),
            input: receiver.into(),
            acknowledgements: config.sink_acknowledges(sink),
            metrics: metrics.component(ComponentKind::Sink, id, sink.config.type_name()),
        };
        if let Err(error) = sink.config.component().build(cx) {
            errors.push(build_error("sinks", id, &sink.origin, error));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Runs the pipeline until every source has finished and everything in flight has been
/// delivered, or until `shutdown` resolves (then sources stop and the rest drains).
///
/// Start-up order: `data_dir` is locked for this process, every component is built (all
/// configuration errors are reported before anything touches the network), the health checks
/// run, and only then do components start. `shutdown` is watched from the first step: a
/// signal during the health checks ends the run before anything was read.
pub async fn run(
    config: &Config,
    graph: &Graph,
    shutdown: impl Future<Output = ()>,
    options: RunOptions,
) -> Result<RunSummary, RunError> {
    let _lock = match &config.data_dir {
        Some(dir) => Some(DataDirLock::acquire(dir).map_err(RunError::DataDir)?),
        None => None,
    };
    let registry = options.metrics.clone().unwrap_or_default();
    // A registry shared across reloads forgets the components this configuration removed.
    registry.retain_components(&config.component_names());
    let token = CancellationToken::new();
    let built = Wiring::new(config, graph, &registry, &token).build()?;
    tokio::pin!(shutdown);

    if config.healthchecks.enabled {
        let require_healthy = config.healthchecks.require_healthy;
        tokio::select! {
            checked = run_healthchecks(config, require_healthy) => checked?,
            () = &mut shutdown => {
                tracing::info!("shutdown requested during the start-up health checks; nothing was read");
                return Ok(RunSummary { metrics: registry.snapshot() });
            }
        }
    }

    let mut tasks: JoinSet<(String, Result<(), String>)> = JoinSet::new();
    let running: BTreeSet<String> = built.iter().map(|(name, _)| name.clone()).collect();
    let mut task_names = std::collections::HashMap::new();
    for (name, task) in built {
        let id = spawn_component(&mut tasks, name.clone(), task);
        task_names.insert(id, name);
    }
    if let Some(state) = &options.state {
        state.set(Phase::Running);
    }
    let supervisor = Supervisor {
        tasks,
        task_names,
        running,
        token,
        registry,
    };
    supervisor.wait(shutdown, options).await
}

/// The channels between components while they are built.
struct Wiring<'a> {
    config: &'a Config,
    graph: &'a Graph,
    registry: &'a Arc<MetricsRegistry>,
    token: &'a CancellationToken,
    /// One buffer (a bounded channel) per consumer (transform or sink).
    senders: BTreeMap<&'a str, BufferSender>,
    receivers: BTreeMap<&'a str, BufferReceiver>,
    /// Transforms each source runs itself.
    chains: BTreeMap<&'a str, Vec<&'a str>>,
    built: Vec<(String, ComponentTask)>,
    errors: Vec<ConfigError>,
}

impl<'a> Wiring<'a> {
    fn new(
        config: &'a Config,
        graph: &'a Graph,
        registry: &'a Arc<MetricsRegistry>,
        token: &'a CancellationToken,
    ) -> Self {
        let chains = fused_chains(config, graph);
        let fused: BTreeSet<&str> = chains.values().flatten().copied().collect();
        let mut senders = BTreeMap::new();
        let mut receivers = BTreeMap::new();
        for (id, transform) in &config.transforms {
            // A fused transform runs in its source's task: its channel stays unused.
            let metrics = (!fused.contains(id.as_str())).then(|| {
                let type_name = transform.config.type_name();
                (registry.component(ComponentKind::Transform, id, type_name)).buffer()
            });
            let (sender, receiver) = buffer::channel(CHANNEL_BATCHES, metrics);
            senders.insert(id.as_str(), sender);
            receivers.insert(id.as_str(), receiver);
        }
        for (id, sink) in &config.sinks {
            // Refused buffers were reported when the file was loaded.
            let depth = sink
                .buffer
                .channel()
                .map_or(CHANNEL_BATCHES, |(depth, _)| depth);
            let metrics = registry.component(ComponentKind::Sink, id, sink.config.type_name());
            let (sender, receiver) = buffer::channel(depth, Some(metrics.buffer()));
            senders.insert(id.as_str(), sender);
            receivers.insert(id.as_str(), receiver);
        }
        Self {
            config,
            graph,
            registry,
            token,
            senders,
            receivers,
            chains,
            built: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Builds every component (none started), or every build error.
    fn build(mut self) -> Result<Vec<(String, ComponentTask)>, RunError> {
        self.build_sinks();
        self.build_transforms();
        self.build_sources();
        if self.errors.is_empty() {
            Ok(self.built)
        } else {
            Err(RunError::Build(ConfigErrors(self.errors)))
        }
    }

    /// The fan-out to every consumer of `output`.
    fn fanout_for(&self, output: &OutputId, metrics: Arc<ComponentMetrics>) -> Fanout {
        let targets = self
            .graph
            .inputs
            .iter()
            .filter(|(_, inputs)| inputs.contains(output))
            .map(|(consumer, _)| {
                (
                    Arc::from(consumer.as_str()),
                    self.senders[consumer.as_str()].clone(),
                )
            })
            .collect();
        let drop_when_full = self
            .graph
            .inputs
            .iter()
            .filter(|(consumer, inputs)| {
                inputs.contains(output)
                    && self
                        .config
                        .sinks
                        .get(consumer.as_str())
                        .is_some_and(|sink| {
                            sink.buffer.channel().is_ok_and(|(_, dropping)| dropping)
                        })
            })
            .map(|(consumer, _)| {
                let type_name = self.config.sinks[consumer.as_str()].config.type_name();
                let metrics = self
                    .registry
                    .component(ComponentKind::Sink, consumer, type_name);
                (Arc::from(consumer.as_str()), metrics)
            })
            .collect();
        Fanout::to_buffers(targets, Some(metrics)).with_drop_when_full(drop_when_full)
    }

    fn build_sinks(&mut self) {
        for (id, sink) in &self.config.sinks {
            let name = format!("sinks.{id}");
            let cx = SinkContext {
                id: Arc::from(id.as_str()),
                input: self
                    .receivers
                    .remove(id.as_str())
                    .expect("every sink has an input channel"),
                acknowledgements: self.config.sink_acknowledges(sink),
                metrics: (self.registry).component(
                    ComponentKind::Sink,
                    id,
                    sink.config.type_name(),
                ),
            };
            let span = component_span(ComponentKind::Sink, id, sink.config.type_name());
            match span.in_scope(|| sink.config.component().build(cx)) {
                Ok(task) => self.built.push((name, Box::pin(task.instrument(span)))),
                Err(error) => self
                    .errors
                    .push(build_error("sinks", id, &sink.origin, error)),
            }
        }
    }

    fn build_transforms(&mut self) {
        let fused: BTreeSet<&str> = self.chains.values().flatten().copied().collect();
        for (id, transform) in &self.config.transforms {
            if fused.contains(id.as_str()) {
                continue;
            }
            let name = format!("transforms.{id}");
            let metrics = (self.registry).component(
                ComponentKind::Transform,
                id,
                transform.config.type_name(),
            );
            let declared = transform.config.component().outputs();
            let ports = declared
                .default
                .then_some(None)
                .into_iter()
                .chain(declared.named.iter().map(|p| Some(p.clone())));
            let outputs: Vec<Fanout> = ports
                .map(|port| {
                    let output = OutputId {
                        component: id.clone(),
                        port,
                    };
                    self.fanout_for(&output, Arc::clone(&metrics))
                })
                .collect();
            let span = component_span(ComponentKind::Transform, id, transform.config.type_name());
            let cx = TransformContext {
                enrichment_tables: self.config.enrichment(),
            };
            match span.in_scope(|| transform.config.component().build(&cx)) {
                Ok(mut function) => {
                    function.use_metrics(Arc::clone(&metrics));
                    let input = self
                        .receivers
                        .remove(id.as_str())
                        .expect("every transform has an input channel");
                    let task = transform::run(name.clone(), function, input, outputs, metrics);
                    self.built.push((name, Box::pin(task.instrument(span))));
                }
                Err(error) => {
                    let error = build_error("transforms", id, &transform.origin, error);
                    self.errors.push(error);
                }
            }
        }
    }

    fn build_sources(&mut self) {
        let acknowledging = sources_fully_acknowledged(self.config, self.graph);
        for (id, source) in &self.config.sources {
            let name = format!("sources.{id}");
            let metrics =
                (self.registry).component(ComponentKind::Source, id, source.config.type_name());
            let chain_ids = self.chains.get(id.as_str()).cloned().unwrap_or_default();
            let stages = self.build_chain(&chain_ids);
            // The source's events leave from the last fused transform's output.
            let last = chain_ids.last().map_or(id.as_str(), |last| *last);
            let output = OutputId {
                component: last.to_owned(),
                port: None,
            };
            let out = self
                .fanout_for(&output, Arc::clone(&metrics))
                .with_chain(FusedChain::new(stages));
            let cx = SourceContext {
                id: Arc::from(id.as_str()),
                out,
                shutdown: self.token.clone(),
                data_dir: self.config.data_dir.clone(),
                acknowledgements: acknowledging.contains(id.as_str()),
                metrics,
                registry: Arc::clone(self.registry),
            };
            let span = component_span(ComponentKind::Source, id, source.config.type_name());
            match span.in_scope(|| source.config.component().build(cx)) {
                Ok(task) => self.built.push((name, Box::pin(task.instrument(span)))),
                Err(error) => self
                    .errors
                    .push(build_error("sources", id, &source.origin, error)),
            }
        }
    }

    /// The transforms a source runs itself, built.
    fn build_chain(&mut self, chain_ids: &[&str]) -> Vec<FusedStage> {
        let mut stages = Vec::with_capacity(chain_ids.len());
        for transform_id in chain_ids {
            let transform = &self.config.transforms[*transform_id];
            match transform.config.component().build(&TransformContext {
                enrichment_tables: self.config.enrichment(),
            }) {
                Ok(mut function) => {
                    let metrics = self.registry.component(
                        ComponentKind::Transform,
                        transform_id,
                        transform.config.type_name(),
                    );
                    function.use_metrics(Arc::clone(&metrics));
                    stages.push(FusedStage {
                        transform: function,
                        metrics,
                        unread_outputs: transform.config.component().outputs().named.len(),
                    });
                }
                Err(error) => self.errors.push(build_error(
                    "transforms",
                    transform_id,
                    &transform.origin,
                    error,
                )),
            }
        }
        stages
    }
}

/// Watches the running components until they have all finished.
struct Supervisor {
    tasks: JoinSet<(String, Result<(), String>)>,
    /// The component each task runs, to name one that panicked.
    task_names: std::collections::HashMap<tokio::task::Id, String>,
    /// Components not finished yet.
    running: BTreeSet<String>,
    /// Cancelled to stop the sources.
    token: CancellationToken,
    registry: Arc<MetricsRegistry>,
}

impl Supervisor {
    /// Waits for every task; on `shutdown` stops the sources and gives the rest
    /// `options.graceful_shutdown_limit` to drain.
    async fn wait(
        mut self,
        shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
        options: RunOptions,
    ) -> Result<RunSummary, RunError> {
        let mut shutdown = shutdown;
        let mut failure: Option<(String, String)> = None;
        let mut deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
        let mut shutdown_requested = false;
        while !self.tasks.is_empty() {
            tokio::select! {
                joined = self.tasks.join_next() => {
                    let Some(joined) = joined else { break };
                    if let Some(failed) = self.finished(joined) {
                        failure.get_or_insert(failed);
                    }
                }
                () = &mut shutdown, if !shutdown_requested => {
                    shutdown_requested = true;
                    if let Some(state) = &options.state {
                        state.set(Phase::Stopping);
                    }
                    tracing::info!(limit_secs = options.graceful_shutdown_limit.as_secs(), "shutting down: sources stop, in-flight events drain");
                    self.token.cancel();
                    deadline = Some(Box::pin(tokio::time::sleep(options.graceful_shutdown_limit)));
                }
                () = async { deadline.as_mut().expect("guarded").await }, if deadline.is_some() => {
                    self.tasks.abort_all();
                    let still_running: Vec<String> = self.running.into_iter().collect();
                    tracing::error!(components = ?still_running, "graceful shutdown limit reached; events still in these components were not delivered (sources will resend unacknowledged data)");
                    return Err(RunError::ShutdownTimeout { still_running, metrics: self.registry.snapshot() });
                }
            }
        }
        let metrics = self.registry.snapshot();
        match failure {
            Some((component, message)) => Err(RunError::Component {
                component,
                message,
                metrics,
            }),
            None => Ok(RunSummary { metrics }),
        }
    }

    /// Records a finished task; its name and error if it failed (then the sources stop).
    fn finished(
        &mut self,
        joined: Result<(String, Result<(), String>), tokio::task::JoinError>,
    ) -> Option<(String, String)> {
        let (name, result) = match joined {
            Ok(done) => done,
            Err(join_error) => (
                self.task_names
                    .get(&join_error.id())
                    .cloned()
                    .unwrap_or_else(|| "a component".to_owned()),
                Err(format!("task panicked: {join_error}")),
            ),
        };
        self.running.remove(&name);
        match result {
            Ok(()) => {
                tracing::debug!(component = %name, "component finished");
                None
            }
            Err(message) => {
                tracing::error!(component = %name, error = %message, "component failed; shutting down");
                self.token.cancel();
                Some((name, message))
            }
        }
    }
}

/// For each source, the transforms it runs itself (see [`FusedChain`]), in order: following
/// the source's output while it feeds exactly one transform that reads nothing else and has
/// a default output and no named output anybody reads (an unread optional output, such as
/// the `ocsf` transform's `invalid`, is discarded in the chain). Nothing is fused when
/// `C1_TRANSFORM_WORKERS` asks for parallel transform workers.
fn fused_chains<'a>(config: &'a Config, graph: &Graph) -> BTreeMap<&'a str, Vec<&'a str>> {
    let mut chains = BTreeMap::new();
    if transform_workers() > 1 {
        return chains;
    }
    for source in config.sources.keys() {
        let mut chain: Vec<&str> = Vec::new();
        let mut current = source.as_str();
        loop {
            let output = OutputId {
                component: current.to_owned(),
                port: None,
            };
            let mut consumers = graph
                .inputs
                .iter()
                .filter(|(_, inputs)| inputs.contains(&output));
            let (Some((consumer, inputs)), None) = (consumers.next(), consumers.next()) else {
                break;
            };
            let Some((id, transform)) = config.transforms.get_key_value(consumer) else {
                break;
            };
            let outputs = transform.config.component().outputs();
            let named_unread = outputs.named.iter().all(|port| {
                graph.unconsumed_optional.contains(&OutputId {
                    component: id.clone(),
                    port: Some(port.clone()),
                })
            });
            if inputs.len() != 1 || !outputs.default || !named_unread {
                break;
            }
            chain.push(id.as_str());
            current = id.as_str();
        }
        if !chain.is_empty() {
            chains.insert(source.as_str(), chain);
        }
    }
    chains
}

/// Spawns a component's task; its task id, to name the component should it panic.
fn spawn_component(
    tasks: &mut JoinSet<(String, Result<(), String>)>,
    name: String,
    task: ComponentTask,
) -> tokio::task::Id {
    tasks
        .spawn(async move {
            let result = task.await.map_err(|error| error.to_string());
            (name, result)
        })
        .id()
}

/// Sources all of whose downstream sinks acknowledge delivery.
fn sources_fully_acknowledged<'a>(config: &'a Config, graph: &Graph) -> BTreeSet<&'a str> {
    let mut result = BTreeSet::new();
    'sources: for id in config.sources.keys() {
        let mut frontier = vec![id.as_str()];
        let mut seen = BTreeSet::new();
        let mut any_sink = false;
        while let Some(current) = frontier.pop() {
            for (consumer, inputs) in &graph.inputs {
                if !inputs.iter().any(|o| o.component == current) || !seen.insert(consumer.as_str())
                {
                    continue;
                }
                if let Some(sink) = config.sinks.get(consumer) {
                    if !config.sink_acknowledges(sink) {
                        continue 'sources;
                    }
                    any_sink = true;
                } else {
                    frontier.push(consumer);
                }
            }
        }
        if any_sink {
            result.insert(id.as_str());
        }
    }
    result
}

/// Runs every sink's and source's health check concurrently.
async fn run_healthchecks(config: &Config, require_healthy: bool) -> Result<(), RunError> {
    for (component, message) in healthcheck_all(config).await {
        if require_healthy {
            return Err(RunError::Unhealthy { component, message });
        }
        tracing::warn!(%component, error = %message, "health check failed; starting anyway (set healthchecks.require_healthy = true to refuse)");
    }
    Ok(())
}

/// Runs every health check, for `validate`: the failures, by component.
pub async fn healthcheck_all(config: &Config) -> Vec<(String, String)> {
    let checks = config
        .sources
        .iter()
        .map(|(id, s)| (format!("sources.{id}"), s.config.component().healthcheck()))
        .chain(
            config
                .sinks
                .iter()
                .map(|(id, s)| (format!("sinks.{id}"), s.config.component().healthcheck())),
        );
    futures::future::join_all(checks.map(|(name, check)| async move { (name, check.await) }))
        .await
        .into_iter()
        .filter_map(|(name, result)| result.err().map(|e| (name, e.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chains_of(text: &str) -> BTreeMap<String, Vec<String>> {
        let config = Config::from_toml(text, std::path::Path::new("test.toml"), &|_| None)
            .unwrap_or_else(|errors| panic!("{errors}"));
        let graph = crate::config::graph::check(&config).unwrap_or_else(|e| panic!("{e}"));
        fused_chains(&config, &graph)
            .into_iter()
            .map(|(source, chain)| {
                let chain = chain.into_iter().map(str::to_owned).collect();
                (source.to_owned(), chain)
            })
            .collect()
    }

    #[test]
    fn fuses_only_linear_single_input_default_output_transforms() {
        // in -> a -> b -> out: both fused. c reads two outputs, r has named outputs.
        let text = r#"
sources.in = { type = "stdin" }
sources.other = { type = "stdin" }
transforms.a = { type = "remap", inputs = ["in"], source = ".x = 1" }
transforms.b = { type = "filter", inputs = ["a"], condition = "true" }
transforms.r = { type = "route", inputs = ["other"], route.yes = "true" }
transforms.c = { type = "filter", inputs = ["b", "r.yes"], condition = "true" }
sinks.out = { type = "blackhole", inputs = ["c"] }
"#;
        let chains = chains_of(text);
        assert_eq!(
            chains,
            BTreeMap::from([("in".to_owned(), vec!["a".to_owned(), "b".to_owned()])])
        );
    }

    #[test]
    fn does_not_fuse_an_output_read_twice() {
        let text = r#"
sources.in = { type = "stdin" }
transforms.a = { type = "remap", inputs = ["in"], source = ".x = 1" }
sinks.out = { type = "blackhole", inputs = ["in", "a"] }
"#;
        assert!(chains_of(text).is_empty());
    }

    #[test]
    fn fuses_a_transform_whose_named_outputs_are_optional_and_unread() {
        // o1's `invalid` is read, o2's is not: only o2 runs in its source's chain.
        let text = r#"
sources.a = { type = "stdin" }
sources.b = { type = "stdin" }
transforms.o1 = { type = "ocsf", inputs = ["a"] }
transforms.o2 = { type = "ocsf", inputs = ["b"] }
sinks.out = { type = "blackhole", inputs = ["o1", "o2"] }
sinks.bad = { type = "blackhole", inputs = ["o1.invalid"] }
"#;
        let chains = chains_of(text);
        assert_eq!(
            chains,
            BTreeMap::from([("b".to_owned(), vec!["o2".to_owned()])])
        );
    }

    /// A source that panics when it runs.
    #[derive(Debug)]
    struct Panics;

    impl crate::component::SourceComponent for Panics {
        fn build(&self, _cx: SourceContext) -> Result<ComponentTask, BuildError> {
            Ok(Box::pin(async { panic!("this source panics") }))
        }
    }

    /// A panicking component is reported by its id, and the rest of the pipeline stops.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicked_component_is_named() {
        let (sink, _batches) = crate::embed::host_sink(1);
        let mut pipeline = crate::Pipeline::from_toml(
            r#"
sources.demo = { type = "conductorone_demo", interval_secs = 1 }
sinks.out = { type = "blackhole", inputs = ["demo"] }
"#,
        )
        .unwrap_or_else(|errors| panic!("{errors}"));
        pipeline.add_source("boom", Panics).expect("new id");
        pipeline.add_sink("host", &["boom"], sink).expect("new id");
        match pipeline.run(std::future::pending()).await {
            Err(RunError::Component {
                component, message, ..
            }) => {
                assert_eq!(component, "sources.boom");
                assert!(message.contains("panicked"), "{message}");
            }
            other => panic!("expected the source's panic, got {other:?}"),
        }
    }

    /// A transform's own counters (here the `ocsf` transform's) reach the run's metrics,
    /// whether it runs in a task of its own or fused into its source's chain.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transforms_count_in_their_components_metrics() {
        for options in ["", ", reroute_invalid = false"] {
            let text = format!(
                r#"
sources.in = {{ type = "conductorone_demo", count = 50, interval_secs = 0 }}
transforms.strip = {{ type = "remap", inputs = ["in"], source = "del(.class_name)" }}
transforms.o = {{ type = "ocsf", inputs = ["strip"]{options} }}
sinks.out = {{ type = "blackhole", inputs = ["o"] }}
"#
            );
            let config = Config::from_toml(&text, std::path::Path::new("test.toml"), &|_| None)
                .unwrap_or_else(|errors| panic!("{errors}"));
            let graph = crate::config::graph::check(&config).unwrap_or_else(|e| panic!("{e}"));
            let summary = run(
                &config,
                &graph,
                std::future::pending(),
                RunOptions::default(),
            )
            .await
            .expect("the run ends with the demo's 50 events");
            let ocsf = summary
                .metrics
                .iter()
                .find(|m| m.component == "transforms.o")
                .expect("the transform's metrics");
            assert!(
                ocsf.extra
                    .contains(&("ocsf_derived_fields_total".to_owned(), 50)),
                "{options}: {:?}",
                ocsf.extra
            );
        }
    }
}
