//! Files in the browser as the API's wire form, a `data:` URL: the one
//! encoding of a picked file, a recording and an example's photo. Kept out
//! of the media widgets, which only the full WASM carries (`bundle.rs`),
//! since every demo's examples may name files.

use base64::Engine as _;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// A file or blob as a `data:` URL of `mime`.
pub async fn data_url(blob: &web_sys::Blob, mime: &str) -> Result<String, String> {
    let buffer = JsFuture::from(blob.array_buffer())
        .await
        .map_err(|_| "The file could not be read.".to_string())?;
    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
    let payload = base64::engine::general_purpose::STANDARD.encode(bytes);
    Ok(format!("data:{mime};base64,{payload}"))
}

/// A file the server serves (an example's photo) as a `data:` URL.
pub async fn fetch_data_url(url: &str) -> Result<String, String> {
    let failed = || format!("The example file {url} could not be loaded.");
    let response: web_sys::Response = JsFuture::from(window().fetch_with_str(url))
        .await
        .ok()
        .and_then(|r| r.dyn_into().ok())
        .ok_or_else(failed)?;
    if !response.ok() {
        return Err(failed());
    }
    let mime = response
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .unwrap_or_else(|| "application/octet-stream".into());
    let blob: web_sys::Blob = JsFuture::from(response.blob().map_err(|_| failed())?)
        .await
        .ok()
        .and_then(|b| b.dyn_into().ok())
        .ok_or_else(failed)?;
    data_url(&blob, &mime).await
}
