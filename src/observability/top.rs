//! `c1-pipeline top`: a terminal view of a running pipeline's components (what `GET
//! /components` of its `[api]` reports), refreshed every second, in the manner of `vector top`.

use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Row, Table};

use super::api::{ComponentRow, ComponentsReport};

/// How often the view asks for new figures.
const REFRESH: Duration = Duration::from_secs(1);

/// Why `top` cannot show anything.
#[derive(Debug, thiserror::Error)]
pub enum TopError {
    /// Nothing answers at the URL.
    #[error(
        "nothing answers at {url} ({reason}). Is c1-pipeline running with its API enabled? Add to its configuration\n\n  [api]\n  enabled = true\n\nand pass --url if the API listens elsewhere than 127.0.0.1:8686."
    )]
    Unreachable {
        /// The API's URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// Something answers, but not as a c1-pipeline API does.
    #[error(
        "{url} answered GET /components with {answer}: not a c1-pipeline API (enable `[api]` in the pipeline's configuration and point --url at its address)"
    )]
    NotAnApi {
        /// The API's URL.
        url: String,
        /// The status or the decoding error.
        answer: String,
    },
    /// The terminal could not be used.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

/// What the view shows.
#[derive(Debug, Default)]
pub struct TopView {
    /// The API's URL.
    pub url: String,
    /// The latest figures.
    pub report: ComponentsReport,
    /// Why the latest refresh failed, if it did.
    pub error: Option<String>,
}

/// Shows the components of the pipeline whose API is at `url` until `q` (or Esc, Ctrl-C).
pub async fn run(url: &str) -> Result<(), TopError> {
    let url = url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| TopError::Unreachable {
            url: url.clone(),
            reason: e.to_string(),
        })?;
    let report = fetch(&client, &url).await?;
    let mut view = TopView {
        url: url.clone(),
        report,
        error: None,
    };
    let mut terminal = ratatui::init();
    let result = async {
        loop {
            terminal.draw(|frame| draw(frame, &view))?;
            if tokio::task::block_in_place(|| quit_requested(REFRESH))? {
                return Ok(());
            }
            match fetch(&client, &url).await {
                Ok(report) => (view.report, view.error) = (report, None),
                Err(error) => view.error = Some(error.to_string()),
            }
        }
    }
    .await;
    ratatui::restore();
    result
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<ComponentsReport, TopError> {
    let response = client
        .get(format!("{url}/components"))
        .send()
        .await
        .map_err(|error| TopError::Unreachable {
            url: url.to_owned(),
            reason: crate::error_text::error_chain(&error),
        })?;
    let not_an_api = |answer: String| TopError::NotAnApi {
        url: url.to_owned(),
        answer,
    };
    if !response.status().is_success() {
        return Err(not_an_api(response.status().to_string()));
    }
    let body = response
        .bytes()
        .await
        .map_err(|error| not_an_api(error.to_string()))?;
    serde_json::from_slice(&body).map_err(|error| not_an_api(error.to_string()))
}

/// Waits up to `wait` for a key; whether it asks to quit.
fn quit_requested(wait: Duration) -> std::io::Result<bool> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !event::poll(left)? {
            return Ok(false);
        }
        if let Event::Key(key) = event::read()?
            && key.kind == KeyEventKind::Press
        {
            let ctrl_c =
                key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
            if matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) || ctrl_c {
                return Ok(true);
            }
        }
    }
}

/// Draws the view: a title, one row per component (sources, then transforms, then sinks),
/// and a status line.
pub fn draw(frame: &mut Frame, view: &TopView) {
    let [title, table, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(
        Line::from(format!("c1-pipeline top — {} — q quits", view.url))
            .style(Style::new().add_modifier(Modifier::BOLD)),
        title,
    );
    let mut rows: Vec<&ComponentRow> = view.report.components.iter().collect();
    let order = |kind: &str| match kind {
        "source" => 0,
        "transform" => 1,
        _ => 2,
    };
    rows.sort_by(|a, b| {
        (order(&a.component_kind), &a.component_id)
            .cmp(&(order(&b.component_kind), &b.component_id))
    });
    let header = Row::new([
        "ID",
        "Kind",
        "Type",
        "Events in",
        "In/s",
        "Events out",
        "Out/s",
        "Bytes in",
        "Bytes out",
        "Errors",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let widths = [
        Constraint::Fill(2),
        Constraint::Length(9),
        Constraint::Fill(2),
        Constraint::Length(12),
        Constraint::Length(9),
        Constraint::Length(12),
        Constraint::Length(9),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(8),
    ];
    let rows = rows.into_iter().map(|row| {
        Row::new([
            row.component_id.clone(),
            row.component_kind.clone(),
            row.component_type.clone(),
            row.received_events_total.to_string(),
            format!("{:.0}", row.received_events_per_sec),
            row.sent_events_total.to_string(),
            format!("{:.0}", row.sent_events_per_sec),
            human_bytes(row.received_event_bytes_total),
            human_bytes(row.sent_event_bytes_total),
            row.errors_total.to_string(),
        ])
    });
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title("Components")),
        table,
    );
    let line = match &view.error {
        Some(error) => format!("refresh failed: {error}"),
        None => "refreshed every second".to_owned(),
    };
    frame.render_widget(Line::from(line), status);
}

/// `bytes` in the largest binary unit that keeps it at least 1 (`1.5 MiB`).
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;

    fn row(id: &str, kind: &str, type_name: &str, sent: u64) -> ComponentRow {
        ComponentRow {
            component_id: id.into(),
            component_kind: kind.into(),
            component_type: type_name.into(),
            received_events_total: sent,
            sent_events_total: sent,
            sent_events_per_sec: 12.0,
            sent_event_bytes_total: sent * 1024,
            ..ComponentRow::default()
        }
    }

    #[test]
    fn shows_one_row_per_component_sources_first() {
        let view = TopView {
            url: "http://127.0.0.1:8686".into(),
            report: ComponentsReport {
                components: vec![
                    row("out", "sink", "blackhole", 640),
                    row("c1", "source", "conductorone", 640),
                ],
            },
            error: Some("connection refused".into()),
        };
        let mut terminal = Terminal::new(TestBackend::new(120, 8)).expect("terminal");
        terminal.draw(|frame| draw(frame, &view)).expect("drawn");
        let lines: Vec<String> = terminal
            .backend()
            .buffer()
            .content()
            .chunks(120)
            .map(|cells| cells.iter().map(|cell| cell.symbol()).collect())
            .collect();
        let text = lines.join("\n");
        assert!(
            lines[0].contains("c1-pipeline top — http://127.0.0.1:8686"),
            "{text}"
        );
        let c1 = lines
            .iter()
            .position(|l| l.contains("conductorone"))
            .expect("c1 row");
        let out = lines
            .iter()
            .position(|l| l.contains("blackhole"))
            .expect("sink row");
        assert!(c1 < out, "sources first:\n{text}");
        assert!(
            lines[c1].contains("640")
                && lines[c1].contains("12")
                && lines[c1].contains("640.0 KiB"),
            "{text}"
        );
        assert!(
            lines[7].contains("refresh failed: connection refused"),
            "{text}"
        );
    }
}
