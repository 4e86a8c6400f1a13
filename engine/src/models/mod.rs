//! The networks: Candle modules, and fast CPU builds of them. A model
//! knows tensors and weights, not endpoints or signatures (that is a
//! task's job, in `tasks`).

pub mod bert;
pub mod efficientnet_lite;
pub mod llama;
pub mod whisper_decoder;
#[cfg(target_arch = "x86_64")]
pub mod whisper_encoder;
