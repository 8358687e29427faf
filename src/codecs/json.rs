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
use smallvec::SmallVec;
use vrl::compiler::prelude::NotNan;
use vrl::value::{KeyString, ObjectMap, Value};

/// How deeply arrays and objects may nest in one decoded value.
///
/// serde_json stops at 128 levels, which real OCSF events can exceed inside `unmapped`.
/// Decoding, encoding, VRL and dropping a value all recurse once per level, so some limit is
/// needed to keep every stage within a thread's stack: 512 levels take well under a quarter
/// of tokio's 2 MiB worker stack at every stage, in debug builds too (tested). Deeper values
/// are an error for that one record, never a crash.
pub(crate) const MAX_DEPTH: u16 = 512;

/// Parses `input`, a JSON document in UTF-8, into a [`Value`] whose strings share `input`.
///
/// Arrays and objects may nest up to [`MAX_DEPTH`] levels; deeper input is an error (found
/// before the stack grows further, so any depth is safe to pass in).
pub(crate) fn from_bytes(input: &Bytes) -> Result<Value, serde_json::Error> {
    let text = std::str::from_utf8(input).map_err(serde_json::Error::custom)?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    // The seed counts depth itself, with a higher limit than serde_json's fixed 128.
    deserializer.disable_recursion_limit();
    let value = ValueSeed { input, depth: 0 }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// Deserializes one value, slicing borrowed strings out of `input`.
#[derive(Clone, Copy)]
struct ValueSeed<'a> {
    input: &'a Bytes,
    /// Arrays and objects enclosing the value.
    depth: u16,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl ValueSeed<'_> {
    /// The seed for the items of an array or object: one level deeper, or an error past
    /// [`MAX_DEPTH`].
    fn nested<E: serde::de::Error>(self) -> Result<Self, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format_args!(
                "nested deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(Self {
            depth: self.depth + 1,
            ..self
        })
    }

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
        // serde_json gives no length hint: gather the items on the stack, then allocate the
        // array once at its final size (not 0 -> 4 -> 8 -> ... as pushes would).
        let seed = self.nested()?;
        let mut items: SmallVec<[Value; 8]> = SmallVec::new();
        while let Some(item) = seq.next_element_seed(seed)? {
            items.push(item);
        }
        Ok(Value::Array(items.into_vec()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let seed = self.nested()?;
        let mut object = ObjectMap::new();
        while let Some(key) = map.next_key::<KeyString>()? {
            let value = map.next_value_seed(seed)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Appends `value` as compact JSON to `out`, byte for byte what `serde_json::to_writer` writes
/// for it.
///
/// Encoding is a large share of a JSON pipeline's work. Through serde, every value goes through
/// generic dispatch and every string through a byte-by-byte escaping loop; here objects, arrays
/// and the common strings (nothing to escape: scanned in vectorizable chunks, then copied in one
/// go) are written directly. Strings that need escapes, numbers and timestamps still go through
/// serde_json, so their output is serde_json's exactly.
pub(crate) fn write_compact(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(object) => {
            out.push(b'{');
            for (index, (key, field)) in object.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_str(key.as_str(), out);
                out.push(b':');
                write_compact(field, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_compact(item, out);
            }
            out.push(b']');
        }
        Value::String(text) => write_str(text, out),
        Value::Bytes(_) => {
            if let Some(text) = value.to_str_lossy() {
                write_str(&text, out);
            }
        }
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::Null => out.extend_from_slice(b"null"),
        Value::Integer(_) | Value::Float(_) | Value::Timestamp(_) | Value::Regex(_) => {
            // Writing into a Vec cannot fail, and vrl's floats are never NaN.
            let result = serde_json::to_writer(&mut *out, value);
            debug_assert!(result.is_ok());
        }
    }
}

/// A JSON string: copied as is when nothing in it needs escaping, else escaped by serde_json.
pub(crate) fn write_str(text: &str, out: &mut Vec<u8>) {
    if needs_escape(text.as_bytes()) {
        let result = serde_json::to_writer(&mut *out, text);
        debug_assert!(result.is_ok());
        return;
    }
    out.reserve(text.len() + 2);
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

/// Whether `bytes` hold a character JSON requires escaped: `"`, `\\` or a control character.
///
/// Checks 8 bytes per step with word arithmetic (most strings are short, too short for SIMD
/// loops to pay off): a byte `b` of word `w` is flagged when `b < 0x20`, or when it equals
/// `"` or `\\` (then `w ^ repeat(c)` has a zero byte). The tests are exact about whether any
/// byte matches, which is all that is asked here.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let any_below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGH != 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        if any_below(word, 0x20)
            || any_below(word ^ (ONES * u64::from(b'"')), 1)
            || any_below(word ^ (ONES * u64::from(b'\\')), 1)
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&byte| byte < 0x20 || byte == b'"' || byte == b'\\')
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
    fn writes_what_serde_json_writes() {
        let mut object = ObjectMap::new();
        object.insert(
            KeyString::from("plain"),
            Value::from("hello world, long enough to fill chunks"),
        );
        object.insert(
            KeyString::from("quo\"te\n"),
            Value::from("a \"b\" \\ c\u{1}\u{7f}\t é ✓ end"),
        );
        object.insert(
            KeyString::from("bytes"),
            Value::Bytes(Bytes::from_static(b"ok")),
        );
        object.insert(
            KeyString::from("invalid"),
            Value::Bytes(Bytes::from_static(b"bad \xff byte")),
        );
        object.insert(KeyString::from("int"), Value::Integer(-42));
        object.insert(
            KeyString::from("float"),
            Value::Float(NotNan::new(1.0).unwrap()),
        );
        object.insert(
            KeyString::from("float2"),
            Value::Float(NotNan::new(-2.5e-10).unwrap()),
        );
        object.insert(
            KeyString::from("bools"),
            Value::Array(vec![true.into(), false.into(), Value::Null]),
        );
        object.insert(
            KeyString::from("empty_obj"),
            Value::Object(ObjectMap::new()),
        );
        object.insert(KeyString::from("empty_arr"), Value::Array(Vec::new()));
        object.insert(
            KeyString::from("ts"),
            Value::Timestamp(chrono::DateTime::from_timestamp_millis(1_767_225_602_829).unwrap()),
        );
        let long_escape = format!("{}\u{1f}", "x".repeat(40));
        object.insert(
            KeyString::from("late_control"),
            Value::from(long_escape.as_str()),
        );
        let value = Value::Object(object);
        let mut ours = Vec::new();
        write_compact(&value, &mut ours);
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
        // Every special byte at every position of a word, and bytes just around them.
        for special in [b'"', b'\\', 0x00, 0x1f, 0x7f, 0x20, 0x21, 0x5b, 0x5d, 0xc3] {
            for at in 0..17 {
                let mut bytes = vec![b'a'; 17];
                bytes[at] = special;
                let expected = special < 0x20 || special == b'"' || special == b'\\';
                assert_eq!(needs_escape(&bytes), expected, "{special:#x} at {at}");
            }
        }
        for special in [
            "",
            "\"",
            "\\",
            "\u{0}",
            "0123456789abcde\"",
            "0123456789abcdef\u{1}",
        ] {
            let mut ours = Vec::new();
            write_compact(&Value::from(special), &mut ours);
            assert_eq!(ours, serde_json::to_vec(special).unwrap(), "{special:?}");
        }
    }

    fn nested(levels: usize, open: &str, close: &str) -> Bytes {
        Bytes::from(format!("{}1{}", open.repeat(levels), close.repeat(levels)))
    }

    #[test]
    fn nesting_is_limited_without_overflowing_the_stack() {
        let depth = usize::from(MAX_DEPTH);
        // Checked on a thread with tokio's worker stack size, the smallest the decoder runs on.
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                for (open, close) in [(r#"{"x":"#, "}"), ("[", "]")] {
                    let value = from_bytes(&nested(depth, open, close)).expect("at the limit");
                    let mut encoded = Vec::new();
                    write_compact(&value, &mut encoded);
                    assert_eq!(encoded, nested(depth, open, close));
                    drop(value);
                    for too_deep in [depth + 1, 100_000] {
                        let error =
                            from_bytes(&nested(too_deep, open, close)).expect_err("past the limit");
                        assert!(
                            error.to_string().contains("nested deeper than 512 levels"),
                            "{error}"
                        );
                    }
                }
            })
            .expect("thread starts")
            .join()
            .expect("no stack overflow");
    }

    #[test]
    fn rejects_invalid_json_and_trailing_garbage() {
        assert!(from_bytes(&Bytes::from_static(b"{\"a\":")).is_err());
        assert!(from_bytes(&Bytes::from_static(b"{} {}")).is_err());
        assert!(from_bytes(&Bytes::from_static(b"\xff")).is_err());
    }
}
