//! Pipeline configurations as TOML text, built one table at a time, for tests that need a
//! skeleton (a source, a sink, a transform or two) around what they are about.
//!
//! Tables are written as they usually are by hand: `[kind.id]`, then one `key = value` line
//! each, a blank line between tables, and a newline at the end. So a test that checks an error
//! position can count lines: `Toml::new().demo("in").console("out", &["in"])` is
//!
//! ```toml
//! [sources.in]                 # line 1
//! type = "conductorone_demo"
//!
//! [sinks.out]                  # line 4
//! type = "console"
//! inputs = ["in"]              # line 6, the first input at column 11
//! encoding.codec = "json"
//! ```
//!
//! Used through `mod common;` (`common::config`) and, by the tests that only run the binary,
//! through `#[path = "common/config.rs"]`.
#![allow(dead_code)] // each test crate uses a different subset

use std::fmt;

/// The text of a configuration file, built table by table (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct Toml {
    text: String,
}

impl Toml {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the lines before the first table (global options such as `data_dir`), or, after a
    /// table, lines that belong to it.
    pub fn lines(mut self, lines: &[&str]) -> Self {
        for line in lines {
            self.text.push_str(line);
            self.text.push('\n');
        }
        self
    }

    /// Adds table `[header]` with `lines`, after a blank line unless it is the first thing in the
    /// file.
    pub fn table(mut self, header: &str, lines: &[&str]) -> Self {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(&format!("[{header}]\n"));
        self.lines(lines)
    }

    /// A `conductorone_demo` source: `[sources.ID]`, `type = "conductorone_demo"`, then `lines`.
    pub fn demo_with(self, id: &str, lines: &[&str]) -> Self {
        let mut all = vec![r#"type = "conductorone_demo""#];
        all.extend_from_slice(lines);
        self.table(&format!("sources.{id}"), &all)
    }

    /// A `conductorone_demo` source with its defaults (two lines).
    pub fn demo(self, id: &str) -> Self {
        self.demo_with(id, &[])
    }

    /// A `stdin` source decoding JSON lines: `[sources.ID]`, `type = "stdin"`,
    /// `decoding.codec = "json"`.
    pub fn stdin_json(self, id: &str) -> Self {
        self.table(
            &format!("sources.{id}"),
            &[r#"type = "stdin""#, r#"decoding.codec = "json""#],
        )
    }

    /// A transform: `[transforms.ID]`, `type = "KIND"`, `inputs = [...]`, then `lines`.
    pub fn transform(self, id: &str, kind: &str, inputs: &[&str], lines: &[&str]) -> Self {
        let kind = format!("type = \"{kind}\"");
        let inputs = inputs_line(inputs);
        let mut all = vec![kind.as_str(), inputs.as_str()];
        all.extend_from_slice(lines);
        self.table(&format!("transforms.{id}"), &all)
    }

    /// A `remap` transform whose program is `source` (a TOML string as written, quotes
    /// included: `"."`, `'.x = 1'`).
    pub fn remap(self, id: &str, inputs: &[&str], source: &str) -> Self {
        self.transform(id, "remap", inputs, &[&format!("source = {source}")])
    }

    /// A `console` sink writing JSON: `[sinks.ID]`, `type = "console"`, `inputs = [...]`,
    /// `encoding.codec = "json"`, then `lines`.
    pub fn console_with(self, id: &str, inputs: &[&str], lines: &[&str]) -> Self {
        self.console_inputs_as_written(id, &inputs_value(inputs), lines)
    }

    /// [`Self::console_with`] with `inputs = INPUTS` as written (to test malformed ones).
    pub fn console_inputs_as_written(self, id: &str, inputs: &str, lines: &[&str]) -> Self {
        let inputs = format!("inputs = {inputs}");
        let mut all = vec![
            r#"type = "console""#,
            inputs.as_str(),
            r#"encoding.codec = "json""#,
        ];
        all.extend_from_slice(lines);
        self.table(&format!("sinks.{id}"), &all)
    }

    /// A `console` sink writing JSON to stdout (four lines).
    pub fn console(self, id: &str, inputs: &[&str]) -> Self {
        self.console_with(id, inputs, &[])
    }

    /// A `blackhole` sink: `[sinks.ID]`, `type = "blackhole"`, `inputs = [...]`, then `lines`.
    pub fn blackhole(self, id: &str, inputs: &[&str], lines: &[&str]) -> Self {
        let inputs = inputs_line(inputs);
        let mut all = vec![r#"type = "blackhole""#, inputs.as_str()];
        all.extend_from_slice(lines);
        self.table(&format!("sinks.{id}"), &all)
    }

    /// A `splunk_hec_logs` sink sending JSON: `[sinks.ID]`, `type = "splunk_hec_logs"`,
    /// `inputs = [...]`, `endpoint = "ENDPOINT"`, `default_token = "TOKEN"`,
    /// `encoding.codec = "json"`, then `lines`.
    pub fn splunk_hec(
        self,
        id: &str,
        inputs: &[&str],
        (endpoint, token): (&str, &str),
        lines: &[&str],
    ) -> Self {
        let inputs = inputs_line(inputs);
        let endpoint = format!("endpoint = \"{endpoint}\"");
        let token = format!("default_token = \"{token}\"");
        let mut all = vec![
            r#"type = "splunk_hec_logs""#,
            &inputs,
            &endpoint,
            &token,
            r#"encoding.codec = "json""#,
        ];
        all.extend_from_slice(lines);
        self.table(&format!("sinks.{id}"), &all)
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl std::ops::Deref for Toml {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Toml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<Toml> for String {
    fn from(toml: Toml) -> String {
        toml.text
    }
}

/// `inputs = ["a", "b"]`.
pub fn inputs_line(inputs: &[&str]) -> String {
    format!("inputs = {}", inputs_value(inputs))
}

/// `["a", "b"]`.
pub fn inputs_value(inputs: &[&str]) -> String {
    let quoted: Vec<String> = inputs.iter().map(|input| format!("\"{input}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Writes `files` (name, text) in a fresh directory; returns it (deleted when dropped) and the
/// files' paths, in the same order.
pub fn write_files(files: &[(&str, &str)]) -> (tempfile::TempDir, Vec<std::path::PathBuf>) {
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
