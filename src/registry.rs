//! Component types a host program adds to the built-in ones.
//!
//! A host registers its own source, transform or sink type under a `type` name before it loads
//! a configuration; the configuration then uses it like a built-in:
//!
//! ```
//! use c1_pipeline::component::{BuildError, ComponentTask, SinkComponent, SinkContext};
//!
//! /// `[sinks.x] type = "dev_null"`: takes every batch and reports it delivered.
//! #[derive(Debug, serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct DevNullConfig {}
//!
//! impl SinkComponent for DevNullConfig {
//!     fn build(&self, mut cx: SinkContext) -> Result<ComponentTask, BuildError> {
//!         Ok(Box::pin(async move {
//!             while let Some(batch) = cx.input.recv().await {
//!                 c1_pipeline::event::finish_batch(batch, c1_pipeline::BatchStatus::Delivered);
//!             }
//!             Ok(())
//!         }))
//!     }
//! }
//!
//! c1_pipeline::registry::register_sink::<DevNullConfig>("dev_null").unwrap();
//! ```
//!
//! A registered type's options are deserialized with serde from the component's table (less
//! the keys every component has: `type`, and `inputs` for transforms and sinks). Errors name
//! the component; they carry no position inside the table, as a built-in's do.
//!
//! Registrations are process-wide (as Vector's component registry is) and last for the
//! process: register once, at start-up.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, RwLock};

use serde::de::DeserializeOwned;

use crate::component::{SinkComponent, SourceComponent, TransformComponent};

/// Why a type could not be registered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    /// A built-in type or an earlier registration has the name.
    #[error("a {kind} type named `{name}` already exists")]
    Taken {
        /// `source`, `transform` or `sink`.
        kind: &'static str,
        /// The name asked for.
        name: &'static str,
    },
}

/// Builds a registered component from its options (as a JSON value).
type Factory<T> = fn(serde_json::Value) -> Result<Arc<T>, serde_json::Error>;

/// A component of a registered type, as configured: its type name and its options.
pub struct Registered<T: ?Sized> {
    type_name: &'static str,
    component: Arc<T>,
}

impl<T: ?Sized> Registered<T> {
    /// A component of type `type_name`.
    pub fn new(type_name: &'static str, component: Arc<T>) -> Self {
        Self {
            type_name,
            component,
        }
    }

    /// Its `type` name.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The component.
    pub fn component(&self) -> &T {
        &self.component
    }

    /// The component, to change, unless it is shared (a configuration cloned before).
    pub(crate) fn component_mut(&mut self) -> Option<&mut T> {
        Arc::get_mut(&mut self.component)
    }
}

impl<T: ?Sized> Clone for Registered<T> {
    fn clone(&self) -> Self {
        Self {
            type_name: self.type_name,
            component: Arc::clone(&self.component),
        }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Registered<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registered")
            .field("type_name", &self.type_name)
            .field("component", &&*self.component)
            .finish()
    }
}

/// The registered types of one component kind.
pub(crate) struct Table<T: ?Sized> {
    kind: &'static str,
    factories: RwLock<HashMap<&'static str, Factory<T>>>,
}

impl<T: ?Sized> Table<T> {
    fn new(kind: &'static str) -> Self {
        Self {
            kind,
            factories: RwLock::new(HashMap::new()),
        }
    }

    fn insert(
        &self,
        name: &'static str,
        built_in: &[&str],
        factory: Factory<T>,
    ) -> Result<(), RegistryError> {
        let mut factories = self
            .factories
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if built_in.contains(&name) || factories.contains_key(name) {
            return Err(RegistryError::Taken {
                kind: self.kind,
                name,
            });
        }
        factories.insert(name, factory);
        Ok(())
    }

    /// Builds a component of registered type `type_name` from `deserializer`; `None` when no
    /// such type is registered.
    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
        &self,
        type_name: &str,
        deserializer: D,
    ) -> Option<Result<Registered<T>, D::Error>> {
        let (name, factory) = {
            let factories = self
                .factories
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (name, factory) = factories.get_key_value(type_name)?;
            (*name, *factory)
        };
        let options = match <serde_json::Value as serde::Deserialize>::deserialize(deserializer) {
            Ok(options) => options,
            Err(error) => return Some(Err(error)),
        };
        Some(
            factory(options)
                .map(|component| Registered::new(name, component))
                .map_err(serde::de::Error::custom),
        )
    }

    /// The registered names, sorted.
    pub(crate) fn names(&self) -> Vec<&'static str> {
        let factories = self
            .factories
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut names: Vec<&'static str> = factories.keys().copied().collect();
        names.sort_unstable();
        names
    }
}

pub(crate) static SOURCES: LazyLock<Table<dyn SourceComponent>> =
    LazyLock::new(|| Table::new("source"));
pub(crate) static TRANSFORMS: LazyLock<Table<dyn TransformComponent>> =
    LazyLock::new(|| Table::new("transform"));
pub(crate) static SINKS: LazyLock<Table<dyn SinkComponent>> = LazyLock::new(|| Table::new("sink"));

/// Registers source type `name`, configured by `C`'s options.
pub fn register_source<C>(name: &'static str) -> Result<(), RegistryError>
where
    C: SourceComponent + DeserializeOwned + 'static,
{
    fn factory<C: SourceComponent + DeserializeOwned + 'static>(
        options: serde_json::Value,
    ) -> Result<Arc<dyn SourceComponent>, serde_json::Error> {
        Ok(Arc::new(serde_json::from_value::<C>(options)?))
    }
    SOURCES.insert(name, crate::sources::SourceConfig::TYPES, factory::<C>)
}

/// Registers transform type `name`, configured by `C`'s options.
pub fn register_transform<C>(name: &'static str) -> Result<(), RegistryError>
where
    C: TransformComponent + DeserializeOwned + 'static,
{
    fn factory<C: TransformComponent + DeserializeOwned + 'static>(
        options: serde_json::Value,
    ) -> Result<Arc<dyn TransformComponent>, serde_json::Error> {
        Ok(Arc::new(serde_json::from_value::<C>(options)?))
    }
    TRANSFORMS.insert(
        name,
        crate::transforms::TransformConfig::TYPES,
        factory::<C>,
    )
}

/// Registers sink type `name`, configured by `C`'s options.
pub fn register_sink<C>(name: &'static str) -> Result<(), RegistryError>
where
    C: SinkComponent + DeserializeOwned + 'static,
{
    fn factory<C: SinkComponent + DeserializeOwned + 'static>(
        options: serde_json::Value,
    ) -> Result<Arc<dyn SinkComponent>, serde_json::Error> {
        Ok(Arc::new(serde_json::from_value::<C>(options)?))
    }
    SINKS.insert(name, crate::sinks::SinkConfig::TYPES, factory::<C>)
}
