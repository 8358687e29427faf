//! The `ocsf` transform's options.

use serde::Deserialize;

use super::transform::Ocsf;
use crate::component::{
    BuildError, SyncTransform, TransformComponent, TransformContext, TransformOutputs,
};
use crate::ocsf::schema::{self, SchemaError};
use crate::options::default_true;

/// Name of the output that carries invalid events, with `%ocsf.errors`.
pub const INVALID_OUTPUT: &str = "invalid";

/// `[transforms.ID] type = "ocsf"`.
///
/// ```toml
/// [transforms.ocsf]
/// type = "ocsf"
/// inputs = ["c1"]
/// version = "1.3.0"
/// derive = true
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcsfConfig {
    /// The OCSF version to check every event against: one of the embedded versions
    /// ([`schema::VERSIONS`]). Default: each event's `metadata.version` when it is embedded,
    /// else 1.3.0 ([`schema::DEFAULT_VERSION`]).
    #[serde(default)]
    pub version: Option<String>,
    /// Fill in what follows from the ids (`class_name`, `category_uid`, `category_name`,
    /// `type_uid`, `type_name` and every enum sibling such as `activity_name`), never
    /// overwriting a value (default `true`).
    #[serde(default = "default_true")]
    pub derive: bool,
    /// Send invalid events to the `<id>.invalid` output (default `true`; nothing has to read
    /// it). When `false` there is no such output: invalid events are dropped, acknowledged as
    /// handled and counted in `component_discarded_events_total`, and the transform can run
    /// fused with its source (cheaper).
    #[serde(default = "default_true")]
    pub reroute_invalid: bool,
}

impl TransformComponent for OcsfConfig {
    fn build(&self, _cx: &TransformContext) -> Result<Box<dyn SyncTransform>, BuildError> {
        let fixed = match &self.version {
            Some(version) => Some(schema::schema(version).map_err(version_error)?),
            // The default version is loaded now, so a broken build fails at start-up; the
            // others when an event names them.
            None => {
                schema::schema(schema::DEFAULT_VERSION).map_err(version_error)?;
                None
            }
        };
        Ok(Box::new(Ocsf::new(
            fixed,
            self.derive,
            self.reroute_invalid,
        )))
    }

    fn outputs(&self) -> TransformOutputs {
        let invalid = if self.reroute_invalid {
            vec![INVALID_OUTPUT.to_owned()]
        } else {
            Vec::new()
        };
        TransformOutputs {
            default: true,
            named: invalid.clone(),
            // Nothing reading `.invalid` is allowed: invalid events are then dropped.
            optional: invalid,
        }
    }
}

fn version_error(error: SchemaError) -> BuildError {
    let help = format!(
        "use one of {}, or leave `version` out to follow each event's metadata.version",
        schema::VERSIONS.join(", ")
    );
    BuildError::field("version", error.to_string()).help(help)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> Result<OcsfConfig, toml::de::Error> {
        toml::from_str(toml)
    }

    #[test]
    fn defaults_follow_the_event_and_derive() {
        let parsed = config("").expect("valid");
        assert_eq!(parsed.version, None);
        assert!(parsed.derive);
        assert!(parsed.build(&TransformContext::default()).is_ok());
        let outputs = parsed.outputs();
        assert!(outputs.default);
        assert_eq!(outputs.named, ["invalid"]);
        assert_eq!(outputs.optional, ["invalid"]);
        let parsed = config("reroute_invalid = false").expect("valid");
        assert_eq!(parsed.outputs().named, Vec::<String>::new());
    }

    #[test]
    fn an_unknown_version_lists_the_embedded_ones() {
        let parsed = config(r#"version = "1.4.0""#).expect("valid TOML");
        let Err(error) = parsed.build(&TransformContext::default()) else {
            panic!("1.4.0 is not embedded");
        };
        assert_eq!(error.field.as_deref(), Some("version"));
        assert_eq!(
            error.message,
            "OCSF version `1.4.0` is not embedded (embedded versions: 1.1.0, 1.3.0, 1.5.0, 1.8.0)"
        );
        assert!(error.help.unwrap().contains("1.8.0"));
        for version in schema::VERSIONS {
            let parsed = config(&format!("version = \"{version}\"")).expect("valid");
            assert!(
                parsed.build(&TransformContext::default()).is_ok(),
                "{version}"
            );
        }
    }

    #[test]
    fn unknown_options_are_refused() {
        let error = config("validate = false").unwrap_err();
        assert!(
            error.to_string().contains("unknown field `validate`"),
            "{error}"
        );
    }
}
