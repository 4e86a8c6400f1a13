//! Admission of a request to one version: its endpoint, the count of its
//! inputs (413), then off the async runtime each input checked against the
//! signature, its text against the request's budget (413), the task's
//! `prepare`, and the version's queue (full: 429).

use super::*;

impl Version {
    /// Checks and queues a request to this version.
    pub(super) async fn submit(
        self: &Arc<Self>,
        metrics: &Arc<Metrics>,
        endpoint: &str,
        inputs: Vec<Inputs>,
    ) -> Result<PredictionStream> {
        let number = self
            .info
            .endpoints
            .iter()
            .position(|e| e.name == endpoint)
            .ok_or_else(|| Error::UnknownEndpoint {
                model: self.info.name.clone(),
                endpoint: endpoint.to_string(),
                known: endpoint_names(self.info.endpoints.iter()),
            })?;
        let mut record = Record::start(
            metrics.clone(),
            &self.info.name,
            &self.info.version,
            endpoint,
        );
        let fields = self.info.endpoints[number].inputs.clone();
        if inputs.len() > self.max_inputs {
            let error = Error::TooManyInputs {
                count: inputs.len(),
                max: self.max_inputs,
            };
            record.outcome(error.code());
            return Err(error);
        }
        let deadline = Instant::now() + self.timeout;
        let version = self.clone();
        // Checking and preparing are CPU work that grows with the input
        // (tokenizing, decoding images, resampling audio): on tokio's
        // worker threads they would stall every other connection. Each
        // input's own limits are checked before the request's text budget,
        // so a field past its `maxLength` is the schema's 422, not a 413.
        let submitted = tokio::task::spawn_blocking(move || {
            let chars = text_in(&fields, &inputs);
            let batch = validate(&fields, inputs)?;
            version.check_chars(chars)?;
            version.scheduler().submit(number, batch, deadline)
        })
        .await
        .unwrap_or_else(|_| Err(Error::Inference("preparing the inputs failed".into())));
        match submitted {
            Ok(events) => Ok(PredictionStream::new(
                events,
                deadline,
                self.timeout,
                record,
            )),
            Err(error) => {
                record.outcome(error.code());
                Err(error)
            }
        }
    }

    /// Refuses a request of too much text in all (`max_input_chars`)
    /// before it is prepared or queued: one walk over what was already
    /// parsed. Media fields are bounded by their own `max_bytes` and the
    /// body limit instead.
    pub(super) fn check_chars(&self, chars: usize) -> Result<()> {
        if chars > self.max_chars {
            return Err(Error::InputTooLarge {
                count: chars,
                max: self.max_chars,
            });
        }
        Ok(())
    }
}

/// Characters of text in a request's inputs, but for its media fields.
pub(super) fn text_in(fields: &[Field], inputs: &[Inputs]) -> usize {
    let is_media = |name: &str| {
        fields
            .iter()
            .any(|field| field.name == name && field.kind.media().is_some())
    };
    inputs
        .iter()
        .flat_map(|inputs| inputs.json.iter())
        .filter(|(name, _)| !is_media(name))
        .map(|(_, value)| text_chars(value))
        .sum()
}

/// Characters of text in a JSON value (strings, also inside lists and
/// objects).
pub(super) fn text_chars(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::String(text) => text.chars().count(),
        serde_json::Value::Array(items) => items.iter().map(text_chars).sum(),
        serde_json::Value::Object(map) => map.values().map(text_chars).sum(),
        _ => 0,
    }
}

/// Turns each set of JSON inputs into typed values, or says which field
/// of which set is wrong.
pub(super) fn validate(fields: &[wick_types::Field], inputs: Vec<Inputs>) -> Result<Vec<Values>> {
    if inputs.is_empty() {
        return Err(Error::EmptyBatch);
    }
    let several = inputs.len() > 1;
    let batch = inputs
        .into_iter()
        .enumerate()
        .map(|(row, inputs)| {
            validate_inputs_with(fields, &inputs.json, inputs.media).map_err(|error| {
                if several {
                    FieldError {
                        field: error.field,
                        message: format!("(inputs[{row}]) {}", error.message),
                    }
                } else {
                    error
                }
            })
        })
        .collect::<Result<Vec<Values>, FieldError>>()?;
    Ok(batch)
}
