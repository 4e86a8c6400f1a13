//! The demo of one endpoint, as Gradio's Interface lays it out: inputs on
//! the left, outputs on the right, examples below. Submit (or Ctrl/Cmd+Enter)
//! checks the inputs against the signature in the browser first, so an
//! empty required input is pointed out and nothing is sent; outputs show
//! as the task streams them.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use wick_types::{Endpoint, Field, Kind, validate_inputs};

use crate::bundle::is_chat;
use crate::files::fetch_data_url;

use crate::flag::{FlagBar, Flagged};
use crate::inputs::{initial_value, input_widgets};
use crate::outputs::OutputView;
use crate::server_fns::{JsonObject, ModelPage, Outcome};
use crate::stream_reader::{accumulate, stream_prediction};
use crate::version_picker::VersionPicker;
use crate::{Tabs, with_site};

/// `/`: the first endpoint of the first model.
#[component]
pub fn HomePage() -> impl IntoView {
    with_site(|site| match site.models.first().cloned() {
        Some(page) => {
            let endpoint = page.info.endpoints.first().cloned();
            view! {
                <Tabs site=site.clone()/>
                {endpoint.map(|endpoint| view! { <Demo page endpoint/> })}
            }
            .into_any()
        }
        None => view! { <p>"No model is loaded."</p> }.into_any(),
    })
}

/// `/m/{model}/{endpoint}`.
#[component]
pub fn DemoPage() -> impl IntoView {
    let params = use_params_map();
    move || {
        let model = params.read().get("model").unwrap_or_default();
        let endpoint = params.read().get("endpoint").unwrap_or_default();
        with_site(move |site| {
            let found = site
                .models
                .iter()
                .find(|p| p.info.name == model)
                .cloned()
                .and_then(|page| {
                    let endpoint = page.info.endpoint(&endpoint).cloned()?;
                    Some((page, endpoint))
                });
            match found {
                Some((page, endpoint_info)) => view! {
                    <Tabs site=site.clone()/>
                    <Demo page endpoint=endpoint_info/>
                }
                .into_any(),
                None => view! {
                    <Tabs site=site.clone()/>
                    <p class="error" data-testid="error">{format!("No endpoint {model}/{endpoint} is served here.")}</p>
                }
                .into_any(),
            }
        })
    }
}

/// What the outputs panel shows.
#[derive(Clone, Debug, PartialEq)]
enum Shown {
    Nothing,
    /// A run in progress: its outputs so far.
    Partial(JsonObject),
    Result {
        inputs: JsonObject,
        outputs: JsonObject,
        version: String,
        duration_ms: f64,
    },
}

#[component]
fn Demo(page: ModelPage, endpoint: Endpoint) -> impl IntoView {
    if is_chat(&endpoint) {
        #[cfg(feature = "rich")]
        return view! { <crate::chat::ChatDemo page endpoint/> }.into_any();
        #[cfg(not(feature = "rich"))]
        return view! { <crate::bundle::FullPage/> }.into_any();
    }
    let model_name = StoredValue::new(page.info.name.clone());
    let endpoint_name = StoredValue::new(endpoint.name.clone());
    let fields = StoredValue::new(endpoint.inputs.clone());
    let values: Vec<RwSignal<serde_json::Value>> = endpoint
        .inputs
        .iter()
        .map(|field| RwSignal::new(initial_value(field)))
        .collect();
    let values = StoredValue::new(values);
    let error = RwSignal::new(None::<(Option<String>, String)>);
    let shown = RwSignal::new(Shown::Nothing);
    let picked = RwSignal::new(None::<String>);

    // Every run streams: outputs show as the task emits them (a
    // transcript window by window), then the whole result. The inputs
    // travel with the result, so a flag names exactly what ran.
    let busy = RwSignal::new(false);
    let run = move |inputs: JsonObject| {
        busy.set(true);
        shown.set(Shown::Partial(JsonObject::new()));
        let (model, endpoint) = (model_name.get_value(), endpoint_name.get_value());
        leptos::task::spawn_local(async move {
            let outcome = stream_prediction(
                model,
                endpoint,
                inputs.clone(),
                picked.get_untracked(),
                |partial| {
                    shown.update(|shown| {
                        if let Shown::Partial(so_far) = shown {
                            accumulate(so_far, partial);
                        }
                    })
                },
            )
            .await;
            busy.set(false);
            match outcome {
                Ok(Outcome::Done {
                    outputs,
                    version,
                    duration_ms,
                }) => {
                    error.set(None);
                    shown.set(Shown::Result {
                        inputs,
                        outputs,
                        version,
                        duration_ms,
                    });
                }
                Ok(Outcome::Refused(detail)) => {
                    shown.set(Shown::Nothing);
                    error.set(Some((detail.field, detail.message)));
                }
                Err(message) => {
                    shown.set(Shown::Nothing);
                    error.set(Some((None, message)));
                }
            }
        });
    };

    let submit = move || {
        if busy.get_untracked() {
            return;
        }
        let inputs = collect_inputs(&fields.read_value(), &values.read_value());
        if let Err(field_error) = validate_inputs(&fields.read_value(), &inputs) {
            let label = fields
                .read_value()
                .iter()
                .find(|f| f.name == field_error.field)
                .map_or(field_error.field.clone(), |f| f.label.clone());
            error.set(Some((
                Some(field_error.field),
                format!("{label} {}.", field_error.message),
            )));
            return;
        }
        error.set(None);
        run(inputs);
    };
    // Sets every input from `source`, or back to its initial value.
    let fill = move |source: Option<&JsonObject>| {
        for (field, value) in fields.read_value().iter().zip(values.read_value().iter()) {
            let given = source.and_then(|inputs| inputs.get(&field.name)).cloned();
            value.set(given.unwrap_or_else(|| initial_value(field)));
        }
    };
    let clear = move |_| {
        fill(None);
        error.set(None);
        shown.set(Shown::Nothing);
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
            ev.prevent_default();
            submit();
        }
    };

    let widgets = input_widgets(
        endpoint.inputs.clone(),
        &values.read_value(),
        error,
        &endpoint_name.get_value(),
    );

    let examples = page
        .info
        .examples
        .iter()
        .filter(|e| e.endpoint == endpoint.name)
        .map(|e| e.inputs.clone())
        .collect::<Vec<_>>();
    let has_examples = !examples.is_empty();
    let example_rows = examples
        .into_iter()
        .enumerate()
        .map(|(row, inputs)| {
            let model = model_name.get_value();
            let cells = endpoint
                .inputs
                .iter()
                .map(|field| {
                    let value = inputs.get(&field.name);
                    view! { <td>{example_cell(&model, field, value)}</td> }.into_any()
                })
                .collect_view();
            // An example's image is a file of the bundle: fetched, then sent
            // as any chosen file is.
            let fill_and_run = move || {
                let inputs = inputs.clone();
                let files: Vec<(String, String)> = fields
                    .read_value()
                    .iter()
                    .filter(|field| field.kind.media().is_some())
                    .filter_map(|field| {
                        let path = inputs.get(&field.name)?.as_str()?;
                        Some((field.name.clone(), file_url(&model_name.get_value(), path)))
                    })
                    .collect();
                if files.is_empty() {
                    fill(Some(&inputs));
                    submit();
                    return;
                }
                leptos::task::spawn_local(async move {
                    let mut inputs = inputs;
                    for (name, url) in files {
                        match fetch_data_url(&url).await {
                            Ok(data) => {
                                inputs.insert(name, serde_json::Value::String(data));
                            }
                            Err(message) => {
                                error.set(Some((Some(name), message)));
                                return;
                            }
                        }
                    }
                    fill(Some(&inputs));
                    submit();
                });
            };
            let fill_on_click = fill_and_run.clone();
            view! {
                <tr
                    data-testid=format!("example-{row}")
                    tabindex="0"
                    title="Fill the inputs with this example and run it"
                    on:click=move |_| fill_on_click()
                    on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                        if ev.key() == "Enter" || ev.key() == " " {
                            ev.prevent_default();
                            fill_and_run();
                        }
                    }
                >
                    {cells}
                </tr>
            }
            .into_any()
        })
        .collect_view();
    let headers = endpoint
        .inputs
        .iter()
        .map(|field| view! { <th scope="col">{field.label.clone()}</th> }.into_any())
        .collect_view();
    let output_fields = StoredValue::new(endpoint.outputs.clone());
    let flagging_options = StoredValue::new(page.info.flagging_options.clone());

    view! {
        <section class="demo">
            <div class="intro">
                <h1>{page.info.title.clone()}</h1>
                <p class="description">{page.info.description.clone()}</p>
                <p class="endpoint-description">
                    <code>{endpoint.name.clone()}</code>" — "{endpoint.description.clone()}
                </p>
                <VersionPicker versions=page.info.versions.clone() picked/>
            </div>
            <div class="panels">
                <form
                    class="panel inputs"
                    on:submit=move |ev| {
                        ev.prevent_default();
                        submit();
                    }
                    on:keydown=on_keydown
                    novalidate=true
                >
                    {widgets}
                    {move || {
                        error
                            .get()
                            .map(|(_, message)| view! { <p class="error" role="alert" data-testid="error">{message}</p> })
                    }}
                    <div class="buttons">
                        <button type="button" class="secondary" data-testid="clear" on:click=clear>"Clear"</button>
                        <button
                            type="submit"
                            class="primary"
                            data-testid="submit"
                            disabled=move || busy.get()
                            title="Submit (Ctrl/Cmd+Enter)"
                        >
                            {move || if busy.get() { "Running…" } else { "Submit" }}
                        </button>
                    </div>
                </form>
                <div class="panel outputs" aria-live="polite" aria-busy=move || busy.get().to_string() class:busy=move || busy.get()>
                    {move || {
                        let shown = shown.get();
                        output_fields
                            .read_value()
                            .iter()
                            .map(|field| {
                                let value = match &shown {
                                    Shown::Result { outputs, .. } | Shown::Partial(outputs) => {
                                        outputs.get(&field.name).cloned()
                                    }
                                    Shown::Nothing => None,
                                };
                                view! { <OutputView field=field.clone() value/> }.into_any()
                            })
                            .collect_view()
                    }}
                    {move || match shown.get() {
                        Shown::Result { inputs, outputs, version, duration_ms } => Some(view! {
                            <p class="meta" data-testid="result-meta">
                                {format!("{} {} · {:.1} ms", model_name.get_value(), version, duration_ms)}
                            </p>
                            <FlagBar
                                flagged=Flagged {
                                    model: model_name.get_value(),
                                    version,
                                    endpoint: endpoint_name.get_value(),
                                    inputs,
                                    outputs,
                                    duration_ms,
                                }
                                options=flagging_options.get_value()
                            />
                        }
                        .into_any()),
                        Shown::Nothing | Shown::Partial(_) => None,
                    }}
                </div>
            </div>
            {has_examples.then(|| view! {
                <div class="examples">
                    <h2>"Examples"</h2>
                    <table>
                        <thead><tr>{headers}</tr></thead>
                        <tbody>{example_rows}</tbody>
                    </table>
                </div>
            })}
            <article class="article" inner_html=page.article_html.clone()></article>
        </section>
    }
    .into_any()
}

/// The inputs to send: an empty required text counts as missing, so the
/// person is told to fill it in rather than embedding nothing.
fn collect_inputs(fields: &[Field], values: &[RwSignal<serde_json::Value>]) -> JsonObject {
    fields
        .iter()
        .zip(values)
        .filter_map(|(field, value)| {
            let value = value.get_untracked();
            let empty = match (&field.kind, &value) {
                (_, serde_json::Value::Null) => true,
                (
                    Kind::Text { .. }
                    | Kind::Dropdown { .. }
                    | Kind::Radio { .. }
                    | Kind::Image { .. }
                    | Kind::Audio { .. },
                    serde_json::Value::String(s),
                ) => s.trim().is_empty() && field.required,
                (Kind::Tags { .. }, serde_json::Value::Array(items)) => {
                    items.is_empty() && field.required
                }
                _ => false,
            };
            (!empty).then(|| (field.name.clone(), value))
        })
        .collect()
}

/// Where the server serves a file of the bundle that an example names.
fn file_url(model: &str, path: &str) -> String {
    format!("/api/models/{model}/files/{path}")
}

/// A cell of the examples table: a thumbnail for an image, else the text.
fn example_cell(model: &str, field: &Field, value: Option<&serde_json::Value>) -> AnyView {
    match (field.kind.media(), value.and_then(|v| v.as_str())) {
        (Some((wick_types::MediaKind::Image, _)), Some(path)) => view! {
            <img class="thumb" src=file_url(model, path) alt=path.to_string() loading="lazy"/>
        }
        .into_any(),
        _ => example_text(value).into_any(),
    }
}

fn example_text(value: Option<&serde_json::Value>) -> String {
    match value {
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| item.to_string())
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}
