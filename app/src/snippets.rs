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

/// One call of an endpoint, rendered as a program in each language.
pub struct Call {
    url: String,
    body: Value,
}

impl Call {
    pub fn new(
        base_url: &str,
        model: &str,
        endpoint: &str,
        inputs: &serde_json::Map<String, Value>,
    ) -> Call {
        Call {
            url: format!("{base_url}/api/models/{model}/{endpoint}"),
            body: serde_json::json!({ "inputs": inputs }),
        }
    }

    pub fn curl(&self) -> String {
        // Single-quoted for the shell: a ' inside the JSON becomes '\''.
        let json = self.body.to_string().replace('\'', r"'\''");
        format!(
            "curl -sS --fail-with-body {} \\\n  -H 'Content-Type: application/json' \\\n  -d '{json}'",
            self.url
        )
    }

    pub fn python(&self) -> String {
        format!(
            "import requests\n\nresponse = requests.post(\n    \"{}\",\n    json={},\n    timeout=60,\n)\nresponse.raise_for_status()\nprint(response.json()[\"outputs\"])",
            self.url,
            python_literal(&self.body)
        )
    }

    pub fn javascript(&self) -> String {
        format!(
            "const response = await fetch(\"{}\", {{\n  method: \"POST\",\n  headers: {{ \"Content-Type\": \"application/json\" }},\n  body: JSON.stringify({}),\n}});\nif (!response.ok) throw new Error(await response.text());\nconsole.log((await response.json()).outputs);",
            self.url, self.body
        )
    }
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
        let snippet = Call::new("http://h", "m", "e", &inputs).curl();
        assert!(
            snippet.contains(r#"-d '{"inputs":{"text":"it'\''s"}}'"#),
            "{snippet}"
        );
    }
}
