#[derive(wick::Choice)]
enum Size {
    Small,
    Custom(u32),
}

fn main() {}
