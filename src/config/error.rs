//! Configuration errors that point at the file, line and column, the component and field,
//! and say what would fix them.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A position in a configuration file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: Arc<Path>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The text of that line, for the snippet under the message.
    pub line_text: String,
}

impl Location {
    /// The location of byte `offset` in `text`, which was read from `file`.
    ///
    /// Scans `text` up to `offset`: for one-off positions. A caller that needs many positions
    /// in one file uses a [`LineIndex`] (scanning per position is quadratic in the file).
    pub fn from_offset(file: &Arc<Path>, text: &str, offset: usize) -> Self {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Self::at_line(file, text, offset, line, line_start)
    }

    /// The location of byte `offset` of `text`, which starts line `line` at `line_start`.
    fn at_line(
        file: &Arc<Path>,
        text: &str,
        offset: usize,
        line: usize,
        line_start: usize,
    ) -> Self {
        let column = text[line_start..offset].chars().count() + 1;
        let line_end = text[line_start..]
            .find('\n')
            .map_or(text.len(), |i| line_start + i);
        Self {
            file: Arc::clone(file),
            line,
            column,
            line_text: text[line_start..line_end].trim_end_matches('\r').to_owned(),
        }
    }
}

/// Where each line of a text starts, to turn many byte offsets into locations in
/// logarithmic time each.
#[derive(Clone, Debug)]
pub struct LineIndex {
    /// Byte offset of the start of each line; the first is 0.
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text`'s lines (one pass).
    pub fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|at| at + 1))
            .collect();
        Self { starts }
    }

    /// The location of byte `offset` in `text` (the text this index was built from).
    pub fn location(&self, file: &Arc<Path>, text: &str, offset: usize) -> Location {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        // The last line starting at or before `offset`.
        let line = self.starts.partition_point(|start| *start <= offset);
        Location::at_line(file, text, offset, line, self.starts[line - 1])
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One problem found in the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Where in which file, when known.
    pub location: Option<Location>,
    /// The component (`sources.c1`), when the problem belongs to one.
    pub component: Option<String>,
    /// The field inside the component (`decoding.codec`), when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What would fix it.
    pub help: Option<String>,
}

impl ConfigError {
    /// An error with only a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            location: None,
            component: None,
            field: None,
            message: message.into(),
            help: None,
        }
    }

    /// Sets the position.
    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    /// Sets the component (for example `sinks.splunk`).
    pub fn component(mut self, component: impl Into<String>) -> Self {
        self.component = Some(component.into());
        self
    }

    /// Sets the field path inside the component.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds a hint on how to fix the problem.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        match (&self.component, &self.field) {
            (Some(component), Some(field)) => write!(f, "{component}, field `{field}`: ")?,
            (Some(component), None) => write!(f, "{component}: ")?,
            (None, Some(field)) => write!(f, "field `{field}`: ")?,
            (None, None) => {}
        }
        // A value from a secret backend may have ended up in a message (an option's value
        // quoted by serde, an invalid URL): hidden like every secret the process holds.
        f.write_str(&crate::secrets::hide(&self.message))?;
        if let Some(location) = &self.location {
            let gutter = location.line.to_string().len();
            write!(
                f,
                "\n {:gutter$} |\n {} | {}\n {:gutter$} | {:>col$}",
                "",
                location.line,
                location.line_text,
                "",
                "^",
                col = location.column
            )?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Every problem found while loading a configuration (loading goes on after the first one
/// so that a user fixes them all in one pass).
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("\n\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self(vec![error])
    }
}

/// The candidate closest to `input`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(input, candidate), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}
