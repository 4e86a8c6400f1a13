#[derive(wick::Inputs)]
struct Prompt {
    #[wick(default = "hi")]
    text: Option<String>,
}

fn main() {}
