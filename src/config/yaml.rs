//! YAML and JSON configuration files, read into the same span-carrying tree that TOML files
//! are parsed into (`toml::de::DeTable`), so that substitution, deserialization and every
//! error position work the same in the three formats.
//!
//! JSON is read by the YAML parser (JSON is YAML 1.2's flow style), after `serde_json` has
//! checked that the file is strict JSON: one parser that knows positions serves both.
//! Scalars are typed as YAML 1.2's core schema types them (`true`, `42`, `1.5`, `null`,
//! quoted text is always a string). A `null` value (`key:`, `key: ~`) counts as not set,
//! since TOML, the format the options are described in, has no null.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

/// Why a file could not be read, and where (a byte offset into its text).
#[derive(Debug)]
pub(super) struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// Where in the text.
    pub offset: usize,
}

/// Parses a YAML file's single document, which must be a mapping (or empty).
pub(super) fn parse_yaml(text: &str) -> Result<Spanned<DeTable<'_>>, SyntaxError> {
    let mut builder = Builder::new(text);
    let mut parser = Parser::new_from_str(text);
    for event in parser.by_ref() {
        let (event, span) = event.map_err(|error| SyntaxError {
            message: format!("invalid YAML: {}", error.info()),
            offset: builder.byte(error.marker().index()),
        })?;
        builder.event(event, span)?;
    }
    builder.finish()
}

/// Parses a JSON file, which must hold one object.
pub(super) fn parse_json(text: &str) -> Result<Spanned<DeTable<'_>>, SyntaxError> {
    if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        let message = error.to_string();
        // serde_json appends " at line L column C": the position goes in the location.
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(head, _)| head);
        return Err(SyntaxError {
            message: format!("invalid JSON: {message}"),
            offset: line_column_offset(text, error.line(), error.column()),
        });
    }
    if !text.trim_start().starts_with('{') {
        return Err(SyntaxError {
            message: "a JSON configuration must be an object (`{...}`)".into(),
            offset: text.len() - text.trim_start().len(),
        });
    }
    parse_yaml(text)
}

/// The byte offset of 1-based `line` and `column` (serde_json's columns count bytes).
fn line_column_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (line_start + column.saturating_sub(1)).min(text.len())
}

/// A mapping or sequence being built.
enum Frame<'t> {
    Mapping {
        table: DeTable<'t>,
        key: Option<Spanned<Cow<'t, str>>>,
        start: usize,
        anchor: usize,
    },
    Sequence {
        items: DeArray<'t>,
        start: usize,
        anchor: usize,
    },
}

/// Turns the parser's events into a tree.
struct Builder<'t> {
    text: &'t str,
    /// Byte offset of each character, when the text is not ASCII (the parser counts
    /// characters).
    char_bytes: Option<Vec<usize>>,
    stack: Vec<Frame<'t>>,
    anchors: HashMap<usize, Spanned<Option<DeValue<'t>>>>,
    root: Option<Spanned<DeTable<'t>>>,
    documents: usize,
}

impl<'t> Builder<'t> {
    fn new(text: &'t str) -> Self {
        let char_bytes = (!text.is_ascii()).then(|| {
            text.char_indices()
                .map(|(at, _)| at)
                .chain(std::iter::once(text.len()))
                .collect()
        });
        Self {
            text,
            char_bytes,
            stack: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            documents: 0,
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.char_bytes {
            Some(bytes) => bytes.get(char_index).copied().unwrap_or(self.text.len()),
            None => char_index.min(self.text.len()),
        }
    }

    fn range(&self, span: &Span) -> Range<usize> {
        self.byte(span.start.index())..self.byte(span.end.index())
    }

    fn event(&mut self, event: Event<'t>, span: Span) -> Result<(), SyntaxError> {
        let at = self.range(&span);
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(self.error("a configuration file holds one YAML document", at));
                }
            }
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Mapping {
                table: DeTable::new(),
                key: None,
                start: at.start,
                anchor,
            }),
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Sequence {
                items: DeArray::new(),
                start: at.start,
                anchor,
            }),
            Event::MappingEnd => {
                let Some(Frame::Mapping {
                    table,
                    start,
                    anchor,
                    ..
                }) = self.stack.pop()
                else {
                    unreachable!("the parser balances mappings");
                };
                let end = at.end.max(start);
                self.value(
                    Spanned::new(start..end, Some(DeValue::Table(table))),
                    anchor,
                )?;
            }
            Event::SequenceEnd => {
                let Some(Frame::Sequence {
                    items,
                    start,
                    anchor,
                }) = self.stack.pop()
                else {
                    unreachable!("the parser balances sequences");
                };
                let end = at.end.max(start);
                self.value(
                    Spanned::new(start..end, Some(DeValue::Array(items))),
                    anchor,
                )?;
            }
            Event::Scalar(value, style, anchor, tag) => {
                let forced_string = tag.is_some_and(|tag| tag.suffix == "str");
                let raw = self.text.get(at.clone()).unwrap_or_default();
                let typed = scalar(value, raw, style, forced_string);
                self.value(Spanned::new(at, typed), anchor)?;
            }
            Event::Alias(anchor) => {
                let Some(value) = self.anchors.get(&anchor).cloned() else {
                    return Err(self.error("alias to an unknown anchor", at));
                };
                // The alias's own position, so errors point where the value is used.
                self.value(Spanned::new(at, value.into_inner()), 0)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Adds a finished node to its parent (or makes it the root).
    fn value(
        &mut self,
        node: Spanned<Option<DeValue<'t>>>,
        anchor: usize,
    ) -> Result<(), SyntaxError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let span = node.span();
        match self.stack.last_mut() {
            None => match node.into_inner() {
                Some(DeValue::Table(table)) => self.root = Some(Spanned::new(span, table)),
                None => self.root = Some(Spanned::new(span, DeTable::new())),
                Some(_) => {
                    return Err(self.error(
                        "the top level of a configuration must be a mapping (`key: value`)",
                        span,
                    ));
                }
            },
            Some(Frame::Mapping { key: None, .. }) => {
                let key = match node.into_inner() {
                    Some(DeValue::String(key)) => key,
                    Some(DeValue::Integer(key)) => Cow::Owned(key.as_str().to_owned()),
                    Some(DeValue::Boolean(key)) => Cow::Owned(key.to_string()),
                    _ => return Err(self.error("a mapping key must be a plain name", span)),
                };
                let Some(Frame::Mapping { key: slot, .. }) = self.stack.last_mut() else {
                    unreachable!("matched above");
                };
                *slot = Some(Spanned::new(span, key));
            }
            Some(Frame::Mapping { table, key, .. }) => {
                let key = key.take().expect("matched above");
                if table.contains_key(key.get_ref().as_ref()) {
                    let message = format!("duplicate key `{}`", key.get_ref());
                    return Err(self.error(&message, key.span()));
                }
                // `key:` or `key: null` is an option left unset.
                if let Some(value) = node.into_inner() {
                    table.insert(key, Spanned::new(span, value));
                }
            }
            Some(Frame::Sequence { items, .. }) => match node.into_inner() {
                Some(value) => items.push(Spanned::new(span, value)),
                None => return Err(self.error("a list cannot hold `null`", span)),
            },
        }
        Ok(())
    }

    fn error(&self, message: &str, at: Range<usize>) -> SyntaxError {
        SyntaxError {
            message: message.to_owned(),
            offset: at.start,
        }
    }

    fn finish(self) -> Result<Spanned<DeTable<'t>>, SyntaxError> {
        Ok(self
            .root
            .unwrap_or_else(|| Spanned::new(0..0, DeTable::new())))
    }
}

/// The byte offset of `line`:`column` (1-based) of the text of the YAML scalar starting at
/// byte `start`: a literal block (`|`, lines indented alike) or a plain one-line scalar.
/// `None` for other styles (a folded block joins lines, so its positions are not the file's).
pub(super) fn position_in_unquoted(
    text: &str,
    start: usize,
    line: usize,
    column: usize,
) -> Option<usize> {
    let rest = text.get(start..)?;
    let column_at = |line_start: usize, skip: usize| {
        let line_text = &text[line_start..];
        let line_text = &line_text[..line_text.find('\n').unwrap_or(line_text.len())];
        line_text
            .char_indices()
            .nth(skip + column.saturating_sub(1))
            .map_or(line_start + line_text.len(), |(at, _)| line_start + at)
    };
    // The parser's span of a literal block starts at its content: the header (`|`, `|-`,
    // `|2`...) ends the line before.
    let first_line_start = text[..start].rfind('\n').map_or(0, |at| at + 1);
    let header = text[..first_line_start.saturating_sub(1)]
        .rsplit('\n')
        .next()
        .and_then(|line| line.split_whitespace().last());
    if header.is_some_and(|token| token.starts_with('|'))
        && text[first_line_start..start].trim().is_empty()
    {
        let indent = text[first_line_start..start].chars().count();
        let mut line_start = first_line_start;
        for _ in 1..line {
            line_start += text[line_start..].find('\n')? + 1;
        }
        return Some(column_at(line_start, indent));
    }
    if rest.starts_with(['|', '>', '[', '{', '"', '\'']) || line != 1 {
        return None;
    }
    Some(column_at(start, 0))
}

/// Types a scalar as YAML 1.2's core schema does; `None` is `null`. `raw` is the scalar's
/// text in the file (numbers are parsed from it, so they borrow from the file).
fn scalar<'t>(
    value: Cow<'t, str>,
    raw: &'t str,
    style: ScalarStyle,
    forced_string: bool,
) -> Option<DeValue<'t>> {
    if style != ScalarStyle::Plain || forced_string {
        return Some(DeValue::String(value));
    }
    let text = value.as_ref();
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return None,
        "true" | "True" | "TRUE" => return Some(DeValue::Boolean(true)),
        "false" | "False" | "FALSE" => return Some(DeValue::Boolean(false)),
        _ => {}
    }
    // Numbers are parsed by the TOML parser, so they deserialize exactly as in TOML files;
    // special floats are rewritten to TOML's spelling.
    let special = match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Some("inf"),
        "-.inf" | "-.Inf" | "-.INF" => Some("-inf"),
        ".nan" | ".NaN" | ".NAN" => Some("nan"),
        _ => None,
    };
    if let Some(special) = special {
        return DeValue::parse(special).ok().map(Spanned::into_inner);
    }
    if looks_numeric(text)
        && raw == text
        && let Ok(number) = DeValue::parse(raw)
        && matches!(number.get_ref(), DeValue::Integer(_) | DeValue::Float(_))
    {
        return Some(number.into_inner());
    }
    Some(DeValue::String(value))
}

/// Whether a plain scalar is a YAML core-schema number (`42`, `-1.5e3`, `0x1F`, `0o17`).
fn looks_numeric(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if let Some(hex) = text.strip_prefix("0x") {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(octal) = text.strip_prefix("0o") {
        return !octal.is_empty() && octal.chars().all(|c| ('0'..='7').contains(&c));
    }
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => digits(whole) && (fraction.is_empty() || digits(fraction)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> DeTable<'_> {
        parse_yaml(text).unwrap().into_inner()
    }

    #[test]
    fn types_scalars_as_yaml_core_schema() {
        let text =
            "a: 42\nb: -1.5\nc: true\nd: \"42\"\ne: text\nf: ~\ng: .inf\nh: 0x1F\ni: !!str 7\n";
        let root = table(text);
        assert!(root["a"].get_ref().is_integer());
        assert!(root["b"].get_ref().is_float());
        assert_eq!(root["c"].get_ref().as_bool(), Some(true));
        assert_eq!(root["d"].get_ref().as_str(), Some("42"));
        assert_eq!(root["e"].get_ref().as_str(), Some("text"));
        assert!(!root.contains_key("f"), "null is unset");
        assert!(root["g"].get_ref().is_float());
        assert!(root["h"].get_ref().is_integer());
        assert_eq!(root["i"].get_ref().as_str(), Some("7"));
    }

    #[test]
    fn spans_are_byte_offsets_of_keys_and_values() {
        let text = "# é comment\nsinks:\n  out:\n    type: console\n    inputs: [\"a\", b]\n";
        let root = table(text);
        let sinks = root["sinks"].get_ref().as_table().unwrap();
        let (key, out) = sinks.iter().next().unwrap();
        assert_eq!(&text[key.span()], "out");
        let out = out.get_ref().as_table().unwrap();
        assert_eq!(&text[out["type"].span()], "console");
        let inputs = out["inputs"].get_ref().as_array().unwrap();
        assert_eq!(&text[inputs[0].span()], "\"a\"");
        assert_eq!(&text[inputs[1].span()], "b");
    }

    #[test]
    fn anchors_and_aliases_are_copied() {
        let root = table("base: &b {codec: json}\ncopy: *b\n");
        assert!(
            root["copy"].get_ref().as_table().unwrap()["codec"]
                .get_ref()
                .is_str()
        );
    }

    #[test]
    fn rejects_what_a_config_cannot_be() {
        let error = parse_yaml("a: 1\na: 2\n").unwrap_err();
        assert!(error.message.contains("duplicate key `a`"));
        assert_eq!(error.offset, 5);
        assert!(parse_yaml("- 1\n- 2\n").is_err());
        assert!(parse_yaml("a: [\n").is_err());
        assert!(parse_yaml("a: 1\n---\nb: 2\n").is_err());
        assert!(table("").is_empty());
    }

    #[test]
    fn positions_inside_block_and_plain_scalars() {
        let text = "source: |\n  .a = 1\n  .b = oops\ncondition: .x == 1\n";
        let root = table(text);
        let start = root["source"].span().start;
        let at = position_in_unquoted(text, start, 2, 6).unwrap();
        assert_eq!(&text[at..at + 4], "oops");
        let start = root["condition"].span().start;
        assert_eq!(start, text.find(".x").unwrap());
        let at = position_in_unquoted(text, start, 1, 4).unwrap();
        assert_eq!(&text[at..at + 2], "==");
        assert_eq!(position_in_unquoted(text, start, 2, 1), None);
    }

    #[test]
    fn json_is_strict_and_positioned() {
        let root = parse_json("{\"a\": {\"b\": [1, 2.5, \"x\"]}}")
            .unwrap()
            .into_inner();
        assert!(root["a"].get_ref().is_table());
        let text = "{\n  \"a\": 1,\n}";
        let error = parse_json(text).unwrap_err();
        assert!(
            error.message.starts_with("invalid JSON: "),
            "{}",
            error.message
        );
        assert_eq!(&text[error.offset..], "}");
        assert!(parse_json("[1]").is_err());
    }
}
