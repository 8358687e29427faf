//! Integral floats back to integers wherever the OCSF schema types a field as an integer.
//!
//! ConductorOne's API may send its events through a protobuf `Struct`, in which case every
//! JSON number arrives as a double (`"time": 1767225600123.0`, `"count": 3.0`; team notes on
//! the ConductorOne API §3.1, "Number types", unverified against a tenant). OCSF types
//! timestamps (`time`, `start_time`, `metadata.logged_time`, ...), enum ids, `count`,
//! `duration`, `api.response.code`, ports and many more as `integer_t`, `long_t` or
//! `timestamp_t`, and VRL programs, SIEM field extractions and Parquet columns expect
//! integers there.
//!
//! [`integers_from_floats`] walks an event along its class in the embedded schema (the
//! version of `metadata.version` when embedded, else [`schema::DEFAULT_VERSION`]; the class of
//! `class_uid`, else the base event): a float that is integral and fits an `i64`, in an
//! attribute whose type is integral (or in an array of them), becomes an integer, and objects
//! are followed into their object type. Where the schema types nothing (a free-form object
//! such as `unmapped`, an attribute the version does not have), the rule the source used
//! before the schema was consulted still applies: a key `time`, or one ending in `_time`,
//! `_id` or `_uid`. Everything else (numbers in `float_t` attributes, non-integral floats,
//! numeric strings) is left as the API sent it.

use vrl::value::{ObjectMap, Value};

use super::derive::as_integer;
use super::schema::{AttributeSet, Schema, ValueType};

/// Objects deeper than this are left alone (real events nest about ten levels; the bound
/// keeps the walk's stack small whatever the event).
const MAX_DEPTH: usize = 128;

/// Turns integral floats into integers where OCSF (or, off the schema, the field's name)
/// says the field is an integer; see the module documentation.
pub(crate) fn integers_from_floats(event: &mut Value) {
    let schema = super::validate::schema_for(event, None);
    let Value::Object(map) = event else {
        return;
    };
    let Ok(schema) = schema else {
        by_name(map, 0);
        return;
    };
    let class = map
        .get("class_uid")
        .and_then(as_integer)
        .and_then(|uid| schema.class(uid))
        .or_else(|| schema.class(0));
    match class {
        Some(class) => typed(map, &class.attributes, schema, 0),
        None => by_name(map, 0),
    }
}

/// Whether a schema type holds integers.
fn is_integral(value_type: ValueType) -> bool {
    matches!(
        value_type,
        ValueType::Integer { .. } | ValueType::Long | ValueType::Timestamp
    )
}

/// The off-schema rule: OCSF's naming of integer fields.
fn is_integer_name(key: &str) -> bool {
    key == "time" || key.ends_with("_time") || key.ends_with("_id") || key.ends_with("_uid")
}

/// `value` as an integer when it is an integral float in range.
fn to_integer(value: &mut Value) {
    if let Value::Float(_) = value
        && let Some(integer) = as_integer(value)
    {
        *value = Value::Integer(integer);
    }
}

/// Walks an object whose attributes are `set`.
fn typed(map: &mut ObjectMap, set: &AttributeSet, schema: &'static Schema, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    for (key, field) in map.iter_mut() {
        // Strings, integers and booleans need nothing: only look up what may change.
        if !matches!(field, Value::Float(_) | Value::Object(_) | Value::Array(_)) {
            continue;
        }
        let Some(attribute) = set.get(key.as_str()) else {
            off_schema(key.as_str(), field, depth);
            continue;
        };
        match attribute.value_type {
            kind if is_integral(kind) => match field {
                Value::Array(items) => items.iter_mut().for_each(to_integer),
                other => to_integer(other),
            },
            ValueType::Object(id) => {
                let attributes = &schema.object(id).attributes;
                match field {
                    Value::Object(inner) => typed(inner, attributes, schema, depth + 1),
                    Value::Array(items) => {
                        for item in items {
                            if let Value::Object(inner) = item {
                                typed(inner, attributes, schema, depth + 1);
                            }
                        }
                    }
                    _ => {}
                }
            }
            ValueType::AnyObject | ValueType::Json => off_schema(key.as_str(), field, depth),
            _ => {}
        }
    }
}

/// A field the schema does not type: the name rule, for it and everything below it.
fn off_schema(key: &str, field: &mut Value, depth: usize) {
    match field {
        Value::Float(_) if is_integer_name(key) => to_integer(field),
        Value::Object(inner) => by_name(inner, depth + 1),
        Value::Array(items) => {
            for item in items {
                off_schema(key, item, depth + 1);
            }
        }
        _ => {}
    }
}

/// Walks an object off the schema, by field names only.
fn by_name(map: &mut ObjectMap, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    for (key, field) in map.iter_mut() {
        off_schema(key.as_str(), field, depth);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Value {
        crate::codecs::json::from_bytes(&bytes::Bytes::copy_from_slice(json.as_bytes()))
            .expect("json")
    }

    #[test]
    fn every_integer_typed_attribute_of_the_class_becomes_an_integer() {
        let mut event = parse(
            r#"{"class_uid":6003.0,"activity_id":3.0,"time":1767225600123.0,"count":2.0,
                "duration":12.0,"start_time":1767225600000.0,"severity_id":1.0,
                "metadata":{"version":"1.3.0","uid":"abc","logged_time":1767225600200.0},
                "api":{"operation":"Apps/Update","response":{"code":200.0}},
                "src_endpoint":{"ip":"192.0.2.1","port":443.0},
                "resources":[{"type":"App","uid":"x"}],
                "observables":[{"type_id":2.0,"name":"n","value":"v"}],
                "unmapped":{"result_count":12.0,"object_id":7.0,"ratio":1.5},
                "custom":{"thing_uid":4.0,"size":3.0},
                "status_id":"1","big_id":1e300,"weird_time":1.5}"#,
        );
        integers_from_floats(&mut event);
        assert_eq!(
            event,
            parse(
                r#"{"class_uid":6003,"activity_id":3,"time":1767225600123,"count":2,
                "duration":12,"start_time":1767225600000,"severity_id":1,
                "metadata":{"version":"1.3.0","uid":"abc","logged_time":1767225600200},
                "api":{"operation":"Apps/Update","response":{"code":200}},
                "src_endpoint":{"ip":"192.0.2.1","port":443},
                "resources":[{"type":"App","uid":"x"}],
                "observables":[{"type_id":2,"name":"n","value":"v"}],
                "unmapped":{"result_count":12.0,"object_id":7,"ratio":1.5},
                "custom":{"thing_uid":4,"size":3.0},
                "status_id":"1","big_id":1e300,"weird_time":1.5}"#
            )
        );
    }

    #[test]
    fn float_attributes_stay_floats_and_unknown_classes_use_the_base_event() {
        // `confidence_score` is not an integer anywhere; `count` is, in the base event.
        let mut event = parse(
            r#"{"class_uid":999999.0,"count":5.0,"time":1.0,"metadata":{"version":"9.9"},
                "x":{"y_id":1.0,"z":2.0}}"#,
        );
        integers_from_floats(&mut event);
        assert_eq!(
            event,
            parse(
                r#"{"class_uid":999999,"count":5,"time":1,"metadata":{"version":"9.9"},
                "x":{"y_id":1,"z":2.0}}"#
            )
        );
        // No class at all (a product event without one): the base event's attributes.
        let mut event = parse(r#"{"activity_name":"mcp_session_end","duration":900.0}"#);
        integers_from_floats(&mut event);
        assert_eq!(
            event,
            parse(r#"{"activity_name":"mcp_session_end","duration":900}"#)
        );
    }

    #[test]
    fn arrays_of_integers_and_deep_nesting_are_safe() {
        let deep = format!(
            r#"{{"class_uid":6003,"unmapped":{}1.0{}}}"#,
            r#"{"a_id":"#.repeat(300),
            "}".repeat(300)
        );
        let mut event = parse(&deep);
        integers_from_floats(&mut event);
        let mut event = parse(r#"{"class_uid":4001,"src_endpoint":{"port":80.0}}"#);
        integers_from_floats(&mut event);
        assert_eq!(
            event,
            parse(r#"{"class_uid":4001,"src_endpoint":{"port":80}}"#)
        );
    }
}
