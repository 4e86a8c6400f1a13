//! Exports: CSV in the column order of Gradio's flagged dataset (each
//! input, each output, then flag, username, timestamp), so notebooks
//! written for Gradio read it; or JSON lines with every field of a row.

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
    writer.write_record(&header)?;
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
        writer.write_record(&row)?;
    }
    writer.flush()
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
