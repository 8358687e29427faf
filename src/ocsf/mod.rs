//! Reading OCSF events: the fields every component needs, read one way everywhere.
//!
//! OCSF `time` is epoch milliseconds. ConductorOne's API sends numbers through a protobuf
//! `Struct`, so `time` may arrive as a double (`1767225600123.0`): every reader here accepts a
//! finite float as well as an integer, and truncates it to whole milliseconds.

use vrl::value::Value;

pub(crate) mod derive;
pub(crate) mod numbers;
pub mod schema;
pub(crate) mod validate;

/// The text of a string value (`Bytes` that are UTF-8 count as text too).
pub(crate) fn str_value(value: &Value) -> Option<&str> {
    match value {
        Value::String(text) => Some(text),
        Value::Bytes(bytes) => std::str::from_utf8(bytes).ok(),
        _ => None,
    }
}

/// `metadata.uid` of an event, the id ConductorOne gives every event.
pub(crate) fn event_uid(event: &Value) -> Option<&str> {
    let Value::Object(object) = event else {
        return None;
    };
    let Some(Value::Object(metadata)) = object.get("metadata") else {
        return None;
    };
    str_value(metadata.get("uid")?)
}

/// `time` of an event, in epoch milliseconds: an integer, or a finite float (truncated).
pub(crate) fn event_time_millis(event: &Value) -> Option<i64> {
    let Value::Object(object) = event else {
        return None;
    };
    match object.get("time")? {
        Value::Integer(ms) => Some(*ms),
        Value::Float(ms) if ms.is_finite() => Some(ms.into_inner() as i64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> Value {
        serde_json::from_str(json).expect("valid JSON")
    }

    #[test]
    fn uid_and_time_are_read_from_their_ocsf_places() {
        let e = event(r#"{"time": 1767225600123, "metadata": {"uid": "u-1"}}"#);
        assert_eq!(event_uid(&e), Some("u-1"));
        assert_eq!(event_time_millis(&e), Some(1_767_225_600_123));
        // Through a protobuf Struct, numbers are doubles.
        let e = event(r#"{"time": 1767225600123.0, "metadata": {"uid": 7}}"#);
        assert_eq!(event_time_millis(&e), Some(1_767_225_600_123));
        assert_eq!(event_uid(&e), None);
        for other in [r#"{"time": "2026-01-01"}"#, r#"{"uid": "x"}"#, "[]"] {
            let e = event(other);
            assert_eq!(event_time_millis(&e), None, "{other}");
            assert_eq!(event_uid(&e), None, "{other}");
        }
    }
}
