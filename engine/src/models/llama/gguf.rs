//! A GGUF file as the llama loader and the tokenizer builder read it: its
//! metadata (through Candle's reader) and the raw bytes of a tensor, read
//! through the one open file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Mutex;

use candle_core::Device;
use candle_core::quantized::GgmlDType;
use candle_core::quantized::gguf_file::{Content, TensorInfo, Value};

pub struct Gguf {
    name: String,
    content: Content,
    file: Mutex<File>,
}

impl Gguf {
    pub fn open(path: &Path) -> Result<Gguf, String> {
        let mut file =
            File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let content = Content::read(&mut file)
            .map_err(|e| format!("{} is not a GGUF file: {e}", path.display()))?;
        Ok(Gguf {
            name: path.display().to_string(),
            content,
            file: Mutex::new(file),
        })
    }

    fn file(&self) -> std::sync::MutexGuard<'_, File> {
        self.file.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A tensor's type and dimensions as Candle orders them (outermost
    /// first: a matrix is (rows, columns)), without reading it.
    pub fn info(&self, name: &str) -> Result<(GgmlDType, Vec<usize>), String> {
        self.tensor_info(name)
            .map(|info| (info.ggml_dtype, info.shape.dims().to_vec()))
    }

    pub fn has(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    fn tensor_info(&self, name: &str) -> Result<&TensorInfo, String> {
        self.content
            .tensor_infos
            .get(name)
            .ok_or_else(|| format!("{} has no tensor `{name}`", self.name))
    }

    fn value(&self, key: &str) -> Result<&Value, String> {
        self.content
            .metadata
            .get(key)
            .ok_or_else(|| format!("{} has no `{key}`", self.name))
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

    pub fn bool(&self, key: &str) -> Result<bool, String> {
        self.value(key)?
            .to_bool()
            .map_err(|e| format!("`{key}`: {e}"))
    }

    /// An array, each item through `item`.
    fn array<'a, T>(
        &'a self,
        key: &str,
        item: impl Fn(&'a Value) -> candle_core::Result<T>,
    ) -> Result<Vec<T>, String> {
        self.value(key)?
            .to_vec()
            .map_err(|e| format!("`{key}`: {e}"))?
            .iter()
            .map(|v| item(v).map_err(|e| format!("`{key}`: {e}")))
            .collect()
    }

    pub fn strings(&self, key: &str) -> Result<Vec<&str>, String> {
        self.array(key, |v| v.to_string().map(String::as_str))
    }

    pub fn i32s(&self, key: &str) -> Result<Vec<i32>, String> {
        self.array(key, Value::to_i32)
    }

    pub fn f32s(&self, key: &str) -> Result<Vec<f32>, String> {
        self.array(key, Value::to_f32)
    }

    /// An array of flags (booleans, or integers where non-zero is
    /// true, as llama.cpp reads them), or None when `key` holds
    /// something else.
    pub fn flags(&self, key: &str) -> Option<Vec<bool>> {
        let values = self.value(key).ok()?.to_vec().ok()?;
        values
            .iter()
            .map(|v| match v {
                Value::Bool(b) => Some(*b),
                Value::U32(n) => Some(*n != 0),
                Value::I32(n) => Some(*n != 0),
                _ => None,
            })
            .collect()
    }

    /// A tensor's bytes, as the file stores them.
    pub fn bytes(&self, name: &str) -> Result<Vec<u8>, String> {
        let info = self.tensor_info(name)?;
        let elements = info.shape.elem_count();
        let block = info.ggml_dtype.block_size();
        if !elements.is_multiple_of(block) {
            return Err(format!(
                "tensor `{name}`: {elements} values is not whole blocks"
            ));
        }
        let mut bytes = vec![0u8; elements / block * info.ggml_dtype.type_size()];
        let mut file = self.file();
        file.seek(SeekFrom::Start(
            self.content.tensor_data_offset + info.offset,
        ))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|e| format!("tensor `{name}`: {e}"))?;
        Ok(bytes)
    }

    /// A tensor of any GGML type as f32 values, through Candle.
    pub fn dequantized(&self, name: &str) -> Result<Vec<f32>, String> {
        self.content
            .tensor(&mut *self.file(), name, &Device::Cpu)
            .and_then(|t| t.dequantize(&Device::Cpu))
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| format!("tensor `{name}`: {e}"))
    }
}
