//! `conductorone_demo`: realistic ConductorOne system-log events without a tenant.
//!
//! Events come from [`DemoEventGenerator`]: every kind ConductorOne documents (API calls,
//! token grants, MCP sessions and tool calls, secret sharing, enterprise-managed authorization,
//! AI tool usage and administration, automation circuit breakers) as OCSF API Activity (6003)
//! or Authentication (3002), with occasional failures, timestamped with the current time.

mod config;
mod events;
mod source;

pub use config::DemoConfig;
pub use events::DemoEventGenerator;
