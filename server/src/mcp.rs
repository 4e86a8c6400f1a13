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
//! images and audio as data URLs or base64), and answers with the outputs:
//! a text output as text, anything else as JSON (also as structured
//! content). A refused input or a failed run is a tool error carrying
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
use wick_types::{Endpoint, Kind, Media, ModelInfo, Values, fields_schema, sniff};

/// The MCP routes over `engine`; a request body is at most
/// `max_body_bytes`, as everywhere.
pub fn router(engine: Arc<Engine>, max_body_bytes: usize) -> Router {
    let tools = Tools {
        engine: engine.clone(),
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
    let several = models.len() > 1;
    models
        .iter()
        .flat_map(|model| {
            model.endpoints.iter().map(move |endpoint| {
                let name = match several {
                    true => format!("{}_{}", model.name, endpoint.name),
                    false => endpoint.name.clone(),
                };
                Target {
                    name: tool_name(&name),
                    model: model.clone(),
                    endpoint: endpoint.clone(),
                }
            })
        })
        .collect()
}

/// A name as MCP tools may be named (letters, digits, `_` and `-`, at
/// most 64), the rest replaced by `_`, as Gradio does.
fn tool_name(name: &str) -> String {
    name.chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                true => c,
                false => '_',
            },
        )
        .take(64)
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
                "{what} ({}: a data URL, such as data:image/png;base64,…, or the file's bytes in base64)",
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
        let stream = self
            .engine
            .stream(
                &target.model.name,
                &route,
                &target.endpoint.name,
                vec![inputs(&target.endpoint, arguments)],
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
}

/// The arguments as the engine takes them. A media input may come as a
/// data URL (checked by the engine, as the API's) or as bare base64, as
/// agents often send files: that becomes the file its bytes are, typed by
/// their first bytes (what is neither stays text, and the engine's check
/// says what it expected).
fn inputs(endpoint: &Endpoint, arguments: Map<String, Value>) -> Inputs {
    let mut inputs = Inputs::default();
    for (name, value) in arguments {
        let media = endpoint
            .inputs
            .iter()
            .any(|field| field.name == name && field.kind.media().is_some());
        let file = match &value {
            Value::String(text) if media && !text.starts_with("data:") => {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .ok()
                    .and_then(|bytes| sniff(&bytes).map(|mime| Media::new(mime, bytes)))
            }
            _ => None,
        };
        match file {
            Some(file) => inputs.insert(name, Input::File(file)),
            None => inputs.insert(name, Input::Json(value)),
        }
    }
    inputs
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

/// The outputs as tool content: a lone text output as its text, anything
/// else as JSON, and always as structured content.
fn answer(endpoint: &Endpoint, outputs: Values) -> CallToolResult {
    let structured = serde_json::to_value(&outputs).unwrap_or(Value::Null);
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
