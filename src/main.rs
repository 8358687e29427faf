//! The `c1-pipeline` command line: `run` (the default), `validate` and `top`.

// No function over 120 lines (`clippy.toml`).
#![warn(clippy::too_many_lines)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use std::sync::Arc;

use c1_pipeline::config::{Config, ConfigErrors, ConfigFile, Format, graph};
use c1_pipeline::metrics::MetricsRegistry;
use c1_pipeline::observability::RunState;
use c1_pipeline::observability::api::{self, ApiConfig, ApiServer};
use c1_pipeline::stdio::{self, Stream};
use c1_pipeline::topology::{self, RunError, RunOptions};
use c1_pipeline::{Pipeline, ReloadError};

/// Events are allocated on one thread (decoding) and freed on another (the sink). glibc's
/// allocator spends more time on such frees than the pipeline spends on JSON; snmalloc sends
/// them back to their owner in batches (the comparison of allocators: `bench/README.md`).
#[cfg(feature = "snmalloc")]
#[global_allocator]
static GLOBAL: snmalloc_rs::SnMalloc = snmalloc_rs::SnMalloc;

/// Exit code for configuration errors (sysexits `EX_CONFIG`, as Vector uses).
const EXIT_CONFIG: u8 = 78;
/// Exit code when the pipeline failed while running.
const EXIT_FAILURE: u8 = 1;
/// Exit code after a second SIGINT/SIGTERM (128 + SIGINT, as shells report an interrupt).
const EXIT_SECOND_SIGNAL: i32 = 130;
/// How long the end of `main` waits for queued log lines and runtime tasks. Bounded, so a
/// stderr nobody reads or a task stuck in a system call cannot keep the process alive.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// Ship ConductorOne's OCSF system log to SIEMs: a Vector-compatible pipeline from TOML.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    logging: LoggingArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the pipeline (the default).
    Run(RunArgs),
    /// Check configuration files: syntax, options, the graph and (unless --no-environment)
    /// the health checks of sources and sinks. Exits 0 when valid, 78 otherwise.
    Validate(ValidateArgs),
    /// Run the configuration's unit tests (`[[tests]]`, Vector's format) through the real
    /// transforms, in process. Exits 0 when every test passes, 78 otherwise (as Vector).
    Test(TestArgs),
    /// Show a running pipeline's components (events in and out, rates, errors), refreshed
    /// every second, from its `[api]`; `q` quits.
    Top(TopArgs),
}

#[derive(Debug, Args)]
struct TopArgs {
    /// The pipeline's API (its `[api]` `address`).
    #[arg(long, default_value = "http://127.0.0.1:8686")]
    url: String,
}

/// The configuration files, as every subcommand takes them (Vector's options).
#[derive(Debug, Args)]
struct ConfigArgs {
    /// Configuration file(s), in the format their extension names (`.toml`, `.yaml`/`.yml`,
    /// `.json`; TOML otherwise); several are merged.
    #[arg(
        short,
        long = "config",
        value_name = "FILE",
        env = "C1_PIPELINE_CONFIG",
        value_delimiter = ','
    )]
    configs: Vec<PathBuf>,
    /// TOML configuration file(s), whatever their extension.
    #[arg(long = "config-toml", value_name = "FILE", value_delimiter = ',')]
    toml: Vec<PathBuf>,
    /// YAML configuration file(s), whatever their extension.
    #[arg(long = "config-yaml", value_name = "FILE", value_delimiter = ',')]
    yaml: Vec<PathBuf>,
    /// JSON configuration file(s), whatever their extension.
    #[arg(long = "config-json", value_name = "FILE", value_delimiter = ',')]
    json: Vec<PathBuf>,
    /// Folder(s) whose `.toml`, `.yaml`, `.yml` and `.json` files are all loaded (in name
    /// order; other files and subfolders are skipped).
    #[arg(
        short = 'C',
        long = "config-dir",
        value_name = "DIR",
        value_delimiter = ','
    )]
    dirs: Vec<PathBuf>,
    /// Accepted for Vector's command lines; changes nothing: `${VAR}` is always substituted,
    /// and safely (inside string values only, never in VRL programs).
    #[arg(long)]
    dangerously_allow_env_var_interpolation: bool,
}

impl ConfigArgs {
    /// `self`'s files then `other`'s, each once (`C1_PIPELINE_CONFIG` fills both).
    fn merge(mut self, other: Self) -> Self {
        self.configs = merge_paths(self.configs, other.configs);
        self.toml = merge_paths(self.toml, other.toml);
        self.yaml = merge_paths(self.yaml, other.yaml);
        self.json = merge_paths(self.json, other.json);
        self.dirs = merge_paths(self.dirs, other.dirs);
        self
    }

    /// Every file to load, with its format; `--config-dir` folders are listed here.
    fn files(&self) -> Result<Vec<ConfigFile>, ConfigErrors> {
        let mut files: Vec<ConfigFile> = self.configs.iter().map(ConfigFile::detect).collect();
        for (paths, format) in [
            (&self.toml, Format::Toml),
            (&self.yaml, Format::Yaml),
            (&self.json, Format::Json),
        ] {
            files.extend(paths.iter().map(|path| ConfigFile {
                path: path.clone(),
                format,
            }));
        }
        for dir in &self.dirs {
            files.extend(ConfigFile::in_dir(dir)?);
        }
        Ok(files)
    }

    fn is_empty(&self) -> bool {
        self.configs.is_empty()
            && self.toml.is_empty()
            && self.yaml.is_empty()
            && self.json.is_empty()
            && self.dirs.is_empty()
    }
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Seconds to wait for in-flight events after SIGINT/SIGTERM before giving up.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    graceful_shutdown_limit_secs: u64,
    /// Reload the configuration when one of its files changes (checked every second; a
    /// reload waits until the files have stopped changing). SIGHUP always reloads.
    #[arg(short = 'w', long, env = "C1_PIPELINE_WATCH_CONFIG")]
    watch_config: bool,
}

#[derive(Debug, Args)]
struct ValidateArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Configuration files, as positional arguments (like `vector validate a.toml`).
    #[arg(value_name = "FILE")]
    paths: Vec<PathBuf>,
    /// Only check the files; do not run health checks against endpoints.
    #[arg(long)]
    no_environment: bool,
}

#[derive(Debug, Args)]
struct TestArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Configuration files, as positional arguments (like `vector test a.toml`); all are
    /// merged, so transforms and tests may sit in different files.
    #[arg(value_name = "FILE")]
    paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct LoggingArgs {
    /// Log level: error, warn, info, debug, trace, or a tracing filter such as
    /// `c1_pipeline=debug`.
    #[arg(
        short = 'l',
        long,
        env = "C1_PIPELINE_LOG",
        default_value = "info",
        global = true
    )]
    log_level: String,
    /// Log format on stderr.
    #[arg(long, env = "C1_PIPELINE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(args: &LoggingArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level).unwrap_or_else(|error| {
        eprintln!(
            "invalid --log-level `{}`: {error}; using `info`",
            args.log_level
        );
        tracing_subscriber::EnvFilter::new("info")
    });
    // Through stderr's own thread: a stderr nobody reads must not block the runtime.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(stdio::NonBlockingStderr)
        .with_target(false);
    match args.log_format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // rustls is built with two providers (aws-lc-rs, ours; ring, for VRL's network
    // functions), so it cannot pick a process default by itself: make it aws-lc-rs, the one
    // every client here is built with. Fails only if one is installed already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    init_logging(&cli.logging);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let code = match cli.command {
        // Options given before the subcommand (`c1-pipeline --log-level debug --config a.toml
        // validate`) count as well as those after it.
        Some(Command::Validate(mut args)) => {
            args.config = cli.run.config.merge(args.config);
            runtime.block_on(validate(args))
        }
        Some(Command::Test(mut args)) => {
            args.config = cli.run.config.merge(args.config);
            test(args)
        }
        Some(Command::Run(mut args)) => {
            args.config = cli.run.config.merge(args.config);
            runtime.block_on(run(args))
        }
        Some(Command::Top(args)) => {
            match runtime.block_on(c1_pipeline::observability::top::run(&args.url)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::from(EXIT_FAILURE)
                }
            }
        }
        None => runtime.block_on(run(cli.run)),
    };
    // Tasks still running (aborted at the shutdown limit, or blocked in a system call) must
    // not hold the exit.
    runtime.shutdown_timeout(EXIT_GRACE);
    stdio::stream(Stream::Stderr).flush(EXIT_GRACE);
    code
}

/// `before` then `after`, each path once (`C1_PIPELINE_CONFIG` fills both).
fn merge_paths(before: Vec<PathBuf>, after: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut merged: Vec<PathBuf> = Vec::with_capacity(before.len() + after.len());
    for path in before.into_iter().chain(after) {
        if !merged.contains(&path) {
            merged.push(path);
        }
    }
    merged
}

fn report_config_errors(errors: &ConfigErrors) {
    // After the log lines already queued, not before them.
    stdio::stream(Stream::Stderr).flush(EXIT_GRACE);
    let count = errors.0.len();
    eprintln!(
        "error: configuration has {count} problem{}:\n",
        if count == 1 { "" } else { "s" }
    );
    eprintln!("{errors}");
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
enum LoadError {
    /// No file was named.
    #[error(
        "no configuration given; pass --config FILE (for example --config config-examples/demo-to-console.toml)"
    )]
    NoConfig,
    /// The `--config-dir` folders hold no configuration file.
    #[error("no configuration file found in the --config-dir folder(s)")]
    EmptyDirs,
    /// The files have errors (each with its file:line:col).
    #[error("configuration has {count} problem(s):\n\n{errors}", count = .0.0.len(), errors = .0)]
    Invalid(ConfigErrors),
}

/// Reads and checks every configuration file; the configuration, its graph and the number of
/// files.
fn load_config(configs: &ConfigArgs) -> Result<(Config, graph::Graph, usize), LoadError> {
    if configs.is_empty() {
        return Err(LoadError::NoConfig);
    }
    let files = configs.files().map_err(LoadError::Invalid)?;
    if files.is_empty() {
        return Err(LoadError::EmptyDirs);
    }
    let (config, graph) =
        Config::load_files(&files, &|name| std::env::var(name).ok()).map_err(LoadError::Invalid)?;
    Ok((config, graph, files.len()))
}

/// [`load_config`], reporting errors on stderr as the exit code says.
fn load(configs: &ConfigArgs) -> Result<(Config, graph::Graph, usize), ExitCode> {
    load_config(configs).map_err(|error| {
        match error {
            LoadError::Invalid(errors) => report_config_errors(&errors),
            other => eprintln!("error: {other}"),
        }
        ExitCode::from(EXIT_CONFIG)
    })
}

async fn validate(args: ValidateArgs) -> ExitCode {
    let mut configs = args.config;
    configs.configs = merge_paths(configs.configs, args.paths);
    let (config, _graph, file_count) = match load(&configs) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if let Err(errors) = topology::check_build(&config) {
        report_config_errors(&errors);
        return ExitCode::from(EXIT_CONFIG);
    }
    eprintln!(
        "√ loaded and checked {} file(s): {} source(s), {} transform(s), {} sink(s)",
        file_count,
        config.sources.len(),
        config.transforms.len(),
        config.sinks.len()
    );
    if args.no_environment {
        return ExitCode::SUCCESS;
    }
    if let Err(error) = api::check_bind(&config.api) {
        eprintln!("x {error}");
        return ExitCode::from(EXIT_CONFIG);
    }
    if let Some(dir) = &config.data_dir
        && let Err(error) = check_data_dir(dir)
    {
        eprintln!("x data_dir {} is not writable: {error}", dir.display());
        return ExitCode::from(EXIT_CONFIG);
    }
    let failures = topology::healthcheck_all(&config).await;
    if failures.is_empty() {
        eprintln!("√ health checks passed");
        ExitCode::SUCCESS
    } else {
        for (component, message) in &failures {
            eprintln!("x health check failed for {component}: {message}");
        }
        ExitCode::from(EXIT_CONFIG)
    }
}

/// `c1-pipeline test`: Vector's output (`test <name> ... passed`, then the failures).
fn test(args: TestArgs) -> ExitCode {
    let mut configs = args.config;
    configs.configs = merge_paths(configs.configs, args.paths);
    let fail = |errors: ConfigErrors| {
        report_config_errors(&errors);
        ExitCode::from(EXIT_CONFIG)
    };
    let files = match configs.files() {
        Ok(files) if !files.is_empty() => files,
        Ok(_) => {
            eprintln!("error: no configuration given; pass the files holding [[tests]]");
            return ExitCode::from(EXIT_CONFIG);
        }
        Err(errors) => return fail(errors),
    };
    let config = match Config::load_files_unchecked(&files, &|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(errors) => return fail(errors),
    };
    if config.tests.is_empty() {
        println!("Running tests\nno tests found");
        return ExitCode::SUCCESS;
    }
    let outcomes = match c1_pipeline::config::unit_test::run_tests(&config) {
        Ok(outcomes) => outcomes,
        Err(errors) => return fail(errors),
    };
    println!("Running tests");
    for outcome in &outcomes {
        let result = if outcome.failures.is_empty() {
            "passed"
        } else {
            "failed"
        };
        println!("test {} ... {result}", outcome.name);
    }
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.failures.is_empty()).collect();
    if failed.is_empty() {
        return ExitCode::SUCCESS;
    }
    println!("\nfailures:");
    for outcome in failed {
        println!("\ntest {}:\n", outcome.name);
        for failure in &outcome.failures {
            println!("{failure}\n");
        }
    }
    ExitCode::from(EXIT_CONFIG)
}

fn check_data_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(".c1-pipeline-write-check");
    std::fs::write(&probe, b"ok")?;
    std::fs::remove_file(probe)
}

async fn run(args: RunArgs) -> ExitCode {
    // First of all: a signal at any later point (health checks included) stops gracefully.
    let signals = match Signals::install() {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("error: cannot listen for SIGINT/SIGTERM/SIGHUP: {error}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let (config, _graph, _) = match load(&args.config) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    // One registry and one state for the process: counters keep growing across reloads.
    let registry = Arc::new(MetricsRegistry::default());
    let state = Arc::new(RunState::default());
    let mut api = match update_api(None, &config.api, &state, &registry) {
        Ok(api) => api,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    log_start(&config);
    let mut pipeline = Pipeline::from_config(config);
    pipeline.options(RunOptions {
        graceful_shutdown_limit: Duration::from_secs(args.graceful_shutdown_limit_secs),
        metrics: Some(Arc::clone(&registry)),
        state: Some(Arc::clone(&state)),
    });
    let mut handle = match pipeline.start() {
        Ok(handle) => handle,
        Err(errors) => return finish(Err(RunError::Build(errors))),
    };
    let mut control = Control {
        watch: args.watch_config.then(|| Fingerprint::of(&args.config)),
        configs: args.config,
        signals,
    };
    loop {
        let next = tokio::select! {
            result = &mut handle => return finish(result),
            next = control.next() => next,
        };
        let Next::Reload(config) = next else {
            handle.stop();
            return finish(handle.await);
        };
        api = match update_api(api, &config.api, &state, &registry) {
            Ok(api) => api,
            Err(error) => {
                tracing::error!(%error, "cannot serve the API of the new configuration; stopping");
                handle.stop();
                let _ = handle.await;
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        log_start(&config);
        match handle.reload(Pipeline::from_config(*config)).await {
            Ok(()) => {}
            Err(ReloadError::Invalid(errors)) => tracing::error!(
                "the new configuration is not valid; the running pipeline continues unchanged: {errors}"
            ),
            Err(ReloadError::Stopped) => return finish(handle.await),
        }
    }
}

fn log_start(config: &Config) {
    tracing::info!(
        sources = config.sources.len(),
        transforms = config.transforms.len(),
        sinks = config.sinks.len(),
        "starting pipeline"
    );
}

/// The API server `config` asks for: `running` kept when its address is unchanged (its
/// listener survives the reload), started, or stopped.
fn update_api(
    running: Option<ApiServer>,
    config: &ApiConfig,
    state: &Arc<RunState>,
    registry: &Arc<MetricsRegistry>,
) -> Result<Option<ApiServer>, api::BindError> {
    match running {
        Some(server) if config.enabled && server.address() == config.address => {
            return Ok(Some(server));
        }
        Some(server) => server.stop(),
        None => {}
    }
    if !config.enabled {
        return Ok(None);
    }
    ApiServer::start(config, Arc::clone(state), Arc::clone(registry)).map(Some)
}

/// The exit code of a run, its end logged.
fn finish(result: Result<topology::RunSummary, RunError>) -> ExitCode {
    match result {
        Ok(summary) => {
            for m in &summary.metrics {
                tracing::debug!(component = %m.component, received = m.received_events, sent = m.sent_events, errors = m.errors, extra = ?m.extra, "component totals");
            }
            tracing::info!("pipeline finished");
            ExitCode::SUCCESS
        }
        Err(RunError::Build(errors)) => {
            report_config_errors(&errors);
            ExitCode::from(EXIT_CONFIG)
        }
        Err(error) => {
            tracing::error!(%error, "pipeline failed");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// What ends a run of the topology before its sources do.
enum Next {
    /// SIGINT or SIGTERM: drain and exit.
    Exit,
    /// A new configuration whose files load: drain, then run it (once it is fully checked).
    Reload(Box<Config>),
}

/// How often `--watch-config` looks at the files, and how long they must stay unchanged
/// before a reload.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// The signals and the configuration files the running pipeline answers to.
struct Control {
    configs: ConfigArgs,
    signals: Signals,
    /// The files as last loaded, with `--watch-config`.
    watch: Option<Fingerprint>,
}

impl Control {
    /// Waits for SIGINT/SIGTERM, or for SIGHUP or a file change bringing a valid new
    /// configuration (an invalid one is logged and the running pipeline kept).
    async fn next(&mut self) -> Next {
        loop {
            tokio::select! {
                signal = self.signals.recv() => {
                    if signal == Signal::Stop {
                        tokio::spawn(exit_on_second_signal());
                        return Next::Exit;
                    }
                    tracing::info!("SIGHUP: reloading the configuration");
                }
                () = changed(&self.configs, &mut self.watch) => tracing::info!("configuration files changed: reloading"),
            }
            match checked(&self.configs).await {
                Ok(loaded) => return Next::Reload(Box::new(loaded)),
                Err(error) => tracing::error!(
                    "the new configuration is not valid; the running pipeline continues unchanged: {error}"
                ),
            }
        }
    }
}

/// The configuration loaded and checked as far as the running pipeline cannot check it (files,
/// graph, the API's address, and the health checks when `healthchecks.require_healthy` is
/// set); [`PipelineHandle::reload`](c1_pipeline::PipelineHandle::reload) builds every
/// component before it replaces anything.
async fn checked(configs: &ConfigArgs) -> Result<Config, LoadError> {
    let (config, _graph, _) = load_config(configs)?;
    api::check_bind(&config.api).map_err(|error| {
        LoadError::Invalid(ConfigErrors(vec![
            c1_pipeline::ConfigError::new(error.to_string()).field("api.address"),
        ]))
    })?;
    if config.healthchecks.enabled && config.healthchecks.require_healthy {
        let failures = topology::healthcheck_all(&config).await;
        if let Some((component, message)) = failures.into_iter().next() {
            let error = c1_pipeline::ConfigError::new(format!("health check failed: {message}"))
                .component(component);
            return Err(LoadError::Invalid(ConfigErrors(vec![error])));
        }
    }
    Ok(config)
}

/// Resolves when the configuration files have changed and then stayed unchanged for
/// [`WATCH_INTERVAL`]; never without `--watch-config` (`watch` is `None`).
async fn changed(configs: &ConfigArgs, watch: &mut Option<Fingerprint>) {
    let Some(last) = watch else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(WATCH_INTERVAL).await;
        let mut current = Fingerprint::of(configs);
        if current == *last {
            continue;
        }
        // Debounced: an editor or a deployment writes in several steps.
        loop {
            tokio::time::sleep(WATCH_INTERVAL).await;
            let again = Fingerprint::of(configs);
            if again == current {
                break;
            }
            current = again;
        }
        *last = current;
        return;
    }
}

/// The configuration files' paths, sizes and modification times.
#[derive(Debug, PartialEq, Eq)]
struct Fingerprint(Vec<(PathBuf, Option<(std::time::SystemTime, u64)>)>);

impl Fingerprint {
    fn of(configs: &ConfigArgs) -> Self {
        let files = configs.files().unwrap_or_default();
        Self(
            files
                .into_iter()
                .map(|file| {
                    let meta = std::fs::metadata(&file.path)
                        .ok()
                        .and_then(|m| Some((m.modified().ok()?, m.len())));
                    (file.path, meta)
                })
                .collect(),
        )
    }
}

/// After the first SIGINT or SIGTERM: a second one exits at once with
/// [`EXIT_SECOND_SIGNAL`].
async fn exit_on_second_signal() {
    let Ok(mut signals) = Signals::install() else {
        return;
    };
    while signals.recv().await != Signal::Stop {}
    let stderr = stdio::stream(Stream::Stderr);
    stderr.try_write(b"second signal: exiting without waiting for in-flight events\n".to_vec());
    // Only briefly: stderr itself may be a pipe nobody reads.
    stderr.flush(Duration::from_millis(200));
    std::process::exit(EXIT_SECOND_SIGNAL);
}

/// SIGINT, SIGTERM and SIGHUP, listened for from the moment this is created (until then the default
/// action, ending the process, applies).
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
                hangup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// The next signal: SIGINT or SIGTERM ([`Signal::Stop`]), or SIGHUP.
    async fn recv(&mut self) -> Signal {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => Signal::Stop,
            _ = self.terminate.recv() => Signal::Stop,
            _ = self.hangup.recv() => Signal::Hangup,
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Stop
        }
    }
}

/// A signal the process answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signal {
    /// SIGINT or SIGTERM: drain and exit.
    Stop,
    /// SIGHUP: reload the configuration.
    Hangup,
}
