//! The `ocsf` transform at work: derive and validate each event in place; valid events go to
//! the default output, invalid ones to `.invalid` with `%ocsf.errors`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use smallvec::SmallVec;
use vrl::value::{KeyString, ObjectMap, Value};

use crate::ack::BatchStatus;
use crate::component::SyncTransform;
use crate::event::{Batch, Event};
use crate::metrics::ComponentMetrics;
use crate::ocsf::schema::Schema;
use crate::ocsf::validate::{self, Mode, Outcome};

/// Invalid events logged with their problems (per transform); later ones are only counted.
pub(crate) const LOGGED_INVALID_LIMIT: u64 = 10;

/// A running `ocsf` transform (one instance per worker; clones share the counters).
#[derive(Clone)]
pub(crate) struct Ocsf {
    /// The configured version, or `None` to follow each event's `metadata.version`.
    fixed: Option<&'static Schema>,
    mode: Mode,
    /// Whether invalid events go to output 1 (`.invalid`) rather than being dropped.
    reroute_invalid: bool,
    shared: Arc<Shared>,
}

/// What every worker of one transform shares: its counters.
///
/// `ocsf_invalid_events_total{class_uid="…"}` and `ocsf_derived_fields_total` are kept in a
/// [`ComponentMetrics`] (updated once per batch), and logged with the number of invalid
/// events when the last worker is dropped, at shutdown.
pub(crate) struct Shared {
    metrics: Arc<ComponentMetrics>,
    invalid: AtomicU64,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let invalid = self.invalid.load(Ordering::Relaxed);
        let derived = self.metrics.get("ocsf_derived_fields_total");
        if invalid > 0 {
            tracing::warn!(
                invalid,
                derived,
                "ocsf: invalid OCSF events in all (to the `.invalid` output, or dropped)"
            );
        } else if derived > 0 {
            tracing::debug!(derived, "ocsf: every event valid");
        }
    }
}

impl Ocsf {
    /// A transform checking against `fixed` (or each event's version), deriving when
    /// `derive` is on, counting in metrics of its own.
    pub(crate) fn new(fixed: Option<&'static Schema>, derive: bool, reroute_invalid: bool) -> Self {
        let mut transform = Self::with_metrics(fixed, derive, Arc::default());
        transform.reroute_invalid = reroute_invalid;
        transform
    }

    /// As [`new`](Self::new) with `.invalid`, counting in `metrics`.
    pub(crate) fn with_metrics(
        fixed: Option<&'static Schema>,
        derive: bool,
        metrics: Arc<ComponentMetrics>,
    ) -> Self {
        Self {
            fixed,
            mode: Mode {
                derive,
                validate: true,
            },
            reroute_invalid: true,
            shared: Arc::new(Shared {
                metrics,
                invalid: AtomicU64::new(0),
            }),
        }
    }

    fn check(&self, event: &mut Event) -> Outcome {
        // Deriving and normalising change the value: its JSON size is measured again.
        event.value_changed();
        match validate::schema_for(&event.value, self.fixed) {
            Ok(schema) => validate::check(&mut event.value, schema, self.mode),
            // Only a corrupt embedded file gets here (a build problem): say so per event.
            Err(error) => Outcome {
                errors: vec![format!("metadata.version: {error}")],
                error_count: 1,
                ..Outcome::default()
            },
        }
    }

    /// Logs the first invalid events with their problems, then says the rest are counted.
    fn log_invalid(&self, outcome: &Outcome) {
        let seen = self.shared.invalid.fetch_add(1, Ordering::Relaxed) + 1;
        if seen <= LOGGED_INVALID_LIMIT {
            let fate = if self.reroute_invalid {
                "sent to the `.invalid` output (dropped if nothing reads it)"
            } else {
                "dropped (reroute_invalid = false)"
            };
            let more = if seen == LOGGED_INVALID_LIMIT {
                "; further invalid events are only counted"
            } else {
                ""
            };
            tracing::warn!(
                class_uid = outcome.class_uid,
                problems = outcome.error_count,
                errors = ?outcome.errors,
                "ocsf: invalid OCSF event, {fate}{more}"
            );
        }
    }

    fn count(&self, invalid: &[(Option<i64>, u64)], derived: u64) {
        let metrics = &self.shared.metrics;
        if derived > 0 {
            metrics.add("ocsf_derived_fields_total", derived);
        }
        for (class_uid, count) in invalid {
            let class_uid = class_uid.map(|uid| uid.to_string()).unwrap_or_default();
            let labels = [("class_uid", class_uid.as_str())];
            metrics.add_labelled("ocsf_invalid_events_total", &labels, *count);
        }
    }
}

/// Puts `errors` into the event's `%ocsf.errors`.
fn set_errors(event: &mut Event, errors: Vec<String>) {
    let Value::Object(metadata) = event.metadata.value_mut() else {
        return;
    };
    let errors = Value::Array(errors.into_iter().map(Value::from).collect());
    match metadata.get_mut("ocsf") {
        Some(Value::Object(ocsf)) => {
            ocsf.insert(KeyString::from("errors"), errors);
        }
        _ => {
            let mut ocsf = ObjectMap::new();
            ocsf.insert(KeyString::from("errors"), errors);
            metadata.insert(KeyString::from("ocsf"), Value::Object(ocsf));
        }
    }
}

impl SyncTransform for Ocsf {
    fn use_metrics(&mut self, metrics: Arc<ComponentMetrics>) {
        self.shared = Arc::new(Shared {
            metrics,
            invalid: AtomicU64::new(0),
        });
    }

    fn transform(&mut self, batch: Batch, outputs: &mut [Batch]) -> usize {
        outputs[0].reserve(batch.len());
        let mut derived = 0;
        let mut invalid: SmallVec<[(Option<i64>, u64); 4]> = SmallVec::new();
        let mut dropped = 0;
        for mut event in batch {
            let outcome = self.check(&mut event);
            derived += outcome.derived;
            if outcome.is_valid() {
                outputs[0].push(event);
                continue;
            }
            match invalid
                .iter_mut()
                .find(|(uid, _)| *uid == outcome.class_uid)
            {
                Some((_, count)) => *count += 1,
                None => invalid.push((outcome.class_uid, 1)),
            }
            self.log_invalid(&outcome);
            if self.reroute_invalid && outputs.len() > 1 {
                set_errors(&mut event, outcome.errors);
                outputs[1].push(event);
            } else {
                // Dropped on purpose by configuration: handled.
                event.finish(BatchStatus::Delivered);
                dropped += 1;
            }
        }
        self.count(&invalid, derived);
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocsf::schema;

    fn event(json: &str) -> Event {
        Event::new(serde_json::from_str(json).expect("JSON"))
    }

    fn run(transform: &mut Ocsf, events: Vec<Event>) -> [Batch; 2] {
        let mut outputs = [Vec::new(), Vec::new()];
        assert_eq!(transform.transform(events, &mut outputs), 0);
        outputs
    }

    use crate::transforms::ocsf::STRIPPED_6003 as VALID;

    #[test]
    fn valid_events_are_completed_and_go_to_the_default_output() {
        let metrics = Arc::new(ComponentMetrics::default());
        let mut transform = Ocsf::with_metrics(None, true, Arc::clone(&metrics));
        let [valid, mut invalid] = run(&mut transform, vec![event(VALID)]);
        if let Some(event) = invalid.first_mut() {
            panic!("invalid: {:?}", event.metadata.value_mut());
        }
        let json = serde_json::to_value(&valid[0].value).unwrap();
        assert_eq!(json["type_uid"], 600302);
        assert_eq!(json["type_name"], "API Activity: Read");
        assert_eq!(json["class_name"], "API Activity");
        assert_eq!(json["category_name"], "Application Activity");
        assert_eq!(json["severity"], "Informational");
        assert_eq!(metrics.get("ocsf_derived_fields_total"), 7);
    }

    #[test]
    fn without_derive_a_stripped_event_is_invalid() {
        let metrics = Arc::new(ComponentMetrics::default());
        let fixed = schema::schema("1.3.0").ok();
        let mut transform = Ocsf::with_metrics(fixed, false, Arc::clone(&metrics));
        let [valid, mut invalid] = run(&mut transform, vec![event(VALID), event("{}")]);
        assert!(valid.is_empty());
        assert_eq!(invalid.len(), 2);
        let metadata = serde_json::to_value(invalid[0].metadata.value_mut().clone()).unwrap();
        let errors = metadata["ocsf"]["errors"].as_array().unwrap();
        assert!(
            errors.contains(&"category_uid: required, missing".into()),
            "{errors:?}"
        );
        assert!(errors.contains(&"type_uid: required, missing".into()));
        let metadata = serde_json::to_value(invalid[1].metadata.value_mut().clone()).unwrap();
        assert_eq!(
            metadata["ocsf"]["errors"][0],
            "class_uid: required, missing"
        );
        assert_eq!(
            metrics.get_labelled("ocsf_invalid_events_total", &[("class_uid", "6003")]),
            1
        );
        assert_eq!(
            metrics.get_labelled("ocsf_invalid_events_total", &[("class_uid", "")]),
            1
        );
        assert_eq!(metrics.get("ocsf_derived_fields_total"), 0);
    }

    #[test]
    fn without_reroute_invalid_events_are_dropped_and_counted_as_discarded() {
        let metrics = Arc::new(ComponentMetrics::default());
        let mut transform = Ocsf::with_metrics(None, true, Arc::clone(&metrics));
        transform.reroute_invalid = false;
        let mut outputs = [Vec::new()];
        let batch = vec![event(VALID), event("{}"), event(r#"{"class_uid": 1}"#)];
        assert_eq!(transform.transform(batch, &mut outputs), 2);
        assert_eq!(outputs[0].len(), 1);
        assert_eq!(
            metrics.get_labelled("ocsf_invalid_events_total", &[("class_uid", "")]),
            2
        );
    }

    #[test]
    fn existing_ocsf_metadata_is_kept_and_clones_share_counters() {
        let mut transform = Ocsf::new(None, true, true);
        let mut other = transform.clone();
        let mut bad = event(r#"{"class_uid": 6003, "activity_id": 42}"#);
        if let Value::Object(metadata) = bad.metadata.value_mut() {
            let mut ocsf = ObjectMap::new();
            ocsf.insert("note".into(), Value::from("kept"));
            metadata.insert("ocsf".into(), Value::Object(ocsf));
        }
        let [_, mut invalid] = run(&mut transform, vec![bad]);
        let metadata = serde_json::to_value(invalid[0].metadata.value_mut().clone()).unwrap();
        assert_eq!(metadata["ocsf"]["note"], "kept");
        assert!(metadata["ocsf"]["errors"].as_array().unwrap().len() > 1);
        run(&mut other, vec![event("[]")]);
        assert_eq!(transform.shared.invalid.load(Ordering::Relaxed), 2);
    }
}
