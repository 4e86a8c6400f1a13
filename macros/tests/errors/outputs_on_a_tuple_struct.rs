#[derive(wick::Outputs)]
struct Answer(String);

fn main() {}
