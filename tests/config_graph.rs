//! How components connect: inputs, wildcards, named outputs, cycles, missing or unused
//! components, and ids merged from several files. Errors name the components involved.

mod common;

use common::*;
use std::path::{Path, PathBuf};

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
    match graph::check(&parse(text)) {
        Ok(graph) => panic!("expected graph errors, got {graph:#?}"),
        Err(errors) => errors.0,
    }
}

#[track_caller]
fn single(text: &str) -> ConfigError {
    let mut all = graph_errors(text);
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    all.remove(0)
}

fn help(error: &ConfigError) -> &str {
    error.help.as_deref().unwrap_or_default()
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
    let graph = graph_ok(
        r#"[sources.in]
type = "conductorone_demo"

[transforms.t]
type = "remap"
inputs = ["in"]
source = "."

[sinks.out]
type = "console"
inputs = ["t", "in"]
encoding.codec = "json"
"#,
    );
    assert_eq!(inputs_of(&graph, "t"), ["in"]);
    assert_eq!(inputs_of(&graph, "out"), ["t", "in"]);
    assert!(graph.unconsumed_optional.is_empty());
}

#[test]
fn unknown_input_suggests_the_closest_output() {
    let error = single(
        r#"[sources.app_logs]
type = "conductorone_demo"

[sinks.out]
type = "console"
inputs = ["app_logs", "app_log"]
encoding.codec = "json"
"#,
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
    let error = single(
        r#"[sources.in]
type = "conductorone_demo"

[sinks.out]
type = "console"
inputs = ["in", "zzzzzz"]
encoding.codec = "json"
"#,
    );
    assert_eq!(at(&error), (6, 17));
    assert_eq!(help(&error), "known outputs: in");
}

#[test]
fn a_sink_is_not_an_input() {
    let all = graph_errors(
        r#"[sources.in]
type = "conductorone_demo"

[sinks.a]
type = "console"
inputs = ["in"]
encoding.codec = "json"

[sinks.b]
type = "console"
inputs = ["a"]
encoding.codec = "json"
"#,
    );
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0].component.as_deref(), Some("sinks.b"));
    assert_eq!(help(&all[0]), "`a` is a sink, and sinks have no outputs");
}

#[test]
fn a_cycle_between_transforms_is_named() {
    let all = graph_errors(
        r#"[sources.in]
type = "conductorone_demo"

[transforms.a]
type = "remap"
inputs = ["in", "c"]
source = "."

[transforms.b]
type = "remap"
inputs = ["a"]
source = "."

[transforms.c]
type = "remap"
inputs = ["b"]
source = "."

[sinks.out]
type = "console"
inputs = ["c"]
encoding.codec = "json"
"#,
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
    let all = graph_errors(
        r#"[sources.in]
type = "conductorone_demo"

[transforms.t]
type = "remap"
inputs = ["in", "t"]
source = "."

[sinks.out]
type = "console"
inputs = ["t"]
encoding.codec = "json"
"#,
    );
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

    let all = graph_errors(
        r#"[sinks.out]
type = "console"
inputs = ["in"]
encoding.codec = "json"
"#,
    );
    assert!(
        all.iter().any(|e| e.message == "no sources are defined"),
        "{all:#?}"
    );
}

#[test]
fn no_sink_and_the_unused_source_is_named() {
    let all = graph_errors(
        r#"[sources.in]
type = "conductorone_demo"
"#,
    );
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
    let error = single(
        r#"[sources.in]
type = "conductorone_demo"

[transforms.lonely]
type = "remap"
inputs = ["in"]
source = "."

[sinks.out]
type = "console"
inputs = ["in"]
encoding.codec = "json"
"#,
    );
    assert_eq!(
        error.message,
        "output `lonely` is not used by any transform or sink"
    );
    assert_eq!(error.component.as_deref(), Some("transforms.lonely"));
    assert_eq!(at(&error), (4, 13));
    assert!(help(&error).contains("add \"lonely\" to the `inputs` of a sink"));
}

const ROUTE: &str = r#"[sources.in]
type = "conductorone_demo"

[transforms.split]
type = "route"
inputs = ["in"]
route.failures = '.status_id == 2'
route.tokens = '.class_uid == 3002'
"#;

#[test]
fn an_unconsumed_route_output_is_an_error_but_unmatched_is_not() {
    let text = format!(
        "{ROUTE}
[sinks.out]
type = \"console\"
inputs = [\"split.failures\"]
encoding.codec = \"json\"
"
    );
    let error = single(&text);
    assert_eq!(
        error.message,
        "output `split.tokens` is not used by any transform or sink"
    );
    assert_eq!(error.component.as_deref(), Some("transforms.split"));

    let text = format!(
        "{ROUTE}
[sinks.out]
type = \"console\"
inputs = [\"split.failures\", \"split.tokens\"]
encoding.codec = \"json\"
"
    );
    let graph = graph_ok(&text);
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
    let text = format!(
        "{ROUTE}
[sinks.out]
type = \"console\"
inputs = [\"split.failures\", \"split.tokens\", \"split._unmatched\"]
encoding.codec = \"json\"
"
    );
    assert!(graph_ok(&text).unconsumed_optional.is_empty());

    let text = format!(
        "{}reroute_unmatched = false
[sinks.out]
type = \"console\"
inputs = [\"split.*\"]
encoding.codec = \"json\"
",
        ROUTE
    );
    let graph = graph_ok(&text);
    assert_eq!(inputs_of(&graph, "out"), ["split.failures", "split.tokens"]);
}

#[test]
fn a_route_id_alone_lists_its_named_outputs() {
    let text = format!(
        "{ROUTE}
[sinks.out]
type = \"console\"
inputs = [\"split\"]
encoding.codec = \"json\"
"
    );
    let all = graph_errors(&text);
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
        r#"[sources.app_logs]
type = "conductorone_demo"

[sources.app_audit]
type = "conductorone_demo"

[sources.my_app]
type = "conductorone_demo"

[transforms.t]
type = "remap"
inputs = ["app*"]
source = "."

[transforms.split]
type = "route"
inputs = ["my_app"]
route.a = '.status_id == 1'

[sinks.everything]
type = "console"
inputs = ["*"]
encoding.codec = "json"
"#,
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
    let graph = graph_ok(
        r#"[sources.in]
type = "conductorone_demo"

[transforms.t]
type = "remap"
inputs = ["*"]
source = "."

[sinks.out]
type = "console"
inputs = ["t"]
encoding.codec = "json"
"#,
    );
    assert_eq!(inputs_of(&graph, "t"), ["in"]);
}

#[test]
fn a_wildcard_that_matches_nothing_is_an_error() {
    let error = single(
        r#"[sources.in]
type = "conductorone_demo"

[sinks.out]
type = "console"
inputs = ["in", "app*"]
encoding.codec = "json"
"#,
    );
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
    let error = single(
        r#"[sources.in]
type = "conductorone_demo"

[transforms.t]
type = "remap"
inputs = []
source = "."

[sinks.out]
type = "console"
inputs = ["in", "t"]
encoding.codec = "json"
"#,
    );
    assert_eq!(error.message, "`inputs` is empty");
    assert_eq!(error.component.as_deref(), Some("transforms.t"));
    assert_eq!(at(&error), (6, 10));
}

#[test]
fn the_same_id_in_sources_and_sinks_is_an_error() {
    let all = graph_errors(
        r#"[sources.x]
type = "conductorone_demo"

[sinks.x]
type = "console"
inputs = ["x"]
encoding.codec = "json"
"#,
    );
    let error = all
        .iter()
        .find(|e| e.message.contains("is used by both"))
        .unwrap_or_else(|| panic!("{all:#?}"));
    assert_eq!(
        error.message,
        "id `x` is used by both `sources.x` and `sinks.x`"
    );
    assert_eq!(error.component.as_deref(), Some("sinks.x"));
    assert_eq!(at(error), (4, 8));
}

/// Writes `files` (name, text) in a fresh directory.
fn write_files(files: &[(&str, &str)]) -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let paths = files
        .iter()
        .map(|(name, text)| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect();
    (dir, paths)
}

const SOURCE: &str = "[sources.in]\ntype = \"conductorone_demo\"\n";
const SINK: &str =
    "[sinks.out]\ntype = \"console\"\ninputs = [\"in\"]\nencoding.codec = \"json\"\n";

#[test]
fn files_are_merged() {
    let (_dir, paths) = write_files(&[("sources.toml", SOURCE), ("sinks.toml", SINK)]);
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
    let second = format!("{SINK}\n{SOURCE}");
    let (_dir, paths) = write_files(&[("a.toml", SOURCE), ("b.toml", &second)]);
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
    let sink = "[sinks.in]\ntype = \"console\"\ninputs = [\"in\"]\nencoding.codec = \"json\"\n";
    let (_dir, paths) = write_files(&[("a.toml", SOURCE), ("b.toml", sink)]);
    let errors = Config::load_with_env(&paths, &no_env).unwrap_err().0;
    let error = errors
        .iter()
        .find(|e| e.message.contains("is used by both"))
        .unwrap_or_else(|| panic!("{errors:#?}"));
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
    let first = format!("data_dir = \"/a\"\n{SOURCE}");
    let second = format!("data_dir = \"/b\"\n{SINK}");
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
    let (_dir, paths) = write_files(&[("a.toml", SOURCE)]);
    let errors = Config::load_with_env(&paths, &no_env).unwrap_err().0;
    assert!(
        errors.iter().any(|e| e.message == "no sinks are defined"),
        "{errors:#?}"
    );
}
