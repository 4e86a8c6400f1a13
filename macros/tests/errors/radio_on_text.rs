#[derive(wick::Inputs)]
struct Prompt {
    #[wick(radio)]
    text: String,
}

fn main() {}
