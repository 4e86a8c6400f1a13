//! The endpoints of `text-generation` — chat and complete — and the
//! `StepTask` that runs them: a request is tokenized and checked against
//! the context when it arrives; in the batch, its prompt is fed in chunks,
//! then one sampled token per step, each step's new text sent at once.

use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::utils::apply_repeat_penalty;
use tokenizers::Tokenizer;
use wick_types::generation::{
    CHAT, COMPLETE, FINISH_REASON, MAX_NEW_TOKENS, MESSAGES, PROMPT, REPETITION_PENALTY, SEED,
    STOP, TEMPERATURE, TEXT, TIMINGS, TOP_K, TOP_P, USAGE,
};
use wick_types::{Endpoint, Field, FieldError, Kind, Value, Values};

use super::settings::Settings;
use super::template::{ChatTemplate, Message};
use crate::continuous::{StepTask, Stepped};
use crate::error::{Error, Result};
use crate::models::llama::{Cache, Llama};
use crate::task::Prepared;

/// Most messages in one conversation, and characters of text in a request.
const MAX_MESSAGES: usize = 200;
const MAX_CHARS: usize = 100_000;
/// Most stop sequences, as OpenAI allows.
const MAX_STOPS: usize = 4;
/// Tokens the repetition penalty looks back over (llama.cpp's default).
const PENALTY_WINDOW: usize = 64;
/// Below this temperature a request is decoded greedily. Sampling divides
/// the logits by the temperature: at 1e-40 they overflow f32 and the
/// softmax is all NaN; at 0.01 a logit gap of 0.1 already makes the
/// likelier token e^10 times likelier, so greedy is what was asked for.
pub const MIN_TEMPERATURE: f64 = 0.01;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenerationEndpoint {
    Chat,
    Complete,
}

pub struct TextGeneration {
    llama: Llama,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    /// Tokens that end a reply (the GGUF's eos, and end-of-turn tokens).
    stops: Vec<u32>,
    /// The token every prompt starts with, where the GGUF asks for one.
    bos: Option<u32>,
    settings: Settings,
    /// Streams whose caches, at full context, fit `kv_cache_mb`.
    max_streams: usize,
}

/// How to pick tokens, from the request's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampler {
    pub temperature: f64,
    pub top_p: f64,
    pub top_k: usize,
    pub repetition_penalty: f32,
    pub seed: u64,
}

impl Sampler {
    /// Candle's sampling for these parameters, in a range where it cannot
    /// fail: a temperature under `MIN_TEMPERATURE`, a `top_p` that keeps
    /// no token (0, or under f32's smallest number) and `top_k` 1 all mean
    /// "the likeliest token", which is what greedy decoding picks.
    fn sampling(&self) -> Sampling {
        let temperature = self.temperature;
        let top_p = self.top_p as f32;
        let cold = temperature.is_nan() || temperature < MIN_TEMPERATURE;
        let keeps_none = top_p.is_nan() || top_p <= 0.0;
        if cold || keeps_none || self.top_k == 1 {
            return Sampling::ArgMax;
        }
        match (self.top_k, top_p < 1.0) {
            (0, false) => Sampling::All { temperature },
            (0, true) => Sampling::TopP {
                p: self.top_p,
                temperature,
            },
            (k, false) => Sampling::TopK { k, temperature },
            (k, true) => Sampling::TopKThenTopP {
                k,
                p: self.top_p,
                temperature,
            },
        }
    }
}

#[derive(Clone, Debug)]
pub struct Request {
    prompt: Vec<u32>,
    max_new_tokens: usize,
    sampler: Sampler,
    stop: Vec<String>,
    arrived: Instant,
}

pub struct Stream {
    request: Request,
    cache: Cache,
    /// Prompt tokens fed so far.
    fed: usize,
    /// The last sampled token, fed at the next step.
    next: [u32; 1],
    generated: Vec<u32>,
    logits: LogitsProcessor,
    text: String,
    /// Incremental decoding: the text of `generated[prefix..read]` is
    /// already out.
    prefix: usize,
    read: usize,
    first_token: Option<Instant>,
}

impl TextGeneration {
    /// Fails when `kv_cache_mb` cannot hold one stream at full context.
    pub fn new(
        llama: Llama,
        tokenizer: Tokenizer,
        template: ChatTemplate,
        stops: Vec<u32>,
        bos: Option<u32>,
        settings: Settings,
    ) -> std::result::Result<Self, String> {
        let per_stream = llama.cache_bytes_per_position() * llama.context();
        let max_streams = (settings.kv_cache_mb << 20) / per_stream.max(1);
        if max_streams == 0 {
            return Err(format!(
                "[settings] kv_cache_mb = {} holds no stream of {} positions ({} MiB each): raise it or lower context",
                settings.kv_cache_mb,
                llama.context(),
                per_stream.div_ceil(1 << 20)
            ));
        }
        tracing::info!(
            architecture = ?llama.config.architecture,
            weights_mib = llama.weight_bytes() >> 20,
            kv_cache_kib_per_position = llama.cache_bytes_per_position() >> 10,
            kv_cache_mib_per_stream = per_stream >> 20,
            kv_cache_mb = settings.kv_cache_mb,
            max_streams,
            "text generation loaded"
        );
        Ok(TextGeneration {
            llama,
            tokenizer,
            template,
            stops,
            bos,
            settings,
            max_streams,
        })
    }

    /// The prompt a conversation renders to (the chat template).
    fn chat_prompt(&self, messages: &[Message]) -> Result<String> {
        self.template
            .render(messages)
            .map_err(|message| FieldError::new(MESSAGES, message).into())
    }

    fn parameters(&self) -> Vec<Field> {
        let limit = self.settings.max_new_tokens_limit as f64;
        vec![
            Field::new(
                MAX_NEW_TOKENS,
                Kind::Slider {
                    min: 1.0,
                    max: limit,
                    step: 1.0,
                },
            )
            .description("The most tokens to generate.")
            .optional(Some(Value::Number(self.settings.max_new_tokens as f64))),
            Field::new(
                TEMPERATURE,
                Kind::Slider {
                    min: 0.0,
                    max: 2.0,
                    step: 0.05,
                },
            )
            .description("0 (or under 0.01) picks the likeliest token every time (greedy).")
            .optional(Some(Value::Number(self.settings.temperature))),
            Field::new(
                TOP_P,
                Kind::Slider {
                    min: 0.0,
                    max: 1.0,
                    step: 0.01,
                },
            )
            .description("Sample from the likeliest tokens whose probabilities add up to this.")
            .optional(Some(Value::Number(1.0))),
            Field::new(
                TOP_K,
                Kind::Number {
                    min: Some(0.0),
                    max: Some(1000.0),
                    step: Some(1.0),
                },
            )
            .description("Sample from this many likeliest tokens only (0: all).")
            .optional(Some(Value::Number(0.0))),
            Field::new(
                REPETITION_PENALTY,
                Kind::Slider {
                    min: 1.0,
                    max: 2.0,
                    step: 0.05,
                },
            )
            .description("Above 1, tokens of the last 64 become less likely.")
            .optional(Some(Value::Number(1.0))),
            Field::new(
                SEED,
                Kind::Number {
                    min: Some(0.0),
                    max: Some(9_007_199_254_740_991.0),
                    step: Some(1.0),
                },
            )
            .description("Makes sampling repeatable.")
            .optional(None),
            Field::new(
                STOP,
                Kind::Tags {
                    min_items: None,
                    max_items: Some(MAX_STOPS),
                    max_chars: Some(200),
                },
            )
            .description("Generation ends before any of these texts.")
            .optional(None),
        ]
    }

    fn outputs() -> Vec<Field> {
        vec![
            Field::new(TEXT, Kind::Text { lines: 8, placeholder: None, max_chars: None }),
            Field::new(FINISH_REASON, Kind::Text { lines: 1, placeholder: None, max_chars: None })
                .description("`stop` (the model ended, or a stop text) or `length` (max_new_tokens or the context)."),
            Field::new(USAGE, Kind::Json).description("prompt_tokens, completion_tokens, total_tokens"),
            Field::new(TIMINGS, Kind::Json)
                .description("time_to_first_token_ms, tokens_per_second (decoding), duration_ms"),
        ]
    }

    fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        super::tokenizer::prompt_tokens(&self.tokenizer, self.bos, text).map_err(Error::Inference)
    }

    fn decode(&self, ids: &[u32]) -> String {
        self.tokenizer.decode(ids, true).unwrap_or_default()
    }

    /// Samples the stream's next token from the logits after its last one.
    fn sample(&self, stream: &mut Stream, logits: Vec<f32>) -> Result<u32> {
        let len = logits.len();
        let mut logits = Tensor::from_vec(logits, len, &Device::Cpu)?;
        let penalty = stream.request.sampler.repetition_penalty;
        if penalty != 1.0 {
            let seen: Vec<u32> = stream
                .request
                .prompt
                .iter()
                .chain(&stream.generated)
                .copied()
                .collect();
            let window = &seen[seen.len().saturating_sub(PENALTY_WINDOW)..];
            logits = apply_repeat_penalty(&logits, penalty, window)?;
        }
        Ok(stream.logits.sample(&logits)?)
    }

    /// After a token is sampled: the new text, and whether the stream ends.
    fn advance(&self, stream: &mut Stream, token: u32) -> (Option<Values>, Option<&'static str>) {
        if self.stops.contains(&token) {
            return (None, Some("stop"));
        }
        stream.generated.push(token);
        stream.next = [token];
        let mut delta = String::new();
        let before = self.decode(&stream.generated[stream.prefix..stream.read]);
        let now = self.decode(&stream.generated[stream.prefix..]);
        // A character split across tokens waits for its last byte.
        if now.len() > before.len() && !now.ends_with('\u{FFFD}') {
            delta = now[before.len()..].to_string();
            stream.prefix = stream.read;
            stream.read = stream.generated.len();
        }
        let mut finish = None;
        if !delta.is_empty() {
            let start = stream.text.len();
            stream.text.push_str(&delta);
            // A stop text may span several steps' text: look back far enough.
            let longest = stream
                .request
                .stop
                .iter()
                .map(String::len)
                .max()
                .unwrap_or(0);
            let from = stream
                .text
                .floor_char_boundary(start.saturating_sub(longest));
            let found = stream
                .request
                .stop
                .iter()
                .filter_map(|stop| stream.text[from..].find(stop.as_str()).map(|at| from + at))
                .min();
            if let Some(at) = found {
                delta = if at >= start {
                    stream.text[start..at].to_string()
                } else {
                    String::new()
                };
                stream.text.truncate(at);
                finish = Some("stop");
            }
        }
        let length = stream.generated.len() >= stream.request.max_new_tokens
            || stream.cache.len() + 1 >= self.llama.context();
        if finish.is_none() && length {
            finish = Some("length");
        }
        let partial =
            (!delta.is_empty()).then(|| Values::from([(TEXT.to_string(), Value::Text(delta))]));
        (partial, finish)
    }

    fn final_outputs(&self, stream: &Stream, finish: &str) -> Values {
        let now = Instant::now();
        let prompt_tokens = stream.request.prompt.len();
        let completion_tokens = stream.generated.len();
        let first = stream.first_token.unwrap_or(now);
        let decoding = now.duration_since(first).as_secs_f64();
        let tokens_per_second = if completion_tokens > 1 && decoding > 0.0 {
            (completion_tokens - 1) as f64 / decoding
        } else {
            0.0
        };
        Values::from([
            (TEXT.to_string(), Value::Text(stream.text.clone())),
            (FINISH_REASON.to_string(), Value::Text(finish.to_string())),
            (
                USAGE.to_string(),
                Value::Json(serde_json::json!({
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                })),
            ),
            (
                TIMINGS.to_string(),
                Value::Json(serde_json::json!({
                    "time_to_first_token_ms": first.duration_since(stream.request.arrived).as_secs_f64() * 1000.0,
                    "tokens_per_second": tokens_per_second,
                    "duration_ms": now.duration_since(stream.request.arrived).as_secs_f64() * 1000.0,
                })),
            ),
        ])
    }
}

fn number(inputs: &Values, name: &str) -> Option<f64> {
    match inputs.get(name) {
        Some(Value::Number(n)) => Some(*n),
        _ => None,
    }
}

impl StepTask for TextGeneration {
    type Endpoint = GenerationEndpoint;
    type Request = Request;
    type Stream = Stream;

    fn max_streams(&self) -> Option<usize> {
        Some(self.max_streams)
    }

    fn endpoints(&self) -> Vec<(GenerationEndpoint, Endpoint)> {
        let chat_inputs = std::iter::once(
            Field::new(
                MESSAGES,
                Kind::Chat {
                    max_messages: Some(MAX_MESSAGES),
                    max_chars: Some(MAX_CHARS),
                },
            )
            .description("The conversation so far; the reply continues it as the assistant."),
        );
        let prompt = std::iter::once(
            Field::new(
                PROMPT,
                Kind::Text {
                    lines: 6,
                    placeholder: Some("Once upon a time".into()),
                    max_chars: Some(MAX_CHARS),
                },
            )
            .description("Sent to the model as it is: write any chat markup yourself."),
        );
        vec![
            (
                GenerationEndpoint::Chat,
                Endpoint {
                    name: CHAT.into(),
                    description: "The assistant's reply to a conversation, through the model's chat template, streamed as it is generated.".into(),
                    inputs: chat_inputs.chain(self.parameters()).collect(),
                    outputs: Self::outputs(),
                    streams: true,
                },
            ),
            (
                GenerationEndpoint::Complete,
                Endpoint {
                    name: COMPLETE.into(),
                    description: "The continuation of a raw prompt, streamed as it is generated.".into(),
                    inputs: prompt.chain(self.parameters()).collect(),
                    outputs: Self::outputs(),
                    streams: true,
                },
            ),
        ]
    }

    fn prepare(&self, endpoint: GenerationEndpoint, inputs: Values) -> Result<Prepared<Request>> {
        let arrived = Instant::now();
        let (field, text) = match endpoint {
            GenerationEndpoint::Chat => {
                // Checked against the `Chat` kind already: a list of messages.
                let messages: Vec<Message> = match inputs.get(MESSAGES) {
                    Some(Value::Json(json)) => {
                        serde_json::from_value(json.clone()).unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                if messages.is_empty() {
                    return Err(FieldError::new(MESSAGES, "needs at least one message").into());
                }
                (MESSAGES, self.chat_prompt(&messages)?)
            }
            GenerationEndpoint::Complete => {
                let prompt = inputs
                    .get(PROMPT)
                    .and_then(Value::as_text)
                    .unwrap_or_default();
                if prompt.is_empty() {
                    return Err(FieldError::new(PROMPT, "must not be empty").into());
                }
                (PROMPT, prompt.to_string())
            }
        };
        let prompt = self.tokenize(&text)?;
        let max_new_tokens = number(&inputs, MAX_NEW_TOKENS)
            .map(|n| n as usize)
            .unwrap_or(self.settings.max_new_tokens);
        let context = self.llama.context();
        if prompt.len() >= context {
            return Err(FieldError::new(
                field,
                format!(
                    "is {} tokens; the context holds {context} (prompt and reply together)",
                    prompt.len()
                ),
            )
            .into());
        }
        if prompt.len() + max_new_tokens > context {
            return Err(FieldError::new(
                MAX_NEW_TOKENS,
                format!(
                    "{max_new_tokens} new tokens after a {}-token prompt pass the context of {context}; ask for at most {}",
                    prompt.len(),
                    context - prompt.len()
                ),
            )
            .into());
        }
        let stop = match inputs.get(STOP) {
            Some(Value::Strings(stops)) => {
                stops.iter().filter(|s| !s.is_empty()).cloned().collect()
            }
            _ => Vec::new(),
        };
        let sampler = Sampler {
            temperature: number(&inputs, TEMPERATURE).unwrap_or(self.settings.temperature),
            top_p: number(&inputs, TOP_P).unwrap_or(1.0),
            top_k: number(&inputs, TOP_K).unwrap_or(0.0) as usize,
            repetition_penalty: number(&inputs, REPETITION_PENALTY).unwrap_or(1.0) as f32,
            seed: number(&inputs, SEED)
                .map(|s| s as u64)
                .unwrap_or_else(random_seed),
        };
        let size = prompt.len();
        Ok(Prepared::new(
            Request {
                prompt,
                max_new_tokens,
                sampler,
                stop,
                arrived,
            },
            size,
        ))
    }

    fn start(&self, _endpoint: GenerationEndpoint, request: Request) -> Stream {
        let sampling = request.sampler.sampling();
        Stream {
            logits: LogitsProcessor::from_sampling(request.sampler.seed, sampling),
            cache: Cache::new(&self.llama),
            fed: 0,
            next: [0],
            generated: Vec::new(),
            text: String::new(),
            prefix: 0,
            read: 0,
            first_token: None,
            request,
        }
    }

    fn wants(&self, stream: &Stream) -> usize {
        (stream.request.prompt.len() - stream.fed).max(1)
    }

    fn step(&self, batch: &mut [(&mut Stream, usize)]) -> Result<Vec<Stepped>> {
        let mut inputs: Vec<(&mut Cache, &[u32])> = Vec::with_capacity(batch.len());
        for (stream, grant) in batch.iter_mut() {
            let Stream {
                cache,
                request,
                fed,
                next,
                ..
            } = &mut **stream;
            let tokens: &[u32] = if *fed < request.prompt.len() {
                let end = (*fed + *grant).min(request.prompt.len());
                let chunk = &request.prompt[*fed..end];
                *fed = end;
                chunk
            } else {
                &next[..]
            };
            inputs.push((cache, tokens));
        }
        let logits = self.llama.forward(&mut inputs);
        drop(inputs);
        let mut stepped = Vec::with_capacity(batch.len());
        for ((stream, _), logits) in batch.iter_mut().zip(logits) {
            if stream.fed < stream.request.prompt.len() {
                // More prompt to feed: nothing to sample yet.
                stepped.push(Stepped::default());
                continue;
            }
            // A stream whose token cannot be sampled ends alone; the
            // others in the step go on.
            let token = match self.sample(stream, logits) {
                Ok(token) => token,
                Err(error) => {
                    stepped.push(Stepped {
                        done: Some(Err(error)),
                        ..Stepped::default()
                    });
                    continue;
                }
            };
            stream.first_token.get_or_insert_with(Instant::now);
            let (partial, finish) = self.advance(stream, token);
            let done = finish.map(|finish| Ok(self.final_outputs(stream, finish)));
            stepped.push(Stepped {
                partial,
                done,
                generated: 1,
            });
        }
        Ok(stepped)
    }
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos());
    hasher.finish()
}
