//! JSON objects to [`Value`]s without copying their strings.
//!
//! Decoding is the costliest step of a JSON pipeline, and most of its cost is allocation: a
//! typical OCSF event has some forty string values. Here each string without escapes
//! becomes a slice of the input buffer (a reference-count increment, no allocation and no
//! copy); only object keys and escaped strings are allocated.

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use vrl::compiler::prelude::NotNan;
use vrl::value::{KeyString, ObjectMap, Value};

/// Parses `input`, a JSON document in UTF-8, into a [`Value`] whose strings share `input`.
pub fn from_bytes(input: &Bytes) -> Result<Value, serde_json::Error> {
    let text = std::str::from_utf8(input).map_err(serde_json::Error::custom)?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = ValueSeed { input }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// Deserializes one value, slicing borrowed strings out of `input`.
#[derive(Clone, Copy)]
struct ValueSeed<'a> {
    input: &'a Bytes,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl ValueSeed<'_> {
    /// A string that is part of the input: shared, not copied.
    fn shared(&self, text: &str) -> Value {
        let range = self.input.as_ptr_range();
        let inside =
            range.start <= text.as_ptr() && text.as_bytes().as_ptr_range().end <= range.end;
        if !inside {
            return Value::from(text);
        }
        let bytes = self.input.slice_ref(text.as_bytes());
        // SAFETY: `bytes` holds exactly the bytes of `text`, a `&str`, so it is valid UTF-8.
        Value::String(unsafe { ByteString::from_bytes_unchecked(bytes) })
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Boolean(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Integer(value))
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Value, E> {
        match i64::try_from(value) {
            Ok(value) => Ok(Value::Integer(value)),
            // Beyond i64 a float is the closest representation (as vrl's own decoder does).
            Err(_) => self.visit_f64(value as f64),
        }
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Value, E> {
        NotNan::new(value)
            .map(Value::Float)
            .map_err(|_| E::custom("NaN is not a valid JSON number"))
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Value, E> {
        Ok(self.shared(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = ObjectMap::new();
        while let Some(key) = map.next_key::<KeyString>()? {
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_decoder() {
        let text = r#"{"a":"plain","b":"esc\"aped \u00e9","n":-3,"u":18446744073709551615,"f":1.5,"t":true,"z":null,"arr":[1,"two",{"x":"y"}],"o":{"k":"v"}}"#;
        let ours = from_bytes(&Bytes::from(text)).unwrap();
        let standard: Value = serde_json::from_str(text).unwrap();
        assert_eq!(ours, standard);
    }

    #[test]
    fn rejects_invalid_json_and_trailing_garbage() {
        assert!(from_bytes(&Bytes::from_static(b"{\"a\":")).is_err());
        assert!(from_bytes(&Bytes::from_static(b"{} {}")).is_err());
        assert!(from_bytes(&Bytes::from_static(b"\xff")).is_err());
    }
}
