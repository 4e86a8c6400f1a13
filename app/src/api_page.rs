//! `/m/{model}/api`: how to call each endpoint of a model from code, with
//! snippets that work as they are, and a link to the OpenAPI document;
//! `?tab=mcp`: the same endpoints as tools for agents (`mcp_tab`).

use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_params_map};

use crate::snippets::{Call, example_inputs};
use crate::{Tabs, with_site};

#[component]
pub fn ApiPage() -> impl IntoView {
    let params = use_params_map();
    let search = use_location().search;
    move || {
        let model = params.read().get("model").unwrap_or_default();
        // `?tab=mcp`, read from the raw query: Leptos' parsed query map
        // adds 450 bytes to the WASM for one flag.
        let mcp = search
            .read()
            .split(['?', '&'])
            .any(|pair| pair == "tab=mcp");
        with_site(move |site| {
            let Some(page) = site.models.iter().find(|p| p.info.name == model).cloned() else {
                return view! { <p class="error" data-testid="error">{format!("No model {model} is served here.")}</p> }.into_any();
            };
            let base = site.base_url.clone();
            let name = page.info.name.clone();
            let current = |on: bool| if on { "page" } else { "false" };
            let switch = view! {
                <nav class="tabs api-tabs" aria-label="How to call">
                    <a href=format!("/m/{name}/api") class="tab" aria-current=current(!mcp)>"REST and Gradio clients"</a>
                    <a href=format!("/m/{name}/api?tab=mcp") class="tab" aria-current=current(mcp) data-testid="mcp-tab">"MCP"</a>
                </nav>
            };
            if mcp {
                return view! {
                    <Tabs site=site.clone()/>
                    <section class="api">
                        <h1>{format!("Use {} from an agent (MCP)", page.info.title)}</h1>
                        {switch}
                        <div class="mcp-tab" inner_html=page.mcp_html.clone()></div>
                    </section>
                }
                .into_any();
            }
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
                    {switch}
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
