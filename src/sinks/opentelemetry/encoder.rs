//! An OCSF event as an OTLP `LogRecord`, and the export request around a batch of them.
//!
//! | LogRecord field | from |
//! | --- | --- |
//! | `time_unix_nano` | OCSF `time` (epoch ms) × 10⁶; absent or not a number: the observed time |
//! | `observed_time_unix_nano` | when the sink received the event |
//! | `severity_number`, `severity_text` | `severity_id`, by [`severity`] |
//! | `body` | the event (after `only_fields`/`except_fields`) as a structured `kvlist` |
//! | `event_name` | `class_name`, when it is a string |
//! | attributes | `ocsf.class_uid`, `ocsf.activity_id`, `ocsf.type_uid`, when integers |
//!
//! Every record of a request shares one resource (`service.name`, default `conductorone`,
//! plus `resource_attributes`) and one scope (`c1-pipeline` and its version).

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use vrl::value::Value;

use super::protobuf::{self, RecordHeader};
use crate::codecs::FieldSelection;

/// The resource attribute every record carries unless `resource_attributes` replaces it.
const DEFAULT_SERVICE_NAME: &str = "conductorone";

/// The request body's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WireFormat {
    /// Binary protobuf.
    Protobuf,
    /// The protobuf JSON mapping.
    Json,
}

impl WireFormat {
    /// The body's `Content-Type`.
    pub(super) fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }

    /// `request` encoded.
    pub(super) fn encode(self, request: &ExportLogsServiceRequest) -> Vec<u8> {
        match self {
            Self::Protobuf => prost::Message::encode_to_vec(request),
            // Serializing generated message types into a Vec cannot fail.
            Self::Json => serde_json::to_vec(request).unwrap_or_default(),
        }
    }
}

/// Builds records from events and requests from records.
#[derive(Clone, Debug)]
pub(super) struct LogRecordEncoder {
    fields: FieldSelection,
    resource: Resource,
    scope: InstrumentationScope,
}

impl LogRecordEncoder {
    /// An encoder writing the `fields` chosen, under these resource attributes (added to the
    /// default `service.name`).
    pub(super) fn new(
        fields: FieldSelection,
        resource_attributes: BTreeMap<String, String>,
    ) -> Self {
        let mut attributes =
            BTreeMap::from([("service.name".to_owned(), DEFAULT_SERVICE_NAME.to_owned())]);
        attributes.extend(resource_attributes);
        let resource = Resource {
            attributes: attributes
                .into_iter()
                .map(|(key, value)| key_value(key, any_value::Value::StringValue(value)))
                .collect(),
            ..Resource::default()
        };
        let scope = InstrumentationScope {
            name: "c1-pipeline".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ..InstrumentationScope::default()
        };
        Self {
            fields,
            resource,
            scope,
        }
    }

    /// The record of `event`, observed at `observed_unix_nano`.
    pub(super) fn record(&self, event: &Value, observed_unix_nano: u64) -> LogRecord {
        let header = record_header(event, observed_unix_nano);
        LogRecord {
            time_unix_nano: header.time_unix_nano,
            observed_time_unix_nano: header.observed_time_unix_nano,
            severity_number: header.severity_number,
            severity_text: header.severity_text.to_owned(),
            body: Some(any_value(&self.fields.apply(event))),
            attributes: header
                .attributes()
                .iter()
                .map(|(key, id)| key_value((*key).to_owned(), any_value::Value::IntValue(*id)))
                .collect(),
            event_name: header.event_name.to_owned(),
            ..LogRecord::default()
        }
    }

    /// Appends the protobuf of [`Self::record`] of `event` to `out` as the field `field` of
    /// the enclosing message, written straight from the event. `sizes` is scratch space.
    pub(super) fn write_protobuf_record(
        &self,
        field: u32,
        event: &Value,
        observed_unix_nano: u64,
        sizes: &mut Vec<usize>,
        out: &mut Vec<u8>,
    ) {
        let header = record_header(event, observed_unix_nano);
        let body = self.fields.apply(event);
        protobuf::write_record(field, &header, &body, sizes, out);
    }

    /// The protobuf export request whose only scope's `log_records` fields are
    /// `encoded_records` (already encoded, each with its field key and length): the request
    /// around them is framed with prost's encoding functions, the resource and the scope
    /// encoded by their generated types.
    pub(super) fn protobuf_request(&self, encoded_records: &[u8]) -> Vec<u8> {
        let mut body = self.protobuf_request_head(encoded_records.len());
        body.extend_from_slice(encoded_records);
        body
    }

    /// The start of [`Self::protobuf_request`], up to the records (`records_len` bytes),
    /// for a compressor to take the two parts without joining them first.
    pub(super) fn protobuf_request_head(&self, records_len: usize) -> Vec<u8> {
        use prost::Message as _;
        use prost::encoding::{WireType, encode_key, encode_varint};
        let scope = ScopeLogs {
            scope: Some(self.scope.clone()),
            ..ScopeLogs::default()
        }
        .encode_to_vec();
        let scope_len = scope.len() + records_len;
        let mut resource = ResourceLogs {
            resource: Some(self.resource.clone()),
            ..ResourceLogs::default()
        }
        .encode_to_vec();
        // ResourceLogs.scope_logs (2): the scope, then its records.
        encode_key(2, WireType::LengthDelimited, &mut resource);
        encode_varint(scope_len as u64, &mut resource);
        let resource_len = resource.len() + scope_len;
        let mut head = Vec::with_capacity(resource_len - records_len + 16);
        // ExportLogsServiceRequest.resource_logs (1).
        encode_key(1, WireType::LengthDelimited, &mut head);
        encode_varint(resource_len as u64, &mut head);
        head.extend_from_slice(&resource);
        head.extend_from_slice(&scope);
        head
    }

    /// The export request carrying `records`.
    pub(super) fn request(&self, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(self.resource.clone()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(self.scope.clone()),
                    log_records: records,
                    ..ScopeLogs::default()
                }],
                ..ResourceLogs::default()
            }],
        }
    }
}

/// The OCSF attributes copied to record attributes, with their attribute keys.
const ATTRIBUTES: [(&str, &str); 3] = [
    ("class_uid", "ocsf.class_uid"),
    ("activity_id", "ocsf.activity_id"),
    ("type_uid", "ocsf.type_uid"),
];

/// What the record of `event` says besides its body (see the module's table).
fn record_header(event: &Value, observed_unix_nano: u64) -> RecordHeader<'_> {
    let object = event.as_object();
    let field = |name: &str| object.and_then(|object| object.get(name));
    let time_unix_nano = crate::ocsf::event_time_millis(event)
        .and_then(|ms| u64::try_from(ms).ok())
        .and_then(|ms| ms.checked_mul(1_000_000))
        .unwrap_or(observed_unix_nano);
    let (severity_number, severity_text) =
        severity(field("severity_id").and_then(integer), field("severity"));
    let mut header = RecordHeader {
        time_unix_nano,
        observed_time_unix_nano: observed_unix_nano,
        severity_number,
        severity_text,
        attribute_slots: [("", 0); 3],
        attribute_count: 0,
        event_name: field("class_name")
            .and_then(crate::ocsf::str_value)
            .unwrap_or_default(),
    };
    for (name, key) in ATTRIBUTES {
        if let Some(id) = field(name).and_then(integer) {
            header.attribute_slots[header.attribute_count] = (key, id);
            header.attribute_count += 1;
        }
    }
    header
}

/// OTLP severity from OCSF `severity_id` (and the event's `severity` text for `99`, Other):
///
/// | `severity_id` | OCSF caption | `severity_number` | `severity_text` |
/// | --- | --- | --- | --- |
/// | 1 | Informational | 9 | `INFO` |
/// | 2 | Low | 13 | `WARN` |
/// | 3 | Medium | 15 | `WARN3` |
/// | 4 | High | 17 | `ERROR` |
/// | 5 | Critical | 19 | `ERROR3` |
/// | 6 | Fatal | 21 | `FATAL` |
/// | 99 | Other | 0 (unspecified) | the event's `severity`, if any |
/// | 0, absent, other | Unknown | 0 (unspecified) | empty |
pub(super) fn severity(severity_id: Option<i64>, severity: Option<&Value>) -> (i32, &str) {
    match severity_id {
        Some(1) => (9, "INFO"),
        Some(2) => (13, "WARN"),
        Some(3) => (15, "WARN3"),
        Some(4) => (17, "ERROR"),
        Some(5) => (19, "ERROR3"),
        Some(6) => (21, "FATAL"),
        Some(99) => (
            0,
            severity
                .and_then(crate::ocsf::str_value)
                .unwrap_or_default(),
        ),
        _ => (0, ""),
    }
}

/// An integer, or a float without fraction (ConductorOne's API may send ids as doubles).
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(n) => Some(*n),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f.into_inner() as i64),
        _ => None,
    }
}

fn key_value(key: String, value: any_value::Value) -> KeyValue {
    KeyValue {
        key,
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

/// `value` as an OTLP `AnyValue`: objects as `kvlist` (keys in order), arrays as arrays,
/// text as strings (bytes that are not UTF-8 as bytes), timestamps as RFC 3339 strings, null
/// as an empty value.
fn any_value(value: &Value) -> AnyValue {
    let value = match value {
        Value::Bytes(bytes) => Some(match std::str::from_utf8(bytes) {
            Ok(text) => any_value::Value::StringValue(text.to_owned()),
            Err(_) => any_value::Value::BytesValue(bytes.to_vec()),
        }),
        Value::String(text) => Some(any_value::Value::StringValue(text.to_string())),
        Value::Regex(regex) => Some(any_value::Value::StringValue(regex.as_str().to_owned())),
        Value::Integer(n) => Some(any_value::Value::IntValue(*n)),
        Value::Float(f) => Some(any_value::Value::DoubleValue(f.into_inner())),
        Value::Boolean(b) => Some(any_value::Value::BoolValue(*b)),
        Value::Timestamp(time) => Some(any_value::Value::StringValue(
            time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        )),
        Value::Object(object) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: object
                .iter()
                .map(|(key, value)| KeyValue {
                    key: key.as_str().to_owned(),
                    value: Some(any_value(value)),
                    ..KeyValue::default()
                })
                .collect(),
        })),
        Value::Array(items) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: items.iter().map(any_value).collect(),
        })),
        Value::Null => None,
    };
    AnyValue { value }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    fn encoder() -> LogRecordEncoder {
        LogRecordEncoder::new(FieldSelection::default(), BTreeMap::new())
    }

    #[test]
    fn an_ocsf_event_maps_to_its_record() {
        let record = encoder().record(
            &event(
                r#"{"time": 1767225600123.0, "severity_id": 1, "class_uid": 6003,
                    "class_name": "API Activity", "activity_id": 1, "type_uid": 600301,
                    "actor": {"user": {"name": "ana"}}, "tags": ["a", null]}"#,
            ),
            42,
        );
        assert_eq!(record.time_unix_nano, 1_767_225_600_123_000_000);
        assert_eq!(record.observed_time_unix_nano, 42);
        assert_eq!(
            (record.severity_number, record.severity_text.as_str()),
            (9, "INFO")
        );
        assert_eq!(record.event_name, "API Activity");
        let attributes: Vec<(&str, &AnyValue)> = record
            .attributes
            .iter()
            .map(|kv| (kv.key.as_str(), kv.value.as_ref().unwrap()))
            .collect();
        assert_eq!(attributes.len(), 3);
        assert_eq!(attributes[2].0, "ocsf.type_uid");
        assert_eq!(
            attributes[2].1.value,
            Some(any_value::Value::IntValue(600_301))
        );
        let Some(any_value::Value::KvlistValue(body)) = record.body.unwrap().value else {
            panic!("a structured body");
        };
        let actor = body.values.iter().find(|kv| kv.key == "actor").unwrap();
        let Some(any_value::Value::KvlistValue(actor)) = &actor.value.as_ref().unwrap().value
        else {
            panic!("actor is a kvlist");
        };
        assert_eq!(actor.values[0].key, "user");
    }

    #[test]
    fn an_event_without_time_gets_the_observed_time_and_no_severity() {
        let record = encoder().record(&event(r#"{"message": "hello"}"#), 7);
        assert_eq!(record.time_unix_nano, 7);
        assert_eq!(record.severity_number, 0);
        assert!(record.event_name.is_empty() && record.attributes.is_empty());
    }

    #[test]
    fn severity_table() {
        let other = Value::from("Suspicious");
        let cases = [
            (Some(1), (9, "INFO")),
            (Some(2), (13, "WARN")),
            (Some(3), (15, "WARN3")),
            (Some(4), (17, "ERROR")),
            (Some(5), (19, "ERROR3")),
            (Some(6), (21, "FATAL")),
            (Some(99), (0, "Suspicious")),
            (Some(0), (0, "")),
            (None, (0, "")),
        ];
        for (id, (number, text)) in cases {
            assert_eq!(severity(id, Some(&other)), (number, text), "{id:?}");
        }
    }

    #[test]
    fn the_framed_protobuf_request_is_what_the_generated_types_encode() {
        let encoder = encoder();
        let records: Vec<LogRecord> = (0..3)
            .map(|i| encoder.record(&event(&format!(r#"{{"time": {i}, "n": "x"}}"#)), 9))
            .collect();
        let mut encoded = Vec::new();
        for record in &records {
            prost::encoding::message::encode(2, record, &mut encoded);
        }
        let framed = encoder.protobuf_request(&encoded);
        let expected = prost::Message::encode_to_vec(&encoder.request(records));
        assert_eq!(framed, expected);
    }

    /// The record written straight from `value` is, byte for byte, what prost writes for the
    /// generated types' record.
    fn assert_written_as_generated(encoder: &LogRecordEncoder, value: &Value) {
        let mut expected = Vec::new();
        prost::encoding::message::encode(2, &encoder.record(value, 77), &mut expected);
        let mut written = Vec::new();
        encoder.write_protobuf_record(2, value, 77, &mut Vec::new(), &mut written);
        assert_eq!(written, expected, "{value}");
    }

    #[test]
    fn records_written_from_events_are_what_the_generated_types_encode() {
        let mut value = event(
            r#"{"time": 1767225600123, "severity_id": 99, "severity": "Odd", "class_uid": 6003,
                "activity_id": -3, "class_name": "API Activity", "empty": {}, "none": [],
                "nested": {"a": [1, -2, 2.5, true, false, null, {"b": {"c": "d"}}], "e": null},
                "big": 9223372036854775807, "small": -9223372036854775808, "zero": 0,
                "f0": 0.0, "text": "", "long": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#,
        );
        value.as_object_mut().unwrap().insert(
            "raw".into(),
            Value::Bytes(bytes::Bytes::from_static(b"\xff\xfe")),
        );
        value.as_object_mut().unwrap().insert(
            "at".into(),
            Value::Timestamp(chrono::DateTime::from_timestamp_millis(1_767_225_600_123).unwrap()),
        );
        let plain = encoder();
        for value in [
            value.clone(),
            event("{}"),
            event(r#"{"message": "hi"}"#),
            Value::Null,
            Value::from("text"),
        ] {
            assert_written_as_generated(&plain, &value);
        }
        let selecting = LogRecordEncoder::new(
            FieldSelection::parse("encoding", &None, &Some(vec!["nested.a".to_owned()])).unwrap(),
            BTreeMap::new(),
        );
        assert_written_as_generated(&selecting, &value);
        let mut demo = crate::sources::demo::DemoEventGenerator::new(7);
        for i in 0..500 {
            assert_written_as_generated(&plain, &demo.generate(1_767_225_600_000 + i));
        }
    }

    #[test]
    fn resource_attributes_add_to_and_may_replace_the_service_name() {
        let encoder = LogRecordEncoder::new(
            FieldSelection::default(),
            BTreeMap::from([
                ("service.name".to_owned(), "c1-prod".to_owned()),
                ("deployment.environment".to_owned(), "prod".to_owned()),
            ]),
        );
        let request = encoder.request(Vec::new());
        let resource = request.resource_logs[0].resource.as_ref().unwrap();
        let keys: Vec<&str> = resource
            .attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect();
        assert_eq!(keys, ["deployment.environment", "service.name"]);
        assert_eq!(
            resource.attributes[1].value.as_ref().unwrap().value,
            Some(any_value::Value::StringValue("c1-prod".to_owned()))
        );
    }
}
