//! Reading a prediction as it streams (`predict_stream`): each partial
//! output as it comes, then the outcome. The demo and the chat read it
//! the same way; dropping the future drops the response, and the server
//! stops the run.

use futures::StreamExt;

use crate::server_fns::{JsonObject, Outcome, StreamLine, predict_stream};

/// Runs `endpoint` on `inputs`, handing each partial output to `partial`;
/// the outcome, or what went wrong on the way as a sentence.
pub async fn stream_prediction(
    model: String,
    endpoint: String,
    inputs: JsonObject,
    version: Option<String>,
    mut partial: impl FnMut(JsonObject),
) -> Result<Outcome, String> {
    let lines = predict_stream(model, endpoint, inputs, version)
        .await
        .map_err(|failure| format!("The server could not be reached: {failure}"))?;
    let mut lines = Box::pin(lines.into_inner());
    let mut buffer = String::new();
    while let Some(chunk) = lines.next().await {
        let chunk = chunk.map_err(|_| "The stream broke off.".to_string())?;
        buffer.push_str(&chunk);
        while let Some(end) = buffer.find('\n') {
            let line: String = buffer.drain(..=end).collect();
            match serde_json::from_str::<StreamLine>(&line) {
                Ok(StreamLine::Partial { outputs }) => partial(outputs),
                Ok(StreamLine::End(outcome)) => return Ok(outcome),
                Err(_) => {}
            }
        }
    }
    Err("The stream broke off.".into())
}

/// Adds a partial output to the outputs so far, as the API's streams
/// mean it: a text grows by it, a list (a transcript's segments) is
/// extended, anything else is replaced.
pub fn accumulate(so_far: &mut JsonObject, partial: JsonObject) {
    use serde_json::Value;
    for (name, value) in partial {
        match (so_far.get_mut(&name), value) {
            (Some(Value::String(text)), Value::String(more)) => text.push_str(&more),
            (Some(Value::Array(items)), Value::Array(more)) => items.extend(more),
            (_, value) => {
                so_far.insert(name, value);
            }
        }
    }
}
