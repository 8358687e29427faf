//! Object keys: the `key_prefix` template (strftime on the event's time plus `{{ field }}`
//! values) and the object name after it.
//!
//! strftime applies to the literal text only; values taken from events are inserted verbatim
//! after they pass the confinement check, so an event cannot inject `%` sequences or path
//! segments that leave its prefix (`..`, `.`, empty segments, control characters).

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Utc};
use vrl::compiler::TimeZone;
use vrl::value::Value;

use crate::component::BuildError;
use crate::template::{Template, TemplateRenderError, TimeKey, event_time};

/// A parsed `key_prefix`.
#[derive(Clone, Debug)]
pub(crate) struct KeyTemplate {
    template: Template,
    has_time: bool,
    /// Where strftime specifiers read the event's time (`log_schema.timestamp_key`).
    time_key: TimeKey,
    /// The zone strftime specifiers are formatted in (`timezone`; default UTC).
    zone: TimeZone,
}

/// Why an event's key could not be rendered; the event is rejected, not written.
pub(crate) type KeyError = TemplateRenderError;

impl KeyTemplate {
    /// Parses a template; `option` names it in errors.
    pub(crate) fn parse(text: &str, option: &str) -> Result<Self, BuildError> {
        let template = Template::parse(text).map_err(|error| {
            BuildError::field(option, error.to_string()).help("write fields as `{{ field.path }}`")
        })?;
        let has_time = template.uses_time().map_err(|message| {
            BuildError::field(option, message).help(
                "see chrono's strftime specifiers, e.g. `%Y/%m/%d/%H`; write `%%` for a literal `%`",
            )
        })?;
        Ok(Self {
            template,
            has_time,
            time_key: TimeKey::default(),
            zone: crate::template::parse_timezone("timezone", None)?,
        })
    }

    /// Reads the event's time from `time_key` instead of `timestamp`.
    pub(crate) fn with_time_key(mut self, time_key: TimeKey) -> Self {
        self.time_key = time_key;
        self
    }

    /// The time `event`'s strftime specifiers are formatted at ([`event_time`]).
    pub(crate) fn event_time(&self, event: &Value, now: DateTime<Utc>) -> DateTime<Utc> {
        event_time(event, &self.time_key, now)
    }

    /// Formats strftime specifiers in `zone` instead of UTC.
    pub(crate) fn in_zone(mut self, zone: TimeZone) -> Self {
        self.zone = zone;
        self
    }

    /// Whether rendering needs a time (the template has strftime specifiers).
    pub(crate) fn uses_time(&self) -> bool {
        self.has_time
    }

    /// Renders the template for `event` at `time` into `out` (cleared first): strftime on the
    /// literal text, field values verbatim once [`confine`] accepts them.
    pub(crate) fn render(
        &self,
        event: &Value,
        time: DateTime<Utc>,
        out: &mut String,
    ) -> Result<(), KeyError> {
        out.clear();
        self.template
            .render_at(event, time, &self.zone, out, confine)
    }
}

/// Rejects values that would escape their place in the key.
fn confine(field: &str, value: &str) -> Result<(), KeyError> {
    let fail = |why| {
        Err(KeyError::Unconfined {
            path: field.to_owned(),
            value: value.to_owned(),
            why,
        })
    };
    if value.chars().any(char::is_control) {
        return fail("put control characters in the key");
    }
    for segment in value.split('/') {
        match segment {
            "" => return fail("make an empty path segment"),
            "." | ".." => return fail("make a relative path segment (`.` or `..`)"),
            _ => {}
        }
    }
    Ok(())
}

/// How object names are formed after the prefix: `<time>-<uuid>.<extension>` as in Vector.
#[derive(Clone, Debug)]
pub(crate) struct ObjectNaming {
    /// `filename_time_format` (upload time, strftime); empty for none.
    pub time_format: String,
    /// `filename_append_uuid`.
    pub append_uuid: bool,
    /// The extension without the leading dot (`log.gz`); empty for none.
    pub extension: String,
}

impl ObjectNaming {
    /// The full key of a new object under `prefix`, named at `now`.
    pub(crate) fn key(&self, prefix: &str, now: DateTime<Utc>) -> String {
        let mut name = if self.time_format.is_empty() {
            String::new()
        } else {
            now.format(&self.time_format).to_string()
        };
        if !name.is_empty() {
            name.push('-');
        }
        if self.append_uuid {
            name.push_str(&uuid::Uuid::new_v4().to_string());
        } else {
            // Two objects sealed in the same second under one prefix would otherwise get the
            // same key, and the second would silently replace the first.
            static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            name.push_str(&n.to_string());
        }
        let mut key = String::with_capacity(prefix.len() + name.len() + 8);
        key.push_str(prefix);
        key.push_str(&name);
        if !self.extension.is_empty() {
            key.push('.');
            key.push_str(&self.extension);
        }
        key
    }

    /// Checks `filename_time_format`.
    pub(crate) fn check(&self) -> Result<(), BuildError> {
        if StrftimeItems::new(&self.time_format).any(|item| matches!(item, Item::Error)) {
            return Err(BuildError::field(
                "filename_time_format",
                format!("{:?} has an invalid strftime specifier", self.time_format),
            ));
        }
        if self.time_format.is_empty() && !self.append_uuid {
            return Err(BuildError::field(
                "filename_append_uuid",
                "with an empty `filename_time_format` and no UUID every object would have the same key",
            )
            .help("keep `filename_append_uuid = true` or set a `filename_time_format`"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> Value {
        serde_json::from_str::<serde_json::Value>(json)
            .unwrap()
            .into()
    }

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    #[test]
    fn strftime_uses_the_event_time_and_fields_are_inserted_verbatim() {
        let template =
            KeyTemplate::parse("ocsf/class={{ class_uid }}/%Y/%m/%d/", "key_prefix").unwrap();
        let event = event(r#"{"class_uid": 6003, "time": 1767225599999}"#);
        let mut out = String::new();
        let time = template.event_time(&event, at(0));
        template.render(&event, time, &mut out).unwrap();
        assert_eq!(out, "ocsf/class=6003/2025/12/31/");
    }

    #[test]
    fn the_timestamp_field_wins_over_ocsf_time_and_now_is_the_last_resort() {
        let now = at(5);
        let both = event(r#"{"timestamp": "2026-03-01T10:00:00Z", "time": 1767225600000}"#);
        let key = TimeKey::default();
        assert_eq!(event_time(&both, &key, now), at(1_772_359_200_000));
        let float = event(r#"{"time": 1767225600123.0}"#);
        assert_eq!(event_time(&float, &key, now), at(1_767_225_600_123));
        assert_eq!(event_time(&event(r#"{"x": 1}"#), &key, now), now);
        // `log_schema.timestamp_key = "meta.at"`: that field, not `timestamp`.
        let key = TimeKey::parse(Some("meta.at")).unwrap();
        let moved = event(
            r#"{"timestamp": "2026-03-01T10:00:00Z", "meta": {"at": "2026-04-01T00:00:00Z"}}"#,
        );
        assert_eq!(event_time(&moved, &key, now), at(1_775_001_600_000));
    }

    #[test]
    fn values_that_escape_their_prefix_are_refused() {
        let template = KeyTemplate::parse("t/{{ tenant }}/", "key_prefix").unwrap();
        let mut out = String::new();
        for bad in ["..", "a/../b", "", "a//b", "/abs", "x\ny", "."] {
            let event = event(&serde_json::json!({ "tenant": bad }).to_string());
            let error = template.render(&event, at(0), &mut out).unwrap_err();
            assert!(matches!(error, KeyError::Unconfined { .. }), "{bad:?}");
        }
        let error = template.render(&event("{}"), at(0), &mut out).unwrap_err();
        assert_eq!(error, KeyError::Missing("tenant".into()));
        let fine = event(r#"{"tenant": "acme/eu-1"}"#);
        template.render(&fine, at(0), &mut out).unwrap();
        assert_eq!(out, "t/acme/eu-1/");
    }

    #[test]
    fn values_are_not_strftime_formatted() {
        let template = KeyTemplate::parse("{{ name }}", "key_prefix").unwrap();
        let mut out = String::new();
        template
            .render(&event(r#"{"name": "100%Y"}"#), at(0), &mut out)
            .unwrap();
        assert_eq!(out, "100%Y");
    }

    #[test]
    fn bad_templates_are_configuration_errors() {
        assert!(KeyTemplate::parse("date=%Q", "key_prefix").is_err());
        assert!(KeyTemplate::parse("a/{{ b", "key_prefix").is_err());
        assert!(KeyTemplate::parse("a/{{ }}", "key_prefix").is_err());
    }

    #[test]
    fn object_names_follow_vector() {
        let naming = ObjectNaming {
            time_format: "%s".into(),
            append_uuid: true,
            extension: "log.gz".into(),
        };
        let key = naming.key("date=2026-01-01/", at(1_767_225_600_000));
        assert!(key.starts_with("date=2026-01-01/1767225600-"), "{key}");
        assert!(key.ends_with(".log.gz"));
        assert_eq!(key.len(), "date=2026-01-01/1767225600-".len() + 36 + 7);
    }

    #[test]
    fn without_a_uuid_names_in_the_same_second_still_differ() {
        let naming = ObjectNaming {
            time_format: "%s".into(),
            append_uuid: false,
            extension: "log".into(),
        };
        let now = at(1_767_225_600_000);
        let first = naming.key("p/", now);
        let second = naming.key("p/", now);
        assert_ne!(first, second);
        assert!(
            first.starts_with("p/1767225600-") && first.ends_with(".log"),
            "{first}"
        );
    }
}
