//! The networks: Candle modules, and fast CPU builds of them. A model
//! knows tensors and weights, not endpoints or signatures (that is a
//! task's job, in `tasks`).

pub mod bert;
pub mod convnext;
pub mod dinov2;
pub mod efficientnet_lite;
pub mod fast_linear;
pub mod llama;
pub mod nomic_bert;
pub mod resnet;
pub mod whisper_decoder;
#[cfg(target_arch = "x86_64")]
pub mod whisper_encoder;
