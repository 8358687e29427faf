//! Configuration errors found while reading one file: each names the file, line and column,
//! the component and the field, and says what would fix it.

mod common;

use common::config::Toml;
use common::*;
use std::path::Path;

use c1_pipeline::config::{Config, ConfigError};

/// Every error of loading `text` as `test.toml` (which must fail).
fn errors(text: &str) -> Vec<ConfigError> {
    let loaded = Config::from_toml(text, Path::new("test.toml"), &no_env);
    errors_of(loaded, "errors", text)
}

/// The one error of loading `text`.
#[track_caller]
fn single_error(text: &str) -> ConfigError {
    only(errors(text))
}

/// A demo source `in` with a misspelt `count` on line 3.
const COUT: &str = "[sources.in]\ntype = \"conductorone_demo\"\ncout = 5\n";

/// Console sink `out` reading `in` (lines 1 to 3), then `lines` from line 4.
fn console_out(lines: &[&str]) -> Toml {
    let head = [r#"type = "console""#, r#"inputs = ["in"]"#];
    Toml::new().table("sinks.out", &[&head, lines].concat())
}

/// Checks an error's position (`test.toml`:line:column), component, field, and that its
/// message and help contain the given texts.
#[track_caller]
fn check(
    error: &ConfigError,
    (line, column): (usize, usize),
    component: Option<&str>,
    field: Option<&str>,
    message: &str,
    help: Option<&str>,
) {
    let location = error
        .location
        .as_ref()
        .unwrap_or_else(|| panic!("no location in {error:#?}"));
    assert_eq!(location.file.as_ref(), Path::new("test.toml"), "{error:#?}");
    assert_eq!(
        (location.line, location.column),
        (line, column),
        "position of {error:#?}"
    );
    assert_eq!(error.component.as_deref(), component, "{error:#?}");
    assert_eq!(error.field.as_deref(), field, "{error:#?}");
    assert!(
        error.message.contains(message),
        "message should contain {message:?}: {error:#?}"
    );
    if let Some(help) = help {
        assert!(
            error.help.as_deref().is_some_and(|h| h.contains(help)),
            "help should contain {help:?}: {error:#?}"
        );
    }
}

#[test]
fn a_valid_file_parses() {
    let text = Toml::new()
        .lines(&[
            r#"data_dir = "/var/lib/c1""#,
            "acknowledgements.enabled = false",
            "healthchecks = { enabled = false, require_healthy = true }",
        ])
        .demo_with("in", &["count = 5", "interval_secs = 0.5"])
        .remap("t", &["in"], "'.x = 1'")
        .table(
            "sinks.out", // line 15
            &[
                r#"type = "console""#,
                r#"inputs = ["t"]"#,
                r#"target = "stderr""#,
                r#"encoding.codec = "json""#,
                "encoding.json.pretty = true",
            ],
        );
    let config = Config::from_toml(&text, Path::new("test.toml"), &no_env).unwrap();
    assert_eq!(config.data_dir.as_deref(), Some(Path::new("/var/lib/c1")));
    assert_eq!(config.acknowledgements.enabled, Some(false));
    assert!(!config.healthchecks.enabled);
    assert!(config.healthchecks.require_healthy);
    assert_eq!(config.sources.keys().collect::<Vec<_>>(), ["in"]);
    assert_eq!(config.transforms["t"].inputs, ["in"]);
    assert_eq!(config.sinks["out"].inputs, ["t"]);
    assert_eq!(config.sinks["out"].config.type_name(), "console");
    // Positions of options are kept, nested ones included.
    let origin = &config.sinks["out"].origin;
    let at = |field: &str| {
        let l = origin.field_location(field).unwrap();
        (l.line, l.column)
    };
    assert_eq!(at("inputs"), (17, 10));
    assert_eq!(at("inputs[0]"), (17, 11));
    assert_eq!(at("encoding.codec"), (19, 18));
    assert_eq!(at("encoding.json.pretty"), (20, 24));
    // Unknown paths fall back to the closest option, then to the component.
    assert_eq!(at("encoding.codec.nothing"), (19, 18));
    assert_eq!(at("nothing"), (15, 8));
}

#[test]
fn unknown_field_suggests_the_closest_one() {
    let error = single_error(COUT);
    check(
        &error,
        (3, 1),
        Some("sources.in"),
        Some("cout"),
        "unknown field `cout`",
        Some("did you mean `count`?"),
    );
}

#[test]
fn errors_render_with_position_snippet_and_help() {
    let error = single_error(COUT);
    assert_eq!(
        error.to_string(),
        "test.toml:3:1: sources.in, field `cout`: unknown field `cout`, expected one of \
         `count`, `interval_secs`, `events_per_second`, `seed`, `untimed_circuit_breaker_events`\n   \
         |\n 3 | cout = 5\n   | ^\n  help: did you mean `count`?"
    );
}

#[test]
fn unknown_nested_field_by_dotted_key() {
    let error = single_error("[sources.in]\ntype = \"stdin\"\ndecoding.codek = \"json\"\n");
    check(
        &error,
        (3, 10),
        Some("sources.in"),
        Some("decoding.codek"),
        "unknown field `codek`",
        Some("did you mean `codec`?"),
    );
}

#[test]
fn unknown_nested_field_in_inline_table() {
    let error = single_error(&console_out(&[
        r#"encoding = { codec = "json", jsn = { pretty = true } }"#,
    ]));
    check(
        &error,
        (4, 30),
        Some("sinks.out"),
        Some("encoding.jsn"),
        "unknown field `jsn`",
        Some("did you mean `json`?"),
    );
}

#[test]
fn unknown_nested_field_in_sub_table() {
    let error = single_error(&console_out(&[]).table(
        "sinks.out.encoding",
        &[r#"codec = "json""#, r#"  only_feilds = ["a"]"#],
    ));
    check(
        &error,
        (7, 3),
        Some("sinks.out"),
        Some("encoding.only_feilds"),
        "unknown field `only_feilds`",
        Some("did you mean `only_fields`?"),
    );
}

#[test]
fn unknown_enum_variant_suggests_the_closest_one() {
    let error = single_error(&console_out(&[r#"encoding.codec = "jsn""#]));
    check(
        &error,
        (4, 18),
        Some("sinks.out"),
        Some("encoding.codec"),
        "unknown variant `jsn`, expected `json` or `text`",
        Some("did you mean `json`?"),
    );
}

#[test]
fn unknown_variant_without_close_match_lists_the_choices() {
    let error = single_error(&console_out(&[
        r#"target = "printer""#,
        r#"encoding.codec = "json""#,
    ]));
    check(
        &error,
        (4, 10),
        Some("sinks.out"),
        Some("target"),
        "unknown variant `printer`",
        Some("expected one of: stdout, stderr"),
    );
}

#[test]
fn unknown_component_type_suggests_the_closest_one() {
    let error = single_error("[sources.in]\ntype = \"stdn\"\n");
    check(
        &error,
        (2, 8),
        Some("sources.in"),
        Some("type"),
        "unknown component type `stdn`",
        Some("did you mean `stdin`?"),
    );
    // Types are per kind: a sink type is not a transform type.
    let error = single_error("[transforms.t]\ntype = \"console\"\ninputs = [\"in\"]\n");
    check(
        &error,
        (2, 8),
        Some("transforms.t"),
        Some("type"),
        "unknown component type `console`",
        Some("known types: remap, filter, route"),
    );
}

#[test]
fn missing_type() {
    let error = single_error("[sources.in]\ncount = 3\n");
    check(
        &error,
        (1, 10),
        Some("sources.in"),
        None,
        "missing required option `type`",
        Some("stdin, conductorone_demo"),
    );
}

#[test]
fn type_must_be_a_string() {
    let error = single_error("[sinks.out]\ntype = 5\n");
    check(
        &error,
        (2, 8),
        Some("sinks.out"),
        Some("type"),
        "`type` must be a string, found integer",
        None,
    );
}

#[test]
fn missing_inputs_on_a_transform_and_a_sink() {
    let all = errors(
        &Toml::new()
            .table("transforms.t", &[r#"type = "remap""#, r#"source = ".""#])
            .table(
                "sinks.out",
                &[r#"type = "console""#, r#"encoding.codec = "json""#],
            ),
    );
    assert_eq!(all.len(), 2, "{all:#?}");
    check(
        &all[0],
        (1, 13),
        Some("transforms.t"),
        None,
        "missing required option `inputs`",
        Some("inputs = [\"source_id\"]"),
    );
    check(
        &all[1],
        (5, 8),
        Some("sinks.out"),
        None,
        "missing required option `inputs`",
        None,
    );
}

#[test]
fn inputs_must_be_a_list_of_strings() {
    let all = errors(
        &Toml::new()
            .console_inputs_as_written("a", r#""in""#, &[])
            .console_inputs_as_written("b", r#"["in", 5]"#, &[]),
    );
    assert_eq!(all.len(), 2, "{all:#?}");
    check(
        &all[0],
        (3, 10),
        Some("sinks.a"),
        Some("inputs"),
        "expected a sequence",
        Some("inputs is a list of component ids"),
    );
    check(
        &all[1],
        (8, 17),
        Some("sinks.b"),
        Some("inputs"),
        "invalid type: integer `5`, expected a string",
        None,
    );
}

#[test]
fn inputs_on_a_source() {
    let error = single_error("[sources.in]\ntype = \"stdin\"\ninputs = [\"other\"]\n");
    check(
        &error,
        (3, 10),
        Some("sources.in"),
        Some("inputs"),
        "sources have no `inputs`",
        Some("list this source in the `inputs` of a transform or sink"),
    );
}

#[test]
fn wrong_value_type() {
    let error = single_error(&Toml::new().demo_with("in", &[r#"count = "five""#]));
    check(
        &error,
        (3, 9),
        Some("sources.in"),
        Some("count"),
        "invalid type: string \"five\", expected u64",
        None,
    );
    let error = single_error("[sources.in]\ntype = \"stdin\"\ndecoding = \"json\"\n");
    check(
        &error,
        (3, 12),
        Some("sources.in"),
        Some("decoding"),
        "invalid type: string \"json\"",
        None,
    );
}

#[test]
fn missing_required_option_names_it() {
    let error = single_error(&console_out(&[]));
    check(
        &error,
        (1, 1),
        Some("sinks.out"),
        Some("encoding"),
        "missing field `encoding`",
        Some("add the required option `encoding`"),
    );
    // Inside a table: the path includes it.
    let error = single_error(&console_out(&["encoding = { json.pretty = true }"]));
    check(
        &error,
        (4, 12),
        Some("sinks.out"),
        Some("encoding.codec"),
        "missing field `codec`",
        Some("add the required option `codec`"),
    );
}

#[test]
fn invalid_toml_syntax_points_at_the_error() {
    let unclosed = format!(
        "{}\n[sinks.out\ntype = \"console\"\n",
        Toml::new().demo("in")
    );
    let error = single_error(&unclosed);
    check(
        &error,
        (4, 11),
        None,
        None,
        "invalid TOML: unclosed table, expected `]`",
        None,
    );
    let error = single_error("[sources.in]\ntype = \"stdin\ncount = 1\n");
    check(
        &error,
        (2, 14),
        None,
        None,
        "invalid TOML: invalid basic string",
        None,
    );
    let error = single_error("[sources.in]\ntype = \"stdin\"\ntype = \"stdin\"\n");
    check(&error, (3, 1), None, None, "duplicate key", None);
}

#[test]
fn unknown_top_level_key_suggests_the_closest_one() {
    let error = single_error("data_dri = \"/var/lib/c1\"\n");
    check(
        &error,
        (1, 1),
        None,
        None,
        "unknown top-level option `data_dri`",
        Some("did you mean `data_dir`?"),
    );
    // A table header points at the key inside the brackets.
    let error = single_error("[sink.out]\ntype = \"console\"\n");
    check(
        &error,
        (1, 2),
        None,
        None,
        "unknown top-level option `sink`",
        Some("did you mean `sinks`?"),
    );
    let error = single_error("[package]\nname = \"x\"\n");
    check(
        &error,
        (1, 2),
        None,
        None,
        "unknown top-level option `package`",
        Some(
            "top-level options are: data_dir, acknowledgements, healthchecks, api, secret, sources",
        ),
    );
}

#[test]
fn global_options_are_checked() {
    let all = errors(
        "data_dir = 5\nhealthchecks.enable = true\nacknowledgements = { enabled = \"yes\" }\n",
    );
    assert_eq!(all.len(), 3, "{all:#?}");
    check(
        &all[0],
        (1, 12),
        None,
        Some("data_dir"),
        "expected a string path, found integer",
        None,
    );
    check(
        &all[1],
        (2, 14),
        None,
        Some("healthchecks.enable"),
        "unknown field `enable`",
        Some("did you mean `enabled`?"),
    );
    check(
        &all[2],
        (3, 32),
        None,
        Some("acknowledgements.enabled"),
        "invalid type: string \"yes\", expected a boolean",
        None,
    );
}

#[test]
fn component_ids_must_be_simple() {
    let error = single_error("[sources.\"my src\"]\ntype = \"stdin\"\n");
    check(
        &error,
        (1, 10),
        Some("sources.my src"),
        None,
        "component id `my src` contains ` `",
        Some("letters, digits, `_` and `-`"),
    );
    let error = single_error("sources = 5\n");
    check(
        &error,
        (1, 11),
        None,
        None,
        "`sources` must be a table of components",
        None,
    );
    let error = single_error("sinks.out = \"console\"\n");
    check(
        &error,
        (1, 13),
        Some("sinks.out"),
        None,
        "a component must be a table",
        None,
    );
}

#[test]
fn every_error_of_a_file_is_reported_at_once_in_file_order() {
    let all = errors(
        &Toml::new()
            .lines(&[r#"data_dri = "/tmp""#])
            .table("sources.zz", &[r#"type = "stdn""#])
            .demo_with("aa", &["cout = 5"])
            .table("transforms.t", &[r#"type = "remap""#, r#"source = ".""#])
            .table(
                "sinks.out",
                &[
                    r#"type = "console""#,
                    r#"inputs = ["aa"]"#,
                    r#"encoding.codec = "jsn""#,
                ],
            )
            .table("sinks.bad", &[r#"inputs = ["aa"]"#]),
    );
    let summary: Vec<_> = all
        .iter()
        .map(|e| {
            let l = e.location.as_ref().unwrap();
            (l.line, l.column, e.component.as_deref(), e.message.as_str())
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, 1, None, "unknown top-level option `data_dri`"),
            (4, 8, Some("sources.zz"), "unknown component type `stdn`"),
            (
                8,
                1,
                Some("sources.aa"),
                "unknown field `cout`, expected one of `count`, `interval_secs`, \
                 `events_per_second`, `seed`, `untimed_circuit_breaker_events`"
            ),
            (
                10,
                13,
                Some("transforms.t"),
                "missing required option `inputs`"
            ),
            (
                17,
                18,
                Some("sinks.out"),
                "unknown variant `jsn`, expected `json` or `text`"
            ),
            (19, 8, Some("sinks.bad"), "missing required option `type`"),
        ]
    );
}
