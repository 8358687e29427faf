//! How components connect: inputs, wildcards, named outputs, cycles, missing or unused
//! components, and ids merged from several files. Errors name the components involved.

mod common;

use common::config::{Toml, write_files};
use common::*;
use std::path::Path;

use c1_pipeline::config::graph::{self, Graph, OutputId};
use c1_pipeline::config::{Config, ConfigError};

fn parse(text: &str) -> Config {
    Config::from_toml(text, Path::new("test.toml"), &no_env)
        .unwrap_or_else(|errors| panic!("the file itself should be valid:\n{errors}"))
}

fn graph_ok(text: &str) -> Graph {
    graph::check(&parse(text)).unwrap_or_else(|errors| panic!("graph should be valid:\n{errors}"))
}

fn graph_errors(text: &str) -> Vec<ConfigError> {
    errors_of(graph::check(&parse(text)), "graph errors", text)
}

#[track_caller]
fn single(text: &str) -> ConfigError {
    only(graph_errors(text))
}

fn help(error: &ConfigError) -> &str {
    error.help.as_deref().unwrap_or_default()
}

/// A `remap` program that passes events on unchanged (`source = "."`).
const NOOP: &str = r#"".""#;

/// Demo source `in` (lines 1-2), remap `id` reading `inputs` (lines 4-7, `inputs` on line 6)
/// and console sink `out` reading `out_inputs` (lines 9-12, `inputs` on line 11).
fn in_remap_out(id: &str, inputs: &[&str], out_inputs: &[&str]) -> Toml {
    Toml::new()
        .demo("in")
        .remap(id, inputs, NOOP)
        .console("out", out_inputs)
}

/// The names of the outputs feeding `consumer`.
fn inputs_of(graph: &Graph, consumer: &str) -> Vec<String> {
    graph.inputs[consumer]
        .iter()
        .map(OutputId::to_string)
        .collect()
}

#[test]
fn a_simple_graph_resolves() {
    let graph = graph_ok(&in_remap_out("t", &["in"], &["t", "in"]));
    assert_eq!(inputs_of(&graph, "t"), ["in"]);
    assert_eq!(inputs_of(&graph, "out"), ["t", "in"]);
    assert!(graph.unconsumed_optional.is_empty());
}

#[test]
fn unknown_input_suggests_the_closest_output() {
    let error = single(
        &Toml::new()
            .demo("app_logs")
            .console("out", &["app_logs", "app_log"]),
    );
    // Points at the offending item of the list.
    assert_eq!(at(&error), (6, 23));
    assert_eq!(error.component.as_deref(), Some("sinks.out"));
    assert_eq!(error.field.as_deref(), Some("inputs"));
    assert_eq!(
        error.message,
        "input `app_log` does not match any source or transform output"
    );
    assert_eq!(help(&error), "did you mean `app_logs`?");
}

#[test]
fn unknown_input_far_from_everything_lists_the_outputs() {
    let error = single(&Toml::new().demo("in").console("out", &["in", "zzzzzz"]));
    assert_eq!(at(&error), (6, 17));
    assert_eq!(help(&error), "known outputs: in");
}

#[test]
fn a_sink_is_not_an_input() {
    let all = graph_errors(
        &Toml::new()
            .demo("in")
            .console("a", &["in"])
            .console("b", &["a"]),
    );
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0].component.as_deref(), Some("sinks.b"));
    assert_eq!(help(&all[0]), "`a` is a sink, and sinks have no outputs");
}

#[test]
fn a_cycle_between_transforms_is_named() {
    let all = graph_errors(
        &Toml::new()
            .demo("in")
            .remap("a", &["in", "c"], NOOP)
            .remap("b", &["a"], NOOP)
            .remap("c", &["b"], NOOP)
            .console("out", &["c"]),
    );
    assert_eq!(all.len(), 1, "{all:#?}");
    let error = &all[0];
    // `a` reads `c`, which reads `b`, which reads `a`.
    assert_eq!(error.message, "cycle between transforms: a -> c -> b -> a");
    assert_eq!(error.component.as_deref(), Some("transforms.a"));
    assert_eq!(error.field.as_deref(), Some("inputs"));
    assert_eq!(at(error), (6, 10));
    assert!(help(error).contains("remove one of these inputs"));
}

#[test]
fn a_component_cannot_read_itself() {
    let all = graph_errors(&in_remap_out("t", &["in", "t"], &["t"]));
    assert!(
        all.iter()
            .any(|e| e.component.as_deref() == Some("transforms.t")
                && e.message.contains("lists its own output `t`")
                && at(e) == (6, 17)),
        "{all:#?}"
    );
}

#[test]
fn no_source_and_no_sink() {
    let all = graph_errors("");
    let messages: Vec<&str> = all.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["no sources are defined", "no sinks are defined"]);
    assert!(help(&all[0]).contains("[sources.ID]"));
    assert!(help(&all[1]).contains("[sinks.ID]"));

    let all = graph_errors(&Toml::new().console("out", &["in"]));
    assert!(
        all.iter().any(|e| e.message == "no sources are defined"),
        "{all:#?}"
    );
}

#[test]
fn no_sink_and_the_unused_source_is_named() {
    let all = graph_errors(&Toml::new().demo("in"));
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!(all[0].message, "no sinks are defined");
    assert_eq!(
        all[1].message,
        "output `in` is not used by any transform or sink"
    );
    assert_eq!(all[1].component.as_deref(), Some("sources.in"));
    assert_eq!(at(&all[1]), (1, 10));
}

#[test]
fn an_output_nothing_consumes_is_named() {
    let error = single(&in_remap_out("lonely", &["in"], &["in"]));
    assert_eq!(
        error.message,
        "output `lonely` is not used by any transform or sink"
    );
    assert_eq!(error.component.as_deref(), Some("transforms.lonely"));
    assert_eq!(at(&error), (4, 13));
    assert!(help(&error).contains("add \"lonely\" to the `inputs` of a sink"));
}

/// A demo source into route `split` with outputs `failures` and `tokens` (lines 1 to 8).
fn route() -> Toml {
    Toml::new().demo("in").transform(
        "split",
        "route",
        &["in"],
        &[
            "route.failures = '.status_id == 2'",
            "route.tokens = '.class_uid == 3002'",
        ],
    )
}

#[test]
fn an_unconsumed_route_output_is_discarded_with_a_warning_as_in_vector() {
    let graph = graph_ok(&route().console("out", &["split.failures"]));
    let mut optional: Vec<String> = graph
        .unconsumed_optional
        .iter()
        .map(ToString::to_string)
        .collect();
    optional.sort();
    assert_eq!(optional, ["split._unmatched", "split.tokens"]);

    let graph = graph_ok(&route().console("out", &["split.failures", "split.tokens"]));
    assert_eq!(inputs_of(&graph, "out"), ["split.failures", "split.tokens"]);
    let optional: Vec<String> = graph
        .unconsumed_optional
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(optional, ["split._unmatched"]);
}

#[test]
fn unmatched_can_be_consumed_and_can_be_turned_off() {
    let all_three = ["split.failures", "split.tokens", "split._unmatched"];
    assert!(
        graph_ok(&route().console("out", &all_three))
            .unconsumed_optional
            .is_empty()
    );

    let text = route()
        .lines(&["reroute_unmatched = false"])
        .console("out", &["split.*"]);
    let graph = graph_ok(&text);
    assert_eq!(inputs_of(&graph, "out"), ["split.failures", "split.tokens"]);
}

#[test]
fn a_route_id_alone_lists_its_named_outputs() {
    let all = graph_errors(&route().console("out", &["split"]));
    let error = all
        .iter()
        .find(|e| e.component.as_deref() == Some("sinks.out"))
        .unwrap_or_else(|| panic!("{all:#?}"));
    assert_eq!(
        error.message,
        "input `split` does not match any source or transform output"
    );
    assert_eq!(
        help(error),
        "`split` has only named outputs: split.failures, split.tokens, split._unmatched"
    );
    assert_eq!(at(error), (12, 11));
}

#[test]
fn wildcards_resolve() {
    let graph = graph_ok(
        &Toml::new()
            .demo("app_logs")
            .demo("app_audit")
            .demo("my_app")
            .remap("t", &["app*"], NOOP)
            .transform(
                "split",
                "route",
                &["my_app"],
                &["route.a = '.status_id == 1'"],
            )
            .console("everything", &["*"]),
    );
    assert_eq!(inputs_of(&graph, "t"), ["app_audit", "app_logs"]);
    // `*` matches every output of every source and transform, named outputs included.
    assert_eq!(
        inputs_of(&graph, "everything"),
        [
            "app_audit",
            "app_logs",
            "my_app",
            "split.a",
            "split._unmatched",
            "t"
        ]
    );
    assert!(graph.unconsumed_optional.is_empty());
}

#[test]
fn a_wildcard_does_not_match_its_own_component() {
    let graph = graph_ok(&in_remap_out("t", &["*"], &["t"]));
    assert_eq!(inputs_of(&graph, "t"), ["in"]);
}

#[test]
fn a_wildcard_that_matches_nothing_is_an_error() {
    let error = single(&Toml::new().demo("in").console("out", &["in", "app*"]));
    assert_eq!(
        error.message,
        "input `app*` does not match any source or transform output"
    );
    assert_eq!(error.component.as_deref(), Some("sinks.out"));
    assert_eq!(at(&error), (6, 17));
    assert_eq!(
        help(&error),
        "the wildcard matches nothing; outputs are: in"
    );
}

#[test]
fn empty_inputs_is_an_error() {
    let error = single(&in_remap_out("t", &[], &["in", "t"]));
    assert_eq!(error.message, "`inputs` is empty");
    assert_eq!(error.component.as_deref(), Some("transforms.t"));
    assert_eq!(at(&error), (6, 10));
}

#[test]
fn the_same_id_in_sources_and_sinks_is_an_error() {
    let all = graph_errors(&Toml::new().demo("x").console("x", &["x"]));
    let error = error_containing(&all, "is used by both");
    assert_eq!(
        error.message,
        "id `x` is used by both `sources.x` and `sinks.x`"
    );
    assert_eq!(error.component.as_deref(), Some("sinks.x"));
    assert_eq!(at(error), (4, 8));
}

/// A file with demo source `in` (two lines).
fn source() -> String {
    Toml::new().demo("in").into()
}

/// A file with console sink `out` reading `in` (four lines).
fn sink() -> String {
    Toml::new().console("out", &["in"]).into()
}

#[test]
fn files_are_merged() {
    let (_dir, paths) = write_files(&[("sources.toml", &source()), ("sinks.toml", &sink())]);
    let config = Config::load_with_env(&paths, &no_env).unwrap();
    assert_eq!(config.sources.keys().collect::<Vec<_>>(), ["in"]);
    assert_eq!(config.sinks.keys().collect::<Vec<_>>(), ["out"]);
    // Each component remembers its own file.
    let source_file = config.sources["in"].origin.location.as_ref().unwrap();
    assert_eq!(source_file.file.as_ref(), paths[0].as_path());
    let sink_file = config.sinks["out"].origin.location.as_ref().unwrap();
    assert_eq!(sink_file.file.as_ref(), paths[1].as_path());
}

#[test]
fn a_duplicate_id_across_files_names_both_places() {
    let second = Toml::new().console("out", &["in"]).demo("in");
    let (_dir, paths) = write_files(&[("a.toml", &source()), ("b.toml", &second)]);
    let errors = Config::load_with_env(&paths, &no_env).unwrap_err().0;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let error = &errors[0];
    let location = error.location.as_ref().unwrap();
    assert_eq!(location.file.as_ref(), paths[1].as_path());
    assert_eq!((location.line, location.column), (6, 10));
    assert_eq!(
        error.message,
        format!(
            "`sources.in` is defined twice (first defined at {}:1:10)",
            paths[0].display()
        )
    );
    assert!(help(error).contains("unique id across all config files"));
}

#[test]
fn the_same_id_as_source_and_sink_across_files() {
    let sink = Toml::new().console("in", &["in"]);
    let (_dir, paths) = write_files(&[("a.toml", &source()), ("b.toml", &sink)]);
    let errors = Config::load_with_env(&paths, &no_env).unwrap_err().0;
    let error = error_containing(&errors, "is used by both");
    assert_eq!(
        error.message,
        "id `in` is used by both `sources.in` and `sinks.in`"
    );
    assert_eq!(
        error.location.as_ref().unwrap().file.as_ref(),
        paths[1].as_path()
    );
}

#[test]
fn data_dir_set_differently_in_two_files_is_an_error() {
    let first = format!("data_dir = \"/a\"\n{}", source());
    let second = format!("data_dir = \"/b\"\n{}", sink());
    let (_dir, paths) = write_files(&[("a.toml", &first), ("b.toml", &second)]);
    let errors = Config::load_with_env(&paths, &no_env).unwrap_err().0;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].message, "`data_dir` is set twice, to /a and /b");
}

#[test]
fn a_missing_file_is_reported_with_the_others() {
    let (dir, mut paths) = write_files(&[("a.toml", "[sources.in]\ntype = \"stdn\"\n")]);
    paths.push(dir.path().join("missing.toml"));
    let errors = Config::load_with_env(&paths, &no_env).unwrap_err().0;
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!(errors[0].message, "unknown component type `stdn`");
    assert!(
        errors[1]
            .message
            .starts_with(&format!("cannot read {}", paths[1].display())),
        "{errors:#?}"
    );
}

#[test]
fn load_checks_the_graph() {
    let (_dir, paths) = write_files(&[("a.toml", &source())]);
    let errors = Config::load_with_env(&paths, &no_env).unwrap_err().0;
    assert!(
        errors.iter().any(|e| e.message == "no sinks are defined"),
        "{errors:#?}"
    );
}
