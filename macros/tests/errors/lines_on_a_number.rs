#[derive(wick::Inputs)]
struct Settings {
    #[wick(lines = 3)]
    count: u32,
}

fn main() {}
