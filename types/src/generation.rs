//! The names text generation's endpoints and the adapters that speak for
//! them (the OpenAI-compatible API) share: one definition on both sides of
//! the seam, so a renamed input cannot silently stop a parameter from
//! reaching the model.

/// The endpoints.
pub const CHAT: &str = "chat";
pub const COMPLETE: &str = "complete";

/// Inputs.
pub const MESSAGES: &str = "messages";
pub const PROMPT: &str = "prompt";
pub const MAX_NEW_TOKENS: &str = "max_new_tokens";
pub const TEMPERATURE: &str = "temperature";
pub const TOP_P: &str = "top_p";
pub const TOP_K: &str = "top_k";
pub const REPETITION_PENALTY: &str = "repetition_penalty";
pub const SEED: &str = "seed";
pub const STOP: &str = "stop";

/// Outputs.
pub const TEXT: &str = "text";
pub const FINISH_REASON: &str = "finish_reason";
pub const USAGE: &str = "usage";
pub const TIMINGS: &str = "timings";
