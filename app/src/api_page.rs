//! `/m/{model}/api`: how to call each endpoint of a model from code, with
//! snippets that work as they are, and a link to the OpenAPI document.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::snippets::{Call, example_inputs};
use crate::{Tabs, with_site};

#[component]
pub fn ApiPage() -> impl IntoView {
    let params = use_params_map();
    move || {
        let model = params.read().get("model").unwrap_or_default();
        with_site(move |site| {
            let Some(page) = site.models.iter().find(|p| p.info.name == model).cloned() else {
                return view! { <p class="error" data-testid="error">{format!("No model {model} is served here.")}</p> }.into_any();
            };
            let base = site.base_url.clone();
            let name = page.info.name.clone();
            let sections = page
                .info
                .endpoints
                .iter()
                .map(|endpoint| {
                    let call = Call::new(&base, &page.info, endpoint, &example_inputs(&page.info, endpoint));
                    let snippet = |language: &str, code: String| {
                        view! {
                            <figure class="snippet">
                                <figcaption>{language.to_string()}</figcaption>
                                <pre><code data-testid=format!("snippet-{}-{}", endpoint.name, language.to_lowercase())>{code}</code></pre>
                            </figure>
                        }
                    };
                    view! {
                        <section class="api-endpoint">
                            <h2><code>{format!("POST /api/models/{name}/{}", endpoint.name)}</code></h2>
                            <p>{endpoint.description.clone()}</p>
                            {snippet("curl", call.curl())}
                            {snippet("Python", call.python())}
                            {snippet("JavaScript", call.javascript())}
                            {snippet("gradio_client", call.gradio_client(&page.info.gradio_api_name(&endpoint.name, site.models.len())))}
                        </section>
                    }
                    .into_any()
                })
                .collect_view();
            view! {
                <Tabs site=site.clone()/>
                <section class="api">
                    <h1>{format!("Use {} via API", page.info.title)}</h1>
                    <p>
                        "Send "<code>"{\"inputs\": {...}}"</code>" (or a list of them) as JSON — images and audio as "
                        <code>"data:"</code>" URLs — or, for an endpoint with files, a "<code>"multipart/form-data"</code>
                        " form with a part per input. Errors come as "
                        <code>"{\"error\": {\"code\", \"message\", \"field\"}}"</code>". The full schema is in "
                        <a href="/openapi.json">"/openapi.json"</a>" (OpenAPI 3.1). Scripts written for a Gradio app work too: "
                        "Wick speaks Gradio's client protocol, so "<code>"gradio_client"</code>" and "<code>"@gradio/client"</code>
                        " connect to this server's address."
                    </p>
                    {sections}
                </section>
            }
            .into_any()
        })
    }
}
