//! Wick's signatures and values as the Open Inference Protocol's tensors.
//! A request of n rows is n sets of inputs to the one prediction path;
//! each input field is a tensor whose first dimension is n:
//!
//! | Wick kind | V2 tensor |
//! |---|---|
//! | text, dropdown, radio | BYTES `[n]` (UTF-8) |
//! | number, slider | FP64 `[n]` (any numeric datatype accepted) |
//! | checkbox | BOOL `[n]` |
//! | tags | BYTES `[n, k]` |
//! | chat, JSON | BYTES `[n]`, each a JSON text |
//! | image, audio (input) | BYTES `[n]`, each the encoded file (PNG, JPEG, WAV…); or for an image UINT8 `[n, h, w, 3]` RGB pixels |
//! | embedding | FP32 `[n, dim]` |
//! | score | FP32 `[n]` |
//! | label | BYTES `[n]` (the top label), and `NAME_labels` BYTES `[n, k]` with `NAME_scores` FP32 `[n, k]` |
//!
//! Binary data (the binary tensor extension): BYTES elements are each a
//! 4-byte little-endian length and the bytes; numbers are little-endian.

use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use wick_engine::Input;
use wick_types::{Field, Kind, Media, Value, Values};

use crate::api_error::ApiError;

/// A tensor's description in model metadata.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TensorInfo {
    pub name: String,
    pub datatype: &'static str,
    pub shape: Vec<i64>,
}

/// The tensor (or tensors) that carry `field`, rows first (-1).
pub fn describe(field: &Field) -> Vec<TensorInfo> {
    let one = |datatype, shape: Vec<i64>| TensorInfo {
        name: field.name.clone(),
        datatype,
        shape,
    };
    match &field.kind {
        Kind::Number { .. } | Kind::Slider { .. } => vec![one("FP64", vec![-1])],
        Kind::Score => vec![one("FP32", vec![-1])],
        Kind::Checkbox => vec![one("BOOL", vec![-1])],
        Kind::Tags { .. } => vec![one("BYTES", vec![-1, -1])],
        Kind::Embedding { dim } => vec![one("FP32", vec![-1, *dim as i64])],
        Kind::Label { .. } => vec![
            one("BYTES", vec![-1]),
            TensorInfo {
                name: format!("{}_labels", field.name),
                datatype: "BYTES",
                shape: vec![-1, -1],
            },
            TensorInfo {
                name: format!("{}_scores", field.name),
                datatype: "FP32",
                shape: vec![-1, -1],
            },
        ],
        Kind::Text { .. }
        | Kind::Dropdown { .. }
        | Kind::Radio { .. }
        | Kind::Chat { .. }
        | Kind::Json
        | Kind::Segments
        | Kind::Entities
        | Kind::Image { .. }
        | Kind::Audio { .. } => vec![one("BYTES", vec![-1])],
    }
}

/// One input tensor of a request, its data read (JSON or binary).
#[derive(Clone, Debug, Deserialize)]
pub struct InputTensor {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    #[serde(default)]
    pub parameters: serde_json::Map<String, Json>,
    #[serde(default)]
    pub data: Option<Json>,
}

/// An input tensor as either protocol brings it: its elements read.
pub struct Tensor {
    pub name: String,
    pub shape: Vec<i64>,
    pub elements: Elements,
}

/// A tensor's elements, flattened row-major.
#[derive(Clone, Debug, PartialEq)]
pub enum Elements {
    Bytes(Vec<Vec<u8>>),
    Numbers(Vec<f64>),
    Bools(Vec<bool>),
}

impl Elements {
    /// How many elements.
    pub fn count(&self) -> usize {
        match self {
            Elements::Bytes(items) => items.len(),
            Elements::Numbers(items) => items.len(),
            Elements::Bools(items) => items.len(),
        }
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(wick_types::ErrorCode::BadRequest, message)
}

/// Size in bytes of one element of a fixed-size datatype.
fn element_size(datatype: &str) -> Option<usize> {
    Some(match datatype {
        "BOOL" | "UINT8" | "INT8" => 1,
        "UINT16" | "INT16" | "FP16" | "BF16" => 2,
        "UINT32" | "INT32" | "FP32" => 4,
        "UINT64" | "INT64" | "FP64" => 8,
        _ => return None,
    })
}

/// Whether `x` is a value of the integer `datatype` (UINT8: a whole
/// number in 0–255); any finite number for the float types. Data given as
/// JSON or gRPC contents carries wider numbers than its datatype holds.
fn fits(datatype: &str, x: f64) -> bool {
    let whole_in = |min: f64, max: f64| x.fract() == 0.0 && (min..=max).contains(&x);
    match datatype {
        "UINT8" => whole_in(0.0, u8::MAX.into()),
        "UINT16" => whole_in(0.0, u16::MAX.into()),
        "UINT32" => whole_in(0.0, u32::MAX.into()),
        "UINT64" => whole_in(0.0, u64::MAX as f64),
        "INT8" => whole_in(i8::MIN.into(), i8::MAX.into()),
        "INT16" => whole_in(i16::MIN.into(), i16::MAX.into()),
        "INT32" => whole_in(i32::MIN.into(), i32::MAX.into()),
        "INT64" => whole_in(i64::MIN as f64, i64::MAX as f64),
        _ => x.is_finite(),
    }
}

impl Tensor {
    /// A tensor of `datatype` whose element count its shape must match and
    /// whose numbers its datatype must hold.
    pub fn new(
        name: &str,
        datatype: &str,
        shape: &[i64],
        elements: Elements,
    ) -> Result<Tensor, ApiError> {
        if let Elements::Numbers(numbers) = &elements
            && let Some(bad) = numbers.iter().find(|x| !fits(datatype, **x))
        {
            return Err(invalid(format!(
                "input `{name}` holds {bad}, which is not a {datatype} value"
            )));
        }
        let count = shape.iter().try_fold(1usize, |total, &dim| {
            usize::try_from(dim)
                .ok()
                .and_then(|dim| total.checked_mul(dim))
                .ok_or_else(|| invalid(format!("input `{name}` has a bad shape")))
        })?;
        if elements.count() != count {
            return Err(invalid(format!(
                "input `{name}` has {} elements, its shape {shape:?} says {count}",
                elements.count(),
            )));
        }
        Ok(Tensor {
            name: name.to_string(),
            shape: shape.to_vec(),
            elements,
        })
    }
}

impl InputTensor {
    /// The tensor, its elements from the JSON `data`, or from `binary`
    /// (the part of the body after the JSON that its `binary_data_size`
    /// names).
    pub fn read(&self, binary: Option<&[u8]>) -> Result<Tensor, ApiError> {
        let name = &self.name;
        let elements = match binary {
            Some(bytes) => from_binary(&self.datatype, bytes)?,
            None => {
                let data = self
                    .data
                    .as_ref()
                    .ok_or_else(|| invalid(format!("input `{name}` has no data")))?;
                let mut flat = Vec::new();
                flatten(data, &mut flat);
                from_json(&self.datatype, &flat).ok_or_else(|| {
                    invalid(format!(
                        "input `{name}`'s data does not fit its datatype {}",
                        self.datatype
                    ))
                })?
            }
        };
        Tensor::new(name, &self.datatype, &self.shape, elements)
    }

    /// How many bytes of binary data follow for it, if any.
    pub fn binary_size(&self) -> Result<Option<usize>, ApiError> {
        match self.parameters.get("binary_data_size") {
            None => Ok(None),
            Some(size) => size.as_u64().map(|s| Some(s as usize)).ok_or_else(|| {
                invalid(format!(
                    "input `{}`: binary_data_size must be a whole number",
                    self.name
                ))
            }),
        }
    }
}

fn flatten<'a>(value: &'a Json, out: &mut Vec<&'a Json>) {
    match value {
        Json::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        other => out.push(other),
    }
}

fn from_json(datatype: &str, flat: &[&Json]) -> Option<Elements> {
    Some(match datatype {
        "BYTES" => Elements::Bytes(
            flat.iter()
                .map(|v| v.as_str().map(|s| s.as_bytes().to_vec()))
                .collect::<Option<_>>()?,
        ),
        "BOOL" => Elements::Bools(flat.iter().map(|v| v.as_bool()).collect::<Option<_>>()?),
        _ if element_size(datatype).is_some() => {
            Elements::Numbers(flat.iter().map(|v| v.as_f64()).collect::<Option<_>>()?)
        }
        _ => return None,
    })
}

/// Elements from binary data of `datatype` (the binary extension's, and
/// gRPC's raw contents).
pub fn from_binary(datatype: &str, bytes: &[u8]) -> Result<Elements, ApiError> {
    decode_binary(datatype, bytes).ok_or_else(|| {
        invalid(format!(
            "binary data of {datatype} is cut short or of no known datatype"
        ))
    })
}

fn decode_binary(datatype: &str, bytes: &[u8]) -> Option<Elements> {
    if datatype == "BYTES" {
        let mut items = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let length = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            items.push(rest.get(4..4 + length)?.to_vec());
            rest = &rest[4 + length..];
        }
        return Some(Elements::Bytes(items));
    }
    let size = element_size(datatype)?;
    if !bytes.len().is_multiple_of(size) {
        return None;
    }
    let chunks = bytes.chunks_exact(size);
    Some(match datatype {
        "BOOL" => Elements::Bools(bytes.iter().map(|b| *b != 0).collect()),
        "FP32" => Elements::Numbers(
            chunks
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                .collect(),
        ),
        "FP64" => Elements::Numbers(
            chunks
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect(),
        ),
        "INT64" => Elements::Numbers(
            chunks
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()) as f64)
                .collect(),
        ),
        "INT32" => Elements::Numbers(
            chunks
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                .collect(),
        ),
        "UINT8" => Elements::Numbers(bytes.iter().map(|b| *b as f64).collect()),
        _ => return None,
    })
}

/// The value of `field` in row `row` of `tensor` (whose first dimension
/// is the rows).
pub fn input_value(field: &Field, tensor: &Tensor, row: usize) -> Result<Input, ApiError> {
    let elements = &tensor.elements;
    let rows = tensor.shape.first().copied().unwrap_or(1).max(1) as usize;
    let per_row = elements.count() / rows;
    let name = &field.name;
    let text = |bytes: &[u8]| {
        String::from_utf8(bytes.to_vec())
            .map_err(|_| invalid(format!("input `{name}` must be UTF-8 text")))
    };
    let range = row * per_row..(row + 1) * per_row;
    Ok(match (&field.kind, elements) {
        (Kind::Image { .. }, Elements::Numbers(items)) => {
            Input::File(pixels_as_image(name, &tensor.shape, &items[range])?)
        }
        (Kind::Tags { .. }, Elements::Bytes(items)) => Input::Json(Json::Array(
            items[range]
                .iter()
                .map(|b| text(b).map(Json::String))
                .collect::<Result<_, _>>()?,
        )),
        (_, _) if per_row != 1 => {
            return Err(invalid(format!(
                "input `{name}` takes one element per row, not {per_row}"
            )));
        }
        // The file as it came, its type read from its bytes.
        (kind, Elements::Bytes(items)) if kind.media().is_some() => {
            let bytes = items[row].clone();
            let mime = wick_types::sniff(&bytes).unwrap_or("application/octet-stream");
            Input::File(Media::new(mime, bytes))
        }
        (Kind::Chat { .. } | Kind::Json, Elements::Bytes(items)) => Input::Json(
            serde_json::from_slice(&items[row])
                .map_err(|e| invalid(format!("input `{name}` must be JSON text: {e}")))?,
        ),
        (_, Elements::Bytes(items)) => Input::Json(Json::String(text(&items[row])?)),
        (_, Elements::Numbers(items)) => Input::Json(json!(items[row])),
        (_, Elements::Bools(items)) => Input::Json(Json::Bool(items[row])),
    })
}

/// A row of a UINT8 `[n, height, width, 3]` tensor (RGB pixels) as an
/// uncompressed BMP, the cheapest file the engine's image decoder reads:
/// a 54-byte header before the rows, no compression either way.
fn pixels_as_image(name: &str, shape: &[i64], pixels: &[f64]) -> Result<Media, ApiError> {
    let [_, height, width, 3] = shape else {
        return Err(invalid(format!(
            "input `{name}` takes encoded files as BYTES [n], or RGB pixels as UINT8 [n, height, width, 3], not {shape:?}"
        )));
    };
    let (height, width) = (
        u32::try_from(*height).unwrap_or(0),
        u32::try_from(*width).unwrap_or(0),
    );
    if height == 0 || width == 0 || pixels.len() as u64 != u64::from(height) * u64::from(width) * 3
    {
        return Err(invalid(format!(
            "input `{name}`'s pixels do not fill {height}×{width}"
        )));
    }
    // Rows of BGR, bottom first, each padded to 4 bytes; within 0–255
    // already (`Tensor::new` refuses other UINT8 values).
    let row = (width as usize * 3).div_ceil(4) * 4;
    let size = 54 + row * height as usize;
    let mut bmp = Vec::with_capacity(size);
    bmp.extend_from_slice(b"BM");
    bmp.extend_from_slice(&(size as u32).to_le_bytes());
    bmp.extend_from_slice(&[0, 0, 0, 0]);
    bmp.extend_from_slice(&54u32.to_le_bytes());
    bmp.extend_from_slice(&40u32.to_le_bytes());
    bmp.extend_from_slice(&(width as i32).to_le_bytes());
    bmp.extend_from_slice(&(height as i32).to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&24u16.to_le_bytes());
    bmp.extend_from_slice(&[0; 24]);
    for line in pixels.chunks_exact(width as usize * 3).rev() {
        for rgb in line.chunks_exact(3) {
            bmp.extend_from_slice(&[rgb[2] as u8, rgb[1] as u8, rgb[0] as u8]);
        }
        bmp.resize(bmp.len() + row - width as usize * 3, 0);
    }
    Ok(Media::new("image/bmp", bmp))
}

/// One output tensor of a response.
pub struct OutputTensor {
    pub info: TensorInfo,
    pub elements: Elements,
}

/// The tensors of output `field` over the rows' outputs.
pub fn output_tensors(field: &Field, rows: &[Values]) -> Vec<OutputTensor> {
    let n = rows.len() as i64;
    let values: Vec<Option<&Value>> = rows.iter().map(|r| r.get(&field.name)).collect();
    let tensor = |name: String, datatype, shape, elements| OutputTensor {
        info: TensorInfo {
            name,
            datatype,
            shape,
        },
        elements,
    };
    match &field.kind {
        Kind::Embedding { dim } => {
            let mut flat = Vec::with_capacity(rows.len() * dim);
            for value in &values {
                match value {
                    Some(Value::Vector(v)) if v.len() == *dim => {
                        flat.extend(v.iter().map(|x| *x as f64))
                    }
                    _ => flat.extend(std::iter::repeat_n(f64::NAN, *dim)),
                }
            }
            vec![tensor(
                field.name.clone(),
                "FP32",
                vec![n, *dim as i64],
                Elements::Numbers(flat),
            )]
        }
        Kind::Label { .. } => {
            let k = values
                .iter()
                .map(|v| match v {
                    Some(Value::Label(label)) => label.confidences.len(),
                    _ => 0,
                })
                .max()
                .unwrap_or(0);
            let (mut top, mut labels, mut scores) = (Vec::new(), Vec::new(), Vec::new());
            for value in &values {
                let label = match value {
                    Some(Value::Label(label)) => Some(label),
                    _ => None,
                };
                top.push(label.map_or(Vec::new(), |l| l.label.clone().into_bytes()));
                for i in 0..k {
                    let confidence = label.and_then(|l| l.confidences.get(i));
                    labels.push(confidence.map_or(Vec::new(), |c| c.label.clone().into_bytes()));
                    scores.push(confidence.map_or(0.0, |c| c.confidence));
                }
            }
            vec![
                tensor(field.name.clone(), "BYTES", vec![n], Elements::Bytes(top)),
                tensor(
                    format!("{}_labels", field.name),
                    "BYTES",
                    vec![n, k as i64],
                    Elements::Bytes(labels),
                ),
                tensor(
                    format!("{}_scores", field.name),
                    "FP32",
                    vec![n, k as i64],
                    Elements::Numbers(scores),
                ),
            ]
        }
        Kind::Number { .. } | Kind::Slider { .. } | Kind::Score => {
            let numbers = values
                .iter()
                .map(|v| match v {
                    Some(Value::Number(x)) => *x,
                    _ => f64::NAN,
                })
                .collect();
            let datatype = if field.kind == Kind::Score {
                "FP32"
            } else {
                "FP64"
            };
            vec![tensor(
                field.name.clone(),
                datatype,
                vec![n],
                Elements::Numbers(numbers),
            )]
        }
        Kind::Checkbox => {
            let bools = values
                .iter()
                .map(|v| matches!(v, Some(Value::Bool(true))))
                .collect();
            vec![tensor(
                field.name.clone(),
                "BOOL",
                vec![n],
                Elements::Bools(bools),
            )]
        }
        _ => {
            let bytes = values
                .iter()
                .map(|v| match v {
                    Some(Value::Text(text)) => text.clone().into_bytes(),
                    Some(Value::Media(media)) => media.bytes.clone(),
                    Some(other) => serde_json::to_vec(other).unwrap_or_default(),
                    None => Vec::new(),
                })
                .collect();
            vec![tensor(
                field.name.clone(),
                "BYTES",
                vec![n],
                Elements::Bytes(bytes),
            )]
        }
    }
}

impl OutputTensor {
    /// The elements as JSON `data`.
    pub fn json_data(&self) -> Json {
        match &self.elements {
            Elements::Bytes(items) => Json::Array(
                items
                    .iter()
                    .map(|b| Json::String(String::from_utf8_lossy(b).into_owned()))
                    .collect(),
            ),
            Elements::Numbers(items) => Json::Array(
                items
                    .iter()
                    .map(|x| serde_json::Number::from_f64(*x).map_or(Json::Null, Json::Number))
                    .collect(),
            ),
            Elements::Bools(items) => json!(items),
        }
    }

    /// The elements as binary data of the tensor's datatype.
    pub fn binary_data(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match &self.elements {
            Elements::Bytes(items) => {
                for item in items {
                    out.extend((item.len() as u32).to_le_bytes());
                    out.extend(item);
                }
            }
            Elements::Numbers(items) => {
                for x in items {
                    match self.info.datatype {
                        "FP32" => out.extend((*x as f32).to_le_bytes()),
                        _ => out.extend(x.to_le_bytes()),
                    }
                }
            }
            Elements::Bools(items) => out.extend(items.iter().map(|b| *b as u8)),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_tensors_round_trip_and_cut_data_is_refused() {
        let bytes = OutputTensor {
            info: TensorInfo {
                name: "t".into(),
                datatype: "BYTES",
                shape: vec![2],
            },
            elements: Elements::Bytes(vec![b"hi".to_vec(), "é".as_bytes().to_vec()]),
        };
        let data = bytes.binary_data();
        assert_eq!(decode_binary("BYTES", &data), Some(bytes.elements.clone()));
        assert_eq!(decode_binary("BYTES", &data[..data.len() - 1]), None);
        let floats = OutputTensor {
            info: TensorInfo {
                name: "f".into(),
                datatype: "FP32",
                shape: vec![2],
            },
            elements: Elements::Numbers(vec![0.5, -2.0]),
        };
        assert_eq!(
            decode_binary("FP32", &floats.binary_data()),
            Some(Elements::Numbers(vec![0.5, -2.0]))
        );
        assert_eq!(decode_binary("FP32", &[0, 0, 0]), None);
    }
}
