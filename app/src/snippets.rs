//! Code that calls an endpoint, for the "Use via API" page: curl, Python
//! (requests) and JavaScript (fetch), each a complete program that prints
//! the outputs. The tests run every one of them against a real server.

use serde_json::Value;
use wick_types::{Endpoint, Kind, ModelInfo};

/// The inputs a snippet sends: the endpoint's first example, or values
/// made from the signature.
pub fn example_inputs(model: &ModelInfo, endpoint: &Endpoint) -> serde_json::Map<String, Value> {
    if let Some(example) = model.examples.iter().find(|e| e.endpoint == endpoint.name) {
        return example.inputs.clone();
    }
    endpoint
        .inputs
        .iter()
        .filter(|field| field.required)
        .map(|field| {
            let value = match &field.kind {
                Kind::Text { placeholder, .. } => {
                    Value::from(placeholder.clone().unwrap_or_else(|| "Hello".into()))
                }
                Kind::Number { min, .. } => Value::from(min.unwrap_or(0.0)),
                Kind::Slider { min, .. } => Value::from(*min),
                Kind::Checkbox => Value::Bool(true),
                Kind::Dropdown { choices } | Kind::Radio { choices } => {
                    Value::from(choices.first().cloned().unwrap_or_default())
                }
                Kind::Tags { .. } => serde_json::json!(["first", "second"]),
                _ => Value::Null,
            };
            (field.name.clone(), value)
        })
        .collect()
}

fn url(base_url: &str, model: &str, endpoint: &str) -> String {
    format!("{base_url}/api/models/{model}/{endpoint}")
}

fn body(inputs: &serde_json::Map<String, Value>) -> Value {
    serde_json::json!({ "inputs": inputs })
}

pub fn curl(
    base_url: &str,
    model: &str,
    endpoint: &str,
    inputs: &serde_json::Map<String, Value>,
) -> String {
    // Single-quoted for the shell: a ' inside the JSON becomes '\''.
    let json = body(inputs).to_string().replace('\'', r"'\''");
    format!(
        "curl -sS --fail-with-body {} \\\n  -H 'Content-Type: application/json' \\\n  -d '{json}'",
        url(base_url, model, endpoint)
    )
}

pub fn python(
    base_url: &str,
    model: &str,
    endpoint: &str,
    inputs: &serde_json::Map<String, Value>,
) -> String {
    format!(
        "import requests\n\nresponse = requests.post(\n    \"{}\",\n    json={},\n    timeout=60,\n)\nresponse.raise_for_status()\nprint(response.json()[\"outputs\"])",
        url(base_url, model, endpoint),
        python_literal(&body(inputs))
    )
}

pub fn javascript(
    base_url: &str,
    model: &str,
    endpoint: &str,
    inputs: &serde_json::Map<String, Value>,
) -> String {
    format!(
        "const response = await fetch(\"{}\", {{\n  method: \"POST\",\n  headers: {{ \"Content-Type\": \"application/json\" }},\n  body: JSON.stringify({}),\n}});\nif (!response.ok) throw new Error(await response.text());\nconsole.log((await response.json()).outputs);",
        url(base_url, model, endpoint),
        body(inputs)
    )
}

/// A JSON value written as a Python literal (JSON strings and numbers are
/// valid Python; only true, false and null differ).
fn python_literal(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(_) | Value::String(_) => value.to_string(),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(python_literal)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), python_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_literals_use_python_constants() {
        let value = json!({"a": [true, false, null], "b": "it's \"x\"", "c": 1.5});
        assert_eq!(
            python_literal(&value),
            r#"{"a": [True, False, None], "b": "it's \"x\"", "c": 1.5}"#
        );
    }

    #[test]
    fn curl_quotes_single_quotes_for_the_shell() {
        let inputs = json!({"text": "it's"}).as_object().unwrap().clone();
        let snippet = curl("http://h", "m", "e", &inputs);
        assert!(
            snippet.contains(r#"-d '{"inputs":{"text":"it'\''s"}}'"#),
            "{snippet}"
        );
    }
}
