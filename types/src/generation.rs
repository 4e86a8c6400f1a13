//! The names text generation's endpoints and the adapters that speak for
//! them (the OpenAI-compatible API) share: one definition on both sides of
//! the seam, so a renamed input cannot silently stop a parameter from
//! reaching the model.

// The endpoints.
/// A conversation in, the assistant's reply out.
pub const CHAT: &str = "chat";
/// A prompt in, its continuation out.
pub const COMPLETE: &str = "complete";

// Inputs.
/// The conversation so far.
pub const MESSAGES: &str = "messages";
/// The text to continue.
pub const PROMPT: &str = "prompt";
/// Most tokens to generate.
pub const MAX_NEW_TOKENS: &str = "max_new_tokens";
/// Sampling temperature; 0 is greedy.
pub const TEMPERATURE: &str = "temperature";
/// Nucleus sampling's probability mass.
pub const TOP_P: &str = "top_p";
/// Sample among this many likeliest tokens.
pub const TOP_K: &str = "top_k";
/// How much a repeated token is discouraged.
pub const REPETITION_PENALTY: &str = "repetition_penalty";
/// The sampler's seed.
pub const SEED: &str = "seed";
/// Texts that end the generation.
pub const STOP: &str = "stop";

// Outputs.
/// The generated text.
pub const TEXT: &str = "text";
/// Why generation stopped (`stop`, `length`).
pub const FINISH_REASON: &str = "finish_reason";
/// Tokens in and out.
pub const USAGE: &str = "usage";
/// Time to first token and per token.
pub const TIMINGS: &str = "timings";
