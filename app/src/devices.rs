//! The browser's camera and microphone, opened once the person allows it:
//! the image input takes photos with one, the recorder listens with the
//! other, through the same request.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// What `open_device` opens.
#[derive(Clone, Copy)]
pub enum Device {
    Camera,
    Microphone,
}

/// A stream from the camera or the microphone, once the person allows it.
pub async fn open_device(device: Device) -> Result<web_sys::MediaStream, String> {
    let name = match device {
        Device::Camera => "camera",
        Device::Microphone => "microphone",
    };
    let unavailable = || format!("This browser gives no {name} to this page.");
    let devices = leptos::prelude::window()
        .navigator()
        .media_devices()
        .map_err(|_| unavailable())?;
    let constraints = web_sys::MediaStreamConstraints::new();
    match device {
        Device::Camera => constraints.set_video(&wasm_bindgen::JsValue::TRUE),
        Device::Microphone => constraints.set_audio(&wasm_bindgen::JsValue::TRUE),
    }
    let promise = devices
        .get_user_media_with_constraints(&constraints)
        .map_err(|_| unavailable())?;
    let stream = JsFuture::from(promise)
        .await
        .map_err(|_| format!("The {name} could not be opened (was permission refused?)."))?;
    stream.dyn_into().map_err(|_| unavailable())
}
