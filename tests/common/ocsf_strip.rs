//! Undoing what the `ocsf` transform derives, for its test and its benchmark.
//!
//! Included with `#[path = ".../common/ocsf_strip.rs"] mod ocsf_strip;`.

use serde_json::Value;

/// Fields the transform derives at the top level of every event.
pub const CLASS_FIELDS: [&str; 6] = [
    "category_uid",
    "type_uid",
    "class_name",
    "category_name",
    "type_name",
    "activity_name",
];

/// Removes every derived name: the class fields (at the top, `top = true`), and at any depth
/// every string sibling of an `*_id` (`severity`, `status`, `actor.user.type`,
/// `observables[].type`, ...).
pub fn strip(value: &mut Value, top: bool) {
    match value {
        Value::Object(map) => {
            if top {
                for field in CLASS_FIELDS {
                    map.remove(field);
                }
            }
            let siblings: Vec<String> = map
                .keys()
                .filter_map(|key| key.strip_suffix("_id"))
                .filter(|name| map.contains_key(*name))
                .map(str::to_owned)
                .collect();
            for name in siblings {
                map.remove(&name);
            }
            map.values_mut().for_each(|child| strip(child, false));
        }
        Value::Array(items) => items.iter_mut().for_each(|item| strip(item, false)),
        _ => {}
    }
}
