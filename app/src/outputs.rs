//! One view per output kind: label bars, a score, text, an image or audio
//! player, a transcript's timed segments, collapsible JSON, and an
//! embedding summary with a sparkline.

use leptos::prelude::*;
use wick_types::{Field, Kind, MediaKind};

#[component]
pub fn OutputView(field: Field, value: Option<serde_json::Value>) -> impl IntoView {
    let testid = format!("output-{}", field.name);
    let body = match value {
        None => view! { <p class="placeholder">"—"</p> }.into_any(),
        Some(value) => match &field.kind {
            Kind::Label { top_k } => label_view(&value, *top_k),
            Kind::Score => view! { <p class="score">{value.as_f64().map(|s| format!("{s:.4}")).unwrap_or_default()}</p> }.into_any(),
            Kind::Embedding { .. } => embedding_view(&value),
            Kind::Segments => segments_view(&value),
            Kind::Entities => entities_view(&value),
            Kind::Image { .. } | Kind::Audio { .. } => {
                match (field.kind.media(), value.as_str()) {
                    (Some((media, _)), Some(url)) => media_view(media, url.to_string()),
                    _ => view! { <p class="placeholder">"—"</p> }.into_any(),
                }
            }
            Kind::Text { .. } => view! { <pre class="text">{value.as_str().map(String::from).unwrap_or_else(|| value.to_string())}</pre> }.into_any(),
            _ => view! {
                <details open>
                    <summary>"JSON"</summary>
                    <pre class="json">{serde_json::to_string_pretty(&value).unwrap_or_default()}</pre>
                </details>
            }
            .into_any(),
        },
    };
    view! {
        <div class="output" data-testid=testid>
            <h3 class="output-label">{field.label.clone()}</h3>
            {body}
        </div>
    }
}

/// An image with its size (pixels once loaded, and bytes), or a player for
/// an audio clip, from its `data:` URL or address.
pub fn media_view(media: MediaKind, url: String) -> AnyView {
    // A data URL's payload is base64: 4 characters for 3 bytes.
    let bytes = url
        .split_once(";base64,")
        .map(|(_, payload)| payload.len() as f64 * 0.75);
    let size = bytes.map(readable_size);
    match media {
        MediaKind::Image => {
            let pixels = RwSignal::new(None::<(u32, u32)>);
            let caption = move || {
                let dims = pixels.get().map(|(w, h)| format!("{w} × {h} px"));
                [dims, size.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" · ")
            };
            view! {
                <figure class="media">
                    <img src=url alt="Image" on:load=move |ev| {
                        let image = event_target::<web_sys::HtmlImageElement>(&ev);
                        pixels.set(Some((image.natural_width(), image.natural_height())));
                    }/>
                    <figcaption class="media-size" data-testid="media-size">{caption}</figcaption>
                </figure>
            }
            .into_any()
        }
        MediaKind::Audio => view! { <audio class="media" controls src=url></audio> }.into_any(),
    }
}

/// Segments as a table: a click (or Enter) on a row plays the audio input
/// from the segment's start.
fn segments_view(value: &serde_json::Value) -> AnyView {
    let rows = value
        .as_array()
        .into_iter()
        .flatten()
        .map(|segment| {
            let start = segment["start"].as_f64().unwrap_or(0.0);
            let end = segment["end"].as_f64().unwrap_or(start);
            let text = segment["text"]
                .as_str()
                .unwrap_or_default()
                .trim()
                .to_string();
            view! {
                <tr tabindex="0" title="Play from here" data-start=start.to_string()
                    on:click=move |_| play_from(start)
                    on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                        if ev.key() == "Enter" {
                            play_from(start);
                        }
                    }>
                    <td class="time">{clock(start)}</td>
                    <td class="time">{clock(end)}</td>
                    <td>{text}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="segments">
            <thead><tr><th scope="col">"Start"</th><th scope="col">"End"</th><th scope="col">"Text"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// A text with its entities marked, each with its label (Gradio's
/// HighlightedText): the label's colour from its name, the score in the
/// mark's title.
fn entities_view(value: &serde_json::Value) -> AnyView {
    let text: Vec<char> = value["text"].as_str().unwrap_or_default().chars().collect();
    let piece = |from: usize, to: usize| -> String {
        text.get(from.min(text.len())..to.min(text.len()))
            .map(|chars| chars.iter().collect())
            .unwrap_or_default()
    };
    let mut pieces = Vec::new();
    let mut at = 0;
    for entity in value["entities"].as_array().into_iter().flatten() {
        let start = entity["start"].as_u64().unwrap_or(0) as usize;
        let end = entity["end"].as_u64().unwrap_or(0) as usize;
        if start < at || end < start {
            continue;
        }
        let label = entity["entity_group"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let score = entity["score"].as_f64().unwrap_or(0.0);
        pieces.push(view! { <span>{piece(at, start)}</span> }.into_any());
        let hue = label
            .bytes()
            .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
            % 360;
        pieces.push(
            view! {
                <mark class="entity" data-entity=label.clone() title=format!("{label} {score:.3}")
                    style=format!("--hue: {hue}")>
                    {piece(start, end)}
                    <span class="entity-label">{label.clone()}</span>
                </mark>
            }
            .into_any(),
        );
        at = end;
    }
    pieces.push(view! { <span>{piece(at, text.len())}</span> }.into_any());
    view! { <p class="entities">{pieces}</p> }.into_any()
}

/// Seconds as "m:ss.s".
pub fn clock(seconds: f64) -> String {
    format!("{}:{:04.1}", (seconds / 60.0) as u64, seconds % 60.0)
}

/// Plays the demo's audio input (the clip transcribed) from `seconds`.
fn play_from(seconds: f64) {
    use wasm_bindgen::JsCast;
    let player = document()
        .query_selector("form.inputs audio")
        .ok()
        .flatten()
        .and_then(|element| element.dyn_into::<web_sys::HtmlMediaElement>().ok());
    if let Some(player) = player {
        player.set_current_time(seconds);
        // A click allows playback. Its promise is awaited so that a
        // refusal, or a player replaced before it starts, leaves it
        // paused without an uncaught error in the console.
        if let Ok(playing) = player.play() {
            leptos::task::spawn_local(async move {
                let _ = wasm_bindgen_futures::JsFuture::from(playing).await;
            });
        }
    }
}

/// "235 KB", "1.2 MB".
pub fn readable_size(bytes: f64) -> String {
    if bytes >= 1e6 {
        format!("{:.1} MB", bytes / 1e6)
    } else {
        format!("{:.0} KB", (bytes / 1e3).max(1.0))
    }
}

fn label_view(value: &serde_json::Value, top_k: Option<usize>) -> AnyView {
    let best = value["label"].as_str().unwrap_or_default().to_string();
    let mut confidences: Vec<(String, f64)> = value["confidences"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|c| {
                    (
                        c["label"].as_str().unwrap_or_default().to_string(),
                        c["confidence"].as_f64().unwrap_or(0.0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    confidences.sort_by(|a, b| b.1.total_cmp(&a.1));
    confidences.truncate(top_k.unwrap_or(usize::MAX));
    view! {
        <p class="best-label">{best}</p>
        <ul class="bars">
            {confidences
                .into_iter()
                .map(|(label, confidence)| {
                    let percent = format!("{:.1}%", confidence * 100.0);
                    let data_label = label.clone();
                    view! {
                        <li class="bar" data-label=data_label data-confidence=confidence.to_string()>
                            <span class="bar-fill" style=format!("width: {:.1}%", confidence * 100.0)></span>
                            <span class="bar-label">{label}</span>
                            <span class="bar-value">{percent}</span>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}

fn embedding_view(value: &serde_json::Value) -> AnyView {
    let numbers: Vec<f64> = value
        .as_array()
        .map(|items| items.iter().filter_map(|x| x.as_f64()).collect())
        .unwrap_or_default();
    let norm = numbers.iter().map(|x| x * x).sum::<f64>().sqrt();
    let first = numbers
        .iter()
        .take(8)
        .map(|x| format!("{x:.4}"))
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <dl class="embedding">
            <dt>"Dimension"</dt><dd data-testid="embedding-dim">{numbers.len()}</dd>
            <dt>"Norm"</dt><dd>{format!("{norm:.4}")}</dd>
            <dt>"First values"</dt><dd><code>{format!("[{first}, …]")}</code></dd>
        </dl>
        {sparkline(&numbers)}
    }
    .into_any()
}

/// The first 96 values as a small line chart.
fn sparkline(numbers: &[f64]) -> impl IntoView {
    let shown = &numbers[..numbers.len().min(96)];
    let (low, high) = shown
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
    let span = (high - low).max(1e-9);
    let step = 300.0 / (shown.len().max(2) - 1) as f64;
    let points = shown
        .iter()
        .enumerate()
        .map(|(i, x)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                38.0 - (x - low) / span * 36.0
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    view! {
        <svg class="sparkline" viewBox="0 0 300 40" preserveAspectRatio="none" role="img" aria-label="First values of the embedding">
            <polyline points=points fill="none" stroke="currentColor" stroke-width="1.5"/>
        </svg>
    }
}
