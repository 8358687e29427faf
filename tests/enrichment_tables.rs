//! Enrichment tables (`[enrichment_tables.<id>] type = "file"`): a CSV of ConductorOne app ids
//! and their owners, looked up from `remap`, `filter` and `route` programs with Vector's
//! `get_enrichment_table_record` / `find_enrichment_table_records`; and the configuration
//! errors of a missing file, a malformed CSV, a value that does not fit the schema and a
//! program naming an unknown table, each at its file:line:col; `wildcard` fallback rows.

#[path = "common/process.rs"]
mod process;

use std::path::Path;

use c1_pipeline::config::{Config, ConfigError};
use process::{c1_pipeline, run_to_end};

/// App ids → owners; `tier` typed as an integer, `reviewed` as a US date.
const OWNERS_CSV: &str = "\
app_id;owner;tier;reviewed
app-okta;alice@example.com;1;03/01/2026
app-github;Bob@example.com;2;11/15/2025
app-aws;carol@example.com;1;06/30/2026
";

fn config(csv_path: &Path) -> String {
    format!(
        r#"
[enrichment_tables.owners]
type = "file"
file.path = "{path}"
file.encoding.type = "csv"
file.encoding.delimiter = ";"
schema.tier = "integer"
schema.reviewed = "date|%m/%d/%Y"

[sources.in]
type = "stdin"
decoding.codec = "json"

[transforms.owner]
type = "remap"
inputs = ["in"]
source = '''
row, err = get_enrichment_table_record("owners", {{ "app_id": .app.uid }}, select: ["owner", "tier"])
if err == null {{
  .app.owner = row.owner
  .app.tier = row.tier
}}
.same_tier = length(find_enrichment_table_records!("owners", {{ "tier": .app.tier }}))
.reviewed_2026 = length(find_enrichment_table_records!("owners", {{ "reviewed": {{ "from": t'2026-01-01T00:00:00Z' }} }}))
.by_owner = get_enrichment_table_record!("owners", {{ "owner": "bob@example.com" }}, case_sensitive: false).app_id
'''

[transforms.known]
type = "filter"
inputs = ["owner"]
condition = 'length(find_enrichment_table_records!("owners", {{ "app_id": .app.uid }})) > 0'

[sinks.out]
type = "console"
inputs = ["known"]
encoding.codec = "json"
"#,
        path = csv_path.display()
    )
}

#[test]
fn remap_and_filter_look_owners_up_in_a_csv_table() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("owners.csv");
    std::fs::write(&csv, OWNERS_CSV).unwrap();
    let input = concat!(
        r#"{"app":{"uid":"app-github"}}"#,
        "\n",
        r#"{"app":{"uid":"app-unknown"}}"#,
        "\n",
        r#"{"app":{"uid":"app-aws"}}"#,
        "\n",
    );
    let output = run_to_end(&config(&csv), input.as_bytes());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "the unknown app is filtered out: {lines:?}");
    assert_eq!(lines[0]["app"]["owner"], "Bob@example.com");
    assert_eq!(lines[0]["app"]["tier"], 2, "typed by the schema");
    assert_eq!(lines[0]["same_tier"], 1);
    assert_eq!(lines[1]["app"]["owner"], "carol@example.com");
    assert_eq!(lines[1]["same_tier"], 2);
    assert_eq!(lines[1]["reviewed_2026"], 2, "a date range");
    assert_eq!(lines[1]["by_owner"], "app-github", "case-insensitive");
}

fn load(text: &str) -> Result<Config, Vec<ConfigError>> {
    Config::from_toml(text, Path::new("test.toml"), &|_| None).map_err(|errors| errors.0)
}

#[track_caller]
fn single_error(text: &str) -> ConfigError {
    let mut errors = load(text).expect_err("invalid");
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.remove(0)
}

#[track_caller]
fn assert_at(error: &ConfigError, line: usize, column: usize, field: &str) {
    let location = error.location.as_ref().expect("a position");
    assert_eq!((location.line, location.column), (line, column), "{error}");
    assert_eq!(error.field.as_deref(), Some(field), "{error}");
    assert!(error.help.is_some(), "{error}");
}

fn table(path: &Path, extra: &str) -> String {
    format!(
        "[enrichment_tables.owners]\ntype = \"file\"\nfile.path = \"{}\"\n{extra}",
        path.display()
    )
}

#[test]
fn table_errors_are_configuration_errors_at_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.csv");
    let error = single_error(&table(&missing, ""));
    assert!(
        error.message.contains("cannot read enrichment table file"),
        "{error}"
    );
    assert_eq!(error.component.as_deref(), Some("enrichment_tables.owners"));
    assert_at(&error, 3, 13, "file.path");

    let ragged = dir.path().join("ragged.csv");
    std::fs::write(&ragged, "app_id,owner\napp-okta,alice\napp-aws\n").unwrap();
    let error = single_error(&table(&ragged, ""));
    assert!(error.message.contains("invalid CSV"), "{error}");
    assert!(error.message.contains("line 3"), "{error}");
    assert_at(&error, 3, 13, "file.path");

    let typed = dir.path().join("typed.csv");
    std::fs::write(&typed, "app_id,tier\napp-okta,1\napp-aws,gold\n").unwrap();
    let error = single_error(&table(&typed, "schema.tier = \"integer\"\n"));
    assert!(
        error
            .message
            .contains("line 3, column `tier`: `gold` is not a valid integer"),
        "{error}"
    );
    assert_at(&error, 4, 15, "schema.tier");

    let error = single_error(&table(&typed, "schema.tier = \"decimal\"\n"));
    assert!(
        error.message.contains("unknown column type `decimal`"),
        "{error}"
    );
    assert_at(&error, 4, 15, "schema.tier");

    let error = single_error(&table(&typed, "file.encoding.include_header = false\n"));
    assert!(
        error.message.contains("unknown field `include_header`"),
        "{error}"
    );
    assert_eq!(
        error.help.as_deref(),
        Some("did you mean `include_headers`?")
    );

    let error = single_error("[enrichment_tables.geo]\ntype = \"geoip\"\npath = \"x.mmdb\"\n");
    assert!(error.message.contains("unknown variant `geoip`"), "{error}");
}

#[test]
fn headerless_tables_name_columns_by_position() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("plain.csv");
    std::fs::write(&csv, "app-okta,alice\napp-aws,carol\n").unwrap();
    let config = load(&table(&csv, "file.encoding.include_headers = false\n")).unwrap();
    let table = &config.enrichment_tables["owners"].table;
    let columns: Vec<&str> = table.columns().iter().map(|c| c.as_str()).collect();
    assert_eq!(columns, ["0", "1"]);
    assert_eq!(table.len(), 2);
}

#[test]
fn a_program_naming_an_unknown_table_or_column_fails_validate_at_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("owners.csv");
    std::fs::write(&csv, OWNERS_CSV).unwrap();
    let text = config(&csv)
        .replace(
            r#"find_enrichment_table_records!("owners", { "app_id""#,
            r#"find_enrichment_table_records!("owner", { "app_id""#,
        )
        .replace(r#"{ "tier": .app.tier }"#, r#"{ "level": .app.tier }"#);
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, &text).unwrap();
    let output = c1_pipeline()
        .args(["validate", "--no-environment"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(78), "{stderr}");
    // The filter's condition names table `owner`; the remap's sixth line column `level`.
    let file = path.display().to_string();
    assert!(stderr.contains(&format!("{file}:31:21:")), "{stderr}");
    assert!(
        stderr.contains("no enrichment table has this id"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{file}:23:21:")), "{stderr}");
    assert!(stderr.contains("no column with this name"), "{stderr}");
}

#[test]
fn wildcard_rows_answer_when_no_row_matches_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("owners.csv");
    std::fs::write(
        &csv,
        "app_id,owner\napp-okta,alice@example.com\n*,secops@example.com\n",
    )
    .unwrap();
    let config = format!(
        r#"
[enrichment_tables.owners]
type = "file"
file.path = "{path}"
file.encoding.type = "csv"

[sources.in]
type = "stdin"
decoding.codec = "json"

[transforms.owner]
type = "remap"
inputs = ["in"]
source = '''
.owner = get_enrichment_table_record!("owners", {{ "app_id": .app }}, wildcard: "*").owner
.rows = length(find_enrichment_table_records!("owners", {{ "app_id": .app }}, wildcard: "*"))
'''

[sinks.out]
type = "console"
inputs = ["owner"]
encoding.codec = "json"
"#,
        path = csv.display()
    );
    let output = run_to_end(
        &config,
        b"{\"app\": \"app-okta\"}\n{\"app\": \"app-new\"}\n",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    // The exact row wins over the wildcard row; without one, the wildcard row answers.
    assert_eq!(lines[0]["owner"], "alice@example.com");
    assert_eq!(lines[0]["rows"], 1);
    assert_eq!(lines[1]["owner"], "secops@example.com");
    assert_eq!(lines[1]["rows"], 1);
}
