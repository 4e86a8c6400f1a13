//! `GET /openapi.json`: an OpenAPI 3.1 document generated from the loaded
//! models' signatures — one path per endpoint, with its request, response
//! and error schemas.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};
use wick_engine::Engine;
use wick_types::{ModelInfo, fields_schema};

pub async fn document(State(engine): State<Arc<Engine>>) -> Json<Value> {
    Json(build(engine.models().iter()))
}

pub fn build<'a>(models: impl IntoIterator<Item = &'a ModelInfo>) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert("Error".into(), error_schema());
    paths.insert(
        "/api/models".into(),
        json!({"get": {
            "summary": "List the loaded models with their endpoints and signatures",
            "operationId": "listModels",
            "responses": {"200": json_response("The models", json!({"type": "object", "properties": {"models": {"type": "array", "items": {"type": "object"}}}, "required": ["models"]}))}
        }}),
    );
    let mut model_responses = error_responses(&[("404", "No such model")]);
    model_responses.insert(
        "200".into(),
        json_response("The model", json!({"type": "object"})),
    );
    paths.insert(
        "/api/models/{model}".into(),
        json!({"get": {
            "summary": "Describe one model",
            "operationId": "describeModel",
            "parameters": [{"name": "model", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": model_responses
        }}),
    );
    let models: Vec<&ModelInfo> = models.into_iter().collect();
    for model in &models {
        for endpoint in &model.endpoints {
            let prefix = format!("{}.{}", model.name, endpoint.name);
            schemas.insert(
                format!("{prefix}.Inputs"),
                fields_schema(&endpoint.inputs, true),
            );
            // Every output, and no other: what a prediction returns and
            // what a flag must send back.
            let mut outputs = fields_schema(&endpoint.outputs, false);
            outputs["additionalProperties"] = Value::Bool(false);
            schemas.insert(format!("{prefix}.Outputs"), outputs);
            let inputs_ref = json!({"$ref": format!("#/components/schemas/{prefix}.Inputs")});
            let outputs_ref = json!({"$ref": format!("#/components/schemas/{prefix}.Outputs")});
            let request = json!({
                "type": "object",
                "properties": {
                    "inputs": {"oneOf": [inputs_ref, {"type": "array", "items": inputs_ref, "minItems": 1}]},
                    "version": {"type": ["string", "null"], "description": "Pin the model version"}
                },
                "required": ["inputs"],
                "additionalProperties": false
            });
            let response = json!({
                "type": "object",
                "properties": {
                    "outputs": {"oneOf": [outputs_ref, {"type": "array", "items": outputs_ref}]},
                    "model": {"type": "string"},
                    "version": {"type": "string"},
                    "duration_ms": {"type": "number"}
                },
                "required": ["outputs", "model", "version", "duration_ms"]
            });
            let mut responses = error_responses(&[
                ("400", "The body is not JSON"),
                ("401", "The demo needs a sign-in (--auth) and none was sent"),
                ("403", "Sent from another site's page"),
                ("404", "No such model, endpoint or version"),
                (
                    "413",
                    "The body, the number of inputs or the text is too large",
                ),
                (
                    "415",
                    "The body is not declared application/json (or multipart/form-data)",
                ),
                ("422", "An input is missing, unknown or of the wrong type"),
                ("429", "The model's queue is full; retry shortly"),
                ("500", "Inference failed"),
                ("503", "The request did not finish within its deadline"),
            ]);
            responses.insert(
                "200".into(),
                json_response("The outputs, shaped like the inputs", response),
            );
            let has_media = endpoint.inputs.iter().any(|f| f.kind.media().is_some());
            // An example's image or audio is a bundle file, not a data
            // URL, so such examples are not request bodies to show.
            let example = model
                .examples
                .iter()
                .find(|e| e.endpoint == endpoint.name && !has_media)
                .map(|e| json!({"inputs": e.inputs}));
            let mut body = json!({"schema": request});
            if let Some(example) = example {
                body["example"] = example;
            }
            let mut content = json!({"application/json": body});
            if has_media {
                content["multipart/form-data"] = multipart_body(&endpoint.inputs);
            }
            paths.insert(
                format!("/api/models/{}/{}", model.name, endpoint.name),
                json!({"post": {
                    "summary": format!("{} — {}", model.title, endpoint.name),
                    "description": endpoint.description,
                    "operationId": format!("{}_{}", model.name, endpoint.name).replace(['-', '.'], "_"),
                    "tags": [model.name],
                    "requestBody": {"required": true, "content": content},
                    "responses": responses
                }}),
            );
        }
    }
    for model in &models {
        paths.insert(
            format!("/api/models/{}/feedback", model.name),
            flag_path(model),
        );
    }
    for (path, summary) in [
        ("/healthz", "Liveness: the process answers"),
        ("/readyz", "Readiness: every model is loaded"),
    ] {
        paths.insert(
            path.into(),
            json!({"get": {"summary": summary, "responses": {"200": json_response("OK", json!({"type": "object"}))}}}),
        );
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Wick inference API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Predictions from the models this Wick server loaded. Errors are {\"error\": {\"code\", \"message\", \"field\"?}}."
        },
        "paths": paths,
        "components": {"schemas": schemas}
    })
}

/// `POST /api/models/{model}/feedback`: flag one prediction of the model.
fn flag_path(model: &ModelInfo) -> Value {
    // One shape per endpoint: its inputs and outputs are checked against
    // that endpoint's signature, as the server does.
    let shapes: Vec<Value> = model
        .endpoints
        .iter()
        .map(|endpoint| {
            let prefix = format!("#/components/schemas/{}.{}", model.name, endpoint.name);
            json!({
                "type": "object",
                "properties": {
                    "endpoint": {"const": endpoint.name},
                    "inputs": {"$ref": format!("{prefix}.Inputs"), "description": "The inputs of the flagged prediction"},
                    "outputs": {"$ref": format!("{prefix}.Outputs"), "description": "Its outputs, as the endpoint returned them"},
                    "option": {"type": "string", "enum": model.flagging_options},
                    "comment": {"type": ["string", "null"], "maxLength": wick_types::MAX_COMMENT_CHARS},
                    "duration_ms": {"type": ["number", "null"], "minimum": 0},
                    "version": {"type": ["string", "null"], "description": "The version that made the prediction"}
                },
                "required": ["endpoint", "inputs", "outputs", "option"],
                "additionalProperties": false
            })
        })
        .collect();
    let request = json!({
        "oneOf": shapes,
        "description": format!("At most {} bytes of JSON", wick_types::MAX_FLAG_BYTES)
    });
    let mut responses = error_responses(&[
        ("400", "The body is not JSON"),
        ("401", "The demo needs a sign-in (--auth) and none was sent"),
        ("403", "Sent from another site's page"),
        ("404", "No such model or version"),
        ("413", "The body is too large"),
        ("415", "The body is not declared application/json"),
        (
            "422",
            "A field is missing, unknown or does not fit the endpoint's signature",
        ),
        ("429", "Too many flags a minute from this address"),
        (
            "503",
            "The feedback store is unavailable; nothing was saved",
        ),
    ]);
    responses.insert(
        "201".into(),
        json_response(
            "Stored: the flag is committed",
            json!({
                "type": "object",
                "properties": {"id": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}},
                "required": ["id", "created_at"]
            }),
        ),
    );
    json!({"post": {
        "summary": format!("{} — flag a prediction", model.title),
        "operationId": format!("{}_feedback", model.name).replace(['-', '.'], "_"),
        "tags": [model.name],
        "requestBody": {"required": true, "content": {"application/json": {"schema": request}}},
        "responses": responses
    }})
}

/// The form an endpoint with image or audio inputs also takes: a part per
/// input, files as their bytes (`curl -F image=@cat.jpg`).
fn multipart_body(fields: &[wick_types::Field]) -> Value {
    let mut schema = wick_types::fields_schema(fields, true);
    let mut encoding = Map::new();
    if let Some(properties) = schema["properties"].as_object_mut() {
        for field in fields {
            let Some((media, max_bytes)) = field.kind.media() else {
                continue;
            };
            let limit = max_bytes.map_or(String::new(), |max| format!(" At most {max} bytes."));
            properties.insert(
                field.name.clone(),
                json!({
                    "type": "string",
                    "contentMediaType": format!("{}/*", media.top_level()),
                    "minLength": 1,
                    "description": format!("The file's bytes.{limit}")
                }),
            );
            encoding.insert(
                field.name.clone(),
                json!({"contentType": format!("{}/*", media.top_level())}),
            );
        }
        properties.insert(
            "version".into(),
            json!({"type": "string", "description": "Pin the model version"}),
        );
    }
    json!({"schema": schema, "encoding": encoding})
}

/// One response per status, each with the Error schema.
fn error_responses(statuses: &[(&str, &str)]) -> Map<String, Value> {
    statuses
        .iter()
        .map(|(status, why)| {
            (
                status.to_string(),
                json_response(why, json!({"$ref": "#/components/schemas/Error"})),
            )
        })
        .collect()
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string", "description": "The input at fault, for validation errors"}
                },
                "required": ["code", "message"]
            }
        },
        "required": ["error"]
    })
}

#[cfg(test)]
mod tests {
    use wick_types::{Endpoint, Field, Kind};

    use super::*;

    #[test]
    fn an_image_input_is_documented_as_a_data_url_not_a_text() {
        let model = ModelInfo {
            name: "vision".into(),
            version: "1".into(),
            versions: Vec::new(),
            task: "image-classification".into(),
            title: String::new(),
            description: String::new(),
            article: String::new(),
            endpoints: vec![Endpoint {
                name: "classify".into(),
                description: String::new(),
                inputs: vec![Field::new(
                    "image",
                    Kind::Image {
                        max_bytes: Some(1 << 20),
                    },
                )],
                outputs: vec![Field::new("label", Kind::Label { top_k: Some(5) })],
                streams: false,
            }],
            examples: Vec::new(),
            flagging_options: Vec::new(),
        };
        let document = build([&model]);
        let image =
            &document["components"]["schemas"]["vision.classify.Inputs"]["properties"]["image"];
        assert_eq!(image["type"], json!("string"));
        assert_eq!(image["contentMediaType"], json!("image/*"));
        assert!(
            image["pattern"]
                .as_str()
                .unwrap()
                .starts_with("^data:image/"),
            "{image}"
        );
        // The same endpoint also takes a form with the file's bytes.
        let form = &document["paths"]["/api/models/vision/classify"]["post"]["requestBody"]["content"]
            ["multipart/form-data"];
        let part = &form["schema"]["properties"]["image"];
        assert_eq!(part["contentMediaType"], json!("image/*"));
        assert!(part.get("pattern").is_none(), "{part}");
        assert_eq!(form["encoding"]["image"]["contentType"], json!("image/*"));
    }
}
