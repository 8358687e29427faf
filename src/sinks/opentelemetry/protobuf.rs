//! A `LogRecord` written as protobuf straight from the event, without building the generated
//! types' tree first (one allocation per string and per object otherwise, on every event).
//!
//! The bytes are those prost writes for the [`LogRecordEncoder::record`] of the same event
//! (fields in tag order, proto3 defaults left out, `oneof` members always written); a test
//! holds the two together. Protobuf puts each message's length before it, so a first pass
//! ([`measure`]) records the length of every nested list in the order the second pass
//! ([`Writer`]) writes them; every other length follows from those.
//!
//! [`LogRecordEncoder::record`]: super::encoder::LogRecordEncoder::record

use prost::encoding::{WireType, encode_key, encoded_len_varint};
use vrl::value::Value;

/// The keys (field number and wire type, one byte each) of the fields written here
/// (opentelemetry-proto `common/v1`, `logs/v1`).
mod key {
    /// A field key: `field << 3 | wire type`, one byte for fields below 16.
    const fn of(field: u8, wire_type: u8) -> u8 {
        (field << 3) | wire_type
    }
    const VARINT: u8 = 0;
    const FIXED64: u8 = 1;
    const DELIMITED: u8 = 2;
    pub(super) const LOG_TIME_UNIX_NANO: u8 = of(1, FIXED64);
    pub(super) const LOG_SEVERITY_NUMBER: u8 = of(2, VARINT);
    pub(super) const LOG_SEVERITY_TEXT: u8 = of(3, DELIMITED);
    pub(super) const LOG_BODY: u8 = of(5, DELIMITED);
    pub(super) const LOG_ATTRIBUTES: u8 = of(6, DELIMITED);
    pub(super) const LOG_OBSERVED_TIME_UNIX_NANO: u8 = of(11, FIXED64);
    pub(super) const LOG_EVENT_NAME: u8 = of(12, DELIMITED);
    pub(super) const ANY_STRING: u8 = of(1, DELIMITED);
    pub(super) const ANY_BOOL: u8 = of(2, VARINT);
    pub(super) const ANY_INT: u8 = of(3, VARINT);
    pub(super) const ANY_DOUBLE: u8 = of(4, FIXED64);
    pub(super) const ANY_ARRAY: u8 = of(5, DELIMITED);
    pub(super) const ANY_KVLIST: u8 = of(6, DELIMITED);
    pub(super) const ANY_BYTES: u8 = of(7, DELIMITED);
    /// `ArrayValue.values` and `KeyValueList.values`.
    pub(super) const LIST_VALUES: u8 = of(1, DELIMITED);
    pub(super) const KEY_VALUE_KEY: u8 = of(1, DELIMITED);
    pub(super) const KEY_VALUE_VALUE: u8 = of(2, DELIMITED);
}

/// The parts of a record besides its body, as [`super::encoder::LogRecordEncoder`] derives
/// them from the event.
pub(super) struct RecordHeader<'a> {
    pub(super) time_unix_nano: u64,
    pub(super) observed_time_unix_nano: u64,
    pub(super) severity_number: i32,
    pub(super) severity_text: &'a str,
    /// `(key, integer value)` attributes: the first `attribute_count`.
    pub(super) attribute_slots: [(&'static str, i64); 3],
    pub(super) attribute_count: usize,
    pub(super) event_name: &'a str,
}

impl RecordHeader<'_> {
    /// The `(key, integer value)` attributes.
    pub(super) fn attributes(&self) -> &[(&'static str, i64)] {
        &self.attribute_slots[..self.attribute_count]
    }
}

/// Appends the record of `header` and `body` to `out` as field `field` of the enclosing
/// message (key, length, record). `sizes` is scratch space, kept by the caller to reuse its
/// allocation.
pub(super) fn write_record(
    field: u32,
    header: &RecordHeader<'_>,
    body: &Value,
    sizes: &mut Vec<usize>,
    out: &mut Vec<u8>,
) {
    sizes.clear();
    let body_len = measure(body, sizes);
    let attributes_len: usize = header
        .attributes()
        .iter()
        .map(|(key, value)| 1 + delimited_len(int_attribute_len(key, *value)))
        .sum();
    let record_len = fixed64_len(header.time_unix_nano)
        + varint_field_len(header.severity_number as i64 as u64)
        + string_field_len(header.severity_text)
        + 1
        + delimited_len(body_len)
        + attributes_len
        + fixed64_len(header.observed_time_unix_nano)
        + string_field_len(header.event_name);
    encode_key(field, WireType::LengthDelimited, out);
    put_varint(record_len as u64, out);
    out.reserve(record_len);
    if header.time_unix_nano != 0 {
        out.push(key::LOG_TIME_UNIX_NANO);
        out.extend_from_slice(&header.time_unix_nano.to_le_bytes());
    }
    if header.severity_number != 0 {
        out.push(key::LOG_SEVERITY_NUMBER);
        put_varint(header.severity_number as i64 as u64, out);
    }
    write_string_field(key::LOG_SEVERITY_TEXT, header.severity_text, out);
    out.push(key::LOG_BODY);
    let mut writer = Writer {
        sizes,
        next: 0,
        out,
    };
    writer.any_value(body, body_len);
    for (name, value) in header.attributes() {
        out.push(key::LOG_ATTRIBUTES);
        put_varint(int_attribute_len(name, *value) as u64, out);
        write_bytes_field(key::KEY_VALUE_KEY, name.as_bytes(), out);
        out.push(key::KEY_VALUE_VALUE);
        put_varint(varint_field_len_always(*value as u64) as u64, out);
        out.push(key::ANY_INT);
        put_varint(*value as u64, out);
    }
    if header.observed_time_unix_nano != 0 {
        out.push(key::LOG_OBSERVED_TIME_UNIX_NANO);
        out.extend_from_slice(&header.observed_time_unix_nano.to_le_bytes());
    }
    write_string_field(key::LOG_EVENT_NAME, header.event_name, out);
}

/// The length of `value` as an `AnyValue` message. Pushes, in the order the writer meets
/// them, the length of the list inside every object and array in it (a scalar's length is
/// cheaper to compute again than to store, and a list's message lengths follow from it).
fn measure(value: &Value, sizes: &mut Vec<usize>) -> usize {
    match value {
        Value::Object(object) => {
            let list = sizes.len();
            sizes.push(0);
            let list_len = object
                .iter()
                .map(|(key, field)| 1 + delimited_len(entry_len(key, measure(field, sizes))))
                .sum();
            sizes[list] = list_len;
            1 + delimited_len(list_len)
        }
        Value::Array(items) => {
            let list = sizes.len();
            sizes.push(0);
            let list_len = items
                .iter()
                .map(|item| 1 + delimited_len(measure(item, sizes)))
                .sum();
            sizes[list] = list_len;
            1 + delimited_len(list_len)
        }
        scalar => scalar_len(scalar),
    }
}

/// The length of a scalar (not an object or array) as an `AnyValue` message.
fn scalar_len(value: &Value) -> usize {
    match value {
        Value::Bytes(bytes) => 1 + delimited_len(bytes.len()),
        Value::String(text) => 1 + delimited_len(text.len()),
        Value::Regex(regex) => 1 + delimited_len(regex.as_str().len()),
        Value::Integer(n) => varint_field_len_always(*n as u64),
        Value::Float(_) => 1 + 8,
        Value::Boolean(_) => 1 + 1,
        Value::Timestamp(time) => 1 + delimited_len(rfc3339_len(time)),
        Value::Object(_) | Value::Array(_) | Value::Null => 0,
    }
}

/// The length of a `KeyValue` of `key` and a value of `value_len`.
fn entry_len(key: &str, value_len: usize) -> usize {
    1 + delimited_len(key.len()) + 1 + delimited_len(value_len)
}

/// Writes values whose list lengths [`measure`] recorded.
struct Writer<'a> {
    sizes: &'a [usize],
    next: usize,
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    /// The length of `value` as an `AnyValue`, from the recorded lengths for a list (the
    /// next one to be read).
    fn len_of(&self, value: &Value) -> usize {
        match value {
            Value::Object(_) | Value::Array(_) => 1 + delimited_len(self.sizes[self.next]),
            scalar => scalar_len(scalar),
        }
    }

    /// `value`'s length `len`, then `value` as an `AnyValue` (its key is the caller's).
    fn any_value(&mut self, value: &Value, len: usize) {
        put_varint(len as u64, self.out);
        let out = &mut *self.out;
        match value {
            Value::Bytes(bytes) => match std::str::from_utf8(bytes) {
                Ok(_) => write_bytes_field(key::ANY_STRING, bytes, out),
                Err(_) => write_bytes_field(key::ANY_BYTES, bytes, out),
            },
            Value::String(text) => write_bytes_field(key::ANY_STRING, text.as_bytes(), out),
            Value::Regex(regex) => {
                write_bytes_field(key::ANY_STRING, regex.as_str().as_bytes(), out)
            }
            Value::Integer(n) => {
                out.push(key::ANY_INT);
                put_varint(*n as u64, out);
            }
            Value::Float(f) => {
                out.push(key::ANY_DOUBLE);
                out.extend_from_slice(&f.into_inner().to_le_bytes());
            }
            Value::Boolean(b) => {
                out.push(key::ANY_BOOL);
                out.push(u8::from(*b));
            }
            Value::Timestamp(_) => {
                write_bytes_field(key::ANY_STRING, timestamp_text(value).as_bytes(), out)
            }
            Value::Object(object) => {
                self.list_header(key::ANY_KVLIST);
                for (name, field) in object {
                    let value_len = self.len_of(field);
                    self.out.push(key::LIST_VALUES);
                    put_varint(entry_len(name, value_len) as u64, self.out);
                    write_bytes_field(key::KEY_VALUE_KEY, name.as_bytes(), self.out);
                    self.out.push(key::KEY_VALUE_VALUE);
                    self.any_value(field, value_len);
                }
            }
            Value::Array(items) => {
                self.list_header(key::ANY_ARRAY);
                for item in items {
                    let item_len = self.len_of(item);
                    self.out.push(key::LIST_VALUES);
                    self.any_value(item, item_len);
                }
            }
            Value::Null => {}
        }
    }

    /// The `oneof` member `key` holding a list, with the list's recorded length.
    fn list_header(&mut self, key: u8) {
        let len = self.sizes[self.next];
        self.next += 1;
        self.out.push(key);
        put_varint(len as u64, self.out);
    }
}

/// `value` as a protobuf varint: one byte for most lengths and ids, without going through
/// prost's generic buffer trait for each byte.
#[inline]
fn put_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The length of `time` in RFC 3339 with as many fraction digits as it needs (what
/// [`timestamp_text`] writes), without writing it: `YYYY-MM-DDTHH:MM:SS` and `Z`, and a
/// fraction of 3, 6 or 9 digits after a dot unless it is zero.
fn rfc3339_len(time: &chrono::DateTime<chrono::Utc>) -> usize {
    use chrono::{Datelike as _, Timelike as _};
    let nanos = time.nanosecond();
    if !(0..=9999).contains(&time.year()) || nanos >= 1_000_000_000 {
        // Extended years and leap seconds: rare enough to write out.
        return time
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            .len();
    }
    let fraction = match nanos {
        0 => 0,
        n if n % 1_000_000 == 0 => 4,
        n if n % 1_000 == 0 => 7,
        _ => 10,
    };
    20 + fraction
}

/// A timestamp as the generated types' tree writes it (RFC 3339).
fn timestamp_text(value: &Value) -> String {
    match value {
        Value::Timestamp(time) => time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        _ => String::new(),
    }
}

/// A `KeyValue` with an integer value: its length.
fn int_attribute_len(key: &str, value: i64) -> usize {
    entry_len(key, varint_field_len_always(value as u64))
}

/// A length prefix and `len` bytes.
fn delimited_len(len: usize) -> usize {
    encoded_len_varint(len as u64) + len
}

fn fixed64_len(value: u64) -> usize {
    if value == 0 { 0 } else { 1 + 8 }
}

/// A varint field, left out when zero (proto3).
fn varint_field_len(value: u64) -> usize {
    if value == 0 {
        0
    } else {
        varint_field_len_always(value)
    }
}

/// A varint field with a one-byte key, written even when zero (a `oneof` member).
fn varint_field_len_always(value: u64) -> usize {
    1 + encoded_len_varint(value)
}

/// A string field, left out when empty (proto3).
fn string_field_len(text: &str) -> usize {
    if text.is_empty() {
        0
    } else {
        1 + delimited_len(text.len())
    }
}

fn write_string_field(key: u8, text: &str, out: &mut Vec<u8>) {
    if !text.is_empty() {
        write_bytes_field(key, text.as_bytes(), out);
    }
}

fn write_bytes_field(key: u8, bytes: &[u8], out: &mut Vec<u8>) {
    out.push(key);
    put_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc3339_length_is_that_of_the_text() {
        let base = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        let times = [
            base,
            base + chrono::Duration::milliseconds(123),
            base + chrono::Duration::microseconds(123_456),
            base + chrono::Duration::nanoseconds(123_456_789),
            base + chrono::Duration::nanoseconds(100_000_000),
            chrono::DateTime::from_timestamp(-62_167_219_200, 0).unwrap(),
            chrono::DateTime::from_timestamp(253_402_300_800, 5_000).unwrap(),
            chrono::DateTime::from_timestamp(-62_167_219_201, 0).unwrap(),
        ];
        for time in times {
            let text = timestamp_text(&Value::Timestamp(time));
            assert_eq!(rfc3339_len(&time), text.len(), "{text}");
        }
    }
}
