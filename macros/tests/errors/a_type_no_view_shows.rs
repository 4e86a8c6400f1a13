#[derive(wick::Outputs)]
struct Answer {
    flags: std::collections::HashMap<String, bool>,
}

fn main() {}
