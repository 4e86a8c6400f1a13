//! The version a reviewer wants to try, when a model has several loaded
//! (a canary beside the serving version): the split decides by default,
//! and one person keeps one version; picking one pins every request from
//! this page to it. Only the full WASM build draws it (`bundle.rs`).

use leptos::prelude::*;

/// A select over `versions`, shown only when there are several; the
/// signal holds the pick (`None`: the split decides).
#[component]
pub fn VersionPicker(versions: Vec<String>, picked: RwSignal<Option<String>>) -> impl IntoView {
    (versions.len() > 1).then(|| picker(versions, picked))
}

#[cfg(feature = "rich")]
fn picker(versions: Vec<String>, picked: RwSignal<Option<String>>) -> AnyView {
    let options = versions
        .into_iter()
        .map(|version| view! { <option value=version.clone()>{version.clone()}</option> })
        .collect_view();
    view! {
        <label class="version-picker">
            "Version "
            <select
                data-testid="version"
                on:change=move |ev| {
                    let value = event_target_value(&ev);
                    picked.set((!value.is_empty()).then_some(value));
                }
            >
                <option value="">"as the split decides"</option>
                {options}
            </select>
        </label>
    }
    .into_any()
}

#[cfg(not(feature = "rich"))]
fn picker(_versions: Vec<String>, _picked: RwSignal<Option<String>>) -> AnyView {
    view! { <crate::bundle::FullPage/> }.into_any()
}
