//! Every endpoint of every model as a tool for agents: a Model Context
//! Protocol server (the official Rust SDK, `rmcp`: Streamable HTTP,
//! stateless), as Gradio's `launch(mcp_server=True)` serves one.
//!
//! ```text
//! POST /mcp                    MCP (JSON-RPC over Streamable HTTP)
//! POST /gradio_api/mcp/        the same, at Gradio's path
//! GET  /gradio_api/mcp/schema  the tools, as Gradio lists them
//! ```
//!
//! A tool is named after its endpoint (`{model}_{endpoint}` when several
//! models are loaded), takes the endpoint's inputs as its arguments (the
//! JSON Schema the API documents: descriptions, defaults, enums, bounds;
//! images and audio as a URL — on the web, of a file uploaded with
//! Gradio's `/gradio_api/upload` or of an example — a data URL or bare
//! base64), and answers with the outputs: a text output as text, an image
//! or audio output as image or audio content, anything else as JSON (also
//! as structured content). A refused input or a failed run is a tool error carrying
//! Wick's message. Streaming endpoints (text generation) send each new
//! piece as a progress notification when the client asked for progress;
//! a cancelled call drops the run, which stops it. The routes sit behind
//! the same gate as the API (`--auth`, API keys) and the same limits; a
//! call follows the version split, or the version the
//! `X-Wick-Version` header pins.

use std::sync::Arc;

use axum::extract::State;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Map, Value, json};
use wick_engine::{ClientId, Engine, Input, Inputs, Update};
use wick_types::{Endpoint, Field, Kind, Media, ModelInfo, Values, fields_schema, sniff};

use crate::gradio::{Files, named_file};

/// The MCP routes over `engine`; a request body is at most
/// `max_body_bytes`, as everywhere.
/// `uploads` are the files Gradio's upload route keeps.
pub fn router(engine: Arc<Engine>, max_body_bytes: usize, uploads: Arc<Files>) -> Router {
    let tools = Tools {
        engine: engine.clone(),
        uploads,
    };
    let config = StreamableHttpServerConfig::default()
        // Stateless: any replica answers any request, as Gradio's does.
        .with_legacy_session_mode(false)
        // Plain JSON unless a call sends progress first.
        .with_json_response(true)
        .with_max_request_body_bytes(max_body_bytes)
        // Wick's own guard refuses writes from other sites' pages
        // (`security`), which is what the Host check defends against; a
        // Space or a cluster is reached under names no list here knows.
        .disable_allowed_hosts();
    let service = StreamableHttpService::new(
        move || Ok(tools.clone()),
        LocalSessionManager::default().into(),
        config,
    );
    Router::new()
        .route("/gradio_api/mcp/schema", get(schema))
        .nest_service("/gradio_api/mcp", service.clone())
        .nest_service("/mcp", service)
        .with_state(engine)
}

#[derive(Clone)]
struct Tools {
    engine: Arc<Engine>,
    uploads: Arc<Files>,
}

/// One tool: an endpoint of a model, under the name agents see.
struct Target {
    name: String,
    model: ModelInfo,
    endpoint: Endpoint,
}

/// The tools of the loaded models, in their order.
fn targets(engine: &Engine) -> Vec<Target> {
    let models = engine.models();
    models
        .iter()
        .flat_map(|model| {
            model.endpoints.iter().map(|endpoint| Target {
                name: model.mcp_tool_name(&endpoint.name, models.len()),
                model: model.clone(),
                endpoint: endpoint.clone(),
            })
        })
        .collect()
}

impl Target {
    fn description(&self) -> String {
        let what = match self.endpoint.description.is_empty() {
            true => format!("`{}` of {}", self.endpoint.name, self.model.title),
            false => self.endpoint.description.clone(),
        };
        let media: Vec<&str> = self
            .endpoint
            .inputs
            .iter()
            .filter(|field| field.kind.media().is_some())
            .map(|field| field.name.as_str())
            .collect();
        match media.is_empty() {
            true => what,
            false => format!(
                "{what} ({}: the file's http(s) URL, a data URL such as data:image/png;base64,…, or its bytes in base64)",
                media.join(", ")
            ),
        }
    }

    fn input_schema(&self) -> Map<String, Value> {
        match fields_schema(&self.endpoint.inputs, true) {
            Value::Object(schema) => schema,
            _ => Map::new(),
        }
    }

    fn tool(&self) -> Tool {
        Tool::new(self.name.clone(), self.description(), self.input_schema())
    }
}

impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("wick", env!("CARGO_PKG_VERSION")))
            .with_instructions("Each tool runs one endpoint of a model Wick serves.")
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = targets(&self.engine).iter().map(Target::tool).collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(target) = targets(&self.engine)
            .into_iter()
            .find(|t| t.name == request.name)
        else {
            return Err(ErrorData::invalid_params(
                format!("no tool named `{}`", request.name),
                None,
            ));
        };
        let arguments = request.arguments.unwrap_or_default();
        Ok(self.run(&target, arguments, &context).await.into())
    }
}

impl Tools {
    /// Runs the tool's endpoint; every failure is a tool error with
    /// Wick's message.
    async fn run(
        &self,
        target: &Target,
        arguments: Map<String, Value>,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResult {
        let parts = context.extensions.get::<Parts>();
        let route = match parts {
            Some(parts) => crate::seam::route(
                None,
                None,
                &parts.headers,
                parts
                    .extensions
                    .get::<ClientId>()
                    .cloned()
                    .map(axum::extract::Extension),
            ),
            None => wick_engine::Route::any(),
        };
        let inputs = match self.inputs(target, arguments).await {
            Ok(inputs) => inputs,
            Err(message) => return failed(message),
        };
        let stream = self
            .engine
            .stream(
                &target.model.name,
                &route,
                &target.endpoint.name,
                vec![inputs],
            )
            .await;
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(error) => return failed(error.to_string()),
        };
        let progress = context.meta.get_progress_token();
        let mut pieces = 0u32;
        loop {
            let update = tokio::select! {
                // A cancelled call: dropping the stream stops the run.
                _ = context.ct.cancelled() => return failed("the call was cancelled".into()),
                update = stream.next() => update,
            };
            match update {
                Some(Ok(Update::Partial { outputs, .. })) => {
                    let Some(token) = &progress else { continue };
                    pieces += 1;
                    let message = partial_text(&outputs);
                    let _ = context
                        .peer
                        .notify_progress(
                            ProgressNotificationParam::new(token.clone(), pieces as f64)
                                .with_message(message),
                        )
                        .await;
                }
                Some(Ok(Update::Finished(prediction))) => {
                    let outputs = prediction.outputs.into_iter().next().unwrap_or_default();
                    return answer(&target.endpoint, outputs);
                }
                Some(Err(error)) => return failed(error.to_string()),
                None => return failed("the run ended without an answer".into()),
            }
        }
    }

    /// The arguments as the engine takes them. A media input is a file
    /// this server holds (uploaded, or an example, by its URL or path), a
    /// file on the web (downloaded), a data URL (checked by the engine, as
    /// the API's are) or bare base64, as agents often send files, typed by
    /// its first bytes.
    async fn inputs(
        &self,
        target: &Target,
        arguments: Map<String, Value>,
    ) -> Result<Inputs, String> {
        let mut inputs = Inputs::default();
        for (name, value) in arguments {
            let media = target
                .endpoint
                .inputs
                .iter()
                .find(|field| field.name == name && field.kind.media().is_some());
            let input = match (media, &value) {
                (Some(field), Value::String(text)) if !text.starts_with("data:") => {
                    self.file(field, &target.model, text).await?
                }
                _ => Input::Json(value),
            };
            inputs.insert(name, input);
        }
        Ok(inputs)
    }

    /// The file a media input's text names or holds.
    async fn file(&self, field: &Field, model: &ModelInfo, text: &str) -> Result<Input, String> {
        if let Some(file) = named_file(field, text, &self.uploads, &self.engine, model).await {
            return file.map(Input::File);
        }
        let decoded = base64::engine::general_purpose::STANDARD.decode(text.trim());
        match decoded
            .ok()
            .and_then(|bytes| sniff(&bytes).map(|mime| Media::new(mime, bytes)))
        {
            Some(file) => Ok(Input::File(file)),
            None => Err(format!(
                "`{}`: expected {} as an http(s) URL, a data URL, a file uploaded here \
                 or the file's bytes in base64",
                field.name,
                field
                    .kind
                    .media()
                    .map_or("a file", |(kind, _)| kind.describe())
            )),
        }
    }
}

/// A partial output as one line of progress: its text, or its JSON.
fn partial_text(outputs: &Values) -> String {
    let mut values = outputs.values();
    match (
        values.next().and_then(wick_types::Value::as_text),
        values.next(),
    ) {
        (Some(text), None) => text.to_string(),
        _ => serde_json::to_string(outputs).unwrap_or_default(),
    }
}

/// The outputs as tool content: a lone text output as its text, each
/// image or audio output as image or audio content, anything else as
/// JSON, and always as structured content (media there as data URLs).
fn answer(endpoint: &Endpoint, outputs: Values) -> CallToolResult {
    let structured = serde_json::to_value(&outputs).unwrap_or(Value::Null);
    let media: Vec<ContentBlock> = outputs
        .values()
        .filter_map(|value| match value {
            wick_types::Value::Media(media) => Some(media_content(media)),
            _ => None,
        })
        .collect();
    if !media.is_empty() {
        let mut result = CallToolResult::success(media);
        result.structured_content = Some(structured);
        return result;
    }
    let text = match &endpoint.outputs[..] {
        [only] if matches!(only.kind, Kind::Text { .. }) => outputs
            .get(&only.name)
            .and_then(wick_types::Value::as_text)
            .map(str::to_string),
        _ => None,
    };
    let text = text.unwrap_or_else(|| structured.to_string());
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(structured);
    result
}

/// An image or audio file as MCP content: its bytes in base64 and its type.
fn media_content(media: &Media) -> ContentBlock {
    let data = base64::engine::general_purpose::STANDARD.encode(&media.bytes);
    match media.mime.starts_with("audio/") {
        true => ContentBlock::audio(data, media.mime.clone()),
        false => ContentBlock::image(data, media.mime.clone()),
    }
}

fn failed(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// `GET /gradio_api/mcp/schema`: the tools as Gradio lists them for the
/// Hub (name, description, input schema, whether files go in, the
/// endpoint's name).
async fn schema(State(engine): State<Arc<Engine>>) -> Json<Value> {
    let tools: Vec<Value> = targets(&engine)
        .iter()
        .map(|target| {
            json!({
                "name": target.name,
                "description": target.description(),
                "inputSchema": target.input_schema(),
                "meta": {
                    "file_data_present": target.endpoint.inputs.iter().any(|f| f.kind.media().is_some()),
                    "mcp_type": "tool",
                    "endpoint_name": target.endpoint.name,
                },
            })
        })
        .collect();
    Json(Value::Array(tools))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(outputs: Vec<Field>) -> Endpoint {
        Endpoint {
            name: "e".into(),
            description: String::new(),
            inputs: Vec::new(),
            outputs,
            streams: false,
        }
    }

    fn content(result: &CallToolResult) -> Value {
        serde_json::to_value(result).unwrap()["content"].clone()
    }

    #[test]
    fn image_and_audio_outputs_are_image_and_audio_content() {
        let image = Field::new("picture", Kind::Image { max_bytes: None });
        let audio = Field::new("speech", Kind::Audio { max_bytes: None });
        let outputs = Values::from([
            (
                "picture".to_string(),
                wick_types::Value::Media(Media::new("image/png", vec![1, 2, 3])),
            ),
            (
                "speech".to_string(),
                wick_types::Value::Media(Media::new("audio/wav", vec![4, 5])),
            ),
        ]);
        let result = answer(&endpoint(vec![image, audio]), outputs);
        assert_eq!(
            content(&result),
            json!([
                {"type": "image", "data": "AQID", "mimeType": "image/png"},
                {"type": "audio", "data": "BAU=", "mimeType": "audio/wav"},
            ])
        );
        let structured = result.structured_content.unwrap();
        assert_eq!(structured["picture"], "data:image/png;base64,AQID");
    }

    #[test]
    fn a_lone_text_output_is_its_text_and_anything_else_json() {
        let text = Field::new(
            "text",
            Kind::Text {
                lines: 1,
                placeholder: None,
                max_chars: None,
            },
        );
        let outputs = Values::from([("text".to_string(), wick_types::Value::Text("hi".into()))]);
        assert_eq!(
            content(&answer(&endpoint(vec![text]), outputs)),
            json!([{"type": "text", "text": "hi"}])
        );
        let score = Field::new("y", Kind::Score);
        let outputs = Values::from([("y".to_string(), wick_types::Value::Number(2.0))]);
        assert_eq!(
            content(&answer(&endpoint(vec![score]), outputs)),
            json!([{"type": "text", "text": "{\"y\":2.0}"}])
        );
    }
}
