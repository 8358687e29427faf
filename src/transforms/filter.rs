//! `filter`: keep the events that match a condition.

use serde::Deserialize;

use super::program::{Condition, ConditionConfig};
use crate::ack::BatchStatus;
use crate::component::{
    BuildError, SyncTransform, TransformComponent, TransformContext, TransformOutputs,
};
use crate::event::Batch;

/// `[transforms.ID] type = "filter"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// Events for which this VRL condition is true pass; the others are dropped and
    /// acknowledged as delivered (they were handled). An error in the condition counts as
    /// false.
    pub condition: ConditionConfig,
}

impl TransformComponent for FilterConfig {
    fn build(&self, cx: &TransformContext) -> Result<Box<dyn SyncTransform>, BuildError> {
        Ok(Box::new(Filter {
            condition: self.condition.build("condition", cx)?,
        }))
    }

    fn outputs(&self) -> TransformOutputs {
        TransformOutputs {
            default: true,
            ..TransformOutputs::default()
        }
    }
}

#[derive(Clone)]
struct Filter {
    condition: Condition,
}

impl SyncTransform for Filter {
    fn transform(&mut self, batch: Batch, outputs: &mut [Batch]) -> usize {
        outputs[0].reserve(batch.len());
        let mut discarded = 0;
        for mut event in batch {
            let keep = self
                .condition
                .check(&mut event.value, event.metadata.value_mut())
                .unwrap_or(false);
            if keep {
                outputs[0].push(event);
            } else {
                discarded += 1;
                event.finish(BatchStatus::Delivered);
            }
        }
        discarded
    }
}
