//! The VRL functions `ocsf_validate` and `ocsf_derive`, for `remap` programs: the `ocsf`
//! transform's engine ([`crate::ocsf::validate`]) on any value.
//!
//! ```text
//! errors = ocsf_validate(., version: "1.3.0")   # [] when valid, else "<path>: <problem>" (≤ 20)
//! . = ocsf_derive(.)                           # the event with its derived names filled in
//! ```
//!
//! Without `version`, the event's `metadata.version` is used when embedded, else 1.3.0 (as the
//! transform does). `version` must be a literal naming an embedded version: anything else is a
//! compile error listing them.

use vrl::compiler::prelude::*;

use crate::ocsf::schema::{self, Schema};
use crate::ocsf::validate::{self, Mode};

/// The OCSF functions, to add to the functions programs are compiled with.
pub(crate) fn vrl_functions() -> Vec<Box<dyn Function>> {
    vec![Box::new(OCSF_VALIDATE), Box::new(OCSF_DERIVE)]
}

const PARAMETERS: &[Parameter] = &[
    Parameter::required("value", kind::ANY, "The OCSF event."),
    Parameter::optional(
        "version",
        kind::BYTES,
        "The OCSF version (1.1.0, 1.3.0, 1.5.0 or 1.8.0); default: the event's metadata.version when embedded, else 1.3.0.",
    ),
];

/// The `version` argument: a literal embedded version, its schema loaded now.
fn fixed_schema(
    arguments: &ArgumentList,
    state: &TypeState,
) -> Result<Option<&'static Schema>, function::Error> {
    let versions: Vec<Value> = schema::VERSIONS.iter().map(|v| Value::from(*v)).collect();
    let Some(version) = arguments.optional_enum("version", &versions, state)? else {
        return Ok(None);
    };
    let name = version
        .as_bytes()
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(schema::embedded_version)
        .unwrap_or(schema::DEFAULT_VERSION);
    schema::schema(name)
        .map(Some)
        .map_err(|_| function::Error::InvalidArgument {
            keyword: "version",
            value: version,
            error: "the embedded schema of this version cannot be read",
        })
}

/// Runs the engine on `value`; the errors, or the value as derived.
fn run(value: &mut Value, fixed: Option<&'static Schema>, mode: Mode) -> Vec<String> {
    match validate::schema_for(value, fixed) {
        Ok(schema) => validate::check(value, schema, mode).errors,
        Err(error) => vec![format!("metadata.version: {error}")],
    }
}

/// `ocsf_validate(value, [version]) -> [string]` and `ocsf_derive(value, [version]) -> object`:
/// one engine, each function one mode of it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OcsfFunction {
    mode: Mode,
}

/// `ocsf_validate`: the problems of an event.
const OCSF_VALIDATE: OcsfFunction = OcsfFunction {
    mode: Mode {
        derive: false,
        validate: true,
    },
};

/// `ocsf_derive`: the event with what follows from its ids filled in.
const OCSF_DERIVE: OcsfFunction = OcsfFunction {
    mode: Mode {
        derive: true,
        validate: false,
    },
};

/// `ocsf_derive`'s parameters: `value` must be an object.
const DERIVE_PARAMETERS: &[Parameter] = &[
    Parameter::required("value", kind::OBJECT, "The OCSF event."),
    PARAMETERS[1],
];

impl Function for OcsfFunction {
    fn identifier(&self) -> &'static str {
        if self.mode.validate {
            "ocsf_validate"
        } else {
            "ocsf_derive"
        }
    }

    fn usage(&self) -> &'static str {
        if self.mode.validate {
            "Checks `value` against the official OCSF schema of its class (required attributes, types, enums, constraints, unknown attributes) and returns its problems as `\"<path>: <problem>\"` strings, at most 20; empty when the event is valid. The value is not changed: derive first (`ocsf_validate(ocsf_derive(.))`) to accept events without their derived names."
        } else {
            "Returns the OCSF event `value` with what follows from its ids filled in where missing (`class_name`, `category_uid`, `category_name`, `type_uid`, `type_name`, and the string sibling of every `*_id` enum at any depth, such as `activity_name` or `actor.user.type`). Existing values are never overwritten."
        }
    }

    fn category(&self) -> &'static str {
        if self.mode.validate {
            Category::Type.as_ref()
        } else {
            Category::Object.as_ref()
        }
    }

    fn return_kind(&self) -> u16 {
        if self.mode.validate {
            kind::ARRAY
        } else {
            kind::OBJECT
        }
    }

    fn parameters(&self) -> &'static [Parameter] {
        if self.mode.validate {
            PARAMETERS
        } else {
            DERIVE_PARAMETERS
        }
    }

    fn examples(&self) -> &'static [Example] {
        &[]
    }

    fn compile(
        &self,
        state: &TypeState,
        _ctx: &mut FunctionCompileContext,
        arguments: ArgumentList,
    ) -> Compiled {
        compile_call(state, arguments, self.mode)
    }
}

/// A compiled call of either function: one walk, `mode` saying which.
fn compile_call(state: &TypeState, arguments: ArgumentList, mode: Mode) -> Compiled {
    let fixed = fixed_schema(&arguments, state)?;
    let value = arguments.required("value");
    Ok(OcsfCall { value, fixed, mode }.as_expr())
}

/// `ocsf_validate` (the problems found) or `ocsf_derive` (the completed event) at run time.
#[derive(Debug, Clone)]
struct OcsfCall {
    value: Box<dyn Expression>,
    fixed: Option<&'static Schema>,
    mode: Mode,
}

impl FunctionExpression for OcsfCall {
    fn resolve(&self, ctx: &mut Context) -> Resolved {
        let mut value = self.value.resolve(ctx)?;
        let errors = run(&mut value, self.fixed, self.mode);
        if self.mode.validate {
            Ok(Value::Array(errors.into_iter().map(Value::from).collect()))
        } else {
            Ok(value)
        }
    }

    fn type_def(&self, _: &TypeState) -> TypeDef {
        if self.mode.validate {
            TypeDef::array(Collection::from_unknown(Kind::bytes())).infallible()
        } else {
            TypeDef::object(Collection::any()).infallible()
        }
    }
}

#[cfg(test)]
mod tests {
    use vrl::value::Value;

    use crate::transforms::program::{CompiledVrl, VrlRunner};

    fn run(program: &str, event: &str) -> Value {
        let compiled =
            CompiledVrl::compile(program, "source", None, &Default::default()).expect("compiles");
        let mut runner = VrlRunner::new(compiled);
        let mut value: Value = serde_json::from_str(event).expect("JSON");
        let mut metadata = Value::Object(Default::default());
        runner.run(&mut value, &mut metadata).expect("runs")
    }

    use crate::transforms::ocsf::STRIPPED_6003 as STRIPPED;

    #[test]
    fn ocsf_validate_lists_problems_and_ocsf_derive_completes() {
        let errors = run("ocsf_validate(.)", STRIPPED);
        let errors = serde_json::to_value(errors).unwrap();
        assert!(
            errors
                .as_array()
                .unwrap()
                .contains(&"type_uid: required, missing".into())
        );
        let errors = run(
            "ocsf_validate(ocsf_derive(.), version: \"1.8.0\")",
            STRIPPED,
        );
        assert_eq!(errors, Value::Array(Vec::new()));
        let derived = serde_json::to_value(run(". = ocsf_derive(.)\n.", STRIPPED)).unwrap();
        assert_eq!(derived["type_name"], "API Activity: Read");
        let errors = run("ocsf_validate(\"text\")", STRIPPED);
        assert_eq!(
            serde_json::to_value(errors).unwrap()[0],
            ".: the event is not an object"
        );
    }

    #[test]
    fn an_unknown_version_is_a_compile_error() {
        let error = CompiledVrl::compile(
            "ocsf_validate(., version: \"2.0.0\")",
            "source",
            None,
            &Default::default(),
        )
        .unwrap_err();
        assert!(error.message.contains("1.8.0"), "{}", error.message);
        let error = CompiledVrl::compile(
            "ocsf_derive(., version: .v)",
            "source",
            None,
            &Default::default(),
        )
        .unwrap_err();
        assert!(error.message.contains("literal"), "{}", error.message);
    }
}
