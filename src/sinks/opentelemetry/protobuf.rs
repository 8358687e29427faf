//! A `LogRecord` written as protobuf straight from the event, without building the generated
//! types' tree first (one allocation per string and per object otherwise, on every event).
//!
//! The bytes are those prost writes for the [`LogRecordEncoder::record`] of the same event
//! (fields in tag order, proto3 defaults left out, `oneof` members always written); a test
//! holds the two together. Protobuf puts each message's length before it, so a first pass
//! ([`measure`]) records the length of every nested message in the order the second pass
//! ([`Writer`]) writes them.
//!
//! [`LogRecordEncoder::record`]: super::encoder::LogRecordEncoder::record

use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};
use vrl::value::Value;

/// Field numbers of the messages written here (opentelemetry-proto `common/v1`, `logs/v1`).
mod tag {
    pub(super) const LOG_TIME_UNIX_NANO: u32 = 1;
    pub(super) const LOG_SEVERITY_NUMBER: u32 = 2;
    pub(super) const LOG_SEVERITY_TEXT: u32 = 3;
    pub(super) const LOG_BODY: u32 = 5;
    pub(super) const LOG_ATTRIBUTES: u32 = 6;
    pub(super) const LOG_OBSERVED_TIME_UNIX_NANO: u32 = 11;
    pub(super) const LOG_EVENT_NAME: u32 = 12;
    pub(super) const ANY_STRING: u32 = 1;
    pub(super) const ANY_BOOL: u32 = 2;
    pub(super) const ANY_INT: u32 = 3;
    pub(super) const ANY_DOUBLE: u32 = 4;
    pub(super) const ANY_ARRAY: u32 = 5;
    pub(super) const ANY_KVLIST: u32 = 6;
    pub(super) const ANY_BYTES: u32 = 7;
    /// `ArrayValue.values` and `KeyValueList.values`.
    pub(super) const LIST_VALUES: u32 = 1;
    pub(super) const KEY_VALUE_KEY: u32 = 1;
    pub(super) const KEY_VALUE_VALUE: u32 = 2;
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
        .map(|(key, value)| {
            key_len(tag::LOG_ATTRIBUTES) + delimited_len(int_attribute_len(key, *value))
        })
        .sum();
    let record_len = fixed64_len(header.time_unix_nano)
        + varint_field_len(header.severity_number as i64 as u64)
        + string_field_len(header.severity_text)
        + key_len(tag::LOG_BODY)
        + delimited_len(body_len)
        + attributes_len
        + fixed64_len(header.observed_time_unix_nano)
        + string_field_len(header.event_name);
    encode_key(field, WireType::LengthDelimited, out);
    encode_varint(record_len as u64, out);
    out.reserve(record_len);
    if header.time_unix_nano != 0 {
        encode_key(tag::LOG_TIME_UNIX_NANO, WireType::SixtyFourBit, out);
        out.extend_from_slice(&header.time_unix_nano.to_le_bytes());
    }
    if header.severity_number != 0 {
        encode_key(tag::LOG_SEVERITY_NUMBER, WireType::Varint, out);
        encode_varint(header.severity_number as i64 as u64, out);
    }
    write_string_field(tag::LOG_SEVERITY_TEXT, header.severity_text, out);
    encode_key(tag::LOG_BODY, WireType::LengthDelimited, out);
    let mut writer = Writer {
        sizes,
        next: 0,
        out,
    };
    writer.any_value(body);
    for (key, value) in header.attributes() {
        encode_key(tag::LOG_ATTRIBUTES, WireType::LengthDelimited, out);
        encode_varint(int_attribute_len(key, *value) as u64, out);
        write_string_field(tag::KEY_VALUE_KEY, key, out);
        encode_key(tag::KEY_VALUE_VALUE, WireType::LengthDelimited, out);
        encode_varint(varint_field_len_always(*value as u64) as u64, out);
        encode_key(tag::ANY_INT, WireType::Varint, out);
        encode_varint(*value as u64, out);
    }
    if header.observed_time_unix_nano != 0 {
        encode_key(
            tag::LOG_OBSERVED_TIME_UNIX_NANO,
            WireType::SixtyFourBit,
            out,
        );
        out.extend_from_slice(&header.observed_time_unix_nano.to_le_bytes());
    }
    write_string_field(tag::LOG_EVENT_NAME, header.event_name, out);
}

/// The length of `value` as an `AnyValue` message. Pushes, in the order the writer reads
/// them, the length of every message inside it: its own, then (for objects and arrays) the
/// list's, then each entry's.
fn measure(value: &Value, sizes: &mut Vec<usize>) -> usize {
    let own = sizes.len();
    sizes.push(0);
    let len = match value {
        Value::Bytes(bytes) => key_len(tag::ANY_STRING) + delimited_len(bytes.len()),
        Value::String(text) => key_len(tag::ANY_STRING) + delimited_len(text.len()),
        Value::Regex(regex) => key_len(tag::ANY_STRING) + delimited_len(regex.as_str().len()),
        Value::Integer(n) => varint_field_len_always(*n as u64),
        Value::Float(_) => key_len(tag::ANY_DOUBLE) + 8,
        Value::Boolean(_) => key_len(tag::ANY_BOOL) + 1,
        Value::Timestamp(time) => key_len(tag::ANY_STRING) + delimited_len(rfc3339_len(time)),
        Value::Object(object) => {
            let list = sizes.len();
            sizes.push(0);
            let mut list_len = 0;
            for (key, field) in object {
                let entry = sizes.len();
                sizes.push(0);
                let entry_len = key_len(tag::KEY_VALUE_KEY)
                    + delimited_len(key.len())
                    + key_len(tag::KEY_VALUE_VALUE)
                    + delimited_len(measure(field, sizes));
                sizes[entry] = entry_len;
                list_len += key_len(tag::LIST_VALUES) + delimited_len(entry_len);
            }
            sizes[list] = list_len;
            key_len(tag::ANY_KVLIST) + delimited_len(list_len)
        }
        Value::Array(items) => {
            let list = sizes.len();
            sizes.push(0);
            let list_len = items
                .iter()
                .map(|item| key_len(tag::LIST_VALUES) + delimited_len(measure(item, sizes)))
                .sum();
            sizes[list] = list_len;
            key_len(tag::ANY_ARRAY) + delimited_len(list_len)
        }
        Value::Null => 0,
    };
    sizes[own] = len;
    len
}

/// Writes values whose lengths [`measure`] recorded.
struct Writer<'a> {
    sizes: &'a [usize],
    next: usize,
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn next_size(&mut self) -> usize {
        let size = self.sizes[self.next];
        self.next += 1;
        size
    }

    /// `value`'s length, then `value` as an `AnyValue` (its key is the caller's).
    fn any_value(&mut self, value: &Value) {
        let len = self.next_size();
        encode_varint(len as u64, self.out);
        let out = &mut *self.out;
        match value {
            Value::Bytes(bytes) => match std::str::from_utf8(bytes) {
                Ok(_) => write_bytes_field(tag::ANY_STRING, bytes, out),
                Err(_) => write_bytes_field(tag::ANY_BYTES, bytes, out),
            },
            Value::String(text) => write_bytes_field(tag::ANY_STRING, text.as_bytes(), out),
            Value::Regex(regex) => {
                write_bytes_field(tag::ANY_STRING, regex.as_str().as_bytes(), out)
            }
            Value::Integer(n) => {
                encode_key(tag::ANY_INT, WireType::Varint, out);
                encode_varint(*n as u64, out);
            }
            Value::Float(f) => {
                encode_key(tag::ANY_DOUBLE, WireType::SixtyFourBit, out);
                out.extend_from_slice(&f.into_inner().to_le_bytes());
            }
            Value::Boolean(b) => {
                encode_key(tag::ANY_BOOL, WireType::Varint, out);
                encode_varint(u64::from(*b), out);
            }
            Value::Timestamp(_) => {
                write_bytes_field(tag::ANY_STRING, timestamp_text(value).as_bytes(), out)
            }
            Value::Object(object) => {
                self.list_header(tag::ANY_KVLIST);
                for (key, field) in object {
                    let entry_len = self.next_size();
                    encode_key(tag::LIST_VALUES, WireType::LengthDelimited, self.out);
                    encode_varint(entry_len as u64, self.out);
                    write_bytes_field(tag::KEY_VALUE_KEY, key.as_bytes(), self.out);
                    encode_key(tag::KEY_VALUE_VALUE, WireType::LengthDelimited, self.out);
                    self.any_value(field);
                }
            }
            Value::Array(items) => {
                self.list_header(tag::ANY_ARRAY);
                for item in items {
                    encode_key(tag::LIST_VALUES, WireType::LengthDelimited, self.out);
                    self.any_value(item);
                }
            }
            Value::Null => {}
        }
    }

    /// The `oneof` member `field` holding a list, with the list's length.
    fn list_header(&mut self, field: u32) {
        let len = self.next_size();
        encode_key(field, WireType::LengthDelimited, self.out);
        encode_varint(len as u64, self.out);
    }
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
    key_len(tag::KEY_VALUE_KEY)
        + delimited_len(key.len())
        + key_len(tag::KEY_VALUE_VALUE)
        + delimited_len(varint_field_len_always(value as u64))
}

fn key_len(field: u32) -> usize {
    prost::encoding::key_len(field)
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

fn write_string_field(field: u32, text: &str, out: &mut Vec<u8>) {
    if !text.is_empty() {
        write_bytes_field(field, text.as_bytes(), out);
    }
}

fn write_bytes_field(field: u32, bytes: &[u8], out: &mut Vec<u8>) {
    encode_key(field, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
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
