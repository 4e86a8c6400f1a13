//! The Flag bar under a result: one button per flagging option of the
//! model and an optional comment. It says "saved" only once the server has
//! committed the row, and shows the error when it has not.

use leptos::prelude::*;
use wick_types::{FlagRequest, MAX_COMMENT_CHARS};

use crate::server_fns::{FlagOutcome, flag};

type JsonObject = serde_json::Map<String, serde_json::Value>;

/// The prediction being flagged.
#[derive(Clone, Debug, PartialEq)]
pub struct Flagged {
    pub model: String,
    pub version: String,
    pub endpoint: String,
    pub inputs: JsonObject,
    pub outputs: JsonObject,
    pub duration_ms: f64,
}

#[derive(Clone, Debug, PartialEq)]
enum State {
    Idle,
    Saving,
    Saved { option: String, id: String },
    Failed(String),
}

#[component]
pub fn FlagBar(flagged: Flagged, options: Vec<String>) -> impl IntoView {
    // No options: flagging is off for this model or this server.
    if options.is_empty() {
        return ().into_any();
    }
    let comment = RwSignal::new(String::new());
    let state = RwSignal::new(State::Idle);
    let flagged = StoredValue::new(flagged);
    let send = Action::new(|(model, request): &(String, FlagRequest)| {
        let option = request.option.clone();
        // Sent as the JSON object the API takes, through the one flag path.
        let body = match serde_json::to_value(request) {
            Ok(serde_json::Value::Object(body)) => body,
            _ => JsonObject::new(),
        };
        let sent = flag(model.clone(), body);
        async move { (option, sent.await) }
    });
    Effect::new(move |_| {
        if let Some((option, outcome)) = send.value().get() {
            state.set(match outcome {
                Ok(FlagOutcome::Stored { id }) => {
                    comment.set(String::new());
                    State::Saved { option, id }
                }
                Ok(FlagOutcome::Refused(detail)) => {
                    State::Failed(format!("Not saved: {}", detail.message))
                }
                Err(failure) => State::Failed(format!(
                    "Not saved: the server could not be reached ({failure})"
                )),
            });
        }
    });
    let saving = move || state.get() == State::Saving;
    let buttons = options
        .into_iter()
        .map(|option| {
            let label = option.clone();
            let on_click = move |_| {
                let flagged = flagged.get_value();
                let text = comment.get_untracked();
                state.set(State::Saving);
                send.dispatch((
                    flagged.model,
                    FlagRequest {
                        endpoint: flagged.endpoint,
                        inputs: flagged.inputs,
                        outputs: flagged.outputs,
                        option: option.clone(),
                        comment: (!text.trim().is_empty()).then_some(text),
                        duration_ms: Some(flagged.duration_ms),
                        version: Some(flagged.version),
                    },
                ));
            };
            view! {
                <button
                    type="button"
                    class="secondary"
                    data-testid=format!("flag-{label}")
                    disabled=saving
                    on:click=on_click
                >
                    {label.clone()}
                </button>
            }
            .into_any()
        })
        .collect_view();
    let input_id = format!("flag-comment-{}", flagged.read_value().endpoint);
    view! {
        <div class="flag">
            <label for=input_id.clone()>"Flag this result"</label>
            <input
                id=input_id
                type="text"
                data-testid="flag-comment"
                placeholder="Comment (optional)"
                maxlength=MAX_COMMENT_CHARS.to_string()
                prop:value=move || comment.get()
                on:input=move |ev| comment.set(event_target_value(&ev))
            />
            <div class="flag-buttons">{buttons}</div>
            <p class="flag-status" role="status" data-testid="flag-status" class:error=move || matches!(state.get(), State::Failed(_))>
                {move || match state.get() {
                    State::Idle => String::new(),
                    State::Saving => "Saving…".to_string(),
                    State::Saved { option, id } => format!("Flagged as {option}: saved (#{id})."),
                    State::Failed(message) => message,
                }}
            </p>
        </div>
    }
    .into_any()
}
