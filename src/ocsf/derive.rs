//! Deriving: the fields of an OCSF event that follow from its ids, filled in where missing
//! (never overwritten).
//!
//! * From `class_uid` and `activity_id`: `category_uid` and `type_uid`
//!   (`class_uid * 100 + activity_id`), by [`class_fields`].
//! * From every `*_id` enum at any depth: its string sibling (`activity_name`, `class_name`,
//!   `category_name`, `type_name`, `severity`, `status`, `actor.user.type`, ...) with the
//!   enum caption, by [`siblings`]. An existing name is kept even when it differs from the
//!   caption (ConductorOne writes grant types into `activity_name`); ids outside the enum
//!   derive nothing (validation reports them).
//!
//! Captions are `'static` (the schema lives for the process), so a derived name is a
//! `Bytes::from_static`: no copy of the text.

use bytes::Bytes;
use vrl::value::{KeyString, ObjectMap, Value};

use super::schema::{AttributeSet, Class};

/// Whether `map` lacks `name` (a `null` counts as missing).
pub(crate) fn is_missing(map: &ObjectMap, name: &str) -> bool {
    map.get(name).is_none_or(Value::is_null)
}

/// An integer value: an integer, or a float with no fractional part (JSON numbers such as
/// `200.0`, which JSON Schema counts as integers too; ConductorOne's API may send every number
/// as a double).
pub(crate) fn as_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(number) => Some(*number),
        Value::Float(number) => {
            let number = number.into_inner();
            // 2^63 as f64: the first float past i64's range.
            let in_range =
                (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&number);
            (number.fract() == 0.0 && in_range).then_some(number as i64)
        }
        _ => None,
    }
}

fn caption_value(caption: &'static str) -> Value {
    Value::Bytes(Bytes::from_static(caption.as_bytes()))
}

/// What [`class_fields`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ClassFields {
    /// Fields added.
    pub(crate) added: u64,
    /// Of those, how many an event using the given profiles requires.
    pub(crate) required: usize,
    /// The `type_uid` added, if one was.
    pub(crate) type_uid: Option<i64>,
}

/// Fills in `category_uid` and `type_uid` (from `activity`, the event's `activity_id`) of an
/// event of `class` where `seen` (positions in the class's attributes the event has) says they
/// are missing; marks them seen.
pub(crate) fn class_fields(
    map: &mut ObjectMap,
    class: &'static Class,
    seen: &mut u128,
    activity: Option<i64>,
    profiles: u64,
) -> ClassFields {
    let set = &class.attributes;
    let mut done = ClassFields::default();
    let missing = |seen: u128, name: &str| set.position(name).filter(|at| seen & 1 << at == 0);
    let mut add = |map: &mut ObjectMap, seen: &mut u128, at: usize, value: i64| {
        let attribute = &set.as_slice()[at];
        map.insert(
            KeyString::from(attribute.name.as_str()),
            Value::Integer(value),
        );
        *seen |= 1 << at;
        done.added += 1;
        done.required += usize::from(attribute.is_required(profiles));
    };
    if let Some(at) = missing(*seen, "category_uid") {
        add(map, seen, at, class.category_uid);
    }
    if let Some(at) = missing(*seen, "type_uid")
        && let Some(activity) = activity
        && activity_known(class, activity)
    {
        // Both are small: the activity is in the enum.
        let type_uid = class.uid * 100 + activity;
        add(map, seen, at, type_uid);
        done.type_uid = Some(type_uid);
    }
    done
}

/// Whether `activity` is one of `class`'s activities.
fn activity_known(class: &Class, activity: i64) -> bool {
    class
        .attributes
        .get("activity_id")
        .and_then(|attribute| attribute.enumeration.as_ref())
        .is_some_and(|values| values.caption_of(activity).is_some())
}

/// Which attributes of `set` `map` has (not `null`), as bits by position in the set (the walk
/// notes them as it goes; tests call [`siblings`] on their own).
#[cfg(test)]
pub(crate) fn present(map: &ObjectMap, set: &AttributeSet) -> u128 {
    map.iter()
        .filter(|(_, value)| !value.is_null())
        .filter_map(|(key, _)| set.position(key.as_str()))
        .fold(0, |seen, at| seen | 1 << at)
}

/// Fills in the string sibling of every `*_id` enum of `set` present in `map` whose name is
/// missing; `seen` says which attributes `map` has (see [`present`]) and gets the derived ones
/// added. Returns how many fields were added, and how many of them an event using `profiles`
/// requires.
pub(crate) fn siblings(
    map: &mut ObjectMap,
    set: &'static AttributeSet,
    seen: &mut u128,
    profiles: u64,
) -> (u64, usize) {
    let (mut added, mut required) = (0, 0);
    for (id, name) in set.sibling_positions() {
        if *seen & (1 << name) != 0 || *seen & (1 << id) == 0 {
            continue;
        }
        let name_bit = 1 << name;
        let (id, name) = (&set.as_slice()[id], &set.as_slice()[name]);
        let Some(values) = &id.enumeration else {
            continue;
        };
        let derived = match map.get(id.name.as_str()) {
            Some(Value::Array(ids)) if id.is_array && name.is_array => ids
                .iter()
                .map(|value| values.caption_of(as_integer(value)?).map(caption_value))
                .collect::<Option<Vec<_>>>()
                .map(Value::Array),
            Some(value) if !id.is_array => as_integer(value)
                .and_then(|value| values.caption_of(value))
                .map(caption_value),
            _ => None,
        };
        if let Some(derived) = derived {
            map.insert(KeyString::from(name.name.as_str()), derived);
            *seen |= name_bit;
            added += 1;
            required += usize::from(name.is_required(profiles));
        }
    }
    (added, required)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocsf::schema::schema;

    fn object(json: &str) -> ObjectMap {
        match serde_json::from_str(json).expect("JSON") {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    fn text(map: &ObjectMap, name: &str) -> Option<String> {
        map.get(name)
            .and_then(Value::as_bytes)
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
    }

    #[test]
    fn class_fields_follow_from_class_uid_and_activity_id() {
        let class = schema("1.3.0").unwrap().class(6003).unwrap();
        let run = |json: &str| {
            let mut map = object(json);
            let mut seen = present(&map, &class.attributes);
            let activity = map.get("activity_id").and_then(as_integer);
            let done = class_fields(&mut map, class, &mut seen, activity, 0);
            assert_eq!(seen, present(&map, &class.attributes));
            (map, done)
        };
        let (map, done) = run(r#"{"class_uid": 6003, "activity_id": 3}"#);
        assert_eq!((done.added, done.required), (2, 2));
        assert_eq!(done.type_uid, Some(600303));
        assert_eq!(map.get("category_uid"), Some(&Value::Integer(6)));
        assert_eq!(map.get("type_uid"), Some(&Value::Integer(600303)));
        // Never overwritten; an activity outside the enum derives no type_uid.
        let (map, done) = run(r#"{"class_uid": 6003, "activity_id": 3, "type_uid": 1}"#);
        assert_eq!(map.get("type_uid"), Some(&Value::Integer(1)));
        assert_eq!(done.type_uid, None);
        // Integral floats are integers (ConductorOne's API sends doubles).
        let (map, _) = run(r#"{"class_uid": 6003, "activity_id": 3.0}"#);
        assert_eq!(map.get("type_uid"), Some(&Value::Integer(600303)));
        let (map, done) = run(r#"{"class_uid": 6003, "activity_id": 42}"#);
        assert_eq!(done.added, 1);
        assert!(is_missing(&map, "type_uid"));
    }

    #[test]
    fn siblings_get_the_enum_caption_only_when_missing() {
        let class = schema("1.3.0").unwrap().class(3002).unwrap();
        let mut map = object(
            r#"{"class_uid": 3002, "activity_id": 1, "severity_id": 99, "status_id": 7,
                "type_uid": 300201, "category_uid": 3, "activity_name": "client_credentials",
                "status": null}"#,
        );
        let mut seen = present(&map, &class.attributes);
        let (added, _) = siblings(&mut map, &class.attributes, &mut seen, 0);
        assert_eq!(text(&map, "class_name").as_deref(), Some("Authentication"));
        assert_eq!(
            text(&map, "category_name").as_deref(),
            Some("Identity & Access Management")
        );
        assert_eq!(
            text(&map, "type_name").as_deref(),
            Some("Authentication: Logon")
        );
        assert_eq!(text(&map, "severity").as_deref(), Some("Other"));
        // Kept although it differs from the caption (Logon).
        assert_eq!(
            text(&map, "activity_name").as_deref(),
            Some("client_credentials")
        );
        // 7 is not a status id: nothing derived, validation will say why.
        assert_eq!(map.get("status"), Some(&Value::Null));
        assert_eq!(added, 4);
    }

    #[test]
    fn array_siblings_are_derived_when_every_id_is_known() {
        let schema = schema("1.8.0").unwrap();
        let answer = schema.object_by_name("dns_answer").unwrap();
        let set = &answer.attributes;
        let mut map = object(r#"{"flag_ids": [1, 2]}"#);
        let mut seen = present(&map, set);
        assert_eq!(siblings(&mut map, set, &mut seen, 0), (1, 0));
        assert_eq!(seen, present(&map, set));
        let flags = map.get("flags").and_then(Value::as_array).unwrap();
        assert_eq!(flags.len(), 2);
        let mut map = object(r#"{"flag_ids": [1, 1234]}"#);
        let mut seen = present(&map, set);
        assert_eq!(siblings(&mut map, set, &mut seen, 0), (0, 0));
    }
}
