//! Exports: CSV in the column order of Gradio's flagged dataset (each
//! input, each output, then flag, username, timestamp), so notebooks
//! written for Gradio read it; or JSON lines with every field of a row.
//!
//! An export streams: `export_stream` reads the store a page at a time and
//! yields the text of each page, so a million flags never sit in memory.
//! CSV needs its columns first, so it reads the pages twice: once for the
//! input and output names, once for the rows, stopping at the last flag the
//! first pass saw. Files that flags name are written by `write_files`.
//!
//! Every CSV cell that a spreadsheet would run as a formula (one starting
//! with `=`, `+`, `-`, `@`, a tab or a carriage return) is written with a
//! leading `'`, OWASP's rule for CSV injection: flags carry text from
//! anyone, and the file is opened by whoever reviews them. JSON lines are
//! written as stored.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use futures_util::Stream;

use crate::store::{Cursor, Filter, Flag, Store};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "csv" => Ok(Format::Csv),
            "jsonl" => Ok(Format::Jsonl),
            other => Err(format!("unknown export format `{other}`; use csv or jsonl")),
        }
    }
}

/// Writes `flags` in `format`: the whole export, in one call.
pub fn write_export(flags: &[Flag], format: Format, out: &mut impl Write) -> io::Result<()> {
    let mut exporter = Exporter::new(format);
    exporter.learn(flags);
    exporter.write(flags, out)
}

/// Columns after Gradio's: what Wick knows that Gradio does not.
const WICK_COLUMNS: [&str; 6] = [
    "id",
    "model",
    "version",
    "endpoint",
    "comment",
    "duration_ms",
];

/// Writes flags a batch at a time; for CSV, `learn` every flag's input and
/// output names before the first `write`.
pub struct Exporter {
    format: Format,
    /// One column per input and output name, in order of first appearance,
    /// so flags from several endpoints still share one header.
    inputs: Vec<String>,
    outputs: Vec<String>,
    started: bool,
}

impl Exporter {
    pub fn new(format: Format) -> Exporter {
        Exporter {
            format,
            inputs: Vec::new(),
            outputs: Vec::new(),
            started: false,
        }
    }

    /// Takes note of the columns these flags need (CSV only).
    pub fn learn(&mut self, flags: &[Flag]) {
        if self.format == Format::Csv {
            add_names(&mut self.inputs, flags.iter().map(|f| &f.flag.inputs));
            add_names(&mut self.outputs, flags.iter().map(|f| &f.flag.outputs));
        }
    }

    /// Writes these flags (and, the first time, the CSV header).
    pub fn write(&mut self, flags: &[Flag], out: &mut impl Write) -> io::Result<()> {
        match self.format {
            Format::Jsonl => {
                for flag in flags {
                    serde_json::to_writer(&mut *out, flag)?;
                    out.write_all(b"\n")?;
                }
                Ok(())
            }
            Format::Csv => self.write_csv(flags, out),
        }
    }

    fn write_csv(&mut self, flags: &[Flag], out: &mut impl Write) -> io::Result<()> {
        // RFC 4180: CRLF line ends, cells quoted only when they must be.
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        if !self.started {
            self.started = true;
            let output_header = self.outputs.iter().map(|name| {
                if self.inputs.contains(name) {
                    format!("{name} (output)")
                } else {
                    name.clone()
                }
            });
            let header: Vec<String> = self
                .inputs
                .iter()
                .cloned()
                .chain(output_header)
                .chain(["flag", "username", "timestamp"].map(String::from))
                .chain(WICK_COLUMNS.map(String::from))
                .collect();
            writer.write_record(header.into_iter().map(neutralise))?;
        }
        for stored in flags {
            let flag = &stored.flag;
            let cell = |values: &serde_json::Value, name: &str| {
                values.get(name).map(json_cell).unwrap_or_default()
            };
            let mut row: Vec<String> = self.inputs.iter().map(|n| cell(&flag.inputs, n)).collect();
            row.extend(self.outputs.iter().map(|n| cell(&flag.outputs, n)));
            row.extend([
                flag.option.clone(),
                flag.user.clone().unwrap_or_default(),
                stored.created_at.clone(),
                stored.id.clone(),
                flag.model.clone(),
                flag.version.clone(),
                flag.endpoint.clone(),
                flag.comment.clone().unwrap_or_default(),
                flag.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
            ]);
            writer.write_record(row.into_iter().map(neutralise))?;
        }
        writer.flush()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot read the feedback store: {0}")]
    Store(#[from] sqlx::Error),
    #[error("cannot write the export: {0}")]
    Write(#[from] io::Error),
}

/// Flags read per query.
const PAGE: u32 = 500;

/// The export of the flags `filter` picks, oldest first, as chunks of text
/// (a page of flags each), reading the store a page at a time.
pub fn export_stream(
    store: Arc<Store>,
    filter: Filter,
    format: Format,
) -> impl Stream<Item = Result<Vec<u8>, ExportError>> + Send {
    struct State {
        store: Arc<Store>,
        filter: Filter,
        exporter: Exporter,
        /// Reading names (CSV's first pass) rather than writing rows.
        learning: bool,
        after: Option<Cursor>,
        /// The last flag the first pass saw: rows stop there.
        until: Option<Cursor>,
    }
    let state = State {
        learning: format == Format::Csv,
        exporter: Exporter::new(format),
        store,
        filter,
        after: None,
        until: None,
    };
    futures_util::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        loop {
            let page = match state
                .store
                .page(&state.filter, state.after.as_ref(), PAGE)
                .await
            {
                Ok(page) => page,
                Err(error) => return Some((Err(error.into()), None)),
            };
            let last = page.len() < PAGE as usize;
            state.after = page.last().map(Cursor::of).or(state.after.take());
            if state.learning {
                state.exporter.learn(&page);
                if last {
                    state.learning = false;
                    state.until = state.after.take();
                }
                continue;
            }
            let (page, past_end) = match &state.until {
                Some(until) => {
                    let within = page.iter().take_while(|f| Cursor::of(f) <= *until).count();
                    let past_end = within < page.len();
                    (page.into_iter().take(within).collect::<Vec<_>>(), past_end)
                }
                None => (page, false),
            };
            let mut out = Vec::new();
            if let Err(error) = state.exporter.write(&page, &mut out) {
                return Some((Err(error.into()), None));
            }
            let done = last || past_end;
            return Some((Ok(out), (!done).then_some(state)));
        }
    })
}

/// Writes every file the flags `filter` picks name into `dir`, as
/// `dir/<name>` (so a CSV's `files/<name>` cells resolve beside it).
/// Returns how many files the flags name.
pub async fn write_files(store: &Store, filter: &Filter, dir: &Path) -> Result<usize, ExportError> {
    let names = store.file_names(filter).await?;
    if !names.is_empty() {
        std::fs::create_dir_all(dir)?;
    }
    for name in &names {
        let target = dir.join(name);
        if target.is_file() {
            continue;
        }
        if let Some((_, bytes)) = store.file(name).await? {
            std::fs::write(&target, bytes)?;
        }
    }
    Ok(names.len())
}

/// A cell a spreadsheet shows as text, never evaluates.
fn neutralise(cell: String) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell,
    }
}

fn add_names<'a>(names: &mut Vec<String>, objects: impl Iterator<Item = &'a serde_json::Value>) {
    for name in objects.filter_map(|o| o.as_object()).flat_map(|o| o.keys()) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
}

/// Text as itself, anything else as compact JSON (as Gradio writes a
/// component's value).
fn json_cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewFlag;

    #[test]
    fn cells_a_spreadsheet_would_evaluate_are_written_as_text() {
        let flag = Flag {
            id: "id-1".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            files: Vec::new(),
            flag: NewFlag {
                model: "m".into(),
                version: "1".into(),
                endpoint: "e".into(),
                inputs: serde_json::json!({"text": "=HYPERLINK(\"http://x\",\"y\")"}),
                outputs: serde_json::json!({"score": -0.5}),
                option: "+1".into(),
                comment: Some("\t=1+1".into()),
                duration_ms: None,
                user: Some("@me".into()),
                attachments: Vec::new(),
            },
        };
        let mut out = Vec::new();
        write_export(&[flag], Format::Csv, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let row = reader.records().next().unwrap().unwrap();
        let cells: Vec<&str> = row.iter().collect();
        assert_eq!(cells[0], "'=HYPERLINK(\"http://x\",\"y\")");
        assert_eq!(cells[1], "'-0.5");
        assert_eq!(cells[2], "'+1");
        assert_eq!(cells[3], "'@me");
        assert!(cells.contains(&"'\t=1+1"), "{cells:?}");
        assert!(
            cells.contains(&"id-1"),
            "plain cells stay as they are: {cells:?}"
        );
    }
}
