#[derive(wick::Inputs)]
struct Prompt {
    #[wick(top_k = 3)]
    text: String,
}

fn main() {}
