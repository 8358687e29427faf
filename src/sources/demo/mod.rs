//! `conductorone_demo`: realistic ConductorOne system-log events without a tenant.
//!
//! Events come from [`DemoEventGenerator`]: OCSF API Activity (6003) with real
//! `api.operation` names, Authentication (3002) token grants, MCP tool calls and occasional
//! failures, timestamped with the current time.

mod config;
mod events;
mod source;

pub use config::DemoConfig;
pub use events::DemoEventGenerator;
