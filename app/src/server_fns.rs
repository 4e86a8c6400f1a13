//! Server functions: the UI's only way to the engine. They call the same
//! `Engine::predict` as the JSON API — there is no second prediction path.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};
use wick_types::{ErrorDetail, FlagRequest, ModelInfo};

/// Everything the pages draw: the models, and the address clients use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Site {
    pub models: Vec<ModelPage>,
    /// `http://host:port` as the browser reached this server.
    pub base_url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelPage {
    pub info: ModelInfo,
    /// The wick.toml article, rendered from markdown on the server with any
    /// raw HTML escaped.
    pub article_html: String,
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

/// The answer to the Flag button.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FlagOutcome {
    /// Committed to the store, under this id.
    Stored {
        id: String,
    },
    Refused(ErrorDetail),
}

#[server(prefix = "/_wick", endpoint = "site")]
pub async fn load_site() -> Result<Site, ServerFnError> {
    let engine = engine()?;
    let host = use_context::<http::request::Parts>()
        .and_then(|parts| {
            parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(String::from)
        })
        .unwrap_or_else(|| "localhost:7860".to_string());
    let models = engine
        .models()
        .cloned()
        .map(|info| ModelPage {
            article_html: markdown::to_safe_html(&info.article),
            info,
        })
        .collect();
    Ok(Site {
        models,
        base_url: format!("http://{host}"),
    })
}

#[server(prefix = "/_wick", endpoint = "predict", input = Json)]
pub async fn predict(
    model: String,
    endpoint: String,
    inputs: serde_json::Map<String, serde_json::Value>,
) -> Result<Outcome, ServerFnError> {
    let engine = engine()?;
    Ok(
        match engine.predict(&model, None, &endpoint, vec![inputs]).await {
            Ok(prediction) => Outcome::Done {
                outputs: prediction
                    .outputs
                    .into_iter()
                    .next()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(name, value)| (name, serde_json::to_value(value).unwrap_or_default()))
                    .collect(),
                version: prediction.version,
                duration_ms: prediction.duration.as_secs_f64() * 1000.0,
            },
            Err(error) => Outcome::Refused(refusal(error.code(), error.field(), &error)),
        },
    )
}

/// Stores a flag through the same check and store as the JSON API.
#[server(prefix = "/_wick", endpoint = "flag", input = Json)]
pub async fn flag(model: String, request: FlagRequest) -> Result<FlagOutcome, ServerFnError> {
    let engine = engine()?;
    let store = use_context::<std::sync::Arc<wick_feedback::Store>>()
        .ok_or_else(|| ServerFnError::new("the feedback store is not available to the UI"))?;
    let Some(info) = engine.model(&model) else {
        let error = wick_engine::Error::UnknownModel(model);
        return Ok(FlagOutcome::Refused(refusal(error.code(), None, &error)));
    };
    Ok(match store.record(info, request).await {
        Ok(stored) => FlagOutcome::Stored { id: stored.id },
        Err(error) => {
            if matches!(error, wick_feedback::FlagError::Store(_)) {
                leptos::logging::error!("{error}");
            }
            FlagOutcome::Refused(refusal(error.code(), error.field(), &error))
        }
    })
}

#[cfg(feature = "ssr")]
fn refusal(code: &str, field: Option<&str>, message: &dyn std::fmt::Display) -> ErrorDetail {
    ErrorDetail {
        code: code.to_string(),
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
