#[derive(wick::Inputs)]
struct Wait {
    timeout: std::time::Duration,
}

fn main() {}
