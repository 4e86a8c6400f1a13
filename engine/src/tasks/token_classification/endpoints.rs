//! The endpoint of `token-classification` — entities — its signature, and
//! the `Task` impl: a text is tokenized when the request arrives, a batch
//! of them labelled in one forward pass, and each text's tokens grouped.

use tokenizers::{Decoder, Encoding};
use wick_types::{Endpoint, Field, Kind, Value, Values};

use super::Settings;
use super::aggregate::{Token, group_entities};
use super::tagger::Tagger;
use crate::error::Result;
use crate::task::{Item, Prepared, Task};
use crate::tasks::text_encoder::{MAX_TEXT_CHARS, missing};

/// The endpoints, matched exhaustively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityEndpoint {
    Entities,
}

pub struct TokenClassification {
    tagger: Tagger,
    ignore: Vec<String>,
}

/// A text and its tokens (offsets in characters).
pub struct Request {
    text: String,
    encoding: Encoding,
}

impl TokenClassification {
    pub fn new(tagger: Tagger, settings: Settings) -> TokenClassification {
        TokenClassification {
            tagger,
            ignore: settings.ignore_labels,
        }
    }

    /// The tokenizer's writing of tokens as a word (transformers'
    /// `convert_tokens_to_string`): its decoder, or the tokens joined.
    fn word(&self, tokens: Vec<String>) -> String {
        match self.tagger.text.tokenizer.get_decoder() {
            Some(decoder) => decoder
                .decode(tokens.clone())
                .unwrap_or_else(|_| tokens.concat()),
            None => tokens.concat(),
        }
    }

    fn entities(&self, request: &Request, probabilities: Vec<Vec<f32>>) -> Value {
        let encoding = &request.encoding;
        let special = encoding.get_special_tokens_mask();
        let tokens: Vec<Token> = probabilities
            .into_iter()
            .enumerate()
            .filter(|(i, _)| special.get(*i) == Some(&0))
            .filter_map(|(i, probabilities)| {
                let (start, end) = *encoding.get_offsets().get(i)?;
                Some(Token {
                    token: encoding.get_tokens().get(i)?.clone(),
                    probabilities,
                    start,
                    end,
                })
            })
            .collect();
        let entities: Vec<serde_json::Value> = group_entities(
            &tokens,
            self.tagger.labels(),
            |tokens| self.word(tokens),
            &self.ignore,
        )
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "entity_group": e.group, "score": e.score, "word": e.word,
                "start": e.start, "end": e.end,
            })
        })
        .collect();
        Value::Json(serde_json::json!({"text": request.text, "entities": entities}))
    }
}

impl Task for TokenClassification {
    type Endpoint = EntityEndpoint;
    type Request = Request;

    fn endpoints(&self) -> Vec<(EntityEndpoint, Endpoint)> {
        vec![(
            EntityEndpoint::Entities,
            Endpoint {
                name: "entities".into(),
                description: "The text's entities (names, places, …), marked in it.".into(),
                inputs: vec![
                    Field::new(
                        "text",
                        Kind::Text {
                            lines: 3,
                            placeholder: Some("Type a text to find entities in…".into()),
                            max_chars: Some(MAX_TEXT_CHARS),
                        },
                    )
                    .label("Text"),
                ],
                outputs: vec![
                    Field::new("entities", Kind::Entities)
                        .label("Entities")
                        .description(
                            "`{text, entities: [{entity_group, score, word, start, end}]}`, \
                             start and end in characters of text",
                        ),
                ],
                streams: false,
            },
        )]
    }

    fn prepare(&self, _: EntityEndpoint, inputs: Values) -> Result<Prepared<Request>> {
        let text = inputs
            .get("text")
            .and_then(Value::as_text)
            .ok_or_else(|| missing("text"))?;
        let encoding = self.tagger.text.encode_with_char_offsets(text)?;
        let size = encoding.len().max(1);
        Ok(Prepared::new(
            Request {
                text: text.to_string(),
                encoding,
            },
            size,
        ))
    }

    fn run(&self, _: EntityEndpoint, batch: &[Item<Request>]) -> Result<Vec<Values>> {
        let encodings: Vec<&Encoding> = batch.iter().map(|item| &item.request.encoding).collect();
        let probabilities = self.tagger.probabilities(&encodings)?;
        Ok(batch
            .iter()
            .zip(probabilities)
            .map(|(item, probabilities)| {
                Values::from([(
                    "entities".to_string(),
                    self.entities(&item.request, probabilities),
                )])
            })
            .collect())
    }
}
