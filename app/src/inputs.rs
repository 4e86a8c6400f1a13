//! One input widget per signature kind. Each widget keeps its value as the
//! JSON the API takes, so submitting is just collecting the values.

use leptos::prelude::*;
use wick_types::{Field, Kind};

#[cfg(feature = "rich")]
use crate::media_input::MediaInput;
#[cfg(feature = "rich")]
use wick_types::MediaKind;

/// The value a widget starts with (and returns to on Clear).
pub fn initial_value(field: &Field) -> serde_json::Value {
    if let Some(default) = &field.default {
        return serde_json::to_value(default).unwrap_or_default();
    }
    match &field.kind {
        Kind::Checkbox => serde_json::Value::Bool(false),
        Kind::Slider { min, .. } => serde_json::json!(min),
        Kind::Tags { .. } | Kind::Chat { .. } => serde_json::Value::Array(Vec::new()),
        Kind::Number { .. } | Kind::Json => serde_json::Value::Null,
        _ => serde_json::Value::String(String::new()),
    }
}

/// A widget per field, each bound to its value and marked invalid while
/// `error` names its field (the demo's inputs, the chat's parameters).
pub fn input_widgets(
    fields: Vec<Field>,
    values: &[RwSignal<serde_json::Value>],
    error: RwSignal<Option<(Option<String>, String)>>,
    endpoint: &str,
) -> AnyView {
    fields
        .into_iter()
        .zip(values.iter().copied())
        .map(|(field, value)| {
            let name = field.name.clone();
            let invalid =
                Signal::derive(move || error.get().and_then(|(f, _)| f).is_some_and(|f| f == name));
            view! { <InputWidget field value invalid endpoint=endpoint.to_string()/> }
        })
        .collect_view()
        .into_any()
}

#[component]
pub fn InputWidget(
    field: Field,
    value: RwSignal<serde_json::Value>,
    #[prop(into)] invalid: Signal<bool>,
    endpoint: String,
) -> impl IntoView {
    let id = format!("input-{endpoint}-{}", field.name);
    let testid = format!("input-{}", field.name);
    let text = move || match value.get() {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let set_text = move |ev| value.set(serde_json::Value::String(event_target_value(&ev)));
    let required = field.required;
    let label = view! {
        <label for=id.clone()>
            {field.label.clone()}
            {required.then(|| view! { <span class="required" aria-hidden="true">" *"</span> })}
        </label>
    };
    let description = (!field.description.is_empty())
        .then(|| view! { <p class="hint">{field.description.clone()}</p> });
    let aria_invalid = move || invalid.get().then_some("true");

    let widget = match field.kind.clone() {
        Kind::Text { lines, placeholder, max_chars } => {
            let max = max_chars.map(|m| m.to_string());
            if lines > 1 {
                view! {
                    <textarea id=id.clone() data-testid=testid rows=lines.to_string() placeholder=placeholder
                        maxlength=max required=required aria-invalid=aria_invalid
                        prop:value=text on:input=set_text></textarea>
                }
                .into_any()
            } else {
                view! {
                    <input type="text" id=id.clone() data-testid=testid placeholder=placeholder maxlength=max
                        required=required aria-invalid=aria_invalid prop:value=text on:input=set_text/>
                }
                .into_any()
            }
        }
        Kind::Number { min, max, step } => view! {
            <input type="number" id=id.clone() data-testid=testid min=min.map(|m| m.to_string()) max=max.map(|m| m.to_string())
                step=step.map(|s| s.to_string()).unwrap_or_else(|| "any".into()) required=required aria-invalid=aria_invalid
                prop:value=text
                on:input=move |ev| value.set(parse_number(&event_target_value(&ev)))/>
        }
        .into_any(),
        Kind::Slider { min, max, step } => view! {
            <div class="slider">
                <input type="range" id=id.clone() data-testid=testid min=min.to_string() max=max.to_string() step=step.to_string()
                    aria-invalid=aria_invalid prop:value=text
                    on:input=move |ev| value.set(parse_number(&event_target_value(&ev)))/>
                <output for=id.clone()>{text}</output>
            </div>
        }
        .into_any(),
        Kind::Checkbox => view! {
            <input type="checkbox" id=id.clone() data-testid=testid aria-invalid=aria_invalid
                prop:checked=move || value.get().as_bool().unwrap_or(false)
                on:change=move |ev| value.set(serde_json::Value::Bool(event_target_checked(&ev)))/>
        }
        .into_any(),
        Kind::Dropdown { choices } => view! {
            <select id=id.clone() data-testid=testid required=required aria-invalid=aria_invalid prop:value=text on:change=set_text>
                <option value="">"Choose…"</option>
                {choices.into_iter().map(|c| view! { <option value=c.clone()>{c.clone()}</option> }).collect_view()}
            </select>
        }
        .into_any(),
        Kind::Radio { choices } => {
            let group = id.clone();
            view! {
                <div role="radiogroup" id=id.clone() data-testid=testid aria-invalid=aria_invalid class="radios">
                    {choices
                        .into_iter()
                        .map(|choice| {
                            let checked = choice.clone();
                            let picked = choice.clone();
                            view! {
                                <label class="radio">
                                    <input type="radio" name=group.clone() value=choice.clone()
                                        prop:checked=move || value.get().as_str() == Some(checked.as_str())
                                        on:change=move |_| value.set(serde_json::Value::String(picked.clone()))/>
                                    {choice}
                                </label>
                            }
                        })
                        .collect_view()}
                </div>
            }
            .into_any()
        }
        Kind::Tags { .. } => {
            // The typed text stays as typed ("a, "); the value is its parsed
            // list. Clear and examples change the value, and the text follows.
            let raw = RwSignal::new(tags_text(&value.get_untracked()));
            Effect::new(move |_| {
                let current = value.get();
                if parse_tags(&raw.get_untracked()) != current {
                    raw.set(tags_text(&current));
                }
            });
            view! {
                <input type="text" id=id.clone() data-testid=testid placeholder="comma-separated, e.g. positive, negative"
                    required=required aria-invalid=aria_invalid
                    prop:value=move || raw.get()
                    on:input=move |ev| {
                        let typed = event_target_value(&ev);
                        value.set(parse_tags(&typed));
                        raw.set(typed);
                    }/>
            }
            .into_any()
        }
        #[cfg(feature = "rich")]
        Kind::Image { max_bytes } => view! {
            <MediaInput id=id.clone() testid media=MediaKind::Image max_bytes required value invalid/>
        }
        .into_any(),
        #[cfg(feature = "rich")]
        Kind::Audio { max_bytes } => view! {
            <MediaInput id=id.clone() testid media=MediaKind::Audio max_bytes required value invalid/>
        }
        .into_any(),
        #[cfg(not(feature = "rich"))]
        Kind::Image { .. } | Kind::Audio { .. } => view! { <crate::bundle::FullPage/> }.into_any(),
        Kind::Chat { .. }
        | Kind::Json
        | Kind::Label { .. }
        | Kind::Score
        | Kind::Segments
        | Kind::Entities
        | Kind::Embedding { .. } => view! {
            <textarea id=id.clone() data-testid=testid rows="4" placeholder="JSON" aria-invalid=aria_invalid
                prop:value=move || if value.get().is_null() { String::new() } else { value.get().to_string() }
                on:change=move |ev| {
                    let raw = event_target_value(&ev);
                    value.set(serde_json::from_str(&raw).unwrap_or(serde_json::Value::String(raw)))
                }></textarea>
        }
        .into_any(),
    };
    view! { <div class="field" class:invalid=move || invalid.get()>{label}{widget}{description}</div> }
}

fn parse_number(raw: &str) -> serde_json::Value {
    raw.trim()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

fn parse_tags(raw: &str) -> serde_json::Value {
    raw.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| serde_json::Value::String(item.to_string()))
        .collect()
}

fn tags_text(value: &serde_json::Value) -> String {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}
