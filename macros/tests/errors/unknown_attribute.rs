#[derive(wick::Inputs)]
struct Prompt {
    #[wick(colour = "red")]
    text: String,
}

fn main() {}
