//! Code that calls an endpoint, for the "Use via API" page: curl, Python
//! (requests), JavaScript (fetch) and Python with Gradio's `gradio_client`,
//! each a complete program that prints the outputs. An endpoint with image or audio inputs is called with a
//! form, as `curl -F` sends it, after downloading the example's file (or
//! from a file of yours where there is no example). The tests run every
//! one of them against a real server.

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
    base_url: String,
    url: String,
    inputs: serde_json::Map<String, Value>,
    /// Image or audio inputs: (input, file name, where to download it).
    files: Vec<(String, String, Option<String>)>,
}

impl Call {
    pub fn new(
        base_url: &str,
        model: &ModelInfo,
        endpoint: &Endpoint,
        inputs: &serde_json::Map<String, Value>,
    ) -> Call {
        let mut inputs = inputs.clone();
        let mut files = Vec::new();
        for field in endpoint.inputs.iter().filter(|f| f.kind.media().is_some()) {
            // An example names a bundle file; without one, the reader's own.
            let path = inputs
                .remove(&field.name)
                .and_then(|v| v.as_str().map(String::from));
            let file_name = path
                .as_deref()
                .and_then(|p| p.rsplit('/').next())
                .map(String::from)
                .unwrap_or_else(|| match field.kind.media() {
                    Some((wick_types::MediaKind::Audio, _)) => "clip.wav".into(),
                    _ => "photo.jpg".into(),
                });
            let download = path.map(|p| format!("{base_url}/api/models/{}/files/{p}", model.name));
            files.push((field.name.clone(), file_name, download));
        }
        Call {
            base_url: base_url.to_string(),
            url: format!("{base_url}/api/models/{}/{}", model.name, endpoint.name),
            inputs,
            files,
        }
    }

    fn body(&self) -> Value {
        serde_json::json!({ "inputs": self.inputs })
    }

    /// A form part's value as text, as `wick predict -i` reads it back.
    fn part_text(value: &Value) -> String {
        value
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| value.to_string())
    }

    pub fn curl(&self) -> String {
        if self.files.is_empty() {
            // Single-quoted for the shell: a ' inside the JSON becomes '\''.
            let json = self.body().to_string().replace('\'', r"'\''");
            return format!(
                "curl -sS --fail-with-body {} \\\n  -H 'Content-Type: application/json' \\\n  -d '{json}'",
                self.url
            );
        }
        let mut lines = Vec::new();
        for (_, file, download) in &self.files {
            if let Some(url) = download {
                lines.push(format!("curl -sS --fail -o {file} {url}"));
            }
        }
        let mut call = format!("curl -sS --fail-with-body {}", self.url);
        for (name, file, _) in &self.files {
            call.push_str(&format!(" \\\n  -F {name}=@{file}"));
        }
        for (name, value) in &self.inputs {
            let text = Self::part_text(value).replace('\'', r"'\''");
            call.push_str(&format!(" \\\n  -F '{name}={text}'"));
        }
        lines.push(call);
        lines.join("\n")
    }

    pub fn python(&self) -> String {
        if self.files.is_empty() {
            return format!(
                "import requests\n\nresponse = requests.post(\n    \"{}\",\n    json={},\n    timeout=60,\n)\nresponse.raise_for_status()\nprint(response.json()[\"outputs\"])",
                self.url,
                python_literal(&self.body())
            );
        }
        let mut code = String::from("import requests\n\n");
        for (_, file, download) in &self.files {
            if let Some(url) = download {
                code.push_str(&format!(
                    "with open(\"{file}\", \"wb\") as f:\n    f.write(requests.get(\"{url}\", timeout=60).content)\n"
                ));
            }
        }
        let files = self
            .files
            .iter()
            .map(|(name, file, _)| format!("\"{name}\": open(\"{file}\", \"rb\")"))
            .collect::<Vec<_>>()
            .join(", ");
        let data = self
            .inputs
            .iter()
            .map(|(name, value)| {
                format!(
                    "{}: {}",
                    Value::from(name.as_str()),
                    Value::from(Self::part_text(value))
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        code.push_str(&format!(
            "response = requests.post(\n    \"{}\",\n    files={{{files}}},\n    data={{{data}}},\n    timeout=60,\n)\nresponse.raise_for_status()\nprint(response.json()[\"outputs\"])",
            self.url
        ));
        code
    }

    /// The call through Gradio's Python client, as a Gradio app's "Use via
    /// API" page shows it; `api_name` as `/config` names the endpoint.
    pub fn gradio_client(&self, api_name: &str) -> String {
        let mut arguments: Vec<String> = self
            .files
            .iter()
            .map(|(name, file, download)| {
                let source = download.as_deref().unwrap_or(file);
                format!("    {name}=handle_file({}),", Value::from(source))
            })
            .collect();
        arguments.extend(
            self.inputs
                .iter()
                .map(|(name, value)| format!("    {name}={},", python_literal(value))),
        );
        let import = if self.files.is_empty() {
            "from gradio_client import Client"
        } else {
            "from gradio_client import Client, handle_file"
        };
        format!(
            "{import}\n\nclient = Client(\"{}/\")\nresult = client.predict(\n{}\n    api_name=\"/{api_name}\",\n)\nprint(result)",
            self.base_url,
            arguments.join("\n")
        )
    }

    pub fn javascript(&self) -> String {
        if self.files.is_empty() {
            return format!(
                "const response = await fetch(\"{}\", {{\n  method: \"POST\",\n  headers: {{ \"Content-Type\": \"application/json\" }},\n  body: JSON.stringify({}),\n}});\nif (!response.ok) throw new Error(await response.text());\nconsole.log((await response.json()).outputs);",
                self.url,
                self.body()
            );
        }
        let mut code = String::from("const form = new FormData();\n");
        for (name, file, download) in &self.files {
            match download {
                Some(url) => code.push_str(&format!(
                    "form.append(\"{name}\", await (await fetch(\"{url}\")).blob(), \"{file}\");\n"
                )),
                None => code.push_str(&format!(
                    "// In a page: the File from an <input type=\"file\">.\nform.append(\"{name}\", fileInput.files[0], \"{file}\");\n"
                )),
            }
        }
        for (name, value) in &self.inputs {
            code.push_str(&format!(
                "form.append({}, {});\n",
                Value::from(name.as_str()),
                Value::from(Self::part_text(value))
            ));
        }
        code.push_str(&format!(
            "const response = await fetch(\"{}\", {{ method: \"POST\", body: form }});\nif (!response.ok) throw new Error(await response.text());\nconsole.log((await response.json()).outputs);",
            self.url
        ));
        code
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

    fn model(inputs: Vec<wick_types::Field>) -> (ModelInfo, Endpoint) {
        let endpoint = Endpoint {
            name: "e".into(),
            description: String::new(),
            inputs,
            outputs: Vec::new(),
            streams: false,
        };
        let model = ModelInfo {
            name: "m".into(),
            version: "1".into(),
            versions: Vec::new(),
            task: "t".into(),
            title: String::new(),
            description: String::new(),
            article: String::new(),
            endpoints: vec![endpoint.clone()],
            examples: Vec::new(),
            flagging_options: Vec::new(),
        };
        (model, endpoint)
    }

    #[test]
    fn curl_quotes_single_quotes_for_the_shell() {
        let (model, endpoint) = model(Vec::new());
        let inputs = json!({"text": "it's"}).as_object().unwrap().clone();
        let snippet = Call::new("http://h", &model, &endpoint, &inputs).curl();
        assert!(
            snippet.contains(r#"-d '{"inputs":{"text":"it'\''s"}}'"#),
            "{snippet}"
        );
    }

    #[test]
    fn an_image_input_is_sent_as_a_form_part_after_downloading_the_example() {
        let image = wick_types::Field::new("image", Kind::Image { max_bytes: None });
        let (model, endpoint) = model(vec![image]);
        let inputs = json!({"image": "examples/cat.png"})
            .as_object()
            .unwrap()
            .clone();
        let call = Call::new("http://h", &model, &endpoint, &inputs);
        let curl = call.curl();
        assert!(
            curl.contains(
                "curl -sS --fail -o cat.png http://h/api/models/m/files/examples/cat.png"
            ),
            "{curl}"
        );
        assert!(curl.contains("-F image=@cat.png"), "{curl}");
        assert!(
            call.python()
                .contains("files={\"image\": open(\"cat.png\", \"rb\")}"),
            "{}",
            call.python()
        );
        assert!(
            call.javascript().contains("new FormData()"),
            "{}",
            call.javascript()
        );
        let gradio = call.gradio_client("e");
        assert!(
            gradio.contains("image=handle_file(\"http://h/api/models/m/files/examples/cat.png\"),")
                && gradio.contains("api_name=\"/e\","),
            "{gradio}"
        );
        // Without an example: the reader's own file.
        let own = Call::new("http://h", &model, &endpoint, &serde_json::Map::new()).curl();
        assert!(
            own.contains("-F image=@photo.jpg") && !own.contains(" -o "),
            "{own}"
        );
    }
}
