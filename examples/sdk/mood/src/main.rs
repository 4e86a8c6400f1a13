mod model;

use wick::{Demo, Inputs, Label, Outputs};

/// Tells whether a review liked what it reviews.
#[derive(Inputs)]
struct Review {
    /// Review
    #[wick(lines = 3, placeholder = "What did you think?", max_chars = 2000)]
    text: String,
}

#[derive(Outputs)]
struct Mood {
    /// Mood
    mood: Label,
}

fn main() -> anyhow::Result<()> {
    let model = model::Mood::train()?; // the Candle network, in model.rs
    let example = serde_json::json!({"text": "A wonderful film, I loved it"});
    Demo::new("mood")
        .title("Mood of a review")
        .endpoint("classify", move |review: Review| -> anyhow::Result<Mood> {
            let mood = Label::from_scores(model.scores(&review.text)?);
            Ok(Mood { mood })
        })
        .example("classify", example)
        .launch()
}
