#[derive(wick::Inputs)]
struct Prompt {
    #[wick(slider, min = 0, max = 1)]
    text: String,
}

fn main() {}
