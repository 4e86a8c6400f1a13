//! The image (and audio) input, as Gradio's: click to choose a file, drop
//! one on the widget, paste one from the clipboard, take a photo with the
//! camera (images) or record from the microphone (audio) where the browser
//! allows it; a preview (a player for audio, to hear it before sending)
//! with the file's name and size, and a button to remove it. A file that is not of
//! the field's media type, or is over its size limit, is refused at once
//! with a message under the widget and nothing is sent.
//!
//! The value is the file as a `data:` URL, the API's wire form; the file is
//! read once, as bytes, and base64-encoded once (`data_url`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wick_types::MediaKind;

use crate::devices::{Device, open_device};
use crate::files::data_url;
use crate::microphone::Microphone;
use crate::outputs::{media_view, readable_size};

#[component]
pub fn MediaInput(
    id: String,
    testid: String,
    media: MediaKind,
    max_bytes: Option<usize>,
    required: bool,
    value: RwSignal<serde_json::Value>,
    #[prop(into)] invalid: Signal<bool>,
) -> impl IntoView {
    // The name of what the person picked, for the caption (the preview
    // itself shows the size).
    let picked = RwSignal::new(None::<String>);
    let problem = RwSignal::new(None::<String>);
    let dragging = RwSignal::new(false);
    let camera = RwSignal::new(None::<web_sys::MediaStream>);
    let chosen = move || {
        value
            .get()
            .as_str()
            .filter(|url| !url.is_empty())
            .map(String::from)
    };
    let accept = move |file: web_sys::File| {
        problem.set(None);
        if let Err(message) = check_file(&file, media, max_bytes) {
            problem.set(Some(message));
            return;
        }
        spawn_local(async move {
            match data_url(&file, &file.type_()).await {
                Ok(url) => {
                    picked.set(Some(file.name()));
                    value.set(serde_json::Value::String(url));
                }
                Err(message) => problem.set(Some(message)),
            }
        });
    };
    let clear = move |_| {
        picked.set(None);
        problem.set(None);
        value.set(serde_json::Value::String(String::new()));
    };
    let first_file = |files: Option<web_sys::FileList>| files.and_then(|files| files.get(0));
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        if let Some(file) = first_file(ev.data_transfer().and_then(|d| d.files())) {
            accept(file);
        }
    };
    let on_paste = move |ev: leptos::ev::ClipboardEvent| {
        if let Some(file) = first_file(ev.clipboard_data().and_then(|d| d.files())) {
            ev.prevent_default();
            accept(file);
        }
    };
    let video = NodeRef::<leptos::html::Video>::new();
    let start_camera = move |_| {
        problem.set(None);
        spawn_local(async move {
            match open_device(Device::Camera).await {
                Ok(stream) => camera.set(Some(stream)),
                Err(message) => problem.set(Some(message)),
            }
        });
    };
    // Show the camera's stream in the video element once both exist.
    Effect::new(move |_| {
        if let (Some(stream), Some(video)) = (camera.get(), video.get()) {
            video.set_src_object(Some(&stream));
        }
    });
    let stop_camera = move || {
        if let Some(stream) = camera.get_untracked() {
            for track in stream.get_tracks().iter() {
                if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
                    track.stop();
                }
            }
        }
        camera.set(None);
    };
    let capture = move |_| {
        if let Some(video) = video.get_untracked() {
            match snapshot(&video) {
                Ok(url) => {
                    picked.set(Some("camera.png".into()));
                    value.set(serde_json::Value::String(url));
                }
                Err(message) => problem.set(Some(message)),
            }
        }
        stop_camera();
    };
    let hint = match media {
        MediaKind::Image => "Drop an image here, paste one, or",
        MediaKind::Audio => "Drop an audio clip here, or",
    };
    let error_id = format!("{id}-problem");
    let (preview_id, preview_testid) = (id.clone(), testid.clone());
    let capture_testid = format!("capture-{testid}");
    let recorded = Callback::new(move |url: String| {
        picked.set(Some("recording.wav".into()));
        value.set(serde_json::Value::String(url));
    });
    let microphone_testid = testid.clone();
    view! {
        <div
            class="drop-zone"
            class:dragging=move || dragging.get()
            class:invalid=move || invalid.get() || problem.get().is_some()
            data-testid=format!("drop-{testid}")
            tabindex="0"
            on:dragover=move |ev: leptos::ev::DragEvent| {
                ev.prevent_default();
                dragging.set(true);
            }
            on:dragleave=move |_| dragging.set(false)
            on:drop=on_drop
            on:paste=on_paste
        >
            {move || {
                let (id, testid) = (preview_id.clone(), preview_testid.clone());
                match chosen() {
                Some(url) => view! {
                    <div class="media-preview">
                        {media_view(media, url)}
                        <p class="media-caption">
                            {move || picked.get()}
                        </p>
                        <button type="button" class="secondary remove" data-testid=format!("remove-{testid}")
                            on:click=clear aria-label="Remove the file">"✕ Remove"</button>
                    </div>
                }
                .into_any(),
                None => view! {
                    <p class="drop-hint">
                        {hint}" "
                        <label for=id class="choose">"choose a file"</label>
                    </p>
                }
                .into_any(),
            }}}
            <input type="file" id=id class="file" data-testid=testid.clone()
                accept=format!("{}/*", media.top_level()) required=required
                aria-describedby=error_id.clone()
                on:change=move |ev| {
                    let input = event_target::<web_sys::HtmlInputElement>(&ev);
                    if let Some(file) = first_file(input.files()) {
                        accept(file);
                    }
                    // The same file chosen again must fire again.
                    input.set_value("");
                }/>
            {(media == MediaKind::Image).then(|| view! {
                <button type="button" class="secondary camera" data-testid=format!("camera-{testid}")
                    on:click=start_camera>"Camera"</button>
            })}
            // Recording is offered while no clip is chosen.
            {move || (media == MediaKind::Audio && chosen().is_none()).then(|| view! {
                <Microphone testid=microphone_testid.clone() max_bytes on_recorded=recorded problem/>
            })}
            {move || camera.get().map(|_| view! {
                <div class="camera-view">
                    <video node_ref=video autoplay=true playsinline=true muted=true></video>
                    <button type="button" class="primary" data-testid=capture_testid.clone() on:click=capture>"Take photo"</button>
                    <button type="button" class="secondary" on:click=move |_| stop_camera()>"Cancel"</button>
                </div>
            })}
            <p class="error media-problem" id=error_id role="alert" data-testid=format!("problem-{testid}")>
                {move || problem.get()}
            </p>
        </div>
    }
}

/// Refuses a file of another media type or over the field's limit, before
/// it is read.
fn check_file(
    file: &web_sys::File,
    media: MediaKind,
    max_bytes: Option<usize>,
) -> Result<(), String> {
    let name = file.name();
    if !file.type_().starts_with(&format!("{}/", media.top_level())) {
        return Err(format!("“{name}” is not {}.", media.describe()));
    }
    if let Some(max) = max_bytes
        && file.size() > max as f64
    {
        return Err(format!(
            "“{name}” is {}; the limit is {}.",
            readable_size(file.size()),
            readable_size(max as f64)
        ));
    }
    Ok(())
}

/// The video's current frame as a PNG `data:` URL.
fn snapshot(video: &web_sys::HtmlVideoElement) -> Result<String, String> {
    let failed = || "The photo could not be taken.".to_string();
    let canvas: web_sys::HtmlCanvasElement = document()
        .create_element("canvas")
        .map_err(|_| failed())?
        .dyn_into()
        .map_err(|_| failed())?;
    canvas.set_width(video.video_width());
    canvas.set_height(video.video_height());
    let context: web_sys::CanvasRenderingContext2d = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into().ok())
        .ok_or_else(failed)?;
    context
        .draw_image_with_html_video_element(video, 0.0, 0.0)
        .map_err(|_| failed())?;
    canvas.to_data_url().map_err(|_| failed())
}
