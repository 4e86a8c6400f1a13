#[derive(wick::Inputs)]
enum Prompt {
    Short,
    Long,
}

fn main() {}
