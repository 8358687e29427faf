//! Integral floats back to integers in OCSF integer fields.
//!
//! The ListEvents items may be backed by `google.protobuf.Struct`, in which case every JSON
//! number arrives as a double (`"time": 1767225600123.0`; team notes on the ConductorOne API
//! §3.1, "Number types", unverified against a tenant). OCSF types `time` (epoch milliseconds),
//! every `*_id` enum and every `*_uid` class/type number as integers, and VRL programs and SIEM
//! field extractions expect integers there. So a float that is integral and fits an `i64`
//! becomes an integer when its key is `time` or ends in `_id` or `_uid`. Other numbers, numeric
//! strings and non-integral floats are left as they are: the event stays the OCSF object the
//! API returned.

use vrl::value::Value;

/// Whether `key` names an OCSF integer field.
fn is_integer_field(key: &str) -> bool {
    key == "time" || key.ends_with("_id") || key.ends_with("_uid")
}

/// Converts a float to an integer when it is integral and in range.
fn integral(value: f64) -> Option<i64> {
    // 2^63 is exactly representable; anything at or above it does not fit an i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (value.fract() == 0.0 && (-LIMIT..LIMIT).contains(&value)).then_some(value as i64)
}

/// Normalises `value` and everything below it in place.
pub(super) fn normalize(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, field) in object.iter_mut() {
                match field {
                    Value::Float(number) if is_integer_field(key.as_str()) => {
                        if let Some(integer) = integral(number.into_inner()) {
                            *field = Value::Integer(integer);
                        }
                    }
                    Value::Object(_) | Value::Array(_) => normalize(field),
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                normalize(item);
            }
        }
        _ => {}
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
    fn integral_floats_in_integer_fields_become_integers() {
        let mut event = parse(
            r#"{"time":1767225600123.0,"class_uid":6003.0,"activity_id":3.0,"severity":1.0,
                "metadata":{"uid":"abc","version":"1.3.0"},"duration":12.0,"ratio_id":1.5,
                "resources":[{"type_id":2.0,"name":"x"}],"status_id":"1","big_id":1e300}"#,
        );
        normalize(&mut event);
        assert_eq!(
            event,
            parse(
                r#"{"time":1767225600123,"class_uid":6003,"activity_id":3,"severity":1.0,
                "metadata":{"uid":"abc","version":"1.3.0"},"duration":12.0,"ratio_id":1.5,
                "resources":[{"type_id":2,"name":"x"}],"status_id":"1","big_id":1e300}"#
            )
        );
    }
}
