//! Exports: CSV in the column order of Gradio's flagged dataset (each
//! input, each output, then flag, username, timestamp), so notebooks
//! written for Gradio read it; or JSON lines with every field of a row.
//!
//! Every CSV cell that a spreadsheet would run as a formula (one starting
//! with `=`, `+`, `-`, `@`, a tab or a carriage return) is written with a
//! leading `'`, OWASP's rule for CSV injection: flags carry text from
//! anyone, and the file is opened by whoever reviews them. JSON lines are
//! written as stored.

use std::io::{self, Write};

use crate::store::Flag;

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

pub fn write_export(flags: &[Flag], format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Csv => write_csv(flags, out),
        Format::Jsonl => {
            for flag in flags {
                serde_json::to_writer(&mut *out, flag)?;
                out.write_all(b"\n")?;
            }
            Ok(())
        }
    }
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

fn write_csv(flags: &[Flag], out: &mut impl Write) -> io::Result<()> {
    // RFC 4180: CRLF line ends, cells quoted only when they must be.
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    // One column per input and output name, in order of first appearance,
    // so flags from several endpoints still share one header.
    let input_names = names(flags.iter().map(|f| &f.flag.inputs));
    let output_names = names(flags.iter().map(|f| &f.flag.outputs));
    let output_header = output_names.iter().map(|name| {
        if input_names.contains(name) {
            format!("{name} (output)")
        } else {
            name.clone()
        }
    });
    let header: Vec<String> = input_names
        .iter()
        .cloned()
        .chain(output_header)
        .chain(["flag", "username", "timestamp"].map(String::from))
        .chain(WICK_COLUMNS.map(String::from))
        .collect();
    writer.write_record(header.into_iter().map(neutralise))?;
    for stored in flags {
        let flag = &stored.flag;
        let cell = |values: &serde_json::Value, name: &str| {
            values.get(name).map(json_cell).unwrap_or_default()
        };
        let mut row: Vec<String> = input_names.iter().map(|n| cell(&flag.inputs, n)).collect();
        row.extend(output_names.iter().map(|n| cell(&flag.outputs, n)));
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

/// A cell a spreadsheet shows as text, never evaluates.
fn neutralise(cell: String) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell,
    }
}

fn names<'a>(objects: impl Iterator<Item = &'a serde_json::Value>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in objects.filter_map(|o| o.as_object()).flat_map(|o| o.keys()) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
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
