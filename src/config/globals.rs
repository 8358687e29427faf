//! The global options that are defaults of component options, as in Vector: `timezone`,
//! `proxy` and `log_schema`.
//!
//! They are applied once, after every file is loaded and merged ([`super::Config`]), to the
//! options they stand for (`SinkComponent::apply_globals` and its source and transform
//! twins), so building a component, its health check and `validate` all see the same
//! options, and a component's own option always wins.

use serde::Deserialize;
use vrl::path::{OwnedValuePath, parse_value_path};

use crate::options::proxy::ProxyConfig;

/// Global `timezone`, `proxy` and `log_schema`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GlobalOptions {
    /// `timezone`: the default of `aws_s3`'s `timezone` and `remap`'s `timezone` (`local` or
    /// a TZ database name). Unset: each option's own default (UTC for `aws_s3`, local for
    /// `remap`, as in Vector).
    pub timezone: Option<String>,
    /// `proxy`: merged under every HTTP and AWS component's `proxy` (an option the
    /// component sets wins; `enabled = false` in either turns the proxy off).
    pub proxy: ProxyConfig,
    /// `log_schema`: the field names components read and write by default.
    pub log_schema: LogSchema,
}

/// `log_schema.*` (Vector's names). Each key unset means Vector's default name.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogSchema {
    /// The field of a raw message (`stdin`'s lines with the `bytes` codec, what the `text`
    /// codec writes). Default `message`.
    #[serde(default)]
    pub message_key: Option<String>,
    /// The field of the event's time (the HEC sink's `timestamp_key`, the time of strftime
    /// templates). Default `timestamp`.
    #[serde(default)]
    pub timestamp_key: Option<String>,
    /// The field of the host name (the HEC sink's `host_key`; `stdin` writes it when set).
    /// Default `host`.
    #[serde(default)]
    pub host_key: Option<String>,
    /// The field of the source type. Default `source_type`. No component here writes one
    /// (events are usually OCSF objects, which carry their own metadata).
    #[serde(default)]
    pub source_type_key: Option<String>,
    /// The field of Vector's event metadata. Default `metadata`. Accepted for Vector's
    /// configurations; nothing here writes it (`remap` keeps why it dropped an event in
    /// `%dropped` metadata, outside the event).
    #[serde(default)]
    pub metadata_key: Option<String>,
}

/// Vector's default `log_schema.message_key`.
pub(crate) const MESSAGE_KEY: &str = "message";
/// Vector's default `log_schema.timestamp_key`.
pub(crate) const TIMESTAMP_KEY: &str = "timestamp";
/// Vector's default `log_schema.host_key`.
pub(crate) const HOST_KEY: &str = "host";

impl LogSchema {
    /// `message_key`, or `message`.
    pub fn message_key(&self) -> &str {
        self.message_key.as_deref().unwrap_or(MESSAGE_KEY)
    }

    /// `timestamp_key`, or `timestamp`.
    pub fn timestamp_key(&self) -> &str {
        self.timestamp_key.as_deref().unwrap_or(TIMESTAMP_KEY)
    }

    /// `host_key`, or `host`.
    pub fn host_key(&self) -> &str {
        self.host_key.as_deref().unwrap_or(HOST_KEY)
    }

    /// The keys that are set, with their option names.
    fn keys(&self) -> [(&'static str, Option<&str>); 5] {
        [
            ("log_schema.message_key", self.message_key.as_deref()),
            ("log_schema.timestamp_key", self.timestamp_key.as_deref()),
            ("log_schema.host_key", self.host_key.as_deref()),
            (
                "log_schema.source_type_key",
                self.source_type_key.as_deref(),
            ),
            ("log_schema.metadata_key", self.metadata_key.as_deref()),
        ]
    }
}

/// A global option that cannot be used, or is set differently in two files.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{message}")]
pub struct GlobalError {
    /// The option (`timezone`, `log_schema.host_key`, ...).
    pub option: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

impl GlobalOptions {
    /// Checks `timezone` and the `log_schema` paths.
    pub fn check(&self) -> Result<(), GlobalError> {
        if let Some(name) = &self.timezone {
            crate::template::parse_timezone("timezone", Some(name)).map_err(|error| {
                GlobalError {
                    option: "timezone".into(),
                    message: error.message,
                    help: "use `local` or a TZ database name such as `UTC` or `Europe/Paris`"
                        .into(),
                }
            })?;
        }
        for (option, key) in self.log_schema.keys() {
            if let Some(key) = key {
                field_path(key).map_err(|message| GlobalError {
                    option: option.into(),
                    message,
                    help: "write a field path as in VRL, e.g. `host` or `device.hostname`".into(),
                })?;
            }
        }
        Ok(())
    }

    /// Adds `other`'s options (another file's); an option set differently in both is an
    /// error, as in Vector.
    pub fn merge(&mut self, other: GlobalOptions) -> Result<(), GlobalError> {
        let conflict = |option: &str| GlobalError {
            option: option.into(),
            message: format!("`{option}` is set differently in two configuration files"),
            help: format!("set `{option}` in one file only"),
        };
        fn take<T: PartialEq>(mine: &mut Option<T>, theirs: Option<T>) -> Result<(), ()> {
            match (mine.as_ref(), theirs) {
                (Some(a), Some(b)) if *a != b => Err(()),
                (None, Some(b)) => {
                    *mine = Some(b);
                    Ok(())
                }
                _ => Ok(()),
            }
        }
        take(&mut self.timezone, other.timezone).map_err(|()| conflict("timezone"))?;
        if other.proxy != ProxyConfig::default() {
            if self.proxy != ProxyConfig::default() && self.proxy != other.proxy {
                return Err(conflict("proxy"));
            }
            self.proxy = other.proxy;
        }
        let (mine, theirs) = (&mut self.log_schema, other.log_schema);
        take(&mut mine.message_key, theirs.message_key)
            .map_err(|()| conflict("log_schema.message_key"))?;
        take(&mut mine.timestamp_key, theirs.timestamp_key)
            .map_err(|()| conflict("log_schema.timestamp_key"))?;
        take(&mut mine.host_key, theirs.host_key).map_err(|()| conflict("log_schema.host_key"))?;
        take(&mut mine.source_type_key, theirs.source_type_key)
            .map_err(|()| conflict("log_schema.source_type_key"))?;
        take(&mut mine.metadata_key, theirs.metadata_key)
            .map_err(|()| conflict("log_schema.metadata_key"))
    }

    /// A component's `proxy` with the global one under it (Vector's merge: the component's
    /// `http`, `https` and non-empty `no_proxy` win; either's `enabled = false` wins).
    pub fn proxy_under(&self, component: &ProxyConfig) -> ProxyConfig {
        let global = &self.proxy;
        ProxyConfig {
            enabled: global.enabled && component.enabled,
            http: component.http.clone().or_else(|| global.http.clone()),
            https: component.https.clone().or_else(|| global.https.clone()),
            no_proxy: if component.no_proxy.is_empty() {
                global.no_proxy.clone()
            } else {
                component.no_proxy.clone()
            },
        }
    }

    /// A component's `timezone` option, or the global one.
    pub fn timezone_or(&self, component: &Option<String>) -> Option<String> {
        component.clone().or_else(|| self.timezone.clone())
    }
}

/// A field path option (`host`, `.host`, `device.hostname`), parsed as VRL reads paths.
pub(crate) fn field_path(key: &str) -> Result<OwnedValuePath, String> {
    parse_value_path(key.strip_prefix('.').unwrap_or(key))
        .map_err(|error| format!("invalid field path `{key}`: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_component_wins_and_either_can_turn_the_proxy_off() {
        let globals = GlobalOptions {
            proxy: ProxyConfig {
                http: Some("http://global:3128".into()),
                https: Some("http://global:3129".into()),
                no_proxy: vec!["localhost".into()],
                ..ProxyConfig::default()
            },
            ..GlobalOptions::default()
        };
        let own = ProxyConfig {
            https: Some("http://own:1".into()),
            ..ProxyConfig::default()
        };
        let merged = globals.proxy_under(&own);
        assert_eq!(merged.http.as_deref(), Some("http://global:3128"));
        assert_eq!(merged.https.as_deref(), Some("http://own:1"));
        assert_eq!(merged.no_proxy, ["localhost"]);
        assert_eq!(
            globals.proxy_under(&merged),
            merged,
            "applying twice changes nothing"
        );
        let off = ProxyConfig {
            enabled: false,
            ..ProxyConfig::default()
        };
        assert!(!globals.proxy_under(&off).enabled);
        assert_eq!(
            GlobalOptions::default().proxy_under(&ProxyConfig::default()),
            ProxyConfig::default(),
            "no proxy anywhere: the environment's, as without globals"
        );
    }

    #[test]
    fn two_files_may_repeat_a_global_but_not_change_it() {
        let zone = |name: &str| GlobalOptions {
            timezone: Some(name.into()),
            ..GlobalOptions::default()
        };
        let mut globals = zone("Europe/Paris");
        globals.merge(zone("Europe/Paris")).expect("the same value");
        globals.merge(GlobalOptions::default()).expect("unset");
        let error = globals.merge(zone("UTC")).unwrap_err();
        assert_eq!(error.option, "timezone");
    }

    #[test]
    fn unusable_values_name_the_option() {
        let bad_zone = GlobalOptions {
            timezone: Some("Mars/Olympus".into()),
            ..GlobalOptions::default()
        };
        assert_eq!(bad_zone.check().unwrap_err().option, "timezone");
        let bad_key = GlobalOptions {
            log_schema: LogSchema {
                host_key: Some("a..b".into()),
                ..LogSchema::default()
            },
            ..GlobalOptions::default()
        };
        assert_eq!(bad_key.check().unwrap_err().option, "log_schema.host_key");
    }
}
