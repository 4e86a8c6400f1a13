//! Wick's web UI: the page shell, the router, and the pages drawn from the
//! models' signatures.
//!
//! Compiled twice: with `ssr` inside the `wick` binary (server functions
//! reach the engine through Leptos context), and with `hydrate` to wasm32,
//! where it knows only the serde types of `wick-types`.

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, StaticSegment};
use wick_types::{Endpoint, Field, ModelInfo};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="wick" href="/pkg/wick.css"/>
        <Title text="Wick"/>
        <Router>
            <Routes fallback=|| view! { <p class="error">"Page not found."</p> }>
                // Async: the whole page, data included, is in the first HTML
                // response, so it reads without JavaScript.
                <Route path=StaticSegment("") view=HomePage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}

/// The models this server serves, with their signatures.
#[server(prefix = "/_wick", endpoint = "models")]
pub async fn list_models() -> Result<Vec<ModelInfo>, ServerFnError> {
    let engine = use_context::<std::sync::Arc<wick_engine::Engine>>()
        .ok_or_else(|| ServerFnError::new("the engine is not available to the UI"))?;
    Ok(engine.models())
}

#[component]
fn HomePage() -> impl IntoView {
    let models = Resource::new(|| (), |_| list_models());
    // Effects run only in the browser: this marker proves hydration ran.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <header class="top">
            <h1>"Wick"</h1>
            <span class="status" data-testid="hydrated" data-hydrated=move || hydrated.get().to_string()>
                {move || if hydrated.get() { "interactive" } else { "loading…" }}
            </span>
        </header>
        <main>
            <Suspense fallback=|| view! { <p>"Loading models…"</p> }>
                {move || Suspend::new(async move {
                    match models.await {
                        Ok(list) => view! { <ModelList models=list/> }.into_any(),
                        Err(error) => view! { <p class="error" data-testid="error">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn ModelList(models: Vec<ModelInfo>) -> impl IntoView {
    models
        .into_iter()
        .map(|model| {
            view! {
                <section class="model" data-testid=format!("model-{}", model.name)>
                    <h2>{model.title.clone()}</h2>
                    <p class="meta">{format!("{} {} · {}", model.name, model.version, model.task)}</p>
                    <p>{model.description.clone()}</p>
                    {model.endpoints.into_iter().map(|endpoint| view! { <EndpointCard endpoint/> }).collect_view()}
                </section>
            }
            .into_any()
        })
        .collect_view()
}

#[component]
fn EndpointCard(endpoint: Endpoint) -> impl IntoView {
    let fields = |fields: Vec<Field>| {
        fields
            .into_iter()
            .map(|field| {
                let kind = serde_kind(&field);
                view! { <li><strong>{field.label}</strong>" "<code>{field.name}</code>" — "{kind}</li> }.into_any()
            })
            .collect_view()
    };
    view! {
        <article class="endpoint">
            <h3>{endpoint.name.clone()}</h3>
            <p>{endpoint.description.clone()}</p>
            <div class="columns">
                <div><h4>"Inputs"</h4><ul>{fields(endpoint.inputs)}</ul></div>
                <div><h4>"Outputs"</h4><ul>{fields(endpoint.outputs)}</ul></div>
            </div>
        </article>
    }
    .into_any()
}

/// The kind's tag as the API documents it ("text", "tags", "embedding"...).
fn serde_kind(field: &Field) -> String {
    serde_json::to_value(&field.kind)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(String::from))
        .unwrap_or_default()
}
