//! The endpoint of `text-ranking` — rerank — its signature, and the
//! `Task` impl: a request's (query, document) pairs are tokenized when it
//! arrives, and a batch's pairs scored a slice at a time.

use tokenizers::Encoding;
use wick_types::{Endpoint, Field, Kind, Label, Value, Values};

use super::settings::Settings;
use crate::error::Result;
use crate::task::{Item, Prepared, Task};
use crate::tasks::text_classification::SequenceClassifier;
use crate::tasks::text_encoder::{MAX_TEXT_CHARS, missing};

/// Pairs per forward pass: a request of many long documents is scored in
/// slices, so one pass stays within cache-friendly sizes.
const PAIRS_PER_PASS: usize = 32;

/// The endpoints, matched exhaustively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RankEndpoint {
    Rerank,
}

pub struct TextRanking {
    classifier: SequenceClassifier,
    max_documents: usize,
}

/// A request's pairs, tokenized, and its documents.
pub struct Request {
    pairs: Vec<Encoding>,
    documents: Vec<String>,
}

impl TextRanking {
    pub fn new(classifier: SequenceClassifier, settings: Settings) -> TextRanking {
        TextRanking {
            classifier,
            max_documents: settings.max_documents,
        }
    }

    /// One request's answer from its documents' scores.
    fn answer(documents: &[String], scores: &[f32]) -> Values {
        let mut order: Vec<usize> = (0..documents.len()).collect();
        order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
        let results: Vec<serde_json::Value> = order
            .iter()
            .map(|&index| serde_json::json!({"index": index, "score": scores[index]}))
            .collect();
        let ranking = Label::from_scores(
            documents
                .iter()
                .zip(scores)
                .map(|(document, score)| (document.as_str(), f64::from(*score))),
        );
        Values::from([
            ("ranking".to_string(), Value::Label(ranking)),
            (
                "results".to_string(),
                Value::Json(serde_json::Value::Array(results)),
            ),
        ])
    }
}

impl Task for TextRanking {
    type Endpoint = RankEndpoint;
    type Request = Request;

    fn endpoints(&self) -> Vec<(RankEndpoint, Endpoint)> {
        vec![(
            RankEndpoint::Rerank,
            Endpoint {
                name: "rerank".into(),
                description: "The documents ordered by relevance to the query, with scores.".into(),
                inputs: vec![
                    Field::new(
                        "query",
                        Kind::Text {
                            lines: 1,
                            placeholder: Some("A question or search query…".into()),
                            max_chars: Some(MAX_TEXT_CHARS),
                        },
                    )
                    .label("Query"),
                    Field::new(
                        "documents",
                        Kind::Tags {
                            min_items: Some(1),
                            max_items: Some(self.max_documents),
                            max_chars: Some(MAX_TEXT_CHARS),
                        },
                    )
                    .label("Documents")
                    .description("The texts to rank against the query."),
                ],
                outputs: vec![
                    Field::new(
                        "ranking",
                        Kind::Label {
                            top_k: Some(self.max_documents),
                        },
                    )
                    .label("Ranking"),
                    Field::new("results", Kind::Json)
                        .label("Results")
                        .description("`{index, score}` of every document, best first."),
                ],
                streams: false,
            },
        )]
    }

    fn prepare(&self, _: RankEndpoint, inputs: Values) -> Result<Prepared<Request>> {
        let query = inputs
            .get("query")
            .and_then(Value::as_text)
            .ok_or_else(|| missing("query"))?;
        let documents = inputs
            .get("documents")
            .and_then(Value::as_strings)
            .ok_or_else(|| missing("documents"))?
            .to_vec();
        let pairs = documents
            .iter()
            .map(|document| self.classifier.text.encode_pair(query, document))
            .collect::<Result<Vec<_>>>()?;
        let size = pairs.iter().map(Encoding::len).max().unwrap_or(1);
        Ok(Prepared::new(Request { pairs, documents }, size))
    }

    fn run(&self, _: RankEndpoint, batch: &[Item<Request>]) -> Result<Vec<Values>> {
        let pairs: Vec<&Encoding> = batch
            .iter()
            .flat_map(|item| item.request.pairs.iter())
            .collect();
        let mut scores = Vec::with_capacity(pairs.len());
        for slice in pairs.chunks(PAIRS_PER_PASS) {
            scores.extend(self.classifier.scores(slice)?.into_iter().map(|s| s[0]));
        }
        let mut answers = Vec::with_capacity(batch.len());
        let mut start = 0;
        for item in batch {
            let count = item.request.pairs.len();
            answers.push(Self::answer(
                &item.request.documents,
                &scores[start..start + count],
            ));
            start += count;
        }
        Ok(answers)
    }
}
