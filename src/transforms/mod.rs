//! Transforms: the registry of every transform type.

pub mod filter;
pub mod ocsf;
mod program;

pub use program::{Condition, ConditionConfig};
pub mod remap;
pub mod route;

use crate::component::{TransformComponent, component_registry};

component_registry! {
    /// Every transform type, tagged by `type`.
    TransformConfig: TransformComponent, registered in crate::registry::TRANSFORMS {
        /// VRL program.
        Remap(remap::RemapConfig) = "remap",
        /// Keep events matching a condition.
        Filter(filter::FilterConfig) = "filter",
        /// Named outputs by condition.
        Route(route::RouteConfig) = "route",
        /// Derive and validate against the official OCSF schema; invalid events to `.invalid`.
        Ocsf(ocsf::OcsfConfig) = "ocsf",
    }
}
