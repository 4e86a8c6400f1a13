//! Two WASM builds of this crate hydrate the pages: the full one
//! (`frontend`, `/pkg/wick.js`) and a light one (`frontend/light`,
//! `/pkg/wick_light.js`) without the chat, camera, microphone and
//! version-picker widgets (the `rich` feature). The server sends each page with the lighter build
//! when the page draws none of them, so a first visit to a text or number
//! demo loads less code. A client-side navigation to a page that needs the
//! full build loads that page afresh (`FullPage`).

use std::sync::atomic::{AtomicBool, Ordering};

use leptos::prelude::*;
#[cfg(feature = "ssr")]
use wick_types::ModelInfo;
use wick_types::{Endpoint, Kind};

/// The JS (and `_bg.wasm`) name of each build under `/pkg`.
#[cfg(feature = "ssr")]
pub const FULL: &str = "wick";
#[cfg(feature = "ssr")]
pub const LIGHT: &str = "wick_light";

/// Set once the first page has hydrated: from then on, pages are drawn by
/// the router's navigation rather than over the server's HTML.
static HYDRATED: AtomicBool = AtomicBool::new(false);

pub fn mark_hydrated() {
    HYDRATED.store(true, Ordering::Relaxed);
}

/// Whether `endpoint` takes a conversation, and so gets the chat demo.
pub fn is_chat(endpoint: &Endpoint) -> bool {
    endpoint
        .inputs
        .iter()
        .any(|field| matches!(field.kind, Kind::Chat { .. }))
}

/// Whether the demo of `model`'s `endpoint` draws a widget only the full
/// build has: the chat demo, a media input (file, camera, microphone), or
/// the picker of a model with several versions loaded.
#[cfg(feature = "ssr")]
pub fn needs_full(model: &ModelInfo, endpoint: &Endpoint) -> bool {
    model.versions.len() > 1
        || endpoint.inputs.iter().any(|field| {
            matches!(
                field.kind,
                Kind::Chat { .. } | Kind::Image { .. } | Kind::Audio { .. }
            )
        })
}

/// The build that hydrates the page at `path`, given the models served:
/// the routes of `App` (`/`, `/m/{model}/api`, `/m/{model}/{endpoint}`).
#[cfg(feature = "ssr")]
pub fn for_path<'a>(path: &str, mut models: impl Iterator<Item = &'a ModelInfo>) -> &'static str {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let page = match segments.as_slice() {
        [] => models
            .next()
            .and_then(|model| Some((model, model.endpoints.first()?))),
        ["m", _, "api"] => None,
        ["m", model, endpoint] => models
            .find(|m| m.name == *model)
            .and_then(|model| Some((model, model.endpoint(endpoint)?))),
        _ => None,
    };
    match page {
        Some((model, endpoint)) if needs_full(model, endpoint) => FULL,
        _ => LIGHT,
    }
}

/// The shell's options with the build this request's page needs.
#[cfg(feature = "ssr")]
pub fn options_for_this_page(mut options: LeptosOptions) -> LeptosOptions {
    let path = use_context::<http::request::Parts>().map(|parts| parts.uri.path().to_string());
    let engine = use_context::<std::sync::Arc<wick_engine::Engine>>();
    if let (Some(path), Some(engine)) = (path, engine) {
        options.output_name = for_path(&path, engine.models().iter()).into();
    }
    options
}

/// Stands in, in the light build, for a widget only the full build has.
/// Reached by a client-side navigation, it loads the page afresh, and the
/// server sends it with the full build. Over the server's HTML it would
/// mean the server picked the wrong build: it says so rather than reload
/// forever.
#[component]
pub fn FullPage() -> impl IntoView {
    let navigated = HYDRATED.load(Ordering::Relaxed);
    // The router's location, not the window's: the address bar may not
    // show the new page yet while its view is drawn.
    let location = leptos_router::hooks::use_location();
    Effect::new(move |_| {
        if navigated {
            let _ = window()
                .location()
                .assign(&location.pathname.get_untracked());
        }
    });
    view! {
        <p class="error" data-testid="full-page">
            {if navigated { "Loading…" } else { "This page's widgets did not load: reload the page." }}
        </p>
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use wick_types::Field;

    fn model(name: &str, endpoints: Vec<(&str, Kind)>) -> ModelInfo {
        ModelInfo {
            name: name.to_string(),
            version: "1".to_string(),
            versions: vec![],
            task: "toy".to_string(),
            title: String::new(),
            description: String::new(),
            article: String::new(),
            endpoints: endpoints
                .into_iter()
                .map(|(endpoint, kind)| Endpoint {
                    name: endpoint.to_string(),
                    description: String::new(),
                    inputs: vec![Field::new("x", kind)],
                    outputs: vec![],
                    streams: false,
                })
                .collect(),
            examples: vec![],
            flagging_options: vec![],
        }
    }

    #[test]
    fn pages_with_chat_or_media_get_the_full_build_and_the_rest_the_light_one() {
        let text = Kind::Text {
            lines: 1,
            placeholder: None,
            max_chars: None,
        };
        let models = [
            model("minilm", vec![("embed", text.clone())]),
            model(
                "vision",
                vec![("classify", Kind::Image { max_bytes: None })],
            ),
            model(
                "chat",
                vec![(
                    "chat",
                    Kind::Chat {
                        max_messages: None,
                        max_chars: None,
                    },
                )],
            ),
        ];
        let pick = |path| for_path(path, models.iter());
        assert_eq!(pick("/"), LIGHT);
        assert_eq!(pick("/m/minilm/embed"), LIGHT);
        assert_eq!(pick("/m/minilm/api"), LIGHT);
        assert_eq!(pick("/m/vision/classify"), FULL);
        assert_eq!(pick("/m/vision/api"), LIGHT);
        assert_eq!(pick("/m/chat/chat/"), FULL);
        assert_eq!(pick("/m/nothing/here"), LIGHT);
        let vision_first = [models[1].clone()];
        assert_eq!(for_path("/", vision_first.iter()), FULL);

        // A model with a canary beside it: its demos draw the version picker.
        let mut canary = models[0].clone();
        canary.versions = vec!["1".to_string(), "2".to_string()];
        assert_eq!(for_path("/m/minilm/embed", [canary.clone()].iter()), FULL);
        assert_eq!(for_path("/m/minilm/api", [canary].iter()), LIGHT);
    }
}
