//! `route`: send each event to every named output whose condition it matches.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::program::{Condition, ConditionConfig};
use crate::ack::BatchStatus;
use crate::component::{
    BuildError, SyncTransform, TransformComponent, TransformContext, TransformOutputs,
};
use crate::event::Batch;
use crate::options::default_true;

/// The output for events that match no route.
pub const UNMATCHED_OUTPUT: &str = "_unmatched";

/// `[transforms.ID] type = "route"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Route name → condition. Each route is the output `<id>.<name>`; an event goes to every
    /// route it matches (a copy each).
    pub route: BTreeMap<String, ConditionConfig>,
    /// Send events that match no route to `<id>._unmatched` (default `true`). When false, or
    /// when nothing reads `_unmatched`, such events are dropped and acknowledged as handled.
    #[serde(default = "default_true")]
    pub reroute_unmatched: bool,
}

impl TransformComponent for RouteConfig {
    fn build(&self, cx: &TransformContext) -> Result<Box<dyn SyncTransform>, BuildError> {
        if self.route.is_empty() {
            return Err(BuildError::field("route", "no routes are defined")
                .help("add routes: route.errors = '.status_id == 2'"));
        }
        let mut conditions = Vec::with_capacity(self.route.len());
        for (name, condition) in &self.route {
            if name == UNMATCHED_OUTPUT
                || name == "_default"
                || name.is_empty()
                || name.contains('.')
            {
                return Err(BuildError::field(
                    format!("route.{name}"),
                    format!("`{name}` cannot be a route name"),
                )
                .help(
                    "route names may not be empty, contain `.`, or be `_unmatched` / `_default`",
                ));
            }
            conditions.push(condition.build(&format!("route.{name}"), cx)?);
        }
        Ok(Box::new(Route {
            conditions,
            reroute_unmatched: self.reroute_unmatched,
        }))
    }

    fn outputs(&self) -> TransformOutputs {
        let mut named: Vec<String> = self.route.keys().cloned().collect();
        let mut optional = Vec::new();
        if self.reroute_unmatched {
            named.push(UNMATCHED_OUTPUT.to_owned());
            optional.push(UNMATCHED_OUTPUT.to_owned());
        }
        TransformOutputs {
            default: false,
            named,
            optional,
        }
    }
}

#[derive(Clone)]
struct Route {
    /// In the order of the outputs.
    conditions: Vec<Condition>,
    reroute_unmatched: bool,
}

impl SyncTransform for Route {
    fn transform(&mut self, batch: Batch, outputs: &mut [Batch]) -> usize {
        let mut discarded = 0;
        let mut matched: Vec<usize> = Vec::with_capacity(self.conditions.len());
        for mut event in batch {
            matched.clear();
            for (index, condition) in self.conditions.iter_mut().enumerate() {
                if condition
                    .check(&mut event.value, event.metadata.value_mut())
                    .unwrap_or(false)
                {
                    matched.push(index);
                }
            }
            match matched.split_last() {
                Some((&last, rest)) => {
                    for &index in rest {
                        outputs[index].push(event.clone());
                    }
                    outputs[last].push(event);
                }
                None if self.reroute_unmatched => outputs[self.conditions.len()].push(event),
                None => {
                    discarded += 1;
                    event.finish(BatchStatus::Delivered);
                }
            }
        }
        discarded
    }
}
