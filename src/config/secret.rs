//! `SECRET[<backend>.<key>]` in string values: found and replaced on the parsed tree, like
//! `${VAR}` ([`super::env`]), before anything is deserialized. The backends themselves and
//! the fetching live in [`crate::secrets::backends`].
//!
//! Programs (`remap.source`, conditions) are not substituted, as with variables: VRL's
//! diagnostics print the program's text, which would then show the value.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{join_path, vrl_program_keys};
use crate::secrets::backends::{self, BackendConfig};

/// Every reference of a file: (backend, key) → where its first use is.
pub(super) type References = BTreeMap<(String, String), Range<usize>>;

/// Collects the references in every string of `table` (at `path`), programs excepted.
pub(super) fn collect(table: &DeTable<'_>, path: &str, found: &mut References) {
    let programs = vrl_program_keys(path, table);
    for (key, value) in table.iter() {
        if path.is_empty() && key.get_ref() == "secret" {
            continue;
        }
        if !programs.contains(&key.get_ref().as_ref()) {
            collect_value(value, &join_path(path, key.get_ref()), found);
        }
    }
}

fn collect_value(value: &Spanned<DeValue<'_>>, path: &str, found: &mut References) {
    match value.get_ref() {
        DeValue::String(text) => {
            for (backend, key) in backends::references(text) {
                found
                    .entry((backend.to_owned(), key.to_owned()))
                    .or_insert_with(|| value.span());
            }
        }
        DeValue::Array(items) => items
            .iter()
            .for_each(|item| collect_value(item, path, found)),
        DeValue::Table(table) => collect(table, path, found),
        _ => {}
    }
}

/// The keys wanted from each backend.
pub(super) fn keys_by_backend(found: &References) -> BTreeMap<String, BTreeSet<String>> {
    let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (backend, key) in found.keys() {
        keys.entry(backend.clone()).or_default().insert(key.clone());
    }
    keys
}

/// Replaces every reference in `table` (at `path`) with its value.
pub(super) fn replace(
    table: &mut DeTable<'_>,
    path: &str,
    values: &BTreeMap<String, BTreeMap<String, String>>,
) {
    let programs = vrl_program_keys(path, table);
    for (key, value) in table.iter_mut() {
        if path.is_empty() && key.get_ref() == "secret" {
            continue;
        }
        if !programs.contains(&key.get_ref().as_ref()) {
            let child = join_path(path, key.get_ref());
            replace_value(value, &child, values);
        }
    }
}

fn replace_value(
    value: &mut Spanned<DeValue<'_>>,
    path: &str,
    values: &BTreeMap<String, BTreeMap<String, String>>,
) {
    match value.get_mut() {
        DeValue::String(text) if text.contains("SECRET[") => {
            *text = backends::substitute(text, values).into();
        }
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                replace_value(item, path, values);
            }
        }
        DeValue::Table(table) => replace(table, path, values),
        _ => {}
    }
}

/// The backends `text` defines, without checking them (a pre-pass over every file, so that a
/// reference may use a backend from another file; the file's own pass reports errors).
pub(super) fn backends_of(root: &DeTable<'_>) -> BTreeMap<String, BackendConfig> {
    let Some(secret) = root.get("secret") else {
        return BTreeMap::new();
    };
    let deserializer = toml::de::ValueDeserializer::from(secret.clone());
    serde::Deserialize::deserialize(deserializer).unwrap_or_default()
}
