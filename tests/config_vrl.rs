//! VRL programs and conditions are compiled when the configuration is checked
//! (`topology::check_build`, what `validate` runs): errors point at the file position of the
//! bad expression, inside the string that holds the program.

mod common;

use common::config::Toml;
use common::*;
use std::path::Path;

use c1_pipeline::config::{Config, ConfigError, graph};
use c1_pipeline::topology::check_build;

/// The errors of building every component of `text` (whose syntax and graph must be valid).
fn build_errors(text: &str) -> Vec<ConfigError> {
    let config = Config::from_toml(text, Path::new("test.toml"), &no_env)
        .unwrap_or_else(|errors| panic!("the file should parse:\n{errors}"));
    graph::check(&config).unwrap_or_else(|errors| panic!("graph:\n{errors}"));
    errors_of(check_build(&config), "build errors", text)
}

#[track_caller]
fn single(text: &str) -> ConfigError {
    only(build_errors(text))
}

/// A pipeline in -> (transform `t` given by `transform`, from line 6) -> out.
fn pipeline(transform: &str) -> String {
    Toml::new()
        .demo("in")
        .table("transforms.t", &[r#"inputs = ["in"]"#])
        .lines(&[transform.strip_suffix('\n').unwrap_or(transform)])
        .console("out", &["t"])
        .into()
}

/// [`pipeline`] with a remap whose multi-line program (`source = '''` on line 7) is `program`,
/// which starts on line 8.
fn remap_program(program: &str) -> String {
    pipeline(&format!("type = \"remap\"\nsource = '''\n{program}'''\n"))
}

/// The one error of a filter whose `condition = CONDITION` is on line 7; it must be about the
/// condition and start at `column`.
#[track_caller]
fn condition_error_at(condition: &str, column: usize) -> ConfigError {
    let error = single(&pipeline(&format!(
        "type = \"filter\"\ncondition = {condition}\n"
    )));
    assert_eq!(error.field.as_deref(), Some("condition"));
    assert_eq!(at(&error), (7, column));
    error
}

#[test]
fn valid_programs_build() {
    let text = Toml::new()
        .demo("in")
        .remap(
            "t",
            &["in"],
            "'''\n.severity = \"high\"\ndel(.raw_data)\n'''",
        )
        .transform("keep", "filter", &["t"], &["condition = '.status_id == 2'"])
        .transform(
            "typed",
            "filter",
            &["t"],
            &[r#"condition = { type = "vrl", source = 'exists(.actor)' }"#],
        )
        .transform(
            "split",
            "route",
            &["t"],
            &["route.failures = '.status_id == 2'"],
        )
        .console("out", &["keep", "typed", "split.failures"]);
    let config = Config::from_toml(&text, Path::new("test.toml"), &no_env).unwrap();
    graph::check(&config).unwrap();
    check_build(&config).unwrap();
}

#[test]
fn a_remap_error_points_into_the_multi_line_program() {
    let error = single(&remap_program(
        ".a = 1\nif .status_id == 2 {\n    .b = nosuch_function(.x)\n}\n",
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
    let text = remap_program(".a = 1\n.b = nosuch(.x)\n").replace('\n', "\r\n");
    let error = single(&text);
    assert_eq!(at(&error), (9, 6));
    assert_eq!(
        error.location.as_ref().unwrap().line_text,
        ".b = nosuch(.x)"
    );
}

#[test]
fn a_type_error_in_vrl_is_reported_too() {
    let error = single(&remap_program(".a = 1\n.b = 1 + \"x\"\n"));
    assert_eq!(error.field.as_deref(), Some("source"));
    assert_eq!(at(&error).0, 9);
    assert!(error.message.contains("VRL compilation failed"), "{error}");
}

#[test]
fn a_filter_condition_must_return_a_boolean() {
    let error = condition_error_at("'.status_id'", 13);
    assert_eq!(error.component.as_deref(), Some("transforms.t"));
    assert_eq!(
        error.message,
        "the condition must return a boolean, but it returns any"
    );
    assert!(
        error.help.as_deref().unwrap().contains(".status_id == 2"),
        "{error:#?}"
    );

    let error = single(&pipeline("type = \"filter\"\ncondition = '\"yes\"'\n"));
    assert_eq!(
        error.message,
        "the condition must return a boolean, but it returns string"
    );
}

#[test]
fn a_filter_condition_that_does_not_compile() {
    let error = condition_error_at("'.status_id == nosuch()'", 28);
    assert!(error.message.contains("call to undefined function"));
}

#[test]
fn an_unsupported_condition_type_is_rejected() {
    let error = condition_error_at(r#"{ type = "lua", source = "true" }"#, 13);
    assert_eq!(error.message, "unsupported condition type `lua`");
}

#[test]
fn route_condition_errors_name_the_route() {
    let text = Toml::new()
        .demo("in")
        .transform(
            "split",
            "route",
            &["in"],
            &[
                "route.ok = '.status_id == 1'",
                "route.bad = '.status_id'",
                "route.broken = '''\n.status_id ==\n    nosuch(.x)\n'''",
            ],
        )
        .console("out", &["split.*"]);
    let all = build_errors(&text);
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
        &Toml::new()
            .demo("in")
            .transform(
                "split",
                "route",
                &["in"],
                &["route._default = '.status_id == 1'"],
            )
            .console("out", &["split.*"]),
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
        &Toml::new()
            .demo_with("in", &["interval_secs = 1.0", "events_per_second = 5.0"])
            .remap("a", &["in"], "'nosuch()'")
            .transform("b", "filter", &["a"], &["condition = '.x'"])
            .console_with("out", &["b"], &[r#"encoding.only_fields = ["a..b"]"#]),
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
