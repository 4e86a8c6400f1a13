//! Wick's web UI: the page shell, the router, and pages drawn from the
//! models' signatures — a demo per endpoint and a "use via API" page per
//! model.
//!
//! Compiled three times: with `ssr` inside the `wick` binary (server
//! functions reach the engine through Leptos context), and with `hydrate`
//! to wasm32, where it knows only the serde types of `wick-types`: once
//! with the chat, camera, microphone and version-picker widgets (`rich`)
//! and once without, a lighter first load for the pages that draw none
//! (`bundle.rs`).

#[cfg(feature = "ssr")]
pub mod admin;
mod api_page;
pub mod bundle;
#[cfg(feature = "rich")]
mod chat;
mod demo;
#[cfg(feature = "rich")]
mod devices;
mod files;
mod flag;
mod inputs;
#[cfg(feature = "ssr")]
mod mcp_tab;
#[cfg(feature = "rich")]
mod media_input;
#[cfg(feature = "rich")]
mod microphone;
mod outputs;
#[cfg(feature = "ssr")]
pub mod proxy;
mod server_fns;
pub mod snippets;
mod stream_reader;
mod version_picker;
#[cfg(all(test, feature = "ssr"))]
mod widgets_tests;

use leptos::prelude::*;
use leptos_meta::{Link, MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::{ParamSegment, SsrMode, StaticSegment};

pub use server_fns::*;

/// The HTML document around the app, rendered on the server, with the
/// WASM build its page needs.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    let options = bundle::options_for_this_page(options);
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

/// The site data every page draws from, loaded once per page view.
pub type SiteResource = Resource<Result<Site, ServerFnError>>;

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let site: SiteResource = Resource::new(|| (), |_| load_site());
    provide_context(site);
    // Async rendering: the whole page, model data included, is in the first
    // HTML response, so it reads (form, examples) before any WASM runs.
    view! {
        <Stylesheet id="wick" href="/pkg/wick.css"/>
        <Link rel="icon" href="/favicon.svg"/>
        <Title text="Wick"/>
        <Router>
            <Header/>
            <main>
                <Routes fallback=|| view! { <p class="error">"Page not found."</p> }>
                    <Route path=StaticSegment("") view=demo::HomePage ssr=SsrMode::Async/>
                    <Route
                        path=(StaticSegment("m"), ParamSegment("model"), StaticSegment("api"))
                        view=api_page::ApiPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("m"), ParamSegment("model"), ParamSegment("endpoint"))
                        view=demo::DemoPage
                        ssr=SsrMode::Async
                    />
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn Header() -> impl IntoView {
    // Effects run only in the browser: this marker proves hydration ran.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| {
        hydrated.set(true);
        bundle::mark_hydrated();
    });
    view! {
        <header class="top">
            <A href="/" attr:class="brand">"Wick"</A>
            <span class="status" data-testid="hydrated" data-hydrated=move || hydrated.get().to_string()>
                {move || if hydrated.get() { "" } else { "loading…" }}
            </span>
            <span class="spacer"></span>
            <a href="/openapi.json" class="quiet">"OpenAPI"</a>
            <ThemeToggle/>
        </header>
    }
}

/// Light and dark follow `prefers-color-scheme` until the person picks one.
#[component]
fn ThemeToggle() -> impl IntoView {
    let toggle = move |_| {
        let Some(root) = document().document_element() else {
            return;
        };
        let dark_now = match root.get_attribute("data-theme").as_deref() {
            Some("dark") => true,
            Some(_) => false,
            None => window()
                .match_media("(prefers-color-scheme: dark)")
                .ok()
                .flatten()
                .is_some_and(|query| query.matches()),
        };
        let _ = root.set_attribute("data-theme", if dark_now { "light" } else { "dark" });
    };
    view! {
        <button type="button" class="quiet" data-testid="theme" on:click=toggle aria-label="Switch between light and dark theme">
            "◐ Theme"
        </button>
    }
}

/// Models and their endpoints as tabs; each tab is a deep link, and the
/// router marks the current one with aria-current.
#[component]
fn Tabs(site: Site) -> impl IntoView {
    site.models
        .into_iter()
        .map(|page| {
            let name = page.info.name.clone();
            let tabs = page
                .info
                .endpoints
                .clone()
                .into_iter()
                .map(|endpoint| {
                    view! {
                        <A href=format!("/m/{name}/{}", endpoint.name) attr:class="tab">
                            {endpoint.name.clone()}
                        </A>
                    }
                    .into_any()
                })
                .collect_view();
            view! {
                <nav class="tabs" aria-label=format!("{} endpoints", page.info.title)>
                    <span class="tab-model">{page.info.title.clone()}</span>
                    {tabs}
                    <A href=format!("/m/{name}/api") attr:class="tab api">
                        "Use via API"
                    </A>
                </nav>
            }
            .into_any()
        })
        .collect_view()
}

/// Renders `page` once the site data is loaded, or the error that stopped it.
fn with_site<V: IntoView + 'static>(
    page: impl Fn(Site) -> V + Send + Sync + Clone + 'static,
) -> impl IntoView {
    let site = expect_context::<SiteResource>();
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                let page = page.clone();
                Suspend::new(async move {
                match site.await {
                    Ok(site) => page(site).into_any(),
                    Err(error) => view! { <p class="error" data-testid="error">{error.to_string()}</p> }.into_any(),
                }
                })
            }}
        </Suspense>
    }
}
