//! Server functions: the UI's only way to the engine. They call the same
//! `Engine::stream` as the JSON API, and flags go
//! through the same `Store::record` — there is no second path.

use leptos::prelude::*;
use leptos::server_fn::codec::{Json, StreamingText, TextStream};
use serde::{Deserialize, Serialize};
use wick_types::{ErrorDetail, ModelInfo};

pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// Everything the pages draw: the models, and the address clients use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Site {
    pub models: Vec<ModelPage>,
    /// `http://host:port` as the browser reached this server.
    pub base_url: String,
}

/// Which doors this server opens, for the API page; the server puts it
/// in the pages' context.
#[derive(Clone, Copy, Debug, Default)]
pub struct Doors {
    /// The MCP routes are served (not `--no-mcp`).
    pub mcp: bool,
    /// The API wants a bearer token (`--auth`, `--auth-token`).
    pub token: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelPage {
    pub info: ModelInfo,
    /// The wick.toml article, rendered from markdown on the server with any
    /// raw HTML escaped.
    pub article_html: String,
    /// The API page's MCP tab, made on the server (`mcp_tab`).
    pub mcp_html: String,
}

/// The answer to one prediction from the form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Done {
        outputs: serde_json::Map<String, serde_json::Value>,
        version: String,
        duration_ms: f64,
    },
    /// Refused or failed, with the same code, message and field as the API.
    Refused(ErrorDetail),
}

/// One line of `predict_stream`'s answer: newline-delimited JSON, since a
/// text stream's chunks need not match the server's writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamLine {
    /// A partial output, as the task emitted it.
    Partial { outputs: JsonObject },
    /// The final outcome; nothing follows.
    End(Outcome),
}

/// The answer to the Flag button.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FlagOutcome {
    /// Committed to the store, under this id.
    Stored {
        id: String,
    },
    Refused(ErrorDetail),
}

/// The address the API page's snippets call (`wick serve --public-url`).
#[derive(Clone, Debug)]
pub struct PublicUrl(pub String);

#[server(prefix = "/_wick", endpoint = "site")]
pub async fn load_site() -> Result<Site, ServerFnError> {
    let engine = engine()?;
    // The configured address first; else the one the browser used, from
    // headers checked to be a plain host (never echoed as sent).
    let public_url = use_context::<PublicUrl>().map(|url| url.0);
    let base_url = use_context::<http::request::Parts>()
        .map(|parts| crate::proxy::base_url(&parts.headers, public_url.as_deref()))
        .or(public_url)
        .unwrap_or_else(|| "http://localhost:7860".to_string());
    // With feedback off (`--no-feedback`), no page offers to flag.
    let feedback_off =
        use_context::<std::sync::Arc<wick_feedback::Store>>().is_some_and(|store| store.is_off());
    let doors = use_context::<Doors>().unwrap_or_default();
    let mcp = doors
        .mcp
        .then(|| crate::mcp_tab::McpSetup::new(&base_url, doors.token));
    let infos = engine.models();
    let served = infos.len();
    let models = infos
        .into_iter()
        .map(|mut info| {
            if feedback_off {
                info.flagging_options.clear();
            }
            ModelPage {
                article_html: markdown::to_safe_html(&info.article),
                mcp_html: crate::mcp_tab::tab_html(&info, served, &base_url, mcp.as_ref()),
                info,
            }
        })
        .collect();
    Ok(Site { models, base_url })
}

/// Runs an endpoint for the demos: the partial outputs as they come, then
/// the outcome, one `StreamLine` per line (a task that does not stream
/// sends only the outcome). Closing the response cancels the request on
/// the server.
#[server(prefix = "/_wick", endpoint = "predict_stream", input = Json, output = StreamingText)]
pub async fn predict_stream(
    model: String,
    endpoint: String,
    inputs: JsonObject,
    version: Option<String>,
) -> Result<TextStream, ServerFnError> {
    use futures::StreamExt;
    use wick_engine::Update;

    let engine = engine()?;
    let route = route(version);
    let lines = match engine.stream(&model, &route, &endpoint, vec![inputs]).await {
        Ok(stream) => stream
            .updates()
            .map(|update| match update {
                Ok(Update::Partial { outputs, .. }) => StreamLine::Partial {
                    outputs: to_json(outputs),
                },
                Ok(Update::Finished(prediction)) => StreamLine::End(outcome(Ok(prediction))),
                Err(error) => StreamLine::End(outcome(Err(error))),
            })
            .left_stream(),
        Err(error) => futures::stream::iter([StreamLine::End(outcome(Err(error)))]).right_stream(),
    }
    .map(|line| {
        let mut text = serde_json::to_string(&line).unwrap_or_default();
        text.push('\n');
        Ok(text)
    });
    Ok(TextStream::new(lines.boxed()))
}

/// Stores a flag through the same check and store as the JSON API: the
/// body is the JSON object the API takes.
#[server(prefix = "/_wick", endpoint = "flag", input = Json)]
pub async fn flag(model: String, request: JsonObject) -> Result<FlagOutcome, ServerFnError> {
    let engine = engine()?;
    let store = use_context::<std::sync::Arc<wick_feedback::Store>>()
        .ok_or_else(|| ServerFnError::new("the feedback store is not available to the UI"))?;
    let Some(info) = engine.model(&model) else {
        let error = wick_engine::Error::UnknownModel(model);
        return Ok(FlagOutcome::Refused(refusal(error.code(), None, &error)));
    };
    // The address the connection came from, as the API's flags are
    // limited by (`Store::record` limits both the same way).
    let from = use_context::<http::request::Parts>().and_then(|parts| {
        parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip())
    });
    Ok(match store.record(&info, request, from).await {
        Ok(stored) => FlagOutcome::Stored { id: stored.id },
        Err(error) => {
            if matches!(error, wick_feedback::FlagError::Store(_)) {
                leptos::logging::error!("{error}");
            }
            FlagOutcome::Refused(refusal(error.code(), error.field(), &error))
        }
    })
}

/// The version a reviewer picked, if any, and who is asking (the server
/// names the client in the request's extensions: its `wick_client`
/// cookie), so that one person keeps seeing one version.
#[cfg(feature = "ssr")]
fn route(version: Option<String>) -> wick_engine::Route {
    let client = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<wick_engine::ClientId>().cloned());
    wick_engine::Route {
        version: version.filter(|v| !v.is_empty()),
        client: client.map(|c| c.0),
    }
}

#[cfg(feature = "ssr")]
fn outcome(answered: wick_engine::Result<wick_engine::Prediction>) -> Outcome {
    match answered {
        Ok(prediction) => Outcome::Done {
            outputs: to_json(prediction.outputs.into_iter().next().unwrap_or_default()),
            version: prediction.version,
            duration_ms: prediction.duration.as_secs_f64() * 1000.0,
        },
        Err(error) => Outcome::Refused(refusal(error.code(), error.field(), &error)),
    }
}

#[cfg(feature = "ssr")]
fn to_json(values: wick_types::Values) -> JsonObject {
    values
        .into_iter()
        .map(|(name, value)| (name, serde_json::to_value(value).unwrap_or_default()))
        .collect()
}

#[cfg(feature = "ssr")]
fn refusal(
    code: wick_types::ErrorCode,
    field: Option<&str>,
    message: &dyn std::fmt::Display,
) -> ErrorDetail {
    ErrorDetail {
        code: code.as_str().to_string(),
        field: field.map(String::from),
        message: message.to_string(),
    }
}

#[cfg(feature = "ssr")]
fn engine() -> Result<std::sync::Arc<wick_engine::Engine>, ServerFnError> {
    use_context::<std::sync::Arc<wick_engine::Engine>>()
        .ok_or_else(|| ServerFnError::new("the engine is not available to the UI"))
}

#[cfg(feature = "ssr")]
mod markdown {
    use pulldown_cmark::{Event, Parser, html};

    /// Markdown to HTML; raw HTML in the source is shown as text, never
    /// injected into the page.
    pub fn to_safe_html(source: &str) -> String {
        let events = Parser::new(source).map(|event| match event {
            Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
            other => other,
        });
        let mut out = String::new();
        html::push_html(&mut out, events);
        out
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn raw_html_is_escaped_and_markdown_rendered() {
            let html =
                super::to_safe_html("**bold** <script>alert(1)</script> [link](https://x.y)");
            assert!(html.contains("<strong>bold</strong>"), "{html}");
            assert!(html.contains("&lt;script&gt;"), "{html}");
            assert!(!html.contains("<script>"), "{html}");
            assert!(html.contains("<a href=\"https://x.y\">link</a>"), "{html}");
        }
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use crate::proxy::base_url;

    fn public_base_url(headers: &http::HeaderMap) -> String {
        base_url(headers, None)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    http::HeaderName::from_static(name),
                    http::HeaderValue::from_str(value).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn snippets_use_the_scheme_and_host_the_browser_used() {
        assert_eq!(
            public_base_url(&headers(&[("host", "127.0.0.1:7860")])),
            "http://127.0.0.1:7860"
        );
        assert_eq!(
            public_base_url(&headers(&[
                ("host", "10.0.0.5:7860"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "me-demo.hf.space")
            ])),
            "https://me-demo.hf.space"
        );
        assert_eq!(
            public_base_url(&headers(&[
                ("host", "10.0.0.5:7860"),
                (
                    "forwarded",
                    "for=1.2.3.4;proto=https;host=\"demo.example.org\""
                )
            ])),
            "https://demo.example.org"
        );
        // Nothing odd is echoed into the page.
        assert_eq!(
            public_base_url(&headers(&[
                ("host", "a\"><script>"),
                ("x-forwarded-proto", "javascript")
            ])),
            "http://localhost:7860"
        );
    }
}
