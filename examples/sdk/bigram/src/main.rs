//! A tiny language model that writes character by character, streamed by
//! Wick as it writes: the wiring. The network is in `model.rs`.

mod model;

use wick::{Demo, Emitter, Inputs, Outputs};

/// Writes on from your words, one character at a time.
#[derive(Inputs)]
struct Prompt {
    /// Start
    #[wick(placeholder = "Twinkle", max_chars = 200)]
    text: String,
    /// Characters to write
    #[wick(slider, min = 1, max = 400, step = 1, default = 120)]
    length: u32,
    /// Temperature
    /// 0 always picks the likeliest next character.
    #[wick(slider, min = 0, max = 2, step = 0.05, default = 0.8)]
    temperature: f64,
}

#[derive(Outputs)]
struct Written {
    /// Written
    text: String,
}

fn main() -> anyhow::Result<()> {
    let model = model::Bigram::train()?;
    Demo::new("bigram")
        .title("A bigram writer")
        .streaming("write", move |prompt: Prompt, out: &Emitter<Written>| {
            let mut text = String::new();
            for c in model.write(&prompt.text, prompt.length as usize, prompt.temperature)? {
                if !out.send(Written {
                    text: c.to_string(),
                }) {
                    break; // the reader left
                }
                text.push(c);
            }
            anyhow::Ok(Written { text })
        })
        .example(
            "write",
            serde_json::json!({"text": "Twinkle", "length": 60}),
        )
        .launch()
}
