//! A GGUF file as the llama loader and the tokenizer builder read it: its
//! metadata (through Candle's reader) and the raw bytes of a tensor.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use candle_core::Device;
use candle_core::quantized::GgmlDType;
use candle_core::quantized::gguf_file::{Content, Value};

pub struct Gguf {
    path: PathBuf,
    content: Content,
}

impl Gguf {
    pub fn open(path: &Path) -> Result<Gguf, String> {
        let mut file =
            File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let content = Content::read(&mut file)
            .map_err(|e| format!("{} is not a GGUF file: {e}", path.display()))?;
        Ok(Gguf {
            path: path.to_path_buf(),
            content,
        })
    }

    pub fn metadata(&self) -> &HashMap<String, Value> {
        &self.content.metadata
    }

    fn value(&self, key: &str) -> Result<&Value, String> {
        self.content
            .metadata
            .get(key)
            .ok_or_else(|| format!("the GGUF has no `{key}`"))
    }

    pub fn string(&self, key: &str) -> Result<&str, String> {
        self.value(key)?
            .to_string()
            .map(String::as_str)
            .map_err(|e| format!("`{key}`: {e}"))
    }

    pub fn u32(&self, key: &str) -> Result<u32, String> {
        self.value(key)?
            .to_u32()
            .map_err(|e| format!("`{key}`: {e}"))
    }

    pub fn f32(&self, key: &str) -> Result<f32, String> {
        self.value(key)?
            .to_f32()
            .map_err(|e| format!("`{key}`: {e}"))
    }

    pub fn strings(&self, key: &str) -> Result<Vec<&str>, String> {
        self.value(key)?
            .to_vec()
            .map_err(|e| format!("`{key}`: {e}"))?
            .iter()
            .map(|v| {
                v.to_string()
                    .map(String::as_str)
                    .map_err(|e| format!("`{key}`: {e}"))
            })
            .collect()
    }

    pub fn i32s(&self, key: &str) -> Result<Vec<i32>, String> {
        self.value(key)?
            .to_vec()
            .map_err(|e| format!("`{key}`: {e}"))?
            .iter()
            .map(|v| v.to_i32().map_err(|e| format!("`{key}`: {e}")))
            .collect()
    }

    /// A tensor's type, its dimensions as Candle orders them (outermost
    /// first: a matrix is (rows, columns)) and its bytes.
    pub fn tensor(&self, name: &str) -> Result<(GgmlDType, Vec<usize>, Vec<u8>), String> {
        let info = self
            .content
            .tensor_infos
            .get(name)
            .ok_or_else(|| format!("the GGUF has no tensor `{name}`"))?;
        let elements = info.shape.elem_count();
        let block = info.ggml_dtype.block_size();
        if elements % block != 0 {
            return Err(format!(
                "tensor `{name}`: {elements} values is not whole blocks"
            ));
        }
        let size = elements / block * info.ggml_dtype.type_size();
        let mut bytes = vec![0u8; size];
        let mut file =
            File::open(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        file.seek(SeekFrom::Start(
            self.content.tensor_data_offset + info.offset,
        ))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|e| format!("tensor `{name}`: {e}"))?;
        Ok((info.ggml_dtype, info.shape.dims().to_vec(), bytes))
    }

    /// A tensor of any GGML type as f32 values, through Candle.
    pub fn dequantized(&self, name: &str) -> Result<Vec<f32>, String> {
        let mut file =
            File::open(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        self.content
            .tensor(&mut file, name, &Device::Cpu)
            .and_then(|t| t.dequantize(&Device::Cpu))
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| format!("tensor `{name}`: {e}"))
    }
}
