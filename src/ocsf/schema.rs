//! The official OCSF schema, embedded: every class, object, attribute, type and enum of the
//! versions in [`VERSIONS`].
//!
//! The compiled schema files in `schemas/ocsf/` (see their `PROVENANCE.md`) are embedded
//! gzip-compressed; a version is decompressed and turned into lookup tables the first time it
//! is asked for ([`schema`]), once per process, and lives for the rest of it. Nothing is loaded
//! for a version no configuration or VRL call uses.
//!
//! The model is general, for every consumer of the schema (the `ocsf` transform, the VRL
//! functions, and sinks that need column types): a [`Schema`] has [`Class`]es (by `class_uid`
//! or name) and [`Object`]s (by name), each with an [`AttributeSet`] of [`Attribute`]s sorted by
//! name; an attribute has its resolved [`ValueType`], array flag, [`Requirement`], profiles,
//! enum and enum sibling.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::OnceLock;

use serde::Deserialize;

/// Every embedded OCSF version, oldest first.
pub const VERSIONS: &[&str] = &["1.1.0", "1.3.0", "1.5.0", "1.8.0"];

/// The version used when neither a configuration nor the event names an embedded one: the
/// highest version Amazon Security Lake accepts for custom sources.
pub const DEFAULT_VERSION: &str = "1.3.0";

/// The compressed schema files, in the order of [`VERSIONS`].
static COMPRESSED: [&[u8]; 4] = [
    include_bytes!("../../schemas/ocsf/ocsf-1.1.0.json.gz"),
    include_bytes!("../../schemas/ocsf/ocsf-1.3.0.json.gz"),
    include_bytes!("../../schemas/ocsf/ocsf-1.5.0.json.gz"),
    include_bytes!("../../schemas/ocsf/ocsf-1.8.0.json.gz"),
];

/// Each version once loaded (or the reason it could not be).
static LOADED: [OnceLock<Result<Schema, SchemaError>>; 4] = [
    OnceLock::new(),
    OnceLock::new(),
    OnceLock::new(),
    OnceLock::new(),
];

/// Why a schema version is not available.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    /// The version is not one of [`VERSIONS`].
    #[error("OCSF version `{0}` is not embedded (embedded versions: {list})", list = VERSIONS.join(", "))]
    UnknownVersion(String),
    /// The embedded file could not be read (a build problem, never the user's).
    #[error("the embedded OCSF {version} schema cannot be read: {reason}")]
    Corrupt {
        /// The version.
        version: &'static str,
        /// What went wrong.
        reason: String,
    },
}

/// The schema of `version` (one of [`VERSIONS`]), loaded on first use.
pub fn schema(version: &str) -> Result<&'static Schema, SchemaError> {
    let index = VERSIONS
        .iter()
        .position(|known| *known == version)
        .ok_or_else(|| SchemaError::UnknownVersion(version.to_owned()))?;
    LOADED[index]
        .get_or_init(|| load(VERSIONS[index], COMPRESSED[index]))
        .as_ref()
        .map_err(Clone::clone)
}

/// The embedded version named `version`, as a `'static` string.
pub fn embedded_version(version: &str) -> Option<&'static str> {
    VERSIONS.iter().copied().find(|known| *known == version)
}

fn load(version: &'static str, compressed: &[u8]) -> Result<Schema, SchemaError> {
    let corrupt = |reason: String| SchemaError::Corrupt { version, reason };
    let mut json = Vec::with_capacity(compressed.len() * 12);
    flate2::read::GzDecoder::new(compressed)
        .read_to_end(&mut json)
        .map_err(|error| corrupt(error.to_string()))?;
    let raw: RawSchema = serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))?;
    if raw.version != version {
        return Err(corrupt(format!("it says it is version {}", raw.version)));
    }
    Schema::build(version, raw).map_err(corrupt)
}

/// One OCSF version: its classes, objects and profiles.
#[derive(Debug)]
pub struct Schema {
    version: &'static str,
    /// Sorted by `uid`.
    classes: Vec<Class>,
    objects: Vec<Object>,
    object_index: HashMap<String, ObjectId>,
    /// Sorted; an attribute's profile mask has bit `i` for `profiles[i]`.
    profiles: Vec<String>,
}

/// An index into [`Schema`]'s objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectId(u32);

/// An event class (`base_event` included, uid 0).
#[derive(Debug)]
pub struct Class {
    /// `class_uid`, e.g. 6003.
    pub uid: i64,
    /// e.g. `api_activity`.
    pub name: String,
    /// e.g. `API Activity`.
    pub caption: String,
    /// e.g. 6.
    pub category_uid: i64,
    /// e.g. `Application Activity` (none for `base_event`).
    pub category_name: Option<String>,
    /// The class's attributes, inherited ones included.
    pub attributes: AttributeSet,
}

/// An object type (`user`, `metadata`, ...).
#[derive(Debug)]
pub struct Object {
    /// e.g. `user`.
    pub name: String,
    /// e.g. `User`.
    pub caption: String,
    /// Its attributes.
    pub attributes: AttributeSet,
}

/// The attributes of a class or object, sorted by name, with a hash index by name, what is
/// required, and the rules that involve several of them.
///
/// A set has at most [`AttributeSet::MAX_ATTRIBUTES`] attributes (86 is the most any class or
/// object has, in 1.8.0), so a walk can note the attributes it has seen in one `u128`.
#[derive(Debug, Default)]
pub struct AttributeSet {
    attributes: Vec<Attribute>,
    /// The attributes' names, in the same order, packed for lookups (an `Attribute` is
    /// large: comparing against its name touches a cache line per probe).
    names: Vec<Box<str>>,
    /// Open addressing by [`slot_hash`]: an index into `attributes`, or [`EMPTY_SLOT`].
    slots: Vec<u8>,
    /// `64 - log2(slots.len())`: the hash's top bits pick the first slot.
    shift: u32,
    /// How many required attributes apply to every event (no profile).
    required_core: usize,
    /// Indexes of required attributes a profile contributes.
    required_profiled: Vec<u8>,
    /// Indexes of `*_id` enum attributes whose `sibling` is an attribute of this set.
    siblings: Vec<(u8, u8)>,
    constraints: Vec<Constraint>,
    /// For each constraint, the positions of its one-name members as bits.
    constraint_masks: Vec<u128>,
}

/// An empty slot of an [`AttributeSet`]'s index.
const EMPTY_SLOT: u8 = u8::MAX;

/// A cheap hash of an attribute name: its length and three of its bytes, mixed. Names are
/// short and distinct enough that this spreads them well, and it costs a few instructions
/// where hashing every byte would cost as much as the comparisons it replaces.
fn slot_hash(name: &[u8]) -> u64 {
    let length = name.len();
    let (first, middle, last) = match length {
        0 => (0, 0, 0),
        _ => (name[0], name[length / 2], name[length - 1]),
    };
    let word =
        length as u64 | u64::from(first) << 16 | u64::from(middle) << 24 | u64::from(last) << 32;
    word.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A rule over several attributes of one class or object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Constraint {
    /// At least one of these (paths, usually one name each) is present.
    AtLeastOne(Vec<Vec<String>>),
    /// Exactly one of these is present.
    JustOne(Vec<Vec<String>>),
}

/// One attribute of a class or object, resolved.
#[derive(Debug)]
pub struct Attribute {
    /// e.g. `activity_id`.
    pub name: String,
    /// e.g. `Activity ID`.
    pub caption: String,
    /// The OCSF type name, e.g. `timestamp_t`, `port_t`, or `object_t`.
    pub type_name: String,
    /// What a value must be.
    pub value_type: ValueType,
    /// Whether the value is an array of `value_type`.
    pub is_array: bool,
    /// `required`, `recommended` or `optional`.
    pub requirement: Requirement,
    /// Profiles that contribute the attribute, as a mask (see [`Schema::profile_mask`]); 0
    /// for core attributes.
    pub profiles: u64,
    /// For an `*_id` enum: the name of its string sibling (`activity_id` → `activity_name`).
    pub sibling: Option<String>,
    /// The allowed values with their captions, when the attribute is an enum.
    pub enumeration: Option<Enumeration>,
    /// Whether the schema marks the attribute deprecated.
    pub deprecated: bool,
}

/// How much an attribute is expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// Must be present.
    Required,
    /// Should be present.
    Recommended,
    /// May be present.
    Optional,
}

/// What a value must be, its OCSF type resolved down to a base type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// `boolean_t`.
    Boolean,
    /// `integer_t` and types based on it (a 32-bit range unless the type narrows it, as
    /// `port_t` does).
    Integer {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
    },
    /// `long_t` (64-bit).
    Long,
    /// `timestamp_t`: epoch milliseconds, an integer.
    Timestamp,
    /// `float_t` (an integer is a float too).
    Float,
    /// `string_t` and types based on it.
    String {
        /// Longest value in characters, when the type limits it.
        max_len: Option<usize>,
    },
    /// `json_t`: any value.
    Json,
    /// An object of the given type.
    Object(ObjectId),
    /// The free-form `object` (e.g. `unmapped`): any JSON object, not checked further.
    AnyObject,
}

/// The values of an enum attribute, sorted, with their captions.
#[derive(Debug)]
pub enum Enumeration {
    /// Integer ids (`*_id` attributes).
    Integer(Vec<(i64, String)>),
    /// String values (a few string attributes, e.g. `http_request.http_method`).
    String(Vec<(String, String)>),
}

impl Enumeration {
    /// The caption of integer value `id`, when it is in the enum.
    pub fn caption_of(&self, id: i64) -> Option<&str> {
        match self {
            Self::Integer(values) => values
                .binary_search_by_key(&id, |(value, _)| *value)
                .ok()
                .map(|at| values[at].1.as_str()),
            Self::String(_) => None,
        }
    }

    /// Whether string `value` is in the enum.
    pub fn contains_str(&self, value: &str) -> bool {
        match self {
            Self::String(values) => values
                .binary_search_by(|(known, _)| known.as_str().cmp(value))
                .is_ok(),
            Self::Integer(_) => false,
        }
    }

    /// The values, for messages: `0, 1, 2, 99`.
    pub fn describe(&self) -> String {
        match self {
            Self::Integer(values) => values
                .iter()
                .map(|(value, _)| value.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            Self::String(values) => values
                .iter()
                .map(|(value, _)| format!("\"{value}\""))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

impl Schema {
    /// The OCSF version, e.g. `1.3.0`.
    pub fn version(&self) -> &'static str {
        self.version
    }

    /// The class with `class_uid` `uid`.
    pub fn class(&self, uid: i64) -> Option<&Class> {
        self.classes
            .binary_search_by_key(&uid, |class| class.uid)
            .ok()
            .map(|at| &self.classes[at])
    }

    /// The class named `name` (`api_activity`).
    pub fn class_by_name(&self, name: &str) -> Option<&Class> {
        self.classes.iter().find(|class| class.name == name)
    }

    /// Every class, by `class_uid`.
    pub fn classes(&self) -> &[Class] {
        &self.classes
    }

    /// The object type `id` points at.
    pub fn object(&self, id: ObjectId) -> &Object {
        &self.objects[id.0 as usize]
    }

    /// The object type named `name` (`user`).
    pub fn object_by_name(&self, name: &str) -> Option<&Object> {
        self.object_index.get(name).map(|id| self.object(*id))
    }

    /// Every profile name, sorted.
    pub fn profiles(&self) -> &[String] {
        &self.profiles
    }

    /// The mask of a profile (for [`Attribute::profiles`]), 0 for an unknown name.
    pub fn profile_mask(&self, name: &str) -> u64 {
        self.profiles
            .binary_search_by(|known| known.as_str().cmp(name))
            .map_or(0, |at| 1 << at)
    }
}

/// `a == b` for short texts without a call to `memcmp`: attribute names are 2 to 30 bytes, and
/// the call costs more than the comparison.
#[inline]
fn same_text(a: &[u8], b: &[u8]) -> bool {
    let length = a.len();
    if length != b.len() {
        return false;
    }
    let word = |bytes: &[u8], at: usize| {
        u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default())
    };
    let half = |bytes: &[u8], at: usize| {
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default())
    };
    match length {
        0..4 => a.iter().zip(b).all(|(x, y)| x == y),
        4..8 => half(a, 0) == half(b, 0) && half(a, length - 4) == half(b, length - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, length - 8) == word(b, length - 8),
        _ => {
            (0..length - 8)
                .step_by(8)
                .all(|at| word(a, at) == word(b, at))
                && word(a, length - 8) == word(b, length - 8)
        }
    }
}

impl AttributeSet {
    /// The most attributes a set may have (a walk's `u128` of seen attributes).
    pub const MAX_ATTRIBUTES: usize = 128;

    fn new(
        attributes: Vec<Attribute>,
        siblings: Vec<(u8, u8)>,
        constraints: Vec<Constraint>,
    ) -> Result<Self, String> {
        if attributes.len() > Self::MAX_ATTRIBUTES {
            return Err(format!("{} attributes in one set", attributes.len()));
        }
        let size = (attributes.len() * 4).next_power_of_two().max(8);
        let mut slots = vec![EMPTY_SLOT; size];
        let shift = 64 - size.trailing_zeros();
        for (at, attribute) in attributes.iter().enumerate() {
            let mut slot = (slot_hash(attribute.name.as_bytes()) >> shift) as usize;
            while slots[slot] != EMPTY_SLOT {
                slot = (slot + 1) & (size - 1);
            }
            slots[slot] = at as u8;
        }
        let required_core = attributes
            .iter()
            .filter(|a| a.requirement == Requirement::Required && a.profiles == 0)
            .count();
        let required_profiled = (0..attributes.len())
            .filter(|at| {
                let attribute = &attributes[*at];
                attribute.requirement == Requirement::Required && attribute.profiles != 0
            })
            .map(|at| at as u8)
            .collect();
        let names = attributes.iter().map(|a| a.name.as_str().into()).collect();
        let mut set = Self {
            names,
            attributes,
            slots,
            shift,
            required_core,
            required_profiled,
            siblings,
            constraints,
            constraint_masks: Vec::new(),
        };
        set.constraint_masks = set
            .constraints
            .iter()
            .map(|constraint| {
                let (Constraint::AtLeastOne(paths) | Constraint::JustOne(paths)) = constraint;
                paths
                    .iter()
                    .filter_map(|path| match path.as_slice() {
                        [name] => set.position(name),
                        _ => None,
                    })
                    .fold(0, |mask, at| mask | 1 << at)
            })
            .collect();
        Ok(set)
    }

    /// The index (in [`as_slice`](Self::as_slice)) of the attribute `name`.
    #[inline]
    pub fn position(&self, name: &str) -> Option<usize> {
        let mask = self.slots.len().wrapping_sub(1);
        let mut slot = (slot_hash(name.as_bytes()) >> self.shift) as usize;
        loop {
            let at = *self.slots.get(slot)?;
            if at == EMPTY_SLOT {
                return None;
            }
            if same_text(self.names[usize::from(at)].as_bytes(), name.as_bytes()) {
                return Some(usize::from(at));
            }
            slot = (slot + 1) & mask;
        }
    }

    /// How many attributes an event using `event_profiles` must have in this set.
    pub fn required_count(&self, event_profiles: u64) -> usize {
        if event_profiles == 0 {
            return self.required_core;
        }
        self.required_core
            + self
                .required_profiled
                .iter()
                .filter(|at| self.attributes[usize::from(**at)].applies(event_profiles))
                .count()
    }

    /// Every attribute, sorted by name.
    pub fn iter(&self) -> std::slice::Iter<'_, Attribute> {
        self.attributes.iter()
    }

    /// The attributes as a slice, sorted by name.
    pub fn as_slice(&self) -> &[Attribute] {
        &self.attributes
    }

    /// The attribute `name`.
    pub fn get(&self, name: &str) -> Option<&Attribute> {
        self.position(name).map(|at| &self.attributes[at])
    }

    /// `*_id` enum attributes and their string siblings, both in this set.
    pub fn siblings(&self) -> impl Iterator<Item = (&Attribute, &Attribute)> {
        self.sibling_positions()
            .map(|(id, name)| (&self.attributes[id], &self.attributes[name]))
    }

    /// As [`siblings`](Self::siblings), as positions in [`as_slice`](Self::as_slice).
    pub fn sibling_positions(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.siblings
            .iter()
            .map(|(id, name)| (usize::from(*id), usize::from(*name)))
    }

    /// The rules over several attributes.
    pub fn constraints(&self) -> &[Constraint] {
        &self.constraints
    }

    /// The rules with, for each, its one-name members as bits by position (so a walk that
    /// notes the positions it has seen counts them with one `and`).
    pub fn constraints_with_masks(&self) -> impl Iterator<Item = (&Constraint, u128)> {
        self.constraints
            .iter()
            .zip(self.constraint_masks.iter().copied())
    }
}

impl Attribute {
    /// Whether the attribute applies to an event using the profiles in `event_profiles`.
    pub fn applies(&self, event_profiles: u64) -> bool {
        self.profiles == 0 || self.profiles & event_profiles != 0
    }

    /// Whether an event using `event_profiles` must have the attribute.
    pub fn is_required(&self, event_profiles: u64) -> bool {
        self.requirement == Requirement::Required && self.applies(event_profiles)
    }
}

// The compiled schema as serde reads it (only what the model keeps).

#[derive(Deserialize)]
struct RawSchema {
    version: String,
    classes: HashMap<String, RawClass>,
    objects: HashMap<String, RawObject>,
    dictionary: RawDictionary,
    profiles: BTreeMap<String, serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct RawClass {
    name: String,
    caption: String,
    uid: i64,
    category_uid: i64,
    #[serde(default)]
    category_name: Option<String>,
    attributes: BTreeMap<String, RawAttribute>,
    #[serde(default)]
    constraints: Option<BTreeMap<String, Vec<String>>>,
}

#[derive(Deserialize)]
struct RawObject {
    caption: String,
    #[serde(default)]
    attributes: BTreeMap<String, RawAttribute>,
    #[serde(default)]
    constraints: Option<BTreeMap<String, Vec<String>>>,
}

#[derive(Deserialize)]
struct RawAttribute {
    caption: String,
    #[serde(rename = "type")]
    type_name: String,
    #[serde(default)]
    object_type: Option<String>,
    #[serde(default)]
    is_array: bool,
    #[serde(default)]
    requirement: Option<String>,
    #[serde(default)]
    profiles: Option<Vec<String>>,
    #[serde(default)]
    sibling: Option<String>,
    #[serde(default, rename = "enum")]
    enumeration: Option<BTreeMap<String, RawEnumMember>>,
    #[serde(default, rename = "@deprecated")]
    deprecated: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct RawEnumMember {
    caption: String,
}

#[derive(Deserialize)]
struct RawDictionary {
    types: RawTypes,
}

#[derive(Deserialize)]
struct RawTypes {
    attributes: HashMap<String, RawType>,
}

#[derive(Deserialize)]
struct RawType {
    #[serde(default, rename = "type")]
    base: Option<String>,
    #[serde(default)]
    range: Option<[i64; 2]>,
    #[serde(default)]
    max_len: Option<usize>,
}

/// Turns the raw document into lookup tables.
struct Builder<'a> {
    types: &'a HashMap<String, RawType>,
    object_index: &'a HashMap<String, ObjectId>,
    profiles: &'a [String],
}

impl Schema {
    fn build(version: &'static str, raw: RawSchema) -> Result<Self, String> {
        let profiles: Vec<String> = raw.profiles.into_keys().collect();
        if profiles.len() > 64 {
            return Err(format!("{} profiles, at most 64 supported", profiles.len()));
        }
        let mut object_names: Vec<&String> = raw.objects.keys().collect();
        object_names.sort();
        let object_index: HashMap<String, ObjectId> = object_names
            .iter()
            .enumerate()
            .map(|(at, name)| ((*name).clone(), ObjectId(at as u32)))
            .collect();
        let builder = Builder {
            types: &raw.dictionary.types.attributes,
            object_index: &object_index,
            profiles: &profiles,
        };
        let mut objects = Vec::with_capacity(object_names.len());
        for name in &object_names {
            let object = &raw.objects[*name];
            objects.push(Object {
                name: (*name).clone(),
                caption: object.caption.clone(),
                attributes: builder.attributes(&object.attributes, object.constraints.as_ref())?,
            });
        }
        let mut classes = Vec::with_capacity(raw.classes.len());
        for class in raw.classes.values() {
            classes.push(Class {
                uid: class.uid,
                name: class.name.clone(),
                caption: class.caption.clone(),
                category_uid: class.category_uid,
                category_name: class.category_name.clone(),
                attributes: builder.attributes(&class.attributes, class.constraints.as_ref())?,
            });
        }
        classes.sort_by_key(|class| class.uid);
        Ok(Self {
            version,
            classes,
            objects,
            object_index,
            profiles,
        })
    }
}

impl Builder<'_> {
    fn attributes(
        &self,
        raw: &BTreeMap<String, RawAttribute>,
        constraints: Option<&BTreeMap<String, Vec<String>>>,
    ) -> Result<AttributeSet, String> {
        // BTreeMap<String, _> iterates in byte order, the order of VRL object keys.
        let attributes = raw
            .iter()
            .map(|(name, attribute)| self.attribute(name, attribute))
            .collect::<Result<Vec<_>, String>>()?;
        let position = |name: &str| {
            attributes
                .binary_search_by(|a: &Attribute| a.name.as_str().cmp(name))
                .ok()
        };
        let siblings = attributes
            .iter()
            .enumerate()
            .filter(|(_, attribute)| attribute.enumeration.is_some())
            .filter_map(|(at, attribute)| {
                let sibling = position(attribute.sibling.as_deref()?)?;
                Some((u8::try_from(at).ok()?, u8::try_from(sibling).ok()?))
            })
            .collect();
        let constraints = constraints
            .into_iter()
            .flatten()
            .filter_map(|(kind, names)| {
                let paths = names
                    .iter()
                    .map(|name| name.split('.').map(str::to_owned).collect())
                    .collect();
                match kind.as_str() {
                    "at_least_one" => Some(Constraint::AtLeastOne(paths)),
                    "just_one" => Some(Constraint::JustOne(paths)),
                    _ => None,
                }
            })
            .collect();
        AttributeSet::new(attributes, siblings, constraints)
    }

    fn attribute(&self, name: &str, raw: &RawAttribute) -> Result<Attribute, String> {
        let value_type = self.value_type(name, raw)?;
        let requirement = match raw.requirement.as_deref() {
            Some("required") => Requirement::Required,
            Some("recommended") => Requirement::Recommended,
            _ => Requirement::Optional,
        };
        let profiles = raw.profiles.iter().flatten().fold(0u64, |mask, profile| {
            mask | self
                .profiles
                .binary_search(profile)
                .map_or(0, |at| 1u64 << at)
        });
        let enumeration = raw
            .enumeration
            .as_ref()
            .map(|members| enumeration(name, value_type, members))
            .transpose()?;
        Ok(Attribute {
            name: name.to_owned(),
            caption: raw.caption.clone(),
            type_name: raw.type_name.clone(),
            value_type,
            is_array: raw.is_array,
            requirement,
            profiles,
            sibling: raw.sibling.clone(),
            enumeration,
            deprecated: raw.deprecated.is_some(),
        })
    }

    fn value_type(&self, name: &str, raw: &RawAttribute) -> Result<ValueType, String> {
        if raw.type_name == "object_t" {
            let object = raw.object_type.as_deref().unwrap_or("object");
            if object == "object" {
                return Ok(ValueType::AnyObject);
            }
            return self
                .object_index
                .get(object)
                .map(|id| ValueType::Object(*id))
                .ok_or_else(|| format!("attribute {name}: unknown object type {object}"));
        }
        // Walk the type chain down to its base, keeping the first range and length limit.
        let mut current = raw.type_name.as_str();
        let (mut range, mut max_len) = (None, None);
        let mut timestamp = false;
        for _ in 0..8 {
            timestamp |= current == "timestamp_t";
            let base = match current {
                "boolean_t" => Some(ValueType::Boolean),
                "integer_t" => {
                    let [min, max] = range.unwrap_or([i64::from(i32::MIN), i64::from(i32::MAX)]);
                    Some(ValueType::Integer { min, max })
                }
                "long_t" if timestamp => Some(ValueType::Timestamp),
                "long_t" => Some(ValueType::Long),
                "float_t" => Some(ValueType::Float),
                "string_t" => Some(ValueType::String { max_len }),
                "json_t" => Some(ValueType::Json),
                _ => None,
            };
            let definition = self.types.get(current);
            if let Some(definition) = definition {
                range = range.or(definition.range);
                max_len = max_len.or(definition.max_len);
            }
            if let Some(base) = base {
                // A base type's own limit (string_t's max_len in 1.1.0) applies too.
                return Ok(match base {
                    ValueType::String { .. } => ValueType::String { max_len },
                    other => other,
                });
            }
            match definition.and_then(|d| d.base.as_deref()) {
                Some(next) => current = next,
                None => break,
            }
        }
        Err(format!("attribute {name}: unknown type {}", raw.type_name))
    }
}

fn enumeration(
    name: &str,
    value_type: ValueType,
    members: &BTreeMap<String, RawEnumMember>,
) -> Result<Enumeration, String> {
    match value_type {
        ValueType::Integer { .. } | ValueType::Long => {
            let mut values = members
                .iter()
                .map(|(key, member)| {
                    key.parse::<i64>()
                        .map(|id| (id, member.caption.clone()))
                        .map_err(|_| format!("attribute {name}: enum value {key} is no integer"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            values.sort_by_key(|(id, _)| *id);
            Ok(Enumeration::Integer(values))
        }
        _ => Ok(Enumeration::String(
            members
                .iter()
                .map(|(key, member)| (key.clone(), member.caption.clone()))
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_version_loads_with_its_classes_and_objects() {
        for (version, classes, objects) in [
            ("1.1.0", 44, 103),
            ("1.3.0", 65, 117),
            ("1.5.0", 74, 157),
            ("1.8.0", 76, 174),
        ] {
            let schema = schema(version).expect("embedded");
            assert_eq!(schema.version(), version);
            assert_eq!(schema.classes().len(), classes, "{version}");
            assert_eq!(schema.objects.len(), objects, "{version}");
            for class in schema.classes() {
                for required in ["class_uid", "activity_id", "metadata", "time"] {
                    assert!(class.attributes.get(required).is_some(), "{}", class.name);
                }
            }
        }
    }

    #[test]
    fn an_unknown_version_names_the_embedded_ones() {
        let error = schema("1.2.0").unwrap_err();
        assert_eq!(
            error.to_string(),
            "OCSF version `1.2.0` is not embedded (embedded versions: 1.1.0, 1.3.0, 1.5.0, 1.8.0)"
        );
    }

    #[test]
    fn attributes_carry_resolved_types_enums_siblings_and_profiles() {
        let schema = schema("1.3.0").expect("embedded");
        let api = schema.class(6003).expect("API Activity");
        assert_eq!((api.name.as_str(), api.category_uid), ("api_activity", 6));
        assert_eq!(api.category_name.as_deref(), Some("Application Activity"));
        let attrs = &api.attributes;
        let activity = attrs.get("activity_id").expect("activity_id");
        assert_eq!(activity.requirement, Requirement::Required);
        assert_eq!(activity.sibling.as_deref(), Some("activity_name"));
        let captions = activity.enumeration.as_ref().expect("enum");
        assert_eq!(captions.caption_of(1), Some("Create"));
        assert_eq!(captions.caption_of(99), Some("Other"));
        assert_eq!(captions.caption_of(7), None);
        assert_eq!(attrs.get("time").unwrap().value_type, ValueType::Timestamp);
        assert_eq!(attrs.get("type_uid").unwrap().value_type, ValueType::Long);
        assert_eq!(
            attrs.get("unmapped").unwrap().value_type,
            ValueType::AnyObject
        );
        let observables = attrs.get("observables").unwrap();
        assert!(observables.is_array);
        let ValueType::Object(observable) = observables.value_type else {
            panic!("observables are objects");
        };
        assert_eq!(schema.object(observable).name, "observable");
        let cloud = attrs.get("cloud").unwrap();
        assert_eq!(cloud.profiles, schema.profile_mask("cloud"));
        assert!(!cloud.is_required(0));
        assert!(cloud.is_required(schema.profile_mask("cloud")));
        assert!(attrs.get("api").unwrap().is_required(0));
        let endpoint = schema.object_by_name("network_endpoint").unwrap();
        assert_eq!(
            endpoint.attributes.get("port").unwrap().value_type,
            ValueType::Integer { min: 0, max: 65535 }
        );
        for (at, attribute) in attrs.iter().enumerate() {
            assert_eq!(attrs.position(&attribute.name), Some(at));
        }
        assert_eq!(attrs.position("no_such_attribute"), None);
        for (a, b) in [
            ("", ""),
            ("abc", "abc"),
            ("activity", "activitx"),
            ("src_endpoint", "src_endpoinT"),
            (
                "a_very_long_attribute_name_x",
                "a_very_long_attribute_name_x",
            ),
            (
                "a_very_long_attribute_name_x",
                "a_very_Long_attribute_name_x",
            ),
            ("eight_ch", "eight_ch"),
            ("uid", "uix"),
            ("name", "name"),
            ("actor", "acTor"),
            ("five5", "five5"),
            ("ab", "ab"),
        ] {
            assert_eq!(same_text(a.as_bytes(), b.as_bytes()), a == b, "{a} {b}");
        }
        assert_eq!(attrs.position(""), None);
        let required = attrs.iter().filter(|a| a.is_required(0)).count();
        assert_eq!(attrs.required_count(0), required);
        let cloud_mask = schema.profile_mask("cloud");
        assert_eq!(attrs.required_count(cloud_mask), required + 1);
        let siblings: Vec<_> = attrs
            .siblings()
            .map(|(id, name)| (id.name.as_str(), name.name.as_str()))
            .collect();
        assert!(siblings.contains(&("severity_id", "severity")));
        assert!(siblings.contains(&("class_uid", "class_name")));
    }

    #[test]
    fn constraints_and_string_enums_are_read() {
        let schema = schema("1.8.0").expect("embedded");
        let account = schema.object_by_name("account").unwrap();
        assert_eq!(
            account.attributes.constraints(),
            &[Constraint::AtLeastOne(vec![
                vec!["name".to_owned()],
                vec!["uid".to_owned()]
            ])]
        );
        let method = schema.object_by_name("http_request").unwrap();
        let method = method.attributes.get("http_method").unwrap();
        assert!(method.enumeration.as_ref().unwrap().contains_str("GET"));
        assert!(!method.enumeration.as_ref().unwrap().contains_str("get"));
        let patch = schema.class_by_name("patch_state").unwrap();
        assert!(matches!(
            &patch.attributes.constraints()[0],
            Constraint::AtLeastOne(paths) if paths[0] == ["device", "os", "sp_name"]
        ));
    }
}
