//! `${VAR}` interpolation in configuration files: every form, errors that name the variable,
//! the component and the field at their position, and values that cannot change structure.

mod common;

use std::path::Path;

use c1_pipeline::config::{Config, ConfigError};
use c1_pipeline::sinks::SinkConfig;
use c1_pipeline::transforms::TransformConfig;
use common::config::Toml;
use common::only;

/// A variable whose value tries to close the string and add a sink.
const INJECTION: &str =
    "x\"\n[sinks.evil]\ntype = \"console\"\ninputs = [\"in\"]\nencoding.codec = \"json\"";

fn env(name: &str) -> Option<String> {
    match name {
        "HOST" => Some("splunk.example.com".into()),
        "SOURCE_ID" => Some("in".into()),
        "CODEC" => Some("json".into()),
        "EMPTY" => Some(String::new()),
        "INJECT" => Some(INJECTION.into()),
        _ => None,
    }
}

fn load(text: &str) -> Result<Config, Vec<ConfigError>> {
    Config::from_toml(text, Path::new("test.toml"), &env).map_err(|errors| errors.0)
}

/// The VRL source of remap transform `id`.
fn remap_source(config: &Config, id: &str) -> String {
    match &config.transforms[id].config {
        TransformConfig::Remap(remap) => remap.source.clone().unwrap(),
        other => panic!("not a remap: {other:?}"),
    }
}

/// `host_key` of splunk_hec_logs sink `id`: a free-text option, kept as substituted.
fn host_key(config: &Config, id: &str) -> String {
    match &config.sinks[id].config {
        SinkConfig::SplunkHecLogs(hec) => hec.host_key.clone().unwrap_or_default(),
        other => panic!("not a splunk_hec_logs sink: {other:?}"),
    }
}

/// A file with one splunk_hec_logs sink whose `host_key` is `value` (a TOML basic string
/// body), on line 7 from column 12.
fn with_host_key(value: &str) -> String {
    Toml::new()
        .demo("in")
        .table(
            "sinks.out",
            &[
                r#"type = "splunk_hec_logs""#,
                r#"inputs = ["in"]"#,
                &format!("host_key = \"{value}\""),
                r#"endpoint = "http://127.0.0.1:8088""#,
                r#"default_token = "00000000-0000-0000-0000-000000000000""#,
                r#"encoding.codec = "json""#,
            ],
        )
        .into()
}

/// An error's component, field and position (line, column).
fn place(error: &ConfigError) -> (Option<&str>, Option<&str>, (usize, usize)) {
    let location = error.location.as_ref().unwrap();
    let position = (location.line, location.column);
    (error.component.as_deref(), error.field.as_deref(), position)
}

#[track_caller]
fn substituted(value: &str) -> String {
    let config =
        load(&with_host_key(value)).unwrap_or_else(|errors| panic!("{value}: {errors:#?}"));
    host_key(&config, "out")
}

#[test]
fn every_form_is_substituted() {
    // (as written, as substituted)
    let cases = [
        ("${HOST}", "splunk.example.com"),
        ("https://$HOST:8088", "https://splunk.example.com:8088"),
        ("${NOT_SET:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${HOST:-fallback}", "splunk.example.com"),
        ("${NOT_SET-fallback}", "fallback"),
        ("${EMPTY-fallback}", ""),
        ("${HOST:?needed}", "splunk.example.com"),
        ("${EMPTY?needed}", ""),
        ("costs $$5 and ${HOST}", "costs $5 and splunk.example.com"),
        ("$$HOST", "$HOST"),
        ("$$${HOST}", "$splunk.example.com"),
        ("a lone $ stays", "a lone $ stays"),
    ];
    for (written, expected) in cases {
        assert_eq!(substituted(written), expected, "{written}");
    }
}

#[test]
fn variables_work_in_arrays_and_nested_tables_and_types() {
    let text = Toml::new().demo("in").table(
        "sinks.out",
        &[
            r#"type = "${SINK_TYPE:-console}""#,
            r#"inputs = ["${SOURCE_ID}"]"#,
            r#"encoding = { codec = "${CODEC}" }"#,
        ],
    );
    let config = load(&text).unwrap();
    assert_eq!(config.sinks["out"].inputs, ["in"]);
    assert_eq!(config.sinks["out"].config.type_name(), "console");
    match &config.sinks["out"].config {
        SinkConfig::Console(console) => {
            assert_eq!(
                console.encoding.codec,
                c1_pipeline::test_support::EncodingCodec::Json
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn literal_strings_are_interpolated_too() {
    let text = with_host_key("x").replace(r#"host_key = "x""#, "host_key = '${HOST}/$$5'");
    let config = load(&text).unwrap();
    assert_eq!(host_key(&config, "out"), "splunk.example.com/$5");
}

#[test]
fn vrl_programs_are_never_substituted() {
    let program = [
        "'''",
        r#".host = "${HOST}""#,
        ".anchored = match(string!(.x), r'^a$')",
        r#".unset = "${NOT_SET}""#,
        r#".from_env = get_env_var("C1_PIPELINE_TEST_UNSET") ?? "default""#,
        "'''",
    ];
    let text = Toml::new()
        .demo("in")
        .remap("t", &["in"], &program.join("\n"))
        .transform(
            "f",
            "filter",
            &["t"],
            &[r#"condition = '.price != "$$5" && .host != "$HOST"'"#],
        )
        .transform(
            "r",
            "route",
            &["f"],
            &[r#"route.plain = '.y == "${NOT_SET:?no}"'"#],
        )
        .table(
            "sinks.out",
            &[
                r#"type = "console""#,
                r#"inputs = ["r.plain", "r._unmatched"]"#,
                r#"encoding.codec = "${CODEC}""#,
            ],
        );
    let config = load(&text).unwrap_or_else(|errors| panic!("{errors:#?}"));
    assert_eq!(
        remap_source(&config, "t"),
        ".host = \"${HOST}\"\n.anchored = match(string!(.x), r'^a$')\n.unset = \"${NOT_SET}\"\n\
         .from_env = get_env_var(\"C1_PIPELINE_TEST_UNSET\") ?? \"default\"\n"
    );
    let transforms = format!("{:?}", config.transforms);
    for kept in [
        r#".price != \"$$5\" && .host != \"$HOST\""#,
        r#".y == \"${NOT_SET:?no}\""#,
    ] {
        assert!(transforms.contains(kept), "{kept} in {transforms}");
    }
    // Other options of the same file still are.
    assert!(format!("{:?}", config.sinks).contains("Json"));
    // And the programs compile as written.
    let graph = c1_pipeline::config::graph::check(&config).unwrap_or_else(|e| panic!("{e}"));
    drop(graph);
    c1_pipeline::topology::check_build(&config).unwrap_or_else(|e| panic!("{e}"));
}
#[test]
fn keys_are_not_interpolated() {
    let errors = load("[sources.\"${HOST}\"]\ntype = \"stdin\"\n").unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].message, "component id `${HOST}` contains `$`");
}

#[test]
fn a_missing_variable_names_the_variable_the_component_and_the_field() {
    let text =
        Toml::new()
            .demo("in")
            .console_with("out", &["in"], &[r#"target = "std${TARGET_SUFFIX}""#]);
    // Only the variable: not also "unknown variant `std${TARGET_SUFFIX}`".
    let error = &only(load(&text).unwrap_err());
    assert_eq!(
        error.message,
        "environment variable `TARGET_SUFFIX` is not set"
    );
    assert_eq!(place(error), (Some("sinks.out"), Some("target"), (8, 10)));
    let file = &error.location.as_ref().unwrap().file;
    assert_eq!(file.as_ref(), Path::new("test.toml"));
    let help = error.help.as_deref().unwrap();
    assert!(help.contains("export TARGET_SUFFIX=..."), "{help}");
    assert!(help.contains("${TARGET_SUFFIX:-default}"), "{help}");
    assert!(
        error
            .to_string()
            .starts_with("test.toml:8:10: sinks.out, field `target`: environment variable"),
        "{error}"
    );
}

#[test]
fn a_missing_variable_in_a_nested_field_or_list_item() {
    let text = Toml::new().demo("in").table(
        "sinks.out",
        &[
            r#"type = "console""#,
            r#"inputs = ["in", "$OTHER_INPUT"]"#,
            r#"encoding.codec = "${CODEC_NAME}""#,
        ],
    );
    let errors = load(&text).unwrap_err();
    let found: Vec<_> = errors
        .iter()
        .map(|e| {
            let l = e.location.as_ref().unwrap();
            (
                l.line,
                l.column,
                e.component.as_deref(),
                e.field.as_deref(),
                e.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                6,
                17,
                Some("sinks.out"),
                Some("inputs[1]"),
                "environment variable `OTHER_INPUT` is not set"
            ),
            (
                7,
                18,
                Some("sinks.out"),
                Some("encoding.codec"),
                "environment variable `CODEC_NAME` is not set"
            ),
        ]
    );
}

#[test]
fn a_missing_variable_in_a_global_option() {
    let errors = load("data_dir = \"${STATE_DIR}/c1\"\n").unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].component, None);
    assert_eq!(errors[0].field.as_deref(), Some("data_dir"));
    assert_eq!(
        errors[0].message,
        "environment variable `STATE_DIR` is not set"
    );
}

#[test]
fn a_required_variable_reports_its_message() {
    let text = with_host_key("token-${C1_TOKEN:?set C1_TOKEN to the API token}");
    let error = &only(load(&text).unwrap_err());
    assert_eq!(
        error.message,
        "environment variable `C1_TOKEN` is required: set C1_TOKEN to the API token"
    );
    assert_eq!(place(error), (Some("sinks.out"), Some("host_key"), (7, 12)));
    assert_eq!(
        error.help.as_deref(),
        Some("export C1_TOKEN=... before starting")
    );

    // Set but empty counts as missing with `:?`.
    let errors = load(&with_host_key("${EMPTY:?must not be empty}")).unwrap_err();
    assert_eq!(
        errors[0].message,
        "environment variable `EMPTY` is required: must not be empty"
    );
}

#[test]
fn a_malformed_reference_is_an_error() {
    for (value, text) in [
        ("${HOST", "${HOST"),
        ("${1ABC}", "${1ABC}"),
        ("${HOST:x}", "${HOST:x}"),
    ] {
        let errors = load(&with_host_key(value)).unwrap_err();
        assert_eq!(errors.len(), 1, "{value}: {errors:#?}");
        assert_eq!(
            errors[0].message,
            format!("malformed variable reference `{text}`")
        );
        assert_eq!(errors[0].field.as_deref(), Some("host_key"));
    }
}

#[test]
fn every_variable_problem_is_reported_at_once() {
    let text = Toml::new()
        .lines(&[r#"data_dir = "${A}""#])
        .table("sources.in", &[r#"type = "${B}""#])
        .table(
            "sinks.out",
            &[
                r#"type = "console""#,
                r#"inputs = ["${C}"]"#,
                r#"encoding.codec = "${D:?codec}""#,
            ],
        );
    let errors = load(&text).unwrap_err();
    let names: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        names,
        [
            "environment variable `A` is not set",
            "environment variable `B` is not set",
            "environment variable `C` is not set",
            "environment variable `D` is required: codec",
        ]
    );
}

#[test]
fn a_variable_cannot_change_the_structure() {
    let text = with_host_key("x-${INJECT}");
    let config = load(&text).unwrap();
    assert_eq!(host_key(&config, "out"), format!("x-{INJECTION}"));
    assert_eq!(config.sinks.keys().collect::<Vec<_>>(), ["out"]);
    assert_eq!(config.sources.keys().collect::<Vec<_>>(), ["in"]);

    // The same through loading a file, with the graph checked.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipeline.toml");
    std::fs::write(&path, &text).unwrap();
    let config = Config::load_with_env(std::slice::from_ref(&path), &env).unwrap();
    assert!(!config.sinks.contains_key("evil"));
    assert_eq!(host_key(&config, "out"), format!("x-{INJECTION}"));
}

#[test]
fn an_injected_value_stays_a_string_in_any_field() {
    let config = load(&Toml::new().demo("in").console("out", &["${INJECT}"])).unwrap();
    // The whole value is one (unknown) input name, not new TOML.
    assert_eq!(config.sinks["out"].inputs, [INJECTION]);
    assert_eq!(config.sinks.len(), 1);
    let errors = c1_pipeline::config::graph::check(&config).unwrap_err().0;
    assert!(
        errors
            .iter()
            .any(|e| e.message.starts_with("input `x\"\n[sinks.evil]")),
        "{errors:#?}"
    );
}

#[test]
fn load_uses_the_given_lookup_and_the_process_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipeline.toml");
    let text = Toml::new().demo("in").console("out", &["${SOURCE_ID}"]);
    std::fs::write(&path, text.text()).unwrap();
    let config = Config::load_with_env(std::slice::from_ref(&path), &env).unwrap();
    assert_eq!(config.sinks["out"].inputs, ["in"]);
    let errors = Config::load_with_env(std::slice::from_ref(&path), &|_| None)
        .unwrap_err()
        .0;
    assert_eq!(
        errors[0].message,
        "environment variable `SOURCE_ID` is not set"
    );
    let location = errors[0].location.as_ref().unwrap();
    assert_eq!(location.file.as_ref(), path.as_path());
    assert_eq!((location.line, location.column), (6, 11));
}
