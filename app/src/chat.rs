//! The chat demo of an endpoint whose input is a conversation (`Kind::Chat`),
//! as Gradio's ChatInterface lays it out: message bubbles, the reply
//! growing as the server streams it, Stop (which drops the stream, so the
//! server stops decoding), Retry, Undo and Clear; the endpoint's other
//! inputs in a collapsible "Parameters" panel; time to first token and
//! tokens/s under the reply; the examples as starter prompts; and the
//! Flag bar for the whole conversation.

use crate::version_picker::VersionPicker;
use futures::future::{AbortHandle, Abortable};
use leptos::prelude::*;
use wick_types::generation::{TEXT, TIMINGS, USAGE};
use wick_types::{Endpoint, Field, Kind, validate_inputs};

use crate::flag::{FlagBar, Flagged};
use crate::inputs::{initial_value, input_widgets};
use crate::server_fns::{JsonObject, ModelPage, Outcome};
use crate::stream_reader::stream_prediction;

#[derive(Clone, Debug, PartialEq)]
struct Message {
    role: &'static str,
    content: String,
}

impl Message {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({"role": self.role, "content": self.content})
    }
}

#[component]
pub fn ChatDemo(page: ModelPage, endpoint: Endpoint) -> impl IntoView {
    let model = StoredValue::new(page.info.name.clone());
    let endpoint_name = StoredValue::new(endpoint.name.clone());
    let chat_field = endpoint
        .inputs
        .iter()
        .find(|field| matches!(field.kind, Kind::Chat { .. }))
        .map(|field| field.name.clone())
        .unwrap_or_default();
    let chat_field = StoredValue::new(chat_field);
    let parameters: Vec<Field> = endpoint
        .inputs
        .iter()
        .filter(|field| !matches!(field.kind, Kind::Chat { .. }))
        .cloned()
        .collect();
    let values: Vec<RwSignal<serde_json::Value>> = parameters
        .iter()
        .map(|field| RwSignal::new(initial_value(field)))
        .collect();
    let fields = StoredValue::new(endpoint.inputs.clone());
    let parameter_fields = StoredValue::new(parameters.clone());
    let values = StoredValue::new(values);

    let history = RwSignal::new(Vec::<Message>::new());
    let draft = RwSignal::new(String::new());
    let reply = RwSignal::new(None::<String>);
    let stats = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<(Option<String>, String)>);
    let flagged = RwSignal::new(None::<Flagged>);
    let picked = RwSignal::new(None::<String>);
    // Stop and Clear abort the reply's future: its stream is dropped, the
    // browser cancels the response, and the server stops decoding.
    let stop = StoredValue::new(None::<AbortHandle>);
    let running = Signal::derive(move || reply.get().is_some());

    // Ends the reply in progress: what has come so far stays as the
    // assistant's message.
    let settle = move |text: Option<String>| {
        let text = text.or_else(|| reply.get_untracked()).unwrap_or_default();
        reply.set(None);
        stop.set_value(None);
        if !text.is_empty() {
            history.update(|h| {
                h.push(Message {
                    role: "assistant",
                    content: text,
                })
            });
        }
    };

    // Sends the conversation as it stands, streaming the reply in.
    let run = move || {
        if running.get_untracked() {
            return;
        }
        let mut inputs = JsonObject::new();
        let messages: Vec<serde_json::Value> =
            history.get_untracked().iter().map(Message::json).collect();
        inputs.insert(chat_field.get_value(), serde_json::Value::Array(messages));
        for (field, value) in parameter_fields
            .read_value()
            .iter()
            .zip(values.read_value().iter())
        {
            let value = value.get_untracked();
            if !value.is_null() {
                inputs.insert(field.name.clone(), value);
            }
        }
        if let Err(field_error) = validate_inputs(&fields.read_value(), &inputs) {
            error.set(Some((
                Some(field_error.field.clone()),
                field_error.to_string(),
            )));
            return;
        }
        error.set(None);
        stats.set(None);
        flagged.set(None);
        reply.set(Some(String::new()));
        let (handle, registration) = AbortHandle::new_pair();
        stop.set_value(Some(handle));
        let (model, endpoint) = (model.get_value(), endpoint_name.get_value());
        let streamed = async move {
            let outcome = stream_prediction(
                model.clone(),
                endpoint.clone(),
                inputs.clone(),
                picked.get_untracked(),
                |outputs| {
                    if let Some(text) = outputs.get(TEXT).and_then(|t| t.as_str()) {
                        reply.update(|r| r.get_or_insert_default().push_str(text));
                    }
                },
            )
            .await;
            match outcome {
                Ok(Outcome::Done {
                    outputs,
                    version,
                    duration_ms,
                }) => {
                    let text = outputs.get(TEXT).and_then(|t| t.as_str()).map(String::from);
                    // Which version answered, as the other demos say.
                    stats.set(Some(format!("{version} · {}", timings_text(&outputs))));
                    flagged.set(Some(Flagged {
                        model: model.clone(),
                        version,
                        endpoint: endpoint.clone(),
                        inputs: inputs.clone(),
                        outputs,
                        duration_ms,
                    }));
                    settle(text);
                }
                Ok(Outcome::Refused(detail)) => {
                    error.set(Some((detail.field, detail.message)));
                    settle(None);
                }
                Err(message) => {
                    error.set(Some((None, message)));
                    settle(None);
                }
            }
        };
        leptos::task::spawn_local(async move {
            let _ = Abortable::new(streamed, registration).await;
        });
    };

    let send = move |text: String| {
        let text = text.trim().to_string();
        if running.get_untracked() {
            return;
        }
        if text.is_empty() {
            error.set(Some((None, "Type a message first.".into())));
            return;
        }
        history.update(|h| {
            h.push(Message {
                role: "user",
                content: text,
            })
        });
        draft.set(String::new());
        run();
    };
    let abort = move || {
        if let Some(handle) = stop.get_value() {
            handle.abort();
        }
    };
    let on_stop = move |_| {
        abort();
        settle(None);
    };
    // Retry: the last reply again (a new sample) for the same conversation.
    let on_retry = move |_| {
        if running.get_untracked() {
            return;
        }
        let mut h = history.get_untracked();
        if h.last().is_some_and(|m| m.role == "assistant") {
            h.pop();
        }
        if h.last().is_some_and(|m| m.role == "user") {
            history.set(h);
            run();
        }
    };
    // Undo: takes back the last exchange; the message returns to the box.
    let on_undo = move |_| {
        if running.get_untracked() {
            return;
        }
        let mut h = history.get_untracked();
        if h.last().is_some_and(|m| m.role == "assistant") {
            h.pop();
        }
        if let Some(last) = h.pop_if(|m| m.role == "user") {
            draft.set(last.content);
        }
        history.set(h);
        flagged.set(None);
        stats.set(None);
    };
    let on_clear = move |_| {
        abort();
        reply.set(None);
        history.set(Vec::new());
        draft.set(String::new());
        stats.set(None);
        error.set(None);
        flagged.set(None);
    };

    let parameter_widgets = input_widgets(
        parameters,
        &values.read_value(),
        error,
        &endpoint_name.get_value(),
    );
    let starters = page
        .info
        .examples
        .iter()
        .filter(|e| e.endpoint == endpoint.name)
        .filter_map(|e| last_user_message(e.inputs.get(&chat_field.get_value())?))
        .enumerate()
        .map(|(row, prompt)| {
            let text = prompt.clone();
            view! {
                <button type="button" class="secondary starter" data-testid=format!("example-{row}")
                    disabled=move || running.get()
                    on:click=move |_| send(text.clone())>{prompt}</button>
            }
            .into_any()
        })
        .collect_view();
    let options = StoredValue::new(page.info.flagging_options.clone());

    view! {
        <section class="demo chat-demo">
            <div class="intro">
                <h1>{page.info.title.clone()}</h1>
                <p class="description">{page.info.description.clone()}</p>
                <p class="endpoint-description">
                    <code>{endpoint.name.clone()}</code>" — "{endpoint.description.clone()}
                </p>
                <VersionPicker versions=page.info.versions.clone() picked/>
            </div>
            <div class="panel chat" data-testid="chat" aria-live="polite" aria-busy=move || running.get().to_string()>
                {move || history.get().into_iter().map(|message| view! {
                    <div class=format!("bubble {}", message.role) data-testid=format!("message-{}", message.role)>
                        {message.content}
                    </div>
                }.into_any()).collect_view()}
                {move || reply.get().map(|text| view! {
                    <div class="bubble assistant streaming" data-testid="reply">{text}</div>
                }.into_any())}
                {move || stats.get().map(|text| view! { <p class="meta" data-testid="chat-stats">{text}</p> }.into_any())}
                <div class="starters">{starters}</div>
            </div>
            <form class="chat-input" novalidate=true on:submit=move |ev| {
                ev.prevent_default();
                send(draft.get_untracked());
            }>
                <textarea data-testid="chat-message" rows="2" placeholder="Type a message (Enter sends, Shift+Enter for a new line)"
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                    on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                        if ev.key() == "Enter" && !ev.shift_key() {
                            ev.prevent_default();
                            send(draft.get_untracked());
                        }
                    }></textarea>
                <div class="buttons">
                    <button type="button" class="secondary" data-testid="stop" disabled=move || !running.get() on:click=on_stop>"Stop"</button>
                    <button type="button" class="secondary" data-testid="retry" disabled=move || running.get() on:click=on_retry>"Retry"</button>
                    <button type="button" class="secondary" data-testid="undo" disabled=move || running.get() on:click=on_undo>"Undo"</button>
                    <button type="button" class="secondary" data-testid="clear" on:click=on_clear>"Clear"</button>
                    <button type="submit" class="primary" data-testid="submit" disabled=move || running.get()>"Send"</button>
                </div>
                {move || error.get().map(|(_, message)| view! { <p class="error" role="alert" data-testid="error">{message}</p> }.into_any())}
            </form>
            <details class="panel parameters">
                <summary>"Parameters"</summary>
                {parameter_widgets}
            </details>
            {move || flagged.get().map(|flagged| view! { <FlagBar flagged options=options.get_value()/> }.into_any())}
            <article class="article" inner_html=page.article_html.clone()></article>
        </section>
    }
    .into_any()
}

/// The last user message of an example conversation: its starter prompt.
fn last_user_message(messages: &serde_json::Value) -> Option<String> {
    messages
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["role"] == "user")?
        .get("content")?
        .as_str()
        .map(String::from)
}

/// "first token 28 ms · 110.4 tokens/s" from a reply's `timings`.
fn timings_text(outputs: &JsonObject) -> String {
    let null = serde_json::Value::Null;
    let timings = outputs.get(TIMINGS).unwrap_or(&null);
    let tokens = outputs
        .get(USAGE)
        .and_then(|usage| usage["completion_tokens"].as_u64())
        .unwrap_or(0);
    format!(
        "{tokens} tokens · first token {:.0} ms · {:.1} tokens/s",
        timings["time_to_first_token_ms"].as_f64().unwrap_or(0.0),
        timings["tokens_per_second"].as_f64().unwrap_or(0.0),
    )
}
