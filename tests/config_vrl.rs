//! VRL programs and conditions are compiled when the configuration is checked
//! (`topology::check_build`, what `validate` runs): errors point at the file position of the
//! bad expression, inside the string that holds the program.

mod common;

use common::*;
use std::path::Path;

use c1_pipeline::config::{Config, ConfigError, graph};
use c1_pipeline::topology::check_build;

/// The errors of building every component of `text` (whose syntax and graph must be valid).
fn build_errors(text: &str) -> Vec<ConfigError> {
    let config = Config::from_toml(text, Path::new("test.toml"), &no_env)
        .unwrap_or_else(|errors| panic!("the file should parse:\n{errors}"));
    graph::check(&config).unwrap_or_else(|errors| panic!("graph:\n{errors}"));
    match check_build(&config) {
        Ok(()) => panic!("expected build errors for:\n{text}"),
        Err(errors) => errors.0,
    }
}

#[track_caller]
fn single(text: &str) -> ConfigError {
    let mut all = build_errors(text);
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    all.remove(0)
}

/// A pipeline in -> (transform `t` given by `transform`) -> out.
fn pipeline(transform: &str) -> String {
    format!(
        r#"[sources.in]
type = "conductorone_demo"

[transforms.t]
inputs = ["in"]
{transform}
[sinks.out]
type = "console"
inputs = ["t"]
encoding.codec = "json"
"#
    )
}

#[test]
fn valid_programs_build() {
    let text = r#"[sources.in]
type = "conductorone_demo"

[transforms.t]
type = "remap"
inputs = ["in"]
source = '''
.severity = "high"
del(.raw_data)
'''

[transforms.keep]
type = "filter"
inputs = ["t"]
condition = '.status_id == 2'

[transforms.typed]
type = "filter"
inputs = ["t"]
condition = { type = "vrl", source = 'exists(.actor)' }

[transforms.split]
type = "route"
inputs = ["t"]
route.failures = '.status_id == 2'

[sinks.out]
type = "console"
inputs = ["keep", "typed", "split.failures"]
encoding.codec = "json"
"#;
    let config = Config::from_toml(text, Path::new("test.toml"), &no_env).unwrap();
    graph::check(&config).unwrap();
    check_build(&config).unwrap();
}

#[test]
fn a_remap_error_points_into_the_multi_line_program() {
    let error = single(&pipeline(
        r#"type = "remap"
source = '''
.a = 1
if .status_id == 2 {
    .b = nosuch_function(.x)
}
'''
"#,
    ));
    // File line 10 is `    .b = nosuch_function(.x)`; the call starts in column 10.
    assert_eq!(at(&error), (10, 10));
    assert_eq!(
        error.location.as_ref().unwrap().line_text,
        "    .b = nosuch_function(.x)"
    );
    assert_eq!(error.component.as_deref(), Some("transforms.t"));
    assert_eq!(error.field.as_deref(), Some("source"));
    assert!(
        error
            .message
            .starts_with("VRL compilation failed at line 3, column 10 of the program:"),
        "{}",
        error.message
    );
    // VRL's own diagnostic is included.
    assert!(error.message.contains("error[E105]"), "{}", error.message);
    assert!(
        error.message.contains("call to undefined function"),
        "{}",
        error.message
    );
    assert!(
        error
            .help
            .as_deref()
            .unwrap()
            .contains("fix the VRL program"),
        "{error:#?}"
    );
    let rendered = error.to_string();
    assert!(
        rendered.starts_with("test.toml:10:10: transforms.t, field `source`: VRL compilation"),
        "{rendered}"
    );
}

#[test]
fn positions_are_exact_in_every_kind_of_string() {
    // (the option as written, the expected file column on line 7)
    let cases = [
        // Literal string.
        (r#"source = '.a = 1; .b = nosuch(.x)'"#, 24),
        // Basic string: escapes take more room in the file than in the program.
        (r#"source = "\t.a = \"é\"; .b = nosuch(.x)""#, 30),
        (r#"source = ".a = \"\u00e9\"; .b = nosuch(.x)""#, 33),
    ];
    for (option, column) in cases {
        let error = single(&pipeline(&format!("type = \"remap\"\n{option}\n")));
        assert_eq!(at(&error), (7, column), "{option}: {error}");
        assert_eq!(error.field.as_deref(), Some("source"));
    }
}

#[test]
fn positions_follow_escaped_newlines_and_line_continuations() {
    // A basic multi-line string: `\n` starts a new program line; a line-ending backslash
    // joins lines.
    let error = single(&pipeline(
        r#"type = "remap"
source = """
.a = 1\n.b = \
      2; .c = nosuch()
"""
"#,
    ));
    // Program: ".a = 1\n.b = 2; .c = nosuch()\n": line 2, column 14; in the file, line 9.
    assert!(
        error
            .message
            .contains("at line 2, column 14 of the program"),
        "{}",
        error.message
    );
    assert_eq!(at(&error), (9, 15));
}

#[test]
fn positions_with_windows_line_endings() {
    let text = pipeline("type = \"remap\"\nsource = '''\n.a = 1\n.b = nosuch(.x)\n'''\n")
        .replace('\n', "\r\n");
    let error = single(&text);
    assert_eq!(at(&error), (9, 6));
    assert_eq!(
        error.location.as_ref().unwrap().line_text,
        ".b = nosuch(.x)"
    );
}

#[test]
fn a_type_error_in_vrl_is_reported_too() {
    let error = single(&pipeline(
        r#"type = "remap"
source = '''
.a = 1
.b = 1 + "x"
'''
"#,
    ));
    assert_eq!(error.field.as_deref(), Some("source"));
    assert_eq!(at(&error).0, 9);
    assert!(error.message.contains("VRL compilation failed"), "{error}");
}

#[test]
fn a_filter_condition_must_return_a_boolean() {
    let error = single(&pipeline(
        r#"type = "filter"
condition = '.status_id'
"#,
    ));
    assert_eq!(error.component.as_deref(), Some("transforms.t"));
    assert_eq!(error.field.as_deref(), Some("condition"));
    assert_eq!(at(&error), (7, 13));
    assert_eq!(
        error.message,
        "the condition must return a boolean, but it returns any"
    );
    assert!(
        error.help.as_deref().unwrap().contains(".status_id == 2"),
        "{error:#?}"
    );

    let error = single(&pipeline(
        r#"type = "filter"
condition = '"yes"'
"#,
    ));
    assert_eq!(
        error.message,
        "the condition must return a boolean, but it returns string"
    );
}

#[test]
fn a_filter_condition_that_does_not_compile() {
    let error = single(&pipeline(
        r#"type = "filter"
condition = '.status_id == nosuch()'
"#,
    ));
    assert_eq!(error.field.as_deref(), Some("condition"));
    assert_eq!(at(&error), (7, 28));
    assert!(error.message.contains("call to undefined function"));
}

#[test]
fn an_unsupported_condition_type_is_rejected() {
    let error = single(&pipeline(
        r#"type = "filter"
condition = { type = "lua", source = "true" }
"#,
    ));
    assert_eq!(error.field.as_deref(), Some("condition"));
    assert_eq!(at(&error), (7, 13));
    assert_eq!(error.message, "unsupported condition type `lua`");
}

#[test]
fn route_condition_errors_name_the_route() {
    let text = r#"[sources.in]
type = "conductorone_demo"

[transforms.split]
type = "route"
inputs = ["in"]
route.ok = '.status_id == 1'
route.bad = '.status_id'
route.broken = '''
.status_id ==
    nosuch(.x)
'''

[sinks.out]
type = "console"
inputs = ["split.*"]
encoding.codec = "json"
"#;
    let all = build_errors(text);
    // Routes are built in name order and the first failure stops the build.
    assert_eq!(all.len(), 1, "{all:#?}");
    let error = &all[0];
    assert_eq!(error.component.as_deref(), Some("transforms.split"));
    assert_eq!(error.field.as_deref(), Some("route.bad"));
    assert_eq!(at(error), (8, 13));
    assert_eq!(
        error.message,
        "the condition must return a boolean, but it returns any"
    );

    let error = single(&text.replace("route.bad = '.status_id'\n", ""));
    assert_eq!(error.field.as_deref(), Some("route.broken"));
    assert_eq!(at(&error), (10, 5));
    assert!(error.message.contains("call to undefined function"));
}

#[test]
fn a_route_name_must_be_usable_as_an_output() {
    let error = single(
        r#"[sources.in]
type = "conductorone_demo"

[transforms.split]
type = "route"
inputs = ["in"]
route._default = '.status_id == 1'

[sinks.out]
type = "console"
inputs = ["split.*"]
encoding.codec = "json"
"#,
    );
    assert_eq!(error.field.as_deref(), Some("route._default"));
    assert_eq!(at(&error), (7, 18));
    assert_eq!(error.message, "`_default` cannot be a route name");
}

#[test]
fn remap_needs_exactly_one_program() {
    let error = single(&pipeline("type = \"remap\"\n"));
    assert_eq!(error.message, "a VRL program is required");
    assert_eq!(error.field, None);
    assert_eq!(at(&error), (4, 13));

    let error = single(&pipeline(
        "type = \"remap\"\nsource = \".\"\nfile = \"program.vrl\"\n",
    ));
    assert_eq!(error.message, "both `source` and `file` are set");
    assert_eq!(error.field.as_deref(), Some("file"));
    assert_eq!(at(&error), (8, 8));

    let error = single(&pipeline(
        "type = \"remap\"\nfile = \"/nonexistent/x.vrl\"\n",
    ));
    assert!(
        error
            .message
            .starts_with("cannot read VRL file /nonexistent/x.vrl"),
        "{error}"
    );
    assert_eq!(at(&error), (7, 8));
}

#[test]
fn a_program_in_a_file_reports_positions_in_that_program() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("program.vrl");
    std::fs::write(&program, ".a = 1\n.b = nosuch()\n").unwrap();
    let error = single(&pipeline(&format!(
        "type = \"remap\"\nfile = \"{}\"\n",
        program.display()
    )));
    assert_eq!(error.field.as_deref(), Some("file"));
    assert!(
        error.message.contains("at line 2, column 6 of the program"),
        "{error}"
    );
    // The file position is the `file` option itself.
    assert_eq!(at(&error), (7, 8));
}

#[test]
fn every_component_is_checked_at_once() {
    let all = build_errors(
        r#"[sources.in]
type = "conductorone_demo"
interval_secs = 1.0
events_per_second = 5.0

[transforms.a]
type = "remap"
inputs = ["in"]
source = 'nosuch()'

[transforms.b]
type = "filter"
inputs = ["a"]
condition = '.x'

[sinks.out]
type = "console"
inputs = ["b"]
encoding.codec = "json"
encoding.only_fields = ["a..b"]
"#,
    );
    let found: Vec<_> = all
        .iter()
        .map(|e| (e.component.as_deref(), e.field.as_deref(), at(e)))
        .collect();
    assert_eq!(
        found,
        [
            (Some("sources.in"), Some("events_per_second"), (4, 21)),
            (Some("transforms.a"), Some("source"), (9, 11)),
            (Some("transforms.b"), Some("condition"), (14, 13)),
            (Some("sinks.out"), Some("encoding.only_fields"), (20, 24)),
        ]
    );
}
