#[derive(wick::Inputs)]
struct Settings {
    #[wick(min = 10, max = -1)]
    count: i32,
}

fn main() {}
