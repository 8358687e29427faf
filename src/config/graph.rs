//! How components connect: resolving `inputs` (ids, named outputs, `*` wildcards) and
//! checking the graph (unknown inputs, cycles, missing sources or sinks, unconsumed outputs).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::{Config, ConfigError, ConfigErrors, Origin, error::did_you_mean};

/// One output of a source or transform: `id` (the default output) or `id.port`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutputId {
    /// The component's id.
    pub component: String,
    /// The named output, or `None` for the default one.
    pub port: Option<String>,
}

impl fmt::Display for OutputId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.port {
            Some(port) => write!(f, "{}.{}", self.component, port),
            None => f.write_str(&self.component),
        }
    }
}

/// The resolved graph: for every transform and sink, the outputs it reads.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// Consumer id → the outputs feeding it.
    pub inputs: BTreeMap<String, Vec<OutputId>>,
    /// Outputs that nothing reads but may be left so (their events are discarded as handled).
    pub unconsumed_optional: Vec<OutputId>,
}

/// Checks `config` and resolves its inputs.
pub fn check(config: &Config) -> Result<Graph, ConfigErrors> {
    let mut errors = Vec::new();
    check_unique_ids(config, &mut errors);
    if config.sources.is_empty() {
        errors.push(
            ConfigError::new("no sources are defined")
                .help("add a [sources.ID] table, for example `type = \"conductorone_demo\"`"),
        );
    }
    if config.sinks.is_empty() {
        errors.push(
            ConfigError::new("no sinks are defined")
                .help("add a [sinks.ID] table, for example `type = \"console\"` with `inputs`"),
        );
    }

    // Every output that exists, and which ones may go unconsumed.
    let mut outputs: Vec<OutputId> = config
        .sources
        .keys()
        .map(|id| OutputId {
            component: id.clone(),
            port: None,
        })
        .collect();
    let mut optional = BTreeSet::new();
    for (id, transform) in &config.transforms {
        let declared = transform.config.component().outputs();
        if declared.default {
            outputs.push(OutputId {
                component: id.clone(),
                port: None,
            });
        }
        for port in &declared.named {
            let output = OutputId {
                component: id.clone(),
                port: Some(port.clone()),
            };
            if declared.optional.contains(port) {
                optional.insert(output.clone());
            }
            outputs.push(output);
        }
    }
    let names: Vec<String> = outputs.iter().map(ToString::to_string).collect();

    let mut graph = Graph::default();
    let consumers = config
        .transforms
        .iter()
        .map(|(id, t)| ("transforms", id, &t.inputs, &t.origin))
        .chain(
            config
                .sinks
                .iter()
                .map(|(id, s)| ("sinks", id, &s.inputs, &s.origin)),
        );
    for (kind, id, inputs, origin) in consumers {
        let resolved = resolve_inputs(
            config,
            kind,
            id,
            inputs,
            origin,
            &outputs,
            &names,
            &mut errors,
        );
        graph.inputs.insert(id.clone(), resolved);
    }

    check_cycles(config, &graph, &mut errors);

    let consumed: BTreeSet<&OutputId> = graph.inputs.values().flatten().collect();
    for output in &outputs {
        if consumed.contains(output) {
            continue;
        }
        if optional.contains(output) {
            graph.unconsumed_optional.push(output.clone());
            continue;
        }
        if output.port.is_some() {
            // A named output (a `route` route, `remap`'s `dropped`) left unread is a warning
            // in Vector, and its events are discarded: the same here, counted as discarded.
            // A component's default output still must be read (see the README).
            tracing::warn!(
                output = %output,
                "output `{output}` is not used by any transform or sink: its events are discarded"
            );
            graph.unconsumed_optional.push(output.clone());
            continue;
        }
        let (kind, origin) = match config.sources.get(&output.component) {
            Some(source) => ("sources", &source.origin),
            None => ("transforms", &config.transforms[&output.component].origin),
        };
        errors.push(
            ConfigError::new(format!(
                "output `{output}` is not used by any transform or sink"
            ))
            .at(origin.location.clone())
            .component(format!("{kind}.{}", output.component))
            .help(format!(
                "add \"{output}\" to the `inputs` of a sink (or remove the component)"
            )),
        );
    }

    if errors.is_empty() {
        Ok(graph)
    } else {
        Err(ConfigErrors(errors))
    }
}

fn check_unique_ids(config: &Config, errors: &mut Vec<ConfigError>) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let all = config
        .sources
        .iter()
        .map(|(id, c)| ("sources", id, &c.origin))
        .chain(
            config
                .transforms
                .iter()
                .map(|(id, c)| ("transforms", id, &c.origin)),
        )
        .chain(config.sinks.iter().map(|(id, c)| ("sinks", id, &c.origin)));
    for (kind, id, origin) in all {
        if let Some(previous) = seen.insert(id, kind) {
            errors.push(
                ConfigError::new(format!(
                    "id `{id}` is used by both `{previous}.{id}` and `{kind}.{id}`"
                ))
                .at(origin.location.clone())
                .component(format!("{kind}.{id}"))
                .help("component ids must be unique across sources, transforms and sinks"),
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn resolve_inputs(
    config: &Config,
    kind: &str,
    id: &str,
    inputs: &[String],
    origin: &Origin,
    outputs: &[OutputId],
    names: &[String],
    errors: &mut Vec<ConfigError>,
) -> Vec<OutputId> {
    let component = format!("{kind}.{id}");
    let mut resolved: Vec<OutputId> = Vec::new();
    if inputs.is_empty() {
        errors.push(
            ConfigError::new("`inputs` is empty")
                .at(origin.field_location("inputs"))
                .component(&component)
                .field("inputs")
                .help("name at least one source or transform"),
        );
    }
    for (index, input) in inputs.iter().enumerate() {
        // The position of this very item of `inputs`, computed only for an error (it scans
        // the file: computing it for every input made large configurations quadratic).
        let location = || origin.field_location(&format!("inputs[{index}]"));
        let matches: Vec<&OutputId> = if input.contains('*') {
            outputs
                .iter()
                .zip(names)
                .filter(|(output, name)| output.component != id && wildcard_match(input, name))
                .map(|(output, _)| output)
                .collect()
        } else {
            outputs
                .iter()
                .zip(names)
                .filter(|(_, name)| *name == input)
                .map(|(o, _)| o)
                .collect()
        };
        if matches.is_empty() {
            errors.push(unknown_input(config, &component, input, location(), names));
        }
        for output in matches {
            if output.component == id {
                errors.push(
                    ConfigError::new(format!(
                        "`{component}` lists its own output `{output}` as an input"
                    ))
                    .at(location())
                    .component(&component)
                    .field("inputs")
                    .help("a component cannot read its own output"),
                );
            } else if !resolved.contains(output) {
                resolved.push(output.clone());
            }
        }
    }
    resolved
}

fn unknown_input(
    config: &Config,
    component: &str,
    input: &str,
    location: Option<super::Location>,
    names: &[String],
) -> ConfigError {
    let error = ConfigError::new(format!(
        "input `{input}` does not match any source or transform output"
    ))
    .at(location)
    .component(component)
    .field("inputs");
    if input.contains('*') {
        return error.help(format!(
            "the wildcard matches nothing; outputs are: {}",
            names.join(", ")
        ));
    }
    if config.sinks.contains_key(input) {
        return error.help(format!("`{input}` is a sink, and sinks have no outputs"));
    }
    if let Some(transform) = config.transforms.get(input) {
        let declared = transform.config.component().outputs();
        if !declared.default {
            let named: Vec<String> = declared
                .named
                .iter()
                .map(|p| format!("{input}.{p}"))
                .collect();
            return error.help(format!(
                "`{input}` has only named outputs: {}",
                named.join(", ")
            ));
        }
    }
    match did_you_mean(input, names.iter().map(String::as_str)) {
        Some(suggestion) => error.help(format!("did you mean `{suggestion}`?")),
        None => error.help(format!("known outputs: {}", names.join(", "))),
    }
}

/// Reports every cycle among transforms (a transform that, through its inputs, reads itself).
fn check_cycles(config: &Config, graph: &Graph, errors: &mut Vec<ConfigError>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        id: &'a str,
        graph: &'a Graph,
        config: &Config,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
        cycles: &mut Vec<Vec<String>>,
    ) {
        match marks.get(id) {
            Some(Mark::Done) => return,
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|s| *s == id).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(id.to_owned());
                cycles.push(cycle);
                return;
            }
            None => {}
        }
        marks.insert(id, Mark::Visiting);
        stack.push(id);
        for input in graph.inputs.get(id).into_iter().flatten() {
            if config.transforms.contains_key(&input.component) {
                visit(&input.component, graph, config, marks, stack, cycles);
            }
        }
        stack.pop();
        marks.insert(id, Mark::Done);
    }
    let mut marks = BTreeMap::new();
    let mut cycles = Vec::new();
    for id in config.transforms.keys() {
        visit(id, graph, config, &mut marks, &mut Vec::new(), &mut cycles);
    }
    for cycle in cycles {
        let first = &cycle[0];
        errors.push(
            ConfigError::new(format!("cycle between transforms: {}", cycle.join(" -> ")))
                .at(config.transforms[first].origin.field_location("inputs"))
                .component(format!("transforms.{first}"))
                .field("inputs")
                .help("events must flow from sources to sinks; remove one of these inputs"),
        );
    }
}

/// `*` matches any run of characters (including `.`); everything else matches itself.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == text;
    }
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "anything.here"));
        assert!(wildcard_match("app*", "app_logs"));
        assert!(wildcard_match("route.*", "route._unmatched"));
        assert!(wildcard_match("a*b*c", "a-x-b-y-c"));
        assert!(!wildcard_match("a*b*c", "a-x-c"));
        assert!(!wildcard_match("app*", "my_app"));
        assert!(wildcard_match("exact", "exact"));
        assert!(!wildcard_match("ab*ba", "aba"));
    }
}
