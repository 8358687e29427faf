//! `{{ field.path }}` templates for routing options (HEC `index` / `source` / `sourcetype`,
//! the S3 `key_prefix`), with Vector's syntax for field references.
//!
//! A template is literal text with field references in double braces. Rendering looks each
//! path up in the event; a missing field, `null`, an object or an array cannot be rendered, and
//! the caller decides what happens to that event (the HEC sink rejects it, logged and counted,
//! rather than sending it somewhere unintended). As in Vector, literal text holding `%` is a
//! strftime format, applied to the event's time ([`event_time`]) in the option's time zone
//! ([`Template::render_at`]); values taken from events are inserted verbatim, never formatted.

use std::borrow::Cow;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Utc};
use vrl::compiler::TimeZone;
use vrl::path::{OwnedValuePath, parse_value_path};
use vrl::value::Value;

/// Why a template could not be parsed (a configuration error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TemplateParseError {
    /// `{{` without a matching `}}`.
    #[error("`{{{{` at byte {0} has no closing `}}}}`")]
    Unclosed(usize),
    /// `{{ }}` with nothing inside.
    #[error("empty field reference `{{{{ }}}}` at byte {0}")]
    Empty(usize),
    /// The text between the braces is not a field path.
    #[error("invalid field path `{path}`: {message}")]
    InvalidPath {
        /// The text between the braces.
        path: String,
        /// Why it is not a path.
        message: String,
    },
}

/// Why a template could not be rendered for one event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TemplateRenderError {
    /// The field is absent (or `null`).
    #[error("field `{0}` is missing")]
    Missing(String),
    /// The field holds an object or array, which has no text form for routing.
    #[error("field `{path}` is {kind}, not a string or number")]
    NotScalar {
        /// The field path as written in the template.
        path: String,
        /// What it holds.
        kind: &'static str,
    },
    /// The value would leave its place in the rendered text (see the S3 `key_prefix`).
    #[error("field `{path}` has the value {value:?}, which would {why}")]
    Unconfined {
        /// The field path as written in the template.
        path: String,
        /// The offending value.
        value: String,
        /// What it would do.
        why: &'static str,
    },
}

/// One piece of a template.
#[derive(Clone, Debug, PartialEq)]
enum Part {
    Literal(Literal),
    Field { path: OwnedValuePath, text: String },
}

/// Literal text of a template.
#[derive(Clone, Debug, PartialEq)]
struct Literal {
    text: String,
    /// The text's strftime items, parsed once, when it has valid specifiers (an S3 key
    /// prefix's `%Y%m%d` is formatted for every event).
    strftime: Option<Vec<Item<'static>>>,
}

impl Literal {
    fn new(text: &str) -> Self {
        let strftime = text
            .contains('%')
            .then(|| StrftimeItems::new(text).parse_to_owned().ok())
            .flatten();
        Self {
            text: text.to_owned(),
            strftime,
        }
    }
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`. Text without `{{` is a constant.
    pub(crate) fn parse(text: &str) -> Result<Self, TemplateParseError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(Literal::new(&rest[..start])));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or(TemplateParseError::Unclosed(offset + start))?;
            let inner = after[..end].trim();
            if inner.is_empty() {
                return Err(TemplateParseError::Empty(offset + start));
            }
            // Vector writes paths with or without the leading dot: accept both.
            let path_text = inner.strip_prefix('.').unwrap_or(inner);
            let path =
                parse_value_path(path_text).map_err(|error| TemplateParseError::InvalidPath {
                    path: inner.to_owned(),
                    message: error.to_string(),
                })?;
            parts.push(Part::Field {
                path,
                text: path_text.to_owned(),
            });
            let consumed = start + 2 + end + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(Literal::new(rest)));
        }
        Ok(Self {
            source: text.to_owned(),
            parts,
        })
    }

    /// Whether the template has no field reference (renders the same for every event).
    pub(crate) fn is_constant(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// Renders the template for `event`. Constant templates borrow their text.
    pub(crate) fn render<'a>(&'a self, event: &Value) -> Result<Cow<'a, str>, TemplateRenderError> {
        if self.is_constant() {
            return Ok(Cow::Borrowed(&self.source));
        }
        let mut out = String::new();
        self.render_with(
            event,
            &mut out,
            |literal, out| out.push_str(&literal.text),
            |_, _| Ok(()),
        )?;
        Ok(Cow::Owned(out))
    }

    /// The literal pieces of the template (strftime formats them for the S3 `key_prefix`).
    fn literal_parts(&self) -> impl Iterator<Item = &Literal> {
        self.parts.iter().filter_map(|part| match part {
            Part::Literal(literal) => Some(literal),
            Part::Field { .. } => None,
        })
    }

    /// Renders the template for `event`, formatting strftime specifiers of the literal text
    /// at the event's time ([`event_time`], read from `time_key`) in `zone`. Constant
    /// templates without specifiers borrow their text.
    pub(crate) fn render_timed<'a>(
        &'a self,
        event: &Value,
        time_key: &TimeKey,
        zone: &TimeZone,
    ) -> Result<Cow<'a, str>, TemplateRenderError> {
        // Literals with invalid specifiers (refused by `uses_time` at start) render as text.
        if !self
            .literal_parts()
            .any(|literal| literal.strftime.is_some())
        {
            return self.render(event);
        }
        let mut out = String::new();
        let time = event_time(event, time_key, Utc::now());
        self.render_at(event, time, zone, &mut out, |_, _| Ok(()))?;
        Ok(Cow::Owned(out))
    }

    /// Whether literal text holds strftime specifiers (`%Y`); an error names the literal
    /// whose specifiers are invalid.
    pub(crate) fn uses_time(&self) -> Result<bool, String> {
        let mut uses = false;
        for literal in self.literal_parts().filter(|l| l.text.contains('%')) {
            // `Literal::new` parsed the specifiers; `None` here means they were invalid.
            if literal.strftime.is_none() {
                let text = &literal.text;
                return Err(format!("{text:?} has an invalid strftime specifier"));
            }
            uses = true;
        }
        Ok(uses)
    }

    /// Renders into `out` (appending) with the literal text formatted by strftime at `time` in
    /// `zone`, and each field's text checked by `check`. Call only on templates whose
    /// [`uses_time`](Self::uses_time) succeeded.
    pub(crate) fn render_at(
        &self,
        event: &Value,
        time: DateTime<Utc>,
        zone: &TimeZone,
        out: &mut String,
        check: impl FnMut(&str, &str) -> Result<(), TemplateRenderError>,
    ) -> Result<(), TemplateRenderError> {
        use std::fmt::Write as _;
        self.render_with(
            event,
            out,
            |literal, out| {
                let Some(items) = &literal.strftime else {
                    out.push_str(&literal.text);
                    return;
                };
                let items = items.iter();
                // Checked by `uses_time`, so formatting cannot fail.
                let _ = match zone {
                    TimeZone::Local => {
                        let time = time.with_timezone(&chrono::Local);
                        write!(out, "{}", time.format_with_items(items))
                    }
                    TimeZone::Named(tz) => {
                        write!(out, "{}", time.with_timezone(tz).format_with_items(items))
                    }
                };
            },
            check,
        )
    }

    /// Renders into `out` (appending): each literal piece goes through `literal`, and each
    /// field's text through `check` (with the field path) before it is appended verbatim.
    fn render_with(
        &self,
        event: &Value,
        out: &mut String,
        mut literal: impl FnMut(&Literal, &mut String),
        mut check: impl FnMut(&str, &str) -> Result<(), TemplateRenderError>,
    ) -> Result<(), TemplateRenderError> {
        for part in &self.parts {
            match part {
                Part::Literal(text) => literal(text, out),
                Part::Field { path, text } => {
                    let value = field_text(text, event.get(path))?;
                    check(text, &value)?;
                    out.push_str(&value);
                }
            }
        }
        Ok(())
    }
}

/// The field strftime specifiers read an event's time from: `log_schema.timestamp_key`
/// (default `timestamp`), as in Vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TimeKey(OwnedValuePath);

impl TimeKey {
    /// The field `key` (`log_schema.timestamp_key`; `None` for Vector's `timestamp`).
    pub(crate) fn parse(key: Option<&str>) -> Result<Self, crate::component::BuildError> {
        let key = key.unwrap_or(crate::config::globals::TIMESTAMP_KEY);
        let path = parse_value_path(key.strip_prefix('.').unwrap_or(key)).map_err(|error| {
            crate::component::BuildError::field(
                "log_schema.timestamp_key",
                format!("invalid field path `{key}`: {error}"),
            )
        })?;
        Ok(Self(path))
    }
}

impl Default for TimeKey {
    fn default() -> Self {
        Self::parse(None).expect("`timestamp` is a path")
    }
}

/// The time an event's strftime specifiers are formatted at: the `key` field (a timestamp or
/// an RFC 3339 string) as in Vector, else the OCSF `time` field (epoch milliseconds), else
/// `now`.
pub(crate) fn event_time(event: &Value, key: &TimeKey, now: DateTime<Utc>) -> DateTime<Utc> {
    if let Value::Object(_) = event {
        match event.get(&key.0) {
            Some(Value::Timestamp(t)) => return *t,
            Some(text @ (Value::Bytes(_) | Value::String(_))) => {
                if let Some(t) = text
                    .to_str_lossy()
                    .and_then(|text| DateTime::parse_from_rfc3339(&text).ok())
                {
                    return t.with_timezone(&Utc);
                }
            }
            _ => {}
        }
        let millis = crate::ocsf::event_time_millis(event);
        if let Some(t) = millis.and_then(DateTime::<Utc>::from_timestamp_millis) {
            return t;
        }
    }
    now
}

/// A `timezone` option (Vector's: `local` or a TZ database name), checked; `None` gives UTC.
pub(crate) fn parse_timezone(
    field: &str,
    name: Option<&str>,
) -> Result<TimeZone, crate::component::BuildError> {
    match name {
        None => Ok(TimeZone::parse("UTC").expect("UTC is in the TZ database")),
        Some(name) => TimeZone::parse(name).ok_or_else(|| {
            crate::component::BuildError::field(field, format!("unknown time zone `{name}`"))
                .help("use `local` or a TZ database name such as `UTC` or `Europe/Paris`")
        }),
    }
}

/// The text form of a field's value, or why it has none.
fn field_text<'a>(
    path: &str,
    value: Option<&'a Value>,
) -> Result<Cow<'a, str>, TemplateRenderError> {
    match value {
        None | Some(Value::Null) => Err(TemplateRenderError::Missing(path.to_owned())),
        Some(Value::Bytes(bytes)) => Ok(String::from_utf8_lossy(bytes)),
        Some(Value::Object(_)) => Err(TemplateRenderError::NotScalar {
            path: path.to_owned(),
            kind: "an object",
        }),
        Some(Value::Array(_)) => Err(TemplateRenderError::NotScalar {
            path: path.to_owned(),
            kind: "an array",
        }),
        Some(other) => Ok(other.to_string_lossy()),
    }
}

impl std::fmt::Display for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: serde_json::Value) -> Value {
        serde_json::from_value(json).expect("a JSON value is a VRL value")
    }

    #[test]
    fn constant_templates_render_as_written() {
        let template = Template::parse("main").unwrap();
        assert!(template.is_constant());
        let rendered = template.render(&event(serde_json::json!({}))).unwrap();
        assert!(matches!(rendered, Cow::Borrowed("main")));
    }

    #[test]
    fn fields_are_substituted_with_or_without_a_leading_dot() {
        let template = Template::parse("ocsf_{{ class_uid }}-{{.actor.user.name}}").unwrap();
        assert!(!template.is_constant());
        let value = event(serde_json::json!({
            "class_uid": 6003,
            "actor": { "user": { "name": "ada" } }
        }));
        assert_eq!(template.render(&value).unwrap(), "ocsf_6003-ada");
        let flag = Template::parse("{{ ok }}").unwrap();
        assert_eq!(
            flag.render(&event(serde_json::json!({"ok": true})))
                .unwrap(),
            "true"
        );
    }

    #[test]
    fn missing_null_and_structured_fields_do_not_render() {
        let template = Template::parse("idx_{{ tenant }}").unwrap();
        assert_eq!(
            template.render(&event(serde_json::json!({}))),
            Err(TemplateRenderError::Missing("tenant".into()))
        );
        assert_eq!(
            template.render(&event(serde_json::json!({"tenant": null}))),
            Err(TemplateRenderError::Missing("tenant".into()))
        );
        assert_eq!(
            template.render(&event(serde_json::json!({"tenant": {"a": 1}}))),
            Err(TemplateRenderError::NotScalar {
                path: "tenant".into(),
                kind: "an object"
            })
        );
        assert!(matches!(
            template.render(&event(serde_json::json!({"tenant": [1]}))),
            Err(TemplateRenderError::NotScalar { .. })
        ));
    }

    #[test]
    fn malformed_templates_are_configuration_errors() {
        assert_eq!(
            Template::parse("a{{ b"),
            Err(TemplateParseError::Unclosed(1))
        );
        assert_eq!(
            Template::parse("x{{  }}"),
            Err(TemplateParseError::Empty(1))
        );
        assert!(matches!(
            Template::parse("{{ a..b }}"),
            Err(TemplateParseError::InvalidPath { .. })
        ));
    }
}
