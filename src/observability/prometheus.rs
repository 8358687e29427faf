//! The Prometheus text exposition format (version 0.0.4) of [`MetricSample`]s.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::metrics::{MetricSample, SampleKind};

/// `samples` as Prometheus text, each name prefixed with `namespace_` when one is given;
/// samples of one name are grouped under one `# TYPE` line.
pub(crate) fn render<'a>(
    samples: impl IntoIterator<Item = (Option<&'a str>, &'a MetricSample)>,
) -> String {
    let mut by_name: BTreeMap<String, (SampleKind, Vec<&MetricSample>)> = BTreeMap::new();
    for (namespace, sample) in samples {
        let name = match namespace {
            Some(namespace) if !namespace.is_empty() => format!("{namespace}_{}", sample.name),
            _ => sample.name.clone(),
        };
        by_name
            .entry(sanitize(&name))
            .or_insert_with(|| (sample.kind, Vec::new()))
            .1
            .push(sample);
    }
    let mut text = String::new();
    for (name, (kind, samples)) in by_name {
        let kind = match kind {
            SampleKind::Counter => "counter",
            SampleKind::Gauge => "gauge",
        };
        let _ = writeln!(text, "# TYPE {name} {kind}");
        for sample in samples {
            text.push_str(&name);
            if !sample.tags.is_empty() {
                text.push('{');
                for (i, (key, value)) in sample.tags.iter().enumerate() {
                    if i > 0 {
                        text.push(',');
                    }
                    let _ = write!(text, "{}=\"{}\"", sanitize(key), escape(value));
                }
                text.push('}');
            }
            let _ = writeln!(text, " {}", sample.value);
        }
    }
    text
}

/// A metric or label name with the characters Prometheus does not allow replaced by `_`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_types_labels_and_namespaces() {
        let sample = MetricSample {
            name: "component_sent_events_total".into(),
            tags: BTreeMap::from([
                ("component_id".to_owned(), "c\"1".to_owned()),
                ("component_kind".to_owned(), "source".to_owned()),
            ]),
            kind: SampleKind::Counter,
            value: 3.0,
        };
        let text = render([(Some("vector"), &sample)]);
        assert_eq!(
            text,
            "# TYPE vector_component_sent_events_total counter\n\
             vector_component_sent_events_total{component_id=\"c\\\"1\",component_kind=\"source\"} 3\n"
        );
    }
}
