//! TEMPORARY stub (being replaced by the real generator).
use vrl::value::{KeyString, ObjectMap, Value};
/// Deterministic generator.
pub struct DemoEventGenerator {
    n: u64,
}
impl DemoEventGenerator {
    /// New.
    pub fn new(seed: u64) -> Self {
        Self { n: seed }
    }
    /// One event.
    pub fn generate(&mut self, time_ms: i64) -> Value {
        self.n += 1;
        let mut o = ObjectMap::new();
        o.insert(KeyString::from("time"), Value::Integer(time_ms));
        o.insert(KeyString::from("class_uid"), Value::Integer(6003));
        o.insert(
            KeyString::from("activity_id"),
            Value::Integer((self.n % 4) as i64 + 1),
        );
        Value::Object(o)
    }
}
