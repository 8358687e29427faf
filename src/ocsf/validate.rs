//! Checking an event against its OCSF class, and deriving its missing names on the way: one
//! walk over the attributes the event has, shared by the `ocsf` transform and the VRL
//! functions `ocsf_validate` / `ocsf_derive`.
//!
//! The rules, in the order the walk applies them to each object (the event itself, then every
//! object attribute at any depth):
//!
//! * the event is an object whose `class_uid` is a class of the chosen version;
//! * derive (when on): `category_uid`, `type_uid`, then every enum sibling ([`super::derive`]);
//! * every `required` attribute is present (a profile's only when `metadata.profiles` lists
//!   the profile), and each `at_least_one` / `just_one` constraint holds;
//! * every present attribute is known (anything goes under a free-form object such as
//!   `unmapped`), has its type (a 32-bit `integer_t` within its range, `long_t`, timestamps as
//!   epoch-millisecond integers, `float_t`, `boolean_t`, strings within `max_len`, objects,
//!   arrays of them), and an enum value is in its enum (`99` where the enum has it);
//! * `type_uid` is `class_uid * 100 + activity_id`.
//!
//! Both the object's keys and a class's attributes are sorted by name, so each object is one
//! merge of the two lists: no hashing, no allocation unless something is wrong or derived.

use std::fmt::{self, Write as _};

use vrl::value::{ObjectMap, Value};

use super::derive;
use super::schema::{
    self, AttributeSet, Class, Constraint, Enumeration, Schema, SchemaError, ValueType,
};

/// At most this many problems are listed per event (the rest are only counted).
pub(crate) const MAX_ERRORS: usize = 20;

/// Objects nested deeper than this (`process.parent_process.parent_process...`) are reported
/// and not walked: it bounds the walk's stack whatever the event (real events nest about ten).
pub(crate) const MAX_DEPTH: usize = 64;

/// What a walk does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mode {
    /// Fill in the derived fields.
    pub(crate) derive: bool,
    /// Collect problems.
    pub(crate) validate: bool,
}

/// What a walk found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// The first [`MAX_ERRORS`] problems, each `"<path>: <problem>"`.
    pub(crate) errors: Vec<String>,
    /// How many problems there were in all.
    pub(crate) error_count: usize,
    /// How many fields were derived.
    pub(crate) derived: u64,
    /// The event's class, when it has a known one.
    pub(crate) class_uid: Option<i64>,
}

impl Outcome {
    /// Whether no problem was found.
    pub(crate) fn is_valid(&self) -> bool {
        self.error_count == 0
    }
}

/// The schema an event is checked against: `fixed` when a version is configured, otherwise
/// the event's `metadata.version` when it is embedded, otherwise [`schema::DEFAULT_VERSION`].
pub(crate) fn schema_for(
    event: &Value,
    fixed: Option<&'static Schema>,
) -> Result<&'static Schema, SchemaError> {
    if let Some(schema) = fixed {
        return Ok(schema);
    }
    let version = match event {
        Value::Object(map) => match map.get("metadata") {
            Some(Value::Object(metadata)) => metadata
                .get("version")
                .and_then(Value::as_bytes)
                .and_then(|bytes| std::str::from_utf8(bytes).ok())
                .and_then(schema::embedded_version),
            _ => None,
        },
        _ => None,
    };
    schema::schema(version.unwrap_or(schema::DEFAULT_VERSION))
}

/// Derives and/or validates `event` against `schema`, as `mode` says.
pub(crate) fn check(event: &mut Value, schema: &'static Schema, mode: Mode) -> Outcome {
    let mut outcome = Outcome::default();
    let mut walk = Walk {
        schema,
        profiles: 0,
        mode,
        path: String::new(),
        depth: 0,
        out: &mut outcome,
    };
    let Value::Object(map) = event else {
        walk.error(Leaf::Here, format_args!("the event is not an object"));
        return outcome;
    };
    let uid = match map.get("class_uid") {
        None | Some(Value::Null) => {
            walk.error(Leaf::Key("class_uid"), format_args!("required, missing"));
            return outcome;
        }
        Some(value) => match derive::as_integer(value) {
            Some(uid) => uid,
            None => {
                let got = describe_value(value);
                let message = format_args!("expected an integer, got {got}");
                walk.error(Leaf::Key("class_uid"), message);
                return outcome;
            }
        },
    };
    let Some(class) = schema.class(uid) else {
        let version = schema.version();
        walk.error(
            Leaf::Key("class_uid"),
            format_args!("{uid} is not a class of OCSF {version}"),
        );
        return outcome;
    };
    walk.out.class_uid = Some(uid);
    walk.profiles = event_profiles(map, schema);
    walk.object_in(map, &class.attributes, Some(class));
    outcome
}

/// The mask of the profiles in `metadata.profiles` (unknown names count as none).
fn event_profiles(map: &ObjectMap, schema: &Schema) -> u64 {
    let Some(Value::Object(metadata)) = map.get("metadata") else {
        return 0;
    };
    let Some(Value::Array(profiles)) = metadata.get("profiles") else {
        return 0;
    };
    profiles
        .iter()
        .filter_map(Value::as_bytes)
        .filter_map(|bytes| std::str::from_utf8(bytes).ok())
        .fold(0, |mask, name| mask | schema.profile_mask(name))
}

/// Where a problem is, below the walk's current path.
#[derive(Clone, Copy)]
enum Leaf<'k> {
    /// The current object itself.
    Here,
    /// An attribute of it.
    Key(&'k str),
    /// An element of an array attribute.
    Index(&'k str, usize),
}

impl Leaf<'_> {
    fn append_to(self, path: &mut String) {
        match self {
            Self::Here => {}
            Self::Key(key) | Self::Index(key, _) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                if let Self::Index(_, index) = self {
                    let _ = write!(path, "[{index}]");
                }
            }
        }
    }
}

struct Walk<'o> {
    schema: &'static Schema,
    profiles: u64,
    mode: Mode,
    /// The path of the object being walked (`actor.user`, `observables[2]`); empty at the root.
    path: String,
    /// How many objects deep the walk is.
    depth: usize,
    out: &'o mut Outcome,
}

impl Walk<'_> {
    fn error(&mut self, leaf: Leaf<'_>, problem: fmt::Arguments<'_>) {
        self.out.error_count += 1;
        if self.out.errors.len() < MAX_ERRORS {
            let mut path = self.path.clone();
            leaf.append_to(&mut path);
            if path.is_empty() {
                path.push('.');
            }
            let _ = write!(path, ": {problem}");
            self.out.errors.push(path);
        }
    }

    /// Walks one object of the type `set` describes: each key is looked up in the set's index
    /// (unknown keys reported), each value checked (objects recursively); then the missing
    /// names are derived, the constraints checked, and the required attributes counted: only
    /// when some are missing is the set searched for which.
    fn object(&mut self, map: &mut ObjectMap, set: &'static AttributeSet) {
        self.object_in(map, set, None);
    }

    /// As [`object`](Self::object); for the event itself (`class` given) it also derives the
    /// class fields and checks `type_uid`, from the ids read on the way.
    fn object_in(
        &mut self,
        map: &mut ObjectMap,
        set: &'static AttributeSet,
        class: Option<&'static Class>,
    ) {
        let attributes = set.as_slice();
        let mut seen: u128 = 0;
        let mut required = 0;
        let ids = class.map(|_| (set.position("activity_id"), set.position("type_uid")));
        let (mut activity, mut type_uid) = (None, None);
        for (key, value) in map.iter_mut() {
            let key = key.as_str();
            let Some(at) = set.position(key) else {
                if self.mode.validate {
                    self.error(Leaf::Key(key), format_args!("unknown attribute"));
                }
                continue;
            };
            if value.is_null() {
                continue;
            }
            seen |= 1 << at;
            if let Some((activity_at, type_uid_at)) = ids {
                if Some(at) == activity_at {
                    activity = derive::as_integer(value);
                } else if Some(at) == type_uid_at {
                    type_uid = derive::as_integer(value);
                }
            }
            let attribute = &attributes[at];
            required += usize::from(attribute.is_required(self.profiles));
            self.attribute(key, value, attribute);
        }
        if let Some(class) = class {
            if self.mode.derive {
                let done = derive::class_fields(map, class, &mut seen, activity, self.profiles);
                self.out.derived += done.added;
                required += done.required;
                type_uid = type_uid.or(done.type_uid);
            }
            if self.mode.validate {
                self.type_uid(class.uid, activity, type_uid);
            }
        }
        if self.mode.derive {
            let (derived, required_derived) = derive::siblings(map, set, &mut seen, self.profiles);
            self.out.derived += derived;
            required += required_derived;
        }
        if self.mode.validate {
            self.constraints(map, set, seen);
            if required < set.required_count(self.profiles) {
                self.missing(map, set);
            }
        }
    }

    /// Reports the required attributes `map` lacks.
    fn missing(&mut self, map: &ObjectMap, set: &AttributeSet) {
        for attribute in set.iter() {
            if attribute.is_required(self.profiles) && derive::is_missing(map, &attribute.name) {
                self.error(
                    Leaf::Key(&attribute.name),
                    format_args!("required, missing"),
                );
            }
        }
    }

    fn attribute(&mut self, key: &str, value: &mut Value, attribute: &'static schema::Attribute) {
        if !attribute.is_array {
            return self.single(Leaf::Key(key), value, attribute);
        }
        match value {
            Value::Array(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    self.single(Leaf::Index(key, index), item, attribute);
                }
            }
            other if self.mode.validate => {
                let (expected, got) =
                    (describe_type(self.schema, attribute), describe_value(other));
                self.error(
                    Leaf::Key(key),
                    format_args!("expected an array of {expected}, got {got}"),
                );
            }
            _ => {}
        }
    }

    /// One value (an attribute, or one element of an array attribute).
    fn single(&mut self, leaf: Leaf<'_>, value: &mut Value, attribute: &'static schema::Attribute) {
        match (attribute.value_type, &mut *value) {
            (ValueType::Object(_), Value::Object(_))
                if self.depth >= MAX_DEPTH && self.mode.validate =>
            {
                let message = format_args!("nested deeper than {MAX_DEPTH} objects");
                self.error(leaf, message);
            }
            (ValueType::Object(_), Value::Object(_)) if self.depth >= MAX_DEPTH => {}
            (ValueType::Object(id), Value::Object(map)) => {
                let length = self.path.len();
                leaf.append_to(&mut self.path);
                self.depth += 1;
                self.object(map, &self.schema.object(id).attributes);
                self.depth -= 1;
                self.path.truncate(length);
            }
            (ValueType::AnyObject, Value::Object(_)) | (ValueType::Json, _) => {}
            _ if self.mode.validate => self.scalar(leaf, value, attribute),
            _ => {}
        }
    }

    fn scalar(&mut self, leaf: Leaf<'_>, value: &Value, attribute: &schema::Attribute) {
        let fits = match (attribute.value_type, value) {
            (ValueType::Boolean, Value::Boolean(_))
            | (ValueType::Float, Value::Integer(_) | Value::Float(_)) => true,
            (ValueType::Long | ValueType::Timestamp, _) => derive::as_integer(value).is_some(),
            (ValueType::Integer { min, max }, _) if derive::as_integer(value).is_some() => {
                let number = derive::as_integer(value).unwrap_or_default();
                if !(min..=max).contains(&number) {
                    let message = format_args!("{number} is out of range ({min} to {max})");
                    return self.error(leaf, message);
                }
                true
            }
            (ValueType::String { max_len }, Value::Bytes(_) | Value::String(_)) => {
                let bytes = value.as_bytes().map_or(&[][..], |b| &b[..]);
                if let Some(max_len) = max_len
                    && bytes.len() > max_len
                    && String::from_utf8_lossy(bytes).chars().count() > max_len
                {
                    let message = format_args!("longer than {max_len} characters");
                    return self.error(leaf, message);
                }
                true
            }
            _ => false,
        };
        if !fits {
            let (expected, got) = (describe_type(self.schema, attribute), describe_value(value));
            return self.error(leaf, format_args!("expected {expected}, got {got}"));
        }
        match (&attribute.enumeration, value) {
            (Some(values @ Enumeration::Integer(_)), _) => {
                let Some(id) = derive::as_integer(value) else {
                    return;
                };
                if values.caption_of(id).is_some() {
                    return;
                }
                let known = values.describe();
                self.error(leaf, format_args!("{id} is not in the enum ({known})"));
            }
            (Some(values @ Enumeration::String(_)), Value::Bytes(_) | Value::String(_)) => {
                let text = value.as_bytes().map_or(&[][..], |b| &b[..]);
                let text = String::from_utf8_lossy(text);
                if !values.contains_str(&text) {
                    let known = values.describe();
                    self.error(
                        leaf,
                        format_args!("\"{text}\" is not in the enum ({known})"),
                    );
                }
            }
            _ => {}
        }
    }

    /// `at_least_one` and `just_one` of the object `set` describes.
    /// `seen` has the attributes of `set` that `map` has (one-name paths are checked on it,
    /// dotted paths in the map).
    fn constraints(&mut self, map: &ObjectMap, set: &AttributeSet, seen: u128) {
        for (constraint, mask) in set.constraints_with_masks() {
            let (paths, just_one) = match constraint {
                Constraint::AtLeastOne(paths) => (paths, false),
                Constraint::JustOne(paths) => (paths, true),
            };
            let dotted = paths
                .iter()
                .filter(|path| path.len() > 1 && is_present(map, path))
                .count();
            let present = (seen & mask).count_ones() as usize + dotted;
            if present == 0 || (just_one && present > 1) {
                let names = paths
                    .iter()
                    .map(|path| path.join("."))
                    .collect::<Vec<_>>()
                    .join(", ");
                let rule = if just_one {
                    "exactly one"
                } else {
                    "at least one"
                };
                self.error(
                    Leaf::Here,
                    format_args!("{rule} of {names} is required, found {present}"),
                );
            }
        }
    }

    /// `type_uid` is `class_uid * 100 + activity_id` (when the event has both ids).
    fn type_uid(&mut self, class_uid: i64, activity_id: Option<i64>, type_uid: Option<i64>) {
        if let (Some(type_uid), Some(activity_id)) = (type_uid, activity_id)
            && let Some(expected) = class_uid
                .checked_mul(100)
                .and_then(|uid| uid.checked_add(activity_id))
            && type_uid != expected
        {
            self.error(
                Leaf::Key("type_uid"),
                format_args!("{type_uid} is not class_uid * 100 + activity_id ({expected})"),
            );
        }
    }
}

/// Whether the attribute at `path` (one name, or a dotted path into objects) has a value.
fn is_present(map: &ObjectMap, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut current = map;
    for parent in parents {
        match current.get(parent.as_str()) {
            Some(Value::Object(inner)) => current = inner,
            _ => return false,
        }
    }
    !derive::is_missing(current, last)
}

/// What an attribute expects, for messages: `timestamp_t (epoch milliseconds, an integer)`.
fn describe_type(schema: &Schema, attribute: &schema::Attribute) -> String {
    let base = match attribute.value_type {
        ValueType::Boolean => "a boolean",
        ValueType::Integer { .. } => "a 32-bit integer",
        ValueType::Long => "an integer",
        ValueType::Timestamp => "epoch milliseconds, an integer",
        ValueType::Float => "a number",
        ValueType::String { .. } => "a string",
        ValueType::Json => "any value",
        ValueType::Object(_) | ValueType::AnyObject => "an object",
    };
    match attribute.value_type {
        ValueType::Object(id) => format!("an object ({})", schema.object(id).name),
        _ => format!("{} ({base})", attribute.type_name),
    }
}

/// A value's kind, for messages.
fn describe_value(value: &Value) -> &'static str {
    match value {
        Value::Bytes(_) | Value::String(_) | Value::Regex(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Timestamp(_) => "a timestamp (not epoch milliseconds)",
        Value::Object(_) => "an object",
        Value::Array(_) => "an array",
        Value::Null => "null",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALIDATE: Mode = Mode {
        derive: false,
        validate: true,
    };
    const BOTH: Mode = Mode {
        derive: true,
        validate: true,
    };

    fn event(json: &str) -> Value {
        serde_json::from_str(json).expect("JSON")
    }

    /// A complete, valid API Activity event (OCSF 1.3.0).
    fn api_activity() -> Value {
        event(
            r#"{"class_uid": 6003, "category_uid": 6, "activity_id": 1, "type_uid": 600301,
                "class_name": "API Activity", "category_name": "Application Activity",
                "activity_name": "Create", "type_name": "API Activity: Create",
                "severity_id": 1, "severity": "Informational", "time": 1767225600123,
                "metadata": {"version": "1.3.0", "uid": "u-1",
                             "product": {"name": "ConductorOne", "vendor_name": "ConductorOne"}},
                "actor": {"user": {"uid": "user-1", "type_id": 1, "type": "User"}},
                "api": {"operation": "/c1.api.app.v1.Apps/Update"},
                "src_endpoint": {"ip": "192.0.2.1", "port": 443},
                "unmapped": {"anything": [1, {"goes": true}]}}"#,
        )
    }

    fn errors(value: &mut Value, version: &str, mode: Mode) -> Vec<String> {
        let schema = schema::schema(version).expect("embedded");
        check(value, schema, mode).errors
    }

    fn with(mut value: Value, path: &str, field: Value) -> Value {
        let mut target = &mut value;
        let parts: Vec<&str> = path.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            target = target
                .as_object_mut()
                .expect("object")
                .entry((*part).into())
                .or_insert_with(|| Value::Object(ObjectMap::new()));
        }
        let map = target.as_object_mut().expect("object");
        if field == Value::Null {
            map.remove(parts[parts.len() - 1]);
        } else {
            map.insert(parts[parts.len() - 1].into(), field);
        }
        value
    }

    #[test]
    fn a_complete_event_is_valid_at_every_version() {
        for version in schema::VERSIONS {
            assert_eq!(
                errors(&mut api_activity(), version, VALIDATE),
                Vec::<String>::new()
            );
        }
    }

    #[test]
    fn the_class_must_be_known() {
        let mut value = event(r#"{"class_uid": 9999}"#);
        assert_eq!(
            errors(&mut value, "1.3.0", VALIDATE),
            ["class_uid: 9999 is not a class of OCSF 1.3.0"]
        );
        // Added in 1.5.0 (Remediation category): unknown before.
        let mut value = event(r#"{"class_uid": 7001}"#);
        assert!(errors(&mut value, "1.1.0", VALIDATE)[0].contains("not a class"));
        let mut value = event(r#"{"class_uid": "6003"}"#);
        assert_eq!(
            errors(&mut value, "1.3.0", VALIDATE),
            ["class_uid: expected an integer, got a string"]
        );
        assert_eq!(
            errors(&mut event("{}"), "1.3.0", VALIDATE),
            ["class_uid: required, missing"]
        );
        assert_eq!(
            errors(&mut event("[1]"), "1.3.0", VALIDATE),
            [".: the event is not an object"]
        );
    }

    #[test]
    fn required_attributes_at_any_depth() {
        let mut value = with(api_activity(), "metadata", Value::Null);
        assert_eq!(
            errors(&mut value, "1.3.0", VALIDATE),
            ["metadata: required, missing"]
        );
        let mut value = with(api_activity(), "metadata.product", Value::Null);
        assert_eq!(
            errors(&mut value, "1.3.0", VALIDATE),
            ["metadata.product: required, missing"]
        );
        // A null counts as missing.
        let mut value = with(api_activity(), "api.operation", Value::Null);
        value
            .as_object_mut()
            .unwrap()
            .insert("time".into(), Value::Null);
        assert_eq!(
            errors(&mut value, "1.3.0", VALIDATE),
            [
                "api.operation: required, missing",
                "time: required, missing"
            ]
        );
    }

    #[test]
    fn profile_attributes_are_required_only_under_their_profile() {
        let mut value = api_activity();
        assert!(errors(&mut value, "1.3.0", VALIDATE).is_empty());
        let profiles = Value::Array(vec![Value::from("cloud")]);
        let mut value = with(api_activity(), "metadata.profiles", profiles);
        assert_eq!(
            errors(&mut value, "1.3.0", VALIDATE),
            ["cloud: required, missing"]
        );
        let cloud = event(r#"{"provider": "AWS"}"#);
        let mut value = with(value, "cloud", cloud);
        assert!(errors(&mut value, "1.3.0", VALIDATE).is_empty());
        // Inside an object: cloud.account requires `at_least_one` of name/uid.
        let mut value = with(value, "cloud.account", event("{}"));
        assert_eq!(
            errors(&mut value, "1.3.0", VALIDATE),
            ["cloud.account: at least one of name, uid is required, found 0"]
        );
    }

    #[test]
    fn types_are_checked() {
        for (path, value, expected) in [
            (
                "time",
                Value::from("2026-01-01"),
                "time: expected timestamp_t (epoch milliseconds, an integer), got a string",
            ),
            (
                "activity_id",
                event("1.5"),
                "activity_id: expected integer_t (a 32-bit integer), got a float",
            ),
            (
                "activity_id",
                Value::from(1i64 << 40),
                "activity_id: 1099511627776 is out of range (-2147483648 to 2147483647)",
            ),
            (
                "src_endpoint.port",
                Value::from(70000),
                "src_endpoint.port: 70000 is out of range (0 to 65535)",
            ),
            (
                "actor.user.uid",
                Value::from(7),
                "actor.user.uid: expected string_t (a string), got an integer",
            ),
            (
                "actor",
                Value::from("root"),
                "actor: expected an object (actor), got a string",
            ),
            (
                "observables",
                event("{}"),
                "observables: expected an array of an object (observable), got an object",
            ),
            (
                "actor.session.is_remote",
                Value::from("yes"),
                "actor.session.is_remote: expected boolean_t (a boolean), got a string",
            ),
            (
                "unmapped",
                Value::from(1),
                "unmapped: expected object_t (an object), got an integer",
            ),
        ] {
            let mut event = with(api_activity(), path, value);
            assert_eq!(errors(&mut event, "1.3.0", VALIDATE)[0], expected, "{path}");
        }
        // Floats take integers; long takes 64 bits; integral floats are integers (JSON Schema
        // says so too), other floats are not.
        let mut value = with(api_activity(), "type_uid", Value::from(600301));
        assert!(errors(&mut value, "1.3.0", VALIDATE).is_empty());
        let value = with(api_activity(), "time", event("1767225600123.0"));
        let mut value = with(value, "src_endpoint.port", event("443.0"));
        assert!(errors(&mut value, "1.3.0", VALIDATE).is_empty());
        let mut value = with(api_activity(), "time", event("1767225600123.5"));
        assert_eq!(errors(&mut value, "1.3.0", VALIDATE).len(), 1);
    }

    #[test]
    fn string_lengths_follow_the_type() {
        // ip_t has max_len 40.
        let long = "1".repeat(41);
        let mut value = with(api_activity(), "src_endpoint.ip", Value::from(long));
        assert_eq!(
            errors(&mut value, "1.3.0", VALIDATE),
            ["src_endpoint.ip: longer than 40 characters"]
        );
    }

    #[test]
    fn enum_values_must_be_in_their_enum() {
        let mut value = with(api_activity(), "activity_id", Value::from(7));
        let found = errors(&mut value, "1.3.0", VALIDATE);
        assert_eq!(
            found,
            [
                "activity_id: 7 is not in the enum (0, 1, 2, 3, 4, 99)",
                "type_uid: 600301 is not class_uid * 100 + activity_id (600307)"
            ]
        );
        let mut value = with(api_activity(), "actor.user.type_id", Value::from(99));
        assert!(errors(&mut value, "1.3.0", VALIDATE).is_empty());
        let mut value = with(api_activity(), "actor.user.type_id", Value::from(5));
        assert!(
            errors(&mut value, "1.3.0", VALIDATE)[0]
                .starts_with("actor.user.type_id: 5 is not in the enum")
        );
        let request = event(r#"{"http_method": "get"}"#);
        let mut value = with(api_activity(), "http_request", request);
        assert_eq!(
            errors(&mut value, "1.3.0", VALIDATE),
            [
                r#"http_request.http_method: "get" is not in the enum ("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "TRACE")"#
            ]
        );
    }

    #[test]
    fn arrays_are_checked_element_by_element() {
        let observables = event(
            r#"[{"name": "actor.user.uid", "type_id": 20, "value": "u"},
                {"name": "x", "type_id": 12345}, {"type_id": 1}]"#,
        );
        let mut value = with(api_activity(), "observables", observables);
        let found = errors(&mut value, "1.3.0", VALIDATE);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("observables[1].type_id: 12345 is not in the enum"));
        assert_eq!(found[1], "observables[2].name: required, missing");
    }

    #[test]
    fn unknown_attributes_are_reported_except_in_free_form_objects() {
        let mut value = with(api_activity(), "actor.user.nickname", Value::from("x"));
        let mut value2 = with(api_activity(), "colour", Value::from("blue"));
        assert_eq!(
            errors(&mut value, "1.3.0", VALIDATE),
            ["actor.user.nickname: unknown attribute"]
        );
        assert_eq!(
            errors(&mut value2, "1.3.0", VALIDATE),
            ["colour: unknown attribute"]
        );
    }

    #[test]
    fn constraints_at_least_one_and_just_one() {
        // actor needs at least one of process, user, invoked_by, session.
        let mut value = with(api_activity(), "actor", event(r#"{"authorizations": []}"#));
        assert_eq!(
            errors(&mut value, "1.3.0", VALIDATE),
            [
                "actor: at least one of process, user, invoked_by, session, app_name, app_uid is required, found 0"
            ]
        );
        // A class-level constraint with dotted paths (Patch State, 1.8.0).
        let schema = schema::schema("1.8.0").unwrap();
        let patch = schema.class_by_name("patch_state").unwrap();
        let mut map = ObjectMap::new();
        let mut walk_outcome = Outcome::default();
        let mut walk = Walk {
            schema,
            profiles: 0,
            mode: VALIDATE,
            path: String::new(),
            depth: 0,
            out: &mut walk_outcome,
        };
        walk.constraints(&map, &patch.attributes, 0);
        assert!(walk_outcome.errors[0].starts_with(".: at least one of device.os.sp_name"));
        map.insert("device".into(), event(r#"{"os": {"version": "1"}}"#));
        let mut outcome = Outcome::default();
        Walk {
            schema,
            profiles: 0,
            mode: VALIDATE,
            path: String::new(),
            depth: 0,
            out: &mut outcome,
        }
        .constraints(
            &map,
            &patch.attributes,
            derive::present(&map, &patch.attributes),
        );
        assert!(outcome.is_valid());
        // just_one: find one in 1.8.0 and break it with two members.
        let (object, paths) = schema_with_just_one(schema);
        let mut map = ObjectMap::new();
        for path in &paths[..2] {
            map.insert(path[0].as_str().into(), Value::from("x"));
        }
        let mut outcome = Outcome::default();
        Walk {
            schema,
            profiles: 0,
            mode: VALIDATE,
            path: "here".into(),
            depth: 0,
            out: &mut outcome,
        }
        .constraints(
            &map,
            &object.attributes,
            derive::present(&map, &object.attributes),
        );
        assert!(
            outcome.errors[0].starts_with("here: exactly one of"),
            "{:?}",
            outcome.errors
        );
        assert!(outcome.errors[0].ends_with("is required, found 2"));
    }

    fn schema_with_just_one(
        schema: &'static Schema,
    ) -> (&'static schema::Object, Vec<Vec<String>>) {
        for name in ["query_evidence", "startup_item", "vulnerability"] {
            if let Some(object) = schema.object_by_name(name) {
                for constraint in object.attributes.constraints() {
                    if let Constraint::JustOne(paths) = constraint {
                        return (object, paths.clone());
                    }
                }
            }
        }
        panic!("no just_one constraint found among the objects tried");
    }

    #[test]
    fn nesting_is_bounded() {
        // process.parent_process... 100 deep: reported once at the limit, not walked further.
        let mut process = event(r#"{"pid": 1}"#);
        for _ in 0..100 {
            let mut parent = ObjectMap::new();
            parent.insert("pid".into(), Value::from(1));
            parent.insert("parent_process".into(), process);
            process = Value::Object(parent);
        }
        let mut value = with(api_activity(), "actor.process", process);
        let found = errors(&mut value, "1.3.0", VALIDATE);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].ends_with(".parent_process: nested deeper than 64 objects"));
        assert_eq!(found[0].matches("parent_process").count(), 63);
    }

    #[test]
    fn errors_are_capped_but_counted() {
        let mut value = api_activity();
        let map = value.as_object_mut().unwrap();
        for n in 0..30 {
            map.insert(format!("extra_{n:02}").into(), Value::from(n));
        }
        let schema = schema::schema("1.3.0").unwrap();
        let outcome = check(&mut value, schema, VALIDATE);
        assert_eq!(outcome.errors.len(), MAX_ERRORS);
        assert_eq!(outcome.error_count, 30);
    }

    #[test]
    fn deriving_completes_a_stripped_event_which_then_validates() {
        let mut value = api_activity();
        let map = value.as_object_mut().unwrap();
        for derived in [
            "category_uid",
            "type_uid",
            "class_name",
            "category_name",
            "activity_name",
            "type_name",
            "severity",
        ] {
            map.remove(derived);
        }
        let schema = schema::schema("1.3.0").unwrap();
        let outcome = check(&mut value, schema, BOTH);
        assert_eq!(outcome.errors, Vec::<String>::new());
        assert_eq!(outcome.derived, 7);
        assert_eq!(value, api_activity());
        // actor.user.type derives at depth; observables[].type too.
        let observables = event(r#"[{"name": "actor.user.uid", "type_id": 4, "value": "u"}]"#);
        let mut value = with(api_activity(), "observables", observables);
        let outcome = check(&mut value, schema, BOTH);
        assert!(outcome.is_valid(), "{:?}", outcome.errors);
        let json = serde_json::to_value(&value).unwrap();
        assert_eq!(json["actor"]["user"]["type"], "User");
        assert_eq!(json["observables"][0]["type"], "User Name");
    }

    #[test]
    fn the_schema_follows_metadata_version_unless_fixed() {
        let fixed = schema::schema("1.8.0").unwrap();
        let value = api_activity();
        assert_eq!(schema_for(&value, None).unwrap().version(), "1.3.0");
        assert_eq!(schema_for(&value, Some(fixed)).unwrap().version(), "1.8.0");
        let value = with(api_activity(), "metadata.version", Value::from("1.1.0"));
        assert_eq!(schema_for(&value, None).unwrap().version(), "1.1.0");
        let value = with(api_activity(), "metadata.version", Value::from("1.4.0"));
        assert_eq!(schema_for(&value, None).unwrap().version(), "1.3.0");
    }
}
