//! `${VAR}` interpolation inside string values.
//!
//! Substitution runs on the parsed TOML tree, one string value at a time, so a variable's
//! value can never add keys, tables or components (unlike text substitution before parsing,
//! which Vector disabled by default in 0.57 for exactly that reason).
//!
//! Syntax (bash-like, as in Vector): `$VAR`, `${VAR}`, `${VAR:-default}` (unset or empty),
//! `${VAR-default}` (unset), `${VAR:?message}` (error if unset or empty), `${VAR?message}`
//! (error if unset), and `$$` for a literal `$`.

use std::borrow::Cow;

/// Why a string could not be interpolated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum InterpolationError {
    /// `${VAR}` or `$VAR` names a variable that is not set.
    #[error("environment variable `{name}` is not set")]
    Missing {
        /// The variable.
        name: String,
    },
    /// `${VAR:?message}` / `${VAR?message}` with the variable unset (or empty).
    #[error("environment variable `{name}` is required: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The message written in the config.
        message: String,
    },
    /// A `${` without its closing `}`, or an invalid variable name.
    #[error("malformed variable reference `{text}`")]
    Malformed {
        /// The offending text.
        text: String,
    },
}

impl InterpolationError {
    /// How to fix it.
    pub(super) fn help(&self) -> String {
        match self {
            Self::Missing { name } => format!(
                "export {name}=..., give a default with ${{{name}:-default}}, or write $$ for a literal `$`"
            ),
            Self::Required { name, .. } => format!("export {name}=... before starting"),
            Self::Malformed { .. } => {
                "write ${NAME}, ${NAME:-default} or ${NAME:?message}; write $$ for a literal `$`"
                    .to_owned()
            }
        }
    }
}

/// Substitutes variables in `input`, looking them up with `lookup`.
///
/// Returns the input unchanged (borrowed) when it contains no `$`.
pub(super) fn interpolate<'a>(
    input: &'a str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Cow<'a, str>, InterpolationError> {
    if !input.contains('$') {
        return Ok(Cow::Borrowed(input));
    }
    let mut output = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(dollar) = rest.find('$') {
        output.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            output.push('$');
            rest = stripped;
        } else if let Some(braced) = after.strip_prefix('{') {
            let close = braced
                .find('}')
                .ok_or_else(|| InterpolationError::Malformed {
                    text: format!("${{{braced}"),
                })?;
            let expression = &braced[..close];
            output.push_str(&expand(expression, lookup)?);
            rest = &braced[close + 1..];
        } else {
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if name_len == 0 {
                // A lone `$` followed by something that is not a name stays literal.
                output.push('$');
                rest = after;
                continue;
            }
            let name = &after[..name_len];
            check_name(name, name)?;
            output.push_str(&lookup(name).ok_or_else(|| InterpolationError::Missing {
                name: name.to_owned(),
            })?);
            rest = &after[name_len..];
        }
    }
    output.push_str(rest);
    Ok(Cow::Owned(output))
}

fn check_name(name: &str, text: &str) -> Result<(), InterpolationError> {
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(InterpolationError::Malformed {
            text: format!("${{{text}}}"),
        })
    }
}

/// Expands the inside of `${...}`.
fn expand(
    expression: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
    let operator_at = expression.find([':', '-', '?']);
    let (name, operator) = match operator_at {
        Some(index) => (&expression[..index], &expression[index..]),
        None => (expression, ""),
    };
    check_name(name, expression)?;
    let value = lookup(name);
    let (empty_counts_as_unset, operator) = match operator.strip_prefix(':') {
        Some(stripped) => (true, stripped),
        None => (false, operator),
    };
    let is_unset = match &value {
        None => true,
        Some(v) => empty_counts_as_unset && v.is_empty(),
    };
    if let Some(default) = operator.strip_prefix('-') {
        return Ok(if is_unset {
            default.to_owned()
        } else {
            value.unwrap_or_default()
        });
    }
    if let Some(message) = operator.strip_prefix('?') {
        return match value {
            Some(v) if !is_unset => Ok(v),
            _ => Err(InterpolationError::Required {
                name: name.to_owned(),
                message: message.to_owned(),
            }),
        };
    }
    if !operator.is_empty() {
        return Err(InterpolationError::Malformed {
            text: format!("${{{expression}}}"),
        });
    }
    value.ok_or_else(|| InterpolationError::Missing {
        name: name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("splunk.example.com".to_owned()),
            "EMPTY" => Some(String::new()),
            "TRICKY" => Some("x\"\n[sinks.evil]\ntype = \"console\"".to_owned()),
            _ => None,
        }
    }

    fn run(input: &str) -> Result<String, InterpolationError> {
        interpolate(input, &env).map(Cow::into_owned)
    }

    #[test]
    fn substitutes_every_form() {
        assert_eq!(
            run("https://${HOST}:8088").unwrap(),
            "https://splunk.example.com:8088"
        );
        assert_eq!(run("$HOST/x").unwrap(), "splunk.example.com/x");
        assert_eq!(run("${NOPE:-dflt}").unwrap(), "dflt");
        assert_eq!(run("${EMPTY:-dflt}").unwrap(), "dflt");
        assert_eq!(run("${EMPTY-dflt}").unwrap(), "");
        assert_eq!(run("${NOPE-dflt}").unwrap(), "dflt");
        assert_eq!(run("${HOST:?need a host}").unwrap(), "splunk.example.com");
        assert_eq!(run("cost: $$5 and $").unwrap(), "cost: $5 and $");
        assert_eq!(run("no vars").unwrap(), "no vars");
    }

    #[test]
    fn reports_missing_and_required() {
        assert_eq!(
            run("${NOPE}").unwrap_err(),
            InterpolationError::Missing {
                name: "NOPE".into()
            }
        );
        assert_eq!(
            run("$NOPE").unwrap_err(),
            InterpolationError::Missing {
                name: "NOPE".into()
            }
        );
        assert_eq!(
            run("${EMPTY:?set it}").unwrap_err(),
            InterpolationError::Required {
                name: "EMPTY".into(),
                message: "set it".into()
            }
        );
        assert_eq!(run("${EMPTY?set it}").unwrap(), "");
        assert!(matches!(
            run("${HOST"),
            Err(InterpolationError::Malformed { .. })
        ));
        assert!(matches!(
            run("${1BAD}"),
            Err(InterpolationError::Malformed { .. })
        ));
    }

    #[test]
    fn values_are_inserted_verbatim() {
        assert_eq!(run("${TRICKY}").unwrap(), env("TRICKY").unwrap());
    }
}
